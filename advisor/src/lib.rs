//! The advisor in one import: tell it what you have (a model, a profile, metrics, the
//! hardware, the run configuration) and it says what to optimize next, how much each change
//! buys on that hardware, and why.
//!
//! This crate gathers the member crates (ripgrep's `grep` facade pattern): depend on it for
//! everything, or on the member crates you need. [`prelude`] holds the names the guide's
//! examples use.
//!
//! # Quick start
//!
//! ```
//! use advisor::prelude::*;
//!
//! // What you have: a model, the hardware and how you run it.
//! let context = AnalysisContext::from_json_str(r#"{
//!     "model_graph": { "facts": { "architecture": "decoder", "parameters": 6738415616,
//!         "layers": 32, "hidden_size": 4096, "attention_heads": 32, "kv_heads": 32,
//!         "vocab_size": 32000, "max_sequence_length": 4096, "dtype": "fp16" } },
//!     "hardware_info": { "gpu_model": "NVIDIA A100-SXM4-80GB", "gpu_memory_mb": 81920 },
//!     "current_config": { "mode": "inference", "batch_size": "1", "seq_len": "4096" }
//! }"#)?;
//!
//! let advisor = OptimizationAdvisor::new();
//! let report = advisor.analyze(&context)?;
//!
//! for suggestion in report.high_impact_suggestions() {
//!     println!("{} ({:?}): {}", suggestion.title, suggestion.category, suggestion.description);
//! }
//! assert!(report.suggestions.iter().any(|s| s.category == OptimizationCategory::Quantization));
//! assert!(report.to_markdown().starts_with("# Optimization report"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The full pipeline
//!
//! Detect the hardware, measure the workload, build the context from a model file and the
//! measurements, analyze, and render:
//!
//! ```
//! use advisor::prelude::*;
//!
//! // 1. The machine (CPU, memory, NUMA, NVIDIA GPUs through NVML).
//! let hardware = HardwareInfo::detect();
//!
//! // 2. Measure the workload (here a stand-in for a model's forward pass).
//! let mut profiler = PerformanceProfiler::new();
//! profiler.start_profiling();
//! let forward = || {
//!     let _region = profiler.region("forward");
//!     (0..20_000u64).map(|x| x * x).sum::<u64>()
//! };
//! let latency = profiler.measure_latency(forward, 20)?;
//! let throughput = profiler.measure_throughput(forward, 8.0, 20)?;
//! let profile = profiler.stop_profiling();
//! assert_eq!(profile.operations[0].name, "forward");
//!
//! // 3. The context: a model file, the hardware, the measurements, the run settings.
//! let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/pairs/bert.config.json");
//! let built = ContextBuilder::new()
//!     .model_file(model)?
//!     .hardware(hardware)
//!     .set("mode", "inference")
//!     .set("batch_size", "8")
//!     .set("seq_len", "128")
//!     .build();
//! let mut context = built.context;
//! context.latency_metrics = Some(latency);
//! context.throughput_metrics = Some(throughput);
//! context.profile_results = Some(profile);
//!
//! // 4. Analyze and render.
//! let report = OptimizationAdvisor::default().analyze(&context)?;
//! let markdown = report.to_markdown();
//! let json = report.to_json();
//! let html = report.to_html();
//! assert!(markdown.contains("bert"));
//! assert!(json.contains("\"schema_version\""));
//! assert!(html.starts_with("<!DOCTYPE html>"));
//! for suggestion in report.suggestions_by_category(OptimizationCategory::Hardware) {
//!     assert!(matches!(suggestion.impact, ImpactLevel::Critical | ImpactLevel::High
//!         | ImpactLevel::Medium | ImpactLevel::Low));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The member crates
//!
//! | module | crate | what it does |
//! |---|---|---|
//! | [`domain`] | `advisor-core` | the domain types, the facts layer, the engine and the report model (no I/O) |
//! | [`hw`] | `advisor-hw` | probing this machine, the accelerator table and deployment targets |
//! | [`graph`] | `advisor-graph` | model importers (ONNX, safetensors, Hugging Face configs, graph JSON) |
//! | [`trace`] | `advisor-trace` | PyTorch profiler (Kineto) trace reading and diagnosis |
//! | [`model`] | `advisor-model` | the performance model behind every number |
//! | [`profile`] | `advisor-profile` | the in-process profiler, measurements, A/B tests |
//! | [`rules`] | `advisor-rules-builtin` | the built-in rules |
//! | [`report`] | `advisor-report` | Markdown, JSON and HTML rendering |
//! | [`compare`] | `advisor-compare` | `diff` and `verify`: runs compared, predictions checked |

mod context;
mod profiler;

pub use advisor_compare as compare;
pub use advisor_core as domain;
pub use advisor_graph as graph;
pub use advisor_hw as hw;
pub use advisor_model as model;
pub use advisor_profile as profile;
pub use advisor_report as report;
pub use advisor_rules_builtin as rules;
pub use advisor_trace as trace;

pub use crate::{
    context::{BuildError, BuiltContext, ContextBuilder, hardware_from_json, newest_trace},
    profiler::{MemoryError, MemoryMeasurement, MemorySource, PerformanceProfiler},
};

use advisor_core::HardwareInfo;

/// An advisor with every built-in rule, the accelerator table and the performance model:
/// advisor-core's engine, which it dereferences to (`analyze`, `add_rule`, `disable`, ...).
/// [`Default`] is the same as [`new`](Self::new); an advisor with no rules is
/// `advisor::domain::OptimizationAdvisor::empty()`.
#[derive(Debug)]
pub struct OptimizationAdvisor(advisor_core::OptimizationAdvisor);

impl OptimizationAdvisor {
    /// Every built-in rule, the accelerator table and the performance model.
    pub fn new() -> OptimizationAdvisor {
        use advisor_rules_builtin::BuiltinRules;
        OptimizationAdvisor(advisor_core::OptimizationAdvisor::new())
    }

    /// The engine underneath.
    pub fn into_inner(self) -> advisor_core::OptimizationAdvisor {
        self.0
    }
}

impl Default for OptimizationAdvisor {
    fn default() -> Self {
        OptimizationAdvisor::new()
    }
}

impl std::ops::Deref for OptimizationAdvisor {
    type Target = advisor_core::OptimizationAdvisor;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for OptimizationAdvisor {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl From<OptimizationAdvisor> for advisor_core::OptimizationAdvisor {
    fn from(advisor: OptimizationAdvisor) -> Self {
        advisor.0
    }
}

/// The guide's `HardwareInfo::detect()`: this machine's hardware (CPU, memory, NUMA, NVIDIA
/// GPUs through NVML with the `nvml` feature, other GPUs through wgpu with `wgpu`). In the
/// prelude.
pub trait DetectHardware {
    /// Probes this machine; what cannot be probed stays unset (and is reported by
    /// `advisor::hw::detect()`'s probe list).
    fn detect() -> Self;
}

impl DetectHardware for HardwareInfo {
    fn detect() -> Self {
        context::detect()
    }
}

/// The names the guide's examples use, in one import: `use advisor::prelude::*;`.
pub mod prelude {
    pub use crate::{
        BuiltContext, ContextBuilder, DetectHardware, MemoryMeasurement, OptimizationAdvisor,
        PerformanceProfiler,
    };
    pub use advisor_core::{
        AnalysisContext, Category, Difficulty, ExpectedImprovement, HardwareInfo, Impact,
        ImpactLevel, ImprovementMetric, LatencyMetrics, MemoryMetrics, ModelGraph,
        OptimizationCategory, OptimizationReport, OptimizationRule, OptimizationSuggestion,
        ProfileResults, RuleError, RuleInput, ThroughputMetrics,
    };
    pub use advisor_profile::{measure_latency, measure_throughput};
    pub use advisor_report::RenderReport;
}

#[cfg(test)]
mod tests {
    use crate::prelude::*;

    #[test]
    fn default_is_new() {
        let ids = |advisor: &OptimizationAdvisor| -> Vec<String> {
            advisor.rules().map(|r| r.id().to_owned()).collect()
        };
        let (default, new) = (OptimizationAdvisor::default(), OptimizationAdvisor::new());
        assert_eq!(ids(&default), ids(&new));
        assert!(ids(&new).len() >= 20, "{:?}", ids(&new));
    }
}
