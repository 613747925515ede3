//! `dynamic_quantization`: fp32 inference on a CPU with fp32 Linear layers.
//!
//! ## What it checks
//! Inference on a CPU (encoders and decoders alike) with fp32 weights, served from PyTorch or
//! ONNX Runtime (`engine` `hf`, unset, or `onnxruntime`), where the performance model finds
//! int8 Linear layers buy at least 10 % of the latency.
//!
//! ## Why it matters
//! Dynamic quantization (`torch.ao.quantization.quantize_dynamic` on `nn.Linear`, ONNX
//! Runtime's `quantize_dynamic` on MatMul) stores each Linear weight in int8 with a scale and
//! quantizes every activation batch on the fly from its observed range, so no calibration set
//! is needed; the matmuls run as int8 GEMMs (FBGEMM or oneDNN in PyTorch, MLAS in ONNX Runtime).
//! Embedding tables are gathered, not multiplied, and stay fp32: the model is
//! `body × 1 B + embeddings × 4 B`, with the embeddings `vocab × hidden` from the model's
//! facts (and an untied head), so a BERT-base shrinks 2.4×, not 4×. The time gain is the
//! performance model before and after: int8 matmuls run at the CPU's int8 rate, which comes
//! from the instructions the probe reports (Intel Optimization Reference Manual, vol. 1,
//! ch. 20: AVX2 `vpmaddubsw` 2× the fp32 rate, AVX512-VNNI `vpdpbusd` 4×, AMX-INT8 2,048
//! operations per cycle and core), and memory-bound steps read a quarter of the weight bytes.
//! PyTorch's tutorial ("(beta) Dynamic Quantization on BERT") measures bert-base-uncased at
//! 438.0 MB in fp32 and 181.5 MB quantized, and names the ~90 MB word-embedding table
//! (`4 B × 30522 × 768`) as the part that stays fp32; the model gives the same split.
//!
//! An untied language-model head is an `nn.Linear`, which `quantize_dynamic` does quantize; the
//! model keeps it at fp32 with the embeddings, so for such decoders the size after is an upper
//! bound.
//!
//! On a GPU weight-only int8 or int4 is the `quantization` rule's advice (`quantize_dynamic`
//! has no CUDA kernels); for a CPU run that rule defers to this one.
//!
//! ## When it stays silent
//! A GPU run, training, weights already quantized or not fp32 (bf16 on AMX is
//! `mixed_precision`'s), another engine (OpenVINO and llama.cpp quantize their own way), or
//! under 10 % modelled gain. Without the device, the model or its vocabulary size it says what
//! it needs.
//!
//! ## Example
//! BERT-base at batch 1 with 128-token inputs in fp32 on an 8-core Xeon with AVX512-VNNI.

use advisor_core::{
    Category, Change, Difficulty, Engine, ImprovementMetric, Missing, Mode, OptimizationRule,
    OptimizationSuggestion, Precision, RuleError, RuleInput, WeightFormat,
};

use crate::facts;

/// Gains under this share of the latency are not worth a quantized model to maintain.
const MIN_GAIN: f64 = 0.10;

/// See the module documentation.
pub(crate) struct DynamicQuantization;

impl OptimizationRule for DynamicQuantization {
    fn id(&self) -> &str {
        "dynamic_quantization"
    }

    fn category(&self) -> Category {
        Category::Quantization
    }

    fn description(&self) -> &str {
        "fp32 inference on a CPU: int8 Linear layers with dynamic quantization (quantize_dynamic, ONNX Runtime int8), embeddings kept fp32"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        if facts.mode()? != Mode::Inference || facts.on_gpu()? {
            return Ok(Vec::new());
        }
        let engine = facts.run.engine.value;
        if !matches!(engine, Engine::Hf | Engine::Onnxruntime)
            || facts.run.weights.value != WeightFormat::Float(Precision::Fp32)
        {
            return Ok(Vec::new());
        }
        let model = facts.model()?;
        let parameters = model
            .parameters
            .ok_or_else(|| Missing::ModelFact("parameters".to_owned()))?;
        // The part that stays fp32 is what makes the size real: without the vocabulary the
        // rule would count the embeddings as quantized.
        let vocab = model
            .vocab_size
            .ok_or_else(|| Missing::ModelFact("vocab_size".to_owned()))?;
        let cpu = facts.cpu.as_ref().ok_or(Missing::CpuCores)?;
        let changes = [Change::Weights(WeightFormat::Int8)];
        let simulation = facts::simulate(input, &changes)?;
        let gain = simulation
            .improvement(ImprovementMetric::Latency)
            .map_or(0.0, |i| i.max_reduction);
        if gain < MIN_GAIN {
            return Ok(Vec::new());
        }
        let embeddings = model.embedding_parameters();
        let before_bytes = simulation.predicted_before.weight_bytes;
        let after_bytes = simulation.predicted_after.weight_bytes;
        let has = |name: &str| cpu.simd.iter().any(|s| s == name);
        let instructions = if has("amx-int8") {
            "AMX-INT8 tile matmuls"
        } else if has("avx512vnni") {
            "AVX512-VNNI dot products (vpdpbusd)"
        } else if has("avx-vnni") {
            "AVX-VNNI dot products"
        } else if has("avx2") {
            "AVX2 only (vpmaddubsw): VNNI or AMX would run int8 faster still"
        } else {
            "no int8 dot-product instructions reported: int8 matmuls run at the fp32 rate, the gain is the bytes"
        };
        let int8_ratio = match (cpu.per_core_peak.int8, cpu.per_core_peak.fp32) {
            (Some(int8), Some(fp32)) if fp32 > 0.0 => int8 / fp32,
            _ => 1.0,
        };
        let generates = model.generates();
        let suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Quantization,
            advisor_core::Impact::Medium,
            Difficulty::Easy,
            if engine == Engine::Onnxruntime {
                "Quantize the model's MatMuls to int8 with ONNX Runtime's dynamic quantization"
            } else {
                "Quantize the Linear layers to int8 with dynamic quantization"
            },
        )
        .description(format!(
            "The model runs in fp32 on the CPU. Dynamic quantization stores every Linear weight in int8 and quantizes each \
             activation batch on the fly, so the matmuls run as int8 GEMMs ({instructions}). The embedding tables \
             ({}, {} of the parameters) are gathered, not multiplied, and stay fp32: the weights go from {} to {}, {:.1}× \
             smaller rather than 4×.",
            facts::count_text(embeddings as f64),
            facts::percent(embeddings as f64 / parameters.max(1) as f64),
            facts::float_bytes_text(before_bytes),
            facts::float_bytes_text(after_bytes),
            before_bytes / after_bytes.max(1.0),
        ))
        .evidence(format!(
            "embeddings: vocab {vocab} × hidden {}{} = {} parameters kept fp32, of {}",
            model.hidden_size.unwrap_or(0),
            if generates && model.tied_embeddings == Some(false) {
                ", twice (an untied head, counted fp32 too; quantize_dynamic quantizes it)"
            } else {
                ""
            },
            facts::count_text(embeddings as f64),
            facts::count_text(parameters as f64),
        ))
        .evidence(format!(
            "CPU {}: int8 at {int8_ratio:.0}× the fp32 rate per core ({})",
            cpu.model.as_deref().unwrap_or("(model not reported)"),
            cpu.peak_source
        ))
        .evidence(facts::sourced("weights", &facts.run.weights))
        .evidence(format!(
            "as configured the run is {}",
            simulation.predicted_before.bound().as_str()
        ))
        .evidence(facts::sourced("engine", &facts.run.engine));
        let gpt2 = input
            .context
            .model_graph
            .as_ref()
            .and_then(|graph| graph.facts.family.as_deref())
            == Some("gpt2");
        let pytorch_code = "import torch\nfrom torch.ao.quantization import quantize_dynamic\n\ntorch.backends.quantized.engine = \"x86\"  # \"qnnpack\" on Arm\nqmodel = quantize_dynamic(model.eval(), {torch.nn.Linear}, dtype=torch.qint8)\ntorch.save(qmodel.state_dict(), \"model-int8.pt\")";
        let ort_code = "from onnxruntime.quantization import QuantType, quantize_dynamic\n\nquantize_dynamic(\"model.onnx\", \"model-int8.onnx\", weight_type=QuantType.QInt8)";
        let mut suggestion = if engine == Engine::Onnxruntime {
            suggestion
                .step("Run onnxruntime.quantization.quantize_dynamic on the exported model (weights QInt8, activations quantized per batch); the Gather of the embeddings stays fp32.")
                .step("Keep the graph optimizations on (ORT_ENABLE_ALL) so the quantized MatMuls fuse with their bias and GELU.")
                .code("python", ort_code)
        } else {
            let mut s = suggestion.step("Call torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8) once after loading; nn.Embedding and LayerNorm stay fp32.");
            if gpt2 {
                s = s.step("Hugging Face GPT-2 uses `Conv1D`, not `nn.Linear`: replace those layers with nn.Linear first, or `quantize_dynamic({nn.Linear})` barely touches them.");
            }
            s.step("Or export to ONNX (optimum-cli export onnx) and quantize with ONNX Runtime's quantize_dynamic: its MLAS kernels use VNNI and AMX too.")
                .code("python", pytorch_code)
                .code("python", ort_code)
        };
        suggestion = suggestion
            .step("Compare the outputs with the fp32 model on held-out data (task accuracy, or cosine similarity of embeddings) before switching.")
            .warning("Dynamic quantization measures each batch's activation range at run time: short inputs at batch 1 pay that pass relative to little work, and accuracy can drop where activations have outliers (LLMs past a few billion parameters); evaluate on your data.");
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

    use crate::rules::test_support::{advise, bert_base, context, cpu, gpt2, minilm, target};

    /// An 8-core Xeon with AVX-512 and VNNI (Cascade Lake and newer).
    fn xeon_vnni() -> serde_json::Value {
        json!({ "cpu_model": "Intel Xeon Gold 6248", "cpu_cores": 8, "cpu_threads": 16,
                "system_memory_mb": 65536,
                "simd_capabilities": ["avx2", "fma", "avx512f", "avx512vnni"] })
    }

    #[test]
    fn bert_base_at_batch_1_on_a_vnni_xeon() {
        expect![[r#"
            dynamic_quantization · quantization · impact high · difficulty easy
            title: Quantize the Linear layers to int8 with dynamic quantization
            description: The model runs in fp32 on the CPU. Dynamic quantization stores every Linear weight in int8 and quantizes each activation batch on the fly, so the matmuls run as int8 GEMMs (AVX512-VNNI dot products (vpdpbusd)). The embedding tables (23 M, 21.4 % of the parameters) are gathered, not multiplied, and stay fp32: the weights go from 417.6 MiB to 171.5 MiB, 2.4× smaller rather than 4×.
            changes: int8 weights
            expected:
            - latency −32–55 % [0.318, 0.550]: model: request 28.7 ms–56.8 ms → 12.9 ms–38.8 ms (compute-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.5–2.2 [0.318, 0.550]: model: request time per sequence 28.7 ms–56.8 ms → 12.9 ms–38.8 ms (compute-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −59 % [0.586, 0.586]: model: peak memory 419.9 MiB → 173.7 MiB (weights 171.5 MiB + activations 2.2 MiB)
            - model_size −59 % [0.589, 0.589]: model: weights 417.6 MiB → 171.5 MiB (32 → 8 bits per weight, embeddings and head at 32 bits)
            evidence:
            - embeddings: vocab 30522 × hidden 768 = 23 M parameters kept fp32, of 109 M
            - CPU Intel Xeon Gold 6248: int8 at 4× the fp32 rate per core (assumed: fp32 64 FLOPs per cycle and core (AVX-512), int8 256 ops at 2.5 GHz (the clock is not reported; advisor hardware --calibrate measures it))
            - weights fp32 (derived: weights stored at the compute precision, fp32)
            - as configured the run is compute-bound
            - engine hf (assumed: engine not set; taken as Hugging Face Transformers on PyTorch (generate() or a plain forward))
            steps:
            - Call torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8) once after loading; nn.Embedding and LayerNorm stay fp32.
            - Or export to ONNX (optimum-cli export onnx) and quantize with ONNX Runtime's quantize_dynamic: its MLAS kernels use VNNI and AMX too.
            - Compare the outputs with the fp32 model on held-out data (task accuracy, or cosine similarity of embeddings) before switching.
            code: python, python
            warnings:
            - Dynamic quantization measures each batch's activation range at run time: short inputs at batch 1 pay that pass relative to little work, and accuracy can drop where activations have outliers (LLMs past a few billion parameters); evaluate on your data.
        "#]].assert_eq(&advise(
            "dynamic_quantization",
            context(
                bert_base(),
                xeon_vnni(),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "128",
                        "precision": "fp32", "device": "cpu" }),
            ),
        ));
    }

    #[test]
    fn gpt2_on_an_avx2_cpu_from_onnx_runtime() {
        expect![[r#"
            dynamic_quantization · quantization · impact high · difficulty easy
            title: Quantize the model's MatMuls to int8 with ONNX Runtime's dynamic quantization
            description: The model runs in fp32 on the CPU. Dynamic quantization stores every Linear weight in int8 and quantizes each activation batch on the fly, so the matmuls run as int8 GEMMs (AVX2 only (vpmaddubsw): VNNI or AMX would run int8 faster still). The embedding tables (39 M, 31.0 % of the parameters) are gathered, not multiplied, and stay fp32: the weights go from 474.7 MiB to 229.1 MiB, 2.1× smaller rather than 4×.
            changes: int8 weights
            expected:
            - latency −22–41 % [0.220, 0.407]: model: request 711.4 ms–1.53 s → 421.8 ms–1.19 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.3–1.7 [0.220, 0.407]: model: request time per sequence 711.4 ms–1.53 s → 421.8 ms–1.19 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_to_first_token −0–39 % [0.000, 0.386]: model: time to first token 127.1 ms–229.3 ms → 78.0 ms–232.9 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_per_token −26–41 % [0.262, 0.412]: model: time per generated token 9.1 ms–20.3 ms → 5.4 ms–15.0 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −49 % [0.490, 0.490]: model: peak memory 501.7 MiB → 256.1 MiB (weights 229.1 MiB + KV cache 22.5 MiB + activations 4.5 MiB)
            - model_size −52 % [0.517, 0.517]: model: weights 474.7 MiB → 229.1 MiB (32 → 8 bits per weight, embeddings and head at 32 bits)
            evidence:
            - embeddings: vocab 50257 × hidden 768 = 39 M parameters kept fp32, of 124 M
            - CPU Intel Xeon: int8 at 2× the fp32 rate per core (assumed: fp32 32 FLOPs per cycle and core (AVX2), int8 64 ops at 2.5 GHz (the clock is not reported; advisor hardware --calibrate measures it))
            - weights fp32 (derived: weights stored at the compute precision, fp32)
            - as configured the run is memory-bound
            - engine onnxruntime (config engine)
            steps:
            - Run onnxruntime.quantization.quantize_dynamic on the exported model (weights QInt8, activations quantized per batch); the Gather of the embeddings stays fp32.
            - Keep the graph optimizations on (ORT_ENABLE_ALL) so the quantized MatMuls fuse with their bias and GELU.
            - Compare the outputs with the fp32 model on held-out data (task accuracy, or cosine similarity of embeddings) before switching.
            code: python
            warnings:
            - Dynamic quantization measures each batch's activation range at run time: short inputs at batch 1 pay that pass relative to little work, and accuracy can drop where activations have outliers (LLMs past a few billion parameters); evaluate on your data.
            - The model predicts time to first token +2 % in the worst case.
        "#]].assert_eq(&advise(
            "dynamic_quantization",
            context(
                gpt2(),
                cpu(8),
                json!({ "mode": "inference", "batch_size": "1", "prompt_len": "256",
                        "new_tokens": "64", "precision": "fp32", "device": "cpu",
                        "engine": "onnxruntime" }),
            ),
        ));
    }

    #[test]
    fn minilm_on_a_vnni_xeon() {
        expect![[r#"
            dynamic_quantization · quantization · impact high · difficulty easy
            title: Quantize the Linear layers to int8 with dynamic quantization
            description: The model runs in fp32 on the CPU. Dynamic quantization stores every Linear weight in int8 and quantizes each activation batch on the fly, so the matmuls run as int8 GEMMs (AVX512-VNNI dot products (vpdpbusd)). The embedding tables (12 M, 51.6 % of the parameters) are gathered, not multiplied, and stay fp32: the weights go from 86.6 MiB to 55.2 MiB, 1.6× smaller rather than 4×.
            changes: int8 weights
            expected:
            - latency −18–41 % [0.179, 0.414]: model: request 106.6 ms–202.4 ms → 62.5 ms–166.1 ms (compute-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.2–1.7 [0.179, 0.414]: model: request time per sequence 3.3 ms–6.3 ms → 2.0 ms–5.2 ms (compute-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −26 % [0.256, 0.256]: model: peak memory 122.6 MiB → 91.2 MiB (weights 55.2 MiB + activations 36.0 MiB)
            - model_size −36 % [0.363, 0.363]: model: weights 86.6 MiB → 55.2 MiB (32 → 8 bits per weight, embeddings and head at 32 bits)
            evidence:
            - embeddings: vocab 30522 × hidden 384 = 12 M parameters kept fp32, of 23 M
            - CPU Intel Xeon Gold 6248: int8 at 4× the fp32 rate per core (assumed: fp32 64 FLOPs per cycle and core (AVX-512), int8 256 ops at 2.5 GHz (the clock is not reported; advisor hardware --calibrate measures it))
            - weights fp32 (derived: weights stored at the compute precision, fp32)
            - as configured the run is compute-bound
            - engine hf (assumed: engine not set; taken as Hugging Face Transformers on PyTorch (generate() or a plain forward))
            steps:
            - Call torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8) once after loading; nn.Embedding and LayerNorm stay fp32.
            - Or export to ONNX (optimum-cli export onnx) and quantize with ONNX Runtime's quantize_dynamic: its MLAS kernels use VNNI and AMX too.
            - Compare the outputs with the fp32 model on held-out data (task accuracy, or cosine similarity of embeddings) before switching.
            code: python, python
            warnings:
            - Dynamic quantization measures each batch's activation range at run time: short inputs at batch 1 pay that pass relative to little work, and accuracy can drop where activations have outliers (LLMs past a few billion parameters); evaluate on your data.
        "#]].assert_eq(&advise(
            "dynamic_quantization",
            context(
                minilm(),
                xeon_vnni(),
                json!({ "mode": "inference", "batch_size": "32", "seq_len": "128",
                        "device": "cpu" }),
            ),
        ));
    }

    #[test]
    fn silent_on_a_gpu_quantized_or_in_training() {
        for (hardware, config) in [
            (
                target("nvidia-t4"),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "128", "precision": "fp32" }),
            ),
            (
                xeon_vnni(),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "128", "device": "cpu", "quantization": "int8" }),
            ),
            (
                xeon_vnni(),
                json!({ "mode": "training", "batch_size": "8", "seq_len": "128", "device": "cpu" }),
            ),
            (
                xeon_vnni(),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "128", "device": "cpu", "engine": "openvino" }),
            ),
        ] {
            let text = advise(
                "dynamic_quantization",
                context(bert_base(), hardware, config),
            );
            assert!(!text.contains("title:"), "{text}");
        }
    }

    #[test]
    fn says_it_needs_the_vocabulary() {
        expect![[r#"
            silent
            diagnostic Info dynamic_quantization: could not decide: needs model_graph.facts.vocab_size (--model FILE or --example NAME)
        "#]].assert_eq(&advise(
            "dynamic_quantization",
            context(
                json!({ "facts": { "architecture": "encoder", "parameters": 109482240u64,
                                   "layers": 12, "hidden_size": 768, "attention_heads": 12 } }),
                xeon_vnni(),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "128", "device": "cpu" }),
            ),
        ));
    }
}
