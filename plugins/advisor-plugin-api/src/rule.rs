//! The ABI-stable rule trait object a plugin hands out.

// `#[sabi_trait]` (abi_stable 0.11) emits its `impl`s inside a generated constant, which the
// `non_local_definitions` lint flags; the impls are abi_stable's, not ours.
#![allow(non_local_definitions)]

use abi_stable::{
    sabi_trait,
    std_types::{RBox, RResult, RStr, RString},
};

use crate::root::RuleFailure;

/// A rule exported by a plugin.
///
/// Implementations must not unwind out of any method; [`sdk::rule`](crate::sdk::rule)
/// wraps an [`advisor_core::OptimizationRule`] so that they do not.
#[sabi_trait]
pub trait PluginRule: Send + Sync {
    /// Stable id, unique across built-in and plugin rules (`continuous_batching`).
    fn id(&self) -> RString;
    /// A short human name.
    fn name(&self) -> RString;
    /// One line saying what the rule checks.
    fn description(&self) -> RString;
    /// The category's JSON name (`parallelization`).
    fn category(&self) -> RString;
    /// Analyzes an [`AnalysisRequest`](crate::AnalysisRequest) JSON document and returns an
    /// [`AnalysisResponse`](crate::AnalysisResponse) JSON document or why it could not.
    #[sabi(last_prefix_field)]
    fn analyze(&self, request: RStr<'_>) -> RResult<RString, RuleFailure>;
}

/// An owned, type-erased plugin rule.
pub type PluginRuleBox = PluginRule_TO<'static, RBox<()>>;
