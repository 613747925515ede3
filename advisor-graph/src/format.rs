//! Format detection and the format-independent entry point [`import_bytes`].

use std::collections::BTreeMap;

use advisor_core::ModelGraph;
use serde::de::IgnoredAny;

use crate::{
    error::{ImportError, ImportErrorKind, ImportWarning},
    graph_json, hf_config, json,
};

/// A model file format this crate can recognize.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ModelFormat {
    /// A Hugging Face `config.json`: a JSON object with `model_type` or `architectures`.
    HfConfig,
    /// The advisor's own graph JSON (core's `ModelGraph`): an object with `nodes`, `facts`
    /// or `edges`.
    GraphJson,
    /// An ONNX model: a protobuf `ModelProto` with a graph.
    Onnx,
    /// A safetensors checkpoint: an 8-byte header length, then a JSON header.
    Safetensors,
    /// A sharded safetensors checkpoint's `model.safetensors.index.json` (with `weight_map`).
    SafetensorsIndex,
    /// None of the above.
    Unknown,
}

impl ModelFormat {
    /// A short name for messages (`hf-config`, `graph-json`, `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            ModelFormat::HfConfig => "hf-config",
            ModelFormat::GraphJson => "graph-json",
            ModelFormat::Onnx => "onnx",
            ModelFormat::Safetensors => "safetensors",
            ModelFormat::SafetensorsIndex => "safetensors-index",
            ModelFormat::Unknown => "unknown",
        }
    }
}

/// A successful import: the graph, the format it was read from, and the problems that did not
/// stop the import.
///
/// Importers return warnings beside the graph rather than failing, in the manner of
/// rust-analyzer's diagnostics: a graph JSON with a dangling edge or a cycle still describes a
/// model a rule can reason about, so the caller decides whether to print, count or reject.
/// Only input that yields no meaningful graph is an [`ImportError`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Imported {
    /// The imported model.
    pub graph: ModelGraph,
    /// The format it was read from.
    pub format: ModelFormat,
    /// Problems that left a usable graph, in input order.
    pub warnings: Vec<ImportWarning>,
    /// The default-domain (`ai.onnx`) operator set the model was exported for; ONNX only.
    pub opset: Option<u64>,
    /// The graph's inputs with their element types and (possibly symbolic) shapes, in file
    /// order; ONNX only. Initializers that old exporters also list as inputs are left out.
    pub inputs: Vec<TensorSignature>,
    /// The graph's outputs with their element types and shapes; ONNX only.
    pub outputs: Vec<TensorSignature>,
}

/// A graph input or output: name, element type and shape, where each dimension is a number
/// or a symbol such as `batch_size`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct TensorSignature {
    /// Tensor name: `input_ids`.
    pub name: String,
    /// Element type (`int64`, `fp32`), when the file states a known one.
    pub dtype: Option<String>,
    /// Dimensions; empty when the file states no shape.
    pub shape: Vec<advisor_core::Dimension>,
}

impl TensorSignature {
    pub(crate) fn new(
        name: String,
        dtype: Option<String>,
        shape: Vec<advisor_core::Dimension>,
    ) -> TensorSignature {
        TensorSignature { name, dtype, shape }
    }
}

impl Imported {
    pub(crate) fn new(
        graph: ModelGraph,
        format: ModelFormat,
        warnings: Vec<ImportWarning>,
    ) -> Imported {
        Imported {
            graph,
            format,
            warnings,
            opset: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
        }
    }
}

/// Sniffs which format `bytes` hold, from content alone.
///
/// A safetensors file starts with a little-endian header length that fits in the file,
/// followed by `{`. An ONNX model is a protobuf whose top-level fields are all `ModelProto`
/// fields with their wire types, ending exactly at the end, with a graph (field 7); only the
/// top level is walked, nothing is decoded. JSON objects are told apart by their top-level
/// keys: `model_type` or `architectures` mean a Hugging Face config, `nodes`, `facts` or
/// `edges` mean graph JSON, `weight_map` a safetensors index. Anything else is
/// [`ModelFormat::Unknown`].
///
/// ```
/// use advisor_graph::{ModelFormat, detect_format};
///
/// assert_eq!(detect_format(br#"{"model_type": "bert"}"#), ModelFormat::HfConfig);
/// assert_eq!(detect_format(br#"{"nodes": []}"#), ModelFormat::GraphJson);
/// // ir_version 8, then an empty graph.
/// assert_eq!(detect_format(b"\x08\x08\x3a\x00"), ModelFormat::Onnx);
/// assert_eq!(detect_format(b"\x08\x07onnx"), ModelFormat::Unknown);
/// ```
pub fn detect_format(bytes: &[u8]) -> ModelFormat {
    if looks_like_safetensors(bytes, bytes.len() as u64) {
        return ModelFormat::Safetensors;
    }
    if !looks_like_json_object(bytes) {
        return if looks_like_onnx(bytes) {
            ModelFormat::Onnx
        } else {
            ModelFormat::Unknown
        };
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return ModelFormat::Unknown;
    };
    // Keys only: the values are skipped without being built.
    match serde_json::from_str::<BTreeMap<String, IgnoredAny>>(json::strip_bom(text)) {
        Ok(object) => classify_keys(object.keys().map(String::as_str)),
        Err(_) => ModelFormat::Unknown,
    }
}

/// Imports a model from bytes in any supported format, detected with [`detect_format`].
///
/// `source` names the input in messages (usually its path). Formats that need files beside
/// the model (a sharded safetensors index, a `config.json` next to the weights, ONNX external
/// data) need [`import_path`](crate::import_path).
///
/// # Errors
///
/// Input that is not in a supported format, malformed JSON (with line and column), a
/// safetensors index (its shards are separate files), and everything
/// [`from_hf_config_str`](crate::from_hf_config_str),
/// [`from_graph_json_str`](crate::from_graph_json_str),
/// [`from_onnx_bytes`](crate::from_onnx_bytes) and
/// [`from_safetensors_bytes`](crate::from_safetensors_bytes) reject.
pub fn import_bytes(bytes: &[u8], source: &str) -> Result<Imported, ImportError> {
    if looks_like_safetensors(bytes, bytes.len() as u64) {
        return crate::safetensors::from_safetensors_bytes(bytes, source);
    }
    if !looks_like_json_object(bytes) {
        if looks_like_onnx(bytes) {
            return crate::onnx::from_onnx_bytes(bytes, source);
        }
        return Err(ImportError::new(source, ImportErrorKind::UnknownFormat));
    }
    let text = json::decode_utf8(bytes, source)?;
    let value = json::parse_value(text, source)?;
    let Some(object) = value.as_object() else {
        return Err(ImportError::new(
            source,
            ImportErrorKind::NotAnObject {
                found: json::describe_type(&value),
            },
        ));
    };
    match classify_keys(object.keys().map(String::as_str)) {
        ModelFormat::HfConfig => hf_config::import_value(&value, source),
        // Parsed again from the text so that errors carry line and column.
        ModelFormat::GraphJson => graph_json::from_graph_json_str(text, source),
        ModelFormat::SafetensorsIndex => Err(ImportError::new(
            source,
            ImportErrorKind::Io {
                message: "a sharded safetensors index names its shard files beside it: import \
                          it by path"
                    .to_owned(),
            },
        )),
        _ => Err(ImportError::new(source, ImportErrorKind::UnknownFormat)),
    }
}

/// Whether `prefix` (the file's first bytes) starts a safetensors file of `file_len` bytes.
pub(crate) fn looks_like_safetensors(prefix: &[u8], file_len: u64) -> bool {
    let Some(length) = prefix.get(..8) else {
        return false;
    };
    let mut raw = [0u8; 8];
    raw.copy_from_slice(length);
    let header_len = u64::from_le_bytes(raw);
    header_len >= 2 && header_len <= file_len.saturating_sub(8) && prefix.get(8) == Some(&b'{')
}

/// Walks the top-level protobuf fields: each must be a `ModelProto` field with its wire type,
/// the last must end at the end of the input, and the graph (field 7) must be present.
pub(crate) fn looks_like_onnx(bytes: &[u8]) -> bool {
    fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *bytes.get(*at)?;
            *at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
    let mut at = 0;
    let mut has_graph = false;
    while at < bytes.len() {
        let Some(key) = varint(bytes, &mut at) else {
            return false;
        };
        let (field, wire) = (key >> 3, key & 7);
        let expected = match field {
            1 | 5 => 0,
            2 | 3 | 4 | 6 | 7 | 8 | 14 | 20 | 25 => 2,
            _ => return false,
        };
        if wire != expected {
            return false;
        }
        let Some(value) = varint(bytes, &mut at) else {
            return false;
        };
        if wire == 2 {
            let Some(end) = usize::try_from(value)
                .ok()
                .and_then(|length| at.checked_add(length))
                .filter(|end| *end <= bytes.len())
            else {
                return false;
            };
            at = end;
        }
        has_graph |= field == 7;
    }
    has_graph
}

/// What non-protobuf content is, for "expected ONNX, found ..." messages.
pub(crate) fn describe_non_protobuf(bytes: &[u8]) -> Option<&'static str> {
    let first = bytes.iter().find(|byte| !byte.is_ascii_whitespace());
    if bytes.is_empty() {
        Some("an empty file")
    } else if looks_like_safetensors(bytes, bytes.len() as u64) {
        Some("a safetensors file")
    } else if matches!(first, Some(b'{' | b'[')) || bytes.starts_with(b"\xef\xbb\xbf") {
        Some("JSON text")
    } else {
        None
    }
}

/// Whether the first significant byte opens a JSON object. Binary formats (ONNX protobuf,
/// safetensors' length prefix) never start with `{` after optional whitespace.
fn looks_like_json_object(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    bytes
        .iter()
        .find(|byte| !byte.is_ascii_whitespace())
        .is_some_and(|byte| *byte == b'{')
}

fn classify_keys<'a>(keys: impl Iterator<Item = &'a str> + Clone) -> ModelFormat {
    let has = |wanted: &[&str]| keys.clone().any(|key| wanted.contains(&key));
    // Graph JSON first: core's `ModelGraph` denies unknown fields, so it never has
    // `model_type`, while a config could in principle carry a key called `nodes`.
    if has(&["nodes", "facts", "edges"]) && !has(&["model_type", "architectures"]) {
        ModelFormat::GraphJson
    } else if has(&["model_type", "architectures"]) {
        ModelFormat::HfConfig
    } else if has(&["weight_map"]) {
        ModelFormat::SafetensorsIndex
    } else {
        ModelFormat::Unknown
    }
}
