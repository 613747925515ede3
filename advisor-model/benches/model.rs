//! A full analysis of a Hugging Face config stays in the low milliseconds: resolving the
//! facts and simulating a change must be far cheaper than that.

use std::hint::black_box;

use advisor_core::{AnalysisContext, Change, OptimizationAdvisor, WeightFormat};
use criterion::{Criterion, criterion_group, criterion_main};

const CONTEXT: &str = r#"{
  "model_graph": { "facts": { "architecture": "decoder", "parameters": 6738415616,
      "layers": 32, "hidden_size": 4096, "attention_heads": 32, "kv_heads": 32,
      "vocab_size": 32000, "max_sequence_length": 4096, "dtype": "fp16" } },
  "hardware_info": { "gpu_model": "NVIDIA A100-SXM4-80GB" },
  "current_config": { "mode": "inference", "batch_size": "1", "seq_len": "4096" }
}"#;

fn bench(c: &mut Criterion) {
    let context = match AnalysisContext::from_json_str(CONTEXT) {
        Ok(context) => context,
        Err(error) => panic!("bench context: {error}"),
    };
    let mut advisor = OptimizationAdvisor::empty();
    advisor.set_catalog(std::sync::Arc::new(advisor_hw_table::AcceleratorTable));
    let facts = match advisor.resolve(&context) {
        Ok(facts) => facts,
        Err(error) => panic!("bench facts: {error}"),
    };
    c.bench_function("resolve_facts", |b| {
        b.iter(|| advisor.resolve(black_box(&context)))
    });
    c.bench_function("simulate_int4", |b| {
        b.iter(|| {
            advisor_model::simulate(black_box(&facts), &[Change::Weights(WeightFormat::Int4)])
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
