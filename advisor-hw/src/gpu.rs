//! GPU probes: the trait that NVML and wgpu probes implement, and what they report.
//!
//! No GPU probe is compiled in yet; the `nvml` and `wgpu` features will add them. Until then
//! `detect` reports the GPU as unavailable, and callers may pass their own probes to
//! `detect_with`.

use advisor_core::ComputeCapability;

/// Why the GPU fields stay empty when no GPU probe is compiled in.
pub const NO_GPU_PROBE_REASON: &str = "no GPU probe compiled in (features nvml, wgpu)";

/// One GPU as a probe sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuDevice {
    /// The name the driver reports: `NVIDIA A100-SXM4-80GB`.
    pub name: String,
    /// Total memory in MiB, when the probe can read it.
    pub memory_mb: Option<u64>,
    /// CUDA compute capability, when the probe can read it.
    pub compute_capability: Option<ComputeCapability>,
}

/// A way to list this machine's GPUs, such as NVML or wgpu.
///
/// `detect_with` runs probes in order and keeps the first that finds a GPU that is not a
/// software renderer; later probes do not run.
pub trait GpuProbe {
    /// Short name for the probe's report: `nvml`, `wgpu`.
    fn name(&self) -> &'static str;

    /// The GPUs found, in the driver's order; `Err` with a lowercase reason when the probe
    /// cannot run here (`libnvidia-ml.so not found`).
    fn probe(&self) -> Result<Vec<GpuDevice>, String>;
}
