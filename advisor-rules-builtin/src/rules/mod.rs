//! One module per rule, named after the rule's id.

pub(crate) mod batch_size;
pub(crate) mod communication_overlap;
pub(crate) mod data_loader;
pub(crate) mod feasibility;
pub(crate) mod flash_attention;
pub(crate) mod gpu_idle;
pub(crate) mod gradient_checkpointing;
pub(crate) mod host_sync;
pub(crate) mod kernel_fusion;
pub(crate) mod kv_cache;
pub(crate) mod launch_overhead;
pub(crate) mod memory_fragmentation;
pub(crate) mod mixed_precision;
pub(crate) mod parallelization;
pub(crate) mod quantization;
pub(crate) mod sparse_attention;
