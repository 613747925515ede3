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
//! at most the idle share of the GPU time: the kernels still take the time they take. That idle
//! time is one pool of slack, and every trace rule that recovers GPU idle time
//! (`data_loader`, `launch_overhead`, `host_sync`, `kernel_fusion`, `batch_size`) claims
//! this same pool, whatever the cause it attacks: the report combines claims on one pool by
//! their maximum, so the idle time is counted once, never once per rule. With HTA's idle-time
//! breakdown in the trace, the claim is only the main stream's host-wait idle: time it spends
//! waiting on other streams or collectives is not the CPU's to fill. When that is most of the
//! idle, the suggestion says so and points at overlap and stragglers instead, with no claim.
//!
//! ## When it stays silent
//! Idle time at most 10 %, or a trace without GPU activity. Without a trace it says it needs one.
//!
//! ## Example
//! A trace of a small model at batch 8 where the GPU is idle 45 % of the span: step time
//! −0–45 % (at most ×1.8), a claim on the GPU idle pool of 45 %.

use advisor_core::{
    Category, Difficulty, ExpectedImprovement, ImprovementMetric, OptimizationRule,
    OptimizationSuggestion, RuleError, RuleInput, SlackClaim, SlackPool, StreamQueueLength,
    TraceFacts,
};

use crate::facts;

/// Idle time above this share of the GPU span (percent) is worth attacking.
const IDLE_PCT: f64 = 10.0;

/// The GPU idle pool of a trace: the idle share of the GPU span, when the trace has a GPU
/// time breakdown with activity in it. Every claim on recovered GPU idle time takes from it.
pub(crate) fn idle_pool(trace: &TraceFacts) -> Option<f64> {
    let breakdown = trace.gpu_breakdown.as_ref()?;
    (breakdown.kernel_time_us > 0.0 && breakdown.idle_pct.is_finite())
        .then(|| (breakdown.idle_pct / 100.0).clamp(0.0, 1.0))
}

/// The trace's main GPU stream: the one whose own activities take the most GPU time (from
/// the queue-length facts).
pub(crate) fn main_stream(trace: &TraceFacts) -> Option<&StreamQueueLength> {
    trace
        .queue_length
        .iter()
        .filter(|q| q.gpu_time_us.is_finite())
        .max_by(|a, b| a.gpu_time_us.total_cmp(&b.gpu_time_us))
}

/// The main stream's idle split as HTA's idle-time breakdown splits it:
/// `(host wait, all idle)` in microseconds, when the trace has both facts.
fn main_stream_idle(trace: &TraceFacts) -> Option<(f64, f64)> {
    let main = main_stream(trace)?;
    let row = trace
        .idle_breakdown
        .iter()
        .find(|r| r.stream == main.stream)?;
    let parts = [row.host_wait_us, row.kernel_wait_us, row.other_us];
    parts.iter().all(|p| p.is_finite()).then(|| {
        let host = row.host_wait_us.max(0.0);
        (host, parts.iter().map(|p| p.max(0.0)).sum())
    })
}

/// The share of the main stream's idle time that is host wait (the GPU waited for the CPU to
/// launch), as a fraction; `None` without an idle-time breakdown or queue-length facts.
pub(crate) fn host_wait_share_of_idle(trace: &TraceFacts) -> Option<f64> {
    let (host, all) = main_stream_idle(trace)?;
    Some(if all > 0.0 { host / all } else { 0.0 })
}

/// The part of the GPU idle pool that is host-wait idle: the main stream's host wait as a
/// share of the GPU span, at most the idle pool. Idle spent waiting on other streams or on
/// collectives is not in it: launching sooner cannot fill it. Falls back to the whole idle
/// pool without an idle-time breakdown.
pub(crate) fn host_wait_pool(trace: &TraceFacts) -> Option<f64> {
    let idle = idle_pool(trace)?;
    let span = trace.gpu_breakdown.as_ref()?.kernel_time_us;
    Some(match main_stream_idle(trace) {
        Some((host, _)) if span > 0.0 => (host / span).clamp(0.0, idle),
        _ => idle,
    })
}

/// The mean queue length of the main stream: how far the host runs ahead of the GPU.
pub(crate) fn main_queue_mean(trace: &TraceFacts) -> Option<f64> {
    main_stream(trace).map(|q| q.mean).filter(|m| m.is_finite())
}

/// The host-blocked pool of a trace without a GPU time breakdown: the step time the host
/// spends in the data loader and in synchronizing calls (they may nest, so the pool is at
/// most their sum).
pub(crate) fn host_blocked_pool(trace: &TraceFacts) -> f64 {
    let share = |pct: f64| {
        if pct.is_finite() {
            (pct / 100.0).max(0.0)
        } else {
            0.0
        }
    };
    let loader = trace
        .data_loader
        .as_ref()
        .map_or(0.0, |l| share(l.pct_of_step));
    let syncs = trace
        .host_syncs
        .as_ref()
        .map_or(0.0, |s| share(s.pct_of_step));
    (loader + syncs).min(1.0)
}

/// How a pool is named in a basis, and what its share is a share of.
fn pool_text(pool: SlackPool) -> (&'static str, &'static str) {
    match pool {
        SlackPool::GpuIdle => ("GPU idle", "the GPU span"),
        SlackPool::ExposedCommunication => ("exposed communication", "the GPU span"),
        SlackPool::HostBlocked => ("host-blocked", "the step"),
        SlackPool::Fp32Matmuls => ("fp32 matmul", "the GPU span"),
        SlackPool::OptimizerStep => ("optimizer step", "the GPU span"),
        SlackPool::LayoutTransposes => ("layout transpose", "the GPU span"),
        _ => (pool.as_str(), "the step"),
    }
}

/// Attaches a claim on a pool of slack to a suggestion, with the step-time improvement that
/// states the same numbers: `basis` says why the rule recovers `min..=max` of the step, and
/// the improvement adds which pool it takes from and that claims on one pool do not add.
pub(crate) fn claim(
    suggestion: OptimizationSuggestion,
    claim: SlackClaim,
    basis: &str,
) -> OptimizationSuggestion {
    debug_assert!(
        0.0 <= claim.min_fraction
            && claim.min_fraction <= claim.max_fraction
            && claim.max_fraction <= claim.pool_fraction,
        "a claim stays within its pool: {claim:?}"
    );
    let (name, of) = pool_text(claim.pool);
    let improvement = ExpectedImprovement::new(
        ImprovementMetric::Latency,
        claim.min_fraction,
        claim.max_fraction,
        format!(
            "{basis}; a claim on the {name} pool ({} of {of}): claims on one pool recover the same time, \
             so the report combines them by their maximum and never beyond the pool",
            facts::percent(claim.pool_fraction)
        ),
    );
    suggestion.slack(claim).improvement(improvement)
}

/// The GPU idles, but not for the CPU: its main stream waits on other streams or on
/// collectives (HTA's "other" idle). Launching sooner cannot fill that; the remedies are
/// overlap, balance and fewer dependencies. No claim: the trace does not size what they buy.
fn waiting_elsewhere(
    trace: &TraceFacts,
    breakdown: &advisor_core::GpuTimeBreakdown,
    idle: f64,
    host_wait: f64,
) -> OptimizationSuggestion {
    let source = trace.source.as_deref().unwrap_or("the trace");
    OptimizationSuggestion::new(
        "gpu_idle",
        Category::Hardware,
        advisor_core::Impact::Medium,
        Difficulty::Hard,
        format!(
            "The GPU idles {} of the time waiting on other streams and collectives, not on the CPU",
            facts::percent(idle)
        ),
    )
    .description(
        "The main GPU stream sits idle, but its next kernel was already launched: it waits on work on another stream \
         (a copy, a collective, an event) or on a slower rank. Feeding the GPU faster, a larger batch or CUDA graphs \
         do not fill this time.",
    )
    .evidence(format!(
        "{source}: GPU idle {:.1} ms of {:.1} ms ({}); of it, host wait only {} of the span (Holistic Trace Analysis's idle-time breakdown)",
        breakdown.idle_us / 1000.0,
        breakdown.kernel_time_us / 1000.0,
        facts::percent(idle),
        facts::percent(host_wait)
    ))
    .step("Open the trace and look at what the other streams run while the main stream waits: NCCL kernels, copies, event waits.")
    .step("With several ranks, read them together (`advisor trace DIR` or several files): a straggler rank makes every other rank wait in its collectives.")
    .step("Overlap communication with computation (DDP bucket sizes, FSDP prefetch, async all-to-all) and split large copies so they run beside compute.")
    .warning("The gain is not estimated: the trace shows the wait, not what overlap or rebalancing would recover.")
}

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
        let (Some(breakdown), Some(idle)) = (&trace.gpu_breakdown, idle_pool(trace)) else {
            return Ok(Vec::new());
        };
        if idle * 100.0 <= IDLE_PCT {
            return Ok(Vec::new());
        }
        let source = trace.source.as_deref().unwrap_or("the trace");
        // What feeding the GPU sooner can recover is the host-wait part of the idle time (HTA's
        // idle-time breakdown); time spent waiting on other streams or collectives stays.
        let host_wait = host_wait_pool(trace).unwrap_or(idle);
        let waits_elsewhere = (idle - host_wait).max(0.0);
        if host_wait * 100.0 <= IDLE_PCT {
            return Ok(vec![waiting_elsewhere(trace, breakdown, idle, host_wait)]);
        }
        let suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Hardware,
            facts::impact_from_reduction(host_wait),
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
        ));
        let mut suggestion = claim(
            suggestion,
            SlackClaim {
                pool: SlackPool::GpuIdle,
                pool_fraction: idle,
                min_fraction: 0.0,
                max_fraction: host_wait,
            },
            &if waits_elsewhere > 0.0 {
                format!(
                    "upper bound: the host-wait share of the GPU span ({} of the {} idle; Holistic Trace Analysis's idle-time \
                     breakdown): the rest is waiting on other streams or collectives, which feeding the GPU sooner cannot fill; \
                     the kernels keep their time",
                    facts::percent(host_wait),
                    facts::percent(idle)
                )
            } else {
                format!(
                    "upper bound: the idle share of the GPU span in the trace ({}, Holistic Trace Analysis's temporal breakdown); \
                     the kernels keep their time",
                    facts::percent(idle)
                )
            },
        );
        if waits_elsewhere * 100.0 > IDLE_PCT / 2.0 {
            suggestion = suggestion.evidence(format!(
                "{} of the span the main stream waits on other streams or collectives, not on the CPU (HTA's \"other\" idle)",
                facts::percent(waits_elsewhere)
            ));
        }
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
        if let Some(wait) = &trace.input_wait
            && wait.gpu_idle_pct_of_step > 5.0
            && wait.steps > 0
        {
            suggestion = suggestion.evidence(format!(
                "{:.1} ms of each step pass before its first GPU work with the GPU idle ({:.1} % of the step): the input \
                 (see `data_loader`)",
                wait.gpu_idle_us / wait.steps as f64 / 1000.0,
                wait.gpu_idle_pct_of_step
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

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use super::GpuIdle;
    use crate::rules::test_support::{breakdown, render};

    #[test]
    fn idle_spent_waiting_on_other_streams_is_not_claimed() {
        // 45 % idle, of which the main stream waited on the host for only 5 %: the rest is
        // waiting on collectives (HTA's "other"), which launching sooner cannot fill.
        let trace = json!({
            "source": "rank0.json",
            "gpu_breakdown": breakdown(45.0, 40.0, 15.0, 0.0),
            "idle_breakdown": [{ "stream": 7, "host_wait_us": 5_000.0, "kernel_wait_us": 1_000.0, "other_us": 39_000.0 }],
            "queue_length": [{ "stream": 7, "mean": 3.0, "max": 12, "busy_pct": 90.0, "gpu_time_us": 50_000.0 }],
        });
        expect![[r#"
            [
              {
                "expected_improvement": [],
                "id": "gpu_idle",
                "impact": "medium",
                "slack": []
              }
            ]"#]]
        .assert_eq(&crate::rules::test_support::figures(
            &GpuIdle,
            trace.clone(),
        ));
        let rendered = render(&GpuIdle, trace);
        assert!(
            rendered.contains("waiting on other streams and collectives"),
            "{rendered}"
        );
    }

    #[test]
    fn a_gpu_idle_45_percent_claims_the_idle_pool() {
        let trace = json!({
            "source": "small.json",
            "gpu_breakdown": breakdown(45.0, 40.0, 0.0, 15.0),
            "data_loader": { "time_us": 8_000.0, "step_time_us": 100_000.0, "pct_of_step": 8.0, "calls": 4 },
        });
        expect![[r#"
            [
              {
                "id": "gpu_idle",
                "rule_id": "gpu_idle",
                "category": "hardware",
                "impact": "high",
                "difficulty": "medium",
                "title": "Keep the GPU busy: it is idle 45.0 % of the time",
                "description": "Between its first and last activity the GPU often has nothing to run: the CPU does not feed it fast enough. The usual causes are Python and launch overhead, data loading and host synchronization.",
                "expected_improvement": [
                  {
                    "metric": "latency",
                    "min_reduction": 0.0,
                    "max_reduction": 0.45,
                    "basis": "upper bound: the idle share of the GPU span in the trace (45.0 %, Holistic Trace Analysis's temporal breakdown); the kernels keep their time; a claim on the GPU idle pool (45.0 % of the GPU span): claims on one pool recover the same time, so the report combines them by their maximum and never beyond the pool"
                  }
                ],
                "implementation_steps": [
                  "Open the trace in Perfetto or TensorBoard and look at what the CPU does during the gaps on the GPU stream.",
                  "Remove launch overhead with torch.compile (mode=\"reduce-overhead\" uses CUDA graphs).",
                  "Overlap data loading (DataLoader workers, pinned memory) and avoid `.item()`, `.cpu()` and prints inside the step.",
                  "If the GPU is simply underfed, raise the batch size."
                ],
                "code_examples": [
                  {
                    "language": "python",
                    "code": "model = torch.compile(model, mode=\"reduce-overhead\")"
                  }
                ],
                "warnings": [
                  "Idle time at the start and end of a profiling window can be warm-up: profile steady-state steps (schedule with wait/warmup)."
                ],
                "evidence": [
                  "small.json: GPU idle 45.0 ms of 100.0 ms between the first and last GPU activity (45.0 %); compute 40.0 %, non-compute 15.0 %",
                  "data loading takes 8.0 % of the step (see `data_loader`)"
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
            ]"#]]
        .assert_eq(&render(&GpuIdle, trace));
    }

    #[test]
    fn a_busy_gpu_or_a_trace_without_gpu_activity_gives_nothing() {
        expect!["[]"].assert_eq(&render(
            &GpuIdle,
            json!({ "gpu_breakdown": breakdown(2.6, 96.8, 0.0, 0.6) }),
        ));
        expect!["[]"].assert_eq(&render(&GpuIdle, json!({ "steps": 4 })));
    }
}
