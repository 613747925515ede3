//! What live probing found, and how each probe fared.

use advisor_core::HardwareInfo;
use serde::Serialize;

use crate::gpu::{Adapter, GpuDevice};

/// The result of probing this machine: the seed's facts, the detail behind them, and one
/// report per probe.
///
/// Probing never fails as a whole: a probe that cannot run leaves its fields `None` (or its
/// list empty) and says why in its [`ProbeReport`].
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct Detection {
    /// The facts rules read; what no probe could find stays `None`. The GPU fields describe
    /// the first accelerator in [`gpus`](Self::gpus), with `gpu_count` the number of that model.
    pub info: HardwareInfo,
    /// The CPU in detail.
    pub cpu: CpuDetails,
    /// System memory in detail.
    pub memory: MemoryDetails,
    /// NUMA nodes with their CPUs and memory; empty where the OS does not tell.
    pub numa_nodes: Vec<NumaNode>,
    /// Every accelerator found (never a software renderer), each matched to the
    /// accelerator table where its name is known.
    pub gpus: Vec<GpuDevice>,
    /// Every graphics adapter wgpu saw, software renderers included and flagged; empty
    /// when NVML found GPUs, because wgpu then does not run.
    pub adapters: Vec<Adapter>,
    /// One report per probe, in a fixed order: CPU, memory, NUMA, then GPU probes.
    pub probes: Vec<ProbeReport>,
}

/// The CPU as this process sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct CpuDetails {
    /// `Intel`, `AMD`, or the CPUID vendor string of others; on non-x86 what the OS says.
    pub vendor: Option<String>,
    /// Model name: `AMD EPYC 9124 16-Core Processor`.
    pub model: Option<String>,
    /// Physical cores this process may run on (CPU affinity and cgroup quota applied).
    pub physical_cores: Option<u32>,
    /// Logical threads this process may run on (CPU affinity and cgroup quota applied).
    pub logical_threads: Option<u32>,
    /// Base (nominal) frequency in MHz, where the OS or CPUID tells it.
    pub base_frequency_mhz: Option<u32>,
    /// Highest (boost) frequency in MHz, where the OS or CPUID tells it.
    pub max_frequency_mhz: Option<u32>,
    /// Caches, innermost first; each size is that of one instance of the cache.
    pub caches: Vec<CpuCache>,
    /// Vector and matrix extensions usable here, lowercase: `avx2`, `avx512f`, `amx-tile`,
    /// `neon`.
    pub simd_capabilities: Vec<String>,
}

/// One level of CPU cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct CpuCache {
    /// 1 for L1, 2 for L2, ...
    pub level: u8,
    /// What it holds.
    pub kind: CacheKind,
    /// Size of one instance in bytes.
    pub size_bytes: u64,
    /// How many logical threads share one instance, where CPUID tells it.
    pub shared_by_threads: Option<u32>,
}

/// What a cache holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum CacheKind {
    /// Data only.
    Data,
    /// Instructions only.
    Instruction,
    /// Both.
    Unified,
}

/// System memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct MemoryDetails {
    /// Installed memory the OS reports, in MiB.
    pub total_mb: Option<u64>,
    /// Memory available for new allocations, in MiB.
    pub available_mb: Option<u64>,
    /// The cgroup (container) memory limit in MiB, when one applies and is below the total.
    pub cgroup_limit_mb: Option<u64>,
}

/// One NUMA node: CPUs and memory that are close to each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct NumaNode {
    /// Node number, as in `/sys/devices/system/node/node0`.
    pub id: u32,
    /// Logical CPU numbers of the node.
    pub cpus: Vec<u32>,
    /// Memory of the node in MiB.
    pub memory_total_mb: Option<u64>,
    /// Free memory of the node in MiB.
    pub memory_free_mb: Option<u64>,
}

impl Detection {
    /// The report of the probe with this name (`cpu-model`, `gpu`, ...).
    pub fn probe(&self, name: &str) -> Option<&ProbeReport> {
        self.probes.iter().find(|report| report.name == name)
    }
}

/// How one probe fared.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ProbeReport {
    /// What was probed: `cpu-model`, `cpu-threads`, `cpu-cores`, `cpu-frequency`,
    /// `cpu-caches`, `simd`, `memory`, `numa`, then `gpu` when no GPU probe is compiled in or
    /// the name of each GPU probe that ran (`nvml`, `wgpu`).
    pub name: String,
    /// Whether it found its facts.
    #[serde(flatten)]
    pub status: ProbeStatus,
    /// Wall time the probe took, in milliseconds.
    pub elapsed_ms: f64,
}

/// Whether a probe found its facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProbeStatus {
    /// The probe found its facts.
    Ok,
    /// The probe found nothing; the reason says why (no driver, not supported here).
    Unavailable {
        /// Why, in lowercase words: `no GPU probe compiled in (features nvml, wgpu)`.
        reason: String,
    },
}

impl ProbeStatus {
    /// Whether the probe found its facts.
    pub fn is_ok(&self) -> bool {
        matches!(self, ProbeStatus::Ok)
    }
}
