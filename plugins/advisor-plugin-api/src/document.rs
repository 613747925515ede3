//! The versioned JSON documents that carry a context into a plugin rule and suggestions out.

use advisor_core::{AnalysisContext, OptimizationSuggestion, ResolvedFacts};
use serde::{Deserialize, Serialize};

/// Version of the request and response documents. Bumped only when a change is not
/// additive; a rule refuses a request with another version. Version 2 added the host's
/// resolved facts, so a plugin computes with the host's accelerator table and defaults.
pub const CONTEXT_DOCUMENT_VERSION: u32 = 2;

/// What the host sends a plugin rule: the analysis context as documented in
/// `docs/context.md` and the facts the host resolved from it, inside a versioned envelope.
/// Unknown fields from a newer host are ignored (additive changes keep the version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisRequest {
    /// [`CONTEXT_DOCUMENT_VERSION`] of the host.
    pub document_version: u32,
    /// The context as the user gave it.
    pub context: AnalysisContext,
    /// The host's resolved facts (its accelerator table, its defaults, their sources).
    pub facts: ResolvedFacts,
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
