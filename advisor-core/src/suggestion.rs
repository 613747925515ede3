//! Suggestions: what a rule recommends, why, and how much it should buy.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What part of the system a suggestion changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Category {
    /// The model's structure (attention variant, layers).
    Architecture,
    /// Memory use and allocation.
    Memory,
    /// Kernels and arithmetic.
    Compute,
    /// Lower-precision weights and activations.
    Quantization,
    /// Threads, devices and overlap.
    Parallelization,
    /// Use of hardware features (tensor cores).
    Hardware,
    /// Feeding data to the model.
    DataPipeline,
}

impl Category {
    /// Every category, in display order.
    pub const ALL: [Category; 7] = [
        Category::Architecture,
        Category::Memory,
        Category::Compute,
        Category::Quantization,
        Category::Parallelization,
        Category::Hardware,
        Category::DataPipeline,
    ];

    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Architecture => "architecture",
            Category::Memory => "memory",
            Category::Compute => "compute",
            Category::Quantization => "quantization",
            Category::Parallelization => "parallelization",
            Category::Hardware => "hardware",
            Category::DataPipeline => "data_pipeline",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name the advisor's guide uses for [`Category`].
///
/// ```
/// use advisor_core::{Category, OptimizationCategory};
/// let category: OptimizationCategory = Category::Memory;
/// assert_eq!(category, Category::Memory);
/// ```
pub type OptimizationCategory = Category;

/// The name the advisor's guide uses for [`Impact`].
///
/// ```
/// use advisor_core::{Impact, ImpactLevel};
/// assert!(ImpactLevel::Critical < Impact::Low, "critical orders first");
/// ```
pub type ImpactLevel = Impact;

/// How much a suggestion matters. Orders critical first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    /// The run cannot work as configured (for example, the weights do not fit).
    Critical,
    /// A large gain.
    High,
    /// A moderate gain.
    Medium,
    /// A small gain.
    Low,
}

impl Impact {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Impact::Critical => "critical",
            Impact::High => "high",
            Impact::Medium => "medium",
            Impact::Low => "low",
        }
    }
}

/// How much work a suggestion takes. Orders easy first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Difficulty {
    /// A setting or a line of code.
    Easy,
    /// Some code and testing.
    Medium,
    /// Retraining, new kernels or infrastructure.
    Hard,
}

impl Difficulty {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Difficulty::Easy => "easy",
            Difficulty::Medium => "medium",
            Difficulty::Hard => "hard",
        }
    }
}

/// The metric an improvement applies to. Every metric is a cost, so an improvement is the
/// fraction of that cost removed; for throughput the cost is time per sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ImprovementMetric {
    /// Time per request or step.
    Latency,
    /// Time per sample (a reduction r is a throughput gain of 1 / (1 − r)).
    Throughput,
    /// Peak memory.
    Memory,
    /// Size of the stored weights.
    ModelSize,
    /// Time to the first generated token (the prefill).
    TimeToFirstToken,
    /// Mean time per generated token after the first.
    TimePerToken,
}

impl ImprovementMetric {
    /// Every metric, in report order.
    pub const ALL: [ImprovementMetric; 6] = [
        ImprovementMetric::Latency,
        ImprovementMetric::Throughput,
        ImprovementMetric::TimeToFirstToken,
        ImprovementMetric::TimePerToken,
        ImprovementMetric::Memory,
        ImprovementMetric::ModelSize,
    ];

    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            ImprovementMetric::Latency => "latency",
            ImprovementMetric::Throughput => "throughput",
            ImprovementMetric::Memory => "memory",
            ImprovementMetric::ModelSize => "model_size",
            ImprovementMetric::TimeToFirstToken => "time_to_first_token",
            ImprovementMetric::TimePerToken => "time_per_token",
        }
    }
}

/// An expected improvement of one metric, as a range of the fraction of its cost removed,
/// and the basis it was derived from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ExpectedImprovement {
    /// The metric.
    pub metric: ImprovementMetric,
    /// Lower end, a fraction in [0, 1).
    pub min_reduction: f64,
    /// Upper end, a fraction in [min_reduction, 1).
    pub max_reduction: f64,
    /// How the figures were derived, from which inputs.
    pub basis: String,
}

impl ExpectedImprovement {
    /// Creates an improvement. Figures outside [0, 1) are a rule bug: the engine reports them
    /// as a diagnostic and drops the improvement rather than clamping it.
    pub fn new(
        metric: ImprovementMetric,
        min_reduction: f64,
        max_reduction: f64,
        basis: impl Into<String>,
    ) -> ExpectedImprovement {
        ExpectedImprovement {
            metric,
            min_reduction,
            max_reduction,
            basis: basis.into(),
        }
    }

    /// Whether the figures are usable: finite, within [0, 1), min ≤ max.
    pub fn is_valid(&self) -> bool {
        let in_range = |x: f64| x.is_finite() && (0.0..1.0).contains(&x);
        in_range(self.min_reduction)
            && in_range(self.max_reduction)
            && self.min_reduction <= self.max_reduction
    }

    /// A short human description, for example `latency −20–35 %` or `throughput ×1.5–2.0`.
    pub fn describe(&self) -> String {
        describe_range(self.metric, self.min_reduction, self.max_reduction)
    }
}

/// Formats a reduction range of a metric for people.
pub(crate) fn describe_range(metric: ImprovementMetric, low: f64, high: f64) -> String {
    // Whole percents, except near 100 % where rounding would claim the whole cost.
    let percent = |x: f64| {
        let mut decimals = 0;
        while decimals < 4 && format!("{:.*}", decimals, x * 100.0).starts_with("100") && x < 1.0 {
            decimals += 1;
        }
        format!("{:.*}", decimals, x * 100.0)
    };
    match metric {
        ImprovementMetric::Throughput => {
            let gain = |r: f64| format!("{:.1}", 1.0 / (1.0 - r));
            if gain(high) == gain(low) {
                format!("throughput ×{}", gain(high))
            } else {
                format!("throughput ×{}–{}", gain(low), gain(high))
            }
        }
        _ => {
            if percent(low) == percent(high) {
                format!("{} −{} %", metric.as_str(), percent(high))
            } else {
                format!("{} −{}–{} %", metric.as_str(), percent(low), percent(high))
            }
        }
    }
}

/// A code snippet showing the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CodeExample {
    /// Language for syntax highlighting (`python`, `bash`, `rust`).
    pub language: String,
    /// The code.
    pub code: String,
}

/// One recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct OptimizationSuggestion {
    /// Suggestion id; the rule id unless a rule makes several.
    pub id: String,
    /// Id of the rule that made it (filled in by the advisor).
    #[serde(default)]
    pub rule_id: String,
    /// What it changes.
    pub category: Category,
    /// How much it matters.
    pub impact: Impact,
    /// How much work it takes.
    pub difficulty: Difficulty,
    /// One line.
    pub title: String,
    /// What to do and why.
    pub description: String,
    /// What it should buy, per metric.
    #[serde(default)]
    pub expected_improvement: Vec<ExpectedImprovement>,
    /// Steps to apply it.
    #[serde(default)]
    pub implementation_steps: Vec<String>,
    /// Code showing the change.
    #[serde(default)]
    pub code_examples: Vec<CodeExample>,
    /// Costs and risks.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The facts from the context that made it fire.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// The changes to the run it proposes; its improvement is the model run before and after.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<crate::change::Change>,
    /// Time it recovers from a pool of slack a trace shows, when its gain comes from a trace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slack: Vec<crate::change::SlackClaim>,
}

impl OptimizationSuggestion {
    /// Starts a suggestion; fill in the rest with the builder methods.
    pub fn new(
        id: impl Into<String>,
        category: Category,
        impact: Impact,
        difficulty: Difficulty,
        title: impl Into<String>,
    ) -> OptimizationSuggestion {
        let id = id.into();
        OptimizationSuggestion {
            rule_id: id.clone(),
            id,
            category,
            impact,
            difficulty,
            title: title.into(),
            description: String::new(),
            expected_improvement: Vec::new(),
            implementation_steps: Vec::new(),
            code_examples: Vec::new(),
            warnings: Vec::new(),
            evidence: Vec::new(),
            changes: Vec::new(),
            slack: Vec::new(),
        }
    }

    /// Adds a change to the run it proposes.
    pub fn change(mut self, change: crate::change::Change) -> Self {
        self.changes.push(change);
        self
    }

    /// Adds a claim on a pool of slack.
    pub fn slack(mut self, claim: crate::change::SlackClaim) -> Self {
        self.slack.push(claim);
        self
    }

    /// Sets the description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Adds an expected improvement.
    pub fn improvement(mut self, improvement: ExpectedImprovement) -> Self {
        self.expected_improvement.push(improvement);
        self
    }

    /// Adds an implementation step.
    pub fn step(mut self, text: impl Into<String>) -> Self {
        self.implementation_steps.push(text.into());
        self
    }

    /// Adds a code example.
    pub fn code(mut self, language: &str, code: impl Into<String>) -> Self {
        self.code_examples.push(CodeExample {
            language: language.to_owned(),
            code: code.into(),
        });
        self
    }

    /// Adds a warning.
    pub fn warning(mut self, text: impl Into<String>) -> Self {
        self.warnings.push(text.into());
        self
    }

    /// Adds a piece of evidence.
    pub fn evidence(mut self, text: impl Into<String>) -> Self {
        self.evidence.push(text.into());
        self
    }
}
