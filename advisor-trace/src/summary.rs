//! The summary of a trace: the analyses run over what the streaming pass kept, the warnings
//! for each repair and limit, and the facts for the rules.

use advisor_core::{
    CommunicationFacts, CpuOpFacts, DataLoaderFacts, GpuTimeBreakdown, HardwareInfo,
    HostBlockedFacts, HostSyncFacts, InputWaitFacts, KernelLaunchFacts, MemcpyKindFacts,
    ProfileOperation, ProfileResults, StreamIdleBreakdown, StreamQueueLength, TensorCoreFacts,
    TraceDevice, TraceFacts, TraceMemoryFacts, TraceRunFacts,
};
use serde::Serialize;

use crate::{
    accumulate::Accumulator,
    analysis::{
        breakdown, collective_bandwidth, collectives, communication,
        cpu_ops::{self, CpuOpStat},
        data_loader, devices,
        devices::DistributedSummary,
        host_blocked, host_syncs, idle, input_wait,
        kernels::{self, KernelStat},
        launches,
        memcpy::{self, MemcpySummary},
        memcpy_kinds, queue, roofline, run_facts,
        steps::{self, StepSummary},
        tensor_cores,
    },
    annotate::Timeline,
    scan::{MAX_ELEMENT_BYTES, MAX_STRING_BYTES, StructureRepairs},
};

/// What a trace says, ready for a performance engineer and for the rules.
///
/// Times are microseconds. Shares are percentages (0–100). The facts are advisor-core's own
/// types (`TraceDevice`, `GpuTimeBreakdown`, `KernelLaunchFacts`, ...), so
/// [`to_facts`](Self::to_facts) only gathers them; the tables core has no fact for (steps, top
/// kernels and CPU operators, memcpy by direction) are this crate's. In JSON, `breakdown`,
/// `launch` and `memcpy` are always present (`null` for a trace without GPU activity), so
/// readers of `advisor trace --format json` find every documented key.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct TraceSummary {
    /// The version of this JSON shape ([`SCHEMA_VERSION`]); a reader refuses a newer one.
    pub schema_version: u32,
    /// Where the trace came from.
    pub source: String,
    /// Bytes of JSON read (after decompression).
    pub bytes_read: u64,
    /// Events read, by category (`cat`, or `ph` when there is none).
    pub event_counts: std::collections::BTreeMap<String, u64>,
    /// Devices from `deviceProperties`.
    pub devices: Vec<TraceDevice>,
    /// `distributedInfo`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distributed: Option<DistributedSummary>,
    /// `baseTimeNanoseconds`: when set, event timestamps are relative to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_time_ns: Option<u64>,
    /// Whether timestamps are absolute (Unix epoch microseconds) or relative.
    pub timestamps: &'static str,
    /// Profiler steps (`ProfilerStep#N`), in time order, each with its GPU breakdown.
    pub steps: Vec<StepSummary>,
    /// GPU time breakdown over the analyzed window (Holistic Trace Analysis's temporal
    /// breakdown: with two or more steps, the GPU work launched before the last step starts).
    pub breakdown: Option<GpuTimeBreakdown>,
    /// Kernels by total time, longest first (at most 10).
    pub top_kernels: Vec<KernelStat>,
    /// CPU operators by self time, longest first (at most 10).
    pub top_cpu_ops: Vec<CpuOpStat>,
    /// Kernel launch statistics.
    pub launch: Option<KernelLaunchFacts>,
    /// Memory copies and sets.
    pub memcpy: Option<MemcpySummary>,
    /// Communication kernels and their overlap with computation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub communication: Option<CommunicationFacts>,
    /// Tensor-core kernel share.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tensor_cores: Option<TensorCoreFacts>,
    /// Data-loader time share.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_loader: Option<DataLoaderFacts>,
    /// Host time at each step's start before its first GPU call, and the GPU idle in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_wait: Option<InputWaitFacts>,
    /// Synchronizing host calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_syncs: Option<HostSyncFacts>,
    /// CPU operator statistics (small ops in particular).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuOpFacts>,
    /// Peak memory from `[memory]` events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<TraceMemoryFacts>,
    /// Idle time per GPU stream by cause (host wait, kernel wait, other), as Holistic Trace
    /// Analysis's idle-time breakdown splits it, over the same window as `breakdown`.
    pub idle_breakdown: Vec<StreamIdleBreakdown>,
    /// Runtime calls inside the steps that block the host, by cause and by the operator and
    /// annotation that issued them (`null` without steps).
    pub host_blocked: Option<HostBlockedFacts>,
    /// GPU copies by kind (direction, pageable or pinned host memory) with their bandwidth,
    /// over the same window as `breakdown`.
    pub memcpy_kinds: Vec<MemcpyKindFacts>,
    /// Queue length per GPU stream (activities launched and not finished), over the same
    /// window as `breakdown`.
    pub queue_length: Vec<StreamQueueLength>,
    /// What the run already uses: training or inference, matmul precision, fused attention,
    /// torch.compile, CUDA graphs, the optimizer (`null` for an empty trace).
    pub run: Option<TraceRunFacts>,
    /// How fast each operator is: FLOPs and bytes from the recorded shapes
    /// (`record_shapes=True`), its kernels' GPU time and the achieved rates, most kernel time
    /// first (at most 200 operator-and-shape rows; empty without shapes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub op_roofline: Vec<crate::OpRoofline>,
    /// The bandwidth each kind of collective achieved (message sizes from
    /// `record_param_comms`, NCCL tests' bus bandwidth over the kernels' time; empty when the
    /// trace records no sizes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub collective_bandwidth: Vec<crate::CollectiveBandwidth>,
    /// Every communication kernel in time order, for matching ranks (`advisor trace` on
    /// several ranks' files, or `--merge` of their JSON).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub collectives: Vec<crate::Collective>,
    /// Repairs made and anything that limits the analysis.
    pub warnings: Vec<String>,
    /// The CPU operators as a tree merged by name path (for `profile_results`).
    #[serde(skip)]
    pub operations: Vec<ProfileOperation>,
    /// Wall time the operations cover, in milliseconds.
    #[serde(skip)]
    pub operations_total_ms: f64,
}

/// The version of the JSON `advisor trace --format json` writes (one trace, or several
/// ranks); raised whenever a key changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// Rows of the operator roofline kept.
const ROOFLINE_ROWS: usize = 200;

/// Runs the analyses over what the streaming pass kept.
pub(crate) fn build(
    mut accumulator: Accumulator,
    source: &str,
    bytes_read: u64,
    structure: StructureRepairs,
    timeline: bool,
) -> (TraceSummary, Option<Timeline>) {
    accumulator.repeated_correlations = accumulator.runtime.link(&mut accumulator.gpu);
    let mut warnings = repair_warnings(&accumulator, structure);
    accumulator
        .steps
        .sort_by(|a, b| a.ts.total_cmp(&b.ts).then(a.number.cmp(&b.number)));
    let timestamps = if accumulator.base_time_ns.is_some() {
        "relative to baseTimeNanoseconds"
    } else if accumulator.first_ts.is_some_and(|t| t > 1.0e15) {
        "absolute (Unix epoch)"
    } else {
        "relative"
    };
    let origin = accumulator.first_ts.unwrap_or(0.0);
    match accumulator.steps.len() {
        0 if !accumulator.gpu.is_empty() => warnings.push(
            "no ProfilerStep#N annotations: the GPU breakdown covers the whole trace".to_owned(),
        ),
        1 if !accumulator.gpu.is_empty() => warnings
            .push("only one ProfilerStep: the GPU breakdown covers the whole trace".to_owned()),
        _ => {}
    }
    let kept = steps::analyzed_window_first(&mut accumulator);
    let kept = &accumulator.gpu[..kept];
    let swept = breakdown::sweep(kept);
    let mut communication =
        communication::communication(kept, swept.as_ref(), accumulator.distributed.as_ref());
    let collective_bandwidth = collective_bandwidth::collective_bandwidth(
        &accumulator.comms,
        kept,
        &accumulator.runtime,
        &accumulator.names,
    );
    if let Some(communication) = &mut communication {
        let (bus_bytes, time_us) = collective_bandwidth.iter().fold((0.0, 0.0), |(b, t), row| {
            (b + row.bytes * row.bus_factor, t + row.kernel_time_us)
        });
        communication.bus_bandwidth_gb_per_s =
            (bus_bytes > 0.0 && time_us > 0.0).then(|| bus_bytes / (time_us * 1e-6) / 1e9);
    }
    let cpu = cpu_ops::cpu_ops(&mut accumulator.cpu, &accumulator.names);
    if cpu.folded_spans > 0 {
        warnings.push(format!(
            "{} CPU operator call(s) nested deeper than {} levels are folded into their \
             ancestor on level {} of the operation tree (the operator tables count them)",
            cpu.folded_spans,
            ProfileOperation::MAX_DEPTH,
            ProfileOperation::MAX_DEPTH
        ));
    }
    // After `cpu_ops`, which sorts the spans as host-blocked attribution needs them.
    // The gaps, queue changes and blocking calls are worked out once: the summary's tables and
    // the annotations' timeline both read them.
    let stream_gaps = idle::gaps(kept, &accumulator.runtime);
    let queue_changes = queue::changes(kept, &accumulator.runtime);
    let blocking = host_blocked::blocking_calls(
        &accumulator.steps,
        &accumulator.syncs,
        &accumulator.runtime_by_name,
        &accumulator.gpu,
        &accumulator.cpu,
        &accumulator.names,
    );
    let timeline = timeline.then(|| {
        Timeline::of(
            &accumulator.names,
            &blocking,
            &stream_gaps,
            &queue_changes,
            origin,
        )
    });
    let run = run_facts::run_facts(&accumulator, kept);
    let (op_roofline, roofline_rows) = roofline::op_roofline(
        &mut accumulator.op_costs,
        kept,
        &accumulator.runtime,
        &accumulator.names,
        ROOFLINE_ROWS,
    );
    if roofline_rows > ROOFLINE_ROWS {
        warnings.push(format!(
            "the operator roofline keeps the {ROOFLINE_ROWS} operator-and-shape rows with the most kernel time of {roofline_rows}"
        ));
    }
    let names = &accumulator.names;
    let operations_total_ms = if accumulator.steps.is_empty() {
        let start = accumulator
            .cpu
            .iter()
            .map(|s| s.start)
            .fold(f64::INFINITY, f64::min);
        let end = accumulator
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
        accumulator.steps.iter().map(|s| s.dur).sum::<f64>() / 1000.0
    };
    let summary = TraceSummary {
        schema_version: SCHEMA_VERSION,
        source: source.to_owned(),
        bytes_read,
        steps: steps::step_summaries(&accumulator, kept, &stream_gaps, origin),
        breakdown: swept.map(|(b, _)| b),
        top_kernels: kernels::top_kernels(kept, names),
        top_cpu_ops: cpu.top,
        launch: launches::launch_summary(kept, &accumulator.runtime),
        idle_breakdown: idle::idle_breakdown(&stream_gaps),
        queue_length: queue::queue_length(kept, &queue_changes),
        memcpy_kinds: memcpy_kinds::memcpy_kinds(kept, names),
        host_blocked: host_blocked::host_blocked(&accumulator.steps, &blocking, names),
        memcpy: memcpy::memcpy_table(kept, names),
        communication,
        tensor_cores: tensor_cores::tensor_cores(kept, names, &accumulator.devices),
        data_loader: data_loader::data_loader(&accumulator.steps, &accumulator.data_loader),
        input_wait: input_wait::input_wait(&accumulator.steps, &accumulator.runtime, kept),
        host_syncs: host_syncs::host_syncs(&accumulator.steps, &accumulator.syncs, names),
        cpu: cpu.facts,
        memory: accumulator.memory.facts(),
        run,
        op_roofline,
        collective_bandwidth,
        collectives: collectives::collectives(
            &accumulator.gpu,
            &accumulator.names,
            accumulator.base_time_ns,
            &accumulator.comms,
            &accumulator.runtime,
        ),
        warnings,
        operations: cpu.operations,
        operations_total_ms,
        timestamps,
        event_counts: accumulator.counts,
        devices: accumulator.devices,
        distributed: accumulator.distributed,
        base_time_ns: accumulator.base_time_ns,
    };
    (summary, timeline)
}

/// A warning for each repair made to the file and each limit that cut what was read.
fn repair_warnings(accumulator: &Accumulator, structure: StructureRepairs) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut repair = |count: u64, what: &str| {
        if count > 0 {
            warnings.push(format!("repaired: {count} {what}"));
        }
    };
    repair(structure.trailing_commas, "trailing comma(s) dropped");
    repair(
        accumulator.comma_repairs,
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
        accumulator.non_finite_repairs,
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
    if accumulator.names.cut > 0 {
        warnings.push(format!(
            "cut: {} event name(s) longer than {MAX_STRING_BYTES} bytes kept only their \
             first {MAX_STRING_BYTES} bytes (the longest had {} bytes)",
            accumulator.names.cut, accumulator.names.longest_cut
        ));
    }
    if accumulator.without_dur > 0 {
        warnings.push(format!(
            "{} complete event(s) without a usable `dur` left out of the timings",
            accumulator.without_dur
        ));
    }
    if accumulator.without_ts > 0 {
        warnings.push(format!(
            "{} event(s) without a usable `ts` skipped",
            accumulator.without_ts
        ));
    }
    if accumulator.malformed > 0 {
        warnings.push(format!(
            "{} malformed event(s) skipped; first at {}",
            accumulator.malformed,
            accumulator.first_malformed.as_deref().unwrap_or("?")
        ));
    }
    if accumulator.repeated_correlations > 0 {
        warnings.push(format!(
            "{} runtime call(s) repeat a correlation id an earlier call had (a replicated or \
             merged file?): kernels are matched to the last call with their id, so launch, \
             queue and idle figures may be wrong",
            accumulator.repeated_correlations
        ));
    }
    if !accumulator.unknown_categories.is_empty() {
        let listed: Vec<String> = accumulator
            .unknown_categories
            .iter()
            .map(|(cat, n)| format!("{cat} ({n})"))
            .collect();
        warnings.push(format!(
            "events in categories the summary does not use: {}",
            listed.join(", ")
        ));
    }
    warnings
}

impl TraceSummary {
    /// The facts the rules read: the summary's own fact values, gathered.
    pub fn to_facts(&self) -> TraceFacts {
        let steps = self.steps.len() as u64;
        TraceFacts {
            source: Some(self.source.clone()),
            steps: (steps > 0).then_some(steps),
            step_time_us_mean: (steps > 0)
                .then(|| self.steps.iter().map(|s| s.duration_us).sum::<f64>() / steps as f64),
            devices: self.devices.clone(),
            gpu_breakdown: self.breakdown.clone(),
            kernel_launches: self.launch.clone(),
            data_loader: self.data_loader.clone(),
            input_wait: self.input_wait.clone(),
            communication: self.communication.clone(),
            host_syncs: self.host_syncs.clone(),
            cpu_ops: self.cpu.clone(),
            tensor_cores: self.tensor_cores.clone(),
            memory: self.memory.clone(),
            idle_breakdown: self.idle_breakdown.clone(),
            host_blocked: self.host_blocked.clone(),
            memcpy_kinds: self.memcpy_kinds.clone(),
            queue_length: self.queue_length.clone(),
            run: self.run.clone(),
        }
    }

    /// A profile for the analysis context: the CPU operator tree and the trace facts.
    pub fn to_profile_results(&self) -> ProfileResults {
        ProfileResults {
            total_ms: self.operations_total_ms,
            operations: self.operations.clone(),
            trace: Some(self.to_facts()),
        }
    }

    /// Hardware facts from `deviceProperties`: the first GPU's name, memory, compute
    /// capability and the number of GPUs of that name. `None` without devices.
    pub fn hardware_info(&self) -> Option<HardwareInfo> {
        devices::hardware_info(&self.devices)
    }
}
