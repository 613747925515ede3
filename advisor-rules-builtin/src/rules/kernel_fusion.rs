//! `kernel_fusion`: many small operations, each paying launch and memory-traffic overhead.
//!
//! ## What it checks
//! The profile, walked through the whole tree, has many small operations: "small" means a mean
//! time per call under 20 µs (the order of a CUDA kernel launch or a PyTorch dispatch), and
//! "many" means at least 100 small calls that are at least 30 % of all calls. It also fires
//! from fusion opportunities found in the model graph (LayerNorm, GELU, attention patterns
//! that one fused kernel could replace), and from a PyTorch profiler trace where at least 100
//! GPU kernels, and 30 % of all kernels, run under 20 µs.
//!
//! ## Why it matters
//! A small op spends most of its time on launch, dispatch and a round trip through memory.
//! Fusing chains of them removes that overhead. On a CPU (a profile without GPU activity) the
//! expected improvement is between half of and all the self time those ops take in the
//! profile; it is not a trace's slack but busy time, so the report lists it with its own
//! figure and leaves it out of the combined total.
//!
//! On a GPU the small ops' launch and dispatch run on the CPU, and they cost the step only
//! while the GPU waits for them: with a trace's GPU time breakdown the claim is at most the
//! GPU idle share (and at most the small ops' share of the step), taken from the GPU idle pool
//! that `launch_overhead`, `gpu_idle` and the other trace rules claim too, so they are counted
//! once. Until the slack pools the rule claimed the small ops' whole CPU time even when the
//! GPU never waited for it. The GPU time fused kernels save (fewer round trips through memory)
//! is busy time the trace cannot size, and the rule does not estimate it.
//!
//! ## When it stays silent
//! Few or no small ops and no fusion opportunities. Without a profile or a graph it says it
//! needs one.
//!
//! ## Example
//! An eager-mode PyTorch profile with thousands of `aten::add`, `aten::mul`, `aten::view`
//! calls of a few microseconds each. In a GPU trace where 1,800 of 2,000 kernels run under
//! 20 µs and the GPU idles 45 % of the span: step time −0–45 %, a claim on the GPU idle pool.

use std::collections::BTreeMap;

use advisor_core::{
    Category, Difficulty, ExpectedImprovement, Impact, ImprovementMetric, OptimizationRule,
    OptimizationSuggestion, ProfileResults, RuleError, RuleInput, SlackClaim, SlackPool,
};

use super::gpu_idle;
use crate::facts;

/// A call shorter than this on average is small.
const SMALL_OP_MS: f64 = 0.020;
/// At least this many small calls ...
const MANY_SMALL_CALLS: u64 = 100;
/// ... making up at least this share of all calls.
const SMALL_CALL_SHARE: f64 = 0.30;
/// Below this GPU idle share (percent) the CPU runs ahead of a full queue: the overhead fusion
/// removes on the CPU costs the GPU nothing (as in `launch_overhead`).
const MIN_IDLE_PCT: f64 = 5.0;

/// See the module documentation.
pub(crate) struct KernelFusion;

struct SmallOps {
    calls: u64,
    all_calls: u64,
    self_ms: f64,
    by_name: BTreeMap<String, (u64, f64)>,
}

fn small_ops(profile: &ProfileResults) -> SmallOps {
    let mut small = SmallOps {
        calls: 0,
        all_calls: 0,
        self_ms: 0.0,
        by_name: BTreeMap::new(),
    };
    profile.walk(|operation, _| {
        small.all_calls = small.all_calls.saturating_add(operation.calls);
        let Some(mean) = operation.mean_ms_per_call() else {
            return;
        };
        if mean.is_finite() && mean < SMALL_OP_MS {
            small.calls = small.calls.saturating_add(operation.calls);
            let self_ms = if operation.self_ms.is_finite() {
                operation.self_ms.max(0.0)
            } else {
                0.0
            };
            small.self_ms += self_ms;
            let entry = small
                .by_name
                .entry(operation.name.clone())
                .or_insert((0, 0.0));
            entry.0 = entry.0.saturating_add(operation.calls);
            entry.1 += self_ms;
        }
    });
    small
}

impl OptimizationRule for KernelFusion {
    fn id(&self) -> &str {
        "kernel_fusion"
    }

    fn category(&self) -> Category {
        Category::Compute
    }

    fn description(&self) -> &str {
        "Many small operations in the profile, or fusable patterns in the graph: fuse them"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let context = input.context;
        let opportunities = context
            .model_graph
            .as_ref()
            .map(|graph| graph.fusion_opportunities.as_slice())
            .unwrap_or_default();
        let profile = context.profile_results.as_ref();
        if profile.is_none() && opportunities.is_empty() {
            return Err(RuleError::MissingFacts(
                "profile_results, or a model graph with fusion opportunities".to_owned(),
            ));
        }
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Compute,
            Impact::Medium,
            Difficulty::Medium,
            "Fuse small operations into larger kernels",
        );
        let mut fires_on_graph = false;
        let (mut fires_on_profile, mut fires_on_trace) = (false, false);
        // The small ops' self time as a share of the profiled time, when it can be sized.
        let mut small_share = None;
        if let Some(profile) = profile {
            let small = small_ops(profile);
            let share_of_calls = if small.all_calls > 0 {
                small.calls as f64 / small.all_calls as f64
            } else {
                0.0
            };
            if small.calls >= MANY_SMALL_CALLS && share_of_calls >= SMALL_CALL_SHARE {
                fires_on_profile = true;
                suggestion = suggestion.evidence(format!(
                    "{} of {} profiled calls ({}) average under {} µs",
                    small.calls,
                    small.all_calls,
                    facts::percent(share_of_calls),
                    SMALL_OP_MS * 1000.0
                ));
                let mut top: Vec<_> = small.by_name.iter().collect();
                top.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(b.0)));
                let names: Vec<String> = top
                    .iter()
                    .take(5)
                    .map(|(name, (calls, _))| format!("{name} ×{calls}"))
                    .collect();
                suggestion =
                    suggestion.evidence(format!("most frequent small ops: {}", names.join(", ")));
                if profile.total_ms.is_finite() && profile.total_ms > 0.0 && small.self_ms > 0.0 {
                    let share = (small.self_ms / profile.total_ms).min(1.0);
                    small_share = Some(share);
                    suggestion = suggestion.evidence(format!(
                        "small ops take {:.3} ms of {:.3} ms profiled ({})",
                        small.self_ms,
                        profile.total_ms,
                        facts::percent(share)
                    ));
                }
            }
        }
        // Short GPU kernels from a PyTorch profiler trace.
        if let Some(trace) = profile.and_then(|p| p.trace.as_ref())
            && let Some(launches) = trace.kernel_launches.as_ref()
            && launches.kernels > 0
        {
            let share = launches.short_kernels as f64 / launches.kernels as f64;
            if launches.short_kernels >= MANY_SMALL_CALLS && share >= SMALL_CALL_SHARE {
                fires_on_trace = true;
                suggestion = suggestion.evidence(format!(
                    "{}: {} of {} GPU kernels ({}) run under {:.0} µs, {:.3} ms of {:.3} ms of kernel time",
                    trace.source.as_deref().unwrap_or("the trace"),
                    launches.short_kernels,
                    launches.kernels,
                    facts::percent(share),
                    launches.short_kernel_threshold_us,
                    launches.short_kernel_time_us / 1000.0,
                    launches.kernel_time_us / 1000.0
                ));
            }
        }
        if !opportunities.is_empty() {
            fires_on_graph = true;
            let total: u64 = opportunities.iter().map(|o| o.count).sum();
            let listed: Vec<String> = opportunities
                .iter()
                .map(|o| format!("{} ×{}", o.pattern, o.count))
                .collect();
            suggestion = suggestion.evidence(format!(
                "the model graph has {total} fusion opportunities: {}",
                listed.join(", ")
            ));
        }
        if !(fires_on_graph || fires_on_profile || fires_on_trace) {
            return Ok(Vec::new());
        }
        let idle = profile
            .and_then(|p| p.trace.as_ref())
            .and_then(gpu_idle::idle_pool);
        let profiled = fires_on_profile || fires_on_trace;
        match (idle, small_share) {
            (Some(idle), _) if profiled && idle * 100.0 < MIN_IDLE_PCT => {
                suggestion = suggestion.warning(format!(
                    "The gain is not estimated: the GPU idles only {} of the span, so the launch and dispatch overhead \
                     fusion removes is hidden behind GPU work, and the GPU time fused kernels save is not sized by the trace.",
                    facts::percent(idle)
                ));
            }
            (Some(idle), small_share) if profiled => {
                // Only the host-wait part of the idle is launch and dispatch time the CPU
                // could give back (HTA's idle-time breakdown; all idle without one).
                let host_wait = profile
                    .and_then(|p| p.trace.as_ref())
                    .and_then(gpu_idle::host_wait_pool)
                    .unwrap_or(idle);
                let recoverable = small_share.map_or(host_wait, |share| share.min(host_wait));
                suggestion.impact = facts::impact_from_reduction(recoverable);
                let basis = match small_share {
                    Some(share) => format!(
                        "the launch and dispatch overhead fusion removes runs on the CPU and costs the step only while the GPU \
                         waits: at most the small ops' share of the step ({}) and at most the GPU's host-wait idle ({} of \
                         {} idle); the GPU time fused kernels save is not estimated",
                        facts::percent(share),
                        facts::percent(host_wait),
                        facts::percent(idle)
                    ),
                    None => format!(
                        "fewer, larger kernels need fewer launches; a GPU waiting on launches gets back at most its \
                         host-wait idle in the trace ({} of {} idle); the GPU time fused kernels save is not estimated",
                        facts::percent(host_wait),
                        facts::percent(idle)
                    ),
                };
                suggestion = gpu_idle::claim(
                    suggestion,
                    SlackClaim {
                        pool: SlackPool::GpuIdle,
                        pool_fraction: idle,
                        min_fraction: 0.0,
                        max_fraction: recoverable,
                    },
                    &basis,
                );
            }
            (_, Some(share)) => {
                suggestion.impact = facts::impact_from_reduction(share);
                suggestion = suggestion.improvement(ExpectedImprovement::new(
                    ImprovementMetric::Latency,
                    share / 2.0,
                    share,
                    format!(
                        "small ops are {} of profiled time; fusion removes most of their launch and memory-traffic overhead \
                         (the lower end keeps half of it as real work)",
                        facts::percent(share)
                    ),
                ));
            }
            _ => {}
        }
        Ok(vec![suggestion
            .description(
                "Much of the run is spent in operations too small to use the hardware well: each pays a launch or dispatch \
                 cost and a round trip through memory. Compiling the model fuses chains of them into single kernels.",
            )
            .step("Compile the model: torch.compile fuses element-wise chains, LayerNorm and activation functions.")
            .step("For ONNX deployment, run onnxruntime's transformer optimizer (fuses SkipLayerNormalization, BiasGelu, Attention) or build a TensorRT engine.")
            .step("Re-profile and check the small-op count dropped.")
            .code("python", "import torch\nmodel = torch.compile(model, mode=\"max-autotune\")")
            .code("python", "from onnxruntime.transformers import optimizer\nopt = optimizer.optimize_model(\"model.onnx\", model_type=\"bert\")\nopt.save_model_to_file(\"model.opt.onnx\")")
            .warning("Compilation takes time at start-up and recompiles on new input shapes: pad to a few fixed shapes or mark dynamic dimensions.")])
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::{Value, json};

    use super::KernelFusion;
    use crate::rules::test_support::{breakdown, figures_of, render, run, with_trace};

    fn launches(kernels: u64, short: u64) -> Value {
        json!({ "kernels": kernels, "matched": kernels, "shorter_than_launch": short / 2,
                "short_kernels": short, "short_kernel_threshold_us": 20.0,
                "short_kernel_time_us": short as f64 * 5.0, "kernel_time_us": 60_000.0 })
    }

    /// 100 ms of CPU operators: `small` adds of 5 µs (under one forward) and ten matmuls.
    fn cpu_profile(small: u64, trace: Option<Value>) -> Value {
        let small_ms = 0.005 * small as f64;
        let mut profile = json!({ "total_ms": 100.0, "operations": [
            { "name": "forward", "calls": 1, "total_ms": 100.0, "self_ms": 99.0 - small_ms, "children": [
                { "name": "aten::add", "calls": small, "total_ms": small_ms, "self_ms": small_ms },
                { "name": "aten::mm", "calls": 10, "total_ms": 1.0, "self_ms": 1.0 } ] } ] });
        if let Some(trace) = trace {
            profile["trace"] = trace;
        }
        json!({ "profile_results": profile })
    }

    #[test]
    fn short_kernels_on_an_idle_gpu_claim_the_idle_pool() {
        let trace = json!({ "source": "small.json", "gpu_breakdown": breakdown(45.0, 40.0, 0.0, 15.0),
                            "kernel_launches": launches(2000, 1800) });
        expect![[r#"
            [
              {
                "id": "kernel_fusion",
                "rule_id": "kernel_fusion",
                "category": "compute",
                "impact": "high",
                "difficulty": "medium",
                "title": "Fuse small operations into larger kernels",
                "description": "Much of the run is spent in operations too small to use the hardware well: each pays a launch or dispatch cost and a round trip through memory. Compiling the model fuses chains of them into single kernels.",
                "expected_improvement": [
                  {
                    "metric": "latency",
                    "min_reduction": 0.0,
                    "max_reduction": 0.45,
                    "basis": "fewer, larger kernels need fewer launches; a GPU waiting on launches gets back at most its host-wait idle in the trace (45.0 % of 45.0 % idle); the GPU time fused kernels save is not estimated; a claim on the GPU idle pool (45.0 % of the GPU span): claims on one pool recover the same time, so the report combines them by their maximum and never beyond the pool"
                  }
                ],
                "implementation_steps": [
                  "Compile the model: torch.compile fuses element-wise chains, LayerNorm and activation functions.",
                  "For ONNX deployment, run onnxruntime's transformer optimizer (fuses SkipLayerNormalization, BiasGelu, Attention) or build a TensorRT engine.",
                  "Re-profile and check the small-op count dropped."
                ],
                "code_examples": [
                  {
                    "language": "python",
                    "code": "import torch\nmodel = torch.compile(model, mode=\"max-autotune\")"
                  },
                  {
                    "language": "python",
                    "code": "from onnxruntime.transformers import optimizer\nopt = optimizer.optimize_model(\"model.onnx\", model_type=\"bert\")\nopt.save_model_to_file(\"model.opt.onnx\")"
                  }
                ],
                "warnings": [
                  "Compilation takes time at start-up and recompiles on new input shapes: pad to a few fixed shapes or mark dynamic dimensions."
                ],
                "evidence": [
                  "small.json: 1800 of 2000 GPU kernels (90.0 %) run under 20 µs, 9.000 ms of 60.000 ms of kernel time"
                ],
                "slack": [
                  {
                    "pool": "gpu_idle",
                    "pool_fraction": 0.45,
                    "min_fraction": 0.0,
                    "max_fraction": 0.45
                  }
                ]
              }
            ]"#]].assert_eq(&render(&KernelFusion, trace));
    }

    #[test]
    fn small_cpu_ops_of_a_gpu_run_count_only_while_the_gpu_idles() {
        // Small ops are 20 % of the step and the GPU idles 12 %: at most 12 % comes back.
        let trace = json!({ "gpu_breakdown": breakdown(12.0, 80.0, 0.0, 8.0) });
        expect![[r#"
            [
              {
                "expected_improvement": [
                  {
                    "basis": "the launch and dispatch overhead fusion removes runs on the CPU and costs the step only while the GPU waits: at most the small ops' share of the step (20.0 %) and at most the GPU's host-wait idle (12.0 % of 12.0 % idle); the GPU time fused kernels save is not estimated; a claim on the GPU idle pool (12.0 % of the GPU span): claims on one pool recover the same time, so the report combines them by their maximum and never beyond the pool",
                    "max_reduction": 0.12,
                    "metric": "latency",
                    "min_reduction": 0.0
                  }
                ],
                "id": "kernel_fusion",
                "impact": "medium",
                "slack": [
                  {
                    "max_fraction": 0.12,
                    "min_fraction": 0.0,
                    "pool": "gpu_idle",
                    "pool_fraction": 0.12
                  }
                ]
              }
            ]"#]].assert_eq(&figures_of(&KernelFusion, cpu_profile(4000, Some(trace))));
    }

    #[test]
    fn on_a_cpu_the_small_ops_time_is_not_slack() {
        expect![[r#"
            [
              {
                "expected_improvement": [
                  {
                    "basis": "small ops are 20.0 % of profiled time; fusion removes most of their launch and memory-traffic overhead (the lower end keeps half of it as real work)",
                    "max_reduction": 0.2,
                    "metric": "latency",
                    "min_reduction": 0.1
                  }
                ],
                "id": "kernel_fusion",
                "impact": "medium",
                "slack": []
              }
            ]"#]].assert_eq(&figures_of(&KernelFusion, cpu_profile(4000, None)));
    }

    #[test]
    fn a_busy_gpu_gets_no_figure() {
        let trace = json!({ "gpu_breakdown": breakdown(3.0, 96.0, 0.0, 1.0),
                            "kernel_launches": launches(2000, 1800) });
        let suggestions = run(&KernelFusion, with_trace(trace)).expect("fires");
        let [fusion] = suggestions.as_slice() else {
            panic!("one suggestion: {suggestions:?}");
        };
        assert!(fusion.slack.is_empty() && fusion.expected_improvement.is_empty());
        expect!["The gain is not estimated: the GPU idles only 3.0 % of the span, so the launch and dispatch overhead fusion removes is hidden behind GPU work, and the GPU time fused kernels save is not sized by the trace."].assert_eq(&fusion.warnings[0]);
    }
}
