//! Reads the Chrome traces PyTorch's profiler (Kineto) writes: file in, facts out.
//!
//! [`read_trace_file`] (or [`read_trace`] on any reader) streams a Kineto trace, `.json` or
//! gzip-compressed, into a [`TraceSummary`]: devices, steps, the GPU time breakdown as Holistic
//! Trace Analysis defines it, top kernels and CPU ops, launch, memcpy, communication,
//! tensor-core, data-loader, host-sync and memory statistics, and a warning for each repair
//! made to the file. [`TraceSummary::to_facts`] gives advisor-core's `TraceFacts`, which the
//! rules read; [`TraceSummary::to_profile_results`] the whole profile for an analysis.
//!
//! `traceEvents` is cut into runs of about 256 KiB of whole elements (`scan`), each run is
//! parsed at once on simd-json's tape and walked for the fields the summary reads (`tape`),
//! and each event is kept as a compact record (`accumulate`); anything the tape would not read
//! exactly as serde_json does (a `NaN`, a trailing comma, a duplicate field) is read element
//! by element into a small borrowed struct (`event`) instead, and no document tree is ever
//! built. On a machine with several cores the runs are parsed on all of them, then
//! accumulated in file order (`pipeline`): the summary is the same as one thread's. The analyses (`analysis/`, one module per fact) then fill advisor-core's fact
//! types, which the summary holds directly (`summary`). This crate depends on `advisor-core` only: it is a peer of the model importers
//! (`advisor-graph`), not of the in-process profiler (`advisor-profile`).
//!
//! ```
//! use advisor_trace::{TraceOptions, read_trace};
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
//! # Ok::<(), advisor_trace::TraceError>(())
//! ```

mod accumulate;
mod analysis;
mod annotate;
mod event;
mod overview;
mod pipeline;
mod ranks;
mod read;
mod scan;
mod summary;
mod tape;

pub use crate::{
    analysis::{
        collective_bandwidth::CollectiveBandwidth,
        collectives::Collective,
        cpu_ops::CpuOpStat,
        devices::DistributedSummary,
        kernels::KernelStat,
        memcpy::{MemcpyDirection, MemcpySummary},
        roofline::OpRoofline,
        steps::StepSummary,
    },
    annotate::{ADVISOR_CATEGORY, ADVISOR_PID, Annotated, annotate_trace_file},
    ranks::{
        CollectiveSkew, MultiRankSummary, RankKernel, RankRow, RankStep, RankSummary, Stragglers,
        merge, read_traces,
    },
    read::{TraceError, TraceOptions, read_trace, read_trace_file},
    summary::{SCHEMA_VERSION, TraceSummary},
};
