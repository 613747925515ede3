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
    /// Suggestions in the order of [`order`]: critical first, then what each buys for its
    /// difficulty.
    pub suggestions: Vec<OptimizationSuggestion>,
    /// What the rules could not decide, rule failures and configuration warnings.
    pub diagnostics: Vec<Diagnostic>,
    /// Expected improvements combined per metric.
    pub summary: ReportSummary,
    /// What the performance model says of the run as configured: its time and memory, and
    /// how it compares with a measurement.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub model_notes: Vec<String>,
    /// What the performance model predicts before and after each suggestion's changes and the
    /// combined plan: time and memory by part, against the device's memory. `None` when the
    /// facts do not allow a model run (or no model is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projections: Option<ModelProjections>,
    /// What the trace showed when one was read: the GPU time breakdown per step, idle time by
    /// cause, the longest kernels and CPU operators. Filled by the caller that read the trace
    /// (`advisor analyze --trace`); the engine sees only the rules' facts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceOverview>,
}

/// A range of seconds over the performance model's scenarios of kernel efficiency and host
/// overhead: `min` in the fastest, `max` in the slowest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SecondsRange {
    /// Fastest scenario.
    pub min: f64,
    /// Slowest scenario.
    pub max: f64,
}

/// One part of the predicted peak memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MemoryPart {
    /// What holds it: `weights`, `KV cache`, `activations`, ...
    pub name: String,
    /// Bytes.
    pub bytes: f64,
}

/// What the performance model predicts for one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ModelFigures {
    /// A whole request (prefill and generation), a forward, or one training step.
    pub request_seconds: SecondsRange,
    /// Request time per sequence: the cost of throughput.
    pub per_sample_seconds: SecondsRange,
    /// Peak memory by part, largest first (parts of zero bytes left out).
    pub memory: Vec<MemoryPart>,
    /// The sum of `memory`.
    pub peak_bytes: f64,
}

/// The model's figures after one suggestion's changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SuggestionProjection {
    /// The suggestion's id.
    pub suggestion: String,
    /// The run with its changes applied (alone).
    pub after: ModelFigures,
}

/// The performance model's figures before and after the report's changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ModelProjections {
    /// What the time figures are of: `a request`, `a forward`, `a training step`.
    pub unit: String,
    /// The run as configured.
    pub before: ModelFigures,
    /// After each suggestion that proposes changes, in report order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<SuggestionProjection>,
    /// After the combined plan ([`ReportSummary::plan`]), when it has changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<ModelFigures>,
    /// The device's memory, bytes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_bytes: Option<u64>,
    /// The share of it a run may plan to use, bytes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usable_bytes: Option<f64>,
}

impl ModelProjections {
    /// The figures after a suggestion, by id.
    pub fn after(&self, suggestion: &str) -> Option<&ModelFigures> {
        self.suggestions
            .iter()
            .find(|p| p.suggestion == suggestion)
            .map(|p| &p.after)
    }
}

/// A kernel or operator with its time, for the trace overview.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TimedName {
    /// The kernel or operator name as the trace writes it.
    pub name: String,
    /// For a kernel: `computation`, `communication` or `memory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Launches or calls.
    pub count: u64,
    /// Total GPU time of a kernel, self time of a CPU operator.
    pub time_us: f64,
}

/// One profiler step of a trace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StepOverview {
    /// `N` of `ProfilerStep#N`.
    pub step: i64,
    /// Wall time.
    pub duration_us: f64,
    /// The GPU time breakdown of the step's stretch of the analyzed window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_breakdown: Option<crate::GpuTimeBreakdown>,
    /// Its idle time per stream by cause.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub idle_breakdown: Vec<crate::StreamIdleBreakdown>,
}

/// What a trace showed, for people: the overview the HTML report draws.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TraceOverview {
    /// The trace file.
    pub source: String,
    /// Devices from its `deviceProperties`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<crate::TraceDevice>,
    /// Profiler steps in time order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepOverview>,
    /// GPU time breakdown over the analyzed window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_breakdown: Option<crate::GpuTimeBreakdown>,
    /// Idle time per GPU stream by cause over the same window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub idle_breakdown: Vec<crate::StreamIdleBreakdown>,
    /// Kernels by total time, longest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_kernels: Vec<TimedName>,
    /// CPU operators by self time, longest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_cpu_ops: Vec<TimedName>,
    /// Operators with the FLOPs and bytes of their recorded shapes, most kernel time first:
    /// the points of the per-operator roofline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub op_roofline: Vec<OpPoint>,
    /// The roofs of the trace's GPU, one per element width its operators use (empty when the
    /// accelerator table does not know the GPU).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roofs: Vec<Roof>,
}

/// One operator and input shape on the roofline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OpPoint {
    /// The operator, `aten::addmm`.
    pub op: String,
    /// Its input shapes and element type.
    pub shapes: String,
    /// Bits per element of its inputs.
    pub element_bits: u32,
    /// Calls with kernels.
    pub calls: u64,
    /// GPU time of their kernels.
    pub kernel_time_us: f64,
    /// Arithmetic intensity: FLOPs per byte moved.
    pub flops_per_byte: f64,
    /// Achieved FLOP rate over the kernels' time, TFLOP/s.
    pub achieved_tflops: f64,
}

/// A roof of the roofline model (Williams, Waterman and Patterson, "Roofline: an insightful
/// visual performance model for multicore architectures", CACM 2009): attainable TFLOP/s is
/// `min(peak_tflops, intensity × memory bandwidth)`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Roof {
    /// What the roof is for: `fp16/bf16 tensor cores on NVIDIA A100-SXM4-80GB`.
    pub name: String,
    /// Bits per element of the operators it bounds.
    pub element_bits: u32,
    /// Peak compute, TFLOP/s.
    pub peak_tflops: f64,
    /// DRAM bandwidth, TB/s.
    pub memory_tb_per_s: f64,
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
    /// The facts a rule needed and did not have, typed (empty for other diagnostics).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<crate::facts::Missing>,
}

impl Diagnostic {
    /// A diagnostic without missing facts.
    pub fn new(
        severity: DiagnosticSeverity,
        source: impl Into<String>,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity,
            source: source.into(),
            message: message.into(),
            missing: Vec::new(),
        }
    }
}

/// The combined expected improvement of one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MetricSummary {
    /// The metric.
    pub metric: ImprovementMetric,
    /// Suggestions that improve it.
    pub suggestions: usize,
    /// Combined lower end, a fraction of the cost removed (negative: the plan makes the
    /// metric worse in that scenario, a trade for another metric).
    pub min_reduction: f64,
    /// Combined upper end.
    pub max_reduction: f64,
    /// For people: `latency −20–35 %`.
    pub description: String,
    /// How it was combined: the simulation, the slack pools, or the best single suggestion.
    #[serde(default)]
    pub basis: String,
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
    /// The changes the combined simulation applied, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<crate::change::Change>,
    /// Suggestions whose gain is neither a modelled change nor a slack claim (plugins, kernel
    /// fusion): listed with their own figures, not in the combined total.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_combined: Vec<String>,
}

/// How [`ReportSummary::combined`] is computed, stated in every report.
pub const COMBINATION_METHOD: &str = "The combined improvement is one simulation: the performance model runs once with every compatible change applied together (the higher-ranked suggestion's setting wins where two set the same thing), never a product of separate percentages. Gains that come only from a trace take from named pools of slack (GPU idle, exposed communication): claims on one pool combine by their maximum and never exceed the pool. Suggestions with neither are listed with their own figures and left out of the total.";

impl OptimizationReport {
    /// Builds a report: sorts the suggestions and computes the summary.
    pub fn new(
        inputs: InputSummary,
        suggestions: Vec<OptimizationSuggestion>,
        diagnostics: Vec<Diagnostic>,
    ) -> OptimizationReport {
        OptimizationReport::with_plan(inputs, suggestions, diagnostics, false, |_| None)
    }

    /// Builds a report whose combined improvement runs every compatible change through
    /// `simulate` at once.
    pub fn with_plan(
        inputs: InputSummary,
        mut suggestions: Vec<OptimizationSuggestion>,
        diagnostics: Vec<Diagnostic>,
        memory_constrained: bool,
        simulate: impl FnOnce(
            &[crate::change::Change],
        ) -> Option<Vec<crate::suggestion::ExpectedImprovement>>,
    ) -> OptimizationReport {
        order(&mut suggestions, memory_constrained);
        let summary = summarize(&suggestions, simulate);
        OptimizationReport {
            schema_version: REPORT_SCHEMA_VERSION,
            inputs,
            suggestions,
            diagnostics,
            summary,
            model_notes: Vec::new(),
            projections: None,
            trace: None,
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

/// Orders suggestions: critical first (the run cannot work as configured); when memory is the
/// constraint, changes that reduce memory next; then by what the change buys for its
/// difficulty (its largest expected reduction over a difficulty cost of 1, 2 or 4); then
/// impact and id, so the order is deterministic.
pub fn order(suggestions: &mut [OptimizationSuggestion], memory_constrained: bool) {
    let value = |s: &OptimizationSuggestion| {
        let gain = s
            .expected_improvement
            .iter()
            .map(|i| i.max_reduction)
            .fold(0.0_f64, f64::max);
        let cost = match s.difficulty {
            Difficulty::Easy => 1.0,
            Difficulty::Medium => 2.0,
            Difficulty::Hard => 4.0,
        };
        gain / cost
    };
    let frees_memory = |s: &OptimizationSuggestion| {
        s.expected_improvement
            .iter()
            .any(|i| i.metric == ImprovementMetric::Memory && i.max_reduction >= 0.05)
    };
    suggestions.sort_by(|a, b| {
        let critical = |s: &OptimizationSuggestion| s.impact != Impact::Critical;
        critical(a)
            .cmp(&critical(b))
            .then_with(|| {
                if memory_constrained {
                    (!frees_memory(a)).cmp(&!frees_memory(b))
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .then_with(|| value(b).total_cmp(&value(a)))
            .then_with(|| (a.impact, a.difficulty, &a.id).cmp(&(b.impact, b.difficulty, &b.id)))
    });
}

fn summarize(
    suggestions: &[OptimizationSuggestion],
    simulate: impl FnOnce(
        &[crate::change::Change],
    ) -> Option<Vec<crate::suggestion::ExpectedImprovement>>,
) -> ReportSummary {
    use crate::plan::{combine_latency, combine_slack, compatible_changes};

    let mut by_impact = BTreeMap::new();
    for suggestion in suggestions {
        *by_impact
            .entry(suggestion.impact.as_str().to_owned())
            .or_insert(0) += 1;
    }
    let plan = compatible_changes(suggestions);
    let simulated = if plan.is_empty() {
        None
    } else {
        simulate(&plan)
    };
    let claims: Vec<_> = suggestions
        .iter()
        .flat_map(|s| s.slack.iter().copied())
        .collect();
    let slack = combine_slack(&claims);
    // An improvement, or a time the plan makes worse (negative reductions).
    let modelled = |metric: ImprovementMetric| {
        simulated.as_ref().and_then(|improvements| {
            improvements
                .iter()
                .find(|i| {
                    i.metric == metric
                        && (i.is_valid()
                            || (i.min_reduction.is_finite()
                                && i.max_reduction < 0.0
                                && i.min_reduction <= i.max_reduction))
                })
                .map(|i| (i.min_reduction, i.max_reduction, i.basis.clone()))
        })
    };
    let counts = |metric: ImprovementMetric| {
        suggestions
            .iter()
            .filter(|s| {
                (!s.changes.is_empty()
                    || (!s.slack.is_empty() && metric == ImprovementMetric::Latency))
                    && s.expected_improvement.iter().any(|i| i.metric == metric)
            })
            .count()
    };
    let mut combined = Vec::new();
    for metric in ImprovementMetric::ALL {
        let model = modelled(metric);
        let slack_here = if matches!(
            metric,
            ImprovementMetric::Latency | ImprovementMetric::Throughput
        ) {
            slack
        } else {
            None
        };
        if model.is_none() && slack_here.is_none() {
            continue;
        }
        let (low, high) = combine_latency(model.as_ref().map(|(l, h, _)| (*l, *h)), slack_here);
        // Worse in every scenario is said only where the model says it (slack alone never
        // makes a run slower).
        let worse = model.as_ref().is_some_and(|(_, h, _)| *h < 0.0);
        if !(low.is_finite() && high.is_finite()) || (high <= 0.0 && !worse) {
            continue;
        }
        let mut basis = Vec::new();
        if let Some((_, _, text)) = &model {
            basis.push(format!("one simulation of {}: {text}", plan_text(&plan)));
        }
        if let Some((_, _, pool)) = slack_here {
            basis.push(format!(
                "slack pools from the trace ({:.1} % of the step), each claimed once",
                pool * 100.0
            ));
        }
        combined.push(MetricSummary {
            metric,
            suggestions: counts(metric),
            min_reduction: low,
            max_reduction: high,
            description: describe_signed(metric, low, high),
            basis: basis.join("; "),
        });
    }
    let not_combined = suggestions
        .iter()
        .filter(|s| {
            s.changes.is_empty() && s.slack.is_empty() && !s.expected_improvement.is_empty()
        })
        .map(|s| s.id.clone())
        .collect();
    ReportSummary {
        suggestion_count: suggestions.len(),
        by_impact,
        combined,
        method: COMBINATION_METHOD.to_owned(),
        plan,
        not_combined,
    }
}

/// [`describe_range`], and a time made longer as `latency +25–52 % (longer)` or, when the
/// scenarios disagree, `latency +10 % to −20 %`.
fn describe_signed(metric: ImprovementMetric, low: f64, high: f64) -> String {
    if low >= 0.0 || metric == ImprovementMetric::Throughput {
        return describe_range(metric, low, high);
    }
    let percent = |x: f64| format!("{:.0}", x.abs() * 100.0);
    if high <= 0.0 {
        if percent(low) == percent(high) {
            format!("{} +{} % (longer)", metric.as_str(), percent(low))
        } else {
            format!(
                "{} +{}–{} % (longer)",
                metric.as_str(),
                percent(high),
                percent(low)
            )
        }
    } else {
        format!(
            "{} +{} % to −{} %",
            metric.as_str(),
            percent(low),
            percent(high)
        )
    }
}

fn plan_text(plan: &[crate::change::Change]) -> String {
    plan.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
