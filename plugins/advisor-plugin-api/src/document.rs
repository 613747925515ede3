//! The versioned JSON documents that carry a context into a plugin rule and suggestions out.

use advisor_core::{AnalysisContext, OptimizationSuggestion};
use serde::{Deserialize, Serialize};

/// Version of the request and response documents. Bumped only when a change is not
/// additive; a rule refuses a request with another version.
pub const CONTEXT_DOCUMENT_VERSION: u32 = 1;

/// What the host sends a plugin rule: the analysis context as documented in
/// `docs/context.md`, inside a versioned envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisRequest {
    /// [`CONTEXT_DOCUMENT_VERSION`] of the host.
    pub document_version: u32,
    /// The facts.
    pub context: AnalysisContext,
}

/// What a plugin rule returns: zero or more suggestions in the report's JSON shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisResponse {
    /// [`CONTEXT_DOCUMENT_VERSION`] the plugin was built with.
    pub document_version: u32,
    /// The suggestions, possibly none.
    pub suggestions: Vec<OptimizationSuggestion>,
}
