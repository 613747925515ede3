//! Exporting what the profiler recorded: Chrome trace JSON (Perfetto, `chrome://tracing`)
//! and folded stacks for flame graphs (`inferno-flamegraph`, `flamegraph.pl`).

use std::{
    collections::BTreeMap,
    io::{self, Write},
};

use serde::Serialize;

use crate::span::{ProfileSnapshot, SpanRecord, SpanTree};

/// The category our spans carry in Chrome traces.
const CATEGORY: &str = "advisor";

#[derive(Serialize)]
struct CompleteEvent<'a> {
    name: &'a str,
    cat: &'static str,
    ph: &'static str,
    /// Microseconds, with nanosecond precision.
    ts: f64,
    dur: f64,
    pid: u32,
    tid: u64,
}

#[derive(Serialize)]
struct MetadataEvent<'a> {
    name: &'static str,
    ph: &'static str,
    pid: u32,
    tid: u64,
    args: MetadataArgs<'a>,
}

#[derive(Serialize)]
struct MetadataArgs<'a> {
    name: &'a str,
}

fn micros(ns: u64) -> f64 {
    ns as f64 / 1e3
}

fn json_error(error: serde_json::Error) -> io::Error {
    io::Error::other(error)
}

impl ProfileSnapshot {
    /// Writes the snapshot as Chrome trace JSON: a `thread_name` metadata event per thread,
    /// then one complete (`"ph": "X"`) event per span with `pid` (this process's id), `tid`
    /// (the profiler's thread number), `ts` and `dur` in microseconds since the profiler was
    /// first enabled. Perfetto and `chrome://tracing` open it as is.
    ///
    /// ```
    /// use advisor_profile::{Profiler, profile};
    ///
    /// let profiler = Profiler::new();
    /// {
    ///     profile!(profiler, "step");
    /// }
    /// let mut json = Vec::new();
    /// profiler.collect().write_chrome_trace(&mut json)?;
    /// let trace: serde_json::Value = serde_json::from_slice(&json)?;
    /// assert_eq!(trace["traceEvents"][1]["name"], "step");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_chrome_trace(&self, writer: impl Write) -> io::Result<()> {
        let mut writer = io::BufWriter::new(writer);
        let pid = std::process::id();
        writer.write_all(b"{\"displayTimeUnit\":\"ms\",\"traceEvents\":[")?;
        let mut first = true;
        let mut separator = |writer: &mut io::BufWriter<_>| -> io::Result<()> {
            if !std::mem::take(&mut first) {
                writer.write_all(b",\n")?;
            }
            Ok(())
        };
        for thread in &self.threads {
            separator(&mut writer)?;
            let event = MetadataEvent {
                name: "thread_name",
                ph: "M",
                pid,
                tid: thread.thread_id,
                args: MetadataArgs {
                    name: &thread.thread_name,
                },
            };
            serde_json::to_writer(&mut writer, &event).map_err(json_error)?;
            // Viewers nest complete events by time; parents first keeps equal starts right.
            let mut spans: Vec<&SpanRecord> = thread.spans.iter().collect();
            spans.sort_by_key(|span| (span.start_ns, span.depth));
            for span in spans {
                separator(&mut writer)?;
                let event = CompleteEvent {
                    name: &span.name,
                    cat: CATEGORY,
                    ph: "X",
                    ts: micros(span.start_ns),
                    dur: micros(span.duration_ns),
                    pid,
                    tid: thread.thread_id,
                };
                serde_json::to_writer(&mut writer, &event).map_err(json_error)?;
            }
        }
        writer.write_all(b"]}\n")?;
        writer.flush()
    }

    /// The snapshot as Chrome trace JSON (see [`write_chrome_trace`](Self::write_chrome_trace)).
    pub fn to_chrome_trace(&self) -> String {
        let mut json = Vec::new();
        // Writing to a vector cannot fail, and serde_json writes only UTF-8.
        if self.write_chrome_trace(&mut json).is_err() {
            return String::new();
        }
        String::from_utf8(json).unwrap_or_default()
    }

    /// The merged tree as folded stacks; see [`SpanTree::write_folded_stacks`].
    pub fn write_folded_stacks(&self, writer: impl Write) -> io::Result<()> {
        self.tree().write_folded_stacks(writer)
    }
}

impl SpanTree {
    /// Writes folded stacks for flame graphs: one line `root;child;leaf SELF_NS` per name path
    /// with self time, the weight being self time in nanoseconds, lines sorted by path.
    /// A `;` in a name becomes `:` and line breaks become spaces, so every line parses.
    ///
    /// ```
    /// use advisor_profile::{Profiler, profile};
    ///
    /// let profiler = Profiler::new();
    /// {
    ///     profile!(profiler, "step");
    ///     std::thread::sleep(std::time::Duration::from_millis(1));
    ///     profile!(profiler, "forward");
    ///     std::thread::sleep(std::time::Duration::from_millis(1));
    /// }
    /// let folded = profiler.collect().tree().to_folded_stacks();
    /// let lines: Vec<&str> = folded.lines().collect();
    /// assert!(lines[0].starts_with("step "));
    /// assert!(lines[1].starts_with("step;forward "));
    /// ```
    pub fn write_folded_stacks(&self, mut writer: impl Write) -> io::Result<()> {
        let mut lines: BTreeMap<String, u64> = BTreeMap::new();
        self.walk(|path, node| {
            if node.self_ns > 0 {
                let key = path
                    .iter()
                    .map(|name| sanitize_frame(name))
                    .collect::<Vec<_>>()
                    .join(";");
                // Two names can sanitize to one; their weights add up.
                *lines.entry(key).or_default() += node.self_ns;
            }
        });
        let mut writer = io::BufWriter::new(&mut writer);
        for (stack, weight) in lines {
            writeln!(writer, "{stack} {weight}")?;
        }
        writer.flush()
    }

    /// Folded stacks as a string (see [`write_folded_stacks`](Self::write_folded_stacks)).
    pub fn to_folded_stacks(&self) -> String {
        let mut out = Vec::new();
        if self.write_folded_stacks(&mut out).is_err() {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

fn sanitize_frame(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            ';' => ':',
            '\n' | '\r' => ' ',
            other => other,
        })
        .collect()
}
