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
//! sharding strategies hide it; at most the exposed communication time comes back.
//!
//! ## When it stays silent
//! No communication kernels, or communication mostly overlapped. Without a trace it says it
//! needs one.
//!
//! ## Example
//! A DDP trace where `ncclKernel_AllReduce` runs after the backward pass with no kernels beside it.

use advisor_core::{
    Category, Difficulty, ExpectedImprovement, ImprovementMetric, OptimizationRule,
    OptimizationSuggestion, RuleError, RuleInput,
};

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
        if exposed.is_nan() || (exposed <= EXPOSED_PCT && !poorly_overlapped) {
            return Ok(Vec::new());
        }
        let source = trace.source.as_deref().unwrap_or("the trace");
        let share = exposed / 100.0;
        let mut suggestion = OptimizationSuggestion::new(
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
        ))
        .improvement(ExpectedImprovement::new(
            ImprovementMetric::Throughput,
            0.0,
            share,
            format!(
                "at most the exposed communication share of GPU time in the trace ({})",
                facts::percent(share)
            ),
        ));
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
