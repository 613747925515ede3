//! Time of one request or step, by the roofline: each phase takes
//! `max(bytes / bandwidth, FLOPs / peak)` at an efficiency, plus what the host spends issuing
//! it (Williams, Waterman and Patterson 2009, "Roofline: an insightful visual performance
//! model for multicore architectures").

use advisor_core::{AttentionKernel, Mode, Precision, WeightFormat};

use crate::{
    memory::{activation_bytes, kv_bytes_per_token},
    weights::WeightSplit,
    workload::{DeviceModel, Workload},
};

/// How close kernels come to the device's peaks, and what the host adds. The model reports a
/// range over these scenarios rather than promising the roofline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Efficiency {
    /// Fraction of peak bandwidth memory-bound kernels reach.
    pub bandwidth: f64,
    /// Fraction of peak FLOP/s matrix-unit (tensor-core, 16-bit and lower) matmuls reach.
    pub compute: f64,
    /// Fraction of peak FLOP/s fp32 vector-unit matmuls reach.
    pub compute_fp32: f64,
    /// Host time to issue one operator, seconds: 0 with CUDA graphs or a compiled graph;
    /// PyTorch eager spends 5–20 µs of CPU per op in dispatch, Python module code and launch
    /// (Hugging Face's eager Llama-2-7B decodes at ~25 tokens/s on an A100 where the weights
    /// allow ~150: PyTorch, "Accelerating Generative AI with PyTorch II: GPT, Fast", 2023).
    pub per_op_seconds: f64,
    /// Fraction of ideal scaling each extra CPU thread adds.
    pub parallel: f64,
    /// Fraction of peak bandwidth the element-wise kernels between the matmuls reach
    /// (many short launches in eager mode come further from the peak than one long copy).
    pub stream: f64,
}

/// The scenarios a range spans: weight and cache reads at 60–90 % of peak bandwidth,
/// element-wise kernels at 30–70 %, tensor-core matmuls at 35–80 % of peak FLOP/s and fp32
/// vector matmuls at 70–90 % (what GEMM kernels reach on transformer shapes: large models near
/// the top, BERT-sized ones near the bottom), eager issue cost 0–10 µs per op, CPU thread
/// scaling 70–100 % efficient, eager issue cost 0–20 µs per operator. [`scenario_text`] says
/// so in every basis.
pub const SCENARIOS: [Efficiency; 4] = [
    Efficiency {
        bandwidth: 0.9,
        compute: 0.8,
        compute_fp32: 0.9,
        per_op_seconds: 0.0,
        parallel: 1.0,
        stream: 0.7,
    },
    Efficiency {
        bandwidth: 0.9,
        compute: 0.5,
        compute_fp32: 0.8,
        per_op_seconds: 5e-6,
        parallel: 0.85,
        stream: 0.5,
    },
    Efficiency {
        bandwidth: 0.6,
        compute: 0.7,
        compute_fp32: 0.9,
        per_op_seconds: 5e-6,
        parallel: 0.85,
        stream: 0.5,
    },
    Efficiency {
        bandwidth: 0.6,
        compute: 0.35,
        compute_fp32: 0.7,
        per_op_seconds: 20e-6,
        parallel: 0.7,
        stream: 0.3,
    },
];

/// Operators per transformer layer in an eager forward: projections, reshapes and
/// transposes, rotary or position terms, the attention matmuls and softmax, norms, the
/// activation, residual adds: 25–40 in PyTorch profiles of Hugging Face models.
const OPS_PER_LAYER: f64 = 30.0;
/// An OpenMP fork/join costs a few µs and grows with the team (Bull, "Measuring
/// Synchronisation and Scheduling Overheads in OpenMP", EWOMP 1999; EPCC microbenchmarks).
const FORK_JOIN_SECONDS: f64 = 2e-6;
const FORK_JOIN_PER_THREAD_SECONDS: f64 = 0.25e-6;

/// Bytes and FLOPs of one phase.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cost {
    /// Operand bytes of the matmuls (weights, KV cache): overlapped with their FLOPs.
    pub bytes: f64,
    /// Bytes of the element-wise and normalization kernels (and eager softmax) that run
    /// between the matmuls: memory-bound, and sequential with them (the Amdahl part).
    pub stream_bytes: f64,
    /// Floating-point (or integer) operations.
    pub flops: f64,
    /// Operators issued.
    pub ops: f64,
    /// Bytes each device sends over its link to the others (tensor parallelism's
    /// all-reduces): sequential with the kernels around them.
    pub link_bytes: f64,
    /// The fixed latency of those all-reduces, seconds.
    pub link_latency_seconds: f64,
}

impl Cost {
    fn scale(self, factor: f64) -> Cost {
        Cost {
            bytes: self.bytes * factor,
            stream_bytes: self.stream_bytes * factor,
            flops: self.flops * factor,
            ops: self.ops * factor,
            link_bytes: self.link_bytes * factor,
            link_latency_seconds: self.link_latency_seconds * factor,
        }
    }
}

/// What bounds a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// Memory bandwidth.
    Memory,
    /// Arithmetic.
    Compute,
    /// The host issuing operators.
    Host,
    /// The link between devices (tensor parallelism's all-reduces).
    Communication,
}

impl Bound {
    /// For people.
    pub fn as_str(self) -> &'static str {
        match self {
            Bound::Memory => "memory-bound",
            Bound::Compute => "compute-bound",
            Bound::Host => "bound by the host issuing operators",
            Bound::Communication => "bound by communication between GPUs",
        }
    }
}

/// The device's rates for a workload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// Bytes per second at 100 % efficiency.
    pub bandwidth: f64,
    /// FLOP/s at 100 % efficiency for the precision matmuls run in.
    pub peak: f64,
    /// The precision that peak is for.
    pub precision: Precision,
    /// Threads (CPU), 1 on a GPU.
    pub threads: f64,
    /// Whether the device is a CPU.
    pub cpu: bool,
    /// Whether fp32 matmuls run as TF32 on tensor cores.
    pub tf32: bool,
    /// Whether the step runs compiled with CUDA graphs.
    pub compiled: bool,
    /// Bytes per second one device sends (or receives) over its link to the others at 100 %
    /// efficiency: half the datasheet's bidirectional figure.
    pub link_bandwidth: f64,
}

/// The rates a workload computes at: on a GPU, integer weight-only formats dequantize to the
/// 16-bit compute precision (int8 TOPS are not int4 TFLOP/s), W8A8 runs at the int8 peak, fp8
/// weights at the fp8 peak where the GPU has one; fp32 uses TF32 tensor cores when allowed.
/// On a CPU, int8 weights run int8 GEMMs (dynamic quantization) where the CPU has
/// int8 dot products, and a type without a fast path runs at the fp32 rate.
pub fn rates(workload: &Workload) -> Rates {
    let s = &workload.settings;
    match &workload.device {
        DeviceModel::Gpu { spec, .. } => {
            let precision = match s.weights {
                WeightFormat::Float(Precision::Fp8) if spec.peak.fp8.is_some() => Precision::Fp8,
                // W8A8 runs the matmuls on the int8 tensor cores; without them it is int8
                // weight-only (dequantized to the compute precision).
                WeightFormat::W8A8 if spec.peak.int8.is_some() => Precision::Int8,
                _ => s.compute,
            };
            let peak = match precision {
                Precision::Fp32 if s.tf32 => spec.peak.tf32.or(spec.peak.fp32),
                // fp8 without fp8 units runs weight-only: fp8 weights dequantized to 16-bit
                // matmuls (vLLM's Marlin W8A16 kernels on Ampere).
                Precision::Fp8 if spec.peak.fp8.is_none() => spec
                    .peak
                    .bf16
                    .or(Some(spec.peak.fp16.unwrap_or(0.0)).filter(|p| *p > 0.0)),
                p => spec.peak.for_precision(p).or(spec.peak.fp32),
            }
            .unwrap_or(1e12);
            Rates {
                bandwidth: spec.memory_bandwidth_bytes_per_second.max(1.0),
                peak,
                precision,
                threads: 1.0,
                cpu: false,
                tf32: s.tf32 && spec.peak.tf32.is_some(),
                compiled: s.compiled,
                // Without a table figure, PCIe 4.0 x16 (32 GB/s each way): what any recent
                // server slot gives.
                link_bandwidth: spec
                    .link_bandwidth_bytes_per_second
                    .filter(|b| b.is_finite() && *b > 0.0)
                    .unwrap_or(64e9)
                    / 2.0,
            }
        }
        DeviceModel::Cpu(cpu) => {
            let cores = u64::from(cpu.cores.unwrap_or(u32::MAX)).max(1);
            // NUMA: Linux places a page on the node of the CPU that first touches it (the
            // kernel's "NUMA Memory Policy" documentation: the default policy allocates
            // locally), and one thread loads the weights, so an unbound process reads them
            // all from one node's memory channels: one node's share of the bandwidth,
            // whatever its threads. A process bound to its node (numactl --cpunodebind=N
            // --membind=N) keeps its own copy there and uses that node's cores; side by side,
            // one per node, they serve `nodes` times the requests.
            // Processes bound one per node imply as many nodes where the hardware does not say.
            let processes = s.numa_processes.max(1);
            let nodes = u64::from(cpu.numa_nodes.unwrap_or(1)).max(processes);
            let threads = if processes > 1 {
                s.threads.max(1).min((cores / processes).max(1))
            } else {
                s.threads.max(1).min(cores)
            } as f64;
            let machine_bandwidth = cpu.machine_bandwidth / nodes as f64;
            let precision = match s.weights {
                WeightFormat::Int8 | WeightFormat::W8A8 if cpu.per_core_peak.int8.is_some() => {
                    Precision::Int8
                }
                _ => s.compute,
            };
            let fp32 = cpu.per_core_peak.fp32.unwrap_or(1e10);
            let per_core = match precision {
                // PyTorch's `quantize_dynamic` runs FBGEMM's int8 GEMMs, which use AVX2 and
                // AVX-512 VNNI (4× the fp32 FMA rate at the same width) but not AMX
                // (pytorch/FBGEMM issue #649); AMX int8 needs oneDNN (IPEX, OpenVINO) or
                // ONNX Runtime 1.14+ (microsoft/onnxruntime PR #14042).
                Precision::Int8 if s.amx_int8 => cpu.per_core_peak.int8,
                Precision::Int8 => cpu.per_core_peak.int8.map(|p| p.min(4.0 * fp32)),
                p => cpu.per_core_peak.for_precision(p),
            }
            .unwrap_or(fp32);
            Rates {
                bandwidth: (threads * cpu.per_thread_bandwidth).min(machine_bandwidth),
                peak: per_core * threads,
                precision,
                threads,
                cpu: true,
                tf32: false,
                compiled: s.compiled,
                link_bandwidth: 0.0,
            }
        }
    }
}

/// Seconds a phase takes in one scenario, and what bounds it.
pub fn seconds(cost: Cost, rates: &Rates, efficiency: &Efficiency) -> (f64, Bound) {
    let memory = cost.bytes / (rates.bandwidth * efficiency.bandwidth);
    let stream = cost.stream_bytes / (rates.bandwidth * efficiency.stream);
    // fp32 runs on the vector units, whose kernels come closer to their (lower) peak than
    // tensor-core kernels do to theirs.
    let compute_efficiency = if rates.precision == Precision::Fp32 && !rates.tf32 {
        efficiency.compute_fp32
    } else {
        efficiency.compute
    };
    let scaling = if rates.cpu && rates.threads > 1.0 {
        1.0 + (rates.threads - 1.0) * efficiency.parallel
    } else {
        rates.threads.max(1.0)
    };
    let compute = cost.flops / (rates.peak / rates.threads.max(1.0) * scaling * compute_efficiency);
    // NCCL's ring all-reduce comes as close to the link's peak as streaming kernels come to
    // memory's.
    let link = if cost.link_bytes > 0.0 && rates.link_bandwidth > 0.0 {
        cost.link_bytes / (rates.link_bandwidth * efficiency.bandwidth) + cost.link_latency_seconds
    } else {
        cost.link_latency_seconds
    };
    let host = if rates.cpu {
        // Eager PyTorch spends the same dispatch and Python module time per operator on a CPU
        // as it does issuing one to a GPU, on the thread that then computes it; a compiled
        // graph (TorchInductor's C++ kernels) does not.
        let issue = if rates.compiled {
            0.0
        } else {
            efficiency.per_op_seconds
        };
        let fork_join = if rates.threads > 1.0 {
            FORK_JOIN_SECONDS + FORK_JOIN_PER_THREAD_SECONDS * rates.threads
        } else {
            0.0
        };
        cost.ops * (issue + fork_join)
    } else if rates.compiled {
        // A CUDA graph replays the step's kernels with one launch: about a µs per kernel.
        cost.ops * efficiency.per_op_seconds.min(1e-6)
    } else {
        cost.ops * efficiency.per_op_seconds
    };
    if rates.cpu {
        // A CPU GEMM library (oneDNN, MKL, OpenBLAS, FBGEMM) copies each panel of the weights
        // into a packed buffer before its micro-kernel runs over it from cache (Goto and van
        // de Geijn 2008, "Anatomy of high-performance matrix multiplication", ACM TOMS 34(3),
        // §6): the weight reads from DRAM and the FMAs come one after the other, not
        // overlapped as on a GPU, so a matmul takes bytes / bandwidth + FLOPs / peak. At one
        // token (decode) the FLOPs are negligible and at thousands the bytes are; in between
        // (a short prompt, an encoder at batch 1) the sum is what a profile shows, and what
        // makes a larger batch pay on a CPU. The fork/join cost adds to the work it
        // synchronizes, and so does the issue cost: the thread that dispatches an operator
        // then runs it.
        let device = memory + compute + stream;
        let bound = if host > device {
            Bound::Host
        } else if memory + stream >= compute {
            Bound::Memory
        } else {
            Bound::Compute
        };
        (device + host, bound)
    } else {
        // The GPU runs while the host issues the next operators: the slower of the two. The
        // all-reduces wait for the matmul before them and hold up the one after.
        let device = memory.max(compute) + stream + link;
        if host > device {
            (host, Bound::Host)
        } else if link > memory.max(compute) + stream {
            (device, Bound::Communication)
        } else if memory + stream >= compute {
            (device, Bound::Memory)
        } else {
            (device, Bound::Compute)
        }
    }
}

/// A forward of `batch` sequences over `new_tokens` tokens each, attending to `context`
/// positions on average and reading `cache_tokens` cached positions per sequence.
pub(crate) fn forward(
    workload: &Workload,
    split: &WeightSplit,
    batch: f64,
    new_tokens: f64,
    mean_context: f64,
    cache_tokens: f64,
) -> Cost {
    let model = &workload.model;
    let s = &workload.settings;
    let layers = model.layers.unwrap_or(0) as f64;
    let hidden = model.hidden_size.unwrap_or(0) as f64;
    let heads = model.attention_heads.unwrap_or(0) as f64;
    let width = model.attention_width().unwrap_or(0) as f64;
    let tokens = batch * new_tokens;
    let act = activation_bytes(s.compute);
    let tp = s.tensor_parallel.max(1) as f64;
    // FLOPs: 2 per parameter a token multiplies with, plus attention's 4 · L · d · context
    // (Kaplan et al. 2020, table 1, with both attention matmuls).
    let attention_layers = if model.has_attention {
        model.layers.unwrap_or(0)
    } else {
        0
    };
    // Sparse tensor cores run a 2:4-sparse matmul at twice the dense rate (Mishra et al.
    // 2021, "Accelerating Sparse Deep Neural Networks", §3; the A100 whitepaper's "up to 2×"):
    // half the Linear layers' FLOPs at the dense peak. The head and attention stay dense.
    let sparse_share = if s.sparse_2_4 && matches!(workload.device, DeviceModel::Gpu { .. }) {
        0.5
    } else {
        1.0
    };
    let flops = advisor_core::formulas::forward_flops_per_token(
        split.matmul_parameters(split.active_body() * sparse_share),
        attention_layers,
        width as u64,
        mean_context,
    ) * tokens;
    let kv = kv_bytes_per_token(workload);
    let cache_read = batch * cache_tokens * kv;
    let cache_write = if model.generates() { tokens * kv } else { 0.0 };
    let scores = match s.attention {
        AttentionKernel::Eager if model.has_attention => {
            // Scores written and read by softmax, which Hugging Face computes in fp32 (4 B
            // out), probabilities cast back and read by the weighted sum: about
            // `2·act + 2·4 + 2·act` bytes per score per layer.
            layers * heads * tokens * mean_context.max(1.0) * (4.0 * act + 8.0)
        }
        _ => 0.0,
    };
    // Element-wise kernels between the matmuls: each of the `34 · tokens · hidden` bytes per
    // layer Korthikanti et al. (2022) count as stored activations at 16-bit is written once
    // and read once, at the run's activation width.
    let activations = 2.0 * 34.0 * layers * tokens * hidden * act / 2.0;
    let quantized_inputs = dynamic_quantization_bytes(workload, split, tokens);
    // torch.compile (Inductor) fuses chains of element-wise operators into one kernel each:
    // about a third of the operators, and half the traffic between them.
    let (ops_per_layer, stream_share) = if s.compiled {
        (OPS_PER_LAYER / 3.0, 0.5)
    } else {
        (OPS_PER_LAYER, 1.0)
    };
    // Tensor parallelism (Megatron-LM's split, Shoeybi et al. 2019, §3) all-reduces the
    // hidden states twice per layer, after attention and after the MLP: `tokens × hidden ×
    // act` bytes each, of which a ring all-reduce sends `2(t − 1)/t` over each device's link
    // (Patarasuk and Yuan 2009). Each is one more kernel to issue.
    // Each also pays NCCL's latency: its tuning model (src/graph/tuning.cc) gives a ring
    // all-reduce in the low-latency protocol a base of 6.6 µs plus 0.6 µs per step over
    // NVLink (1.0 µs over PCIe), and a ring has `2(t − 1)` steps.
    let (link_bytes, all_reduces) = if tp > 1.0 {
        (
            2.0 * layers * tokens * hidden * act * 2.0 * (tp - 1.0) / tp,
            2.0 * layers,
        )
    } else {
        (0.0, 0.0)
    };
    let step_latency = match &workload.device {
        crate::workload::DeviceModel::Gpu { spec, .. }
            if !spec.link.starts_with("PCIe") && !spec.link.is_empty() =>
        {
            0.6e-6
        }
        _ => 1.0e-6,
    };
    let link_latency_seconds = all_reduces * (6.6e-6 + 2.0 * (tp - 1.0) * step_latency);
    Cost {
        bytes: (split.read_bytes(tokens) + cache_read + cache_write) / tp,
        stream_bytes: ((scores + activations) * stream_share + quantized_inputs) / tp,
        flops: flops / tp,
        ops: layers * ops_per_layer + 2.0 + all_reduces,
        link_bytes,
        link_latency_seconds,
    }
}

/// Bytes dynamic quantization adds on a CPU (int8 weights there are PyTorch's
/// `quantize_dynamic`): each `nn.Linear` quantizes its fp32 input at every call, one pass for
/// the range (min/max) and one to write the uint8 copy the int8 GEMM reads (PyTorch,
/// "Dynamic quantization": activations quantized on the fly; FBGEMM's
/// `quantize_dynamic` path). Per layer and token the inputs are q, k, v and the output
/// projection (`hidden` wide each: Hugging Face keeps q, k and v as separate modules), the
/// MLP's up projection (`hidden`) and its down projection (the intermediate width, from the
/// layer's matmul parameters `4·h² + 2·h·i`). 0 elsewhere.
fn dynamic_quantization_bytes(workload: &Workload, split: &WeightSplit, tokens: f64) -> f64 {
    if !matches!(workload.device, DeviceModel::Cpu(_))
        || workload.settings.weights != WeightFormat::Int8
    {
        return 0.0;
    }
    let layers = workload.model.layers.unwrap_or(0) as f64;
    let hidden = workload.model.hidden_size.unwrap_or(0) as f64;
    if layers <= 0.0 || hidden <= 0.0 {
        return 0.0;
    }
    let per_layer = split.active_body() / layers;
    let intermediate = ((per_layer - 4.0 * hidden * hidden) / (2.0 * hidden)).max(hidden);
    let elements = layers * tokens * (5.0 * hidden + intermediate);
    // fp32 read twice, uint8 written once and read once by the GEMM.
    elements * (2.0 * 4.0 + 2.0)
}

/// Seconds per generated token of one speculative decode step at a context of `cached`
/// positions, and what bounds the verification.
///
/// The draft runs `γ` single-token forwards; the target verifies the `γ + 1` tokens of every
/// sequence in one forward of `batch × (γ + 1)` tokens, which reads the weights and the cache
/// once but multiplies `γ + 1` times as many tokens (and, in a mixture of experts, routes them
/// to more experts). The step yields `(1 − α^(γ+1)) / (1 − α)` tokens per sequence (Leviathan
/// et al. 2023, eq. 1). Where decoding is memory-bound the verification costs about one
/// step; as the batch grows it turns compute-bound, costs up to `γ + 1` steps, and the gain
/// goes.
///
/// The draft's step is the target's single-token step scaled to the draft: bytes and FLOPs by
/// its share of the parameters, its cache and its operators by its share of the layers
/// (and width), [`crate::memory::draft_layer_share`].
fn speculative_step(
    workload: &Workload,
    split: &WeightSplit,
    rates: &Rates,
    efficiency: &Efficiency,
    speculation: advisor_core::Speculation,
    cached: f64,
) -> (f64, Bound) {
    let b = workload.settings.batch_size as f64;
    let drafted = speculation.draft_tokens as f64;
    let share = speculation.draft_share.max(0.0);
    let layers = crate::memory::draft_layer_share(share);
    let single = forward(workload, split, b, 1.0, cached, cached);
    // The target's cache reads and writes scale with its layers × width, the weights' with
    // its parameters: split the single-token step's bytes accordingly.
    let cache_bytes = b * (cached + 1.0) * kv_bytes_per_token(workload)
        / workload.settings.tensor_parallel.max(1) as f64;
    let weight_bytes = (single.bytes - cache_bytes).max(0.0);
    let draft = Cost {
        bytes: weight_bytes * share + cache_bytes * layers * layers,
        stream_bytes: single.stream_bytes * layers * layers,
        flops: single.flops * share,
        ops: single.ops * layers,
        link_bytes: single.link_bytes * layers * layers,
        link_latency_seconds: single.link_latency_seconds * layers,
    };
    let (draft_seconds, _) = seconds(draft, rates, efficiency);
    let verify = forward(workload, split, b, drafted + 1.0, cached, cached);
    let (verify_seconds, bound) = seconds(verify, rates, efficiency);
    (
        (drafted * draft_seconds + verify_seconds) / speculation.tokens_per_step(),
        bound,
    )
}

/// Bytes per second one GPU's pipeline sends cross between machines, one direction: one
/// 200 Gb/s HDR InfiniBand adapter per GPU, as NVIDIA's DGX A100 has (eight ConnectX-6 for
/// eight GPUs; DGX A100 user guide). Pipelines put their stage boundaries between machines.
pub const PIPELINE_LINK_BYTES_PER_SECOND: f64 = 25e9;

/// Host memory bandwidth assumed when the hardware does not state the CPU: one socket of
/// eight DDR4-3200 channels (8 × 25.6 GB/s), the A100 and H100 servers' usual host.
pub const ASSUMED_HOST_BANDWIDTH: f64 = 204.8e9;

/// Gradient buckets PyTorch DDP all-reduces as each fills during the backward pass
/// (`bucket_cap_mb=25`; Li et al. 2020, "PyTorch Distributed: Experiences on Accelerating
/// Data Parallel Training", §3.2.3).
pub const DDP_BUCKET_BYTES: f64 = 25.0 * 1024.0 * 1024.0;

/// Bytes per second one GPU moves to or from the host in one direction (its PCIe slot), and
/// the slot's name: the table's link when that is PCIe, else the host interface the
/// datasheets give the SXM and OAM parts (V100 SXM2: PCIe 3.0 x16, 32 GB/s both ways; A100
/// SXM: PCIe 4.0, 64 GB/s; H100 and H200 SXM: PCIe 5.0, 128 GB/s; MI300X: PCIe 5.0 x16,
/// 128 GB/s).
pub fn host_link(spec: &advisor_core::GpuSpec) -> (f64, String) {
    if spec.link.starts_with("PCIe")
        && let Some(bandwidth) = spec
            .link_bandwidth_bytes_per_second
            .filter(|b| b.is_finite() && *b > 0.0)
    {
        return (bandwidth / 2.0, spec.link.clone());
    }
    let (both_ways_gb, name) = match spec.architecture.as_str() {
        "Volta" | "Turing" | "Pascal" => (32.0, "PCIe 3.0 x16"),
        "Hopper" | "Blackwell" | "CDNA 3" => (128.0, "PCIe 5.0 x16"),
        _ => (64.0, "PCIe 4.0 x16"),
    };
    (both_ways_gb * 1e9 / 2.0, name.to_owned())
}

/// NCCL's latency of one ring collective over `devices` devices: its tuning model
/// (src/graph/tuning.cc) gives the low-latency protocol a base of 6.6 µs plus 0.6 µs per
/// ring step over NVLink (1.0 µs over PCIe), `2(n − 1)` steps for an all-reduce.
fn collective_latency_seconds(workload: &Workload, devices: f64) -> f64 {
    let step = match &workload.device {
        DeviceModel::Gpu { spec, .. }
            if !spec.link.starts_with("PCIe") && !spec.link.is_empty() =>
        {
            0.6e-6
        }
        _ => 1.0e-6,
    };
    6.6e-6 + 2.0 * (devices - 1.0).max(0.0) * step
}

/// Gradient bytes per trainable parameter, as the memory model keeps them: 16-bit in mixed
/// precision, fp32 otherwise; LoRA adapters' gradients are fp32.
pub(crate) fn gradient_bytes(workload: &Workload) -> f64 {
    let s = &workload.settings;
    if s.lora_rank > 0 || s.compute.bits() >= 32 {
        4.0
    } else {
        2.0
    }
}

/// Parameters each device trains (before data-parallel sharding): the LoRA adapters, or its
/// tensor- and pipeline-parallel slice of the model.
pub(crate) fn trainable_parameters(workload: &Workload) -> f64 {
    let s = &workload.settings;
    if s.lora_rank > 0 {
        crate::memory::lora_parameters(workload) / s.pipeline_stages.max(1) as f64
    } else {
        workload.model.parameters.unwrap_or(0) as f64
            / s.tensor_parallel.max(1) as f64
            / s.pipeline_stages.max(1) as f64
    }
}

/// The data-parallel synchronization of one optimizer step: seconds on the link in all, and
/// the part of it the compute does not hide.
///
/// Ring collectives send `2(n − 1)/n` of the buffer over each device's link for an
/// all-reduce and `(n − 1)/n` for an all-gather or a reduce-scatter (NCCL's performance
/// notes, nccl-tests `doc/PERFORMANCE.md`: bus bandwidth against algorithm bandwidth;
/// Patarasuk and Yuan 2009).
/// - DDP, ZeRO-1 and ZeRO-2 move one all-reduce's volume of gradients per step (ZeRO-2's
///   reduce-scatter of the gradients and all-gather of the updated weights together:
///   Rajbhandari et al. 2020, §7.2.1), in 25 MiB buckets launched as the backward pass fills
///   them: all but the last bucket hide behind the backward pass of the last micro-step
///   (earlier micro-steps run under `no_sync`).
/// - ZeRO-3 / FSDP all-gathers every layer's weights for its forward and again for its
///   backward at every micro-step and reduce-scatters the gradients once: 1.5× DDP's volume
///   at one micro-step (§7.2.2), prefetched a layer ahead behind the whole forward and
///   backward; the last layer's reduce-scatter is exposed.
fn data_parallel_sync(
    workload: &Workload,
    rates: &Rates,
    efficiency: &Efficiency,
    backward_window: f64,
    compute_window: f64,
) -> (f64, f64) {
    let s = &workload.settings;
    let devices = s.replicas() as f64;
    if devices <= 1.0 || rates.link_bandwidth <= 0.0 {
        return (0.0, 0.0);
    }
    let ring = (devices - 1.0) / devices;
    let trainable = trainable_parameters(workload);
    let gradient_bytes = trainable * gradient_bytes(workload);
    let bandwidth = rates.link_bandwidth * efficiency.bandwidth;
    let latency = collective_latency_seconds(workload, devices);
    let accumulation = s.gradient_accumulation.max(1) as f64;
    let fully_sharded = s.parameter_shards > 1 && s.zero_stage >= 3 && s.lora_rank == 0;
    if fully_sharded {
        let weight_bytes = trainable * activation_bytes(s.compute);
        let layers = (workload.model.layers.unwrap_or(1).max(1) as f64
            / s.pipeline_stages.max(1) as f64)
            .max(1.0);
        let gathers = accumulation * 2.0 * ring * weight_bytes / bandwidth
            + accumulation * 2.0 * layers * latency;
        let scatter = ring * gradient_bytes / bandwidth + layers * latency;
        let total = gathers + scatter;
        let exposed = (total - compute_window).max(scatter / layers);
        (total, exposed)
    } else {
        let buckets = (gradient_bytes / DDP_BUCKET_BYTES).ceil().max(1.0);
        let total = 2.0 * ring * gradient_bytes / bandwidth + buckets * latency;
        let last_bucket = total / buckets;
        let exposed = (total - backward_window).max(last_bucket);
        (total, exposed)
    }
}

/// One optimizer step of training in one scenario.
///
/// Forward, backward (twice the forward's FLOPs and weight traffic: input and weight
/// gradients; with frozen LoRA base weights only the input gradients, once) and, with
/// checkpointing, one more forward, for each micro-step of `batch_size` sequences; then the
/// gradient synchronization the compute does not hide, and the optimizer update (on the GPU,
/// or offloaded to the CPU).
///
/// A pipeline of `p` stages over `m` micro-batches runs `m + p − 1` slots of one micro-batch
/// through one stage (`1/p` of the layers): the bubble is `(p − 1)/(m + p − 1)` of the step
/// under GPipe (Huang et al. 2019, "GPipe", §2.2) and 1F1B alike (Narayanan et al. 2021,
/// §2.2.1: 1F1B keeps the bubble and bounds the activations in flight); each slot also sends
/// a micro-batch's activations forward and their gradients back between stages.
fn training(
    workload: &Workload,
    split: &WeightSplit,
    rates: &Rates,
    efficiency: &Efficiency,
) -> Times {
    let s = &workload.settings;
    let model = &workload.model;
    let run = |cost: Cost| seconds(cost, rates, efficiency);
    let prompt = s.prompt_tokens.max(1) as f64;
    let context = if model.generates() {
        causal_context(workload, prompt)
    } else {
        prompt
    };
    let stages = s.pipeline_stages.max(1) as f64;
    let micro_batches = s.micro_batches.max(1) as f64;
    let micro_batch = s.batch_size as f64 / micro_batches;
    let forward = forward(workload, split, micro_batch, prompt, context, 0.0).scale(1.0 / stages);
    let backward = if s.lora_rank > 0 { 1.0 } else { 2.0 };
    let passes = 1.0 + backward + if s.gradient_checkpointing { 1.0 } else { 0.0 };
    // The backward all-reduces the input gradients twice per layer, as the forward does its
    // outputs; weight gradients need none.
    let mut passes_cost = forward.scale(passes);
    let all_reduce_passes = 2.0 + if s.gradient_checkpointing { 1.0 } else { 0.0 };
    passes_cost.link_bytes = forward.link_bytes * all_reduce_passes;
    passes_cost.link_latency_seconds = forward.link_latency_seconds * all_reduce_passes;
    let (slot, bound) = run(passes_cost);
    let slots = micro_batches + stages - 1.0;
    let boundary_bytes = if stages > 1.0 {
        micro_batch * prompt * model.hidden_size.unwrap_or(0) as f64 * activation_bytes(s.compute)
    } else {
        0.0
    };
    let point_to_point =
        slots * 2.0 * boundary_bytes / (PIPELINE_LINK_BYTES_PER_SECOND * efficiency.bandwidth);
    let micro_step = slots * slot + point_to_point;
    let accumulation = s.gradient_accumulation.max(1) as f64;
    let compute = accumulation * micro_step;
    let backward_window = micro_step * (passes - 1.0) / passes;
    let (sync, exposed_sync) =
        data_parallel_sync(workload, rates, efficiency, backward_window, compute);
    let bubble = accumulation * (stages - 1.0) * slot;
    // Each device updates the optimizer state it holds: its shard from ZeRO stage 1 on.
    let shards = if s.parameter_shards > 1 && s.zero_stage >= 1 {
        s.parameter_shards as f64
    } else {
        1.0
    };
    let updated = trainable_parameters(workload) / shards;
    let update = if s.cpu_offload {
        offloaded_update(workload, efficiency, updated, backward_window)
    } else {
        // The update's traffic as one fused kernel makes it (`optimizer.rs`).
        let optimizer_bytes_per_parameter = crate::optimizer::optimizer_step_bytes_per_parameter(
            s.optimizer,
            advisor_core::OptimizerImplementation::Fused,
        )
        .unwrap_or(28.0);
        run(Cost {
            bytes: 0.0,
            stream_bytes: updated * optimizer_bytes_per_parameter,
            flops: updated * 10.0,
            ops: 4.0,
            link_bytes: 0.0,
            link_latency_seconds: 0.0,
        })
        .0
    };
    let step = compute + exposed_sync + update;
    let bound = if exposed_sync + point_to_point > compute - point_to_point {
        Bound::Communication
    } else {
        bound
    };
    Times {
        request_seconds: step,
        per_sample_seconds: step / s.samples_per_step() as f64,
        first_token_seconds: 0.0,
        per_token_seconds: 0.0,
        bound,
        first_token_bound: bound,
        sync_seconds: sync,
        exposed_sync_seconds: exposed_sync,
        bubble_seconds: bubble,
    }
}

/// An optimizer update offloaded to the host (ZeRO-Offload, Ren et al. 2021, §4): the
/// gradients go down over PCIe as the backward pass produces them (hidden behind it where it
/// is long enough), the CPU runs Adam over the fp32 master weights and moments (DeepSpeed's
/// vectorized CPU Adam streams 28 B per parameter, as a fused update does: the parameter,
/// gradient and both moments read, the parameter and moments written), and the updated
/// 16-bit weights come back up before the next forward.
fn offloaded_update(
    workload: &Workload,
    efficiency: &Efficiency,
    parameters: f64,
    backward_window: f64,
) -> f64 {
    let pcie = match &workload.device {
        DeviceModel::Gpu { spec, .. } => host_link(spec).0,
        DeviceModel::Cpu(_) => return 0.0,
    } * efficiency.bandwidth;
    let host_bandwidth = workload
        .host
        .as_ref()
        .map(|cpu| cpu.machine_bandwidth)
        .filter(|b| b.is_finite() && *b > 0.0)
        .unwrap_or(ASSUMED_HOST_BANDWIDTH)
        * efficiency.bandwidth;
    let down = parameters * gradient_bytes(workload) / pcie;
    let update = parameters * 28.0 / host_bandwidth;
    let up = parameters * activation_bytes(workload.settings.compute) / pcie;
    (down - backward_window).max(0.0) + update + up
}

/// Mean positions a token of a causal prefix of `tokens` attends to.
fn causal_context(workload: &Workload, tokens: f64) -> f64 {
    advisor_core::formulas::causal_mean_context(
        tokens,
        workload.settings.sliding_window.map(|w| w as f64),
    )
}

/// Time figures of one scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Times {
    /// A whole request (prefill and generation) or one training step.
    pub request_seconds: f64,
    /// Request time per sequence: the cost of throughput.
    pub per_sample_seconds: f64,
    /// Time to the first token (the prefill), for generation.
    pub first_token_seconds: f64,
    /// Mean time per generated token, for generation.
    pub per_token_seconds: f64,
    /// What bounds the dominant phase.
    pub bound: Bound,
    /// What bounds the prefill (the first token), for generation.
    pub first_token_bound: Bound,
    /// Training: seconds the data-parallel synchronization of one optimizer step spends on
    /// the link in all (gradient all-reduce, or ZeRO-3's all-gathers and reduce-scatter).
    pub sync_seconds: f64,
    /// Training: the part of `sync_seconds` the compute does not hide.
    pub exposed_sync_seconds: f64,
    /// Training: seconds a pipeline stage idles per optimizer step, its bubble.
    pub bubble_seconds: f64,
}

/// Segments the generation sum is integrated over: the per-step cost is piecewise linear in
/// the context, so 64 midpoint segments are exact to well under 1 %.
const SEGMENTS: u64 = 64;

/// The times of a workload in one scenario.
pub fn times(workload: &Workload, efficiency: &Efficiency) -> Times {
    let s = &workload.settings;
    let model = &workload.model;
    let split = WeightSplit::of(workload);
    let rates = rates(workload);
    let b = s.batch_size as f64;
    let prompt = s.prompt_tokens.max(1) as f64;
    let run = |cost: Cost| seconds(cost, &rates, efficiency);
    match s.mode {
        Mode::Training => training(workload, &split, &rates, efficiency),
        Mode::Inference if model.generates() && s.generated_tokens > 0 => {
            let generated = s.generated_tokens as f64;
            let (prefill, first_token_bound) = run(forward(
                workload,
                &split,
                b,
                prompt,
                causal_context(workload, prompt),
                0.0,
            ));
            let segments = SEGMENTS.min(s.generated_tokens).max(1);
            let per_segment = generated / segments as f64;
            let mut decode = 0.0;
            let mut bound_time = (0.0, 0.0, 0.0, 0.0);
            for k in 0..segments {
                // Midpoint of this segment's contexts.
                let position = prompt + (k as f64 + 0.5) * per_segment;
                let (step, bound) = if s.kv_cache {
                    let cached = match s.sliding_window {
                        Some(w) => position.min(w as f64),
                        None => position,
                    };
                    match s.speculation {
                        Some(speculation) => speculative_step(
                            workload,
                            &split,
                            &rates,
                            efficiency,
                            speculation,
                            cached,
                        ),
                        None => run(forward(workload, &split, b, 1.0, cached, cached)),
                    }
                } else {
                    // No cache: the whole prefix runs again in one batched forward.
                    run(forward(
                        workload,
                        &split,
                        b,
                        position,
                        causal_context(workload, position),
                        0.0,
                    ))
                };
                decode += step * per_segment;
                match bound {
                    Bound::Memory => bound_time.0 += step,
                    Bound::Compute => bound_time.1 += step,
                    Bound::Host => bound_time.2 += step,
                    Bound::Communication => bound_time.3 += step,
                }
            }
            let largest = bound_time
                .0
                .max(bound_time.1)
                .max(bound_time.2)
                .max(bound_time.3);
            let bound = if bound_time.0 >= largest {
                Bound::Memory
            } else if bound_time.1 >= largest {
                Bound::Compute
            } else if bound_time.2 >= largest {
                Bound::Host
            } else {
                Bound::Communication
            };
            let request = prefill + decode;
            // With continuous batching (iteration-level scheduling: Yu et al., "Orca", OSDI
            // 2022; vLLM, Kwon et al., SOSP 2023) a request's prefill is scheduled when it
            // arrives, alone, and joins the running batch's next decode step: its first token
            // waits for its own prompt and one step, not for a whole batch of prompts. The
            // batch's throughput is the static batch's: every prompt is still prefilled once.
            let first_token = if s.paged_kv_cache && b > 1.0 {
                let (alone, _) = run(forward(
                    workload,
                    &split,
                    1.0,
                    prompt,
                    causal_context(workload, prompt),
                    0.0,
                ));
                (alone + decode / generated).min(prefill)
            } else {
                prefill
            };
            Times {
                request_seconds: request,
                per_sample_seconds: request / s.samples_per_step() as f64,
                first_token_seconds: first_token,
                per_token_seconds: decode / generated,
                bound,
                first_token_bound,
                sync_seconds: 0.0,
                exposed_sync_seconds: 0.0,
                bubble_seconds: 0.0,
            }
        }
        Mode::Inference => {
            let context = if model.generates() {
                causal_context(workload, prompt)
            } else {
                prompt
            };
            let (request, bound) = run(forward(workload, &split, b, prompt, context, 0.0));
            Times {
                request_seconds: request,
                per_sample_seconds: request / s.samples_per_step() as f64,
                first_token_seconds: request,
                per_token_seconds: 0.0,
                bound,
                first_token_bound: bound,
                sync_seconds: 0.0,
                exposed_sync_seconds: 0.0,
                bubble_seconds: 0.0,
            }
        }
    }
}

/// Bytes each device sends over its link for the data-parallel synchronization of one
/// optimizer step ([`data_parallel_sync`]'s volume): `2(n − 1)/n` of the gradients for an
/// all-reduce (DDP, ZeRO-1, ZeRO-2), or ZeRO-3's two all-gathers of the weights per micro-step
/// and one reduce-scatter of the gradients.
pub fn sync_bytes_per_device(workload: &Workload) -> f64 {
    let s = &workload.settings;
    let devices = s.replicas() as f64;
    if devices <= 1.0 {
        return 0.0;
    }
    let ring = (devices - 1.0) / devices;
    let trainable = trainable_parameters(workload);
    let gradients = trainable * gradient_bytes(workload);
    if s.parameter_shards > 1 && s.zero_stage >= 3 && s.lora_rank == 0 {
        s.gradient_accumulation.max(1) as f64 * 2.0 * ring * trainable * activation_bytes(s.compute)
            + ring * gradients
    } else {
        2.0 * ring * gradients
    }
}

/// The scenarios' efficiencies for people, for every time basis.
pub fn scenario_text() -> String {
    let range = |values: &mut dyn Iterator<Item = f64>| {
        let values: Vec<f64> = values.collect();
        let low = values.iter().copied().fold(f64::INFINITY, f64::min);
        let high = values.iter().copied().fold(0.0, f64::max);
        format!("{:.0}–{:.0} %", low * 100.0, high * 100.0)
    };
    format!(
        "range over kernel efficiency (weight reads {} of peak bandwidth, element-wise kernels {}, tensor-core matmuls {} of peak FLOP/s, fp32 matmuls {}) and host overhead (0–{:.0} µs per operator)",
        range(&mut SCENARIOS.iter().map(|e| e.bandwidth)),
        range(&mut SCENARIOS.iter().map(|e| e.stream)),
        range(&mut SCENARIOS.iter().map(|e| e.compute)),
        range(&mut SCENARIOS.iter().map(|e| e.compute_fp32)),
        SCENARIOS
            .iter()
            .map(|e| e.per_op_seconds)
            .fold(0.0, f64::max)
            * 1e6,
    )
}
