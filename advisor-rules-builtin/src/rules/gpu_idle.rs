//! `gpu_idle`: the GPU sits idle for a large share of the profiled time.
//!
//! ## What it checks
//! A PyTorch profiler trace whose GPU time breakdown (Holistic Trace Analysis's temporal
//! breakdown: idle is the time between the first and the last GPU activity when no kernel,
//! memcpy or memset runs) has more than 10 % idle time.
//!
//! ## Why it matters
//! Idle GPU time is throughput paid for and not used: the GPU waits on the CPU (Python
//! overhead, kernel launches, data loading, synchronizing calls). Keeping the GPU busy recovers
//! at most the idle share of the GPU time.
//!
//! ## When it stays silent
//! Idle time at most 10 %, or a trace without GPU activity. Without a trace it says it needs one.
//!
//! ## Example
//! A trace of a small model at batch 8: the GPU is idle 45 % of the time between kernels.

use advisor_core::{
    Category, Difficulty, ExpectedImprovement, ImprovementMetric, OptimizationRule,
    OptimizationSuggestion, RuleError, RuleInput,
};

use crate::facts;

/// Idle time above this share of the GPU span (percent) is worth attacking.
const IDLE_PCT: f64 = 10.0;

/// See the module documentation.
pub(crate) struct GpuIdle;

impl OptimizationRule for GpuIdle {
    fn id(&self) -> &str {
        "gpu_idle"
    }

    fn category(&self) -> Category {
        Category::Hardware
    }

    fn description(&self) -> &str {
        "The GPU is idle for much of the trace: find what it waits on"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let context = input.context;
        let trace = facts::trace(context)?;
        let Some(breakdown) = &trace.gpu_breakdown else {
            return Ok(Vec::new());
        };
        if breakdown.idle_pct.is_nan()
            || breakdown.idle_pct <= IDLE_PCT
            || breakdown.kernel_time_us <= 0.0
        {
            return Ok(Vec::new());
        }
        let idle = breakdown.idle_pct / 100.0;
        let source = trace.source.as_deref().unwrap_or("the trace");
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Hardware,
            facts::impact_from_reduction(idle),
            Difficulty::Medium,
            format!("Keep the GPU busy: it is idle {} of the time", facts::percent(idle)),
        )
        .evidence(format!(
            "{source}: GPU idle {:.1} ms of {:.1} ms between the first and last GPU activity ({}); compute {:.1} %, non-compute {:.1} %",
            breakdown.idle_us / 1000.0,
            breakdown.kernel_time_us / 1000.0,
            facts::percent(idle),
            breakdown.compute_pct,
            breakdown.non_compute_pct
        ))
        .improvement(ExpectedImprovement::new(
            ImprovementMetric::Throughput,
            0.0,
            idle,
            format!(
                "upper bound: the idle share of the GPU time in the trace ({}, Holistic Trace Analysis's temporal breakdown)",
                facts::percent(idle)
            ),
        ));
        // Point at the likely causes the trace shows.
        if let Some(loader) = &trace.data_loader
            && loader.pct_of_step > 1.0
        {
            suggestion = suggestion.evidence(format!(
                "data loading takes {:.1} % of the step (see `data_loader`)",
                loader.pct_of_step
            ));
        }
        if let Some(launches) = &trace.kernel_launches
            && launches.matched > 0
        {
            suggestion = suggestion.evidence(format!(
                "{} of {} kernels ran shorter than their launch call (see `launch_overhead`)",
                launches.shorter_than_launch, launches.matched
            ));
        }
        if let Some(syncs) = &trace.host_syncs
            && syncs.calls_in_steps > 0
        {
            suggestion = suggestion.evidence(format!(
                "{} synchronizing call(s) inside the steps (see `host_sync`)",
                syncs.calls_in_steps
            ));
        }
        Ok(vec![suggestion
            .description(
                "Between its first and last activity the GPU often has nothing to run: the CPU does not feed it fast enough. \
                 The usual causes are Python and launch overhead, data loading and host synchronization.",
            )
            .step("Open the trace in Perfetto or TensorBoard and look at what the CPU does during the gaps on the GPU stream.")
            .step("Remove launch overhead with torch.compile (mode=\"reduce-overhead\" uses CUDA graphs).")
            .step("Overlap data loading (DataLoader workers, pinned memory) and avoid `.item()`, `.cpu()` and prints inside the step.")
            .step("If the GPU is simply underfed, raise the batch size.")
            .code("python", "model = torch.compile(model, mode=\"reduce-overhead\")")
            .warning("Idle time at the start and end of a profiling window can be warm-up: profile steady-state steps (schedule with wait/warmup).")])
    }
}
