//! `host_sync`: runtime calls inside the step block the CPU until the GPU catches up.
//!
//! ## What it checks
//! A PyTorch profiler trace whose host-blocked time (the trace reader's `host_blocked`: copies
//! to or from pageable host memory, such as a `cudaMemcpyAsync` with a `Device -> Pageable`
//! kind behind `.item()` or `.cpu()`; synchronous `cudaMemcpy`/`cudaMemset`;
//! `cuda*Synchronize`; event waits; runtime calls far longer than usual) inside the profiler
//! steps takes at least 1 % of the step time or comes more than once per step. It names each
//! cause with the CPU operator (`aten::item`, `aten::copy_`) and the user annotation
//! (`## sparse_data_dist ##`) that issued it, and tailors the fix to the causes: pinned memory
//! and `non_blocking=True` copies, `.item()` out of the loop, no explicit synchronization.
//! Launch calls that waited for room in a full launch queue are shown but not claimed: the job
//! is GPU-bound there and removing nothing on the host helps. Facts from an older reader
//! without `host_blocked` fall back to its synchronizing calls (`host_syncs`).
//!
//! ## Why it matters
//! A synchronization empties the GPU's queue: the CPU waits for all queued work, and then the
//! GPU waits while the CPU launches the next kernels. `.item()`, `.cpu()`, `print(tensor)` and
//! data-dependent control flow cause them. Removing them lets the CPU queue work ahead, and
//! the step then takes the longer of its CPU work and its GPU work instead of their
//! interleaving. The step's wall time is CPU work plus the blocked time, and also GPU work
//! plus the GPU's idle time, so what comes back is at most the smaller of the blocked time and
//! the idle time: a CPU-bound step gains the blocked time, a GPU-bound one its idle gaps.
//! With an idle-time breakdown the idle is only the main stream's host wait (the GPU waiting
//! for the CPU; waits on other streams or collectives do not come back). The claim takes from
//! the GPU idle pool that `gpu_idle`, `launch_overhead` and `data_loader` also claim, so they
//! are not added up; a trace without GPU activity has no idle figure, and the claim is then on
//! the host-blocked pool, up to the blocked time.
//!
//! ## When it stays silent
//! No blocking calls in the steps (launch back-pressure aside), few and short ones, or a GPU
//! idle under 1 % of the span (it never waited for the CPU, so the blocking cost it nothing).
//! Without a trace it says it needs one.
//!
//! ## Example
//! A TorchRec step whose `aten::_local_scalar_dense` (`.item()`) and `aten::to` under
//! `## sparse_data_dist ##` copy to pageable memory with `cudaMemcpyAsync`, blocking 35 % of
//! the step, while the main stream waits 40 % of the span for the host: step time −0–35 %,
//! high impact, a claim on the GPU idle pool, with pinned memory and `.item()` out of the loop
//! as the fix.

use advisor_core::{
    Category, Difficulty, HostBlockCause, HostBlockedFacts, OptimizationRule,
    OptimizationSuggestion, RuleError, RuleInput, SlackClaim, SlackPool, TraceFacts,
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
        if let Some(blocked) = &trace.host_blocked {
            return Ok(blocked_time(trace, blocked).into_iter().collect());
        }
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

/// What a cause is called in the evidence.
fn cause_text(cause: HostBlockCause) -> &'static str {
    match cause {
        HostBlockCause::PageableCopy => "copies to or from pageable memory",
        HostBlockCause::SynchronousCopy => "synchronous copies and sets",
        HostBlockCause::Synchronize => "synchronizations",
        HostBlockCause::EventWait => "event waits",
        HostBlockCause::LaunchBackpressure => "launches waiting for room in the queue",
        _ => "runtime calls far longer than usual",
    }
}

/// The suggestion from the trace reader's host-blocked time, by cause and site.
fn blocked_time(trace: &TraceFacts, blocked: &HostBlockedFacts) -> Option<OptimizationSuggestion> {
    let removable = |cause: HostBlockCause| cause != HostBlockCause::LaunchBackpressure;
    let (calls, time_us) = blocked
        .by_cause
        .iter()
        .filter(|c| removable(c.cause))
        .fold((0u64, 0.0), |(n, t), c| {
            (n + c.calls, t + c.time_us.max(0.0))
        });
    let steps = trace.steps.unwrap_or(0).max(1);
    let per_step = calls as f64 / steps as f64;
    let share = if blocked.step_time_us > 0.0 && time_us.is_finite() {
        (time_us / blocked.step_time_us).clamp(0.0, 1.0)
    } else {
        0.0
    };
    if calls == 0 || share * 100.0 < SYNC_PCT && per_step <= 1.0 {
        return None;
    }
    let idle = gpu_idle::idle_pool(trace);
    if idle.is_some_and(|idle| idle * 100.0 < MIN_IDLE_PCT) {
        return None;
    }
    let has = |cause: HostBlockCause| {
        blocked
            .by_cause
            .iter()
            .any(|c| c.cause == cause && c.calls > 0)
    };
    let source = trace.source.as_deref().unwrap_or("the trace");
    let causes: Vec<String> = blocked
        .by_cause
        .iter()
        .filter(|c| removable(c.cause))
        .map(|c| {
            format!(
                "{} {:.2} ms ×{} ({:.1} %)",
                cause_text(c.cause),
                c.time_us / 1000.0,
                c.calls,
                c.pct_of_step
            )
        })
        .collect();
    let sites: Vec<String> = blocked
        .by_site
        .iter()
        .filter(|s| removable(s.cause))
        .take(5)
        .map(|s| {
            let kind = s
                .copy_kind
                .as_deref()
                .map_or(String::new(), |k| format!(" {k}"));
            let op =
                s.op.as_deref()
                    .map_or(String::new(), |op| format!(" in {op}"));
            let annotation = s
                .annotation
                .as_deref()
                .map_or(String::new(), |a| format!(" under {a}"));
            format!(
                "{}{kind}{op}{annotation}: ×{}, {:.2} ms ({:.1} % of the step)",
                s.call,
                s.calls,
                s.time_us / 1000.0,
                s.pct_of_step
            )
        })
        .collect();
    let (claim, basis) = match idle {
        Some(idle) => {
            let host_wait = gpu_idle::host_wait_pool(trace).unwrap_or(idle);
            (
                SlackClaim {
                    pool: SlackPool::GpuIdle,
                    pool_fraction: idle,
                    min_fraction: 0.0,
                    max_fraction: share.min(host_wait),
                },
                format!(
                    "at most the smaller of the time the CPU is blocked ({} of the step) and the GPU's idle time waiting for the host ({} of the span, of {} idle): without the blocking the step still takes the longer of its CPU work and its GPU work",
                    facts::percent(share),
                    facts::percent(host_wait),
                    facts::percent(idle)
                ),
            )
        }
        None => (
            SlackClaim {
                pool: SlackPool::HostBlocked,
                pool_fraction: gpu_idle::host_blocked_pool(trace).max(share),
                min_fraction: 0.0,
                max_fraction: share,
            },
            format!(
                "at most the time the CPU is blocked ({} of the step); the trace has no GPU time breakdown to say how much of it the GPU idled",
                facts::percent(share)
            ),
        ),
    };
    let title = if has(HostBlockCause::PageableCopy) {
        "Stop blocking the host: pin the memory of the copies and move .item() out of the step"
    } else {
        "Remove host synchronization from the step"
    };
    let mut suggestion = OptimizationSuggestion::new(
        "host_sync",
        Category::Compute,
        facts::impact_from_reduction(claim.max_fraction),
        Difficulty::Easy,
        title,
    )
    .evidence(format!(
        "{source}: {calls} blocking call(s) in {steps} step(s) ({per_step:.1} per step) hold the CPU for {:.2} ms, {} of step time: {}",
        time_us / 1000.0,
        facts::percent(share),
        causes.join(", ")
    ));
    if !sites.is_empty() {
        suggestion = suggestion.evidence(format!("issued by: {}", sites.join("; ")));
    }
    if let Some(backpressure) = blocked
        .by_cause
        .iter()
        .find(|c| c.cause == HostBlockCause::LaunchBackpressure)
    {
        suggestion = suggestion.evidence(format!(
            "{} launch call(s) waited {:.2} ms for room in a full launch queue: there the GPU is the bottleneck, so that time is not claimed",
            backpressure.calls,
            backpressure.time_us / 1000.0
        ));
    }
    if let Some(idle) = idle {
        suggestion = suggestion.evidence(format!(
            "the GPU idles {} of the span",
            facts::percent(idle)
        ));
    }
    suggestion = gpu_idle::claim(suggestion, claim, &basis).description(
        "The step calls into the CUDA runtime in ways that hold the CPU until the GPU catches up: copies to or from \
         pageable memory, synchronous copies, synchronizations. Each wait drains the queue, so the GPU then idles \
         while the CPU launches the next kernels.",
    );
    let item_sites = blocked.by_site.iter().any(|s| {
        s.op.as_deref().is_some_and(|op| {
            [
                "aten::item",
                "aten::_local_scalar_dense",
                "aten::tolist",
                "aten::nonzero",
            ]
            .contains(&op)
        })
    });
    if has(HostBlockCause::PageableCopy) {
        suggestion = suggestion
            .step("Pin the host side of the copies: `pin_memory=True` in the DataLoader, `tensor.pin_memory()`, or a preallocated pinned buffer; a copy to or from pageable memory blocks the host even with `non_blocking=True`.")
            .step("Then copy with `non_blocking=True` (`.to(device, non_blocking=True)`, `out.copy_(gpu_tensor, non_blocking=True)` into the pinned buffer) and wait on an event only where the values are read.")
            .code("python", "host = torch.empty(shape, dtype=dtype, pin_memory=True)  # once\nhost.copy_(gpu_tensor, non_blocking=True)\ndone = torch.cuda.Event(); done.record()\n# ... launch more work ...\ndone.synchronize()  # only where the values are needed");
    }
    if item_sites || has(HostBlockCause::PageableCopy) {
        suggestion = suggestion.step("Move `.item()`, `.cpu()` and `.tolist()` out of the step (the `aten::item` / `aten::_local_scalar_dense` sites above): keep values on the GPU and read them every N steps, or compute split sizes on the host once.");
    }
    if has(HostBlockCause::Synchronize)
        || has(HostBlockCause::EventWait)
        || has(HostBlockCause::SynchronousCopy)
    {
        suggestion = suggestion
            .step("Remove `torch.cuda.synchronize()`, event waits and synchronous copies from the step; accumulate metrics on the GPU and read them every N steps.");
    }
    Some(
        suggestion
            .step("Use `torch.cuda.set_sync_debug_mode(\"warn\")` to report synchronizing calls as they happen, and re-profile.")
            .code("python", "running_loss += loss.detach()          # stays on the GPU\nif step % 100 == 0:\n    print(running_loss.item() / 100)  # one sync per 100 steps\n    running_loss.zero_()"),
    )
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

    /// A site: `(cause, call, copy kind, op, annotation, calls, ms)`.
    type Site<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        u64,
        f64,
    );

    /// Host-blocked facts of 5 steps of 100 ms, from its sites.
    fn blocked(sites: &[Site]) -> Value {
        let step_ms = 500.0;
        let mut causes: Vec<(&str, u64, f64)> = Vec::new();
        for &(cause, _, _, _, _, calls, ms) in sites {
            match causes.iter_mut().find(|c| c.0 == cause) {
                Some(c) => {
                    c.1 += calls;
                    c.2 += ms;
                }
                None => causes.push((cause, calls, ms)),
            }
        }
        let total: f64 = causes.iter().map(|c| c.2).sum();
        json!({
            "calls": causes.iter().map(|c| c.1).sum::<u64>(), "time_us": total * 1000.0,
            "step_time_us": step_ms * 1000.0, "pct_of_step": 100.0 * total / step_ms,
            "by_cause": causes.iter().map(|&(cause, calls, ms)| json!({
                "cause": cause, "calls": calls, "time_us": ms * 1000.0, "pct_of_step": 100.0 * ms / step_ms
            })).collect::<Vec<_>>(),
            "by_site": sites.iter().map(|&(cause, call, kind, op, annotation, calls, ms)| json!({
                "cause": cause, "call": call, "copy_kind": kind, "op": op, "annotation": annotation,
                "calls": calls, "time_us": ms * 1000.0, "pct_of_step": 100.0 * ms / step_ms
            })).collect::<Vec<_>>(),
        })
    }

    /// The main stream (7) idles `host_wait` ms of a 100 ms span waiting for the host and
    /// `other` ms on other streams.
    fn main_stream(host_wait: f64, other: f64) -> (Value, Value) {
        (
            json!([ { "stream": 7, "mean": 2.0, "max": 30, "busy_pct": 80.0, "gpu_time_us": 40_000.0 } ]),
            json!([ { "stream": 7, "host_wait_us": host_wait * 1000.0, "kernel_wait_us": 0.0, "other_us": other * 1000.0 } ]),
        )
    }

    #[test]
    fn blocking_pageable_copies_get_a_high_impact_suggestion_naming_them() {
        let (queue, idle) = main_stream(40.0, 10.0);
        let trace = json!({ "source": "torchrec.json", "steps": 5,
            "gpu_breakdown": breakdown(50.0, 40.0, 5.0, 5.0), "queue_length": queue, "idle_breakdown": idle,
            "host_blocked": blocked(&[
                ("pageable_copy", "cudaMemcpyAsync", Some("DtoH (Device -> Pageable)"), Some("aten::_local_scalar_dense"), Some("## sparse_data_dist ##"), 40, 120.0),
                ("pageable_copy", "cudaMemcpyAsync", Some("DtoH (Device -> Pageable)"), Some("aten::copy_"), Some("## sparse_data_dist ##"), 20, 50.0),
                ("launch_backpressure", "cudaLaunchKernel", None, Some("aten::mm"), None, 3, 30.0),
                ("synchronize", "cudaStreamSynchronize", None, None, None, 5, 5.0),
            ]) });
        expect![[r#"
            [
              {
                "id": "host_sync",
                "rule_id": "host_sync",
                "category": "compute",
                "impact": "high",
                "difficulty": "easy",
                "title": "Stop blocking the host: pin the memory of the copies and move .item() out of the step",
                "description": "The step calls into the CUDA runtime in ways that hold the CPU until the GPU catches up: copies to or from pageable memory, synchronous copies, synchronizations. Each wait drains the queue, so the GPU then idles while the CPU launches the next kernels.",
                "expected_improvement": [
                  {
                    "metric": "latency",
                    "min_reduction": 0.0,
                    "max_reduction": 0.35,
                    "basis": "at most the smaller of the time the CPU is blocked (35.0 % of the step) and the GPU's idle time waiting for the host (40.0 % of the span, of 50.0 % idle): without the blocking the step still takes the longer of its CPU work and its GPU work; a claim on the GPU idle pool (50.0 % of the GPU span): claims on one pool recover the same time, so the report combines them by their maximum and never beyond the pool"
                  }
                ],
                "implementation_steps": [
                  "Pin the host side of the copies: `pin_memory=True` in the DataLoader, `tensor.pin_memory()`, or a preallocated pinned buffer; a copy to or from pageable memory blocks the host even with `non_blocking=True`.",
                  "Then copy with `non_blocking=True` (`.to(device, non_blocking=True)`, `out.copy_(gpu_tensor, non_blocking=True)` into the pinned buffer) and wait on an event only where the values are read.",
                  "Move `.item()`, `.cpu()` and `.tolist()` out of the step (the `aten::item` / `aten::_local_scalar_dense` sites above): keep values on the GPU and read them every N steps, or compute split sizes on the host once.",
                  "Remove `torch.cuda.synchronize()`, event waits and synchronous copies from the step; accumulate metrics on the GPU and read them every N steps.",
                  "Use `torch.cuda.set_sync_debug_mode(\"warn\")` to report synchronizing calls as they happen, and re-profile."
                ],
                "code_examples": [
                  {
                    "language": "python",
                    "code": "host = torch.empty(shape, dtype=dtype, pin_memory=True)  # once\nhost.copy_(gpu_tensor, non_blocking=True)\ndone = torch.cuda.Event(); done.record()\n# ... launch more work ...\ndone.synchronize()  # only where the values are needed"
                  },
                  {
                    "language": "python",
                    "code": "running_loss += loss.detach()          # stays on the GPU\nif step % 100 == 0:\n    print(running_loss.item() / 100)  # one sync per 100 steps\n    running_loss.zero_()"
                  }
                ],
                "warnings": [],
                "evidence": [
                  "torchrec.json: 65 blocking call(s) in 5 step(s) (13.0 per step) hold the CPU for 175.00 ms, 35.0 % of step time: copies to or from pageable memory 170.00 ms ×60 (34.0 %), synchronizations 5.00 ms ×5 (1.0 %)",
                  "issued by: cudaMemcpyAsync DtoH (Device -> Pageable) in aten::_local_scalar_dense under ## sparse_data_dist ##: ×40, 120.00 ms (24.0 % of the step); cudaMemcpyAsync DtoH (Device -> Pageable) in aten::copy_ under ## sparse_data_dist ##: ×20, 50.00 ms (10.0 % of the step); cudaStreamSynchronize: ×5, 5.00 ms (1.0 % of the step)",
                  "3 launch call(s) waited 30.00 ms for room in a full launch queue: there the GPU is the bottleneck, so that time is not claimed",
                  "the GPU idles 50.0 % of the span"
                ],
                "slack": [
                  {
                    "pool": "gpu_idle",
                    "pool_fraction": 0.5,
                    "min_fraction": 0.0,
                    "max_fraction": 0.35
                  }
                ]
              }
            ]"#]]
        .assert_eq(&render(&HostSync, trace));
    }

    #[test]
    fn launches_waiting_on_a_full_queue_are_not_claimed() {
        let trace = json!({ "steps": 5, "gpu_breakdown": breakdown(20.0, 78.0, 0.0, 2.0),
            "host_blocked": blocked(&[
                ("launch_backpressure", "cudaLaunchKernel", None, Some("aten::mm"), None, 144, 110.0),
            ]) });
        expect!["[]"].assert_eq(&figures(&HostSync, trace));
    }

    #[test]
    fn the_claim_is_at_most_the_host_wait_idle() {
        // Blocked 20 % of the step; the GPU idles 50 %, but only 8 % of it waits for the host.
        let (queue, idle) = main_stream(8.0, 42.0);
        let trace = json!({ "steps": 5, "gpu_breakdown": breakdown(50.0, 45.0, 5.0, 0.0),
            "queue_length": queue, "idle_breakdown": idle,
            "host_blocked": blocked(&[
                ("event_wait", "cudaEventSynchronize", None, None, Some("DistributedDataParallel.forward"), 24, 100.0),
            ]) });
        expect![[r#"
            [
              {
                "expected_improvement": [
                  {
                    "basis": "at most the smaller of the time the CPU is blocked (20.0 % of the step) and the GPU's idle time waiting for the host (8.0 % of the span, of 50.0 % idle): without the blocking the step still takes the longer of its CPU work and its GPU work; a claim on the GPU idle pool (50.0 % of the GPU span): claims on one pool recover the same time, so the report combines them by their maximum and never beyond the pool",
                    "max_reduction": 0.08,
                    "metric": "latency",
                    "min_reduction": 0.0
                  }
                ],
                "id": "host_sync",
                "impact": "low",
                "slack": [
                  {
                    "max_fraction": 0.08,
                    "min_fraction": 0.0,
                    "pool": "gpu_idle",
                    "pool_fraction": 0.5
                  }
                ]
              }
            ]"#]]
        .assert_eq(&figures(&HostSync, trace));
    }
}
