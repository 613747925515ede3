//! Tests of our own profiler: span trees across threads, self time, open spans, reset,
//! the exports, percentiles and the measurement helpers.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::Duration,
};

use advisor_profile::{
    BatchShape, LatencyOptions, MeasureError, Profiler, SpanName, StopAfter, ThroughputCounter,
    TrackingAllocator, latency_from_samples_ms, measure_latency, measure_throughput, percentile,
    profile,
};
use proptest::prelude::*;

// The whole test binary runs on the tracking allocator, which also shows it is sound under
// everything the other tests do.
#[global_allocator]
static ALLOCATOR: TrackingAllocator = TrackingAllocator::new();

static STEP: SpanName = SpanName::new("step");
static FORWARD: SpanName = SpanName::new("forward");
static MATMUL: SpanName = SpanName::new("matmul");
static BACKWARD: SpanName = SpanName::new("backward");

fn busy(duration: Duration) {
    thread::sleep(duration);
}

#[test]
fn nested_spans_merge_by_path_with_counts_and_self_time() {
    let profiler = Profiler::new();
    for _ in 0..3 {
        let _step = profiler.span(&STEP);
        {
            let _forward = profiler.span(&FORWARD);
            for _ in 0..2 {
                let _matmul = profiler.span(&MATMUL);
                busy(Duration::from_millis(1));
            }
        }
        let _backward = profiler.span(&BACKWARD);
        busy(Duration::from_millis(1));
    }
    let snapshot = profiler.collect();
    assert_eq!(snapshot.span_count(), 3 * 5);
    assert_eq!(snapshot.held_back_spans, 0);
    let tree = snapshot.tree();
    assert_eq!(tree.roots.len(), 1);
    let step = &tree.roots[0];
    assert_eq!((step.name.as_str(), step.calls), ("step", 3));
    let forward = tree.find(&["step", "forward"]).expect("forward under step");
    let matmul = tree
        .find(&["step", "forward", "matmul"])
        .expect("matmul under forward");
    let backward = tree
        .find(&["step", "backward"])
        .expect("backward under step");
    assert_eq!(forward.calls, 3);
    assert_eq!(matmul.calls, 6);
    assert_eq!(backward.calls, 3);
    assert!(tree.find(&["matmul"]).is_none(), "matmul is never a root");

    // Self time is total less the children's totals, at every node.
    tree.walk(|path, node| {
        let children: u64 = node.children.iter().map(|child| child.total_ns).sum();
        assert!(node.total_ns >= children, "{path:?}");
        assert_eq!(node.self_ns, node.total_ns - children, "{path:?}");
        assert!(node.min_ns <= node.max_ns, "{path:?}");
        assert!(node.min_ns * node.calls <= node.total_ns, "{path:?}");
        assert!(node.max_ns * node.calls >= node.total_ns, "{path:?}");
    });
    // Each matmul sleeps 1 ms; leaves have all their time as self time.
    assert!(matmul.min_ns >= 1_000_000);
    assert_eq!(matmul.self_ns, matmul.total_ns);
    assert!(step.total_ns >= forward.total_ns + backward.total_ns);

    // Children are ordered by total time, largest first.
    assert_eq!(step.children[0].name, "forward");

    let results = snapshot.to_profile_results();
    assert_eq!(results.operations.len(), 1);
    let operation = &results.operations[0];
    assert_eq!(operation.calls, 3);
    assert!((operation.total_ms - step.total_ns as f64 / 1e6).abs() < 1e-9);
    assert!((operation.self_ms - step.self_ns as f64 / 1e6).abs() < 1e-9);
    assert_eq!(operation.children[0].children[0].name, "matmul");
    assert!(results.total_ms >= operation.total_ms / 3.0);
}

#[test]
fn spans_from_many_threads_merge_into_one_tree() {
    let profiler = Profiler::new();
    let threads = 4;
    let steps = 250;
    thread::scope(|scope| {
        for worker in 0..threads {
            let profiler = &profiler;
            thread::Builder::new()
                .name(format!("worker-{worker}"))
                .spawn_scoped(scope, move || {
                    for _ in 0..steps {
                        let _step = profiler.span(&STEP);
                        let _forward = profiler.span(&FORWARD);
                        let _matmul = profiler.span(&MATMUL);
                    }
                    // Each thread also has one path of its own.
                    let _own = profiler.span_named(&format!("only-{worker}"));
                })
                .expect("spawn");
        }
    });
    let snapshot = profiler.collect();
    assert_eq!(snapshot.threads.len(), threads);
    let mut names: Vec<&str> = snapshot
        .threads
        .iter()
        .map(|thread| thread.thread_name.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["worker-0", "worker-1", "worker-2", "worker-3"]);
    for thread in &snapshot.threads {
        assert_eq!(thread.spans.len(), steps * 3 + 1);
    }
    let tree = snapshot.tree();
    let total = (threads * steps) as u64;
    assert_eq!(tree.find(&["step"]).map(|node| node.calls), Some(total));
    assert_eq!(
        tree.find(&["step", "forward", "matmul"])
            .map(|node| node.calls),
        Some(total)
    );
    for worker in 0..threads {
        let name = format!("only-{worker}");
        assert_eq!(tree.find(&[name.as_str()]).map(|node| node.calls), Some(1));
    }
    assert_eq!(tree.roots.len(), 1 + threads);
}

#[test]
fn open_spans_are_held_back_until_they_close() {
    let profiler = Profiler::new();
    let step = profiler.span(&STEP);
    {
        let _forward = profiler.span(&FORWARD);
    }
    let snapshot = profiler.collect();
    assert_eq!(snapshot.span_count(), 0);
    assert_eq!(snapshot.held_back_spans, 1);
    drop(step);
    let tree = profiler.collect().tree();
    assert_eq!(
        tree.find(&["step", "forward"]).map(|node| node.calls),
        Some(1)
    );
}

#[test]
fn leaked_guards_close_with_their_enclosing_span() {
    let profiler = Profiler::new();
    {
        let _step = profiler.span(&STEP);
        std::mem::forget(profiler.span(&FORWARD));
        let _backward = profiler.span(&BACKWARD);
    }
    {
        let _step = profiler.span(&STEP);
    }
    let tree = profiler.collect().tree();
    assert_eq!(tree.find(&["step"]).map(|node| node.calls), Some(2));
    assert_eq!(
        tree.find(&["step", "forward", "backward"]).map(|n| n.calls),
        Some(1)
    );
    assert_eq!(tree.roots.len(), 1);
}

#[test]
fn disable_reset_and_the_cap() {
    let profiler = Profiler::new();
    let open_before_disable = profiler.span(&STEP);
    profiler.disable();
    assert!(!profiler.span(&FORWARD).is_recording());
    drop(open_before_disable);
    let tree = profiler.collect().tree();
    assert_eq!(
        tree.roots.len(),
        1,
        "the span open at disable still records"
    );
    assert!(tree.find(&["step", "forward"]).is_none());

    profiler.enable();
    profiler.reset();
    assert_eq!(profiler.collect().span_count(), 0);

    // A fresh profiler, so this thread's log starts empty: exactly `cap` spans fit.
    let profiler = Profiler::new();
    profiler.set_max_events_per_thread(1);
    let cap = profiler.max_events_per_thread();
    assert_eq!(cap, advisor_profile::CHUNK_EVENTS);
    for _ in 0..cap + 10 {
        let _span = profiler.span(&MATMUL);
    }
    let snapshot = profiler.collect();
    assert_eq!(snapshot.span_count(), cap);
    assert_eq!(snapshot.dropped_spans, 10);
    profiler.reset();
    {
        let _span = profiler.span(&MATMUL);
    }
    let snapshot = profiler.collect();
    assert_eq!((snapshot.span_count(), snapshot.dropped_spans), (1, 0));
}

#[test]
fn global_profiler_is_off_until_enabled() {
    // The only test touching the global profiler, so nothing else records into it.
    let global = Profiler::global();
    {
        profile!("never");
    }
    assert_eq!(global.collect().span_count(), 0);
    global.enable();
    {
        profile!("global-step");
    }
    global.disable();
    let tree = global.collect().tree();
    assert_eq!(tree.find(&["global-step"]).map(|node| node.calls), Some(1));
}

#[test]
fn chrome_trace_parses_back_with_nesting_and_thread_names() {
    let profiler = Profiler::new();
    thread::scope(|scope| {
        thread::Builder::new()
            .name("loader".into())
            .spawn_scoped(scope, || {
                let _step = profiler.span(&STEP);
                busy(Duration::from_millis(1));
                let _forward = profiler.span_named("quote\"and\\slash");
                busy(Duration::from_millis(1));
            })
            .expect("spawn");
    });
    let snapshot = profiler.collect();
    let json = snapshot.to_chrome_trace();
    let trace: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let events = trace["traceEvents"].as_array().expect("traceEvents array");
    assert_eq!(events.len(), 3);
    let metadata = &events[0];
    assert_eq!(metadata["ph"], "M");
    assert_eq!(metadata["name"], "thread_name");
    assert_eq!(metadata["args"]["name"], "loader");
    let tid = metadata["tid"].clone();
    let complete: Vec<&serde_json::Value> =
        events.iter().filter(|event| event["ph"] == "X").collect();
    assert_eq!(complete.len(), 2);
    let (parent, child) = (complete[0], complete[1]);
    assert_eq!(parent["name"], "step");
    assert_eq!(child["name"], "quote\"and\\slash");
    for event in &complete {
        assert_eq!(event["tid"], tid);
        assert_eq!(event["pid"], u64::from(std::process::id()));
        assert_eq!(event["cat"], "advisor");
    }
    let number = |event: &serde_json::Value, key: &str| event[key].as_f64().expect(key);
    // The child lies within its parent, and both last at least their sleeps.
    assert!(number(child, "ts") >= number(parent, "ts"));
    assert!(
        number(child, "ts") + number(child, "dur")
            <= number(parent, "ts") + number(parent, "dur") + 1e-3
    );
    assert!(number(parent, "dur") >= 2000.0);
    assert!(number(child, "dur") >= 1000.0);
}

#[test]
fn folded_stacks_have_one_line_per_path_with_self_time() {
    let profiler = Profiler::new();
    for _ in 0..2 {
        let _step = profiler.span(&STEP);
        busy(Duration::from_millis(1));
        let _odd = profiler.span_named("a;b\nc");
        busy(Duration::from_millis(1));
    }
    let tree = profiler.collect().tree();
    let folded = tree.to_folded_stacks();
    let lines: Vec<(&str, u64)> = folded
        .lines()
        .map(|line| {
            let (stack, weight) = line.rsplit_once(' ').expect("stack and weight");
            (stack, weight.parse().expect("integer weight"))
        })
        .collect();
    let stacks: Vec<&str> = lines.iter().map(|(stack, _)| *stack).collect();
    assert_eq!(stacks, ["step", "step;a:b c"]);
    let step = &tree.roots[0];
    assert_eq!(lines[0].1, step.self_ns);
    assert_eq!(lines[1].1, step.children[0].self_ns);
    assert_eq!(lines[0].1 + lines[1].1, step.total_ns);
}

#[test]
fn percentiles_match_hand_computed_values() {
    // Linear interpolation between closest ranks: rank = (n - 1) * p / 100.
    let sorted = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
    assert_eq!(percentile(&sorted, 0.0), Some(1.0));
    assert_eq!(percentile(&sorted, 50.0), Some(5.5)); // rank 4.5
    assert_eq!(percentile(&sorted, 90.0), Some(9.1)); // rank 8.1
    assert_eq!(percentile(&sorted, 25.0), Some(3.25)); // rank 2.25
    assert_eq!(percentile(&sorted, 100.0), Some(10.0));
    assert_eq!(percentile(&[7.0], 99.9), Some(7.0));
    assert_eq!(percentile(&[], 50.0), None);
    assert_eq!(percentile(&sorted, 101.0), None);
    assert_eq!(percentile(&sorted, f64::NAN), None);

    let metrics = latency_from_samples_ms(&[5.0, 1.0, 4.0, 2.0, 3.0]).expect("metrics");
    assert_eq!(metrics.count, Some(5));
    assert_eq!(metrics.mean_ms, Some(3.0));
    assert_eq!(metrics.median_ms, Some(3.0));
    assert_eq!(metrics.p90_ms, Some(4.6)); // rank 3.6
    assert_eq!(metrics.p99_ms, Some(4.96)); // rank 3.96
    assert_eq!((metrics.min_ms, metrics.max_ms), (Some(1.0), Some(5.0)));
    // Sample standard deviation: sqrt(10 / 4).
    let std_dev = metrics.std_dev_ms.expect("std dev");
    assert!((std_dev - 2.5f64.sqrt()).abs() < 1e-12);

    assert_eq!(
        latency_from_samples_ms(&[]),
        Err(MeasureError::NoIterations("no samples"))
    );
    assert!(matches!(
        latency_from_samples_ms(&[1.0, f64::NAN]),
        Err(MeasureError::BadSample { index: 1, .. })
    ));
}

proptest! {
    #[test]
    fn percentile_is_monotonic_and_within_range(
        mut samples in prop::collection::vec(0.0f64..1e6, 1..200),
        p in 0.0f64..=100.0,
        q in 0.0f64..=100.0,
    ) {
        samples.sort_by(f64::total_cmp);
        let (low, high) = if p <= q { (p, q) } else { (q, p) };
        let at_low = percentile(&samples, low).expect("in range");
        let at_high = percentile(&samples, high).expect("in range");
        prop_assert!(at_low <= at_high);
        prop_assert!(samples[0] <= at_low && at_high <= samples[samples.len() - 1]);
    }

    #[test]
    fn latency_summary_is_ordered(samples in prop::collection::vec(0.0f64..1e3, 1..100)) {
        let metrics = latency_from_samples_ms(&samples).expect("valid samples");
        let order = [
            metrics.min_ms, metrics.p50_ms, metrics.p90_ms, metrics.p95_ms,
            metrics.p99_ms, metrics.p999_ms, metrics.max_ms,
        ];
        for pair in order.windows(2) {
            prop_assert!(pair[0] <= pair[1], "{:?}", order);
        }
        prop_assert_eq!(metrics.median_ms, metrics.p50_ms);
        let mean = metrics.mean_ms.expect("mean");
        prop_assert!(metrics.min_ms.expect("min") <= mean + 1e-9);
        prop_assert!(mean <= metrics.max_ms.expect("max") + 1e-9);
    }
}

#[test]
fn measure_latency_counts_iterations_and_respects_budget() {
    let mut calls = 0u64;
    let metrics = measure_latency(
        || {
            calls += 1;
            busy(Duration::from_micros(200));
        },
        &LatencyOptions::iterations(20).warmup_iterations(3),
    )
    .expect("measured");
    assert_eq!(calls, 23, "warm-up calls plus measured calls");
    assert_eq!(metrics.count, Some(20));
    assert!(metrics.min_ms.expect("min") >= 0.2);

    let mut calls = 0u64;
    let metrics = measure_latency(
        || {
            calls += 1;
            busy(Duration::from_millis(1));
        },
        &LatencyOptions::time_budget(Duration::from_millis(20)).warmup_iterations(0),
    )
    .expect("measured");
    let count = metrics.count.expect("count");
    assert_eq!(count, calls);
    // At least one call; far fewer than the budget would allow for a free call.
    assert!((1..=20).contains(&count), "{count}");

    let mut options = LatencyOptions::time_budget(Duration::from_secs(60));
    options.stop = StopAfter::TimeBudget {
        budget: Duration::from_secs(60),
        min_iterations: 1,
        max_iterations: 5,
    };
    let metrics = measure_latency(|| 1 + 1, &options).expect("measured");
    assert_eq!(metrics.count, Some(5));

    assert!(matches!(
        measure_latency(|| (), &LatencyOptions::iterations(0)),
        Err(MeasureError::NoIterations(_))
    ));
}

#[test]
fn throughput_from_measurement_and_counter() {
    let metrics = measure_throughput(
        || busy(Duration::from_millis(1)),
        BatchShape::sequences(8.0, 128.0),
        &LatencyOptions::iterations(10).warmup_iterations(0),
    )
    .expect("measured");
    let batches = metrics.batches_per_second.expect("batches");
    // Each batch takes at least 1 ms.
    assert!(batches > 0.0 && batches <= 1000.0, "{batches}");
    assert_eq!(metrics.samples_per_second, Some(batches * 8.0));
    assert_eq!(metrics.tokens_per_second, Some(batches * 8.0 * 128.0));
    assert_eq!(metrics.avg_batch_size, Some(8.0));
    assert_eq!(metrics.avg_sequence_length, Some(128.0));

    let without_tokens = measure_throughput(
        || (),
        BatchShape::samples(4.0),
        &LatencyOptions::iterations(10),
    )
    .expect("measured");
    assert_eq!(without_tokens.tokens_per_second, None);
    assert!(matches!(
        measure_throughput(
            || (),
            BatchShape::samples(0.0),
            &LatencyOptions::iterations(1)
        ),
        Err(MeasureError::BadBatchShape {
            field: "samples",
            ..
        })
    ));

    let mut counter = ThroughputCounter::start();
    assert_eq!(
        counter.metrics(),
        Default::default(),
        "nothing recorded, nothing known"
    );
    counter.record_batch(4, Some(400));
    counter.record_batch(2, Some(100));
    busy(Duration::from_millis(2));
    let metrics = counter.metrics();
    assert_eq!(metrics.avg_batch_size, Some(3.0));
    assert!((metrics.avg_sequence_length.expect("length") - 500.0 / 6.0).abs() < 1e-9);
    let samples = metrics.samples_per_second.expect("samples");
    let tokens = metrics.tokens_per_second.expect("tokens");
    assert!((tokens / samples - 500.0 / 6.0).abs() < 1e-6);
    counter.record_batch(1, None);
    assert_eq!(counter.metrics().tokens_per_second, None);
}

#[test]
fn tracking_allocator_counts_what_goes_through_it() {
    // Other tests allocate concurrently, so only check what they cannot disturb: totals
    // only grow, and our own live block is part of the current bytes.
    const SIZE: usize = 4 << 20;
    let before = ALLOCATOR.stats();
    let mut block: Vec<u8> = Vec::with_capacity(SIZE);
    block.push(1);
    let during = ALLOCATOR.stats();
    assert!(during.current_bytes >= SIZE as u64);
    assert!(during.peak_bytes >= during.current_bytes);
    assert!(during.allocations > before.allocations);
    assert!(during.allocated_bytes_total >= before.allocated_bytes_total + SIZE as u64);
    block.reserve_exact(2 * SIZE); // grows in place or moves: a reallocation either way
    let grown = ALLOCATOR.stats();
    assert!(grown.reallocations > during.reallocations);
    assert!(grown.current_bytes >= 2 * SIZE as u64);
    drop(block);
    let after = ALLOCATOR.stats();
    assert!(after.deallocations > grown.deallocations);

    let (length, used) = ALLOCATOR.measure(|| vec![0u64; 1 << 16].len());
    assert_eq!(length, 1 << 16);
    assert!(used.allocations >= 1);
    assert!(used.allocated_bytes_total >= 8 << 16);
    assert!(used.peak_bytes >= 8 << 16);

    let metrics = ALLOCATOR.memory_metrics();
    assert!(metrics.current_bytes.is_some() && metrics.peak_bytes.is_some());
    assert_eq!(metrics.allocated_bytes, None);
}

#[test]
fn collecting_while_threads_record_sees_only_whole_trees() {
    let profiler = Profiler::new();
    let done = AtomicBool::new(false);
    thread::scope(|scope| {
        let recorders: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    for _ in 0..20_000 {
                        let _step = profiler.span(&STEP);
                        let _forward = profiler.span(&FORWARD);
                        let _matmul = profiler.span(&MATMUL);
                    }
                })
            })
            .collect();
        let collector = scope.spawn(|| {
            let mut last_steps = 0;
            let mut snapshots = 0;
            while !done.load(Ordering::Acquire) || snapshots == 0 {
                let tree = profiler.collect().tree();
                let calls = |path: &[&str]| tree.find(path).map_or(0, |node| node.calls);
                let steps = calls(&["step"]);
                // Every step in a snapshot comes with its whole subtree.
                assert_eq!(calls(&["step", "forward"]), steps);
                assert_eq!(calls(&["step", "forward", "matmul"]), steps);
                assert!(steps >= last_steps, "snapshots only grow without a reset");
                last_steps = steps;
                snapshots += 1;
                thread::yield_now();
            }
        });
        for recorder in recorders {
            recorder.join().expect("recorder");
        }
        done.store(true, Ordering::Release);
        collector.join().expect("collector");
    });
    assert_eq!(
        profiler.collect().tree().find(&["step"]).map(|n| n.calls),
        Some(40_000)
    );
}
