//! What a device can do, as the performance model needs it: the GPU figures an injected
//! catalog supplies, and the CPU figures derived from what the machine reports.
//!
//! The catalog is a trait so that this crate stays free of data tables and of I/O: the
//! accelerator table lives in `advisor-hw-table`, which implements [`AcceleratorCatalog`].

use serde::{Deserialize, Serialize};

use crate::{config::Precision, hardware::ComputeCapability};

/// Who makes a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GpuVendor {
    /// NVIDIA: CUDA devices with a compute capability.
    Nvidia,
    /// AMD: ROCm devices (no CUDA compute capability).
    Amd,
}

impl GpuVendor {
    /// The vendor's name as usually written: `NVIDIA`, `AMD`.
    pub fn name(self) -> &'static str {
        match self {
            GpuVendor::Nvidia => "NVIDIA",
            GpuVendor::Amd => "AMD",
        }
    }
}

/// Dense peak throughput per data type, in FLOP/s (OP/s for int8). `None` means the device
/// has no fast path for that type (bf16 on a T4, fp8 on an A100).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PeakThroughput {
    /// fp32 on the ordinary vector units.
    pub fp32: Option<f64>,
    /// TF32 on tensor cores (fp32 matmuls with `torch.set_float32_matmul_precision("high")`).
    pub tf32: Option<f64>,
    /// fp16 on tensor cores (or the fp16 vector path).
    pub fp16: Option<f64>,
    /// bf16 on tensor cores (or a bf16 dot-product instruction on a CPU).
    pub bf16: Option<f64>,
    /// fp8 on tensor cores.
    pub fp8: Option<f64>,
    /// int8 on tensor cores or int8 dot-product instructions.
    pub int8: Option<f64>,
}

impl PeakThroughput {
    /// Peak for a compute precision. int4 has no peak of its own: weight-only int4 computes in
    /// 16-bit, and int4 tensor-core paths are not what serving stacks use.
    pub fn for_precision(&self, precision: Precision) -> Option<f64> {
        let value = match precision {
            Precision::Fp32 => self.fp32,
            Precision::Fp16 => self.fp16,
            Precision::Bf16 => self.bf16,
            Precision::Fp8 => self.fp8,
            Precision::Int8 => self.int8,
            Precision::Int4 => None,
        }?;
        (value.is_finite() && value > 0.0).then_some(value)
    }
}

/// One GPU model's figures, as an [`AcceleratorCatalog`] gives them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GpuSpec {
    /// Stable catalog id: `nvidia-a100-80gb`.
    pub id: String,
    /// Marketing name: `NVIDIA A100 80GB SXM`.
    pub name: String,
    /// Who makes it.
    pub vendor: GpuVendor,
    /// CUDA compute capability; `None` for devices that are not CUDA devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_capability: Option<ComputeCapability>,
    /// Memory of one device in bytes.
    pub memory_bytes: u64,
    /// Peak memory bandwidth in bytes per second.
    pub memory_bandwidth_bytes_per_second: f64,
    /// Dense peaks per data type.
    pub peak: PeakThroughput,
    /// Whether it has matrix units (NVIDIA tensor cores, AMD matrix cores).
    pub matrix_units: bool,
    /// The link between devices of one machine (`NVLink 3 (12 links)`, `PCIe 4.0 x16`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub link: String,
    /// Peak bandwidth of that link per device, both directions together, bytes per second, as
    /// datasheets quote it; `None` when not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_bandwidth_bytes_per_second: Option<f64>,
    /// Architecture family as the vendor names it (`Ampere`, `Hopper`, `CDNA 3`).
    pub architecture: String,
    /// The datasheet the figures come from.
    pub source: String,
}

impl GpuSpec {
    /// Whether FlashAttention-2 runs on this GPU: NVIDIA Ampere and newer (sm80+), AMD
    /// MI200/MI300 (CDNA 2 and 3) through ROCm's port (Dao 2023; ROCm/flash-attention).
    pub fn runs_flash_attention_2(&self) -> bool {
        match self.vendor {
            GpuVendor::Nvidia => self
                .compute_capability
                .is_some_and(|cc| cc >= ComputeCapability::new(8, 0)),
            GpuVendor::Amd => self.architecture.starts_with("CDNA"),
        }
    }
}

/// Where GPU figures come from: the accelerator table, injected so that rules and the model
/// never reach data tables or probing code themselves.
pub trait AcceleratorCatalog: Send + Sync {
    /// The figures of the GPU a driver calls `driver_name`, if the catalog knows it.
    fn gpu(&self, driver_name: &str, memory_mb: Option<u64>) -> Option<GpuSpec>;

    /// Whether a driver name is a software renderer (llvmpipe), which is never a GPU.
    fn is_software_adapter(&self, driver_name: &str) -> bool;
}

/// A catalog that knows no GPU: the default of an empty advisor.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmptyCatalog;

impl AcceleratorCatalog for EmptyCatalog {
    fn gpu(&self, _: &str, _: Option<u64>) -> Option<GpuSpec> {
        None
    }

    fn is_software_adapter(&self, driver_name: &str) -> bool {
        let lower = driver_name.to_ascii_lowercase();
        ["llvmpipe", "lavapipe", "swiftshader", "softpipe"]
            .iter()
            .any(|name| lower.contains(name))
    }
}
