//! `parallelization`: a multi-core CPU running one thread.
//!
//! ## What it checks
//! The model runs on the CPU, the machine has more than 4 physical cores, and multi-threading
//! is disabled (`num_threads` = 1).
//!
//! ## Why it matters
//! Matrix multiplications split across cores almost perfectly. With `n` cores the ideal
//! speed-up of the parallel part is `n`, so latency drops by up to `1 − 1/n`; the lower end
//! assumes 50 % parallel efficiency (`1 − 1/(1 + (n − 1)/2)`), which covers memory-bound
//! ops and the serial parts of a forward pass.
//!
//! ## When it stays silent
//! `num_threads` unset or above 1, 4 cores or fewer, or the model runs on a GPU (CPU threads
//! do not speed up GPU kernels).
//!
//! ## Example
//! `num_threads=1` on a 16-core server.

use advisor_core::{
    Category, Difficulty, ExpectedImprovement, ImprovementMetric, OptimizationRule,
    OptimizationSuggestion, RuleError, RuleInput,
};

use crate::facts;

/// More cores than this make single-threading a real loss.
const MIN_CORES: u32 = 4;

/// See the module documentation.
pub(crate) struct Parallelization;

impl OptimizationRule for Parallelization {
    fn id(&self) -> &str {
        "parallelization"
    }

    fn category(&self) -> Category {
        Category::Parallelization
    }

    fn description(&self) -> &str {
        "Multi-core CPU with num_threads = 1: use intra-op parallelism"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let context = input.context;
        let config = context.run_config()?;
        if config.num_threads != Some(1) {
            return Ok(Vec::new());
        }
        if let Some((true, _)) = facts::runs_on_gpu(context, &config) {
            return Ok(Vec::new());
        }
        let cores = context
            .hardware_info
            .as_ref()
            .and_then(|hardware| hardware.cpu_cores)
            .ok_or_else(|| RuleError::MissingFacts("hardware_info.cpu_cores".to_owned()))?;
        if cores <= MIN_CORES {
            return Ok(Vec::new());
        }
        let n = f64::from(cores);
        let max = 1.0 - 1.0 / n;
        let min = 1.0 - 1.0 / (1.0 + (n - 1.0) / 2.0);
        Ok(vec![OptimizationSuggestion::new(
            self.id(),
            Category::Parallelization,
            facts::impact_from_reduction(max),
            Difficulty::Easy,
            format!("Use all {cores} cores for intra-op parallelism"),
        )
        .description(format!(
            "The run is limited to one thread on a machine with {cores} physical cores. \
             Matrix multiplications and most element-wise ops split across cores."
        ))
        .evidence(format!("config num_threads = 1 with {cores} physical cores > {MIN_CORES}"))
        .improvement(ExpectedImprovement::new(
            ImprovementMetric::Latency,
            min,
            max,
            format!(
                "{cores} cores: up to {cores}× on the parallel part (−{}); the lower end assumes 50 % parallel efficiency (−{})",
                facts::percent(max),
                facts::percent(min)
            ),
        ))
        .step(format!("Set the intra-op thread count to the physical core count ({cores}), not the logical thread count."))
        .step("When several worker processes share the machine, divide the cores between them to avoid oversubscription.")
        .step("Pin threads (OMP_PROC_BIND=close, OMP_PLACES=cores) and keep each process on one NUMA node.")
        .code("python", format!("import torch\ntorch.set_num_threads({cores})\ntorch.set_num_interop_threads(1)"))
        .code("bash", format!("OMP_NUM_THREADS={cores} OMP_PROC_BIND=close OMP_PLACES=cores python serve.py"))
        .warning("Threads compete with other processes on the machine: measure throughput with the real request load.")])
    }
}
