//! The analysis context: every fact the advisor was given.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    config::{ConfigError, RunConfig},
    graph::ModelGraph,
    hardware::HardwareInfo,
    metrics::{LatencyMetrics, MemoryMetrics, ThroughputMetrics},
    profile::ProfileResults,
};

/// Everything the advisor knows about a run. Every field is optional.
///
/// Loads from and saves to JSON; the shape is public API (see `docs/context.md` and
/// `docs/context.schema.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AnalysisContext {
    /// The model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_graph: Option<ModelGraph>,
    /// A profile of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_results: Option<ProfileResults>,
    /// Measured latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_metrics: Option<LatencyMetrics>,
    /// Measured memory of the device the model runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_metrics: Option<MemoryMetrics>,
    /// Measured throughput.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput_metrics: Option<ThroughputMetrics>,
    /// The hardware.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_info: Option<HardwareInfo>,
    /// The run configuration as strings; see [`RunConfig`] for the keys.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub current_config: BTreeMap<String, String>,
}

/// A context document that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// The JSON is malformed or has a value of the wrong type.
    #[error("{}line {line}, column {column}: {message}", path_prefix(.path))]
    Json {
        /// JSON path of the offending value (`latency_metrics.mean_ms`), empty at the top.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The run configuration has a bad value.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

fn path_prefix(path: &str) -> String {
    if path.is_empty() || path == "." {
        String::new()
    } else {
        format!("at `{path}`, ")
    }
}

impl AnalysisContext {
    /// Parses a context from JSON. Errors name the JSON path, line and column.
    pub fn from_json_str(text: &str) -> Result<AnalysisContext, ContextError> {
        from_json(text)
    }

    /// Serializes the context as pretty JSON.
    pub fn to_json_string(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The typed run configuration.
    pub fn run_config(&self) -> Result<RunConfig, ConfigError> {
        RunConfig::parse(&self.current_config)
    }

    /// The sequence length: config `seq_len`, else the model's maximum.
    /// Returns the value and where it came from.
    pub fn sequence_length(&self, config: &RunConfig) -> Option<(u64, &'static str)> {
        if let Some(seq_len) = config.seq_len {
            return Some((seq_len, "config seq_len"));
        }
        let max = self.model_graph.as_ref()?.facts.max_sequence_length?;
        Some((max, "model max sequence length"))
    }
}

/// Deserializes any JSON document with errors that name the path, line and column.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ContextError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        json_error(path, &inner)
    })?;
    deserializer
        .end()
        .map_err(|error| json_error(String::new(), &error))?;
    Ok(value)
}

fn json_error(path: String, error: &serde_json::Error) -> ContextError {
    // serde_json appends " at line L column C"; the position is reported separately.
    let text = error.to_string();
    let message = match text.rfind(" at line ") {
        Some(index) => text[..index].to_owned(),
        None => text,
    };
    let message = if error.is_eof() && message.starts_with("EOF") {
        format!("{message} (the file is truncated)")
    } else {
        message
    };
    ContextError::Json {
        path,
        line: error.line(),
        column: error.column(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_object_is_an_empty_context() {
        let context = AnalysisContext::from_json_str("{}").unwrap();
        assert_eq!(context, AnalysisContext::default());
    }

    #[test]
    fn wrong_type_names_the_path() {
        let error = AnalysisContext::from_json_str(r#"{"latency_metrics": {"mean_ms": "fast"}}"#)
            .unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with("at `latency_metrics.mean_ms`, line 1, column"),
            "{text}"
        );
        assert!(
            text.contains("invalid type: string \"fast\", expected f64"),
            "{text}"
        );
    }

    #[test]
    fn truncated_document_says_so() {
        let error =
            AnalysisContext::from_json_str(r#"{"hardware_info": {"cpu_cores": 8"#).unwrap_err();
        assert!(error.to_string().contains("truncated"), "{error}");
    }

    #[test]
    fn unknown_field_is_an_error() {
        let error =
            AnalysisContext::from_json_str(r#"{"memory_metrics": {"peak": 1}}"#).unwrap_err();
        assert!(
            error.to_string().contains("unknown field `peak`"),
            "{error}"
        );
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        assert!(AnalysisContext::from_json_str("{} {}").is_err());
    }

    #[test]
    fn compute_capability_accepts_string_and_number() {
        let context =
            AnalysisContext::from_json_str(r#"{"hardware_info": {"gpu_compute_capability": 8.6}}"#)
                .unwrap();
        let hardware = context.hardware_info.unwrap();
        assert_eq!(hardware.gpu_compute_capability.unwrap().to_string(), "8.6");
        let context = AnalysisContext::from_json_str(
            r#"{"hardware_info": {"gpu_compute_capability": "9.0"}}"#,
        )
        .unwrap();
        assert_eq!(
            context
                .hardware_info
                .unwrap()
                .gpu_compute_capability
                .unwrap()
                .major,
            9
        );
    }
}
