//! Trace reading speed: reads and summarizes a trace, reporting MB/s of JSON.
//!
//! By default it reads the V100 fixture (decompressed in memory first, so the figure is the
//! parser's, not gzip's). Set `ADVISOR_BENCH_TRACE` to a large file made with
//! `cargo xtask gen-trace` to measure the 500 MB case; `cargo xtask bench-trace` also reports
//! peak memory.

use std::{io::Read, path::PathBuf, time::Duration};

use advisor_profile::{TraceOptions, read_trace};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn fixture() -> Option<Vec<u8>> {
    if let Some(path) = std::env::var_os("ADVISOR_BENCH_TRACE") {
        return std::fs::read(path).ok();
    }
    let folder = std::env::var_os("ADVISOR_SHARED_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"));
    let compressed = std::fs::read(folder.join("traces/v100-training-rank0.trace.json.gz")).ok()?;
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut json)
        .ok()?;
    Some(json)
}

fn bench(c: &mut Criterion) {
    let Some(json) = fixture() else {
        eprintln!(
            "trace_read: no trace found (set ADVISOR_SHARED_FIXTURES or ADVISOR_BENCH_TRACE)"
        );
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
