//! `fp8`: 16-bit matmuls on a GPU with fp8 tensor cores (Hopper, Ada).
//!
//! ## What it checks
//! A run in fp16 or bf16 with floating-point weights on a GPU whose accelerator-table entry has
//! an fp8 peak (H100, H200, L4, L40S: sm89 and sm90), where the performance model finds fp8
//! buys at least 10 %: of the step time in training, of the latency or the time per token in
//! inference.
//!
//! ## Why it matters
//! fp8 tensor cores run twice the 16-bit FLOP/s, and fp8 weights are half the bytes.
//! - Training: NVIDIA Transformer Engine runs each Linear's three GEMMs (forward, input and
//!   weight gradients) in fp8 (E4M3 forward, E5M2 gradients) with delayed per-tensor scaling,
//!   keeping the weights and the optimizer in higher precision (Micikevicius et al. 2022,
//!   "FP8 Formats for Deep Learning"). The model computes the matmuls at the fp8 peak and keeps
//!   16-bit weights and the fp32 optimizer state: compute-bound steps gain, memory does not.
//! - Serving: an fp8 checkpoint (W8A8 fp8: weights and activations in fp8, vLLM
//!   `quantization="fp8"`) halves the weight reads of every decode step and doubles the
//!   prefill's FLOP/s; with a KV cache it is stored in fp8 too. Accuracy stays within a fraction
//!   of a point on Llama-class models (Neural Magic's published FP8 checkpoints recover
//!   99 %+ of the 16-bit scores).
//!
//! ## When it stays silent
//! A GPU without fp8 units (Ampere and older: the model runs fp8 weight-only there, which
//! `mixed_precision` and `quantization` cover), fp32 (mixed precision comes first), weights
//! already fp8 or integer-quantized, a CPU run, or under 10 % modelled gain.
//!
//! ## Example
//! Llama-2-7B serving at batch 8 on an H100; training Llama-2-7B at batch 8 × 2048 tokens on
//! an H100.

use advisor_core::{
    Category, Change, Difficulty, ImprovementMetric, Mode, OptimizationRule,
    OptimizationSuggestion, Precision, RuleError, RuleInput, WeightFormat,
};

use crate::facts;

/// See the module documentation.
pub(crate) struct Fp8;

impl OptimizationRule for Fp8 {
    fn id(&self) -> &str {
        "fp8"
    }

    fn category(&self) -> Category {
        Category::Hardware
    }

    fn description(&self) -> &str {
        "16-bit matmuls on a GPU with fp8 tensor cores: Transformer Engine for training, fp8 weights and KV cache for serving"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        let Some((_, spec)) = facts.run_gpu_spec()? else {
            return Ok(Vec::new());
        };
        if spec.peak.fp8.is_none() {
            return Ok(Vec::new());
        }
        let compute = facts.run.compute.value;
        if !matches!(compute, Precision::Fp16 | Precision::Bf16)
            || !matches!(facts.run.weights.value, WeightFormat::Float(_))
        {
            return Ok(Vec::new());
        }
        let mode = facts.mode()?;
        let model = facts.model()?;
        let generates = model.generates() && facts.run.kv_cache.value;
        let mut changes = vec![Change::Precision(Precision::Fp8)];
        if mode == Mode::Inference && generates && facts.run.kv_cache_dtype.value.bits() > 8 {
            changes.push(Change::KvCacheDtype(Precision::Fp8));
        }
        let simulation = facts::simulate(input, &changes)?;
        let gain = |metric| {
            simulation
                .improvement(metric)
                .map_or(0.0, |i: advisor_core::ExpectedImprovement| i.max_reduction)
        };
        let best = gain(ImprovementMetric::Latency).max(gain(ImprovementMetric::TimePerToken));
        if best < 0.10 {
            return Ok(Vec::new());
        }
        let peak16 = spec.peak.for_precision(compute).unwrap_or(0.0);
        let peak8 = spec.peak.fp8.unwrap_or(0.0);
        let bound = simulation.predicted_before.bound().as_str();
        let evidence_gpu = format!(
            "{}: {:.0} TFLOP/s fp8 against {:.0} TFLOP/s {compute} ({})",
            spec.name,
            peak8 / 1e12,
            peak16 / 1e12,
            spec.source
        );
        let suggestion = match mode {
            Mode::Training => OptimizationSuggestion::new(
                self.id(),
                Category::Hardware,
                advisor_core::Impact::Medium,
                Difficulty::Medium,
                "Train the matmuls in fp8 with Transformer Engine",
            )
            .description(format!(
                "The {} runs fp8 matmuls at {:.0} TFLOP/s, {:.1}× its {compute} rate, and this step is {bound}. \
                 Transformer Engine runs each Linear layer's forward and backward GEMMs in fp8 with per-tensor scaling, \
                 keeping the weights and the optimizer in higher precision.",
                spec.name,
                peak8 / 1e12,
                peak8 / peak16.max(1.0),
            ))
            .evidence(evidence_gpu)
            .evidence(facts::sourced("precision", &facts.run.compute))
            .step("Replace nn.Linear (and LayerNorm + Linear pairs) with transformer_engine.pytorch modules, or use a framework that does (Megatron-Core, NeMo, Hugging Face Accelerate with mixed_precision=\"fp8\").")
            .step("Wrap the forward in te.fp8_autocast(enabled=True, fp8_recipe=DelayedScaling(fp8_format=Format.HYBRID)): E4M3 forward, E5M2 gradients.")
            .step("Keep the loss, softmax and normalization in bf16; compare the loss curve with a bf16 run for the first few thousand steps.")
            .code(
                "python",
                "import transformer_engine.pytorch as te\nfrom transformer_engine.common.recipe import DelayedScaling, Format\n\nrecipe = DelayedScaling(fp8_format=Format.HYBRID, amax_history_len=16, amax_compute_algo=\"max\")\nwith te.fp8_autocast(enabled=True, fp8_recipe=recipe):\n    loss = model(batch).loss\nloss.backward()",
            )
            .warning("Small matmuls gain little: the casts and scaling cost a fixed time per GEMM that the model does not count. Measure a few steps.")
            .warning("fp8 training needs its scaling recipe: watch for loss spikes against a bf16 baseline."),
            Mode::Inference => OptimizationSuggestion::new(
                self.id(),
                Category::Hardware,
                advisor_core::Impact::Medium,
                Difficulty::Easy,
                if changes.len() > 1 {
                    "Serve an fp8 checkpoint with an fp8 KV cache"
                } else {
                    "Serve an fp8 checkpoint"
                },
            )
            .description(format!(
                "The {} has fp8 tensor cores ({:.0} TFLOP/s, {:.1}× its {compute} rate). fp8 weights and activations halve \
                 the bytes each decode step reads and double the prefill's FLOP/s{}; the run is {bound} as configured.",
                spec.name,
                peak8 / 1e12,
                peak8 / peak16.max(1.0),
                if changes.len() > 1 {
                    ", and an fp8 KV cache halves the cache's reads and memory"
                } else {
                    ""
                },
            ))
            .evidence(evidence_gpu)
            .evidence(facts::sourced("precision", &facts.run.compute))
            .step("vLLM: LLM(model=..., quantization=\"fp8\") quantizes the Linear weights at load with dynamic per-token activation scales; a pre-quantized fp8 checkpoint (llm-compressor FP8_DYNAMIC) loads the same way and keeps calibrated scales.")
            .step("Add kv_cache_dtype=\"fp8\" for the cache (calibrated scales from the checkpoint where it has them).")
            .step("TensorRT-LLM: quantize with ModelOpt (--qformat fp8 --kv_cache_dtype fp8) and build the engine.")
            .step("Evaluate on your own task before switching traffic: fp8 recovers 99 %+ of 16-bit accuracy on most LLM benchmarks.")
            .code(
                "python",
                "from vllm import LLM\n\nllm = LLM(model=name, quantization=\"fp8\", kv_cache_dtype=\"fp8\")",
            ),
        };
        Ok(vec![facts::with_simulation(
            suggestion,
            &changes,
            &simulation,
        )])
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::rules::test_support::{advise, context, llama_2_7b, target};

    #[test]
    fn llama_2_7b_serving_at_batch_8_on_an_h100() {
        expect![[r#"
            fp8 · hardware · impact high · difficulty easy
            title: Serve an fp8 checkpoint with an fp8 KV cache
            description: The NVIDIA H100 SXM has fp8 tensor cores (1979 TFLOP/s, 2.0× its bf16 rate). fp8 weights and activations halve the bytes each decode step reads and double the prefill's FLOP/s, and an fp8 KV cache halves the cache's reads and memory; the run is memory-bound as configured.
            changes: compute in fp8; fp8 KV cache
            expected:
            - latency −49 % [0.485, 0.488]: model: request 1.69 s–2.66 s → 866.7 ms–1.37 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.9–2.0 [0.485, 0.488]: model: request time per sequence 211.5 ms–332.9 ms → 108.3 ms–171.4 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_to_first_token −44–46 % [0.440, 0.456]: model: time to first token 155.1 ms–355.3 ms → 85.3 ms–195.8 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_per_token −49 % [0.491, 0.492]: model: time per generated token 6.0 ms–9.0 ms → 3.1 ms–4.6 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −46 % [0.463, 0.463]: model: peak memory 18.4 GiB → 9.9 GiB (weights 6.5 GiB + KV cache 2.5 GiB + CUDA context and workspaces 512.0 MiB + activations 384.0 MiB)
            - model_size −48 % [0.481, 0.481]: model: weights 12.6 GiB → 6.5 GiB (16 → 8 bits per weight, embeddings and head at 16 bits)
            evidence:
            - NVIDIA H100 SXM: 1979 TFLOP/s fp8 against 990 TFLOP/s bf16 (NVIDIA H100 Tensor Core GPU datasheet (2022), https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet)
            - precision bf16 (config precision)
            steps:
            - vLLM: LLM(model=..., quantization="fp8") quantizes the Linear weights at load with dynamic per-token activation scales; a pre-quantized fp8 checkpoint (llm-compressor FP8_DYNAMIC) loads the same way and keeps calibrated scales.
            - Add kv_cache_dtype="fp8" for the cache (calibrated scales from the checkpoint where it has them).
            - TensorRT-LLM: quantize with ModelOpt (--qformat fp8 --kv_cache_dtype fp8) and build the engine.
            - Evaluate on your own task before switching traffic: fp8 recovers 99 %+ of 16-bit accuracy on most LLM benchmarks.
            code: python
        "#]].assert_eq(&advise(
            "fp8",
            context(
                llama_2_7b(),
                target("nvidia-h100-sxm"),
                json!({ "mode": "inference", "batch_size": "8", "prompt_len": "1024",
                        "new_tokens": "256", "precision": "bf16", "compile": "true" }),
            ),
        ));
    }

    #[test]
    fn llama_2_7b_training_on_an_h100() {
        expect![[r#"
            fp8 · hardware · impact high · difficulty medium
            title: Train the matmuls in fp8 with Transformer Engine
            description: The NVIDIA H100 SXM runs fp8 matmuls at 1979 TFLOP/s, 2.0× its bf16 rate, and this step is compute-bound. Transformer Engine runs each Linear layer's forward and backward GEMMs in fp8 with per-tensor scaling, keeping the weights and the optimizer in higher precision.
            changes: compute in fp8
            expected:
            - latency −36–39 % [0.361, 0.393]: model: step 1.12 s–2.58 s → 694.3 ms–1.60 s (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.6 [0.361, 0.393]: model: step time per sample 140.2 ms–321.9 ms → 86.8 ms–200.0 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - NVIDIA H100 SXM: 1979 TFLOP/s fp8 against 990 TFLOP/s bf16 (NVIDIA H100 Tensor Core GPU datasheet (2022), https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet)
            - precision bf16 (config precision)
            steps:
            - Replace nn.Linear (and LayerNorm + Linear pairs) with transformer_engine.pytorch modules, or use a framework that does (Megatron-Core, NeMo, Hugging Face Accelerate with mixed_precision="fp8").
            - Wrap the forward in te.fp8_autocast(enabled=True, fp8_recipe=DelayedScaling(fp8_format=Format.HYBRID)): E4M3 forward, E5M2 gradients.
            - Keep the loss, softmax and normalization in bf16; compare the loss curve with a bf16 run for the first few thousand steps.
            code: python
            warnings:
            - Small matmuls gain little: the casts and scaling cost a fixed time per GEMM that the model does not count. Measure a few steps.
            - fp8 training needs its scaling recipe: watch for loss spikes against a bf16 baseline.
            - As configured the run does not fit in memory (see the feasibility suggestion): the figures compare with a run that cannot start.
        "#]].assert_eq(&advise(
            "fp8",
            context(
                llama_2_7b(),
                target("nvidia-h100-sxm"),
                json!({ "mode": "training", "batch_size": "8", "seq_len": "2048",
                        "precision": "bf16", "flash_attention": "true" }),
            ),
        ));
    }

    #[test]
    fn silent_without_fp8_units_or_already_quantized() {
        for (hardware, config) in [
            // Ampere: no fp8 tensor cores.
            (
                target("nvidia-a100-80gb"),
                json!({ "mode": "inference", "batch_size": "8", "new_tokens": "256", "precision": "bf16" }),
            ),
            // Already int4.
            (
                target("nvidia-h100-sxm"),
                json!({ "mode": "inference", "batch_size": "8", "new_tokens": "256", "quantization": "int4" }),
            ),
            // fp32: mixed precision comes first.
            (
                target("nvidia-h100-sxm"),
                json!({ "mode": "inference", "batch_size": "8", "new_tokens": "256", "precision": "fp32" }),
            ),
        ] {
            let text = advise("fp8", context(llama_2_7b(), hardware, config));
            assert!(!text.contains("title:"), "{text}");
        }
    }
}
