//! `speculative_decoding`: decoding that reads every weight for one token per sequence, where
//! a small draft model can propose tokens that the target verifies in one forward.
//!
//! ## What it checks
//! Generation with a KV cache on a GPU, of a model of at least 1 B parameters (the smallest
//! public drafts have about 68 M, `JackFram/llama-68m` in SpecInfer, Miao et al. 2023), where
//! the performance model finds speculative decoding buys at least 10 % of the time per token
//! at a low acceptance rate.
//!
//! ## Why it matters
//! A memory-bound decode step reads all the weights to produce one token per sequence. A draft
//! of 5 % of the target's parameters, from the same family and tokenizer, proposes `γ` tokens;
//! the target checks all `γ + 1` in one forward, and keeps the accepted prefix plus one token
//! of its own: `(1 − α^(γ+1)) / (1 − α)` tokens per step at a per-token acceptance rate `α`
//! (Leviathan et al. 2023, eq. 1; the output distribution is the target's, unchanged). The
//! model simulates the draft's `γ` steps and the verification as a forward of `batch × (γ + 1)`
//! tokens: where decoding is memory-bound that costs about one step, but as the batch grows
//! the verification turns compute-bound and costs up to `γ + 1` steps, and in a mixture of
//! experts the extra tokens route to more experts, whose weights it must read too. So the gain
//! shrinks with the batch and vanishes where decoding is compute-bound. The range spans
//! `α` from 0.6 to 0.8, what Leviathan et al. (2023, table 3) and Chen et al. (2023) measure
//! for same-family drafts on chat, summarization and code; `γ` is the one of 2–8 the model
//! finds fastest at `α = 0.7`.
//!
//! ## When it stays silent
//! Encoders, training, a CPU run, no KV cache, fewer than 16 generated tokens, models under
//! 1 B parameters, and runs where the modelled gain at `α = 0.6` is under 10 % (large
//! batches, where verification is compute-bound). Without the mode or the model it says what
//! it needs.
//!
//! ## Example
//! Llama-2-7B answering 256 tokens at batch 1 on an A100.

use advisor_core::{
    Category, Change, Difficulty, ImprovementMetric, Mode, OptimizationRule,
    OptimizationSuggestion, RuleError, RuleInput, Speculation,
};

use crate::facts;

/// See the module documentation.
pub(crate) struct SpeculativeDecoding;

/// The draft's share of the target's parameters: 5 %, the size of the drafts Leviathan et al.
/// (2023) and Chen et al. (2023) pair with their targets (T5-small for T5-XXL is 0.7 %, a 4 B
/// draft for the 70 B Chinchilla 6 %).
const DRAFT_SHARE: f64 = 0.05;
/// Acceptance rates the range spans, and the one the draft length is chosen at.
const ACCEPTANCE: (f64, f64, f64) = (0.6, 0.7, 0.8);
/// Draft lengths tried.
const DRAFT_LENGTHS: [u64; 6] = [2, 3, 4, 5, 6, 8];
/// The smallest target for which a draft of [`DRAFT_SHARE`] exists.
const MIN_PARAMETERS: u64 = 1_000_000_000;

fn speculation(draft_tokens: u64, acceptance: f64) -> Speculation {
    Speculation {
        draft_tokens,
        draft_share: DRAFT_SHARE,
        acceptance,
    }
}

impl OptimizationRule for SpeculativeDecoding {
    fn id(&self) -> &str {
        "speculative_decoding"
    }

    fn category(&self) -> Category {
        Category::Architecture
    }

    fn description(&self) -> &str {
        "Memory-bound decoding of a large model: draft tokens with a small model and verify them in one forward"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        if facts.mode()? != Mode::Inference {
            return Ok(Vec::new());
        }
        let model = facts.model()?;
        if !model.generates() || !facts.run.kv_cache.value || facts.run_gpu()?.is_none() {
            return Ok(Vec::new());
        }
        if model.parameters.is_none_or(|p| p < MIN_PARAMETERS) {
            return Ok(Vec::new());
        }
        let settings = facts.settings()?;
        if settings.generated_tokens < 16 {
            return Ok(Vec::new());
        }
        let per_token_high = |simulation: &advisor_model::Simulation| {
            simulation.predicted_after.range(|t| t.per_token_seconds).1
        };
        // The draft length the model finds fastest at the middle acceptance rate.
        let mut best: Option<(u64, f64)> = None;
        for draft_tokens in DRAFT_LENGTHS {
            let simulation = facts::simulate(
                input,
                &[Change::Speculate(speculation(draft_tokens, ACCEPTANCE.1))],
            )?;
            let time = per_token_high(&simulation);
            if best.is_none_or(|(_, t)| time < t) {
                best = Some((draft_tokens, time));
            }
        }
        let Some((draft_tokens, _)) = best else {
            return Ok(Vec::new());
        };
        // The change a suggestion lists is the cautious one, α = 0.6: the report's combined
        // figure does not count on a good draft.
        let changes = [Change::Speculate(speculation(draft_tokens, ACCEPTANCE.0))];
        let low = facts::simulate(input, &changes)?;
        let high = facts::simulate(
            input,
            &[Change::Speculate(speculation(draft_tokens, ACCEPTANCE.2))],
        )?;
        let per_token = low
            .improvement(ImprovementMetric::TimePerToken)
            .map_or(0.0, |i| i.max_reduction);
        if per_token < 0.10 {
            return Ok(Vec::new());
        }
        let parameters = model.parameters.unwrap_or(0) as f64;
        let tokens_per_step = |alpha: f64| speculation(draft_tokens, alpha).tokens_per_step();
        let bound = low
            .predicted_before
            .times
            .first()
            .map_or("unknown", |t| t.bound.as_str());
        let suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Architecture,
            advisor_core::Impact::Medium,
            Difficulty::Medium,
            "Use speculative decoding with a small draft model",
        )
        .description(format!(
            "Decoding at batch {} reads every weight for one token per sequence. A draft of about {} parameters \
             from the same family proposes {draft_tokens} tokens and the target checks them in one forward, which \
             at this batch costs little more than one step: {:.1}–{:.1} tokens per step at acceptance rates {}–{}.",
            settings.batch_size,
            facts::count_text(parameters * DRAFT_SHARE),
            tokens_per_step(ACCEPTANCE.0),
            tokens_per_step(ACCEPTANCE.2),
            ACCEPTANCE.0,
            ACCEPTANCE.2,
        ))
        .evidence(format!("batch size {}", settings.batch_size))
        .evidence(format!("as configured, decoding is {bound} in the model's fastest scenario"))
        .evidence(format!(
            "model: {} parameters; draft {draft_tokens} tokens, the length the model finds fastest at acceptance {}",
            facts::count_text(parameters),
            ACCEPTANCE.1
        ))
        .step(format!(
            "Pick a draft that shares the target's tokenizer, about {} parameters or fewer (a smaller model of the same family, or a distilled one).",
            facts::count_text(parameters * DRAFT_SHARE)
        ))
        .step(format!(
            "Hugging Face: model.generate(..., assistant_model=draft); vLLM: speculative_config={{\"model\": draft, \"num_speculative_tokens\": {draft_tokens}}}."
        ))
        .step("Measure the acceptance rate on real prompts (vLLM logs it): below about 0.5 the draft costs more than it saves.")
        .step("Without a draft of the family: n-gram prompt lookup (prompt_lookup_num_tokens) or trained heads (Medusa, EAGLE).")
        .code(
            "python",
            format!(
                "draft = AutoModelForCausalLM.from_pretrained(draft_name, torch_dtype=model.dtype).to(model.device)\nout = model.generate(**inputs, assistant_model=draft, num_assistant_tokens={draft_tokens}, max_new_tokens=256)"
            ),
        )
        .warning("The gain shrinks as the batch grows: verifying several tokens per sequence turns the step compute-bound. Re-check at the batch you serve.")
        .warning("The draft needs its own weights and KV cache in memory (counted in the figures).");
        let mut suggestion = facts::with_simulation(suggestion, &changes, &low);
        // The range runs from the cautious acceptance rate's worst scenario to the good one's
        // best; the basis gives both.
        for improvement in &mut suggestion.expected_improvement {
            let Some(better) = high.improvement(improvement.metric) else {
                continue;
            };
            improvement.max_reduction = improvement.max_reduction.max(better.max_reduction);
            if let Some((figure, name)) = time_figure(improvement.metric) {
                let range = |p: &advisor_model::Prediction| {
                    let (a, b) = p.range(figure);
                    format!(
                        "{}–{}",
                        advisor_model::seconds_text(a),
                        advisor_model::seconds_text(b)
                    )
                };
                improvement.basis = format!(
                    "model: {} {} → {} at acceptance {}, {} at {} ({} → {}); {}",
                    name,
                    range(&low.predicted_before),
                    range(&low.predicted_after),
                    ACCEPTANCE.0,
                    range(&high.predicted_after),
                    ACCEPTANCE.2,
                    low.predicted_before.bound().as_str(),
                    high.predicted_after.bound().as_str(),
                    advisor_model::scenario_text()
                );
            }
        }
        Ok(vec![suggestion])
    }
}

/// The time figure a metric compares.
type Figure = fn(&advisor_model::Times) -> f64;

/// The time figure a metric compares, and its name.
fn time_figure(metric: ImprovementMetric) -> Option<(Figure, &'static str)> {
    match metric {
        ImprovementMetric::Latency => Some((|t| t.request_seconds, "request")),
        ImprovementMetric::Throughput => {
            Some((|t| t.per_sample_seconds, "request time per sequence"))
        }
        ImprovementMetric::TimePerToken => {
            Some((|t| t.per_token_seconds, "time per generated token"))
        }
        ImprovementMetric::TimeToFirstToken => {
            Some((|t| t.first_token_seconds, "time to first token"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::rules::test_support::{advise, context, gpt2, llama_2_7b, target};

    #[test]
    fn llama_2_7b_answering_256_tokens_at_batch_1_on_an_a100() {
        expect![[r#"
            speculative_decoding · architecture · impact high · difficulty medium
            title: Use speculative decoding with a small draft model
            description: Decoding at batch 1 reads every weight for one token per sequence. A draft of about 337 M parameters from the same family proposes 5 tokens and the target checks them in one forward, which at this batch costs little more than one step: 2.4–3.7 tokens per step at acceptance rates 0.6–0.8.
            changes: speculative decoding (5 drafted tokens, a draft of 5 % of the parameters, acceptance 0.60)
            expected:
            - latency −46–65 % [0.458, 0.650]: model: request 1.92 s–2.90 s → 1.03 s–1.57 s at acceptance 0.6, 676.5 ms–1.04 s at 0.8 (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.8–2.9 [0.458, 0.650]: model: request time per sequence 1.92 s–2.90 s → 1.03 s–1.57 s at acceptance 0.6, 676.5 ms–1.04 s at 0.8 (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_per_token −47–66 % [0.469, 0.658]: model: time per generated token 7.4 ms–11.1 ms → 3.9 ms–5.9 ms at acceptance 0.6, 2.5 ms–3.8 ms at 0.8 (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - batch size 1
            - as configured, decoding is memory-bound in the model's fastest scenario
            - model: 6.74 B parameters; draft 5 tokens, the length the model finds fastest at acceptance 0.7
            steps:
            - Pick a draft that shares the target's tokenizer, about 337 M parameters or fewer (a smaller model of the same family, or a distilled one).
            - Hugging Face: model.generate(..., assistant_model=draft); vLLM: speculative_config={"model": draft, "num_speculative_tokens": 5}.
            - Measure the acceptance rate on real prompts (vLLM logs it): below about 0.5 the draft costs more than it saves.
            - Without a draft of the family: n-gram prompt lookup (prompt_lookup_num_tokens) or trained heads (Medusa, EAGLE).
            code: python
            warnings:
            - The gain shrinks as the batch grows: verifying several tokens per sequence turns the step compute-bound. Re-check at the batch you serve.
            - The draft needs its own weights and KV cache in memory (counted in the figures).
            - The model predicts memory +5 %.
        "#]].assert_eq(&advise(
            "speculative_decoding",
            context(
                llama_2_7b(),
                target("nvidia-a100-80gb"),
                json!({ "mode": "inference", "batch_size": "1", "prompt_len": "512",
                        "new_tokens": "256", "precision": "fp16", "compile": "true" }),
            ),
        ));
    }

    #[test]
    fn the_gain_shrinks_with_the_batch() {
        let gain = |batch: &str| {
            let text = advise(
                "speculative_decoding",
                context(
                    llama_2_7b(),
                    target("nvidia-a100-80gb"),
                    json!({ "mode": "inference", "batch_size": batch, "prompt_len": "128",
                            "new_tokens": "128", "precision": "fp16", "compile": "true" }),
                ),
            );
            text.lines()
                .find(|l| l.starts_with("- time_per_token"))
                .map(str::to_owned)
                .unwrap_or_else(|| "silent".to_owned())
        };
        expect![[r#"
            batch 1: - time_per_token −47–66 % [0.473, 0.660]: model: time per generated token 7.3 ms–10.9 ms → 3.8 ms–5.7 ms at acceptance 0.6, 2.5 ms–3.7 ms at 0.8 (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            batch 16: - time_per_token −43–64 % [0.429, 0.639]: model: time per generated token 8.1 ms–12.2 ms → 4.5 ms–6.9 ms at acceptance 0.6, 2.9 ms–4.5 ms at 0.8 (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            batch 64: - time_per_token −12–51 % [0.120, 0.510]: model: time per generated token 10.9 ms–16.6 ms → 6.7 ms–14.0 ms at acceptance 0.6, 5.4 ms–11.3 ms at 0.8 (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            batch 256: - time_per_token −0–29 % [0.000, 0.290]: model: time per generated token 22.1 ms–35.2 ms → 24.6 ms–54.4 ms at acceptance 0.6, 19.7 ms–43.7 ms at 0.8 (memory-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
        "#]].assert_eq(&format!(
            "batch 1: {}\nbatch 16: {}\nbatch 64: {}\nbatch 256: {}\n",
            gain("1"),
            gain("16"),
            gain("64"),
            gain("256")
        ));
    }

    #[test]
    fn silent_where_it_does_not_apply() {
        for (model, config) in [
            // Too small for a draft.
            (
                gpt2(),
                json!({ "mode": "inference", "batch_size": "1", "new_tokens": "256" }),
            ),
            // Training.
            (
                llama_2_7b(),
                json!({ "mode": "training", "batch_size": "8", "seq_len": "512" }),
            ),
            // No cache to verify against.
            (
                llama_2_7b(),
                json!({ "mode": "inference", "batch_size": "1", "new_tokens": "256", "kv_cache": "false" }),
            ),
            // A CPU run.
            (
                llama_2_7b(),
                json!({ "mode": "inference", "batch_size": "1", "new_tokens": "256", "device": "cpu" }),
            ),
        ] {
            let text = advise(
                "speculative_decoding",
                context(model, target("nvidia-a100-80gb"), config),
            );
            assert!(!text.contains("title:"), "{text}");
        }
    }

    #[test]
    fn says_what_it_needs_without_the_mode() {
        let text = advise(
            "speculative_decoding",
            context(
                llama_2_7b(),
                target("nvidia-a100-80gb"),
                json!({ "batch_size": "1" }),
            ),
        );
        expect![[r#"
            silent
            diagnostic Info speculative_decoding: could not decide: needs current_config.mode (--set mode=VALUE)
        "#]].assert_eq(&text);
    }
}
