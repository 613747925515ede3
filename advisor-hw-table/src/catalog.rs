//! The accelerator table as the [`AcceleratorCatalog`] the advisor's engine injects into the
//! facts layer, so rules and the performance model see GPU figures without reaching this
//! crate themselves.

use advisor_core::{AcceleratorCatalog, GpuSpec, GpuVendor, PeakThroughput};

use crate::{
    accelerators::{Accelerator, Vendor},
    names::{is_software_adapter, match_gpu_name},
};

/// The accelerator table, as a catalog.
///
/// ```
/// use advisor_core::AcceleratorCatalog;
/// use advisor_hw_table::AcceleratorTable;
///
/// let spec = AcceleratorTable.gpu("NVIDIA A100-SXM4-80GB", Some(81_920)).unwrap();
/// assert_eq!(spec.id, "nvidia-a100-80gb");
/// assert_eq!(spec.peak.bf16, Some(312e12));
/// assert!(spec.runs_flash_attention_2());
/// assert!(AcceleratorTable.is_software_adapter("llvmpipe (LLVM 15.0.6, 256 bits)"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceleratorTable;

impl AcceleratorCatalog for AcceleratorTable {
    fn gpu(&self, driver_name: &str, memory_mb: Option<u64>) -> Option<GpuSpec> {
        match_gpu_name(driver_name, memory_mb).map(Accelerator::spec)
    }

    fn is_software_adapter(&self, driver_name: &str) -> bool {
        is_software_adapter(driver_name)
    }
}

impl Accelerator {
    /// This entry's figures in the facts layer's shape (FLOP/s rather than TFLOP/s).
    pub fn spec(&self) -> GpuSpec {
        let flops = |tflops: f64| (tflops > 0.0).then_some(tflops * 1e12);
        let architecture = match (self.vendor, self.compute_capability) {
            (Vendor::Nvidia, Some(cc)) => cc.architecture().to_owned(),
            (Vendor::Nvidia, None) => "unknown".to_owned(),
            // The table's AMD parts: MI300X is CDNA 3 (AMD CDNA 3 architecture whitepaper).
            (Vendor::Amd, _) if self.id.contains("mi300") => "CDNA 3".to_owned(),
            (Vendor::Amd, _) if self.id.contains("mi2") => "CDNA 2".to_owned(),
            (Vendor::Amd, _) => "unknown".to_owned(),
        };
        GpuSpec {
            id: self.id.to_owned(),
            name: self.name.to_owned(),
            vendor: match self.vendor {
                Vendor::Nvidia => GpuVendor::Nvidia,
                Vendor::Amd => GpuVendor::Amd,
            },
            compute_capability: self.compute_capability,
            memory_bytes: self.memory_bytes,
            memory_bandwidth_bytes_per_second: self.memory_bandwidth_bytes_per_second,
            peak: PeakThroughput {
                fp32: flops(self.fp32_tflops),
                tf32: self.tf32_tflops.and_then(flops),
                fp16: flops(self.fp16_tflops),
                bf16: self.bf16_tflops.and_then(flops),
                fp8: self.fp8_tflops.and_then(flops),
                int8: self.int8_tops.and_then(flops),
            },
            matrix_units: self.tensor_cores,
            link: self.link.to_owned(),
            link_bandwidth_bytes_per_second: Some(self.link_bandwidth_bytes_per_second),
            architecture,
            source: self.source.to_owned(),
        }
    }
}
