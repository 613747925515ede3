//! Peak memory of a run, split by part.

use advisor_core::{AttentionKernel, Mode, OptimizerKind, Precision};

use crate::{
    weights::{WeightSplit, bytes},
    workload::{DeviceModel, Workload},
};

/// What a GPU process holds besides tensors: the CUDA context, cuBLAS/cuDNN workspaces and
/// the caching allocator's slack, typically 0.3–1 GiB (PyTorch's CUDA semantics notes);
/// 0.5 GiB is planned for.
pub const GPU_RUNTIME_BYTES: f64 = 512.0 * 1024.0 * 1024.0;

/// Peak memory by part, bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MemoryBreakdown {
    /// Weights as stored (the compute copy in training).
    pub weights: f64,
    /// The KV cache of every sequence at the peak: its full length, or with a paged cache
    /// and continuous batching the mean it holds.
    pub kv_cache: f64,
    /// One layer's attention score matrix when attention is eager (inference); in training
    /// every layer's are part of `activations`.
    pub attention_scores: f64,
    /// Activations kept for the backward pass (training), or one layer's (inference).
    pub activations: f64,
    /// Gradients.
    pub gradients: f64,
    /// Optimizer state, with fp32 master weights in mixed precision.
    pub optimizer: f64,
    /// The language-model head's logits in training, their fp32 upcast for the loss and
    /// its gradient: `batch × tokens × vocab × (act + 4 + 4)` bytes.
    pub logits: f64,
    /// The runtime: CUDA context and workspaces.
    pub runtime: f64,
}

impl MemoryBreakdown {
    /// The total.
    pub fn total(&self) -> f64 {
        self.weights
            + self.kv_cache
            + self.attention_scores
            + self.activations
            + self.gradients
            + self.optimizer
            + self.logits
            + self.runtime
    }

    /// The parts with their names, largest first, for evidence.
    pub fn parts(&self) -> Vec<(&'static str, f64)> {
        let mut parts = vec![
            ("weights", self.weights),
            ("KV cache", self.kv_cache),
            ("attention scores", self.attention_scores),
            ("activations", self.activations),
            ("gradients", self.gradients),
            ("optimizer state", self.optimizer),
            ("logits", self.logits),
            ("CUDA context and workspaces", self.runtime),
        ];
        parts.retain(|(_, bytes)| *bytes > 0.0);
        parts.sort_by(|a, b| b.1.total_cmp(&a.1));
        parts
    }
}

/// Tokens one sequence keeps in its KV cache: its whole length, or the sliding window.
pub(crate) fn cached_tokens(workload: &Workload) -> f64 {
    let s = &workload.settings;
    let total = (s.prompt_tokens + s.generated_tokens) as f64;
    match workload.settings.sliding_window {
        Some(window) => total.min(window as f64),
        None => total,
    }
}

/// Tokens of cache a paged KV cache allocates at once: vLLM's default block size.
pub(crate) const KV_BLOCK_TOKENS: f64 = 16.0;

/// Tokens of KV cache one sequence holds at the peak. A batch without paging (Hugging Face
/// `generate()`) grows every sequence of the batch together to its full length (the static
/// cache allocates it up front). With a paged cache and continuous batching a finished
/// sequence frees its blocks and a new one takes its place, so at steady state the sequences
/// are spread evenly over their generation: each holds its prompt, half its generated tokens
/// and half a block of rounding on average (Kwon et al. 2023, "Efficient Memory Management
/// for Large Language Model Serving with PagedAttention", §4).
pub(crate) fn held_tokens(workload: &Workload) -> f64 {
    let s = &workload.settings;
    let full = cached_tokens(workload);
    if !s.paged_kv_cache {
        return full;
    }
    let mean = s.prompt_tokens as f64 + s.generated_tokens as f64 / 2.0 + KV_BLOCK_TOKENS / 2.0;
    mean.min(full)
}

/// KV-cache bytes per token at the run's cache dtype.
pub(crate) fn kv_bytes_per_token(workload: &Workload) -> f64 {
    workload
        .model
        .kv_elements_per_token()
        .map_or(0.0, |elements| {
            elements as f64 * bytes(workload.settings.kv_cache_dtype)
        })
}

/// A draft model's layers (and its width) as a share of the target's, when its parameters are
/// `share` of them: parameters grow as `layers × width²`, and model families scale depth and
/// width together at a near-constant aspect ratio (Kaplan et al. 2020, "Scaling Laws for
/// Neural Language Models", §3.1, find the shape matters little at a given size), so each
/// goes as the cube root of the parameters.
pub(crate) fn draft_layer_share(share: f64) -> f64 {
    share.max(0.0).cbrt()
}

/// Bytes per activation element: 16-bit or fp32 (the compute precision; 8-bit formats keep
/// 16-bit activations).
pub(crate) fn activation_bytes(precision: Precision) -> f64 {
    bytes(precision).max(2.0)
}

/// Peak memory of the run.
///
/// - Inference: weights + KV cache (`batch × held tokens × 2 · layers · kv_heads · head_dim ·
///   bytes`) + one layer's eager score matrix (`batch × heads × prompt²`) + one layer's
///   activations + the runtime.
/// - Training: weights + gradients + optimizer state (AdamW in mixed precision: 2 + 2 + 12 =
///   16 B per parameter, Rajbhandari et al. 2020, "ZeRO", §3.1; fp32: 4 + 4 + 8; 8-bit Adam
///   keeps its two moments in one byte each, Dettmers et al. 2021) + activations per
///   Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer
///   Models", eq. 1: `s·b·h·(34 + 5·a·s/h)` bytes per layer at 16-bit, where the `5as/h`
///   term is the attention scores that a fused (flash) kernel never stores; full activation
///   checkpointing keeps `2·s·b·h` per layer plus one layer's full set.
pub fn memory(workload: &Workload) -> MemoryBreakdown {
    let model = &workload.model;
    let s = &workload.settings;
    let split = WeightSplit::of(workload);
    let tp = s.tensor_parallel.max(1) as f64;
    let b = s.batch_size as f64;
    let h = model.hidden_size.unwrap_or(0) as f64;
    let heads = model.attention_heads.unwrap_or(0) as f64;
    let act = activation_bytes(s.compute);
    let runtime = match workload.device {
        DeviceModel::Gpu { .. } => GPU_RUNTIME_BYTES,
        DeviceModel::Cpu(_) => 0.0,
    };
    let weights = split.stored_bytes() / tp;
    match s.mode {
        Mode::Inference => {
            // The longest forward: the prompt, or the whole sequence when generation re-runs
            // it without a cache.
            let longest = if model.generates() && !s.kv_cache {
                (s.prompt_tokens + s.generated_tokens) as f64
            } else {
                s.prompt_tokens as f64
            };
            let kv_cache = if model.generates() && s.kv_cache {
                b * held_tokens(workload) * kv_bytes_per_token(workload) / tp
            } else {
                0.0
            };
            // A draft model sits beside the target: its weights at the draft's share, and its
            // own cache, which scales with layers × width: `share^(2/3)` of the target's (see
            // [`draft_layer_share`]).
            let (weights, kv_cache) = match s.speculation {
                Some(speculation) if model.generates() && s.generated_tokens > 0 => {
                    let share = speculation.draft_share.max(0.0);
                    (
                        weights * (1.0 + share),
                        kv_cache * (1.0 + draft_layer_share(share).powi(2)),
                    )
                }
                _ => (weights, kv_cache),
            };
            let attention_scores = match s.attention {
                AttentionKernel::Eager if model.has_attention => {
                    // Scores and probabilities of one layer, for the longest forward.
                    // Hugging Face's eager attention holds the scores at the activation width
                    // while its fp32 softmax is written, then the fp32 result while it is cast
                    // back: `act + 4` bytes per score at the peak.
                    b * heads * longest * longest * (act + 4.0) / tp
                }
                _ => 0.0,
            };
            // One layer's hidden states and MLP intermediate, as the forward streams through.
            let activations = b * longest * h * 6.0 * act;
            MemoryBreakdown {
                weights,
                kv_cache,
                attention_scores,
                activations,
                runtime,
                ..MemoryBreakdown::default()
            }
        }
        Mode::Training if s.lora_rank > 0 => {
            // Frozen base weights at their stored format; gradients and AdamW state (fp32
            // master copy, two moments, the gradient: 16 B) for the adapters only (Hu et al.
            // 2021, "LoRA"; Dettmers et al. 2023, "QLoRA" with int4 base weights).
            let adapters = lora_parameters(workload);
            let activations = training_activations(workload);
            let stages = s.pipeline_stages.max(1) as f64;
            MemoryBreakdown {
                weights: weights / stages + adapters * bytes(s.compute),
                gradients: adapters * 4.0,
                optimizer: adapters * 12.0,
                activations,
                logits: training_logits(workload),
                runtime,
                ..MemoryBreakdown::default()
            }
        }
        Mode::Training => {
            let stages = s.pipeline_stages.max(1) as f64;
            let parameters = model.parameters.unwrap_or(0) as f64 / tp / stages;
            // ZeRO's stages (Rajbhandari et al. 2020, §5, fig. 1): stage 1 shards the
            // optimizer state over the data-parallel devices, stage 2 the gradients too, stage
            // 3 the weights too; FSDP `FULL_SHARD` is stage 3, `SHARD_GRAD_OP` stage 2.
            let shards = s.parameter_shards.max(1) as f64;
            let shard_if = |stage: u8| if s.zero_stage >= stage { shards } else { 1.0 };
            let mixed = s.compute.bits() < 32;
            let (gradients, optimizer) = match (s.optimizer, mixed) {
                // 16-bit weights and grads, fp32 master weights and moments.
                (OptimizerKind::AdamW, true) => (2.0, 12.0),
                (OptimizerKind::AdamW, false) => (4.0, 8.0),
                (OptimizerKind::Adam8bit, true) => (2.0, 6.0),
                (OptimizerKind::Adam8bit, false) => (4.0, 2.0),
                (OptimizerKind::SgdMomentum, true) => (2.0, 8.0),
                (OptimizerKind::SgdMomentum, false) => (4.0, 4.0),
            };
            let activations = training_activations(workload);
            // fp8 training (Transformer Engine's fp8_autocast) keeps the weights in 16-bit and
            // casts each to fp8 for its GEMM (NVIDIA, "Using FP8 with Transformer Engine"):
            // they take 16-bit memory.
            let weight_bytes = bytes(s.compute).max(2.0);
            // Stage 3 gathers each layer's full weights for its forward and backward, and
            // prefetches the next one (FSDP's default `BACKWARD_PRE` prefetch): two layers
            // unsharded at a time.
            let gathered = if s.zero_stage >= 3 && shards > 1.0 {
                2.0 * parameters / (model.layers.unwrap_or(1).max(1) as f64 / stages).max(1.0)
                    * weight_bytes
            } else {
                0.0
            };
            // ZeRO-Offload keeps the fp32 master weights and the moments on the host
            // (Ren et al. 2021, "ZeRO-Offload", §4).
            let optimizer = if s.cpu_offload {
                0.0
            } else {
                parameters * optimizer / shard_if(1)
            };
            MemoryBreakdown {
                weights: parameters * weight_bytes / shard_if(3) + gathered,
                gradients: parameters * gradients / shard_if(2),
                optimizer,
                activations,
                logits: training_logits(workload),
                runtime,
                ..MemoryBreakdown::default()
            }
        }
    }
}

/// Trainable parameters of LoRA adapters on the query and value projections (PEFT's default
/// targets): two `hidden × rank` matrices per projection per layer.
pub(crate) fn lora_parameters(workload: &Workload) -> f64 {
    let model = &workload.model;
    let layers = model.layers.unwrap_or(0) as f64;
    let hidden = model.hidden_size.unwrap_or(0) as f64;
    layers * 2.0 * 2.0 * hidden * workload.settings.lora_rank as f64
}

/// Logits of a causal language model in training (the head over every position), their
/// fp32 upcast for the cross-entropy and its gradient.
fn training_logits(workload: &Workload) -> f64 {
    let model = &workload.model;
    let s = &workload.settings;
    if !model.generates() {
        return 0.0;
    }
    let vocab = model.vocab_size.unwrap_or(0) as f64;
    // A pipeline's last stage computes the logits of one micro-batch at a time.
    let micro_batches = s.micro_batches.max(1) as f64;
    s.batch_size as f64 / micro_batches
        * s.prompt_tokens as f64
        * vocab
        * (activation_bytes(s.compute) + 8.0)
}

/// Micro-batches whose activations a pipeline stage holds at once, as a share of the batch:
/// under 1F1B scheduling the first stage holds at most `p` micro-batches in flight
/// (Narayanan et al. 2021, "Efficient Large-Scale Language Model Training on GPU Clusters
/// Using Megatron-LM", §2.2.1), each `1/m` of the batch, over `1/p` of the layers.
fn pipeline_activation_share(workload: &Workload) -> f64 {
    let s = &workload.settings;
    let stages = s.pipeline_stages.max(1) as f64;
    let micro_batches = s.micro_batches.max(1) as f64;
    micro_batches.min(stages) / micro_batches / stages
}

/// Activations a training step keeps for the backward pass, per device: Korthikanti et al.
/// 2022, eq. 2 with tensor parallelism over `t` devices: `s·b·h·(10 + 24/t + 5·a·s/(h·t))`
/// bytes per layer at 16-bit (the attention term gone under a fused kernel).
fn training_activations(workload: &Workload) -> f64 {
    let model = &workload.model;
    let s = &workload.settings;
    let b = s.batch_size as f64;
    let h = model.hidden_size.unwrap_or(0) as f64;
    let layers = model.layers.unwrap_or(0) as f64;
    let heads = model.attention_heads.unwrap_or(0) as f64;
    let act = activation_bytes(s.compute);
    let tokens = s.prompt_tokens as f64;
    let t = s.tensor_parallel.max(1) as f64;
    let per_layer_full = if model.has_attention {
        let scores = match s.attention {
            AttentionKernel::Eager => 5.0 * heads * tokens / (h.max(1.0) * t),
            AttentionKernel::Fused => 0.0,
        };
        tokens * b * h * (10.0 + 24.0 / t + scores)
    } else {
        tokens * b * h * (10.0 + 24.0 / t)
    } * act
        / 2.0;
    let share = pipeline_activation_share(workload);
    if s.gradient_checkpointing {
        (layers * 2.0 * tokens * b * h * act / 2.0) * share
            + per_layer_full / s.micro_batches.max(1) as f64
    } else {
        layers * per_layer_full * share
    }
}
