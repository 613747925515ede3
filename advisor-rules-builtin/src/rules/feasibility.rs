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
            "By the model, the peak memory of this run is {} ({}), {} more than the {} a run can plan to use on the {device} \
             ({:.0} % of its {}: the driver reserves some and the allocator fragments). It fails with out-of-memory as configured; \
             the changes below make it fit.",
            bytes_text(peak),
            parts_text(&prediction.memory),
            bytes_text(over),
            bytes_text(prediction.usable_bytes().unwrap_or(0.0)),
            advisor_model::USABLE_MEMORY * 100.0,
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
        if let Some(tokens) = facts::tokens_evidence(input.facts) {
            suggestion = suggestion.evidence(tokens);
        }
        let mut chosen: Option<Vec<Change>> = None;
        let remedies = remedies(&workload);
        // When no single change that keeps the workload (batch, context) fits, the cheapest
        // pair of them may: the plan takes the first that fits, before shrinking the work.
        let keeps_work = |r: &Remedy| {
            !r.changes.iter().any(|c| {
                matches!(
                    c,
                    Change::BatchSize(_)
                        | Change::SequenceLength(_)
                        | Change::TensorParallel(_)
                        | Change::ShardParameters(_)
                )
            })
        };
        let fits =
            |changes: &[Change]| advisor_model::fits(&advisor_model::changed(&workload, changes));
        let single_fits = remedies
            .iter()
            .filter(|r| keeps_work(r))
            .any(|r| fits(&r.changes));
        let mut pair: Option<Remedy> = None;
        if !single_fits {
            let keeping: Vec<&Remedy> = remedies.iter().filter(|r| keeps_work(r)).collect();
            'search: for (i, first) in keeping.iter().enumerate() {
                for second in &keeping[i + 1..] {
                    let mut changes = first.changes.clone();
                    changes.extend(second.changes.iter().copied());
                    // Two weight formats are alternatives, not a pair.
                    let weights = changes
                        .iter()
                        .filter(|c| matches!(c, Change::Weights(_)))
                        .count();
                    if weights > 1 {
                        continue;
                    }
                    if fits(&changes) {
                        pair = Some(Remedy {
                            changes,
                            what: format!("{}, and {}", first.what, lowercase_first(&second.what)),
                            cost: "both costs",
                        });
                        break 'search;
                    }
                }
            }
        }
        let mut remedies = remedies;
        if let Some(pair) = pair {
            // Tried after the single changes that keep the work, before those that shrink it.
            let position = remedies
                .iter()
                .position(|r| !keeps_work(r))
                .unwrap_or(remedies.len());
            remedies.insert(position, pair);
        }
        for remedy in remedies {
            // Each remedy's peak is all a step needs: memory, not the time simulation.
            let after = advisor_model::changed(&workload, &remedy.changes);
            let total = advisor_model::memory(&after).total();
            let fits = advisor_model::fits(&after);
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
    let total = s.prompt_tokens + s.generated_tokens;
    if s.mode == Mode::Inference
        && total > 1
        && let Some(tokens) = largest_fitting(
            workload,
            |w, t| Change::SequenceLength(t).apply(&mut w.settings),
            total,
        )
    {
        remedies.push(Remedy {
            changes: vec![Change::SequenceLength(tokens)],
            what: format!("Shorten the context from {total} to {tokens} tokens"),
            cost: "less context per request",
        });
    }
    if let Some(batch) = largest_fitting(workload, |w, b| w.settings.batch_size = b, s.batch_size) {
        remedies.push(Remedy {
            changes: vec![Change::BatchSize(batch)],
            what: format!("Lower the batch size from {} to {batch}", s.batch_size),
            cost: "less throughput per step",
        });
    }
    for degree in [2, 4, 8] {
        // Serving shards the weights and the cache by tensor parallelism; training shards
        // weights, gradients and optimizer state (FSDP, ZeRO-3), each device keeping its
        // own batch and activations.
        let change = match s.mode {
            Mode::Inference => Change::TensorParallel(degree),
            Mode::Training => Change::ShardParameters(degree),
        };
        if advisor_model::fits(&advisor_model::changed(workload, &[change])) {
            remedies.push(Remedy {
                changes: vec![change],
                what: match s.mode {
                    Mode::Inference => format!("Shard the model over {degree} GPUs (tensor parallelism)"),
                    Mode::Training => format!(
                        "Shard weights, gradients and optimizer state over {degree} GPUs (FSDP / ZeRO-3), each keeping batch {}",
                        s.batch_size
                    ),
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
        advisor_model::fits(&trial)
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

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::rules::test_support::{advise, context, llama_2_7b, llama_2_13b, target};

    #[test]
    fn llama_2_13b_at_batch_32_and_2048_tokens_on_an_a100_40gb() {
        expect![[r#"
            feasibility · memory · impact critical · difficulty easy
            title: The run does not fit: it needs 77.6 GiB on a device of 40.0 GiB
            description: By the model, the peak memory of this run is 77.6 GiB (KV cache 50.0 GiB + weights 24.2 GiB + activations 2.8 GiB + CUDA context and workspaces 512.0 MiB), 40.4 GiB more than the 37.2 GiB a run can plan to use on the NVIDIA A100 40GB (93 % of its 40.0 GiB: the driver reserves some and the allocator fragments). It fails with out-of-memory as configured; the changes below make it fit.
            changes: fp8 KV cache; int4 weights
            expected:
            - memory −55 % [0.546, 0.546]: model: peak memory 77.6 GiB → 35.2 GiB (KV cache 25.0 GiB + weights 6.9 GiB + activations 2.8 GiB + CUDA context and workspaces 512.0 MiB)
            - model_size −72 % [0.716, 0.716]: model: weights 24.2 GiB → 6.9 GiB (16 → 4.25 bits per weight, embeddings and head at 16 bits)
            evidence:
            - device memory 40.0 GiB (hardware_info.gpu_memory_mb)
            - batch_size 32 (config batch_size)
            - weights 24.2 GiB at fp16 (derived: weights stored at the compute precision, fp16)
            - prompt 1536 + generated 512 tokens (assumed: config seq_len = 2048 taken as the context: 1536 prompt tokens and 512 generated (at most 512, a long answer; set prompt_len and new_tokens to say))
            steps:
            - Store the KV cache in fp8 (vLLM kv_cache_dtype="fp8"): peak 52.6 GiB — still does not fit (small quality cost)
            - Quantize the weights to int8: peak 65.7 GiB — still does not fit (usually within noise)
            - Quantize the weights to int4 (AWQ, GPTQ): peak 60.2 GiB — still does not fit (measurable quality cost)
            - Store the KV cache in fp8 (vLLM kv_cache_dtype="fp8"), and quantize the weights to int4 (AWQ, GPTQ): peak 35.2 GiB — fits (both costs)
            - Shorten the context from 2048 to 482 tokens: peak 37.2 GiB — fits (less context per request)
            - Lower the batch size from 32 to 7: peak 36.3 GiB — fits (less throughput per step)
            - Shard the model over 4 GPUs (tensor parallelism): peak 21.9 GiB — fits (more devices)
        "#]].assert_eq(&advise(
            "feasibility",
            context(
                llama_2_13b(),
                target("nvidia-a100-40gb"),
                json!({ "mode": "inference", "batch_size": "32", "seq_len": "2048",
                        "flash_attention": "true" }),
            ),
        ));
    }

    #[test]
    fn a_full_fine_tune_of_llama_2_7b_on_one_a100_80gb() {
        expect![[r#"
            feasibility · memory · impact critical · difficulty easy
            title: The run does not fit: it needs 119.1 GiB on a device of 80.0 GiB
            description: By the model, the peak memory of this run is 119.1 GiB (optimizer state 75.3 GiB + activations 17.0 GiB + weights 12.6 GiB + gradients 12.6 GiB + logits 1.2 GiB + CUDA context and workspaces 512.0 MiB), 44.7 GiB more than the 74.4 GiB a run can plan to use on the NVIDIA A100 80GB SXM (93 % of its 80.0 GiB: the driver reserves some and the allocator fragments). It fails with out-of-memory as configured; the changes below make it fit.
            changes: LoRA adapters of rank 16
            expected:
            - memory −74 % [0.736, 0.736]: model: peak memory 119.1 GiB → 31.4 GiB (activations 17.0 GiB + weights 12.6 GiB + logits 1.2 GiB + CUDA context and workspaces 512.0 MiB + optimizer state 96.0 MiB + gradients 32.0 MiB)
            evidence:
            - device memory 80.0 GiB (hardware_info.gpu_memory_mb)
            - batch_size 4 (config batch_size)
            - weights 12.6 GiB at bf16 (derived: weights stored at the compute precision, bf16)
            - 1024 tokens per sequence (config seq_len)
            steps:
            - Turn on activation checkpointing: peak 103.7 GiB — still does not fit (about a third more compute per step)
            - Use 8-bit Adam (bitsandbytes AdamW8bit): peak 81.5 GiB — still does not fit (no measurable quality cost in its paper)
            - Fine-tune LoRA adapters of rank 16 on frozen weights (PEFT): peak 31.4 GiB — fits (adapters, not a full fine-tune)
            - QLoRA: rank-16 adapters on 4-bit frozen weights (bitsandbytes NF4): peak 22.6 GiB — fits (adapters on quantized weights, slower steps)
            - Shard weights, gradients and optimizer state over 2 GPUs (FSDP / ZeRO-3), each keeping batch 4: peak 69.7 GiB — fits (more devices)
        "#]].assert_eq(&advise(
            "feasibility",
            context(
                llama_2_7b(),
                target("nvidia-a100-80gb"),
                json!({ "mode": "training", "batch_size": "4", "seq_len": "1024",
                        "precision": "bf16", "flash_attention": "true" }),
            ),
        ));
    }

    #[test]
    fn llama_2_7b_at_32k_tokens_with_eager_attention() {
        expect![[r#"
            feasibility · memory · impact critical · difficulty easy
            title: The run does not fit: it needs 216.6 GiB on a device of 80.0 GiB
            description: By the model, the peak memory of this run is 216.6 GiB (attention scores 186.0 GiB + KV cache 16.0 GiB + weights 12.6 GiB + activations 1.5 GiB + CUDA context and workspaces 512.0 MiB), 142.2 GiB more than the 74.4 GiB a run can plan to use on the NVIDIA A100 80GB SXM (93 % of its 80.0 GiB: the driver reserves some and the allocator fragments). It fails with out-of-memory as configured; the changes below make it fit.
            changes: fused (flash) attention
            expected:
            - memory −86 % [0.859, 0.859]: model: peak memory 216.6 GiB → 30.5 GiB (KV cache 16.0 GiB + weights 12.6 GiB + activations 1.5 GiB + CUDA context and workspaces 512.0 MiB)
            evidence:
            - device memory 80.0 GiB (hardware_info.gpu_memory_mb)
            - batch_size 1 (config batch_size)
            - weights 12.6 GiB at fp16 (derived: weights stored at the compute precision, fp16)
            - prompt 32256 + generated 512 tokens (assumed: config seq_len = 32768 taken as the context: 32256 prompt tokens and 512 generated (at most 512, a long answer; set prompt_len and new_tokens to say))
            steps:
            - Use flash attention (attn_implementation="flash_attention_2" or "sdpa"): peak 30.5 GiB — fits (no quality cost)
            - Store the KV cache in fp8 (vLLM kv_cache_dtype="fp8"): peak 208.6 GiB — still does not fit (small quality cost)
            - Quantize the weights to int8: peak 210.5 GiB — still does not fit (usually within noise)
            - Quantize the weights to int4 (AWQ, GPTQ): peak 207.7 GiB — still does not fit (measurable quality cost)
            - Shorten the context from 32768 to 17339 tokens: peak 74.4 GiB — fits (less context per request)
            - Shard the model over 4 GPUs (tensor parallelism): peak 55.6 GiB — fits (more devices)
            diagnostic Warning inputs: the sequence (32768 tokens) is longer than the model's 4096 positions
        "#]].assert_eq(&advise(
            "feasibility",
            context(
                llama_2_7b(),
                target("nvidia-a100-80gb"),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "32768",
                        "flash_attention": "false" }),
            ),
        ));
    }

    #[test]
    fn llama_2_7b_at_batch_1_fits_an_a100_80gb() {
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "feasibility",
            context(
                llama_2_7b(),
                target("nvidia-a100-80gb"),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "4096" }),
            ),
        ));
    }
}
