//! `communication_overlap`: collective communication runs exposed, not hidden behind compute.
//!
//! ## What it checks
//! A PyTorch profiler trace with communication kernels (NCCL or Gloo) where the time that
//! communication runs without any computation kernel is more than 5 % of the GPU time, or less
//! than half of the communication time overlaps computation while communication is at least
//! 5 % of the GPU time.
//!
//! ## Why it matters
//! Exposed communication stalls the step: in data-parallel training, gradient all-reduce can
//! run while the backward pass computes the next gradients. Bucketing, overlapping and
//! sharding strategies hide it; at most the exposed communication time comes back. That time
//! is its own pool of slack: in Holistic Trace Analysis's breakdown exposed communication,
//! idle time and computation are disjoint parts of the GPU span, so a claim on exposed
//! communication adds to claims on GPU idle time, and claims on it combine by their maximum.
//! Overlap alone hides communication only behind computation: when the exposed time exceeds
//! the computation that has no communication beside it yet, the rest comes back only by
//! communicating less (gradient accumulation, compression), and the rule says so.
//!
//! Where the trace records the collectives' sizes (`record_param_comms`), their bus
//! bandwidth over the kernels' time (the NCCL tests' definition) is held against the GPU's
//! link per direction: under a quarter of it, the collectives mostly wait for other ranks or
//! move messages too small to fill the link, and the report says so.
//!
//! ## When it stays silent
//! No communication kernels, or communication mostly overlapped. Without a trace it says it
//! needs one.
//!
//! ## Example
//! A DDP trace where `ncclKernel_AllReduce` runs after the backward pass with no kernels
//! beside it, exposed 25 % of the GPU span: step time −0–25 %, a claim on the exposed
//! communication pool.

use advisor_core::{
    Category, Difficulty, OptimizationRule, OptimizationSuggestion, RuleError, RuleInput,
    SlackClaim, SlackPool,
};

use super::gpu_idle;
use crate::facts;

/// Exposed communication above this share of GPU time (percent) is worth hiding.
const EXPOSED_PCT: f64 = 5.0;
/// Communication overlapped less than this share (percent) is poorly overlapped.
const OVERLAP_PCT: f64 = 50.0;

/// See the module documentation.
pub(crate) struct CommunicationOverlap;

impl OptimizationRule for CommunicationOverlap {
    fn id(&self) -> &str {
        "communication_overlap"
    }

    fn category(&self) -> Category {
        Category::Parallelization
    }

    fn description(&self) -> &str {
        "Communication not overlapped with compute (trace): overlap or shard it"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let context = input.context;
        let trace = facts::trace(context)?;
        let (Some(comm), Some(breakdown)) = (&trace.communication, &trace.gpu_breakdown) else {
            return Ok(Vec::new());
        };
        if breakdown.kernel_time_us <= 0.0 || comm.time_us <= 0.0 {
            return Ok(Vec::new());
        }
        let comm_pct = 100.0 * comm.time_us / breakdown.kernel_time_us;
        let exposed = comm.exposed_pct_of_kernel_time;
        let poorly_overlapped = comm.overlap_pct < OVERLAP_PCT && comm_pct >= EXPOSED_PCT;
        if !exposed.is_finite() || (exposed <= EXPOSED_PCT && !poorly_overlapped) {
            return Ok(Vec::new());
        }
        let source = trace.source.as_deref().unwrap_or("the trace");
        let share = (exposed / 100.0).clamp(0.0, 1.0);
        let suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Parallelization,
            facts::impact_from_reduction(share),
            Difficulty::Medium,
            "Overlap communication with computation",
        )
        .evidence(format!(
            "{source}: {} communication kernel(s) run {:.1} ms ({comm_pct:.1} % of {:.1} ms of GPU time); {:.1} % of it overlaps computation",
            comm.kernels,
            comm.time_us / 1000.0,
            breakdown.kernel_time_us / 1000.0,
            comm.overlap_pct
        ))
        .evidence(format!(
            "exposed communication (no computation beside it): {:.1} % of GPU time",
            exposed
        ));
        let mut suggestion = gpu_idle::claim(
            suggestion,
            SlackClaim {
                pool: SlackPool::ExposedCommunication,
                pool_fraction: share,
                min_fraction: 0.0,
                max_fraction: share,
            },
            &format!(
                "at most the exposed communication share of the GPU span in the trace ({})",
                facts::percent(share)
            ),
        );
        // Overlap hides communication behind computation only: exposed time beyond the
        // computation that has no communication beside it yet stays exposed.
        let exposed_us = share * breakdown.kernel_time_us;
        let free_compute_us = (breakdown.compute_us - comm.overlapped_us).max(0.0);
        if free_compute_us.is_finite() && exposed_us > free_compute_us {
            suggestion = suggestion.warning(format!(
                "Exposed communication ({:.1} ms) exceeds the computation it could still hide behind ({:.1} ms): overlap \
                 alone recovers at most that; the rest comes back only by communicating less (gradient accumulation, \
                 compression, a larger batch per rank).",
                exposed_us / 1000.0,
                free_compute_us / 1000.0
            ));
        }
        if let Some(bus) = comm
            .bus_bandwidth_gb_per_s
            .filter(|b| b.is_finite() && *b > 0.0)
        {
            // The link per direction, as the NCCL tests compare bus bandwidth with it.
            let link = input
                .facts
                .run_gpu_spec()
                .ok()
                .flatten()
                .and_then(|(_, spec)| {
                    spec.link_bandwidth_bytes_per_second
                        .map(|b| (spec.link.clone(), b / 2e9))
                });
            let slow = link
                .as_ref()
                .is_some_and(|(_, per_direction)| bus < 0.25 * per_direction);
            suggestion = suggestion.evidence(match link {
                Some((name, per_direction)) => format!(
                    "the collectives with recorded sizes move {bus:.1} GB/s of bus bandwidth over their kernels' time \
                     (NCCL tests' definition), {:.0} % of the {}'s {per_direction:.0} GB/s per direction",
                    100.0 * bus / per_direction,
                    if name.is_empty() { "link" } else { name.as_str() }
                ),
                None => format!(
                    "the collectives with recorded sizes move {bus:.1} GB/s of bus bandwidth over their kernels' time \
                     (NCCL tests' definition)"
                ),
            });
            if slow {
                suggestion = suggestion.warning(
                    "The collectives run far below the link's rate over their kernels' time: they mostly wait for \
                     other ranks to arrive, or move messages too small to fill the link. Overlap hides the wait only \
                     if the ranks stay in step; `advisor trace` on every rank splits the wait from the transfer.",
                );
            }
        }
        if let Some(backend) = &comm.backend {
            suggestion = suggestion.evidence(format!(
                "backend {backend}, world size {}",
                comm.world_size
                    .map_or("unknown".to_owned(), |w| w.to_string())
            ));
        }
        Ok(vec![suggestion
            .description(
                "Collective communication runs while no computation does, so the step waits for it. \
                 Data-parallel training can overlap gradient all-reduce with the backward pass.",
            )
            .step("With DDP, tune `bucket_cap_mb` so all-reduce of early buckets starts during the backward pass; keep `gradient_as_bucket_view=True`.")
            .step("With FSDP, enable forward and backward prefetch so all-gathers overlap compute.")
            .step("Accumulate gradients over several micro-batches with `no_sync()` to communicate less often.")
            .code("python", "model = DDP(model, bucket_cap_mb=50, gradient_as_bucket_view=True)\nwith model.no_sync():\n    loss(model(micro_batch)).backward()")
            .warning("Overlap needs communication and compute on separate streams; very small models may not have enough compute to hide it.")])
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use super::CommunicationOverlap;
    use crate::rules::test_support::{breakdown, render};

    #[test]
    fn exposed_all_reduce_claims_the_exposed_communication_pool() {
        let trace = json!({
            "source": "ddp.json",
            "gpu_breakdown": breakdown(5.0, 70.0, 25.0, 0.0),
            "communication": { "kernels": 40, "time_us": 30_000.0, "overlapped_us": 5_000.0,
                               "overlap_pct": 16.7, "exposed_pct_of_kernel_time": 25.0,
                               "backend": "nccl", "world_size": 8 }
        });
        expect![[r#"
            [
              {
                "id": "communication_overlap",
                "rule_id": "communication_overlap",
                "category": "parallelization",
                "impact": "medium",
                "difficulty": "medium",
                "title": "Overlap communication with computation",
                "description": "Collective communication runs while no computation does, so the step waits for it. Data-parallel training can overlap gradient all-reduce with the backward pass.",
                "expected_improvement": [
                  {
                    "metric": "latency",
                    "min_reduction": 0.0,
                    "max_reduction": 0.25,
                    "basis": "at most the exposed communication share of the GPU span in the trace (25.0 %); a claim on the exposed communication pool (25.0 % of the GPU span): claims on one pool recover the same time, so the report combines them by their maximum and never beyond the pool"
                  }
                ],
                "implementation_steps": [
                  "With DDP, tune `bucket_cap_mb` so all-reduce of early buckets starts during the backward pass; keep `gradient_as_bucket_view=True`.",
                  "With FSDP, enable forward and backward prefetch so all-gathers overlap compute.",
                  "Accumulate gradients over several micro-batches with `no_sync()` to communicate less often."
                ],
                "code_examples": [
                  {
                    "language": "python",
                    "code": "model = DDP(model, bucket_cap_mb=50, gradient_as_bucket_view=True)\nwith model.no_sync():\n    loss(model(micro_batch)).backward()"
                  }
                ],
                "warnings": [
                  "Overlap needs communication and compute on separate streams; very small models may not have enough compute to hide it."
                ],
                "evidence": [
                  "ddp.json: 40 communication kernel(s) run 30.0 ms (30.0 % of 100.0 ms of GPU time); 16.7 % of it overlaps computation",
                  "exposed communication (no computation beside it): 25.0 % of GPU time",
                  "backend nccl, world size 8"
                ],
                "slack": [
                  {
                    "pool": "exposed_communication",
                    "pool_fraction": 0.25,
                    "min_fraction": 0.0,
                    "max_fraction": 0.25
                  }
                ]
              }
            ]"#]].assert_eq(&render(&CommunicationOverlap, trace));
    }

    #[test]
    fn communication_longer_than_the_computation_cannot_all_be_overlapped() {
        let trace = json!({
            "gpu_breakdown": breakdown(5.0, 30.0, 60.0, 5.0),
            "communication": { "kernels": 40, "time_us": 70_000.0, "overlapped_us": 10_000.0,
                               "overlap_pct": 14.3, "exposed_pct_of_kernel_time": 60.0 }
        });
        expect![[r#"
            [
              {
                "id": "communication_overlap",
                "rule_id": "communication_overlap",
                "category": "parallelization",
                "impact": "high",
                "difficulty": "medium",
                "title": "Overlap communication with computation",
                "description": "Collective communication runs while no computation does, so the step waits for it. Data-parallel training can overlap gradient all-reduce with the backward pass.",
                "expected_improvement": [
                  {
                    "metric": "latency",
                    "min_reduction": 0.0,
                    "max_reduction": 0.6,
                    "basis": "at most the exposed communication share of the GPU span in the trace (60.0 %); a claim on the exposed communication pool (60.0 % of the GPU span): claims on one pool recover the same time, so the report combines them by their maximum and never beyond the pool"
                  }
                ],
                "implementation_steps": [
                  "With DDP, tune `bucket_cap_mb` so all-reduce of early buckets starts during the backward pass; keep `gradient_as_bucket_view=True`.",
                  "With FSDP, enable forward and backward prefetch so all-gathers overlap compute.",
                  "Accumulate gradients over several micro-batches with `no_sync()` to communicate less often."
                ],
                "code_examples": [
                  {
                    "language": "python",
                    "code": "model = DDP(model, bucket_cap_mb=50, gradient_as_bucket_view=True)\nwith model.no_sync():\n    loss(model(micro_batch)).backward()"
                  }
                ],
                "warnings": [
                  "Exposed communication (60.0 ms) exceeds the computation it could still hide behind (20.0 ms): overlap alone recovers at most that; the rest comes back only by communicating less (gradient accumulation, compression, a larger batch per rank).",
                  "Overlap needs communication and compute on separate streams; very small models may not have enough compute to hide it."
                ],
                "evidence": [
                  "the trace: 40 communication kernel(s) run 70.0 ms (70.0 % of 100.0 ms of GPU time); 14.3 % of it overlaps computation",
                  "exposed communication (no computation beside it): 60.0 % of GPU time"
                ],
                "slack": [
                  {
                    "pool": "exposed_communication",
                    "pool_fraction": 0.6,
                    "min_fraction": 0.0,
                    "max_fraction": 0.6
                  }
                ]
              }
            ]"#]].assert_eq(&render(&CommunicationOverlap, trace));
    }
}
