//! Hardware facts for the advisor: what a GPU can do, which GPU a driver name means, and
//! what this machine has.
//!
//! - The accelerator table ([`accelerators`], [`find_accelerator`]) holds datasheet figures
//!   for each [`Accelerator`]: memory, bandwidth and dense peak throughput per data type.
//! - [`match_gpu_name`] turns the name a driver reports (`NVIDIA A100-SXM4-80GB`) into a
//!   table entry; [`is_software_adapter`] recognises CPU renderers such as llvmpipe, and
//!   [`compute_capability_from_name`] reads a CUDA compute capability from a name.
//! - [`resolve_target`] gives the [`HardwareInfo`](advisor_core::HardwareInfo) of a
//!   deployment target named by its table id, so a model can be analysed for a GPU that is
//!   not in this machine.
//! - With the `probe` feature (on by default), `detect` probes this machine and returns a
//!   `Detection`: the facts found plus a [`ProbeReport`] per probe. A probe that cannot run
//!   is reported, never an error. GPU probes implement [`GpuProbe`]; the `nvml` and `wgpu`
//!   features will add them.
//!
//! Without default features the crate is data and logic only: it never touches hardware,
//! which is how `advisor-rules-builtin` depends on it.
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

mod accelerators;
mod detection;
mod gpu;
mod names;
#[cfg(feature = "probe")]
mod probe;
mod target;

#[cfg(feature = "probe")]
pub use crate::probe::{detect, detect_with};
pub use crate::{
    accelerators::{Accelerator, Vendor, accelerators, find_accelerator},
    detection::{Detection, ProbeReport, ProbeStatus},
    gpu::{GpuDevice, GpuProbe, NO_GPU_PROBE_REASON},
    names::{compute_capability_from_name, is_software_adapter, match_gpu_name},
    target::{HwError, resolve_target},
};
