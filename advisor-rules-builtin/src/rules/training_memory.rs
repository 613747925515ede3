//! `training_memory`: a training run whose weights, gradients and optimizer state do not fit
//! the GPU, or barely fit.
//!
//! ## What it checks
//! GPU training whose peak memory (measured, else the performance model's) is above 80 % of
//! the device, and the changes that shrink the training state, each run through the model for
//! its memory and its step time: sharding the state over the job's data-parallel GPUs (or
//! the machine's, when the job uses one) at ZeRO stage 1, 2 or 3, 8-bit Adam, offloading the
//! optimizer to the CPU, LoRA adapters on frozen weights, and QLoRA. The suggestion proposes
//! the change that fits at the least time per sample, preferring those that keep a full
//! fine-tune to those that train adapters, and lists the others with their figures.
//!
//! ## Why it matters
//! Mixed-precision AdamW keeps 16 bytes per parameter besides the activations: 16-bit
//! weights and gradients, fp32 master weights and two fp32 moments (Rajbhandari et al. 2020,
//! "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models", §3.1), 112 GiB for
//! a 7 B model. Each remedy trades that memory for something else, which the model prices:
//! - ZeRO stage 1/2/3 (DeepSpeed; PyTorch FSDP `SHARD_GRAD_OP` is stage 2, `FULL_SHARD`
//!   stage 3) divides the optimizer state, then the gradients, then the weights by the `n`
//!   data-parallel GPUs. Stages 1 and 2 move the same bytes as DDP's all-reduce,
//!   `2(n − 1)/n` of the gradients per step; stage 3 adds an all-gather of the weights for
//!   the forward and again for the backward, 1.5× the volume (ZeRO §7.2), each collective a
//!   ring over the GPUs' link at the table's bandwidth (NCCL's bus bandwidth: nccl-tests
//!   `doc/PERFORMANCE.md`), hidden behind the backward pass where it is long enough.
//! - 8-bit Adam (bitsandbytes `AdamW8bit`, Dettmers et al. 2021, "8-bit Optimizers via
//!   Block-wise Quantization") keeps each moment in one byte: 2 B per parameter of state
//!   instead of 8.
//! - CPU offload (ZeRO-Offload, Ren et al. 2021) keeps the fp32 master weights and moments
//!   in host memory and runs Adam there: every step the gradients go down and the updated
//!   weights come back over PCIe, and the CPU streams 28 B per parameter at its memory
//!   bandwidth.
//! - LoRA (Hu et al. 2021) trains rank-16 adapters on the query and value projections and
//!   freezes the rest: no gradients or optimizer state for the base weights, and a backward
//!   pass without weight gradients. QLoRA (Dettmers et al. 2023) also stores the frozen base
//!   in 4 bits.
//!
//! Activations are gradient checkpointing's (its own rule): this one leaves them as they are.
//!
//! ## When it stays silent
//! Inference, a CPU run, a peak at most 80 % of the device, or no change that frees at least
//! 10 % of the peak. Without the model or the device it says what it needs.
//!
//! ## Example
//! A full fine-tune of Llama-2-7B at batch 4 and 1024 tokens on a machine with eight A100
//! 80GB GPUs, one of which the job uses.

use advisor_core::{
    Category, Change, Difficulty, Impact, ImprovementMetric, Mode, OptimizationRule,
    OptimizationSuggestion, OptimizerKind, RuleError, RuleInput, Sharding, WeightFormat,
};
use advisor_model::{Simulation, Workload, bytes_text, parts_text};

use crate::facts;

/// Peak memory above this share of the device is "near the limit" (as gradient
/// checkpointing's rule holds it).
const HIGH_MEMORY_SHARE: f64 = 0.8;
/// The least share of the peak a change must free to be worth its cost.
const MIN_MEMORY_GAIN: f64 = 0.10;
/// The LoRA rank proposed: PEFT's examples and the QLoRA paper's default range (8–64).
const LORA_RANK: u64 = 16;

/// See the module documentation.
pub(crate) struct TrainingMemory;

/// One change this rule weighs.
struct Remedy {
    changes: Vec<Change>,
    what: String,
    /// Whether the run still trains every weight (not adapters).
    full_fine_tune: bool,
    difficulty: Difficulty,
    code: (&'static str, String),
    warning: Option<String>,
}

impl OptimizationRule for TrainingMemory {
    fn id(&self) -> &str {
        "training_memory"
    }

    fn category(&self) -> Category {
        Category::Memory
    }

    fn description(&self) -> &str {
        "Training state near or over the GPU's memory: ZeRO/FSDP stages, 8-bit Adam, CPU offload, LoRA and QLoRA, each with its memory and step time"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        if facts.mode()? != Mode::Training {
            return Ok(Vec::new());
        }
        let Some((gpu, spec)) = facts.run_gpu_spec()? else {
            return Ok(Vec::new());
        };
        let capacity = facts.device_memory()?;
        let workload = Workload::from_facts(facts)?;
        let before = advisor_model::predict(&workload);
        let measured = facts.measured.peak_memory_bytes.map(|p| p as f64);
        let peak = measured.unwrap_or(before.memory.total());
        let device = capacity.value as f64;
        if peak <= HIGH_MEMORY_SHARE * device {
            return Ok(Vec::new());
        }
        let s = &workload.settings;
        let devices = if facts.run.data_parallel.value > 1 {
            facts.run.data_parallel.value
        } else {
            gpu.count
        };
        let weigh = |remedies: Vec<Remedy>| -> Vec<(Remedy, Simulation)> {
            remedies
                .into_iter()
                .map(|remedy| {
                    let simulation =
                        advisor_model::simulate_workload(workload.clone(), &remedy.changes);
                    (remedy, simulation)
                })
                .filter(|(_, simulation)| memory_gain(simulation) >= MIN_MEMORY_GAIN)
                .collect()
        };
        let mut weighed = weigh(remedies(input, &workload, devices));
        // When no change fits alone and activations are kept whole, each with activation
        // checkpointing (gradient_checkpointing's change, counted once in the plan).
        if !weighed.iter().any(|(_, sim)| sim.predicted_after.fits()) && !s.gradient_checkpointing {
            let with_checkpointing = remedies(input, &workload, devices)
                .into_iter()
                .map(|mut remedy| {
                    remedy.changes.push(Change::GradientCheckpointing(true));
                    remedy.what = format!("{}, with activation checkpointing", remedy.what);
                    remedy
                })
                .collect();
            weighed = weigh(with_checkpointing);
        }
        let per_sample =
            |simulation: &Simulation| simulation.predicted_after.range(|t| t.per_sample_seconds).1;
        // The change that fits at the least time per sample (within 2 %, the least intrusive:
        // they are listed in that order), a full fine-tune before adapters.
        let fitting = |full: bool| {
            weighed
                .iter()
                .enumerate()
                .filter(move |(_, (remedy, simulation))| {
                    simulation.predicted_after.fits() && remedy.full_fine_tune == full
                })
        };
        let pick = |full: bool| {
            let best = fitting(full)
                .map(|(_, (_, simulation))| per_sample(simulation))
                .fold(f64::INFINITY, f64::min);
            fitting(full)
                .find(|(_, (_, simulation))| per_sample(simulation) <= best * 1.02)
                .map(|(index, _)| index)
        };
        let Some(chosen) = pick(true).or_else(|| pick(false)) else {
            return Ok(Vec::new());
        };
        let (remedy, simulation) = &weighed[chosen];
        let fits_now = before.fits();
        let title = if fits_now {
            format!(
                "Make room in training memory: {}",
                lowercase_first(&remedy.what)
            )
        } else {
            format!(
                "Fit the training state in memory: {}",
                lowercase_first(&remedy.what)
            )
        };
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Memory,
            Impact::High,
            remedy.difficulty,
            title,
        )
        .description(format!(
            "Besides its activations, a training step keeps the weights, their gradients and the optimizer state: {} here. \
             Of the changes that shrink that state, this one {} at the least time per sample by the model; \
             the others are listed with their memory and step time.",
            bytes_text(before.memory.weights + before.memory.gradients + before.memory.optimizer),
            if fits_now { "brings the peak under the limit" } else { "makes the run fit" },
        ))
        .evidence(format!(
            "peak memory {} ({}) is {} of {} ({})",
            bytes_text(peak),
            if measured.is_some() { "memory_metrics.peak_bytes" } else { "the model" },
            facts::percent(peak / device),
            bytes_text(device),
            capacity.source
        ))
        .evidence(format!(
            "by the model: {}",
            parts_text(&before.memory)
        ))
        .evidence(facts::sourced("optimizer", &facts.run.optimizer))
        .evidence(facts::sourced("data_parallel", &facts.run.data_parallel))
        .evidence(facts::sourced("zero_stage", &facts.run.zero_stage))
        .evidence(format!(
            "{} GPU{} of {} (hardware_info.gpu_count), linked by {}",
            gpu.count,
            if gpu.count == 1 { "" } else { "s" },
            spec.name,
            if spec.link.is_empty() { "an unknown link (PCIe 4.0 assumed)" } else { spec.link.as_str() }
        ));
        if !s.gradient_checkpointing && before.memory.activations > 0.3 * before.memory.total() {
            suggestion = suggestion.evidence(format!(
                "activations take {} and checkpointing is off: gradient_checkpointing weighs that on its own",
                bytes_text(before.memory.activations)
            ));
        }
        suggestion = facts::with_simulation(suggestion, &remedy.changes, simulation);
        for (other, other_simulation) in &weighed {
            suggestion = suggestion.step(facts::alternative_line(&other.what, other_simulation));
        }
        suggestion = suggestion.code(remedy.code.0, remedy.code.1.clone());
        for (other, other_simulation) in &weighed {
            if !std::ptr::eq(other, remedy) && other_simulation.predicted_after.fits() {
                suggestion = suggestion.code(other.code.0, other.code.1.clone());
            }
        }
        if let Some(warning) = &remedy.warning {
            suggestion = suggestion.warning(warning.clone());
        }
        suggestion.impact = if fits_now {
            facts::impact_from_reduction(memory_gain(simulation))
        } else {
            Impact::High
        };
        Ok(vec![suggestion])
    }
}

/// The share of the peak a simulation frees.
fn memory_gain(simulation: &Simulation) -> f64 {
    simulation
        .improvement(ImprovementMetric::Memory)
        .map_or(0.0, |i| i.max_reduction)
}

/// The changes that shrink the training state, for this run.
fn remedies(input: &RuleInput<'_>, workload: &Workload, devices: u64) -> Vec<Remedy> {
    let s = &workload.settings;
    let facts = input.facts;
    let mut remedies = Vec::new();
    let full = s.lora_rank == 0;
    let sharded_stage = if facts.run.zero_stage.value > 0 && s.parameter_shards > 1 {
        s.zero_stage
    } else {
        0
    };
    if devices > 1 {
        for stage in 1u8..=3 {
            if stage <= sharded_stage || (!full && stage < 3) {
                continue;
            }
            let sharding = Sharding { stage, devices };
            remedies.push(Remedy {
                changes: vec![Change::Shard(sharding)],
                what: format!(
                    "Shard {} over {devices} GPUs (ZeRO stage {stage}{})",
                    match stage {
                        1 => "the optimizer state",
                        2 => "the optimizer state and gradients",
                        _ => "the weights, gradients and optimizer state",
                    },
                    match stage {
                        2 => ", FSDP SHARD_GRAD_OP",
                        3 => ", FSDP FULL_SHARD",
                        _ => "",
                    }
                ),
                full_fine_tune: full,
                difficulty: Difficulty::Medium,
                code: if stage == 1 {
                    ("json", deepspeed_json(stage, false, s.batch_size))
                } else {
                    ("python", fsdp_code(stage, s.compute))
                },
                warning: (facts.run.data_parallel.value <= 1).then(|| {
                    format!(
                        "The job runs on one GPU ({}): sharding runs it on {devices}, one process each (torchrun --nproc_per_node={devices}), each with its own batch of {}; the figures per sample count all of them.",
                        facts.run.data_parallel.source,
                        s.batch_size
                    )
                }),
            });
        }
    }
    if full && s.optimizer == OptimizerKind::AdamW {
        remedies.push(Remedy {
            changes: vec![Change::Optimizer(OptimizerKind::Adam8bit)],
            what: "Use 8-bit AdamW (bitsandbytes AdamW8bit, or paged_adamw_8bit)".to_owned(),
            full_fine_tune: true,
            difficulty: Difficulty::Easy,
            code: ("python", adam8bit_code()),
            warning: Some(
                "Dettmers et al. (2021) match 32-bit Adam on their language-model and fine-tuning benchmarks with a stable embedding layer; compare the loss curve of a short run before committing.".to_owned(),
            ),
        });
    }
    if full && !s.cpu_offload && s.optimizer != OptimizerKind::SgdMomentum {
        let state_bytes = workload.model.parameters.unwrap_or(0) as f64 * 12.0;
        let host = facts.cpu.as_ref().and_then(|cpu| cpu.memory_bytes);
        // The host must hold the fp32 master weights and the moments (12 B per parameter),
        // shared by every GPU of the machine.
        if host.is_none_or(|bytes| state_bytes <= 0.8 * bytes as f64) {
            let stage = sharded_stage.max(2);
            remedies.push(Remedy {
                changes: if devices > 1 {
                    vec![
                        Change::Shard(Sharding { stage, devices }),
                        Change::CpuOffload(true),
                    ]
                } else {
                    vec![Change::CpuOffload(true)]
                },
                what: format!(
                    "Offload the optimizer state to the CPU (DeepSpeed ZeRO-Offload{}): {} of host memory",
                    if devices > 1 { format!(", ZeRO stage {stage} over {devices} GPUs") } else { String::new() },
                    bytes_text(state_bytes)
                ),
                full_fine_tune: true,
                difficulty: Difficulty::Medium,
                code: ("json", deepspeed_json(stage, true, s.batch_size)),
                warning: Some(format!(
                    "The host needs {} free for the fp32 master weights and moments{}; pinned memory makes the PCIe copies fast.",
                    bytes_text(state_bytes),
                    host.map_or(" (system_memory_mb is not given: check it)".to_owned(), |h| format!(" of its {}", bytes_text(h as f64)))
                )),
            });
        }
    }
    if full {
        let family = input
            .facts
            .model
            .as_ref()
            .map(|m| (m.generates(), m.name.clone()));
        let generates = family.as_ref().is_some_and(|(g, _)| *g);
        remedies.push(Remedy {
            changes: vec![Change::Lora(LORA_RANK)],
            what: format!("Fine-tune rank-{LORA_RANK} LoRA adapters on frozen weights (PEFT)"),
            full_fine_tune: false,
            difficulty: Difficulty::Medium,
            code: ("python", lora_code(input, generates)),
            warning: Some(lora_warning()),
        });
    }
    if !s.weights.is_integer() {
        let generates = input.facts.model.as_ref().is_some_and(|m| m.generates());
        let rank = if full { LORA_RANK } else { s.lora_rank };
        remedies.push(Remedy {
            changes: vec![Change::Lora(rank), Change::Weights(WeightFormat::Int4)],
            what: format!("QLoRA: rank-{rank} adapters on 4-bit frozen weights (bitsandbytes NF4)"),
            full_fine_tune: false,
            difficulty: Difficulty::Medium,
            code: ("python", qlora_code(input, generates, rank)),
            warning: Some(format!(
                "{} The model counts the 4-bit weights' reads, not bitsandbytes' dequantization before each matmul, which makes QLoRA steps slower than 16-bit LoRA in practice (Dettmers et al. 2023 trade speed for memory).",
                if full { lora_warning() } else { String::new() }
            ).trim().to_owned()),
        });
    }
    remedies
}

fn lora_warning() -> String {
    "LoRA trains adapters, not the model: Hu et al. (2021) match full fine-tuning on GLUE and GPT-3 tasks at ranks 4–64, but tasks far from pre-training (new languages, long reasoning) can need more rank or more target modules; evaluate against a full fine-tune on a sample.".to_owned()
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The projection names PEFT targets for the model's family (query and value).
fn lora_targets(input: &RuleInput<'_>) -> &'static str {
    let family = facts::model_family(input);
    match family.as_str() {
        "gpt2" => "[\"c_attn\"]",
        "bert" | "roberta" => "[\"query\", \"value\"]",
        "distilbert" => "[\"q_lin\", \"v_lin\"]",
        _ => "[\"q_proj\", \"v_proj\"]",
    }
}

fn lora_code(input: &RuleInput<'_>, generates: bool) -> String {
    format!(
        "from peft import LoraConfig, get_peft_model\n\n\
         config = LoraConfig(r={LORA_RANK}, lora_alpha={}, lora_dropout=0.05,\n                    target_modules={}, task_type=\"{}\")\n\
         model = get_peft_model(model, config)\n\
         model.print_trainable_parameters()",
        2 * LORA_RANK,
        lora_targets(input),
        if generates { "CAUSAL_LM" } else { "SEQ_CLS" }
    )
}

fn qlora_code(input: &RuleInput<'_>, generates: bool, rank: u64) -> String {
    format!(
        "import torch\nfrom transformers import {auto}, BitsAndBytesConfig\nfrom peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training\n\n\
         quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=\"nf4\",\n                                  bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.bfloat16)\n\
         model = {auto}.from_pretrained(name, quantization_config=quantization)\n\
         model = prepare_model_for_kbit_training(model)\n\
         model = get_peft_model(model, LoraConfig(r={rank}, lora_alpha={}, target_modules={}, task_type=\"{}\"))",
        2 * rank,
        lora_targets(input),
        if generates { "CAUSAL_LM" } else { "SEQ_CLS" },
        auto = if generates {
            "AutoModelForCausalLM"
        } else {
            "AutoModelForSequenceClassification"
        },
    )
}

fn adam8bit_code() -> String {
    "import bitsandbytes as bnb\n\n\
     optimizer = bnb.optim.AdamW8bit(model.parameters(), lr=lr, betas=(0.9, 0.999), weight_decay=0.01)\n\
     # Hugging Face Trainer: TrainingArguments(..., optim=\"adamw_bnb_8bit\")  (or \"paged_adamw_8bit\")"
        .to_owned()
}

fn fsdp_code(stage: u8, compute: advisor_core::Precision) -> String {
    let dtype = match compute {
        advisor_core::Precision::Fp16 => "torch.float16",
        advisor_core::Precision::Fp32 => "torch.float32",
        _ => "torch.bfloat16",
    };
    format!(
        "# torchrun --nproc_per_node=N train.py\n\
         import functools, torch, torch.distributed as dist\n\
         from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, MixedPrecision, ShardingStrategy\n\
         from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy\n\n\
         dist.init_process_group(\"nccl\")\n\
         torch.cuda.set_device(dist.get_rank() % torch.cuda.device_count())\n\
         wrap = functools.partial(transformer_auto_wrap_policy, transformer_layer_cls={{Block}})  # the model's layer class\n\
         model = FSDP(model, sharding_strategy=ShardingStrategy.{},\n             auto_wrap_policy=wrap, device_id=torch.cuda.current_device(),\n             mixed_precision=MixedPrecision(param_dtype={dtype}, reduce_dtype={dtype}))\n\
         optimizer = torch.optim.AdamW(model.parameters(), lr=lr)  # after wrapping",
        if stage >= 3 {
            "FULL_SHARD"
        } else {
            "SHARD_GRAD_OP"
        }
    )
}

fn deepspeed_json(stage: u8, offload: bool, batch: u64) -> String {
    let offload = if offload {
        ",\n    \"offload_optimizer\": { \"device\": \"cpu\", \"pin_memory\": true }"
    } else {
        ""
    };
    format!(
        "{{\n  \"train_micro_batch_size_per_gpu\": {batch},\n  \"bf16\": {{ \"enabled\": true }},\n  \"zero_optimization\": {{\n    \"stage\": {stage},\n    \"overlap_comm\": true,\n    \"contiguous_gradients\": true{offload}\n  }}\n}}"
    )
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::rules::test_support::{
        advise, context, llama_2_7b, qwen2_1_5b, roberta_base, target,
    };

    fn gpus(name: &str, count: u32) -> serde_json::Value {
        let mut hardware = target(name);
        hardware["gpu_count"] = json!(count);
        hardware["system_memory_mb"] = json!(1024 * 1024);
        hardware
    }

    fn llama_full_fine_tune() -> serde_json::Value {
        json!({ "mode": "training", "batch_size": "4", "seq_len": "1024",
                "precision": "bf16", "flash_attention": "true" })
    }

    #[test]
    fn a_full_fine_tune_of_llama_2_7b_on_one_of_eight_a100s() {
        expect![[r#"
            training_memory · memory · impact high · difficulty medium
            title: Fit the training state in memory: shard the optimizer state over 8 GPUs (ZeRO stage 1)
            description: Besides its activations, a training step keeps the weights, their gradients and the optimizer state: 100.4 GiB here. Of the changes that shrink that state, this one makes the run fit at the least time per sample by the model; the others are listed with their memory and step time.
            changes: ZeRO-1 over 8 devices
            expected:
            - latency −12–15 % [0.120, 0.154]: model: step 873.0 ms–2.01 s → 757.3 ms–1.74 s (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×9.1–9.5 [0.890, 0.894]: model: step time per sample 218.2 ms–501.3 ms → 23.7 ms–54.2 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −55 % [0.553, 0.553]: model: peak memory 119.1 GiB → 53.2 GiB (activations 17.0 GiB + weights 12.6 GiB + gradients 12.6 GiB + optimizer state 9.4 GiB + logits 1.2 GiB + CUDA context and workspaces 512.0 MiB)
            evidence:
            - peak memory 119.1 GiB (the model) is 148.9 % of 80.0 GiB (hardware_info.gpu_memory_mb)
            - by the model: optimizer state 75.3 GiB + activations 17.0 GiB + weights 12.6 GiB + gradients 12.6 GiB + logits 1.2 GiB + CUDA context and workspaces 512.0 MiB
            - optimizer adamw_torch (assumed: the optimizer is not given; AdamW is the default of Hugging Face's Trainer)
            - data_parallel 1 (assumed: data_parallel not set; the job runs on one GPU)
            - zero_stage 0 (assumed: zero_stage not set; nothing sharded (DDP))
            - 8 GPUs of NVIDIA A100 80GB SXM (hardware_info.gpu_count), linked by NVLink 3 (12 links)
            steps:
            - Shard the optimizer state over 8 GPUs (ZeRO stage 1): peak 119.1 GiB → 53.2 GiB (fits); step 873.0 ms–2.01 s → 757.3 ms–1.74 s, per sample 218.2 ms–501.3 ms → 23.7 ms–54.2 ms
            - Shard the optimizer state and gradients over 8 GPUs (ZeRO stage 2, FSDP SHARD_GRAD_OP): peak 119.1 GiB → 42.3 GiB (fits); step 873.0 ms–2.01 s → 757.3 ms–1.74 s, per sample 218.2 ms–501.3 ms → 23.7 ms–54.2 ms
            - Shard the weights, gradients and optimizer state over 8 GPUs (ZeRO stage 3, FSDP FULL_SHARD): peak 119.1 GiB → 32.1 GiB (fits); step 873.0 ms–2.01 s → 758.5 ms–1.74 s, per sample 218.2 ms–501.3 ms → 23.7 ms–54.3 ms
            - Use 8-bit AdamW (bitsandbytes AdamW8bit, or paged_adamw_8bit): peak 119.1 GiB → 81.5 GiB (does not fit); step 873.0 ms–2.01 s → 816.3 ms–1.87 s, per sample 218.2 ms–501.3 ms → 204.1 ms–468.3 ms
            - Offload the optimizer state to the CPU (DeepSpeed ZeRO-Offload, ZeRO stage 2 over 8 GPUs): 75.3 GiB of host memory: peak 119.1 GiB → 32.8 GiB (fits); step 873.0 ms–2.01 s → 1.06 s–2.18 s, per sample 218.2 ms–501.3 ms → 33.2 ms–68.0 ms
            - Fine-tune rank-16 LoRA adapters on frozen weights (PEFT): peak 119.1 GiB → 31.4 GiB (fits); step 873.0 ms–2.01 s → 493.9 ms–1.13 s, per sample 218.2 ms–501.3 ms → 123.5 ms–282.8 ms
            - QLoRA: rank-16 adapters on 4-bit frozen weights (bitsandbytes NF4): peak 119.1 GiB → 22.6 GiB (fits); step 873.0 ms–2.01 s → 493.9 ms–1.13 s, per sample 218.2 ms–501.3 ms → 123.5 ms–282.8 ms
            code: json, python, python, json, python, python
            warnings:
            - As configured the run does not fit in memory (see the feasibility suggestion): the figures compare with a run that cannot start.
            - The job runs on one GPU (assumed: data_parallel not set; the job runs on one GPU): sharding runs it on 8, one process each (torchrun --nproc_per_node=8), each with its own batch of 4; the figures per sample count all of them.
        "#]]
        .assert_eq(&advise(
            "training_memory",
            context(llama_2_7b(), gpus("nvidia-a100-80gb", 8), llama_full_fine_tune()),
        ));
    }

    #[test]
    fn a_full_fine_tune_of_llama_2_7b_with_ddp_over_eight_a100s() {
        let mut config = llama_full_fine_tune();
        config["data_parallel"] = json!("8");
        expect![[r#"
            training_memory · memory · impact high · difficulty medium
            title: Fit the training state in memory: shard the optimizer state over 8 GPUs (ZeRO stage 1)
            description: Besides its activations, a training step keeps the weights, their gradients and the optimizer state: 100.4 GiB here. Of the changes that shrink that state, this one makes the run fit at the least time per sample by the model; the others are listed with their memory and step time.
            changes: ZeRO-1 over 8 devices
            expected:
            - latency −12–15 % [0.120, 0.154]: model: step 873.2 ms–2.01 s → 757.3 ms–1.74 s (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.1–1.2 [0.120, 0.154]: model: step time per sample 27.3 ms–62.7 ms → 23.7 ms–54.2 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −55 % [0.553, 0.553]: model: peak memory 119.1 GiB → 53.2 GiB (activations 17.0 GiB + weights 12.6 GiB + gradients 12.6 GiB + optimizer state 9.4 GiB + logits 1.2 GiB + CUDA context and workspaces 512.0 MiB)
            evidence:
            - peak memory 119.1 GiB (the model) is 148.9 % of 80.0 GiB (hardware_info.gpu_memory_mb)
            - by the model: optimizer state 75.3 GiB + activations 17.0 GiB + weights 12.6 GiB + gradients 12.6 GiB + logits 1.2 GiB + CUDA context and workspaces 512.0 MiB
            - optimizer adamw_torch (assumed: the optimizer is not given; AdamW is the default of Hugging Face's Trainer)
            - data_parallel 8 (config data_parallel)
            - zero_stage 0 (assumed: zero_stage not set; nothing sharded (DDP))
            - 8 GPUs of NVIDIA A100 80GB SXM (hardware_info.gpu_count), linked by NVLink 3 (12 links)
            steps:
            - Shard the optimizer state over 8 GPUs (ZeRO stage 1): peak 119.1 GiB → 53.2 GiB (fits); step 873.2 ms–2.01 s → 757.3 ms–1.74 s, per sample 27.3 ms–62.7 ms → 23.7 ms–54.2 ms
            - Shard the optimizer state and gradients over 8 GPUs (ZeRO stage 2, FSDP SHARD_GRAD_OP): peak 119.1 GiB → 42.3 GiB (fits); step 873.2 ms–2.01 s → 757.3 ms–1.74 s, per sample 27.3 ms–62.7 ms → 23.7 ms–54.2 ms
            - Shard the weights, gradients and optimizer state over 8 GPUs (ZeRO stage 3, FSDP FULL_SHARD): peak 119.1 GiB → 32.1 GiB (fits); step 873.2 ms–2.01 s → 758.5 ms–1.74 s, per sample 27.3 ms–62.7 ms → 23.7 ms–54.3 ms
            - Use 8-bit AdamW (bitsandbytes AdamW8bit, or paged_adamw_8bit): peak 119.1 GiB → 81.5 GiB (does not fit); step 873.2 ms–2.01 s → 816.5 ms–1.87 s, per sample 27.3 ms–62.7 ms → 25.5 ms–58.5 ms
            - Offload the optimizer state to the CPU (DeepSpeed ZeRO-Offload, ZeRO stage 2 over 8 GPUs): 75.3 GiB of host memory: peak 119.1 GiB → 32.8 GiB (fits); step 873.2 ms–2.01 s → 1.06 s–2.18 s, per sample 27.3 ms–62.7 ms → 33.2 ms–68.0 ms
            - Fine-tune rank-16 LoRA adapters on frozen weights (PEFT): peak 119.1 GiB → 31.4 GiB (fits); step 873.2 ms–2.01 s → 494.0 ms–1.13 s, per sample 27.3 ms–62.7 ms → 15.4 ms–35.4 ms
            - QLoRA: rank-16 adapters on 4-bit frozen weights (bitsandbytes NF4): peak 119.1 GiB → 22.6 GiB (fits); step 873.2 ms–2.01 s → 494.0 ms–1.13 s, per sample 27.3 ms–62.7 ms → 15.4 ms–35.4 ms
            code: json, python, python, json, python, python
            warnings:
            - As configured the run does not fit in memory (see the feasibility suggestion): the figures compare with a run that cannot start.
        "#]]
        .assert_eq(&advise(
            "training_memory",
            context(llama_2_7b(), gpus("nvidia-a100-80gb", 8), config),
        ));
    }

    #[test]
    fn a_full_fine_tune_of_llama_2_7b_on_a_single_l4() {
        expect![[r#"
            training_memory · memory · impact high · difficulty medium
            title: Fit the training state in memory: fine-tune rank-16 LoRA adapters on frozen weights (PEFT), with activation checkpointing
            description: Besides its activations, a training step keeps the weights, their gradients and the optimizer state: 100.4 GiB here. Of the changes that shrink that state, this one makes the run fit at the least time per sample by the model; the others are listed with their memory and step time.
            changes: LoRA adapters of rank 16; activation checkpointing on
            expected:
            - latency −27–32 % [0.266, 0.319]: model: step 3.13 s–7.23 s → 2.23 s–5.13 s (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.4–1.5 [0.266, 0.319]: model: step time per sample 783.1 ms–1.81 s → 558.6 ms–1.28 s (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −87 % [0.866, 0.866]: model: peak memory 119.1 GiB → 15.9 GiB (weights 12.6 GiB + activations 1.5 GiB + logits 1.2 GiB + CUDA context and workspaces 512.0 MiB + optimizer state 96.0 MiB + gradients 32.0 MiB)
            evidence:
            - peak memory 119.1 GiB (the model) is 496.4 % of 24.0 GiB (hardware_info.gpu_memory_mb)
            - by the model: optimizer state 75.3 GiB + activations 17.0 GiB + weights 12.6 GiB + gradients 12.6 GiB + logits 1.2 GiB + CUDA context and workspaces 512.0 MiB
            - optimizer adamw_torch (assumed: the optimizer is not given; AdamW is the default of Hugging Face's Trainer)
            - data_parallel 1 (assumed: data_parallel not set; the job runs on one GPU)
            - zero_stage 0 (assumed: zero_stage not set; nothing sharded (DDP))
            - 1 GPU of NVIDIA L4 (hardware_info.gpu_count), linked by PCIe 4.0 x16
            steps:
            - Use 8-bit AdamW (bitsandbytes AdamW8bit, or paged_adamw_8bit), with activation checkpointing: peak 119.1 GiB → 66.0 GiB (does not fit); step 3.13 s–7.23 s → 3.49 s–8.04 s, per sample 783.1 ms–1.81 s → 872.9 ms–2.01 s
            - Offload the optimizer state to the CPU (DeepSpeed ZeRO-Offload): 75.3 GiB of host memory, with activation checkpointing: peak 119.1 GiB → 28.4 GiB (does not fit); step 3.13 s–7.23 s → 5.54 s–10.69 s, per sample 783.1 ms–1.81 s → 1.39 s–2.67 s
            - Fine-tune rank-16 LoRA adapters on frozen weights (PEFT), with activation checkpointing: peak 119.1 GiB → 15.9 GiB (fits); step 3.13 s–7.23 s → 2.23 s–5.13 s, per sample 783.1 ms–1.81 s → 558.6 ms–1.28 s
            - QLoRA: rank-16 adapters on 4-bit frozen weights (bitsandbytes NF4), with activation checkpointing: peak 119.1 GiB → 7.1 GiB (fits); step 3.13 s–7.23 s → 2.23 s–5.13 s, per sample 783.1 ms–1.81 s → 558.6 ms–1.28 s
            code: python, python
            warnings:
            - As configured the run does not fit in memory (see the feasibility suggestion): the figures compare with a run that cannot start.
            - LoRA trains adapters, not the model: Hu et al. (2021) match full fine-tuning on GLUE and GPT-3 tasks at ranks 4–64, but tasks far from pre-training (new languages, long reasoning) can need more rank or more target modules; evaluate against a full fine-tune on a sample.
        "#]]
        .assert_eq(&advise(
            "training_memory",
            context(llama_2_7b(), gpus("nvidia-l4", 1), llama_full_fine_tune()),
        ));
    }

    #[test]
    fn a_full_fine_tune_of_qwen2_1_5b_near_the_limit_of_one_a100_40gb() {
        expect![[r#"
            training_memory · memory · impact medium · difficulty easy
            title: Make room in training memory: use 8-bit AdamW (bitsandbytes AdamW8bit, or paged_adamw_8bit)
            description: Besides its activations, a training step keeps the weights, their gradients and the optimizer state: 23.0 GiB here. Of the changes that shrink that state, this one brings the peak under the limit at the least time per sample by the model; the others are listed with their memory and step time.
            changes: 8-bit Adam
            expected:
            - latency −9–11 % [0.086, 0.106]: model: step 181.8 ms–418.6 ms → 164.8 ms–378.9 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.1 [0.086, 0.106]: model: step time per sample 60.6 ms–139.5 ms → 54.9 ms–126.3 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −27 % [0.269, 0.269]: model: peak memory 32.0 GiB → 23.4 GiB (optimizer state 8.6 GiB + logits 4.3 GiB + activations 4.2 GiB + weights 2.9 GiB + gradients 2.9 GiB + CUDA context and workspaces 512.0 MiB)
            evidence:
            - peak memory 32.0 GiB (the model) is 80.1 % of 40.0 GiB (hardware_info.gpu_memory_mb)
            - by the model: optimizer state 17.3 GiB + logits 4.3 GiB + activations 4.2 GiB + weights 2.9 GiB + gradients 2.9 GiB + CUDA context and workspaces 512.0 MiB
            - optimizer adamw_torch (assumed: the optimizer is not given; AdamW is the default of Hugging Face's Trainer)
            - data_parallel 1 (assumed: data_parallel not set; the job runs on one GPU)
            - zero_stage 0 (assumed: zero_stage not set; nothing sharded (DDP))
            - 1 GPU of NVIDIA A100 40GB (hardware_info.gpu_count), linked by NVLink 3 (12 links)
            steps:
            - Use 8-bit AdamW (bitsandbytes AdamW8bit, or paged_adamw_8bit): peak 32.0 GiB → 23.4 GiB (fits); step 181.8 ms–418.6 ms → 164.8 ms–378.9 ms, per sample 60.6 ms–139.5 ms → 54.9 ms–126.3 ms
            - Offload the optimizer state to the CPU (DeepSpeed ZeRO-Offload): 17.3 GiB of host memory: peak 32.0 GiB → 14.8 GiB (fits); step 181.8 ms–418.6 ms → 742.0 ms–1.21 s, per sample 60.6 ms–139.5 ms → 247.3 ms–402.3 ms
            - Fine-tune rank-16 LoRA adapters on frozen weights (PEFT): peak 32.0 GiB → 12.0 GiB (fits); step 181.8 ms–418.6 ms → 94.7 ms–217.4 ms, per sample 60.6 ms–139.5 ms → 31.6 ms–72.5 ms
            - QLoRA: rank-16 adapters on 4-bit frozen weights (bitsandbytes NF4): peak 32.0 GiB → 10.2 GiB (fits); step 181.8 ms–418.6 ms → 94.7 ms–217.4 ms, per sample 60.6 ms–139.5 ms → 31.6 ms–72.5 ms
            code: python, json, python, python
            warnings:
            - Dettmers et al. (2021) match 32-bit Adam on their language-model and fine-tuning benchmarks with a stable embedding layer; compare the loss curve of a short run before committing.
        "#]]
        .assert_eq(&advise(
            "training_memory",
            context(
                qwen2_1_5b(),
                gpus("nvidia-a100-40gb", 1),
                json!({ "mode": "training", "batch_size": "3", "seq_len": "1024", "precision": "bf16" }),
            ),
        ));
    }

    #[test]
    fn a_lora_fine_tune_with_8_bit_adam_already_is_left_alone() {
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "training_memory",
            context(
                llama_2_7b(),
                gpus("nvidia-a100-40gb", 1),
                json!({ "mode": "training", "batch_size": "4", "seq_len": "1024", "precision": "bf16",
                        "lora_rank": "16", "quantization": "int4", "optim": "paged_adamw_8bit" }),
            ),
        ));
    }

    #[test]
    fn roberta_fine_tuning_fits_an_a10g_with_room() {
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "training_memory",
            context(
                roberta_base(),
                gpus("nvidia-a10g", 1),
                json!({ "mode": "training", "batch_size": "16", "seq_len": "512", "precision": "bf16" }),
            ),
        ));
    }

    #[test]
    fn needs_the_model() {
        expect![[r#"
            silent
            diagnostic Info training_memory: could not decide: needs model_graph (--model FILE or --example NAME)
        "#]]
        .assert_eq(&advise(
            "training_memory",
            json!({ "hardware_info": target("nvidia-a100-80gb"),
                    "current_config": llama_full_fine_tune() }),
        ));
    }
}
