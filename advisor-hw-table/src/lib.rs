//! Hardware facts for the advisor as plain data and logic: what a GPU can do, which GPU a
//! driver name means, and what a deployment target is. It has no probing code at all and
//! does no I/O, whatever the features; `advisor-hw` adds live probing on top and re-exports
//! everything here.
//!
//! - The accelerator table ([`accelerators`], [`find_accelerator`]) holds datasheet figures,
//!   each with its source, for each [`Accelerator`] of a [`Vendor`]: memory, bandwidth, dense
//!   peak throughput per data type and the CUDA compute capability.
//! - [`match_gpu_name`] turns the name a driver reports (`NVIDIA A100-SXM4-80GB`) into a
//!   table entry; [`is_software_adapter`] recognises CPU renderers such as llvmpipe, and
//!   [`compute_capability_from_name`] reads a CUDA compute capability from a name.
//! - [`resolve_target`] gives the [`HardwareInfo`](advisor_core::HardwareInfo) of a
//!   deployment target named by its table id, so a model can be analysed for a GPU that is
//!   not in this machine; an unknown name is an [`HwError`] that suggests the closest id.
//!
//! ```
//! use advisor_hw_table::{find_accelerator, match_gpu_name, resolve_target};
//!
//! let a100 = match_gpu_name("NVIDIA A100-SXM4-80GB", Some(81_920)).unwrap();
//! assert_eq!(a100.id, "nvidia-a100-80gb");
//! assert_eq!(a100.bf16_tflops, Some(312.0));
//! assert_eq!(find_accelerator("nvidia-a100-80gb"), Some(a100));
//!
//! let target = resolve_target("nvidia-t4").unwrap();
//! assert_eq!(target.gpu_compute_capability.unwrap().to_string(), "7.5");
//! assert!(resolve_target("nvidia-t5").is_err());
//! ```

#![deny(missing_docs, rustdoc::broken_intra_doc_links)]

mod accelerators;
mod catalog;
mod names;
mod target;

pub use crate::{
    accelerators::{Accelerator, Vendor, accelerators, find_accelerator},
    catalog::AcceleratorTable,
    names::{compute_capability_from_name, is_software_adapter, match_gpu_name},
    target::{HwError, resolve_target},
};
