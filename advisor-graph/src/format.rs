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
    /// None of the above.
    Unknown,
}

impl ModelFormat {
    /// A short name for messages (`hf-config`, `graph-json`, `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            ModelFormat::HfConfig => "hf-config",
            ModelFormat::GraphJson => "graph-json",
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
        }
    }
}

/// Sniffs which format `bytes` hold, from content alone.
///
/// JSON objects are told apart by their top-level keys: `model_type` or `architectures`
/// mean a Hugging Face config, `nodes`, `facts` or `edges` mean graph JSON. Anything that is
/// not a well-formed JSON object is [`ModelFormat::Unknown`].
///
/// ```
/// use advisor_graph::{ModelFormat, detect_format};
///
/// assert_eq!(detect_format(br#"{"model_type": "bert"}"#), ModelFormat::HfConfig);
/// assert_eq!(detect_format(br#"{"nodes": []}"#), ModelFormat::GraphJson);
/// assert_eq!(detect_format(b"\x08\x07onnx"), ModelFormat::Unknown);
/// ```
pub fn detect_format(bytes: &[u8]) -> ModelFormat {
    if !looks_like_json_object(bytes) {
        return ModelFormat::Unknown;
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
/// `source` names the input in messages (usually its path).
///
/// # Errors
///
/// Input that is not in a supported format, malformed JSON (with line and column), and
/// everything [`from_hf_config_str`](crate::from_hf_config_str) and
/// [`from_graph_json_str`](crate::from_graph_json_str) reject.
pub fn import_bytes(bytes: &[u8], source: &str) -> Result<Imported, ImportError> {
    if !looks_like_json_object(bytes) {
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
        ModelFormat::Unknown => Err(ImportError::new(source, ImportErrorKind::UnknownFormat)),
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
    } else {
        ModelFormat::Unknown
    }
}
