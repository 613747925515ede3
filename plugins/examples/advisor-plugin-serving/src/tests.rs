//! `serving_slo` on small contexts: when it fires, its verdicts, and when it stays silent or
//! says what it needs.

use crate::ServingSlo;
use advisor_core::{AnalysisContext, Impact, OptimizationSuggestion, RuleError};

/// Runs the rule as the host would: facts resolved with the host's accelerator table.
fn analyze(context: &AnalysisContext) -> Result<Vec<OptimizationSuggestion>, RuleError> {
    advisor_core::run_rule(&ServingSlo, context, &advisor_hw_table::AcceleratorTable)
}

fn context(model: &str, config: &str) -> AnalysisContext {
    AnalysisContext::from_json_str(&format!(
        r#"{{ "model_graph": {{ "facts": {model} }},
             "hardware_info": {{ "gpu_model": "NVIDIA A100-SXM4-80GB", "gpu_memory_mb": 81920 }},
             "current_config": {config} }}"#
    ))
    .expect("valid context")
}

const LLAMA_7B: &str = r#"{ "architecture": "decoder", "parameters": 6738415616, "layers": 32,
    "hidden_size": 4096, "intermediate_size": 11008, "attention_heads": 32, "kv_heads": 32,
    "vocab_size": 32000, "max_sequence_length": 4096, "dtype": "fp16" }"#;

fn config(extra: &str) -> String {
    format!(
        r#"{{ "mode": "inference", "batch_size": "1", "prompt_len": "512", "new_tokens": "256",
             "compile": "true" {extra} }}"#
    )
}

#[test]
fn a_budget_under_the_fastest_scenario_is_missed() {
    // Llama-2-7B decodes at batch 1 in 7.5–11.3 ms per token on an A100 (the model's range):
    // 5 ms is out of reach.
    let found = analyze(&context(LLAMA_7B, &config(r#", "slo_tpot_ms": "5""#))).unwrap();
    assert_eq!(found.len(), 1);
    let suggestion = &found[0];
    assert_eq!(suggestion.id, "serving_slo");
    assert_eq!(suggestion.impact, Impact::High);
    assert_eq!(
        suggestion.title,
        "The run misses its time per output token budget"
    );
    assert!(
        suggestion
            .description
            .contains("time per output token 7.5 ms–11.3 ms against a budget of 5.0 ms"),
        "{}",
        suggestion.description
    );
    assert!(suggestion.evidence[0].starts_with("slo_tpot_ms = 5 ms"));
}

#[test]
fn a_budget_inside_the_range_is_at_risk_and_one_above_it_is_met() {
    let at_risk = analyze(&context(LLAMA_7B, &config(r#", "slo_tpot_ms": "9""#))).unwrap();
    assert_eq!(at_risk.len(), 1);
    assert_eq!(at_risk[0].impact, Impact::Medium);
    assert_eq!(
        at_risk[0].title,
        "The run's time per output token budget is at risk"
    );
    let met = analyze(&context(
        LLAMA_7B,
        &config(r#", "slo_tpot_ms": "50", "slo_ttft_ms": "500""#),
    ))
    .unwrap();
    assert!(met.is_empty(), "{met:?}");
    // A first-token budget under the prefill's time: both phases named when both miss.
    let both = analyze(&context(
        LLAMA_7B,
        &config(r#", "slo_tpot_ms": "5", "slo_ttft_ms": "1""#),
    ))
    .unwrap();
    assert_eq!(
        both[0].title,
        "The run misses its time to first token and time per output token budget"
    );
}

#[test]
fn stays_silent_where_it_does_not_apply() {
    let encoder = r#"{ "architecture": "encoder", "parameters": 109482240, "layers": 12,
        "hidden_size": 768, "attention_heads": 12, "kv_heads": 12, "vocab_size": 30522,
        "max_sequence_length": 512 }"#;
    assert!(
        analyze(&context(encoder, &config(r#", "slo_tpot_ms": "1""#)))
            .unwrap()
            .is_empty()
    );
    assert!(
        analyze(&context(
            LLAMA_7B,
            r#"{ "mode": "training", "batch_size": "1", "slo_tpot_ms": "1" }"#
        ))
        .unwrap()
        .is_empty()
    );
}

#[test]
fn says_what_it_needs() {
    let needs = |config: &str| match analyze(&context(LLAMA_7B, config)) {
        Err(RuleError::MissingFacts(needs)) => needs,
        Err(error @ RuleError::Needs(_)) => error.to_string(),
        other => panic!("expected missing facts, got {other:?}"),
    };
    assert_eq!(
        needs(&config("")),
        "current_config.slo_ttft_ms or current_config.slo_tpot_ms (the latency budget, ms)"
    );
    // The run configuration knows the budget keys: a value that is not a positive number of
    // milliseconds is refused before any rule runs.
    assert!(matches!(
        analyze(&context(LLAMA_7B, &config(r#", "slo_tpot_ms": "fast""#))),
        Err(RuleError::Config(_))
    ));
    assert!(needs(r#"{ "batch_size": "1", "slo_tpot_ms": "5" }"#).contains("current_config.mode"));
}
