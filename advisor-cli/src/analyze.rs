//! `advisor analyze`: gather the context, run the rules, render the report.

use std::path::{Path, PathBuf};

use advisor_core::{
    AnalysisContext, Diagnostic, DiagnosticSeverity, HardwareInfo, OptimizationAdvisor,
};
use advisor_report::RenderReport;
use advisor_rules_builtin::BuiltinRules;
use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::{examples, input, input_error};

#[derive(Args)]
pub(crate) struct AnalyzeArgs {
    /// An analysis context JSON file (model, profile, metrics, hardware, config).
    #[arg(long, value_name = "FILE")]
    context: Option<PathBuf>,
    /// A model file: a Hugging Face config.json or the advisor's graph JSON.
    #[arg(long, value_name = "FILE", conflicts_with = "example")]
    model: Option<PathBuf>,
    /// An embedded example model (`advisor examples` lists them).
    #[arg(long, value_name = "NAME")]
    example: Option<String>,
    /// Hardware: `detect`, a deployment target (`nvidia-a100-80gb`) or a hardware JSON file.
    #[arg(long, value_name = "detect|TARGET|FILE")]
    hardware: Option<String>,
    /// Sets a run-configuration key (repeatable): `--set batch_size=8`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Disables a rule by id (repeatable).
    #[arg(long, value_name = "RULE")]
    disable: Vec<String>,
    /// Output format: Markdown for the terminal, JSON for machines, HTML for a browser.
    #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
    format: ReportFormat,
    /// Writes the report to a file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    Markdown,
    Json,
    Html,
}

pub(crate) fn run(args: AnalyzeArgs) -> anyhow::Result<()> {
    let (context, mut notes) = build_context(&args)?;
    let mut advisor = OptimizationAdvisor::new();
    for id in &args.disable {
        if !advisor.disable(id) {
            return Err(input_error(format!(
                "--disable {id}: no rule with that id (`advisor rules` lists them)"
            )));
        }
    }
    let mut report = advisor.analyze(&context).map_err(|error| {
        let origin = args
            .context
            .as_ref()
            .map(|path| format!("{}: ", path.display()))
            .unwrap_or_default();
        input_error(format!("{origin}{error}"))
    })?;
    report.diagnostics.append(&mut notes);
    let rendered = match args.format {
        ReportFormat::Markdown => report.to_markdown() + "\n",
        ReportFormat::Json => report.to_json() + "\n",
        ReportFormat::Html => report.to_html(),
    };
    match &args.output {
        Some(path) => std::fs::write(path, rendered)
            .with_context(|| format!("writing the report to {}", path.display())),
        None => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(rendered.as_bytes())?;
            stdout.flush()?;
            Ok(())
        }
    }
}

/// Builds the context from the flags; returns it with diagnostics about the inputs.
fn build_context(args: &AnalyzeArgs) -> anyhow::Result<(AnalysisContext, Vec<Diagnostic>)> {
    let mut notes = Vec::new();
    let mut context = match &args.context {
        Some(path) => {
            let text = input::read_text(path)?;
            AnalysisContext::from_json_str(&text)
                .map_err(|error| input_error(format!("{}: {error}", path.display())))?
        }
        None => AnalysisContext::default(),
    };
    if let Some(name) = &args.example {
        let example = examples::find(name).ok_or_else(|| {
            let names: Vec<&str> = examples::EXAMPLES.iter().map(|e| e.name).collect();
            input_error(format!(
                "--example {name}: no such example; available: {}",
                names.join(", ")
            ))
        })?;
        let mut graph = advisor_graph::from_hf_config_str(example.config_json, example.name)
            .map_err(|error| anyhow::anyhow!("embedded example {}: {error}", example.name))?;
        graph.name = Some(example.model_id.to_owned());
        context.model_graph = Some(graph);
        for (key, value) in example.scenario {
            context
                .current_config
                .entry((*key).to_owned())
                .or_insert_with(|| (*value).to_owned());
        }
    }
    if let Some(path) = &args.model {
        let bytes = input::read_file(path)?;
        let source = path.display().to_string();
        let imported = advisor_graph::import_bytes(&bytes, &source)
            .map_err(|error| input_error(error.to_string()))?;
        let mut graph = imported.graph;
        if graph.name.is_none() {
            graph.name = Some(model_name(path));
        }
        for warning in imported.warnings {
            notes.push(Diagnostic {
                severity: DiagnosticSeverity::Warning,
                source: "model".to_owned(),
                message: format!("{source}: {warning}"),
            });
        }
        context.model_graph = Some(graph);
    }
    match args.hardware.as_deref() {
        Some(spec) => context.hardware_info = Some(resolve_hardware(spec)?),
        None if context.hardware_info.is_none() => context.hardware_info = Some(detect()),
        None => {}
    }
    for assignment in &args.set {
        let (key, value) = assignment
            .split_once('=')
            .ok_or_else(|| input_error(format!("--set {assignment}: expected KEY=VALUE")))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(input_error(format!("--set {assignment}: the key is empty")));
        }
        context
            .current_config
            .insert(key.to_owned(), value.trim().to_owned());
    }
    Ok((context, notes))
}

/// A model's display name from its path: the folder for `config.json`, else the file stem.
fn model_name(path: &Path) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    if stem == "config"
        && let Some(folder) = path
            .canonicalize()
            .ok()
            .as_deref()
            .and_then(Path::parent)
            .and_then(Path::file_name)
            .and_then(|name| name.to_str())
    {
        return folder.to_owned();
    }
    stem.to_owned()
}

fn resolve_hardware(spec: &str) -> anyhow::Result<HardwareInfo> {
    if spec == "detect" {
        return Ok(detect());
    }
    let path = Path::new(spec);
    let looks_like_path = spec.contains(std::path::MAIN_SEPARATOR) || spec.ends_with(".json");
    if path.exists() || looks_like_path {
        let text = input::read_text(path)?;
        return HardwareInfo::from_json_str(&text)
            .map_err(|error| input_error(format!("{}: {error}", path.display())));
    }
    advisor_hw::resolve_target(spec)
        .map_err(|error| input_error(format!("--hardware {spec}: {error}")))
}

#[cfg(feature = "probe")]
fn detect() -> HardwareInfo {
    advisor_hw::detect().info
}

#[cfg(not(feature = "probe"))]
fn detect() -> HardwareInfo {
    HardwareInfo::default()
}
