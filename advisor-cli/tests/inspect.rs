//! `advisor inspect` end to end: JSON keys and figures on the ONNX fixtures and a config,
//! the text summary, and bad files.

use std::{path::PathBuf, process::Command};

use serde_json::Value;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn fixture(name: &str) -> String {
    workspace()
        .join("advisor-graph/tests/data")
        .join(name)
        .display()
        .to_string()
}

fn run(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_advisor"))
        .args(args)
        .output()
        .expect("advisor runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const KEYS: &[&str] = &[
    "schema_version",
    "parameters",
    "weight_bytes",
    "weight_bytes_by_dtype",
    "dtype",
    "architecture",
    "layers",
    "hidden_size",
    "attention_heads",
    "kv_heads",
    "vocab_size",
    "max_sequence_length",
    "kv_cache_bytes_per_token",
    "kv_cache_dtype",
    "kv_cache_elements_per_token",
    "flops_per_token",
    "attention_blocks",
    "op_counts",
    "fusion_opportunities",
    "warnings",
    "opset",
    "inputs",
    "outputs",
];

fn inspect_json(path: &str) -> Value {
    let (code, out, err) = run(&["inspect", path, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).expect("JSON output")
}

#[test]
fn json_has_exactly_the_documented_keys() {
    let json = inspect_json(&fixture("onnx/gpt2-tiny.onnx"));
    let mut keys: Vec<&str> = json
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut expected = KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(json["parameters"], 672_896);
    // fp32 initializers: 4 bytes each.
    assert_eq!(json["weight_bytes"], 672_896 * 4);
    assert_eq!(json["weight_bytes_by_dtype"]["fp32"], 672_896 * 4);
    assert_eq!(json["attention_blocks"], 2);
    assert_eq!(json["architecture"], "decoder");
    assert_eq!(json["kv_cache_bytes_per_token"], 2048);
    // An fp32 file: the cache at its dtype, 4 bytes per element.
    assert_eq!(json["kv_cache_dtype"], "fp32");
    assert_eq!(json["kv_cache_elements_per_token"], 512);
    assert!(json["flops_per_token"]["prefill"].as_u64().is_some());
    assert!(json["flops_per_token"]["decode"].as_u64().is_some());
    assert_eq!(json["op_counts"]["Softmax"], 2);
    assert_eq!(json["opset"], 17);
    assert_eq!(
        json["inputs"][0],
        serde_json::json!({"name": "input_ids", "dtype": "int64", "shape": ["batch", "seq"]})
    );
    assert_eq!(json["outputs"][0]["shape"][2], 1024);
    let fusions = json["fusion_opportunities"].as_array().expect("an array");
    let count = |pattern: &str| {
        fusions
            .iter()
            .find(|f| f["pattern"] == pattern)
            .map(|f| f["count"].clone())
    };
    assert_eq!(count("FastGelu"), Some(2.into()));
    assert_eq!(count("SkipLayerNormalization"), Some(4.into()));
    assert_eq!(count("Attention"), Some(2.into()));
}

#[test]
fn config_json_and_text_summary() {
    let json = inspect_json(&fixture("hf/llama-2-7b.json"));
    assert_eq!(json["parameters"], 6_738_415_616u64);
    assert_eq!(json["kv_cache_bytes_per_token"], 524_288);
    assert_eq!(json["kv_cache_dtype"], "fp16");
    assert_eq!(json["kv_cache_elements_per_token"], 262_144);
    assert_eq!(json["attention_blocks"], 32);
    assert!(json["opset"].is_null());
    assert_eq!(json["inputs"], serde_json::json!([]));
    let (code, out, err) = run(&["inspect", &fixture("onnx/bert-tiny.onnx")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("parameters                541,696"), "{out}");
    assert!(out.contains("BiasGelu"), "{out}");
    assert!(out.contains("attention blocks          2"), "{out}");
    assert!(out.contains("opset                     17"), "{out}");
    assert!(out.contains("input_ids int64 ["), "{out}");
    assert!(
        out.contains("LayerNormalization                1 (1 node)\n"),
        "{out}"
    );
}

/// `inspect` says which dtype its KV-cache figure is at: `analyze` sizes the cache at the run's
/// compute precision (fp32 unless stated), so for GPT-2, whose config states no dtype, it shows
/// twice inspect's 16-bit figure for the same 18,432 elements.
#[test]
fn kv_cache_figure_names_its_dtype() {
    let gpt2 = workspace().join("advisor-cli/models/gpt2.json");
    let gpt2 = gpt2.to_str().expect("utf-8 path");
    let json = inspect_json(gpt2);
    assert!(json["dtype"].is_null());
    assert_eq!(json["kv_cache_bytes_per_token"], 36_864);
    assert_eq!(json["kv_cache_dtype"], "fp16");
    assert_eq!(json["kv_cache_elements_per_token"], 18_432);
    let (code, out, err) = run(&["inspect", gpt2]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "  kv-cache bytes per token  36,864 (fp16, the model does not state its dtype; \
             18,432 elements)\n"
        ),
        "{out}"
    );
    let (code, out, err) = run(&["inspect", &fixture("hf/mistral-7b-v0.1.json")]);
    assert_eq!(code, 0, "{err}");
    // 2 × 32 layers × 8 KV heads × 128, at bf16.
    assert!(
        out.contains(
            "  kv-cache bytes per token  131,072 (bf16, the model's dtype; 65,536 elements)\n"
        ),
        "{out}"
    );
    // An encoder has no cache: no dtype either.
    let json = inspect_json(&fixture("onnx/bert-tiny.onnx"));
    assert!(json["kv_cache_bytes_per_token"].is_null());
    assert!(json["kv_cache_dtype"].is_null());
    assert!(json["kv_cache_elements_per_token"].is_null());
}

#[test]
fn bad_files_exit_2_with_the_file_named() {
    let folder = tempfile::tempdir().expect("temp dir");
    let path = folder.path().join("model.onnx");
    std::fs::write(&path, br#"{"model_type": "bert"}"#).expect("write");
    let shown = path.display().to_string();
    let (code, _, err) = run(&["inspect", &shown]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&shown) && err.contains("found JSON text"),
        "{err}"
    );
    let (code, _, err) = run(&["inspect", "no/such/model.onnx"]);
    assert_eq!(code, 2);
    assert!(err.contains("no such file"), "{err}");
    assert!(!err.contains("panicked"));
}
