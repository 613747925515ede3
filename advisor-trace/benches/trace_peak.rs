//! Reads and summarizes one large trace once, or several ranks' traces together, and reports
//! MB/s, wall time and the process's peak resident memory (VmHWM). Run through
//! `cargo xtask bench-trace`, which generates the traces (50 to 500 MB, and 8 ranks), runs
//! this bench once per file and per repetition, and tabulates the figures; or set
//! `ADVISOR_BENCH_TRACE` to any trace, or `ADVISOR_BENCH_RANKS` to several traces separated by
//! `:` (read with `read_traces`). Without either, it does nothing.
//!
//! Besides the human-readable lines, each run prints one `trace_peak-result:` line of
//! `key=value` pairs that `cargo xtask bench-trace` parses. `ADVISOR_BENCH_DUMP=FILE` writes
//! the whole summary there (its `Debug` form), to compare two builds' results.

use std::{path::PathBuf, time::Instant};

use advisor_trace::{TraceOptions, read_trace_file, read_traces};

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("unknown".to_owned(), |k| {
        format!("{:.1} MiB", k as f64 / 1024.0)
    })
}

fn main() {
    if let Some(paths) = std::env::var_os("ADVISOR_BENCH_RANKS") {
        let paths: Vec<PathBuf> = std::env::split_paths(&paths).collect();
        ranks(&paths);
        return;
    }
    let Some(path) = std::env::var_os("ADVISOR_BENCH_TRACE").map(PathBuf::from) else {
        eprintln!(
            "trace_peak: set ADVISOR_BENCH_TRACE or ADVISOR_BENCH_RANKS (or run `cargo xtask bench-trace`)"
        );
        return;
    };
    let before = peak_rss_kib();
    let start = Instant::now();
    match read_trace_file(&path, TraceOptions::default()) {
        Ok(summary) => {
            let seconds = start.elapsed().as_secs_f64();
            let peak = peak_rss_kib();
            let mb = summary.bytes_read as f64 / 1e6;
            println!(
                "trace_peak: {} — {mb:.1} MB of JSON in {seconds:.2} s = {:.0} MB/s; peak RSS {} (at start {})",
                path.display(),
                mb / seconds,
                mib(peak),
                mib(before),
            );
            if let Some(b) = &summary.breakdown {
                println!(
                    "trace_peak: {} steps; GPU idle {:.2} %, compute {:.2} %, non-compute {:.2} %",
                    summary.steps.len(),
                    b.idle_pct,
                    b.compute_pct,
                    b.non_compute_pct
                );
            }
            println!(
                "trace_peak-result: files=1 bytes={} seconds={seconds:.4} peak_rss_kib={}",
                summary.bytes_read,
                peak.unwrap_or(0)
            );
            // To compare two builds' results on the same file.
            if let Some(dump) = std::env::var_os("ADVISOR_BENCH_DUMP")
                && let Err(error) = std::fs::write(&dump, format!("{summary:#?}"))
            {
                eprintln!("trace_peak: writing {}: {error}", dump.to_string_lossy());
            }
        }
        Err(error) => {
            eprintln!("trace_peak: {error}");
            std::process::exit(1);
        }
    }
}

/// Reads `paths` as the ranks of one job, as `advisor trace DIR` does.
fn ranks(paths: &[PathBuf]) {
    let start = Instant::now();
    match read_traces(paths) {
        Ok(summaries) => {
            let seconds = start.elapsed().as_secs_f64();
            let peak = peak_rss_kib();
            let bytes: u64 = summaries.iter().map(|s| s.bytes_read).sum();
            let mb = bytes as f64 / 1e6;
            println!(
                "trace_peak: {} ranks — {mb:.1} MB of JSON in {seconds:.2} s = {:.0} MB/s; peak RSS {}",
                paths.len(),
                mb / seconds,
                mib(peak),
            );
            println!(
                "trace_peak-result: files={} bytes={bytes} seconds={seconds:.4} peak_rss_kib={}",
                paths.len(),
                peak.unwrap_or(0)
            );
        }
        Err(error) => {
            eprintln!("trace_peak: {error}");
            std::process::exit(1);
        }
    }
}
