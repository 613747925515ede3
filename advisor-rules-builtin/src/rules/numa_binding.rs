//! `numa_binding`: a CPU run on a machine of several NUMA nodes, in one unbound process.
//!
//! ## What it checks
//! Inference on a CPU whose hardware reports two or more NUMA nodes (`hardware_info.numa_nodes`,
//! from `/sys/devices/system/node`), served by one process (`numa_processes` unset or 1),
//! where one process per node, each bound to its node's cores and memory, gives at least 10 %
//! more requests per second by the performance model.
//!
//! ## Why it matters
//! Each node (a socket, or a sub-NUMA cluster) has its own memory channels; a core reads its
//! own node's memory at full bandwidth and another node's across the socket interconnect
//! (UPI, Infinity Fabric), at a fraction of it and a higher latency. Linux places a page on
//! the node of the CPU that first touches it (the kernel's "NUMA Memory Policy": local
//! allocation by default), and one thread loads the weights, so an unbound process keeps them
//! all on one node and every thread, local or remote, reads them from that node's channels:
//! the model gives the run one node's share of the machine's bandwidth whatever its threads
//! (the measured machine bandwidth of `advisor hardware --calibrate` over the nodes, else the
//! assumed per-node figure). One process per node (`numactl --cpunodebind=N --membind=N`)
//! keeps a copy of the weights in each node's memory and uses that node's cores: each draws
//! its own node's bandwidth, and together they serve one request stream per node. Intel's and
//! PyTorch's CPU tuning guides recommend the same (PyTorch, "Grokking PyTorch Intel CPU
//! performance from first principles"; `torch.backends.xeon.run_cpu` launches one instance
//! per socket).
//!
//! ## When it stays silent
//! A GPU run, one NUMA node or none reported, processes bound already, or under 10 % to gain.
//! Without the CPU it says what it needs.
//!
//! ## Example
//! Llama-2-7B decoding at batch 1 in bf16 on a two-socket Xeon Platinum 8480+.

use advisor_core::{
    Category, Change, Difficulty, Impact, ImprovementMetric, Mode, OptimizationRule,
    OptimizationSuggestion, RuleError, RuleInput,
};

use crate::facts;

/// The least gain in requests per second worth more processes.
const MIN_GAIN: f64 = 0.10;

/// See the module documentation.
pub(crate) struct NumaBinding;

impl OptimizationRule for NumaBinding {
    fn id(&self) -> &str {
        "numa_binding"
    }

    fn category(&self) -> Category {
        Category::Hardware
    }

    fn description(&self) -> &str {
        "A CPU run in one unbound process on several NUMA nodes: one process per node with numactl --cpunodebind/--membind"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        if facts.mode()? != Mode::Inference || facts.on_gpu()? {
            return Ok(Vec::new());
        }
        let Some(cpu) = &facts.cpu else {
            return Err(advisor_core::Missing::CpuCores.into());
        };
        let nodes = u64::from(cpu.numa_nodes.unwrap_or(1));
        if nodes < 2 || facts.run.numa_processes.value > 1 {
            return Ok(Vec::new());
        }
        let changes = [Change::NumaProcesses(nodes)];
        let simulation = facts::simulate(input, &changes)?;
        let gain = simulation
            .improvement(ImprovementMetric::Throughput)
            .map_or(0.0, |i| i.max_reduction);
        if gain < MIN_GAIN {
            return Ok(Vec::new());
        }
        let cores = cpu.cores.unwrap_or(0);
        let per_node = u64::from(cores) / nodes;
        let before = &simulation.predicted_before.rates;
        let after = &simulation.predicted_after.rates;
        let suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Hardware,
            Impact::Medium,
            Difficulty::Easy,
            format!("Run one process per NUMA node ({nodes}), each bound to its node's cores and memory"),
        )
        .description(format!(
            "This machine has {nodes} NUMA nodes. One unbound process keeps the weights where its loading thread first touched them, \
             on one node, and all {} of its threads read them from that node's memory channels. {nodes} processes of {per_node} threads, \
             each bound with numactl to one node and holding its own copy of the weights, each draw their own node's bandwidth.",
            before.threads
        ))
        .evidence(format!(
            "{nodes} NUMA nodes (hardware_info.numa_nodes), {cores} cores (hardware_info.cpu_cores)"
        ))
        .evidence(format!("bandwidth: {}", cpu.bandwidth_source))
        .evidence(format!(
            "by the model, one process reads at up to {:.0} GB/s (one node's); each bound process at up to {:.0} GB/s on {} threads",
            before.bandwidth / 1e9,
            after.bandwidth / 1e9,
            after.threads
        ))
        .evidence(facts::sourced("numa_processes", &facts.run.numa_processes))
        .step("Check the layout: numactl --hardware (or lscpu | grep NUMA) lists the nodes, their CPUs and their memory.")
        .step(format!(
            "Start one server per node: numactl --cpunodebind=N --membind=N with OMP_NUM_THREADS={per_node} (and torch.set_num_threads({per_node})), N from 0 to {}, each on its own port behind one load balancer.",
            nodes - 1
        ))
        .step("PyTorch's launcher does the same: python -m torch.backends.xeon.run_cpu --ninstances N --throughput-mode script.py (it also sets the OpenMP affinity and jemalloc or tcmalloc).")
        .step("Each process holds its own copy of the weights: check that system memory holds one per node.")
        .code(
            "bash",
            format!(
                "for node in $(seq 0 {last}); do\n  OMP_NUM_THREADS={per_node} numactl --cpunodebind=$node --membind=$node \\\n    python serve.py --port $((8000 + node)) &\ndone\nwait",
                last = nodes - 1
            ),
        )
        .warning("One request's latency is then bound by one node: where a request is compute-bound it runs on fewer cores; the gain is in requests per second.");
        let suggestion = facts::with_simulation(suggestion, &changes, &simulation);
        Ok(vec![facts::keep_regressions(suggestion, |w| {
            !w.contains("latency")
        })])
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::rules::test_support::{advise, bert_base, context, cpu, llama_2_7b};

    fn two_sockets() -> serde_json::Value {
        json!({ "cpu_model": "Intel Xeon Platinum 8480+", "cpu_cores": 112, "cpu_threads": 224,
                "system_memory_mb": 1048576, "numa_nodes": 2,
                "simd_capabilities": ["avx2", "fma", "avx512f", "avx512bf16", "avx512vnni",
                                      "amx-tile", "amx-bf16", "amx-int8"] })
    }

    #[test]
    fn llama_2_7b_decoding_on_a_two_socket_xeon() {
        expect![[r#"
            numa_binding · hardware · impact high · difficulty easy
            title: Run one process per NUMA node (2), each bound to its node's cores and memory
            description: This machine has 2 NUMA nodes. One unbound process keeps the weights where its loading thread first touched them, on one node, and all 112 of its threads read them from that node's memory channels. 2 processes of 56 threads, each bound with numactl to one node and holding its own copy of the weights, each draw their own node's bandwidth.
            changes: 2 processes, one bound to each NUMA node
            expected:
            - latency −5–7 % [0.047, 0.075]: model: request 22.98 s–35.16 s → 21.26 s–33.50 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×2.1–2.2 [0.524, 0.537]: model: request time per sequence 22.98 s–35.16 s → 10.63 s–16.75 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_per_token −5–8 % [0.049, 0.075]: model: time per generated token 177.7 ms–271.6 ms → 164.3 ms–258.4 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - 2 NUMA nodes (hardware_info.numa_nodes), 112 cores (hardware_info.cpu_cores)
            - bandwidth: assumed: no measured bandwidth: 10 GB/s per thread up to 200 GB/s for the machine (typical STREAM figures; advisor hardware --calibrate measures them)
            - by the model, one process reads at up to 100 GB/s (one node's); each bound process at up to 100 GB/s on 56 threads
            - numa_processes 1 (assumed: numa_processes not set; one process, not bound to a NUMA node)
            steps:
            - Check the layout: numactl --hardware (or lscpu | grep NUMA) lists the nodes, their CPUs and their memory.
            - Start one server per node: numactl --cpunodebind=N --membind=N with OMP_NUM_THREADS=56 (and torch.set_num_threads(56)), N from 0 to 1, each on its own port behind one load balancer.
            - PyTorch's launcher does the same: python -m torch.backends.xeon.run_cpu --ninstances N --throughput-mode script.py (it also sets the OpenMP affinity and jemalloc or tcmalloc).
            - Each process holds its own copy of the weights: check that system memory holds one per node.
            code: bash
            warnings:
            - One request's latency is then bound by one node: where a request is compute-bound it runs on fewer cores; the gain is in requests per second.
            - The model predicts time to first token +9 % in the worst case.
        "#]]
        .assert_eq(&advise(
            "numa_binding",
            context(
                llama_2_7b(),
                two_sockets(),
                json!({ "mode": "inference", "batch_size": "1", "prompt_len": "256",
                        "new_tokens": "128", "precision": "bf16", "device": "cpu" }),
            ),
        ));
    }

    #[test]
    fn bound_already_or_one_node_is_silent() {
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "numa_binding",
            context(
                bert_base(),
                two_sockets(),
                json!({ "mode": "inference", "batch_size": "8", "seq_len": "128",
                        "device": "cpu", "numa_processes": "2" }),
            ),
        ));
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "numa_binding",
            context(
                bert_base(),
                cpu(16),
                json!({ "mode": "inference", "batch_size": "8", "seq_len": "128", "device": "cpu" }),
            ),
        ));
    }
}
