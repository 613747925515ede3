//! Data-driven rule tests: a small context in, the rules that fire (or stay silent, or ask
//! for facts) out, and the numbers they derive.

use advisor_core::{
    AnalysisContext, DiagnosticSeverity, Impact, ImprovementMetric, OptimizationAdvisor,
    OptimizationReport, OptimizationSuggestion,
};
use advisor_rules_builtin::BuiltinRules;
use serde_json::{Value, json};

/// GPT-2 small (124,439,808 parameters).
fn gpt2() -> Value {
    json!({ "name": "gpt2", "facts": {
        "family": "gpt2", "architecture": "decoder", "parameters": 124439808u64,
        "layers": 12, "hidden_size": 768, "intermediate_size": 3072, "attention_heads": 12,
        "kv_heads": 12, "vocab_size": 50257, "max_sequence_length": 1024 } })
}

/// BERT base (109,482,240 parameters).
fn bert() -> Value {
    json!({ "name": "bert-base-uncased", "facts": {
        "family": "bert", "architecture": "encoder", "parameters": 109482240u64,
        "layers": 12, "hidden_size": 768, "intermediate_size": 3072, "attention_heads": 12,
        "kv_heads": 12, "vocab_size": 30522, "max_sequence_length": 512 } })
}

/// Llama-2-13B in fp16 (13,015,864,320 parameters).
fn llama_13b() -> Value {
    json!({ "name": "llama-2-13b", "facts": {
        "family": "llama", "architecture": "decoder", "parameters": 13015864320u64,
        "layers": 40, "hidden_size": 5120, "intermediate_size": 13824, "attention_heads": 40,
        "kv_heads": 40, "vocab_size": 32000, "max_sequence_length": 4096, "dtype": "fp16" } })
}

fn gpu(name: &str) -> Value {
    json!({ "cpu_model": "AMD EPYC 7B13", "cpu_cores": 32, "system_memory_mb": 262144, "gpu_model": name })
}

fn cpu(cores: u32) -> Value {
    json!({ "cpu_model": "Intel Xeon", "cpu_cores": cores, "system_memory_mb": 65536 })
}

fn analyze(context: Value) -> OptimizationReport {
    let context = AnalysisContext::from_json_str(&context.to_string()).expect("valid context");
    OptimizationAdvisor::new()
        .analyze(&context)
        .expect("valid config")
}

fn find<'a>(report: &'a OptimizationReport, id: &str) -> Option<&'a OptimizationSuggestion> {
    report.suggestions.iter().find(|s| s.id == id)
}

fn fires(context: Value, id: &str) -> OptimizationSuggestion {
    let report = analyze(context);
    find(&report, id)
        .unwrap_or_else(|| panic!("`{id}` should fire; report: {:#?}", report))
        .clone()
}

fn silent(context: Value, id: &str) {
    let report = analyze(context);
    assert!(
        find(&report, id).is_none(),
        "`{id}` should stay silent; it fired: {:#?}",
        find(&report, id)
    );
    assert!(
        !report.diagnostics.iter().any(|d| d.source == id),
        "`{id}` should be silent without asking for facts: {:?}",
        report.diagnostics
    );
}

fn asks(context: Value, id: &str, needs: &str) {
    let report = analyze(context);
    assert!(
        find(&report, id).is_none(),
        "`{id}` fired without the facts"
    );
    let diagnostic = report
        .diagnostics
        .iter()
        .find(|d| d.source == id)
        .unwrap_or_else(|| {
            panic!(
                "`{id}` should say what it needs; diagnostics: {:?}",
                report.diagnostics
            )
        });
    assert_eq!(diagnostic.severity, DiagnosticSeverity::Info);
    assert!(diagnostic.message.contains(needs), "{}", diagnostic.message);
}

fn improvement(suggestion: &OptimizationSuggestion, metric: ImprovementMetric) -> (f64, f64) {
    let found = suggestion
        .expected_improvement
        .iter()
        .find(|i| i.metric == metric)
        .unwrap_or_else(|| panic!("no {metric:?} improvement in {:#?}", suggestion));
    assert!(!found.basis.is_empty());
    (found.min_reduction, found.max_reduction)
}

fn close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < 1e-3, "{actual} != {expected}");
}

#[test]
fn every_builtin_rule_is_registered_once() {
    let advisor = OptimizationAdvisor::new();
    let ids: Vec<&str> = advisor.rules().map(|r| r.id()).collect();
    assert_eq!(
        ids,
        [
            "batch_size",
            "communication_overlap",
            "data_loader",
            "flash_attention",
            "gpu_idle",
            "gradient_checkpointing",
            "host_sync",
            "kernel_fusion",
            "kv_cache",
            "launch_overhead",
            "memory_fragmentation",
            "mixed_precision",
            "parallelization",
            "quantization",
            "sparse_attention"
        ]
    );
}

#[test]
fn an_empty_context_produces_no_suggestions() {
    let report = analyze(json!({}));
    assert!(report.suggestions.is_empty());
}

#[test]
fn sparse_attention() {
    let s = fires(json!({ "model_graph": gpt2() }), "sparse_attention");
    assert!(s.evidence[0].contains("sequence length 1024 > 512 (model max sequence length)"));
    // Attention share at s=1024: 4·s²·768·12 / (that + 2·124,439,808·1024) = 0.13170;
    // a 512-token window skips half of the score matrix.
    let (low, high) = improvement(&s, ImprovementMetric::Latency);
    close(high, 0.06585);
    close(low, 0.03292);
    silent(json!({ "model_graph": bert() }), "sparse_attention");
    silent(
        json!({ "model_graph": gpt2(), "current_config": { "seq_len": "512" } }),
        "sparse_attention",
    );
    fires(
        json!({ "model_graph": bert(), "current_config": { "seq_len": "2048" } }),
        "sparse_attention",
    );
    silent(
        json!({ "model_graph": { "facts": { "parameters": 1000, "max_sequence_length": 4096 } } }),
        "sparse_attention",
    );
    asks(
        json!({ "current_config": { "seq_len": "4096" } }),
        "sparse_attention",
        "model_graph",
    );
}

#[test]
fn memory_fragmentation() {
    let gib = 1u64 << 30;
    let s = fires(
        json!({ "memory_metrics": { "peak_bytes": 30 * gib, "current_bytes": 9 * gib } }),
        "memory_fragmentation",
    );
    assert!(
        s.expected_improvement.is_empty(),
        "no figure without reserved/allocated"
    );
    let s = fires(
        json!({ "memory_metrics": { "peak_bytes": 30 * gib, "current_bytes": 9 * gib,
                                    "reserved_bytes": 32 * gib, "allocated_bytes": 24 * gib } }),
        "memory_fragmentation",
    );
    assert_eq!(improvement(&s, ImprovementMetric::Memory), (0.125, 0.25));
    silent(
        json!({ "memory_metrics": { "peak_bytes": 18 * gib, "current_bytes": 9 * gib } }),
        "memory_fragmentation",
    );
    asks(
        json!({ "memory_metrics": { "peak_bytes": 18 * gib } }),
        "memory_fragmentation",
        "current_bytes",
    );
}

#[test]
fn quantization() {
    let s = fires(
        json!({ "model_graph": gpt2(), "current_config": { "mode": "inference" } }),
        "quantization",
    );
    // fp32 (assumed): int8 removes 75 %, int4 87.5 % of the weight bytes.
    assert_eq!(improvement(&s, ImprovementMetric::ModelSize), (0.75, 0.875));
    assert!(s.evidence.iter().any(|e| e.contains("assuming fp32")));
    // Under 100M parameters, training, or already quantized: silent.
    silent(
        json!({ "model_graph": { "facts": { "parameters": 66362880u64 } } }),
        "quantization",
    );
    silent(
        json!({ "model_graph": gpt2(), "current_config": { "mode": "training" } }),
        "quantization",
    );
    silent(
        json!({ "model_graph": gpt2(), "current_config": { "precision": "int8" } }),
        "quantization",
    );
    silent(
        json!({ "model_graph": gpt2(), "current_config": { "quantization": "true" } }),
        "quantization",
    );
    // 26 GB of fp16 weights on a 24 GB RTX 4090: critical; on an 80 GB A100: high.
    let s = fires(
        json!({ "model_graph": llama_13b(), "hardware_info": gpu("NVIDIA GeForce RTX 4090") }),
        "quantization",
    );
    assert_eq!(s.impact, Impact::Critical);
    assert_eq!(improvement(&s, ImprovementMetric::ModelSize), (0.5, 0.75));
    assert!(
        s.evidence
            .iter()
            .any(|e| e.contains("exceed the device memory")),
        "{:?}",
        s.evidence
    );
    let s = fires(
        json!({ "model_graph": llama_13b(), "hardware_info": gpu("NVIDIA A100-SXM4-80GB") }),
        "quantization",
    );
    assert_eq!(s.impact, Impact::High);
    // On a CPU-only machine the system memory is the limit.
    let s = fires(
        json!({ "model_graph": llama_13b(), "hardware_info": { "cpu_cores": 8, "system_memory_mb": 16384 } }),
        "quantization",
    );
    assert_eq!(s.impact, Impact::Critical);
    asks(json!({}), "quantization", "model_graph");
}

#[test]
fn parallelization() {
    let s = fires(
        json!({ "hardware_info": cpu(16), "current_config": { "num_threads": "1" } }),
        "parallelization",
    );
    let (low, high) = improvement(&s, ImprovementMetric::Latency);
    close(high, 1.0 - 1.0 / 16.0);
    close(low, 1.0 - 1.0 / 8.5);
    silent(
        json!({ "hardware_info": cpu(4), "current_config": { "num_threads": "1" } }),
        "parallelization",
    );
    silent(json!({ "hardware_info": cpu(16) }), "parallelization");
    silent(
        json!({ "hardware_info": cpu(16), "current_config": { "num_threads": "8" } }),
        "parallelization",
    );
    silent(
        json!({ "hardware_info": gpu("Tesla T4"), "current_config": { "num_threads": "1" } }),
        "parallelization",
    );
    asks(
        json!({ "current_config": { "num_threads": "1" } }),
        "parallelization",
        "hardware_info.cpu_cores",
    );
}

/// A profile of 100 ms + 0.1 ms per big call: `small_calls` adds of 5 µs and `big_calls`
/// matmuls of 100 µs under one forward.
fn profile(small_calls: u64, big_calls: u64) -> Value {
    let small_ms = 0.005 * small_calls as f64;
    let big_ms = 0.1 * big_calls as f64;
    let total = 100.0 + big_ms;
    json!({ "total_ms": total, "operations": [
        { "name": "forward", "calls": 1, "total_ms": total, "self_ms": total - small_ms - big_ms, "children": [
            { "name": "aten::add", "calls": small_calls, "total_ms": small_ms, "self_ms": small_ms },
            { "name": "aten::mm", "calls": big_calls, "total_ms": big_ms, "self_ms": big_ms }
        ]}
    ]})
}

#[test]
fn kernel_fusion() {
    let s = fires(
        json!({ "profile_results": profile(4000, 10) }),
        "kernel_fusion",
    );
    // 4000 adds of 5 µs = 20 ms of 101 ms.
    let (low, high) = improvement(&s, ImprovementMetric::Latency);
    close(high, 20.0 / 101.0);
    close(low, 10.0 / 101.0);
    assert!(
        s.evidence.iter().any(|e| e.contains("aten::add ×4000")),
        "{:?}",
        s.evidence
    );
    silent(
        json!({ "profile_results": profile(50, 10) }),
        "kernel_fusion",
    );
    silent(
        json!({ "profile_results": profile(200, 1000) }),
        "kernel_fusion",
    );
    let s = fires(
        json!({ "model_graph": { "facts": {}, "fusion_opportunities": [
            { "pattern": "SkipLayerNormalization", "count": 4, "nodes": ["Add_1", "LayerNorm_1"] } ] } }),
        "kernel_fusion",
    );
    assert!(s.evidence[0].contains("SkipLayerNormalization ×4"));
    asks(json!({}), "kernel_fusion", "profile_results");
}

#[test]
fn kv_cache() {
    let inference_off = json!({ "mode": "inference", "kv_cache": "false" });
    let s = fires(
        json!({ "model_graph": gpt2(), "current_config": inference_off }),
        "kv_cache",
    );
    close(
        improvement(&s, ImprovementMetric::Latency).1,
        1.0 - 2.0 / 1025.0,
    );
    // 2 · 12 layers · 12 heads · 64 · 4 bytes (fp32 assumed) = 73,728 B per token.
    assert!(
        s.warnings[0].contains("72.0 KiB per token"),
        "{:?}",
        s.warnings
    );
    silent(
        json!({ "model_graph": bert(), "current_config": inference_off }),
        "kv_cache",
    );
    silent(
        json!({ "model_graph": gpt2(), "current_config": { "mode": "training", "use_cache": "false" } }),
        "kv_cache",
    );
    silent(
        json!({ "model_graph": gpt2(), "current_config": { "mode": "inference", "kv_cache": "true" } }),
        "kv_cache",
    );
    silent(
        json!({ "model_graph": gpt2(), "current_config": { "mode": "inference" } }),
        "kv_cache",
    );
    asks(
        json!({ "model_graph": gpt2(), "current_config": { "use_cache": "false" } }),
        "kv_cache",
        "config mode",
    );
}

#[test]
fn batch_size() {
    let config = json!({ "mode": "inference", "batch_size": "1", "precision": "fp16" });
    let s = fires(
        json!({ "model_graph": gpt2(), "hardware_info": gpu("NVIDIA A100-SXM4-80GB"), "current_config": config }),
        "batch_size",
    );
    // Roofline on the A100 (2039 GB/s): a decode step reads 248.9 MB of fp16 weights
    // (0.1221 ms) plus 37.7 MB of KV cache per 1024-token sequence (0.0185 ms); compute is
    // 0.0008 ms per sample. Batch 256: 256 × 0.1406 / (0.1221 + 256 × 0.0185) = 7.40×.
    assert!(s.title.ends_with("to 256"), "{}", s.title);
    let (_, high) = improvement(&s, ImprovementMetric::Throughput);
    close(1.0 / (1.0 - high), 7.403);
    assert!(
        s.title.starts_with("Raise the batch size from 1 to "),
        "{}",
        s.title
    );
    silent(
        json!({ "model_graph": gpt2(), "hardware_info": gpu("NVIDIA A100-SXM4-80GB"), "current_config": { "batch_size": "8" } }),
        "batch_size",
    );
    silent(
        json!({ "model_graph": gpt2(), "hardware_info": cpu(16), "current_config": { "batch_size": "1" } }),
        "batch_size",
    );
    // A measured peak at 95 % of the GPU leaves no room for a second sample.
    silent(
        json!({ "model_graph": gpt2(), "hardware_info": gpu("NVIDIA A100-SXM4-80GB"),
                "memory_metrics": { "peak_bytes": 81_000_000_000u64 }, "current_config": { "batch_size": "1", "device": "cuda" } }),
        "batch_size",
    );
    // A software adapter is not a GPU.
    silent(
        json!({ "model_graph": gpt2(), "hardware_info": gpu("llvmpipe (LLVM 15.0.6, 256 bits)"), "current_config": { "batch_size": "1" } }),
        "batch_size",
    );
    asks(
        json!({ "model_graph": gpt2(), "current_config": { "batch_size": "1" } }),
        "batch_size",
        "hardware_info",
    );
}

#[test]
fn mixed_precision() {
    let fp32 = json!({ "precision": "fp32", "mode": "training" });
    let s = fires(
        json!({ "hardware_info": gpu("Tesla V100-SXM2-32GB"), "current_config": fp32 }),
        "mixed_precision",
    );
    assert!(s.title.contains("fp16"), "{}", s.title);
    let s = fires(
        json!({ "hardware_info": gpu("NVIDIA A100-SXM4-80GB"), "current_config": fp32 }),
        "mixed_precision",
    );
    assert!(s.title.contains("bf16"), "{}", s.title);
    let s = fires(
        json!({ "hardware_info": gpu("Tesla T4"), "current_config": fp32 }),
        "mixed_precision",
    );
    assert!(s.title.contains("fp16"), "{}", s.title);
    // Compute capability given explicitly wins over the name; Pascal has no tensor cores.
    silent(
        json!({ "hardware_info": { "gpu_model": "Tesla P100-PCIE-16GB", "gpu_compute_capability": "6.0" }, "current_config": fp32 }),
        "mixed_precision",
    );
    silent(
        json!({ "hardware_info": gpu("NVIDIA A100-SXM4-80GB"), "current_config": { "precision": "bf16" } }),
        "mixed_precision",
    );
    silent(
        json!({ "hardware_info": cpu(16), "current_config": fp32 }),
        "mixed_precision",
    );
    asks(
        json!({ "hardware_info": gpu("NVIDIA A100-SXM4-80GB") }),
        "mixed_precision",
        "config precision",
    );
}

#[test]
fn flash_attention() {
    let llama = json!({ "name": "llama-2-7b", "facts": {
        "architecture": "decoder", "parameters": 6738415616u64, "layers": 32, "hidden_size": 4096,
        "attention_heads": 32, "kv_heads": 32, "max_sequence_length": 4096, "dtype": "fp16" } });
    let off = json!({ "flash_attention": "false" });
    let s = fires(
        json!({ "model_graph": llama, "hardware_info": gpu("NVIDIA A100-SXM4-80GB"), "current_config": off }),
        "flash_attention",
    );
    let (low, high) = improvement(&s, ImprovementMetric::Latency);
    assert!(low > 0.0 && high > low);
    silent(
        json!({ "model_graph": llama, "hardware_info": gpu("Tesla V100-SXM2-32GB"), "current_config": off }),
        "flash_attention",
    );
    silent(
        json!({ "model_graph": llama, "hardware_info": gpu("NVIDIA A100-SXM4-80GB"), "current_config": { "flash_attention": "true" } }),
        "flash_attention",
    );
    silent(
        json!({ "model_graph": llama, "hardware_info": gpu("SwiftShader Device"), "current_config": off }),
        "flash_attention",
    );
    asks(
        json!({ "model_graph": llama, "hardware_info": gpu("NVIDIA H100 80GB HBM3") }),
        "flash_attention",
        "config flash_attention",
    );
}

#[test]
fn gradient_checkpointing() {
    let gib = 1u64 << 30;
    let training =
        json!({ "mode": "training", "batch_size": "8", "seq_len": "512", "precision": "bf16" });
    let s = fires(
        json!({ "model_graph": bert(), "hardware_info": gpu("NVIDIA A100-SXM4-80GB"),
                "memory_metrics": { "peak_bytes": 75 * gib }, "current_config": training }),
        "gradient_checkpointing",
    );
    let (low, high) = improvement(&s, ImprovementMetric::Memory);
    assert!(high > low && low > 0.0);
    assert!(s.warnings[0].contains("33 %"));
    silent(
        json!({ "model_graph": bert(), "hardware_info": gpu("NVIDIA A100-SXM4-80GB"),
                "memory_metrics": { "peak_bytes": 40 * gib }, "current_config": training }),
        "gradient_checkpointing",
    );
    silent(
        json!({ "hardware_info": gpu("NVIDIA A100-SXM4-80GB"), "memory_metrics": { "peak_bytes": 75 * gib },
                "current_config": { "mode": "inference" } }),
        "gradient_checkpointing",
    );
    silent(
        json!({ "hardware_info": gpu("NVIDIA A100-SXM4-80GB"), "memory_metrics": { "peak_bytes": 75 * gib },
                "current_config": { "mode": "training", "gradient_checkpointing": "yes" } }),
        "gradient_checkpointing",
    );
    asks(
        json!({ "current_config": { "mode": "training" } }),
        "gradient_checkpointing",
        "memory_metrics.peak_bytes",
    );
}

#[test]
fn reports_are_deterministic_and_round_trip() {
    let context = json!({ "model_graph": llama_13b(), "hardware_info": gpu("NVIDIA A100-SXM4-80GB"),
        "current_config": { "mode": "inference", "batch_size": "1", "kv_cache": "false", "flash_attention": "false" } });
    let first = analyze(context.clone());
    let second = analyze(context);
    assert_eq!(first, second);
    let json = serde_json::to_string(&first).unwrap();
    let back: OptimizationReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, first);
    for window in first.suggestions.windows(2) {
        let key = |s: &OptimizationSuggestion| (s.impact, s.difficulty, s.id.clone());
        assert!(key(&window[0]) <= key(&window[1]));
    }
    for metric in &first.summary.combined {
        assert!(metric.max_reduction < 1.0);
    }
}
