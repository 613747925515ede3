//! `feasibility`: the run does not fit in the device's memory.
//!
//! ## What it checks
//! The performance model's peak memory of the run as configured, against the memory of the
//! device it runs on (the GPU, or system memory on a CPU run). Inference: weights at their
//! stored size + KV cache of every sequence at full length + one layer's eager attention
//! scores + activations + the CUDA context. Training: weights + gradients + optimizer state
//! (AdamW in mixed precision: 16 B per parameter, Rajbhandari et al. 2020) + activations
//! (Korthikanti et al. 2022), with or without flash attention and checkpointing.
//!
//! ## Why it matters
//! "Does it fit?" is the first question and the most common failure: a run that does not fit
//! fails with out-of-memory, whatever else the report says. The suggestion opens the report
//! as **critical**, says by how much it is over, and lists the changes that make it fit, each
//! with its modelled memory.
//!
//! ## When it stays silent
//! The run fits. Without the model's shape, the device or its memory it says what it needs.
//!
//! ## Example
//! Llama-2-13B at batch 32 and 2048 tokens on an A100 40GB: 24 GiB of weights and 50 GiB of
//! KV cache.

use advisor_core::{
    AttentionKernel, Category, Change, Difficulty, Impact, Mode, OptimizationRule,
    OptimizationSuggestion, OptimizerKind, Precision, RuleError, RuleInput, WeightFormat,
};
use advisor_model::{Workload, bytes_text, parts_text};

use crate::facts;

/// See the module documentation.
pub(crate) struct Feasibility;

/// A change that may make the run fit, with what it costs.
struct Remedy {
    changes: Vec<Change>,
    what: String,
    cost: &'static str,
}

impl OptimizationRule for Feasibility {
    fn id(&self) -> &str {
        "feasibility"
    }

    fn category(&self) -> Category {
        Category::Memory
    }

    fn description(&self) -> &str {
        "The run does not fit in device memory: by how much, and the changes that make it fit"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let workload = Workload::from_facts(input.facts)?;
        let capacity = input.facts.device_memory()?;
        let prediction = advisor_model::predict(&workload);
        if prediction.fits() {
            return Ok(Vec::new());
        }
        let peak = prediction.memory.total();
        let over = prediction.overflow_bytes();
        let device = match &workload.device {
            advisor_model::DeviceModel::Gpu { spec, .. } => spec.name.clone(),
            advisor_model::DeviceModel::Cpu(_) => "system memory".to_owned(),
        };
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Memory,
            Impact::Critical,
            Difficulty::Easy,
            format!(
                "The run does not fit: it needs {} on a device of {}",
                bytes_text(peak),
                bytes_text(capacity.value as f64)
            ),
        )
        .description(format!(
            "By the model, the peak memory of this run is {} ({}), {} more than the {} of the {device}. \
             It fails with out-of-memory as configured; the changes below make it fit.",
            bytes_text(peak),
            parts_text(&prediction.memory),
            bytes_text(over),
            bytes_text(capacity.value as f64),
        ))
        .evidence(format!(
            "device memory {} ({})",
            bytes_text(capacity.value as f64),
            capacity.source
        ))
        .evidence(facts::sourced("batch_size", &input.facts.run.batch_size))
        .evidence(format!(
            "weights {} at {} ({})",
            bytes_text(prediction.weight_bytes),
            input.facts.run.weights.value,
            input.facts.run.weights.source
        ));
        if let Some(prompt) = &input.facts.run.prompt_tokens {
            suggestion = suggestion.evidence(facts::sourced("prompt tokens", prompt));
        }
        if let Some(generated) = &input.facts.run.generated_tokens {
            suggestion = suggestion.evidence(facts::sourced("generated tokens", generated));
        }
        let mut chosen: Option<Vec<Change>> = None;
        for remedy in remedies(&workload) {
            let after = advisor_model::simulate_workload(workload.clone(), &remedy.changes);
            let total = after.predicted_after.memory.total();
            let fits = after.predicted_after.fits();
            suggestion = suggestion.step(format!(
                "{}: peak {} — {}{}",
                remedy.what,
                bytes_text(total),
                if fits { "fits" } else { "still does not fit" },
                if remedy.cost.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", remedy.cost)
                }
            ));
            if fits && chosen.is_none() {
                chosen = Some(remedy.changes);
            }
        }
        if let Some(changes) = chosen {
            let simulation = advisor_model::simulate_workload(workload.clone(), &changes);
            suggestion = facts::with_simulation(suggestion, &changes, &simulation);
            // What the fix buys is fitting; time figures of a smaller batch are not a gain.
            suggestion.expected_improvement.retain(|i| {
                matches!(
                    i.metric,
                    advisor_core::ImprovementMetric::Memory
                        | advisor_core::ImprovementMetric::ModelSize
                )
            });
            suggestion.impact = Impact::Critical;
        } else {
            suggestion = suggestion.warning(
                "No single change listed makes it fit: combine them, or shard across more devices.",
            );
        }
        Ok(vec![suggestion])
    }
}

/// The changes that reduce memory, cheapest first.
fn remedies(workload: &Workload) -> Vec<Remedy> {
    let s = &workload.settings;
    let model = &workload.model;
    let mut remedies = Vec::new();
    if s.attention == AttentionKernel::Eager && model.has_attention {
        remedies.push(Remedy {
            changes: vec![Change::Attention(AttentionKernel::Fused)],
            what: "Use flash attention (attn_implementation=\"flash_attention_2\" or \"sdpa\")"
                .to_owned(),
            cost: "no quality cost",
        });
    }
    match s.mode {
        Mode::Inference => {
            if model.generates() && s.kv_cache && s.kv_cache_dtype.bits() > 8 {
                remedies.push(Remedy {
                    changes: vec![Change::KvCacheDtype(Precision::Fp8)],
                    what: "Store the KV cache in fp8 (vLLM kv_cache_dtype=\"fp8\")".to_owned(),
                    cost: "small quality cost",
                });
            }
            if !s.weights.is_integer() {
                remedies.push(Remedy {
                    changes: vec![Change::Weights(WeightFormat::Int8)],
                    what: "Quantize the weights to int8".to_owned(),
                    cost: "usually within noise",
                });
                remedies.push(Remedy {
                    changes: vec![Change::Weights(WeightFormat::Int4)],
                    what: "Quantize the weights to int4 (AWQ, GPTQ)".to_owned(),
                    cost: "measurable quality cost",
                });
            }
        }
        Mode::Training => {
            if !s.gradient_checkpointing {
                remedies.push(Remedy {
                    changes: vec![Change::GradientCheckpointing(true)],
                    what: "Turn on activation checkpointing".to_owned(),
                    cost: "about a third more compute per step",
                });
            }
            if s.optimizer == OptimizerKind::AdamW && s.lora_rank == 0 {
                remedies.push(Remedy {
                    changes: vec![Change::Optimizer(OptimizerKind::Adam8bit)],
                    what: "Use 8-bit Adam (bitsandbytes AdamW8bit)".to_owned(),
                    cost: "no measurable quality cost in its paper",
                });
            }
            if s.lora_rank == 0 {
                remedies.push(Remedy {
                    changes: vec![Change::Lora(16)],
                    what: "Fine-tune LoRA adapters of rank 16 on frozen weights (PEFT)".to_owned(),
                    cost: "adapters, not a full fine-tune",
                });
                remedies.push(Remedy {
                    changes: vec![Change::Lora(16), Change::Weights(WeightFormat::Int4)],
                    what: "QLoRA: rank-16 adapters on 4-bit frozen weights (bitsandbytes NF4)"
                        .to_owned(),
                    cost: "adapters on quantized weights, slower steps",
                });
            }
        }
    }
    if let Some(batch) = largest_fitting(workload, |w, b| w.settings.batch_size = b, s.batch_size) {
        remedies.push(Remedy {
            changes: vec![Change::BatchSize(batch)],
            what: format!("Lower the batch size from {} to {batch}", s.batch_size),
            cost: "less throughput per step",
        });
    }
    for degree in [2, 4, 8] {
        let mut sharded = workload.clone();
        sharded.settings.tensor_parallel = degree;
        if advisor_model::predict(&sharded).fits() {
            remedies.push(Remedy {
                changes: vec![Change::TensorParallel(degree)],
                what: match s.mode {
                    Mode::Inference => format!("Shard the model over {degree} GPUs (tensor parallelism)"),
                    Mode::Training => {
                        format!("Shard weights, gradients and optimizer state over {degree} GPUs (FSDP / ZeRO-3)")
                    }
                },
                cost: "more devices",
            });
            break;
        }
    }
    remedies
}

/// The largest value of a setting below `current` at which the run fits, by bisection.
fn largest_fitting(
    workload: &Workload,
    set: impl Fn(&mut Workload, u64),
    current: u64,
) -> Option<u64> {
    let fits = |value: u64| {
        let mut trial = workload.clone();
        set(&mut trial, value);
        advisor_model::predict(&trial).fits()
    };
    if current <= 1 || !fits(1) {
        return None;
    }
    let (mut low, mut high) = (1, current);
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if fits(middle) {
            low = middle;
        } else {
            high = middle;
        }
    }
    Some(low)
}
