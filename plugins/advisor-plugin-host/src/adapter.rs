//! A plugin rule seen as an ordinary [`OptimizationRule`]: the context goes out as a JSON
//! document, the answer comes back validated.

use std::path::Path;

use abi_stable::std_types::{RErr, ROk, RStr};
use advisor_core::{Category, OptimizationRule, OptimizationSuggestion, RuleError, RuleInput};
use advisor_plugin_api::{FailureKind, PluginRuleBox, sdk};

use crate::{
    limits::{MAX_LINE_CHARS, MAX_MESSAGE_CHARS, MAX_TEXT_CHARS},
    load::{check_rule_id, parse_category, shorten, text_field},
    validate,
};

/// A rule from a plugin library.
pub(crate) struct PluginRuleAdapter {
    id: String,
    description: String,
    category: Category,
    /// The library it came from, for messages.
    file: String,
    rule: PluginRuleBox,
}

impl PluginRuleAdapter {
    /// Reads and checks the rule's metadata.
    pub(crate) fn new(rule: PluginRuleBox, file: &Path) -> Result<PluginRuleAdapter, String> {
        let id = rule.id().into_string();
        check_rule_id(&id)?;
        text_field("name", rule.name().as_str(), MAX_LINE_CHARS)?;
        let description = text_field("description", rule.description().as_str(), MAX_TEXT_CHARS)?;
        let category = parse_category(rule.category().as_str())?;
        Ok(PluginRuleAdapter {
            id,
            description,
            category,
            file: file.display().to_string(),
            rule,
        })
    }
}

impl OptimizationRule for PluginRuleAdapter {
    fn id(&self) -> &str {
        &self.id
    }

    fn category(&self) -> Category {
        self.category
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let request = sdk::request_json(input.context, input.facts).map_err(|error| {
            RuleError::Failed(format!("the context could not be serialized: {error}"))
        })?;
        match self.rule.analyze(RStr::from_str(&request)) {
            ROk(response) => validate::response(&self.id, response.as_str()).map_err(|problem| {
                RuleError::Failed(format!("plugin {}: output refused: {problem}", self.file))
            }),
            RErr(failure) => {
                let message = shorten(failure.message.as_str(), MAX_MESSAGE_CHARS);
                Err(match failure.kind {
                    FailureKind::MISSING_FACTS => {
                        match serde_json::from_str::<Vec<advisor_core::Missing>>(
                            failure.message.as_str(),
                        ) {
                            Ok(missing) if !missing.is_empty() && missing.len() <= 32 => {
                                RuleError::Needs(missing)
                            }
                            _ => RuleError::MissingFacts(message),
                        }
                    }
                    FailureKind::PANICKED => {
                        RuleError::Failed(format!("plugin {}: panicked: {message}", self.file))
                    }
                    _ => RuleError::Failed(format!("plugin {}: {message}", self.file)),
                })
            }
        }
    }
}
