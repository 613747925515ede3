//! A full analysis (resolve the facts, run every built-in rule with its simulations, combine
//! the plan) of Hugging Face-config-sized contexts: the target is the low milliseconds.

use std::hint::black_box;

use advisor_core::{AnalysisContext, OptimizationAdvisor};
use advisor_rules_builtin::BuiltinRules;
use criterion::{Criterion, criterion_group, criterion_main};

const LLAMA_SERVING: &str = r#"{
  "model_graph": { "name": "meta-llama/Llama-2-7b-hf", "facts": { "architecture": "decoder",
      "parameters": 6738415616, "layers": 32, "hidden_size": 4096, "attention_heads": 32,
      "kv_heads": 32, "vocab_size": 32000, "max_sequence_length": 4096,
      "tie_word_embeddings": false, "dtype": "fp16" } },
  "hardware_info": { "gpu_model": "NVIDIA A100-SXM4-80GB", "cpu_cores": 32, "system_memory_mb": 262144 },
  "current_config": { "mode": "inference", "batch_size": "1", "seq_len": "4096", "flash_attention": "false" }
}"#;

const ROBERTA_TRAINING: &str = r#"{
  "model_graph": { "name": "roberta-base", "facts": { "architecture": "encoder",
      "parameters": 124645632, "layers": 12, "hidden_size": 768, "attention_heads": 12,
      "kv_heads": 12, "vocab_size": 50265, "max_sequence_length": 514 } },
  "hardware_info": { "gpu_model": "NVIDIA A100-SXM4-80GB" },
  "current_config": { "mode": "training", "batch_size": "32", "seq_len": "512", "precision": "fp32" }
}"#;

fn bench(c: &mut Criterion) {
    let advisor = OptimizationAdvisor::new();
    for (name, json) in [
        ("llama_2_7b_serving", LLAMA_SERVING),
        ("roberta_training", ROBERTA_TRAINING),
    ] {
        let context = match AnalysisContext::from_json_str(json) {
            Ok(context) => context,
            Err(error) => panic!("{name}: {error}"),
        };
        c.bench_function(&format!("analyze/{name}"), |b| {
            b.iter(|| advisor.analyze(black_box(&context)))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
