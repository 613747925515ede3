//! The ABI-stable interface that third-party advisor rule plugins are built against.
//!
//! A plugin is a `cdylib` that exports one root module, [`AdvisorPlugin`] (a prefix type:
//! items are only ever appended after the version-1 boundary, so a host can load plugins
//! built against an older interface). The root module says which plugin API it was built
//! for ([`PLUGIN_API_VERSION`]), which optional host features it needs
//! ([`HOST_FEATURES`]), its name and version, and hands out its rules as [`PluginRuleBox`]
//! trait objects: id, name, description, category and `analyze`.
//!
//! # How the context crosses the boundary
//!
//! As a versioned JSON document, not as FFI-safe mirror types. `AnalysisContext` and
//! `OptimizationSuggestion` already have a documented, schema-checked JSON shape
//! (`docs/context.md`, `docs/context.schema.json`) that is public API and changes slowly;
//! mirroring every nested type (graphs, profiles, string maps, enums that grow) as
//! `#[repr(C)]` types would freeze their layout, double the maintenance and tie plugins
//! to one `advisor-core` build. A JSON document costs a serialization per call (measured
//! by the host's `plugin_call` bench), survives additive changes on either side
//! (`document_version` says when it does not), and is untrusted input the host can
//! validate field by field. The envelope is [`AnalysisRequest`] in and
//! [`AnalysisResponse`] out, both carrying [`CONTEXT_DOCUMENT_VERSION`].
//!
//! # Writing a plugin
//!
//! Implement [`advisor_core::OptimizationRule`] and export it with [`export_plugin!`],
//! which wraps every call in `catch_unwind`: a panic never crosses the boundary (abi_stable
//! aborts the process when one does), it comes back as a [`RuleFailure`] instead.
//!
//! ```
//! use advisor_core::{
//!     RuleInput, AnalysisContext, Category, Difficulty, Impact, OptimizationRule, OptimizationSuggestion,
//!     RuleError,
//! };
//! use advisor_plugin_api::{sdk, FailureKind};
//!
//! struct AlwaysSilent;
//!
//! impl OptimizationRule for AlwaysSilent {
//!     fn id(&self) -> &str { "always_silent" }
//!     fn category(&self) -> Category { Category::Compute }
//!     fn description(&self) -> &str { "never fires" }
//!     fn analyze(&self, _: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
//!         Err(RuleError::MissingFacts("nothing it could use".into()))
//!     }
//! }
//!
//! // In a plugin crate: `advisor_plugin_api::export_plugin! { name: "mine",
//! // version: env!("CARGO_PKG_VERSION"), rules: ["Always silent" => AlwaysSilent] }`.
//! // Here we call the trait object the host would see, without loading a library.
//! let rule = sdk::rule("Always silent", AlwaysSilent);
//! assert_eq!(rule.id().as_str(), "always_silent");
//! let context = AnalysisContext::default();
//! let facts = advisor_core::OptimizationAdvisor::empty().resolve(&context).unwrap();
//! let request = sdk::request_json(&context, &facts).unwrap();
//! let failure = rule.analyze(request.as_str().into()).unwrap_err();
//! assert_eq!(failure.kind, FailureKind::MISSING_FACTS);
//! assert_eq!(failure.message.as_str(), "nothing it could use");
//! ```

// abi_stable's derives and `#[sabi_trait]` emit `unsafe impl`s for the layout traits; that is
// the whole point of the crate, and no hand-written unsafe code lives here.
#![allow(unsafe_code)]

mod document;
mod root;
mod rule;
pub mod sdk;

pub use crate::{
    document::{AnalysisRequest, AnalysisResponse, CONTEXT_DOCUMENT_VERSION},
    root::{
        AdvisorPlugin, AdvisorPluginRef, FailureKind, HOST_FEATURES, PLUGIN_API_VERSION,
        RuleFailure, RuleListResult,
    },
    rule::{PluginRule, PluginRule_TO, PluginRuleBox},
};

/// abi_stable, re-exported so plugin code names the same version the interface uses.
pub use abi_stable;
