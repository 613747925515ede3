//! The listing commands: `examples`, `rules`, `schema` (`hardware` is in `hardware.rs`).

use std::io::Write;

use advisor_core::OptimizationAdvisor;
use advisor_rules_builtin::BuiltinRules;
use serde_json::json;

use crate::{ListFormat, examples::EXAMPLES};

pub(crate) fn print(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Pretty JSON, with the terminal controls serde_json leaves raw written as `\u` escapes.
pub(crate) fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(value)?;
    print(&(advisor_report::escape_json_controls(&json) + "\n"))
}

pub(crate) fn examples(format: ListFormat) -> anyhow::Result<()> {
    match format {
        ListFormat::Json => print_json(&json!(EXAMPLES
            .iter()
            .map(|example| json!({
                "name": example.name,
                "model_id": example.model_id,
                "description": example.description,
                "scenario": example.scenario.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            }))
            .collect::<Vec<_>>())),
        ListFormat::Text => {
            let width = EXAMPLES.iter().map(|e| e.name.len()).max().unwrap_or(0);
            let mut out = String::new();
            for example in EXAMPLES {
                let scenario: Vec<String> =
                    example.scenario.iter().map(|(k, v)| format!("{k}={v}")).collect();
                out.push_str(&format!(
                    "{:width$}  {} ({})\n{:width$}  scenario: {}\n",
                    example.name,
                    example.description,
                    example.model_id,
                    "",
                    scenario.join(" ")
                ));
            }
            out.push_str("\nRun one: advisor analyze --example NAME [--set KEY=VALUE]... [--hardware TARGET]\n");
            print(&out)
        }
    }
}

pub(crate) fn rules(format: ListFormat) -> anyhow::Result<()> {
    let advisor = OptimizationAdvisor::new();
    match format {
        ListFormat::Json => print_json(&json!(
            advisor
                .rules()
                .map(|rule| json!({
                    "id": rule.id(),
                    "category": rule.category().as_str(),
                    "description": rule.description(),
                }))
                .collect::<Vec<_>>()
        )),
        // By category, in the guide's order, then by id.
        ListFormat::Text => {
            let rules: Vec<_> = advisor.rules().collect();
            let id_width = rules.iter().map(|r| r.id().len()).max().unwrap_or(0);
            let mut out = String::new();
            for category in advisor_core::Category::ALL {
                let mut of: Vec<_> = rules.iter().filter(|r| r.category() == category).collect();
                if of.is_empty() {
                    continue;
                }
                of.sort_by_key(|r| r.id());
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(&format!("{} ({})\n", category.as_str(), of.len()));
                for rule in of {
                    out.push_str(&format!(
                        "  {:id_width$}  {}\n",
                        rule.id(),
                        rule.description()
                    ));
                }
            }
            print(&out)
        }
    }
}

pub(crate) fn schema(name: &str) -> anyhow::Result<()> {
    let schema = crate::output::schema(name).ok_or_else(|| {
        crate::input_error(format!(
            "schema {name}: no such schema{}; available: {}",
            crate::suggest::hint(name, crate::output::SCHEMAS.iter().copied()),
            crate::output::SCHEMAS.join(", ")
        ))
    })?;
    print(&(schema + "\n"))
}
