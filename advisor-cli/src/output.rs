//! The JSON every command prints: each carries `schema_version` and has a JSON Schema
//! generated from its types (`advisor schema NAME`, published under `docs/schemas/` by
//! `cargo xtask codegen`, checked by a test).

use schemars::JsonSchema;
use serde::Serialize;

/// The version of the `inspect`, `hardware` and `plugins` JSON: raised when a field changes
/// meaning or goes away (adding one does not). `analyze` has the report's
/// (`advisor_core::REPORT_SCHEMA_VERSION`), `trace` the trace reader's, `diff` and `verify`
/// the comparison's.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// A JSON output with its version beside its fields.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Versioned<T> {
    /// The version of this JSON shape.
    pub schema_version: u32,
    #[serde(flatten)]
    pub body: T,
}

impl<T> Versioned<T> {
    pub(crate) fn new(body: T) -> Versioned<T> {
        Versioned {
            schema_version: SCHEMA_VERSION,
            body,
        }
    }
}

/// `advisor hardware --format json`: the seed's fields (always present, `null` when unknown),
/// then the detail of every probe. Accepted back as `--hardware FILE`.
#[derive(Serialize, JsonSchema)]
pub(crate) struct HardwareOutput {
    /// The version of this JSON shape.
    pub schema_version: u32,
    pub cpu_model: Option<String>,
    pub cpu_cores: Option<u32>,
    pub cpu_threads: Option<u32>,
    pub gpu_model: Option<String>,
    pub gpu_memory_mb: Option<u64>,
    pub gpu_count: Option<u32>,
    /// `major.minor`.
    pub gpu_compute_capability: Option<String>,
    pub system_memory_mb: Option<u64>,
    pub simd_capabilities: Option<Vec<String>>,
    pub cpu_calibration: Option<advisor_core::CpuCalibration>,
    pub cpu: advisor_hw::CpuDetails,
    pub memory: advisor_hw::MemoryDetails,
    pub numa_nodes: Vec<advisor_hw::NumaNode>,
    pub gpus: Vec<advisor_hw::GpuDevice>,
    pub adapters: Vec<advisor_hw::Adapter>,
    pub probes: Vec<advisor_hw::ProbeReport>,
}

/// The schemas `advisor schema NAME` prints, by name: the context it reads and every JSON it
/// writes.
pub(crate) const SCHEMAS: &[&str] = &[
    "context",
    "report",
    "inspect",
    "trace",
    "trace-ranks",
    "hardware",
    "plugins",
    "diff",
    "verify",
];

/// The JSON Schema of `name`, pretty-printed.
pub(crate) fn schema(name: &str) -> Option<String> {
    // What the commands write: a field they leave out when empty is not required.
    fn written<T: JsonSchema>() -> schemars::Schema {
        schemars::generate::SchemaSettings::default()
            .for_serialize()
            .into_generator()
            .into_root_schema_for::<T>()
    }
    let schema = match name {
        // What `--context` reads.
        "context" => schemars::schema_for!(advisor_core::AnalysisContext),
        "report" => written::<advisor_core::OptimizationReport>(),
        "inspect" => written::<Versioned<advisor_graph::ModelSummary>>(),
        // `advisor trace --format json` on one trace, and on several (or `--merge`).
        "trace" => written::<advisor_trace::TraceSummary>(),
        "trace-ranks" => written::<advisor_trace::MultiRankSummary>(),
        "hardware" => written::<HardwareOutput>(),
        "plugins" => written::<Versioned<advisor_plugin_host::PluginReport>>(),
        "diff" => written::<advisor_compare::RunDiff>(),
        "verify" => written::<advisor_compare::Verification>(),
        _ => return None,
    };
    serde_json::to_string_pretty(&schema).ok()
}
