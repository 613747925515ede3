//! GPU probes: the trait that the NVML and wgpu probes implement, and what they report.

use advisor_core::ComputeCapability;
use advisor_hw_table::{Accelerator, is_software_adapter};
use serde::{Deserialize, Serialize};

/// Why the GPU fields stay empty when no GPU probe is compiled in.
pub const NO_GPU_PROBE_REASON: &str = "no GPU probe compiled in (features nvml, wgpu)";

/// One GPU as a probe sees it: what NVML reports about an NVIDIA device, or the little a
/// graphics adapter tells through wgpu. A reading the probe cannot make stays `None`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct GpuDevice {
    /// The name the driver reports: `NVIDIA A100-SXM4-80GB`.
    pub name: String,
    /// The driver's unique id of the device: `GPU-27b94a00-ed54-5c24-b1fd-1054085de32a`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Total memory in MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// Memory in use in MiB when probed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_used_mb: Option<u64>,
    /// CUDA compute capability.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compute_capability: Option<ComputeCapability>,
    /// Streaming multiprocessors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sm_count: Option<u32>,
    /// Highest graphics clock in MHz.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_graphics_clock_mhz: Option<u32>,
    /// Highest SM clock in MHz.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_sm_clock_mhz: Option<u32>,
    /// Highest memory clock in MHz.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_memory_clock_mhz: Option<u32>,
    /// Enforced power limit in watts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub power_limit_watts: Option<f64>,
    /// Highest PCIe generation the device and its slot support.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pcie_generation: Option<u32>,
    /// Highest PCIe link width (lanes) the device and its slot support.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pcie_width: Option<u32>,
    /// Whether Multi-Instance GPU mode is on: the device is then split into slices, and one
    /// process sees only its slice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mig_enabled: Option<bool>,
    /// Share of the last sample period in which a kernel ran, in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utilization_gpu_percent: Option<u32>,
    /// Share of the last sample period in which memory was read or written, in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utilization_memory_percent: Option<u32>,
    /// Driver version: `510.47.03`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_version: Option<String>,
    /// The newest CUDA version the driver supports: `11.6`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cuda_driver_version: Option<String>,
    /// The accelerator table's entry for this device, with its bandwidth and peak throughput
    /// per data type; `None` when the name matches no entry. Filled in by `detect_with`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accelerator: Option<&'static Accelerator>,
}

impl GpuDevice {
    /// A device known only by its name; set the other readings on the result.
    ///
    /// ```
    /// let mut device = advisor_hw::GpuDevice::named("NVIDIA L4");
    /// device.memory_mb = Some(23_034);
    /// assert_eq!(device.name, "NVIDIA L4");
    /// ```
    pub fn named(name: impl Into<String>) -> GpuDevice {
        GpuDevice {
            name: name.into(),
            ..GpuDevice::default()
        }
    }
}

/// What kind of device a graphics adapter is, as wgpu reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AdapterType {
    /// A GPU on its own card.
    DiscreteGpu,
    /// A GPU in the CPU package, sharing system memory.
    IntegratedGpu,
    /// A GPU exposed by a hypervisor.
    VirtualGpu,
    /// A renderer that runs on the CPU, such as llvmpipe or lavapipe.
    Cpu,
    /// The driver did not say.
    Other,
}

/// A graphics adapter as wgpu enumerates it. Software renderers are listed too, flagged
/// `software`, and never count as accelerators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct Adapter {
    /// Adapter name: `llvmpipe (LLVM 15.0.6, 256 bits)`, `NVIDIA GeForce RTX 4090`.
    pub name: String,
    /// PCI vendor id (`0x10de` NVIDIA, `0x1002` AMD, `0x8086` Intel; `0x10005` Mesa).
    pub vendor_id: u32,
    /// PCI device id, or 0 when the backend has none.
    pub device_id: u32,
    /// What kind of device it is.
    pub device_type: AdapterType,
    /// The graphics API wgpu reached it through: `vulkan`, `metal`, `dx12`, `gl`.
    pub backend: String,
    /// Driver name: `llvmpipe`, `NVIDIA`.
    pub driver: String,
    /// Driver details, usually its version: `Mesa 22.3.6 (LLVM 15.0.6)`.
    pub driver_info: String,
    /// Whether it renders on the CPU; such an adapter is not a GPU.
    pub software: bool,
}

impl Adapter {
    /// An adapter with these facts; `software` is set when the device type is
    /// [`AdapterType::Cpu`] or the name is a known software renderer.
    ///
    /// ```
    /// use advisor_hw::{Adapter, AdapterType};
    ///
    /// let lavapipe = Adapter::new("llvmpipe (LLVM 15.0.6, 256 bits)", 0x10005, 0,
    ///     AdapterType::Other, "vulkan", "llvmpipe", "Mesa 22.3.6");
    /// assert!(lavapipe.software);
    /// ```
    #[allow(
        clippy::too_many_arguments,
        reason = "one argument per field of a plain record"
    )]
    pub fn new(
        name: impl Into<String>,
        vendor_id: u32,
        device_id: u32,
        device_type: AdapterType,
        backend: impl Into<String>,
        driver: impl Into<String>,
        driver_info: impl Into<String>,
    ) -> Adapter {
        let name = name.into();
        let software = device_type == AdapterType::Cpu || is_software_adapter(&name);
        Adapter {
            name,
            vendor_id,
            device_id,
            device_type,
            backend: backend.into(),
            driver: driver.into(),
            driver_info: driver_info.into(),
            software,
        }
    }
}

/// What one GPU probe found: GPUs, and for probes that enumerate graphics adapters, every
/// adapter seen (software renderers included).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct GpuFindings {
    /// The GPUs found, in the driver's order. Software renderers among them are dropped.
    pub devices: Vec<GpuDevice>,
    /// Every graphics adapter seen, for probes that enumerate adapters (wgpu).
    pub adapters: Vec<Adapter>,
}

impl GpuFindings {
    /// Findings of these GPUs and these adapters.
    pub fn new(devices: Vec<GpuDevice>, adapters: Vec<Adapter>) -> GpuFindings {
        GpuFindings { devices, adapters }
    }
}

impl From<Vec<GpuDevice>> for GpuFindings {
    fn from(devices: Vec<GpuDevice>) -> GpuFindings {
        GpuFindings {
            devices,
            adapters: Vec::new(),
        }
    }
}

/// A way to list this machine's GPUs, such as NVML or wgpu.
///
/// `detect_with` runs probes in order, on a thread beside the CPU and memory probes, and
/// keeps the first that finds a GPU that is not a software renderer; later probes do not run.
pub trait GpuProbe: Sync {
    /// Short name for the probe's report: `nvml`, `wgpu`.
    fn name(&self) -> &'static str;

    /// What the probe found; `Err` with a lowercase reason when it cannot run here
    /// (`libnvidia-ml.so.1 not found`).
    fn probe(&self) -> Result<GpuFindings, String>;
}
