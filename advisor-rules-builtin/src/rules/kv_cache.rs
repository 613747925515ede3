//! `kv_cache`: autoregressive generation without a key/value cache.
//!
//! ## What it checks
//! Inference with the KV cache turned off (`kv_cache` or `use_cache` = false) on a model that
//! generates autoregressively (decoder or encoder-decoder).
//!
//! ## Why it matters
//! Without a cache, generating the token at position `t` runs the whole prefix of `t` tokens
//! through the model again. Producing `s` tokens costs `s(s + 1)/2` token-forwards instead of
//! `s`, so the cache removes `1 − 2/(s + 1)` of the compute. The price is memory:
//! `2 · layers · kv_heads · head_dim` elements per token.
//!
//! ## When it stays silent
//! Encoder-only models (BERT never generates), training, or the cache not known to be off.
//! With the cache off and the mode or the architecture unknown it says what it needs.
//!
//! ## Example
//! GPT-2 served with `use_cache=False` at 1024 tokens.

use advisor_core::{
    Category, Difficulty, ExpectedImprovement, Impact, ImprovementMetric, Mode, OptimizationRule,
    OptimizationSuggestion, RuleError, RuleInput,
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
        let context = input.context;
        let config = context.run_config()?;
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
        let model = facts::model(context, "to know whether it generates autoregressively")?;
        let architecture = model.facts.architecture.ok_or_else(|| {
            RuleError::MissingFacts(
                "the model's architecture (encoder, decoder, encoder-decoder)".to_owned(),
            )
        })?;
        if !architecture.generates_autoregressively() {
            return Ok(Vec::new());
        }
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
        if let Some((seq_len, source)) = context.sequence_length(&config) {
            let s = seq_len as f64;
            let reduction = 1.0 - 2.0 / (s + 1.0);
            suggestion.impact = facts::impact_from_reduction(reduction);
            suggestion = suggestion
                .evidence(format!("sequence length {seq_len} ({source})"))
                .improvement(ExpectedImprovement::new(
                    ImprovementMetric::Latency,
                    reduction,
                    reduction,
                    format!(
                        "generating {seq_len} tokens without a cache costs {seq_len}·{}/2 = {:.0} token-forwards instead of {seq_len}",
                        seq_len + 1,
                        s * (s + 1.0) / 2.0
                    ),
                ));
            let (precision, _) = facts::weight_precision_or_default(context, &config);
            if let Some(per_token) = model.kv_cache_bytes_per_token(precision.bytes_per_element()) {
                let batch = config.batch_size.unwrap_or(1);
                let total = per_token * s * batch as f64;
                suggestion = suggestion.warning(format!(
                    "The cache holds {} per token at {precision}: {} for {batch} sequence(s) of {seq_len} tokens. \
                     Budget it in device memory (paged caches such as vLLM's allocate it on demand).",
                    facts::float_bytes_text(per_token),
                    facts::float_bytes_text(total)
                ));
            }
        }
        Ok(vec![suggestion
            .step("Pass use_cache=True to generate() (the Hugging Face default) or leave past_key_values threaded through your loop.")
            .step("For serving many requests, use a server with a paged KV cache (vLLM, TensorRT-LLM, TGI).")
            .code("python", "output = model.generate(input_ids, max_new_tokens=256, use_cache=True)")])
    }
}
