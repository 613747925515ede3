//! The safetensors importer: tensor names, dtypes and shapes from the header alone.
//!
//! A safetensors file is an 8-byte little-endian header length `N`, `N` bytes of JSON
//! (`{"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__":
//! {..}}`), then the tensor data. Only the header is read; the length is checked against the
//! file size and a fixed limit before anything is allocated for it.

use std::collections::BTreeMap;

use advisor_core::{Architecture, ModelFacts, ModelGraph, Precision};
use serde::Deserialize;

use crate::{
    error::{ImportError, ImportErrorKind},
    format::{Imported, ModelFormat},
};

/// Largest header accepted, as the reference `safetensors` crate limits it (100 MB).
pub(crate) const MAX_HEADER_BYTES: u64 = 100_000_000;

/// One tensor as the header describes it.
#[derive(Debug, Clone)]
pub(crate) struct TensorEntry {
    pub(crate) name: String,
    pub(crate) dtype: &'static str,
    pub(crate) shape: Vec<u64>,
    pub(crate) elements: u64,
    pub(crate) bytes: u64,
    pub(crate) parameter: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// Reads a safetensors file's header from the whole file's bytes (the data is not read).
///
/// Parameters are the elements of floating-point and 8- or 4-bit integer tensors; bytes
/// are counted per dtype. Names give layers (`layers.N.`, `h.N.`, `layer.N.`), experts
/// (`experts.N.`) and embedding tables. [`import_path`](crate::import_path) also reads a
/// `config.json` beside the file and sharded checkpoints.
///
/// ```
/// let header = br#"{"wte.weight": {"dtype": "F16", "shape": [4, 2], "data_offsets": [0, 16]}}"#;
/// let mut file = (header.len() as u64).to_le_bytes().to_vec();
/// file.extend_from_slice(header);
/// file.extend_from_slice(&[0; 16]);
/// let imported = advisor_graph::from_safetensors_bytes(&file, "model.safetensors").unwrap();
/// assert_eq!(imported.graph.facts.parameters, Some(8));
/// assert_eq!(imported.graph.facts.weight_bytes, Some(16));
/// ```
///
/// # Errors
///
/// A file shorter than its 8-byte length prefix, a header length larger than the file or
/// the 100 MB limit, a header that is not a JSON object of tensor entries, an unknown dtype,
/// shapes whose element count overflows, and data offsets that disagree with the shape or lie
/// outside the file.
pub fn from_safetensors_bytes(bytes: &[u8], source: &str) -> Result<Imported, ImportError> {
    let header_len = header_length(bytes, bytes.len() as u64, source)?;
    let start = 8usize;
    let end = start + header_len as usize;
    let data_len = bytes.len() as u64 - 8 - header_len;
    let entries = parse_header(&bytes[start..end], Some(data_len), source)?;
    let (mut graph, lookup) = graph_from_entries(&entries);
    crate::facts::complete(&mut graph, Some(lookup));
    Ok(Imported::new(graph, ModelFormat::Safetensors, Vec::new()))
}

/// The header length from the first 8 bytes, checked against the file size and the limit.
pub(crate) fn header_length(
    prefix: &[u8],
    file_len: u64,
    source: &str,
) -> Result<u64, ImportError> {
    let invalid =
        |message: String| ImportError::new(source, ImportErrorKind::Safetensors { message });
    let Some(length) = prefix.get(..8) else {
        return Err(invalid(format!(
            "the file has {file_len} bytes, fewer than the 8-byte header length"
        )));
    };
    let mut raw = [0u8; 8];
    raw.copy_from_slice(length);
    let header_len = u64::from_le_bytes(raw);
    if header_len > file_len.saturating_sub(8) {
        return Err(invalid(format!(
            "the header length {header_len} is larger than the file ({file_len} bytes)"
        )));
    }
    if header_len > MAX_HEADER_BYTES {
        return Err(invalid(format!(
            "the header length {header_len} is larger than the {MAX_HEADER_BYTES}-byte limit"
        )));
    }
    Ok(header_len)
}

/// Parses the JSON header; `data_len` is the size of the data section when known.
pub(crate) fn parse_header(
    header: &[u8],
    data_len: Option<u64>,
    source: &str,
) -> Result<Vec<TensorEntry>, ImportError> {
    let invalid =
        |message: String| ImportError::new(source, ImportErrorKind::Safetensors { message });
    let object: BTreeMap<String, serde_json::Value> = serde_json::from_slice(header)
        .map_err(|error| invalid(format!("the header is not a JSON object: {error}")))?;
    let mut entries = Vec::with_capacity(object.len());
    for (name, value) in object {
        if name == "__metadata__" {
            continue;
        }
        let tensor_error = |message: String| {
            ImportError::new(
                source,
                ImportErrorKind::InvalidTensor {
                    tensor: name.clone(),
                    message,
                },
            )
        };
        let raw: RawEntry = serde_json::from_value(value)
            .map_err(|error| tensor_error(format!("malformed header entry: {error}")))?;
        let (dtype, bits, float) = dtype_info(&raw.dtype)
            .ok_or_else(|| tensor_error(format!("unknown dtype `{}`", raw.dtype)))?;
        let elements = raw
            .shape
            .iter()
            .try_fold(1u64, |product, dim| product.checked_mul(*dim))
            .ok_or_else(|| {
                tensor_error(format!(
                    "shape {:?} overflows a 64-bit element count",
                    raw.shape
                ))
            })?;
        let bytes = elements
            .checked_mul(bits)
            .map(|bits| bits.div_ceil(8))
            .ok_or_else(|| {
                tensor_error(format!(
                    "shape {:?} overflows a 64-bit byte count",
                    raw.shape
                ))
            })?;
        let [begin, end] = raw.data_offsets;
        if end < begin || end - begin != bytes {
            return Err(tensor_error(format!(
                "data_offsets [{begin}, {end}] hold {} bytes, but {} {:?} needs {bytes}",
                end.saturating_sub(begin),
                raw.dtype,
                raw.shape
            )));
        }
        if let Some(data_len) = data_len
            && end > data_len
        {
            return Err(tensor_error(format!(
                "data_offsets end {end} is past the {data_len} bytes of data in the file"
            )));
        }
        entries.push(TensorEntry {
            name,
            dtype,
            shape: raw.shape,
            elements,
            bytes,
            parameter: float || matches!(bits, 4 | 8) && dtype != "bool",
        });
    }
    Ok(entries)
}

/// Name, bits per element and whether floating point, for a safetensors dtype.
fn dtype_info(dtype: &str) -> Option<(&'static str, u64, bool)> {
    Some(match dtype {
        "F64" => ("fp64", 64, true),
        "F32" => ("fp32", 32, true),
        "F16" => ("fp16", 16, true),
        "BF16" => ("bf16", 16, true),
        "F8_E4M3" | "F8_E5M2" | "F8_E8M0" => ("fp8", 8, true),
        "F6_E2M3" | "F6_E3M2" => ("fp6", 6, true),
        "F4" => ("fp4", 4, true),
        "I64" => ("int64", 64, false),
        "U64" => ("uint64", 64, false),
        "I32" => ("int32", 32, false),
        "U32" => ("uint32", 32, false),
        "I16" => ("int16", 16, false),
        "U16" => ("uint16", 16, false),
        "I8" => ("int8", 8, false),
        "U8" => ("uint8", 8, false),
        "BOOL" => ("bool", 8, false),
        "C64" => ("complex64", 64, true),
        _ => return None,
    })
}

/// Facts from tensor entries, and the embedding-table parameters (looked up, not multiplied).
pub(crate) fn graph_from_entries(entries: &[TensorEntry]) -> (ModelGraph, u64) {
    let mut facts = ModelFacts::default();
    let mut parameters = 0u64;
    let mut elements_by_dtype: BTreeMap<&str, u64> = BTreeMap::new();
    let mut layers: Option<u64> = None;
    let mut experts: Option<u64> = None;
    let mut attention_layers = std::collections::BTreeSet::new();
    let mut lookup = 0u64;
    let mut has_lm_head = false;
    let (mut has_encoder, mut has_decoder) = (false, false);
    for entry in entries {
        let bytes = facts
            .weight_bytes_by_dtype
            .entry(entry.dtype.to_owned())
            .or_default();
        *bytes = bytes.saturating_add(entry.bytes);
        facts.weight_bytes = Some(facts.weight_bytes.unwrap_or(0).saturating_add(entry.bytes));
        if !entry.parameter {
            continue;
        }
        parameters = parameters.saturating_add(entry.elements);
        let count = elements_by_dtype.entry(entry.dtype).or_default();
        *count = count.saturating_add(entry.elements);
        let name = entry.name.as_str();
        if let Some(layer) = index_after(name, &["layers.", "layer.", "h.", "blocks.", "block."]) {
            layers =
                Some(layers.map_or(layer.saturating_add(1), |l| l.max(layer.saturating_add(1))));
            if name.contains("attn") || name.contains("attention") {
                attention_layers.insert(layer);
            }
        }
        if let Some(expert) = index_after(name, &["experts."]) {
            experts = Some(experts.map_or(expert.saturating_add(1), |e| {
                e.max(expert.saturating_add(1))
            }));
        }
        has_lm_head |= name.starts_with("lm_head.");
        has_encoder |= name.starts_with("encoder.") || name.contains(".encoder.");
        has_decoder |= name.starts_with("decoder.") || name.contains(".decoder.");
        let is_table = [
            "embed_tokens.weight",
            "wte.weight",
            "word_embeddings.weight",
        ]
        .iter()
        .any(|suffix| name.ends_with(suffix));
        let is_positions = ["wpe.weight", "position_embeddings.weight"]
            .iter()
            .any(|suffix| name.ends_with(suffix));
        let is_types = name.ends_with("token_type_embeddings.weight");
        if let [rows, width] = entry.shape.as_slice() {
            if is_table {
                facts.vocab_size = Some(*rows);
                facts.hidden_size = Some(*width);
            }
            if is_positions {
                facts.max_sequence_length = Some(*rows);
            }
            if is_table || is_positions || is_types {
                lookup = lookup.saturating_add(entry.elements);
            }
        }
    }
    facts.parameters = Some(parameters);
    facts.dtype = elements_by_dtype
        .iter()
        .max_by_key(|(_, elements)| **elements)
        .and_then(|(dtype, _)| Precision::parse(dtype));
    facts.layers = layers;
    facts.num_experts = experts;
    facts.attention_blocks =
        (!attention_layers.is_empty()).then_some(attention_layers.len() as u64);
    facts.architecture = if has_encoder && has_decoder {
        Some(Architecture::EncoderDecoder)
    } else if has_lm_head {
        Some(Architecture::Decoder)
    } else {
        None
    };
    let graph = ModelGraph {
        facts,
        ..ModelGraph::default()
    };
    (graph, lookup)
}

/// The number after the first of `markers` in a dotted tensor name (`model.layers.12.mlp`).
fn index_after(name: &str, markers: &[&str]) -> Option<u64> {
    for marker in markers {
        let mut rest = name;
        while let Some(position) = rest.find(marker) {
            let at_boundary = position == 0 || rest.as_bytes()[position - 1] == b'.';
            let after = &rest[position + marker.len()..];
            let digits: &str = after.split('.').next().unwrap_or("");
            if at_boundary
                && !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && let Ok(index) = digits.parse()
            {
                return Some(index);
            }
            rest = after;
        }
    }
    None
}
