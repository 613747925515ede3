//! `batch_size`: batch size 1 on a GPU with memory to spare.
//!
//! ## What it checks
//! The configured batch size is 1, the model runs on a GPU, and the GPU's memory has room for
//! at least two samples: measured peak memory (`memory_metrics.peak_bytes`), or, for
//! inference, an estimate from the model (weights plus per-sample KV cache and attention
//! scores).
//!
//! ## Why it matters
//! At batch 1 a forward pass reads every weight once for one sample's worth of arithmetic, so
//! the GPU mostly waits on memory. By the roofline model, a step takes
//! `max((weight bytes + b · KV-cache bytes) / bandwidth, b · FLOPs / peak FLOP/s)` with
//! `2 · N` FLOPs per token (`6 · N` when training), so batching `b` samples multiplies
//! throughput by `b · t(1) / t(b)` until the step becomes compute-bound; each decoding
//! sequence also reads its own KV cache, which batching does not share. The bandwidth and peak figures
//! come from the accelerator table for the detected GPU.
//!
//! Independently of the configured batch size, a PyTorch profiler trace where the GPU computes
//! less than half of the time and at least half of the kernels are short (under 20 µs) also
//! fires: the step gives the GPU too little work.
//!
//! ## When it stays silent
//! Batch size unset or above 1, a CPU run, or no room for a second sample. Without the device
//! or its memory it says what it needs.
//!
//! ## Example
//! GPT-2 decoding at batch 1 on an A100 80GB: the weights use under 1 % of memory and decode is
//! memory-bound.

use advisor_core::{
    AnalysisContext, Category, Difficulty, ExpectedImprovement, Impact, ImprovementMetric, Mode,
    ModelGraph, OptimizationRule, OptimizationSuggestion, RuleError, RuleInput, RunConfig,
};

use crate::facts;

/// Share of device memory a larger batch may plan to use; the rest absorbs fragmentation and
/// framework overhead.
const USABLE_MEMORY: f64 = 0.9;
/// Largest batch the rule suggests; beyond this, latency per request dominates.
const MAX_SUGGESTED_BATCH: u64 = 256;

/// See the module documentation.
pub(crate) struct BatchSize;

/// Memory per step: a part that does not grow with the batch and a part per sample.
struct MemoryModel {
    fixed_bytes: f64,
    per_sample_bytes: f64,
    basis: String,
}

fn memory_model(
    context: &AnalysisContext,
    config: &RunConfig,
    model: Option<&ModelGraph>,
) -> Result<MemoryModel, RuleError> {
    let training = config.mode == Some(Mode::Training);
    let (precision, _) = facts::weight_precision_or_default(context, config);
    let weight_bytes = model
        .and_then(|m| m.parameter_count())
        .map(|p| p as f64 * precision.bytes_per_element());
    let peak = context.memory_metrics.as_ref().and_then(|m| m.peak_bytes);
    if let Some(peak) = peak {
        let peak = peak as f64;
        // In inference the weights are the fixed part; training adds gradients and optimizer
        // state whose size depends on the optimizer, so everything is assumed to scale.
        return Ok(match weight_bytes {
            Some(weights) if !training && peak > weights => MemoryModel {
                fixed_bytes: weights,
                per_sample_bytes: peak - weights,
                basis: format!(
                    "measured peak {} = weights {} + {} per sample",
                    facts::float_bytes_text(peak),
                    facts::float_bytes_text(weights),
                    facts::float_bytes_text(peak - weights)
                ),
            },
            _ => MemoryModel {
                fixed_bytes: 0.0,
                per_sample_bytes: peak,
                basis: format!(
                    "measured peak {}, assumed to grow in proportion to the batch (an upper bound)",
                    facts::float_bytes_text(peak)
                ),
            },
        });
    }
    if training {
        return Err(RuleError::MissingFacts(
            "memory_metrics.peak_bytes (training memory depends on the optimizer)".to_owned(),
        ));
    }
    let missing = || {
        RuleError::MissingFacts(
            "memory_metrics.peak_bytes, or a model with its parameter count".to_owned(),
        )
    };
    let model = model.ok_or_else(missing)?;
    let weights = weight_bytes.ok_or_else(missing)?;
    let seq_len = context.sequence_length(config).map(|(s, _)| s).unwrap_or(1) as f64;
    let bytes = precision.bytes_per_element();
    let kv = model
        .facts
        .architecture
        .filter(|a| a.generates_autoregressively() && config.kv_cache != Some(false))
        .and_then(|_| model.kv_cache_bytes_per_token(bytes))
        .unwrap_or(0.0)
        * seq_len;
    let scores = model.facts.attention_heads.unwrap_or(0) as f64 * seq_len * seq_len * bytes;
    Ok(MemoryModel {
        fixed_bytes: weights,
        per_sample_bytes: (kv + scores).max(1.0),
        basis: format!(
            "estimated: weights {} + per sample {} of KV cache and {} of one layer's attention scores at {} tokens",
            facts::float_bytes_text(weights),
            facts::float_bytes_text(kv),
            facts::float_bytes_text(scores),
            seq_len
        ),
    })
}

impl OptimizationRule for BatchSize {
    fn id(&self) -> &str {
        "batch_size"
    }

    fn category(&self) -> Category {
        Category::Compute
    }

    fn description(&self) -> &str {
        "Batch size 1 on a GPU with memory headroom: batch more samples per step"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let context = input.context;
        let config = context.run_config()?;
        if config.batch_size != Some(1) {
            return Ok(low_utilization_from_trace(context).into_iter().collect());
        }
        let (on_gpu, device_source) = facts::runs_on_gpu(context, &config)
            .ok_or_else(|| RuleError::MissingFacts("config device or hardware_info".to_owned()))?;
        if !on_gpu {
            return Ok(Vec::new());
        }
        let (memory, memory_source) = facts::device_memory_bytes(context, true)
            .ok_or_else(|| RuleError::MissingFacts("hardware_info.gpu_memory_mb".to_owned()))?;
        let model = context.model_graph.as_ref();
        let usage = memory_model(context, &config, model)?;
        let usable = memory as f64 * USABLE_MEMORY;
        let max_batch = ((usable - usage.fixed_bytes) / usage.per_sample_bytes).floor();
        if !max_batch.is_finite() || max_batch < 2.0 {
            return Ok(Vec::new());
        }
        let max_batch = (max_batch as u64).min(MAX_SUGGESTED_BATCH);
        let mut suggested = 1u64 << (63 - max_batch.leading_zeros());

        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Compute,
            Impact::Medium,
            Difficulty::Easy,
            "Batch more samples per step",
        )
        .evidence("config batch_size = 1")
        .evidence(device_source)
        .evidence(format!(
            "memory fits about {max_batch} samples in {} of {} ({memory_source}); {}",
            facts::percent(USABLE_MEMORY),
            facts::bytes_text(memory),
            usage.basis
        ));

        let roofline = roofline(context, &config, model);
        match roofline {
            Some(roofline) => {
                // No point batching past the point where the step turns compute-bound.
                let saturation = roofline.saturation_batch();
                if saturation.is_finite() && saturation >= 2.0 && (saturation as u64) < suggested {
                    suggested = (saturation.ceil() as u64)
                        .next_power_of_two()
                        .min(suggested);
                }
                let gain = roofline.gain(suggested as f64);
                suggestion = suggestion.evidence(roofline.evidence.clone());
                if gain < 1.05 {
                    suggestion.impact = Impact::Low;
                    suggestion = suggestion.evidence(
                        "by the roofline the step is already compute-bound at batch 1: a larger batch buys kernel efficiency, not bandwidth",
                    );
                } else {
                    let reduction = 1.0 - 1.0 / gain;
                    suggestion.impact = facts::impact_from_reduction(reduction);
                    suggestion = suggestion.improvement(ExpectedImprovement::new(
                        ImprovementMetric::Throughput,
                        reduction,
                        reduction,
                        format!(
                            "roofline: a step takes max((weight bytes + batch × per-sample bytes) / bandwidth, FLOPs / peak); batch {suggested} gives {gain:.1}× the samples per second of batch 1"
                        ),
                    ));
                }
            }
            None => {
                suggestion = suggestion.warning(
                    "The throughput gain is not estimated: it needs the model's parameter count and a GPU from the accelerator table.",
                );
            }
        }
        let training = config.mode == Some(Mode::Training);
        suggestion.title = format!("Raise the batch size from 1 to {suggested}");
        suggestion = suggestion
            .description(format!(
                "At batch size 1 the GPU reads all the weights for one sample's worth of arithmetic. Memory allows about {max_batch} samples; \
                 batch {suggested} uses the spare memory to do more work per weight read."
            ));
        suggestion = if training {
            suggestion
                .step(format!("Raise the per-device batch to {suggested}; if it does not fit, use gradient accumulation to reach the same effective batch."))
                .step("Scale the learning rate with the batch (linear scaling with warm-up) and re-check convergence.")
                .code("python", format!("loader = DataLoader(dataset, batch_size={suggested}, shuffle=True, num_workers=4, pin_memory=True)"))
                .warning("A larger batch changes training dynamics: tune the learning rate and warm-up.")
        } else {
            suggestion
                .step(format!("Group concurrent requests into batches of up to {suggested} (dynamic batching with a short timeout)."))
                .step("For generation, use continuous batching (vLLM, TGI, TensorRT-LLM) so finished sequences leave the batch.")
                .step("Pad to similar lengths or bucket by length so padding does not waste the gain.")
                .code("python", format!("# Dynamic batching: collect up to {suggested} requests or wait at most 5 ms\nbatch = tokenizer(texts[:{suggested}], padding=True, return_tensors=\"pt\").to(\"cuda\")\nwith torch.inference_mode():\n    out = model(**batch)"))
                .warning("Per-request latency grows with the batch; keep it within your latency budget.")
        };
        Ok(vec![suggestion])
    }
}

/// Below this compute share of the GPU time (percent) a trace shows an underfed GPU.
const LOW_COMPUTE_PCT: f64 = 50.0;

/// A PyTorch profiler trace whose GPU computes less than half the time, with many short
/// kernels: the batch is too small to keep the GPU busy (any configured batch size).
fn low_utilization_from_trace(context: &AnalysisContext) -> Option<OptimizationSuggestion> {
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
    let idle = breakdown.idle_pct / 100.0;
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
        .improvement(ExpectedImprovement::new(
            ImprovementMetric::Throughput,
            0.0,
            idle,
            format!(
                "upper bound: a larger batch does more work per kernel and can fill the GPU idle share of the trace ({})",
                facts::percent(idle)
            ),
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

/// The roofline of one step at batch `b`:
/// `max((weight bytes + b · per-sample bytes) / bandwidth, b · FLOPs per sample / peak)`.
struct Roofline {
    fixed_memory_seconds: f64,
    memory_seconds_per_sample: f64,
    compute_seconds_per_sample: f64,
    evidence: String,
}

impl Roofline {
    fn step_seconds(&self, batch: f64) -> f64 {
        (self.fixed_memory_seconds + self.memory_seconds_per_sample * batch)
            .max(self.compute_seconds_per_sample * batch)
    }

    fn gain(&self, batch: f64) -> f64 {
        batch * self.step_seconds(1.0) / self.step_seconds(batch)
    }

    /// The batch beyond which more samples no longer share the weight reads: where compute
    /// time catches up with memory time.
    fn saturation_batch(&self) -> f64 {
        let per_sample_gap = self.compute_seconds_per_sample - self.memory_seconds_per_sample;
        if per_sample_gap <= 0.0 {
            f64::INFINITY
        } else {
            self.fixed_memory_seconds / per_sample_gap
        }
    }
}

fn roofline(
    context: &AnalysisContext,
    config: &RunConfig,
    model: Option<&ModelGraph>,
) -> Option<Roofline> {
    let model = model?;
    let facts::GpuFacts::Present(gpu) = facts::gpu(context) else {
        return None;
    };
    let accelerator = gpu.accelerator?;
    let (precision, _) = facts::weight_precision_or_default(context, config);
    let peak = facts::peak_flops_per_second(accelerator, precision)?;
    let bandwidth = accelerator.memory_bandwidth_bytes_per_second;
    let parameters = model.parameter_count()? as f64;
    let active = model
        .facts
        .active_parameters
        .map_or(parameters, |a| a as f64);
    let training = config.mode == Some(Mode::Training);
    let decoding = !training
        && model
            .facts
            .architecture
            .is_some_and(|a| a.generates_autoregressively());
    // Tokens one sample pushes through a step: one per decode step, the whole sequence for
    // an encoder forward or a training step.
    let tokens = if decoding {
        1.0
    } else {
        context.sequence_length(config).map(|(s, _)| s as f64)?
    };
    // Forward: 2 FLOPs per parameter and token; training adds the backward pass (2×).
    let flops_per_sample = if training { 6.0 } else { 2.0 } * active * tokens;
    // Training reads the weights in the forward and backward passes and writes gradients.
    let weight_reads = if training { 3.0 } else { 1.0 };
    let fixed_memory_seconds =
        weight_reads * parameters * precision.bytes_per_element() / bandwidth;
    // Each decode step also reads every sequence's KV cache: at the full context length this
    // is the per-sample memory traffic that batching does not share.
    let kv_bytes = if decoding && config.kv_cache != Some(false) {
        let context_tokens = context
            .sequence_length(config)
            .map_or(0.0, |(s, _)| s as f64);
        model
            .kv_cache_bytes_per_token(precision.bytes_per_element())
            .unwrap_or(0.0)
            * context_tokens
    } else {
        0.0
    };
    let memory_seconds_per_sample = kv_bytes / bandwidth;
    let compute_seconds_per_sample = flops_per_sample / peak;
    let evidence = format!(
        "{}: {:.0} GB/s, {:.0} TFLOP/s dense at {precision}; per {}: weight reads {:.3} ms, plus per sample {:.3} ms of KV-cache reads and {:.3} ms of compute",
        accelerator.name,
        bandwidth / 1e9,
        peak / 1e12,
        if decoding { "decode step" } else { "step" },
        fixed_memory_seconds * 1e3,
        memory_seconds_per_sample * 1e3,
        compute_seconds_per_sample * 1e3
    );
    (fixed_memory_seconds > 0.0 && compute_seconds_per_sample > 0.0).then_some(Roofline {
        fixed_memory_seconds,
        memory_seconds_per_sample,
        compute_seconds_per_sample,
        evidence,
    })
}
