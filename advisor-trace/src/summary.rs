//! Folds trace events into compact accumulators, then derives the summary: the GPU time
//! breakdown (matching Holistic Trace Analysis), kernel and CPU-op tables, launch, memcpy,
//! communication, tensor-core, data-loader, host-sync and memory statistics.

use std::collections::{BTreeMap, HashMap};

use advisor_core::{ComputeCapability, ProfileOperation};
use serde::{Deserialize, Serialize};

use crate::{
    event::{Num, RawEvent, repair},
    read::TraceSummary,
    scan::{MAX_ELEMENT_BYTES, MAX_STRING_BYTES, Prefix, Sink, StructureRepairs},
};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A call shorter than this is a small operation or a short kernel (the order of a kernel
/// launch or a PyTorch dispatch); the same threshold as the `kernel_fusion` rule.
const SMALL_US: f64 = 20.0;
/// Rows kept in the top tables.
const TOP: usize = 10;
/// Timestamps and durations at or beyond this many microseconds (about 3,000 years) are
/// corrupt: they are left out, which also keeps the integer sweep far from overflow.
const MAX_ABS_US: f64 = 1.0e17;

/// GPU activity kind, as Holistic Trace Analysis classifies kernel names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Compute,
    Communication,
    Memory,
}

impl Kind {
    fn of(category: GpuCategory, name: &str) -> Kind {
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

    fn as_str(self) -> &'static str {
        match self {
            Kind::Compute => "computation",
            Kind::Communication => "communication",
            Kind::Memory => "memory",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GpuCategory {
    Kernel,
    Memcpy,
    Memset,
}

/// One GPU activity, compact: kept for the interval sweep.
#[derive(Debug, Clone, Copy)]
struct GpuActivity {
    /// `ceil(ts)` and `floor(ts + dur)` in µs, as HTA rounds float timestamps.
    start: i64,
    end: i64,
    ts: f64,
    dur: f64,
    correlation: i64,
    bytes: f64,
    name: u32,
    kind: Kind,
    category: GpuCategory,
}

/// A CUDA runtime or driver call that carries a correlation id.
#[derive(Debug, Clone, Copy)]
struct RuntimeCall {
    ts: f64,
    dur: f64,
    is_launch: bool,
}

#[derive(Debug, Clone, Copy)]
struct CpuSpan {
    start: f64,
    end: f64,
    thread: u64,
    name: u32,
    is_op: bool,
}

#[derive(Debug, Clone, Copy)]
struct Step {
    number: i64,
    ts: f64,
    dur: f64,
}

#[derive(Default)]
struct Interner {
    ids: FastMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    /// Names longer than [`MAX_STRING_BYTES`] cut, and the longest one's length.
    cut: u64,
    longest_cut: usize,
}

/// `text` cut to at most `max` bytes at a character boundary.
fn cut_to(text: &str, max: usize) -> &str {
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

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("?", |n| n)
    }
}

/// Device properties as Kineto writes them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDevice {
    #[serde(default)]
    id: Num,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    total_global_mem: Num,
    #[serde(default)]
    compute_major: Num,
    #[serde(default)]
    compute_minor: Num,
    #[serde(default)]
    num_sms: Num,
}

#[derive(Debug, Default, Deserialize)]
struct RawDistributed {
    #[serde(default)]
    backend: Option<String>,
    #[serde(default)]
    rank: Num,
    #[serde(default)]
    world_size: Num,
}

/// Everything kept while streaming.
#[derive(Default)]
pub(crate) struct Accumulator {
    names: Interner,
    gpu: Vec<GpuActivity>,
    runtime: FastMap<i64, RuntimeCall>,
    syncs: Vec<(f64, f64, u32)>,
    cpu: Vec<CpuSpan>,
    steps: Vec<Step>,
    data_loader: Vec<(f64, f64)>,
    counts: BTreeMap<String, u64>,
    unknown_categories: BTreeMap<String, u64>,
    devices: Vec<DeviceSummary>,
    distributed: Option<DistributedSummary>,
    base_time_ns: Option<u64>,
    first_ts: Option<f64>,
    peak_gpu_allocated: Option<f64>,
    peak_gpu_reserved: Option<f64>,
    peak_cpu_allocated: Option<f64>,
    non_finite_repairs: u64,
    comma_repairs: u64,
    without_dur: u64,
    without_ts: u64,
    malformed: u64,
    first_malformed: Option<String>,
    /// CPU spans nested deeper than the operation tree keeps.
    folded_spans: u64,
}

const KNOWN_CATEGORIES: [&str; 22] = [
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

fn is_sync_call(name: &str) -> bool {
    matches!(
        name,
        "cudaDeviceSynchronize"
            | "cudaStreamSynchronize"
            | "cudaEventSynchronize"
            | "cudaMemcpy"
            | "cudaMemset"
            | "cuCtxSynchronize"
            | "cuStreamSynchronize"
            | "cuEventSynchronize"
            | "hipDeviceSynchronize"
            | "hipStreamSynchronize"
            | "hipEventSynchronize"
            | "hipMemcpy"
    )
}

fn is_data_loader(name: &str) -> bool {
    name.starts_with("enumerate(DataLoader)")
        || (name.contains("DataLoader") && name.contains("__next__"))
}

impl Sink for Accumulator {
    fn metadata(&mut self, key: &str, value: &[u8], _offset: u64) {
        let repaired;
        let value = match repair(value) {
            Some((fixed, non_finite, commas)) => {
                self.non_finite_repairs += non_finite;
                self.comma_repairs += commas;
                repaired = fixed;
                &repaired[..]
            }
            None => value,
        };
        match key {
            "deviceProperties" => {
                if let Ok(devices) = serde_json::from_slice::<Vec<RawDevice>>(value) {
                    self.devices = devices.into_iter().map(DeviceSummary::from).collect();
                }
            }
            "distributedInfo" => {
                if let Ok(info) = serde_json::from_slice::<RawDistributed>(value) {
                    self.distributed = Some(DistributedSummary {
                        backend: info
                            .backend
                            .map(|name| cut_to(&name, MAX_STRING_BYTES).to_owned()),
                        rank: info.rank.int(),
                        world_size: info.world_size.int(),
                    });
                }
            }
            "baseTimeNanoseconds" => {
                if let Ok(Num(Some(base))) = serde_json::from_slice::<Num>(value)
                    && base >= 0.0
                {
                    self.base_time_ns = Some(base as u64);
                }
            }
            _ => {}
        }
    }

    fn event_prefix(&mut self, data: &[u8]) -> Prefix {
        let mut stream = serde_json::Deserializer::from_slice(data).into_iter::<RawEvent<'_>>();
        match stream.next() {
            Some(Ok(event)) => {
                let len = stream.byte_offset();
                self.add(event);
                Prefix::Parsed(len)
            }
            Some(Err(error)) if error.is_eof() => Prefix::NeedMore,
            None => Prefix::NeedMore,
            Some(Err(_)) => Prefix::Invalid,
        }
    }

    fn event(&mut self, element: &[u8], offset: u64) {
        match serde_json::from_slice::<RawEvent<'_>>(element) {
            Ok(event) => self.add(event),
            Err(first_error) => match repair(element) {
                Some((fixed, non_finite, commas)) => {
                    match serde_json::from_slice::<RawEvent<'_>>(&fixed) {
                        Ok(event) => {
                            self.non_finite_repairs += non_finite;
                            self.comma_repairs += commas;
                            self.add(event);
                        }
                        Err(error) => self.malformed(offset, &error),
                    }
                }
                None => self.malformed(offset, &first_error),
            },
        }
    }
}

impl Accumulator {
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

    fn malformed(&mut self, offset: u64, error: &serde_json::Error) {
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

    fn add(&mut self, event: RawEvent<'_>) {
        let ph = event.ph.as_ref().map_or("", |p| p.0.as_ref());
        let cat = event.cat.as_ref().map_or("", |c| c.0.as_ref());
        let name = event.name.as_ref().map_or("", |n| n.0.as_ref());
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
                let on_gpu = args.device_type.int() == Some(1);
                let max = |slot: &mut Option<f64>, value: Option<f64>| {
                    if let Some(value) = value {
                        *slot = Some(slot.map_or(value, |s| s.max(value)));
                    }
                };
                if on_gpu {
                    max(&mut self.peak_gpu_allocated, args.total_allocated.0);
                    max(&mut self.peak_gpu_reserved, args.total_reserved.0);
                } else {
                    max(&mut self.peak_cpu_allocated, args.total_allocated.0);
                }
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
                self.runtime.insert(
                    correlation,
                    RuntimeCall {
                        ts,
                        dur,
                        is_launch: name.contains("Launch"),
                    },
                );
            }
            if is_sync_call(name) {
                let id = self.names.intern(name);
                self.syncs.push((ts, dur, id));
            }
            return;
        }
        let is_op = cat.eq_ignore_ascii_case("cpu_op") || cat.eq_ignore_ascii_case("operator");
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
        if is_data_loader(name) {
            self.data_loader.push((ts, ts + dur));
        }
        let stored_name = if name.starts_with("ProfilerStep#") {
            "ProfilerStep"
        } else {
            name
        };
        let id = self.names.intern(stored_name);
        self.cpu.push(CpuSpan {
            start: ts,
            end: ts + dur,
            thread: event.tid.map_or(0, |t| t.0) ^ event.pid.map_or(0, |p| p.0.rotate_left(32)),
            name: id,
            is_op,
        });
    }

    pub(crate) fn finish(
        mut self,
        source: &str,
        bytes_read: u64,
        structure: StructureRepairs,
    ) -> TraceSummary {
        let mut warnings = Vec::new();
        let mut repair = |count: u64, what: &str| {
            if count > 0 {
                warnings.push(format!("repaired: {count} {what}"));
            }
        };
        repair(structure.trailing_commas, "trailing comma(s) dropped");
        repair(
            self.comma_repairs,
            "trailing comma(s) inside events dropped",
        );
        repair(
            structure.missing_closers,
            "missing closing bracket(s) at the end of the file added",
        );
        repair(
            structure.truncated_elements,
            "event(s) cut off by the end of the file dropped",
        );
        repair(
            self.non_finite_repairs,
            "NaN/Infinity value(s) read as missing",
        );
        if let Some((longest, offset)) = structure.longest_cut {
            warnings.push(format!(
                "cut: {} string(s) in event(s) over the {} MiB element limit kept only their \
                 first {MAX_STRING_BYTES} bytes; the longest, {longest} bytes, in the element \
                 at byte {offset}",
                structure.strings_cut,
                MAX_ELEMENT_BYTES >> 20
            ));
        }
        if let Some((offset, length)) = structure.first_oversized {
            warnings.push(format!(
                "skipped: {} element(s) over the {} MiB element limit even with their strings \
                 cut; the first, {length} bytes, at byte {offset}",
                structure.oversized_skipped,
                MAX_ELEMENT_BYTES >> 20
            ));
        }
        if self.names.cut > 0 {
            warnings.push(format!(
                "cut: {} event name(s) longer than {MAX_STRING_BYTES} bytes kept only their \
                 first {MAX_STRING_BYTES} bytes (the longest had {} bytes)",
                self.names.cut, self.names.longest_cut
            ));
        }
        if self.without_dur > 0 {
            warnings.push(format!(
                "{} complete event(s) without a usable `dur` left out of the timings",
                self.without_dur
            ));
        }
        if self.without_ts > 0 {
            warnings.push(format!(
                "{} event(s) without a usable `ts` skipped",
                self.without_ts
            ));
        }
        if self.malformed > 0 {
            warnings.push(format!(
                "{} malformed event(s) skipped; first at {}",
                self.malformed,
                self.first_malformed.as_deref().unwrap_or("?")
            ));
        }
        if !self.unknown_categories.is_empty() {
            let listed: Vec<String> = self
                .unknown_categories
                .iter()
                .map(|(cat, n)| format!("{cat} ({n})"))
                .collect();
            warnings.push(format!(
                "events in categories the summary does not use: {}",
                listed.join(", ")
            ));
        }

        self.steps
            .sort_by(|a, b| a.ts.total_cmp(&b.ts).then(a.number.cmp(&b.number)));
        let timestamps = if self.base_time_ns.is_some() {
            "relative to baseTimeNanoseconds"
        } else if self.first_ts.is_some_and(|t| t > 1.0e15) {
            "absolute (Unix epoch)"
        } else {
            "relative"
        };
        let origin = self.first_ts.unwrap_or(0.0);

        // Holistic Trace Analysis keeps, with two or more steps, only the GPU work launched
        // by runtime calls that start before the last step starts.
        let window_end = if self.steps.len() >= 2 {
            self.steps.last().map(|s| s.ts.ceil() as i64)
        } else {
            None
        };
        match self.steps.len() {
            0 if !self.gpu.is_empty() => warnings.push(
                "no ProfilerStep#N annotations: the GPU breakdown covers the whole trace"
                    .to_owned(),
            ),
            1 if !self.gpu.is_empty() => warnings
                .push("only one ProfilerStep: the GPU breakdown covers the whole trace".to_owned()),
            _ => {}
        }
        let runtime = &self.runtime;
        let kept: Vec<GpuActivity> = match window_end {
            Some(end) => self
                .gpu
                .iter()
                .filter(|a| {
                    runtime
                        .get(&a.correlation)
                        .is_some_and(|call| (call.ts.ceil() as i64) < end)
                })
                .copied()
                .collect(),
            None => self.gpu.clone(),
        };
        let breakdown = sweep(&kept);

        let steps = self.step_summaries(origin);
        let top_kernels = self.top_kernels(&kept);
        let launch = self.launch_summary(&kept);
        let memcpy = memcpy_table(&kept, &self.names);
        let communication = breakdown.as_ref().and_then(|(b, overlap)| {
            (overlap.communication_us > 0.0).then(|| CommunicationSummary {
                kernels: kept
                    .iter()
                    .filter(|a| a.kind == Kind::Communication)
                    .count() as u64,
                time_us: overlap.communication_us,
                overlapped_us: overlap.overlapped_us,
                overlap_pct: pct(overlap.overlapped_us, overlap.communication_us),
                exposed_pct_of_kernel_time: b.communication_pct,
            })
        });
        let tensor_cores = self.tensor_cores(&kept);
        let data_loader = self.data_loader_summary();
        let host_syncs = self.host_sync_summary();
        let (top_cpu_ops, cpu, operations) = self.cpu_summary();
        if self.folded_spans > 0 {
            warnings.push(format!(
                "{} CPU operator call(s) nested deeper than {} levels are folded into their \
                 ancestor on level {} of the operation tree (the operator tables count them)",
                self.folded_spans,
                ProfileOperation::MAX_DEPTH,
                ProfileOperation::MAX_DEPTH
            ));
        }
        let operations_total_ms = if self.steps.is_empty() {
            let start = self
                .cpu
                .iter()
                .map(|s| s.start)
                .fold(f64::INFINITY, f64::min);
            let end = self
                .cpu
                .iter()
                .map(|s| s.end)
                .fold(f64::NEG_INFINITY, f64::max);
            if end > start {
                (end - start) / 1000.0
            } else {
                0.0
            }
        } else {
            self.steps.iter().map(|s| s.dur).sum::<f64>() / 1000.0
        };
        let memory = (self.peak_gpu_allocated.is_some()
            || self.peak_gpu_reserved.is_some()
            || self.peak_cpu_allocated.is_some())
        .then(|| MemorySummary {
            gpu_peak_allocated_bytes: self.peak_gpu_allocated.map(|b| b as u64),
            gpu_peak_reserved_bytes: self.peak_gpu_reserved.map(|b| b as u64),
            cpu_peak_allocated_bytes: self.peak_cpu_allocated.map(|b| b as u64),
        });
        TraceSummary {
            source: source.to_owned(),
            bytes_read,
            event_counts: self.counts,
            devices: self.devices,
            distributed: self.distributed,
            base_time_ns: self.base_time_ns,
            timestamps,
            steps,
            breakdown: breakdown.map(|(b, _)| b),
            top_kernels,
            top_cpu_ops,
            launch,
            memcpy,
            communication,
            tensor_cores,
            data_loader,
            host_syncs,
            cpu,
            memory,
            warnings,
            operations,
            operations_total_ms,
        }
    }

    fn step_summaries(&self, origin: f64) -> Vec<StepSummary> {
        // A GPU activity belongs to the step its launching call started in (as in HTA).
        let mut per_step: Vec<Vec<GpuActivity>> = vec![Vec::new(); self.steps.len()];
        for activity in &self.gpu {
            let Some(call) = self.runtime.get(&activity.correlation) else {
                continue;
            };
            if let Some(index) = step_index(&self.steps, call.ts) {
                per_step[index].push(*activity);
            }
        }
        self.steps
            .iter()
            .zip(per_step)
            .map(|(step, activities)| StepSummary {
                step: step.number,
                start_us: step.ts - origin,
                duration_us: step.dur,
                gpu_breakdown: sweep(&activities).map(|(b, _)| b),
            })
            .collect()
    }

    fn top_kernels(&self, kept: &[GpuActivity]) -> Vec<KernelStat> {
        let mut by_name: FastMap<u32, KernelStat> = FastMap::default();
        let mut total = 0.0;
        for activity in kept.iter().filter(|a| a.category == GpuCategory::Kernel) {
            total += activity.dur;
            let stat = by_name.entry(activity.name).or_insert_with(|| KernelStat {
                name: self.names.name(activity.name).to_owned(),
                kind: activity.kind.as_str(),
                count: 0,
                total_us: 0.0,
                mean_us: 0.0,
                min_us: f64::INFINITY,
                max_us: 0.0,
                pct_of_kernel_time: 0.0,
            });
            stat.count += 1;
            stat.total_us += activity.dur;
            stat.min_us = stat.min_us.min(activity.dur);
            stat.max_us = stat.max_us.max(activity.dur);
        }
        let mut stats: Vec<KernelStat> = by_name.into_values().collect();
        stats.sort_by(|a, b| b.total_us.total_cmp(&a.total_us).then(a.name.cmp(&b.name)));
        stats.truncate(TOP);
        for stat in &mut stats {
            stat.mean_us = stat.total_us / stat.count.max(1) as f64;
            stat.pct_of_kernel_time = pct(stat.total_us, total);
        }
        stats
    }

    fn launch_summary(&self, kept: &[GpuActivity]) -> Option<LaunchSummary> {
        let kernels: Vec<&GpuActivity> = kept
            .iter()
            .filter(|a| a.category == GpuCategory::Kernel)
            .collect();
        if kernels.is_empty() {
            return None;
        }
        let mut delays = Vec::new();
        let (mut matched, mut shorter, mut launch_total) = (0u64, 0u64, 0.0);
        for kernel in &kernels {
            if let Some(call) = self.runtime.get(&kernel.correlation)
                && call.is_launch
            {
                matched += 1;
                launch_total += call.dur;
                if kernel.dur < call.dur {
                    shorter += 1;
                }
                delays.push(kernel.ts - call.ts);
            }
        }
        delays.sort_by(f64::total_cmp);
        let short: Vec<&&GpuActivity> = kernels.iter().filter(|k| k.dur < SMALL_US).collect();
        Some(LaunchSummary {
            kernels: kernels.len() as u64,
            matched,
            shorter_than_launch: shorter,
            shorter_than_launch_pct: pct(shorter as f64, matched as f64),
            short_kernels: short.len() as u64,
            short_kernel_threshold_us: SMALL_US,
            short_kernel_time_us: short.iter().map(|k| k.dur).sum(),
            kernel_time_us: kernels.iter().map(|k| k.dur).sum(),
            launch_call_us_mean: (matched > 0).then(|| launch_total / matched as f64),
            launch_delay_us_p50: percentile(&delays, 0.50),
            launch_delay_us_p95: percentile(&delays, 0.95),
        })
    }

    fn tensor_cores(&self, kept: &[GpuActivity]) -> Option<TensorCoreSummary> {
        let capability = self.devices.iter().find_map(|d| {
            d.compute_capability
                .as_deref()
                .and_then(|c| c.parse::<ComputeCapability>().ok())
        });
        let patterns = tensor_core_patterns(capability);
        let mut is_tensor_core: FastMap<u32, bool> = FastMap::default();
        let (mut tc, mut compute) = (0.0, 0.0);
        for activity in kept.iter().filter(|a| a.kind == Kind::Compute) {
            compute += activity.dur;
            let name = self.names.name(activity.name);
            let uses = *is_tensor_core.entry(activity.name).or_insert_with(|| {
                let lower = name.to_ascii_lowercase();
                patterns.iter().any(|p| lower.contains(p))
            });
            if uses {
                tc += activity.dur;
            }
        }
        (compute > 0.0).then(|| TensorCoreSummary {
            time_us: tc,
            compute_kernel_time_us: compute,
            pct_of_compute: pct(tc, compute),
            architecture: capability.map(|c| c.architecture().to_owned()),
            patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
        })
    }

    fn step_time_us(&self) -> f64 {
        self.steps.iter().map(|s| s.dur).sum()
    }

    fn data_loader_summary(&self) -> Option<DataLoaderSummary> {
        if self.steps.is_empty() {
            return None;
        }
        let step_time = self.step_time_us();
        // Only calls inside a step count; nested calls count once (interval union).
        let mut inside: Vec<(f64, f64)> = self
            .data_loader
            .iter()
            .filter(|(start, _)| step_index(&self.steps, *start).is_some())
            .copied()
            .collect();
        let calls = inside.len() as u64;
        let time = union_length(&mut inside);
        Some(DataLoaderSummary {
            time_us: time,
            step_time_us: step_time,
            pct_of_step: pct(time, step_time),
            calls,
        })
    }

    fn host_sync_summary(&self) -> Option<HostSyncSummary> {
        if self.steps.is_empty() {
            return None;
        }
        let mut by_name: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
        let (mut calls, mut time) = (0u64, 0.0);
        for (ts, dur, name) in &self.syncs {
            if step_index(&self.steps, *ts).is_some() {
                calls += 1;
                time += dur;
                let entry = by_name.entry(self.names.name(*name)).or_default();
                entry.0 += 1;
                entry.1 += dur;
            }
        }
        let mut by_name: Vec<NamedTime> = by_name
            .into_iter()
            .map(|(name, (count, time_us))| NamedTime {
                name: name.to_owned(),
                count,
                time_us,
            })
            .collect();
        by_name.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
        Some(HostSyncSummary {
            calls_in_steps: calls,
            time_us: time,
            pct_of_step: pct(time, self.step_time_us()),
            by_name,
        })
    }

    /// CPU op statistics, self times from nesting on each thread, and the merged tree.
    fn cpu_summary(&mut self) -> (Vec<CpuOpStat>, Option<CpuSummary>, Vec<ProfileOperation>) {
        if self.cpu.is_empty() {
            return (Vec::new(), None, Vec::new());
        }
        // Per thread, outer spans first.
        self.cpu.sort_by(|a, b| {
            a.thread
                .cmp(&b.thread)
                .then(a.start.total_cmp(&b.start))
                .then(b.end.total_cmp(&a.end))
        });
        let mut tree = Tree::default();
        let mut self_times = vec![0.0f64; self.cpu.len()];
        // Stack of (span index, tree node) for the open spans of this thread: a heap stack,
        // as real nesting can be tens of thousands deep.
        let mut stack: Vec<(usize, usize)> = Vec::new();
        let mut thread = None;
        for (index, span) in self.cpu.iter().enumerate() {
            if thread != Some(span.thread) {
                stack.clear();
                thread = Some(span.thread);
            }
            while let Some(&(top, _)) = stack.last() {
                if self.cpu[top].end <= span.start {
                    stack.pop();
                } else {
                    break;
                }
            }
            let duration = span.end - span.start;
            self_times[index] = duration;
            if let Some(&(parent, _)) = stack.last() {
                self_times[parent] -= duration;
            }
            if stack.len() >= ProfileOperation::MAX_DEPTH {
                // Too deep for the operation tree: the ancestor on its last level keeps this
                // span's time as its own. The per-operator tables still count it.
                self.folded_spans += 1;
                stack.push((index, FOLDED));
                continue;
            }
            let parent_node = stack.last().map(|&(_, node)| node);
            let node = tree.child(parent_node, span.name);
            tree.nodes[node].calls += 1;
            tree.nodes[node].total_us += duration;
            tree.nodes[node].self_us += duration;
            if let Some(parent_node) = parent_node {
                tree.nodes[parent_node].self_us -= duration;
            }
            stack.push((index, node));
        }

        let mut by_name: FastMap<u32, CpuOpStat> = FastMap::default();
        let mut small_self_by_name: FastMap<u32, f64> = FastMap::default();
        let (mut calls, mut small_calls) = (0u64, 0u64);
        let (mut self_total, mut small_self) = (0.0, 0.0);
        for (span, self_us) in self.cpu.iter().zip(&self_times) {
            if !span.is_op {
                continue;
            }
            let self_us = self_us.max(0.0);
            let duration = span.end - span.start;
            calls += 1;
            self_total += self_us;
            if duration < SMALL_US {
                small_calls += 1;
                small_self += self_us;
                *small_self_by_name.entry(span.name).or_default() += self_us;
            }
            let stat = by_name.entry(span.name).or_insert_with(|| CpuOpStat {
                name: self.names.name(span.name).to_owned(),
                count: 0,
                total_us: 0.0,
                self_us: 0.0,
                small_calls: 0,
            });
            stat.count += 1;
            stat.total_us += duration;
            stat.self_us += self_us;
            if duration < SMALL_US {
                stat.small_calls += 1;
            }
        }
        let mut small: Vec<NamedTime> = by_name
            .iter()
            .filter(|(_, s)| s.small_calls > 0)
            .map(|(id, s)| NamedTime {
                name: s.name.clone(),
                count: s.small_calls,
                // The self time of the small calls only, as `count` counts only them.
                time_us: small_self_by_name.get(id).copied().unwrap_or(0.0),
            })
            .collect();
        small.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
        small.truncate(TOP);
        let top_small = small;
        let stats: Vec<CpuOpStat> = by_name.into_values().collect();
        let mut top = stats.clone();
        top.sort_by(|a, b| b.self_us.total_cmp(&a.self_us).then(a.name.cmp(&b.name)));
        top.truncate(TOP);
        let summary = (calls > 0).then_some(CpuSummary {
            calls,
            small_calls,
            small_threshold_us: SMALL_US,
            small_calls_pct: pct(small_calls as f64, calls as f64),
            self_time_us: self_total,
            small_self_time_us: small_self,
            top_small,
        });
        (top, summary, tree.into_operations(&self.names))
    }
}

/// The tree node of a span below the operation tree's last level.
const FOLDED: usize = usize::MAX;

/// The operation tree merged by name path, in an arena.
#[derive(Default)]
struct Tree {
    nodes: Vec<TreeNode>,
    roots: FastMap<u32, usize>,
    root_order: Vec<usize>,
}

struct TreeNode {
    name: u32,
    calls: u64,
    total_us: f64,
    self_us: f64,
    children: FastMap<u32, usize>,
    order: Vec<usize>,
}

impl Tree {
    fn child(&mut self, parent: Option<usize>, name: u32) -> usize {
        let existing = match parent {
            Some(parent) => self.nodes[parent].children.get(&name).copied(),
            None => self.roots.get(&name).copied(),
        };
        if let Some(node) = existing {
            return node;
        }
        let node = self.nodes.len();
        self.nodes.push(TreeNode {
            name,
            calls: 0,
            total_us: 0.0,
            self_us: 0.0,
            children: FastMap::default(),
            order: Vec::new(),
        });
        match parent {
            Some(parent) => {
                self.nodes[parent].children.insert(name, node);
                self.nodes[parent].order.push(node);
            }
            None => {
                self.roots.insert(name, node);
                self.root_order.push(node);
            }
        }
        node
    }

    fn into_operations(self, names: &Interner) -> Vec<ProfileOperation> {
        // Build bottom-up without recursion: children always have larger indices.
        let mut built: Vec<Option<ProfileOperation>> =
            (0..self.nodes.len()).map(|_| None).collect();
        for index in (0..self.nodes.len()).rev() {
            let node = &self.nodes[index];
            let mut children: Vec<ProfileOperation> = node
                .order
                .iter()
                .filter_map(|&child| built[child].take())
                .collect();
            children.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
            built[index] = Some(ProfileOperation {
                name: names.name(node.name).to_owned(),
                calls: node.calls,
                total_ms: node.total_us / 1000.0,
                self_ms: node.self_us.max(0.0) / 1000.0,
                children,
            });
        }
        let mut roots: Vec<ProfileOperation> = self
            .root_order
            .iter()
            .filter_map(|&root| built[root].take())
            .collect();
        roots.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
        roots
    }
}

fn step_index(steps: &[Step], ts: f64) -> Option<usize> {
    // Steps are sorted and do not overlap: the last step starting at or before `ts`.
    let after = steps.partition_point(|s| s.ts <= ts);
    let index = after.checked_sub(1)?;
    let step = steps[index];
    (ts < step.ts + step.dur).then_some(index)
}

fn union_length(intervals: &mut [(f64, f64)]) -> f64 {
    intervals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut current: Option<(f64, f64)> = None;
    for &(start, end) in intervals.iter() {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((s, e)) = current {
        total += e - s;
    }
    total
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        100.0 * part / whole
    } else {
        0.0
    }
}

fn percentile(sorted: &[f64], quantile: f64) -> Option<f64> {
    // Nearest rank.
    if sorted.is_empty() {
        return None;
    }
    let rank = ((quantile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

struct Overlap {
    communication_us: f64,
    overlapped_us: f64,
}

/// The temporal breakdown of a set of GPU activities: one sweep over start and end points,
/// classifying each stretch of time by which kinds are running.
fn sweep(activities: &[GpuActivity]) -> Option<(GpuBreakdown, Overlap)> {
    let mut points: Vec<(i64, i8, Kind)> = Vec::with_capacity(activities.len() * 2);
    for activity in activities {
        // A zero-length or rounded-away activity still bounds the span.
        let end = activity.end.max(activity.start);
        points.push((activity.start, 1, activity.kind));
        points.push((end, -1, activity.kind));
    }
    if points.is_empty() {
        return None;
    }
    // Ends before starts at the same time: touching intervals leave no gap either way.
    points.sort_unstable_by_key(|&(t, delta, _)| (t, delta));
    let first = points.first().map(|p| p.0)?;
    let last = points.last().map(|p| p.0)?;
    let (mut compute, mut comm, mut memory) = (0i64, 0i64, 0i64);
    let (mut busy, mut compute_time, mut comm_only, mut mem_only, mut comm_time, mut overlap) =
        (0i64, 0i64, 0i64, 0i64, 0i64, 0i64);
    let mut previous = first;
    for (time, delta, kind) in points {
        let length = time - previous;
        if length > 0 {
            if compute > 0 || comm > 0 || memory > 0 {
                busy += length;
            }
            if compute > 0 {
                compute_time += length;
            } else if comm > 0 {
                comm_only += length;
            } else if memory > 0 {
                mem_only += length;
            }
            if comm > 0 {
                comm_time += length;
                if compute > 0 {
                    overlap += length;
                }
            }
        }
        previous = time;
        let counter = match kind {
            Kind::Compute => &mut compute,
            Kind::Communication => &mut comm,
            Kind::Memory => &mut memory,
        };
        *counter += i64::from(delta);
    }
    let span = (last - first) as f64;
    let idle = span - busy as f64;
    let compute_us = compute_time as f64;
    let non_compute = span - compute_us - idle;
    Some((
        GpuBreakdown {
            kernel_time_us: span,
            idle_us: idle,
            compute_us,
            communication_us: comm_only as f64,
            memory_us: mem_only as f64,
            non_compute_us: non_compute,
            idle_pct: pct(idle, span),
            compute_pct: pct(compute_us, span),
            communication_pct: pct(comm_only as f64, span),
            memory_pct: pct(mem_only as f64, span),
            non_compute_pct: pct(non_compute, span),
        },
        Overlap {
            communication_us: comm_time as f64,
            overlapped_us: overlap as f64,
        },
    ))
}

/// The direction of a copy from its name: `Memcpy HtoD (Pageable -> Device)` is `HtoD`.
fn copy_direction(name: &str) -> &str {
    name.strip_prefix("Memcpy ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("unknown")
}

fn memcpy_table(kept: &[GpuActivity], names: &Interner) -> Option<MemcpySummary> {
    let mut directions: BTreeMap<&str, MemcpyDirection> = BTreeMap::new();
    for activity in kept.iter().filter(|a| a.category != GpuCategory::Kernel) {
        let direction = match activity.category {
            GpuCategory::Memset => "Memset",
            _ => copy_direction(names.name(activity.name)),
        };
        let entry = directions
            .entry(direction)
            .or_insert_with(|| MemcpyDirection {
                direction: direction.to_owned(),
                ..MemcpyDirection::default()
            });
        entry.count += 1;
        entry.bytes += activity.bytes;
        entry.time_us += activity.dur;
    }
    if directions.is_empty() {
        return None;
    }
    let mut rows: Vec<MemcpyDirection> = directions.into_values().collect();
    for row in &mut rows {
        // Bytes per microsecond are MB/s; divide by 1000 for GB/s.
        row.bandwidth_gb_per_s = (row.time_us > 0.0).then(|| row.bytes / row.time_us / 1000.0);
    }
    Some(MemcpySummary {
        total_bytes: rows.iter().map(|r| r.bytes).sum(),
        total_time_us: rows.iter().map(|r| r.time_us).sum(),
        by_direction: rows,
    })
}

/// Kernel-name fragments that mark tensor-core kernels, per architecture.
fn tensor_core_patterns(capability: Option<ComputeCapability>) -> &'static [&'static str] {
    const VOLTA: &[&str] = &["884", "hmma", "wmma", "tensorop"];
    const TURING: &[&str] = &["1688", "884", "hmma", "wmma", "imma", "tensorop"];
    const AMPERE: &[&str] = &[
        "16816",
        "1688",
        "sm80",
        "sm86",
        "sm89",
        "xmma",
        "tensorop",
        "hmma",
        "wmma",
        "imma",
        "cutlass_80",
        "ampere_",
        "flash",
    ];
    const HOPPER: &[&str] = &[
        "sm90",
        "gmma",
        "wgmma",
        "16816",
        "1688",
        "xmma",
        "tensorop",
        "hmma",
        "wmma",
        "cutlass3x",
        "flash",
    ];
    const ANY: &[&str] = &[
        "884",
        "1688",
        "16816",
        "sm80",
        "sm86",
        "sm89",
        "sm90",
        "gmma",
        "xmma",
        "tensorop",
        "hmma",
        "wmma",
        "imma",
        "cutlass3x",
        "flash",
    ];
    match capability.map(|c| (c.major, c.minor)) {
        Some((7, 0..=2)) => VOLTA,
        Some((7, _)) => TURING,
        Some((8, _)) => AMPERE,
        Some((9, _)) => HOPPER,
        _ => ANY,
    }
}

/// Builds the rules' facts from a summary.
pub(crate) fn facts(summary: &TraceSummary) -> advisor_core::TraceFacts {
    use advisor_core as core;
    let steps = summary.steps.len() as u64;
    core::TraceFacts {
        source: Some(summary.source.clone()),
        steps: (steps > 0).then_some(steps),
        step_time_us_mean: (steps > 0)
            .then(|| summary.steps.iter().map(|s| s.duration_us).sum::<f64>() / steps as f64),
        devices: summary
            .devices
            .iter()
            .map(|d| core::TraceDevice {
                id: d.id,
                name: d.name.clone(),
                memory_bytes: d.memory_bytes,
                compute_capability: d.compute_capability.clone(),
                sm_count: d.sm_count,
            })
            .collect(),
        gpu_breakdown: summary.breakdown.clone(),
        kernel_launches: summary.launch.as_ref().map(|l| core::KernelLaunchFacts {
            kernels: l.kernels,
            matched: l.matched,
            shorter_than_launch: l.shorter_than_launch,
            short_kernels: l.short_kernels,
            short_kernel_threshold_us: l.short_kernel_threshold_us,
            short_kernel_time_us: l.short_kernel_time_us,
            kernel_time_us: l.kernel_time_us,
            launch_call_us_mean: l.launch_call_us_mean,
            launch_delay_us_p50: l.launch_delay_us_p50,
            launch_delay_us_p95: l.launch_delay_us_p95,
        }),
        data_loader: summary.data_loader.as_ref().map(|d| core::DataLoaderFacts {
            time_us: d.time_us,
            step_time_us: d.step_time_us,
            pct_of_step: d.pct_of_step,
            calls: d.calls,
        }),
        communication: summary
            .communication
            .as_ref()
            .map(|c| core::CommunicationFacts {
                kernels: c.kernels,
                time_us: c.time_us,
                overlapped_us: c.overlapped_us,
                overlap_pct: c.overlap_pct,
                exposed_pct_of_kernel_time: c.exposed_pct_of_kernel_time,
                backend: summary.distributed.as_ref().and_then(|d| d.backend.clone()),
                world_size: summary
                    .distributed
                    .as_ref()
                    .and_then(|d| d.world_size)
                    .and_then(|w| u64::try_from(w).ok()),
            }),
        host_syncs: summary.host_syncs.as_ref().map(|h| core::HostSyncFacts {
            calls_in_steps: h.calls_in_steps,
            time_us: h.time_us,
            pct_of_step: h.pct_of_step,
            by_name: h.by_name.iter().map(NamedTime::to_core).collect(),
        }),
        cpu_ops: summary.cpu.as_ref().map(|c| core::CpuOpFacts {
            calls: c.calls,
            small_calls: c.small_calls,
            small_threshold_us: c.small_threshold_us,
            small_self_time_us: c.small_self_time_us,
            self_time_us: c.self_time_us,
            top_small: c.top_small.iter().map(NamedTime::to_core).collect(),
        }),
        tensor_cores: summary
            .tensor_cores
            .as_ref()
            .map(|t| core::TensorCoreFacts {
                time_us: t.time_us,
                compute_kernel_time_us: t.compute_kernel_time_us,
                pct_of_compute: t.pct_of_compute,
                architecture: t.architecture.clone(),
            }),
        memory: summary.memory.as_ref().map(|m| core::TraceMemoryFacts {
            gpu_peak_allocated_bytes: m.gpu_peak_allocated_bytes,
            gpu_peak_reserved_bytes: m.gpu_peak_reserved_bytes,
            cpu_peak_allocated_bytes: m.cpu_peak_allocated_bytes,
        }),
    }
}

/// A device from `deviceProperties`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeviceSummary {
    /// Device index.
    pub id: Option<i64>,
    /// Name, `Tesla V100-SXM2-32GB`.
    pub name: Option<String>,
    /// Total memory in bytes.
    pub memory_bytes: Option<u64>,
    /// Compute capability, `"7.0"`.
    pub compute_capability: Option<String>,
    /// Architecture of that capability, `Volta`.
    pub architecture: Option<String>,
    /// Streaming multiprocessors.
    pub sm_count: Option<u64>,
}

impl From<RawDevice> for DeviceSummary {
    fn from(raw: RawDevice) -> Self {
        let capability = match (raw.compute_major.int(), raw.compute_minor.int()) {
            (Some(major), Some(minor)) => u32::try_from(major)
                .ok()
                .zip(u32::try_from(minor).ok())
                .map(|(major, minor)| ComputeCapability::new(major, minor)),
            _ => None,
        };
        DeviceSummary {
            id: raw.id.int(),
            name: raw
                .name
                .map(|name| cut_to(&name, MAX_STRING_BYTES).to_owned()),
            memory_bytes: raw.total_global_mem.0.map(|b| b as u64),
            compute_capability: capability.map(|c| format!("{}.{}", c.major, c.minor)),
            architecture: capability.map(|c| c.architecture().to_owned()),
            sm_count: raw.num_sms.int().and_then(|n| u64::try_from(n).ok()),
        }
    }
}

/// `distributedInfo`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DistributedSummary {
    /// Collective backend, `nccl`.
    pub backend: Option<String>,
    /// This process's rank.
    pub rank: Option<i64>,
    /// Number of ranks.
    pub world_size: Option<i64>,
}

/// One profiler step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StepSummary {
    /// `N` of `ProfilerStep#N`.
    pub step: i64,
    /// Start, relative to the trace's first event.
    pub start_us: f64,
    /// Wall time.
    pub duration_us: f64,
    /// Breakdown of the GPU work launched in this step.
    pub gpu_breakdown: Option<GpuBreakdown>,
}

/// Where GPU time goes: core's [`GpuTimeBreakdown`](advisor_core::GpuTimeBreakdown), which the
/// rules read, is also the summary's type, so the two cannot drift apart.
pub type GpuBreakdown = advisor_core::GpuTimeBreakdown;

/// One kernel name's statistics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KernelStat {
    /// Kernel name.
    pub name: String,
    /// `computation`, `communication` or `memory`.
    pub kind: &'static str,
    /// Launches.
    pub count: u64,
    /// Total time.
    pub total_us: f64,
    /// Mean time.
    pub mean_us: f64,
    /// Shortest.
    pub min_us: f64,
    /// Longest.
    pub max_us: f64,
    /// Share of all kernel time.
    pub pct_of_kernel_time: f64,
}

/// One CPU operator's statistics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuOpStat {
    /// Operator name.
    pub name: String,
    /// Calls.
    pub count: u64,
    /// Total time including children.
    pub total_us: f64,
    /// Time excluding nested operators.
    pub self_us: f64,
    /// Calls shorter than the small-op threshold.
    pub small_calls: u64,
}

/// Kernel launch statistics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LaunchSummary {
    /// Kernels in the analyzed window.
    pub kernels: u64,
    /// Kernels matched to a launch call by correlation id.
    pub matched: u64,
    /// Matched kernels that ran shorter than their launch call.
    pub shorter_than_launch: u64,
    /// That as a share of matched kernels.
    pub shorter_than_launch_pct: f64,
    /// Kernels shorter than the threshold.
    pub short_kernels: u64,
    /// The threshold.
    pub short_kernel_threshold_us: f64,
    /// Their total time.
    pub short_kernel_time_us: f64,
    /// Total kernel time (not merged).
    pub kernel_time_us: f64,
    /// Mean launch-call time.
    pub launch_call_us_mean: Option<f64>,
    /// Median of kernel start minus launch-call start (nearest rank).
    pub launch_delay_us_p50: Option<f64>,
    /// 95th percentile of that delay (nearest rank).
    pub launch_delay_us_p95: Option<f64>,
}

/// Copies and sets by direction.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemcpySummary {
    /// Bytes moved or set.
    pub total_bytes: f64,
    /// GPU time.
    pub total_time_us: f64,
    /// Per direction (`HtoD`, `DtoH`, `DtoD`, `PtoP`, `Memset`).
    pub by_direction: Vec<MemcpyDirection>,
}

/// Copies in one direction.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemcpyDirection {
    /// `HtoD`, `DtoH`, `DtoD`, `PtoP`, `HtoH` or `Memset`.
    pub direction: String,
    /// Operations.
    pub count: u64,
    /// Bytes.
    pub bytes: f64,
    /// GPU time.
    pub time_us: f64,
    /// Bytes over time, GB/s.
    pub bandwidth_gb_per_s: Option<f64>,
}

/// Communication kernels and overlap.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CommunicationSummary {
    /// Communication kernels.
    pub kernels: u64,
    /// Time at least one runs.
    pub time_us: f64,
    /// Part of it with computation running too.
    pub overlapped_us: f64,
    /// Overlapped share.
    pub overlap_pct: f64,
    /// Exposed communication as a share of the GPU span.
    pub exposed_pct_of_kernel_time: f64,
}

/// Tensor-core kernel share.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TensorCoreSummary {
    /// Time of tensor-core kernels.
    pub time_us: f64,
    /// Time of all computation kernels.
    pub compute_kernel_time_us: f64,
    /// Share.
    pub pct_of_compute: f64,
    /// Architecture the patterns are for.
    pub architecture: Option<String>,
    /// The name fragments matched (lowercase).
    pub patterns: Vec<String>,
}

/// Data-loader share of the steps.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DataLoaderSummary {
    /// Wall time in data-loader calls within steps.
    pub time_us: f64,
    /// Wall time of the steps.
    pub step_time_us: f64,
    /// Share.
    pub pct_of_step: f64,
    /// Calls.
    pub calls: u64,
}

/// Synchronizing host calls within steps.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HostSyncSummary {
    /// Calls.
    pub calls_in_steps: u64,
    /// CPU time.
    pub time_us: f64,
    /// Share of step time.
    pub pct_of_step: f64,
    /// By name.
    pub by_name: Vec<NamedTime>,
}

/// CPU operator statistics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuSummary {
    /// Operator calls.
    pub calls: u64,
    /// Calls under the threshold.
    pub small_calls: u64,
    /// The threshold.
    pub small_threshold_us: f64,
    /// Small calls as a share of calls.
    pub small_calls_pct: f64,
    /// Total self time.
    pub self_time_us: f64,
    /// Self time of the small calls.
    pub small_self_time_us: f64,
    /// Most frequent small operators: small calls and their self time.
    pub top_small: Vec<NamedTime>,
}

/// Peak memory from `[memory]` events.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemorySummary {
    /// GPU peak allocated.
    pub gpu_peak_allocated_bytes: Option<u64>,
    /// GPU peak reserved.
    pub gpu_peak_reserved_bytes: Option<u64>,
    /// CPU peak allocated.
    pub cpu_peak_allocated_bytes: Option<u64>,
}

/// A name with a count and a time.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NamedTime {
    /// Name.
    pub name: String,
    /// Count.
    pub count: u64,
    /// Time.
    pub time_us: f64,
}

impl NamedTime {
    fn to_core(&self) -> advisor_core::NamedCount {
        advisor_core::NamedCount {
            name: self.name.clone(),
            count: self.count,
            time_us: self.time_us,
        }
    }
}
