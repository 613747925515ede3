//! What can go wrong while importing: fatal [`ImportError`]s and non-fatal [`ImportWarning`]s.

use std::fmt;

/// The `model_type`s the Hugging Face importer supports.
pub const SUPPORTED_MODEL_TYPES: &[&str] = &[
    "bert",
    "roberta",
    "distilbert",
    "gpt2",
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "phi3",
    "qwen3",
    "qwen3_moe",
    "gemma2",
    "falcon",
    "t5",
];

/// An input that could not be turned into a model graph.
///
/// The message names the source (usually a file name) and where the problem is: a config
/// key, a JSON path, or a line and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {kind}")]
pub struct ImportError {
    source_name: String,
    kind: ImportErrorKind,
}

impl ImportError {
    pub(crate) fn new(source_name: &str, kind: ImportErrorKind) -> ImportError {
        ImportError {
            source_name: source_name.to_owned(),
            kind,
        }
    }

    /// Where the input came from, as the caller named it (a path, `<stdin>`, ...).
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// What went wrong.
    pub fn kind(&self) -> &ImportErrorKind {
        &self.kind
    }
}

/// The kinds of [`ImportError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportErrorKind {
    /// The bytes are not UTF-8 text.
    #[error("not valid UTF-8: invalid byte at offset {valid_up_to}")]
    NotUtf8 {
        /// Length of the longest valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// The text is not well-formed JSON.
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the JSON parser expected.
        message: String,
    },
    /// The JSON is well-formed but does not have the expected shape.
    #[error("at `{path}` (line {line}, column {column}): {message}")]
    Schema {
        /// JSON path of the offending value, such as `nodes[3].parameters`.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was wrong with the value.
        message: String,
    },
    /// The top level of the JSON document is not an object.
    #[error("expected a JSON object at the top level, found {found}")]
    NotAnObject {
        /// What was found instead (`an array`, `a string`, ...).
        found: &'static str,
    },
    /// The content is neither a format this crate reads.
    #[error(
        "unrecognized format: expected an ONNX model, a safetensors file or index, a Hugging \
         Face config.json (with `model_type` or `architectures`) or advisor graph JSON (with \
         `nodes` or `facts`)"
    )]
    UnknownFormat,
    /// The config names a model family this importer does not support.
    #[error(
        "unsupported {key} `{value}`: supported model types are {}",
        SUPPORTED_MODEL_TYPES.join(", ")
    )]
    UnsupportedFamily {
        /// The key that named the family (`model_type` or `architectures`).
        key: &'static str,
        /// The family or architecture it named.
        value: String,
    },
    /// The config names no model family at all.
    #[error(
        "neither `model_type` nor `architectures` names the model family: supported model \
         types are {}",
        SUPPORTED_MODEL_TYPES.join(", ")
    )]
    MissingFamily,
    /// A required config key is absent.
    #[error("missing required key `{key}`")]
    MissingKey {
        /// The key.
        key: String,
    },
    /// A config key has the wrong type or an out-of-range value.
    #[error("`{key}` must be {expected}, found {found}")]
    InvalidValue {
        /// The key.
        key: String,
        /// What the value must be, such as `a positive integer`.
        expected: String,
        /// The value found, as JSON (shortened when long).
        found: String,
    },
    /// Values that are each valid but do not fit together, such as heads that do not divide
    /// the hidden size.
    #[error("{message}")]
    Inconsistent {
        /// The keys involved, in the order the message names them.
        keys: Vec<String>,
        /// A sentence naming the keys and their values.
        message: String,
    },
    /// A valid config for a model variant whose parameters this importer cannot count.
    #[error("`{key}` = {value} is not supported: {reason}")]
    Unsupported {
        /// The key selecting the variant.
        key: String,
        /// Its value, as JSON.
        value: String,
        /// Why the variant is not supported.
        reason: String,
    },
    /// A parameter count does not fit in 64 bits.
    #[error("the parameter count of {what} overflows a 64-bit integer")]
    Overflow {
        /// The part of the model being counted.
        what: String,
    },
    /// The bytes are not a well-formed ONNX protobuf (truncated, corrupt, or nested too deep).
    #[error("not a valid ONNX model: {message}")]
    Protobuf {
        /// What the protobuf decoder found wrong, with the message path.
        message: String,
    },
    /// A file was expected to hold one format (from its extension or the caller) and holds
    /// another.
    #[error("expected {expected}, found {found}")]
    FormatMismatch {
        /// The format expected, such as `an ONNX model`.
        expected: &'static str,
        /// What the content is, such as `JSON text`.
        found: &'static str,
    },
    /// A tensor's metadata is unusable: negative or overflowing dims, an unknown dtype,
    /// offsets that do not match its size.
    #[error("tensor `{tensor}`: {message}")]
    InvalidTensor {
        /// The tensor name.
        tensor: String,
        /// What is wrong with it.
        message: String,
    },
    /// An ONNX external-data location that would leave the model's folder.
    #[error(
        "tensor `{tensor}`: external data location `{location}` leaves the model's folder; \
         only relative paths inside it are read"
    )]
    ExternalDataEscapes {
        /// The tensor name.
        tensor: String,
        /// The location as written in the model.
        location: String,
    },
    /// A safetensors file whose header is malformed or inconsistent with the file.
    #[error("invalid safetensors file: {message}")]
    Safetensors {
        /// What is wrong, with sizes and offsets.
        message: String,
    },
    /// A file could not be read.
    #[error("{message}")]
    Io {
        /// What failed, such as `no such file`.
        message: String,
    },
}

/// A problem that leaves a usable graph: the import succeeds and reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImportWarning {
    /// Two nodes share an id; edges naming it are ambiguous.
    DuplicateNodeId {
        /// The repeated id.
        id: String,
        /// Index of the first node with this id.
        first_index: usize,
        /// Index of the later node with the same id.
        index: usize,
    },
    /// An edge names a node id that no node has.
    UnknownEdgeEndpoint {
        /// Index of the edge in `edges`.
        edge_index: usize,
        /// Which end of the edge: `from` or `to`.
        end: &'static str,
        /// The unknown id.
        id: String,
    },
    /// The edges form a cycle, so the graph has no topological order.
    Cycle {
        /// Ids of the nodes on the cycle (one strongly connected component), sorted.
        node_ids: Vec<String>,
    },
    /// Node inputs that name tensors nothing produces: not a graph input, an initializer or
    /// any node's output.
    DanglingInputs {
        /// How many node inputs dangle.
        count: u64,
        /// The first few, as `node: tensor`.
        examples: Vec<String>,
    },
    /// A long chain of small element-wise operators, each a separate kernel launch and
    /// round trip through memory, that one fused kernel could replace.
    ElementwiseChain {
        /// Node names in data-flow order.
        nodes: Vec<String>,
    },
    /// Two floating-point initializers with transposed shapes, likely a tied weight
    /// (token embedding and language-model head) written twice; both are counted, as the
    /// file holds both.
    LikelyTiedCopy {
        /// The first initializer.
        first: String,
        /// The transposed copy.
        second: String,
    },
    /// A fact read from the model file disagrees with the `config.json` beside it; the
    /// file's value is kept.
    ConfigMismatch {
        /// The fact, such as `layers`.
        fact: String,
        /// The value the model file gives.
        file_value: String,
        /// The value the config gives.
        config_value: String,
    },
    /// Something about a companion file (a config, an external-data file, a shard) that
    /// did not stop the import.
    Companion {
        /// The companion file.
        file: String,
        /// What happened.
        message: String,
    },
    /// A dtype string that is not one of the known precisions; the dtype is left unknown.
    UnrecognizedDtype {
        /// The key holding it (`torch_dtype` or `dtype`).
        key: String,
        /// The value found.
        value: String,
    },
}

impl fmt::Display for ImportWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportWarning::DuplicateNodeId {
                id,
                first_index,
                index,
            } => write!(
                f,
                "duplicate node id `{id}`: `nodes[{index}]` repeats `nodes[{first_index}]`"
            ),
            ImportWarning::UnknownEdgeEndpoint {
                edge_index,
                end,
                id,
            } => write!(
                f,
                "`edges[{edge_index}].{end}` names unknown node id `{id}`; the edge is ignored"
            ),
            ImportWarning::Cycle { node_ids } => {
                const SHOWN: usize = 8;
                let shown: Vec<String> = node_ids
                    .iter()
                    .take(SHOWN)
                    .map(|id| format!("`{id}`"))
                    .collect();
                let more = node_ids.len().saturating_sub(SHOWN);
                write!(f, "the edges form a cycle through {}", shown.join(", "))?;
                if more > 0 {
                    write!(f, " and {more} more")?;
                }
                Ok(())
            }
            ImportWarning::DanglingInputs { count, examples } => write!(
                f,
                "{count} node input(s) name tensors that nothing produces (not a graph input, \
                 an initializer or a node output), for example {}",
                examples.join(", ")
            ),
            ImportWarning::ElementwiseChain { nodes } => {
                let shown = match nodes.as_slice() {
                    [first, .., last] => format!("`{first}` → … → `{last}`"),
                    _ => nodes.join(" → "),
                };
                write!(
                    f,
                    "a chain of {} element-wise operators ({shown}) runs as {} kernels; one \
                     fused kernel could replace it",
                    nodes.len(),
                    nodes.len()
                )
            }
            ImportWarning::LikelyTiedCopy { first, second } => write!(
                f,
                "initializers `{first}` and `{second}` have transposed shapes: likely a tied \
                 weight written twice by the exporter; both are counted, as the file holds both"
            ),
            ImportWarning::ConfigMismatch {
                fact,
                file_value,
                config_value,
            } => write!(
                f,
                "{fact}: the model file gives {file_value}, the config.json beside it gives \
                 {config_value}; keeping the file's value"
            ),
            ImportWarning::Companion { file, message } => write!(f, "{file}: {message}"),
            ImportWarning::UnrecognizedDtype { key, value } => write!(
                f,
                "`{key}` is `{value}`, not one of fp32, fp16, bf16, fp8, int8, int4; the dtype \
                 is left unknown"
            ),
        }
    }
}
