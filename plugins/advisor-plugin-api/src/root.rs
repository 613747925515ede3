//! The root module every plugin exports and the ABI-stable rule trait object.

use crate::rule::PluginRuleBox;
use abi_stable::{
    StableAbi, declare_root_module_statics,
    library::RootModule,
    package_version_strings,
    sabi_types::VersionStrings,
    std_types::{RResult, RSlice, RStr, RString, RVec},
};

/// The plugin API this interface defines. A host refuses a plugin built for another one,
/// naming the file and both versions. Bumped only for changes that the prefix-type
/// evolution rules cannot absorb.
pub const PLUGIN_API_VERSION: u32 = 1;

/// Optional features a host of this interface provides. A plugin lists the ones it needs in
/// [`AdvisorPlugin::required_features`]; a host that lacks one refuses the plugin.
///
/// - `context-json-v1`: rules receive [`AnalysisRequest`](crate::AnalysisRequest) documents
///   with `document_version` 2 (the context and the host's resolved facts).
pub const HOST_FEATURES: &[&str] = &["context-json-v1"];

/// What a plugin's rule-list function returns: its rules, or why it could not make them.
pub type RuleListResult = RResult<RVec<PluginRuleBox>, RString>;

/// The root module of a plugin library.
///
/// A prefix type: fields up to and including the one marked `last_prefix_field` are the
/// version-1 boundary and are always present; fields added later are appended after it and
/// read as `Option`s, so a newer host still loads an older plugin.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = AdvisorPluginRef)))]
#[sabi(missing_field(option))]
pub struct AdvisorPlugin {
    /// The [`PLUGIN_API_VERSION`] the plugin was built for; the host checks it before
    /// calling anything else.
    pub api_version: u32,
    /// Host features the plugin needs (see [`HOST_FEATURES`]).
    pub required_features: RSlice<'static, RStr<'static>>,
    /// The plugin's name, for listings and diagnostics.
    pub plugin_name: RStr<'static>,
    /// The plugin's own version.
    pub plugin_version: RStr<'static>,
    /// Makes the plugin's rules. Must not unwind: [`sdk::export_rules`](crate::sdk::export_rules)
    /// turns a panic into an error.
    #[sabi(last_prefix_field)]
    pub rules: extern "C" fn() -> RuleListResult,
}

impl RootModule for AdvisorPluginRef {
    declare_root_module_statics! {AdvisorPluginRef}
    const BASE_NAME: &'static str = "advisor_plugin";
    const NAME: &'static str = "advisor_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// Why a plugin rule produced no suggestions; the ABI-stable image of
/// [`advisor_core::RuleError`] plus panics.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct RuleFailure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// A sentence for the user, lowercase, without a trailing period.
    pub message: RString,
}

/// Kind of a [`RuleFailure`]: a code rather than an enum so kinds can be added without
/// changing the layout; a host treats codes it does not know as [`FailureKind::FAILED`].
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureKind(pub u8);

impl FailureKind {
    /// The context lacks facts the rule needs; the message says which.
    pub const MISSING_FACTS: FailureKind = FailureKind(0);
    /// The rule failed.
    pub const FAILED: FailureKind = FailureKind(1);
    /// The rule panicked; the panic was caught inside the plugin.
    pub const PANICKED: FailureKind = FailureKind(2);
    /// The request document could not be read (wrong version or shape).
    pub const BAD_REQUEST: FailureKind = FailureKind(3);
    /// The run configuration is invalid.
    pub const INVALID_CONFIG: FailureKind = FailureKind(4);
}
