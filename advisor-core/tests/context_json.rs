//! The context's JSON shape: the documented example parses and round-trips, and no input
//! makes the parser panic.

use advisor_core::{AnalysisContext, OptimizationAdvisor};

fn documented_example() -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/context.md"))
        .expect("docs/context.md");
    let start = doc.find("```json\n").expect("a json block") + "```json\n".len();
    let end = start + doc[start..].find("```").expect("closing fence");
    doc[start..end].to_owned()
}

#[test]
fn documented_example_parses_and_round_trips() {
    let context =
        AnalysisContext::from_json_str(&documented_example()).expect("docs example parses");
    let model = context.model_graph.as_ref().expect("model");
    assert_eq!(model.parameter_count(), Some(6_738_415_616));
    assert_eq!(model.kv_cache_bytes_per_token(2.0), Some(524_288.0));
    let hardware = context.hardware_info.as_ref().expect("hardware");
    assert_eq!(
        hardware
            .gpu_compute_capability
            .map(|c| c.to_string())
            .as_deref(),
        Some("8.0")
    );
    let config = context.run_config().expect("valid config");
    assert_eq!(config.seq_len, Some(4096));

    let text = context.to_json_string();
    let back = AnalysisContext::from_json_str(&text).expect("serialized context parses");
    assert_eq!(back, context);
    assert!(OptimizationAdvisor::empty().analyze(&back).is_ok());
}

#[test]
fn unknown_stays_unknown() {
    let context =
        AnalysisContext::from_json_str(r#"{"latency_metrics": {"p99_ms": 12.5}}"#).unwrap();
    let latency = context.latency_metrics.unwrap();
    assert_eq!(latency.p99_ms, Some(12.5));
    assert_eq!(latency.mean_ms, None);
    let text = AnalysisContext {
        latency_metrics: Some(latency),
        ..AnalysisContext::default()
    }
    .to_json_string();
    assert!(
        !text.contains("mean_ms"),
        "missing metrics are not written as zero: {text}"
    );
}

proptest::proptest! {
    #[test]
    fn parser_never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
        let _ = AnalysisContext::from_json_str(&text);
    }

    #[test]
    fn parser_never_panics_on_mutated_example(cut in 0usize..2000, byte in 0u8..128) {
        let mut bytes = documented_example().into_bytes();
        if !bytes.is_empty() {
            let index = cut % bytes.len();
            bytes[index] = byte;
            bytes.truncate(bytes.len() - cut % 7);
        }
        if let Ok(text) = String::from_utf8(bytes) {
            let _ = AnalysisContext::from_json_str(&text);
        }
    }
}
