//! The rule interface.

use crate::{
    config::ConfigError,
    context::AnalysisContext,
    suggestion::{Category, OptimizationSuggestion},
};

/// A rule reads the facts in a context and recommends zero or more changes.
///
/// Rules read facts only: they never probe hardware or touch files. A rule that lacks the
/// facts to decide returns [`RuleError::MissingFacts`], which the report lists so the user
/// knows what to provide; it never guesses.
pub trait OptimizationRule: Send + Sync {
    /// Stable id, public API (`kv_cache`).
    fn id(&self) -> &str;

    /// The category its suggestions fall in.
    fn category(&self) -> Category;

    /// One line saying what the rule checks.
    fn description(&self) -> &str;

    /// Analyzes the context.
    fn analyze(&self, context: &AnalysisContext) -> Result<Vec<OptimizationSuggestion>, RuleError>;
}

/// Why a rule produced no verdict.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The context lacks facts the rule needs to decide.
    #[error("needs {0}")]
    MissingFacts(String),
    /// The run configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The rule failed.
    #[error("{0}")]
    Failed(String),
}
