//! Changes a suggestion proposes, and the run settings they change.
//!
//! A suggestion is a change to the run ([`Change`]); its expected improvement is the
//! performance model run on the [`RunSettings`] before and after. Claims that come only from a
//! trace take from named pools of slack ([`SlackClaim`]) instead.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::{Mode, Precision};

/// How the weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum WeightFormat {
    /// Floating point at the compute precision (fp32, fp16, bf16) or fp8.
    Float(Precision),
    /// int8 weights with a per-channel scale, dequantized to 16-bit for the matmul
    /// (torchao `int8_weight_only`, bitsandbytes LLM.int8, dynamic int8 on a CPU).
    Int8,
    /// int4 weights in groups of 128 with a 16-bit scale and zero point (GPTQ, AWQ).
    Int4,
    /// int8 weights *and* activations (W8A8): the Linear layers' matmuls run on int8 tensor
    /// cores or int8 dot products, with the activations' outliers migrated into the weights
    /// first (SmoothQuant, Xiao et al. 2023); the embedding, the head and attention stay
    /// 16-bit (vLLM's and llm-compressor's int8 W8A8 schemes).
    #[serde(rename = "w8a8")]
    W8A8,
}

impl WeightFormat {
    /// Bits per weight, counting quantization scales: int4 in groups of 128 with a 16-bit
    /// scale and zero point is `4 + 32/128 = 4.25` bits (Frantar et al. 2022, GPTQ; Lin et
    /// al. 2023, AWQ); int8 per output channel (and W8A8) adds a negligible scale per row.
    pub fn bits_per_weight(self) -> f64 {
        match self {
            WeightFormat::Float(precision) => f64::from(precision.bits()),
            WeightFormat::Int8 | WeightFormat::W8A8 => 8.0,
            WeightFormat::Int4 => 4.25,
        }
    }

    /// The name people use: `bf16`, `int8`, `int4`, `w8a8`.
    pub fn as_str(self) -> &'static str {
        match self {
            WeightFormat::Float(precision) => precision.as_str(),
            WeightFormat::Int8 => "int8",
            WeightFormat::Int4 => "int4",
            WeightFormat::W8A8 => "w8a8",
        }
    }

    /// Whether the weights are integer-quantized.
    pub fn is_integer(self) -> bool {
        matches!(
            self,
            WeightFormat::Int8 | WeightFormat::Int4 | WeightFormat::W8A8
        )
    }
}

impl fmt::Display for WeightFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How attention is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum AttentionKernel {
    /// The score matrix is written to memory and read back (eager attention).
    Eager,
    /// A fused kernel that never materializes the scores (FlashAttention, SDPA's flash or
    /// memory-efficient kernels).
    Fused,
}

/// The optimizer a training run uses, as far as its state memory goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// AdamW with fp32 moments (and fp32 master weights in mixed precision).
    AdamW,
    /// 8-bit Adam (bitsandbytes): moments in 8 bits (Dettmers et al. 2021).
    Adam8bit,
    /// Plain SGD with momentum: one fp32 buffer per parameter.
    SgdMomentum,
}

impl OptimizerKind {
    /// The name Hugging Face's `TrainingArguments(optim=...)` gives it: `adamw_torch`,
    /// `adamw_bnb_8bit`, `sgd`.
    pub fn as_str(self) -> &'static str {
        match self {
            OptimizerKind::AdamW => "adamw_torch",
            OptimizerKind::Adam8bit => "adamw_bnb_8bit",
            OptimizerKind::SgdMomentum => "sgd",
        }
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The settings of the run the performance model simulates: every value known, each either
/// given or a stated assumption (the resolved facts say which).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunSettings {
    /// Inference or training.
    pub mode: Mode,
    /// Sequences per step.
    pub batch_size: u64,
    /// Prompt tokens per sequence (the whole sequence for an encoder or a training step).
    pub prompt_tokens: u64,
    /// Tokens generated per sequence (0 for encoders and training).
    pub generated_tokens: u64,
    /// The precision matmuls compute in.
    pub compute: Precision,
    /// fp32 matmuls on tensor cores as TF32 (`torch.set_float32_matmul_precision("high")`).
    pub tf32: bool,
    /// How the weights are stored.
    pub weights: WeightFormat,
    /// The KV cache's element type.
    pub kv_cache_dtype: Precision,
    /// Whether generation keeps a KV cache.
    pub kv_cache: bool,
    /// How attention is computed.
    pub attention: AttentionKernel,
    /// Activation (gradient) checkpointing in training.
    pub gradient_checkpointing: bool,
    /// Intra-op threads on a CPU.
    pub threads: u64,
    /// The optimizer, in training.
    pub optimizer: OptimizerKind,
    /// Devices the weights are split across by tensor parallelism.
    pub tensor_parallel: u64,
    /// LoRA adapter rank in training (0: every weight is trained). The base weights are
    /// frozen at their stored format (int4 for QLoRA).
    #[serde(default)]
    pub lora_rank: u64,
    /// Sliding-window attention span: each token attends to at most this many positions
    /// (the model's own window, or one a change introduces).
    #[serde(default)]
    pub sliding_window: Option<u64>,
    /// Devices the weights, gradients and optimizer state are sharded across in training
    /// (FSDP, ZeRO-3), each keeping its own batch.
    #[serde(default = "one")]
    pub parameter_shards: u64,
    /// torch.compile with CUDA graphs: fused element-wise kernels and a graph replay instead
    /// of one host launch per operator.
    #[serde(default)]
    pub compiled: bool,
    /// A paged KV cache with continuous batching (vLLM, TGI, TensorRT-LLM, SGLang): each
    /// sequence holds cache blocks for the tokens it has, not the batch's full length.
    #[serde(default)]
    pub paged_kv_cache: bool,
    /// Speculative decoding with a draft model, in generation.
    #[serde(default)]
    pub speculation: Option<Speculation>,
    /// Data-parallel replicas in training, each with its own batch, that average their
    /// gradients every optimizer step (DDP, or the group FSDP and ZeRO shard over).
    #[serde(default = "one")]
    pub data_parallel: u64,
    /// What `parameter_shards` shards, as ZeRO's stages name it (Rajbhandari et al. 2020):
    /// 1 the optimizer state, 2 also the gradients, 3 also the weights (FSDP's `FULL_SHARD`).
    #[serde(default = "three")]
    pub zero_stage: u8,
    /// The optimizer state (with the fp32 master weights) and its update kept on the host
    /// CPU (ZeRO-Offload, Ren et al. 2021): gradients go down and updated weights come back
    /// over PCIe every optimizer step.
    #[serde(default)]
    pub cpu_offload: bool,
    /// Micro-steps of `batch_size` sequences whose gradients are summed before one optimizer
    /// step (and one gradient synchronization).
    #[serde(default = "one")]
    pub gradient_accumulation: u64,
    /// Pipeline stages in training: consecutive groups of layers on different devices.
    #[serde(default = "one")]
    pub pipeline_stages: u64,
    /// Micro-batches a pipeline splits each batch into.
    #[serde(default = "one")]
    pub micro_batches: u64,
    /// The transformer blocks kept, when fewer than the model's (a distilled student or a
    /// model with layers dropped, same width): the model is simulated with that depth.
    #[serde(default)]
    pub kept_layers: Option<u64>,
    /// 2:4 structured sparsity of the Linear layers' weights on sparse tensor cores (NVIDIA
    /// Ampere and newer): two of every four weights are zero, stored compressed.
    #[serde(default)]
    pub sparse_2_4: bool,
    /// On a CPU, int8 matmuls run through kernels that use AMX where the CPU has it (oneDNN in
    /// Intel Extension for PyTorch and OpenVINO, MLAS in ONNX Runtime 1.14+), not PyTorch's
    /// FBGEMM, which stops at AVX512-VNNI.
    #[serde(default)]
    pub amx_int8: bool,
    /// On a CPU, processes serving the run side by side, each bound to its own NUMA node
    /// (`numactl --cpunodebind=N --membind=N`) with its own copy of the weights.
    #[serde(default = "one")]
    pub numa_processes: u64,
}

fn one() -> u64 {
    1
}

fn three() -> u8 {
    3
}

impl RunSettings {
    /// Data-parallel replicas: the larger of the data-parallel degree and the sharding degree
    /// (FSDP and ZeRO shard over data-parallel ranks, each keeping its own batch); 1 in
    /// inference.
    pub fn replicas(&self) -> u64 {
        match self.mode {
            Mode::Training => self.data_parallel.max(self.parameter_shards).max(1),
            Mode::Inference => 1,
        }
    }

    /// Sequences one optimizer step (training) or one request (inference) processes, over
    /// every replica: `batch × gradient accumulation × replicas` in training.
    pub fn samples_per_step(&self) -> u64 {
        match self.mode {
            Mode::Training => self
                .batch_size
                .max(1)
                .saturating_mul(self.gradient_accumulation.max(1))
                .saturating_mul(self.replicas()),
            Mode::Inference => self
                .batch_size
                .max(1)
                .saturating_mul(self.numa_processes.max(1)),
        }
    }
}

/// Sharding of training state over data-parallel devices: a ZeRO stage and the devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Sharding {
    /// 1: optimizer state (ZeRO-1); 2: and gradients (ZeRO-2, FSDP `SHARD_GRAD_OP`); 3: and
    /// weights (ZeRO-3, FSDP `FULL_SHARD`).
    pub stage: u8,
    /// Devices the state is sharded over, each keeping its own batch.
    pub devices: u64,
}

/// A training pipeline: stages and the micro-batches each batch is split into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Pipeline {
    /// Stages (devices in the pipeline).
    pub stages: u64,
    /// Micro-batches per batch.
    pub micro_batches: u64,
}

/// Speculative decoding: a small draft model proposes tokens and the target verifies them in
/// one forward (Leviathan, Kalman and Matias 2023, "Fast Inference from Transformers via
/// Speculative Decoding"; Chen et al. 2023, "Accelerating Large Language Model Decoding with
/// Speculative Sampling").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Speculation {
    /// Tokens the draft proposes per verification step (γ).
    pub draft_tokens: u64,
    /// The draft's parameters as a fraction of the target's (same family and tokenizer).
    pub draft_share: f64,
    /// The probability that the target accepts each drafted token (α).
    pub acceptance: f64,
}

impl Speculation {
    /// Expected tokens one verification step yields per sequence, the accepted drafts plus the
    /// target's own token: `(1 − α^(γ+1)) / (1 − α)` (Leviathan et al. 2023, eq. 1), `γ + 1`
    /// when every draft is accepted.
    pub fn tokens_per_step(self) -> f64 {
        let alpha = self.acceptance.clamp(0.0, 1.0);
        let steps = self.draft_tokens as f64 + 1.0;
        if alpha >= 1.0 - 1e-9 {
            steps
        } else {
            (1.0 - alpha.powf(steps)) / (1.0 - alpha)
        }
    }
}

/// One change to the run a suggestion proposes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "set", content = "to", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Change {
    /// Sequences per step.
    BatchSize(u64),
    /// Total tokens per sequence (prompt plus generated, split in the same proportion).
    SequenceLength(u64),
    /// Compute precision (weights follow when they are stored in floating point).
    Precision(Precision),
    /// fp32 matmuls as TF32.
    Tf32(bool),
    /// Weight storage format.
    Weights(WeightFormat),
    /// KV-cache element type.
    KvCacheDtype(Precision),
    /// KV cache on or off.
    KvCache(bool),
    /// Attention kernel.
    Attention(AttentionKernel),
    /// Activation checkpointing.
    GradientCheckpointing(bool),
    /// Intra-op threads.
    Threads(u64),
    /// Optimizer.
    Optimizer(OptimizerKind),
    /// Tensor-parallel degree.
    TensorParallel(u64),
    /// Train LoRA adapters of this rank on frozen base weights (0 turns it off).
    Lora(u64),
    /// Attend to at most this many positions (a sliding window; needs training with it).
    SlidingWindow(u64),
    /// Shard weights, gradients and optimizer state over this many devices (FSDP, ZeRO-3).
    ShardParameters(u64),
    /// torch.compile with CUDA graphs on or off.
    Compile(bool),
    /// A serving engine's paged KV cache with continuous batching on or off.
    PagedKvCache(bool),
    /// Speculative decoding with a draft model.
    Speculate(Speculation),
    /// Shard training state over data-parallel devices at a ZeRO stage (conflicts with
    /// [`Change::ShardParameters`], which is stage 3).
    Shard(Sharding),
    /// Data-parallel replicas in training (DDP).
    DataParallel(u64),
    /// Optimizer state and update on the host CPU (ZeRO-Offload).
    CpuOffload(bool),
    /// Micro-steps per optimizer step.
    GradientAccumulation(u64),
    /// Pipeline parallelism in training.
    PipelineParallel(Pipeline),
    /// Keep this many transformer blocks (a distilled student, layers dropped).
    KeepLayers(u64),
    /// 2:4 structured sparsity of the Linear weights on or off.
    Sparse24(bool),
    /// CPU int8 matmuls through AMX-capable kernels (oneDNN, OpenVINO, ONNX Runtime) or not.
    AmxInt8(bool),
    /// One process per NUMA node, each bound to it, on a CPU.
    NumaProcesses(u64),
}

impl Change {
    /// Applies the change to run settings.
    pub fn apply(self, settings: &mut RunSettings) {
        match self {
            Change::BatchSize(batch) => settings.batch_size = batch.max(1),
            Change::SequenceLength(total) => {
                let total = total.max(1);
                let old = (settings.prompt_tokens + settings.generated_tokens).max(1);
                let generated =
                    (settings.generated_tokens as u128 * total as u128 / old as u128) as u64;
                settings.generated_tokens = generated.min(total.saturating_sub(1));
                settings.prompt_tokens = total - settings.generated_tokens;
            }
            Change::Precision(precision) => {
                settings.compute = precision;
                if let WeightFormat::Float(_) = settings.weights {
                    settings.weights = WeightFormat::Float(precision);
                }
                // A 16- or 32-bit cache follows the compute precision; a quantized one (fp8,
                // int8) was chosen on its own and stays.
                if settings.kv_cache_dtype.bits() >= 16 && precision.bits() >= 16 {
                    settings.kv_cache_dtype = precision;
                }
            }
            Change::Tf32(on) => settings.tf32 = on,
            Change::Weights(format) => settings.weights = format,
            Change::KvCacheDtype(dtype) => settings.kv_cache_dtype = dtype,
            Change::KvCache(on) => settings.kv_cache = on,
            Change::Attention(kernel) => settings.attention = kernel,
            Change::GradientCheckpointing(on) => settings.gradient_checkpointing = on,
            Change::Threads(threads) => settings.threads = threads.max(1),
            Change::Optimizer(optimizer) => settings.optimizer = optimizer,
            Change::TensorParallel(degree) => settings.tensor_parallel = degree.max(1),
            Change::Lora(rank) => settings.lora_rank = rank,
            Change::ShardParameters(shards) => {
                settings.parameter_shards = shards.max(1);
                settings.zero_stage = 3;
            }
            Change::Shard(sharding) => {
                settings.parameter_shards = sharding.devices.max(1);
                settings.zero_stage = sharding.stage.clamp(1, 3);
            }
            Change::DataParallel(replicas) => settings.data_parallel = replicas.max(1),
            Change::CpuOffload(on) => settings.cpu_offload = on,
            Change::GradientAccumulation(steps) => settings.gradient_accumulation = steps.max(1),
            Change::PipelineParallel(pipeline) => {
                settings.pipeline_stages = pipeline.stages.max(1);
                settings.micro_batches = pipeline.micro_batches.max(1);
            }
            Change::KeepLayers(layers) => settings.kept_layers = Some(layers.max(1)),
            Change::Sparse24(on) => settings.sparse_2_4 = on,
            Change::AmxInt8(on) => settings.amx_int8 = on,
            Change::NumaProcesses(n) => settings.numa_processes = n.max(1),
            Change::Compile(on) => settings.compiled = on,
            Change::PagedKvCache(on) => settings.paged_kv_cache = on,
            Change::Speculate(speculation) => settings.speculation = Some(speculation),
            Change::SlidingWindow(window) => {
                let window = window.max(1);
                settings.sliding_window =
                    Some(settings.sliding_window.map_or(window, |w| w.min(window)));
            }
        }
    }

    /// Which setting it changes: two changes of one key conflict.
    pub fn key(self) -> &'static str {
        match self {
            Change::BatchSize(_) => "batch_size",
            Change::SequenceLength(_) => "seq_len",
            Change::Precision(_) => "precision",
            Change::Tf32(_) => "tf32",
            Change::Weights(_) => "weights",
            Change::KvCacheDtype(_) => "kv_cache_dtype",
            Change::KvCache(_) => "kv_cache",
            Change::Attention(_) => "attention",
            Change::GradientCheckpointing(_) => "gradient_checkpointing",
            Change::Threads(_) => "num_threads",
            Change::Optimizer(_) => "optimizer",
            Change::TensorParallel(_) => "tensor_parallel",
            Change::Lora(_) => "lora",
            Change::SlidingWindow(_) => "sliding_window",
            Change::ShardParameters(_) | Change::Shard(_) => "parameter_shards",
            Change::DataParallel(_) => "data_parallel",
            Change::CpuOffload(_) => "cpu_offload",
            Change::GradientAccumulation(_) => "gradient_accumulation",
            Change::PipelineParallel(_) => "pipeline_parallel",
            Change::KeepLayers(_) => "layers",
            Change::Sparse24(_) => "sparsity",
            Change::AmxInt8(_) => "cpu_int8_kernels",
            Change::NumaProcesses(_) => "numa_processes",
            Change::Compile(_) => "compile",
            Change::PagedKvCache(_) => "paged_kv_cache",
            Change::Speculate(_) => "speculative_decoding",
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::BatchSize(b) => write!(f, "batch size {b}"),
            Change::SequenceLength(s) => write!(f, "sequence length {s}"),
            Change::Precision(p) => write!(f, "compute in {p}"),
            Change::Tf32(on) => write!(f, "TF32 matmuls {}", on_off(*on)),
            Change::Weights(WeightFormat::W8A8) => {
                f.write_str("int8 weights and activations (W8A8)")
            }
            Change::Weights(w) => write!(f, "{w} weights"),
            Change::KvCacheDtype(p) => write!(f, "{p} KV cache"),
            Change::KvCache(on) => write!(f, "KV cache {}", on_off(*on)),
            Change::Attention(AttentionKernel::Fused) => f.write_str("fused (flash) attention"),
            Change::Attention(AttentionKernel::Eager) => f.write_str("eager attention"),
            Change::GradientCheckpointing(on) => {
                write!(f, "activation checkpointing {}", on_off(*on))
            }
            Change::Threads(t) => write!(f, "{t} threads"),
            Change::Optimizer(OptimizerKind::AdamW) => f.write_str("AdamW"),
            Change::Optimizer(OptimizerKind::Adam8bit) => f.write_str("8-bit Adam"),
            Change::Optimizer(OptimizerKind::SgdMomentum) => f.write_str("SGD with momentum"),
            Change::TensorParallel(d) => write!(f, "tensor parallelism over {d} devices"),
            Change::Lora(0) => f.write_str("full fine-tuning"),
            Change::Lora(rank) => write!(f, "LoRA adapters of rank {rank}"),
            Change::SlidingWindow(w) => write!(f, "a {w}-token attention window"),
            Change::ShardParameters(n) => write!(f, "FSDP / ZeRO-3 over {n} devices"),
            Change::Shard(Sharding { stage: 3, devices }) => {
                write!(f, "FSDP / ZeRO-3 over {devices} devices")
            }
            Change::Shard(Sharding { stage, devices }) => {
                write!(f, "ZeRO-{stage} over {devices} devices")
            }
            Change::DataParallel(n) => write!(f, "data parallelism over {n} devices"),
            Change::CpuOffload(on) => write!(f, "optimizer offload to the CPU {}", on_off(*on)),
            Change::GradientAccumulation(k) => write!(f, "{k} gradient accumulation steps"),
            Change::KeepLayers(n) => write!(f, "{n} transformer blocks"),
            Change::Sparse24(on) => write!(f, "2:4 structured sparsity {}", on_off(*on)),
            Change::AmxInt8(true) => {
                f.write_str("int8 matmuls on AMX (oneDNN, OpenVINO, ONNX Runtime)")
            }
            Change::AmxInt8(false) => f.write_str("int8 matmuls on FBGEMM (AVX512-VNNI at most)"),
            Change::NumaProcesses(n) => write!(f, "{n} processes, one bound to each NUMA node"),
            Change::PipelineParallel(p) => write!(
                f,
                "a {}-stage pipeline with {} micro-batches",
                p.stages, p.micro_batches
            ),
            Change::Compile(true) => f.write_str("torch.compile with CUDA graphs"),
            Change::Compile(false) => f.write_str("eager PyTorch"),
            Change::PagedKvCache(true) => f.write_str("a paged KV cache with continuous batching"),
            Change::PagedKvCache(false) => f.write_str("a KV cache sized for the whole batch"),
            Change::Speculate(s) => write!(
                f,
                "speculative decoding ({} drafted tokens, a draft of {:.0} % of the parameters, acceptance {:.2})",
                s.draft_tokens,
                s.draft_share * 100.0,
                s.acceptance
            ),
        }
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// A named pool of time a trace shows the run losing. Claims on one pool overlap (they
/// recover the same lost time) and combine by their maximum; different pools are disjoint
/// parts of the step and add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SlackPool {
    /// Time the GPU sits idle (HTA's idle share of the kernel span).
    GpuIdle,
    /// Communication kernels not overlapped with compute.
    ExposedCommunication,
    /// Step time the host spends blocked in the data loader or in synchronizing calls, in a
    /// trace without a GPU time breakdown. With one, that time shows up as GPU idle and claims
    /// take from [`SlackPool::GpuIdle`]: the host's waits and the GPU's gaps are the same time
    /// seen from two sides, so a trace's claims use one pool or the other, never both.
    HostBlocked,
    /// GPU time in fp32 matmul and convolution kernels (the trace's kernel names say so),
    /// which a faster precision shrinks.
    Fp32Matmuls,
    /// GPU time of the kernels launched inside `optimizer.step()` (the trace's optimizer
    /// fact), which a fused update shrinks.
    OptimizerStep,
    /// GPU time of the NCHW ↔ NHWC transposes cuDNN runs around its NHWC kernels for NCHW
    /// tensors, which channels-last tensors remove.
    LayoutTransposes,
}

impl SlackPool {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            SlackPool::GpuIdle => "gpu_idle",
            SlackPool::ExposedCommunication => "exposed_communication",
            SlackPool::HostBlocked => "host_blocked",
            SlackPool::Fp32Matmuls => "fp32_matmuls",
            SlackPool::OptimizerStep => "optimizer_step",
            SlackPool::LayoutTransposes => "layout_transposes",
        }
    }
}

/// A claim on a pool of slack: the suggestion can recover up to `max_fraction` of the step,
/// out of a pool that is `pool_fraction` of it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SlackClaim {
    /// The pool.
    pub pool: SlackPool,
    /// The pool's size as a fraction of the step.
    pub pool_fraction: f64,
    /// The least the suggestion recovers, a fraction of the step.
    pub min_fraction: f64,
    /// The most it recovers, a fraction of the step (at most `pool_fraction`).
    pub max_fraction: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RunSettings {
        RunSettings {
            mode: Mode::Inference,
            batch_size: 1,
            prompt_tokens: 512,
            generated_tokens: 512,
            compute: Precision::Fp16,
            tf32: false,
            weights: WeightFormat::Float(Precision::Fp16),
            kv_cache_dtype: Precision::Fp16,
            kv_cache: true,
            attention: AttentionKernel::Fused,
            gradient_checkpointing: false,
            threads: 1,
            optimizer: OptimizerKind::AdamW,
            tensor_parallel: 1,
            lora_rank: 0,
            sliding_window: None,
            parameter_shards: 1,
            compiled: false,
            paged_kv_cache: false,
            speculation: None,
            data_parallel: 1,
            zero_stage: 3,
            cpu_offload: false,
            gradient_accumulation: 1,
            pipeline_stages: 1,
            micro_batches: 1,
            kept_layers: None,
            sparse_2_4: false,
            amx_int8: false,
            numa_processes: 1,
        }
    }

    #[test]
    fn sequence_length_keeps_the_split() {
        let mut s = settings();
        Change::SequenceLength(2048).apply(&mut s);
        assert_eq!((s.prompt_tokens, s.generated_tokens), (1024, 1024));
    }

    #[test]
    fn precision_moves_float_weights_and_the_cache() {
        let mut s = settings();
        s.compute = Precision::Fp32;
        s.weights = WeightFormat::Float(Precision::Fp32);
        s.kv_cache_dtype = Precision::Fp32;
        Change::Precision(Precision::Bf16).apply(&mut s);
        assert_eq!(s.weights, WeightFormat::Float(Precision::Bf16));
        assert_eq!(s.kv_cache_dtype, Precision::Bf16);
        s.weights = WeightFormat::Int4;
        Change::Precision(Precision::Fp16).apply(&mut s);
        assert_eq!(s.weights, WeightFormat::Int4);
    }

    #[test]
    fn changes_serialize_with_their_key() {
        let json = serde_json::to_string(&Change::BatchSize(16)).unwrap();
        assert_eq!(json, r#"{"set":"batch_size","to":16}"#);
        let back: Change = serde_json::from_str(r#"{"set":"weights","to":"int4"}"#).unwrap();
        assert_eq!(back, Change::Weights(WeightFormat::Int4));
    }
}
