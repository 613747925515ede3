//! The accelerator table: datasheet figures for the GPUs the advisor knows by name.

use std::fmt;

use advisor_core::{ComputeCapability, HardwareInfo};
use serde::Serialize;

const GIB: u64 = 1 << 30;
const GB_PER_SECOND: f64 = 1e9;

/// Who makes an accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Vendor {
    /// NVIDIA: CUDA devices with a compute capability.
    Nvidia,
    /// AMD: ROCm devices, which have no CUDA compute capability.
    Amd,
}

impl Vendor {
    /// The vendor's name as it is usually written: `NVIDIA`, `AMD`.
    pub fn name(self) -> &'static str {
        match self {
            Vendor::Nvidia => "NVIDIA",
            Vendor::Amd => "AMD",
        }
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One accelerator model with its datasheet figures.
///
/// Throughput figures are dense peaks (without 2:4 structured sparsity, which datasheets
/// often quote at twice the dense figure) at boost clock, in TFLOP/s, or TOP/s for int8.
/// A figure is `None` when the part has no fast path for that data type, or when no
/// vendor figure is published; the entry's comment in the table says which.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct Accelerator {
    /// Stable identifier, lowercase words joined by dashes: `nvidia-a100-80gb`.
    pub id: &'static str,
    /// Marketing name: `NVIDIA A100 80GB SXM`.
    pub name: &'static str,
    /// Who makes it.
    pub vendor: Vendor,
    /// CUDA compute capability; `None` for devices that are not CUDA devices.
    pub compute_capability: Option<ComputeCapability>,
    /// Memory capacity of one device in bytes, as the datasheet states it. Datasheet
    /// "GB" on these parts are binary (GiB); drivers report a little less because of
    /// ECC and reserved memory.
    pub memory_bytes: u64,
    /// Peak memory bandwidth in bytes per second.
    pub memory_bandwidth_bytes_per_second: f64,
    /// Peak FP32 on the ordinary (non-tensor) cores, TFLOP/s.
    pub fp32_tflops: f64,
    /// Peak TF32 on tensor cores, TFLOP/s; `None` before Ampere.
    pub tf32_tflops: Option<f64>,
    /// Peak FP16 on tensor cores with FP32 accumulation (what mixed-precision training
    /// and inference use; GeForce parts run it at half their FP16-accumulate rate), TFLOP/s.
    pub fp16_tflops: f64,
    /// Peak BF16 on tensor cores with FP32 accumulation, TFLOP/s; `None` before Ampere.
    pub bf16_tflops: Option<f64>,
    /// Peak FP8 on tensor cores, TFLOP/s; `None` before Ada and Hopper.
    pub fp8_tflops: Option<f64>,
    /// Peak INT8 on tensor cores, TOP/s.
    pub int8_tops: Option<f64>,
    /// The link between devices of one machine: NVLink, Infinity Fabric or PCIe.
    pub link: &'static str,
    /// Peak bandwidth of that link per device, both directions together, bytes per second,
    /// as datasheets quote it (NVLink 600 GB/s on an A100 SXM; PCIe 4.0 x16 64 GB/s).
    pub link_bandwidth_bytes_per_second: f64,
    /// Whether it has matrix-multiply units: NVIDIA tensor cores or AMD matrix cores.
    pub tensor_cores: bool,
    /// The datasheet or whitepaper the figures come from.
    pub source: &'static str,
}

impl Accelerator {
    /// The peak a matmul-class operator on `element_bits`-bit inputs can reach, TFLOP/s: fp8
    /// (or int8) tensor cores for 8 bits, fp16 tensor cores for 16, TF32 tensor cores for 32
    /// when `tf32` (the run's fp32 matmuls run as TF32), else the fp32 cores. `None` for other
    /// widths (fp64: the table has no fp64 figure).
    pub fn peak_tflops_for_bits(&self, element_bits: u32, tf32: bool) -> Option<f64> {
        match element_bits {
            8 => Some(
                self.fp8_tflops
                    .or(self.int8_tops)
                    .unwrap_or(self.fp16_tflops),
            ),
            16 => Some(self.fp16_tflops),
            32 if tf32 => Some(self.tf32_tflops.unwrap_or(self.fp32_tflops)),
            32 => Some(self.fp32_tflops),
            _ => None,
        }
    }

    /// Memory capacity in MiB, the unit of [`HardwareInfo::gpu_memory_mb`].
    pub fn memory_mb(&self) -> u64 {
        self.memory_bytes >> 20
    }

    /// The hardware facts of one such device, for analysing a deployment target.
    ///
    /// The CPU fields stay `None`: a GPU model says nothing about its host.
    ///
    /// ```
    /// let a100 = advisor_hw_table::find_accelerator("nvidia-a100-80gb").unwrap();
    /// let info = a100.to_hardware_info();
    /// assert_eq!(info.gpu_memory_mb, Some(80 * 1024));
    /// assert_eq!(info.gpu_compute_capability.unwrap().to_string(), "8.0");
    /// assert_eq!(info.cpu_cores, None);
    /// ```
    pub fn to_hardware_info(&self) -> HardwareInfo {
        HardwareInfo {
            gpu_model: Some(self.name.to_owned()),
            gpu_memory_mb: Some(self.memory_mb()),
            gpu_count: Some(1),
            gpu_compute_capability: self.compute_capability,
            ..HardwareInfo::default()
        }
    }
}

/// Every accelerator the advisor knows, older generations first.
pub fn accelerators() -> &'static [Accelerator] {
    ACCELERATORS
}

/// The accelerator with this exact id, such as `nvidia-h100-sxm`.
pub fn find_accelerator(id: &str) -> Option<&'static Accelerator> {
    ACCELERATORS.iter().find(|accelerator| accelerator.id == id)
}

const VOLTA: Option<ComputeCapability> = Some(ComputeCapability::new(7, 0));
const TURING: Option<ComputeCapability> = Some(ComputeCapability::new(7, 5));
const AMPERE_GA100: Option<ComputeCapability> = Some(ComputeCapability::new(8, 0));
const AMPERE_GA10X: Option<ComputeCapability> = Some(ComputeCapability::new(8, 6));
const ADA: Option<ComputeCapability> = Some(ComputeCapability::new(8, 9));
const HOPPER: Option<ComputeCapability> = Some(ComputeCapability::new(9, 0));

const V100_DATASHEET: &str = "NVIDIA V100 Tensor Core GPU datasheet (2020)";
const A100_DATASHEET: &str = "NVIDIA A100 Tensor Core GPU datasheet (2021), \
     https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf";
const H100_DATASHEET: &str = "NVIDIA H100 Tensor Core GPU datasheet (2022), \
     https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet";

static ACCELERATORS: &[Accelerator] = &[
    // V100 datasheet, SXM2 column: 15.7 TFLOPS FP32, 125 TFLOPS tensor (mixed FP16/FP32),
    // 900 GB/s HBM2. Volta has no TF32, BF16 or FP8, and the datasheet gives no INT8
    // figure (INT8 runs on DP4A, not on the tensor cores).
    Accelerator {
        id: "nvidia-v100-sxm2-16gb",
        name: "NVIDIA Tesla V100 SXM2 16GB",
        vendor: Vendor::Nvidia,
        compute_capability: VOLTA,
        memory_bytes: 16 * GIB,
        memory_bandwidth_bytes_per_second: 900.0 * GB_PER_SECOND,
        fp32_tflops: 15.7,
        tf32_tflops: None,
        fp16_tflops: 125.0,
        bf16_tflops: None,
        fp8_tflops: None,
        int8_tops: None,
        // V100 datasheet: NVLink 300 GB/s.
        link: "NVLink 2 (6 links)",
        link_bandwidth_bytes_per_second: 300.0 * GB_PER_SECOND,
        tensor_cores: true,
        source: V100_DATASHEET,
    },
    // V100 datasheet, SXM2 column, 32 GB configuration: same compute as the 16 GB part.
    Accelerator {
        id: "nvidia-v100-sxm2-32gb",
        name: "NVIDIA Tesla V100 SXM2 32GB",
        vendor: Vendor::Nvidia,
        compute_capability: VOLTA,
        memory_bytes: 32 * GIB,
        memory_bandwidth_bytes_per_second: 900.0 * GB_PER_SECOND,
        fp32_tflops: 15.7,
        tf32_tflops: None,
        fp16_tflops: 125.0,
        bf16_tflops: None,
        fp8_tflops: None,
        int8_tops: None,
        // V100 datasheet: NVLink 300 GB/s.
        link: "NVLink 2 (6 links)",
        link_bandwidth_bytes_per_second: 300.0 * GB_PER_SECOND,
        tensor_cores: true,
        source: V100_DATASHEET,
    },
    // V100 datasheet, PCIe column: 14 TFLOPS FP32, 112 TFLOPS tensor, 900 GB/s.
    Accelerator {
        id: "nvidia-v100-pcie-16gb",
        name: "NVIDIA Tesla V100 PCIe 16GB",
        vendor: Vendor::Nvidia,
        compute_capability: VOLTA,
        memory_bytes: 16 * GIB,
        memory_bandwidth_bytes_per_second: 900.0 * GB_PER_SECOND,
        fp32_tflops: 14.0,
        tf32_tflops: None,
        fp16_tflops: 112.0,
        bf16_tflops: None,
        fp8_tflops: None,
        int8_tops: None,
        // V100 datasheet: PCIe interconnect 32 GB/s.
        link: "PCIe 3.0 x16",
        link_bandwidth_bytes_per_second: 32.0 * GB_PER_SECOND,
        tensor_cores: true,
        source: V100_DATASHEET,
    },
    // V100 datasheet, PCIe column, 32 GB configuration.
    Accelerator {
        id: "nvidia-v100-pcie-32gb",
        name: "NVIDIA Tesla V100 PCIe 32GB",
        vendor: Vendor::Nvidia,
        compute_capability: VOLTA,
        memory_bytes: 32 * GIB,
        memory_bandwidth_bytes_per_second: 900.0 * GB_PER_SECOND,
        fp32_tflops: 14.0,
        tf32_tflops: None,
        fp16_tflops: 112.0,
        bf16_tflops: None,
        fp8_tflops: None,
        int8_tops: None,
        // V100 datasheet: PCIe interconnect 32 GB/s.
        link: "PCIe 3.0 x16",
        link_bandwidth_bytes_per_second: 32.0 * GB_PER_SECOND,
        tensor_cores: true,
        source: V100_DATASHEET,
    },
    // T4 datasheet: 8.1 TFLOPS FP32, 65 TFLOPS mixed FP16/FP32, 130 TOPS INT8,
    // 16 GB GDDR6 at 320 GB/s ("320+ GB/s"). Turing has no TF32, BF16 or FP8.
    Accelerator {
        id: "nvidia-t4",
        name: "NVIDIA T4",
        vendor: Vendor::Nvidia,
        compute_capability: TURING,
        memory_bytes: 16 * GIB,
        memory_bandwidth_bytes_per_second: 320.0 * GB_PER_SECOND,
        fp32_tflops: 8.1,
        tf32_tflops: None,
        fp16_tflops: 65.0,
        bf16_tflops: None,
        fp8_tflops: None,
        int8_tops: Some(130.0),
        // T4 datasheet: PCIe Gen3 x16, 32 GB/s.
        link: "PCIe 3.0 x16",
        link_bandwidth_bytes_per_second: 32.0 * GB_PER_SECOND,
        tensor_cores: true,
        source: "NVIDIA T4 Tensor Core GPU datasheet, \
                 https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/tesla-t4/t4-tensor-core-datasheet-951643.pdf",
    },
    // NVIDIA publishes no A10G datasheet; AWS's G5 figures (as compiled by Baseten): 80 SMs,
    // 35 TFLOPS FP32, 70 TFLOPS FP16 tensor, 24 GB GDDR6 at 600 GB/s. Its tensor cores run
    // at the GeForce rate (half the A10's), so TF32 is half of FP16 as on GA102 GeForce.
    // No INT8 figure is published.
    Accelerator {
        id: "nvidia-a10g",
        name: "NVIDIA A10G",
        vendor: Vendor::Nvidia,
        compute_capability: AMPERE_GA10X,
        memory_bytes: 24 * GIB,
        memory_bandwidth_bytes_per_second: 600.0 * GB_PER_SECOND,
        fp32_tflops: 35.0,
        tf32_tflops: Some(35.0),
        fp16_tflops: 70.0,
        bf16_tflops: Some(70.0),
        fp8_tflops: None,
        int8_tops: None,
        // PCIe Gen4 x16, 64 GB/s (no NVLink on G5 instances).
        link: "PCIe 4.0 x16",
        link_bandwidth_bytes_per_second: 64.0 * GB_PER_SECOND,
        tensor_cores: true,
        source: "AWS EC2 G5 instance specifications, compiled in Baseten, \"NVIDIA A10 vs A10G for ML \
                 model inference\", https://www.baseten.co/blog/nvidia-a10-vs-a10g-for-ml-model-inference/",
    },
    // A10 datasheet: 31.2 TFLOPS FP32, 62.5 TF32, 125 BF16/FP16, 250 TOPS INT8 (dense),
    // 24 GB GDDR6 at 600 GB/s. Ampere GA102 has no FP8.
    Accelerator {
        id: "nvidia-a10",
        name: "NVIDIA A10",
        vendor: Vendor::Nvidia,
        compute_capability: AMPERE_GA10X,
        memory_bytes: 24 * GIB,
        memory_bandwidth_bytes_per_second: 600.0 * GB_PER_SECOND,
        fp32_tflops: 31.2,
        tf32_tflops: Some(62.5),
        fp16_tflops: 125.0,
        bf16_tflops: Some(125.0),
        fp8_tflops: None,
        int8_tops: Some(250.0),
        // A10 datasheet: PCIe Gen4 64 GB/s.
        link: "PCIe 4.0 x16",
        link_bandwidth_bytes_per_second: 64.0 * GB_PER_SECOND,
        tensor_cores: true,
        source: "NVIDIA A10 Tensor Core GPU datasheet (2021)",
    },
    // L4 datasheet: 30.3 TFLOPS FP32; tensor figures are quoted with sparsity (TF32 120,
    // FP16/BF16 242, FP8/INT8 485), halved here; 24 GB GDDR6 at 300 GB/s.
    Accelerator {
        id: "nvidia-l4",
        name: "NVIDIA L4",
        vendor: Vendor::Nvidia,
        compute_capability: ADA,
        memory_bytes: 24 * GIB,
        memory_bandwidth_bytes_per_second: 300.0 * GB_PER_SECOND,
        fp32_tflops: 30.3,
        tf32_tflops: Some(60.0),
        fp16_tflops: 121.0,
        bf16_tflops: Some(121.0),
        fp8_tflops: Some(242.5),
        int8_tops: Some(242.5),
        // L4 datasheet: PCIe Gen4 x16 64 GB/s.
        link: "PCIe 4.0 x16",
        link_bandwidth_bytes_per_second: 64.0 * GB_PER_SECOND,
        tensor_cores: true,
        source: "NVIDIA L4 Tensor Core GPU datasheet (2023)",
    },
    // L40S datasheet: 91.6 TFLOPS FP32, dense TF32 183, BF16/FP16 362.05, FP8 733,
    // INT8 733; 48 GB GDDR6 at 864 GB/s.
    Accelerator {
        id: "nvidia-l40s",
        name: "NVIDIA L40S",
        vendor: Vendor::Nvidia,
        compute_capability: ADA,
        memory_bytes: 48 * GIB,
        memory_bandwidth_bytes_per_second: 864.0 * GB_PER_SECOND,
        fp32_tflops: 91.6,
        tf32_tflops: Some(183.0),
        fp16_tflops: 362.05,
        bf16_tflops: Some(362.05),
        fp8_tflops: Some(733.0),
        int8_tops: Some(733.0),
        // L40S datasheet: PCIe Gen4 x16 64 GB/s bidirectional.
        link: "PCIe 4.0 x16",
        link_bandwidth_bytes_per_second: 64.0 * GB_PER_SECOND,
        tensor_cores: true,
        source: "NVIDIA L40S GPU for AI and Graphics Performance datasheet (2023)",
    },
    // A100 datasheet, 40 GB column: 19.5 TFLOPS FP32, dense TF32 156, BF16/FP16 312,
    // INT8 624; HBM2 at 1,555 GB/s. The 40 GB PCIe card has the same peaks. No FP8.
    Accelerator {
        id: "nvidia-a100-40gb",
        name: "NVIDIA A100 40GB",
        vendor: Vendor::Nvidia,
        compute_capability: AMPERE_GA100,
        memory_bytes: 40 * GIB,
        memory_bandwidth_bytes_per_second: 1555.0 * GB_PER_SECOND,
        fp32_tflops: 19.5,
        tf32_tflops: Some(156.0),
        fp16_tflops: 312.0,
        bf16_tflops: Some(312.0),
        fp8_tflops: None,
        int8_tops: Some(624.0),
        // A100 datasheet: NVLink 600 GB/s.
        link: "NVLink 3 (12 links)",
        link_bandwidth_bytes_per_second: 600.0 * GB_PER_SECOND,
        tensor_cores: true,
        source: A100_DATASHEET,
    },
    // A100 datasheet, 80 GB SXM column: same compute, HBM2e at 2,039 GB/s.
    Accelerator {
        id: "nvidia-a100-80gb",
        name: "NVIDIA A100 80GB SXM",
        vendor: Vendor::Nvidia,
        compute_capability: AMPERE_GA100,
        memory_bytes: 80 * GIB,
        memory_bandwidth_bytes_per_second: 2039.0 * GB_PER_SECOND,
        fp32_tflops: 19.5,
        tf32_tflops: Some(156.0),
        fp16_tflops: 312.0,
        bf16_tflops: Some(312.0),
        fp8_tflops: None,
        int8_tops: Some(624.0),
        // A100 datasheet: NVLink 600 GB/s.
        link: "NVLink 3 (12 links)",
        link_bandwidth_bytes_per_second: 600.0 * GB_PER_SECOND,
        tensor_cores: true,
        source: A100_DATASHEET,
    },
    // A100 datasheet, 80 GB PCIe column: same compute, HBM2e at 1,935 GB/s.
    Accelerator {
        id: "nvidia-a100-80gb-pcie",
        name: "NVIDIA A100 80GB PCIe",
        vendor: Vendor::Nvidia,
        compute_capability: AMPERE_GA100,
        memory_bytes: 80 * GIB,
        memory_bandwidth_bytes_per_second: 1935.0 * GB_PER_SECOND,
        fp32_tflops: 19.5,
        tf32_tflops: Some(156.0),
        fp16_tflops: 312.0,
        bf16_tflops: Some(312.0),
        fp8_tflops: None,
        int8_tops: Some(624.0),
        // A100 datasheet, PCIe column: PCIe Gen4 64 GB/s (an NVLink bridge joins pairs only).
        link: "PCIe 4.0 x16",
        link_bandwidth_bytes_per_second: 64.0 * GB_PER_SECOND,
        tensor_cores: true,
        source: A100_DATASHEET,
    },
    // H100 datasheet, SXM column: 67 TFLOPS FP32; tensor figures are quoted with sparsity
    // (TF32 989, BF16/FP16 1,979, FP8/INT8 3,958), halved here; 80 GB HBM3 at 3.35 TB/s.
    Accelerator {
        id: "nvidia-h100-sxm",
        name: "NVIDIA H100 SXM",
        vendor: Vendor::Nvidia,
        compute_capability: HOPPER,
        memory_bytes: 80 * GIB,
        memory_bandwidth_bytes_per_second: 3350.0 * GB_PER_SECOND,
        fp32_tflops: 67.0,
        tf32_tflops: Some(494.5),
        fp16_tflops: 989.5,
        bf16_tflops: Some(989.5),
        fp8_tflops: Some(1979.0),
        int8_tops: Some(1979.0),
        // H100 datasheet: NVLink 900 GB/s.
        link: "NVLink 4 (18 links)",
        link_bandwidth_bytes_per_second: 900.0 * GB_PER_SECOND,
        tensor_cores: true,
        source: H100_DATASHEET,
    },
    // H100 datasheet, PCIe column: 51 TFLOPS FP32; sparse TF32 756, BF16/FP16 1,513,
    // FP8/INT8 3,026, halved here; 80 GB HBM2e at 2 TB/s.
    Accelerator {
        id: "nvidia-h100-pcie",
        name: "NVIDIA H100 PCIe",
        vendor: Vendor::Nvidia,
        compute_capability: HOPPER,
        memory_bytes: 80 * GIB,
        memory_bandwidth_bytes_per_second: 2000.0 * GB_PER_SECOND,
        fp32_tflops: 51.0,
        tf32_tflops: Some(378.0),
        fp16_tflops: 756.5,
        bf16_tflops: Some(756.5),
        fp8_tflops: Some(1513.0),
        int8_tops: Some(1513.0),
        // H100 datasheet, PCIe column: PCIe Gen5 128 GB/s (an NVLink bridge joins pairs only).
        link: "PCIe 5.0 x16",
        link_bandwidth_bytes_per_second: 128.0 * GB_PER_SECOND,
        tensor_cores: true,
        source: H100_DATASHEET,
    },
    // H200 datasheet, SXM column: the H100 SXM's compute (sparse figures halved here) with
    // 141 GB HBM3e at 4.8 TB/s.
    Accelerator {
        id: "nvidia-h200",
        name: "NVIDIA H200",
        vendor: Vendor::Nvidia,
        compute_capability: HOPPER,
        memory_bytes: 141 * GIB,
        memory_bandwidth_bytes_per_second: 4800.0 * GB_PER_SECOND,
        fp32_tflops: 67.0,
        tf32_tflops: Some(494.5),
        fp16_tflops: 989.5,
        bf16_tflops: Some(989.5),
        fp8_tflops: Some(1979.0),
        int8_tops: Some(1979.0),
        // H200 datasheet: NVLink 900 GB/s.
        link: "NVLink 4 (18 links)",
        link_bandwidth_bytes_per_second: 900.0 * GB_PER_SECOND,
        tensor_cores: true,
        source: "NVIDIA H200 Tensor Core GPU datasheet (2024)",
    },
    // GA102 whitepaper, appendix table for the GeForce RTX 3090: 35.6 TFLOPS FP32, dense
    // TF32 35.6, FP16 and BF16 with FP32 accumulate 71, INT8 284; 24 GB GDDR6X at 936 GB/s.
    Accelerator {
        id: "nvidia-rtx-3090",
        name: "NVIDIA GeForce RTX 3090",
        vendor: Vendor::Nvidia,
        compute_capability: AMPERE_GA10X,
        memory_bytes: 24 * GIB,
        memory_bandwidth_bytes_per_second: 936.0 * GB_PER_SECOND,
        fp32_tflops: 35.6,
        tf32_tflops: Some(35.6),
        fp16_tflops: 71.0,
        bf16_tflops: Some(71.0),
        fp8_tflops: None,
        int8_tops: Some(284.0),
        // GA102 whitepaper: PCIe Gen4 x16, 64 GB/s (its NVLink bridge joins pairs only).
        link: "PCIe 4.0 x16",
        link_bandwidth_bytes_per_second: 64.0 * GB_PER_SECOND,
        tensor_cores: true,
        source: "NVIDIA Ampere GA102 GPU Architecture whitepaper, appendix A, \
                 https://www.nvidia.com/content/PDF/nvidia-ampere-ga-102-gpu-architecture-whitepaper-v2.pdf",
    },
    // Ada whitepaper, appendix table for the GeForce RTX 4090: 82.6 TFLOPS FP32, dense TF32
    // 82.6, FP16 and BF16 with FP32 accumulate 165.2, FP8 with FP32 accumulate 330.3,
    // INT8 660.6; 24 GB GDDR6X at 1,008 GB/s.
    Accelerator {
        id: "nvidia-rtx-4090",
        name: "NVIDIA GeForce RTX 4090",
        vendor: Vendor::Nvidia,
        compute_capability: ADA,
        memory_bytes: 24 * GIB,
        memory_bandwidth_bytes_per_second: 1008.0 * GB_PER_SECOND,
        fp32_tflops: 82.6,
        tf32_tflops: Some(82.6),
        fp16_tflops: 165.2,
        bf16_tflops: Some(165.2),
        fp8_tflops: Some(330.3),
        int8_tops: Some(660.6),
        // Ada whitepaper: PCIe Gen4 x16, 64 GB/s; no NVLink.
        link: "PCIe 4.0 x16",
        link_bandwidth_bytes_per_second: 64.0 * GB_PER_SECOND,
        tensor_cores: true,
        source: "NVIDIA Ada GPU Architecture whitepaper, appendix A, \
                 https://images.nvidia.com/aem-dam/Solutions/geforce/ada/nvidia-ada-gpu-architecture.pdf",
    },
    // MI300X datasheet: 163.4 TFLOPS FP32 vector; dense matrix TF32 653.7, FP16/BF16
    // 1,307.4, FP8 2,614.9, INT8 2,614.9 TOPS; 192 GB HBM3 at 5.3 TB/s. Not a CUDA device.
    Accelerator {
        id: "amd-mi300x",
        name: "AMD Instinct MI300X",
        vendor: Vendor::Amd,
        compute_capability: None,
        memory_bytes: 192 * GIB,
        memory_bandwidth_bytes_per_second: 5300.0 * GB_PER_SECOND,
        fp32_tflops: 163.4,
        tf32_tflops: Some(653.7),
        fp16_tflops: 1307.4,
        bf16_tflops: Some(1307.4),
        fp8_tflops: Some(2614.9),
        int8_tops: Some(2614.9),
        // MI300X datasheet: 7 Infinity Fabric links of 128 GB/s, 896 GB/s peer to peer.
        link: "Infinity Fabric (7 links)",
        link_bandwidth_bytes_per_second: 896.0 * GB_PER_SECOND,
        tensor_cores: true,
        source: "AMD Instinct MI300X accelerator datasheet, \
                 https://www.amd.com/content/dam/amd/en/documents/instinct-tech-docs/data-sheets/amd-instinct-mi300x-data-sheet.pdf",
    },
];
