//! `speculative_decoding`: a large decoder served at small batch on a GPU, where decoding is
//! memory-bound and verifying several drafted tokens costs about as much as making one.
//!
//! ## What it checks
//! A decoder (or encoder-decoder) of at least 1 B parameters runs inference at batch size
//! `b` (config `batch_size`, else `throughput_metrics.avg_batch_size`) on a GPU from the
//! accelerator table, and verifying `k + 1 = 5` tokens per sequence keeps the step
//! memory-bound: `2 · b · (k + 1) / bytes per weight` FLOP per byte stays below the GPU's
//! ridge point `peak FLOP/s / bandwidth`.
//!
//! ## Why it matters
//! A memory-bound decode step reads every weight to produce one token per sequence. A small
//! draft model proposes `k` tokens and the target verifies them in one step; with a
//! per-token acceptance rate `α` a step yields `(1 − α^(k+1)) / (1 − α)` tokens and costs
//! `1 + k · c`, where `c` is the draft's share of the target's weight bytes (a draft of at
//! most 5 % of the parameters). The latency per token falls by `1 − (1 + k · c) · (1 − α) /
//! (1 − α^(k+1))`; the range uses `α` from 0.6 to 0.8, what Leviathan et al. (2023) and
//! Chen et al. (2023) report for same-family drafts on chat and code.
//!
//! ## When it stays silent
//! Encoder-only models, training, models under 1 B parameters (no draft is small enough to
//! pay for itself), CPU runs, and batches large enough that verification turns the step
//! compute-bound. Without the mode, the batch size, the GPU or the precision it says what it
//! needs.
//!
//! ## Example
//! Llama-2-7B in fp16 at batch 1 on an A100: verification at 5 FLOP/B is far below the
//! ridge at 153 FLOP/B, so a 68M–350M draft cuts latency per token by about 48–64 %.

use advisor_core::{
    Category, Difficulty, ExpectedImprovement, Impact, ImprovementMetric, Mode, OptimizationRule,
    OptimizationSuggestion, RuleError, RuleInput,
};

/// Tokens the draft proposes per step.
const DRAFT_TOKENS: u32 = 4;
/// The draft's share of the target's weight bytes.
const DRAFT_SHARE: f64 = 0.05;
/// Per-token acceptance rates of a same-family draft, low and high.
const ACCEPTANCE: (f64, f64) = (0.6, 0.8);
/// Smallest target for which a draft of [`DRAFT_SHARE`] is worth running.
const MIN_PARAMETERS: u64 = 1_000_000_000;

/// See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpeculativeDecoding;

impl OptimizationRule for SpeculativeDecoding {
    fn id(&self) -> &str {
        "speculative_decoding"
    }

    fn category(&self) -> Category {
        Category::Architecture
    }

    fn description(&self) -> &str {
        "A large decoder decoding memory-bound at small batch on a GPU: draft tokens with a small model and verify them in one step"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let context = input.context;
        let config = input.config;
        let model = context.model_graph.as_ref().ok_or_else(|| {
            RuleError::MissingFacts("model_graph (architecture and parameters)".into())
        })?;
        let architecture = model
            .facts
            .architecture
            .ok_or_else(|| RuleError::MissingFacts("model_graph.facts.architecture".into()))?;
        if !architecture.generates_autoregressively() {
            return Ok(Vec::new());
        }
        match config.mode {
            Some(Mode::Training) => return Ok(Vec::new()),
            Some(Mode::Inference) => {}
            None => return Err(RuleError::MissingFacts("current_config.mode".into())),
        }
        let parameters = model
            .parameter_count()
            .ok_or_else(|| RuleError::MissingFacts("model_graph.facts.parameters".into()))?;
        if parameters < MIN_PARAMETERS {
            return Ok(Vec::new());
        }
        let (batch, batch_basis) = match (
            config.batch_size,
            context
                .throughput_metrics
                .as_ref()
                .and_then(|t| t.avg_batch_size),
        ) {
            (Some(batch), _) => (batch as f64, format!("config batch_size = {batch}")),
            (None, Some(average)) if average.is_finite() && average > 0.0 => {
                (average, format!("measured average batch size {average:.1}"))
            }
            _ => {
                return Err(RuleError::MissingFacts(
                    "current_config.batch_size or throughput_metrics.avg_batch_size".into(),
                ));
            }
        };
        // GPU figures come from the host's resolved facts (its accelerator table), so this
        // plugin gives the same answer as a built-in rule whatever table it was built with.
        let facts = input.facts;
        let Some((_, accelerator)) = facts.run_gpu_spec().map_err(RuleError::from)? else {
            return Ok(Vec::new());
        };
        let precision = facts.run.compute.value;
        let bytes_per_weight = facts.run.weights.value.bits_per_weight() / 8.0;
        let bandwidth = accelerator.memory_bandwidth_bytes_per_second;
        let peak = accelerator.peak.for_precision(precision).unwrap_or(0.0);
        if !(bandwidth > 0.0 && peak > 0.0) {
            return Err(RuleError::MissingFacts(format!(
                "bandwidth and peak FLOP/s at {precision} for {} (the accelerator table has none)",
                accelerator.name
            )));
        }
        let ridge = peak / bandwidth;
        let verify_intensity = 2.0 * batch * f64::from(DRAFT_TOKENS + 1) / bytes_per_weight;
        if verify_intensity >= ridge {
            return Ok(Vec::new());
        }
        let reduction = |acceptance: f64| {
            let tokens_per_step =
                (1.0 - acceptance.powi(DRAFT_TOKENS as i32 + 1)) / (1.0 - acceptance);
            let cost_per_step = 1.0 + f64::from(DRAFT_TOKENS) * DRAFT_SHARE;
            1.0 - cost_per_step / tokens_per_step
        };
        let (low, high) = (reduction(ACCEPTANCE.0), reduction(ACCEPTANCE.1));
        let draft_parameters = parameters as f64 * DRAFT_SHARE;
        let impact = if low >= 0.4 {
            Impact::High
        } else {
            Impact::Medium
        };
        let mut suggestion = OptimizationSuggestion::new(
            "speculative_decoding",
            Category::Architecture,
            impact,
            Difficulty::Medium,
            "Use speculative decoding with a small draft model",
        )
        .description(format!(
            "Decoding at batch {batch:.0} on the {} is memory-bound: each step reads all {} of \
             weights for one token per sequence. A draft model of at most {} parameters \
             proposes {DRAFT_TOKENS} tokens and the target verifies them in one step, which \
             costs about as much as generating one.",
            accelerator.name,
            bytes_text(parameters as f64 * bytes_per_weight),
            count_text(draft_parameters),
        ))
        .improvement(ExpectedImprovement::new(
            ImprovementMetric::Latency,
            low,
            high,
            format!(
                "latency per token 1 − (1 + k·c)(1 − α)/(1 − α^(k+1)) with k = {DRAFT_TOKENS} \
                 drafted tokens, draft cost c = {DRAFT_SHARE} of a target step, acceptance α = \
                 {}–{} (Leviathan et al. 2023); verification stays memory-bound at {verify_intensity:.0} \
                 FLOP/B < ridge {ridge:.0} FLOP/B",
                ACCEPTANCE.0, ACCEPTANCE.1
            ),
        ))
        .step(format!(
            "Pick a draft from the same tokenizer family with at most {} parameters",
            count_text(draft_parameters)
        ))
        .step(format!(
            "Enable speculative decoding with {DRAFT_TOKENS} draft tokens and measure the acceptance rate on real traffic"
        ))
        .step("Keep it only where the measured acceptance rate stays above about 0.5")
        .code(
            "python",
            "outputs = model.generate(**inputs, assistant_model=draft_model, max_new_tokens=256)",
        )
        .warning("Gains shrink as the batch grows: at large batch the verification step becomes compute-bound")
        .warning("The draft model needs its own memory and KV cache")
        .evidence(format!(
            "model: {architecture_name}, {} parameters",
            count_text(parameters as f64),
            architecture_name = architecture.as_str()
        ))
        .evidence(batch_basis)
        .evidence(format!(
            "{}: {:.0} GB/s, {:.0} TFLOP/s at {precision} ({})",
            accelerator.name,
            bandwidth / 1e9,
            peak / 1e12,
            accelerator.source
        ));
        if config.kv_cache == Some(false) {
            suggestion = suggestion.warning(
                "Speculative decoding needs the KV cache; kv_cache is false in the config",
            );
        }
        Ok(vec![suggestion])
    }
}

fn bytes_text(bytes: f64) -> String {
    format!("{:.1} GiB", bytes / (1u64 << 30) as f64)
}

fn count_text(count: f64) -> String {
    if count >= 1e9 {
        format!("{:.1} B", count / 1e9)
    } else {
        format!("{:.0} M", count / 1e6)
    }
}
