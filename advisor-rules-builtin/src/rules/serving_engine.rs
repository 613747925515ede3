//! `serving_engine`: generation served by plain Hugging Face `generate()`.
//!
//! ## What it checks
//! Generation on a GPU (a decoder in inference with tokens to generate and its KV cache on)
//! whose `engine` is Hugging Face Transformers (`engine=hf`, or not set: a run that names no
//! engine is taken as `generate()` on PyTorch, and the evidence says so), where the performance
//! model finds that a serving engine's paged KV cache with continuous batching buys at least
//! 10 % of the throughput or of the memory.
//!
//! ## Why it matters
//! `generate()` runs a static batch: every sequence of the batch grows its cache to the full
//! length together (the static cache allocates it up front), finished sequences keep their
//! place until the longest is done, and new requests wait for the next batch. vLLM, TGI,
//! TensorRT-LLM and SGLang keep the cache in blocks of 16 tokens allocated as a sequence grows
//! and freed when it finishes, and admit a new request into the running batch at every step
//! (Kwon et al. 2023, "Efficient Memory Management for Large Language Model Serving with
//! PagedAttention"; Yu et al. 2022, "Orca"). At steady state the sequences are spread over
//! their generation, so each holds its prompt and half its generated tokens on average: the
//! same memory holds more sequences, and a decode step reads the weights once for all of them.
//! The model runs the request with the paged cache at the configured batch (the memory it
//! saves) and at the batch where doubling stops paying (under 10 % more throughput) among
//! those that fit, up to vLLM's default of 256 sequences. Prefix caching (shared system
//! prompts) and chunked prefill (prefill interleaved with decode, so a long prompt does not
//! stall the batch) come with the engine; the model has no facts about shared prefixes and
//! does not count them.
//!
//! ## When it stays silent
//! An engine already set (`vllm`, `tgi`, `tensorrt-llm`, `sglang`, `lmdeploy`, `llama.cpp`,
//! ...), training, an encoder, no tokens to generate, the KV cache off (`kv_cache` comes
//! first), a CPU run, or a gain under 10 %.
//!
//! ## Example
//! Llama-2-7B answering 512 tokens to 512-token prompts at batch 8 in fp16 on an A100.

use advisor_core::{
    AttentionKernel, Category, Change, Difficulty, Engine, ImprovementMetric, Mode,
    OptimizationRule, OptimizationSuggestion, RuleError, RuleInput,
};

use crate::facts;

/// vLLM's default `max_num_seqs`: the most sequences the rule lets share a step.
const MAX_SEQUENCES: u64 = 256;
/// Doubling the batch must buy at least this much more throughput to be worth it.
const DOUBLING_GAIN: f64 = 1.10;

/// See the module documentation.
pub(crate) struct ServingEngine;

impl OptimizationRule for ServingEngine {
    fn id(&self) -> &str {
        "serving_engine"
    }

    fn category(&self) -> Category {
        Category::Compute
    }

    fn description(&self) -> &str {
        "Generation on Hugging Face generate(): a serving engine with continuous batching and a paged KV cache"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        if facts.mode()? != Mode::Inference || facts.run.engine.value != Engine::Hf {
            return Ok(Vec::new());
        }
        let model = facts.model()?;
        if !model.generates() || !facts.run.kv_cache.value || facts.run_gpu()?.is_none() {
            return Ok(Vec::new());
        }
        let settings = facts.settings()?;
        if settings.generated_tokens < 2 {
            return Ok(Vec::new());
        }
        let configured = settings.batch_size;
        // The engines' attention kernels (PagedAttention, FlashInfer, FlashAttention) never
        // write the score matrix: the batch that fits is the one with their kernel, while the
        // gain of fusing attention itself stays `flash_attention`'s.
        let workload = advisor_model::Workload::from_facts(facts)?;
        let mut prerequisites = Vec::new();
        if workload.settings.attention == AttentionKernel::Eager {
            prerequisites.push(Change::Attention(AttentionKernel::Fused));
        }
        let base = advisor_model::simulate_workload(workload, &prerequisites).after;
        let paged = advisor_model::simulate_workload(base.clone(), &[Change::PagedKvCache(true)]);
        // The batch where doubling stops paying, among those that fit with the paged cache.
        let chosen =
            advisor_model::doubling_batch(&paged.after, configured, MAX_SEQUENCES, DOUBLING_GAIN);
        let mut changes = vec![Change::PagedKvCache(true)];
        if chosen > configured {
            changes.push(Change::BatchSize(chosen));
        }
        let simulation = advisor_model::simulate_workload(base, &changes);
        let gain = |simulation: &advisor_model::Simulation, metric| {
            simulation
                .improvement(metric)
                .map_or(0.0, |i: advisor_core::ExpectedImprovement| i.max_reduction)
        };
        if gain(&simulation, ImprovementMetric::Throughput) < 0.10
            && gain(&paged, ImprovementMetric::Memory) < 0.10
        {
            return Ok(Vec::new());
        }
        let static_kv = paged.predicted_before.memory.kv_cache;
        let paged_kv = paged.predicted_after.memory.kv_cache;
        let after = &simulation.predicted_after;
        let total_tokens = settings.prompt_tokens + settings.generated_tokens;
        let name = model.name.as_deref().unwrap_or("MODEL");
        let title = if chosen > configured {
            format!(
                "Serve with continuous batching and a paged KV cache (vLLM, TGI, TensorRT-LLM, SGLang): batch {configured} → {chosen}"
            )
        } else {
            "Serve with continuous batching and a paged KV cache (vLLM, TGI, TensorRT-LLM, SGLang)"
                .to_owned()
        };
        let suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Compute,
            advisor_core::Impact::Medium,
            Difficulty::Medium,
            title,
        )
        .description(format!(
            "generate() grows every sequence of a batch to its full {total_tokens} tokens together and keeps finished ones \
             until the longest is done. A serving engine keeps the KV cache in 16-token blocks allocated as sequences grow \
             and admits new requests at every step: at batch {configured} the cache holds {} instead of {}, and by the model \
             batch {chosen} fits ({} of {}).",
            advisor_model::bytes_text(paged_kv),
            advisor_model::bytes_text(static_kv),
            advisor_model::bytes_text(after.memory.total()),
            advisor_model::bytes_text(after.capacity_bytes.unwrap_or(0) as f64),
        ))
        .evidence(facts::sourced("engine", &facts.run.engine))
        .evidence(format!(
            "KV cache at batch {configured}: {} with every sequence at {total_tokens} tokens; {} paged, at {} + {}/2 tokens per sequence on average plus half a 16-token block",
            advisor_model::bytes_text(static_kv),
            advisor_model::bytes_text(paged_kv),
            settings.prompt_tokens,
            settings.generated_tokens,
        ))
        ;
        let mut suggestion = suggestion;
        for change in &prerequisites {
            suggestion = suggestion.evidence(format!(
                "modelled with {change}: the engine's attention kernel never writes the score matrix (the gain of that alone is flash_attention's)"
            ));
        }
        let suggestion = suggestion
        .evidence(format!(
            "time per generated token at batch {chosen}: up to {} (hold it against your latency budget)",
            advisor_model::seconds_text(after.range(|t| t.per_token_seconds).1)
        ))
        .step(format!(
            "Serve the model from vLLM (or TGI, TensorRT-LLM, SGLang) and send requests concurrently: up to {chosen} sequences share each decode step."
        ))
        .step("Turn on prefix caching when requests share a prefix (a system prompt, few-shot examples): their KV blocks are computed once and reused (not counted in the figures).")
        .step("Keep chunked prefill on (the default in recent vLLM): long prompts are split and interleaved with decode steps, so they do not stall the running batch.")
        .step("Size the cache with gpu_memory_utilization (0.9 by default) and max_model_len to your longest request.")
        .code(
            "python",
            format!(
                "from vllm import LLM, SamplingParams\n\nllm = LLM(model=\"{name}\", max_num_seqs={chosen}, enable_prefix_caching=True, enable_chunked_prefill=True)\noutputs = llm.generate(prompts, SamplingParams(max_tokens={}))",
                settings.generated_tokens
            ),
        )
        .code(
            "bash",
            format!(
                "vllm serve {name} --max-num-seqs {chosen} --enable-prefix-caching --enable-chunked-prefill"
            ),
        )
        .warning(format!(
            "The throughput figure needs {chosen} requests in flight; with fewer, the engine runs the batch it has."
        ))
        .warning("Time to first token is modelled as a request's own prefill and one decode step of the running batch, as the engine schedules a new prompt at once; requests that arrive together still wait for each other's prefills, and a long prompt under chunked prefill is spread over several steps.");
        let suggestion = facts::with_simulation(suggestion, &changes, &simulation);
        // Filling the freed memory with sequences is the point, and a request's own time grows
        // with the batch by design; only the time per token is held against a latency budget.
        Ok(vec![facts::keep_regressions(suggestion, |warning| {
            warning.contains("time per token")
        })])
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::rules::test_support::{advise, bert_base, context, llama_2_7b, target};

    #[test]
    fn llama_2_7b_at_batch_8_on_generate_on_an_a100() {
        expect![[r#"
            serving_engine · compute · impact high · difficulty medium
            title: Serve with continuous batching and a paged KV cache (vLLM, TGI, TensorRT-LLM, SGLang): batch 8 → 128
            description: generate() grows every sequence of a batch to its full 1024 tokens together and keeps finished ones until the longest is done. A serving engine keeps the KV cache in 16-token blocks allocated as sequences grow and admits new requests at every step: at batch 8 the cache holds 3.0 GiB instead of 4.0 GiB, and by the model batch 128 fits (64.6 GiB of 80.0 GiB).
            changes: a paged KV cache with continuous batching; batch size 128
            expected:
            - throughput ×3.2–4.5 [0.690, 0.778]: model: request time per sequence 607.1 ms–1.30 s → 175.1 ms–289.4 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_to_first_token −69–78 % [0.686, 0.781]: model: time to first token 244.6 ms–560.4 ms → 66.7 ms–124.9 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - engine hf (assumed: engine not set; taken as Hugging Face Transformers on PyTorch (generate() or a plain forward))
            - KV cache at batch 8: 4.0 GiB with every sequence at 1024 tokens; 3.0 GiB paged, at 512 + 512/2 tokens per sequence on average plus half a 16-token block
            - time per generated token at batch 128: up to 54.8 ms (hold it against your latency budget)
            steps:
            - Serve the model from vLLM (or TGI, TensorRT-LLM, SGLang) and send requests concurrently: up to 128 sequences share each decode step.
            - Turn on prefix caching when requests share a prefix (a system prompt, few-shot examples): their KV blocks are computed once and reused (not counted in the figures).
            - Keep chunked prefill on (the default in recent vLLM): long prompts are split and interleaved with decode steps, so they do not stall the running batch.
            - Size the cache with gpu_memory_utilization (0.9 by default) and max_model_len to your longest request.
            code: python, bash
            warnings:
            - The throughput figure needs 128 requests in flight; with fewer, the engine runs the batch it has.
            - Time to first token is modelled as a request's own prefill and one decode step of the running batch, as the engine schedules a new prompt at once; requests that arrive together still wait for each other's prefills, and a long prompt under chunked prefill is spread over several steps.
            - The model predicts time per token +304 % in the worst case.
        "#]].assert_eq(&advise(
            "serving_engine",
            context(
                llama_2_7b(),
                target("nvidia-a100-80gb"),
                json!({ "mode": "inference", "batch_size": "8", "prompt_len": "512",
                        "new_tokens": "512", "precision": "fp16" }),
            ),
        ));
    }

    #[test]
    fn silent_on_a_serving_engine_for_encoders_and_training() {
        for (model, config) in [
            (
                llama_2_7b(),
                json!({ "mode": "inference", "batch_size": "8", "prompt_len": "512", "new_tokens": "512", "engine": "vllm" }),
            ),
            (
                llama_2_7b(),
                json!({ "mode": "training", "batch_size": "8", "seq_len": "512" }),
            ),
            (
                bert_base(),
                json!({ "mode": "inference", "batch_size": "8", "seq_len": "128" }),
            ),
        ] {
            let text = advise(
                "serving_engine",
                context(model, target("nvidia-a100-80gb"), config),
            );
            assert!(!text.contains("title:"), "{text}");
        }
    }
}
