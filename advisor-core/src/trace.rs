//! Facts read from a PyTorch profiler (Kineto) trace, in the shape the rules act on.
//!
//! `advisor-trace` reads the trace and fills these; the rules only read them. Every field
//! is optional: a CPU-only trace has no GPU breakdown, a trace without `ProfilerStep#N`
//! annotations has no step facts. Times are microseconds, shares are percentages (0–100).

use serde::{Deserialize, Serialize};

/// What a trace says about the run: steps, devices, where GPU time goes, launches, data
/// loading, communication, host synchronization and small CPU operations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TraceFacts {
    /// The trace file the facts come from, for evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Number of profiler steps (`ProfilerStep#N` annotations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u64>,
    /// Mean wall time of a profiler step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_time_us_mean: Option<f64>,
    /// Devices listed in the trace's `deviceProperties`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<TraceDevice>,
    /// GPU time breakdown over the analyzed window, as Holistic Trace Analysis defines it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_breakdown: Option<GpuTimeBreakdown>,
    /// Kernel launch statistics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_launches: Option<KernelLaunchFacts>,
    /// Time the step spends waiting for the data loader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_loader: Option<DataLoaderFacts>,
    /// Host time at the start of each step before its first GPU work, and how much of it the
    /// GPU sat idle: where an input pipeline shows without data-loader spans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_wait: Option<InputWaitFacts>,
    /// Collective communication on the GPU and how much of it overlaps computation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub communication: Option<CommunicationFacts>,
    /// Calls that block the host until the GPU catches up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_syncs: Option<HostSyncFacts>,
    /// CPU operator statistics, small operators in particular.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ops: Option<CpuOpFacts>,
    /// Share of compute-kernel time in kernels that use tensor cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensor_cores: Option<TensorCoreFacts>,
    /// Peak memory from the profiler's memory events (`profile_memory=True`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<TraceMemoryFacts>,
    /// Why each GPU stream is idle, as Holistic Trace Analysis's idle-time breakdown splits
    /// it, by stream number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub idle_breakdown: Vec<StreamIdleBreakdown>,
    /// Runtime calls that block the host (blocking copies, synchronizations, event waits,
    /// outliers), by cause and by the operator and annotation that issued them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_blocked: Option<HostBlockedFacts>,
    /// GPU memory copies by kind (direction, source and destination memory), with their
    /// achieved bandwidth.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memcpy_kinds: Vec<MemcpyKindFacts>,
    /// How many launched GPU activities wait on each stream (Holistic Trace Analysis's
    /// queue-length counter), summarised per stream.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queue_length: Vec<StreamQueueLength>,
    /// What the run already uses, as the trace shows it: training or inference, the matmul
    /// precision, fused attention, torch.compile, CUDA graphs, the optimizer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<TraceRunFacts>,
}

/// The precision a matmul or convolution kernel computes in, read from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum KernelPrecision {
    /// fp32 on CUDA cores (`volta_sgemm`, `scudnn`, `<float`).
    Fp32,
    /// fp32 inputs on tensor cores as TF32 (`tf32`, Ampere's `s1688gemm` tensor-op kernels).
    Tf32,
    /// fp16 (`h884`, `hgemm`, `f16`, `__half`).
    Fp16,
    /// bf16.
    Bf16,
    /// fp8 (`e4m3`, `e5m2`).
    Fp8,
    /// int8 (`imma`, `int8`).
    Int8,
    /// The name does not tell (`triton_mm`, hand-written kernels).
    Unknown,
}

impl KernelPrecision {
    /// The name people use: `fp32`, `tf32`, `fp16`.
    pub fn as_str(self) -> &'static str {
        match self {
            KernelPrecision::Fp32 => "fp32",
            KernelPrecision::Tf32 => "tf32",
            KernelPrecision::Fp16 => "fp16",
            KernelPrecision::Bf16 => "bf16",
            KernelPrecision::Fp8 => "fp8",
            KernelPrecision::Int8 => "int8",
            KernelPrecision::Unknown => "unknown",
        }
    }

    /// The run-configuration precision this kernel precision is (TF32 is fp32 with TF32
    /// matmuls); `None` for unknown.
    pub fn precision(self) -> Option<crate::config::Precision> {
        use crate::config::Precision;
        match self {
            KernelPrecision::Fp32 | KernelPrecision::Tf32 => Some(Precision::Fp32),
            KernelPrecision::Fp16 => Some(Precision::Fp16),
            KernelPrecision::Bf16 => Some(Precision::Bf16),
            KernelPrecision::Fp8 => Some(Precision::Fp8),
            KernelPrecision::Int8 => Some(Precision::Int8),
            KernelPrecision::Unknown => None,
        }
    }
}

/// Matmul and convolution kernel time at one precision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PrecisionShare {
    /// The precision.
    pub precision: KernelPrecision,
    /// Kernel time.
    pub time_us: f64,
    /// Share of all matmul and convolution kernel time.
    pub pct: f64,
}

/// How an optimizer's update runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum OptimizerImplementation {
    /// One kernel per group of tensors for the whole update (`fused=True`: `_fused_adamw_`).
    Fused,
    /// Multi-tensor element-wise kernels (`foreach=True`, PyTorch's default on CUDA:
    /// `_foreach_*`).
    Foreach,
    /// A loop over parameters, a few kernels each.
    ForLoop,
}

/// The optimizer the trace shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TraceOptimizer {
    /// Its class, from `Optimizer.step#AdamW.step` (`None` when only its ops show).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How its update runs.
    pub implementation: OptimizerImplementation,
    /// `optimizer.step()` calls.
    pub steps: u64,
    /// CPU wall time inside `optimizer.step()`.
    pub cpu_time_us: f64,
    /// GPU time of the activities launched inside `optimizer.step()`.
    pub gpu_time_us: f64,
    /// `gpu_time_us` as a share of all GPU activity time launched in the profiler steps.
    pub pct_of_gpu: f64,
}

/// What the run already uses, read from the trace's operators, annotations, runtime calls and
/// kernel names. Each field is `None`/empty when the trace does not tell.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TraceRunFacts {
    /// Training (backward or optimizer operators ran) or inference (CPU operators and none
    /// of those).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<crate::config::Mode>,
    /// What told the mode: `1060 backward operators (autograd::engine::evaluate_function)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode_evidence: Option<String>,
    /// The precision of most matmul and convolution kernel time (over half of it); `None`
    /// when no precision holds a majority or there are no such kernels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matmul_precision: Option<KernelPrecision>,
    /// Matmul and convolution kernel time.
    pub matmul_time_us: f64,
    /// That time by precision, largest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matmul_by_precision: Vec<PrecisionShare>,
    /// The longest-running matmul kernels' names, for the evidence (at most three).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matmul_examples: Vec<String>,
    /// Fused-attention kernels or operators seen (FlashAttention, memory-efficient SDPA,
    /// cuDNN attention), by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fused_attention: Vec<String>,
    /// torch.compile evidence (`CompiledFunction`, `Torch-Compiled Region`, Triton kernels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiled: Option<String>,
    /// `cudaGraphLaunch` calls (CUDA graphs replayed).
    pub cuda_graph_launches: u64,
    /// The optimizer, when `optimizer.step()` or its ops show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<TraceOptimizer>,
    /// Convolution, layout-transpose and batch-norm kernels, when convolution kernels ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convolution: Option<ConvolutionFacts>,
    /// The batch size the attention's recorded shapes show (`record_shapes=True`: the
    /// queries of `scaled_dot_product_attention` are batch × heads × tokens × head size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u64>,
    /// The query tokens per sequence of those calls (the sequence length in training and
    /// prefill; 1 in decode steps with a KV cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_tokens: Option<u64>,
    /// Where `batch_size` and `query_tokens` come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape_evidence: Option<String>,
    /// A generation trace (attention calls with one query token reading a KV cache, and
    /// longer ones before them): the prompt, prefill and decode as the shapes show them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<TraceGeneration>,
}

/// Prefill and decode in a generation trace, from the attention's recorded shapes: the
/// queries `[batch, heads, tokens, head size]` and keys `[batch, heads, context, head size]`
/// of `scaled_dot_product_attention`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TraceGeneration {
    /// Query tokens of the prefill calls (the longest queries): the prompt.
    pub prefill_tokens: u64,
    /// Attention calls with one query token: one per layer and decode step (an operator
    /// and the kernel it dispatches to count once).
    pub decode_calls: u64,
    /// The longest keys of those calls: the prompt and every token generated before the
    /// last decode step in the trace.
    pub context_tokens: u64,
    /// Tokens the trace shows generated: the prefill's token and one per decode step, so
    /// `context_tokens − prefill_tokens + 1` (fewer than the run generated when the
    /// profiler saw only part of it).
    pub generated_tokens: u64,
    /// The calls it is read from.
    pub evidence: String,
}

/// What a convolutional network's kernels show, from their names: how much GPU time the
/// convolutions take, how much of it runs in the NHWC (channels-last) layout tensor cores
/// want, and the layout transposes and batch norms around them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ConvolutionFacts {
    /// Convolution kernels (forward, data and weight gradient: cuDNN's `scudnn`, `fprop`,
    /// `dgrad`, `wgrad`, `implicit_convolve` kernels, depthwise kernels).
    pub kernels: u64,
    /// Their GPU time.
    pub time_us: f64,
    /// The part of it in kernels whose names say NHWC (`nhwc`, `nhwckrsc`).
    pub nhwc_time_us: f64,
    /// The part of it in fp32 on CUDA cores, as the kernel names spell it (`scudnn`,
    /// `<float`): the precision [`TraceRunFacts::matmul_by_precision`] reads.
    pub fp32_time_us: f64,
    /// GPU time of layout transposes between NCHW and NHWC (`nchwToNhwcKernel`,
    /// `nhwcToNchwKernel`): what cuDNN adds around NHWC kernels for NCHW tensors.
    pub transpose_time_us: f64,
    /// GPU time of batch-norm kernels (`bn_fw`, `bn_bw`, `batch_norm`).
    pub batch_norm_time_us: f64,
    /// All GPU activity time, the base of the shares.
    pub gpu_time_us: f64,
    /// The longest-running convolution kernels' names (at most three).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}

/// Why a runtime call blocked the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HostBlockCause {
    /// A copy to or from pageable host memory (`cudaMemcpyAsync` with a `Device -> Pageable`
    /// copy): the driver stages it and the host waits, `non_blocking` or not.
    PageableCopy,
    /// A synchronous copy or set (`cudaMemcpy`, `cudaMemset`).
    SynchronousCopy,
    /// A device, context or stream synchronization (`cudaStreamSynchronize`).
    Synchronize,
    /// A wait for an event (`cudaEventSynchronize`).
    EventWait,
    /// An asynchronous enqueue (a kernel or graph launch, a `cudaMemcpyAsync` between device
    /// buffers or pinned memory, a `cudaMemsetAsync`) that took far longer than its usual time
    /// (as an outlier): the queue was full, so the host waited for the GPU to make room (the
    /// GPU is the bottleneck), or the first launch loaded its module.
    LaunchBackpressure,
    /// Any other runtime call that took far longer than its usual time (at least 100 µs and
    /// ten times the mean of the other calls of its name).
    Outlier,
}

impl HostBlockCause {
    /// The cause as written in JSON, `pageable_copy`.
    pub fn as_str(self) -> &'static str {
        match self {
            HostBlockCause::PageableCopy => "pageable_copy",
            HostBlockCause::SynchronousCopy => "synchronous_copy",
            HostBlockCause::Synchronize => "synchronize",
            HostBlockCause::EventWait => "event_wait",
            HostBlockCause::LaunchBackpressure => "launch_backpressure",
            HostBlockCause::Outlier => "outlier",
        }
    }
}

/// Host time inside the profiler steps spent in runtime calls that block the CPU.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HostBlockedFacts {
    /// Blocking calls inside steps.
    pub calls: u64,
    /// Their CPU time.
    pub time_us: f64,
    /// Wall time of the steps.
    pub step_time_us: f64,
    /// `time_us` as a share of `step_time_us`.
    pub pct_of_step: f64,
    /// The time by cause, longest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_cause: Vec<HostBlockedByCause>,
    /// The time by where it was issued (cause, call, operator, annotation), longest first (at
    /// most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_site: Vec<HostBlockedSite>,
}

/// Blocked time of one cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HostBlockedByCause {
    /// The cause.
    pub cause: HostBlockCause,
    /// Calls.
    pub calls: u64,
    /// Their CPU time.
    pub time_us: f64,
    /// `time_us` as a share of the steps' wall time.
    pub pct_of_step: f64,
}

/// Blocked time issued from one place: the call, the innermost CPU operator around it
/// (`aten::item`, `aten::copy_`) and the innermost user annotation (`## sparse_data_dist ##`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HostBlockedSite {
    /// The cause.
    pub cause: HostBlockCause,
    /// The runtime call, `cudaMemcpyAsync`.
    pub call: String,
    /// For a copy, its kind, `DtoH (Device -> Pageable)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_kind: Option<String>,
    /// The innermost CPU operator on the same thread around the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    /// The innermost user annotation on the same thread around the call (steps excluded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation: Option<String>,
    /// Calls.
    pub calls: u64,
    /// Their CPU time.
    pub time_us: f64,
    /// `time_us` as a share of the steps' wall time.
    pub pct_of_step: f64,
}

/// GPU copies of one kind, `Memcpy DtoH (Device -> Pageable)`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct MemcpyKindFacts {
    /// `HtoD`, `DtoH`, `DtoD`, `HtoH`, `PtoP`.
    pub direction: String,
    /// Source memory: `Device`, `Pageable`, `Pinned`, `Managed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Destination memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// Whether one side is pageable host memory (the copy blocks the host).
    pub pageable: bool,
    /// Copies.
    pub count: u64,
    /// Bytes copied.
    pub bytes: f64,
    /// GPU time of the copies.
    pub time_us: f64,
    /// Achieved bandwidth, bytes over GPU time, GB/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_gb_per_s: Option<f64>,
}

/// How many launched activities wait or run on one GPU stream over time: a kernel counts from
/// its launch call's start until it ends (HTA's augmented counters).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StreamQueueLength {
    /// The stream number.
    pub stream: i64,
    /// Time-weighted mean queue length over the stream's span (first launch to last end).
    pub mean: f64,
    /// Largest queue length.
    pub max: u64,
    /// Share of the span with at least one activity queued or running.
    pub busy_pct: f64,
    /// Total time of the stream's own activities: the busiest stream is the main one.
    #[serde(default)]
    pub gpu_time_us: f64,
}

/// The idle time of one GPU stream, split by cause, as Holistic Trace Analysis's
/// `get_idle_time_breakdown` defines it.
///
/// On each stream, in start order, the gap between one GPU activity's end and the next one's
/// start is idle time, and it is:
/// - host wait when the runtime call that launched the next activity started after the
///   previous one ended: the GPU waited for the CPU to launch work;
/// - kernel wait when the next activity was already launched and the gap is shorter than
///   30 µs: the cost of starting back-to-back kernels;
/// - other when it was launched and waited longer: on another stream, an event or a
///   collective, or anything else it depended on.
///
/// Times are whole microseconds, starts rounded up and ends down, as HTA rounds them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StreamIdleBreakdown {
    /// The stream number (`args.stream` of the GPU activities).
    pub stream: i64,
    /// Idle time waiting for the host to launch the next activity.
    pub host_wait_us: f64,
    /// Idle time between back-to-back activities already launched (gaps under 30 µs).
    pub kernel_wait_us: f64,
    /// Idle time waiting on something else (another stream, an event, a collective).
    pub other_us: f64,
}

impl StreamIdleBreakdown {
    /// Rows summed over their streams: (host wait, kernel wait, other).
    pub fn sum_by_cause(rows: &[StreamIdleBreakdown]) -> (f64, f64, f64) {
        rows.iter().fold((0.0, 0.0, 0.0), |(h, k, o), r| {
            (h + r.host_wait_us, k + r.kernel_wait_us, o + r.other_us)
        })
    }
}

/// A device from `deviceProperties`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TraceDevice {
    /// Device index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Name as the driver reports it, `Tesla V100-SXM2-32GB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Total memory in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Who made it: `NVIDIA` or `AMD` (from the name and the warp width; `None` when
    /// neither tells).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// CUDA compute capability, `"7.0"` (NVIDIA only: an AMD device's `computeMajor.Minor` is
    /// its GCN/CDNA architecture number, read into `architecture` instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_capability: Option<String>,
    /// Architecture, `Volta`, `AMD CDNA 2 (gfx90a)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// Streaming multiprocessors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sm_count: Option<u64>,
}

/// Where GPU time goes between the first GPU activity and the last.
///
/// As in Holistic Trace Analysis's temporal breakdown: the span is the end of the last GPU
/// activity minus the start of the first; idle is the span minus the union of all GPU
/// activity (kernels, memcpy, memset); compute is the union of computation kernels. What
/// remains is non-compute time, split here into communication (NCCL or Gloo kernels not
/// overlapped by computation) and memory (memcpy and memset overlapped by neither), so
/// that idle + compute + communication + memory = 100 %.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GpuTimeBreakdown {
    /// Span from the first GPU activity's start to the last one's end.
    pub kernel_time_us: f64,
    /// Time no GPU activity runs.
    pub idle_us: f64,
    /// Time at least one computation kernel runs.
    pub compute_us: f64,
    /// Time only communication (and possibly memory) kernels run.
    pub communication_us: f64,
    /// Time only memcpy or memset runs.
    pub memory_us: f64,
    /// `kernel_time_us − compute_us − idle_us`: communication plus memory.
    pub non_compute_us: f64,
    /// `idle_us` as a share of the span.
    pub idle_pct: f64,
    /// `compute_us` as a share of the span.
    pub compute_pct: f64,
    /// `communication_us` as a share of the span.
    pub communication_pct: f64,
    /// `memory_us` as a share of the span.
    pub memory_pct: f64,
    /// `non_compute_us` as a share of the span.
    pub non_compute_pct: f64,
}

/// How kernels were launched.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct KernelLaunchFacts {
    /// GPU kernels in the analyzed window.
    pub kernels: u64,
    /// Kernels matched to their launch call (by correlation id).
    pub matched: u64,
    /// Matched kernels that ran for less time than their launch call took on the CPU.
    pub shorter_than_launch: u64,
    /// `shorter_than_launch` as a share of `matched`.
    #[serde(default)]
    pub shorter_than_launch_pct: f64,
    /// Kernels shorter than `short_kernel_threshold_us`.
    pub short_kernels: u64,
    /// The threshold for a short kernel.
    pub short_kernel_threshold_us: f64,
    /// Total GPU time of the short kernels.
    pub short_kernel_time_us: f64,
    /// Total GPU time of all kernels (not merged: overlapping kernels count twice).
    pub kernel_time_us: f64,
    /// Mean CPU time of a launch call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_call_us_mean: Option<f64>,
    /// Median delay from a launch call's start to its kernel's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_delay_us_p50: Option<f64>,
    /// 95th percentile of that delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_delay_us_p95: Option<f64>,
}

/// Time in the data loader.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DataLoaderFacts {
    /// Wall time inside data-loader calls (`enumerate(DataLoader)#...__next__`) within steps.
    pub time_us: f64,
    /// Wall time of the steps.
    pub step_time_us: f64,
    /// `time_us` as a share of `step_time_us`.
    pub pct_of_step: f64,
    /// Number of data-loader calls.
    pub calls: u64,
}

/// What the steps wait for before their first GPU work: from each step's start to its first
/// runtime call that launches or copies (a kernel, a host-to-device copy of the batch). In a
/// loop `for batch in loader: ...; prof.step()` the fetch of the next batch, whatever
/// produces it (a DataLoader, an iterable dataset, a streaming reader, file I/O), falls there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct InputWaitFacts {
    /// Steps measured (each with GPU work; the last step, outside Holistic Trace Analysis's
    /// window, is left out).
    pub steps: u64,
    /// Wall time of those steps.
    pub step_time_us: f64,
    /// Host time from each step's start to its first GPU call, summed.
    pub wait_us: f64,
    /// The longest of those waits.
    pub max_wait_us: f64,
    /// The part of the waits when no GPU activity ran: what the input cost the steps.
    pub gpu_idle_us: f64,
    /// `gpu_idle_us` as a share of `step_time_us`.
    pub gpu_idle_pct_of_step: f64,
}

/// Communication kernels and their overlap with computation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CommunicationFacts {
    /// Number of communication kernels.
    pub kernels: u64,
    /// Time at least one communication kernel runs.
    pub time_us: f64,
    /// Part of `time_us` during which a computation kernel also runs.
    pub overlapped_us: f64,
    /// `overlapped_us` as a share of `time_us`.
    pub overlap_pct: f64,
    /// Communication time not hidden behind computation, as a share of the GPU span.
    pub exposed_pct_of_kernel_time: f64,
    /// The collective backend (`nccl`) from `distributedInfo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// World size from `distributedInfo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub world_size: Option<u64>,
    /// Bus bandwidth of the collectives whose sizes the trace records (`record_param_comms`),
    /// over their kernels' time, waiting for other ranks included (the NCCL tests' definition:
    /// message bytes times the share each rank sends, per second), GB/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus_bandwidth_gb_per_s: Option<f64>,
}

/// Synchronizing calls on the host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HostSyncFacts {
    /// Synchronizing calls inside profiler steps.
    pub calls_in_steps: u64,
    /// Their CPU time.
    pub time_us: f64,
    /// `time_us` as a share of the steps' wall time.
    pub pct_of_step: f64,
    /// The calls by name with their count, most frequent first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_name: Vec<NamedCount>,
}

/// A name with a count and a time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NamedCount {
    /// The name.
    pub name: String,
    /// How many times.
    pub count: u64,
    /// Total time.
    pub time_us: f64,
}

/// CPU operator statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CpuOpFacts {
    /// CPU operator calls (`cpu_op`).
    pub calls: u64,
    /// Calls shorter than `small_threshold_us`.
    pub small_calls: u64,
    /// The threshold for a small call.
    pub small_threshold_us: f64,
    /// `small_calls` as a share of `calls`.
    #[serde(default)]
    pub small_calls_pct: f64,
    /// Total self time of the small calls.
    pub small_self_time_us: f64,
    /// Total self time of all calls.
    pub self_time_us: f64,
    /// The most frequent small operators.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_small: Vec<NamedCount>,
}

/// Tensor-core use, from kernel names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TensorCoreFacts {
    /// Time of kernels whose names mark tensor-core use.
    pub time_us: f64,
    /// Time of all computation kernels.
    pub compute_kernel_time_us: f64,
    /// `time_us` as a share of `compute_kernel_time_us`.
    pub pct_of_compute: f64,
    /// Architecture the patterns were chosen for (`Volta`), from `deviceProperties`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// The kernel-name fragments (lowercase) that marked tensor-core use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patterns: Vec<String>,
}

/// Peak memory seen in the profiler's `[memory]` events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TraceMemoryFacts {
    /// Peak `Total Allocated` on the GPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_peak_allocated_bytes: Option<u64>,
    /// Peak `Total Reserved` on the GPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_peak_reserved_bytes: Option<u64>,
    /// Peak `Total Allocated` on the CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_peak_allocated_bytes: Option<u64>,
}
