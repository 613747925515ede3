//! `memory_fragmentation`: transient peaks far above the steady state.
//!
//! ## What it checks
//! Peak memory is more than twice the memory in use when measured
//! (`memory_metrics.peak_bytes > 2 × current_bytes`).
//!
//! ## Why it matters
//! A peak far above the steady state means large transient buffers: a caching allocator keeps
//! their blocks reserved, and blocks of varying sizes fragment, so the next large request may
//! fail although enough memory is free in total. When `reserved_bytes` is given, what the
//! allocator reserves beyond the peak in use (`peak_bytes`, or `allocated_bytes` if larger) is
//! what defragmenting can return, and that is the expected improvement: the peak's own
//! buffers are demand, not waste, and the next peak needs them again. (Until the slack pools
//! the rule counted all reserved-but-unallocated memory at the time of measurement as
//! freeable, although after a transient peak most of it is that peak's buffers, which the
//! batch rule rightly counts as per-sample demand.) This is a pool of memory, not of step
//! time, so the suggestion carries no slack claim and the report lists its figure on its own.
//!
//! ## When it stays silent
//! Peak at most twice the current use. Without both figures it says it needs them.
//!
//! ## Example
//! Variable-length batches on a GPU: `peak_bytes` 30 GiB, `current_bytes` 9 GiB,
//! `reserved_bytes` 36 GiB: memory −8–17 % (3 to 6 GiB of the 6 GiB reserved beyond the peak).

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
        let on_gpu = input.facts.on_gpu().ok();
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
        // The peak in use is demand: defragmenting returns only what is reserved beyond it.
        let demand = memory.allocated_bytes.unwrap_or(0).max(peak);
        match memory.reserved_bytes {
            Some(reserved) if reserved > demand => {
                let waste = (reserved - demand) as f64 / reserved as f64;
                suggestion.impact = facts::impact_from_reduction(waste);
                let allocated = memory
                    .allocated_bytes
                    .map(|a| format!(", {} allocated when measured", facts::bytes_text(a)))
                    .unwrap_or_default();
                suggestion = suggestion
                    .evidence(format!(
                        "reserved {} for a peak of {} in use{allocated}: {} reserved beyond the peak",
                        facts::bytes_text(reserved),
                        facts::bytes_text(peak),
                        facts::bytes_text(reserved - demand)
                    ))
                    .improvement(ExpectedImprovement::new(
                        ImprovementMetric::Memory,
                        waste / 2.0,
                        waste,
                        format!(
                            "{} of reserved memory is reserved beyond the peak in use; expandable segments return up to all of it, \
                             the lower end assumes half stays cached for reuse; the peak's own buffers are demand and stay",
                            facts::percent(waste)
                        ),
                    ));
            }
            Some(reserved) => {
                suggestion.impact = Impact::Low;
                suggestion = suggestion
                    .evidence(format!(
                        "reserved {} does not exceed the peak in use {}",
                        facts::bytes_text(reserved),
                        facts::bytes_text(demand)
                    ))
                    .warning(
                        "No saving is estimated: the allocator reserves no more than the peak needs, so the cached blocks \
                         are the next peak's buffers; lowering the peak itself (smaller or bucketed batches) is what frees memory.",
                    );
            }
            None => {
                suggestion = suggestion.warning(
                    "The saving cannot be sized without memory_metrics.reserved_bytes \
                     (torch.cuda.memory_reserved() or max_memory_reserved()).",
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
                .code("python", "import torch\n# Reserved beyond the peak in use: what defragmenting can return.\nprint(torch.cuda.max_memory_reserved() - torch.cuda.max_memory_allocated())\nprint(torch.cuda.memory_summary())")
        };
        Ok(vec![suggestion.warning("A transient peak may be real demand (a large activation): check torch.cuda.memory_summary() before tuning the allocator.")])
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use super::MemoryFragmentation;
    use crate::rules::test_support::{figures_of, render_context};

    const GIB: u64 = 1 << 30;

    #[test]
    fn memory_reserved_beyond_the_peak_is_what_comes_back() {
        let context = json!({
            "memory_metrics": { "peak_bytes": 30 * GIB, "current_bytes": 9 * GIB, "reserved_bytes": 36 * GIB },
            "hardware_info": { "cpu_cores": 16, "system_memory_mb": 65536, "gpu_model": "NVIDIA A100-SXM4-80GB" },
        });
        expect![[r#"
            [
              {
                "id": "memory_fragmentation",
                "rule_id": "memory_fragmentation",
                "category": "memory",
                "impact": "medium",
                "difficulty": "easy",
                "title": "Reduce memory fragmentation from transient peaks",
                "description": "Peak memory (30.0 GiB) is 3.3× the current use (9.0 GiB). The caching allocator keeps the blocks of those transient buffers, and blocks of varying sizes fragment: a later large allocation can fail with memory free in total.",
                "expected_improvement": [
                  {
                    "metric": "memory",
                    "min_reduction": 0.08333333333333333,
                    "max_reduction": 0.16666666666666666,
                    "basis": "16.7 % of reserved memory is reserved beyond the peak in use; expandable segments return up to all of it, the lower end assumes half stays cached for reuse; the peak's own buffers are demand and stay"
                  }
                ],
                "implementation_steps": [
                  "Let PyTorch grow segments instead of caching many fixed ones: PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True.",
                  "Pad or bucket sequence lengths to a few sizes so freed blocks fit the next request.",
                  "Allocate the largest buffers first (warm up with the largest batch) and reuse them; avoid torch.cuda.empty_cache() inside the loop."
                ],
                "code_examples": [
                  {
                    "language": "bash",
                    "code": "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True python train.py"
                  },
                  {
                    "language": "python",
                    "code": "import torch\n# Reserved beyond the peak in use: what defragmenting can return.\nprint(torch.cuda.max_memory_reserved() - torch.cuda.max_memory_allocated())\nprint(torch.cuda.memory_summary())"
                  }
                ],
                "warnings": [
                  "A transient peak may be real demand (a large activation): check torch.cuda.memory_summary() before tuning the allocator."
                ],
                "evidence": [
                  "peak_bytes 30.0 GiB > 2 × current_bytes 9.0 GiB",
                  "reserved 36.0 GiB for a peak of 30.0 GiB in use: 6.0 GiB reserved beyond the peak"
                ]
              }
            ]"#]].assert_eq(&render_context(&MemoryFragmentation, context));
    }

    #[test]
    fn the_peak_buffers_are_demand_not_waste() {
        // 32 GiB reserved, 24 GiB allocated after the step, a 30 GiB peak: only the 2 GiB
        // beyond the peak can come back, not the 8 GiB cached when measured.
        let context = json!({ "memory_metrics": { "peak_bytes": 30 * GIB, "current_bytes": 9 * GIB,
                                                  "reserved_bytes": 32 * GIB, "allocated_bytes": 24 * GIB } });
        expect![[r#"
            [
              {
                "expected_improvement": [
                  {
                    "basis": "6.2 % of reserved memory is reserved beyond the peak in use; expandable segments return up to all of it, the lower end assumes half stays cached for reuse; the peak's own buffers are demand and stay",
                    "max_reduction": 0.0625,
                    "metric": "memory",
                    "min_reduction": 0.03125
                  }
                ],
                "id": "memory_fragmentation",
                "impact": "low",
                "slack": []
              }
            ]"#]].assert_eq(&figures_of(&MemoryFragmentation, context));
        let context = json!({ "memory_metrics": { "peak_bytes": 30 * GIB, "current_bytes": 9 * GIB,
                                                  "reserved_bytes": 30 * GIB } });
        expect![[r#"
            [
              {
                "expected_improvement": [],
                "id": "memory_fragmentation",
                "impact": "low",
                "slack": []
              }
            ]"#]]
        .assert_eq(&figures_of(&MemoryFragmentation, context));
    }
}
