//! `advisor analyze`: gather the context, run the rules, render the report.

use std::path::{Path, PathBuf};

use advisor_core::{
    AnalysisContext, Diagnostic, DiagnosticSeverity, HardwareInfo, OptimizationAdvisor,
    StepOverview, TimedName, TraceOverview,
};
use advisor_report::RenderReport;
use advisor_rules_builtin::BuiltinRules;
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
    /// A PyTorch profiler (Kineto) trace, `.json` or `.json.gz`: adds its facts to the profile
    /// and, when nothing else gives hardware, the GPUs from its `deviceProperties`.
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
    let (context, mut notes, trace) = build_context(&args)?;
    let mut advisor = OptimizationAdvisor::new();
    if let Some(dir) = crate::plugins::plugin_dir(args.plugins.as_deref()) {
        notes.extend(crate::plugins::load(&mut advisor, &dir)?.diagnostics());
    }
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
    report.trace = trace;
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

/// Builds the context from the flags; returns it with diagnostics about the inputs and the
/// trace's overview for the report, when a trace was read.
fn build_context(
    args: &AnalyzeArgs,
) -> anyhow::Result<(AnalysisContext, Vec<Diagnostic>, Option<TraceOverview>)> {
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
        let source = path.display().to_string();
        let imported =
            advisor_graph::import_path(path).map_err(|error| input_error(error.to_string()))?;
        let mut graph = imported.graph;
        // Exporters name every graph alike (`main_graph`, `torch_jit`): the file says more.
        let generic = |name: &str| {
            matches!(
                name,
                "main_graph" | "torch_jit" | "torch-jit-export" | "graph"
            )
        };
        if graph.name.as_deref().is_none_or(generic) {
            graph.name = Some(model_name(path));
        }
        for warning in imported.warnings {
            notes.push(Diagnostic::new(
                DiagnosticSeverity::Warning,
                "model".to_owned(),
                format!("{source}: {warning}"),
            ));
        }
        context.model_graph = Some(graph);
    }
    let mut trace_hardware = None;
    let mut overview = None;
    if let Some(path) = &args.trace {
        let summary = crate::trace::read(path)?;
        for warning in &summary.warnings {
            notes.push(Diagnostic::new(
                DiagnosticSeverity::Warning,
                "trace".to_owned(),
                format!("{}: {warning}", path.display()),
            ));
        }
        trace_hardware = summary.hardware_info();
        overview = Some(trace_overview(&summary));
        let profile = summary.to_profile_results();
        // With `profile_memory` on, the trace knows the GPU's peak memory (`Total Allocated`
        // and `Total Reserved`): the measured peak the memory rules need, when the context
        // does not give one.
        if context.memory_metrics.is_none()
            && let Some(memory) = profile
                .trace
                .as_ref()
                .and_then(|facts| facts.memory.as_ref())
            && let Some(peak) = memory.gpu_peak_allocated_bytes
        {
            context.memory_metrics = Some(advisor_core::MemoryMetrics {
                peak_bytes: Some(peak),
                reserved_bytes: memory.gpu_peak_reserved_bytes,
                ..advisor_core::MemoryMetrics::default()
            });
        }
        match &mut context.profile_results {
            Some(existing) => existing.trace = profile.trace,
            None => context.profile_results = Some(profile),
        }
    }
    match args.hardware.as_deref() {
        Some(spec) => context.hardware_info = Some(resolve_hardware(spec)?),
        // The trace's devices describe the machine that ran the job: prefer them to this one.
        None if context.hardware_info.is_none() => {
            context.hardware_info = Some(trace_hardware.unwrap_or_else(detect));
        }
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
    Ok((context, notes, overview))
}

/// What the report shows of a trace: its steps, breakdowns and longest kernels and operators.
fn trace_overview(summary: &advisor_trace::TraceSummary) -> TraceOverview {
    TraceOverview {
        source: summary.source.clone(),
        devices: summary.devices.clone(),
        steps: summary
            .steps
            .iter()
            .map(|step| StepOverview {
                step: step.step,
                duration_us: step.duration_us,
                gpu_breakdown: step.gpu_breakdown.clone(),
                idle_breakdown: step.idle_breakdown.clone(),
            })
            .collect(),
        gpu_breakdown: summary.breakdown.clone(),
        idle_breakdown: summary.idle_breakdown.clone(),
        top_kernels: summary
            .top_kernels
            .iter()
            .map(|kernel| TimedName {
                name: kernel.name.clone(),
                kind: Some(kernel.kind.to_owned()),
                count: kernel.count,
                time_us: kernel.total_us,
            })
            .collect(),
        top_cpu_ops: summary
            .top_cpu_ops
            .iter()
            .map(|op| TimedName {
                name: op.name.clone(),
                kind: None,
                count: op.count,
                time_us: op.self_us,
            })
            .collect(),
    }
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
        return hardware_from_json(&text)
            .map_err(|error| input_error(format!("{}: {error}", path.display())));
    }
    advisor_hw::resolve_target(spec)
        .map_err(|error| input_error(format!("--hardware {spec}: {error}")))
}

/// The fields of [`HardwareInfo`], which is all the rules read from a hardware document.
const HARDWARE_INFO_KEYS: &[&str] = &[
    "cpu_model",
    "cpu_cores",
    "cpu_threads",
    "gpu_model",
    "gpu_memory_mb",
    "gpu_count",
    "gpu_compute_capability",
    "system_memory_mb",
    "simd_capabilities",
    "cpu_calibration",
];

/// Reads a hardware document: a `HardwareInfo` object (unknown fields are errors, they are
/// usually typos), or the output of `advisor hardware --format json` saved on another machine,
/// recognised by its `probes` and reduced to the `HardwareInfo` fields.
fn hardware_from_json(text: &str) -> Result<HardwareInfo, advisor_core::ContextError> {
    if let Ok(serde_json::Value::Object(mut object)) = serde_json::from_str(text)
        && object.contains_key("probes")
    {
        object.retain(|key, value| HARDWARE_INFO_KEYS.contains(&key.as_str()) && !value.is_null());
        let reduced = serde_json::Value::Object(object).to_string();
        return HardwareInfo::from_json_str(&reduced);
    }
    HardwareInfo::from_json_str(text)
}

#[cfg(feature = "probe")]
fn detect() -> HardwareInfo {
    advisor_hw::detect().info
}

#[cfg(not(feature = "probe"))]
fn detect() -> HardwareInfo {
    HardwareInfo::default()
}
