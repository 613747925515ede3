//! `gradient_checkpointing`: training close to the device's memory limit.
//!
//! ## What it checks
//! Training, gradient checkpointing not already on, and peak memory above 80 % of the memory
//! of the device the model trains on.
//!
//! ## Why it matters
//! Training keeps every layer's activations for the backward pass: about
//! `s · b · h · (34 + 5 · a · s / h)` bytes per layer at 16 bits (Korthikanti et al., 2022,
//! "Reducing Activation Recomputation in Large Transformer Models"). Checkpointing each layer
//! keeps only its `2 · s · b · h`-byte input and recomputes the rest, at the cost of one more
//! forward pass (about a third more compute).
//!
//! ## When it stays silent
//! Inference, checkpointing on, or peak memory at most 80 % of the device. Without the peak or
//! the device memory it says what it needs.
//!
//! ## Example
//! Fine-tuning a 7B model at 95 % of an 80 GB GPU.

use advisor_core::{
    Category, Difficulty, ExpectedImprovement, Impact, ImprovementMetric, Mode, OptimizationRule,
    OptimizationSuggestion, RuleError, RuleInput,
};

use crate::facts;

/// Peak memory above this share of the device is "near the limit".
const HIGH_MEMORY_SHARE: f64 = 0.8;

/// See the module documentation.
pub(crate) struct GradientCheckpointing;

impl OptimizationRule for GradientCheckpointing {
    fn id(&self) -> &str {
        "gradient_checkpointing"
    }

    fn category(&self) -> Category {
        Category::Memory
    }

    fn description(&self) -> &str {
        "Training with peak memory above 80 % of the device: recompute activations instead of storing them"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let context = input.context;
        let config = context.run_config()?;
        if config.mode == Some(Mode::Inference) || config.gradient_checkpointing == Some(true) {
            return Ok(Vec::new());
        }
        let peak = context
            .memory_metrics
            .as_ref()
            .and_then(|m| m.peak_bytes)
            .ok_or_else(|| RuleError::MissingFacts("memory_metrics.peak_bytes".to_owned()))?;
        let on_gpu = input.facts.on_gpu()?;
        let device_source = input
            .facts
            .run
            .on_gpu
            .as_ref()
            .map(|fact| fact.source.to_string())
            .unwrap_or_default();
        let memory_fact = input.facts.device_memory()?;
        let memory = memory_fact.value;
        let memory_source = format!(
            "{} of {} ({})",
            facts::bytes_text(memory),
            if on_gpu {
                "GPU memory"
            } else {
                "system memory"
            },
            memory_fact.source
        );
        let share = peak as f64 / memory as f64;
        if share <= HIGH_MEMORY_SHARE {
            return Ok(Vec::new());
        }
        if config.mode.is_none() {
            return Err(RuleError::MissingFacts(
                "config mode (checkpointing applies to training only)".to_owned(),
            ));
        }
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Memory,
            Impact::High,
            Difficulty::Easy,
            "Turn on gradient checkpointing",
        )
        .description(
            "Training stores every layer's activations for the backward pass. Checkpointing keeps only each layer's input \
             and recomputes the rest during backward, trading about a third more compute for most of the activation memory.",
        )
        .evidence(format!(
            "peak memory {} is {} of {} (> {})",
            facts::bytes_text(peak),
            facts::percent(share),
            facts::bytes_text(memory),
            facts::percent(HIGH_MEMORY_SHARE)
        ))
        .evidence(memory_source)
        .evidence(device_source)
        .evidence(match config.gradient_checkpointing {
            Some(false) => "config gradient_checkpointing = false",
            _ => "gradient_checkpointing not set",
        });
        if let Some(model) = &context.model_graph
            && let (Some(hidden), Some(heads), Some(layers)) = (
                model.facts.hidden_size,
                model.facts.attention_heads,
                model.facts.layers,
            )
            && let Some((seq_len, _)) = context.sequence_length(&config)
        {
            let (s, h, a) = (seq_len as f64, hidden as f64, heads as f64);
            let batch = config.batch_size.unwrap_or(1) as f64;
            // Bytes per layer at 16 bits, scaled to the run's precision.
            let precision = input.facts.run.compute.value;
            let scale = precision.bytes_per_element() / 2.0;
            let stored = s * batch * h * (34.0 + 5.0 * a * s / h) * scale;
            let kept = 2.0 * s * batch * h * scale;
            let activations = stored * layers as f64;
            let saved = (stored - kept) * layers as f64;
            let fraction = (saved / peak as f64).min(0.9);
            suggestion.impact = if fraction >= 0.3 {
                Impact::High
            } else {
                Impact::Medium
            };
            suggestion = suggestion.improvement(ExpectedImprovement::new(
                ImprovementMetric::Memory,
                fraction / 2.0,
                fraction,
                format!(
                    "activations ≈ {} ({layers} layers × s·b·h·(34 + 5·a·s/h) bytes, Korthikanti et al. 2022); checkpointing keeps {} of them, \
                     saving up to {} of the {} peak; the lower end allows for a partial checkpointing policy",
                    facts::float_bytes_text(activations),
                    facts::float_bytes_text(kept * layers as f64),
                    facts::percent(fraction),
                    facts::bytes_text(peak)
                ),
            ));
        }
        Ok(vec![suggestion
            .step("Hugging Face models: call model.gradient_checkpointing_enable() (and set use_cache=False during training).")
            .step("Own modules: wrap each transformer block in torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False).")
            .step("Spend the freed memory on a larger batch or longer sequences.")
            .code("python", "model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={\"use_reentrant\": False})")
            .code("python", "from torch.utils.checkpoint import checkpoint\nfor block in self.blocks:\n    x = checkpoint(block, x, use_reentrant=False)")
            .warning("Each step recomputes the forward pass: expect about 33 % more compute per step (one forward on top of forward + backward ≈ 3 forwards).")])
    }
}
