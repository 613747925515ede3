//! The streaming pass: folds each trace event into compact records (one per GPU activity,
//! correlated runtime call, synchronizing call, CPU operator or annotation and step) and a few
//! counters. The analyses (`analysis/`) derive the summary from these records afterwards.
//!
//! What is kept per event, and why: the interval sweeps (GPU breakdown, idle time, overlap)
//! and the CPU self times need every interval, sorted, and Kineto writes events out of time
//! order, so they cannot be folded as they stream by. The records are small and fixed-size,
//! names interned once per distinct name: 64 bytes per GPU activity (kernel, memcpy, memset),
//! 32 per runtime or driver call with a correlation id (its id and times, kept in file order
//! and sorted by id once at the end),
//! 32 per CPU operator or user annotation, 40 per runtime call that may block the host
//! (synchronizations, copies, sets, event waits, calls of 100 µs or more; a few per step),
//! 24 per distinct runtime-call name, 16 per data-loader call, 24 per step and 40 per call of
//! an operator whose cost is counted from its recorded shapes (`roofline`; its shapes are
//! interned like a name), never the event's JSON. Containers add their spare capacity (a `Vec` up
//! to twice its length, the map up to about 2.3 times its entries). The tests below keep the
//! sizes true.
//!
//! Both readers feed the same [`Accumulator::add`] with [`Fields`] in file order: the
//! one-thread reader straight from each parsed event, the multi-core reader (`pipeline`) from
//! the compact copies its workers make (the strings an event's fields need, its numbers and its
//! shape cost; about 200 bytes an event, for the few batches in flight only). The records kept
//! are the same either way.

use std::collections::{BTreeMap, HashMap};

use advisor_core::TraceDevice;

use crate::{
    analysis::{
        data_loader,
        devices::{self, DistributedSummary},
        host_blocked,
        memory::MemoryPeaks,
        roofline,
    },
    event::{ArgNumbers, IdKey, Num, RawArgs, RawEvent, repair},
    scan::{MAX_STRING_BYTES, Prefix, Scanner, Sink, StructureRepairs},
    tape::TapeParser,
};

pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Timestamps and durations at or beyond this many microseconds (about 3,000 years) are
/// corrupt: they are left out, which also keeps the integer sweep far from overflow.
const MAX_ABS_US: f64 = 1.0e17;

/// GPU activity kind, as Holistic Trace Analysis classifies kernel names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Compute,
    Communication,
    Memory,
}

impl Kind {
    pub(crate) fn of(category: GpuCategory, name: &str) -> Kind {
        // HTA: communication if the name starts with `nccl` or contains `gloo:`; memory if it
        // contains `Memcpy` or `Memset`; otherwise computation.
        if name.starts_with("nccl") || name.contains("gloo:") {
            Kind::Communication
        } else if category != GpuCategory::Kernel
            || name.contains("Memcpy")
            || name.contains("Memset")
        {
            Kind::Memory
        } else {
            Kind::Compute
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Compute => "computation",
            Kind::Communication => "communication",
            Kind::Memory => "memory",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GpuCategory {
    Kernel,
    Memcpy,
    Memset,
}

/// One GPU activity, compact: kept for the interval sweep.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GpuActivity {
    /// `ceil(ts)` and `floor(ts + dur)` in µs, as HTA rounds float timestamps.
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) ts: f64,
    pub(crate) dur: f64,
    /// The correlation id of the runtime call that launched it (-1 without one).
    pub(crate) correlation: i64,
    pub(crate) bytes: f64,
    pub(crate) name: u32,
    /// `args.stream` (-1 without one).
    pub(crate) stream: i32,
    /// Where its launch is among the runtime calls ([`RuntimeCalls::link`]; `u32::MAX`
    /// without one). It sits in what was padding.
    pub(crate) launch: u32,
    pub(crate) kind: Kind,
    pub(crate) category: GpuCategory,
}

/// A CUDA runtime or driver call that carries a correlation id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RuntimeCall {
    pub(crate) ts: f64,
    pub(crate) dur: f64,
    pub(crate) is_launch: bool,
}

/// The runtime and driver calls that carry a correlation id: appended in file order while
/// streaming (a map insert per call cost 7 % of the whole read, its table far larger than the
/// caches), then [`RuntimeCalls::link`] sorts them by id, once, and points each GPU activity at
/// its launch, so the analyses index instead of looking an id up again and again.
#[derive(Debug, Default)]
pub(crate) struct RuntimeCalls {
    calls: Vec<(i64, RuntimeCall)>,
    /// Whether every id pushed was larger than the one before (Kineto numbers them so): then
    /// there is nothing to sort.
    out_of_order: bool,
}

impl RuntimeCalls {
    pub(crate) fn push(&mut self, correlation: i64, call: RuntimeCall) {
        if self
            .calls
            .last()
            .is_some_and(|&(last, _)| correlation <= last)
        {
            self.out_of_order = true;
        }
        self.calls.push((correlation, call));
    }

    /// Sorts the calls by id and keeps, of calls sharing an id, the last one read (as a map
    /// insert would); then sets each activity's [`GpuActivity::launch`]. Returns how many calls
    /// repeated an id an earlier call had.
    pub(crate) fn link(&mut self, activities: &mut [GpuActivity]) -> u64 {
        let mut repeated = 0;
        if self.out_of_order {
            // Stable: of equal ids the one read last stays last.
            self.calls.sort_by_key(|&(id, _)| id);
            let before = self.calls.len();
            // `dedup_by` keeps the first of a run; walking from the back keeps the last.
            self.calls.reverse();
            self.calls.dedup_by_key(|&mut (id, _)| id);
            self.calls.reverse();
            repeated = (before - self.calls.len()) as u64;
            self.out_of_order = false;
        }
        // Activities come in runs of rising ids: search from the last hit first.
        let mut hint = 0usize;
        for activity in activities {
            activity.launch = self
                .position(activity.correlation, &mut hint)
                .and_then(|at| u32::try_from(at).ok())
                .unwrap_or(u32::MAX);
        }
        repeated
    }

    /// Where `correlation` is among the sorted calls, trying just after `hint` first.
    fn position(&self, correlation: i64, hint: &mut usize) -> Option<usize> {
        if correlation < 0 {
            return None;
        }
        let near = self.calls.get(*hint..).and_then(|rest| {
            let window = &rest[..rest.len().min(8)];
            window
                .iter()
                .position(|&(id, _)| id == correlation)
                .map(|at| *hint + at)
        });
        let at = match near {
            Some(at) => at,
            None => self
                .calls
                .binary_search_by_key(&correlation, |&(id, _)| id)
                .ok()?,
        };
        *hint = at + 1;
        Some(at)
    }

    /// The launch of an activity [`RuntimeCalls::link`] linked.
    pub(crate) fn of(&self, activity: &GpuActivity) -> Option<&RuntimeCall> {
        self.calls
            .get(activity.launch as usize)
            .map(|(_, call)| call)
    }

    /// Every call, in id order once linked.
    pub(crate) fn calls(&self) -> impl Iterator<Item = &RuntimeCall> {
        self.calls.iter().map(|(_, call)| call)
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuSpan {
    pub(crate) start: f64,
    pub(crate) end: f64,
    /// Thread and process, folded into one key.
    pub(crate) thread: u64,
    pub(crate) name: u32,
    /// A CPU operator (`cpu_op`), not a user annotation.
    pub(crate) is_op: bool,
}

/// A runtime call that may block the host: a synchronization, an event wait, a copy or set
/// (whose kind the GPU activity of the same correlation tells), or a long call (a candidate
/// outlier).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SyncCall {
    pub(crate) ts: f64,
    pub(crate) dur: f64,
    /// Correlation id (-1 without one): finds the copy's GPU activity.
    pub(crate) correlation: i64,
    /// Thread and process, folded as in [`CpuSpan`]: finds the operator that issued it.
    pub(crate) thread: u64,
    pub(crate) name: u32,
}

/// A collective call as `record_param_comms` describes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CommOp {
    pub(crate) start: f64,
    pub(crate) end: f64,
    pub(crate) collective: u32,
    pub(crate) bytes: f64,
    pub(crate) group_size: u32,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    /// `N` of `ProfilerStep#N` (-1 when it is not a number).
    pub(crate) number: i64,
    pub(crate) ts: f64,
    pub(crate) dur: f64,
}

#[derive(Default)]
pub(crate) struct Interner {
    ids: FastMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    /// Names longer than [`MAX_STRING_BYTES`] cut, and the longest one's length.
    pub(crate) cut: u64,
    pub(crate) longest_cut: usize,
}

/// `text` cut to at most `max` bytes at a character boundary.
pub(crate) fn cut_to(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl Interner {
    fn intern(&mut self, name: &str) -> u32 {
        if name.len() > MAX_STRING_BYTES {
            self.cut += 1;
            self.longest_cut = self.longest_cut.max(name.len());
        }
        let name = cut_to(name, MAX_STRING_BYTES);
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    pub(crate) fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("?", |n| n)
    }
}

/// Everything kept while streaming.
#[derive(Default)]
pub(crate) struct Accumulator {
    pub(crate) names: Interner,
    pub(crate) gpu: Vec<GpuActivity>,
    /// Runtime and driver calls with a correlation id.
    pub(crate) runtime: RuntimeCalls,
    pub(crate) syncs: Vec<SyncCall>,
    /// Runtime and driver calls by interned name: count and total time, for outliers.
    pub(crate) runtime_by_name: FastMap<u32, (u64, f64)>,
    pub(crate) cpu: Vec<CpuSpan>,
    pub(crate) steps: Vec<Step>,
    /// Data-loader calls: start and end.
    pub(crate) data_loader: Vec<(f64, f64)>,
    pub(crate) counts: BTreeMap<String, u64>,
    pub(crate) unknown_categories: BTreeMap<String, u64>,
    pub(crate) devices: Vec<TraceDevice>,
    pub(crate) distributed: Option<DistributedSummary>,
    pub(crate) base_time_ns: Option<u64>,
    pub(crate) first_ts: Option<f64>,
    pub(crate) memory: MemoryPeaks,
    pub(crate) non_finite_repairs: u64,
    pub(crate) comma_repairs: u64,
    pub(crate) without_dur: u64,
    pub(crate) without_ts: u64,
    pub(crate) malformed: u64,
    /// Runtime calls whose correlation id an earlier call already had (a replicated or merged
    /// file): the later call wins, and kernels may be matched to the wrong launch.
    pub(crate) repeated_correlations: u64,
    /// FLOPs and bytes of the operators whose cost is counted, from their recorded shapes.
    pub(crate) op_costs: Vec<roofline::OpCost>,
    /// The collectives `record_param_comms` describes.
    pub(crate) comms: Vec<CommOp>,
    pub(crate) first_malformed: Option<String>,
}

const KNOWN_CATEGORIES: [&str; 23] = [
    // The events `advisor trace --annotate` adds.
    crate::annotate::ADVISOR_CATEGORY,
    "kernel",
    "gpu_memcpy",
    "gpu_memset",
    "memcpy",
    "memset",
    "cuda_runtime",
    "cuda_driver",
    "runtime",
    "driver",
    "cpu_op",
    "operator",
    "user_annotation",
    "gpu_user_annotation",
    "python_function",
    "fwdbwd",
    "ac2g",
    "trace",
    "cpu_instant_event",
    "overhead",
    "cuda_profiler_range",
    "python",
    "cuda_sync",
];

/// Distinct categories counted by name; the others are counted under [`OTHER_CATEGORIES`].
const MAX_CATEGORIES: usize = 256;
/// Where categories past [`MAX_CATEGORIES`] are counted.
const OTHER_CATEGORIES: &str = "(other categories)";
/// Longest category name kept.
const MAX_CATEGORY_BYTES: usize = 256;

/// Counts `key` in a map of a bounded number of bounded names: a trace with a million
/// distinct categories does not keep a million strings.
fn count_bounded(counts: &mut BTreeMap<String, u64>, key: &str) {
    let key = cut_to(key, MAX_CATEGORY_BYTES);
    if let Some(count) = counts.get_mut(key) {
        *count += 1;
        return;
    }
    let key = if counts.len() < MAX_CATEGORIES {
        key
    } else {
        OTHER_CATEGORIES
    };
    *counts.entry(key.to_owned()).or_default() += 1;
}

impl Sink for Accumulator {
    fn metadata(&mut self, key: &str, value: &[u8], _offset: u64) {
        self.apply_metadata(Metadata::parse(key, value));
    }

    fn event_prefix(&mut self, data: &[u8]) -> Prefix {
        let mut stream = serde_json::Deserializer::from_slice(data).into_iter::<RawEvent<'_>>();
        match stream.next() {
            Some(Ok(event)) => {
                let len = stream.byte_offset();
                let cost = shape_cost(&event);
                let comm = comm_params(&event);
                self.add(&Fields::of(&event, cost.as_ref(), comm.as_ref()));
                Prefix::Parsed(len)
            }
            Some(Err(error)) if error.is_eof() => Prefix::NeedMore,
            None => Prefix::NeedMore,
            Some(Err(_)) => Prefix::Invalid,
        }
    }

    fn event(&mut self, element: &[u8], offset: u64) {
        let mut fixed = Vec::new();
        match parse_element(element, None, &mut fixed) {
            Parsed::Event {
                event,
                non_finite_repairs,
                comma_repairs,
            } => {
                self.non_finite_repairs += non_finite_repairs;
                self.comma_repairs += comma_repairs;
                let cost = shape_cost(&event);
                let comm = comm_params(&event);
                self.add(&Fields::of(&event, cost.as_ref(), comm.as_ref()));
            }
            Parsed::Malformed(error) => self.malformed(offset, &error),
        }
    }
}

/// The one-thread reader's sink: runs of whole elements parsed at once on the tape, as the
/// pipeline's workers parse them, straight into the accumulator; a run the tape does not read
/// (it needs repair) and whatever is not in a run go element by element.
pub(crate) struct InThread<'a> {
    accumulator: &'a mut Accumulator,
    tape: TapeParser,
    run_bytes: usize,
    /// What splitting runs element by element repaired.
    pub(crate) structure: StructureRepairs,
}

impl<'a> InThread<'a> {
    pub(crate) fn new(accumulator: &'a mut Accumulator, run_bytes: usize) -> Self {
        InThread {
            accumulator,
            tape: TapeParser::default(),
            run_bytes: run_bytes.max(1),
            structure: StructureRepairs::default(),
        }
    }
}

impl Sink for InThread<'_> {
    fn metadata(&mut self, key: &str, value: &[u8], offset: u64) {
        self.accumulator.metadata(key, value, offset);
    }

    fn event(&mut self, element: &[u8], offset: u64) {
        self.accumulator.event(element, offset);
    }

    fn event_prefix(&mut self, data: &[u8]) -> Prefix {
        self.accumulator.event_prefix(data)
    }

    fn raw_batch_bytes(&self) -> Option<usize> {
        Some(self.run_bytes)
    }

    fn speculates(&self) -> bool {
        true
    }

    fn try_raw_events(&mut self, run: &[u8], _offset: u64) -> bool {
        self.parse(run)
    }

    fn raw_events(&mut self, run: &[u8], offset: u64) {
        if !self.parse(run) {
            let mut scanner = Scanner::over_run(run.to_vec(), offset);
            // A run in memory cannot fail to read, and splitting it raises no error.
            let _ = scanner.batch_events(&mut *self.accumulator);
            self.structure.merge(&scanner.repairs);
        }
    }
}

impl InThread<'_> {
    /// Reads `run` on the tape into the accumulator; false, reading nothing, when the tape
    /// does not read it.
    fn parse(&mut self, run: &[u8]) -> bool {
        let accumulator = &mut *self.accumulator;
        self.tape
            .parse(run, |event| accumulator.add(&event.fields()))
    }
}

/// What a top-level value other than `traceEvents` tells, parsed (and repaired) apart from
/// the accumulator so the pipeline can parse it on the reading thread.
#[derive(Debug)]
pub(crate) struct Metadata {
    non_finite_repairs: u64,
    comma_repairs: u64,
    update: MetadataUpdate,
}

#[derive(Debug)]
enum MetadataUpdate {
    Devices(Vec<TraceDevice>),
    Distributed(DistributedSummary),
    BaseTimeNs(u64),
    Nothing,
}

impl Metadata {
    pub(crate) fn parse(key: &str, value: &[u8]) -> Metadata {
        let (mut non_finite_repairs, mut comma_repairs) = (0, 0);
        let repaired;
        let value = match repair(value) {
            Some((fixed, non_finite, commas)) => {
                non_finite_repairs = non_finite;
                comma_repairs = commas;
                repaired = fixed;
                &repaired[..]
            }
            None => value,
        };
        let update = match key {
            "deviceProperties" => devices::parse_devices(value)
                .map_or(MetadataUpdate::Nothing, MetadataUpdate::Devices),
            "distributedInfo" => devices::parse_distributed(value)
                .map_or(MetadataUpdate::Nothing, MetadataUpdate::Distributed),
            "baseTimeNanoseconds" => match serde_json::from_slice::<Num>(value) {
                Ok(Num(Some(base))) if base >= 0.0 => MetadataUpdate::BaseTimeNs(base as u64),
                _ => MetadataUpdate::Nothing,
            },
            _ => MetadataUpdate::Nothing,
        };
        Metadata {
            non_finite_repairs,
            comma_repairs,
            update,
        }
    }
}

impl Accumulator {
    pub(crate) fn apply_metadata(&mut self, metadata: Metadata) {
        self.non_finite_repairs += metadata.non_finite_repairs;
        self.comma_repairs += metadata.comma_repairs;
        match metadata.update {
            MetadataUpdate::Devices(devices) => self.devices = devices,
            MetadataUpdate::Distributed(info) => self.distributed = Some(info),
            MetadataUpdate::BaseTimeNs(base) => self.base_time_ns = Some(base),
            MetadataUpdate::Nothing => {}
        }
    }

    /// When `traceEvents` held elements and not one of them was an event object: why this is
    /// not a trace.
    pub(crate) fn nothing_but_malformed(&self) -> Option<String> {
        (self.malformed > 0 && self.counts.is_empty()).then(|| {
            format!(
                "none of the {} element(s) of `traceEvents` is an event; first at {}",
                self.malformed,
                self.first_malformed.as_deref().unwrap_or("?")
            )
        })
    }

    pub(crate) fn malformed(&mut self, offset: u64, error: &serde_json::Error) {
        self.malformed += 1;
        if self.first_malformed.is_none() {
            // serde_json quotes the offending value, which may be a long string.
            let message = error.to_string();
            let shown = cut_to(&message, 200);
            let more = if shown.len() < message.len() {
                "…"
            } else {
                ""
            };
            self.first_malformed = Some(format!("byte {offset}: {shown}{more}"));
        }
    }

    fn count(&mut self, key: &str) {
        count_bounded(&mut self.counts, key);
    }

    /// Folds one event in. `Fields` is what both readers hand over: the one-thread reader
    /// straight from the parsed event, the pipeline from a worker's compact copy.
    pub(crate) fn add(&mut self, event: &Fields<'_>) {
        let Fields { ph, cat, name, .. } = *event;
        let category_key = if cat.is_empty() { ph } else { cat };
        self.count(category_key);
        if ph == "M" {
            return;
        }
        let Some(ts) = event.ts.0.filter(|ts| ts.abs() < MAX_ABS_US) else {
            self.without_ts += 1;
            return;
        };
        if !cat.is_empty()
            && !KNOWN_CATEGORIES
                .iter()
                .any(|known| known.eq_ignore_ascii_case(cat))
        {
            count_bounded(&mut self.unknown_categories, cat);
        }
        if ph == "i" || ph == "I" {
            if name == "[memory]"
                && let Some(args) = &event.args
            {
                self.memory.add(
                    args.device_type.int() == Some(1),
                    args.total_allocated.0,
                    args.total_reserved.0,
                );
            }
            return;
        }
        if ph != "X" {
            return;
        }
        let dur = match event.dur.0 {
            Some(dur) if (0.0..MAX_ABS_US).contains(&dur) => dur,
            _ => {
                self.without_dur += 1;
                return;
            }
        };
        if cat.eq_ignore_ascii_case("trace") {
            return;
        }
        self.first_ts = Some(self.first_ts.map_or(ts, |first| first.min(ts)));
        let gpu_category = if cat.eq_ignore_ascii_case("kernel") {
            Some(GpuCategory::Kernel)
        } else if cat.eq_ignore_ascii_case("gpu_memcpy") || cat.eq_ignore_ascii_case("memcpy") {
            Some(GpuCategory::Memcpy)
        } else if cat.eq_ignore_ascii_case("gpu_memset") || cat.eq_ignore_ascii_case("memset") {
            Some(GpuCategory::Memset)
        } else {
            None
        };
        if let Some(category) = gpu_category {
            let args = event.args.as_ref();
            let id = self.names.intern(name);
            self.gpu.push(GpuActivity {
                start: ts.ceil() as i64,
                end: (ts + dur).floor() as i64,
                ts,
                dur,
                correlation: args.and_then(|a| a.correlation.int()).unwrap_or(-1),
                bytes: args.and_then(|a| a.bytes.0).unwrap_or(0.0),
                name: id,
                stream: args
                    .and_then(|a| a.stream.int())
                    .and_then(|s| i32::try_from(s).ok())
                    .unwrap_or(-1),
                launch: u32::MAX,
                kind: Kind::of(category, name),
                category,
            });
            return;
        }
        let is_runtime = cat.eq_ignore_ascii_case("cuda_runtime")
            || cat.eq_ignore_ascii_case("cuda_driver")
            || cat.eq_ignore_ascii_case("runtime")
            || cat.eq_ignore_ascii_case("driver");
        if is_runtime {
            if let Some(correlation) = event.args.as_ref().and_then(|a| a.correlation.int()) {
                self.runtime.push(
                    correlation,
                    RuntimeCall {
                        ts,
                        dur,
                        // One graph launch runs many kernels: not a per-kernel launch.
                        is_launch: name.contains("Launch") && !name.contains("GraphLaunch"),
                    },
                );
            }
            let id = self.names.intern(name);
            let entry = self.runtime_by_name.entry(id).or_default();
            entry.0 += 1;
            entry.1 += dur;
            if host_blocked::may_block(name) || dur >= host_blocked::OUTLIER_MIN_US {
                self.syncs.push(SyncCall {
                    ts,
                    dur,
                    correlation: event
                        .args
                        .as_ref()
                        .and_then(|a| a.correlation.int())
                        .unwrap_or(-1),
                    thread: event.thread,
                    name: id,
                });
            }
            return;
        }
        let is_op = is_op_category(cat);
        let is_annotation = cat.eq_ignore_ascii_case("user_annotation");
        if !(is_op || is_annotation) {
            return;
        }
        if let Some(number) = name.strip_prefix("ProfilerStep#") {
            self.steps.push(Step {
                number: number.trim().parse().unwrap_or(-1),
                ts,
                dur,
            });
        }
        if data_loader::is_data_loader(name) {
            self.data_loader.push((ts, ts + dur));
        }
        let stored_name = if name.starts_with("ProfilerStep#") {
            "ProfilerStep"
        } else {
            name
        };
        if is_op && let Some(comm) = event.comm {
            let collective = self.names.intern(&comm.collective);
            self.comms.push(CommOp {
                start: ts,
                end: ts + dur,
                collective,
                bytes: comm.bytes,
                group_size: comm.group_size,
            });
        }
        if is_op && let Some(cost) = &event.cost {
            let key = self.names.intern(&cost.key);
            self.op_costs.push(roofline::OpCost {
                start: ts,
                end: ts + dur,
                key,
                flops: cost.flops,
                bytes: cost.bytes,
                element_bits: cost.element_bits,
            });
        }
        let id = self.names.intern(stored_name);
        self.cpu.push(CpuSpan {
            start: ts,
            end: ts + dur,
            thread: event.thread,
            name: id,
            is_op,
        });
    }
}

/// Thread and process of an event, folded into one key.
fn thread_key(event: &RawEvent<'_>) -> u64 {
    thread_key_of(event.tid, event.pid)
}

/// [`thread_key`] of a thread and process id.
pub(crate) fn thread_key_of(tid: Option<IdKey>, pid: Option<IdKey>) -> u64 {
    tid.map_or(0, |t| t.0) ^ pid.map_or(0, |p| p.0.rotate_left(32))
}

/// What the accumulator reads of one event: its strings (empty when absent), times, thread
/// key, the numbers of `args`, and the cost from its recorded shapes, worked out beforehand
/// (by a pipeline worker, off the accumulating thread) for the operators whose cost is counted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'a> {
    pub(crate) ph: &'a str,
    pub(crate) cat: &'a str,
    pub(crate) name: &'a str,
    pub(crate) ts: Num,
    pub(crate) dur: Num,
    /// Thread and process, folded as [`thread_key`] does.
    pub(crate) thread: u64,
    pub(crate) args: Option<ArgNumbers>,
    pub(crate) cost: Option<&'a ShapeCost>,
    pub(crate) comm: Option<&'a CommParams>,
}

/// What `record_param_comms` says of one collective call, worked out beforehand like
/// [`ShapeCost`].
#[derive(Debug, Clone)]
pub(crate) struct CommParams {
    /// `allreduce`, `allgather`, `reduce_scatter`, ...
    pub(crate) collective: String,
    /// The larger of its input and output buffers, bytes (NCCL tests' message size).
    pub(crate) bytes: f64,
    /// Ranks in its process group.
    pub(crate) group_size: u32,
}

/// Bytes per element of a c10d `dtype` name (`Float`, `BFloat16`, ...).
fn dtype_bytes(name: &str) -> Option<f64> {
    Some(match name {
        "Double" | "Long" | "ComplexFloat" => 8.0,
        "Float" | "Int" => 4.0,
        "Half" | "BFloat16" | "Short" => 2.0,
        "Byte" | "Char" | "Bool" | "Float8_e4m3fn" | "Float8_e5m2" => 1.0,
        _ => return None,
    })
}

/// The collective of a `record_param_comms` operator; `None` for every other event and for
/// one whose sizes or type are not given.
pub(crate) fn comm_params(event: &RawEvent<'_>) -> Option<CommParams> {
    let name = event.name.as_ref().map_or("", |n| n.0.as_ref());
    if name != "record_param_comms" {
        return None;
    }
    let args = event.args.as_ref()?;
    comm_params_of(&CommArgs {
        in_msg_nelems: args.in_msg_nelems,
        out_msg_nelems: args.out_msg_nelems,
        group_size: args.group_size,
        dtype: args.dtype.as_ref().map(|d| d.0.as_ref()),
        collective_name: args.collective_name.as_ref().map(|c| c.0.as_ref()),
    })
}

/// The `args` of a `record_param_comms` event that [`comm_params_of`] reads, from whichever
/// parser read them.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CommArgs<'a> {
    pub(crate) in_msg_nelems: Num,
    pub(crate) out_msg_nelems: Num,
    pub(crate) group_size: Num,
    pub(crate) dtype: Option<&'a str>,
    pub(crate) collective_name: Option<&'a str>,
}

/// [`comm_params`] of a `record_param_comms` event's `args`.
pub(crate) fn comm_params_of(args: &CommArgs<'_>) -> Option<CommParams> {
    let element = dtype_bytes(args.dtype?)?;
    let elements = args
        .in_msg_nelems
        .0
        .unwrap_or(0.0)
        .max(args.out_msg_nelems.0.unwrap_or(0.0));
    let group_size = args
        .group_size
        .int()
        .and_then(|g| u32::try_from(g).ok())
        .filter(|&g| g > 0)?;
    let collective = args.collective_name.unwrap_or("unnamed");
    (elements.is_finite() && elements > 0.0).then(|| CommParams {
        collective: collective.chars().take(64).collect(),
        bytes: elements * element,
        group_size,
    })
}

/// An operator's FLOPs and bytes from its recorded shapes, and the interning key naming the
/// operator and shapes.
#[derive(Debug, Clone)]
pub(crate) struct ShapeCost {
    pub(crate) key: String,
    pub(crate) flops: f64,
    pub(crate) bytes: f64,
    pub(crate) element_bits: u32,
}

pub(crate) fn is_op_category(cat: &str) -> bool {
    cat.eq_ignore_ascii_case("cpu_op") || cat.eq_ignore_ascii_case("operator")
}

/// The cost of an operator whose cost is counted, from its recorded shapes; `None` for every
/// other event.
pub(crate) fn shape_cost(event: &RawEvent<'_>) -> Option<ShapeCost> {
    let cat = event.cat.as_ref().map_or("", |c| c.0.as_ref());
    let name = event.name.as_ref().map_or("", |n| n.0.as_ref());
    if !is_counted_op(cat, name) {
        return None;
    }
    let args = event.args.as_ref()?;
    let dims: serde_json::Value = serde_json::from_str(args.input_dims?.get()).ok()?;
    let types: Option<serde_json::Value> = args
        .input_types
        .and_then(|raw| serde_json::from_str(raw.get()).ok());
    shape_cost_of(name, &dims, types.as_ref())
}

/// Whether an event of this category and name is an operator whose cost is counted.
pub(crate) fn is_counted_op(cat: &str, name: &str) -> bool {
    is_op_category(cat) && roofline::is_counted(name)
}

/// [`shape_cost`] of a counted operator from its `Input Dims` and `Input type`, whichever
/// parser read them.
pub(crate) fn shape_cost_of(
    name: &str,
    dims: &serde_json::Value,
    types: Option<&serde_json::Value>,
) -> Option<ShapeCost> {
    let (flops, bytes, element_bits, shapes) = roofline::cost(name, dims, types)?;
    Some(ShapeCost {
        key: format!("{name}\u{1f}{shapes}"),
        flops,
        bytes,
        element_bits,
    })
}

impl<'a> Fields<'a> {
    /// The fields of a parsed event; `cost` is its [`shape_cost`].
    pub(crate) fn of(
        event: &'a RawEvent<'a>,
        cost: Option<&'a ShapeCost>,
        comm: Option<&'a CommParams>,
    ) -> Fields<'a> {
        Fields {
            ph: event.ph.as_ref().map_or("", |p| p.0.as_ref()),
            cat: event.cat.as_ref().map_or("", |c| c.0.as_ref()),
            name: event.name.as_ref().map_or("", |n| n.0.as_ref()),
            ts: event.ts,
            dur: event.dur,
            thread: thread_key(event),
            args: event.args.as_ref().map(RawArgs::numbers),
            cost,
            comm,
        }
    }
}

/// One element of `traceEvents` parsed, repaired when it needed it (`NaN`, trailing commas),
/// or why it is not an event.
// Returned once per element and taken apart at once: boxing the event would cost an
// allocation per event to save a move.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Parsed<'a> {
    Event {
        event: RawEvent<'a>,
        non_finite_repairs: u64,
        comma_repairs: u64,
    },
    Malformed(serde_json::Error),
}

/// Parses one element; `fixed` holds its repaired copy when it needed one. `text` is the
/// element again when it is known to be UTF-8 (the pipeline checks a whole batch at once),
/// which spares the parser checking every string it borrows.
pub(crate) fn parse_element<'a>(
    element: &'a [u8],
    text: Option<&'a str>,
    fixed: &'a mut Vec<u8>,
) -> Parsed<'a> {
    let parsed = match text {
        Some(text) => serde_json::from_str::<RawEvent<'_>>(text),
        None => serde_json::from_slice::<RawEvent<'_>>(element),
    };
    let first_error = match parsed {
        Ok(event) => {
            return Parsed::Event {
                event,
                non_finite_repairs: 0,
                comma_repairs: 0,
            };
        }
        Err(error) => error,
    };
    match repair(element) {
        Some((repaired, non_finite, commas)) => {
            *fixed = repaired;
            match serde_json::from_slice::<RawEvent<'_>>(fixed) {
                Ok(event) => Parsed::Event {
                    event,
                    non_finite_repairs: non_finite,
                    comma_repairs: commas,
                },
                Err(error) => Parsed::Malformed(error),
            }
        }
        None => Parsed::Malformed(first_error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the module documentation (and docs/architecture.md) says each record costs.
    #[test]
    fn records_are_as_small_as_documented() {
        use std::mem::size_of;
        assert_eq!(size_of::<GpuActivity>(), 64);
        assert_eq!(size_of::<(i64, RuntimeCall)>(), 32);
        assert_eq!(size_of::<CpuSpan>(), 32);
        assert_eq!(size_of::<SyncCall>(), 40);
        assert_eq!(size_of::<(f64, f64)>(), 16);
        assert_eq!(size_of::<Step>(), 24);
    }

    fn activity(correlation: i64) -> GpuActivity {
        GpuActivity {
            start: 0,
            end: 1,
            ts: 0.0,
            dur: 1.0,
            correlation,
            bytes: 0.0,
            name: 0,
            stream: 7,
            launch: u32::MAX,
            kind: Kind::Compute,
            category: GpuCategory::Kernel,
        }
    }

    fn call(ts: f64) -> RuntimeCall {
        RuntimeCall {
            ts,
            dur: 1.0,
            is_launch: true,
        }
    }

    /// Linking finds each activity's launch as a map by id would: in order or not, the last
    /// call of a repeated id winning, nothing for an id no call has or for none (-1).
    #[test]
    fn activities_link_to_their_launch() {
        // (calls: id and start, activities' ids, the start each is linked to, repeated ids)
        type Case = (
            &'static [(i64, f64)],
            &'static [i64],
            &'static [Option<f64>],
            u64,
        );
        let cases: &[Case] = &[
            (
                &[(1, 10.0), (2, 20.0), (3, 30.0)],
                &[1, 2, 3],
                &[Some(10.0), Some(20.0), Some(30.0)],
                0,
            ),
            (
                &[(3, 30.0), (1, 10.0), (2, 20.0)],
                &[2, 3, 1],
                &[Some(20.0), Some(30.0), Some(10.0)],
                0,
            ),
            (
                &[(5, 1.0), (6, 2.0), (5, 3.0), (5, 4.0)],
                &[5, 6],
                &[Some(4.0), Some(2.0)],
                2,
            ),
            (
                &[(1, 10.0), (4, 40.0)],
                &[2, -1, 4, 0],
                &[None, None, Some(40.0), None],
                0,
            ),
            (&[], &[1], &[None], 0),
            // A long run: hits past the window near the hint fall back to the search.
            (
                &[
                    (1, 1.0),
                    (2, 2.0),
                    (3, 3.0),
                    (4, 4.0),
                    (5, 5.0),
                    (6, 6.0),
                    (7, 7.0),
                    (8, 8.0),
                    (9, 9.0),
                    (10, 10.0),
                    (11, 11.0),
                    (12, 12.0),
                ],
                &[12, 1, 11, 2, 10],
                &[Some(12.0), Some(1.0), Some(11.0), Some(2.0), Some(10.0)],
                0,
            ),
        ];
        for (calls, ids, launched, repeated) in cases {
            let mut runtime = RuntimeCalls::default();
            for &(id, ts) in *calls {
                runtime.push(id, call(ts));
            }
            let mut activities: Vec<GpuActivity> = ids.iter().map(|&id| activity(id)).collect();
            assert_eq!(runtime.link(&mut activities), *repeated, "{calls:?}");
            let found: Vec<Option<f64>> = activities
                .iter()
                .map(|a| runtime.of(a).map(|c| c.ts))
                .collect();
            assert_eq!(found, *launched, "{calls:?} {ids:?}");
        }
    }
}
