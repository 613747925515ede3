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
