//! The rule interface.

use crate::{
    config::{ConfigError, RunConfig},
    context::AnalysisContext,
    facts::{Missing, ResolvedFacts},
    suggestion::{Category, OptimizationSuggestion},
};

/// What a rule reads: the context as given, its typed run configuration, and the facts
/// resolved from both once per analysis.
#[derive(Debug, Clone, Copy)]
pub struct RuleInput<'a> {
    /// The context as the user gave it.
    pub context: &'a AnalysisContext,
    /// The typed run configuration.
    pub config: &'a RunConfig,
    /// Resolved facts with their provenance: read numbers from here.
    pub facts: &'a ResolvedFacts,
}

/// A rule reads the facts of an analysis and recommends zero or more changes.
///
/// Rules read facts only: they never probe hardware or touch files. A rule that lacks the
/// facts to decide returns [`RuleError::Needs`], which the report lists so the user knows
/// what to provide; it never guesses.
pub trait OptimizationRule: Send + Sync {
    /// Stable id, public API (`kv_cache`).
    fn id(&self) -> &str;

    /// The category its suggestions fall in.
    fn category(&self) -> Category;

    /// One line saying what the rule checks.
    fn description(&self) -> &str;

    /// Analyzes the facts.
    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError>;
}

/// Why a rule produced no verdict.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The inputs lack facts the rule needs to decide.
    #[error("needs {}", list(.0))]
    Needs(Vec<Missing>),
    /// The context lacks facts the rule needs, said in prose (plugins built against an
    /// older interface).
    #[error("needs {0}")]
    MissingFacts(String),
    /// The run configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The rule failed.
    #[error("{0}")]
    Failed(String),
}

impl From<Missing> for RuleError {
    fn from(missing: Missing) -> RuleError {
        RuleError::Needs(vec![missing])
    }
}

/// Runs one rule on a context the way the engine does, with facts resolved from `catalog`
/// (for tests, benches and tools that call a rule directly).
pub fn run_rule(
    rule: &dyn OptimizationRule,
    context: &AnalysisContext,
    catalog: &dyn crate::device::AcceleratorCatalog,
) -> Result<Vec<OptimizationSuggestion>, RuleError> {
    let config = context.run_config()?;
    let facts = ResolvedFacts::resolve(context, &config, catalog);
    rule.analyze(&RuleInput {
        context,
        config: &config,
        facts: &facts,
    })
}

fn list(missing: &[Missing]) -> String {
    missing
        .iter()
        .map(Missing::field)
        .collect::<Vec<_>>()
        .join(", ")
}
