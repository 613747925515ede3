//! A plugin built to fail: its rules return what the host must refuse. It implements the
//! ABI-stable rule trait by hand, writing raw JSON the SDK would never produce:
//!
//! - `fail_output_range`: an expected improvement of 150 %;
//! - `fail_output_non_finite`: a reduction of `1e999`, which is not a finite number;
//! - `fail_output_oversized`: a 100 000-character title;
//! - `fail_output_foreign_id`: a suggestion posing as the built-in `kv_cache`;
//! - `kv_cache`: a rule id that clashes with a built-in rule;
//! - `fail_output_ok`: a valid suggestion, to show the plugin's good rules still run.

use advisor_plugin_api::{
    AdvisorPluginRef, PluginRule, PluginRuleBox, RuleFailure, RuleListResult,
    abi_stable::{
        sabi_trait::TD_Opaque,
        std_types::{ROk, RResult, RStr, RString, RVec},
    },
    sdk,
};

struct RawRule {
    id: &'static str,
    response: String,
}

impl PluginRule for RawRule {
    fn id(&self) -> RString {
        RString::from(self.id)
    }

    fn name(&self) -> RString {
        RString::from(self.id)
    }

    fn description(&self) -> RString {
        RString::from("returns output the host must refuse")
    }

    fn category(&self) -> RString {
        RString::from("compute")
    }

    fn analyze(&self, _: RStr<'_>) -> RResult<RString, RuleFailure> {
        ROk(RString::from(self.response.as_str()))
    }
}

fn suggestion(id: &str, title: &str, reduction: &str) -> String {
    format!(
        r#"{{"document_version":1,"suggestions":[{{"id":"{id}","category":"compute","impact":"low","difficulty":"easy","title":"{title}","description":"d","expected_improvement":[{{"metric":"latency","min_reduction":{reduction},"max_reduction":{reduction},"basis":"b"}}]}}]}}"#
    )
}

fn raw(id: &'static str, response: String) -> PluginRuleBox {
    PluginRuleBox::from_value(RawRule { id, response }, TD_Opaque)
}

extern "C" fn rules() -> RuleListResult {
    ROk(RVec::from(vec![
        raw(
            "fail_output_range",
            suggestion("fail_output_range", "t", "1.5"),
        ),
        raw(
            "fail_output_non_finite",
            suggestion("fail_output_non_finite", "t", "1e999"),
        ),
        raw(
            "fail_output_oversized",
            suggestion("fail_output_oversized", &"x".repeat(100_000), "0.1"),
        ),
        raw("fail_output_foreign_id", suggestion("kv_cache", "t", "0.1")),
        raw("kv_cache", suggestion("kv_cache", "t", "0.1")),
        raw(
            "fail_output_ok",
            suggestion("fail_output_ok", "fine", "0.1"),
        ),
    ]))
}

/// The root module.
#[abi_stable::export_root_module]
fn advisor_plugin_root_module() -> AdvisorPluginRef {
    sdk::root_module(
        "advisor-plugin-fail-output",
        env!("CARGO_PKG_VERSION"),
        rules,
    )
}
