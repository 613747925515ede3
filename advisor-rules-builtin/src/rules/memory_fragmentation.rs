//! `memory_fragmentation`: transient peaks far above the steady state.
//!
//! ## What it checks
//! Peak memory is more than twice the memory in use when measured
//! (`memory_metrics.peak_bytes > 2 × current_bytes`).
//!
//! ## Why it matters
//! A peak far above the steady state means large transient buffers: a caching allocator keeps
//! their blocks reserved, and blocks of varying sizes fragment, so the next large request may
//! fail although enough memory is free in total. When `reserved_bytes` and `allocated_bytes`
//! are given, the reserved-but-unallocated share is what defragmenting can return, and that
//! is the expected improvement.
//!
//! ## When it stays silent
//! Peak at most twice the current use. Without both figures it says it needs them.
//!
//! ## Example
//! Variable-length batches on a GPU: `peak_bytes` 30 GiB, `current_bytes` 9 GiB.

use advisor_core::{
    Category, Difficulty, ExpectedImprovement, Impact, ImprovementMetric, OptimizationRule,
    OptimizationSuggestion, RuleError, RuleInput,
};

use crate::facts;

/// See the module documentation.
pub(crate) struct MemoryFragmentation;

impl OptimizationRule for MemoryFragmentation {
    fn id(&self) -> &str {
        "memory_fragmentation"
    }

    fn category(&self) -> Category {
        Category::Memory
    }

    fn description(&self) -> &str {
        "Peak memory over twice the steady state: reduce allocator fragmentation"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let context = input.context;
        let config = context.run_config()?;
        let missing = || {
            RuleError::MissingFacts(
                "memory_metrics.peak_bytes and memory_metrics.current_bytes".to_owned(),
            )
        };
        let memory = context.memory_metrics.as_ref().ok_or_else(missing)?;
        let (Some(peak), Some(current)) = (memory.peak_bytes, memory.current_bytes) else {
            return Err(missing());
        };
        if peak <= current.saturating_mul(2) {
            return Ok(Vec::new());
        }
        let on_gpu = facts::runs_on_gpu(context, &config).map(|(on_gpu, _)| on_gpu);
        let ratio = if current == 0 {
            "nothing is in use now".to_owned()
        } else {
            format!("{:.1}× the current use", peak as f64 / current as f64)
        };
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Memory,
            Impact::Medium,
            Difficulty::Easy,
            "Reduce memory fragmentation from transient peaks",
        )
        .description(format!(
            "Peak memory ({}) is {ratio} ({}). The caching allocator keeps the blocks of those transient buffers, \
             and blocks of varying sizes fragment: a later large allocation can fail with memory free in total.",
            facts::bytes_text(peak),
            facts::bytes_text(current),
        ))
        .evidence(format!(
            "peak_bytes {} > 2 × current_bytes {}",
            facts::bytes_text(peak),
            facts::bytes_text(current)
        ));
        match (memory.reserved_bytes, memory.allocated_bytes) {
            (Some(reserved), Some(allocated)) if reserved > allocated && reserved > 0 => {
                let waste = (reserved - allocated) as f64 / reserved as f64;
                suggestion.impact = facts::impact_from_reduction(waste);
                suggestion = suggestion
                    .evidence(format!(
                        "reserved {} for {} allocated: {} cached but unused",
                        facts::bytes_text(reserved),
                        facts::bytes_text(allocated),
                        facts::bytes_text(reserved - allocated)
                    ))
                    .improvement(ExpectedImprovement::new(
                        ImprovementMetric::Memory,
                        waste / 2.0,
                        waste,
                        format!(
                            "{} of reserved memory holds no tensor; expandable segments return up to all of it, \
                             the lower end assumes half stays cached for reuse",
                            facts::percent(waste)
                        ),
                    ));
            }
            _ => {
                suggestion = suggestion.warning(
                    "The saving cannot be sized without memory_metrics.reserved_bytes and allocated_bytes \
                     (torch.cuda.memory_reserved() / memory_allocated()).",
                );
            }
        }
        suggestion = if on_gpu == Some(false) {
            suggestion
                .step("Use an allocator that returns memory and handles mixed sizes well: jemalloc or mimalloc via LD_PRELOAD.")
                .step("Bucket input lengths so buffers repeat in size.")
                .code("bash", "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 \\\n  MALLOC_CONF=background_thread:true,dirty_decay_ms:1000 python serve.py")
        } else {
            suggestion
                .step("Let PyTorch grow segments instead of caching many fixed ones: PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True.")
                .step("Pad or bucket sequence lengths to a few sizes so freed blocks fit the next request.")
                .step("Allocate the largest buffers first (warm up with the largest batch) and reuse them; avoid torch.cuda.empty_cache() inside the loop.")
                .code("bash", "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True python train.py")
                .code("python", "import torch\n# After a run: how much is cached but unused?\nprint(torch.cuda.memory_reserved() - torch.cuda.memory_allocated())\nprint(torch.cuda.memory_summary())")
        };
        Ok(vec![suggestion.warning("A transient peak may be real demand (a large activation): check torch.cuda.memory_summary() before tuning the allocator.")])
    }
}
