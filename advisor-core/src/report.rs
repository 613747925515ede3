//! The report model: ordered suggestions, diagnostics and a combined summary.
//!
//! Rendering (Markdown, JSON, HTML) lives in `advisor-report`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::suggestion::{
    Category, Difficulty, Impact, ImprovementMetric, OptimizationSuggestion, describe_range,
};

/// Version of the report's JSON shape. Bumped when a field changes meaning or goes away.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// The result of an analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OptimizationReport {
    /// [`REPORT_SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// What the analysis was given.
    pub inputs: InputSummary,
    /// Suggestions: impact (critical first), then difficulty (easy first), then id.
    pub suggestions: Vec<OptimizationSuggestion>,
    /// What the rules could not decide, rule failures and configuration warnings.
    pub diagnostics: Vec<Diagnostic>,
    /// Expected improvements combined per metric.
    pub summary: ReportSummary,
}

/// A short account of the inputs, for the report's header.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct InputSummary {
    /// Model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Model parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<u64>,
    /// Encoder, decoder or encoder-decoder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// One line describing the hardware.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<String>,
    /// The run configuration as given.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Which context sections were present (`model_graph`, `memory_metrics`, ...).
    #[serde(default)]
    pub provided: Vec<String>,
    /// Rules that ran.
    #[serde(default)]
    pub rules_run: Vec<String>,
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DiagnosticSeverity {
    /// A rule failed or misbehaved.
    Error,
    /// Input the advisor did not understand.
    Warning,
    /// A rule could not decide for lack of facts.
    Info,
}

/// A message about the analysis itself rather than the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Diagnostic {
    /// Severity.
    pub severity: DiagnosticSeverity,
    /// Where it comes from: a rule id, or `config`.
    pub source: String,
    /// What happened.
    pub message: String,
}

/// The combined expected improvement of one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MetricSummary {
    /// The metric.
    pub metric: ImprovementMetric,
    /// Suggestions that improve it.
    pub suggestions: usize,
    /// Combined lower end, 1 − Π(1 − min).
    pub min_reduction: f64,
    /// Combined upper end, 1 − Π(1 − max).
    pub max_reduction: f64,
    /// For people: `latency −20–35 %`.
    pub description: String,
}

/// Totals over the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReportSummary {
    /// Number of suggestions.
    pub suggestion_count: usize,
    /// Suggestions per impact level.
    pub by_impact: BTreeMap<String, usize>,
    /// Expected improvements combined per metric.
    pub combined: Vec<MetricSummary>,
    /// How the combination was computed.
    pub method: String,
}

/// How [`ReportSummary::combined`] is computed, stated in every report.
pub const COMBINATION_METHOD: &str = "Improvements of one metric combine multiplicatively: each removes a fraction r of what is left, so the total is 1 − Π(1 − r), never a sum that could pass 100 %. This assumes the changes are independent; where they overlap (for example quantization and a larger batch both relieve memory-bandwidth pressure) the real total is lower, so read it as an upper bound.";

impl OptimizationReport {
    /// Builds a report: sorts the suggestions and computes the summary.
    pub fn new(
        inputs: InputSummary,
        mut suggestions: Vec<OptimizationSuggestion>,
        diagnostics: Vec<Diagnostic>,
    ) -> OptimizationReport {
        suggestions
            .sort_by(|a, b| (a.impact, a.difficulty, &a.id).cmp(&(b.impact, b.difficulty, &b.id)));
        let summary = summarize(&suggestions);
        OptimizationReport {
            schema_version: REPORT_SCHEMA_VERSION,
            inputs,
            suggestions,
            diagnostics,
            summary,
        }
    }

    /// Critical and high-impact suggestions.
    pub fn high_impact_suggestions(&self) -> Vec<&OptimizationSuggestion> {
        self.suggestions
            .iter()
            .filter(|s| matches!(s.impact, Impact::Critical | Impact::High))
            .collect()
    }

    /// Suggestions of one category.
    pub fn suggestions_by_category(&self, category: Category) -> Vec<&OptimizationSuggestion> {
        self.suggestions
            .iter()
            .filter(|s| s.category == category)
            .collect()
    }

    /// Suggestions that are easy to apply.
    pub fn easy_suggestions(&self) -> Vec<&OptimizationSuggestion> {
        self.suggestions
            .iter()
            .filter(|s| s.difficulty == Difficulty::Easy)
            .collect()
    }
}

fn summarize(suggestions: &[OptimizationSuggestion]) -> ReportSummary {
    let mut by_impact = BTreeMap::new();
    // metric -> (count, Π(1 − min), Π(1 − max))
    let mut products: BTreeMap<ImprovementMetric, (usize, f64, f64)> = BTreeMap::new();
    for suggestion in suggestions {
        *by_impact
            .entry(suggestion.impact.as_str().to_owned())
            .or_insert(0) += 1;
        for improvement in &suggestion.expected_improvement {
            let entry = products.entry(improvement.metric).or_insert((0, 1.0, 1.0));
            entry.0 += 1;
            entry.1 *= 1.0 - improvement.min_reduction;
            entry.2 *= 1.0 - improvement.max_reduction;
        }
    }
    let combined = products
        .into_iter()
        .map(|(metric, (count, keep_min, keep_max))| {
            let (low, high) = (1.0 - keep_min, 1.0 - keep_max);
            MetricSummary {
                metric,
                suggestions: count,
                min_reduction: low,
                max_reduction: high,
                description: describe_range(metric, low, high),
            }
        })
        .collect();
    ReportSummary {
        suggestion_count: suggestions.len(),
        by_impact,
        combined,
        method: COMBINATION_METHOD.to_owned(),
    }
}
