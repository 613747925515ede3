//! `advisor analyze`: gather the context, run the rules, render the report.

use std::path::{Path, PathBuf};

use advisor::{BuiltContext, ContextBuilder};
use advisor_core::HardwareInfo;
use advisor_report::RenderReport;
use clap::{Args, ValueEnum};

use crate::{examples, input, input_error};

#[derive(Args)]
pub(crate) struct AnalyzeArgs {
    /// An analysis context JSON file (model, profile, metrics, hardware, config).
    #[arg(long, value_name = "FILE")]
    context: Option<PathBuf>,
    /// A model file: ONNX, safetensors (or its index), a Hugging Face config.json or the
    /// advisor's graph JSON.
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
    /// A PyTorch profiler (Kineto) trace, `.json` or `.json.gz` (or a `tensorboard_trace_handler`
    /// folder: its newest trace): adds its facts to the profile and, when nothing else gives
    /// hardware, the GPUs from its `deviceProperties`.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Disables a rule by id (repeatable).
    #[arg(long, value_name = "RULE")]
    disable: Vec<String>,
    /// Loads rule plugins from a folder; default `$ADVISOR_PLUGIN_DIR`. Plugins that cannot
    /// be loaded are reported in the diagnostics.
    #[arg(long, value_name = "DIR")]
    plugins: Option<PathBuf>,
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
    let built = build_context(&args)?;
    let mut advisor = advisor::OptimizationAdvisor::new();
    let mut notes = Vec::new();
    if let Some(dir) = crate::plugins::plugin_dir(args.plugins.as_deref()) {
        notes.extend(crate::plugins::load(&mut advisor, &dir)?.diagnostics());
    }
    for id in &args.disable {
        if !advisor.disable(id) {
            let ids: Vec<String> = advisor.rules().map(|r| r.id().to_owned()).collect();
            return Err(input_error(format!(
                "--disable {id}: no rule with that id{} (`advisor rules` lists them)",
                crate::suggest::hint(id, ids.iter().map(String::as_str))
            )));
        }
    }
    let mut report = built.analyze(&advisor).map_err(|error| {
        let origin = args
            .context
            .as_ref()
            .map(|path| format!("{}: ", path.display()))
            .unwrap_or_default();
        input_error(format!("{origin}{error}"))
    })?;
    report.diagnostics.append(&mut notes);
    // Warnings about the input, where the user looks first: before the report, on stderr
    // (the report keeps them too).
    for diagnostic in &report.diagnostics {
        if diagnostic.severity != advisor_core::DiagnosticSeverity::Info {
            crate::term::warn(&format!("{}: {}", diagnostic.source, diagnostic.message));
        }
    }
    if args.format == ReportFormat::Markdown && args.output.is_none() {
        return crate::term::print_markdown(&(report.to_markdown() + "\n")).map_err(Into::into);
    }
    let rendered = match args.format {
        ReportFormat::Markdown => report.to_markdown() + "\n",
        ReportFormat::Json => report.to_json() + "\n",
        ReportFormat::Html => report.to_html(),
    };
    match &args.output {
        Some(path) => input::write_output(path, rendered.as_bytes()),
        None => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(rendered.as_bytes())?;
            stdout.flush()?;
            Ok(())
        }
    }
}

/// Builds the context from the flags with the library's [`ContextBuilder`] (the CLI reads
/// the files itself, bounded and with a progress bar); returns it with diagnostics about the
/// inputs and the trace's overview for the report, when a trace was read.
fn build_context(args: &AnalyzeArgs) -> anyhow::Result<BuiltContext> {
    let mut builder = match &args.context {
        Some(path) => {
            let text = input::read_text(path)?;
            ContextBuilder::context_json(&text)
                .map_err(|error| input_error(format!("{}: {error}", path.display())))?
        }
        None => ContextBuilder::new(),
    };
    builder = builder.detect_hardware(cfg!(feature = "probe"));
    if let Some(name) = &args.example {
        let example = examples::find(name).ok_or_else(|| {
            let names: Vec<&str> = examples::EXAMPLES.iter().map(|e| e.name).collect();
            input_error(format!(
                "--example {name}: no such example{}; available: {}",
                crate::suggest::hint(name, names.iter().copied()),
                names.join(", ")
            ))
        })?;
        let mut graph = advisor_graph::from_hf_config_str(example.config_json, example.name)
            .map_err(|error| anyhow::anyhow!("embedded example {}: {error}", example.name))?;
        graph.name = Some(example.model_id.to_owned());
        builder = builder.model_graph(graph);
        for (key, value) in example.scenario {
            builder = builder.set_default(key, value);
        }
    }
    if let Some(path) = &args.model {
        let imported =
            advisor_graph::import_path(path).map_err(|error| input_error(error.to_string()))?;
        let warnings: Vec<String> = imported.warnings.iter().map(ToString::to_string).collect();
        builder = builder.imported_model(imported.graph, path, &warnings);
    }
    if let Some(path) = &args.trace {
        // A tensorboard_trace_handler folder: its newest trace.
        let path = if path.is_dir() {
            advisor::newest_trace(path).map_err(|error| input_error(error.to_string()))?
        } else {
            path.clone()
        };
        let summary = crate::trace::read(&path)?;
        builder = builder.trace_summary(&summary, &path);
    }
    if let Some(spec) = args.hardware.as_deref() {
        builder = builder.hardware(resolve_hardware(spec)?);
    }
    for assignment in &args.set {
        builder = builder
            .set_assignment(assignment)
            .map_err(|error| input_error(error.to_string()))?;
    }
    Ok(builder.build())
}

fn resolve_hardware(spec: &str) -> anyhow::Result<HardwareInfo> {
    if spec == "detect" {
        return Ok(detect());
    }
    let path = Path::new(spec);
    let looks_like_path = spec.contains(std::path::MAIN_SEPARATOR) || spec.ends_with(".json");
    if path.exists() || looks_like_path {
        let text = input::read_text(path)?;
        return advisor::hardware_from_json(&text)
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
