//! Profiling and timing for the advisor.
//!
//! - Our own profiler: scoped spans, latency, throughput and memory measurement, and export
//!   as Chrome trace JSON and folded stacks.
//! - Reading the Chrome traces PyTorch's profiler (Kineto) writes, streamed, into a summary
//!   and the facts the rules act on.

// Each area adds its `mod` line and its `pub use` block below.
