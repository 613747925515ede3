//! Assembling an [`AnalysisContext`] from what a user has: a context file, a model file, a
//! PyTorch profiler trace, hardware (detected, a deployment target or a file) and run
//! settings, the way `advisor analyze` does, so a library user gets the same report.
//!
//! What the assembly adds beyond putting the pieces side by side:
//! - a model exported under a generic graph name (`main_graph`, `torch_jit`) is named after
//!   its file (the folder for a `config.json`);
//! - a trace's facts join the profile (replacing an earlier trace's); with `profile_memory`
//!   on, its peak GPU memory becomes the measured peak when nothing else gives one;
//! - hardware comes from what was set, else from the trace's `deviceProperties` (the machine
//!   that ran the job), else from this machine (with the `probe` feature);
//! - every importer's and reader's warning becomes a diagnostic naming its file.

use std::path::{Path, PathBuf};

use advisor_core::{
    AnalysisContext, ContextError, Diagnostic, DiagnosticSeverity, HardwareInfo, MemoryMetrics,
    ModelGraph, TraceOverview,
};
use advisor_trace::TraceSummary;

/// An input that cannot be used: the file (when there is one) and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{}{message}", file.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default())]
pub struct BuildError {
    /// The file the problem is in.
    pub file: Option<PathBuf>,
    /// What is wrong.
    pub message: String,
}

impl BuildError {
    fn in_file(file: &Path, message: impl std::fmt::Display) -> BuildError {
        BuildError {
            file: Some(file.to_path_buf()),
            message: message.to_string(),
        }
    }

    fn input(message: impl Into<String>) -> BuildError {
        BuildError {
            file: None,
            message: message.into(),
        }
    }
}

/// What [`ContextBuilder::build`] gives: the context, diagnostics about the inputs (for the
/// report's diagnostics) and the trace's overview (for the report's trace section).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BuiltContext {
    /// The analysis context.
    pub context: AnalysisContext,
    /// Warnings about the inputs, each naming its file.
    pub diagnostics: Vec<Diagnostic>,
    /// The overview of the trace read, if any.
    pub trace: Option<TraceOverview>,
}

impl BuiltContext {
    /// Runs `advisor` on the context and adds the input diagnostics and the trace overview to
    /// the report, as `advisor analyze` does.
    pub fn analyze(
        self,
        advisor: &advisor_core::OptimizationAdvisor,
    ) -> Result<advisor_core::OptimizationReport, ContextError> {
        let mut report = advisor.analyze(&self.context)?;
        let mut diagnostics = self.diagnostics;
        report.diagnostics.append(&mut diagnostics);
        report.trace = self.trace;
        Ok(report)
    }
}

/// Builds an analysis context step by step. Later calls override earlier ones where they set
/// the same thing (a model file replaces the context file's model).
///
/// ```no_run
/// use advisor::ContextBuilder;
///
/// let built = ContextBuilder::new()
///     .model_file("config.json")?
///     .trace_file("trace.json.gz")?
///     .hardware_spec("nvidia-a100-80gb")?
///     .set("batch_size", "8")
///     .build();
/// let report = built.analyze(&advisor::OptimizationAdvisor::new())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct ContextBuilder {
    context: AnalysisContext,
    diagnostics: Vec<Diagnostic>,
    trace: Option<TraceOverview>,
    trace_hardware: Option<HardwareInfo>,
    hardware: Option<HardwareInfo>,
    detect: bool,
}

impl ContextBuilder {
    /// An empty context; hardware is detected at [`build`](Self::build) when nothing gives
    /// it.
    pub fn new() -> ContextBuilder {
        ContextBuilder {
            detect: true,
            ..ContextBuilder::default()
        }
    }

    /// Starts from an existing context (its hardware, metrics and settings are kept).
    pub fn from_context(context: AnalysisContext) -> ContextBuilder {
        ContextBuilder {
            context,
            ..ContextBuilder::new()
        }
    }

    /// Starts from an analysis context JSON file.
    pub fn context_file(path: impl AsRef<Path>) -> Result<ContextBuilder, BuildError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| BuildError::in_file(path, e))?;
        Self::context_json(&text).map_err(|e| BuildError::in_file(path, e))
    }

    /// Starts from analysis context JSON text.
    pub fn context_json(text: &str) -> Result<ContextBuilder, ContextError> {
        Ok(Self::from_context(AnalysisContext::from_json_str(text)?))
    }

    /// Whether to detect this machine's hardware when nothing else gives it (default yes;
    /// without the `probe` feature detection finds nothing).
    pub fn detect_hardware(mut self, detect: bool) -> ContextBuilder {
        self.detect = detect;
        self
    }

    /// Imports a model file (ONNX, safetensors or its index, a Hugging Face `config.json`,
    /// graph JSON; detected by content).
    pub fn model_file(self, path: impl AsRef<Path>) -> Result<ContextBuilder, BuildError> {
        let path = path.as_ref();
        let imported = advisor_graph::import_path(path)
            .map_err(|error| BuildError::input(error.to_string()))?;
        let warnings: Vec<String> = imported.warnings.iter().map(ToString::to_string).collect();
        Ok(self.imported_model(imported.graph, path, &warnings))
    }

    /// A model imported elsewhere from `path`, with the importer's warnings: named after the
    /// file when its graph name is an exporter's generic one.
    pub fn imported_model(
        mut self,
        mut graph: ModelGraph,
        path: &Path,
        warnings: &[String],
    ) -> ContextBuilder {
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
        for warning in warnings {
            self.diagnostics.push(Diagnostic::new(
                DiagnosticSeverity::Warning,
                "model".to_owned(),
                format!("{}: {warning}", path.display()),
            ));
        }
        self.context.model_graph = Some(graph);
        self
    }

    /// A model graph as it is.
    pub fn model_graph(mut self, graph: ModelGraph) -> ContextBuilder {
        self.context.model_graph = Some(graph);
        self
    }

    /// Reads a PyTorch profiler (Kineto) trace, `.json` or `.json.gz`, or the newest trace in
    /// a folder (a `tensorboard_trace_handler` folder, [`newest_trace`]).
    pub fn trace_file(self, path: impl AsRef<Path>) -> Result<ContextBuilder, BuildError> {
        let folder;
        let mut path = path.as_ref();
        if path.is_dir() {
            folder = newest_trace(path)?;
            path = &folder;
        }
        let summary = advisor_trace::read_trace_file(path, advisor_trace::TraceOptions::default())
            .map_err(|error| BuildError::input(error.to_string()))?;
        Ok(self.trace_summary(&summary, path))
    }

    /// A trace read elsewhere from `path`: its facts join the profile, its peak GPU memory
    /// (with `profile_memory`) becomes the measured peak when nothing gives one, its devices
    /// the hardware when nothing else does, and its warnings diagnostics.
    pub fn trace_summary(mut self, summary: &TraceSummary, path: &Path) -> ContextBuilder {
        for warning in &summary.warnings {
            self.diagnostics.push(Diagnostic::new(
                DiagnosticSeverity::Warning,
                "trace".to_owned(),
                format!("{}: {warning}", path.display()),
            ));
        }
        self.trace_hardware = summary.hardware_info();
        self.trace = Some(summary.overview());
        let profile = summary.to_profile_results();
        // With `profile_memory` on, the trace knows the GPU's peak memory (`Total Allocated`
        // and `Total Reserved`): the measured peak the memory rules need, when the context
        // does not give one.
        if self.context.memory_metrics.is_none()
            && let Some(memory) = profile
                .trace
                .as_ref()
                .and_then(|facts| facts.memory.as_ref())
            && let Some(peak) = memory.gpu_peak_allocated_bytes
        {
            self.context.memory_metrics = Some(MemoryMetrics {
                peak_bytes: Some(peak),
                reserved_bytes: memory.gpu_peak_reserved_bytes,
                ..MemoryMetrics::default()
            });
        }
        match &mut self.context.profile_results {
            Some(existing) => existing.trace = profile.trace,
            None => self.context.profile_results = Some(profile),
        }
        self
    }

    /// The hardware, overriding the context's and the trace's.
    pub fn hardware(mut self, hardware: HardwareInfo) -> ContextBuilder {
        self.hardware = Some(hardware);
        self
    }

    /// Hardware as `--hardware` takes it: `detect`, a deployment target (`nvidia-l4`) or a
    /// hardware JSON file (a `HardwareInfo` object or `advisor hardware --format json` output
    /// saved on another machine).
    pub fn hardware_spec(self, spec: &str) -> Result<ContextBuilder, BuildError> {
        if spec == "detect" {
            return Ok(self.hardware(detect()));
        }
        let path = Path::new(spec);
        let looks_like_path = spec.contains(std::path::MAIN_SEPARATOR) || spec.ends_with(".json");
        if path.exists() || looks_like_path {
            let text = std::fs::read_to_string(path).map_err(|e| BuildError::in_file(path, e))?;
            let hardware = hardware_from_json(&text).map_err(|e| BuildError::in_file(path, e))?;
            return Ok(self.hardware(hardware));
        }
        let hardware = advisor_hw::resolve_target(spec)
            .map_err(|error| BuildError::input(format!("--hardware {spec}: {error}")))?;
        Ok(self.hardware(hardware))
    }

    /// Sets a run-configuration key (`batch_size`, `precision`, ...).
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> ContextBuilder {
        self.context.current_config.insert(key.into(), value.into());
        self
    }

    /// Sets a run-configuration key unless it is set already (an example's defaults).
    pub fn set_default(mut self, key: &str, value: &str) -> ContextBuilder {
        self.context
            .current_config
            .entry(key.to_owned())
            .or_insert_with(|| value.to_owned());
        self
    }

    /// Sets `KEY=VALUE` as `--set` takes it.
    pub fn set_assignment(self, assignment: &str) -> Result<ContextBuilder, BuildError> {
        let (key, value) = assignment
            .split_once('=')
            .ok_or_else(|| BuildError::input(format!("--set {assignment}: expected KEY=VALUE")))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(BuildError::input(format!(
                "--set {assignment}: the key is empty"
            )));
        }
        Ok(self.set(key, value.trim()))
    }

    /// The context, with hardware from what was set, else the context's, else the trace's
    /// devices, else this machine.
    pub fn build(mut self) -> BuiltContext {
        match self.hardware {
            Some(hardware) => self.context.hardware_info = Some(hardware),
            None if self.context.hardware_info.is_none() => {
                // The trace's devices describe the machine that ran the job: prefer them to
                // this one.
                self.context.hardware_info = match self.trace_hardware {
                    Some(hardware) => Some(hardware),
                    None if self.detect => Some(detect()),
                    None => None,
                };
            }
            None => {}
        }
        BuiltContext {
            context: self.context,
            diagnostics: self.diagnostics,
            trace: self.trace,
        }
    }
}

/// The newest trace in a folder (what `torch.profiler.tensorboard_trace_handler` writes: one
/// `WORKER.TIMESTAMP.pt.trace.json[.gz]` per profiling cycle): the file ending in `.json` or
/// `.json.gz` modified last, ties broken by name.
pub fn newest_trace(folder: &Path) -> Result<PathBuf, BuildError> {
    let entries = std::fs::read_dir(folder).map_err(|e| BuildError::in_file(folder, e))?;
    entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.is_file()
                && path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|name| name.ends_with(".json") || name.ends_with(".json.gz"))
        })
        .filter_map(|path| {
            let modified = path.metadata().and_then(|m| m.modified()).ok()?;
            Some((modified, path))
        })
        .max()
        .map(|(_, path)| path)
        .ok_or_else(|| {
            BuildError::in_file(
                folder,
                "no trace in this folder (no .json or .json.gz file)",
            )
        })
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
/// usually typos), or the output of `advisor hardware --format json` saved on another
/// machine, recognised by its `probes` and reduced to the `HardwareInfo` fields.
pub fn hardware_from_json(text: &str) -> Result<HardwareInfo, ContextError> {
    if let Ok(serde_json::Value::Object(mut object)) = serde_json::from_str(text)
        && object.contains_key("probes")
    {
        object.retain(|key, value| HARDWARE_INFO_KEYS.contains(&key.as_str()) && !value.is_null());
        let reduced = serde_json::Value::Object(object).to_string();
        return HardwareInfo::from_json_str(&reduced);
    }
    HardwareInfo::from_json_str(text)
}

/// This machine's hardware (nothing without the `probe` feature).
pub(crate) fn detect() -> HardwareInfo {
    #[cfg(feature = "probe")]
    {
        advisor_hw::detect().info
    }
    #[cfg(not(feature = "probe"))]
    {
        HardwareInfo::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata")
            .join(name)
    }

    #[test]
    fn a_trace_gives_its_devices_and_profile_when_nothing_else_gives_hardware() {
        let built = ContextBuilder::new()
            .detect_hardware(false)
            .trace_file(testdata("traces/v100-training-rank0.trace.json.gz"))
            .unwrap_or_else(|e| panic!("{e}"))
            .build();
        let hardware = built.context.hardware_info.expect("from the trace");
        assert!(
            hardware
                .gpu_model
                .as_deref()
                .is_some_and(|m| m.contains("V100")),
            "{hardware:?}"
        );
        let profile = built.context.profile_results.expect("profile");
        assert!(profile.trace.is_some());
        assert!(built.trace.is_some_and(|t| !t.steps.is_empty()));
    }

    #[test]
    fn set_hardware_wins_over_the_trace_and_a_config_json_is_named_after_its_folder() {
        let built = ContextBuilder::new()
            .trace_file(testdata("traces/v100-training-rank0.trace.json.gz"))
            .and_then(|b| b.hardware_spec("nvidia-l4"))
            .and_then(|b| b.model_file(testdata("pairs/gpt2.config.json")))
            .and_then(|b| b.set_assignment("batch_size = 8"))
            .unwrap_or_else(|e| panic!("{e}"))
            .build();
        let hardware = built.context.hardware_info.expect("hardware");
        assert!(
            hardware
                .gpu_model
                .as_deref()
                .is_some_and(|m| m.contains("L4"))
        );
        assert_eq!(built.context.current_config["batch_size"], "8");
        assert!(built.context.model_graph.is_some());
    }

    #[test]
    fn bad_inputs_name_the_file_and_the_problem() {
        let missing = ContextBuilder::new()
            .trace_file("no/such/trace.json")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(missing.contains("no/such/trace.json"), "{missing}");
        let typo = ContextBuilder::new()
            .hardware_spec("nvidia-a100")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(typo.contains("--hardware nvidia-a100"), "{typo}");
        let assignment = ContextBuilder::new()
            .set_assignment("batch_size")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(assignment.contains("expected KEY=VALUE"), "{assignment}");
    }
}
