//! `advisor._native`: the advisor for Python. The Python package (`python/advisor`) wraps
//! these functions: each takes paths and plain values and returns the JSON (or Markdown, or
//! HTML) that the `advisor` command prints, so the module and the command agree by
//! construction. The command itself is [`run_cli`].

use std::path::{Path, PathBuf};

use advisor::{ContextBuilder, report::RenderReport};
use pyo3::{exceptions::PyValueError, prelude::*};

fn error(message: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(message.to_string())
}

/// Runs the `advisor` command with `argv` (program name first) in this process and returns
/// its exit status. Plugins are vetted in a child `python -m advisor __vet-plugin FILE`.
#[pyfunction]
fn run_cli(py: Python<'_>, argv: Vec<String>) -> PyResult<u8> {
    let python: PathBuf = py
        .import("sys")?
        .getattr("executable")?
        .extract::<String>()?
        .into();
    advisor_cli::set_vetter(python, vec!["-m".to_owned(), "advisor".to_owned()]);
    // The command runs without the interpreter lock: it may read large traces on every core.
    Ok(py.detach(|| advisor_cli::run(argv)))
}

/// Analyzes what is given (any of a context file, a model file, a trace or a trace folder,
/// hardware as `--hardware` takes it, run settings) and renders the report as `format`
/// (`json`, `markdown` or `html`).
#[pyfunction]
#[pyo3(signature = (model=None, trace=None, hardware=None, config=Vec::new(), context=None, format="json"))]
fn analyze(
    py: Python<'_>,
    model: Option<PathBuf>,
    trace: Option<PathBuf>,
    hardware: Option<String>,
    config: Vec<(String, String)>,
    context: Option<PathBuf>,
    format: &str,
) -> PyResult<String> {
    py.detach(|| {
        let mut builder = match &context {
            Some(path) => ContextBuilder::context_file(path).map_err(error)?,
            None => ContextBuilder::new(),
        };
        if let Some(path) = &model {
            builder = builder.model_file(path).map_err(error)?;
        }
        if let Some(path) = &trace {
            builder = builder.trace_file(path).map_err(error)?;
        }
        if let Some(spec) = &hardware {
            builder = builder.hardware_spec(spec).map_err(error)?;
        }
        for (key, value) in config {
            builder = builder.set(key, value);
        }
        let report = builder
            .build()
            .analyze(&advisor::OptimizationAdvisor::new())
            .map_err(error)?;
        match format {
            "json" => Ok(report.to_json()),
            "markdown" | "md" => Ok(report.to_markdown()),
            "html" => Ok(report.to_html()),
            other => Err(error(format!(
                "format {other:?}: expected \"json\", \"markdown\" or \"html\""
            ))),
        }
    })
}

/// The summary of a PyTorch profiler trace (or of a folder's newest trace) as JSON: what
/// `advisor trace FILE --format json` prints.
#[pyfunction]
fn trace_summary(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    py.detach(|| {
        let path = if path.is_dir() {
            advisor::newest_trace(&path).map_err(error)?
        } else {
            path
        };
        let summary =
            advisor::trace::read_trace_file(&path, advisor::trace::TraceOptions::default())
                .map_err(|e| error(format!("{}: {e}", path.display())))?;
        serde_json::to_string(&summary).map_err(error)
    })
}

/// What the advisor understands of a model file, as JSON: what `advisor inspect FILE
/// --format json` prints.
#[pyfunction]
fn inspect(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    py.detach(|| {
        let imported = advisor::graph::import_path(Path::new(&path)).map_err(error)?;
        let summary = advisor::graph::ModelSummary::new(&imported);
        let mut value = serde_json::to_value(&summary).map_err(error)?;
        if let Some(object) = value.as_object_mut() {
            object.insert("schema_version".to_owned(), 1.into());
        }
        Ok(value.to_string())
    })
}

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(run_cli, module)?)?;
    module.add_function(wrap_pyfunction!(analyze, module)?)?;
    module.add_function(wrap_pyfunction!(trace_summary, module)?)?;
    module.add_function(wrap_pyfunction!(inspect, module)?)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
