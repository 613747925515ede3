//! What plugin authors call: [`export_plugin!`](crate::export_plugin) and the functions it
//! expands to. Every entry point runs under `catch_unwind`, so a panic in plugin code comes
//! back to the host as an error value and never unwinds across the boundary.

use std::panic::{AssertUnwindSafe, catch_unwind};

use abi_stable::{
    prefix_type::PrefixTypeTrait,
    sabi_trait::TD_Opaque,
    std_types::{RErr, ROk, RResult, RSlice, RStr, RString, RVec},
};
use advisor_core::{AnalysisContext, OptimizationRule, ResolvedFacts, RuleError, RuleInput};

use crate::{
    AdvisorPlugin, AdvisorPluginRef, AnalysisRequest, AnalysisResponse, CONTEXT_DOCUMENT_VERSION,
    FailureKind, PLUGIN_API_VERSION, PluginRule, PluginRuleBox, RuleFailure, RuleListResult,
};

/// The host features a plugin made with this SDK needs.
pub const REQUIRED_FEATURES: &[RStr<'static>] = &[RStr::from_str("context-json-v1")];

/// Builds the root module of a plugin: the current [`PLUGIN_API_VERSION`], the features
/// this SDK needs, the plugin's name and version, and its rule-list function (write it
/// with [`export_rules`]).
pub fn root_module(
    plugin_name: &'static str,
    plugin_version: &'static str,
    rules: extern "C" fn() -> RuleListResult,
) -> AdvisorPluginRef {
    AdvisorPlugin {
        api_version: PLUGIN_API_VERSION,
        required_features: RSlice::from_slice(REQUIRED_FEATURES),
        plugin_name: RStr::from_str(plugin_name),
        plugin_version: RStr::from_str(plugin_version),
        rules,
    }
    .leak_into_prefix()
}

/// Leaks a hand-built root module into the form the loader expects. For plugins that fill
/// [`AdvisorPlugin`] themselves instead of using [`root_module`].
pub fn leak_root_module(module: AdvisorPlugin) -> AdvisorPluginRef {
    module.leak_into_prefix()
}

/// Replaces the panic hook of the plugin's own copy of the standard library with a silent one.
///
/// A plugin library links its own standard library, whose default hook would print every
/// panic in plugin code to the host's stderr, although `catch_unwind` already turns it into
/// an error carrying the message. `export_plugin!` calls this when the host loads the root
/// module; call it yourself if you build the root module by hand. Never call it in a host or
/// test process: it would silence that process's own panics.
pub fn silence_panic_output() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

/// Runs a plugin's rule constructor, turning a panic into an error.
pub fn export_rules(make: impl FnOnce() -> Vec<PluginRuleBox>) -> RuleListResult {
    match catch_unwind(AssertUnwindSafe(make)) {
        Ok(rules) => ROk(RVec::from(rules)),
        Err(payload) => RErr(RString::from(format!(
            "making the rules panicked: {}",
            panic_message(payload.as_ref())
        ))),
    }
}

/// Wraps an [`OptimizationRule`] as an ABI-stable [`PluginRuleBox`] with a human name.
pub fn rule<R: OptimizationRule + 'static>(name: &str, rule: R) -> PluginRuleBox {
    let exported = ExportedRule {
        id: RString::from(rule.id()),
        name: RString::from(name),
        description: RString::from(rule.description()),
        category: RString::from(rule.category().as_str()),
        rule,
    };
    PluginRuleBox::from_value(exported, TD_Opaque)
}

/// Serializes a context into the request document a plugin rule expects. The host does
/// this; it is public so tests and benches can call a rule the same way.
pub fn request_json(
    context: &AnalysisContext,
    facts: &ResolvedFacts,
) -> Result<String, serde_json::Error> {
    #[derive(serde::Serialize)]
    struct Borrowed<'a> {
        document_version: u32,
        context: &'a AnalysisContext,
        facts: &'a ResolvedFacts,
    }
    serde_json::to_string(&Borrowed {
        document_version: CONTEXT_DOCUMENT_VERSION,
        context,
        facts,
    })
}

/// Runs a rule on a request document: parses it, analyzes and serializes the response, all
/// under `catch_unwind`.
pub fn analyze_json(rule: &dyn OptimizationRule, request: &str) -> RResult<RString, RuleFailure> {
    let outcome = catch_unwind(AssertUnwindSafe(|| analyze_unguarded(rule, request)));
    match outcome {
        Ok(Ok(response)) => ROk(RString::from(response)),
        Ok(Err(failure)) => RErr(failure),
        Err(payload) => RErr(failure(
            FailureKind::PANICKED,
            panic_message(payload.as_ref()),
        )),
    }
}

fn analyze_unguarded(rule: &dyn OptimizationRule, request: &str) -> Result<String, RuleFailure> {
    let request: AnalysisRequest = serde_json::from_str(request).map_err(|error| {
        failure(
            FailureKind::BAD_REQUEST,
            format!("the request document could not be read: {error}"),
        )
    })?;
    if request.document_version != CONTEXT_DOCUMENT_VERSION {
        return Err(failure(
            FailureKind::BAD_REQUEST,
            format!(
                "the request is context document version {}, the plugin reads version {CONTEXT_DOCUMENT_VERSION}",
                request.document_version
            ),
        ));
    }
    let config = request
        .context
        .run_config()
        .map_err(|error| failure(FailureKind::INVALID_CONFIG, error.to_string()))?;
    let input = RuleInput {
        context: &request.context,
        config: &config,
        facts: &request.facts,
    };
    let suggestions = rule.analyze(&input).map_err(|error| match error {
        RuleError::MissingFacts(needs) => failure(FailureKind::MISSING_FACTS, needs),
        // Typed missing facts cross as their JSON, so the host can group them.
        RuleError::Needs(missing) => failure(
            FailureKind::MISSING_FACTS,
            serde_json::to_string(&missing)
                .unwrap_or_else(|_| RuleError::Needs(missing.clone()).to_string()),
        ),
        RuleError::Config(error) => failure(FailureKind::INVALID_CONFIG, error.to_string()),
        other => failure(FailureKind::FAILED, other.to_string()),
    })?;
    serde_json::to_string(&AnalysisResponse {
        document_version: CONTEXT_DOCUMENT_VERSION,
        suggestions,
    })
    .map_err(|error| {
        failure(
            FailureKind::FAILED,
            format!("the suggestions could not be serialized: {error}"),
        )
    })
}

fn failure(kind: FailureKind, message: impl Into<String>) -> RuleFailure {
    RuleFailure {
        kind,
        message: RString::from(message.into()),
    }
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

/// An [`OptimizationRule`] behind the ABI-stable trait. Its strings are computed once, when
/// the rule is made (under [`export_rules`]'s `catch_unwind`), so the accessors cannot panic.
struct ExportedRule<R> {
    id: RString,
    name: RString,
    description: RString,
    category: RString,
    rule: R,
}

impl<R: OptimizationRule> PluginRule for ExportedRule<R> {
    fn id(&self) -> RString {
        self.id.clone()
    }

    fn name(&self) -> RString {
        self.name.clone()
    }

    fn description(&self) -> RString {
        self.description.clone()
    }

    fn category(&self) -> RString {
        self.category.clone()
    }

    fn analyze(&self, request: RStr<'_>) -> RResult<RString, RuleFailure> {
        analyze_json(&self.rule, request.as_str())
    }
}

/// Exports a plugin's root module from a `cdylib` crate.
///
/// The plugin crate depends on `advisor-plugin-api`, `advisor-core` and `abi_stable`
/// (abi_stable's `export_root_module` attribute names `::abi_stable` in its expansion).
///
/// ```
/// use advisor_core::{
///     Category, OptimizationRule, OptimizationSuggestion, RuleError, RuleInput,
/// };
///
/// struct Quiet;
///
/// impl OptimizationRule for Quiet {
///     fn id(&self) -> &str { "quiet" }
///     fn category(&self) -> Category { Category::Compute }
///     fn description(&self) -> &str { "never fires" }
///     fn analyze(&self, _: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
///         Ok(Vec::new())
///     }
/// }
///
/// advisor_plugin_api::export_plugin! {
///     name: "quiet-plugin",
///     version: "1.0.0",
///     rules: ["Quiet" => Quiet],
/// }
/// # fn main() {}
/// ```
///
/// Each rule expression is evaluated inside `catch_unwind` when the host asks for the
/// rules, and each `analyze` call runs under `catch_unwind` too.
#[macro_export]
macro_rules! export_plugin {
    (
        name: $name:expr,
        version: $version:expr,
        rules: [ $( $rule_name:expr => $rule:expr ),* $(,)? ] $(,)?
    ) => {
        /// The plugin's root module, read by the advisor's plugin host.
        #[::abi_stable::export_root_module]
        fn advisor_plugin_root_module() -> $crate::AdvisorPluginRef {
            $crate::sdk::silence_panic_output();
            extern "C" fn rules() -> $crate::RuleListResult {
                $crate::sdk::export_rules(|| {
                    ::std::vec![ $( $crate::sdk::rule($rule_name, $rule) ),* ]
                })
            }
            $crate::sdk::root_module($name, $version, rules)
        }
    };
}
