//! `fused_optimizer`: a training step whose optimizer update runs as many element-wise passes.
//!
//! ## What it checks
//! A PyTorch profiler trace whose optimizer fact (the GPU work launched inside
//! `optimizer.step()`) shows an AdamW/Adam or SGD update running as `foreach` multi-tensor
//! kernels (PyTorch's default on CUDA) or as a loop over parameters, not as the fused kernel.
//!
//! ## Why it matters
//! The update is element-wise and memory-bound, so its time is its bytes. The fused kernel
//! (`fused=True`) reads each parameter, gradient and moment once and writes them once: 28 B
//! per parameter for AdamW in fp32. The foreach and loop implementations make the same
//! arithmetic eight separate passes, each reading its operands and writing its result: 80 B
//! per parameter (the pass-by-pass count is in `advisor-model`'s
//! `optimizer_step_bytes_per_parameter`, from PyTorch's `_multi_tensor_adamw`); SGD with
//! momentum goes from 32 to 20 B. PyTorch's documentation calls the fused implementation the
//! fastest ("foreach and fused implementations are typically faster than the for-loop,
//! single-tensor implementation, with fused being theoretically fastest with both vertical
//! and horizontal fusion", torch.optim, "Algorithms").
//!
//! The gain is the trace's optimizer GPU time (a pool of the GPU span, never more than its
//! computation time) shrunk by the ratio of the bytes: at the same achieved bandwidth it runs
//! `bytes now / bytes fused` times faster, at half that bandwidth half as much faster, so the
//! claim spans both. A loop over parameters also pays a launch per pass and tensor on the
//! host, which the claim does not count.
//!
//! ## When it stays silent
//! Without a trace it says it needs one. A trace without an optimizer step (inference, or the
//! step outside the profiled window), an update already fused, an optimizer the advisor cannot
//! size (Adagrad, LAMB, bitsandbytes' 8-bit optimizers, whose kernels are fused already), or a
//! claim under 1 % of the GPU span.
//!
//! ## Example
//! A trace where `Optimizer.step#AdamW.step` runs `_foreach_*` kernels for 12 % of the GPU
//! time.

use advisor_core::{
    Category, Difficulty, OptimizationRule, OptimizationSuggestion, OptimizerImplementation,
    OptimizerKind, RuleError, RuleInput, SlackClaim, SlackPool,
};

use crate::facts;

/// Claims under this share of the GPU span are not worth the report's space.
const MIN_CLAIM: f64 = 0.01;

/// See the module documentation.
pub(crate) struct FusedOptimizer;

impl OptimizationRule for FusedOptimizer {
    fn id(&self) -> &str {
        "fused_optimizer"
    }

    fn category(&self) -> Category {
        Category::Compute
    }

    fn description(&self) -> &str {
        "Trace: an AdamW or SGD update as foreach or per-parameter kernels: the fused optimizer (fused=True)"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let trace = facts::trace(input.context)?;
        let Some(optimizer) = trace.run.as_ref().and_then(|run| run.optimizer.as_ref()) else {
            return Ok(Vec::new());
        };
        if optimizer.implementation == OptimizerImplementation::Fused {
            return Ok(Vec::new());
        }
        let Some(name) = optimizer.name.as_deref() else {
            return Ok(Vec::new());
        };
        // The resolved optimizer is the trace's when the advisor knows its class; bitsandbytes'
        // 8-bit classes (`AdamW8bit`) are fused kernels whatever their ops look like.
        let resolved = &input.facts.run.optimizer;
        if !matches!(resolved.source, advisor_core::Source::Measured(_))
            || name.to_ascii_lowercase().contains("8bit")
        {
            return Ok(Vec::new());
        }
        let kind = resolved.value;
        let (Some(now), Some(fused)) = (
            advisor_model::optimizer_step_bytes_per_parameter(kind, optimizer.implementation),
            advisor_model::optimizer_step_bytes_per_parameter(kind, OptimizerImplementation::Fused),
        ) else {
            return Ok(Vec::new());
        };
        let ratio = now / fused;
        // The optimizer's kernels as a share of the GPU span, never more than its computation
        // (kernels on several streams may overlap); without a breakdown, its share of all GPU
        // activity time.
        let pool = match &trace.gpu_breakdown {
            Some(breakdown) if breakdown.kernel_time_us > 0.0 => {
                optimizer.gpu_time_us.min(breakdown.compute_us) / breakdown.kernel_time_us
            }
            _ => optimizer.pct_of_gpu / 100.0,
        }
        .clamp(0.0, 1.0);
        let low = pool * (1.0 - 2.0 / ratio).max(0.0);
        let high = pool * (1.0 - 1.0 / ratio);
        if high < MIN_CLAIM {
            return Ok(Vec::new());
        }
        let source = trace.source.as_deref().unwrap_or("the trace");
        let implementation = match optimizer.implementation {
            OptimizerImplementation::Foreach => "foreach multi-tensor kernels",
            _ => "a loop over parameters",
        };
        // The passes `optimizer_step_bytes_per_parameter` counts.
        let (constructor, trainer, passes) = match kind {
            OptimizerKind::SgdMomentum => (
                "torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, fused=True)",
                None,
                "three",
            ),
            _ => (
                "torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, fused=True)",
                Some("adamw_torch_fused"),
                "eight",
            ),
        };
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Compute,
            facts::impact_from_reduction(high),
            Difficulty::Easy,
            format!("Use the fused {name} update (fused=True)"),
        )
        .description(format!(
            "optimizer.step() runs {name} as {implementation}: {} of the GPU span goes to an element-wise update that makes \
             {passes} passes over the parameters and their state. The fused kernel reads and writes each tensor once, \
             {fused:.0} B per parameter instead of {now:.0} B.",
            facts::percent(pool),
        ))
        .evidence(format!(
            "{source}: {} optimizer.step() call(s) ({name}, {implementation}) launch {:.1} ms of GPU work, {:.1} % of GPU activity time, and take {:.1} ms on the CPU",
            optimizer.steps,
            optimizer.gpu_time_us / 1000.0,
            optimizer.pct_of_gpu,
            optimizer.cpu_time_us / 1000.0,
        ))
        .evidence(format!(
            "optimizer {} ({})",
            advisor_core::Change::Optimizer(kind),
            resolved.source
        ))
        .evidence(format!(
            "bytes per parameter per step with fp32 state: {now:.0} now, {fused:.0} fused ({ratio:.2}× fewer; advisor-model's count of PyTorch's passes)"
        ))
        .step(format!("Construct the optimizer with fused=True: {constructor} (CUDA parameters; it works with torch.autocast and GradScaler)."));
        if let Some(trainer) = trainer {
            suggestion = suggestion.step(format!(
                "Hugging Face Trainer: TrainingArguments(optim=\"{trainer}\")."
            ));
        }
        if optimizer.implementation == OptimizerImplementation::ForLoop {
            suggestion = suggestion.step("The loop runs when foreach=False is set or the parameters are not all CUDA tensors of supported dtypes: fix that, or at least use foreach=True.");
        }
        let suggestion = suggestion
            .step("Re-profile: optimizer.step() should show one _fused_ kernel per group of tensors.")
            .code(
                "python",
                format!("optimizer = {constructor}\n\n# Hugging Face\nargs = TrainingArguments(output_dir=\"out\", optim=\"adamw_torch_fused\")"),
            )
            .warning("fused=True needs floating-point CUDA parameters and does not support differentiable=True; a recent PyTorch (2.x) is needed for SGD's fused kernel.");
        let claim = SlackClaim {
            pool: SlackPool::OptimizerStep,
            pool_fraction: pool,
            min_fraction: low,
            max_fraction: high,
        };
        Ok(vec![crate::rules::gpu_idle::claim(
            suggestion,
            claim,
            &format!(
                "the optimizer's kernels ({} of the GPU span) move {ratio:.2}× fewer bytes fused and run {:.2}–{ratio:.2}× faster (half to all of their bandwidth); the rest of the step keeps its time",
                facts::percent(pool),
                (ratio / 2.0).max(1.0)
            ),
        )])
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::{Value, json};

    use super::FusedOptimizer;
    use crate::rules::test_support::{breakdown, figures, render};

    /// A training trace whose `optimizer.step()` runs `implementation` kernels for `pct` % of
    /// a 100 ms span, all of it computation.
    fn trace(name: Option<&str>, implementation: &str, pct: f64) -> Value {
        let mut optimizer = json!({ "implementation": implementation, "steps": 4,
                                    "cpu_time_us": 9_000.0, "gpu_time_us": pct * 1000.0,
                                    "pct_of_gpu": pct });
        if let Some(name) = name {
            optimizer["name"] = json!(name);
        }
        json!({ "source": "train.json", "steps": 4,
                "gpu_breakdown": breakdown(5.0, 95.0, 0.0, 0.0),
                "run": { "mode": "training", "matmul_time_us": 0.0, "cuda_graph_launches": 0,
                         "optimizer": optimizer } })
    }

    #[test]
    fn a_foreach_adamw_claims_its_share() {
        expect![[r#"
            [
              {
                "id": "fused_optimizer",
                "rule_id": "fused_optimizer",
                "category": "compute",
                "impact": "low",
                "difficulty": "easy",
                "title": "Use the fused AdamW update (fused=True)",
                "description": "optimizer.step() runs AdamW as foreach multi-tensor kernels: 12.0 % of the GPU span goes to an element-wise update that makes eight passes over the parameters and their state. The fused kernel reads and writes each tensor once, 28 B per parameter instead of 80 B.",
                "expected_improvement": [
                  {
                    "metric": "latency",
                    "min_reduction": 0.036000000000000004,
                    "max_reduction": 0.078,
                    "basis": "the optimizer's kernels (12.0 % of the GPU span) move 2.86× fewer bytes fused and run 1.43–2.86× faster (half to all of their bandwidth); the rest of the step keeps its time; a claim on the optimizer step pool (12.0 % of the GPU span): claims on one pool recover the same time, so the report combines them by their maximum and never beyond the pool"
                  }
                ],
                "implementation_steps": [
                  "Construct the optimizer with fused=True: torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, fused=True) (CUDA parameters; it works with torch.autocast and GradScaler).",
                  "Hugging Face Trainer: TrainingArguments(optim=\"adamw_torch_fused\").",
                  "Re-profile: optimizer.step() should show one _fused_ kernel per group of tensors."
                ],
                "code_examples": [
                  {
                    "language": "python",
                    "code": "optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, fused=True)\n\n# Hugging Face\nargs = TrainingArguments(output_dir=\"out\", optim=\"adamw_torch_fused\")"
                  }
                ],
                "warnings": [
                  "fused=True needs floating-point CUDA parameters and does not support differentiable=True; a recent PyTorch (2.x) is needed for SGD's fused kernel."
                ],
                "evidence": [
                  "train.json: 4 optimizer.step() call(s) (AdamW, foreach multi-tensor kernels) launch 12.0 ms of GPU work, 12.0 % of GPU activity time, and take 9.0 ms on the CPU",
                  "optimizer AdamW (measured: trace: Optimizer.step#AdamW.step)",
                  "bytes per parameter per step with fp32 state: 80 now, 28 fused (2.86× fewer; advisor-model's count of PyTorch's passes)"
                ],
                "slack": [
                  {
                    "pool": "optimizer_step",
                    "pool_fraction": 0.12,
                    "min_fraction": 0.036000000000000004,
                    "max_fraction": 0.078
                  }
                ]
              }
            ]"#]].assert_eq(&render(&FusedOptimizer, trace(Some("AdamW"), "foreach", 12.0)));
    }

    #[test]
    fn a_loop_sgd() {
        expect![[r#"
            [
              {
                "expected_improvement": [
                  {
                    "basis": "the optimizer's kernels (6.0 % of the GPU span) move 1.60× fewer bytes fused and run 1.00–1.60× faster (half to all of their bandwidth); the rest of the step keeps its time; a claim on the optimizer step pool (6.0 % of the GPU span): claims on one pool recover the same time, so the report combines them by their maximum and never beyond the pool",
                    "max_reduction": 0.0225,
                    "metric": "latency",
                    "min_reduction": 0.0
                  }
                ],
                "id": "fused_optimizer",
                "impact": "low",
                "slack": [
                  {
                    "max_fraction": 0.0225,
                    "min_fraction": 0.0,
                    "pool": "optimizer_step",
                    "pool_fraction": 0.06
                  }
                ]
              }
            ]"#]].assert_eq(&figures(&FusedOptimizer, trace(Some("SGD"), "for_loop", 6.0)));
    }

    #[test]
    fn silent_when_fused_small_unknown_or_absent() {
        for trace in [
            trace(Some("AdamW"), "fused", 12.0),
            trace(Some("AdamW"), "foreach", 1.0),
            trace(Some("Adagrad"), "foreach", 12.0),
            trace(Some("AdamW8bit"), "foreach", 12.0),
            trace(None, "foreach", 12.0),
            json!({ "steps": 4, "gpu_breakdown": breakdown(5.0, 95.0, 0.0, 0.0) }),
        ] {
            expect!["[]"].assert_eq(&figures(&FusedOptimizer, trace));
        }
    }

    #[test]
    fn without_a_trace_it_says_so() {
        expect!["error: needs profile_results.trace"].assert_eq(
            &crate::rules::test_support::render_context(
                &FusedOptimizer,
                json!({ "current_config": { "mode": "training" } }),
            ),
        );
    }
}
