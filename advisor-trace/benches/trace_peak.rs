//! Reads and summarizes one large trace once and reports MB/s and the process's peak
//! resident memory (VmHWM). Run through `cargo xtask bench-trace`, which generates the
//! 500 MB trace; or set `ADVISOR_BENCH_TRACE` to any trace. Without it, it does nothing.

use std::{path::PathBuf, time::Instant};

use advisor_trace::{TraceOptions, read_trace_file};

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let Some(path) = std::env::var_os("ADVISOR_BENCH_TRACE").map(PathBuf::from) else {
        eprintln!("trace_peak: set ADVISOR_BENCH_TRACE (or run `cargo xtask bench-trace`)");
        return;
    };
    let before = peak_rss_kib();
    let start = Instant::now();
    match read_trace_file(&path, TraceOptions::default()) {
        Ok(summary) => {
            let seconds = start.elapsed().as_secs_f64();
            let mb = summary.bytes_read as f64 / 1e6;
            println!(
                "trace_peak: {} — {mb:.1} MB of JSON in {seconds:.2} s = {:.0} MB/s; peak RSS {} (at start {})",
                path.display(),
                mb / seconds,
                peak_rss_kib().map_or("unknown".to_owned(), |k| format!(
                    "{:.1} MB",
                    k as f64 / 1024.0
                )),
                before.map_or("unknown".to_owned(), |k| format!(
                    "{:.1} MB",
                    k as f64 / 1024.0
                )),
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
        }
        Err(error) => {
            eprintln!("trace_peak: {error}");
            std::process::exit(1);
        }
    }
}
