//! The typed view of one trace event, borrowed from the input where it can be, with lenient
//! fields (a number written as a string, or `null` where a `NaN` was, does not lose the event),
//! and the byte-level repair of values JSON does not allow.

use std::{borrow::Cow, fmt};

use serde::{
    Deserialize, Deserializer,
    de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor},
};
use serde_json::value::RawValue;

/// A string borrowed from the input unless it had escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Str<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_string())))
            }
        }
        deserializer.deserialize_any(StrVisitor)
    }
}

/// A number that may be written as a number or a numeric string; anything else is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Num(pub Option<f64>);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumVisitor;
        impl<'de> Visitor<'de> for NumVisitor {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                Ok(Num(v.is_finite().then_some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(Num(Some(v as f64)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num(Some(v as f64)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
                Ok(Num::of_str(v))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Num, E> {
                Ok(Num(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Num, E> {
                Ok(Num(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Num, E> {
                Ok(Num(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Num, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Num(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Num, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Num(None))
            }
        }
        deserializer.deserialize_any(NumVisitor)
    }
}

impl Num {
    /// A number written as a string: its value when it parses and is finite.
    pub(crate) fn of_str(v: &str) -> Num {
        Num(v.trim().parse::<f64>().ok().filter(|x| x.is_finite()))
    }

    /// The value as an integer, when it is one.
    pub(crate) fn int(self) -> Option<i64> {
        self.0
            .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
            .map(|x| x as i64)
    }
}

/// A process or thread id: a number or a string such as `"Spans"`, reduced to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct IdKey(pub u64);

impl<'de> Deserialize<'de> for IdKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl<'de> Visitor<'de> for IdVisitor {
            type Value = IdKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an id")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IdKey, E> {
                Ok(IdKey(v as u64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IdKey, E> {
                Ok(IdKey(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<IdKey, E> {
                Ok(IdKey::of_f64(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IdKey, E> {
                Ok(IdKey::of_str(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<IdKey, E> {
                Ok(IdKey(u64::MAX))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

impl IdKey {
    /// The key of an id written as a string: a hash with the top bit set, so it never
    /// collides with a small numeric id.
    pub(crate) fn of_str(id: &str) -> IdKey {
        use std::hash::BuildHasher;
        let hash = foldhash::fast::FixedState::with_seed(0).hash_one(id);
        IdKey(hash | (1 << 63))
    }

    /// The key of an id written as a number that is not an integer.
    pub(crate) fn of_f64(id: f64) -> IdKey {
        IdKey(id as i64 as u64)
    }
}

/// One trace event; fields the summary does not use are skipped by the parser.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawEvent<'a> {
    #[serde(borrow, default)]
    pub ph: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub cat: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub name: Option<Str<'a>>,
    #[serde(default)]
    pub ts: Num,
    #[serde(default)]
    pub dur: Num,
    #[serde(default)]
    pub tid: Option<IdKey>,
    #[serde(default)]
    pub pid: Option<IdKey>,
    #[serde(borrow, default)]
    pub args: Option<RawArgs<'a>>,
}

/// The `args` the summary reads; the others are skipped.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawArgs<'a> {
    #[serde(default)]
    pub correlation: Num,
    #[serde(default)]
    pub stream: Num,
    #[serde(default)]
    pub bytes: Num,
    #[serde(default, rename = "Total Allocated")]
    pub total_allocated: Num,
    #[serde(default, rename = "Total Reserved")]
    pub total_reserved: Num,
    #[serde(default, rename = "Device Type")]
    pub device_type: Num,
    /// `record_shapes=True`: the operator's input shapes, kept as the raw JSON (lists nest
    /// for tensor-list arguments) and parsed only for the operators whose cost is counted:
    /// building a value tree for every operator's shapes cost more than the rest of the event.
    #[serde(borrow, default, rename = "Input Dims")]
    pub input_dims: Option<&'a RawValue>,
    /// `record_shapes=True`: the inputs' element types, raw like `input_dims`.
    #[serde(borrow, default, rename = "Input type")]
    pub input_types: Option<&'a RawValue>,
    /// `record_param_comms` (PyTorch's c10d profiling of a collective): elements in and out,
    /// their type, the group's size and the collective.
    #[serde(default, rename = "In msg nelems")]
    pub in_msg_nelems: Num,
    #[serde(default, rename = "Out msg nelems")]
    pub out_msg_nelems: Num,
    #[serde(default, rename = "Group size")]
    pub group_size: Num,
    #[serde(borrow, default)]
    pub dtype: Option<Str<'a>>,
    #[serde(borrow, default, rename = "Collective name")]
    pub collective_name: Option<Str<'a>>,
}

/// The numbers of `args` the accumulator reads, copied out of the event.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ArgNumbers {
    pub correlation: Num,
    pub stream: Num,
    pub bytes: Num,
    pub total_allocated: Num,
    pub total_reserved: Num,
    pub device_type: Num,
}

impl RawArgs<'_> {
    pub(crate) fn numbers(&self) -> ArgNumbers {
        ArgNumbers {
            correlation: self.correlation,
            stream: self.stream,
            bytes: self.bytes,
            total_allocated: self.total_allocated,
            total_reserved: self.total_reserved,
            device_type: self.device_type,
        }
    }
}

/// Rewrites what JSON does not allow but real traces contain, outside strings: `NaN`,
/// `Infinity`, `-Infinity`, `inf`, `-inf` and `nan` become `null`, and a comma before `}` or
/// `]` is dropped. Returns the repaired bytes and the number of repairs of each kind
/// (non-finite numbers, trailing commas), or `None` when nothing needed repair.
pub(crate) fn repair(input: &[u8]) -> Option<(Vec<u8>, u64, u64)> {
    const NON_FINITE: [&[u8]; 9] = [
        b"-Infinity",
        b"+Infinity",
        b"Infinity",
        b"-NaN",
        b"NaN",
        b"-inf",
        b"+inf",
        b"inf",
        b"nan",
    ];
    let mut out = Vec::with_capacity(input.len() + 16);
    let (mut non_finite, mut commas) = (0u64, 0u64);
    let mut i = 0;
    let mut in_string = false;
    while i < input.len() {
        let byte = input[i];
        if in_string {
            out.push(byte);
            if byte == b'\\' {
                if let Some(&next) = input.get(i + 1) {
                    out.push(next);
                }
                i += 2;
                continue;
            }
            if byte == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match byte {
            b'"' => {
                in_string = true;
                out.push(byte);
                i += 1;
            }
            b',' => {
                let next = input[i + 1..]
                    .iter()
                    .find(|b| !b.is_ascii_whitespace())
                    .copied();
                if matches!(next, Some(b'}' | b']')) {
                    commas += 1;
                } else {
                    out.push(byte);
                }
                i += 1;
            }
            b'N' | b'I' | b'i' | b'n' | b'-' | b'+' => {
                let rest = &input[i..];
                match NON_FINITE.iter().find(|token| rest.starts_with(token)) {
                    Some(token) => {
                        out.extend_from_slice(b"null");
                        non_finite += 1;
                        i += token.len();
                    }
                    None => {
                        out.push(byte);
                        i += 1;
                    }
                }
            }
            _ => {
                out.push(byte);
                i += 1;
            }
        }
    }
    (non_finite + commas > 0).then_some((out, non_finite, commas))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repairs_non_finite_numbers_and_trailing_commas() {
        let (fixed, non_finite, commas) =
            repair(br#"{"a": NaN, "b": -Infinity, "c": [inf, 1,], "d": "NaN, null",}"#)
                .expect("needs repair");
        assert_eq!(
            String::from_utf8(fixed).unwrap(),
            r#"{"a": null, "b": null, "c": [null, 1], "d": "NaN, null"}"#
        );
        assert_eq!((non_finite, commas), (3, 2));
        assert!(repair(br#"{"a": null, "n": -1}"#).is_none());
    }

    #[test]
    fn lenient_fields_accept_strings_and_nulls() {
        let event: RawEvent<'_> = serde_json::from_str(
            r#"{"ph": "X", "name": "a\nb", "ts": "12.5", "dur": null, "pid": "Spans", "tid": 7,
                "args": {"correlation": 5, "bytes": [1], "other": {"x": 1}}}"#,
        )
        .unwrap();
        assert_eq!(event.ts.0, Some(12.5));
        assert_eq!(event.dur.0, None);
        assert_eq!(event.name.unwrap().0, "a\nb");
        let args = event.args.unwrap();
        assert_eq!(args.correlation.int(), Some(5));
        assert_eq!(args.bytes.0, None);
    }
}
