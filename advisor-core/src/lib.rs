//! The advisor's domain: what an engineer hands the advisor, what rules say about it,
//! and the report that comes out.
//!
//! - [`AnalysisContext`] gathers the facts: a [`ModelGraph`], [`ProfileResults`], latency,
//!   memory and throughput metrics, [`HardwareInfo`] and the run configuration (a string map
//!   parsed into a typed [`RunConfig`]).
//! - An [`OptimizationRule`] reads a context and returns zero or more
//!   [`OptimizationSuggestion`]s, each with the evidence that made it fire.
//! - [`OptimizationAdvisor`] runs a set of rules, turns rule failures into [`Diagnostic`]s
//!   and produces an [`OptimizationReport`] with a deterministic order and a summary that
//!   combines expected improvements multiplicatively.
//!
//! This crate does no I/O: callers read files and hand it strings.
//!
//! ```
//! use advisor_core::{AnalysisContext, OptimizationAdvisor};
//!
//! let context = AnalysisContext::from_json_str(r#"{
//!     "current_config": { "mode": "inference", "batch_size": "8" }
//! }"#).unwrap();
//! let config = context.run_config().unwrap();
//! assert_eq!(config.batch_size, Some(8));
//!
//! // An advisor with no rules produces an empty report.
//! let report = OptimizationAdvisor::empty().analyze(&context).unwrap();
//! assert!(report.suggestions.is_empty());
//! ```

mod change;
mod config;
mod context;
mod device;
mod engine;
mod facts;
pub mod formulas;
mod graph;
mod hardware;
mod metrics;
mod plan;
mod profile;
mod report;
mod resolve;
mod rule;
mod suggestion;
mod trace;

pub use crate::{
    change::{
        AttentionKernel, Change, OptimizerKind, Pipeline, RunSettings, Sharding, SlackClaim,
        SlackPool, Speculation, WeightFormat,
    },
    config::{
        ConfigError, ConfigWarning, Device, Engine, KNOWN_CONFIG_KEYS, Mode, Precision,
        Quantization, RunConfig,
    },
    context::{AnalysisContext, ContextError},
    device::{AcceleratorCatalog, EmptyCatalog, GpuSpec, GpuVendor, PeakThroughput},
    engine::{DuplicateRuleId, OptimizationAdvisor},
    facts::{
        CpuFacts, Fact, GpuFacts, GpuState, Measured, Missing, ModelShape, ResolvedFacts,
        ResolvedRun, Source, trace_facts,
    },
    graph::{
        Architecture, Dimension, FusionOpportunity, GraphEdge, GraphNode, ModelFacts, ModelGraph,
    },
    hardware::{ComputeCapability, CpuCalibration, HardwareInfo},
    metrics::{LatencyMetrics, MemoryMetrics, ThroughputMetrics},
    plan::{PlanModel, combine_latency, combine_slack, compatible_changes},
    profile::{ProfileOperation, ProfileResults},
    report::{
        COMBINATION_METHOD, Diagnostic, DiagnosticSeverity, InputSummary, MemoryPart,
        MetricSummary, ModelFigures, ModelProjections, OpPoint, OptimizationReport,
        REPORT_SCHEMA_VERSION, ReportSummary, Roof, SecondsRange, StepOverview,
        SuggestionProjection, TimedName, TraceOverview, order,
    },
    rule::{OptimizationRule, RuleError, RuleInput, run_rule},
    suggestion::{
        Category, CodeExample, Difficulty, ExpectedImprovement, Impact, ImpactLevel,
        ImprovementMetric, OptimizationCategory, OptimizationSuggestion,
    },
    trace::{
        CommunicationFacts, ConvolutionFacts, CpuOpFacts, DataLoaderFacts, GpuTimeBreakdown,
        HostBlockCause, HostBlockedByCause, HostBlockedFacts, HostBlockedSite, HostSyncFacts,
        InputWaitFacts, KernelLaunchFacts, KernelPrecision, MemcpyKindFacts, NamedCount,
        OptimizerImplementation, PrecisionShare, StreamIdleBreakdown, StreamQueueLength,
        TensorCoreFacts, TraceDevice, TraceFacts, TraceGeneration, TraceMemoryFacts,
        TraceOptimizer, TraceRunFacts,
    },
};
