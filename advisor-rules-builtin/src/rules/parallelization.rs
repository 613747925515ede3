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
            "The run uses {} on a CPU with {cores} physical cores. Matmuls split across cores; \
             the model accounts for fork/join cost per operator, shared memory bandwidth and imperfect scaling.",
            threads_text(threads)
        ))
        .evidence(format!("config num_threads = {threads}"))
        .evidence(format!("{cores} physical cores (hardware_info.cpu_cores)"))
        .evidence(format!(
            "at {} the run is {}; at {cores}, {}",
            threads_text(threads),
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

/// `1 thread`, `2 threads`.
fn threads_text(threads: u64) -> String {
    if threads == 1 {
        "1 thread".to_owned()
    } else {
        format!("{threads} threads")
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::rules::test_support::{advise, bert_base, context, cpu, minilm};

    fn one_thread() -> serde_json::Value {
        json!({ "mode": "inference", "batch_size": "1", "seq_len": "256", "precision": "fp32",
                "num_threads": "1", "device": "cpu" })
    }

    #[test]
    fn minilm_on_one_thread_of_a_4_core_cpu() {
        expect![[r#"
            parallelization · parallelization · impact high · difficulty easy
            title: Use all 4 CPU cores for intra-op parallelism
            description: The run uses 1 thread on a CPU with 4 physical cores. Matmuls split across cores; the model accounts for fork/join cost per operator, shared memory bandwidth and imperfect scaling.
            changes: 4 threads
            expected:
            - latency −67–74 % [0.674, 0.745]: model: request 102.9 ms–149.0 ms → 26.3 ms–48.6 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×3.1–3.9 [0.674, 0.745]: model: request time per sequence 102.9 ms–149.0 ms → 26.3 ms–48.6 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - config num_threads = 1
            - 4 physical cores (hardware_info.cpu_cores)
            - at 1 thread the run is compute-bound; at 4, compute-bound
            steps:
            - Call torch.set_num_threads(4) (or set OMP_NUM_THREADS=4) before the first forward pass.
            - Serving several requests at once? Give each worker process a share of the cores instead of oversubscribing.
            - On machines with several NUMA nodes, bind the process to one node (numactl --cpunodebind=0 --membind=0).
            code: python, bash
            warnings:
            - Hyper-threads share a core's vector units: count physical cores, not logical ones.
        "#]].assert_eq(&advise("parallelization", context(minilm(), cpu(4), one_thread())));
    }

    #[test]
    fn minilm_on_one_thread_of_a_96_core_cpu() {
        expect![[r#"
            parallelization · parallelization · impact high · difficulty easy
            title: Use all 96 CPU cores for intra-op parallelism
            description: The run uses 1 thread on a CPU with 96 physical cores. Matmuls split across cores; the model accounts for fork/join cost per operator, shared memory bandwidth and imperfect scaling.
            changes: 96 threads
            expected:
            - latency −91–93 % [0.910, 0.929]: model: request 102.9 ms–149.0 ms → 7.3 ms–13.4 ms (compute-bound → bound by the host issuing operators); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×11.1–14.2 [0.910, 0.929]: model: request time per sequence 102.9 ms–149.0 ms → 7.3 ms–13.4 ms (compute-bound → bound by the host issuing operators); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - config num_threads = 1
            - 96 physical cores (hardware_info.cpu_cores)
            - at 1 thread the run is compute-bound; at 96, bound by the host issuing operators
            steps:
            - Call torch.set_num_threads(96) (or set OMP_NUM_THREADS=96) before the first forward pass.
            - Serving several requests at once? Give each worker process a share of the cores instead of oversubscribing.
            - On machines with several NUMA nodes, bind the process to one node (numactl --cpunodebind=0 --membind=0).
            code: python, bash
            warnings:
            - Hyper-threads share a core's vector units: count physical cores, not logical ones.
        "#]].assert_eq(&advise("parallelization", context(minilm(), cpu(96), one_thread())));
    }

    #[test]
    fn bert_base_at_batch_8_on_2_of_16_cores() {
        expect![[r#"
            parallelization · parallelization · impact high · difficulty easy
            title: Use all 16 CPU cores for intra-op parallelism
            description: The run uses 2 threads on a CPU with 16 physical cores. Matmuls split across cores; the model accounts for fork/join cost per operator, shared memory bandwidth and imperfect scaling.
            changes: 16 threads
            expected:
            - latency −84–87 % [0.842, 0.867]: model: request 1.37 s–2.15 s → 181.5 ms–339.1 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×6.3–7.5 [0.842, 0.867]: model: request time per sequence 171.1 ms–269.1 ms → 22.7 ms–42.4 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - config num_threads = 2
            - 16 physical cores (hardware_info.cpu_cores)
            - at 2 threads the run is compute-bound; at 16, compute-bound
            steps:
            - Call torch.set_num_threads(16) (or set OMP_NUM_THREADS=16) before the first forward pass.
            - Serving several requests at once? Give each worker process a share of the cores instead of oversubscribing.
            - On machines with several NUMA nodes, bind the process to one node (numactl --cpunodebind=0 --membind=0).
            code: python, bash
            warnings:
            - Hyper-threads share a core's vector units: count physical cores, not logical ones.
        "#]].assert_eq(&advise(
            "parallelization",
            context(
                bert_base(),
                cpu(16),
                json!({ "mode": "inference", "batch_size": "8", "seq_len": "128",
                        "precision": "fp32", "num_threads": "2", "device": "cpu" }),
            ),
        ));
    }

    #[test]
    fn every_core_already_used() {
        let mut config = one_thread();
        config["num_threads"] = json!("4");
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "parallelization",
            context(minilm(), cpu(4), config),
        ));
    }
}
