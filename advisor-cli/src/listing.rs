//! The listing commands: `examples`, `rules`, `hardware`, `schema`.

use std::io::Write;

use advisor_core::{AnalysisContext, OptimizationAdvisor};
use advisor_rules_builtin::BuiltinRules;
use serde_json::json;

use crate::{ListFormat, examples::EXAMPLES};

fn print(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    print(&(serde_json::to_string_pretty(value)? + "\n"))
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
        ListFormat::Text => {
            let rules: Vec<_> = advisor.rules().collect();
            let id_width = rules.iter().map(|r| r.id().len()).max().unwrap_or(0);
            let category_width = rules
                .iter()
                .map(|r| r.category().as_str().len())
                .max()
                .unwrap_or(0);
            let mut out = String::new();
            for rule in rules {
                out.push_str(&format!(
                    "{:id_width$}  {:category_width$}  {}\n",
                    rule.id(),
                    rule.category().as_str(),
                    rule.description()
                ));
            }
            print(&out)
        }
    }
}

pub(crate) fn schema() -> anyhow::Result<()> {
    print(&(context_schema() + "\n"))
}

/// The JSON Schema of [`AnalysisContext`], as published in `docs/context.schema.json`.
pub(crate) fn context_schema() -> String {
    let schema = schemars::schema_for!(AnalysisContext);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

#[cfg(feature = "probe")]
pub(crate) fn hardware(format: ListFormat) -> anyhow::Result<()> {
    let detection = advisor_hw::detect();
    match format {
        ListFormat::Json => {
            let mut value = serde_json::to_value(&detection.info)?;
            if let Some(object) = value.as_object_mut() {
                object.insert(
                    "probes".to_owned(),
                    serde_json::to_value(&detection.probes)?,
                );
            }
            print_json(&value)
        }
        ListFormat::Text => {
            let info = &detection.info;
            let unknown = || "unknown".to_owned();
            let mut out = String::new();
            out.push_str(&format!(
                "CPU:     {}\n",
                info.cpu_model.clone().unwrap_or_else(unknown)
            ));
            out.push_str(&format!(
                "Cores:   {} physical, {} threads available\n",
                info.cpu_cores.map_or_else(unknown, |c| c.to_string()),
                info.cpu_threads.map_or_else(unknown, |c| c.to_string())
            ));
            out.push_str(&format!(
                "Memory:  {}\n",
                info.system_memory_mb
                    .map_or_else(unknown, |mb| format!("{:.1} GiB", mb as f64 / 1024.0))
            ));
            out.push_str(&format!(
                "SIMD:    {}\n",
                info.simd_capabilities
                    .as_ref()
                    .map_or_else(unknown, |simd| simd.join(" "))
            ));
            let gpu = match &info.gpu_model {
                Some(name) => {
                    let memory = info
                        .gpu_memory_mb
                        .map(|mb| format!(", {:.0} GiB", mb as f64 / 1024.0))
                        .unwrap_or_default();
                    format!("{name}{memory}")
                }
                None => "none found".to_owned(),
            };
            out.push_str(&format!("GPU:     {gpu}\n\nProbes:\n"));
            for probe in &detection.probes {
                let status = match &probe.status {
                    advisor_hw::ProbeStatus::Ok => "ok".to_owned(),
                    advisor_hw::ProbeStatus::Unavailable { reason } => {
                        format!("unavailable: {reason}")
                    }
                    _ => "other".to_owned(),
                };
                out.push_str(&format!(
                    "  {:12} {:>8.2} ms  {status}\n",
                    probe.name, probe.elapsed_ms
                ));
            }
            print(&out)
        }
    }
}

#[cfg(not(feature = "probe"))]
pub(crate) fn hardware(_: ListFormat) -> anyhow::Result<()> {
    Err(crate::input_error(
        "this build has no hardware probing (build with the `probe` feature)",
    ))
}
