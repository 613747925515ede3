//! The performance model against published figures and physics: what a run needs, what a
//! step can cost at least, and that no change buys more than the bytes and FLOPs allow.

use advisor_core::{
    AnalysisContext, AttentionKernel, Change, ImprovementMetric, OptimizationAdvisor, Precision,
    ResolvedFacts, WeightFormat,
};
use advisor_model::{Workload, predict, simulate};
use proptest::prelude::*;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

fn facts(context: &str) -> ResolvedFacts {
    let context = AnalysisContext::from_json_str(context).expect("valid context");
    let mut advisor = OptimizationAdvisor::empty();
    advisor.set_catalog(std::sync::Arc::new(advisor_hw_table::AcceleratorTable));
    advisor.resolve(&context).expect("valid config")
}

fn llama(params: u64, layers: u64, hidden: u64, heads: u64, kv_heads: u64) -> String {
    format!(
        r#"{{ "architecture": "decoder", "parameters": {params}, "layers": {layers},
              "hidden_size": {hidden}, "attention_heads": {heads}, "kv_heads": {kv_heads},
              "vocab_size": 32000, "max_sequence_length": 4096, "tie_word_embeddings": false,
              "dtype": "fp16" }}"#
    )
}

fn context(model: &str, gpu: &str, config: &str) -> String {
    format!(
        r#"{{ "model_graph": {{ "facts": {model} }}, "hardware_info": {{ "gpu_model": "{gpu}" }},
              "current_config": {config} }}"#
    )
}

#[test]
fn llama_13b_at_batch_32_needs_its_weights_and_50_gib_of_kv_cache() {
    let facts = facts(&context(
        &llama(13_015_864_320, 40, 5120, 40, 40),
        "NVIDIA A100-SXM4-40GB",
        r#"{ "mode": "inference", "batch_size": "32", "prompt_len": "1536", "new_tokens": "512", "flash_attention": "true" }"#,
    ));
    let prediction = predict(&Workload::from_facts(&facts).unwrap());
    // 32 × 2048 tokens × 2 · 40 · 40 · 128 · 2 B = 50.0 GiB; weights 24.2 GiB at fp16.
    assert!(
        (prediction.memory.kv_cache / GIB - 50.0).abs() < 0.01,
        "{:?}",
        prediction.memory
    );
    assert!(
        (prediction.memory.weights / GIB - 24.24).abs() < 0.05,
        "{:?}",
        prediction.memory
    );
    assert!(!prediction.fits());
    assert!(prediction.overflow_bytes() / GIB > 30.0);
}

#[test]
fn a_full_fine_tune_of_7b_needs_16_bytes_per_parameter_before_activations() {
    let facts = facts(&context(
        &llama(6_738_415_616, 32, 4096, 32, 32),
        "NVIDIA A100-SXM4-80GB",
        r#"{ "mode": "training", "batch_size": "1", "seq_len": "512", "precision": "bf16" }"#,
    ));
    let memory = predict(&Workload::from_facts(&facts).unwrap()).memory;
    let state = memory.weights + memory.gradients + memory.optimizer;
    assert_eq!(state, 16.0 * 6_738_415_616.0);
    assert!(memory.activations > 0.0);
}

#[test]
fn zero_stages_divide_optimizer_state_then_gradients_then_weights() {
    use advisor_core::Sharding;
    let facts = facts(&context(
        &llama(6_738_415_616, 32, 4096, 32, 32),
        "NVIDIA A100-SXM4-80GB",
        r#"{ "mode": "training", "batch_size": "1", "seq_len": "512", "precision": "bf16" }"#,
    ));
    let parameters = 6_738_415_616.0;
    let memory = |stage: u8| {
        simulate(&facts, &[Change::Shard(Sharding { stage, devices: 8 })])
            .unwrap()
            .predicted_after
            .memory
    };
    // ZeRO (Rajbhandari et al. 2020), fig. 1: 2 + 2 + 12 B per parameter, sharded in turn.
    assert_eq!(memory(1).optimizer, 12.0 * parameters / 8.0);
    assert_eq!(memory(1).gradients, 2.0 * parameters);
    assert_eq!(memory(2).gradients, 2.0 * parameters / 8.0);
    assert_eq!(memory(2).weights, 2.0 * parameters);
    // Stage 3 keeps 1/8 of the weights plus two gathered layers.
    let gathered = 2.0 * parameters / 32.0 * 2.0;
    assert!((memory(3).weights - (2.0 * parameters / 8.0 + gathered)).abs() < 1.0);
}

#[test]
fn data_parallel_steps_pay_the_exposed_all_reduce_and_scale_the_samples() {
    let config = |extra: &str| {
        format!(
            r#"{{ "mode": "training", "batch_size": "1", "seq_len": "512", "precision": "bf16"{extra} }}"#
        )
    };
    let model = llama(6_738_415_616, 32, 4096, 32, 32);
    let one = facts(&context(&model, "NVIDIA A100-SXM4-80GB", &config("")));
    let nvlink = simulate(&one, &[Change::DataParallel(8)]).unwrap();
    let pcie = facts(&context(&model, "NVIDIA A100 80GB PCIe", &config("")));
    let pcie = simulate(&pcie, &[Change::DataParallel(8)]).unwrap();
    let step = |s: &advisor_model::Simulation| s.predicted_after.range(|t| t.request_seconds).1;
    let before = |s: &advisor_model::Simulation| s.predicted_before.range(|t| t.request_seconds).1;
    // The ring all-reduce of 13.5 GB of bf16 gradients over 8 GPUs sends 2·7/8 of it over
    // each link: ~87 ms at NVLink's 270 GB/s (mostly hidden behind the backward pass),
    // ~0.8 s at PCIe 4.0's 29 GB/s (mostly exposed).
    assert!(
        step(&nvlink) - before(&nvlink) < 0.05,
        "{} {}",
        step(&nvlink),
        before(&nvlink)
    );
    assert!(
        step(&pcie) - before(&pcie) > 0.5,
        "{} {}",
        step(&pcie),
        before(&pcie)
    );
    // Eight replicas process eight times the samples.
    let per_sample =
        |s: &advisor_model::Simulation| s.predicted_after.range(|t| t.per_sample_seconds).1;
    assert!((per_sample(&nvlink) * 8.0 - step(&nvlink)).abs() < 1e-9);
}

#[test]
fn a_pipeline_idles_for_its_bubble() {
    use advisor_core::Pipeline;
    let facts = facts(&context(
        &llama(6_738_415_616, 32, 4096, 32, 32),
        "NVIDIA A100-SXM4-80GB",
        r#"{ "mode": "training", "batch_size": "16", "seq_len": "512", "precision": "bf16" }"#,
    ));
    let step = |stages: u64, micro_batches: u64| {
        simulate(
            &facts,
            &[Change::PipelineParallel(Pipeline {
                stages,
                micro_batches,
            })],
        )
        .unwrap()
        .predicted_after
        .range(|t| t.request_seconds)
        .1
    };
    // (m + p − 1) slots of 1/(m·p) of the work each: the bubble is (p − 1)/(m + p − 1).
    let ideal = step(1, 16) / 4.0;
    let with_bubble = step(4, 16);
    let bubble = 1.0 - ideal / with_bubble;
    assert!((bubble - 3.0 / 19.0).abs() < 0.03, "bubble {bubble}");
}

#[test]
fn cpu_offload_moves_the_optimizer_state_off_the_gpu_and_pays_pcie() {
    let facts = facts(&context(
        &llama(6_738_415_616, 32, 4096, 32, 32),
        "NVIDIA A100-SXM4-80GB",
        r#"{ "mode": "training", "batch_size": "1", "seq_len": "512", "precision": "bf16" }"#,
    ));
    let simulation = simulate(&facts, &[Change::CpuOffload(true)]).unwrap();
    assert_eq!(simulation.predicted_after.memory.optimizer, 0.0);
    // At least the 16-bit weights coming back over PCIe 4.0 (32 GB/s each way): 0.42 s.
    let added = simulation.predicted_after.range(|t| t.request_seconds).0
        - simulation.predicted_before.range(|t| t.request_seconds).0;
    assert!(added > 0.42, "{added}");
}

#[test]
fn half_the_blocks_of_bert_base_is_distilbert_sized_and_2_4_sparsity_compresses_the_body() {
    let facts = facts(
        r#"{ "model_graph": { "facts": { "architecture": "encoder", "parameters": 109482240,
              "layers": 12, "hidden_size": 768, "attention_heads": 12, "vocab_size": 30522,
              "max_sequence_length": 512 } },
             "hardware_info": { "gpu_model": "NVIDIA A100-SXM4-80GB" },
             "current_config": { "mode": "inference", "batch_size": "8", "seq_len": "128", "precision": "fp16" } }"#,
    );
    let student = simulate(&facts, &[Change::KeepLayers(6)]).unwrap();
    // distilbert-base-uncased has 66,362,880 parameters (it also drops the token-type
    // embeddings and the pooler, which the model keeps).
    let parameters = student.after.model.parameters.unwrap() as f64;
    assert!(
        (parameters / 66_362_880.0 - 1.0).abs() < 0.005,
        "{parameters}"
    );
    let sparse = simulate(&facts, &[Change::Sparse24(true)]).unwrap();
    let body = 109_482_240.0 - 30522.0 * 768.0;
    let saved = sparse.predicted_before.weight_bytes - sparse.predicted_after.weight_bytes;
    assert!((saved - body * 2.0 * (1.0 - 0.5625)).abs() < 1.0, "{saved}");
}

#[test]
fn an_unbound_process_reads_one_numa_node_and_bound_processes_each_read_their_own() {
    let facts = facts(
        r#"{ "model_graph": { "facts": { "architecture": "encoder", "parameters": 109482240,
              "layers": 12, "hidden_size": 768, "attention_heads": 12, "vocab_size": 30522,
              "max_sequence_length": 512 } },
             "hardware_info": { "cpu_model": "Xeon", "cpu_cores": 64, "numa_nodes": 2,
                                "simd_capabilities": ["avx2", "fma", "avx512f"] },
             "current_config": { "mode": "inference", "batch_size": "1", "seq_len": "128", "device": "cpu" } }"#,
    );
    let simulation = simulate(&facts, &[Change::NumaProcesses(2)]).unwrap();
    // 64 cores at 10 GB/s each, two nodes of 100 GB/s: one node's 100 GB/s either way, on
    // 32 threads each when bound, and twice the requests.
    assert_eq!(simulation.predicted_before.rates.bandwidth, 100e9);
    assert_eq!(simulation.predicted_after.rates.bandwidth, 100e9);
    assert_eq!(simulation.predicted_after.rates.threads, 32.0);
    assert_eq!(simulation.after.settings.samples_per_step(), 2);
}

#[test]
fn eager_attention_at_32k_tokens_holds_64_gib_of_scores_in_one_layer() {
    let facts = facts(&context(
        &llama(6_738_415_616, 32, 4096, 32, 32),
        "NVIDIA A100-SXM4-80GB",
        r#"{ "mode": "inference", "batch_size": "1", "prompt_len": "32768", "new_tokens": "1", "flash_attention": "false" }"#,
    ));
    let memory = predict(&Workload::from_facts(&facts).unwrap()).memory;
    // 32 heads × 32768² scores: 64 GiB at fp16, held while Hugging Face's fp32 softmax of
    // them (128 GiB) is written.
    assert_eq!(memory.attention_scores / GIB, 64.0 * 3.0);
}

#[test]
fn mixtral_at_batch_1_reads_its_active_experts_not_all_of_them() {
    let model = r#"{ "architecture": "decoder", "parameters": 46702792704, "active_parameters": 12879925248,
        "layers": 32, "hidden_size": 4096, "attention_heads": 32, "kv_heads": 8, "vocab_size": 32000,
        "max_sequence_length": 32768, "num_experts": 8, "experts_per_token": 2,
        "tie_word_embeddings": false, "dtype": "bf16" }"#;
    let facts = facts(&context(
        model,
        "NVIDIA H200",
        r#"{ "mode": "inference", "batch_size": "1", "seq_len": "4096" }"#,
    ));
    let workload = Workload::from_facts(&facts).unwrap();
    // One token routes to 2 of 8 experts: about 12.9 B parameters (less the gathered
    // embedding), not 46.7 B.
    let read = advisor_model::weight_bytes_read(&workload, 1.0) / 2.0;
    assert!((12.6e9..12.9e9).contains(&read), "{read}");
    // Many tokens cover every expert.
    let read = advisor_model::weight_bytes_read(&workload, 512.0) / 2.0;
    assert!(read > 46.0e9, "{read}");
}

#[test]
fn int4_weights_cannot_beat_the_bytes_they_save() {
    // fp32 → int4 on Llama-2-7B: at most 32 / 4.25 ≈ 7.5× on the weight reads, and less once
    // the KV cache and the 16-bit embeddings are counted.
    let facts = facts(&context(
        &llama(6_738_415_616, 32, 4096, 32, 32),
        "NVIDIA A100-SXM4-80GB",
        r#"{ "mode": "inference", "batch_size": "1", "seq_len": "4096", "precision": "fp32" }"#,
    ));
    let simulation = simulate(&facts, &[Change::Weights(WeightFormat::Int4)]).unwrap();
    let latency = simulation.improvement(ImprovementMetric::Latency).unwrap();
    assert!(
        1.0 / (1.0 - latency.max_reduction) < 32.0 / 4.25,
        "{latency:?}"
    );
    let size = simulation
        .improvement(ImprovementMetric::ModelSize)
        .unwrap();
    assert!(size.max_reduction < 1.0 - 4.25 / 32.0);
}

#[test]
fn the_kv_cache_gain_is_a_time_ratio() {
    let gpt2 = r#"{ "architecture": "decoder", "parameters": 124439808, "layers": 12, "hidden_size": 768,
        "attention_heads": 12, "kv_heads": 12, "vocab_size": 50257, "max_sequence_length": 1024,
        "tie_word_embeddings": true }"#;
    let facts = facts(&context(
        gpt2,
        "NVIDIA L4",
        r#"{ "mode": "inference", "batch_size": "1", "prompt_len": "1", "new_tokens": "256", "kv_cache": "false" }"#,
    ));
    let simulation = simulate(&facts, &[Change::KvCache(true)]).unwrap();
    let (low, high) = simulation.reduction(ImprovementMetric::Latency).unwrap();
    // Far from the 1 − 2/257 (×128) a count of token-forwards would claim: the cached step
    // still reads every weight, and the uncached forward over a short prefix is no dearer.
    // When eager host overhead binds both (the slowest scenario), the cache buys nothing.
    assert!(
        low >= 0.0 && high > 0.2 && high < 1.0 - 1.0 / 128.0,
        "{low}–{high}"
    );
    assert!(1.0 / (1.0 - high) < 40.0, "{high}");
}

#[test]
fn flash_attention_removes_the_scores() {
    let facts = facts(&context(
        &llama(6_738_415_616, 32, 4096, 32, 32),
        "NVIDIA A100-SXM4-80GB",
        r#"{ "mode": "inference", "batch_size": "1", "prompt_len": "4096", "new_tokens": "1", "flash_attention": "false" }"#,
    ));
    let simulation = simulate(&facts, &[Change::Attention(AttentionKernel::Fused)]).unwrap();
    assert!(simulation.predicted_before.memory.attention_scores > 0.0);
    assert_eq!(simulation.predicted_after.memory.attention_scores, 0.0);
    assert!(simulation.improvement(ImprovementMetric::Latency).is_some());
}

/// A random valid decoder or encoder on a GPU of the table.
fn arbitrary_context() -> impl Strategy<Value = String> {
    let gpus = prop::sample::select(vec![
        "NVIDIA A100-SXM4-80GB",
        "NVIDIA H100 80GB HBM3",
        "Tesla T4",
        "NVIDIA L4",
        "AMD Instinct MI300X",
    ]);
    let precisions = prop::sample::select(vec!["fp32", "fp16", "bf16"]);
    (
        1u64..64,
        prop::sample::select(vec![256u64, 512, 1024, 2048, 4096, 8192]),
        prop::sample::select(vec![4u64, 8, 16, 32]),
        any::<bool>(),
        (gpus, precisions),
        (1u64..64, 1u64..4096, 0u64..1024),
        (any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(layers, hidden, heads, decoder, (gpu, precision), (batch, prompt, generated), (cache, flash, training))| {
                let parameters = 12 * layers * hidden * hidden + 32000 * hidden;
                let architecture = if decoder { "decoder" } else { "encoder" };
                let mode = if training { "training" } else { "inference" };
                let generated = if decoder && !training { generated.max(1) } else { 1 };
                format!(
                    r#"{{ "model_graph": {{ "facts": {{ "architecture": "{architecture}", "parameters": {parameters},
                        "layers": {layers}, "hidden_size": {hidden}, "attention_heads": {heads},
                        "vocab_size": 32000, "max_sequence_length": 8192 }} }},
                      "hardware_info": {{ "gpu_model": "{gpu}" }},
                      "current_config": {{ "mode": "{mode}", "batch_size": "{batch}", "prompt_len": "{prompt}",
                        "new_tokens": "{generated}", "precision": "{precision}", "kv_cache": "{cache}",
                        "flash_attention": "{flash}" }} }}"#
                )
            },
        )
}

fn arbitrary_changes() -> impl Strategy<Value = Vec<Change>> {
    prop::collection::vec(
        prop_oneof![
            (1u64..512).prop_map(Change::BatchSize),
            prop::sample::select(vec![Precision::Fp16, Precision::Bf16, Precision::Fp32])
                .prop_map(Change::Precision),
            prop::sample::select(vec![WeightFormat::Int8, WeightFormat::Int4])
                .prop_map(Change::Weights),
            any::<bool>().prop_map(Change::KvCache),
            Just(Change::Attention(AttentionKernel::Fused)),
            any::<bool>().prop_map(Change::GradientCheckpointing),
            any::<bool>().prop_map(Change::Tf32),
        ],
        0..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Time never beats the floors: the weights read at least once at peak bandwidth, and the
    /// matmul FLOPs at the device's best peak. Memory is at least the weights at their format.
    #[test]
    fn predictions_respect_the_floors(context in arbitrary_context(), changes in arbitrary_changes()) {
        let facts = facts(&context);
        let simulation = simulate(&facts, &changes).unwrap();
        for (workload, prediction) in [
            (&simulation.before, &simulation.predicted_before),
            (&simulation.after, &simulation.predicted_after),
        ] {
            let advisor_model::DeviceModel::Gpu { spec, .. } = &workload.device else {
                panic!("a GPU run");
            };
            let s = &workload.settings;
            let bytes_floor = advisor_model::weight_bytes_read(workload, 1.0)
                / spec.memory_bandwidth_bytes_per_second;
            let tokens = (s.batch_size * s.prompt_tokens.max(1)) as f64;
            let best_peak = [spec.peak.fp32, spec.peak.tf32, spec.peak.fp16, spec.peak.bf16, spec.peak.fp8, spec.peak.int8]
                .into_iter().flatten().fold(0.0, f64::max);
            let parameters = workload.model.parameters.unwrap() as f64 - workload.model.embedding_parameters() as f64;
            let flop_floor = 2.0 * parameters * tokens / best_peak;
            for times in &prediction.times {
                prop_assert!(times.request_seconds.is_finite() && times.request_seconds > 0.0);
                prop_assert!(times.request_seconds >= bytes_floor * 0.999, "{} < bytes floor {}", times.request_seconds, bytes_floor);
                prop_assert!(times.request_seconds >= flop_floor * 0.999, "{} < FLOP floor {}", times.request_seconds, flop_floor);
            }
            prop_assert!(prediction.memory.total() >= prediction.weight_bytes);
            prop_assert!(prediction.weight_bytes >= parameters * 4.25 / 8.0 * 0.999);
        }
        // Every improvement the simulation reports is a valid fraction.
        for improvement in simulation.improvements() {
            prop_assert!(improvement.is_valid(), "{improvement:?}");
        }
    }

    /// Memory grows with the batch, and quantized weights are smaller than float ones.
    #[test]
    fn memory_is_monotone(context in arbitrary_context(), bigger in 2u64..8) {
        let facts = facts(&context);
        let before = Workload::from_facts(&facts).unwrap();
        let batch = before.settings.batch_size;
        let larger = advisor_model::simulate_workload(before.clone(), &[Change::BatchSize(batch * bigger)]);
        prop_assert!(larger.predicted_after.memory.total() >= larger.predicted_before.memory.total());
        let int8 = advisor_model::simulate_workload(before.clone(), &[Change::Weights(WeightFormat::Int8)]);
        let int4 = advisor_model::simulate_workload(before, &[Change::Weights(WeightFormat::Int4)]);
        prop_assert!(int4.predicted_after.weight_bytes < int8.predicted_after.weight_bytes);
        prop_assert!(int8.predicted_after.weight_bytes <= int8.predicted_before.weight_bytes);
    }
}

#[test]
fn a_measurement_slower_than_the_model_keeps_its_unexplained_time() {
    let run =
        r#"{ "mode": "inference", "batch_size": "1", "prompt_len": "512", "new_tokens": "256" }"#;
    let model = &llama(6_738_415_616, 32, 4096, 32, 32);
    let plain = facts(&context(model, "NVIDIA A100-SXM4-80GB", run));
    let modelled = advisor_model::predict_facts(&plain)
        .unwrap()
        .range(|t| t.request_seconds)
        .1;
    // Measured at three times the model's slowest scenario: eager batch-1 decode far from
    // the roofline.
    let measured = format!(
        r#"{{ "model_graph": {{ "facts": {model} }}, "hardware_info": {{ "gpu_model": "NVIDIA A100-SXM4-80GB" }},
              "latency_metrics": {{ "mean_ms": {} }}, "current_config": {run} }}"#,
        modelled * 3.0 * 1e3
    );
    let calibrated = facts(&measured);
    let workload = Workload::from_facts(&calibrated).unwrap();
    let calibration = workload.calibration.clone().expect("calibrated");
    assert!(!calibration.beats_the_model());
    assert!(
        calibration.efficiency() < 0.34,
        "{}",
        calibration.efficiency()
    );
    assert!(calibration.describe().contains("of the roofline"));
    // The model's request time now is the measurement.
    let before = predict(&workload).range(|t| t.request_seconds);
    assert!(
        (before.1 - modelled * 3.0).abs() < 1e-9 * modelled,
        "{before:?}"
    );
    // int4 removes only what the model explains: far less than uncalibrated.
    let int4 = [Change::Weights(WeightFormat::Int4)];
    let raw = simulate(&plain, &int4)
        .unwrap()
        .improvement(ImprovementMetric::Latency)
        .unwrap();
    let held = simulate(&calibrated, &int4)
        .unwrap()
        .improvement(ImprovementMetric::Latency)
        .unwrap();
    assert!(
        held.max_reduction < raw.max_reduction / 2.0,
        "{held:?} vs {raw:?}"
    );
    // A measurement faster than the model points at wrong inputs and calibrates nothing.
    let fast = measured.replace(
        &format!("{}", modelled * 3.0 * 1e3),
        &format!("{}", modelled * 0.1 * 1e3),
    );
    let workload = Workload::from_facts(&facts(&fast)).unwrap();
    assert!(workload.calibration.unwrap().beats_the_model());
}

#[test]
fn generation_reports_time_to_first_token_and_per_token() {
    let facts = facts(&context(
        &llama(6_738_415_616, 32, 4096, 32, 32),
        "NVIDIA A100-SXM4-80GB",
        r#"{ "mode": "inference", "batch_size": "1", "prompt_len": "2048", "new_tokens": "256" }"#,
    ));
    let simulation = simulate(&facts, &[Change::Weights(WeightFormat::Int4)]).unwrap();
    // Decode reads the weights every token: int4 cuts the time per token.
    let per_token = simulation
        .improvement(ImprovementMetric::TimePerToken)
        .unwrap();
    assert!(per_token.max_reduction > 0.4, "{per_token:?}");
    // Prefill at 2048 tokens is compute-bound in 16-bit either way: little change.
    let first = simulation
        .reduction(ImprovementMetric::TimeToFirstToken)
        .unwrap();
    assert!(first.1 < per_token.max_reduction, "{first:?}");
    // A decode step at batch 1 costs at least the weights over the bandwidth.
    let times = &simulation.predicted_before.times[0];
    let floor = advisor_model::weight_bytes_read(&simulation.before, 1.0) / 2039e9;
    assert!(times.per_token_seconds >= floor);
}

#[test]
fn a_calibrated_cpu_is_modelled_with_its_measured_clock_and_bandwidth() {
    let bert = r#"{ "architecture": "encoder", "parameters": 109482240, "layers": 12, "hidden_size": 768,
        "attention_heads": 12, "vocab_size": 30522, "max_sequence_length": 512 }"#;
    let context = |calibration: &str| {
        format!(
            r#"{{ "model_graph": {{ "facts": {bert} }},
                  "hardware_info": {{ "cpu_cores": 2, "system_memory_mb": 24000,
                      "simd_capabilities": ["avx2", "fma", "avx512f"] {calibration} }},
                  "current_config": {{ "mode": "inference", "batch_size": "1", "seq_len": "128",
                      "device": "cpu", "num_threads": "1" }} }}"#
        )
    };
    let assumed = facts(&context(""));
    let measured = facts(&context(
        r#", "cpu_calibration": { "clock_ghz": 3.0, "per_thread_bandwidth_gbps": 15.0,
              "machine_bandwidth_gbps": 30.0, "method": "test" }"#,
    ));
    let cpu = measured.cpu.as_ref().unwrap();
    assert!(matches!(cpu.peak_source, advisor_core::Source::Measured(_)));
    assert_eq!(cpu.per_thread_bandwidth, 15e9);
    assert_eq!(cpu.per_core_peak.fp32, Some(64.0 * 3.0e9));
    assert!(matches!(
        assumed.cpu.as_ref().unwrap().peak_source,
        advisor_core::Source::Assumed(_)
    ));
    // A faster clock and bandwidth make the same request faster.
    let slow = advisor_model::predict_facts(&assumed)
        .unwrap()
        .range(|t| t.request_seconds)
        .1;
    let fast = advisor_model::predict_facts(&measured)
        .unwrap()
        .range(|t| t.request_seconds)
        .1;
    assert!(fast < slow, "{fast} vs {slow}");
}

#[test]
fn contradictions_in_the_inputs_are_warned() {
    let model = llama(6_738_415_616, 32, 4096, 32, 32);
    let warned = |gpu: &str, config: &str| facts(&context(&model, gpu, config)).warnings;
    let rocm = warned(
        "NVIDIA A100-SXM4-80GB",
        r#"{ "mode": "inference", "device": "rocm" }"#,
    );
    assert!(
        rocm.iter().any(|w| w.contains("needs an AMD GPU")),
        "{rocm:?}"
    );
    let long = warned(
        "NVIDIA A100-SXM4-80GB",
        r#"{ "mode": "inference", "seq_len": "8192" }"#,
    );
    assert!(
        long.iter()
            .any(|w| w.contains("longer than the model's 4096 positions")),
        "{long:?}"
    );
    let fine = warned(
        "NVIDIA A100-SXM4-80GB",
        r#"{ "mode": "inference", "device": "cuda", "seq_len": "4096" }"#,
    );
    assert!(fine.is_empty(), "{fine:?}");
    // `device=cuda` on a machine without a GPU.
    let context = format!(
        r#"{{ "model_graph": {{ "facts": {model} }}, "hardware_info": {{ "cpu_cores": 8 }},
              "current_config": {{ "mode": "inference", "device": "cuda" }} }}"#
    );
    let none = facts(&context).warnings;
    assert!(
        none.iter().any(|w| w.contains("the hardware has no GPU")),
        "{none:?}"
    );
}

/// BERT-base on a 2-core AVX-512 CPU with a measured clock and bandwidth, optionally with a
/// measured latency and extra config keys.
fn bert_on_cpu(latency_ms: Option<f64>, config: &str) -> ResolvedFacts {
    let bert = r#"{ "architecture": "encoder", "parameters": 109482240, "layers": 12, "hidden_size": 768,
        "attention_heads": 12, "vocab_size": 30522, "max_sequence_length": 512 }"#;
    let latency = latency_ms.map_or(String::new(), |ms| {
        format!(r#""latency_metrics": {{ "mean_ms": {ms} }},"#)
    });
    facts(&format!(
        r#"{{ "model_graph": {{ "facts": {bert} }}, {latency}
              "hardware_info": {{ "cpu_cores": 2, "system_memory_mb": 24000,
                  "simd_capabilities": ["avx2", "fma", "avx512f", "avx512vnni"],
                  "cpu_calibration": {{ "clock_ghz": 2.4, "per_thread_bandwidth_gbps": 13.0,
                      "machine_bandwidth_gbps": 23.0, "method": "test" }} }},
              "current_config": {{ "mode": "inference", "batch_size": "1", "seq_len": "128",
                  "device": "cpu" {config} }} }}"#
    ))
}

#[test]
fn a_cpu_slower_than_the_model_is_fitted_by_the_efficiency_of_what_binds_it() {
    let modelled = advisor_model::predict_facts(&bert_on_cpu(None, ""))
        .unwrap()
        .range(|t| t.request_seconds);
    // Measured at twice the optimistic scenario: matmuls far from the AVX-512 peak.
    let measured = 2.0 * modelled.0;
    let facts = bert_on_cpu(Some(measured * 1e3), "");
    let workload = Workload::from_facts(&facts).unwrap();
    let calibration = workload.calibration.clone().expect("calibrated");
    assert_eq!(calibration.fitted, Some(advisor_model::Bound::Compute));
    // Every scenario now predicts the measurement, with nothing left as a fixed cost.
    let prediction = predict(&workload);
    for times in &prediction.times {
        assert!(
            (times.request_seconds - measured).abs() < 1e-6 * measured,
            "{} vs {measured}",
            times.request_seconds
        );
    }
    assert!(calibration.unexplained_seconds.iter().all(|s| *s < 1e-9));
    // The fitted matmul efficiency is below every scenario's own.
    let (low, high) = calibration.fitted_range().unwrap();
    assert!(low > 0.0 && high < 0.9, "{low}–{high}");
    assert!(calibration.describe().contains("of the CPU's peak"));
    // A change that removes matmul time removes it at the fitted efficiency: a second thread
    // at most halves the request, and buys more than keeping the gap as a fixed cost would.
    let one_thread = |ms: Option<f64>| bert_on_cpu(ms, r#", "num_threads": "1""#);
    let alone = advisor_model::predict_facts(&one_thread(None))
        .unwrap()
        .range(|t| t.request_seconds)
        .0;
    let slow = one_thread(Some(2.0 * alone * 1e3));
    let (low, high) = simulate(&slow, &[Change::Threads(2)])
        .unwrap()
        .reduction(ImprovementMetric::Latency)
        .unwrap();
    assert!(low > 0.3 && high < 0.5, "{low}–{high}");
}

#[test]
fn a_cpu_far_slower_than_the_model_keeps_the_rest_as_a_fixed_cost() {
    let modelled = advisor_model::predict_facts(&bert_on_cpu(None, ""))
        .unwrap()
        .range(|t| t.request_seconds);
    // 50× the slowest scenario: no kernel is that far from its peak; the fit stops at
    // the floor and the rest is time spent elsewhere.
    let measured = 50.0 * modelled.1;
    let workload = Workload::from_facts(&bert_on_cpu(Some(measured * 1e3), "")).unwrap();
    let calibration = workload.calibration.clone().unwrap();
    assert!(calibration.unexplained_seconds.iter().all(|s| *s > 0.0));
    let prediction = predict(&workload);
    for times in &prediction.times {
        assert!((times.request_seconds - measured).abs() < 1e-6 * measured);
    }
    assert!(calibration.describe().contains("fixed cost"));
}

#[test]
fn on_a_cpu_weight_reads_add_to_the_flops_and_batching_amortizes_them() {
    let facts = bert_on_cpu(None, "");
    let workload = Workload::from_facts(&facts).unwrap();
    let rates = advisor_model::rates(&workload);
    let prediction = predict(&workload);
    // At batch 1 × 128 tokens a request takes at least the FLOPs at the peak plus the
    // weights over the bandwidth (Goto and van de Geijn: packing, then compute).
    let flops = 2.0 * 85e6 * 128.0;
    let weights = 85e6 * 4.0;
    let floor = flops / rates.peak + weights / rates.bandwidth;
    let fastest = prediction.range(|t| t.request_seconds).0;
    assert!(fastest >= floor, "{fastest} vs {floor}");
    // Batch 8 shares the weight reads: per sample cheaper, by less than the weights' share.
    let batched = simulate(&facts, &[Change::BatchSize(8)]).unwrap();
    let gain = batched.improvement(ImprovementMetric::Throughput).unwrap();
    assert!(gain.min_reduction > 0.0, "{gain:?}");
    let weight_share = (weights / (rates.bandwidth * 0.6)) / fastest;
    assert!(
        gain.max_reduction < weight_share + 0.1,
        "{gain:?} vs {weight_share}"
    );
    // The plateau search names a batch > 1 whose throughput is within 2 % of batch 64's.
    let chosen = advisor_model::plateau_batch(&workload, 1, 64, 0.02);
    assert!(chosen > 1 && chosen < 64, "{chosen}");
}

#[test]
fn dynamic_int8_on_a_cpu_runs_at_the_vnni_rate_and_quantizes_its_inputs() {
    // AMX int8 is in the CPU's peak, but quantize_dynamic's FBGEMM kernels do not use it.
    let bert = bert_on_cpu(None, "");
    let workload = Workload::from_facts(&bert).unwrap();
    let int8 = advisor_model::changed(&workload, &[Change::Weights(WeightFormat::Int8)]);
    let fp32_rate = advisor_model::rates(&workload).peak;
    let int8_rate = advisor_model::rates(&int8).peak;
    assert!(
        (int8_rate / fp32_rate - 4.0).abs() < 1e-9,
        "{int8_rate} / {fp32_rate}"
    );
    // Never more than the 4× of the matmuls: the quantization passes and the fp32
    // element-wise work stay.
    let simulation = simulate(&bert, &[Change::Weights(WeightFormat::Int8)]).unwrap();
    let latency = simulation.improvement(ImprovementMetric::Latency).unwrap();
    assert!(latency.max_reduction < 0.75, "{latency:?}");
    assert!(latency.min_reduction > 0.2, "{latency:?}");
}
