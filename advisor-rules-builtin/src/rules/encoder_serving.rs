//! `encoder_serving`: a BERT-class encoder served from eager PyTorch.
//!
//! ## What it checks
//! Inference of an encoder (BERT, RoBERTa, MiniLM: no generation) whose `engine` is Hugging
//! Face on PyTorch (`engine=hf`, or not set, which is taken as that and said so), not compiled,
//! on a GPU or a CPU, where the performance model finds an inference runtime buys at least
//! 10 % of the latency.
//!
//! ## Why it matters
//! ONNX Runtime and TensorRT fuse what eager PyTorch runs as separate kernels: attention into
//! one kernel, bias, GELU and LayerNorm into the matmuls around them (ONNX Runtime's
//! transformer optimizer, `optimum`'s `ORTOptimizer`), and launch the whole graph without
//! Python. The model counts that as the `compile` change does: a third of the operators and
//! half the element-wise traffic, and no per-operator host cost. With it comes the precision
//! these runtimes serve encoders in: fp16 on a GPU with fp16 tensor cores (TensorRT
//! `--fp16`, ONNX Runtime's CUDA provider with a float16 model), int8 weights on a CPU with
//! int8 dot products (ONNX Runtime's dynamic quantization of the MatMuls, on VNNI or AMX).
//!
//! ## When it stays silent
//! A decoder or encoder-decoder (their serving stacks are `serving_engine`'s and
//! `torch_compile`'s), an engine already set (`onnxruntime`, `tensorrt`, `openvino`, ...),
//! compiled already, training, or under 10 % modelled gain.
//!
//! ## Example
//! BERT-base at batch 32 with 128-token inputs in fp32 on a T4.

use advisor_core::{
    Architecture, Category, Change, Difficulty, Engine, ImprovementMetric, Mode, OptimizationRule,
    OptimizationSuggestion, Precision, RuleError, RuleInput, WeightFormat,
};

use crate::facts;

/// See the module documentation.
pub(crate) struct EncoderServing;

impl OptimizationRule for EncoderServing {
    fn id(&self) -> &str {
        "encoder_serving"
    }

    fn category(&self) -> Category {
        Category::Compute
    }

    fn description(&self) -> &str {
        "An encoder served from eager PyTorch: ONNX Runtime or TensorRT with fused kernels in fp16 or int8"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        if facts.mode()? != Mode::Inference
            || facts.run.engine.value != Engine::Hf
            || facts.run.compiled.value
        {
            return Ok(Vec::new());
        }
        let model = facts.model()?;
        if model.architecture != Some(Architecture::Encoder) {
            return Ok(Vec::new());
        }
        let on_gpu = facts.on_gpu()?;
        let settings = facts.settings()?;
        let mut changes = vec![Change::Compile(true)];
        let precision_step = if on_gpu {
            let fp16 = facts
                .run_gpu_spec()?
                .is_some_and(|(_, spec)| spec.matrix_units && spec.peak.fp16.is_some());
            if fp16 && settings.compute == Precision::Fp32 {
                changes.push(Change::Precision(Precision::Fp16));
                Some("fp16")
            } else {
                None
            }
        } else {
            let int8 = facts
                .cpu
                .as_ref()
                .is_some_and(|cpu| cpu.per_core_peak.int8.is_some());
            if int8 && !settings.weights.is_integer() {
                changes.push(Change::Weights(WeightFormat::Int8));
                Some("int8")
            } else {
                None
            }
        };
        let simulation = facts::simulate(input, &changes)?;
        let gain = simulation
            .improvement(ImprovementMetric::Latency)
            .map_or(0.0, |i| i.max_reduction);
        if gain < 0.10 {
            return Ok(Vec::new());
        }
        let device = if on_gpu { "GPU" } else { "CPU" };
        let title = match precision_step {
            Some(precision) => format!(
                "Serve the encoder from {} in {precision}: fused kernels instead of eager PyTorch",
                if on_gpu {
                    "TensorRT or ONNX Runtime"
                } else {
                    "ONNX Runtime"
                }
            ),
            None => format!(
                "Serve the encoder from {}: fused kernels instead of eager PyTorch",
                if on_gpu {
                    "TensorRT or ONNX Runtime"
                } else {
                    "ONNX Runtime"
                }
            ),
        };
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Compute,
            advisor_core::Impact::Medium,
            Difficulty::Medium,
            title,
        )
        .description(format!(
            "Eager PyTorch runs each of the encoder's ~30 operators per layer as its own kernel, issued from Python. An \
             inference runtime fuses attention, bias, GELU and LayerNorm into few kernels and runs the graph without \
             Python{}. By the model the forward is {} as configured and {} after.",
            match precision_step {
                Some(p) => format!(", in {p} on this {device}"),
                None => String::new(),
            },
            simulation.predicted_before.bound().as_str(),
            simulation.predicted_after.bound().as_str(),
        ))
        .evidence(facts::sourced("engine", &facts.run.engine))
        .evidence(facts::sourced("compile", &facts.run.compiled))
        .evidence(facts::sourced("compute precision", &facts.run.compute))
        .evidence(format!(
            "batch {} × {} tokens",
            settings.batch_size, settings.prompt_tokens
        ));
        suggestion = suggestion.evidence(
            "the runtime's fusion is modelled as the compile change: a third of the operators, half the element-wise traffic, the graph launched without per-operator host cost",
        );
        if precision_step.is_some() {
            suggestion = suggestion.evidence(format!(
                "the precision part alone is also {}'s suggestion; the report's summary counts it once",
                if on_gpu { "mixed_precision" } else { "dynamic_quantization" }
            ));
        }
        suggestion = if on_gpu {
            suggestion
                .step("Export with Optimum: `optimum-cli export onnx --model NAME --task feature-extraction onnx/` (dynamic batch and sequence axes).")
                .step("ONNX Runtime: optimize for BERT (`ORTOptimizer`, optimization level O4 fuses attention and converts to fp16) and run with the CUDA or TensorRT execution provider.")
                .step("TensorRT: `trtexec --onnx=onnx/model.onnx --fp16` with optimization profiles for your batch and length ranges.")
                .code(
                    "python",
                    "from optimum.onnxruntime import ORTModelForFeatureExtraction, ORTOptimizer, AutoOptimizationConfig\n\nmodel = ORTModelForFeatureExtraction.from_pretrained(name, export=True, provider=\"CUDAExecutionProvider\")\nORTOptimizer.from_pretrained(model).optimize(save_dir=\"onnx-o4\", optimization_config=AutoOptimizationConfig.O4())",
                )
                .code("bash", "trtexec --onnx=onnx/model.onnx --fp16 --minShapes=input_ids:1x16,attention_mask:1x16 --optShapes=input_ids:32x128,attention_mask:32x128 --maxShapes=input_ids:64x512,attention_mask:64x512 --saveEngine=model.plan")
        } else {
            suggestion
                .step("Export with Optimum: `optimum-cli export onnx --model NAME --task feature-extraction onnx/`.")
                .step("Quantize the MatMuls to int8 with ONNX Runtime's dynamic quantization (`ORTQuantizer` with `AutoQuantizationConfig.avx512_vnni`); embeddings stay fp32.")
                .step("Set intra-op threads to the physical cores of one socket (SessionOptions.intra_op_num_threads).")
                .code(
                    "python",
                    "from optimum.onnxruntime import ORTModelForFeatureExtraction, ORTQuantizer\nfrom optimum.onnxruntime.configuration import AutoQuantizationConfig\n\nmodel = ORTModelForFeatureExtraction.from_pretrained(name, export=True)\nORTQuantizer.from_pretrained(model).quantize(save_dir=\"onnx-int8\", quantization_config=AutoQuantizationConfig.avx512_vnni(is_static=False))",
                )
        };
        suggestion = suggestion.warning(
            "Check the outputs against PyTorch's on your data (cosine similarity of embeddings, task accuracy): fp16 and int8 move them slightly.",
        );
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

    use crate::rules::test_support::{advise, bert_base, context, gpt2, minilm, target};

    #[test]
    fn bert_base_at_batch_32_in_fp32_on_a_t4() {
        expect![[r#"
            encoder_serving · compute · impact high · difficulty medium
            title: Serve the encoder from TensorRT or ONNX Runtime in fp16: fused kernels instead of eager PyTorch
            description: Eager PyTorch runs each of the encoder's ~30 operators per layer as its own kernel, issued from Python. An inference runtime fuses attention, bias, GELU and LayerNorm into few kernels and runs the graph without Python, in fp16 on this GPU. By the model the forward is compute-bound as configured and compute-bound after.
            changes: torch.compile with CUDA graphs; compute in fp16
            expected:
            - latency −75–84 % [0.751, 0.839]: model: request 122.3 ms–181.2 ms → 19.7 ms–45.2 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×4.0–6.2 [0.751, 0.839]: model: request time per sequence 3.8 ms–5.7 ms → 614 µs–1.4 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −24 % [0.244, 0.244]: model: peak memory 1001.6 MiB → 756.8 MiB (CUDA context and workspaces 512.0 MiB + weights 208.8 MiB + activations 36.0 MiB)
            - model_size −50 % [0.500, 0.500]: model: weights 417.6 MiB → 208.8 MiB (32 → 16 bits per weight, embeddings and head at 16 bits)
            evidence:
            - engine hf (assumed: engine not set; taken as Hugging Face Transformers on PyTorch (generate() or a plain forward))
            - compile false (assumed: compile not set; PyTorch runs eagerly unless torch.compile is called)
            - compute precision fp32 (config precision)
            - batch 32 × 128 tokens
            - the runtime's fusion is modelled as the compile change: a third of the operators, half the element-wise traffic, the graph launched without per-operator host cost
            - the precision part alone is also mixed_precision's suggestion; the report's summary counts it once
            steps:
            - Export with Optimum: `optimum-cli export onnx --model NAME --task feature-extraction onnx/` (dynamic batch and sequence axes).
            - ONNX Runtime: optimize for BERT (`ORTOptimizer`, optimization level O4 fuses attention and converts to fp16) and run with the CUDA or TensorRT execution provider.
            - TensorRT: `trtexec --onnx=onnx/model.onnx --fp16` with optimization profiles for your batch and length ranges.
            code: python, bash
            warnings:
            - Check the outputs against PyTorch's on your data (cosine similarity of embeddings, task accuracy): fp16 and int8 move them slightly.
        "#]].assert_eq(&advise(
            "encoder_serving",
            context(
                bert_base(),
                target("nvidia-t4"),
                json!({ "mode": "inference", "batch_size": "32", "seq_len": "128", "precision": "fp32" }),
            ),
        ));
    }

    #[test]
    fn minilm_at_batch_8_on_a_16_core_cpu_with_vnni() {
        let cpu = json!({ "cpu_model": "Intel Xeon Platinum 8375C", "cpu_cores": 16, "cpu_threads": 32,
                          "system_memory_mb": 65536,
                          "simd_capabilities": ["avx2", "fma", "avx512f", "avx512vnni"] });
        expect![[r#"
            encoder_serving · compute · impact high · difficulty medium
            title: Serve the encoder from ONNX Runtime in int8: fused kernels instead of eager PyTorch
            description: Eager PyTorch runs each of the encoder's ~30 operators per layer as its own kernel, issued from Python. An inference runtime fuses attention, bias, GELU and LayerNorm into few kernels and runs the graph without Python, in int8 on this CPU. By the model the forward is compute-bound as configured and memory-bound after.
            changes: torch.compile with CUDA graphs; int8 weights
            expected:
            - latency −35–47 % [0.353, 0.466]: model: request 16.5 ms–34.6 ms → 8.8 ms–22.4 ms (compute-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.5–1.9 [0.353, 0.466]: model: request time per sequence 2.1 ms–4.3 ms → 1.1 ms–2.8 ms (compute-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −33 % [0.329, 0.329]: model: peak memory 95.6 MiB → 64.2 MiB (weights 55.2 MiB + activations 9.0 MiB)
            - model_size −36 % [0.363, 0.363]: model: weights 86.6 MiB → 55.2 MiB (32 → 8 bits per weight, embeddings and head at 32 bits)
            evidence:
            - engine hf (assumed: engine not set; taken as Hugging Face Transformers on PyTorch (generate() or a plain forward))
            - compile false (assumed: compile not set; PyTorch runs eagerly unless torch.compile is called)
            - compute precision fp32 (config precision)
            - batch 8 × 128 tokens
            - the runtime's fusion is modelled as the compile change: a third of the operators, half the element-wise traffic, the graph launched without per-operator host cost
            - the precision part alone is also dynamic_quantization's suggestion; the report's summary counts it once
            steps:
            - Export with Optimum: `optimum-cli export onnx --model NAME --task feature-extraction onnx/`.
            - Quantize the MatMuls to int8 with ONNX Runtime's dynamic quantization (`ORTQuantizer` with `AutoQuantizationConfig.avx512_vnni`); embeddings stay fp32.
            - Set intra-op threads to the physical cores of one socket (SessionOptions.intra_op_num_threads).
            code: python
            warnings:
            - Check the outputs against PyTorch's on your data (cosine similarity of embeddings, task accuracy): fp16 and int8 move them slightly.
        "#]].assert_eq(&advise(
            "encoder_serving",
            context(
                minilm(),
                cpu,
                json!({ "mode": "inference", "batch_size": "8", "seq_len": "128", "precision": "fp32", "device": "cpu" }),
            ),
        ));
    }

    #[test]
    fn silent_for_decoders_and_on_a_runtime() {
        for (model, config) in [
            (
                gpt2(),
                json!({ "mode": "inference", "batch_size": "32", "seq_len": "128", "precision": "fp32" }),
            ),
            (
                bert_base(),
                json!({ "mode": "inference", "batch_size": "32", "seq_len": "128", "precision": "fp32", "engine": "onnxruntime" }),
            ),
        ] {
            let text = advise(
                "encoder_serving",
                context(model, target("nvidia-t4"), config),
            );
            assert!(!text.contains("title:"), "{text}");
        }
    }
}
