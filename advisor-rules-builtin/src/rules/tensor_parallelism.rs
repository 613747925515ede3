//! `tensor_parallelism`: a generation run on one of several GPUs, or one that fits on none.
//!
//! ## What it checks
//! Generation on a GPU (a decoder in inference with tokens to generate) on a machine with two
//! or more of them (`hardware_info.gpu_count`), where splitting every layer over 2, 4 or 8 GPUs
//! (as many as there are, and a divisor of the attention heads) either makes a run fit that
//! does not fit one GPU, or buys at least 10 % of the time per token by the performance model,
//! communication included.
//!
//! ## Why it matters
//! Tensor parallelism (Shoeybi et al. 2019, "Megatron-LM") gives each GPU a slice of every
//! weight matrix and of the KV cache: each decode step reads `1/t` of the bytes on each GPU,
//! so memory-bound decoding speeds up with `t`, and weights plus cache that do not fit one
//! GPU fit `t`. The price is two all-reduces of the hidden states per layer per forward
//! (`tokens × hidden × activation bytes` each, `2(t − 1)/t` of it over each GPU's link in a
//! ring), one more kernel each to issue. The model counts both: over NVLink (600–900 GB/s)
//! the all-reduces are small beside the weight reads, over PCIe (32–128 GB/s) they can eat
//! the gain, and the rule then stays silent. Each all-reduce also pays NCCL's latency as its
//! own tuning model gives it (`src/graph/tuning.cc`: a 6.6 µs base plus 0.6 µs per ring step
//! over NVLink, 1.0 µs over PCIe), which at small batch is most of its cost. Link bandwidths
//! are the datasheets' figures in the accelerator table.
//!
//! ## When it stays silent
//! One GPU, a CPU run, training (sharding there is FSDP's, a feasibility remedy), an encoder,
//! or a run that fits one GPU where the split buys under 10 % per token.
//!
//! ## Example
//! Llama-2-13B answering 256 tokens at batch 1 in fp16 on a machine with eight A100s.

use advisor_core::{
    Category, Change, Difficulty, ImprovementMetric, Mode, OptimizationRule,
    OptimizationSuggestion, RuleError, RuleInput,
};

use crate::facts;

/// The per-token gain that makes splitting a run that fits worth more GPUs.
const MIN_GAIN: f64 = 0.10;

/// See the module documentation.
pub(crate) struct TensorParallelism;

impl OptimizationRule for TensorParallelism {
    fn id(&self) -> &str {
        "tensor_parallelism"
    }

    fn category(&self) -> Category {
        Category::Parallelization
    }

    fn description(&self) -> &str {
        "Generation on one of several GPUs, or too large for one: tensor parallelism, with its all-reduces on the link"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        if facts.mode()? != Mode::Inference {
            return Ok(Vec::new());
        }
        let model = facts.model()?;
        let Some((gpu, spec)) = facts.run_gpu_spec()? else {
            return Ok(Vec::new());
        };
        if !model.generates() || gpu.count < 2 {
            return Ok(Vec::new());
        }
        let settings = facts.settings()?;
        if settings.generated_tokens < 2 {
            return Ok(Vec::new());
        }
        let heads = model.attention_heads.unwrap_or(0);
        let mut best: Option<(u64, advisor_model::Simulation)> = None;
        for degree in [2u64, 4, 8] {
            if degree > gpu.count || heads == 0 || heads % degree != 0 {
                continue;
            }
            let simulation = facts::simulate(input, &[Change::TensorParallel(degree)])?;
            if !simulation.predicted_after.fits() {
                continue;
            }
            let per_token =
                |s: &advisor_model::Simulation| s.predicted_after.range(|t| t.per_token_seconds).1;
            // A run that does not fit takes the fewest GPUs that hold it; one that fits, the
            // degree with the lowest time per token.
            let better = match &best {
                None => true,
                Some(_) if !simulation.predicted_before.fits() => false,
                Some((_, current)) => per_token(&simulation) < per_token(current),
            };
            if better {
                best = Some((degree, simulation));
            }
        }
        let Some((degree, simulation)) = best else {
            return Ok(Vec::new());
        };
        let fits_one = simulation.predicted_before.fits();
        let gain = simulation
            .improvement(ImprovementMetric::TimePerToken)
            .map_or(0.0, |i| i.max_reduction);
        if fits_one && gain < MIN_GAIN {
            return Ok(Vec::new());
        }
        let hidden = model.hidden_size.unwrap_or(0);
        let layers = model.layers.unwrap_or(0);
        let act_bytes = settings.compute.bytes_per_element().max(2.0);
        let per_step_bytes =
            2.0 * layers as f64 * settings.batch_size as f64 * hidden as f64 * act_bytes;
        let link_bandwidth = spec.link_bandwidth_bytes_per_second.unwrap_or(64e9);
        let link = if spec.link.is_empty() {
            "PCIe 4.0 x16 (assumed: the table has no link for this GPU)".to_owned()
        } else {
            spec.link.clone()
        };
        let before = &simulation.predicted_before;
        let after = &simulation.predicted_after;
        let title = if fits_one {
            format!(
                "Split the model over {degree} GPUs with tensor parallelism to cut the time per token"
            )
        } else {
            format!(
                "Split the model over {degree} GPUs with tensor parallelism: it does not fit one"
            )
        };
        let suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Parallelization,
            advisor_core::Impact::Medium,
            Difficulty::Medium,
            title,
        )
        .description(format!(
            "Each GPU holds 1/{degree} of every weight matrix and of the KV cache ({} per GPU instead of {}) and reads only \
             that slice at every decode step. The price is two all-reduces of the hidden states per layer, over {link}.",
            advisor_model::bytes_text(after.memory.total()),
            advisor_model::bytes_text(before.memory.total()),
        ))
        .evidence(format!(
            "{} GPUs (hardware_info.gpu_count); {} of {} each",
            gpu.count,
            spec.name,
            advisor_model::bytes_text(before.capacity_bytes.unwrap_or(spec.memory_bytes) as f64)
        ))
        .evidence(format!(
            "link: {link}, {:.0} GB/s per GPU both ways together ({})",
            link_bandwidth / 1e9,
            spec.source
        ))
        .evidence(format!(
            "each decode step all-reduces 2 × {layers} layers × batch {} × {hidden} × {act_bytes} B = {}; a ring sends {:.2}× that over each GPU's link, and each of the {} all-reduces pays NCCL's latency of {:.1} µs",
            settings.batch_size,
            advisor_model::bytes_text(per_step_bytes),
            2.0 * (degree as f64 - 1.0) / degree as f64,
            2 * layers,
            (6.6 + 2.0 * (degree as f64 - 1.0) * if link.starts_with("PCIe") { 1.0 } else { 0.6 }),
        ))
        .evidence(format!(
            "decoding is {} on one GPU and {} split over {degree}",
            before.bound().as_str(),
            after.bound().as_str()
        ))
        .step(format!("vLLM: LLM(model=..., tensor_parallel_size={degree}); TGI: --num-shard {degree}; TensorRT-LLM: build the engine with --tp_size {degree}."))
        .step("Keep the group inside one NVLink (or Infinity Fabric) domain: across PCIe or between machines the all-reduces cost more than the split saves.")
        .step("For throughput alone, when the model fits one GPU, run one replica per GPU instead: replicas need no communication.")
        .code(
            "python",
            format!("from vllm import LLM\n\nllm = LLM(model=name, tensor_parallel_size={degree})"),
        )
        .code(
            "bash",
            format!("vllm serve MODEL --tensor-parallel-size {degree}"),
        )
        .warning("The attention heads (and KV heads, replicated when fewer) and the MLP width must divide by the degree; serving stacks check it at start-up.");
        Ok(vec![facts::with_simulation(
            suggestion,
            &[Change::TensorParallel(degree)],
            &simulation,
        )])
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::rules::test_support::{advise, context, llama_2_7b, llama_2_13b, target};

    fn gpus(name: &str, count: u32) -> serde_json::Value {
        let mut hardware = target(name);
        hardware["gpu_count"] = json!(count);
        hardware
    }

    #[test]
    fn llama_2_13b_at_batch_1_on_eight_a100s() {
        expect![[r#"
            tensor_parallelism · parallelization · impact high · difficulty medium
            title: Split the model over 8 GPUs with tensor parallelism to cut the time per token
            description: Each GPU holds 1/8 of every weight matrix and of the KV cache (3.6 GiB per GPU instead of 25.3 GiB) and reads only that slice at every decode step. The price is two all-reduces of the hidden states per layer, over NVLink 3 (12 links).
            changes: tensor parallelism over 8 devices
            expected:
            - latency −79–82 % [0.791, 0.819]: model: request 3.72 s–5.62 s → 777.0 ms–1.02 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×4.8–5.5 [0.791, 0.819]: model: request time per sequence 3.72 s–5.62 s → 777.0 ms–1.02 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_to_first_token −79–83 % [0.793, 0.834]: model: time to first token 55.7 ms–127.3 ms → 10.9 ms–21.2 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_per_token −79–82 % [0.791, 0.819]: model: time per generated token 14.3 ms–21.5 ms → 3.0 ms–3.9 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −86 % [0.857, 0.857]: model: peak memory 25.3 GiB → 3.6 GiB (weights 3.0 GiB + CUDA context and workspaces 512.0 MiB + KV cache 63.3 MiB + activations 30.0 MiB)
            evidence:
            - 8 GPUs (hardware_info.gpu_count); NVIDIA A100 80GB SXM of 80.0 GiB each
            - link: NVLink 3 (12 links), 600 GB/s per GPU both ways together (NVIDIA A100 Tensor Core GPU datasheet (2021), https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf)
            - each decode step all-reduces 2 × 40 layers × batch 1 × 5120 × 2 B = 800.0 KiB; a ring sends 1.75× that over each GPU's link, and each of the 80 all-reduces pays NCCL's latency of 15.0 µs
            - decoding is memory-bound on one GPU and memory-bound split over 8
            steps:
            - vLLM: LLM(model=..., tensor_parallel_size=8); TGI: --num-shard 8; TensorRT-LLM: build the engine with --tp_size 8.
            - Keep the group inside one NVLink (or Infinity Fabric) domain: across PCIe or between machines the all-reduces cost more than the split saves.
            - For throughput alone, when the model fits one GPU, run one replica per GPU instead: replicas need no communication.
            code: python, bash
            warnings:
            - The attention heads (and KV heads, replicated when fewer) and the MLP width must divide by the degree; serving stacks check it at start-up.
        "#]].assert_eq(&advise(
            "tensor_parallelism",
            context(
                llama_2_13b(),
                gpus("nvidia-a100-80gb", 8),
                json!({ "mode": "inference", "batch_size": "1", "prompt_len": "512",
                        "new_tokens": "256", "precision": "fp16", "engine": "vllm" }),
            ),
        ));
    }

    #[test]
    fn llama_2_13b_that_does_not_fit_one_l4() {
        expect![[r#"
            tensor_parallelism · parallelization · impact high · difficulty medium
            title: Split the model over 2 GPUs with tensor parallelism: it does not fit one
            description: Each GPU holds 1/2 of every weight matrix and of the KV cache (12.9 GiB per GPU instead of 25.3 GiB) and reads only that slice at every decode step. The price is two all-reduces of the hidden states per layer, over PCIe 4.0 x16.
            changes: tensor parallelism over 2 devices
            expected:
            - latency −49 % [0.492, 0.494]: model: request 25.03 s–37.68 s → 12.71 s–19.05 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×2.0 [0.492, 0.494]: model: request time per sequence 25.03 s–37.68 s → 12.71 s–19.05 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_to_first_token −38–44 % [0.375, 0.437]: model: time to first token 154.0 ms–352.9 ms → 92.3 ms–199.0 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_per_token −49 % [0.493, 0.495]: model: time per generated token 97.2 ms–145.8 ms → 49.3 ms–73.6 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −49 % [0.490, 0.490]: model: peak memory 25.3 GiB → 12.9 GiB (weights 12.1 GiB + CUDA context and workspaces 512.0 MiB + KV cache 253.1 MiB + activations 30.0 MiB)
            evidence:
            - 4 GPUs (hardware_info.gpu_count); NVIDIA L4 of 24.0 GiB each
            - link: PCIe 4.0 x16, 64 GB/s per GPU both ways together (NVIDIA L4 Tensor Core GPU datasheet (2023))
            - each decode step all-reduces 2 × 40 layers × batch 1 × 5120 × 2 B = 800.0 KiB; a ring sends 1.00× that over each GPU's link, and each of the 80 all-reduces pays NCCL's latency of 8.6 µs
            - decoding is memory-bound on one GPU and memory-bound split over 2
            steps:
            - vLLM: LLM(model=..., tensor_parallel_size=2); TGI: --num-shard 2; TensorRT-LLM: build the engine with --tp_size 2.
            - Keep the group inside one NVLink (or Infinity Fabric) domain: across PCIe or between machines the all-reduces cost more than the split saves.
            - For throughput alone, when the model fits one GPU, run one replica per GPU instead: replicas need no communication.
            code: python, bash
            warnings:
            - The attention heads (and KV heads, replicated when fewer) and the MLP width must divide by the degree; serving stacks check it at start-up.
            - As configured the run does not fit in memory (see the feasibility suggestion): the figures compare with a run that cannot start.
        "#]].assert_eq(&advise(
            "tensor_parallelism",
            context(
                llama_2_13b(),
                gpus("nvidia-l4", 4),
                json!({ "mode": "inference", "batch_size": "1", "prompt_len": "512",
                        "new_tokens": "256", "precision": "fp16", "engine": "vllm" }),
            ),
        ));
    }

    #[test]
    fn silent_on_one_gpu_and_in_training() {
        for (hardware, config) in [
            (
                target("nvidia-a100-80gb"),
                json!({ "mode": "inference", "batch_size": "1", "prompt_len": "512", "new_tokens": "256" }),
            ),
            (
                gpus("nvidia-a100-80gb", 8),
                json!({ "mode": "training", "batch_size": "8", "seq_len": "512" }),
            ),
        ] {
            let text = advise(
                "tensor_parallelism",
                context(llama_2_7b(), hardware, config),
            );
            assert!(!text.contains("title:"), "{text}");
        }
    }
}
