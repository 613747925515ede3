//! Integration tests for `advisor-graph`, in one binary: the Hugging Face importer against
//! published counts, the graph JSON importer, format detection, builders, and robustness.

#![allow(
    clippy::unwrap_used,
    reason = "in a test a panic is the failure report, and the inputs are this crate's fixtures"
)]

mod builders;
mod formats;
mod graph_json;
mod hf_config;
mod hostile;
mod onnx;
mod onnx_writer;
mod robustness;
mod safetensors;
mod support;
