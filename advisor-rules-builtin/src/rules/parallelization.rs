//! `parallelization`: a multi-core CPU running fewer intra-op threads than it has cores.
//!
//! ## What it checks
//! The model runs on the CPU and `num_threads` is below the machine's physical cores.
//!
//! ## Why it matters
//! Matrix multiplications split across cores, but not perfectly: each parallel operator pays a
//! fork/join of a few µs that grows with the team (Bull 1999, EPCC OpenMP microbenchmarks),
//! memory bandwidth is shared by the whole socket, and each extra thread adds 70–100 % of
//! ideal speed. The gain is the performance model with all cores against the configured
//! threads, so a small model at batch 1 is promised what its per-operator work allows, not
//! the core count.
//!
//! ## When it stays silent
//! `num_threads` unset (PyTorch already uses every physical core) or at the core count, a GPU
//! run, or a gain under 5 %. Without the core count it says what it needs.
//!
//! ## Example
//! `num_threads=1` on a 2-core machine: all-MiniLM-L6-v2 at batch 1.

use advisor_core::{
    Category, Change, Difficulty, Impact, ImprovementMetric, OptimizationRule,
    OptimizationSuggestion, RuleError, RuleInput,
};

use crate::facts;

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
        "A CPU run with fewer intra-op threads than physical cores: use them"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        let Some(threads) = input.config.num_threads else {
            return Ok(Vec::new());
        };
        if facts.on_gpu()? {
            return Ok(Vec::new());
        }
        let cores = facts
            .cpu
            .as_ref()
            .and_then(|cpu| cpu.cores)
            .ok_or(advisor_core::Missing::CpuCores)?;
        let cores = u64::from(cores);
        if threads >= cores {
            return Ok(Vec::new());
        }
        let changes = [Change::Threads(cores)];
        let simulation = facts::simulate(input, &changes)?;
        let gain = simulation
            .improvement(ImprovementMetric::Latency)
            .map_or(0.0, |i| i.max_reduction);
        if gain < 0.05 {
            return Ok(Vec::new());
        }
        let suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Parallelization,
            Impact::Medium,
            Difficulty::Easy,
            format!("Use all {cores} CPU cores for intra-op parallelism"),
        )
        .description(format!(
            "The run uses {threads} thread(s) on a CPU with {cores} physical cores. Matmuls split across cores; \
             the model accounts for fork/join cost per operator, shared memory bandwidth and imperfect scaling."
        ))
        .evidence(format!("config num_threads = {threads}"))
        .evidence(format!("{cores} physical cores (hardware_info.cpu_cores)"))
        .evidence(format!(
            "at {threads} thread(s) the run is {}; at {cores}, {}",
            simulation.predicted_before.bound().as_str(),
            simulation.predicted_after.bound().as_str()
        ))
        .step(format!("Call torch.set_num_threads({cores}) (or set OMP_NUM_THREADS={cores}) before the first forward pass."))
        .step("Serving several requests at once? Give each worker process a share of the cores instead of oversubscribing.")
        .step("On machines with several NUMA nodes, bind the process to one node (numactl --cpunodebind=0 --membind=0).")
        .code("python", format!("import torch\ntorch.set_num_threads({cores})"))
        .code("bash", format!("OMP_NUM_THREADS={cores} python serve.py"))
        .warning("Hyper-threads share a core's vector units: count physical cores, not logical ones.");
        Ok(vec![facts::with_simulation(
            suggestion,
            &changes,
            &simulation,
        )])
    }
}
