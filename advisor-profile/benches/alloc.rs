//! Cost of the tracking allocator: one allocate-and-free pair through it and through the
//! system allocator it wraps, single-threaded and with two threads allocating at once.
//!
//! `cargo bench -p advisor-profile --bench alloc`

// Calling `GlobalAlloc` methods directly is unsafe; this bench does it to compare the two
// allocators side by side in one binary.
#![allow(unsafe_code)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    hint::black_box,
    time::{Duration, Instant},
};

use advisor_profile::TrackingAllocator;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

static TRACKING: TrackingAllocator = TrackingAllocator::new();

fn alloc_free_pair(allocator: &impl GlobalAlloc, layout: Layout) {
    // SAFETY: `layout` has a non-zero size; the block is freed right away with the same
    // allocator and layout, and is null-checked before.
    unsafe {
        let pointer = allocator.alloc(layout);
        if !pointer.is_null() {
            black_box(pointer);
            allocator.dealloc(pointer, layout);
        }
    }
}

/// Runs `iterations` pairs on each of `threads` threads at once; returns the wall time.
fn contended(
    allocator: &(impl GlobalAlloc + Sync),
    layout: Layout,
    threads: usize,
    iterations: u64,
) -> Duration {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..iterations {
                    alloc_free_pair(allocator, layout);
                }
            });
        }
    });
    start.elapsed()
}

fn allocators(c: &mut Criterion) {
    let mut group = c.benchmark_group("alloc_free_pair");
    for size in [16usize, 256, 4096] {
        let Ok(layout) = Layout::from_size_align(size, 8) else {
            continue;
        };
        group.bench_with_input(BenchmarkId::new("system", size), &layout, |b, &layout| {
            b.iter(|| alloc_free_pair(&System, layout))
        });
        group.bench_with_input(BenchmarkId::new("tracking", size), &layout, |b, &layout| {
            b.iter(|| alloc_free_pair(&TRACKING, layout))
        });
    }
    group.finish();

    // Two threads hammering the shared counters: the worst case for their cache line.
    let mut group = c.benchmark_group("alloc_free_pair_2_threads");
    if let Ok(layout) = Layout::from_size_align(64, 8) {
        group.bench_function("system", |b| {
            b.iter_custom(|iterations| contended(&System, layout, 2, iterations))
        });
        group.bench_function("tracking", |b| {
            b.iter_custom(|iterations| contended(&TRACKING, layout, 2, iterations))
        });
    }
    group.finish();
}

criterion_group!(benches, allocators);
criterion_main!(benches);
