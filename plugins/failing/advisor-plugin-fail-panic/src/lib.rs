//! A plugin built to fail: its rule `fail_panic` panics. The SDK catches the panic inside
//! the plugin, so the host reports it as a diagnostic and every other rule still runs.

use advisor_core::{Category, OptimizationRule, OptimizationSuggestion, RuleError, RuleInput};

struct Panics;

impl OptimizationRule for Panics {
    fn id(&self) -> &str {
        "fail_panic"
    }

    fn category(&self) -> Category {
        Category::Compute
    }

    fn description(&self) -> &str {
        "panics on every call"
    }

    fn analyze(&self, _: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        panic!("deliberate panic in fail_panic")
    }
}

advisor_plugin_api::export_plugin! {
    name: "advisor-plugin-fail-panic",
    version: env!("CARGO_PKG_VERSION"),
    rules: ["Panics" => Panics],
}
