//! The trace written back with what the advisor found in it, for Perfetto's UI
//! (<https://ui.perfetto.dev>) or `chrome://tracing`.
//!
//! [`annotate_trace_file`] reads a trace twice. The first pass is the ordinary summary, which
//! also keeps its [`Timeline`]: when each stream's queue changed length, each idle gap on
//! each stream with its cause (Holistic Trace Analysis's host wait, kernel wait, other) and
//! each runtime call that blocked the host with the operator and annotation that issued it.
//! The second pass copies every element of the trace unchanged (each one checked to be JSON;
//! one that is not is dropped and counted) and adds, on a process of its own named
//! "advisor":
//! - counter tracks `queue length, stream N` (activities launched and not yet finished, as
//!   HTA's augmented counters count them) and `idle cause, stream N` (one series per cause, 1
//!   while the stream waits for it);
//! - an instant for each blocking runtime call, named by its cause, with the call, the copy
//!   kind, the operator and annotation around it and its duration in `args`;
//! - an instant at each step with the step's GPU breakdown and idle causes, and instants at
//!   the start with the trace's diagnosis (idle by cause, host-blocked time and its first
//!   site, queue depth).
//!
//! The added events use the category `advisor` and the phases `M`, `C` and `i` only, which the
//! reader counts and otherwise leaves alone: the annotated trace's summary is the original's.
//! Memory is the reader's bound plus the timeline, which grows with the GPU activities
//! (24 bytes per activity for the queue, 24 per gap) and the blocking calls.

use std::{
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
};

use advisor_core::{HostBlockCause, StreamIdleBreakdown};
use serde::{Serialize, de::IgnoredAny};
use serde_json::{Value, json};

use crate::{
    accumulate::Interner,
    analysis::{
        host_blocked::{Blocking, copy_kind},
        idle::{Cause, Gap, StreamGaps},
    },
    read::{TraceError, TraceOptions, read_trace_with},
    scan::{Prefix, Scanner, Sink},
    summary::TraceSummary,
};

/// The process the added tracks belong to: far above Linux's `pid_max` (2²²) and the device
/// numbers Kineto uses as GPU processes, so it is no process of the trace.
pub const ADVISOR_PID: u32 = 0x7fff_0000;
/// The category of every added event.
pub const ADVISOR_CATEGORY: &str = "advisor";
/// Threads of the advisor process.
const FINDINGS_TID: u32 = 0;
const HOST_BLOCKED_TID: u32 = 1;

/// What the first pass keeps for the annotations.
pub(crate) struct Timeline {
    /// The trace's first timestamp: steps' starts are relative to it.
    origin: f64,
    /// `(stream, time, +1 or -1)`, sorted by stream and time.
    queue: Vec<(i32, f64, i32)>,
    gaps: Vec<Gap>,
    blocked: Vec<Blocked>,
}

/// A runtime call that blocked the host.
struct Blocked {
    ts: f64,
    dur: f64,
    cause: HostBlockCause,
    call: String,
    copy_kind: Option<String>,
    op: Option<String>,
    annotation: Option<String>,
}

impl Timeline {
    /// From what the summary worked out: the blocking calls, the streams' gaps and the
    /// queue's changes of the analyzed window.
    pub(crate) fn of(
        names: &Interner,
        blocking: &[Blocking<'_>],
        stream_gaps: &StreamGaps,
        queue_changes: &[(i32, f64, i32)],
        origin: f64,
    ) -> Timeline {
        let owned = |id: Option<u32>| id.map(|id| names.name(id).to_owned());
        let blocked = blocking
            .iter()
            .map(|b| Blocked {
                ts: b.call.ts,
                dur: b.call.dur,
                cause: b.cause,
                call: names.name(b.call.name).to_owned(),
                copy_kind: b.copy.map(|id| copy_kind(names.name(id)).to_owned()),
                op: owned(b.op),
                annotation: owned(b.annotation),
            })
            .collect();
        Timeline {
            origin,
            queue: queue_changes.to_vec(),
            gaps: stream_gaps
                .gaps
                .iter()
                .filter(|gap| gap.to > gap.from)
                .copied()
                .collect(),
            blocked,
        }
    }
}

/// What [`annotate_trace_file`] did.
#[derive(Debug)]
pub struct Annotated {
    /// The trace's summary (the annotated trace's too).
    pub summary: TraceSummary,
    /// Events added: counter values (`C`).
    pub counters: u64,
    /// Events added: instants (`i`).
    pub instants: u64,
    /// Events added: process and thread names (`M`).
    pub metadata: u64,
    /// Elements of the input copied.
    pub copied: u64,
    /// Elements of the input copied repaired (non-finite numbers, trailing commas), as the
    /// reader repairs them.
    pub repaired: u64,
    /// Elements of the input left out because they are not JSON (the summary's warnings say
    /// what the reader made of them).
    pub dropped: u64,
}

impl Annotated {
    /// All events added.
    pub fn added(&self) -> u64 {
        self.counters + self.instants + self.metadata
    }
}

/// Writes `input` (a trace `.json` or `.json.gz`) to `output` with the advisor's findings
/// added as counter tracks and instant events (see the module's documentation); gzip when
/// `output` ends in `.gz`. The file appears whole or not at all: it is written beside
/// `output` and renamed over it at the end. `output` may not be `input`.
pub fn annotate_trace_file(
    input: &Path,
    output: &Path,
    options: TraceOptions,
) -> Result<Annotated, TraceError> {
    let name = input.display().to_string();
    let in_file = |source: TraceError| TraceError::File {
        path: name.clone(),
        source: Box::new(source),
    };
    if same_file(input, output) {
        return Err(in_file(TraceError::NotATrace(format!(
            "the annotated trace would replace the trace it is read from ({})",
            output.display()
        ))));
    }
    let min_inflate_limit = options.inflate_limit();
    let file = crate::read::open_regular_file(input).map_err(in_file)?;
    let (summary, timeline) = read_trace_with(file, &name, options, true).map_err(in_file)?;
    let timeline = timeline.unwrap_or(Timeline {
        origin: 0.0,
        queue: Vec::new(),
        gaps: Vec::new(),
        blocked: Vec::new(),
    });

    let out_name = output.display().to_string();
    let in_output = |error: std::io::Error| TraceError::File {
        path: out_name.clone(),
        source: Box::new(TraceError::Io(error)),
    };
    let temporary = temporary_path(output);
    let written = (|| {
        let out = File::create(&temporary)?;
        let gzip = output
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
        let writer: Box<dyn Write> = if gzip {
            Box::new(flate2::write::GzEncoder::new(
                BufWriter::with_capacity(1 << 16, out),
                flate2::Compression::default(),
            ))
        } else {
            Box::new(BufWriter::with_capacity(1 << 16, out))
        };
        Ok::<_, std::io::Error>(writer)
    })();
    let writer = written.map_err(in_output)?;
    let result = copy_with_annotations(input, min_inflate_limit, writer, &summary, &timeline);
    let counts = match result {
        Ok(counts) => counts,
        Err(error) => {
            let _ = std::fs::remove_file(&temporary);
            return Err(match error {
                CopyError::Input(error) => in_file(error),
                CopyError::Output(error) => in_output(error),
            });
        }
    };
    if let Err(error) = std::fs::rename(&temporary, output) {
        let _ = std::fs::remove_file(&temporary);
        return Err(in_output(error));
    }
    Ok(Annotated {
        summary,
        counters: counts.counters,
        instants: counts.instants,
        metadata: counts.metadata,
        copied: counts.copied,
        repaired: counts.repaired,
        dropped: counts.dropped,
    })
}

/// Whether two paths name one existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `OUT` → `.OUT.advisor-PID.tmp` in the same folder, so the rename stays on one file system.
fn temporary_path(output: &Path) -> PathBuf {
    let file_name = output
        .file_name()
        .map_or_else(|| "annotated".into(), |n| n.to_string_lossy().into_owned());
    output.with_file_name(format!(".{file_name}.advisor-{}.tmp", std::process::id()))
}

enum CopyError {
    Input(TraceError),
    Output(std::io::Error),
}

#[derive(Default)]
struct Counts {
    counters: u64,
    instants: u64,
    metadata: u64,
    copied: u64,
    repaired: u64,
    dropped: u64,
}

/// The second pass: every element copied, the annotations added where `traceEvents` closes.
fn copy_with_annotations(
    input: &Path,
    min_inflate_limit: u64,
    writer: Box<dyn Write>,
    summary: &TraceSummary,
    timeline: &Timeline,
) -> Result<Counts, CopyError> {
    let file = crate::read::open_regular_file(input).map_err(CopyError::Input)?;
    let stream = crate::read::decompressed(file, min_inflate_limit).map_err(CopyError::Input)?;
    let mut sink = CopySink {
        out: writer,
        error: None,
        state: State::Start,
        summary,
        timeline,
        counts: Counts::default(),
    };
    sink.write(b"{");
    let mut scanner = Scanner::new(stream, None);
    scanner.run(&mut sink).map_err(CopyError::Input)?;
    sink.finish();
    if let Some(error) = sink.error.take() {
        return Err(CopyError::Output(error));
    }
    let CopySink {
        mut out, counts, ..
    } = sink;
    out.flush().map_err(CopyError::Output)?;
    drop(out);
    Ok(counts)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing written after `{`.
    Start,
    /// Top-level values written, no events yet.
    Metadata,
    /// Inside `traceEvents`, nothing in it yet.
    EventsEmpty,
    /// Inside `traceEvents`, after an element.
    Events,
    /// `traceEvents` written and closed.
    Closed,
}

struct CopySink<'a> {
    out: Box<dyn Write>,
    /// The first write error; nothing is written after it.
    error: Option<std::io::Error>,
    state: State,
    summary: &'a TraceSummary,
    timeline: &'a Timeline,
    counts: Counts,
}

impl CopySink<'_> {
    fn write(&mut self, bytes: &[u8]) {
        if self.error.is_none()
            && let Err(error) = self.out.write_all(bytes)
        {
            self.error = Some(error);
        }
    }

    /// Opens `traceEvents` if it is not open yet.
    fn open_events(&mut self) {
        match self.state {
            State::Start => self.write(b"\n\"traceEvents\": ["),
            State::Metadata => self.write(b",\n\"traceEvents\": ["),
            State::EventsEmpty | State::Events | State::Closed => return,
        }
        self.state = State::EventsEmpty;
    }

    fn element(&mut self, element: &[u8]) {
        if self.state == State::Closed {
            // A second `traceEvents` array is not one the reader reads: leave it out.
            self.counts.dropped += 1;
            return;
        }
        self.open_events();
        self.write(if self.state == State::Events {
            b",\n"
        } else {
            b"\n"
        });
        self.write(element);
        self.state = State::Events;
        self.counts.copied += 1;
    }

    fn added(&mut self, event: &Added<'_>) {
        // A `Value` and plain fields always serialize.
        let Ok(text) = serde_json::to_vec(event) else {
            return;
        };
        self.element(&text);
        self.counts.copied -= 1;
        match event.ph {
            "C" => self.counts.counters += 1,
            "i" => self.counts.instants += 1,
            _ => self.counts.metadata += 1,
        }
    }

    /// Adds the annotations and closes `traceEvents`.
    fn close_events(&mut self) {
        if self.state == State::Closed {
            return;
        }
        self.open_events();
        for event in annotations(self.summary, self.timeline) {
            self.added(&event);
            if self.error.is_some() {
                return;
            }
        }
        self.write(b"\n]");
        self.state = State::Closed;
    }

    fn finish(&mut self) {
        self.close_events();
        self.write(b"\n}\n");
    }
}

impl Sink for CopySink<'_> {
    fn metadata(&mut self, key: &str, value: &[u8], _offset: u64) {
        if serde_json::from_slice::<IgnoredAny>(value).is_err() {
            self.counts.dropped += 1;
            return;
        }
        if matches!(self.state, State::EventsEmpty | State::Events) {
            self.close_events();
        }
        let Ok(key) = serde_json::to_vec(key) else {
            return;
        };
        if self.state != State::Start {
            self.write(b",");
        }
        self.write(b"\n");
        self.write(&key);
        self.write(b": ");
        self.write(value);
        if self.state == State::Start {
            self.state = State::Metadata;
        }
    }

    fn event(&mut self, element: &[u8], _offset: u64) {
        let is_json = |bytes: &[u8]| serde_json::from_slice::<IgnoredAny>(bytes).is_ok();
        if is_json(element) {
            self.element(element);
            return;
        }
        // Repaired as the reader repairs it (non-finite numbers, trailing commas), so the
        // annotated trace is JSON that any viewer opens.
        match crate::event::repair(element) {
            Some((repaired, _, _)) if is_json(&repaired) => {
                self.element(&repaired);
                self.counts.repaired += 1;
            }
            _ => self.counts.dropped += 1,
        }
    }

    fn event_prefix(&mut self, data: &[u8]) -> Prefix {
        let mut stream = serde_json::Deserializer::from_slice(data).into_iter::<IgnoredAny>();
        match stream.next() {
            Some(Ok(_)) => {
                let len = stream.byte_offset();
                // Only an object is an event; anything else goes the slow way (and is
                // copied there if it is JSON, as the reader counts it malformed).
                if data.first() == Some(&b'{') {
                    self.element(&data[..len]);
                    Prefix::Parsed(len)
                } else {
                    Prefix::Invalid
                }
            }
            Some(Err(error)) if error.is_eof() => Prefix::NeedMore,
            None => Prefix::NeedMore,
            Some(Err(_)) => Prefix::Invalid,
        }
    }
}

/// One added event, in the Chrome trace format.
#[derive(Serialize)]
struct Added<'a> {
    ph: &'static str,
    cat: &'static str,
    name: std::borrow::Cow<'a, str>,
    pid: u32,
    tid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    ts: Option<f64>,
    /// Instant scope: `g` global, `t` thread.
    #[serde(skip_serializing_if = "Option::is_none")]
    s: Option<&'static str>,
    args: Value,
}

fn metadata_event(name: &'static str, tid: u32, args: Value) -> Added<'static> {
    Added {
        ph: "M",
        cat: ADVISOR_CATEGORY,
        name: name.into(),
        pid: ADVISOR_PID,
        tid,
        ts: None,
        s: None,
        args,
    }
}

fn instant(name: String, tid: u32, ts: f64, global: bool, args: Value) -> Added<'static> {
    Added {
        ph: "i",
        cat: ADVISOR_CATEGORY,
        name: name.into(),
        pid: ADVISOR_PID,
        tid,
        ts: Some(ts),
        s: Some(if global { "g" } else { "t" }),
        args,
    }
}

fn counter(name: String, ts: f64, args: Value) -> Added<'static> {
    Added {
        ph: "C",
        cat: ADVISOR_CATEGORY,
        name: name.into(),
        pid: ADVISOR_PID,
        tid: FINDINGS_TID,
        ts: Some(ts),
        s: None,
        args,
    }
}

fn ms(us: f64) -> String {
    format!("{:.2} ms", us / 1000.0)
}

/// The events added to a trace, in order: names, findings, steps, blocking calls, counters.
/// Made lazily: the counters are as many as the GPU activities.
fn annotations<'a>(
    summary: &'a TraceSummary,
    timeline: &'a Timeline,
) -> impl Iterator<Item = Added<'static>> + 'a {
    let names = [
        metadata_event("process_name", FINDINGS_TID, json!({ "name": "advisor" })),
        metadata_event(
            "process_sort_index",
            FINDINGS_TID,
            json!({ "sort_index": -1 }),
        ),
        metadata_event("thread_name", FINDINGS_TID, json!({ "name": "findings" })),
        metadata_event(
            "thread_name",
            HOST_BLOCKED_TID,
            json!({ "name": "host blocked" }),
        ),
    ];
    let start = summary
        .steps
        .first()
        .map_or(timeline.origin, |s| timeline.origin + s.start_us);
    let findings = findings(summary, timeline)
        .into_iter()
        .map(move |(name, args)| instant(name, FINDINGS_TID, start, true, args));
    let steps = summary.steps.iter().map(|step| {
        let (host, kernel, other) = StreamIdleBreakdown::sum_by_cause(&step.idle_breakdown);
        let name = match &step.gpu_breakdown {
            Some(b) => format!(
                "ProfilerStep#{} {}: GPU idle {:.1} %; idle summed over {} streams: host wait {}, \
                 kernel wait {}, other {}",
                step.step,
                ms(step.duration_us),
                b.idle_pct,
                step.idle_breakdown.len(),
                ms(host),
                ms(kernel),
                ms(other)
            ),
            None => format!("ProfilerStep#{} {}", step.step, ms(step.duration_us)),
        };
        let args = json!({
            "step": step.step,
            "duration_us": step.duration_us,
            "gpu_breakdown": step.gpu_breakdown,
            "idle_breakdown": step.idle_breakdown,
        });
        instant(
            name,
            FINDINGS_TID,
            timeline.origin + step.start_us,
            false,
            args,
        )
    });
    let blocked = timeline.blocked.iter().map(|b| {
        let name = format!(
            "host blocked: {} ({}{}) {:.0} µs",
            b.cause.as_str().replace('_', " "),
            b.call,
            b.copy_kind
                .as_deref()
                .map_or(String::new(), |k| format!(" {k}")),
            b.dur
        );
        let args = json!({
            "cause": b.cause.as_str(),
            "call": b.call,
            "copy_kind": b.copy_kind,
            "op": b.op,
            "annotation": b.annotation,
            "dur_us": b.dur,
        });
        instant(name, HOST_BLOCKED_TID, b.ts, false, args)
    });
    names
        .into_iter()
        .chain(findings)
        .chain(steps)
        .chain(blocked)
        .chain(queue_counters(&timeline.queue))
        .chain(idle_counters(&timeline.gaps))
}

/// The trace's diagnosis, as instants at its start: `(name, args)`.
fn findings(summary: &TraceSummary, timeline: &Timeline) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    if let Some(b) = &summary.breakdown {
        let (host, kernel, other) = StreamIdleBreakdown::sum_by_cause(&summary.idle_breakdown);
        out.push((
            format!(
                "advisor: GPU idle {:.1} %, compute {:.1} %, non-compute {:.1} %; idle summed over \
                 {} streams: host wait {}, kernel wait {}, other {}",
                b.idle_pct,
                b.compute_pct,
                b.non_compute_pct,
                summary.idle_breakdown.len(),
                ms(host),
                ms(kernel),
                ms(other)
            ),
            json!({ "breakdown": b, "idle_breakdown": summary.idle_breakdown }),
        ));
    }
    if let Some(h) = summary.host_blocked.as_ref().filter(|h| h.calls > 0) {
        let site = h.by_site.first().map_or(String::new(), |s| {
            format!(
                "; most in {}{} under {}",
                s.call,
                s.copy_kind
                    .as_deref()
                    .map_or(String::new(), |k| format!(" {k}")),
                s.op.as_deref().unwrap_or("-")
            )
        });
        out.push((
            format!(
                "advisor: host blocked {:.1} % of step time ({} calls, {}){site}",
                h.pct_of_step,
                h.calls,
                ms(h.time_us)
            ),
            json!({ "host_blocked": h }),
        ));
    }
    for q in &summary.queue_length {
        out.push((
            format!(
                "advisor: stream {} queue length mean {:.1}, max {}",
                q.stream, q.mean, q.max
            ),
            json!({ "queue_length": q }),
        ));
    }
    if timeline.blocked.is_empty() && summary.host_blocked.is_none() && summary.steps.is_empty() {
        out.push((
            "advisor: no ProfilerStep annotations: host-blocked time is not counted".to_owned(),
            Value::Null,
        ));
    }
    out
}

/// One counter value per stream and time the queue changed (the last value at each time).
fn queue_counters(changes: &[(i32, f64, i32)]) -> impl Iterator<Item = Added<'static>> + '_ {
    let mut length = 0i64;
    let mut previous_stream = None;
    changes
        .iter()
        .enumerate()
        .filter_map(move |(index, &(stream, time, delta))| {
            if previous_stream != Some(stream) {
                previous_stream = Some(stream);
                length = 0;
            }
            length += i64::from(delta);
            let last_at_time = changes
                .get(index + 1)
                .is_none_or(|&(s, t, _)| s != stream || t != time);
            last_at_time.then(|| {
                counter(
                    format!("queue length, stream {stream}"),
                    time,
                    json!({ "queued": length.max(0) }),
                )
            })
        })
}

/// For each idle gap, the stream's cause series set at its start and cleared at its end.
fn idle_counters(gaps: &[Gap]) -> impl Iterator<Item = Added<'static>> + '_ {
    gaps.iter().flat_map(|gap| {
        let values = |on: bool| {
            let flag = |cause: Cause| u8::from(on && gap.cause == cause);
            json!({
                Cause::Host.as_str(): flag(Cause::Host),
                Cause::Kernel.as_str(): flag(Cause::Kernel),
                Cause::Other.as_str(): flag(Cause::Other),
            })
        };
        let name = format!("idle cause, stream {}", gap.stream);
        [
            counter(name.clone(), gap.from as f64, values(true)),
            counter(name, gap.to as f64, values(false)),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_counters_keep_the_last_value_at_each_time() {
        // Stream 7: two launches at 0, one end at 10, a launch and an end at 20, the last end
        // at 30; stream 8: one activity.
        let changes = [
            (7, 0.0, 1),
            (7, 0.0, 1),
            (7, 10.0, -1),
            (7, 20.0, -1),
            (7, 20.0, 1),
            (7, 30.0, -1),
            (8, 5.0, 1),
            (8, 6.0, -1),
        ];
        let values: Vec<(String, f64, i64)> = queue_counters(&changes)
            .map(|e| {
                (
                    e.name.into_owned(),
                    e.ts.unwrap_or(f64::NAN),
                    e.args["queued"].as_i64().unwrap_or(-1),
                )
            })
            .collect();
        let expected: Vec<(String, f64, i64)> = [
            (7, 0.0, 2),
            (7, 10.0, 1),
            (7, 20.0, 1),
            (7, 30.0, 0),
            (8, 5.0, 1),
            (8, 6.0, 0),
        ]
        .into_iter()
        .map(|(s, t, n)| (format!("queue length, stream {s}"), t, n))
        .collect();
        assert_eq!(values, expected);
    }

    #[test]
    fn idle_counters_flag_the_cause_for_the_gap() {
        let gaps = [Gap {
            stream: 3,
            from: 100,
            to: 150,
            cause: Cause::Host,
        }];
        let events: Vec<Added> = idle_counters(&gaps).collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].ts, Some(100.0));
        assert_eq!(events[0].args["host wait"], 1);
        assert_eq!(events[0].args["kernel wait"], 0);
        assert_eq!(events[1].ts, Some(150.0));
        assert_eq!(events[1].args["host wait"], 0);
        assert_eq!(events[0].name, "idle cause, stream 3");
    }
}
