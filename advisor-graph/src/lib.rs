//! Model importers: turn a model description into advisor-core's
//! [`ModelGraph`](advisor_core::ModelGraph).
//!
//! - [`from_hf_config_str`] reads a Hugging Face `config.json` (BERT, RoBERTa, DistilBERT,
//!   GPT-2, Llama, Mistral, Mixtral, Qwen2) into exact model facts (parameters, active
//!   parameters, dimensions, dtype) and a module-level graph: embeddings, per layer its norms,
//!   attention, MLP or mixture of experts and residual adds, then the final norm and head.
//!   Node parameters sum to `facts.parameters`.
//! - [`from_graph_json_str`] reads the advisor's own graph JSON and reports structural
//!   problems (duplicate ids, dangling edges, cycles) as [`ImportWarning`]s in [`Imported`].
//! - [`import_bytes`] sniffs the format with [`detect_format`] and dispatches.
//! - [`builders`] makes base-size BERT, GPT-2 and Llama graphs with any number of layers.
//!
//! Errors are [`ImportError`]s that name the source and the key, JSON path or line and column.
//! This crate does no I/O: callers read files and hand it bytes or strings.
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
//! let error = from_hf_config_str(r#"{"model_type": "t5"}"#, "config.json").unwrap_err();
//! assert!(error.to_string().starts_with("config.json: unsupported model_type `t5`"));
//! ```

pub mod builders;
mod error;
mod format;
mod graph_json;
mod hf_config;
mod json;
mod transformer;

pub use crate::{
    error::{ImportError, ImportErrorKind, ImportWarning, SUPPORTED_MODEL_TYPES},
    format::{Imported, ModelFormat, detect_format, import_bytes},
    graph_json::from_graph_json_str,
    hf_config::{from_hf_config_str, from_hf_config_value},
};
