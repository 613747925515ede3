//! `quantization`: a large model served with 16- or 32-bit weights.
//!
//! ## What it checks
//! Inference of a model over 100 M parameters whose weights are not already quantized
//! (`quantization`, an integer `precision`, or the model's dtype).
//!
//! ## Why it matters
//! Weights are stored at their real size: int8 per channel is 8 bits per weight, int4 with a
//! 16-bit scale and zero point per group of 128 is 4.25 bits (GPTQ, AWQ), and the embedding
//! and head stay 16-bit. The gain is the performance model before and after: decode reads the
//! weights once per step, so memory-bound generation speeds up with the bytes it no longer
//! reads (KV-cache reads do not shrink), while weight-only formats still compute in 16-bit, so
//! compute-bound prefill and large batches gain little. On a CPU, dynamic int8 runs int8
//! GEMMs where the CPU has int8 dot products (AVX512-VNNI, AMX).
//!
//! Which format: int4 (AWQ/GPTQ with Marlin or ExLlama kernels) for memory-bound decoding on a
//! GPU; int8 weight-only (torchao with torch.compile) when quality matters most; dynamic int8
//! on CPUs and for encoders. bitsandbytes LLM.int8 saves memory but runs slower than fp16.
//!
//! ## When it stays silent
//! 100 M parameters or fewer, already quantized, training (post-training quantization does
//! not apply), or no modelled gain. Without the model or the device it says what it needs.
//!
//! ## Example
//! Llama-2-7B decoding in fp16 on an A100: the weight reads dominate each step.

use advisor_core::{
    Category, Change, Difficulty, Impact, Mode, OptimizationRule, OptimizationSuggestion,
    RuleError, RuleInput, WeightFormat,
};

use crate::facts;

/// Models above this many parameters are worth quantizing.
const LARGE_MODEL_PARAMETERS: u64 = 100_000_000;

/// See the module documentation.
pub(crate) struct Quantization;

impl OptimizationRule for Quantization {
    fn id(&self) -> &str {
        "quantization"
    }

    fn category(&self) -> Category {
        Category::Quantization
    }

    fn description(&self) -> &str {
        "Models over 100M parameters served unquantized: quantize weights to int4 or int8"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        if facts.mode()? == Mode::Training {
            return Ok(Vec::new());
        }
        let model = facts.model()?;
        let parameters = model
            .parameters
            .ok_or_else(|| advisor_core::Missing::ModelFact("parameters".to_owned()))?;
        if parameters <= LARGE_MODEL_PARAMETERS || facts.run.weights.value.is_integer() {
            return Ok(Vec::new());
        }
        let on_gpu = facts.on_gpu()?;
        let decoder = model.generates();
        // int4 for memory-bound decoding on a GPU; int8 on CPUs and for encoders.
        let target = if on_gpu && decoder {
            WeightFormat::Int4
        } else {
            WeightFormat::Int8
        };
        let changes = [Change::Weights(target)];
        let simulation = facts::simulate(input, &changes)?;
        let other = if target == WeightFormat::Int4 {
            WeightFormat::Int8
        } else {
            WeightFormat::Int4
        };
        let alternative = facts::simulate(input, &[Change::Weights(other)])?;
        let current = facts.run.weights.value;
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Quantization,
            Impact::High,
            Difficulty::Medium,
            format!("Quantize the weights to {target}"),
        )
        .description(format!(
            "The model holds {} parameters at {current}: {} of weights. Stored at {target} they take {}.",
            facts::count_text(parameters as f64),
            advisor_model::bytes_text(simulation.predicted_before.weight_bytes),
            advisor_model::bytes_text(simulation.predicted_after.weight_bytes),
        ))
        .evidence(format!(
            "{} parameters > {} M",
            facts::count_text(parameters as f64),
            LARGE_MODEL_PARAMETERS / 1_000_000
        ))
        .evidence(facts::sourced("weights", &facts.run.weights))
        .evidence(format!(
            "as configured the run is {}",
            simulation.predicted_before.bound().as_str()
        ));
        if let Some(latency) = alternative.improvement(advisor_core::ImprovementMetric::Latency) {
            suggestion = suggestion.evidence(format!(
                "{other} instead: {} ({})",
                latency.describe(),
                advisor_model::bytes_text(alternative.predicted_after.weight_bytes)
            ));
        }
        let mut suggestion = facts::with_simulation(suggestion, &changes, &simulation);
        let gpt2 = input
            .context
            .model_graph
            .as_ref()
            .and_then(|graph| graph.facts.family.as_deref())
            == Some("gpt2");
        suggestion = match (on_gpu, target) {
            (false, _) => {
                suggestion = suggestion.step("Quantize the linear layers with dynamic int8 quantization (activations quantized on the fly); the embeddings stay fp32.");
                if gpt2 {
                    suggestion = suggestion.step("Hugging Face GPT-2 uses `Conv1D`, not `nn.Linear`: convert those layers first, or `quantize_dynamic({nn.Linear})` barely touches them.");
                }
                suggestion.step("Or export to ONNX and run onnxruntime's quantize_dynamic; int8 is fast where the CPU has VNNI or AMX.")
                .code("python", "import torch\nfrom torch.ao.quantization import quantize_dynamic\n\nqmodel = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)")
            }
            (true, WeightFormat::Int4) => suggestion
                .step("Serve an AWQ or GPTQ int4 checkpoint with fast kernels (vLLM or TGI with Marlin/ExLlama kernels).")
                .step("For int8 weight-only instead, use torchao's int8_weight_only with torch.compile.")
                .step("Evaluate perplexity or task accuracy against the unquantized model before switching traffic.")
                .code("python", "from vllm import LLM\n\nllm = LLM(model=\"TheBloke/Llama-2-7B-AWQ\", quantization=\"awq_marlin\")"),
            (true, _) => suggestion
                .step("Use torchao's int8 weight-only quantization with torch.compile for speed.")
                .step("Evaluate accuracy on held-out data before switching traffic.")
                .code("python", "import torch\nfrom torchao.quantization import quantize_, int8_weight_only\n\nquantize_(model, int8_weight_only())\nmodel = torch.compile(model, mode=\"max-autotune\")"),
        };
        suggestion = suggestion.warning("Quantization changes outputs: int8 is usually within noise, int4 can cost measurable accuracy; evaluate on your data.");
        if on_gpu {
            suggestion = suggestion.warning("bitsandbytes LLM.int8 and NF4 save memory but run slower than fp16 matmuls; pick kernels built for speed when latency is the goal.");
        }
        Ok(vec![suggestion])
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::rules::test_support::{
        advise, bert_base, context, cpu, gpt2, llama_2_7b, minilm, target,
    };

    #[test]
    fn llama_2_7b_decoding_in_fp16_on_an_a100_80gb() {
        expect![[r#"
            quantization · quantization · impact high · difficulty medium
            title: Quantize the weights to int4
            description: The model holds 6.74 B parameters at fp16: 12.6 GiB of weights. Stored at int4 they take 3.7 GiB.
            changes: int4 weights
            expected:
            - latency −0–66 % [0.000, 0.656]: model: request 4.05 s–10.06 s → 1.39 s–10.06 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.0–2.9 [0.000, 0.656]: model: request time per sequence 4.05 s–10.06 s → 1.39 s–10.06 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_per_token −0–67 % [0.000, 0.671]: model: time per generated token 7.7 ms–19.2 ms → 2.5 ms–19.2 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −63 % [0.627, 0.627]: model: peak memory 14.1 GiB → 5.3 GiB (weights 3.7 GiB + KV cache 1.0 GiB + CUDA context and workspaces 512.0 MiB + activations 72.0 MiB)
            - model_size −71 % [0.706, 0.706]: model: weights 12.6 GiB → 3.7 GiB (16 → 4.25 bits per weight, embeddings and head at 16 bits)
            evidence:
            - 6.74 B parameters > 100 M
            - weights fp16 (derived: weights stored at the compute precision, fp16)
            - as configured the run is memory-bound
            - int8 instead: latency −0–45 % (6.5 GiB)
            steps:
            - Serve an AWQ or GPTQ int4 checkpoint with fast kernels (vLLM or TGI with Marlin/ExLlama kernels).
            - For int8 weight-only instead, use torchao's int8_weight_only with torch.compile.
            - Evaluate perplexity or task accuracy against the unquantized model before switching traffic.
            code: python
            warnings:
            - Quantization changes outputs: int8 is usually within noise, int4 can cost measurable accuracy; evaluate on your data.
            - bitsandbytes LLM.int8 and NF4 save memory but run slower than fp16 matmuls; pick kernels built for speed when latency is the goal.
        "#]].assert_eq(&advise(
            "quantization",
            context(
                llama_2_7b(),
                target("nvidia-a100-80gb"),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "2048",
                        "precision": "fp16", "flash_attention": "true" }),
            ),
        ));
    }

    #[test]
    fn bert_base_in_fp32_on_an_8_core_cpu() {
        expect![[r#"
            quantization · quantization · impact high · difficulty medium
            title: Quantize the weights to int8
            description: The model holds 109 M parameters at fp32: 417.6 MiB of weights. Stored at int8 they take 171.5 MiB.
            changes: int8 weights
            expected:
            - latency −1–39 % [0.010, 0.390]: model: request 48.4 ms–91.0 ms → 29.5 ms–90.1 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.0–1.6 [0.010, 0.390]: model: request time per sequence 48.4 ms–91.0 ms → 29.5 ms–90.1 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −59 % [0.586, 0.586]: model: peak memory 419.9 MiB → 173.7 MiB (weights 171.5 MiB + activations 2.2 MiB)
            - model_size −59 % [0.589, 0.589]: model: weights 417.6 MiB → 171.5 MiB (32 → 8 bits per weight, embeddings and head at 32 bits)
            evidence:
            - 109 M parameters > 100 M
            - weights fp32 (derived: weights stored at the compute precision, fp32)
            - as configured the run is compute-bound
            - int4 instead: latency −7–10 % (133.0 MiB)
            steps:
            - Quantize the linear layers with dynamic int8 quantization (activations quantized on the fly); the embeddings stay fp32.
            - Or export to ONNX and run onnxruntime's quantize_dynamic; int8 is fast where the CPU has VNNI or AMX.
            code: python
            warnings:
            - Quantization changes outputs: int8 is usually within noise, int4 can cost measurable accuracy; evaluate on your data.
        "#]].assert_eq(&advise(
            "quantization",
            context(
                bert_base(),
                cpu(8),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "128",
                        "precision": "fp32", "device": "cpu" }),
            ),
        ));
    }

    #[test]
    fn gpt2_in_fp32_on_an_l4() {
        expect![[r#"
            quantization · quantization · impact high · difficulty medium
            title: Quantize the weights to int4
            description: The model holds 124 M parameters at fp32: 474.7 MiB of weights. Stored at int4 they take 117.1 MiB.
            changes: int4 weights
            expected:
            - latency −0–67 % [0.000, 0.669]: model: request 1.06 s–3.72 s → 351.3 ms–3.72 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.0–3.0 [0.000, 0.669]: model: request time per sequence 1.06 s–3.72 s → 351.3 ms–3.72 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_per_token −0–67 % [0.000, 0.674]: model: time per generated token 2.1 ms–7.2 ms → 671 µs–7.2 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −33 % [0.335, 0.335]: model: peak memory 1.0 GiB → 710.1 MiB (CUDA context and workspaces 512.0 MiB + weights 117.1 MiB + KV cache 72.0 MiB + activations 9.0 MiB)
            - model_size −75 % [0.753, 0.753]: model: weights 474.7 MiB → 117.1 MiB (32 → 4.25 bits per weight, embeddings and head at 16 bits)
            evidence:
            - 124 M parameters > 100 M
            - weights fp32 (derived: weights stored at the compute precision, fp32)
            - as configured the run is memory-bound
            - int8 instead: latency −0–60 % (155.5 MiB)
            steps:
            - Serve an AWQ or GPTQ int4 checkpoint with fast kernels (vLLM or TGI with Marlin/ExLlama kernels).
            - For int8 weight-only instead, use torchao's int8_weight_only with torch.compile.
            - Evaluate perplexity or task accuracy against the unquantized model before switching traffic.
            code: python
            warnings:
            - Quantization changes outputs: int8 is usually within noise, int4 can cost measurable accuracy; evaluate on your data.
            - bitsandbytes LLM.int8 and NF4 save memory but run slower than fp16 matmuls; pick kernels built for speed when latency is the goal.
        "#]].assert_eq(&advise(
            "quantization",
            context(
                gpt2(),
                target("nvidia-l4"),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "1024" }),
            ),
        ));
    }

    #[test]
    fn gpt2_in_fp32_on_an_8_core_cpu() {
        expect![[r#"
            quantization · quantization · impact high · difficulty medium
            title: Quantize the weights to int8
            description: The model holds 124 M parameters at fp32: 474.7 MiB of weights. Stored at int8 they take 229.1 MiB.
            changes: int8 weights
            expected:
            - latency −25–41 % [0.249, 0.406]: model: request 2.49 s–5.48 s → 1.48 s–4.12 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.3–1.7 [0.249, 0.406]: model: request time per sequence 2.49 s–5.48 s → 1.48 s–4.12 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_to_first_token −0–39 % [0.000, 0.386]: model: time to first token 127.1 ms–229.3 ms → 78.0 ms–232.9 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_per_token −26–41 % [0.260, 0.407]: model: time per generated token 9.2 ms–20.5 ms → 5.5 ms–15.2 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −48 % [0.477, 0.477]: model: peak memory 515.2 MiB → 269.6 MiB (weights 229.1 MiB + KV cache 36.0 MiB + activations 4.5 MiB)
            - model_size −52 % [0.517, 0.517]: model: weights 474.7 MiB → 229.1 MiB (32 → 8 bits per weight, embeddings and head at 32 bits)
            evidence:
            - 124 M parameters > 100 M
            - weights fp32 (derived: weights stored at the compute precision, fp32)
            - as configured the run is memory-bound
            - int4 instead: latency −29–43 % (190.7 MiB)
            steps:
            - Quantize the linear layers with dynamic int8 quantization (activations quantized on the fly); the embeddings stay fp32.
            - Hugging Face GPT-2 uses `Conv1D`, not `nn.Linear`: convert those layers first, or `quantize_dynamic({nn.Linear})` barely touches them.
            - Or export to ONNX and run onnxruntime's quantize_dynamic; int8 is fast where the CPU has VNNI or AMX.
            code: python
            warnings:
            - The model predicts time to first token +2 % in the worst case.
            - Quantization changes outputs: int8 is usually within noise, int4 can cost measurable accuracy; evaluate on your data.
        "#]].assert_eq(&advise(
            "quantization",
            context(
                gpt2(),
                cpu(8),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "512",
                        "precision": "fp32", "device": "cpu" }),
            ),
        ));
    }

    #[test]
    fn minilm_is_too_small_to_bother() {
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "quantization",
            context(
                minilm(),
                cpu(8),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "256",
                        "device": "cpu" }),
            ),
        ));
    }
}
