//! The run configuration: a string map (`current_config`) parsed into typed settings.

use std::{collections::BTreeMap, fmt};

/// Every key the run configuration understands, with the aliases it accepts.
///
/// The aliases are the spellings Hugging Face uses in `config.json` and `generate()`.
pub const KNOWN_CONFIG_KEYS: &[(&str, &[&str])] = &[
    ("mode", &[]),
    ("batch_size", &[]),
    ("seq_len", &["sequence_length", "max_seq_len"]),
    ("prompt_len", &["prompt_tokens", "prompt_length"]),
    ("new_tokens", &["max_new_tokens"]),
    ("mean_seq_len", &["mean_tokens", "avg_seq_len"]),
    ("precision", &["torch_dtype", "dtype"]),
    ("quantization", &[]),
    ("kv_cache", &["use_cache"]),
    ("kv_cache_dtype", &["cache_dtype"]),
    ("compile", &["torch_compile"]),
    ("engine", &["serving_engine"]),
    ("flash_attention", &["use_flash_attention"]),
    ("gradient_checkpointing", &[]),
    ("num_threads", &[]),
    ("device", &[]),
    ("optimizer", &["optim"]),
    ("lora_rank", &["lora_r"]),
    ("data_parallel", &["world_size"]),
    ("zero_stage", &[]),
    ("cpu_offload", &["offload_optimizer"]),
    ("gradient_accumulation", &["gradient_accumulation_steps"]),
    ("pipeline_stages", &["pipeline_parallel_size"]),
    ("micro_batches", &[]),
    ("numa_processes", &[]),
    ("prefill_chunk", &["max_num_batched_tokens"]),
    ("latency_budget_ms", &["slo_latency_ms"]),
    ("slo_ttft_ms", &["ttft_budget_ms"]),
    ("slo_tpot_ms", &["tpot_budget_ms"]),
];

/// Whether the model is being trained or served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Serving: forward passes only.
    Inference,
    /// Training: forward, backward and optimizer steps.
    Training,
}

impl Mode {
    /// The config value: `inference`, `training`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Inference => "inference",
            Mode::Training => "training",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The numeric format the model computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Precision {
    /// 32-bit IEEE float.
    Fp32,
    /// 16-bit IEEE float.
    Fp16,
    /// bfloat16.
    Bf16,
    /// 8-bit float (E4M3 or E5M2).
    Fp8,
    /// 8-bit integer.
    Int8,
    /// 4-bit integer.
    Int4,
}

impl Precision {
    /// Parses the common spellings: `fp32`, `float32`, `torch.float32`, `bf16`, `bfloat16`, ...
    pub fn parse(text: &str) -> Option<Precision> {
        let lower = text.trim().to_ascii_lowercase();
        let name = lower.strip_prefix("torch.").unwrap_or(&lower);
        Some(match name {
            "fp32" | "float32" | "float" | "f32" => Precision::Fp32,
            "fp16" | "float16" | "half" | "f16" => Precision::Fp16,
            "bf16" | "bfloat16" => Precision::Bf16,
            "fp8" | "float8" | "float8_e4m3fn" | "float8_e5m2" | "e4m3" | "e5m2" => Precision::Fp8,
            "int8" | "i8" | "uint8" | "u8" => Precision::Int8,
            "int4" | "i4" | "uint4" | "u4" | "nf4" => Precision::Int4,
            _ => return None,
        })
    }

    /// The canonical lowercase name (`fp32`, `bf16`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Fp16 => "fp16",
            Precision::Bf16 => "bf16",
            Precision::Fp8 => "fp8",
            Precision::Int8 => "int8",
            Precision::Int4 => "int4",
        }
    }

    /// Storage size of one element in bits.
    pub fn bits(self) -> u32 {
        match self {
            Precision::Fp32 => 32,
            Precision::Fp16 | Precision::Bf16 => 16,
            Precision::Fp8 | Precision::Int8 => 8,
            Precision::Int4 => 4,
        }
    }

    /// Storage size of one element in bytes (0.5 for 4-bit formats).
    pub fn bytes_per_element(self) -> f64 {
        f64::from(self.bits()) / 8.0
    }

    /// Whether this is a quantized format (8 bits or fewer).
    pub fn is_quantized(self) -> bool {
        self.bits() <= 8
    }
}

impl serde::Serialize for Precision {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Precision {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Precision::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown dtype `{text}`: expected one of fp32, fp16, bf16, fp8, int8, int4"
            ))
        })
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Precision {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Precision".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A numeric format: fp32, fp16, bf16, fp8, int8 or int4 (common spellings such as bfloat16 are accepted)",
            "type": "string"
        })
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What quantization, if any, the run already uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantization {
    /// No quantization.
    None,
    /// Quantized, format not stated.
    Enabled,
    /// 8-bit integer weights.
    Int8,
    /// 4-bit integer weights.
    Int4,
    /// 8-bit float weights.
    Fp8,
    /// int8 weights and activations (W8A8, SmoothQuant).
    W8A8,
}

/// What runs the model's forward passes: Hugging Face (PyTorch eager `generate()` or a plain
/// forward), a serving engine with continuous batching and a paged KV cache, or an inference
/// runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Engine {
    /// Hugging Face Transformers on PyTorch (`model.generate()`, `pipeline`, a plain forward).
    Hf,
    /// vLLM (PagedAttention, continuous batching).
    Vllm,
    /// Hugging Face Text Generation Inference.
    Tgi,
    /// NVIDIA TensorRT-LLM (in-flight batching, paged KV cache).
    TensorrtLlm,
    /// SGLang (RadixAttention, continuous batching).
    Sglang,
    /// LMDeploy (TurboMind, persistent batching, paged KV cache).
    Lmdeploy,
    /// llama.cpp (GGUF; its server batches slots).
    LlamaCpp,
    /// ONNX Runtime.
    Onnxruntime,
    /// NVIDIA TensorRT.
    Tensorrt,
    /// Intel OpenVINO.
    Openvino,
}

impl Engine {
    /// Parses the config value and its common spellings.
    pub fn parse(text: &str) -> Option<Engine> {
        let lower = text.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        Some(match lower.as_str() {
            "hf" | "transformers" | "huggingface" | "hugging-face" | "pytorch" | "torch"
            | "eager" => Engine::Hf,
            "vllm" => Engine::Vllm,
            "tgi" | "text-generation-inference" => Engine::Tgi,
            "tensorrt-llm" | "trt-llm" | "trtllm" => Engine::TensorrtLlm,
            "sglang" => Engine::Sglang,
            "lmdeploy" => Engine::Lmdeploy,
            "llama.cpp" | "llamacpp" | "llama-cpp" => Engine::LlamaCpp,
            "onnxruntime" | "onnx-runtime" | "ort" | "onnx" => Engine::Onnxruntime,
            "tensorrt" | "trt" => Engine::Tensorrt,
            "openvino" => Engine::Openvino,
            _ => return None,
        })
    }

    /// The config value: `hf`, `vllm`, `tensorrt-llm`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Hf => "hf",
            Engine::Vllm => "vllm",
            Engine::Tgi => "tgi",
            Engine::TensorrtLlm => "tensorrt-llm",
            Engine::Sglang => "sglang",
            Engine::Lmdeploy => "lmdeploy",
            Engine::LlamaCpp => "llama.cpp",
            Engine::Onnxruntime => "onnxruntime",
            Engine::Tensorrt => "tensorrt",
            Engine::Openvino => "openvino",
        }
    }

    /// Whether the engine's CPU int8 matmuls use AMX where the CPU has it: OpenVINO (oneDNN)
    /// and ONNX Runtime (MLAS, 1.14+, microsoft/onnxruntime PR #14042).
    pub fn uses_amx_int8(self) -> bool {
        matches!(self, Engine::Openvino | Engine::Onnxruntime)
    }

    /// Whether the engine serves generation with continuous batching over a paged KV cache
    /// (blocks allocated as sequences grow, freed when they finish).
    pub fn pages_kv_cache(self) -> bool {
        matches!(
            self,
            Engine::Vllm | Engine::Tgi | Engine::TensorrtLlm | Engine::Sglang | Engine::Lmdeploy
        )
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// The host CPU.
    Cpu,
    /// An NVIDIA GPU through CUDA.
    Cuda,
    /// An AMD GPU through ROCm.
    Rocm,
    /// An Apple GPU through Metal Performance Shaders.
    Mps,
}

impl Device {
    /// Whether this device is a GPU.
    pub fn is_gpu(self) -> bool {
        !matches!(self, Device::Cpu)
    }

    /// The config value: `cpu`, `cuda`, `rocm`, `mps`.
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
            Device::Rocm => "rocm",
            Device::Mps => "mps",
        }
    }

    /// The GPU vendor this device kind implies (CUDA: NVIDIA, ROCm: AMD).
    pub fn gpu_vendor(self) -> Option<crate::device::GpuVendor> {
        match self {
            Device::Cuda => Some(crate::device::GpuVendor::Nvidia),
            Device::Rocm => Some(crate::device::GpuVendor::Amd),
            Device::Cpu | Device::Mps => None,
        }
    }
}

/// The typed run configuration. `None` means the setting was not given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunConfig {
    /// `mode`: inference or training.
    pub mode: Option<Mode>,
    /// `batch_size`: samples per forward pass.
    pub batch_size: Option<u64>,
    /// `seq_len`: tokens per sample (prompt plus generated).
    pub seq_len: Option<u64>,
    /// `prompt_len`: prompt tokens per sample.
    pub prompt_tokens: Option<u64>,
    /// `new_tokens` (alias `max_new_tokens`): tokens generated per sample.
    pub new_tokens: Option<u64>,
    /// `mean_seq_len` (aliases `mean_tokens`, `avg_seq_len`): the mean real (unpadded) tokens
    /// per sequence, where `seq_len` is the length sequences are padded to.
    pub mean_seq_len: Option<u64>,
    /// `precision` (alias `torch_dtype`).
    pub precision: Option<Precision>,
    /// `quantization`.
    pub quantization: Option<Quantization>,
    /// `kv_cache` (alias `use_cache`).
    pub kv_cache: Option<bool>,
    /// `kv_cache_dtype`: the KV cache's element type (`fp8` in vLLM).
    pub kv_cache_dtype: Option<Precision>,
    /// `compile`: torch.compile with CUDA graphs (`mode="reduce-overhead"`) or not.
    pub compile: Option<bool>,
    /// `engine`: what serves the model (`hf`, `vllm`, `tgi`, `tensorrt-llm`, `sglang`, ...).
    pub engine: Option<Engine>,
    /// `flash_attention`.
    pub flash_attention: Option<bool>,
    /// `gradient_checkpointing`.
    pub gradient_checkpointing: Option<bool>,
    /// `num_threads`: intra-op threads.
    pub num_threads: Option<u64>,
    /// `device`.
    pub device: Option<Device>,
    /// `optimizer` (alias `optim`, as Hugging Face's `TrainingArguments` spells it).
    pub optimizer: Option<crate::change::OptimizerKind>,
    /// `lora_rank` (alias `lora_r`): LoRA adapters of this rank on frozen weights (0: a full
    /// fine-tune).
    pub lora_rank: Option<u64>,
    /// `data_parallel` (alias `world_size`): data-parallel GPUs of a training job.
    pub data_parallel: Option<u64>,
    /// `zero_stage`: what the data-parallel GPUs shard (0 DDP, 1 optimizer state, 2 and
    /// gradients, 3 and weights: FSDP `FULL_SHARD`).
    pub zero_stage: Option<u8>,
    /// `cpu_offload` (alias `offload_optimizer`): optimizer state on the CPU.
    pub cpu_offload: Option<bool>,
    /// `gradient_accumulation` (alias `gradient_accumulation_steps`).
    pub gradient_accumulation: Option<u64>,
    /// `pipeline_stages` (alias `pipeline_parallel_size`).
    pub pipeline_stages: Option<u64>,
    /// `micro_batches`: micro-batches per batch in a pipeline.
    pub micro_batches: Option<u64>,
    /// `prefill_chunk` (alias `max_num_batched_tokens`): the most prompt tokens a serving
    /// engine's step prefills (chunked prefill).
    pub prefill_chunk: Option<u64>,
    /// `numa_processes`: processes, one bound to each NUMA node.
    pub numa_processes: Option<u64>,
    /// `latency_budget_ms` (alias `slo_latency_ms`): the latency target of one request.
    pub latency_budget_ms: Option<f64>,
    /// `slo_ttft_ms` (alias `ttft_budget_ms`): the time-to-first-token target.
    pub slo_ttft_ms: Option<f64>,
    /// `slo_tpot_ms` (alias `tpot_budget_ms`): the time-per-output-token target.
    pub slo_tpot_ms: Option<f64>,
    /// Problems that did not stop parsing, such as unknown keys.
    pub warnings: Vec<ConfigWarning>,
}

/// A problem in the run configuration that does not stop the analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The key as written.
    pub key: String,
    /// What is wrong, ready to show.
    pub message: String,
}

/// A known configuration key with a value it cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The value does not parse for this key.
    #[error("config key `{key}` has invalid value `{value}`: expected {expected}")]
    InvalidValue {
        /// The key as written.
        key: String,
        /// The value as written.
        value: String,
        /// What the key accepts.
        expected: &'static str,
    },
    /// A key and its alias disagree.
    #[error("config keys `{first}` = `{first_value}` and `{second}` = `{second_value}` disagree")]
    Conflict {
        /// One spelling.
        first: String,
        /// Its value.
        first_value: String,
        /// The other spelling.
        second: String,
        /// Its value.
        second_value: String,
    },
}

impl RunConfig {
    /// Parses a `current_config` map. Known keys with bad values are errors; unknown keys
    /// become warnings that suggest the closest known key.
    pub fn parse(map: &BTreeMap<String, String>) -> Result<RunConfig, ConfigError> {
        let mut config = RunConfig::default();
        // canonical key -> (spelling used, value) so a key and its alias can be compared.
        let mut seen: BTreeMap<&'static str, (&str, &str)> = BTreeMap::new();
        for (key, value) in map {
            let Some(canonical) = canonical_key(key) else {
                config.warnings.push(unknown_key_warning(key));
                continue;
            };
            if let Some((first, first_value)) = seen.get(canonical) {
                if !same_value(canonical, first_value, value) {
                    return Err(ConfigError::Conflict {
                        first: (*first).to_owned(),
                        first_value: (*first_value).to_owned(),
                        second: key.clone(),
                        second_value: value.clone(),
                    });
                }
                continue;
            }
            seen.insert(canonical, (key, value));
            config.apply(canonical, key, value)?;
        }
        Ok(config)
    }

    fn apply(&mut self, canonical: &str, key: &str, value: &str) -> Result<(), ConfigError> {
        let invalid = |expected: &'static str| ConfigError::InvalidValue {
            key: key.to_owned(),
            value: value.to_owned(),
            expected,
        };
        match canonical {
            "mode" => {
                self.mode = Some(match value.trim().to_ascii_lowercase().as_str() {
                    "inference" | "eval" | "serving" => Mode::Inference,
                    "training" | "train" => Mode::Training,
                    _ => return Err(invalid("inference or training")),
                })
            }
            "batch_size" => {
                self.batch_size = Some(parse_positive(value).ok_or_else(|| invalid(POSITIVE))?)
            }
            "seq_len" => {
                self.seq_len = Some(parse_positive(value).ok_or_else(|| invalid(POSITIVE))?)
            }
            "prompt_len" => {
                self.prompt_tokens = Some(parse_positive(value).ok_or_else(|| invalid(POSITIVE))?)
            }
            "new_tokens" => {
                self.new_tokens = Some(parse_positive(value).ok_or_else(|| invalid(POSITIVE))?)
            }
            "mean_seq_len" => {
                self.mean_seq_len = Some(parse_positive(value).ok_or_else(|| invalid(POSITIVE))?)
            }
            "num_threads" => {
                self.num_threads = Some(parse_positive(value).ok_or_else(|| invalid(POSITIVE))?)
            }
            "data_parallel" => {
                self.data_parallel = Some(parse_positive(value).ok_or_else(|| invalid(POSITIVE))?)
            }
            "gradient_accumulation" => {
                self.gradient_accumulation =
                    Some(parse_positive(value).ok_or_else(|| invalid(POSITIVE))?)
            }
            "pipeline_stages" => {
                self.pipeline_stages = Some(parse_positive(value).ok_or_else(|| invalid(POSITIVE))?)
            }
            "latency_budget_ms" | "slo_ttft_ms" | "slo_tpot_ms" => {
                let ms = value
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|ms| ms.is_finite() && *ms > 0.0)
                    .ok_or_else(|| invalid("a positive number of milliseconds"))?;
                match canonical {
                    "latency_budget_ms" => self.latency_budget_ms = Some(ms),
                    "slo_ttft_ms" => self.slo_ttft_ms = Some(ms),
                    _ => self.slo_tpot_ms = Some(ms),
                }
            }
            "prefill_chunk" => {
                self.prefill_chunk = Some(parse_positive(value).ok_or_else(|| invalid(POSITIVE))?)
            }
            "numa_processes" => {
                self.numa_processes = Some(parse_positive(value).ok_or_else(|| invalid(POSITIVE))?)
            }
            "micro_batches" => {
                self.micro_batches = Some(parse_positive(value).ok_or_else(|| invalid(POSITIVE))?)
            }
            "lora_rank" => {
                self.lora_rank = Some(
                    value
                        .trim()
                        .parse::<u64>()
                        .map_err(|_| invalid("a rank (0 for a full fine-tune)"))?,
                )
            }
            "zero_stage" => {
                self.zero_stage = Some(
                    value
                        .trim()
                        .parse::<u8>()
                        .ok()
                        .filter(|stage| *stage <= 3)
                        .ok_or_else(|| invalid("0, 1, 2 or 3"))?,
                )
            }
            "cpu_offload" => {
                self.cpu_offload = Some(parse_bool(value).ok_or_else(|| invalid(BOOL))?)
            }
            "optimizer" => {
                use crate::change::OptimizerKind;
                let lower = value.trim().to_ascii_lowercase().replace('-', "_");
                self.optimizer = Some(match lower.as_str() {
                    "adamw" | "adam" | "adamw_torch" | "adamw_torch_fused" | "adamw_hf"
                    | "adamw_apex_fused" => OptimizerKind::AdamW,
                    "adamw_8bit" | "adamw8bit" | "adam8bit" | "adam_8bit" | "adamw_bnb_8bit"
                    | "paged_adamw_8bit" | "paged_adamw8bit" => OptimizerKind::Adam8bit,
                    "sgd" => OptimizerKind::SgdMomentum,
                    _ => {
                        return Err(invalid(
                            "one of adamw, adamw_torch_fused, adamw_8bit, paged_adamw_8bit, sgd",
                        ));
                    }
                })
            }
            "precision" => {
                self.precision = Some(
                    Precision::parse(value)
                        .ok_or_else(|| invalid("one of fp32, fp16, bf16, fp8, int8, int4"))?,
                )
            }
            "quantization" => {
                let lower = value.trim().to_ascii_lowercase();
                self.quantization = Some(match lower.as_str() {
                    "int8" => Quantization::Int8,
                    "int4" | "nf4" => Quantization::Int4,
                    "fp8" => Quantization::Fp8,
                    "w8a8" | "int8_w8a8" | "smoothquant" => Quantization::W8A8,
                    "none" => Quantization::None,
                    _ => match parse_bool(&lower) {
                        Some(true) => Quantization::Enabled,
                        Some(false) => Quantization::None,
                        None => return Err(invalid("one of false, true, int8, int4, fp8, w8a8")),
                    },
                })
            }
            "kv_cache" => self.kv_cache = Some(parse_bool(value).ok_or_else(|| invalid(BOOL))?),
            "kv_cache_dtype" => {
                self.kv_cache_dtype = Some(
                    Precision::parse(value)
                        .filter(|p| !matches!(p, Precision::Int4))
                        .ok_or_else(|| invalid("one of fp32, fp16, bf16, fp8, int8"))?,
                )
            }
            "compile" => self.compile = Some(parse_bool(value).ok_or_else(|| invalid(BOOL))?),
            "engine" => {
                self.engine = Some(Engine::parse(value).ok_or_else(|| {
                    invalid("one of hf, vllm, tgi, tensorrt-llm, sglang, lmdeploy, llama.cpp, onnxruntime, tensorrt, openvino")
                })?)
            }
            "flash_attention" => {
                self.flash_attention = Some(parse_bool(value).ok_or_else(|| invalid(BOOL))?)
            }
            "gradient_checkpointing" => {
                self.gradient_checkpointing = Some(parse_bool(value).ok_or_else(|| invalid(BOOL))?)
            }
            "device" => {
                let lower = value.trim().to_ascii_lowercase();
                // `cuda:1` names a device index; the kind is what matters here.
                let kind = lower.split(':').next().unwrap_or_default();
                self.device = Some(match kind {
                    "cpu" => Device::Cpu,
                    "cuda" | "gpu" => Device::Cuda,
                    "rocm" | "hip" => Device::Rocm,
                    "mps" => Device::Mps,
                    _ => return Err(invalid("one of cpu, cuda, rocm, mps")),
                })
            }
            _ => unreachable!("canonical_key only returns keys handled above"),
        }
        Ok(())
    }

    /// The precision weights are quantized to, from `quantization` or `precision`.
    pub fn quantized_format(&self) -> Option<&'static str> {
        match self.quantization {
            Some(Quantization::Int8) => return Some("int8"),
            Some(Quantization::Int4) => return Some("int4"),
            Some(Quantization::Fp8) => return Some("fp8"),
            Some(Quantization::W8A8) => return Some("w8a8"),
            Some(Quantization::Enabled) => return Some("quantized"),
            Some(Quantization::None) | None => {}
        }
        self.precision
            .filter(|precision| precision.is_quantized())
            .map(Precision::as_str)
    }
}

const POSITIVE: &str = "a positive integer";
const BOOL: &str = "true/false, 1/0 or yes/no";

fn canonical_key(key: &str) -> Option<&'static str> {
    KNOWN_CONFIG_KEYS
        .iter()
        .find(|(canonical, aliases)| *canonical == key || aliases.contains(&key))
        .map(|(canonical, _)| *canonical)
}

fn unknown_key_warning(key: &str) -> ConfigWarning {
    let normalized = key.to_ascii_lowercase().replace(['-', ' '], "_");
    let closest = KNOWN_CONFIG_KEYS
        .iter()
        .flat_map(|(canonical, aliases)| std::iter::once(canonical).chain(aliases.iter()))
        .map(|candidate| {
            (
                strsim::damerau_levenshtein(&normalized, candidate),
                *candidate,
            )
        })
        .min();
    // A key cut short (`batch`, `seq`) names the one key it begins, when only one does.
    let mut prefixed = KNOWN_CONFIG_KEYS
        .iter()
        .map(|(canonical, _)| *canonical)
        .filter(|canonical| normalized.len() >= 3 && canonical.starts_with(normalized.as_str()));
    let prefix = match (prefixed.next(), prefixed.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    };
    let message = match (prefix, closest) {
        (Some(candidate), _) => {
            format!("unknown config key `{key}`; did you mean `{candidate}`?")
        }
        (None, Some((distance, candidate))) if distance <= candidate.len().max(4) / 3 + 1 => {
            format!("unknown config key `{key}`; did you mean `{candidate}`?")
        }
        _ => format!(
            "unknown config key `{key}`; known keys: {}",
            KNOWN_CONFIG_KEYS
                .iter()
                .map(|(canonical, _)| *canonical)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    ConfigWarning {
        key: key.to_owned(),
        message,
    }
}

fn same_value(canonical: &str, a: &str, b: &str) -> bool {
    let mut left = RunConfig::default();
    let mut right = RunConfig::default();
    match (left.apply(canonical, "", a), right.apply(canonical, "", b)) {
        (Ok(()), Ok(())) => left == right,
        _ => a == b,
    }
}

fn parse_positive(value: &str) -> Option<u64> {
    value.trim().parse::<u64>().ok().filter(|n| *n > 0)
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<RunConfig, ConfigError> {
        let map = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        RunConfig::parse(&map)
    }

    #[test]
    fn parses_every_known_key() {
        let config = parse(&[
            ("mode", "training"),
            ("batch_size", "32"),
            ("seq_len", "2048"),
            ("precision", "bf16"),
            ("quantization", "int4"),
            ("kv_cache", "yes"),
            ("flash_attention", "0"),
            ("gradient_checkpointing", "TRUE"),
            ("num_threads", "8"),
            ("device", "cuda:0"),
        ])
        .unwrap();
        assert_eq!(config.mode, Some(Mode::Training));
        assert_eq!(config.batch_size, Some(32));
        assert_eq!(config.seq_len, Some(2048));
        assert_eq!(config.precision, Some(Precision::Bf16));
        assert_eq!(config.quantization, Some(Quantization::Int4));
        assert_eq!(config.kv_cache, Some(true));
        assert_eq!(config.flash_attention, Some(false));
        assert_eq!(config.gradient_checkpointing, Some(true));
        assert_eq!(config.num_threads, Some(8));
        assert_eq!(config.device, Some(Device::Cuda));
        assert!(config.warnings.is_empty());
    }

    #[test]
    fn accepts_hugging_face_aliases() {
        let config = parse(&[("use_cache", "false"), ("torch_dtype", "float16")]).unwrap();
        assert_eq!(config.kv_cache, Some(false));
        assert_eq!(config.precision, Some(Precision::Fp16));
    }

    #[test]
    fn bad_value_names_key_and_value() {
        let error = parse(&[("batch_size", "many")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "config key `batch_size` has invalid value `many`: expected a positive integer"
        );
        let error = parse(&[("precision", "fp64")]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("`precision` has invalid value `fp64`")
        );
        assert!(parse(&[("batch_size", "0")]).is_err());
        assert!(parse(&[("kv_cache", "maybe")]).is_err());
        assert!(parse(&[("device", "tpu")]).is_err());
    }

    #[test]
    fn unknown_key_suggests_closest() {
        let config = parse(&[("batchsize", "4")]).unwrap();
        assert_eq!(
            config.warnings[0].message,
            "unknown config key `batchsize`; did you mean `batch_size`?"
        );
        let config = parse(&[("batch", "8")]).unwrap();
        assert_eq!(
            config.warnings[0].message,
            "unknown config key `batch`; did you mean `batch_size`?"
        );
        let config = parse(&[("flash_attn", "true")]).unwrap();
        assert!(
            config.warnings[0]
                .message
                .contains("did you mean `flash_attention`"),
            "{:?}",
            config.warnings
        );
        let config = parse(&[("zzzzzzzzzz", "1")]).unwrap();
        assert!(
            config.warnings[0]
                .message
                .contains("known keys: mode, batch_size")
        );
    }

    #[test]
    fn alias_conflict_is_an_error() {
        assert!(parse(&[("kv_cache", "true"), ("use_cache", "1")]).is_ok());
        let error = parse(&[("kv_cache", "true"), ("use_cache", "false")]).unwrap_err();
        assert!(matches!(error, ConfigError::Conflict { .. }));
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(key in "\\PC{0,12}", value in "\\PC{0,12}") {
            let mut map = BTreeMap::new();
            map.insert(key, value);
            let _ = RunConfig::parse(&map);
        }
    }
}
