//! `kv_cache`: autoregressive generation without a key/value cache.
//!
//! ## What it checks
//! Inference with the KV cache turned off (`kv_cache` or `use_cache` = false) on a model that
//! generates autoregressively (decoder or encoder-decoder).
//!
//! ## Why it matters
//! Without a cache, generating each token runs the whole prefix through the model again in one
//! batched forward. The gain is the performance model's time of the request without the cache
//! (each step a forward over the prefix: compute-bound once the prefix is long) against with it
//! (each step reads the weights and the cache for one token: memory-bound), not a count of
//! token-forwards. The sequence is split into prompt and generated tokens (`prompt_len`,
//! `new_tokens`, else half and half, stated). The price is memory:
//! `2 · layers · kv_heads · head_dim` elements per token, which the feasibility rule checks.
//!
//! ## When it stays silent
//! Encoder-only models (BERT never generates), training, the cache not known to be off, or
//! fewer than two generated tokens. With the cache off and the mode or the architecture
//! unknown it says what it needs.
//!
//! ## Example
//! GPT-2 served with `use_cache=False` at 1024 tokens.

use advisor_core::{
    Category, Change, Difficulty, Impact, Mode, OptimizationRule, OptimizationSuggestion,
    RuleError, RuleInput,
};

use crate::facts;

/// See the module documentation.
pub(crate) struct KvCache;

impl OptimizationRule for KvCache {
    fn id(&self) -> &str {
        "kv_cache"
    }

    fn category(&self) -> Category {
        Category::Memory
    }

    fn description(&self) -> &str {
        "Autoregressive generation with the KV cache off: turn it on"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let config = input.config;
        if config.kv_cache != Some(false) {
            return Ok(Vec::new());
        }
        match config.mode {
            Some(Mode::Training) => return Ok(Vec::new()),
            Some(Mode::Inference) => {}
            None => {
                return Err(RuleError::MissingFacts(
                    "config mode (the cache matters only for inference)".to_owned(),
                ));
            }
        }
        let model = input.facts.model()?;
        let architecture = model.architecture.ok_or_else(|| {
            RuleError::MissingFacts(
                "the model's architecture (encoder, decoder, encoder-decoder)".to_owned(),
            )
        })?;
        if !architecture.generates_autoregressively() {
            return Ok(Vec::new());
        }
        let generated =
            input.facts.run.generated_tokens.as_ref().ok_or_else(|| {
                RuleError::from(advisor_core::Missing::Config("seq_len".to_owned()))
            })?;
        if generated.value < 2 {
            return Ok(Vec::new());
        }
        let changes = [Change::KvCache(true)];
        let simulation = facts::simulate(input, &changes)?;
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Memory,
            Impact::High,
            Difficulty::Easy,
            "Turn on the KV cache for generation",
        )
        .description(
            "Without a key/value cache, every generated token runs the whole prefix through the model again, \
             so generation cost grows quadratically with length. The cache stores each layer's keys and values \
             once and reuses them.",
        )
        .evidence("config kv_cache = false in inference")
        .evidence(format!("the model is a {} and generates token by token", architecture.as_str()));
        if let Some(tokens) = facts::tokens_evidence(input.facts) {
            suggestion = suggestion.evidence(tokens);
        }
        let after = &simulation.predicted_after.memory;
        suggestion = suggestion.warning(format!(
            "The cache holds {} for batch {} at {} ({} in all by the model): budget it in device memory; \
             paged caches such as vLLM's allocate it on demand.",
            advisor_model::bytes_text(after.kv_cache),
            simulation.after.settings.batch_size,
            simulation.after.settings.kv_cache_dtype,
            advisor_model::bytes_text(after.total()),
        ));
        let suggestion = facts::with_simulation(suggestion, &changes, &simulation);
        Ok(vec![suggestion
            .step("Pass use_cache=True to generate() (the Hugging Face default) or leave past_key_values threaded through your loop.")
            .step("For serving many requests, use a server with a paged KV cache (vLLM, TensorRT-LLM, TGI).")
            .code("python", "output = model.generate(input_ids, max_new_tokens=256, use_cache=True)")])
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::rules::test_support::{advise, bert_base, context, gpt2, llama_2_7b, target};

    #[test]
    fn gpt2_generating_1024_tokens_without_the_cache_on_an_l4() {
        expect![[r#"
            kv_cache · memory · impact high · difficulty easy
            title: Turn on the KV cache for generation
            description: Without a key/value cache, every generated token runs the whole prefix through the model again, so generation cost grows quadratically with length. The cache stores each layer's keys and values once and reuses them.
            changes: KV cache on
            expected:
            - latency −64–86 % [0.641, 0.859]: model: request 6.16 s–10.38 s → 1.06 s–3.72 s (compute-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×2.8–7.1 [0.641, 0.859]: model: request time per sequence 6.16 s–10.38 s → 1.06 s–3.72 s (compute-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_per_token −64–86 % [0.642, 0.860]: model: time per generated token 12.0 ms–20.2 ms → 2.1 ms–7.2 ms (compute-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - config kv_cache = false in inference
            - the model is a decoder and generates token by token
            - prompt 512 + generated 512 tokens (assumed: config seq_len = 1024 taken as the context: 512 prompt tokens and 512 generated (at most 512, a long answer; set prompt_len and new_tokens to say))
            steps:
            - Pass use_cache=True to generate() (the Hugging Face default) or leave past_key_values threaded through your loop.
            - For serving many requests, use a server with a paged KV cache (vLLM, TensorRT-LLM, TGI).
            code: python
            warnings:
            - The cache holds 72.0 MiB for batch 1 at fp32 (1.0 GiB in all by the model): budget it in device memory; paged caches such as vLLM's allocate it on demand.
            - The model predicts memory +6 %.
        "#]].assert_eq(&advise(
            "kv_cache",
            context(
                gpt2(),
                target("nvidia-l4"),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "1024",
                        "precision": "fp32", "kv_cache": "false" }),
            ),
        ));
    }

    #[test]
    fn llama_2_7b_answering_256_tokens_to_a_512_token_prompt_without_the_cache() {
        expect![[r#"
            kv_cache · memory · impact high · difficulty easy
            title: Turn on the KV cache for generation
            description: Without a key/value cache, every generated token runs the whole prefix through the model again, so generation cost grows quadratically with length. The cache stores each layer's keys and values once and reuses them.
            changes: KV cache on
            expected:
            - latency −75–88 % [0.750, 0.875]: model: request 9.84 s–22.54 s → 1.92 s–5.00 s (compute-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×4.0–8.0 [0.750, 0.875]: model: request time per sequence 9.84 s–22.54 s → 1.92 s–5.00 s (compute-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_per_token −75–88 % [0.753, 0.878]: model: time per generated token 38.3 ms–87.8 ms → 7.4 ms–19.2 ms (compute-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - config kv_cache = false in inference
            - the model is a decoder and generates token by token
            - prompt 512 tokens (config prompt_len) + generated 256 (config new_tokens)
            steps:
            - Pass use_cache=True to generate() (the Hugging Face default) or leave past_key_values threaded through your loop.
            - For serving many requests, use a server with a paged KV cache (vLLM, TensorRT-LLM, TGI).
            code: python
            warnings:
            - The cache holds 384.0 MiB for batch 1 at fp16 (13.4 GiB in all by the model): budget it in device memory; paged caches such as vLLM's allocate it on demand.
            - The model predicts memory +3 %.
        "#]].assert_eq(&advise(
            "kv_cache",
            context(
                llama_2_7b(),
                target("nvidia-a100-80gb"),
                json!({ "mode": "inference", "batch_size": "1", "prompt_len": "512",
                        "new_tokens": "256", "use_cache": "false" }),
            ),
        ));
    }

    #[test]
    fn an_encoder_never_generates() {
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "kv_cache",
            context(
                bert_base(),
                target("nvidia-l4"),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "128",
                        "kv_cache": "false" }),
            ),
        ));
    }
}
