//! Hardware facts for the advisor: what a GPU can do, which GPU a driver name means, and
//! what this machine has.
//!
//! The table, name matching and deployment targets (the first three items below) are
//! `advisor-hw-table`'s, re-exported here unchanged; that crate has no probing code at all.
//! This crate adds the probes.
//!
//! - The accelerator table ([`accelerators`], [`find_accelerator`]) holds datasheet figures
//!   for each [`Accelerator`]: memory, bandwidth and dense peak throughput per data type.
//! - [`match_gpu_name`] turns the name a driver reports (`NVIDIA A100-SXM4-80GB`) into a
//!   table entry; [`is_software_adapter`] recognises CPU renderers such as llvmpipe, and
//!   [`compute_capability_from_name`] reads a CUDA compute capability from a name.
//! - [`resolve_target`] gives the [`HardwareInfo`](advisor_core::HardwareInfo) of a
//!   deployment target named by its table id, so a model can be analysed for a GPU that is
//!   not in this machine.
//! - With the `probe` feature (on by default), [`detect`] probes this machine and returns a
//!   [`Detection`]: the seed's [`HardwareInfo`](advisor_core::HardwareInfo) plus
//!   [`CpuDetails`] (vendor, cores and threads this process may use, frequencies, caches,
//!   SIMD), [`MemoryDetails`] (with the cgroup limit), [`NumaNode`]s, [`GpuDevice`]s matched
//!   to the accelerator table, every wgpu [`Adapter`] and a [`ProbeReport`] per probe. A probe
//!   that cannot run is reported, never an error. The probes run concurrently.
//! - GPU probes implement [`GpuProbe`]: [`NvmlProbe`] over an [`NvmlSource`] (the driver's
//!   `NvmlLibrary` with feature `nvml`, or a [`RecordedNvml`]), and `WgpuProbe` (feature
//!   `wgpu`), which runs only when NVML found no GPU. CPUID is read through a
//!   [`CpuidSource`]: the processor, or a [`RecordedCpuid`] dump.
//!
//! Without default features the crate never touches hardware, but a feature is not a wall
//! (cargo unifies features in workspace builds): code that must not probe depends on
//! `advisor-hw-table` instead.
//!
//! ```
//! use advisor_hw::{match_gpu_name, resolve_target};
//!
//! let a100 = match_gpu_name("NVIDIA A100-SXM4-80GB", Some(81_920)).unwrap();
//! assert_eq!(a100.id, "nvidia-a100-80gb");
//! assert_eq!(a100.bf16_tflops, Some(312.0));
//!
//! let target = resolve_target("nvidia-t4").unwrap();
//! assert_eq!(target.gpu_compute_capability.unwrap().to_string(), "7.5");
//! assert!(resolve_target("nvidia-t5").is_err());
//! ```

#[cfg(feature = "probe")]
mod calibrate;
#[cfg(feature = "probe")]
mod cpuid;
mod detection;
mod gpu;
mod nvml;
#[cfg(feature = "probe")]
mod probe;
#[cfg(feature = "probe")]
mod topology;
#[cfg(feature = "wgpu")]
mod wgpu_probe;

#[cfg(feature = "probe")]
pub use crate::calibrate::calibrate_cpu;
#[cfg(all(feature = "probe", any(target_arch = "x86", target_arch = "x86_64")))]
pub use crate::cpuid::NativeCpuid;
#[cfg(feature = "nvml")]
pub use crate::nvml::NvmlLibrary;
#[cfg(feature = "wgpu")]
pub use crate::wgpu_probe::WgpuProbe;
#[cfg(feature = "probe")]
pub use crate::{
    cpuid::{CpuidSource, OsVectorSupport, RecordedCpuid, cpu_details_from_cpuid},
    probe::{detect, detect_listing_software_adapters, detect_with},
    topology::{parse_cpu_list, read_numa_nodes},
};
pub use crate::{
    detection::{
        CacheKind, CpuCache, CpuDetails, Detection, MemoryDetails, NumaNode, ProbeReport,
        ProbeStatus,
    },
    gpu::{Adapter, AdapterType, GpuDevice, GpuFindings, GpuProbe, NO_GPU_PROBE_REASON},
    nvml::{NvmlDeviceRecord, NvmlProbe, NvmlRecord, NvmlSource, RecordedNvml},
};
pub use advisor_hw_table::{
    Accelerator, HwError, Vendor, accelerators, compute_capability_from_name, find_accelerator,
    is_software_adapter, match_gpu_name, resolve_target,
};
