//! Data-driven rule tests: a small context in, the rules that fire (or stay silent, or ask
//! for facts) out, and physical bounds on the numbers they derive. What each rule prints is
//! snapshotted beside the rule (`src/rules/*.rs`, `mod tests`).

use advisor_core::{
    AnalysisContext, AttentionKernel, Change, DiagnosticSeverity, Impact, ImprovementMetric,
    OptimizationAdvisor, OptimizationReport, OptimizationSuggestion, Precision, WeightFormat,
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
    json!({ "cpu_model": "Intel Xeon", "cpu_cores": cores, "system_memory_mb": 65536,
            "simd_capabilities": ["avx2", "fma"] })
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
            "conv_channels_last",
            "cpu_inference_stack",
            "cpu_vector_units",
            "data_loader",
            "data_parallelism",
            "distillation",
            "dynamic_quantization",
            "encoder_serving",
            "feasibility",
            "flash_attention",
            "fp8",
            "fused_optimizer",
            "gpu_idle",
            "gradient_checkpointing",
            "host_sync",
            "kernel_fusion",
            "kv_cache",
            "kv_cache_quantization",
            "launch_overhead",
            "memory_fragmentation",
            "mixed_precision",
            "numa_binding",
            "parallelization",
            "pipeline_parallelism",
            "prefill_decode",
            "quantization",
            "sequence_packing",
            "serving_engine",
            "smoothquant",
            "sparse_attention",
            "speculative_decoding",
            "tensor_parallelism",
            "torch_compile",
            "training_memory"
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
    let long = |mode: &str| {
        json!({ "model_graph": llama_13b(), "hardware_info": gpu("NVIDIA A100-SXM4-80GB"),
                "current_config": { "mode": mode, "batch_size": "1", "seq_len": "16384" } })
    };
    // Training: a change to the run, with its modelled gain.
    let s = fires(long("training"), "sparse_attention");
    assert_eq!(s.changes, [Change::SlidingWindow(4096)]);
    let (_, high) = improvement(&s, ImprovementMetric::Latency);
    assert!(high > 0.05 && high < 0.6, "{high}");
    // Serving a pretrained model: said as an architecture change, out of the plan.
    let s = fires(long("inference"), "sparse_attention");
    assert!(s.changes.is_empty());
    // Short sequences, and models with a window of their own, are silent.
    silent(
        json!({ "model_graph": gpt2(), "hardware_info": gpu("NVIDIA A100-SXM4-80GB"),
                "current_config": { "mode": "training", "seq_len": "1024" } }),
        "sparse_attention",
    );
    let mut mistral = llama_13b();
    mistral["facts"]["sliding_window"] = json!(4096);
    silent(
        json!({ "model_graph": mistral, "hardware_info": gpu("NVIDIA A100-SXM4-80GB"),
                "current_config": { "mode": "training", "seq_len": "8192" } }),
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
    // Only what is reserved beyond the peak in use comes back: 2 of 32 GiB.
    assert_eq!(
        improvement(&s, ImprovementMetric::Memory),
        (0.03125, 0.0625)
    );
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
    // Llama-2-13B decoding in fp16 on an A100 80GB: int4 weights, and the gain cannot beat the
    // bytes: 4.25 bits instead of 16 per body weight.
    let context = json!({ "model_graph": llama_13b(), "hardware_info": gpu("NVIDIA A100-SXM4-80GB"),
        "current_config": { "mode": "inference", "batch_size": "1", "seq_len": "2048" } });
    let suggestion = fires(context, "quantization");
    assert_eq!(suggestion.changes, [Change::Weights(WeightFormat::Int4)]);
    let (_, latency) = improvement(&suggestion, ImprovementMetric::Latency);
    assert!(latency > 0.3 && latency < 1.0 - 4.25 / 16.0, "{latency}");
    let (size, _) = improvement(&suggestion, ImprovementMetric::ModelSize);
    assert!(size > 0.6 && size < 1.0 - 4.25 / 16.0, "{size}");
    // An encoder on a CPU: dynamic int8, which `dynamic_quantization` gives.
    let on_a_cpu = json!({ "model_graph": bert(), "hardware_info": cpu(8),
        "current_config": { "mode": "inference", "batch_size": "1", "seq_len": "128" } });
    silent(on_a_cpu.clone(), "quantization");
    let suggestion = fires(on_a_cpu, "dynamic_quantization");
    assert_eq!(suggestion.changes, [Change::Weights(WeightFormat::Int8)]);
    // Training, or already quantized: silent.
    silent(
        json!({ "model_graph": llama_13b(), "hardware_info": gpu("NVIDIA A100-SXM4-80GB"),
                "current_config": { "mode": "training", "batch_size": "1", "seq_len": "512" } }),
        "quantization",
    );
    silent(
        json!({ "model_graph": llama_13b(), "hardware_info": gpu("NVIDIA A100-SXM4-80GB"),
                "current_config": { "mode": "inference", "quantization": "int4", "seq_len": "512" } }),
        "quantization",
    );
    asks(
        json!({ "model_graph": llama_13b() }),
        "quantization",
        "current_config.mode",
    );
}
#[test]
fn parallelization() {
    let context = |cores: u32, threads: &str| {
        json!({ "model_graph": bert(), "hardware_info": cpu(cores),
                "current_config": { "mode": "inference", "batch_size": "1", "seq_len": "128",
                                    "num_threads": threads, "device": "cpu" } })
    };
    // Four cores and one thread: no `> 4 cores` gate hides it, and the gain stays below 4×.
    let suggestion = fires(context(4, "1"), "parallelization");
    assert_eq!(suggestion.changes, [Change::Threads(4)]);
    let (low, high) = improvement(&suggestion, ImprovementMetric::Latency);
    assert!(low > 0.0 && high < 1.0 - 1.0 / 4.0, "{low}–{high}");
    // 96 cores: fork/join and shared bandwidth keep the promise far below 96×.
    let suggestion = fires(context(96, "1"), "parallelization");
    let (_, high) = improvement(&suggestion, ImprovementMetric::Latency);
    assert!(1.0 / (1.0 - high) < 48.0, "{high}");
    silent(context(4, "4"), "parallelization");
    silent(
        json!({ "model_graph": bert(), "hardware_info": cpu(8),
                "current_config": { "mode": "inference", "seq_len": "128" } }),
        "parallelization",
    );
}
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
    let context = |config: Value| json!({ "model_graph": gpt2(), "hardware_info": gpu("NVIDIA L4"), "current_config": config });
    let suggestion = fires(
        context(
            json!({ "mode": "inference", "kv_cache": "false", "batch_size": "1", "seq_len": "1024" }),
        ),
        "kv_cache",
    );
    assert_eq!(suggestion.changes, [Change::KvCache(true)]);
    let (low, high) = improvement(&suggestion, ImprovementMetric::Latency);
    // A time ratio, not a count of token-forwards (which would claim 1 − 2/1025).
    assert!(low > 0.3 && high < 0.95, "{low}–{high}");
    // Encoders never generate; training does not decode; a cache left on is fine.
    silent(
        json!({ "model_graph": bert(), "hardware_info": gpu("NVIDIA L4"),
                "current_config": { "mode": "inference", "kv_cache": "false" } }),
        "kv_cache",
    );
    silent(
        context(json!({ "mode": "training", "kv_cache": "false" })),
        "kv_cache",
    );
    silent(context(json!({ "mode": "inference" })), "kv_cache");
    asks(
        context(json!({ "kv_cache": "false" })),
        "kv_cache",
        "config mode",
    );
}
#[test]
fn batch_size() {
    let context = json!({ "model_graph": gpt2(), "hardware_info": gpu("NVIDIA L4"),
        "current_config": { "mode": "inference", "batch_size": "1", "seq_len": "1024", "precision": "fp16", "engine": "vllm" } });
    let report = analyze(context);
    let suggestion = find(&report, "batch_size").expect("batch_size fires");
    // On Hugging Face generate() the batch comes from serving_engine, once.
    let hf = analyze(
        json!({ "model_graph": gpt2(), "hardware_info": gpu("NVIDIA L4"),
        "current_config": { "mode": "inference", "batch_size": "1", "seq_len": "1024", "precision": "fp16" } }),
    );
    assert!(find(&hf, "batch_size").is_none());
    assert!(find(&hf, "serving_engine").is_some());
    let Some(Change::BatchSize(batch)) = suggestion.changes.first().copied() else {
        panic!("a batch change: {:?}", suggestion.changes)
    };
    assert!(batch > 1 && batch <= 256);
    let (_, high) = improvement(suggestion, ImprovementMetric::Throughput);
    // Never more than the batch itself.
    assert!(
        1.0 / (1.0 - high) <= batch as f64,
        "{high} at batch {batch}"
    );
    // The recommended batch fits: no feasibility suggestion.
    assert!(find(&report, "feasibility").is_none());
    // Batch 8 already: the config branch is silent.
    silent(
        json!({ "model_graph": gpt2(), "hardware_info": gpu("NVIDIA L4"),
                "current_config": { "mode": "inference", "batch_size": "8", "seq_len": "1024" } }),
        "batch_size",
    );
}
#[test]
fn mixed_precision() {
    let context = |hardware: Value, config: Value| json!({ "model_graph": bert(), "hardware_info": hardware, "current_config": config });
    let training =
        json!({ "mode": "training", "batch_size": "32", "seq_len": "512", "precision": "fp32" });
    // A100: bf16, an Amdahl bound well below the 16× peak ratio, TF32 as the first step.
    let suggestion = fires(
        context(gpu("NVIDIA A100-SXM4-80GB"), training.clone()),
        "mixed_precision",
    );
    assert_eq!(suggestion.changes, [Change::Precision(Precision::Bf16)]);
    let (_, high) = improvement(&suggestion, ImprovementMetric::Latency);
    assert!(high < 1.0 - 1.0 / 16.0, "{high}");
    assert!(
        suggestion
            .implementation_steps
            .iter()
            .any(|s| s.contains("set_float32_matmul_precision"))
    );
    // V100: fp16 (no bf16 tensor cores).
    let suggestion = fires(
        context(gpu("Tesla V100-SXM2-32GB"), training.clone()),
        "mixed_precision",
    );
    assert_eq!(suggestion.changes, [Change::Precision(Precision::Fp16)]);
    // AMD MI300X is in the table: it decides, in bf16.
    let suggestion = fires(
        context(gpu("AMD Instinct MI300X"), training),
        "mixed_precision",
    );
    assert_eq!(suggestion.changes, [Change::Precision(Precision::Bf16)]);
    // bf16 on a T4 and fp8 on an A100: warned.
    let suggestion = fires(
        context(
            gpu("Tesla T4"),
            json!({ "mode": "inference", "precision": "bf16", "seq_len": "128" }),
        ),
        "mixed_precision",
    );
    assert_eq!(suggestion.changes, [Change::Precision(Precision::Fp16)]);
    let suggestion = fires(
        context(
            gpu("NVIDIA A100-SXM4-80GB"),
            json!({ "mode": "inference", "precision": "fp8", "seq_len": "128" }),
        ),
        "mixed_precision",
    );
    assert!(suggestion.title.starts_with("fp8"), "{}", suggestion.title);
    silent(
        context(
            gpu("NVIDIA A100-SXM4-80GB"),
            json!({ "mode": "inference", "precision": "fp16", "seq_len": "128" }),
        ),
        "mixed_precision",
    );
}
#[test]
fn flash_attention() {
    let llama = |hardware: Value, config: Value| json!({ "model_graph": llama_13b(), "hardware_info": hardware, "current_config": config });
    let eager = json!({ "mode": "inference", "batch_size": "1", "seq_len": "4096", "flash_attention": "false" });
    let suggestion = fires(
        llama(gpu("NVIDIA A100-SXM4-80GB"), eager.clone()),
        "flash_attention",
    );
    assert_eq!(
        suggestion.changes,
        [Change::Attention(AttentionKernel::Fused)]
    );
    let (_, memory) = improvement(&suggestion, ImprovementMetric::Memory);
    assert!(memory > 0.0 && memory < 1.0);
    // AMD MI300X runs FlashAttention-2; a T4 runs SDPA's memory-efficient kernel; a V100 neither.
    fires(
        llama(gpu("AMD Instinct MI300X"), eager.clone()),
        "flash_attention",
    );
    fires(llama(gpu("Tesla T4"), eager.clone()), "flash_attention");
    silent(llama(gpu("Tesla V100-SXM2-32GB"), eager), "flash_attention");
    // Not said: advice conditional on eager attention, left out of the plan.
    let conditional = fires(
        llama(
            gpu("NVIDIA A100-SXM4-80GB"),
            json!({ "mode": "inference", "seq_len": "4096" }),
        ),
        "flash_attention",
    );
    assert!(conditional.changes.is_empty());
    silent(
        llama(
            gpu("NVIDIA A100-SXM4-80GB"),
            json!({ "mode": "inference", "seq_len": "4096", "flash_attention": "true" }),
        ),
        "flash_attention",
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
    // 75 GiB measured for BERT at batch 8: 40× what the model accounts for. That is not
    // activations, so nothing is claimed and the report says to find what holds the memory.
    assert!(s.expected_improvement.is_empty(), "{s:#?}");
    assert!(s.changes.is_empty());
    assert!(
        s.warnings.iter().any(|w| w.contains("not activations")),
        "{:?}",
        s.warnings
    );
    // A peak within 3× of the model (BERT at batch 64 × 512 in bf16 on a 24 GB A10G, at
    // 21 GiB measured): the figures follow the measurement.
    let s = fires(
        json!({ "model_graph": bert(), "hardware_info": gpu("NVIDIA A10G"),
                "memory_metrics": { "peak_bytes": 21 * gib },
                "current_config": { "mode": "training", "batch_size": "64", "seq_len": "512", "precision": "bf16" } }),
        "gradient_checkpointing",
    );
    let (low, high) = improvement(&s, ImprovementMetric::Memory);
    assert!(high > low && low > 0.0 && high < 1.0, "{low}–{high}");
    assert_eq!(s.changes, [Change::GradientCheckpointing(true)]);
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
        json!({ "model_graph": bert(), "current_config": { "mode": "training" } }),
        "gradient_checkpointing",
        "current_config.device or hardware_info",
    );
    // Without a measurement the model's own peak decides: a run far below the limit is silent.
    silent(
        json!({ "model_graph": bert(), "hardware_info": gpu("NVIDIA A100-SXM4-80GB"), "current_config": training }),
        "gradient_checkpointing",
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
    // The order is the report's own: ordering it again changes nothing.
    let mut reordered = first.suggestions.clone();
    advisor_core::order(&mut reordered, false);
    assert_eq!(reordered, first.suggestions);
    for metric in &first.summary.combined {
        assert!(metric.max_reduction < 1.0);
    }
}

/// The three runs of issue 9 that do not fit open with a critical suggestion that says by how
/// much and names a change that makes them fit.
#[test]
fn feasibility_opens_the_report_when_the_run_does_not_fit() {
    let llama_7b = json!({ "name": "llama-2-7b", "facts": {
        "architecture": "decoder", "parameters": 6738415616u64, "layers": 32, "hidden_size": 4096,
        "attention_heads": 32, "kv_heads": 32, "vocab_size": 32000, "max_sequence_length": 4096,
        "tie_word_embeddings": false, "dtype": "fp16" } });
    let cases = [
        // 24 GiB of weights and 50 GiB of KV cache on a 40 GB card.
        json!({ "model_graph": llama_13b(), "hardware_info": { "gpu_model": "NVIDIA A100-SXM4-40GB", "gpu_memory_mb": 40960 },
                "current_config": { "mode": "inference", "batch_size": "32", "seq_len": "2048", "flash_attention": "true" } }),
        // A full fine-tune of a 7B model: 16 B per parameter before activations.
        json!({ "model_graph": llama_7b.clone(), "hardware_info": gpu("NVIDIA A100-SXM4-80GB"),
                "current_config": { "mode": "training", "batch_size": "1", "seq_len": "512", "precision": "bf16" } }),
        // 32k tokens with eager attention: 64 GiB of scores in one layer.
        json!({ "model_graph": llama_7b, "hardware_info": gpu("NVIDIA A100-SXM4-80GB"),
                "current_config": { "mode": "inference", "batch_size": "1", "seq_len": "32768", "flash_attention": "false" } }),
    ];
    for context in cases {
        let report = analyze(context.clone());
        let first = &report.suggestions[0];
        assert_eq!(
            first.id,
            "feasibility",
            "{:?}",
            report.suggestions.iter().map(|s| &s.id).collect::<Vec<_>>()
        );
        assert_eq!(first.impact, Impact::Critical);
        // The change it names makes the run fit.
        assert!(!first.changes.is_empty());
        let parsed = AnalysisContext::from_json_str(&context.to_string()).unwrap();
        let facts = OptimizationAdvisor::new().resolve(&parsed).unwrap();
        let after = advisor_model::simulate(&facts, &first.changes).unwrap();
        assert!(after.predicted_after.fits(), "{:?}", first.changes);
    }
    // Llama-2-7B at batch 1 and 4096 tokens in fp16 fits an 80 GB card: silent.
    silent(
        json!({ "model_graph": llama_13b(), "hardware_info": gpu("NVIDIA A100-SXM4-80GB"),
                "current_config": { "mode": "inference", "batch_size": "1", "seq_len": "4096" } }),
        "feasibility",
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn arbitrary_context() -> impl Strategy<Value = Value> {
        (
            prop::sample::select(vec![gpt2(), bert(), llama_13b()]),
            prop::sample::select(vec![
                "NVIDIA A100-SXM4-80GB",
                "NVIDIA A100-SXM4-40GB",
                "Tesla T4",
                "NVIDIA L4",
                "NVIDIA H100 80GB HBM3",
                "AMD Instinct MI300X",
            ]),
            prop::sample::select(vec!["inference", "training"]),
            (1u64..64, 16u64..4096),
            prop::sample::select(vec!["fp32", "fp16", "bf16"]),
            (any::<bool>(), any::<bool>()),
        )
            .prop_map(
                |(model, gpu, mode, (batch, seq), precision, (cache, flash))| {
                    json!({ "model_graph": model, "hardware_info": { "gpu_model": gpu },
                        "current_config": { "mode": mode, "batch_size": batch.to_string(),
                            "seq_len": seq.to_string(), "precision": precision,
                            "kv_cache": cache.to_string(), "flash_attention": flash.to_string() } })
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// No rule reports an improvement outside [0, 1) (a rule bug), the combined figures
        /// are valid fractions, and a batch the report recommends fits once every change of
        /// the plan is applied.
        #[test]
        fn reports_are_physical(context in arbitrary_context()) {
            let parsed = AnalysisContext::from_json_str(&context.to_string()).unwrap();
            let advisor = OptimizationAdvisor::new();
            let report = advisor.analyze(&parsed).unwrap();
            prop_assert!(
                !report.diagnostics.iter().any(|d| d.message.starts_with("rule bug")),
                "{:?}", report.diagnostics
            );
            for combined in &report.summary.combined {
                // Below 1 (nothing takes all the time away); below 0 only where the plan's
                // one simulation makes the metric worse (a trade), never from slack alone.
                prop_assert!(combined.max_reduction < 1.0, "{combined:?}");
                prop_assert!(
                    combined.max_reduction > 0.0 || combined.basis.starts_with("one simulation"),
                    "{combined:?}"
                );
                prop_assert!(combined.min_reduction <= combined.max_reduction + 1e-12);
            }
            if report.summary.plan.iter().any(|c| matches!(c, Change::BatchSize(_))) {
                let facts = advisor.resolve(&parsed).unwrap();
                let simulation = advisor_model::simulate(&facts, &report.summary.plan).unwrap();
                prop_assert!(
                    simulation.predicted_after.fits(),
                    "plan {:?} needs {} of {:?}", report.summary.plan,
                    simulation.predicted_after.memory.total(), simulation.predicted_after.capacity_bytes
                );
            }
        }
    }
}
