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
//! compute-bound prefill and large batches gain little (there W8A8, the `smoothquant` and
//! `fp8` rules, computes in 8 bits).
//!
//! Which format: int4 (AWQ/GPTQ with Marlin or ExLlama kernels) for memory-bound decoding on a
//! GPU; int8 weight-only (torchao with torch.compile) when quality matters most and for
//! encoders. bitsandbytes LLM.int8 saves memory but runs slower than fp16. On a CPU the
//! `dynamic_quantization` rule gives the advice (int8 Linear layers, embeddings in fp32).
//!
//! ## When it stays silent
//! 100 M parameters or fewer, already quantized, training (post-training quantization does
//! not apply), a CPU run (`dynamic_quantization`'s), a compute-bound run where W8A8 int8 buys
//! more time (`smoothquant`'s), or no modelled gain. Without the model or the device it says what it needs.
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
        // On a CPU the advice is dynamic quantization's: int8 Linear layers, fp32 embeddings.
        if !facts.on_gpu()? {
            return Ok(Vec::new());
        }
        // A compute-bound run on int8 tensor cores: W8A8 (`smoothquant`) buys more time than
        // weight-only formats, and names int4's figures itself.
        if matches!(
            crate::rules::smoothquant::beats_weight_only(input),
            Ok(Some(_))
        ) {
            return Ok(Vec::new());
        }
        let decoder = model.generates();
        // int4 for memory-bound decoding on a GPU; int8 weight-only for encoders.
        let target = if decoder {
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
        suggestion = match target {
            WeightFormat::Int4 => suggestion
                .step("Serve an AWQ or GPTQ int4 checkpoint with fast kernels (vLLM or TGI with Marlin/ExLlama kernels).")
                .step("For int8 weight-only instead, use torchao's int8_weight_only with torch.compile.")
                .step("Evaluate perplexity or task accuracy against the unquantized model before switching traffic.")
                .code("python", "from vllm import LLM\n\nllm = LLM(model=\"TheBloke/Llama-2-7B-AWQ\", quantization=\"awq_marlin\")"),
            _ => suggestion
                .step("Use torchao's int8 weight-only quantization with torch.compile for speed.")
                .step("Evaluate accuracy on held-out data before switching traffic.")
                .code("python", "import torch\nfrom torchao.quantization import quantize_, int8_weight_only\n\nquantize_(model, int8_weight_only())\nmodel = torch.compile(model, mode=\"max-autotune\")"),
        };
        suggestion = suggestion.warning("Quantization changes outputs: int8 is usually within noise, int4 can cost measurable accuracy; evaluate on your data.");
        suggestion = suggestion.warning("bitsandbytes LLM.int8 and NF4 save memory but run slower than fp16 matmuls; pick kernels built for speed when latency is the goal.");
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
    fn a_cpu_run_is_dynamic_quantizations() {
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
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
