//! Profiling and timing for the advisor: our own profiler, with scoped spans, latency,
//! throughput and memory measurement, and export as Chrome trace JSON and folded stacks.
//! Reading the traces PyTorch's profiler writes is `advisor-trace`'s job.
//!
//! # Our own profiler
//!
//! [`Profiler`] records scoped spans ([`SpanGuard`], the [`profile!`] macro) into per-thread
//! logs without a shared lock; [`Profiler::collect`] gives a [`ProfileSnapshot`] whose
//! [`tree`](ProfileSnapshot::tree) merges spans by name path ([`SpanTree`]: calls, total,
//! self, min and max time) and converts to advisor-core's `ProfileResults`. Snapshots export
//! as Chrome trace JSON and folded stacks. [`measure_latency`] and [`measure_throughput`]
//! give `LatencyMetrics` and `ThroughputMetrics`; [`TrackingAllocator`], installed as the
//! global allocator, gives `MemoryMetrics`.
//!
//! ```
//! use advisor_profile::{LatencyOptions, Profiler, measure_latency, profile};
//!
//! let profiler = Profiler::new();
//! for _ in 0..10 {
//!     profile!(profiler, "step");
//!     for _ in 0..3 {
//!         profile!(profiler, "matmul");
//!     }
//! }
//! let snapshot = profiler.collect();
//! let results = snapshot.to_profile_results();
//! assert_eq!(results.operations[0].name, "step");
//! assert_eq!(results.operations[0].children[0].calls, 30);
//! let chrome_trace_json = snapshot.to_chrome_trace();
//! let folded = snapshot.tree().to_folded_stacks();
//! # let _ = (chrome_trace_json, folded);
//!
//! let latency = measure_latency(|| (0..100u64).sum::<u64>(), &LatencyOptions::iterations(100))?;
//! assert_eq!(latency.count, Some(100));
//! # Ok::<(), advisor_profile::MeasureError>(())
//! ```

// Each area adds its `mod` line and its `pub use` block below.

pub mod ab;
mod alloc;
mod export;
mod measure;
mod span;

pub use crate::{
    alloc::{AllocationStats, TrackingAllocator},
    measure::{
        BatchShape, LatencyOptions, MeasureError, StopAfter, ThroughputCounter,
        latency_from_samples_ms, measure_latency, measure_throughput, percentile,
    },
    span::{
        CHUNK_EVENTS, ProfileSnapshot, Profiler, SpanGuard, SpanName, SpanNode, SpanRecord,
        SpanTree, ThreadSpans,
    },
};
