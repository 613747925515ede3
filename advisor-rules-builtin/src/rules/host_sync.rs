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
//! data-dependent control flow cause them. Removing them lets the CPU queue work ahead, and
//! the step then takes the longer of its CPU work and its GPU work instead of their
//! interleaving. The step's wall time is CPU work plus the blocked time, and also GPU work
//! plus the GPU's idle time, so what comes back is at most the smaller of the blocked time and
//! the idle time: a CPU-bound step gains the blocked time, a GPU-bound one its idle gaps.
//! (Until the slack pools the rule claimed the blocked time and said the refilled queue could
//! be worth more; by the identity above it cannot.) The claim takes from the GPU idle pool that
//! `gpu_idle`, `launch_overhead` and `data_loader` also claim, so they are not added up; a
//! trace without GPU activity has no idle figure, and the claim is then on the host-blocked
//! pool, up to the blocked time.
//!
//! ## When it stays silent
//! No synchronizing calls in the steps, few and short ones, or a GPU idle under 1 % of the
//! span (it never waited for the CPU, so the syncs cost it nothing). Without a trace it says
//! it needs one.
//!
//! ## Example
//! A training loop that logs `loss.item()` every step: one `cudaStreamSynchronize` per step,
//! blocking 4 % of the step, with the GPU idle 45 % of the span: step time −0–4 %, a claim
//! on the GPU idle pool.

use advisor_core::{
    Category, Difficulty, OptimizationRule, OptimizationSuggestion, RuleError, RuleInput,
    SlackClaim, SlackPool,
};

use super::gpu_idle;
use crate::facts;

/// Synchronizing time above this share of the step (percent) matters.
const SYNC_PCT: f64 = 1.0;
/// A GPU idle less than this share of the span (percent) never waited on the CPU.
const MIN_IDLE_PCT: f64 = 1.0;

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
        let share = if syncs.pct_of_step.is_finite() {
            (syncs.pct_of_step / 100.0).max(0.0)
        } else {
            0.0
        };
        let idle = gpu_idle::idle_pool(trace);
        if idle.is_some_and(|idle| idle * 100.0 < MIN_IDLE_PCT) {
            return Ok(Vec::new());
        }
        let source = trace.source.as_deref().unwrap_or("the trace");
        let names: Vec<String> = syncs
            .by_name
            .iter()
            .take(5)
            .map(|n| format!("{} ×{} ({:.2} ms)", n.name, n.count, n.time_us / 1000.0))
            .collect();
        let (claim, basis) = match idle {
            Some(idle) => (
                SlackClaim {
                    pool: SlackPool::GpuIdle,
                    pool_fraction: idle,
                    min_fraction: 0.0,
                    max_fraction: share.min(idle),
                },
                format!(
                    "at most the smaller of the time the CPU is blocked in synchronizing calls ({} of the step) and the GPU idle \
                     share ({}): without the syncs the step still takes the longer of its CPU work and its GPU work",
                    facts::percent(share),
                    facts::percent(idle)
                ),
            ),
            None => (
                SlackClaim {
                    pool: SlackPool::HostBlocked,
                    pool_fraction: gpu_idle::host_blocked_pool(trace).max(share),
                    min_fraction: 0.0,
                    max_fraction: share,
                },
                format!(
                    "at most the time the CPU is blocked in synchronizing calls ({} of the step); the trace has no GPU time \
                     breakdown to say how much of it the GPU idled",
                    facts::percent(share)
                ),
            ),
        };
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Compute,
            facts::impact_from_reduction(claim.max_fraction),
            Difficulty::Easy,
            "Remove host synchronization from the step",
        )
        .evidence(format!(
            "{source}: {} synchronizing call(s) in {steps} step(s) ({per_step:.1} per step) block the CPU for {:.2} ms, {} of step time",
            syncs.calls_in_steps,
            syncs.time_us / 1000.0,
            facts::percent(share)
        ));
        if !names.is_empty() {
            suggestion = suggestion.evidence(format!("calls: {}", names.join(", ")));
        }
        if let Some(idle) = idle {
            suggestion = suggestion.evidence(format!(
                "the GPU idles {} of the span",
                facts::percent(idle)
            ));
        }
        Ok(vec![gpu_idle::claim(suggestion, claim, &basis)
            .description(
                "The step calls into the CUDA runtime in ways that wait for the GPU. Each wait drains the queue, \
                 so the GPU then idles while the CPU launches the next kernels.",
            )
            .step("Find the callers in the trace (the CPU op around each sync): usually `.item()`, `.cpu()`, `.tolist()`, `print(tensor)` or `torch.cuda.synchronize()`.")
            .step("Accumulate metrics on the GPU and read them every N steps instead of every step.")
            .step("Replace data-dependent Python control flow with tensor operations (`torch.where`), and use `non_blocking=True` copies.")
            .step("Use `torch.cuda.set_sync_debug_mode(\"warn\")` to report synchronizing calls as they happen.")
            .code("python", "running_loss += loss.detach()          # stays on the GPU\nif step % 100 == 0:\n    print(running_loss.item() / 100)  # one sync per 100 steps\n    running_loss.zero_()")])
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::{Value, json};

    use super::HostSync;
    use crate::rules::test_support::{breakdown, figures, render};

    fn syncs(calls: u64, pct: f64) -> Value {
        json!({ "calls_in_steps": calls, "time_us": pct * 5000.0, "pct_of_step": pct,
                "by_name": [ { "name": "cudaStreamSynchronize", "count": calls, "time_us": pct * 5000.0 } ] })
    }

    #[test]
    fn a_sync_per_step_with_an_idle_gpu_claims_the_blocked_time() {
        let trace = json!({ "source": "train.json", "steps": 5, "host_syncs": syncs(5, 4.0),
                            "gpu_breakdown": breakdown(45.0, 50.0, 0.0, 5.0) });
        expect![[r#"
            [
              {
                "id": "host_sync",
                "rule_id": "host_sync",
                "category": "compute",
                "impact": "low",
                "difficulty": "easy",
                "title": "Remove host synchronization from the step",
                "description": "The step calls into the CUDA runtime in ways that wait for the GPU. Each wait drains the queue, so the GPU then idles while the CPU launches the next kernels.",
                "expected_improvement": [
                  {
                    "metric": "latency",
                    "min_reduction": 0.0,
                    "max_reduction": 0.04,
                    "basis": "at most the smaller of the time the CPU is blocked in synchronizing calls (4.0 % of the step) and the GPU idle share (45.0 %): without the syncs the step still takes the longer of its CPU work and its GPU work; a claim on the GPU idle pool (45.0 % of the GPU span): claims on one pool recover the same time, so the report combines them by their maximum and never beyond the pool"
                  }
                ],
                "implementation_steps": [
                  "Find the callers in the trace (the CPU op around each sync): usually `.item()`, `.cpu()`, `.tolist()`, `print(tensor)` or `torch.cuda.synchronize()`.",
                  "Accumulate metrics on the GPU and read them every N steps instead of every step.",
                  "Replace data-dependent Python control flow with tensor operations (`torch.where`), and use `non_blocking=True` copies.",
                  "Use `torch.cuda.set_sync_debug_mode(\"warn\")` to report synchronizing calls as they happen."
                ],
                "code_examples": [
                  {
                    "language": "python",
                    "code": "running_loss += loss.detach()          # stays on the GPU\nif step % 100 == 0:\n    print(running_loss.item() / 100)  # one sync per 100 steps\n    running_loss.zero_()"
                  }
                ],
                "warnings": [],
                "evidence": [
                  "train.json: 5 synchronizing call(s) in 5 step(s) (1.0 per step) block the CPU for 20.00 ms, 4.0 % of step time",
                  "calls: cudaStreamSynchronize ×5 (20.00 ms)",
                  "the GPU idles 45.0 % of the span"
                ],
                "slack": [
                  {
                    "pool": "gpu_idle",
                    "pool_fraction": 0.45,
                    "min_fraction": 0.0,
                    "max_fraction": 0.04
                  }
                ]
              }
            ]"#]].assert_eq(&render(&HostSync, trace));
    }

    #[test]
    fn the_claim_is_at_most_the_idle_time() {
        // Blocked 20 % of the step, but the GPU idles only 6 %: at most 6 % comes back.
        let trace = json!({ "steps": 5, "host_syncs": syncs(10, 20.0),
                            "gpu_breakdown": breakdown(6.0, 90.0, 0.0, 4.0) });
        expect![[r#"
            [
              {
                "expected_improvement": [
                  {
                    "basis": "at most the smaller of the time the CPU is blocked in synchronizing calls (20.0 % of the step) and the GPU idle share (6.0 %): without the syncs the step still takes the longer of its CPU work and its GPU work; a claim on the GPU idle pool (6.0 % of the GPU span): claims on one pool recover the same time, so the report combines them by their maximum and never beyond the pool",
                    "max_reduction": 0.06,
                    "metric": "latency",
                    "min_reduction": 0.0
                  }
                ],
                "id": "host_sync",
                "impact": "low",
                "slack": [
                  {
                    "max_fraction": 0.06,
                    "min_fraction": 0.0,
                    "pool": "gpu_idle",
                    "pool_fraction": 0.06
                  }
                ]
              }
            ]"#]].assert_eq(&figures(&HostSync, trace));
    }

    #[test]
    fn without_gpu_activity_the_claim_is_on_host_blocked_time() {
        let trace = json!({ "steps": 5, "host_syncs": syncs(5, 4.0) });
        expect![[r#"
            [
              {
                "expected_improvement": [
                  {
                    "basis": "at most the time the CPU is blocked in synchronizing calls (4.0 % of the step); the trace has no GPU time breakdown to say how much of it the GPU idled; a claim on the host-blocked pool (4.0 % of the step): claims on one pool recover the same time, so the report combines them by their maximum and never beyond the pool",
                    "max_reduction": 0.04,
                    "metric": "latency",
                    "min_reduction": 0.0
                  }
                ],
                "id": "host_sync",
                "impact": "low",
                "slack": [
                  {
                    "max_fraction": 0.04,
                    "min_fraction": 0.0,
                    "pool": "host_blocked",
                    "pool_fraction": 0.04
                  }
                ]
              }
            ]"#]].assert_eq(&figures(&HostSync, trace));
    }

    #[test]
    fn a_gpu_that_never_idles_did_not_wait_on_the_syncs() {
        let trace = json!({ "steps": 5, "host_syncs": syncs(10, 20.0),
                            "gpu_breakdown": breakdown(0.5, 99.0, 0.0, 0.5) });
        expect!["[]"].assert_eq(&figures(&HostSync, trace));
    }
}
