//! `cargo xtask gen-trace OUT [--size-mb N] [--from TRACE]`: writes a large Kineto trace by
//! replicating the events of a real trace (default: the V100 trace in `testdata/traces`) with
//! shifted timestamps, correlation ids, external ids, flow ids and step numbers, so each copy
//! is a further run of profiler steps. For the trace-reading speed benchmark:
//! write it under `target/` or `/tmp`, never into the repository.
//!
//! `cargo xtask bench-trace [--repeat N] [--sizes 50,100,250,500] [--ranks 8] [FILE..]`
//! generates, when no file is given, `target/trace-bench/trace-{N}mb.json` for each size and
//! eight rank files of the largest, then runs `advisor-trace`'s `trace_peak` bench once per file
//! and repetition (and once over the rank files together) and tabulates MB/s, seconds and peak
//! RSS.

use std::{
    fs::File,
    io::{BufWriter, Read, Write},
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use serde_json::Value;

/// Default size of the generated trace.
const DEFAULT_SIZE_MB: u64 = 500;

/// The V100 trace in the repository's test data.
fn default_source() -> PathBuf {
    crate::root().join("testdata/traces/v100-training-rank0.trace.json.gz")
}

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let mut out = None;
    let mut size_mb = DEFAULT_SIZE_MB;
    let mut source = default_source();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--size-mb" => {
                size_mb = rest
                    .next()
                    .context("--size-mb needs a number")?
                    .parse()
                    .context("--size-mb needs a number")?;
            }
            "--from" => source = PathBuf::from(rest.next().context("--from needs a file")?),
            other if out.is_none() && !other.starts_with("--") => out = Some(PathBuf::from(other)),
            other => bail!("gen-trace: unexpected argument `{other}`"),
        }
    }
    let out = out.context("usage: cargo xtask gen-trace OUT [--size-mb N] [--from TRACE]")?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let written = generate(&source, &out, size_mb << 20)?;
    eprintln!(
        "wrote {} ({:.1} MB) from {}",
        out.display(),
        written as f64 / 1e6,
        source.display()
    );
    Ok(())
}

/// The sizes `bench-trace` reads by default, in MiB asked of `gen-trace` (each file ends after
/// a whole copy of the source, so it comes out a little larger).
const BENCH_SIZES_MB: [u64; 4] = [50, 100, 250, DEFAULT_SIZE_MB];
/// Ranks of the multi-rank read, each a trace of [`DEFAULT_SIZE_MB`].
const BENCH_RANKS: usize = 8;

/// `cargo xtask bench-trace [--repeat N] [--sizes A,B,..] [--ranks N] [--binary EXE] [FILE..]`:
/// the speed and peak-memory bench (`--binary`: a `trace_peak` executable kept from an earlier
/// build, to measure before and after a change on the same files). Without files it generates (once, under `target/trace-bench/`) a
/// trace of each size and `--ranks` rank files of the largest size, then runs the `trace_peak`
/// bench binary once per file and repetition (a fresh process each time, so each peak RSS is
/// that read's), repetitions interleaved across files, and one multi-rank read of the rank
/// files per repetition; it prints a table of MB/s, seconds and peak RSS with min, median and
/// max, and the load average before and after (the figures are only as quiet as the machine).
pub(crate) fn bench(args: &[String]) -> anyhow::Result<()> {
    let mut repeat = 3usize;
    let mut sizes: Vec<u64> = BENCH_SIZES_MB.to_vec();
    let mut rank_count = BENCH_RANKS;
    let mut binary = None;
    let mut files = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--repeat" => {
                repeat = rest
                    .next()
                    .context("--repeat needs a number")?
                    .parse()
                    .context("--repeat needs a number")?;
            }
            "--sizes" => {
                sizes = rest
                    .next()
                    .context("--sizes needs a list such as 50,100")?
                    .split(',')
                    .map(|s| s.trim().parse().context("--sizes needs numbers"))
                    .collect::<anyhow::Result<_>>()?;
            }
            "--ranks" => {
                rank_count = rest
                    .next()
                    .context("--ranks needs a number")?
                    .parse()
                    .context("--ranks needs a number")?;
            }
            "--binary" => {
                binary = Some(PathBuf::from(
                    rest.next()
                        .context("--binary needs a trace_peak executable")?,
                ));
            }
            other if !other.starts_with("--") => files.push(PathBuf::from(other)),
            other => bail!("bench-trace: unexpected argument `{other}`"),
        }
    }
    let dir = crate::root().join("target/trace-bench");
    let mut rank_files = Vec::new();
    if files.is_empty() {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for &size in &sizes {
            let file = dir.join(format!("trace-{size}mb.json"));
            ensure_generated(&file, size)?;
            files.push(file);
        }
        if rank_count > 0 {
            let base = dir.join(format!("trace-{DEFAULT_SIZE_MB}mb.json"));
            ensure_generated(&base, DEFAULT_SIZE_MB)?;
            for rank in 0..rank_count {
                let file = dir.join(format!("rank-{rank}-of-{rank_count}.trace.json"));
                if !file.is_file() {
                    write_rank(&base, &file, rank, rank_count)?;
                }
                rank_files.push(file);
            }
        }
    }
    let binary = match binary {
        Some(binary) => binary,
        None => bench_binary()?,
    };
    eprintln!("bench binary: {}", binary.display());
    let load_before = load_average();
    let mut rows: Vec<(String, Vec<Measurement>)> = files
        .iter()
        .map(|f| {
            let name = f.file_name().map_or_else(
                || f.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            (name, Vec::new())
        })
        .collect();
    if !rank_files.is_empty() {
        rows.push((format!("{} ranks at once", rank_files.len()), Vec::new()));
    }
    for round in 0..repeat {
        for (index, file) in files.iter().enumerate() {
            let measurement = run_bench(&binary, "ADVISOR_BENCH_TRACE", file.as_os_str())?;
            eprintln!("[{}/{repeat}] {}: {measurement}", round + 1, file.display());
            rows[index].1.push(measurement);
        }
        if !rank_files.is_empty() {
            let joined = std::env::join_paths(&rank_files).context("joining the rank paths")?;
            let measurement = run_bench(&binary, "ADVISOR_BENCH_RANKS", &joined)?;
            eprintln!(
                "[{}/{repeat}] {} ranks: {measurement}",
                round + 1,
                rank_files.len()
            );
            if let Some(row) = rows.last_mut() {
                row.1.push(measurement);
            }
        }
    }
    let load_after = load_average();
    println!("\ntrace reading: {repeat} run(s) each, min / median / max");
    println!("load average before: {load_before}; after: {load_after}");
    println!("| input | MB | MB/s | seconds | peak RSS MiB |\n|---|---:|---:|---:|---:|");
    for (name, measurements) in &rows {
        let Some(first) = measurements.first() else {
            continue;
        };
        let spread = |f: fn(&Measurement) -> f64| {
            let mut values: Vec<f64> = measurements.iter().map(f).collect();
            values.sort_by(f64::total_cmp);
            let median = values[values.len() / 2];
            format!(
                "{:.0} / {:.0} / {:.0}",
                values[0],
                median,
                values[values.len() - 1]
            )
        };
        let seconds = {
            let mut values: Vec<f64> = measurements.iter().map(|m| m.seconds).collect();
            values.sort_by(f64::total_cmp);
            format!(
                "{:.2} / {:.2} / {:.2}",
                values[0],
                values[values.len() / 2],
                values[values.len() - 1]
            )
        };
        println!(
            "| {name} | {:.1} | {} | {seconds} | {} |",
            first.bytes as f64 / 1e6,
            spread(|m| m.bytes as f64 / 1e6 / m.seconds),
            spread(|m| m.peak_rss_kib as f64 / 1024.0),
        );
    }
    Ok(())
}

/// Generates `file` of `size_mb` MiB unless it exists.
fn ensure_generated(file: &Path, size_mb: u64) -> anyhow::Result<()> {
    if file.is_file() {
        return Ok(());
    }
    let written = generate(&default_source(), file, size_mb << 20)?;
    eprintln!(
        "generated {} ({:.1} MB)",
        file.display(),
        written as f64 / 1e6
    );
    Ok(())
}

/// Writes `base` as rank `rank` of `world` ranks: its top-level keys with `distributedInfo`'s
/// rank and world size set, then its events copied byte for byte (so every rank has the same
/// events, and writing eight of them takes seconds, not minutes).
fn write_rank(base: &Path, out: &Path, rank: usize, world: usize) -> anyhow::Result<()> {
    const EVENTS_KEY: &[u8] = b"\"traceEvents\": [\n";
    let mut input = File::open(base).with_context(|| format!("opening {}", base.display()))?;
    let mut head = vec![0; 1 << 20];
    let mut filled = 0;
    let at = loop {
        let n = input.read(&mut head[filled..])?;
        filled += n;
        if let Some(at) = head[..filled]
            .windows(EVENTS_KEY.len())
            .position(|w| w == EVENTS_KEY)
        {
            break at;
        }
        if n == 0 || filled == head.len() {
            bail!("{}: no `traceEvents` in its first MiB", base.display());
        }
    };
    // The head is `{\n` and one `"key": value,\n` line per top-level key (see `generate`).
    let header = std::str::from_utf8(&head[..at]).context("the header is not UTF-8")?;
    let object = format!("{}}}", header.trim_end().trim_end_matches(','));
    let mut document: serde_json::Map<String, Value> =
        serde_json::from_str(&object).context("parsing the generated header")?;
    let info = document
        .entry("distributedInfo")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if let Some(info) = info.as_object_mut() {
        info.insert("rank".to_owned(), Value::from(rank));
        info.insert("world_size".to_owned(), Value::from(world));
    }
    let mut writer = BufWriter::with_capacity(
        1 << 20,
        File::create(out).with_context(|| format!("creating {}", out.display()))?,
    );
    writer.write_all(b"{\n")?;
    for (key, value) in &document {
        serde_json::to_writer(&mut writer, key)?;
        writer.write_all(b": ")?;
        serde_json::to_writer(&mut writer, value)?;
        writer.write_all(b",\n")?;
    }
    writer.write_all(&head[at..filled])?;
    std::io::copy(&mut input, &mut writer)?;
    writer.flush()?;
    eprintln!("generated {} (rank {rank} of {world})", out.display());
    Ok(())
}

/// What one run of the `trace_peak` binary reported.
struct Measurement {
    bytes: u64,
    seconds: f64,
    peak_rss_kib: u64,
}

impl std::fmt::Display for Measurement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1} MB in {:.2} s = {:.0} MB/s, peak RSS {:.1} MiB",
            self.bytes as f64 / 1e6,
            self.seconds,
            self.bytes as f64 / 1e6 / self.seconds,
            self.peak_rss_kib as f64 / 1024.0
        )
    }
}

/// Builds the `trace_peak` bench and returns its executable.
fn bench_binary() -> anyhow::Result<PathBuf> {
    let args = [
        "bench",
        "-p",
        "advisor-trace",
        "--bench",
        "trace_peak",
        "--no-run",
        "--message-format=json",
    ];
    eprintln!("$ cargo {}", args.join(" "));
    let output = std::process::Command::new("cargo")
        .args(args)
        .current_dir(crate::root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("starting cargo")?;
    if !output.status.success() {
        bail!(
            "building the trace_peak bench failed with {}",
            output.status
        );
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["target"]["name"] == "trace_peak")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .context("cargo did not name the trace_peak executable")
}

/// Runs the bench binary once with `variable=value` and parses its result line.
fn run_bench(
    binary: &Path,
    variable: &str,
    value: &std::ffi::OsStr,
) -> anyhow::Result<Measurement> {
    let output = std::process::Command::new(binary)
        .env(variable, value)
        .current_dir(crate::root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("starting {}", binary.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("trace_peak failed with {}:\n{stdout}", output.status);
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("trace_peak-result:"))
        .context("trace_peak printed no result line")?;
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
            .with_context(|| format!("no `{key}` in `{line}`"))
    };
    Ok(Measurement {
        bytes: field("bytes")?.parse()?,
        seconds: field("seconds")?.parse()?,
        peak_rss_kib: field("peak_rss_kib")?.parse()?,
    })
}

/// `/proc/loadavg`'s three load averages, or `unknown`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// What each event needs shifted per copy, read once from the original.
struct Original {
    ts: Option<f64>,
    correlation: Option<i64>,
    external_id: Option<i64>,
    flow_id: Option<i64>,
    step: Option<i64>,
}

fn int_at(value: &Value, key: &str) -> Option<i64> {
    value.get(key).and_then(Value::as_i64)
}

/// Writes copies of `source`'s events until the output reaches `target_bytes`; returns the
/// bytes written.
fn generate(source: &Path, out: &Path, target_bytes: u64) -> anyhow::Result<u64> {
    let mut compressed = Vec::new();
    File::open(source)
        .with_context(|| format!("opening {}", source.display()))?
        .read_to_end(&mut compressed)?;
    let mut json = Vec::new();
    if compressed.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(&compressed[..])
            .read_to_end(&mut json)
            .with_context(|| format!("decompressing {}", source.display()))?;
    } else {
        json = compressed;
    }
    let mut document: Value =
        serde_json::from_slice(&json).with_context(|| format!("parsing {}", source.display()))?;
    let Some(Value::Array(mut events)) = document
        .as_object_mut()
        .and_then(|o| o.remove("traceEvents"))
    else {
        bail!("{}: no traceEvents array", source.display());
    };
    let originals: Vec<Original> = events
        .iter()
        .map(|event| {
            let args = event.get("args");
            Original {
                ts: event.get("ts").and_then(Value::as_f64),
                correlation: args.and_then(|a| int_at(a, "correlation")),
                external_id: args.and_then(|a| int_at(a, "External id")),
                flow_id: int_at(event, "id"),
                step: event
                    .get("name")
                    .and_then(Value::as_str)
                    .and_then(|n| n.strip_prefix("ProfilerStep#"))
                    .and_then(|n| n.parse().ok()),
            }
        })
        .collect();
    let (mut first, mut last) = (f64::INFINITY, f64::NEG_INFINITY);
    for event in &events {
        if let Some(ts) = event.get("ts").and_then(Value::as_f64) {
            let dur = event.get("dur").and_then(Value::as_f64).unwrap_or(0.0);
            first = first.min(ts);
            last = last.max(ts + dur);
        }
    }
    let period = (last - first).max(1.0).ceil() + 1000.0;
    let max_of =
        |f: fn(&Original) -> Option<i64>| originals.iter().filter_map(f).max().unwrap_or(0) + 1;
    let correlation_stride = max_of(|o| o.correlation);
    let external_stride = max_of(|o| o.external_id);
    let flow_stride = max_of(|o| o.flow_id.max(o.correlation));
    let step_stride = {
        let steps: Vec<i64> = originals.iter().filter_map(|o| o.step).collect();
        steps.iter().max().unwrap_or(&0) - steps.iter().min().unwrap_or(&0) + 1
    };

    let file = File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut writer = CountingWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        written: 0,
    };
    writer.write_all(b"{\n")?;
    if let Some(object) = document.as_object() {
        for (key, value) in object {
            serde_json::to_writer(&mut writer, key)?;
            writer.write_all(b": ")?;
            serde_json::to_writer(&mut writer, value)?;
            writer.write_all(b",\n")?;
        }
    }
    writer.write_all(b"\"traceEvents\": [\n")?;
    let mut copy: i64 = 0;
    let mut first_event = true;
    while writer.written < target_bytes {
        let shift = period * copy as f64;
        for (event, original) in events.iter_mut().zip(&originals) {
            if let (Some(ts), Some(slot)) = (original.ts, event.get_mut("ts")) {
                *slot = Value::from(ts + shift);
            }
            if let Some(id) = original.flow_id
                && let Some(slot) = event.get_mut("id")
            {
                *slot = Value::from(id + copy * flow_stride);
            }
            if let Some(step) = original.step
                && let Some(slot) = event.get_mut("name")
            {
                *slot = Value::from(format!("ProfilerStep#{}", step + copy * step_stride));
            }
            if let Some(args) = event.get_mut("args").and_then(Value::as_object_mut) {
                if let Some(correlation) = original.correlation {
                    args.insert(
                        "correlation".to_owned(),
                        Value::from(correlation + copy * correlation_stride),
                    );
                }
                if let Some(external) = original.external_id {
                    args.insert(
                        "External id".to_owned(),
                        Value::from(external + copy * external_stride),
                    );
                }
            }
            if !first_event {
                writer.write_all(b",\n")?;
            }
            first_event = false;
            serde_json::to_writer(&mut writer, event)?;
        }
        copy += 1;
    }
    writer.write_all(b"\n]}\n")?;
    writer.inner.flush()?;
    Ok(writer.written)
}

struct CountingWriter<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
