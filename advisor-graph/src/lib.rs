//! Model importers and model analysis: turn a model file into advisor-core's
//! [`ModelGraph`](advisor_core::ModelGraph).
//!
//! - [`import_path`] reads any supported file, detected by content, with the files beside it:
//!   ONNX (external data checked to stay inside the model's folder, a `config.json` beside it
//!   merged), safetensors (the header only; sharded checkpoints through
//!   `model.safetensors.index.json`; a `config.json` beside them merged), a Hugging Face
//!   `config.json`, or the advisor's graph JSON. [`import_bytes`] does the same from bytes for
//!   formats that need no other file.
//! - [`from_onnx_bytes`] decodes ONNX with hand-written `prost` messages (weight bytes are
//!   skipped, never copied), counts initializers, and analyzes the operator graph: op counts,
//!   attention blocks fused or decomposed, fusion opportunities named as onnxruntime names
//!   them, long element-wise chains, cycles and dangling inputs (as [`ImportWarning`]s). The
//!   opset and the graph's inputs and outputs ([`TensorSignature`]s, with symbolic
//!   dimensions) are kept on [`Imported`].
//! - [`from_safetensors_bytes`] reads tensor names, dtypes and shapes from the header.
//! - [`from_hf_config_str`] reads a Hugging Face `config.json` (BERT, RoBERTa, DistilBERT,
//!   GPT-2, Llama, Mistral, Mixtral, Qwen2) into exact model facts and a module-level graph.
//! - [`from_graph_json_str`] reads the advisor's own graph JSON.
//! - Every importer fills the derived facts the rules need: weight bytes per dtype, KV-cache
//!   bytes per token, FLOPs per token for prefill and decode (formulas and sources in
//!   `facts.rs`). [`ModelSummary`] gathers them for `advisor inspect`.
//! - [`builders`] makes base-size BERT, GPT-2 and Llama graphs with any number of layers.
//!
//! Errors are [`ImportError`]s that name the source and the key, JSON path, tensor or byte
//! problem. Only [`import_path`] touches the file system.
//!
//! ```
//! use advisor_graph::from_hf_config_str;
//!
//! let config = r#"{
//!     "model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12,
//!     "n_positions": 1024, "vocab_size": 50257
//! }"#;
//! let graph = from_hf_config_str(config, "config.json").unwrap();
//! assert_eq!(graph.facts.parameters, Some(124_439_808));
//! assert_eq!(graph.kv_cache_bytes_per_token(2.0), Some(36_864.0));
//!
//! let error = from_hf_config_str(r#"{"model_type": "bloom"}"#, "config.json").unwrap_err();
//! assert!(error.to_string().starts_with("config.json: unsupported model_type `bloom`"));
//! ```

mod analysis;
pub mod builders;
mod error;
mod facts;
mod format;
mod graph_json;
mod hf_config;
mod json;
mod onnx;
mod opgraph;
mod path;
mod safetensors;
mod summary;
mod transformer;

pub use crate::{
    error::{ImportError, ImportErrorKind, ImportWarning, SUPPORTED_MODEL_TYPES},
    format::{Imported, ModelFormat, TensorSignature, detect_format, import_bytes},
    graph_json::from_graph_json_str,
    hf_config::{from_hf_config_str, from_hf_config_value},
    onnx::from_onnx_bytes,
    path::import_path,
    safetensors::from_safetensors_bytes,
    summary::{FlopsPerToken, ModelSummary},
};
