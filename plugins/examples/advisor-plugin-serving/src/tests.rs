//! `speculative_decoding` on small contexts: when it fires, its numbers, and when it stays
//! silent or says what it needs.

use crate::SpeculativeDecoding;
use advisor_core::{AnalysisContext, Impact, OptimizationSuggestion, RuleError};

/// Runs the rule as the host would: facts resolved with the host's accelerator table.
fn analyze(context: &AnalysisContext) -> Result<Vec<OptimizationSuggestion>, RuleError> {
    advisor_core::run_rule(
        &SpeculativeDecoding,
        context,
        &advisor_hw_table::AcceleratorTable,
    )
}

fn context(model: &str, config: &str, hardware: &str) -> AnalysisContext {
    AnalysisContext::from_json_str(&format!(
        r#"{{ "model_graph": {{ "facts": {model} }}, "hardware_info": {hardware},
             "current_config": {config} }}"#
    ))
    .expect("valid context")
}

const LLAMA_7B: &str =
    r#"{ "architecture": "decoder", "parameters": 6738415616, "dtype": "fp16" }"#;
const A100: &str = r#"{ "gpu_model": "NVIDIA A100-SXM4-80GB", "gpu_memory_mb": 81920 }"#;

#[test]
fn fires_for_a_large_decoder_at_batch_one_on_a_gpu() {
    let found = analyze(&context(
        LLAMA_7B,
        r#"{ "mode": "inference", "batch_size": "1" }"#,
        A100,
    ))
    .unwrap();
    assert_eq!(found.len(), 1);
    let suggestion = &found[0];
    assert_eq!(suggestion.id, "speculative_decoding");
    assert_eq!(suggestion.impact, Impact::High);
    let latency = &suggestion.expected_improvement[0];
    // k = 4, c = 0.05: α = 0.6 gives 1 − 1.2 · 0.4 / (1 − 0.6⁵); α = 0.8 gives 1 − 1.2 · 0.2 / (1 − 0.8⁵).
    let expected_low = 1.0 - 1.2 * 0.4 / (1.0 - 0.6f64.powi(5));
    let expected_high = 1.0 - 1.2 * 0.2 / (1.0 - 0.8f64.powi(5));
    assert!((latency.min_reduction - expected_low).abs() < 1e-12);
    assert!((latency.max_reduction - expected_high).abs() < 1e-12);
    assert_eq!(latency.describe(), "latency −48–64 %");
    assert!(
        latency.basis.contains("5 FLOP/B < ridge 153 FLOP/B"),
        "{}",
        latency.basis
    );
    assert!(
        suggestion.description.contains("337 M parameters"),
        "{}",
        suggestion.description
    );
    assert_eq!(suggestion.evidence[1], "config batch_size = 1");
}

#[test]
fn stays_silent_where_it_does_not_apply() {
    let inference = r#"{ "mode": "inference", "batch_size": "1" }"#;
    let silent = |model: &str, config: &str, hardware: &str| {
        analyze(&context(model, config, hardware))
            .unwrap()
            .is_empty()
    };
    // An encoder does not generate token by token.
    assert!(silent(
        r#"{ "architecture": "encoder", "parameters": 6738415616, "dtype": "fp16" }"#,
        inference,
        A100
    ));
    // Training.
    assert!(silent(
        LLAMA_7B,
        r#"{ "mode": "training", "batch_size": "1" }"#,
        A100
    ));
    // Too small for a draft to pay.
    assert!(silent(
        r#"{ "architecture": "decoder", "parameters": 124439808, "dtype": "fp16" }"#,
        inference,
        A100
    ));
    // Batch 32 verifying 5 tokens each is 160 FLOP/B, past the A100's ridge.
    assert!(silent(
        LLAMA_7B,
        r#"{ "mode": "inference", "batch_size": "32" }"#,
        A100
    ));
    assert!(!silent(
        LLAMA_7B,
        r#"{ "mode": "inference", "batch_size": "30" }"#,
        A100
    ));
    // No GPU, or the run is on the CPU.
    assert!(silent(LLAMA_7B, inference, r#"{ "cpu_cores": 32 }"#));
    assert!(silent(
        LLAMA_7B,
        r#"{ "mode": "inference", "batch_size": "1", "device": "cpu" }"#,
        A100
    ));
}

#[test]
fn says_what_it_needs() {
    let needs = |config: &str, hardware: &str| match analyze(&context(LLAMA_7B, config, hardware)) {
        Err(RuleError::MissingFacts(needs)) => needs,
        Err(error @ RuleError::Needs(_)) => {
            error.to_string().trim_start_matches("needs ").to_owned()
        }
        other => panic!("expected missing facts, got {other:?}"),
    };
    assert_eq!(
        needs(r#"{ "batch_size": "1" }"#, A100),
        "current_config.mode"
    );
    assert_eq!(
        needs(r#"{ "mode": "inference" }"#, A100),
        "current_config.batch_size or throughput_metrics.avg_batch_size"
    );
    assert_eq!(
        needs(
            r#"{ "mode": "inference", "batch_size": "1" }"#,
            r#"{ "gpu_model": "Imaginary GPU 9000" }"#
        ),
        "hardware_info.gpu_compute_capability and the GPU's figures (`Imaginary GPU 9000` is not in the accelerator table)"
    );
}
