//! Trace reading speed: reads and summarizes a trace, reporting MB/s of JSON.
//!
//! By default it reads the V100 trace in `testdata/traces` (decompressed in memory first, so
//! the figure is the parser's, not gzip's). Set `ADVISOR_BENCH_TRACE` to a large file made
//! with `cargo xtask gen-trace` to measure the 500 MB case; `cargo xtask bench-trace` also
//! reports peak memory.

use std::{io::Read, path::PathBuf, time::Duration};

use advisor_trace::{TraceOptions, read_trace};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn fixture() -> Option<Vec<u8>> {
    if let Some(path) = std::env::var_os("ADVISOR_BENCH_TRACE") {
        return std::fs::read(path).ok();
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/traces/v100-training-rank0.trace.json.gz");
    let compressed = std::fs::read(path).ok()?;
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut json)
        .ok()?;
    Some(json)
}

fn bench(c: &mut Criterion) {
    let Some(json) = fixture() else {
        eprintln!("trace_read: no trace found (testdata/traces, or set ADVISOR_BENCH_TRACE)");
        return;
    };
    let mut group = c.benchmark_group("trace");
    group.throughput(Throughput::Bytes(json.len() as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("read_and_summarize", |b| {
        b.iter(|| read_trace(&json[..], "bench", TraceOptions::default()).map(|s| s.steps.len()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
