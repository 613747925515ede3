//! Profiling and timing for the advisor.
//!
//! - Our own profiler: scoped spans, latency, throughput and memory measurement, and export
//!   as Chrome trace JSON and folded stacks.
//! - Reading the Chrome traces PyTorch's profiler (Kineto) writes, streamed, into a summary
//!   and the facts the rules act on.
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

//! # Reading PyTorch profiler traces
//!
//! [`read_trace_file`] (or [`read_trace`] on any reader) streams a Kineto Chrome trace,
//! `.json` or gzip-compressed, into a [`TraceSummary`]: devices, steps, the GPU time breakdown
//! as Holistic Trace Analysis defines it, top kernels and CPU ops, launch, memcpy,
//! communication, tensor-core, data-loader, host-sync and memory statistics, and a warning for
//! each repair made to the file. [`TraceSummary::to_facts`] gives the facts the rules read.
//!
//! ```
//! use advisor_profile::{TraceOptions, read_trace};
//!
//! let trace = r#"{"traceEvents": [
//!   {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": 0, "dur": 5,
//!    "args": {"correlation": 1}},
//!   {"ph": "X", "cat": "kernel", "name": "gemm", "ts": 10, "dur": 30, "args": {"correlation": 1}},
//!   {"ph": "X", "cat": "kernel", "name": "relu", "ts": 50, "dur": 10, "args": {"correlation": 2}},
//! "#; // cut off: the missing `]}` is repaired and reported
//! let summary = read_trace(trace.as_bytes(), "example", TraceOptions::default())?;
//! let breakdown = summary.breakdown.as_ref().unwrap();
//! assert_eq!(breakdown.idle_us, 10.0);
//! assert_eq!(breakdown.compute_pct, 80.0);
//! assert!(summary.warnings.iter().any(|w| w.contains("missing closing")));
//! # Ok::<(), advisor_profile::TraceError>(())
//! ```

// Each area adds its `mod` line and its `pub use` block below.

mod alloc;
mod export;
mod measure;
mod span;
mod trace;

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

pub use crate::trace::{
    CommunicationSummary, CpuOpStat, CpuSummary, DataLoaderSummary, DeviceSummary,
    DistributedSummary, GpuBreakdown, HostSyncSummary, KernelStat, LaunchSummary, MemcpyDirection,
    MemcpySummary, MemorySummary, NamedTime, StepSummary, TensorCoreSummary, TraceError,
    TraceOptions, TraceSummary, read_trace, read_trace_file,
};
