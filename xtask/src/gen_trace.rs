//! `cargo xtask gen-trace OUT [--size-mb N] [--from TRACE]`: writes a large Kineto trace by
//! replicating the events of a real trace (default: the V100 trace in `testdata/traces`) with
//! shifted timestamps, correlation ids, external ids, flow ids and step numbers, so each copy
//! is a further run of profiler steps. For the trace-reading speed benchmark:
//! write it under `target/` or `/tmp`, never into the repository.
//!
//! `cargo xtask bench-trace [FILE]` generates `target/trace-bench/large.trace.json` (500 MB)
//! when no file is given, then runs `advisor-trace`'s `trace_peak` bench, which reports MB/s
//! and peak RSS.

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

/// Runs the peak-memory and speed bench on a (generated) large trace.
pub(crate) fn bench(args: &[String]) -> anyhow::Result<()> {
    let file = match args.first() {
        Some(file) => PathBuf::from(file),
        None => {
            let file = crate::root().join("target/trace-bench/large.trace.json");
            if !file.is_file() {
                std::fs::create_dir_all(file.parent().unwrap_or(Path::new(".")))?;
                let written = generate(&default_source(), &file, DEFAULT_SIZE_MB << 20)?;
                eprintln!(
                    "generated {} ({:.1} MB)",
                    file.display(),
                    written as f64 / 1e6
                );
            }
            file
        }
    };
    let file = file
        .canonicalize()
        .with_context(|| format!("{}", file.display()))?;
    eprintln!(
        "$ ADVISOR_BENCH_TRACE={} cargo bench -p advisor-trace --bench trace_peak",
        file.display()
    );
    let status = std::process::Command::new("cargo")
        .args(["bench", "-p", "advisor-trace", "--bench", "trace_peak"])
        .env("ADVISOR_BENCH_TRACE", &file)
        .current_dir(crate::root())
        .status()
        .context("starting cargo")?;
    if !status.success() {
        bail!("the trace_peak bench failed with {status}");
    }
    Ok(())
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
