//! `smoothquant`: compute-bound LLM serving in 16-bit on a GPU with int8 tensor cores.
//!
//! ## What it checks
//! Inference of a decoder on a GPU whose table entry has an int8 tensor-core peak and no fp8
//! units (Turing, Ampere: T4, A10, A100, RTX 3090), computing in fp16 or bf16 with 16-bit or
//! int8 weight-only weights, where the run as configured is compute-bound (the prefill of
//! long prompts, decoding at large batches) and the performance model finds W8A8 int8 faster than weight-only int4.
//!
//! ## Why it matters
//! Weight-only quantization (the `quantization` rule: int4 AWQ/GPTQ, int8 weight-only)
//! shrinks the bytes each decode step reads but dequantizes to 16-bit for the matmul, so a
//! compute-bound prefill or a large batch runs at the 16-bit peak and gains little. W8A8 runs
//! the Linear layers' matmuls with int8 inputs *and* weights on the int8 tensor cores, twice
//! the 16-bit rate on these GPUs (624 against 312 TOPS on an A100), and halves the weight
//! bytes as well. Activations have outlier channels that per-tensor int8 cannot hold
//! (Dettmers et al. 2022, "LLM.int8()", arXiv:2208.07339); SmoothQuant (Xiao et al. 2023,
//! ICML, arXiv:2211.10438) moves that difficulty into the weights offline, scaling channel `j`
//! by `s_j = max|X_j|^α / max|W_j|^(1−α)` (α = 0.5 for most models), and keeps FP16 accuracy
//! on OPT-175B, BLOOM-176B and GLM-130B with up to 1.56× speedup and half the memory (its
//! abstract and table 4).
//!
//! The gain is the performance model before and after: int8 weights (the embedding and the
//! head stay 16-bit) and matmul FLOPs at the table's int8 peak, at the same efficiency as
//! 16-bit tensor-core kernels; the KV cache keeps its precision. The model counts the head's
//! and attention's matmuls at the int8 rate too (SmoothQuant's own kernels quantize the
//! attention BMMs, vLLM's W8A8 keeps them and the head in 16-bit), so with a large vocabulary
//! or a long context the upper end is optimistic.
//!
//! Where this rule fires, `quantization` (weight-only int4) defers to it, and the evidence
//! gives int4's latency and size for a run that needs the memory more than the time.
//!
//! ## When it stays silent
//! Encoders (`encoder_serving`), training, a CPU run (`dynamic_quantization`), a GPU without
//! an int8 peak in the table (V100) or with fp8 units (Ada, Hopper, MI300: the `fp8` rule's
//! W8A8 fp8 runs at the same rate with better accuracy), fp32 (`mixed_precision` comes first),
//! int4 or fp8 weights, W8A8 already (`quantization=w8a8`), a memory-bound run, where weight-only int4 gains as much (small-batch
//! decoding: the `quantization` rule), or under 10 % modelled gain. Without the mode, model
//! or device it says what it needs.
//!
//! ## Example
//! Llama-2-7B on an A100 summarizing 2,048-token prompts at batch 16.

use advisor_core::{
    Category, Change, Difficulty, ImprovementMetric, Mode, OptimizationRule,
    OptimizationSuggestion, Precision, RuleError, RuleInput, WeightFormat,
};

use crate::facts;

/// Gains under this share of the latency are not worth a calibrated re-quantization.
const MIN_GAIN: f64 = 0.10;

/// See the module documentation.
pub(crate) struct Smoothquant;

impl OptimizationRule for Smoothquant {
    fn id(&self) -> &str {
        "smoothquant"
    }

    fn category(&self) -> Category {
        Category::Quantization
    }

    fn description(&self) -> &str {
        "Compute-bound LLM serving in 16-bit on int8 tensor cores without fp8: W8A8 int8 with SmoothQuant"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let Some(found) = beats_weight_only(input)? else {
            return Ok(Vec::new());
        };
        let W8a8 {
            simulation,
            weight_only_gain,
            weight_only_bytes,
        } = found;
        let facts = input.facts;
        let Some((_, spec)) = facts.run_gpu_spec()? else {
            return Ok(Vec::new());
        };
        let compute = facts.run.compute.value;
        let peak_int8 = spec.peak.int8.unwrap_or(0.0);
        let changes = [CHANGE];
        let before = &simulation.predicted_before;
        let prefill_bound = before.first_token_bound();
        let decode_bound = before.bound();
        let peak16 = spec.peak.for_precision(compute).unwrap_or(0.0);
        let suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Quantization,
            advisor_core::Impact::Medium,
            Difficulty::Medium,
            "Quantize weights and activations to int8 (W8A8 with SmoothQuant)",
        )
        .description(format!(
            "{} compute-bound: its matmuls run at the {}'s {compute} peak ({:.0} TFLOP/s). Weight-only \
             quantization dequantizes to {compute} for every matmul, so it buys little here; W8A8 runs the Linear \
             layers on the int8 tensor cores ({:.0} TOPS, {:.1}×) and halves the weights too. SmoothQuant first \
             migrates the activations' outlier channels into the weights so that both quantize to int8 with \
             16-bit accuracy.",
            if prefill_bound == advisor_model::Bound::Compute {
                "The prefill is"
            } else {
                "Decoding at this batch is"
            },
            spec.name,
            peak16 / 1e12,
            peak_int8 / 1e12,
            peak_int8 / peak16.max(1.0),
        ))
        .evidence(format!(
            "{}: {:.0} TOPS int8 against {:.0} TFLOP/s {compute}, no fp8 units ({})",
            spec.name,
            peak_int8 / 1e12,
            peak16 / 1e12,
            spec.source
        ))
        .evidence(format!(
            "as configured the prefill is {}, decoding {}",
            prefill_bound.as_str(),
            decode_bound.as_str()
        ))
        .evidence(format!("batch size {} ({})", facts.run.batch_size.value, facts.run.batch_size.source));
        let mut suggestion = match facts::tokens_evidence(facts) {
            Some(tokens) => suggestion.evidence(tokens),
            None => suggestion,
        };
        suggestion = suggestion
            .evidence(facts::sourced("weights", &facts.run.weights))
            .evidence(format!(
                "weight-only int4 instead: latency −{:.0} % at most (16-bit matmuls), weights {}: where memory matters more than time it is the smaller model",
                weight_only_gain.max(0.0) * 100.0,
                advisor_model::bytes_text(weight_only_bytes)
            ));
        let suggestion = suggestion
            .step("Make a W8A8 checkpoint with llm-compressor: SmoothQuantModifier (smoothing_strength 0.5–0.8) then GPTQModifier(scheme=\"W8A8\") on the Linear layers, with lm_head ignored, calibrated on 512 samples of your own traffic.")
            .step("Serve it with vLLM (int8 W8A8 runs on compute capability 7.5 and newer through CUTLASS int8 kernels); or build a TensorRT-LLM engine with ModelOpt's --qformat int8_sq.")
            .step("Compare perplexity and task accuracy with the 16-bit model; if a layer loses accuracy, raise the smoothing strength or leave that layer in 16-bit.")
            .code(
                "python",
                "from llmcompressor.modifiers.quantization import GPTQModifier\nfrom llmcompressor.modifiers.smoothquant import SmoothQuantModifier\nfrom llmcompressor import oneshot\n\nrecipe = [\n    SmoothQuantModifier(smoothing_strength=0.8),\n    GPTQModifier(targets=\"Linear\", scheme=\"W8A8\", ignore=[\"lm_head\"]),\n]\noneshot(model=model_id, dataset=\"open_platypus\", recipe=recipe,\n        max_seq_length=2048, num_calibration_samples=512, output_dir=\"model-W8A8\")\n\nfrom vllm import LLM\nllm = LLM(model=\"model-W8A8\")",
            )
            .warning("W8A8 changes outputs more than int8 weight-only: SmoothQuant keeps accuracy on the models its paper tests, but evaluate on your own data before switching traffic.")
            .warning("Small-batch decoding is memory-bound and gains about what int8 weights alone give; int4 weight-only is faster there.");
        Ok(vec![facts::with_simulation(
            suggestion,
            &changes,
            &simulation,
        )])
    }
}

/// The change: int8 weights and activations.
const CHANGE: Change = Change::Weights(WeightFormat::W8A8);

/// What the rule found: the model before and after W8A8, and the most weight-only int4 buys.
pub(crate) struct W8a8 {
    /// Before and after W8A8.
    pub(crate) simulation: advisor_model::Simulation,
    /// The largest latency reduction of weight-only int4.
    pub(crate) weight_only_gain: f64,
    /// The weights' bytes at int4.
    pub(crate) weight_only_bytes: f64,
}

/// The rule's gate, which `quantization` also asks so that it defers where W8A8 wins:
/// generation on a GPU with int8 tensor cores and no fp8 units, 16-bit compute with 16-bit or
/// int8 weight-only weights, a compute-bound prefill or decode, at least [`MIN_GAIN`] of the
/// latency, and more than weight-only int4 buys.
pub(crate) fn beats_weight_only(input: &RuleInput<'_>) -> Result<Option<W8a8>, RuleError> {
    let facts = input.facts;
    if facts.mode()? != Mode::Inference {
        return Ok(None);
    }
    let model = facts.model()?;
    if !model.generates() {
        return Ok(None);
    }
    let Some((_, spec)) = facts.run_gpu_spec()? else {
        return Ok(None);
    };
    if spec.peak.int8.is_none() || spec.peak.fp8.is_some() {
        return Ok(None);
    }
    if !matches!(facts.run.compute.value, Precision::Fp16 | Precision::Bf16)
        || !matches!(
            facts.run.weights.value,
            WeightFormat::Float(Precision::Fp16 | Precision::Bf16) | WeightFormat::Int8
        )
    {
        return Ok(None);
    }
    let simulation = facts::simulate(input, &[CHANGE])?;
    let before = &simulation.predicted_before;
    if before.first_token_bound() != advisor_model::Bound::Compute
        && before.bound() != advisor_model::Bound::Compute
    {
        return Ok(None);
    }
    let latency = |simulation: &advisor_model::Simulation| {
        simulation
            .improvement(ImprovementMetric::Latency)
            .map_or(0.0, |i| i.max_reduction)
    };
    let gain = latency(&simulation);
    // Weight-only int4 is what the `quantization` rule proposes for decoders on a GPU:
    // where it gains as much, it is the simpler change and keeps 16-bit activations.
    let weight_only = facts::simulate(input, &[Change::Weights(WeightFormat::Int4)])?;
    let weight_only_gain = latency(&weight_only);
    if gain < MIN_GAIN || weight_only_gain >= gain {
        return Ok(None);
    }
    Ok(Some(W8a8 {
        simulation,
        weight_only_gain,
        weight_only_bytes: weight_only.predicted_after.weight_bytes,
    }))
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::rules::test_support::{advise, context, llama_2_7b, target};

    #[test]
    fn llama_2_7b_summarizing_at_batch_16_on_an_a100() {
        expect![[r#"
            smoothquant · quantization · impact high · difficulty medium
            title: Quantize weights and activations to int8 (W8A8 with SmoothQuant)
            description: The prefill is compute-bound: its matmuls run at the NVIDIA A100 80GB SXM's fp16 peak (312 TFLOP/s). Weight-only quantization dequantizes to fp16 for every matmul, so it buys little here; W8A8 runs the Linear layers on the int8 tensor cores (624 TOPS, 2.0×) and halves the weights too. SmoothQuant first migrates the activations' outlier channels into the weights so that both quantize to int8 with 16-bit accuracy.
            changes: int8 weights and activations (W8A8)
            expected:
            - latency −35–39 % [0.346, 0.393]: model: request 3.09 s–6.22 s → 1.96 s–3.82 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.5–1.6 [0.346, 0.393]: model: request time per sequence 192.9 ms–389.0 ms → 122.3 ms–238.8 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_to_first_token −44–45 % [0.439, 0.455]: model: time to first token 2.01 s–4.60 s → 1.11 s–2.54 s (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_per_token −21 % [0.209, 0.210]: model: time per generated token 16.8 ms–25.3 ms → 13.3 ms–20.0 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −19 % [0.194, 0.194]: model: peak memory 31.1 GiB → 25.0 GiB (KV cache 16.5 GiB + weights 6.5 GiB + activations 1.5 GiB + CUDA context and workspaces 512.0 MiB)
            - model_size −48 % [0.481, 0.481]: model: weights 12.6 GiB → 6.5 GiB (16 → 8 bits per weight, embeddings and head at 16 bits)
            evidence:
            - NVIDIA A100 80GB SXM: 624 TOPS int8 against 312 TFLOP/s fp16, no fp8 units (NVIDIA A100 Tensor Core GPU datasheet (2021), https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf)
            - as configured the prefill is compute-bound, decoding memory-bound
            - batch size 16 (config batch_size)
            - prompt 2048 tokens (config prompt_len) + generated 64 (config new_tokens)
            - weights fp16 (derived: weights stored at the compute precision, fp16)
            - weight-only int4 instead: latency −13 % at most (16-bit matmuls), weights 3.7 GiB: where memory matters more than time it is the smaller model
            steps:
            - Make a W8A8 checkpoint with llm-compressor: SmoothQuantModifier (smoothing_strength 0.5–0.8) then GPTQModifier(scheme="W8A8") on the Linear layers, with lm_head ignored, calibrated on 512 samples of your own traffic.
            - Serve it with vLLM (int8 W8A8 runs on compute capability 7.5 and newer through CUTLASS int8 kernels); or build a TensorRT-LLM engine with ModelOpt's --qformat int8_sq.
            - Compare perplexity and task accuracy with the 16-bit model; if a layer loses accuracy, raise the smoothing strength or leave that layer in 16-bit.
            code: python
            warnings:
            - W8A8 changes outputs more than int8 weight-only: SmoothQuant keeps accuracy on the models its paper tests, but evaluate on your own data before switching traffic.
            - Small-batch decoding is memory-bound and gains about what int8 weights alone give; int4 weight-only is faster there.
        "#]].assert_eq(&advise(
            "smoothquant",
            context(
                llama_2_7b(),
                target("nvidia-a100-80gb"),
                json!({ "mode": "inference", "batch_size": "16", "prompt_len": "2048",
                        "new_tokens": "64", "precision": "fp16", "flash_attention": "true" }),
            ),
        ));
    }

    #[test]
    fn weight_only_quantization_defers_where_w8a8_wins() {
        let compute_bound = json!({ "mode": "inference", "batch_size": "16", "prompt_len": "2048",
                                    "new_tokens": "64", "precision": "fp16" });
        let text = advise(
            "quantization",
            context(llama_2_7b(), target("nvidia-a100-80gb"), compute_bound),
        );
        assert_eq!(text, "silent\n");
        let memory_bound = json!({ "mode": "inference", "batch_size": "1", "prompt_len": "512",
                                   "new_tokens": "256", "precision": "fp16" });
        let text = advise(
            "quantization",
            context(llama_2_7b(), target("nvidia-a100-80gb"), memory_bound),
        );
        assert!(
            text.contains("title: Quantize the weights to int4"),
            "{text}"
        );
    }

    #[test]
    fn small_batch_decoding_defers_to_weight_only() {
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "smoothquant",
            context(
                llama_2_7b(),
                target("nvidia-a100-80gb"),
                json!({ "mode": "inference", "batch_size": "1", "prompt_len": "512",
                        "new_tokens": "256", "precision": "fp16" }),
            ),
        ));
    }

    #[test]
    fn silent_with_fp8_units_without_int8_or_already_quantized() {
        let config = json!({ "mode": "inference", "batch_size": "16", "prompt_len": "2048",
                             "new_tokens": "64", "precision": "fp16" });
        for (hardware, config) in [
            // Hopper: the fp8 rule's W8A8 fp8 runs at the int8 rate.
            (target("nvidia-h100-sxm"), config.clone()),
            // Volta: no int8 tensor cores.
            (target("nvidia-v100-sxm2-32gb"), config.clone()),
            // Already int4.
            (
                target("nvidia-a100-80gb"),
                json!({ "mode": "inference", "batch_size": "16", "prompt_len": "2048",
                        "new_tokens": "64", "quantization": "int4" }),
            ),
            // Already W8A8.
            (
                target("nvidia-a100-80gb"),
                json!({ "mode": "inference", "batch_size": "16", "prompt_len": "2048",
                        "new_tokens": "64", "precision": "fp16", "quantization": "w8a8" }),
            ),
            // Training.
            (
                target("nvidia-a100-80gb"),
                json!({ "mode": "training", "batch_size": "8", "seq_len": "2048", "precision": "bf16" }),
            ),
        ] {
            let text = advise("smoothquant", context(llama_2_7b(), hardware, config));
            assert!(!text.contains("title:"), "{text}");
        }
    }

    #[test]
    fn says_what_it_needs_without_a_device() {
        expect![[r#"
            silent
            diagnostic Info smoothquant: could not decide: needs current_config.device or hardware_info (--set device=cpu|cuda or --hardware TARGET)
        "#]].assert_eq(&advise(
            "smoothquant",
            json!({ "model_graph": llama_2_7b(),
                    "current_config": { "mode": "inference", "batch_size": "16", "precision": "fp16" } }),
        ));
    }
}
