//! `host_sync`: synchronizing calls inside the step stall the CPU until the GPU catches up.
//!
//! ## What it checks
//! A PyTorch profiler trace with synchronizing runtime calls (`cudaDeviceSynchronize`,
//! `cudaStreamSynchronize`, `cudaEventSynchronize`, synchronous `cudaMemcpy`) inside the
//! profiler steps, taking at least 1 % of the step time or occurring more than once per step.
//!
//! ## Why it matters
//! A synchronization empties the GPU's queue: the CPU waits for all queued work, and then the
//! GPU waits while the CPU launches the next kernels. `.item()`, `.cpu()`, `print(tensor)` and
//! data-dependent control flow cause them. The blocked CPU time bounds what removing them buys.
//!
//! ## When it stays silent
//! No synchronizing calls in the steps, or few and short. Without a trace it says it needs one.
//!
//! ## Example
//! A training loop that logs `loss.item()` every step: one `cudaStreamSynchronize` per step.

use advisor_core::{
    Category, Difficulty, ExpectedImprovement, ImprovementMetric, OptimizationRule,
    OptimizationSuggestion, RuleError, RuleInput,
};

use crate::facts;

/// Synchronizing time above this share of the step (percent) matters.
const SYNC_PCT: f64 = 1.0;

/// See the module documentation.
pub(crate) struct HostSync;

impl OptimizationRule for HostSync {
    fn id(&self) -> &str {
        "host_sync"
    }

    fn category(&self) -> Category {
        Category::Compute
    }

    fn description(&self) -> &str {
        "Synchronizing calls inside the step (trace): remove .item()/.cpu() from the hot loop"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let context = input.context;
        let trace = facts::trace(context)?;
        let Some(syncs) = &trace.host_syncs else {
            return Ok(Vec::new());
        };
        let steps = trace.steps.unwrap_or(0).max(1);
        let per_step = syncs.calls_in_steps as f64 / steps as f64;
        if syncs.calls_in_steps == 0
            || (syncs.pct_of_step.is_nan() || syncs.pct_of_step < SYNC_PCT) && per_step <= 1.0
        {
            return Ok(Vec::new());
        }
        let share = syncs.pct_of_step / 100.0;
        let source = trace.source.as_deref().unwrap_or("the trace");
        let names: Vec<String> = syncs
            .by_name
            .iter()
            .take(5)
            .map(|n| format!("{} ×{} ({:.2} ms)", n.name, n.count, n.time_us / 1000.0))
            .collect();
        let suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Compute,
            facts::impact_from_reduction(share),
            Difficulty::Easy,
            "Remove host synchronization from the step",
        )
        .evidence(format!(
            "{source}: {} synchronizing call(s) in {steps} step(s) ({per_step:.1} per step) block the CPU for {:.2} ms, {} of step time",
            syncs.calls_in_steps,
            syncs.time_us / 1000.0,
            facts::percent(share)
        ))
        .evidence(format!("calls: {}", names.join(", ")))
        .improvement(ExpectedImprovement::new(
            ImprovementMetric::Throughput,
            0.0,
            share,
            format!(
                "at most the time the CPU is blocked in synchronizing calls ({} of step time); \
                 the refilled GPU queue can be worth more than that",
                facts::percent(share)
            ),
        ))
        .description(
            "The step calls into the CUDA runtime in ways that wait for the GPU. Each wait drains the queue, \
             so the GPU then idles while the CPU launches the next kernels.",
        )
        .step("Find the callers in the trace (the CPU op around each sync): usually `.item()`, `.cpu()`, `.tolist()`, `print(tensor)` or `torch.cuda.synchronize()`.")
        .step("Accumulate metrics on the GPU and read them every N steps instead of every step.")
        .step("Replace data-dependent Python control flow with tensor operations (`torch.where`), and use `non_blocking=True` copies.")
        .step("Use `torch.cuda.set_sync_debug_mode(\"warn\")` to report synchronizing calls as they happen.")
        .code("python", "running_loss += loss.detach()          # stays on the GPU\nif step % 100 == 0:\n    print(running_loss.item() / 100)  # one sync per 100 steps\n    running_loss.zero_()");
        Ok(vec![suggestion])
    }
}
