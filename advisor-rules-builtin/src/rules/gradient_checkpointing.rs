//! `gradient_checkpointing`: training close to the device's memory limit.
//!
//! ## What it checks
//! Training with checkpointing off, whose peak memory (measured, else the performance model's)
//! is above 80 % of the device but fits.
//!
//! ## Why it matters
//! Training keeps every layer's activations for the backward pass: about
//! `s · b · h · (34 + 5 · a · s / h)` bytes per layer at 16 bits (Korthikanti et al. 2022,
//! "Reducing Activation Recomputation in Large Transformer Models"), without the `5as/h` term
//! under flash attention. Checkpointing each layer keeps only its `2 · s · b · h`-byte input and
//! recomputes the rest, at the cost of one more forward pass, which the model prices. With a
//! measured peak, the saving is the model's activation bytes taken from the measurement; when the
//! model's activations could not fit inside the measured peak, the measurement wins and the
//! report says so.
//!
//! ## When it stays silent
//! Inference, checkpointing on, a peak at most 80 % of the device, or a run that does not fit
//! (then `feasibility` lists checkpointing among the changes, with what it buys). Without the
//! model or the device it says what it needs.
//!
//! ## Example
//! Fine-tuning RoBERTa at batch 32 and 512 tokens at 90 % of a 24 GB GPU.

use advisor_core::{
    Category, Change, Difficulty, ExpectedImprovement, Impact, ImprovementMetric, Mode,
    OptimizationRule, OptimizationSuggestion, RuleError, RuleInput,
};
use advisor_model::{Workload, bytes_text};

use crate::facts;

/// A measured peak whose implied activations exceed the model's by more than this is not
/// explained by activations.
const UNEXPLAINED_RATIO: f64 = 3.0;
/// Peak memory above this share of the device is "near the limit".
const HIGH_MEMORY_SHARE: f64 = 0.8;

/// See the module documentation.
pub(crate) struct GradientCheckpointing;

/// The suggestion from a measured peak alone, when the model is not known.
fn without_figures(
    peak: f64,
    device: f64,
    device_source: &advisor_core::Source,
    missing: &advisor_core::Missing,
) -> OptimizationSuggestion {
    let suggestion = OptimizationSuggestion::new(
        "gradient_checkpointing",
        Category::Memory,
        Impact::Medium,
        Difficulty::Easy,
        "Turn on gradient checkpointing",
    )
    .description(
        "Training stores every layer's activations for the backward pass. Checkpointing keeps only each layer's input \
         and recomputes the rest during backward, trading one more forward pass for most of the activation memory.",
    )
    .evidence(format!(
        "peak memory {} (memory_metrics.peak_bytes) is {} of {} ({device_source})",
        bytes_text(peak),
        facts::percent(peak / device),
        bytes_text(device),
    ))
    .warning(format!(
        "How much it frees depends on the model's activations; give {} to see the figure.",
        missing
    ));
    steps(suggestion)
}

impl OptimizationRule for GradientCheckpointing {
    fn id(&self) -> &str {
        "gradient_checkpointing"
    }

    fn category(&self) -> Category {
        Category::Memory
    }

    fn description(&self) -> &str {
        "Training near the memory limit without gradient checkpointing: recompute activations"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        if facts.mode()? != Mode::Training || facts.run.gradient_checkpointing.value {
            return Ok(Vec::new());
        }
        let capacity = facts.device_memory()?;
        let workload = match Workload::from_facts(facts) {
            Ok(workload) => workload,
            // A measured peak near the limit is worth saying without the model; how much
            // checkpointing frees needs the model's activations.
            Err(missing) => {
                let Some(peak) = facts.measured.peak_memory_bytes.map(|p| p as f64) else {
                    return Err(missing.into());
                };
                let device = capacity.value as f64;
                if peak > device || peak <= HIGH_MEMORY_SHARE * device {
                    return Ok(Vec::new());
                }
                return Ok(vec![without_figures(
                    peak,
                    device,
                    &capacity.source,
                    &missing,
                )]);
            }
        };
        let changes = [Change::GradientCheckpointing(true)];
        let simulation = advisor_model::simulate_workload(workload, &changes);
        let modelled = simulation.predicted_before.memory;
        let measured = facts.measured.peak_memory_bytes.map(|p| p as f64);
        let peak = measured.unwrap_or(modelled.total());
        let device = capacity.value as f64;
        if peak > device || peak <= HIGH_MEMORY_SHARE * device {
            return Ok(Vec::new());
        }
        let saved_model = modelled.activations - simulation.predicted_after.memory.activations;
        let suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Memory,
            Impact::High,
            Difficulty::Easy,
            "Turn on gradient checkpointing",
        )
        .description(
            "Training stores every layer's activations for the backward pass. Checkpointing keeps only each layer's input \
             and recomputes the rest during backward, trading one more forward pass for most of the activation memory.",
        )
        .evidence(format!(
            "peak memory {} ({}) is {} of {} ({})",
            bytes_text(peak),
            if measured.is_some() { "memory_metrics.peak_bytes" } else { "the model" },
            facts::percent(peak / device),
            bytes_text(device),
            capacity.source
        ))
        .evidence(facts::sourced("gradient_checkpointing", &facts.run.gradient_checkpointing))
        .evidence(format!(
            "by the model, activations take {} of the step's {} ({})",
            bytes_text(modelled.activations),
            bytes_text(modelled.total()),
            advisor_model::parts_text(&modelled)
        ));
        let mut suggestion = facts::with_simulation(suggestion, &changes, &simulation);
        if let Some(measured) = measured {
            // Believe the measurement: what the peak holds beyond the weights, gradients and
            // optimizer state (which the model knows exactly) is activations, and
            // checkpointing removes the model's share of them.
            let state = modelled.total() - modelled.activations;
            let implied = (measured - state).max(0.0);
            let share_removed = if modelled.activations > 0.0 {
                saved_model / modelled.activations
            } else {
                0.0
            };
            let saved = implied * share_removed;
            let ratio = if modelled.activations > 0.0 {
                implied / modelled.activations
            } else {
                f64::INFINITY
            };
            if ratio > UNEXPLAINED_RATIO {
                // Far more than the model's activations: the peak holds something else
                // (autograd graphs kept across steps, the allocator's cache, another process),
                // which checkpointing does not free. Say so, and claim nothing.
                suggestion.expected_improvement.clear();
                suggestion.changes.clear();
                suggestion.impact = Impact::Medium;
                suggestion.title =
                    "Find what holds the memory: the peak is far above the activations".to_owned();
                return Ok(vec![steps(suggestion.warning(format!(
                    "The measured peak ({}) is {:.0}× what the model accounts for ({}): most of it is not activations \
                     (graphs kept across steps, the caching allocator, another process); find that before counting on checkpointing.",
                    bytes_text(measured),
                    measured / modelled.total(),
                    bytes_text(modelled.total())
                )))]);
            }
            if !(0.75..=1.33).contains(&ratio) {
                suggestion = suggestion.warning(format!(
                    "The measured peak implies {} of activations beside {} of weights, gradients and optimizer state; the model estimates {}. \
                     The figures follow the measurement.",
                    bytes_text(implied),
                    bytes_text(state),
                    bytes_text(modelled.activations)
                ));
            }
            suggestion
                .expected_improvement
                .retain(|i| i.metric != ImprovementMetric::Memory);
            let reduction = saved / measured;
            if reduction > 0.0 && reduction < 1.0 {
                suggestion = suggestion.improvement(ExpectedImprovement::new(
                    ImprovementMetric::Memory,
                    reduction / 2.0,
                    reduction,
                    format!(
                        "measured peak {} less {} of the {} activations it implies (the model's recomputed share, {}): {}; the lower end allows for a partial checkpointing policy",
                        bytes_text(measured),
                        bytes_text(saved),
                        bytes_text(implied),
                        facts::percent(share_removed),
                        bytes_text(measured - saved)
                    ),
                ));
            }
        }
        let memory_gain = suggestion
            .expected_improvement
            .iter()
            .filter(|i| i.metric == ImprovementMetric::Memory)
            .map(|i| i.max_reduction)
            .fold(0.0, f64::max);
        if memory_gain < 0.05 {
            return Ok(Vec::new());
        }
        suggestion.impact = facts::impact_from_reduction(memory_gain);
        Ok(vec![steps(suggestion)])
    }
}

fn steps(suggestion: OptimizationSuggestion) -> OptimizationSuggestion {
    suggestion
            .step("Hugging Face models: call model.gradient_checkpointing_enable() (and set use_cache=False during training).")
            .step("Own modules: wrap each transformer block in torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False).")
            .step("Spend the freed memory on a larger batch or longer sequences.")
            .code("python", "model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={\"use_reentrant\": False})")
            .code("python", "from torch.utils.checkpoint import checkpoint\nfor block in self.blocks:\n    x = checkpoint(block, x, use_reentrant=False)")
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::rules::test_support::{advise, context, roberta_base, target};

    const GIB: u64 = 1 << 30;

    fn roberta_training(batch: u32) -> serde_json::Value {
        json!({ "mode": "training", "batch_size": batch.to_string(), "seq_len": "512",
                "precision": "bf16", "flash_attention": "false" })
    }

    #[test]
    fn roberta_fine_tuning_at_batch_32_is_half_of_an_a10g_by_the_model() {
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "gradient_checkpointing",
            context(roberta_base(), target("nvidia-a10g"), roberta_training(32)),
        ));
    }

    #[test]
    fn roberta_fine_tuning_at_batch_56_near_the_limit_of_an_a10g_by_the_model() {
        expect![[r#"
            gradient_checkpointing · memory · impact high · difficulty easy
            title: Turn on gradient checkpointing
            description: Training stores every layer's activations for the backward pass. Checkpointing keeps only each layer's input and recomputes the rest during backward, trading one more forward pass for most of the activation memory.
            changes: activation checkpointing on
            expected:
            - memory −79 % [0.788, 0.788]: model: peak memory 20.6 GiB → 4.4 GiB (activations 2.0 GiB + optimizer state 1.4 GiB + CUDA context and workspaces 512.0 MiB + weights 237.7 MiB + gradients 237.7 MiB)
            evidence:
            - peak memory 20.6 GiB (the model) is 85.7 % of 24.0 GiB (hardware_info.gpu_memory_mb)
            - gradient_checkpointing false (assumed: gradient_checkpointing not set; off by default)
            - by the model, activations take 18.2 GiB of the step's 20.6 GiB (activations 18.2 GiB + optimizer state 1.4 GiB + CUDA context and workspaces 512.0 MiB + weights 237.7 MiB + gradients 237.7 MiB)
            steps:
            - Hugging Face models: call model.gradient_checkpointing_enable() (and set use_cache=False during training).
            - Own modules: wrap each transformer block in torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False).
            - Spend the freed memory on a larger batch or longer sequences.
            code: python, python
            warnings:
            - The model predicts step time +33 % in the worst case.
        "#]].assert_eq(&advise(
            "gradient_checkpointing",
            context(roberta_base(), target("nvidia-a10g"), roberta_training(56)),
        ));
    }

    #[test]
    fn roberta_fine_tuning_measured_at_90_percent_of_a_24_gb_a10g() {
        let mut context = context(roberta_base(), target("nvidia-a10g"), roberta_training(32));
        context["memory_metrics"] = json!({ "peak_bytes": 20 * GIB + GIB / 2 });
        expect![[r#"
            gradient_checkpointing · memory · impact high · difficulty easy
            title: Turn on gradient checkpointing
            description: Training stores every layer's activations for the backward pass. Checkpointing keeps only each layer's input and recomputes the rest during backward, trading one more forward pass for most of the activation memory.
            changes: activation checkpointing on
            expected:
            - memory −39–79 % [0.394, 0.787]: measured peak 20.5 GiB less 16.1 GiB of the 18.1 GiB activations it implies (the model's recomputed share, 89.0 %): 4.4 GiB; the lower end allows for a partial checkpointing policy
            evidence:
            - peak memory 20.5 GiB (memory_metrics.peak_bytes) is 85.4 % of 24.0 GiB (hardware_info.gpu_memory_mb)
            - gradient_checkpointing false (assumed: gradient_checkpointing not set; off by default)
            - by the model, activations take 10.4 GiB of the step's 12.8 GiB (activations 10.4 GiB + optimizer state 1.4 GiB + CUDA context and workspaces 512.0 MiB + weights 237.7 MiB + gradients 237.7 MiB)
            steps:
            - Hugging Face models: call model.gradient_checkpointing_enable() (and set use_cache=False during training).
            - Own modules: wrap each transformer block in torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False).
            - Spend the freed memory on a larger batch or longer sequences.
            code: python, python
            warnings:
            - The model predicts step time +33 % in the worst case.
            - The measured peak implies 18.1 GiB of activations beside 2.4 GiB of weights, gradients and optimizer state; the model estimates 10.4 GiB. The figures follow the measurement.
        "#]].assert_eq(&advise("gradient_checkpointing", context));
    }
}
