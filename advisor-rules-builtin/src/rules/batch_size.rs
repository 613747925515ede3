//! `batch_size`: batch size 1 with memory to spare.
//!
//! ## What it checks
//! The configured batch size is 1, and the performance model finds a larger batch that fits
//! the device's memory and buys throughput: for generation, with the KV cache on and fused
//! attention when the report also recommends them, so the batch it names fits after the
//! report's other changes.
//!
//! ## Why it matters
//! At batch 1 a decode step reads every weight for one token of one sequence, so the GPU
//! waits on memory. The model runs the request at batch `b` (prefill and every decode step:
//! weight reads shared by the batch, each sequence's own KV-cache reads, FLOPs growing with
//! `b`) and picks the batch where doubling stops paying (under 10 % more throughput), up to
//! what fits. On a CPU, which is compute-bound at a few dozen tokens, a larger batch
//! amortizes only the weight reads (which a CPU GEMM does not overlap with its FLOPs) and the
//! per-operator dispatch: a few percent per doubling, each doubling doubling the latency; the
//! rule names the smallest batch within 2 % of the throughput plateau (the best batch up to
//! 64). The ceiling assumes a serving engine with continuous batching (vLLM, TGI,
//! TensorRT-LLM), where finished sequences leave the batch; padded static batches lose part of
//! it. The per-token latency at that batch is stated, to hold against a latency budget.
//!
//! Independently of the configured batch size, a PyTorch profiler trace where the GPU computes
//! less than half of the time, at least half of the kernels are short (under 20 µs) and at
//! least half of the main stream's idle is the GPU waiting for the host (HTA's host-wait idle,
//! not cross-stream or collective waits) also fires; its gain is a claim on that host-wait
//! idle, which other trace rules share.
//!
//! ## When it stays silent
//! Batch size unset or above 1, no larger batch that fits, or one that buys under 5 %; generation on Hugging Face `generate()` (the `engine` unset or `hf`), whose batch
//! `serving_engine` recommends together with the engine that reaches it. Without the device or
//! the model it says what it needs.
//!
//! ## Example
//! GPT-2 decoding at batch 1 on an L4: the weights use 2 % of memory and decode is
//! memory-bound.

use advisor_core::{
    AnalysisContext, AttentionKernel, Category, Change, Difficulty, ExpectedImprovement, Impact,
    ImprovementMetric, Mode, OptimizationRule, OptimizationSuggestion, RuleError, RuleInput,
    SlackClaim, SlackPool,
};

use advisor_model::Workload;

use crate::facts;

/// Largest batch the rule suggests.
const MAX_SUGGESTED_BATCH: u64 = 256;
/// Doubling the batch must buy at least this much more throughput to be worth it.
const DOUBLING_GAIN: f64 = 1.10;
/// On a CPU: the largest batch the rule considers, and how close to the best throughput up
/// to it the named batch must come.
const CPU_MAX_BATCH: u64 = 64;
const CPU_PLATEAU: f64 = 0.02;

/// See the module documentation.
pub(crate) struct BatchSize;

impl OptimizationRule for BatchSize {
    fn id(&self) -> &str {
        "batch_size"
    }

    fn category(&self) -> Category {
        Category::Compute
    }

    fn description(&self) -> &str {
        "Batch size 1 with memory headroom: batch more samples per step"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let context = input.context;
        let config = input.config;
        if config.batch_size != Some(1) {
            return Ok(low_utilization_from_trace(context).into_iter().collect());
        }
        let workload = Workload::from_facts(input.facts)?;
        let training = workload.settings.mode == Mode::Training;
        // Generation on Hugging Face generate() gets its batch from `serving_engine`, with the
        // engine that reaches it: one suggestion, not two naming the same batch.
        if !training
            && workload.model.generates()
            && workload.settings.kv_cache
            && workload.settings.generated_tokens >= 2
            && input.facts.run.engine.value == advisor_core::Engine::Hf
        {
            return Ok(Vec::new());
        }
        // The batch must fit after the report's other changes: the KV cache on and fused
        // attention, which `kv_cache` and `flash_attention` recommend when they are off.
        let mut prerequisites = Vec::new();
        if workload.model.generates() && !training && !workload.settings.kv_cache {
            prerequisites.push(Change::KvCache(true));
        }
        if workload.settings.attention == AttentionKernel::Eager
            && let Some((_, spec)) = input.facts.run_gpu_spec()?
            && spec.runs_flash_attention_2()
        {
            prerequisites.push(Change::Attention(AttentionKernel::Fused));
        }
        let base = advisor_model::changed(&workload, &prerequisites);
        let cpu = !input.facts.on_gpu()?;
        let chosen = if cpu {
            advisor_model::plateau_batch(&base, 1, CPU_MAX_BATCH, CPU_PLATEAU)
        } else {
            advisor_model::doubling_batch(&base, 1, MAX_SUGGESTED_BATCH, DOUBLING_GAIN)
        };
        if chosen == 1 {
            return Ok(Vec::new());
        }
        let simulation = advisor_model::simulate_workload(base, &[Change::BatchSize(chosen)]);
        let at_batch = &simulation.predicted_after;
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Compute,
            Impact::Medium,
            Difficulty::Easy,
            format!("Raise the batch size from 1 to {chosen}"),
        )
        .description(format!(
            "At batch size 1 every step pays its fixed costs (reading every weight, {} every {}{}) for one \
             sample's worth of work. By the model, batch {chosen} fits in memory ({} of {}) and {}.",
            if cpu { "dispatching" } else { "launching" },
            if cpu { "operator" } else { "kernel" },
            if training { ", the optimizer step" } else { "" },
            advisor_model::bytes_text(at_batch.memory.total()),
            advisor_model::bytes_text(at_batch.capacity_bytes.unwrap_or(0) as f64),
            if cpu {
                format!(
                    "comes within {:.0} % of the best throughput any batch up to {CPU_MAX_BATCH} reaches{}",
                    CPU_PLATEAU * 100.0,
                    if simulation.predicted_before.bound() == advisor_model::Bound::Compute {
                        ": on a CPU the FLOPs, which dominate, grow with the batch and only the weight reads and \
                         the per-operator dispatch are shared, so the gain is modest and the latency of each batch \
                         grows with it"
                    } else {
                        ""
                    }
                )
            } else {
                "is where doubling again stops paying".to_owned()
            },
        ))
        .evidence("config batch_size = 1")
        .evidence(format!(
            "at batch 1 the run is {}; at batch {chosen}, {}",
            simulation.predicted_before.bound().as_str(),
            at_batch.bound().as_str()
        ));
        if !prerequisites.is_empty() {
            suggestion = suggestion.evidence(format!(
                "modelled with {} applied, as the report's other suggestions recommend",
                prerequisites
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" and ")
            ));
        }
        if workload.model.generates() && !training {
            let (_, per_token) = at_batch.range(|t| t.per_token_seconds);
            suggestion = suggestion.evidence(format!(
                "time per generated token at batch {chosen}: up to {} (hold it against your latency budget)",
                advisor_model::seconds_text(per_token)
            ));
        }
        // The plan gets only the batch: the prerequisites are other rules' changes.
        let mut suggestion =
            facts::with_simulation(suggestion, &[Change::BatchSize(chosen)], &simulation);
        suggestion
            .expected_improvement
            .retain(|i| i.metric != ImprovementMetric::Memory);
        // A longer step that carries more samples is the trade, not a cost: in training keep
        // no regression; in serving only the time per token, which continuous batching keeps
        // (its prefill is chunked and interleaved, not one batch-wide prefill as modelled).
        suggestion = facts::keep_regressions(suggestion, |warning| {
            !training && warning.contains("time per token")
        });
        suggestion = if training {
            suggestion
                .step(format!("Raise the per-device batch to {chosen}; if it does not fit, use gradient accumulation to reach the same effective batch."))
                .step("Scale the learning rate with the batch (linear scaling with warm-up) and re-check convergence.")
                .code("python", format!("loader = DataLoader(dataset, batch_size={chosen}, shuffle=True, num_workers=4, pin_memory=True)"))
                .warning("A larger batch changes training dynamics: tune the learning rate and warm-up.")
        } else if cpu && workload.model.generates() {
            suggestion
                .step(format!("Decode up to {chosen} sequences together: a CPU serving engine with continuous batching (vLLM's CPU backend with max_num_seqs={chosen}, or llama.cpp's server with --parallel {chosen}), or generate() on a padded batch."))
                .step("Keep the KV cache on: each step then reads the weights once for the whole batch.")
                .code("python", format!("inputs = tokenizer(prompts[:{chosen}], padding=True, return_tensors=\"pt\")  # tokenizer.padding_side = \"left\"\nwith torch.inference_mode():\n    out = model.generate(**inputs, max_new_tokens=256, use_cache=True)"))
                .warning("Each step serves the whole batch: the time per token of every sequence grows with it; keep it within your latency budget.")
        } else if cpu || !workload.model.generates() {
            suggestion
                .step(format!("Batch up to {chosen} requests per forward in the server: dynamic batching with a short queue delay (TorchServe's batch_size and max_batch_delay, Triton's dynamic_batching, or your own queue)."))
                .step("Pad each batch to its longest input, not to the model maximum, and group requests of similar length.")
                .code("python", format!("batch = tokenizer(texts[:{chosen}], padding=\"longest\", truncation=True, return_tensors=\"pt\")\nwith torch.inference_mode():\n    out = model(**batch)"))
                .warning("Each batch takes longer than one request: the latency of a request grows with the batch and the queue delay; keep both within your latency budget.")
        } else {
            suggestion
                .step(format!("Serve with continuous batching (vLLM, TGI, TensorRT-LLM, SGLang) and let up to {chosen} sequences share each step; this is what the modelled gain assumes."))
                .step("Static batches padded to the longest request lose part of the gain; bucket by length if you batch by hand.")
                .code("python", format!("from vllm import LLM, SamplingParams\n\nllm = LLM(model=name, max_num_seqs={chosen})  # continuous batching, paged KV cache\noutputs = llm.generate(prompts, SamplingParams(max_tokens=256))"))
                .warning("Per-request latency grows with the batch; keep it within your latency budget.")
        };
        Ok(vec![suggestion])
    }
}

/// Below this compute share of the GPU time (percent) a trace shows an underfed GPU.
const LOW_COMPUTE_PCT: f64 = 50.0;

/// A PyTorch profiler trace whose GPU computes less than half the time, with many short
/// kernels, and whose idle is host starvation: the batch is too small to keep the GPU busy
/// (any configured batch size). Idle that is mostly the main stream waiting on other streams
/// or collectives (HTA's idle-time breakdown: kernel wait and other, not host wait) is not a
/// small batch, and the claim is at most the host-wait idle.
fn low_utilization_from_trace(context: &AnalysisContext) -> Option<OptimizationSuggestion> {
    /// Under this share of the main stream's idle spent waiting for the host, the idle is not
    /// starvation (HTA's idle-time breakdown).
    const HOST_WAIT_SHARE: f64 = 0.5;
    let trace = context.profile_results.as_ref()?.trace.as_ref()?;
    let breakdown = trace.gpu_breakdown.as_ref()?;
    let launches = trace.kernel_launches.as_ref()?;
    if breakdown.compute_pct.is_nan()
        || breakdown.compute_pct >= LOW_COMPUTE_PCT
        || breakdown.kernel_time_us <= 0.0
    {
        return None;
    }
    let short_share = launches.short_kernels as f64 / launches.kernels.max(1) as f64;
    if short_share < 0.5 {
        return None;
    }
    let host_wait_share = super::gpu_idle::host_wait_share_of_idle(trace);
    if host_wait_share.is_some_and(|share| share < HOST_WAIT_SHARE) {
        return None;
    }
    let pool = (breakdown.idle_pct / 100.0).clamp(0.0, 1.0);
    let idle = super::gpu_idle::host_wait_pool(trace).unwrap_or(pool);
    let source = trace.source.as_deref().unwrap_or("the trace");
    Some(
        OptimizationSuggestion::new(
            "batch_size",
            Category::Compute,
            facts::impact_from_reduction(idle),
            Difficulty::Easy,
            "Raise the batch size: the GPU is underused",
        )
        .evidence(format!(
            "{source}: the GPU computes {:.1} % and idles {:.1} % of {:.1} ms",
            breakdown.compute_pct,
            breakdown.idle_pct,
            breakdown.kernel_time_us / 1000.0
        ))
        .evidence(format!(
            "{} of {} kernels ({}) run under {:.0} µs: each does little work",
            launches.short_kernels,
            launches.kernels,
            facts::percent(short_share),
            launches.short_kernel_threshold_us
        ))
        .evidence(host_wait_share.map_or_else(
            || "the trace has no idle-time breakdown to say what the GPU waits for".to_owned(),
            |share| {
                format!(
                    "{} of the main stream's idle time waits for the host to launch work (HTA's idle-time breakdown)",
                    facts::percent(share)
                )
            },
        ))
        .slack(SlackClaim {
            pool: SlackPool::GpuIdle,
            pool_fraction: pool,
            min_fraction: 0.0,
            max_fraction: idle,
        })
        .improvement(ExpectedImprovement::new(
            ImprovementMetric::Throughput,
            0.0,
            idle,
            if host_wait_share.is_some() {
                format!(
                    "upper bound: a larger batch does more work per kernel and can fill the GPU idle time spent waiting for the host ({} of the span, of {} idle); a claim on the GPU-idle pool, shared with the other trace rules",
                    facts::percent(idle),
                    facts::percent(pool)
                )
            } else {
                format!(
                    "upper bound: a larger batch does more work per kernel and can fill the GPU idle share of the trace ({}); a claim on the GPU-idle pool, shared with the other trace rules",
                    facts::percent(idle)
                )
            },
        ))
        .description(
            "The trace shows short kernels and a GPU that is often idle: each step gives it too little work. \
             A larger batch amortizes launch and framework overhead over more samples.",
        )
        .step("Double the batch size while memory allows, and re-profile the GPU idle and compute shares.")
        .step("For training, scale the learning rate with the batch (or keep the batch and accumulate gradients).")
        .warning("A larger batch raises per-request latency in serving and changes training dynamics."),
    )
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::rules::test_support::{
        advise, bert_base, breakdown, context, cpu, gpt2, llama_2_7b, roberta_base, target,
        with_trace,
    };

    #[test]
    fn bert_serving_at_batch_1_on_a_cpu_measured_at_180_ms() {
        // The recorded pair's shape: BERT-base at 128 tokens, measured slower than the
        // roofline, so the model is fitted to it; batching buys little on a CPU.
        let mut context = context(
            bert_base(),
            cpu(2),
            json!({ "mode": "inference", "batch_size": "1", "seq_len": "128", "device": "cpu" }),
        );
        context["latency_metrics"] = json!({ "mean_ms": 180.0 });
        expect![[r#"
            batch_size · compute · impact medium · difficulty easy
            title: Raise the batch size from 1 to 8
            description: At batch size 1 every step pays its fixed costs (reading every weight, dispatching every operator) for one sample's worth of work. By the model, batch 8 fits in memory (435.6 MiB of 64.0 GiB) and comes within 2 % of the best throughput any batch up to 64 reaches: on a CPU the FLOPs, which dominate, grow with the batch and only the weight reads and the per-operator dispatch are shared, so the gain is modest and the latency of each batch grows with it.
            changes: batch size 8
            expected:
            - throughput ×1.1 [0.083, 0.126]: model: request time per sequence 188.6 ms–301.3 ms → 171.1 ms–269.1 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - config batch_size = 1
            - at batch 1 the run is compute-bound; at batch 8, compute-bound
            steps:
            - Batch up to 8 requests per forward in the server: dynamic batching with a short queue delay (TorchServe's batch_size and max_batch_delay, Triton's dynamic_batching, or your own queue).
            - Pad each batch to its longest input, not to the model maximum, and group requests of similar length.
            code: python
            warnings:
            - Each batch takes longer than one request: the latency of a request grows with the batch and the queue delay; keep both within your latency budget.
        "#]]
        .assert_eq(&advise("batch_size", context));
    }

    #[test]
    fn gpt2_decoding_at_batch_1_in_fp16_on_an_l4() {
        expect![[r#"
            batch_size · compute · impact high · difficulty easy
            title: Raise the batch size from 1 to 64
            description: At batch size 1 every step pays its fixed costs (reading every weight, launching every kernel) for one sample's worth of work. By the model, batch 64 fits in memory (2.7 GiB of 24.0 GiB) and is where doubling again stops paying.
            changes: batch size 64
            expected:
            - throughput ×8.1–8.3 [0.876, 0.880]: model: request time per sequence 528.6 ms–795.2 ms → 64.0 ms–98.4 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - config batch_size = 1
            - at batch 1 the run is memory-bound; at batch 64, memory-bound
            - time per generated token at batch 64: up to 11.7 ms (hold it against your latency budget)
            steps:
            - Serve with continuous batching (vLLM, TGI, TensorRT-LLM, SGLang) and let up to 64 sequences share each step; this is what the modelled gain assumes.
            - Static batches padded to the longest request lose part of the gain; bucket by length if you batch by hand.
            code: python
            warnings:
            - The model predicts time per token +657 % in the worst case.
            - Per-request latency grows with the batch; keep it within your latency budget.
        "#]].assert_eq(&advise(
            "batch_size",
            context(
                gpt2(),
                target("nvidia-l4"),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "1024", "engine": "vllm",
                        "precision": "fp16" }),
            ),
        ));
    }

    #[test]
    fn llama_2_7b_serving_4096_token_contexts_at_batch_1_on_an_a100_80gb() {
        expect![[r#"
            batch_size · compute · impact high · difficulty easy
            title: Raise the batch size from 1 to 16
            description: At batch size 1 every step pays its fixed costs (reading every weight, launching every kernel) for one sample's worth of work. By the model, batch 16 fits in memory (45.7 GiB of 80.0 GiB) and is where doubling again stops paying.
            changes: batch size 16
            expected:
            - throughput ×4.0–4.6 [0.753, 0.783]: model: request time per sequence 4.46 s–6.87 s → 1.01 s–1.68 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - config batch_size = 1
            - at batch 1 the run is memory-bound; at batch 16, memory-bound
            - modelled with fused (flash) attention applied, as the report's other suggestions recommend
            - time per generated token at batch 16: up to 37.3 ms (hold it against your latency budget)
            steps:
            - Serve with continuous batching (vLLM, TGI, TensorRT-LLM, SGLang) and let up to 16 sequences share each step; this is what the modelled gain assumes.
            - Static batches padded to the longest request lose part of the gain; bucket by length if you batch by hand.
            code: python
            warnings:
            - The model predicts time per token +199 % in the worst case.
            - Per-request latency grows with the batch; keep it within your latency budget.
        "#]].assert_eq(&advise(
            "batch_size",
            context(
                llama_2_7b(),
                target("nvidia-a100-80gb"),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "4096", "engine": "vllm",
                        "precision": "fp16", "flash_attention": "false" }),
            ),
        ));
    }

    #[test]
    fn roberta_fine_tuning_at_batch_1_on_an_a100_80gb() {
        expect![[r#"
            batch_size · compute · impact high · difficulty easy
            title: Raise the batch size from 1 to 8
            description: At batch size 1 every step pays its fixed costs (reading every weight, launching every kernel, the optimizer step) for one sample's worth of work. By the model, batch 8 fits in memory (3.6 GiB of 80.0 GiB) and is where doubling again stops paying.
            changes: batch size 8
            expected:
            - throughput ×2.0–5.5 [0.499, 0.819]: model: step time per sample 4.3 ms–27.4 ms → 2.2 ms–5.0 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - config batch_size = 1
            - at batch 1 the run is compute-bound; at batch 8, compute-bound
            steps:
            - Raise the per-device batch to 8; if it does not fit, use gradient accumulation to reach the same effective batch.
            - Scale the learning rate with the batch (linear scaling with warm-up) and re-check convergence.
            code: python
            warnings:
            - A larger batch changes training dynamics: tune the learning rate and warm-up.
        "#]].assert_eq(&advise(
            "batch_size",
            context(
                roberta_base(),
                target("nvidia-a100-80gb"),
                json!({ "mode": "training", "batch_size": "1", "seq_len": "512",
                        "precision": "bf16" }),
            ),
        ));
    }

    #[test]
    fn a_trace_of_an_underfed_gpu_running_short_kernels() {
        let trace = json!({
            "source": "step.json",
            "gpu_breakdown": breakdown(55.0, 35.0, 0.0, 10.0),
            "kernel_launches": { "kernels": 12_000, "matched": 12_000, "shorter_than_launch": 6_000,
                                 "short_kernels": 9_000, "short_kernel_threshold_us": 20.0,
                                 "short_kernel_time_us": 60_000.0, "kernel_time_us": 90_000.0 },
        });
        let mut context = with_trace(trace);
        context["current_config"] = json!({ "mode": "training", "batch_size": "8" });
        expect![[r#"
            batch_size · compute · impact high · difficulty easy
            title: Raise the batch size: the GPU is underused
            description: The trace shows short kernels and a GPU that is often idle: each step gives it too little work. A larger batch amortizes launch and framework overhead over more samples.
            expected:
            - throughput ×1.0–2.2 [0.000, 0.550]: upper bound: a larger batch does more work per kernel and can fill the GPU idle share of the trace (55.0 %); a claim on the GPU-idle pool, shared with the other trace rules
            evidence:
            - step.json: the GPU computes 35.0 % and idles 55.0 % of 100.0 ms
            - 9000 of 12000 kernels (75.0 %) run under 20 µs: each does little work
            - the trace has no idle-time breakdown to say what the GPU waits for
            steps:
            - Double the batch size while memory allows, and re-profile the GPU idle and compute shares.
            - For training, scale the learning rate with the batch (or keep the batch and accumulate gradients).
            warnings:
            - A larger batch raises per-request latency in serving and changes training dynamics.
            slack: SlackClaim { pool: GpuIdle, pool_fraction: 0.55, min_fraction: 0.0, max_fraction: 0.55 }
        "#]].assert_eq(&advise("batch_size", context));
    }

    /// A trace of short kernels at 55 % idle whose main stream (7) idles `host_wait` ms
    /// waiting for the host and `other` ms on other streams and collectives.
    fn starved_trace(host_wait: f64, other: f64) -> serde_json::Value {
        let mut context = with_trace(json!({
            "gpu_breakdown": breakdown(55.0, 35.0, 0.0, 10.0),
            "kernel_launches": { "kernels": 12_000, "matched": 12_000, "shorter_than_launch": 6_000,
                                 "short_kernels": 9_000, "short_kernel_threshold_us": 20.0,
                                 "short_kernel_time_us": 60_000.0, "kernel_time_us": 90_000.0 },
            "queue_length": [ { "stream": 7, "mean": 3.0, "max": 40, "busy_pct": 90.0, "gpu_time_us": 40_000.0 } ],
            "idle_breakdown": [ { "stream": 7, "host_wait_us": host_wait * 1000.0, "kernel_wait_us": 0.0,
                                  "other_us": other * 1000.0 } ],
        }));
        context["current_config"] = json!({ "mode": "training", "batch_size": "8" });
        context
    }

    #[test]
    fn idle_waiting_on_other_streams_is_not_a_small_batch() {
        // 55 % idle, but the main stream mostly waits on other streams and collectives.
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise("batch_size", starved_trace(10.0, 45.0)));
    }

    #[test]
    fn host_starvation_claims_the_host_wait_idle() {
        expect![[r#"
            batch_size · compute · impact high · difficulty easy
            title: Raise the batch size: the GPU is underused
            description: The trace shows short kernels and a GPU that is often idle: each step gives it too little work. A larger batch amortizes launch and framework overhead over more samples.
            expected:
            - throughput ×1.0–1.7 [0.000, 0.400]: upper bound: a larger batch does more work per kernel and can fill the GPU idle time spent waiting for the host (40.0 % of the span, of 55.0 % idle); a claim on the GPU-idle pool, shared with the other trace rules
            evidence:
            - the trace: the GPU computes 35.0 % and idles 55.0 % of 100.0 ms
            - 9000 of 12000 kernels (75.0 %) run under 20 µs: each does little work
            - 72.7 % of the main stream's idle time waits for the host to launch work (HTA's idle-time breakdown)
            steps:
            - Double the batch size while memory allows, and re-profile the GPU idle and compute shares.
            - For training, scale the learning rate with the batch (or keep the batch and accumulate gradients).
            warnings:
            - A larger batch raises per-request latency in serving and changes training dynamics.
            slack: SlackClaim { pool: GpuIdle, pool_fraction: 0.55, min_fraction: 0.0, max_fraction: 0.4 }
        "#]]
        .assert_eq(&advise("batch_size", starved_trace(40.0, 15.0)));
    }
}
