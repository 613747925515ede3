//! `kv_cache_quantization`: a KV cache whose reads rival the weights' at long contexts.
//!
//! ## What it checks
//! Generation on a GPU with the KV cache on at 16 or 32 bits, where the performance model finds
//! an fp8 cache buys at least 5 % of the time per token or 10 % of the memory: long contexts and
//! larger batches, where every decode step reads `batch × context × 2 · layers · kv_heads ·
//! head_dim` cached elements besides the weights.
//!
//! ## Why it matters
//! An fp8 cache halves those bytes (vLLM `kv_cache_dtype="fp8"`, stored in fp8 and dequantized
//! in the attention kernel, on Ampere and newer); it also halves the cache's memory, which is
//! what decides how large a batch fits. The gain is the model with the fp8 cache against the
//! cache as configured; the cost is a small loss of accuracy at long contexts.
//!
//! ## When it stays silent
//! No cache, an encoder, training, a cache already at 8 bits, a CPU run, or a gain under the
//! thresholds (short contexts, where the weights dominate each step).
//!
//! ## Example
//! Llama-2-7B at batch 16 with 3584-token prompts on an A100.

use advisor_core::{
    Category, Change, Difficulty, ImprovementMetric, Mode, OptimizationRule,
    OptimizationSuggestion, Precision, RuleError, RuleInput,
};

use crate::facts;

/// See the module documentation.
pub(crate) struct KvCacheQuantization;

impl OptimizationRule for KvCacheQuantization {
    fn id(&self) -> &str {
        "kv_cache_quantization"
    }

    fn category(&self) -> Category {
        Category::Quantization
    }

    fn description(&self) -> &str {
        "A 16-bit KV cache at long contexts: store it in fp8"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        if facts.mode()? != Mode::Inference {
            return Ok(Vec::new());
        }
        let model = facts.model()?;
        if !model.generates()
            || !facts.run.kv_cache.value
            || facts.run.kv_cache_dtype.value.bits() <= 8
            || facts.run_gpu()?.is_none()
        {
            return Ok(Vec::new());
        }
        let changes = [Change::KvCacheDtype(Precision::Fp8)];
        let simulation = facts::simulate(input, &changes)?;
        let gain = |metric| {
            simulation
                .improvement(metric)
                .map_or(0.0, |i: advisor_core::ExpectedImprovement| i.max_reduction)
        };
        if gain(ImprovementMetric::TimePerToken) < 0.05 && gain(ImprovementMetric::Memory) < 0.10 {
            return Ok(Vec::new());
        }
        let before = &simulation.predicted_before.memory;
        let settings = &simulation.before.settings;
        let suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Quantization,
            advisor_core::Impact::Medium,
            Difficulty::Easy,
            "Store the KV cache in fp8",
        )
        .description(format!(
            "At {} tokens per sequence and batch {}, the KV cache holds {} ({} of the peak) and every decode step reads it. \
             An fp8 cache halves both.",
            settings.prompt_tokens + settings.generated_tokens,
            settings.batch_size,
            advisor_model::bytes_text(before.kv_cache),
            facts::percent(before.kv_cache / before.total().max(1.0)),
        ))
        .evidence(facts::sourced("KV cache dtype", &facts.run.kv_cache_dtype))
        .evidence(format!(
            "the cache at full length: {} of {} peak memory ({})",
            advisor_model::bytes_text(before.kv_cache),
            advisor_model::bytes_text(before.total()),
            advisor_model::parts_text(before)
        ))
        .step("vLLM: LLM(model=..., kv_cache_dtype=\"fp8\") (calibrated scales from the checkpoint where it has them).")
        .step("Hugging Face generate(): a quantized cache (cache_implementation=\"quantized\") stores int8 or int4 keys and values.")
        .step("Spend the freed memory on a larger batch; re-check the batch the report recommends.")
        .code("python", "from vllm import LLM\n\nllm = LLM(model=name, kv_cache_dtype=\"fp8\")")
        .warning("Quantized keys and values cost a little accuracy, most at long contexts: evaluate on your longest inputs.");
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
    fn llama_2_7b_at_batch_16_with_long_prompts_on_an_a100() {
        expect![[r#"
            kv_cache_quantization · quantization · impact high · difficulty easy
            title: Store the KV cache in fp8
            description: At 4096 tokens per sequence and batch 16, the KV cache holds 32.0 GiB (67.1 % of the peak) and every decode step reads it. An fp8 cache halves both.
            changes: fp8 KV cache
            expected:
            - latency −24–29 % [0.244, 0.289]: model: request 16.34 s–27.40 s → 11.84 s–20.66 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.3–1.4 [0.244, 0.289]: model: request time per sequence 1.02 s–1.71 s → 740.2 ms–1.29 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_per_token −35 % [0.352, 0.353]: model: time per generated token 24.9 ms–37.4 ms → 16.1 ms–24.2 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −34 % [0.336, 0.336]: model: peak memory 47.7 GiB → 31.7 GiB (KV cache 16.0 GiB + weights 12.6 GiB + activations 2.6 GiB + CUDA context and workspaces 512.0 MiB)
            evidence:
            - KV cache dtype fp16 (derived: the KV cache is kept at the compute precision, fp16)
            - the cache at full length: 32.0 GiB of 47.7 GiB peak memory (KV cache 32.0 GiB + weights 12.6 GiB + activations 2.6 GiB + CUDA context and workspaces 512.0 MiB)
            steps:
            - vLLM: LLM(model=..., kv_cache_dtype="fp8") (calibrated scales from the checkpoint where it has them).
            - Hugging Face generate(): a quantized cache (cache_implementation="quantized") stores int8 or int4 keys and values.
            - Spend the freed memory on a larger batch; re-check the batch the report recommends.
            code: python
            warnings:
            - Quantized keys and values cost a little accuracy, most at long contexts: evaluate on your longest inputs.
        "#]].assert_eq(&advise(
            "kv_cache_quantization",
            context(
                llama_2_7b(),
                target("nvidia-a100-80gb"),
                json!({ "mode": "inference", "batch_size": "16", "prompt_len": "3584",
                        "new_tokens": "512", "precision": "fp16" }),
            ),
        ));
    }

    #[test]
    fn silent_for_short_contexts_and_an_fp8_cache() {
        for config in [
            json!({ "mode": "inference", "batch_size": "1", "prompt_len": "64", "new_tokens": "64" }),
            json!({ "mode": "inference", "batch_size": "16", "prompt_len": "3584", "new_tokens": "512", "kv_cache_dtype": "fp8" }),
        ] {
            let text = advise(
                "kv_cache_quantization",
                context(llama_2_7b(), target("nvidia-a100-80gb"), config),
            );
            assert!(!text.contains("title:"), "{text}");
        }
    }
}
