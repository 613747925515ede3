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
//! Fusing chains of them removes that overhead: the expected improvement is between half of
//! and all the self time those ops take in the profile.
//!
//! ## When it stays silent
//! Few or no small ops and no fusion opportunities. Without a profile or a graph it says it
//! needs one.
//!
//! ## Example
//! An eager-mode PyTorch profile with thousands of `aten::add`, `aten::mul`, `aten::view`
//! calls of a few microseconds each.

use std::collections::BTreeMap;

use advisor_core::{
    Category, Difficulty, ExpectedImprovement, Impact, ImprovementMetric, OptimizationRule,
    OptimizationSuggestion, ProfileResults, RuleError, RuleInput,
};

use crate::facts;

/// A call shorter than this on average is small.
const SMALL_OP_MS: f64 = 0.020;
/// At least this many small calls ...
const MANY_SMALL_CALLS: u64 = 100;
/// ... making up at least this share of all calls.
const SMALL_CALL_SHARE: f64 = 0.30;

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
        context.run_config()?;
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
        let mut fires = false;
        if let Some(profile) = profile {
            let small = small_ops(profile);
            let share_of_calls = if small.all_calls > 0 {
                small.calls as f64 / small.all_calls as f64
            } else {
                0.0
            };
            if small.calls >= MANY_SMALL_CALLS && share_of_calls >= SMALL_CALL_SHARE {
                fires = true;
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
                    suggestion.impact = facts::impact_from_reduction(share);
                    suggestion = suggestion
                        .evidence(format!(
                            "small ops take {:.3} ms of {:.3} ms profiled ({})",
                            small.self_ms,
                            profile.total_ms,
                            facts::percent(share)
                        ))
                        .improvement(ExpectedImprovement::new(
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
            }
        }
        // Short GPU kernels from a PyTorch profiler trace.
        if let Some(trace) = profile.and_then(|p| p.trace.as_ref())
            && let Some(launches) = trace.kernel_launches.as_ref()
            && launches.kernels > 0
        {
            let share = launches.short_kernels as f64 / launches.kernels as f64;
            if launches.short_kernels >= MANY_SMALL_CALLS && share >= SMALL_CALL_SHARE {
                fires = true;
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
            fires = true;
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
        if !fires {
            return Ok(Vec::new());
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
