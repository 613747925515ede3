//! A plugin built to fail: its root module says it was built for plugin API 2, which this
//! host does not speak. The host refuses it, naming the file and both versions, before it
//! calls any of its functions.

use advisor_plugin_api::{
    AdvisorPlugin, AdvisorPluginRef, RuleListResult,
    abi_stable::std_types::{RErr, RSlice, RStr, RString},
    sdk,
};

extern "C" fn rules() -> RuleListResult {
    RErr(RString::from(
        "a host that speaks plugin API 1 must never call this",
    ))
}

/// The root module, filled by hand with the wrong API version.
#[abi_stable::export_root_module]
fn advisor_plugin_root_module() -> AdvisorPluginRef {
    sdk::leak_root_module(AdvisorPlugin {
        api_version: 2,
        required_features: RSlice::from_slice(sdk::REQUIRED_FEATURES),
        plugin_name: RStr::from_str("advisor-plugin-fail-version"),
        plugin_version: RStr::from_str(env!("CARGO_PKG_VERSION")),
        rules,
    })
}
