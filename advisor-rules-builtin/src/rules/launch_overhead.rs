//! `launch_overhead`: many kernels finish faster than the CPU can launch them.
//!
//! ## What it checks
//! A PyTorch profiler trace where at least 100 kernels were matched to their launch call (by
//! correlation id) and at least 30 % of them ran for less time on the GPU than the launch call
//! took on the CPU. The kernels of a CUDA graph are never compared with the whole
//! `cudaGraphLaunch` that runs them all (the trace reader does not match them to it).
//!
//! ## Why it matters
//! When a kernel is shorter than its launch, the GPU drains its queue faster than the CPU
//! fills it and waits between kernels: the step is launch-bound. CUDA graphs replay a whole
//! captured sequence with one launch, and torch.compile fuses small kernels so there are
//! fewer to launch. What comes back is at most the GPU's idle time in the trace: the kernels
//! keep their time, and only the gaps where the GPU waited for the CPU to launch (the host
//! wait of the main stream in HTA's idle-time breakdown; waits on other streams or on
//! collectives stay). The claim is on the GPU idle pool that `gpu_idle`, `data_loader`,
//! `host_sync`, `kernel_fusion` and `batch_size` claim too, and the report counts the pool once
//! (claims on one pool combine by their maximum). Without an idle-time breakdown it claims up
//! to the whole idle pool.
//!
//! ## When it stays silent
//! Fewer than 100 matched kernels, under 30 % shorter than their launch, a GPU that is idle
//! less than 5 % of the time, or a deep queue (on average 10 or more activities launched and
//! not finished on the main stream): then the CPU runs ahead of a full queue, the job is
//! GPU-bound and launches cost the GPU nothing. Without a trace it says it needs one.
//!
//! ## Example
//! Eager-mode inference of a small transformer: 80 % of 5,000 kernels run 3 µs each while
//! each `cudaLaunchKernel` takes 6 µs, and the GPU idles 45 % of the span: step time
//! −0–45 %, a claim on the GPU idle pool (on the host-wait part of it when the trace has an
//! idle-time breakdown). Without a GPU time breakdown the rule fires with no figure.

use advisor_core::{
    Category, Difficulty, Impact, OptimizationRule, OptimizationSuggestion, RuleError, RuleInput,
    SlackClaim, SlackPool,
};

use super::gpu_idle;
use crate::facts;

/// At least this many matched kernels ...
const MIN_KERNELS: u64 = 100;
/// ... of which at least this share ran shorter than their launch call.
const SHORTER_SHARE: f64 = 0.30;
/// Below this GPU idle share (percent) the queue never drains, so launches are not the limit.
const MIN_IDLE_PCT: f64 = 5.0;
/// A main-stream queue this deep on average means the host runs ahead: GPU-bound.
const DEEP_QUEUE: f64 = 10.0;

/// See the module documentation.
pub(crate) struct LaunchOverhead;

impl OptimizationRule for LaunchOverhead {
    fn id(&self) -> &str {
        "launch_overhead"
    }

    fn category(&self) -> Category {
        Category::Compute
    }

    fn description(&self) -> &str {
        "Many kernels shorter than their launch (trace): use CUDA graphs or torch.compile"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let context = input.context;
        let trace = facts::trace(context)?;
        let Some(launches) = &trace.kernel_launches else {
            return Ok(Vec::new());
        };
        if launches.matched < MIN_KERNELS {
            return Ok(Vec::new());
        }
        let share = launches.shorter_than_launch as f64 / launches.matched as f64;
        if share < SHORTER_SHARE {
            return Ok(Vec::new());
        }
        let idle = gpu_idle::idle_pool(trace);
        if idle.is_some_and(|idle| idle * 100.0 < MIN_IDLE_PCT) {
            return Ok(Vec::new());
        }
        let queue = gpu_idle::main_queue_mean(trace);
        if queue.is_some_and(|queue| queue >= DEEP_QUEUE) {
            return Ok(Vec::new());
        }
        let host_wait = gpu_idle::host_wait_pool(trace);
        let source = trace.source.as_deref().unwrap_or("the trace");
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Compute,
            Impact::Medium,
            Difficulty::Medium,
            "Cut kernel launch overhead with CUDA graphs or torch.compile",
        )
        .evidence(format!(
            "{source}: {} of {} kernels matched to their launch ({}) ran shorter than the launch call",
            launches.shorter_than_launch,
            launches.matched,
            facts::percent(share)
        ))
        .evidence(format!(
            "{} kernels under {:.0} µs take {:.1} ms of {:.1} ms of kernel time",
            launches.short_kernels,
            launches.short_kernel_threshold_us,
            launches.short_kernel_time_us / 1000.0,
            launches.kernel_time_us / 1000.0
        ));
        if let (Some(call), Some(p50)) =
            (launches.launch_call_us_mean, launches.launch_delay_us_p50)
        {
            suggestion = suggestion.evidence(format!(
                "a launch call takes {call:.1} µs on average; median launch-to-kernel-start delay {p50:.1} µs"
            ));
        }
        if let Some(queue) = queue {
            suggestion = suggestion.evidence(format!(
                "the main stream has {queue:.1} activities launched and not finished on average: the GPU drains its queue"
            ));
        }
        match idle.zip(host_wait) {
            Some((idle, host_wait)) => {
                suggestion.impact = facts::impact_from_reduction(host_wait);
                let basis = if host_wait < idle {
                    format!(
                        "a launch-bound GPU waits between kernels; removing launches recovers at most the time the main stream waited for the host ({} of the span, of {} idle; the rest waits on other streams or collectives)",
                        facts::percent(host_wait),
                        facts::percent(idle)
                    )
                } else {
                    format!(
                        "a launch-bound GPU waits between kernels; removing launches recovers at most the GPU idle share in the trace ({})",
                        facts::percent(idle)
                    )
                };
                suggestion = gpu_idle::claim(
                    suggestion,
                    SlackClaim {
                        pool: SlackPool::GpuIdle,
                        pool_fraction: idle,
                        min_fraction: 0.0,
                        max_fraction: host_wait,
                    },
                    &basis,
                );
            }
            None => {
                suggestion = suggestion.warning(
                    "The gain is not estimated: the trace has no GPU time breakdown to bound it.",
                );
            }
        }
        Ok(vec![suggestion
            .description(
                "Many kernels finish before the CPU has launched the next one, so the GPU waits on the CPU. \
                 CUDA graphs replay a captured sequence of kernels with one launch; torch.compile also fuses small kernels.",
            )
            .step("Try torch.compile with mode=\"reduce-overhead\" (it captures CUDA graphs).")
            .step("Or capture the step manually with torch.cuda.graphs (static shapes and static input buffers required).")
            .step("Re-profile: the share of kernels shorter than their launch should drop and GPU idle time with it.")
            .code("python", "model = torch.compile(model, mode=\"reduce-overhead\")")
            .code("python", "g = torch.cuda.CUDAGraph()\nwith torch.cuda.graph(g):\n    static_out = model(static_in)\n# each step: static_in.copy_(batch); g.replay()")
            .warning("CUDA graphs need static shapes and memory addresses; dynamic shapes cause re-capture or fall back to eager.")])
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::{Value, json};

    use super::LaunchOverhead;
    use crate::rules::test_support::{breakdown, figures, render};

    fn launches(kernels: u64, shorter: u64, short: u64) -> Value {
        json!({ "kernels": kernels, "matched": kernels, "shorter_than_launch": shorter,
                "short_kernels": short, "short_kernel_threshold_us": 20.0,
                "short_kernel_time_us": short as f64 * 5.0, "kernel_time_us": 60_000.0,
                "launch_call_us_mean": 6.0, "launch_delay_us_p50": 12.0 })
    }

    #[test]
    fn a_launch_bound_gpu_claims_the_idle_pool() {
        let trace = json!({ "source": "small.json", "gpu_breakdown": breakdown(45.0, 40.0, 0.0, 15.0),
                            "kernel_launches": launches(2000, 1500, 1800) });
        expect![[r#"
            [
              {
                "id": "launch_overhead",
                "rule_id": "launch_overhead",
                "category": "compute",
                "impact": "high",
                "difficulty": "medium",
                "title": "Cut kernel launch overhead with CUDA graphs or torch.compile",
                "description": "Many kernels finish before the CPU has launched the next one, so the GPU waits on the CPU. CUDA graphs replay a captured sequence of kernels with one launch; torch.compile also fuses small kernels.",
                "expected_improvement": [
                  {
                    "metric": "latency",
                    "min_reduction": 0.0,
                    "max_reduction": 0.45,
                    "basis": "a launch-bound GPU waits between kernels; removing launches recovers at most the GPU idle share in the trace (45.0 %); a claim on the GPU idle pool (45.0 % of the GPU span): claims on one pool recover the same time, so the report combines them by their maximum and never beyond the pool"
                  }
                ],
                "implementation_steps": [
                  "Try torch.compile with mode=\"reduce-overhead\" (it captures CUDA graphs).",
                  "Or capture the step manually with torch.cuda.graphs (static shapes and static input buffers required).",
                  "Re-profile: the share of kernels shorter than their launch should drop and GPU idle time with it."
                ],
                "code_examples": [
                  {
                    "language": "python",
                    "code": "model = torch.compile(model, mode=\"reduce-overhead\")"
                  },
                  {
                    "language": "python",
                    "code": "g = torch.cuda.CUDAGraph()\nwith torch.cuda.graph(g):\n    static_out = model(static_in)\n# each step: static_in.copy_(batch); g.replay()"
                  }
                ],
                "warnings": [
                  "CUDA graphs need static shapes and memory addresses; dynamic shapes cause re-capture or fall back to eager."
                ],
                "evidence": [
                  "small.json: 1500 of 2000 kernels matched to their launch (75.0 %) ran shorter than the launch call",
                  "1800 kernels under 20 µs take 9.0 ms of 60.0 ms of kernel time",
                  "a launch call takes 6.0 µs on average; median launch-to-kernel-start delay 12.0 µs"
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
            ]"#]].assert_eq(&render(&LaunchOverhead, trace));
    }

    #[test]
    fn without_a_breakdown_it_fires_with_no_figure() {
        let trace = json!({ "kernel_launches": launches(1000, 600, 700) });
        expect![[r#"
            [
              {
                "expected_improvement": [],
                "id": "launch_overhead",
                "impact": "medium",
                "slack": []
              }
            ]"#]]
        .assert_eq(&figures(&LaunchOverhead, trace));
    }

    /// The stream facts of a trace whose main stream (7) has `queue` activities queued on
    /// average and idles `host_wait` ms waiting for the host and `other` ms on other streams.
    fn streams(queue: f64, host_wait: f64, other: f64) -> (Value, Value) {
        (
            json!([ { "stream": 7, "mean": queue, "max": 1023, "busy_pct": 99.0, "gpu_time_us": 50_000.0 },
                    { "stream": 20, "mean": 0.1, "max": 1, "busy_pct": 5.0, "gpu_time_us": 1_000.0 } ]),
            json!([ { "stream": 7, "host_wait_us": host_wait * 1000.0, "kernel_wait_us": 0.0, "other_us": other * 1000.0 },
                    { "stream": 20, "host_wait_us": 90_000.0, "kernel_wait_us": 0.0, "other_us": 0.0 } ]),
        )
    }

    #[test]
    fn a_deep_queue_is_gpu_bound_and_gets_no_launch_advice() {
        // CUDA graphs and torch.compile with ~1,000 operations queued on the main stream.
        let (queue, idle) = streams(838.7, 20.0, 25.0);
        let trace = json!({ "gpu_breakdown": breakdown(45.0, 40.0, 0.0, 15.0),
                            "kernel_launches": launches(2000, 1500, 1800),
                            "queue_length": queue, "idle_breakdown": idle });
        expect!["[]"].assert_eq(&figures(&LaunchOverhead, trace));
    }

    #[test]
    fn a_shallow_queue_claims_only_the_host_wait_idle() {
        // Of 45 % idle, the main stream waited 20 % for the host and 25 % on other streams.
        let (queue, idle) = streams(1.5, 20.0, 25.0);
        let trace = json!({ "gpu_breakdown": breakdown(45.0, 40.0, 0.0, 15.0),
                            "kernel_launches": launches(2000, 1500, 1800),
                            "queue_length": queue, "idle_breakdown": idle });
        expect![[r#"
            [
              {
                "expected_improvement": [
                  {
                    "basis": "a launch-bound GPU waits between kernels; removing launches recovers at most the time the main stream waited for the host (20.0 % of the span, of 45.0 % idle; the rest waits on other streams or collectives); a claim on the GPU idle pool (45.0 % of the GPU span): claims on one pool recover the same time, so the report combines them by their maximum and never beyond the pool",
                    "max_reduction": 0.2,
                    "metric": "latency",
                    "min_reduction": 0.0
                  }
                ],
                "id": "launch_overhead",
                "impact": "medium",
                "slack": [
                  {
                    "max_fraction": 0.2,
                    "min_fraction": 0.0,
                    "pool": "gpu_idle",
                    "pool_fraction": 0.45
                  }
                ]
              }
            ]"#]]
        .assert_eq(&figures(&LaunchOverhead, trace));
    }
}
