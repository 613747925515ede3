//! Helpers the rules share: the trace, text formatting, and attaching a simulated change to a
//! suggestion. Numbers come
//! from the resolved facts (`RuleInput::facts`) and the performance model (`advisor-model`).

use advisor_core::{AnalysisContext, RuleError};

/// The facts of a PyTorch profiler trace, or the missing-facts error saying how to give one.
pub(crate) fn trace(context: &AnalysisContext) -> Result<&advisor_core::TraceFacts, RuleError> {
    advisor_core::trace_facts(context).map_err(RuleError::from)
}

/// Bytes for people: `13.5 GiB`.
pub(crate) fn bytes_text(bytes: u64) -> String {
    float_bytes_text(bytes as f64)
}

/// Bytes given as a float, for estimates (the model's formatting, one for the workspace).
pub(crate) fn float_bytes_text(bytes: f64) -> String {
    advisor_model::bytes_text(bytes)
}

/// A count for people: `6.74 B`, `124 M`.
pub(crate) fn count_text(count: f64) -> String {
    if count >= 1e9 {
        format!("{:.2} B", count / 1e9)
    } else if count >= 1e6 {
        format!("{:.0} M", count / 1e6)
    } else if count >= 1e3 {
        format!("{:.0} k", count / 1e3)
    } else {
        format!("{count:.0}")
    }
}

/// A fraction as a percentage: `37.5 %`.
pub(crate) fn percent(fraction: f64) -> String {
    format!("{:.1} %", fraction * 100.0)
}

/// Impact from the largest expected reduction.
pub(crate) fn impact_from_reduction(max_reduction: f64) -> advisor_core::Impact {
    use advisor_core::Impact;
    if max_reduction >= 0.3 {
        Impact::High
    } else if max_reduction >= 0.1 {
        Impact::Medium
    } else {
        Impact::Low
    }
}

/// Attaches a simulated change to a suggestion: the change, every metric it improves (the
/// model run before and after), a warning for every metric it makes worse, and the impact
/// the guide's thresholds give the largest time gain (high > 30 %, medium 10–30 %, low).
pub(crate) fn with_simulation(
    mut suggestion: advisor_core::OptimizationSuggestion,
    changes: &[advisor_core::Change],
    simulation: &advisor_model::Simulation,
) -> advisor_core::OptimizationSuggestion {
    for change in changes {
        suggestion = suggestion.change(*change);
    }
    let mut best: f64 = 0.0;
    for improvement in simulation.improvements() {
        if matches!(
            improvement.metric,
            advisor_core::ImprovementMetric::Latency
                | advisor_core::ImprovementMetric::Throughput
                | advisor_core::ImprovementMetric::TimePerToken
        ) {
            best = best.max(improvement.max_reduction);
        }
        suggestion = suggestion.improvement(improvement);
    }
    if simulation.predicted_before.fits() {
        for regression in simulation.regressions() {
            suggestion = suggestion.warning(format!("The model predicts {regression}."));
        }
    } else if suggestion.rule_id != "feasibility" {
        // Against a run that cannot start, "worse" means nothing; the before figures are
        // still what the change removes from the work.
        suggestion = suggestion.warning(
            "As configured the run does not fit in memory (see the feasibility suggestion): the figures compare with a run that cannot start.",
        );
    }
    if suggestion.impact != advisor_core::Impact::Critical {
        suggestion.impact = impact_from_reduction(best);
    }
    suggestion
}

/// Keeps only the warnings about the model's predicted regressions that pass `keep` (a rule
/// whose change trades one metric for another by design says so itself).
pub(crate) fn keep_regressions(
    mut suggestion: advisor_core::OptimizationSuggestion,
    keep: impl Fn(&str) -> bool,
) -> advisor_core::OptimizationSuggestion {
    suggestion
        .warnings
        .retain(|w| !w.starts_with("The model predicts ") || keep(w));
    suggestion
}

/// The prompt and generated tokens for evidence, once: `prompt 512 + generated 512 tokens
/// (assumed: ...)`.
pub(crate) fn tokens_evidence(facts: &advisor_core::ResolvedFacts) -> Option<String> {
    let prompt = facts.run.prompt_tokens.as_ref()?;
    match &facts.run.generated_tokens {
        Some(generated) if generated.source == prompt.source => Some(format!(
            "prompt {} + generated {} tokens ({})",
            prompt.value, generated.value, prompt.source
        )),
        Some(generated) => Some(format!(
            "prompt {} tokens ({}) + generated {} ({})",
            prompt.value, prompt.source, generated.value, generated.source
        )),
        None => Some(format!(
            "{} tokens per sequence ({})",
            prompt.value, prompt.source
        )),
    }
}

/// The model run before and after `changes`, or the facts it lacks.
pub(crate) fn simulate(
    input: &advisor_core::RuleInput<'_>,
    changes: &[advisor_core::Change],
) -> Result<advisor_model::Simulation, RuleError> {
    advisor_model::simulate(input.facts, changes).map_err(RuleError::from)
}

/// A fact's value with its source, for evidence: `seq_len 4096 (config seq_len)`.
pub(crate) fn sourced<T: std::fmt::Display>(name: &str, fact: &advisor_core::Fact<T>) -> String {
    format!("{name} {} ({})", fact.value, fact.source)
}

/// A time range for people: `1.20 s` when the ends agree within 5 %, else `0.95–1.20 s`.
pub(crate) fn seconds_range_text((low, high): (f64, f64)) -> String {
    if (high - low).abs() <= 0.05 * high.abs() {
        advisor_model::seconds_text(high)
    } else {
        format!(
            "{}–{}",
            advisor_model::seconds_text(low),
            advisor_model::seconds_text(high)
        )
    }
}

/// One alternative a rule weighed, as a step: what it is, the peak memory before and after
/// (and whether it fits), and the step (or request) time and the time per sample before and
/// after, by the model.
pub(crate) fn alternative_line(what: &str, simulation: &advisor_model::Simulation) -> String {
    let (before, after) = (&simulation.predicted_before, &simulation.predicted_after);
    let unit = match simulation.before.settings.mode {
        advisor_core::Mode::Training => "step",
        advisor_core::Mode::Inference => "request",
    };
    format!(
        "{what}: peak {} → {} ({}); {unit} {} → {}, per sample {} → {}",
        float_bytes_text(before.memory.total()),
        float_bytes_text(after.memory.total()),
        if after.fits() { "fits" } else { "does not fit" },
        seconds_range_text(before.range(|t| t.request_seconds)),
        seconds_range_text(after.range(|t| t.request_seconds)),
        seconds_range_text(before.range(|t| t.per_sample_seconds)),
        seconds_range_text(after.range(|t| t.per_sample_seconds)),
    )
}

/// One alternative for a generation run, as a step: what it is, the time to first token and
/// per output token before and after, and the peak memory, by the model.
pub(crate) fn generation_line(what: &str, simulation: &advisor_model::Simulation) -> String {
    let (before, after) = (&simulation.predicted_before, &simulation.predicted_after);
    format!(
        "{what}: time to first token {} → {}, per output token {} → {}, peak {} → {}",
        seconds_range_text(before.range(|t| t.first_token_seconds)),
        seconds_range_text(after.range(|t| t.first_token_seconds)),
        seconds_range_text(before.range(|t| t.per_token_seconds)),
        seconds_range_text(after.range(|t| t.per_token_seconds)),
        float_bytes_text(before.memory.total()),
        float_bytes_text(after.memory.total()),
    )
}

/// The model's family (`bert`, `t5`, `llama`, ...) in lowercase, empty when the graph does not
/// say.
pub(crate) fn model_family(input: &advisor_core::RuleInput<'_>) -> String {
    input
        .context
        .model_graph
        .as_ref()
        .and_then(|g| g.facts.family.as_deref())
        .unwrap_or_default()
        .to_ascii_lowercase()
}
