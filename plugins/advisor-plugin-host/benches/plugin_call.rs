//! Calling a rule through a plugin library versus calling the same rule built in: the
//! difference is the per-call overhead of the plugin boundary (serializing the context,
//! parsing and validating the response).

use std::hint::black_box;

use advisor_core::{AnalysisContext, OptimizationAdvisor, OptimizationRule, RuleInput};
use advisor_plugin_host::{PluginRules, Vetting};
use advisor_plugin_testkit::{Profile, stage};
use criterion::{Criterion, criterion_group, criterion_main};

// The very source the serving plugin is built from, compiled into the bench.
#[path = "../../examples/advisor-plugin-serving/src/serving_slo.rs"]
mod serving_slo;

use serving_slo::ServingSlo;

const CONTEXT: &str = r#"{
    "model_graph": { "name": "meta-llama/Llama-2-7b-hf",
                     "facts": { "architecture": "decoder", "parameters": 6738415616, "layers": 32,
                                "hidden_size": 4096, "attention_heads": 32, "kv_heads": 32,
                                "vocab_size": 32000, "max_sequence_length": 4096, "dtype": "fp16" } },
    "latency_metrics": { "count": 200, "mean_ms": 41.9, "p50_ms": 41.2, "p99_ms": 52.3 },
    "hardware_info": { "gpu_model": "NVIDIA A100-SXM4-80GB", "gpu_memory_mb": 81920, "gpu_count": 1 },
    "current_config": { "mode": "inference", "batch_size": "1", "precision": "fp16", "slo_tpot_ms": "5" }
}"#;

fn bench(c: &mut Criterion) {
    let context = match AnalysisContext::from_json_str(CONTEXT) {
        Ok(context) => context,
        Err(error) => panic!("bench context: {error}"),
    };
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => panic!("temporary folder: {error}"),
    };
    if let Err(error) = stage(dir.path(), &["advisor-plugin-serving"], Profile::Release) {
        panic!("{error}");
    }
    let mut advisor = OptimizationAdvisor::empty();
    match advisor.load_plugins(dir.path(), &Vetting::unvetted()) {
        Ok(report) if report.loaded.len() == 1 => {}
        other => panic!("loading the serving plugin: {other:?}"),
    }
    let Some(plugin_rule) = advisor.rules().find(|rule| rule.id() == "serving_slo") else {
        panic!("the serving plugin registered no serving_slo rule");
    };
    let built_in = ServingSlo;
    let config = match context.run_config() {
        Ok(config) => config,
        Err(error) => panic!("bench config: {error}"),
    };
    let mut resolver = OptimizationAdvisor::empty();
    resolver.set_catalog(std::sync::Arc::new(advisor_hw_table::AcceleratorTable));
    let facts = match resolver.resolve(&context) {
        Ok(facts) => facts,
        Err(error) => panic!("bench facts: {error}"),
    };
    let input = RuleInput {
        context: &context,
        config: &config,
        facts: &facts,
    };
    // Both must say the same thing, or the comparison is meaningless.
    assert_eq!(
        plugin_rule.analyze(&input).ok(),
        built_in.analyze(&input).ok()
    );
    let mut group = c.benchmark_group("serving_slo");
    group.bench_function("built_in", |b| {
        b.iter(|| built_in.analyze(black_box(&input)))
    });
    group.bench_function("plugin", |b| {
        b.iter(|| plugin_rule.analyze(black_box(&input)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
