//! `data_loader`: the training or inference step waits on the data loader.
//!
//! ## What it checks
//! A PyTorch profiler trace (`profile_results.trace`) whose steps (`ProfilerStep#N`) spend
//! more than 5 % of their wall time inside data-loader calls
//! (`enumerate(DataLoader)#...__next__`).
//!
//! ## Why it matters
//! While the main process fetches and collates the next batch, nothing feeds the GPU. With
//! worker processes, pinned memory and prefetching, loading overlaps the previous step and
//! its time leaves the critical path: at most the measured data-loader share of the step
//! comes back.
//!
//! ## When it stays silent
//! Data loading at most 5 % of the step, or a trace without steps. Without a trace it says
//! it needs one.
//!
//! ## Example
//! A trace where each 100 ms step spends 30 ms in `enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__`.

use advisor_core::{
    Category, Difficulty, ExpectedImprovement, ImprovementMetric, OptimizationRule,
    OptimizationSuggestion, RuleError, RuleInput,
};

use crate::facts;

/// Data loading above this share of the step (percent) is worth hiding.
const DATA_LOADER_PCT: f64 = 5.0;

/// See the module documentation.
pub(crate) struct DataLoader;

impl OptimizationRule for DataLoader {
    fn id(&self) -> &str {
        "data_loader"
    }

    fn category(&self) -> Category {
        Category::DataPipeline
    }

    fn description(&self) -> &str {
        "The step waits on data loading (trace): use workers, pinned memory and prefetching"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let context = input.context;
        let trace = facts::trace(context)?;
        let Some(loader) = &trace.data_loader else {
            return Ok(Vec::new());
        };
        if loader.pct_of_step.is_nan()
            || loader.pct_of_step <= DATA_LOADER_PCT
            || loader.step_time_us <= 0.0
        {
            return Ok(Vec::new());
        }
        let share = loader.pct_of_step / 100.0;
        let source = trace.source.as_deref().unwrap_or("the trace");
        let suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::DataPipeline,
            facts::impact_from_reduction(share),
            Difficulty::Easy,
            "Overlap data loading with the step",
        )
        .evidence(format!(
            "{source}: {} data-loader call(s) take {:.1} ms of {:.1} ms of step time ({})",
            loader.calls,
            loader.time_us / 1000.0,
            loader.step_time_us / 1000.0,
            facts::percent(share)
        ))
        .improvement(ExpectedImprovement::new(
            ImprovementMetric::Throughput,
            0.0,
            share,
            format!(
                "at most the data-loader share of the step ({}) leaves the critical path when loading overlaps compute; \
                 how much depends on whether the workers keep up",
                facts::percent(share)
            ),
        ))
        .description(format!(
            "The profiled steps spend {} of their time waiting for the next batch. Loading in worker processes with \
             prefetching overlaps it with the previous step.",
            facts::percent(share)
        ))
        .step("Set `num_workers` to a few per GPU (start with the CPU cores per GPU) and `persistent_workers=True`.")
        .step("Use `pin_memory=True` and `.to(device, non_blocking=True)` so host-to-device copies are asynchronous.")
        .step("Move expensive decoding or tokenization out of `__getitem__` (pre-tokenize, cache) if workers cannot keep up.")
        .step("Re-profile: the data-loader share should fall under 5 % of the step.")
        .code(
            "python",
            "loader = DataLoader(dataset, batch_size=bs, num_workers=8, pin_memory=True,\n                    persistent_workers=True, prefetch_factor=4)\nfor batch in loader:\n    batch = batch.to(\"cuda\", non_blocking=True)",
        )
        .warning("More workers use more host memory and CPU; watch for contention with the main process.");
        Ok(vec![suggestion])
    }
}
