//! `prefill_decode`: time to first token and time per output token as separate targets in
//! a serving engine: chunked prefill, and prefill/decode disaggregation where it applies.
//!
//! ## What it checks
//! GPU generation on a continuous-batching engine (`engine` `vllm`, `tgi`, `tensorrt-llm`,
//! `sglang`, `lmdeploy`; plain `generate()` is `serving_engine`'s) whose prompts are long
//! enough that one request's prefill, run in one engine step (`prefill_chunk` unset, or at
//! least the prompt), takes longer than a decode step of the running batch by the performance
//! model. It proposes the largest prefill chunk that keeps the worst gap between two tokens of
//! a running request within twice a decode step (or within `slo_tpot_ms` when given), and
//! says what that costs the time to first token.
//!
//! ## Why it matters
//! A continuous-batching engine admits a new request by prefilling its prompt in a step of
//! its own, and every running request waits for that step: the gap between two of their
//! tokens is a decode step plus the whole prefill. Chunked prefill (Agrawal et al. 2024,
//! "Taming Throughput-Latency Tradeoff in LLM Inference with Sarathi-Serve") splits the prompt
//! into chunks of `C` tokens scheduled beside the decodes, so the worst gap is a decode step
//! plus one chunk's share of the prefill, `C/P` of it; the first token then comes `P/C` steps
//! later instead of one. The two targets pull apart: smaller chunks for time per output
//! token, larger for time to first token. The model gives the prefill (the whole prompt at
//! batch 1) and the decode step at the run's batch per scenario; a chunk is taken as its
//! share of the prefill (the last chunk of a causal prompt attends to more and costs up to
//! twice the mean). On average each decode step also carries `batch / generated tokens`
//! admissions, the same work chunked or not, which the evidence shows.
//!
//! With two or more GPUs, prefill and decode can run on separate GPUs (Zhong et al. 2024,
//! "DistServe"; Patel et al. 2024, "Splitwise"): decode steps are never stalled by a prefill,
//! at the cost of moving each prompt's KV cache between them, which the rule sizes on the
//! GPUs' link.
//!
//! ## When it stays silent
//! A CPU run, training, an encoder, plain `generate()` or another engine, prompts whose
//! prefill is shorter than a decode step, or a chunk already at least as small as the one it
//! would propose. Without the model or the device it says what it needs.
//!
//! ## Example
//! Llama-2-7B on vLLM at batch 32 with 3,584-token prompts and 512-token answers on a
//! machine of eight A100 80GB.

use advisor_core::{
    Category, Difficulty, ExpectedImprovement, Impact, ImprovementMetric, Mode, OptimizationRule,
    OptimizationSuggestion, RuleError, RuleInput,
};
use advisor_model::{Workload, bytes_text, seconds_text};

use crate::facts;

/// Chunk sizes weighed, largest first (vLLM, SGLang and TGI take any token budget).
const CHUNKS: [u64; 4] = [2048, 1024, 512, 256];

/// See the module documentation.
pub(crate) struct PrefillDecode;

impl OptimizationRule for PrefillDecode {
    fn id(&self) -> &str {
        "prefill_decode"
    }

    fn category(&self) -> Category {
        Category::Compute
    }

    fn description(&self) -> &str {
        "Serving with long prompts: chunked prefill for time per output token against time to first token, and prefill/decode disaggregation"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        if facts.mode()? != Mode::Inference {
            return Ok(Vec::new());
        }
        let Some((gpu, spec)) = facts.run_gpu_spec()? else {
            return Ok(Vec::new());
        };
        let model = facts.model()?;
        let engine = facts.run.engine.value;
        if !model.generates() || !engine.pages_kv_cache() {
            return Ok(Vec::new());
        }
        let workload = Workload::from_facts(facts)?;
        let s = workload.settings.clone();
        if s.generated_tokens < 2 || s.prompt_tokens < 2 * CHUNKS[CHUNKS.len() - 1] {
            return Ok(Vec::new());
        }
        let prompt = s.prompt_tokens as f64;
        let current = facts
            .run
            .prefill_chunk
            .as_ref()
            .map_or(s.prompt_tokens, |f| f.value)
            .min(s.prompt_tokens);
        let running = advisor_model::predict(&workload);
        let mut alone = workload.clone();
        alone.settings.batch_size = 1;
        let single = advisor_model::predict(&alone);
        // Per scenario: the decode step at the run's batch and the whole prompt's prefill.
        let scenarios: Vec<(f64, f64)> = running
            .times
            .iter()
            .zip(&single.times)
            .map(|(r, a)| (r.per_token_seconds, a.first_token_seconds))
            .collect();
        let high = |f: &dyn Fn(f64, f64) -> f64| {
            scenarios
                .iter()
                .map(|(step, prefill)| f(*step, *prefill))
                .fold(0.0, f64::max)
        };
        let stall = |chunk: u64| move |_: f64, prefill: f64| prefill * chunk as f64 / prompt;
        if scenarios
            .iter()
            .any(|(step, prefill)| prefill * current as f64 / prompt < *step)
        {
            return Ok(Vec::new());
        }
        let budget = facts.run.tpot_budget_ms.as_ref().map(|f| f.value / 1e3);
        let target = budget.unwrap_or_else(|| high(&|step, _| 2.0 * step));
        let Some(chunk) = CHUNKS
            .iter()
            .copied()
            .filter(|c| *c < current)
            .find(|c| high(&|step, prefill| step + stall(*c)(step, prefill)) <= target)
            .or_else(|| {
                CHUNKS
                    .iter()
                    .copied()
                    .rev()
                    .find(|c| *c < current)
                    .filter(|c| *c == CHUNKS[CHUNKS.len() - 1])
            })
        else {
            return Ok(Vec::new());
        };
        let worst = |c: u64| -> Vec<f64> {
            scenarios
                .iter()
                .map(|(step, prefill)| step + prefill * c as f64 / prompt)
                .collect()
        };
        let (before, after) = (worst(current), worst(chunk));
        let reductions: Vec<f64> = before
            .iter()
            .zip(&after)
            .map(|(b, a)| 1.0 - a / b)
            .collect();
        let low = reductions.iter().copied().fold(f64::INFINITY, f64::min);
        let top = reductions.iter().copied().fold(0.0, f64::max);
        let range = |values: &[f64]| {
            facts::seconds_range_text((
                values.iter().copied().fold(f64::INFINITY, f64::min),
                values.iter().copied().fold(0.0, f64::max),
            ))
        };
        let steps_to_first = |c: u64| (prompt / c as f64).ceil();
        let ttft = |c: u64| -> Vec<f64> {
            scenarios
                .iter()
                .map(|(step, prefill)| prefill + steps_to_first(c) * step)
                .collect()
        };
        let per_step_admissions = s.batch_size as f64 / s.generated_tokens as f64;
        let mean_tpot: Vec<f64> = scenarios
            .iter()
            .map(|(step, prefill)| step + per_step_admissions * prefill)
            .collect();
        let decode_steps: Vec<f64> = scenarios.iter().map(|(step, _)| *step).collect();
        let prefills: Vec<f64> = scenarios.iter().map(|(_, prefill)| *prefill).collect();
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Compute,
            Impact::Medium,
            Difficulty::Easy,
            format!(
                "Chunk prefills at {chunk} tokens: a {}-token prompt stalls every running request for its whole prefill",
                s.prompt_tokens
            ),
        )
        .description(format!(
            "Each new request's {}-token prefill runs in {} and every one of the {} running requests waits for it: \
             the gap between two of their tokens grows from a decode step ({}) to {}. Prefilled in chunks of {chunk} tokens \
             beside the decodes, the gap is at most {}; the new request's first token comes {} steps later.",
            s.prompt_tokens,
            if current >= s.prompt_tokens {
                "one engine step".to_owned()
            } else {
                format!("chunks of {current} tokens")
            },
            s.batch_size,
            range(&decode_steps),
            range(&before),
            range(&after),
            steps_to_first(chunk),
        ))
        .improvement(ExpectedImprovement::new(
            ImprovementMetric::TimePerToken,
            low.max(0.0),
            top,
            format!(
                "model: worst gap between two tokens of a running request (a decode step at batch {} plus the prefill one step admits, {chunk}/{} of a {} prefill) {} → {}; {}",
                s.batch_size,
                s.prompt_tokens,
                range(&prefills),
                range(&before),
                range(&after),
                advisor_model::scenario_text()
            ),
        ))
        .evidence(facts::sourced("engine", &facts.run.engine))
        .evidence(match &facts.run.prefill_chunk {
            Some(fact) => facts::sourced("prefill_chunk", fact),
            None => "prefill_chunk not set: taken as whole prompts in one step (vLLM V1 and SGLang chunk by default at their token budget: set prefill_chunk to say)".to_owned(),
        })
        .evidence(format!(
            "by the model: the prompt's prefill takes {} alone, a decode step at batch {} {}",
            range(&prefills),
            s.batch_size,
            range(&decode_steps)
        ))
        .evidence(format!(
            "at steady state each step admits {:.2} requests (batch {} over {} generated tokens): a mean time per output token of {} either way, chunked or not",
            per_step_admissions,
            s.batch_size,
            s.generated_tokens,
            range(&mean_tpot)
        ))
        .evidence(format!(
            "time to first token once admitted: {} with {}, {} with {chunk}-token chunks",
            range(&ttft(current)),
            if current >= s.prompt_tokens {
                "the whole prompt in one step".to_owned()
            } else {
                format!("{current}-token chunks")
            },
            range(&ttft(chunk)),
        ));
        if let Some(budget) = budget {
            let met = after.iter().all(|gap| *gap <= budget);
            suggestion = suggestion.evidence(if met {
                format!(
                    "slo_tpot_ms {}: the chunk is the largest that keeps the worst gap within it",
                    seconds_text(budget)
                )
            } else {
                format!(
                    "slo_tpot_ms {}: no chunk keeps the worst gap within it in every scenario (a decode step alone takes {}); this is the smallest weighed, and the decode step itself needs cutting (weight quantization, tensor parallelism, a smaller batch)",
                    seconds_text(budget),
                    range(&decode_steps)
                )
            });
        }
        suggestion = suggestion
            .step(format!(
                "vLLM: --enable-chunked-prefill --max-num-batched-tokens {} (the step's token budget: {} decodes plus a {chunk}-token chunk).",
                s.batch_size + chunk,
                s.batch_size
            ))
            .step(format!("SGLang: --chunked-prefill-size {chunk}. TGI: --max-batch-prefill-tokens {chunk}. TensorRT-LLM: enable chunked context with max_num_tokens {}.", s.batch_size + chunk))
            .step("Set the chunk by the target that binds: smaller for time per output token, larger for time to first token; measure both percentiles under your load.")
            .code(
                "bash",
                format!(
                    "vllm serve MODEL --enable-chunked-prefill --max-num-batched-tokens {}",
                    s.batch_size + chunk
                ),
            )
            .warning(format!(
                "The first token of a new request comes {} steps later instead of one: at a tight time-to-first-token target, prefer larger chunks or disaggregation.",
                steps_to_first(chunk)
            ));
        if gpu.count >= 2
            && let Some(elements) = model.kv_elements_per_token()
        {
            let kv_bytes = prompt * elements as f64 * s.kv_cache_dtype.bytes_per_element();
            let link = spec.link_bandwidth_bytes_per_second.unwrap_or(64e9) / 2.0;
            suggestion = suggestion.step(format!(
                "With {} GPUs, disaggregate: prefill on some, decode on the others (vLLM's KV-transfer connectors, SGLang's prefill-decode disaggregation, NVIDIA Dynamo), so no decode step waits for a prefill. Each request's KV cache, {} for {} prompt tokens, crosses {} in {} at its peak; worth it when both targets are tight at your load (DistServe, Splitwise).",
                gpu.count,
                bytes_text(kv_bytes),
                s.prompt_tokens,
                if spec.link.is_empty() { "the link" } else { spec.link.as_str() },
                seconds_text(kv_bytes / link)
            ));
        }
        Ok(vec![suggestion])
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::rules::test_support::{advise, context, llama_2_7b, target};

    fn vllm(batch: u32, prompt: u32) -> serde_json::Value {
        json!({ "mode": "inference", "engine": "vllm", "batch_size": batch.to_string(),
                "prompt_len": prompt.to_string(), "new_tokens": "512", "precision": "fp16" })
    }

    #[test]
    fn llama_2_7b_on_vllm_with_3584_token_prompts_on_eight_a100s() {
        let mut hardware = target("nvidia-a100-80gb");
        hardware["gpu_count"] = json!(8);
        expect![[r#"
            prefill_decode · compute · impact medium · difficulty easy
            title: Chunk prefills at 256 tokens: a 3584-token prompt stalls every running request for its whole prefill
            description: Each new request's 3584-token prefill runs in one engine step and every one of the 32 running requests waits for it: the gap between two of their tokens grows from a decode step (42.4 ms–63.7 ms) to 256.9 ms–554.4 ms. Prefilled in chunks of 256 tokens beside the decodes, the gap is at most 57.7 ms–98.8 ms; the new request's first token comes 14 steps later.
            expected:
            - time_per_token −74–83 % [0.739, 0.826]: model: worst gap between two tokens of a running request (a decode step at batch 32 plus the prefill one step admits, 256/3584 of a 214.4 ms–490.7 ms prefill) 256.9 ms–554.4 ms → 57.7 ms–98.8 ms; range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - engine vllm (config engine)
            - prefill_chunk not set: taken as whole prompts in one step (vLLM V1 and SGLang chunk by default at their token budget: set prefill_chunk to say)
            - by the model: the prompt's prefill takes 214.4 ms–490.7 ms alone, a decode step at batch 32 42.4 ms–63.7 ms
            - at steady state each step admits 0.06 requests (batch 32 over 512 generated tokens): a mean time per output token of 55.8 ms–94.4 ms either way, chunked or not
            - time to first token once admitted: 256.9 ms–554.4 ms with the whole prompt in one step, 808.3 ms–1.38 s with 256-token chunks
            steps:
            - vLLM: --enable-chunked-prefill --max-num-batched-tokens 288 (the step's token budget: 32 decodes plus a 256-token chunk).
            - SGLang: --chunked-prefill-size 256. TGI: --max-batch-prefill-tokens 256. TensorRT-LLM: enable chunked context with max_num_tokens 288.
            - Set the chunk by the target that binds: smaller for time per output token, larger for time to first token; measure both percentiles under your load.
            - With 8 GPUs, disaggregate: prefill on some, decode on the others (vLLM's KV-transfer connectors, SGLang's prefill-decode disaggregation, NVIDIA Dynamo), so no decode step waits for a prefill. Each request's KV cache, 1.8 GiB for 3584 prompt tokens, crosses NVLink 3 (12 links) in 6.3 ms at its peak; worth it when both targets are tight at your load (DistServe, Splitwise).
            code: bash
            warnings:
            - The first token of a new request comes 14 steps later instead of one: at a tight time-to-first-token target, prefer larger chunks or disaggregation.
        "#]]
        .assert_eq(&advise(
            "prefill_decode",
            context(llama_2_7b(), hardware, vllm(32, 3584)),
        ));
    }

    #[test]
    fn a_tpot_budget_picks_the_chunk() {
        let mut config = vllm(32, 3584);
        config["slo_tpot_ms"] = json!("250");
        expect![[r#"
            prefill_decode · compute · impact medium · difficulty easy
            title: Chunk prefills at 1024 tokens: a 3584-token prompt stalls every running request for its whole prefill
            description: Each new request's 3584-token prefill runs in one engine step and every one of the 32 running requests waits for it: the gap between two of their tokens grows from a decode step (42.4 ms–63.7 ms) to 256.9 ms–554.4 ms. Prefilled in chunks of 1024 tokens beside the decodes, the gap is at most 103.7 ms–203.9 ms; the new request's first token comes 4 steps later.
            expected:
            - time_per_token −57–64 % [0.568, 0.635]: model: worst gap between two tokens of a running request (a decode step at batch 32 plus the prefill one step admits, 1024/3584 of a 214.4 ms–490.7 ms prefill) 256.9 ms–554.4 ms → 103.7 ms–203.9 ms; range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - engine vllm (config engine)
            - prefill_chunk not set: taken as whole prompts in one step (vLLM V1 and SGLang chunk by default at their token budget: set prefill_chunk to say)
            - by the model: the prompt's prefill takes 214.4 ms–490.7 ms alone, a decode step at batch 32 42.4 ms–63.7 ms
            - at steady state each step admits 0.06 requests (batch 32 over 512 generated tokens): a mean time per output token of 55.8 ms–94.4 ms either way, chunked or not
            - time to first token once admitted: 256.9 ms–554.4 ms with the whole prompt in one step, 384.1 ms–745.5 ms with 1024-token chunks
            - slo_tpot_ms 250.0 ms: the chunk is the largest that keeps the worst gap within it
            steps:
            - vLLM: --enable-chunked-prefill --max-num-batched-tokens 1056 (the step's token budget: 32 decodes plus a 1024-token chunk).
            - SGLang: --chunked-prefill-size 1024. TGI: --max-batch-prefill-tokens 1024. TensorRT-LLM: enable chunked context with max_num_tokens 1056.
            - Set the chunk by the target that binds: smaller for time per output token, larger for time to first token; measure both percentiles under your load.
            code: bash
            warnings:
            - The first token of a new request comes 4 steps later instead of one: at a tight time-to-first-token target, prefer larger chunks or disaggregation.
        "#]]
        .assert_eq(&advise(
            "prefill_decode",
            context(llama_2_7b(), target("nvidia-a100-80gb"), config),
        ));
    }

    #[test]
    fn short_prompts_chunked_already_and_generate_are_silent() {
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "prefill_decode",
            context(llama_2_7b(), target("nvidia-a100-80gb"), vllm(32, 256)),
        ));
        let mut chunked = vllm(32, 3584);
        chunked["prefill_chunk"] = json!("256");
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "prefill_decode",
            context(llama_2_7b(), target("nvidia-a100-80gb"), chunked),
        ));
        let mut hf = vllm(32, 3584);
        hf["engine"] = json!("hf");
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "prefill_decode",
            context(llama_2_7b(), target("nvidia-a100-80gb"), hf),
        ));
    }
}
