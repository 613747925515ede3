//! The pipeline workers' fast path: a run of whole `traceEvents` elements parsed in one go by
//! simd-json (Langdale & Lemire, "Parsing Gigabytes of JSON per Second", VLDB Journal 28,
//! 2019: a SIMD pass finds every structural character, a second builds a tape of the
//! document), then the tape walked once for the fields the summary reads. The other values
//! are stepped over by their node counts, never looked at.
//!
//! The fast path gives exactly what the per-element path ([`crate::event::RawEvent`] through
//! serde_json) gives, or nothing: anything that path would repair, reject or read leniently in
//! a way not copied here (a `NaN`, a trailing comma, invalid UTF-8, a duplicate field, a
//! number where a name should be, an element that is not an object) makes [`TapeParser::parse`]
//! answer `false`, and the worker parses the run element by element as before. Real traces
//! never take that path; broken ones read as they always did.

use simd_json::{Buffers, Node, StaticNode, Tape};

use crate::{
    accumulate::{
        CommArgs, CommParams, Fields, ShapeCost, comm_params_of, is_counted_op, shape_cost_of,
        thread_key_of,
    },
    event::{ArgNumbers, IdKey, Num},
};

/// One event read off the tape: what the pipeline keeps of it.
pub(crate) struct TapeEvent<'t> {
    pub(crate) ph: &'t str,
    pub(crate) cat: &'t str,
    pub(crate) name: &'t str,
    pub(crate) ts: Num,
    pub(crate) dur: Num,
    pub(crate) thread: u64,
    pub(crate) args: Option<ArgNumbers>,
    /// Boxed: few events have them, and the events are moved twice.
    pub(crate) cost: Option<Box<ShapeCost>>,
    pub(crate) comm: Option<Box<CommParams>>,
}

impl TapeEvent<'_> {
    /// What the accumulator reads of the event.
    pub(crate) fn fields(&self) -> Fields<'_> {
        Fields {
            ph: self.ph,
            cat: self.cat,
            name: self.name,
            ts: self.ts,
            dur: self.dur,
            thread: self.thread,
            args: self.args,
            cost: self.cost.as_deref(),
            comm: self.comm.as_deref(),
        }
    }
}

/// A worker's parser, its buffers kept from run to run.
#[derive(Default)]
pub(crate) struct TapeParser {
    /// The run as one JSON array; simd-json unescapes strings in place, so the run itself
    /// stays intact for the per-element path.
    scratch: Vec<u8>,
    buffers: Buffers,
    /// The tape's storage, between runs.
    tape: Option<Tape<'static>>,
}

/// Why the tape walk gave up: the per-element path reads the run instead.
struct NotPlain;

impl TapeParser {
    /// Parses `run` (whole elements of `traceEvents` and the separators between them, maybe a
    /// comma before the first) and hands each event to `each`, in order, once the whole run
    /// has been read. Returns `false`, and calls `each` for none, when the run is not plain
    /// JSON objects that the fast path reads exactly as the per-element path would; the caller
    /// then reads the run element by element.
    pub(crate) fn parse(&mut self, run: &[u8], each: impl FnMut(TapeEvent<'_>)) -> bool {
        self.with_tape(run, |tape| {
            let mut events = Vec::new();
            let whole = walk(tape, &mut |event| events.push(event)).is_ok();
            if whole {
                events.into_iter().for_each(each);
            }
            whole
        })
    }

    /// [`TapeParser::parse`], handing each event to `each` as it is read: on `false`, `each`
    /// may have had some of the run's events, which the caller drops.
    pub(crate) fn parse_streaming(
        &mut self,
        run: &[u8],
        mut each: impl FnMut(TapeEvent<'_>),
    ) -> bool {
        self.with_tape(run, |tape| walk(tape, &mut each).is_ok())
    }

    /// Parses the run into the tape and hands it to `read`; false when it is not JSON.
    fn with_tape(&mut self, run: &[u8], read: impl FnOnce(&[Node<'_>]) -> bool) -> bool {
        let body = strip_leading_separator(run);
        self.scratch.clear();
        self.scratch.reserve(body.len() + 2);
        self.scratch.push(b'[');
        self.scratch.extend_from_slice(body);
        self.scratch.push(b']');
        let mut tape = self.tape.take().unwrap_or_else(Tape::null).reset();
        let parsed = simd_json::fill_tape(&mut self.scratch, &mut self.buffers, &mut tape).is_ok()
            && read(&tape.0);
        self.tape = Some(tape.reset());
        parsed
    }
}

/// The run without the whitespace and the one comma that may come before its first element
/// (the separator after the previous run). A second comma stays, and fails the parse, as the
/// per-element path counts it as a repair. Whitespace is JSON's (what the scanner skips
/// between elements): a form feed, which `trim_ascii_start` would drop, stays and fails it.
pub(crate) fn strip_leading_separator(run: &[u8]) -> &[u8] {
    let trim = |bytes: &[u8]| -> usize {
        bytes
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
            .count()
    };
    let rest = &run[trim(run)..];
    match rest.strip_prefix(b",") {
        Some(rest) => &rest[trim(rest)..],
        None => rest,
    }
}

/// Nodes a value takes on the tape, itself included.
fn span(node: &Node<'_>) -> usize {
    match node {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}

/// Hands `each` the events of the run's array, in order, up to the first that is not plain.
fn walk<'t>(tape: &'t [Node<'t>], each: &mut impl FnMut(TapeEvent<'t>)) -> Result<(), NotPlain> {
    let Some(Node::Array { len, .. }) = tape.first() else {
        return Err(NotPlain);
    };
    let mut at = 1;
    for _ in 0..*len {
        let node = tape.get(at).ok_or(NotPlain)?;
        let Node::Object { len: fields, .. } = node else {
            return Err(NotPlain);
        };
        each(event(tape, at + 1, *fields)?);
        at += span(node);
    }
    Ok(())
}

/// Bits of [`event`]'s and [`args`]'s fields seen, to refuse a duplicate as serde does.
mod seen {
    pub(super) const PH: u32 = 1;
    pub(super) const CAT: u32 = 1 << 1;
    pub(super) const NAME: u32 = 1 << 2;
    pub(super) const TS: u32 = 1 << 3;
    pub(super) const DUR: u32 = 1 << 4;
    pub(super) const TID: u32 = 1 << 5;
    pub(super) const PID: u32 = 1 << 6;
    pub(super) const ARGS: u32 = 1 << 7;
}

fn mark(seen: &mut u32, bit: u32) -> Result<(), NotPlain> {
    if *seen & bit != 0 {
        return Err(NotPlain);
    }
    *seen |= bit;
    Ok(())
}

/// The event whose `fields` key-value pairs start at `at`.
fn event<'t>(
    tape: &'t [Node<'t>],
    mut at: usize,
    fields: usize,
) -> Result<TapeEvent<'t>, NotPlain> {
    let (mut ph, mut cat, mut name) = (None, None, None);
    let (mut ts, mut dur) = (Num::default(), Num::default());
    let (mut tid, mut pid) = (None, None);
    let mut args = None;
    let mut seen = 0u32;
    for _ in 0..fields {
        let Some(Node::String(key)) = tape.get(at) else {
            return Err(NotPlain);
        };
        let value_at = at + 1;
        let value = tape.get(value_at).ok_or(NotPlain)?;
        let bit = match *key {
            "ph" => seen::PH,
            "cat" => seen::CAT,
            "name" => seen::NAME,
            "ts" => seen::TS,
            "dur" => seen::DUR,
            "tid" => seen::TID,
            "pid" => seen::PID,
            "args" => seen::ARGS,
            _ => 0,
        };
        if bit != 0 {
            mark(&mut seen, bit)?;
        }
        match bit {
            seen::PH => ph = string(value)?,
            seen::CAT => cat = string(value)?,
            seen::NAME => name = string(value)?,
            seen::TS => ts = number(value)?,
            seen::DUR => dur = number(value)?,
            seen::TID => tid = id(value)?,
            seen::PID => pid = id(value)?,
            seen::ARGS => {
                args = match value {
                    Node::Static(StaticNode::Null) => None,
                    Node::Object { len, .. } => Some(Args::read(tape, value_at + 1, *len)?),
                    _ => return Err(NotPlain),
                };
            }
            _ => {}
        }
        at = value_at + span(value);
    }
    let (ph, cat, name) = (ph.unwrap_or(""), cat.unwrap_or(""), name.unwrap_or(""));
    let cost = match &args {
        Some(args) if is_counted_op(cat, name) => args.cost(tape, name).map(Box::new),
        _ => None,
    };
    let comm = match &args {
        Some(args) if name == "record_param_comms" => comm_params_of(&args.comm).map(Box::new),
        _ => None,
    };
    Ok(TapeEvent {
        ph,
        cat,
        name,
        ts,
        dur,
        thread: thread_key_of(tid, pid),
        args: args.as_ref().map(|a| a.numbers),
        cost,
        comm,
    })
}

/// The `args` the summary reads, as [`crate::event::RawArgs`] has them.
struct Args<'t> {
    numbers: ArgNumbers,
    comm: CommArgs<'t>,
    /// Where `Input Dims` and `Input type` are on the tape.
    input_dims: Option<usize>,
    input_types: Option<usize>,
}

impl<'t> Args<'t> {
    fn read(tape: &'t [Node<'t>], mut at: usize, fields: usize) -> Result<Args<'t>, NotPlain> {
        let mut numbers = ArgNumbers::default();
        let mut comm = CommArgs::default();
        let (mut input_dims, mut input_types) = (None, None);
        let mut seen = 0u32;
        for _ in 0..fields {
            let Some(Node::String(key)) = tape.get(at) else {
                return Err(NotPlain);
            };
            let value_at = at + 1;
            let value = tape.get(value_at).ok_or(NotPlain)?;
            // The field's place among RawArgs' fields, for the duplicate check.
            let field = match *key {
                "correlation" => 1,
                "stream" => 2,
                "bytes" => 3,
                "Total Allocated" => 4,
                "Total Reserved" => 5,
                "Device Type" => 6,
                "In msg nelems" => 7,
                "Out msg nelems" => 8,
                "Group size" => 9,
                "Input Dims" => 10,
                "Input type" => 11,
                "dtype" => 12,
                "Collective name" => 13,
                _ => 0,
            };
            if field != 0 {
                mark(&mut seen, 1 << field)?;
            }
            match field {
                1 => numbers.correlation = number(value)?,
                2 => numbers.stream = number(value)?,
                3 => numbers.bytes = number(value)?,
                4 => numbers.total_allocated = number(value)?,
                5 => numbers.total_reserved = number(value)?,
                6 => numbers.device_type = number(value)?,
                7 => comm.in_msg_nelems = number(value)?,
                8 => comm.out_msg_nelems = number(value)?,
                9 => comm.group_size = number(value)?,
                10 => input_dims = raw(value, value_at),
                11 => input_types = raw(value, value_at),
                12 => comm.dtype = string(value)?,
                13 => comm.collective_name = string(value)?,
                _ => {}
            }
            at = value_at + span(value);
        }
        Ok(Args {
            numbers,
            comm,
            input_dims,
            input_types,
        })
    }

    /// [`crate::accumulate::shape_cost`], from the tape.
    fn cost(&self, tape: &[Node<'_>], name: &str) -> Option<ShapeCost> {
        let dims = to_value(tape, self.input_dims?)?;
        let types = self.input_types.and_then(|at| to_value(tape, at));
        shape_cost_of(name, &dims, types.as_ref())
    }
}

/// Where a raw field's value is, `None` for `null` (as `Option<&RawValue>` reads it).
fn raw(value: &Node<'_>, at: usize) -> Option<usize> {
    (!matches!(value, Node::Static(StaticNode::Null))).then_some(at)
}

/// An `Option<Str>` field: a string, or nothing for `null`; anything else the per-element
/// path reads (a number, as its text) or rejects.
fn string<'t>(value: &Node<'t>) -> Result<Option<&'t str>, NotPlain> {
    match value {
        Node::String(text) => Ok(Some(text)),
        Node::Static(StaticNode::Null) => Ok(None),
        _ => Err(NotPlain),
    }
}

/// A [`Num`] field, as its lenient deserializer reads it.
fn number(value: &Node<'_>) -> Result<Num, NotPlain> {
    Ok(match value {
        Node::Static(StaticNode::F64(x)) if x.is_finite() => Num(Some(*x)),
        // Out of range: serde_json refuses the element.
        Node::Static(StaticNode::F64(_)) => return Err(NotPlain),
        Node::Static(StaticNode::I64(x)) => Num(Some(*x as f64)),
        Node::Static(StaticNode::U64(x)) => Num(Some(*x as f64)),
        Node::String(text) => Num::of_str(text),
        _ => Num(None),
    })
}

/// An `Option<IdKey>` field, as its deserializer reads it.
fn id(value: &Node<'_>) -> Result<Option<IdKey>, NotPlain> {
    Ok(Some(match value {
        Node::Static(StaticNode::Null) => return Ok(None),
        Node::Static(StaticNode::I64(v)) => IdKey(*v as u64),
        Node::Static(StaticNode::U64(v)) => IdKey(*v),
        Node::Static(StaticNode::F64(v)) => IdKey::of_f64(*v),
        Node::String(text) => IdKey::of_str(text),
        _ => return Err(NotPlain),
    }))
}

/// The value at `at` as serde_json would have parsed its text.
fn to_value(tape: &[Node<'_>], at: usize) -> Option<serde_json::Value> {
    use serde_json::Value;
    Some(match tape.get(at)? {
        Node::String(text) => Value::String((*text).to_owned()),
        Node::Static(StaticNode::Null) => Value::Null,
        Node::Static(StaticNode::Bool(b)) => Value::Bool(*b),
        Node::Static(StaticNode::I64(x)) => Value::from(*x),
        Node::Static(StaticNode::U64(x)) => Value::from(*x),
        Node::Static(StaticNode::F64(x)) => Value::from(*x),
        Node::Array { len, .. } => {
            let mut items = Vec::with_capacity(*len);
            let mut item = at + 1;
            for _ in 0..*len {
                items.push(to_value(tape, item)?);
                item += span(tape.get(item)?);
            }
            Value::Array(items)
        }
        Node::Object { len, .. } => {
            let mut map = serde_json::Map::new();
            let mut key = at + 1;
            for _ in 0..*len {
                let Node::String(name) = tape.get(key)? else {
                    return None;
                };
                map.insert((*name).to_owned(), to_value(tape, key + 1)?);
                key += 1 + span(tape.get(key + 1)?);
            }
            Value::Object(map)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(run: &str) -> Option<Vec<String>> {
        let mut out = Vec::new();
        let ok = TapeParser::default().parse(run.as_bytes(), |e| {
            out.push(format!(
                "{} {} {} {:?} {:?} {} {:?} {:?} {:?}",
                e.ph,
                e.cat,
                e.name,
                e.ts.0,
                e.dur.0,
                e.thread,
                e.args.map(|a| (a.correlation.0, a.stream.0, a.bytes.0)),
                e.cost.map(|c| (c.key.clone(), c.flops)),
                e.comm
                    .map(|c| (c.collective.clone(), c.bytes, c.group_size)),
            ));
        });
        ok.then_some(out)
    }

    #[test]
    fn reads_the_fields_the_summary_reads_and_steps_over_the_rest() {
        let got = events(
            r#", {"ph":"X","cat":"kernel","name":"k\u0031","ts":"12.5","dur":3,"pid":0,"tid":7,
                  "args":{"correlation":5,"stream":"7","grid":[1,[2,{"x":3}]],"bytes":null}},
                {"name":"aten::mm","cat":"cpu_op","ph":"X","ts":1,"dur":2,"tid":"main",
                 "args":{"Input Dims":[[64,16],[16,32]],"Input type":["float","float"]}},
                {"ph":"X","name":"record_param_comms","args":{"dtype":"Float",
                 "In msg nelems":1024,"Out msg nelems":2048,"Group size":8,
                 "Collective name":"allreduce"}}"#,
        )
        .expect("plain");
        assert_eq!(got.len(), 3, "{got:#?}");
        assert!(
            got[0].starts_with(
                "X kernel k1 Some(12.5) Some(3.0) 7 Some((Some(5.0), Some(7.0), None))"
            ),
            "{}",
            got[0]
        );
        assert!(
            got[1].contains("aten::mm") && got[1].contains("65536.0"),
            "{}",
            got[1]
        );
        assert!(
            got[2].contains(r#"Some(("allreduce", 8192.0, 8))"#),
            "{}",
            got[2]
        );
    }

    #[test]
    fn gives_up_on_what_the_per_element_path_repairs_or_rejects() {
        for run in [
            r#"{"ph":"X","ts":NaN}"#,
            r#"{"ph":"X","ts":1,}"#,
            r#"{"ph":"X"},,{"ph":"X"}"#,
            r#"{"ph":"X","ph":"B"}"#,
            r#"{"ph":"X","args":{"stream":1,"stream":2}}"#,
            r#"{"ph":5}"#,
            r#"{"tid":true}"#,
            r#"{"args":[1,2]}"#,
            r#"{"ph":"X"}, 42"#,
            r#"{"ph":"X"} {"ph":"X"}"#,
            r#"{"ts":1e400}"#,
            "\u{c}{\"ph\":\"X\"}",
        ] {
            assert_eq!(events(run), None, "{run}");
        }
        assert_eq!(events("").map(|e| e.len()), Some(0));
    }

    /// What a field holds in real traces.
    #[derive(Clone, Copy, Debug)]
    enum Field {
        Text,
        Number,
        Id,
        Shapes,
        Other,
    }

    /// One value of a field of that kind, as JSON text: mostly what real traces write there,
    /// now and then what they sometimes do (numbers as strings, nulls, escapes, nesting,
    /// out-of-range numbers, a number where a name goes).
    fn value(field: Field) -> proptest::strategy::BoxedStrategy<String> {
        use proptest::prelude::*;
        let text = prop_oneof![
            Just("\"X\"".to_owned()),
            Just("\"kernel\"".to_owned()),
            Just("\"cpu_op\"".to_owned()),
            Just("\"aten::mm\"".to_owned()),
            Just("\"record_param_comms\"".to_owned()),
            Just("\"Float\"".to_owned()),
            Just("\"allreduce\"".to_owned()),
            Just("\"a\\\"b\\u00e9\\n\"".to_owned()),
        ];
        let number = prop_oneof![
            (-1e6f64..1e16).prop_map(|x| format!("{x}")),
            (-5i64..1_000_000).prop_map(|x| x.to_string()),
            Just("-0.0".to_owned()),
            Just("18446744073709551615".to_owned()),
            Just("\" 12.5 \"".to_owned()),
        ];
        let odd = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("1e400".to_owned()),
            Just("7".to_owned()),
            Just("{\"x\": [1, {\"y\": 2}]}".to_owned()),
            Just("[[64, 16], [16, 32]]".to_owned()),
        ];
        let usual = match field {
            Field::Text => text.boxed(),
            Field::Number | Field::Id => number.boxed(),
            Field::Shapes => prop_oneof![
                Just("[[64, 16], [16, 32]]".to_owned()),
                Just("[[2, 4, 1, 32], [2, 4, 31, 32], [2, 4, 31, 32], []]".to_owned()),
                Just("[\"float\", \"float\"]".to_owned()),
            ]
            .boxed(),
            Field::Other => prop_oneof![text, number].boxed(),
        };
        prop_oneof![12 => usual, 1 => odd].boxed()
    }

    /// An object of some of `keys`, now and then one of them twice, with [`value`]s.
    fn object(
        keys: &'static [(&'static str, Field)],
    ) -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let fields = keys
            .iter()
            .map(|&(key, field)| (Just(key), value(field)))
            .collect::<Vec<_>>();
        (
            fields,
            proptest::sample::subsequence((0..keys.len()).collect::<Vec<_>>(), 0..=keys.len())
                .prop_shuffle(),
            proptest::bool::weighted(0.1),
        )
            .prop_map(|(fields, mut chosen, repeat)| {
                if repeat && let Some(&first) = chosen.first() {
                    chosen.push(first);
                }
                let body: Vec<String> = chosen
                    .iter()
                    .map(|&i| format!("\"{}\": {}", fields[i].0, fields[i].1))
                    .collect();
                format!("{{{}}}", body.join(", "))
            })
    }

    fn event() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        const EVENT: &[(&str, Field)] = &[
            ("ph", Field::Text),
            ("cat", Field::Text),
            ("name", Field::Text),
            ("ts", Field::Number),
            ("dur", Field::Number),
            ("pid", Field::Id),
            ("tid", Field::Id),
            ("id", Field::Other),
        ];
        const ARGS: &[(&str, Field)] = &[
            ("correlation", Field::Number),
            ("stream", Field::Number),
            ("bytes", Field::Number),
            ("Total Allocated", Field::Number),
            ("Device Type", Field::Number),
            ("Input Dims", Field::Shapes),
            ("Input type", Field::Shapes),
            ("dtype", Field::Text),
            ("In msg nelems", Field::Number),
            ("Group size", Field::Number),
            ("Collective name", Field::Text),
            ("External id", Field::Other),
        ];
        (object(EVENT), proptest::option::of(object(ARGS))).prop_map(|(event, args)| match args {
            Some(args) if event.len() > 2 => {
                format!("{}, \"args\": {args}}}", &event[..event.len() - 1])
            }
            Some(args) => format!("{{\"args\": {args}}}"),
            None => event,
        })
    }

    /// What the per-element path makes of one element, as the pipeline keeps it; `None`
    /// when it rejects or repairs it.
    fn per_element(element: &str) -> Option<String> {
        use crate::accumulate::{Fields, Parsed, comm_params, parse_element, shape_cost};
        let mut fixed = Vec::new();
        match parse_element(element.as_bytes(), None, &mut fixed) {
            Parsed::Event {
                event,
                non_finite_repairs: 0,
                comma_repairs: 0,
            } => {
                let cost = shape_cost(&event);
                let comm = comm_params(&event);
                Some(format!(
                    "{:?}",
                    Fields::of(&event, cost.as_ref(), comm.as_ref())
                ))
            }
            _ => None,
        }
    }

    proptest::proptest! {
        /// Whatever the tape reads, it reads as the per-element path does, every field; and
        /// it reads a run only when that path reads each element without repair.
        #[test]
        fn the_tape_reads_what_serde_reads_or_nothing(
            elements in proptest::collection::vec(event(), 0..6)
        ) {
            let run = elements.join(",\n");
            let mut got = Vec::new();
            let read = TapeParser::default()
                .parse(run.as_bytes(), |e| got.push(format!("{:?}", e.fields())));
            if read {
                let expected: Vec<Option<String>> =
                    elements.iter().map(|e| per_element(e)).collect();
                let expected: Vec<String> = expected.into_iter().collect::<Option<_>>()
                    .unwrap_or_else(|| panic!("the tape read what serde refuses: {run}"));
                proptest::prop_assert_eq!(got, expected, "{}", run);
            }
        }
    }
}
