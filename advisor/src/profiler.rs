//! The guide's `PerformanceProfiler`: a profiling session with named regions, and the
//! latency, throughput and memory measurements, over `advisor-profile`'s span recorder and
//! measurement functions.

use std::time::Instant;

use advisor_core::{LatencyMetrics, MemoryMetrics, ProfileResults, ThroughputMetrics};
use advisor_profile::{
    BatchShape, LatencyOptions, MeasureError, Profiler, SpanGuard, TrackingAllocator,
};

/// Where a memory figure comes from, which says what it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemorySource {
    /// This process's heap, counted by an installed [`TrackingAllocator`]: the bytes Rust
    /// code asked the allocator for. Not a GPU's memory, and not memory a library maps by
    /// other means (a CUDA runtime, `mmap`ed weights).
    HostHeap,
}

impl MemorySource {
    /// For people.
    pub fn as_str(self) -> &'static str {
        match self {
            MemorySource::HostHeap => "host heap (tracking allocator)",
        }
    }
}

/// What [`PerformanceProfiler::measure_memory`] measured.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MemoryMeasurement {
    /// The figures, as the analysis context takes them (`memory_metrics`).
    pub metrics: MemoryMetrics,
    /// What they cover.
    pub source: MemorySource,
}

/// Why memory could not be measured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// No source of memory figures was given.
    #[error(
        "no memory source: install advisor::profile::TrackingAllocator as the global allocator and build the profiler with PerformanceProfiler::with_heap_tracking(&ALLOCATOR)"
    )]
    NoSource,
}

/// A profiling session: regions timed by name between [`start_profiling`] and
/// [`stop_profiling`], and measurements of closures.
///
/// ```
/// use advisor::prelude::*;
///
/// let mut profiler = PerformanceProfiler::new();
/// profiler.start_profiling();
/// for _ in 0..3 {
///     let _step = profiler.region("step");
///     let _matmul = profiler.region("matmul");
/// }
/// let results = profiler.stop_profiling();
/// assert_eq!(results.operations[0].name, "step");
/// assert_eq!(results.operations[0].calls, 3);
/// assert_eq!(profiler.get_results(), results);
///
/// let latency = profiler.measure_latency(|| (0..1000u64).sum::<u64>(), 50)?;
/// assert_eq!(latency.count, Some(50));
/// # Ok::<(), advisor::profile::MeasureError>(())
/// ```
///
/// [`start_profiling`]: Self::start_profiling
/// [`stop_profiling`]: Self::stop_profiling
#[derive(Debug)]
pub struct PerformanceProfiler {
    profiler: Profiler,
    started: Option<Instant>,
    results: Option<ProfileResults>,
    heap: Option<&'static TrackingAllocator>,
}

impl Default for PerformanceProfiler {
    fn default() -> Self {
        PerformanceProfiler::new()
    }
}

impl PerformanceProfiler {
    /// A profiler, not yet recording.
    pub fn new() -> PerformanceProfiler {
        let profiler = Profiler::new();
        profiler.disable();
        PerformanceProfiler {
            profiler,
            started: None,
            results: None,
            heap: None,
        }
    }

    /// A profiler that measures memory with the [`TrackingAllocator`] installed as the
    /// global allocator:
    ///
    /// ```
    /// use advisor::prelude::*;
    /// use advisor::profile::TrackingAllocator;
    ///
    /// #[global_allocator]
    /// static ALLOCATOR: TrackingAllocator = TrackingAllocator::new();
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let profiler = PerformanceProfiler::with_heap_tracking(&ALLOCATOR);
    /// let (buffer, memory) = profiler.measure_memory(|| vec![0u8; 1 << 20])?;
    /// assert!(memory.metrics.peak_bytes >= Some(1 << 20));
    /// assert_eq!(memory.source.as_str(), "host heap (tracking allocator)");
    /// # drop(buffer);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_heap_tracking(allocator: &'static TrackingAllocator) -> PerformanceProfiler {
        PerformanceProfiler {
            heap: Some(allocator),
            ..PerformanceProfiler::new()
        }
    }

    /// Starts a session: clears what an earlier one recorded and records regions from now.
    pub fn start_profiling(&mut self) {
        self.profiler.reset();
        self.results = None;
        self.started = Some(Instant::now());
        self.profiler.enable();
    }

    /// Ends the session and returns what it recorded (also kept for
    /// [`get_results`](Self::get_results)).
    pub fn stop_profiling(&mut self) -> ProfileResults {
        self.profiler.disable();
        let mut results = self.profiler.collect().to_profile_results();
        // The session's wall time, not only the span between the first and last region.
        if let Some(started) = self.started.take() {
            results.total_ms = results.total_ms.max(started.elapsed().as_secs_f64() * 1e3);
        }
        self.results = Some(results.clone());
        results
    }

    /// The last session's results; while a session runs, what it has recorded so far.
    pub fn get_results(&self) -> ProfileResults {
        match &self.results {
            Some(results) if self.started.is_none() => results.clone(),
            _ => self.profiler.collect().to_profile_results(),
        }
    }

    /// Whether a session is recording.
    pub fn is_profiling(&self) -> bool {
        self.started.is_some()
    }

    /// Times a region until the guard drops; regions nest by scope. Costs one atomic load
    /// outside a session.
    pub fn region(&self, name: &str) -> SpanGuard {
        self.profiler.span_named(name)
    }

    /// The recorder underneath, for spans with static names ([`advisor::profile::profile!`])
    /// and Chrome-trace export.
    ///
    /// [`advisor::profile::profile!`]: advisor_profile::profile
    pub fn recorder(&self) -> &Profiler {
        &self.profiler
    }

    /// Latency of `f` over `iterations` calls after 10 warm-up calls: mean, percentiles and
    /// spread, as the analysis context takes them (`latency_metrics`).
    pub fn measure_latency<R>(
        &self,
        f: impl FnMut() -> R,
        iterations: u64,
    ) -> Result<LatencyMetrics, MeasureError> {
        advisor_profile::measure_latency(f, &LatencyOptions::iterations(iterations))
    }

    /// Throughput of `f`, which processes `samples` samples per call, over `iterations`
    /// calls after 10 warm-up calls (`throughput_metrics`).
    pub fn measure_throughput<R>(
        &self,
        f: impl FnMut() -> R,
        samples: f64,
        iterations: u64,
    ) -> Result<ThroughputMetrics, MeasureError> {
        advisor_profile::measure_throughput(
            f,
            BatchShape::samples(samples),
            &LatencyOptions::iterations(iterations),
        )
    }

    /// Runs `f` and measures the memory it takes: the peak and what is still held after it,
    /// from the source this profiler was built with (the process heap, with
    /// [`with_heap_tracking`](Self::with_heap_tracking)). A GPU framework's device memory is
    /// not visible from here: record it with the framework (`torch.cuda.max_memory_allocated`)
    /// into `memory_metrics`, or let a trace recorded with `profile_memory=True` give it.
    pub fn measure_memory<R>(
        &self,
        f: impl FnOnce() -> R,
    ) -> Result<(R, MemoryMeasurement), MemoryError> {
        let heap = self.heap.ok_or(MemoryError::NoSource)?;
        heap.reset_peak();
        let before = heap.stats();
        let result = f();
        let after = heap.stats();
        // Above what was in use before: what `f` took at its peak, and still holds (its
        // result included). Process-wide: other threads' allocations count.
        Ok((
            result,
            MemoryMeasurement {
                metrics: MemoryMetrics {
                    current_bytes: Some(after.current_bytes.saturating_sub(before.current_bytes)),
                    peak_bytes: Some(after.peak_bytes.saturating_sub(before.current_bytes)),
                    ..MemoryMetrics::default()
                },
                source: MemorySource::HostHeap,
            },
        ))
    }
}
