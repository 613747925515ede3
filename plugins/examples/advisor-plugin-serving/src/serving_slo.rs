//! `serving_slo`: a generation service's latency budget against what the performance model
//! predicts for the run as configured.
//!
//! ## What it checks
//! The run's config states a budget: `slo_ttft_ms` (time to first token, the prefill) and/or
//! `slo_tpot_ms` (time per output token, the decode), as `--set slo_ttft_ms=500`. For a
//! generating model in inference the rule asks the performance model (`advisor-model`, the one
//! behind every built-in figure) for the two times over its scenarios of kernel efficiency and
//! host overhead, and compares: a budget under the fastest scenario is missed, one inside the
//! range is at risk, one above the slowest is met.
//!
//! ## Why it matters
//! Serving targets are stated per request, not as throughput: a chat product may promise the
//! first token in half a second and 50 ms per token after. The built-in rules say what makes a
//! run faster; this check says whether the run as configured meets the promise, and which of
//! the two phases to work on (prefill is compute-bound, decode memory-bound: different levers).
//!
//! ## When it stays silent
//! Budgets met in every scenario, training, encoders, a request that generates nothing. Without
//! a budget, or with one that is not a positive number of milliseconds, it says what it needs
//! (hosts whose run configuration knows `slo_ttft_ms` and `slo_tpot_ms` refuse such a value
//! before any rule runs).

use advisor_core::{
    Category, Difficulty, Impact, Mode, OptimizationRule, OptimizationSuggestion, RuleError,
    RuleInput,
};

/// The config keys of the two budgets.
const TTFT_KEY: &str = "slo_ttft_ms";
const TPOT_KEY: &str = "slo_tpot_ms";

/// See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServingSlo;

/// One budget's verdict.
struct Verdict {
    what: &'static str,
    key: &'static str,
    budget_seconds: f64,
    predicted: (f64, f64),
    missed: bool,
}

impl OptimizationRule for ServingSlo {
    fn id(&self) -> &str {
        "serving_slo"
    }

    fn category(&self) -> Category {
        Category::Architecture
    }

    fn description(&self) -> &str {
        "A latency budget (slo_ttft_ms, slo_tpot_ms) against the modelled time to first token and time per output token"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let budget = |key: &str| -> Result<Option<f64>, RuleError> {
            match input.context.current_config.get(key) {
                None => Ok(None),
                Some(text) => match text.trim().parse::<f64>() {
                    Ok(ms) if ms.is_finite() && ms > 0.0 => Ok(Some(ms / 1e3)),
                    _ => Err(RuleError::MissingFacts(format!(
                        "current_config.{key} as a positive number of milliseconds (got `{}`)",
                        text.escape_debug()
                    ))),
                },
            }
        };
        let (ttft, tpot) = (budget(TTFT_KEY)?, budget(TPOT_KEY)?);
        if ttft.is_none() && tpot.is_none() {
            return Err(RuleError::MissingFacts(format!(
                "current_config.{TTFT_KEY} or current_config.{TPOT_KEY} (the latency budget, ms)"
            )));
        }
        let facts = input.facts;
        if facts.mode()? != Mode::Inference {
            return Ok(Vec::new());
        }
        let model = facts.model()?;
        if !model.generates() {
            return Ok(Vec::new());
        }
        let prediction = advisor_model::predict_facts(facts).map_err(RuleError::from)?;
        let settings = facts.settings()?;
        let mut verdicts = Vec::new();
        if let Some(budget_seconds) = ttft {
            let predicted = prediction.range(|t| t.first_token_seconds);
            verdicts.push(Verdict {
                what: "time to first token",
                key: TTFT_KEY,
                budget_seconds,
                predicted,
                missed: budget_seconds < predicted.0,
            });
        }
        if let Some(budget_seconds) = tpot {
            if settings.generated_tokens < 2 {
                return Ok(Vec::new());
            }
            let predicted = prediction.range(|t| t.per_token_seconds);
            verdicts.push(Verdict {
                what: "time per output token",
                key: TPOT_KEY,
                budget_seconds,
                predicted,
                missed: budget_seconds < predicted.0,
            });
        }
        verdicts.retain(|v| v.budget_seconds < v.predicted.1);
        if verdicts.is_empty() {
            return Ok(Vec::new());
        }
        let missed = verdicts.iter().any(|v| v.missed);
        let names: Vec<&str> = verdicts.iter().map(|v| v.what).collect();
        let title = if missed {
            format!("The run misses its {} budget", names.join(" and "))
        } else {
            format!("The run's {} budget is at risk", names.join(" and "))
        };
        let mut suggestion = OptimizationSuggestion::new(
            "serving_slo",
            Category::Architecture,
            if missed { Impact::High } else { Impact::Medium },
            Difficulty::Medium,
            title,
        )
        .description(format!(
            "At batch {} with {}-token prompts, the performance model predicts {}. {}",
            settings.batch_size,
            settings.prompt_tokens,
            verdicts
                .iter()
                .map(|v| format!(
                    "{} {} against a budget of {}",
                    v.what,
                    range_text(v.predicted),
                    advisor_model::seconds_text(v.budget_seconds)
                ))
                .collect::<Vec<_>>()
                .join(", and "),
            if missed {
                "Even the fastest scenario is over budget: the configuration has to change."
            } else {
                "Only the faster scenarios meet it: measure before promising it."
            }
        ));
        for verdict in &verdicts {
            suggestion = suggestion.evidence(format!(
                "{} = {} ms; modelled {} {} ({})",
                verdict.key,
                verdict.budget_seconds * 1e3,
                verdict.what,
                range_text(verdict.predicted),
                advisor_model::scenario_text()
            ));
            if verdict.key == TTFT_KEY {
                suggestion = suggestion
                    .step("Time to first token is the prefill, compute-bound at long prompts: shorten or cache shared prompt prefixes (prefix caching), split the prefill across GPUs (tensor parallelism), or compute in a lower precision (fp8 on Hopper and Ada).")
                    .step("Under load a new request also waits for the batch's prefills: chunked prefill (vLLM enable_chunked_prefill) or prefill/decode disaggregation keeps the first token on budget.");
            } else {
                suggestion = suggestion
                    .step("Time per output token is the decode, memory-bound at small batch: fewer bytes per step (int8/int4 weights, an fp8 KV cache) or more tokens per step (speculative decoding) cut it; see those suggestions for their figures.")
                    .step("A smaller batch cuts the time per token where the KV cache dominates each step, at the cost of throughput: cap the batch (vLLM max_num_seqs) at the largest that meets the budget.");
            }
        }
        suggestion = suggestion
            .step("Check the budget with a load test at the traffic you expect (vLLM benchmarks/benchmark_serving.py reports TTFT and TPOT percentiles).")
            .code(
                "bash",
                "python benchmarks/benchmark_serving.py --backend vllm --model $MODEL \\\n    --dataset-name random --random-input-len 512 --random-output-len 256 --request-rate 4",
            )
            .warning("The figures are the performance model's, not a measurement: queueing under load adds to both times.");
        Ok(vec![suggestion])
    }
}

fn range_text((low, high): (f64, f64)) -> String {
    if (high - low).abs() <= 0.05 * high {
        advisor_model::seconds_text(high)
    } else {
        format!(
            "{}–{}",
            advisor_model::seconds_text(low),
            advisor_model::seconds_text(high)
        )
    }
}
