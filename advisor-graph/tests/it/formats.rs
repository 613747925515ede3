//! Format detection and `import_bytes`.

use advisor_graph::{ImportErrorKind, ModelFormat, builders, detect_format, import_bytes};

use crate::support::hf_fixture;

#[test]
fn detects_formats_from_content() {
    let config = hf_fixture("qwen2-1.5b.json");
    assert_eq!(detect_format(config.as_bytes()), ModelFormat::HfConfig);
    let graph = serde_json::to_vec(&builders::gpt2(1)).unwrap();
    assert_eq!(detect_format(&graph), ModelFormat::GraphJson);
    assert_eq!(detect_format(br#"  {"facts": {}}"#), ModelFormat::GraphJson);
    assert_eq!(
        detect_format(b"\xef\xbb\xbf{\"architectures\": [\"BertModel\"]}"),
        ModelFormat::HfConfig
    );
    assert_eq!(detect_format(b"{}"), ModelFormat::Unknown);
    assert_eq!(detect_format(b"[1, 2]"), ModelFormat::Unknown);
    assert_eq!(detect_format(b"{\"model_type\": "), ModelFormat::Unknown);
    // An ONNX protobuf starts with a field tag, safetensors with a little-endian length.
    assert_eq!(detect_format(b"\x08\x07\x12\x04onnx"), ModelFormat::Unknown);
    assert_eq!(
        detect_format(b"\x40\x00\x00\x00\x00\x00\x00\x00{}"),
        ModelFormat::Unknown
    );
}

#[test]
fn import_bytes_dispatches_on_the_detected_format() {
    let imported = import_bytes(hf_fixture("gpt2.json").as_bytes(), "gpt2.json").unwrap();
    assert_eq!(imported.format, ModelFormat::HfConfig);
    assert_eq!(imported.graph.facts.parameters, Some(124_439_808));

    let graph = builders::bert(1);
    let imported = import_bytes(&serde_json::to_vec(&graph).unwrap(), "graph.json").unwrap();
    assert_eq!(imported.format, ModelFormat::GraphJson);
    assert_eq!(imported.graph, graph);
}

#[test]
fn import_bytes_errors() {
    let error = import_bytes(b"\x08\x07onnx", "model.onnx").unwrap_err();
    assert_eq!(
        error.to_string(),
        "model.onnx: unrecognized format: expected an ONNX model, a safetensors file or \
         index, a Hugging Face config.json (with `model_type` or `architectures`) or advisor \
         graph JSON (with `nodes` or `facts`)"
    );
    let error = import_bytes(b"{\"model_type\": \"bert\",}", "config.json").unwrap_err();
    assert!(
        matches!(error.kind(), ImportErrorKind::Json { line: 1, .. }),
        "{error}"
    );
    let error = import_bytes(b"{\"model_type\": \"\xff\"}", "config.json").unwrap_err();
    assert_eq!(
        error.to_string(),
        "config.json: not valid UTF-8: invalid byte at offset 16"
    );
    let error = import_bytes(b"{\"name\": \"x\"}", "x.json").unwrap_err();
    assert!(matches!(error.kind(), ImportErrorKind::UnknownFormat));
}
