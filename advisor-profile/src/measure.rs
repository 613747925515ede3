//! Latency and throughput measurement: run a closure, time it, summarize.
//!
//! # Percentiles
//!
//! [`percentile`] uses linear interpolation between closest ranks (Hyndman and Fan's type 7,
//! the default of NumPy's `percentile` and of R's `quantile`): for sorted samples
//! `x[0..n]` and a percentile `p` in 0..=100, the rank is `h = (n - 1) * p / 100` and the
//! value `x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])`. So p0 is the
//! minimum, p100 the maximum, and the median of an even count is the mean of the middle two.
//!
//! The standard deviation is the sample standard deviation (divided by `n - 1`; 0 for a
//! single sample).

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use advisor_core::{LatencyMetrics, ThroughputMetrics};

/// Why a measurement could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MeasureError {
    /// The options ask for no measured iterations.
    #[error("no iterations to measure: {0}")]
    NoIterations(&'static str),
    /// A sample was not a finite, non-negative duration.
    #[error("sample {index} is {value}, not a finite non-negative duration")]
    BadSample {
        /// Position of the sample.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// A batch shape was not positive and finite.
    #[error("batch shape has {field} = {value}; it must be positive and finite")]
    BadBatchShape {
        /// The field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
}

/// When measuring stops.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum StopAfter {
    /// After exactly this many measured iterations.
    Iterations(u64),
    /// When this much time has been spent measuring (at least `min_iterations`, at most
    /// `max_iterations`).
    TimeBudget {
        /// Time to spend measuring.
        budget: Duration,
        /// Iterations to measure even if the budget runs out first.
        min_iterations: u64,
        /// Iterations after which to stop even within budget (bounds the samples kept).
        max_iterations: u64,
    },
}

/// How [`measure_latency`] and [`measure_throughput`] run the closure.
///
/// ```
/// use std::time::Duration;
/// use advisor_profile::LatencyOptions;
///
/// let by_count = LatencyOptions::iterations(200).warmup_iterations(20);
/// let by_time = LatencyOptions::time_budget(Duration::from_millis(50))
///     .warmup_time(Duration::from_millis(10));
/// # let _ = (by_count, by_time);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyOptions {
    /// Calls before measuring starts (results are discarded).
    pub warmup_iterations: u64,
    /// Keep warming up at least this long (after `warmup_iterations`).
    pub warmup_time: Duration,
    /// When to stop measuring.
    pub stop: StopAfter,
}

impl Default for LatencyOptions {
    /// 10 warm-up calls, then 100 measured ones.
    fn default() -> Self {
        Self::iterations(100)
    }
}

impl LatencyOptions {
    /// Measure exactly `iterations` calls after 10 warm-up calls.
    pub fn iterations(iterations: u64) -> Self {
        Self {
            warmup_iterations: 10,
            warmup_time: Duration::ZERO,
            stop: StopAfter::Iterations(iterations),
        }
    }

    /// Measure for `budget` (at least 1 call, at most 10 million) after 10 warm-up calls.
    pub fn time_budget(budget: Duration) -> Self {
        Self {
            warmup_iterations: 10,
            warmup_time: Duration::ZERO,
            stop: StopAfter::TimeBudget {
                budget,
                min_iterations: 1,
                max_iterations: 10_000_000,
            },
        }
    }

    /// Sets the number of warm-up calls.
    pub fn warmup_iterations(mut self, iterations: u64) -> Self {
        self.warmup_iterations = iterations;
        self
    }

    /// Sets the minimum warm-up time.
    pub fn warmup_time(mut self, time: Duration) -> Self {
        self.warmup_time = time;
        self
    }

    fn validate(&self) -> Result<(), MeasureError> {
        match self.stop {
            StopAfter::Iterations(0) => Err(MeasureError::NoIterations("iteration count is 0")),
            StopAfter::TimeBudget {
                max_iterations: 0, ..
            } => Err(MeasureError::NoIterations("max_iterations is 0")),
            StopAfter::TimeBudget {
                budget,
                min_iterations: 0,
                ..
            } if budget.is_zero() => Err(MeasureError::NoIterations(
                "time budget and min_iterations are both 0",
            )),
            _ => Ok(()),
        }
    }
}

fn warm_up<R>(options: &LatencyOptions, f: &mut impl FnMut() -> R) {
    for _ in 0..options.warmup_iterations {
        black_box(f());
    }
    if !options.warmup_time.is_zero() {
        let start = Instant::now();
        while start.elapsed() < options.warmup_time {
            black_box(f());
        }
    }
}

/// Times each call of `f` (after warm-up) and summarizes the latencies.
///
/// Each call is timed on its own with [`Instant`], so the figures include about 20-30 ns of
/// clock overhead per call; measure work of a microsecond or more. The closure's result goes
/// through [`black_box`] so the work is not optimized away.
///
/// ```
/// use advisor_profile::{LatencyOptions, measure_latency};
///
/// let metrics = measure_latency(|| (0..1000u64).sum::<u64>(), &LatencyOptions::iterations(50))?;
/// assert_eq!(metrics.count, Some(50));
/// assert!(metrics.min_ms <= metrics.p50_ms && metrics.p50_ms <= metrics.max_ms);
/// # Ok::<(), advisor_profile::MeasureError>(())
/// ```
pub fn measure_latency<R>(
    mut f: impl FnMut() -> R,
    options: &LatencyOptions,
) -> Result<LatencyMetrics, MeasureError> {
    options.validate()?;
    warm_up(options, &mut f);
    let mut samples_ms = Vec::new();
    let mut time_one = || {
        let start = Instant::now();
        black_box(f());
        start.elapsed().as_secs_f64() * 1e3
    };
    match options.stop {
        StopAfter::Iterations(iterations) => {
            samples_ms.reserve(usize::try_from(iterations).unwrap_or(0).min(1 << 24));
            for _ in 0..iterations {
                samples_ms.push(time_one());
            }
        }
        StopAfter::TimeBudget {
            budget,
            min_iterations,
            max_iterations,
        } => {
            let start = Instant::now();
            let mut done = 0u64;
            while done < max_iterations && (done < min_iterations || start.elapsed() < budget) {
                samples_ms.push(time_one());
                done += 1;
            }
        }
    }
    latency_from_samples_ms(&samples_ms)
}

/// Summarizes latency samples given in milliseconds (in any order): count, mean, median,
/// p50/p90/p95/p99/p999 by [`percentile`], min, max and sample standard deviation.
///
/// ```
/// use advisor_profile::latency_from_samples_ms;
///
/// let metrics = latency_from_samples_ms(&[4.0, 1.0, 3.0, 2.0])?;
/// assert_eq!(metrics.median_ms, Some(2.5));
/// assert_eq!(metrics.p90_ms, Some(3.7));
/// # Ok::<(), advisor_profile::MeasureError>(())
/// ```
pub fn latency_from_samples_ms(samples_ms: &[f64]) -> Result<LatencyMetrics, MeasureError> {
    if samples_ms.is_empty() {
        return Err(MeasureError::NoIterations("no samples"));
    }
    if let Some((index, &value)) = samples_ms
        .iter()
        .enumerate()
        .find(|(_, value)| !value.is_finite() || **value < 0.0)
    {
        return Err(MeasureError::BadSample { index, value });
    }
    let mut sorted = samples_ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    let count = sorted.len() as f64;
    let mean = sorted.iter().sum::<f64>() / count;
    let std_dev = if sorted.len() < 2 {
        0.0
    } else {
        let squares: f64 = sorted.iter().map(|x| (x - mean) * (x - mean)).sum();
        (squares / (count - 1.0)).sqrt()
    };
    let at = |p: f64| percentile(&sorted, p);
    Ok(LatencyMetrics {
        count: Some(sorted.len() as u64),
        mean_ms: Some(mean),
        median_ms: at(50.0),
        p50_ms: at(50.0),
        p90_ms: at(90.0),
        p95_ms: at(95.0),
        p99_ms: at(99.0),
        p999_ms: at(99.9),
        min_ms: sorted.first().copied(),
        max_ms: sorted.last().copied(),
        std_dev_ms: Some(std_dev),
    })
}

/// The `p`-th percentile (0..=100) of samples sorted in ascending order, by linear
/// interpolation between closest ranks (see the [module documentation](self)). `None` for no
/// samples or a `p` outside 0..=100 (or NaN).
///
/// ```
/// use advisor_profile::percentile;
///
/// let sorted = [10.0, 20.0, 30.0, 40.0, 50.0];
/// assert_eq!(percentile(&sorted, 50.0), Some(30.0));
/// assert_eq!(percentile(&sorted, 90.0), Some(46.0)); // rank 3.6: 40 + 0.6 * 10
/// assert_eq!(percentile(&sorted, 100.0), Some(50.0));
/// ```
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=100.0).contains(&p) {
        return None;
    }
    let rank = (sorted.len() - 1) as f64 * p / 100.0;
    let lower = rank.floor() as usize;
    let upper = (lower + 1).min(sorted.len() - 1);
    let fraction = rank - lower as f64;
    let (low, high) = (sorted[lower], sorted[upper]);
    // Clamp so rounding can never step outside the two neighbours.
    Some((low + fraction * (high - low)).clamp(low.min(high), low.max(high)))
}

/// The work one call processes, for throughput.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchShape {
    /// Samples (sequences, images) per call.
    pub samples: f64,
    /// Tokens per sample, when the workload has tokens.
    pub tokens_per_sample: Option<f64>,
}

impl BatchShape {
    /// `samples` samples per call, without tokens.
    pub fn samples(samples: f64) -> Self {
        Self {
            samples,
            tokens_per_sample: None,
        }
    }

    /// `samples` sequences of `tokens_per_sample` tokens per call.
    pub fn sequences(samples: f64, tokens_per_sample: f64) -> Self {
        Self {
            samples,
            tokens_per_sample: Some(tokens_per_sample),
        }
    }

    fn validate(&self) -> Result<(), MeasureError> {
        let check = |field, value: f64| {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(MeasureError::BadBatchShape { field, value })
            }
        };
        check("samples", self.samples)?;
        if let Some(tokens) = self.tokens_per_sample {
            check("tokens_per_sample", tokens)?;
        }
        Ok(())
    }
}

/// Calls `f` (one batch of `shape` per call) after warm-up and reports the sustained rate:
/// batches, samples and (with tokens) tokens per second over the measured wall time.
///
/// Unlike [`measure_latency`], the calls are timed as a whole, so clock overhead does not
/// count.
///
/// ```
/// use advisor_profile::{BatchShape, LatencyOptions, measure_throughput};
///
/// let metrics = measure_throughput(
///     || std::hint::black_box((0..1000u64).sum::<u64>()),
///     BatchShape::sequences(8.0, 128.0),
///     &LatencyOptions::iterations(100),
/// )?;
/// let batches = metrics.batches_per_second.unwrap();
/// assert_eq!(metrics.samples_per_second, Some(batches * 8.0));
/// assert_eq!(metrics.tokens_per_second, Some(batches * 8.0 * 128.0));
/// # Ok::<(), advisor_profile::MeasureError>(())
/// ```
pub fn measure_throughput<R>(
    mut f: impl FnMut() -> R,
    shape: BatchShape,
    options: &LatencyOptions,
) -> Result<ThroughputMetrics, MeasureError> {
    options.validate()?;
    shape.validate()?;
    warm_up(options, &mut f);
    let start = Instant::now();
    let mut batches = 0u64;
    match options.stop {
        StopAfter::Iterations(iterations) => {
            for _ in 0..iterations {
                black_box(f());
            }
            batches = iterations;
        }
        StopAfter::TimeBudget {
            budget,
            min_iterations,
            max_iterations,
        } => {
            while batches < max_iterations && (batches < min_iterations || start.elapsed() < budget)
            {
                black_box(f());
                batches += 1;
            }
        }
    }
    let mut counter = ThroughputCounter::starting_at(start);
    counter.batches = batches;
    counter.samples = batches as f64 * shape.samples;
    counter.tokens = shape
        .tokens_per_sample
        .map(|tokens| counter.samples * tokens);
    Ok(counter.finish_at(Instant::now()))
}

/// Counts work done in your own loop, for batches of varying size; read the rate with
/// [`metrics`](Self::metrics).
///
/// ```
/// use advisor_profile::ThroughputCounter;
///
/// let mut counter = ThroughputCounter::start();
/// counter.record_batch(4, Some(4 * 512));
/// counter.record_batch(2, Some(2 * 300));
/// let metrics = counter.metrics();
/// assert_eq!(metrics.avg_batch_size, Some(3.0));
/// assert!(metrics.tokens_per_second.unwrap() > 0.0);
/// ```
#[derive(Debug, Clone)]
pub struct ThroughputCounter {
    start: Instant,
    batches: u64,
    samples: f64,
    tokens: Option<f64>,
}

impl ThroughputCounter {
    /// Starts counting now.
    pub fn start() -> Self {
        Self::starting_at(Instant::now())
    }

    fn starting_at(start: Instant) -> Self {
        Self {
            start,
            batches: 0,
            samples: 0.0,
            tokens: None,
        }
    }

    /// Records one finished batch of `samples` samples and, when known, its token count.
    /// Once one batch has no token count, the tokens figure is left out.
    pub fn record_batch(&mut self, samples: u64, tokens: Option<u64>) {
        let had_tokens = self.batches == 0 || self.tokens.is_some();
        self.batches += 1;
        self.samples += samples as f64;
        self.tokens = match (had_tokens, tokens) {
            (true, Some(tokens)) => Some(self.tokens.unwrap_or(0.0) + tokens as f64),
            _ => None,
        };
    }

    /// Time since counting started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Rates so far. Figures without work recorded (or without elapsed time) are left out.
    pub fn metrics(&self) -> ThroughputMetrics {
        self.finish_at(Instant::now())
    }

    fn finish_at(&self, end: Instant) -> ThroughputMetrics {
        let seconds = end.duration_since(self.start).as_secs_f64();
        if self.batches == 0 || seconds <= 0.0 {
            return ThroughputMetrics::default();
        }
        let batches = self.batches as f64;
        ThroughputMetrics {
            samples_per_second: Some(self.samples / seconds),
            tokens_per_second: self.tokens.map(|tokens| tokens / seconds),
            batches_per_second: Some(batches / seconds),
            avg_batch_size: Some(self.samples / batches),
            avg_sequence_length: self
                .tokens
                .filter(|_| self.samples > 0.0)
                .map(|tokens| tokens / self.samples),
        }
    }
}
