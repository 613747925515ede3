//! The resolved facts: every raw input turned into typed values once per analysis, each with
//! where it came from, and a typed [`Missing`] for what is not known.
//!
//! Built-in rules and plugins read these instead of the raw [`AnalysisContext`], so a GPU name
//! is matched once, the precision defaults the same way everywhere, and every printed number
//! can show its basis.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{
    change::{AttentionKernel, OptimizerKind, RunSettings, WeightFormat},
    config::{Mode, Precision, Quantization, RunConfig},
    context::AnalysisContext,
    device::{AcceleratorCatalog, GpuSpec, PeakThroughput},
    graph::{Architecture, ModelGraph},
    hardware::ComputeCapability,
    trace::TraceFacts,
};

/// Where a fact came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum Source {
    /// A run-configuration key as given.
    Config(String),
    /// A fact of the model (`model_graph.facts.<field>`).
    Model(String),
    /// A field of `hardware_info`.
    Hardware(String),
    /// A measurement (`memory_metrics.peak_bytes`, a trace).
    Measured(String),
    /// The accelerator table: the entry id and its datasheet.
    Table(String),
    /// Derived by a formula from other facts.
    Derived(String),
    /// An assumption, with the reason it is reasonable.
    Assumed(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Config(key) => write!(f, "config {key}"),
            Source::Model(field) => write!(f, "model {field}"),
            Source::Hardware(field) => write!(f, "hardware_info.{field}"),
            Source::Measured(what) => write!(f, "measured: {what}"),
            Source::Table(entry) => write!(f, "accelerator table: {entry}"),
            Source::Derived(formula) => write!(f, "derived: {formula}"),
            Source::Assumed(why) => write!(f, "assumed: {why}"),
        }
    }
}

impl Source {
    /// Whether the value is an assumption rather than something the inputs said.
    pub fn is_assumption(&self) -> bool {
        matches!(self, Source::Assumed(_))
    }
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Fact<T> {
    /// The value.
    pub value: T,
    /// Its provenance.
    pub source: Source,
}

impl<T> Fact<T> {
    /// A value with its source.
    pub fn new(value: T, source: Source) -> Fact<T> {
        Fact { value, source }
    }
}

/// A fact a rule needed and the inputs did not give. The report lists each once with the
/// rules that needed it; the CLI names the flag that supplies it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "fact", content = "detail", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Missing {
    /// A run-configuration key (`mode`, `precision`, `flash_attention`, ...).
    Config(String),
    /// The model itself.
    Model,
    /// A fact of the model (`parameters`, `architecture`, `layers`, ...).
    ModelFact(String),
    /// Which device the run uses: `device`, or hardware information.
    Device,
    /// The GPU's name.
    GpuModel,
    /// The GPU's figures: it is not in the accelerator table.
    GpuFigures(String),
    /// The GPU's memory.
    GpuMemory,
    /// System memory.
    SystemMemory,
    /// The CPU's core count.
    CpuCores,
    /// A measured peak of device memory.
    PeakMemory,
    /// The caching allocator's allocated and reserved bytes.
    AllocatorMemory,
    /// A PyTorch profiler trace.
    Trace,
}

impl Missing {
    /// Where the fact goes in a context document.
    pub fn field(&self) -> String {
        match self {
            Missing::Config(key) => format!("current_config.{key}"),
            Missing::Model => "model_graph".to_owned(),
            Missing::ModelFact(field) => format!("model_graph.facts.{field}"),
            Missing::Device => "current_config.device or hardware_info".to_owned(),
            Missing::GpuModel => "hardware_info.gpu_model".to_owned(),
            Missing::GpuFigures(gpu) => format!(
                "hardware_info.gpu_compute_capability and the GPU's figures (`{gpu}` is not in the accelerator table)"
            ),
            Missing::GpuMemory => "hardware_info.gpu_memory_mb".to_owned(),
            Missing::SystemMemory => "hardware_info.system_memory_mb".to_owned(),
            Missing::CpuCores => "hardware_info.cpu_cores".to_owned(),
            Missing::PeakMemory => "memory_metrics.peak_bytes".to_owned(),
            Missing::AllocatorMemory => {
                "memory_metrics.allocated_bytes and memory_metrics.reserved_bytes".to_owned()
            }
            Missing::Trace => "profile_results.trace".to_owned(),
        }
    }

    /// The `advisor analyze` flag that supplies it.
    pub fn flag(&self) -> String {
        match self {
            Missing::Config(key) => format!("--set {key}=VALUE"),
            Missing::Model | Missing::ModelFact(_) => "--model FILE or --example NAME".to_owned(),
            Missing::Device => "--set device=cpu|cuda or --hardware TARGET".to_owned(),
            Missing::GpuModel
            | Missing::GpuFigures(_)
            | Missing::GpuMemory
            | Missing::SystemMemory
            | Missing::CpuCores => "--hardware TARGET|FILE".to_owned(),
            Missing::PeakMemory | Missing::AllocatorMemory => {
                "--context FILE with memory_metrics, or --trace FILE with memory events".to_owned()
            }
            Missing::Trace => "--trace FILE".to_owned(),
        }
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.field(), self.flag())
    }
}

/// The model's shape, resolved from its facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ModelShape {
    /// Model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Encoder, decoder or encoder-decoder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<Architecture>,
    /// Total parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<u64>,
    /// Parameters one token multiplies with (the routed experts only for mixture of experts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_parameters: Option<u64>,
    /// Transformer blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<u64>,
    /// Hidden size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_size: Option<u64>,
    /// Query heads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_heads: Option<u64>,
    /// Key/value heads (query heads unless grouped-query attention).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_heads: Option<u64>,
    /// Dimension of one head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<u64>,
    /// Vocabulary size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab_size: Option<u64>,
    /// Longest sequence the position encoding supports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_positions: Option<u64>,
    /// Sliding-window attention span, when the model has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<u64>,
    /// Experts per mixture-of-experts layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_experts: Option<u64>,
    /// Experts routed to per token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experts_per_token: Option<u64>,
    /// Whether the language-model head shares the embedding matrix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tied_embeddings: Option<bool>,
    /// Storage dtype of the weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<Precision>,
    /// Whether the model has attention.
    pub has_attention: bool,
}

impl ModelShape {
    /// Resolves the shape of a model graph.
    pub fn from_graph(graph: &ModelGraph) -> ModelShape {
        let facts = &graph.facts;
        ModelShape {
            name: graph.name.clone(),
            architecture: facts.architecture,
            parameters: graph.parameter_count(),
            active_parameters: facts.active_parameters.or(graph.parameter_count()),
            layers: facts.layers,
            hidden_size: facts.hidden_size,
            attention_heads: facts.attention_heads,
            kv_heads: facts.kv_heads.or(facts.attention_heads),
            head_dim: graph.head_dim(),
            vocab_size: facts.vocab_size,
            max_positions: facts.max_sequence_length,
            sliding_window: facts.sliding_window,
            num_experts: facts.num_experts.filter(|e| *e > 1),
            experts_per_token: facts.experts_per_token,
            tied_embeddings: facts.tie_word_embeddings,
            dtype: facts.dtype,
            has_attention: graph.has_attention(),
        }
    }

    /// Whether the model generates token by token.
    pub fn generates(&self) -> bool {
        self.architecture
            .is_some_and(Architecture::generates_autoregressively)
    }

    /// KV-cache elements per token: `2 (K and V) × layers × kv_heads × head_dim`.
    pub fn kv_elements_per_token(&self) -> Option<u64> {
        crate::formulas::kv_elements_per_token(self.layers?, self.kv_heads?, self.head_dim?)
    }

    /// Query width `heads × head_dim`, the attention FLOPs' width.
    pub fn attention_width(&self) -> Option<u64> {
        self.attention_heads?.checked_mul(self.head_dim?)
    }

    /// Parameters that stay in 16-bit when the rest is quantized: the embedding table, and
    /// the language-model head when it is not tied to it (`vocab × hidden` each).
    pub fn embedding_parameters(&self) -> u64 {
        let table = match (self.vocab_size, self.hidden_size) {
            (Some(vocab), Some(hidden)) => vocab.saturating_mul(hidden),
            _ => 0,
        };
        let copies = if self.generates() && self.tied_embeddings == Some(false) {
            2
        } else {
            1
        };
        table
            .saturating_mul(copies)
            .min(self.parameters.unwrap_or(0))
    }
}

/// A GPU the hardware has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GpuFacts {
    /// The name the driver (or the target) gives.
    pub name: String,
    /// Its figures from the accelerator table, when the table knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<GpuSpec>,
    /// CUDA compute capability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_capability: Option<Fact<ComputeCapability>>,
    /// Memory of one device in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<Fact<u64>>,
    /// Devices of this model.
    pub count: u64,
}

/// What is known of a GPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "state", content = "gpu", rename_all = "snake_case")]
pub enum GpuState {
    /// No hardware information at all.
    Unknown,
    /// The hardware is known and has no GPU (a software renderer is not one).
    Absent,
    /// A GPU.
    Present(Box<GpuFacts>),
}

/// The host CPU, with the peak figures the model uses for CPU runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CpuFacts {
    /// CPU model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Physical cores available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<u32>,
    /// Vector and matrix extensions, lowercase.
    #[serde(default)]
    pub simd: Vec<String>,
    /// System memory in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Peak FLOP/s of one core per precision.
    pub per_core_peak: PeakThroughput,
    /// How the per-core peak was derived.
    pub peak_source: Source,
    /// Memory bandwidth one thread can draw, bytes per second.
    pub per_thread_bandwidth: f64,
    /// Memory bandwidth of the whole machine, bytes per second.
    pub machine_bandwidth: f64,
    /// How the bandwidths were obtained.
    pub bandwidth_source: Source,
    /// NUMA nodes with CPUs; each has its own memory controllers and a share of the
    /// bandwidth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numa_nodes: Option<u32>,
}

/// Measurements the context holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Measured {
    /// Peak bytes in use on the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    /// Bytes held by live tensors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated_bytes: Option<u64>,
    /// Bytes held by the caching allocator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_bytes: Option<u64>,
    /// Mean latency of a request or step, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Mean step time of a profiler trace, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_step_ms: Option<f64>,
}

/// The run's settings, each with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ResolvedRun {
    /// Inference or training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Fact<Mode>>,
    /// Whether the run is on a GPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_gpu: Option<Fact<bool>>,
    /// Sequences per step.
    pub batch_size: Fact<u64>,
    /// Prompt tokens per sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<Fact<u64>>,
    /// Generated tokens per sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_tokens: Option<Fact<u64>>,
    /// Mean real (unpadded) tokens per sequence, when the sequences are padded to
    /// `prompt_tokens` (config `mean_seq_len`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_tokens: Option<Fact<u64>>,
    /// Compute precision.
    pub compute: Fact<Precision>,
    /// fp32 matmuls on tensor cores as TF32.
    pub tf32: Fact<bool>,
    /// Weight storage format.
    pub weights: Fact<WeightFormat>,
    /// KV-cache element type.
    pub kv_cache_dtype: Fact<Precision>,
    /// KV cache on.
    pub kv_cache: Fact<bool>,
    /// Attention kernel.
    pub attention: Fact<AttentionKernel>,
    /// Activation checkpointing.
    pub gradient_checkpointing: Fact<bool>,
    /// Intra-op threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<Fact<u64>>,
    /// Optimizer in training.
    pub optimizer: Fact<OptimizerKind>,
    /// torch.compile with CUDA graphs.
    pub compiled: Fact<bool>,
    /// What serves the model.
    pub engine: Fact<crate::config::Engine>,
    /// LoRA adapter rank in training (0: a full fine-tune).
    #[serde(default = "default_lora_rank")]
    pub lora_rank: Fact<u64>,
    /// Data-parallel GPUs of a training job.
    #[serde(default = "default_data_parallel")]
    pub data_parallel: Fact<u64>,
    /// What those GPUs shard: 0 nothing (DDP), 1 optimizer state, 2 and gradients, 3 and
    /// weights (ZeRO's stages; FSDP `FULL_SHARD` is 3).
    #[serde(default = "default_zero_stage")]
    pub zero_stage: Fact<u8>,
    /// Optimizer state on the host CPU.
    #[serde(default = "default_cpu_offload")]
    pub cpu_offload: Fact<bool>,
    /// Micro-steps per optimizer step.
    #[serde(default = "default_gradient_accumulation")]
    pub gradient_accumulation: Fact<u64>,
    /// Pipeline stages.
    #[serde(default = "default_pipeline_stages")]
    pub pipeline_stages: Fact<u64>,
    /// Micro-batches per batch in a pipeline.
    #[serde(default = "default_micro_batches")]
    pub micro_batches: Fact<u64>,
    /// The most prompt tokens one step of a serving engine prefills (chunked prefill).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_chunk: Option<Fact<u64>>,
    /// Processes the run is split into, one bound to each NUMA node (numactl), on a CPU.
    #[serde(default = "default_numa_processes")]
    pub numa_processes: Fact<u64>,
    /// The latency budget of one request (or forward), milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_budget_ms: Option<Fact<f64>>,
    /// The time-to-first-token budget of a generation request, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_budget_ms: Option<Fact<f64>>,
    /// The time-per-output-token budget of a generation request, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot_budget_ms: Option<Fact<f64>>,
}

pub(crate) fn default_lora_rank() -> Fact<u64> {
    Fact::new(
        0,
        Source::Assumed("lora_rank not set; a full fine-tune".to_owned()),
    )
}

pub(crate) fn default_data_parallel() -> Fact<u64> {
    Fact::new(
        1,
        Source::Assumed("data_parallel not set; the job runs on one GPU".to_owned()),
    )
}

pub(crate) fn default_zero_stage() -> Fact<u8> {
    Fact::new(
        0,
        Source::Assumed("zero_stage not set; nothing sharded (DDP)".to_owned()),
    )
}

pub(crate) fn default_cpu_offload() -> Fact<bool> {
    Fact::new(
        false,
        Source::Assumed("cpu_offload not set; optimizer state on the GPU".to_owned()),
    )
}

pub(crate) fn default_gradient_accumulation() -> Fact<u64> {
    Fact::new(
        1,
        Source::Assumed(
            "gradient_accumulation not set; one micro-step per optimizer step".to_owned(),
        ),
    )
}

pub(crate) fn default_pipeline_stages() -> Fact<u64> {
    Fact::new(
        1,
        Source::Assumed("pipeline_stages not set; no pipeline".to_owned()),
    )
}

pub(crate) fn default_numa_processes() -> Fact<u64> {
    Fact::new(
        1,
        Source::Assumed("numa_processes not set; one process, not bound to a NUMA node".to_owned()),
    )
}

pub(crate) fn default_micro_batches() -> Fact<u64> {
    Fact::new(
        1,
        Source::Assumed("micro_batches not set; one per batch".to_owned()),
    )
}

/// Everything the rules know, resolved once per analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ResolvedFacts {
    /// The model, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelShape>,
    /// The GPU.
    pub gpu: GpuState,
    /// The CPU; `None` without hardware information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuFacts>,
    /// The run.
    pub run: ResolvedRun,
    /// Measurements.
    pub measured: Measured,
    /// Problems in the inputs that do not stop the analysis (a context longer than the
    /// model's positions, a device the hardware does not have).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl ResolvedFacts {
    /// Resolves a context with GPU figures from `catalog`.
    pub fn resolve(
        context: &AnalysisContext,
        config: &RunConfig,
        catalog: &dyn AcceleratorCatalog,
    ) -> ResolvedFacts {
        crate::resolve::resolve(context, config, catalog)
    }

    /// The model, or what is missing.
    pub fn model(&self) -> Result<&ModelShape, Missing> {
        self.model.as_ref().ok_or(Missing::Model)
    }

    /// The mode, or what is missing.
    pub fn mode(&self) -> Result<Mode, Missing> {
        self.run
            .mode
            .as_ref()
            .map(|fact| fact.value)
            .ok_or_else(|| Missing::Config("mode".to_owned()))
    }

    /// Whether the run is on a GPU, or what is missing.
    pub fn on_gpu(&self) -> Result<bool, Missing> {
        self.run
            .on_gpu
            .as_ref()
            .map(|fact| fact.value)
            .ok_or(Missing::Device)
    }

    /// The GPU the run uses: `Ok(None)` on a CPU run.
    pub fn run_gpu(&self) -> Result<Option<&GpuFacts>, Missing> {
        if !self.on_gpu()? {
            return Ok(None);
        }
        match &self.gpu {
            GpuState::Present(gpu) => Ok(Some(gpu)),
            _ => Err(Missing::GpuModel),
        }
    }

    /// The GPU the run uses with its table figures: `Ok(None)` on a CPU run.
    pub fn run_gpu_spec(&self) -> Result<Option<(&GpuFacts, &GpuSpec)>, Missing> {
        let Some(gpu) = self.run_gpu()? else {
            return Ok(None);
        };
        let spec = gpu
            .spec
            .as_ref()
            .ok_or_else(|| Missing::GpuFigures(gpu.name.clone()))?;
        Ok(Some((gpu, spec)))
    }

    /// The memory of the device the run uses, bytes, with its source.
    pub fn device_memory(&self) -> Result<Fact<u64>, Missing> {
        if self.on_gpu()? {
            let gpu = self.run_gpu()?.ok_or(Missing::GpuModel)?;
            gpu.memory_bytes.clone().ok_or(Missing::GpuMemory)
        } else {
            let bytes = self
                .cpu
                .as_ref()
                .and_then(|cpu| cpu.memory_bytes)
                .ok_or(Missing::SystemMemory)?;
            Ok(Fact::new(
                bytes,
                Source::Hardware("system_memory_mb".to_owned()),
            ))
        }
    }

    /// The plain run settings the performance model simulates.
    pub fn settings(&self) -> Result<RunSettings, Missing> {
        let run = &self.run;
        let mode = self.mode()?;
        let prompt = run
            .prompt_tokens
            .as_ref()
            .ok_or_else(|| Missing::Config("seq_len".to_owned()))?;
        Ok(RunSettings {
            mode,
            batch_size: run.batch_size.value,
            prompt_tokens: prompt.value,
            generated_tokens: run.generated_tokens.as_ref().map_or(0, |f| f.value),
            compute: run.compute.value,
            tf32: run.tf32.value,
            weights: run.weights.value,
            kv_cache_dtype: run.kv_cache_dtype.value,
            kv_cache: run.kv_cache.value,
            attention: run.attention.value,
            gradient_checkpointing: run.gradient_checkpointing.value,
            threads: run.threads.as_ref().map_or(1, |f| f.value),
            optimizer: run.optimizer.value,
            tensor_parallel: 1,
            lora_rank: run.lora_rank.value,
            sliding_window: self.model.as_ref().and_then(|m| m.sliding_window),
            parameter_shards: if run.zero_stage.value > 0 {
                run.data_parallel.value.max(1)
            } else {
                1
            },
            compiled: run.compiled.value,
            paged_kv_cache: run.engine.value.pages_kv_cache(),
            speculation: None,
            data_parallel: run.data_parallel.value.max(1),
            zero_stage: run.zero_stage.value.clamp(1, 3),
            cpu_offload: run.cpu_offload.value,
            gradient_accumulation: run.gradient_accumulation.value.max(1),
            pipeline_stages: run.pipeline_stages.value.max(1),
            micro_batches: run.micro_batches.value.max(1),
            kept_layers: None,
            sparse_2_4: false,
            amx_int8: run.engine.value.uses_amx_int8(),
            // Processes bound to NUMA nodes are a CPU run's; a GPU run is one process here.
            numa_processes: if run.on_gpu.as_ref().is_some_and(|f| f.value) {
                1
            } else {
                run.numa_processes.value.max(1)
            },
        })
    }
}

/// The weight format a `quantization` setting means.
pub(crate) fn quantized_weights(quantization: Quantization) -> Option<WeightFormat> {
    match quantization {
        Quantization::Int8 | Quantization::Enabled => Some(WeightFormat::Int8),
        Quantization::Int4 => Some(WeightFormat::Int4),
        Quantization::Fp8 => Some(WeightFormat::Float(Precision::Fp8)),
        Quantization::W8A8 => Some(WeightFormat::W8A8),
        Quantization::None => None,
    }
}

/// The trace's facts, when a trace was read.
pub fn trace_facts(context: &AnalysisContext) -> Result<&TraceFacts, Missing> {
    context
        .profile_results
        .as_ref()
        .and_then(|profile| profile.trace.as_ref())
        .ok_or(Missing::Trace)
}
