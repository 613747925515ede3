//! Overhead of one empty span (enter and exit) in our profiler; the target is under 50 ns.
//!
//! `cargo bench -p advisor-profile --bench spans`

use std::time::{Duration, Instant};

use advisor_profile::{Profiler, SpanName, profile};
use criterion::{Criterion, criterion_group, criterion_main};

static EMPTY: SpanName = SpanName::new("empty");
static OUTER: SpanName = SpanName::new("outer");

/// Spans per timed batch: the log is reset between batches (untimed) so a long run never
/// reaches the per-thread cap, where spans would be dropped instead of recorded.
const BATCH: u64 = 1 << 20;

/// Times `iterations` calls of `body`, resetting the profiler between batches.
fn timed_in_batches(profiler: &Profiler, iterations: u64, mut body: impl FnMut()) -> Duration {
    let mut elapsed = Duration::ZERO;
    let mut left = iterations;
    while left > 0 {
        let batch = left.min(BATCH);
        profiler.reset();
        let start = Instant::now();
        for _ in 0..batch {
            body();
        }
        elapsed += start.elapsed();
        left -= batch;
    }
    elapsed
}

fn spans(c: &mut Criterion) {
    let mut group = c.benchmark_group("span");

    let profiler = Profiler::new();
    group.bench_function("empty_enabled", |b| {
        b.iter_custom(|iterations| {
            timed_in_batches(&profiler, iterations, || {
                let _span = profiler.span(&EMPTY);
            })
        })
    });

    // Nested one level deep: the cost of a span inside another.
    let _outer = profiler.span(&OUTER);
    group.bench_function("empty_nested_enabled", |b| {
        b.iter_custom(|iterations| {
            timed_in_batches(&profiler, iterations, || {
                let _span = profiler.span(&EMPTY);
            })
        })
    });
    drop(_outer);

    group.bench_function("empty_macro_enabled", |b| {
        b.iter_custom(|iterations| {
            timed_in_batches(&profiler, iterations, || {
                profile!(profiler, "macro");
            })
        })
    });

    // The floor: the two clock reads every span needs, with nothing recorded.
    let clock = quanta::Clock::new();
    group.bench_function("clock_pair_floor", |b| {
        b.iter(|| {
            let start = clock.raw();
            std::hint::black_box(clock.raw().wrapping_sub(start))
        })
    });

    let disabled = Profiler::new();
    disabled.disable();
    group.bench_function("empty_disabled", |b| {
        b.iter(|| {
            let _span = disabled.span(&EMPTY);
        })
    });

    group.finish();
}

criterion_group!(benches, spans);
criterion_main!(benches);
