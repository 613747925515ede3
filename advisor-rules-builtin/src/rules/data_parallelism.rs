//! `data_parallelism`: training on one GPU of a machine with several, or data-parallel
//! training whose gradient synchronization the compute does not hide.
//!
//! ## What it checks
//! GPU training whose state fits comfortably (peak at most 80 % of the device: above that it
//! is `training_memory`'s, which shards it), and either
//! - the job uses one GPU (`data_parallel` unset or 1, and no trace saying otherwise) on a
//!   machine with two or more (`hardware_info.gpu_count`): one DDP replica per GPU, each with
//!   its own batch, when the performance model finds at least 10 % more samples per second;
//! - or the job is data-parallel (`data_parallel`, else the trace's `distributedInfo` world
//!   size) and the synchronization the backward pass does not hide is at least 10 % of the
//!   step: gradient accumulation, which synchronizes once per `k` micro-steps.
//!
//! ## Why it matters
//! Data parallelism multiplies the samples per step by the replicas; its price is one
//! all-reduce of the gradients per optimizer step. A ring all-reduce sends `2(n − 1)/n` of the
//! gradient bytes over each GPU's link (NCCL's bus bandwidth, nccl-tests
//! `doc/PERFORMANCE.md`; Patarasuk and Yuan 2009), at the link bandwidth the accelerator table
//! gives (NVLink 300–450 GB/s each way, PCIe 16–64 GB/s). PyTorch DDP all-reduces 25 MiB
//! buckets as the backward pass fills them, so all but the last hide behind the backward
//! (Li et al. 2020, "PyTorch Distributed: Experiences on Accelerating Data Parallel Training",
//! §3.2.3); the model charges what the backward pass cannot hide. Over NVLink a 7 B model's
//! 13.5 GB of bf16 gradients take ~90 ms, hidden; over PCIe ~0.8 s, most of it exposed, and
//! accumulating `k` micro-steps under `no_sync` pays it once per `k`.
//!
//! ## When it stays silent
//! Inference, a CPU run, one GPU, a peak above 80 % of the device (`training_memory`), a job
//! that spans machines (`data_parallel` above `gpu_count`: the model knows only the link
//! inside one), or less than 10 % to gain. Without the model or the device it says what it
//! needs.
//!
//! ## Example
//! Fine-tuning RoBERTa-base at batch 32 on one of eight A10G GPUs (an AWS g5.48xlarge).

use advisor_core::{
    Category, Change, Difficulty, Impact, ImprovementMetric, Mode, OptimizationRule,
    OptimizationSuggestion, RuleError, RuleInput,
};
use advisor_model::{Simulation, Workload, bytes_text, seconds_text};

use crate::facts;

/// Peak memory above this share of the device is `training_memory`'s.
const HIGH_MEMORY_SHARE: f64 = 0.8;
/// The least gain in samples per second worth the change.
const MIN_GAIN: f64 = 0.10;
/// The exposed synchronization, as a share of the step, that accumulation should bring
/// the step under.
const EXPOSED_TARGET: f64 = 0.05;

/// See the module documentation.
pub(crate) struct DataParallelism;

impl OptimizationRule for DataParallelism {
    fn id(&self) -> &str {
        "data_parallelism"
    }

    fn category(&self) -> Category {
        Category::Parallelization
    }

    fn description(&self) -> &str {
        "Training on one of several GPUs, or with a gradient all-reduce the backward pass does not hide: DDP replicas, gradient accumulation"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        if facts.mode()? != Mode::Training {
            return Ok(Vec::new());
        }
        let Some((gpu, _)) = facts.run_gpu_spec()? else {
            return Ok(Vec::new());
        };
        let capacity = facts.device_memory()?;
        let workload = Workload::from_facts(facts)?;
        let before = advisor_model::predict(&workload);
        let peak = facts
            .measured
            .peak_memory_bytes
            .map_or(before.memory.total(), |p| p as f64);
        if peak > HIGH_MEMORY_SHARE * capacity.value as f64 {
            return Ok(Vec::new());
        }
        let replicas = workload.settings.replicas();
        if replicas > gpu.count {
            return Ok(Vec::new());
        }
        let suggestion = if replicas <= 1 {
            if gpu.count < 2 {
                return Ok(Vec::new());
            }
            self.replicate(input, &workload, gpu.count)?
        } else {
            self.accumulate(input, &workload)?
        };
        Ok(suggestion.into_iter().collect())
    }
}

/// The largest time per sample over the scenarios after a simulation.
fn per_sample(simulation: &Simulation) -> f64 {
    simulation.predicted_after.range(|t| t.per_sample_seconds).1
}

/// The throughput gain of a simulation (its largest reduction of the time per sample).
fn throughput_gain(simulation: &Simulation) -> f64 {
    simulation
        .improvement(ImprovementMetric::Throughput)
        .map_or(0.0, |i| i.max_reduction)
}

/// The exposed synchronization's share of the step after a simulation, in the slowest
/// scenario.
fn exposed_share(prediction: &advisor_model::Prediction) -> f64 {
    prediction
        .times
        .iter()
        .map(|t| {
            if t.request_seconds > 0.0 {
                t.exposed_sync_seconds / t.request_seconds
            } else {
                0.0
            }
        })
        .fold(0.0, f64::max)
}

/// Evidence of the synchronization of a predicted run: bytes, link, time and what is hidden.
fn sync_evidence(
    workload: &Workload,
    prediction: &advisor_model::Prediction,
    link: &str,
) -> String {
    let sync = prediction.range(|t| t.sync_seconds);
    let exposed = prediction.range(|t| t.exposed_sync_seconds);
    let s = &workload.settings;
    format!(
        "the data-parallel synchronization over {} replicas sends {} over each GPU's {link} per optimizer step (a ring all-reduce sends 2(n − 1)/n of the gradients, in 25 MiB buckets): {} on the link, {} of it not hidden behind the backward pass",
        s.replicas(),
        bytes_text(advisor_model::sync_bytes_per_device(workload)),
        facts::seconds_range_text(sync),
        facts::seconds_range_text(exposed),
    )
}

impl DataParallelism {
    /// One DDP replica per GPU of the machine, with gradient accumulation when the link
    /// leaves the all-reduce exposed.
    fn replicate(
        &self,
        input: &RuleInput<'_>,
        workload: &Workload,
        devices: u64,
    ) -> Result<Option<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        let Some((gpu, spec)) = facts.run_gpu_spec()? else {
            return Ok(None);
        };
        let replicate = [Change::DataParallel(devices)];
        let simulation = advisor_model::simulate_workload(workload.clone(), &replicate);
        let mut chosen: (Vec<Change>, Simulation) = (replicate.to_vec(), simulation.clone());
        if exposed_share(&simulation.predicted_after) > EXPOSED_TARGET
            && let Some((steps, accumulated)) = accumulation(workload, &replicate)
            && per_sample(&accumulated) < (1.0 - MIN_GAIN) * per_sample(&simulation)
        {
            chosen = (
                vec![
                    Change::DataParallel(devices),
                    Change::GradientAccumulation(steps),
                ],
                accumulated,
            );
        }
        let (changes, chosen_simulation) = chosen;
        if throughput_gain(&chosen_simulation) < MIN_GAIN {
            return Ok(None);
        }
        let link = link_name(spec);
        let s = &workload.settings;
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Parallelization,
            Impact::High,
            Difficulty::Medium,
            format!("Train on all {devices} GPUs with DistributedDataParallel: one replica per GPU"),
        )
        .description(format!(
            "The job trains on one of the machine's {devices} GPUs. One DDP process per GPU, each with its own batch of {}, \
             processes {devices}× the samples per step; the price is one all-reduce of the gradients per optimizer step over {link}, {}.",
            s.batch_size,
            if changes.len() > 1 {
                "which the backward pass hides little of: accumulating micro-steps pays it less often"
            } else {
                "most of it hidden behind the backward pass"
            }
        ))
        .evidence(format!(
            "{} GPUs of {} (hardware_info.gpu_count)",
            gpu.count, spec.name
        ))
        .evidence(facts::sourced("data_parallel", &facts.run.data_parallel))
        .evidence(sync_evidence(
            &chosen_simulation.after,
            &chosen_simulation.predicted_after,
            &link,
        ));
        suggestion = facts::with_simulation(suggestion, &changes, &chosen_simulation);
        suggestion = suggestion
            .step(format!("Launch one process per GPU: torchrun --nproc_per_node={devices} train.py (Hugging Face Trainer and Accelerate pick the ranks up from torchrun; accelerate launch --num_processes {devices} does the same)."))
            .step("Wrap the model in DistributedDataParallel after moving it to its GPU, and give the DataLoader a DistributedSampler (set_epoch each epoch) so each rank reads its own shard of the data.")
            .step(format!(
                "The global batch grows from {} to {}: scale the learning rate with it (the linear scaling rule with warm-up, Goyal et al. 2017), or lower the per-GPU batch to keep the global batch.",
                s.samples_per_step(),
                chosen_simulation.after.settings.samples_per_step()
            ))
            .code("python", ddp_code())
            .warning("Log and checkpoint from rank 0 only, and seed each rank's data order through the sampler, not the global RNG.");
        if changes.len() > 1 {
            suggestion = accumulation_steps(suggestion, &changes);
        }
        suggestion = facts::keep_regressions(suggestion, |w| !w.contains("step time"));
        Ok(Some(suggestion))
    }

    /// Gradient accumulation for a data-parallel job whose synchronization is exposed.
    fn accumulate(
        &self,
        input: &RuleInput<'_>,
        workload: &Workload,
    ) -> Result<Option<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        let Some((_, spec)) = facts.run_gpu_spec()? else {
            return Ok(None);
        };
        let before = advisor_model::predict(workload);
        if exposed_share(&before) < MIN_GAIN {
            return Ok(None);
        }
        let Some((steps, simulation)) = accumulation(workload, &[]) else {
            return Ok(None);
        };
        if throughput_gain(&simulation) < MIN_GAIN {
            return Ok(None);
        }
        let changes = [Change::GradientAccumulation(steps)];
        let link = link_name(spec);
        let s = &workload.settings;
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Parallelization,
            Impact::Medium,
            Difficulty::Easy,
            format!(
                "Accumulate gradients over {steps} micro-steps: the all-reduce over {link} is not hidden"
            ),
        )
        .description(format!(
            "Each optimizer step all-reduces the gradients over {link}, and the backward pass hides only part of it. \
             Accumulating {steps} micro-steps of batch {} under no_sync() synchronizes once per {steps}, so the exposed part is paid once per {} samples per GPU.",
            s.batch_size,
            s.batch_size * steps
        ))
        .evidence(facts::sourced("data_parallel", &facts.run.data_parallel))
        .evidence(facts::sourced("zero_stage", &facts.run.zero_stage))
        .evidence(facts::sourced(
            "gradient_accumulation",
            &facts.run.gradient_accumulation,
        ))
        .evidence(sync_evidence(workload, &before, &link))
        .evidence(format!(
            "the exposed synchronization is {} of the step by the model",
            facts::percent(exposed_share(&before))
        ));
        if let Ok(trace) = facts::trace(input.context)
            && let Some(communication) = &trace.communication
        {
            suggestion = suggestion.evidence(format!(
                "trace: communication kernels run {}, {} of it overlapped with compute (communication_overlap weighs the trace's exposed time)",
                seconds_text(communication.time_us / 1e6),
                facts::percent(communication.overlap_pct / 100.0)
            ));
        }
        suggestion = facts::with_simulation(suggestion, &changes, &simulation);
        suggestion = accumulation_steps(suggestion, &changes);
        suggestion = suggestion
            .step("Larger DDP buckets (bucket_cap_mb=100) launch fewer all-reduces, each nearer the link's bandwidth, at the cost of a longer last bucket; measure both.")
            .step("On PCIe machines, an NVLink machine or fewer, larger GPUs cut the all-reduce itself; so does bf16 gradient compression (DDP's bf16_compress_hook).");
        suggestion = facts::keep_regressions(suggestion, |w| !w.contains("step time"));
        Ok(Some(suggestion))
    }
}

/// The smallest accumulation of 2, 4, 8 or 16 micro-steps that brings the exposed
/// synchronization under [`EXPOSED_TARGET`] of the step (else 16), with `base` applied.
fn accumulation(workload: &Workload, base: &[Change]) -> Option<(u64, Simulation)> {
    let current = workload.settings.gradient_accumulation.max(1);
    let mut last = None;
    for steps in [2u64, 4, 8, 16] {
        if steps <= current {
            continue;
        }
        let mut changes = base.to_vec();
        changes.push(Change::GradientAccumulation(steps));
        let simulation = advisor_model::simulate_workload(workload.clone(), &changes);
        let done = exposed_share(&simulation.predicted_after) <= EXPOSED_TARGET;
        last = Some((steps, simulation));
        if done {
            break;
        }
    }
    last
}

/// The steps and code of gradient accumulation.
fn accumulation_steps(
    suggestion: OptimizationSuggestion,
    changes: &[Change],
) -> OptimizationSuggestion {
    let steps = changes
        .iter()
        .find_map(|c| match c {
            Change::GradientAccumulation(k) => Some(*k),
            _ => None,
        })
        .unwrap_or(1);
    suggestion
        .step(format!(
            "Accumulate {steps} micro-steps per optimizer step under model.no_sync() (Hugging Face: TrainingArguments(gradient_accumulation_steps={steps})); divide the loss by {steps}."
        ))
        .code(
            "python",
            format!(
                "import contextlib\n\nsteps = {steps}\nfor i, batch in enumerate(loader):\n    last = (i + 1) % steps == 0\n    with contextlib.nullcontext() if last else model.no_sync():\n        loss = model(**batch).loss / steps\n        loss.backward()\n    if last:\n        optimizer.step()\n        optimizer.zero_grad(set_to_none=True)"
            ),
        )
        .warning(format!(
            "Accumulation multiplies the samples per optimizer step by {steps}: fewer, larger updates, a hyperparameter change to tune like a larger batch."
        ))
}

fn link_name(spec: &advisor_core::GpuSpec) -> String {
    if spec.link.is_empty() {
        "PCIe 4.0 x16 (assumed: the table has no link for this GPU)".to_owned()
    } else {
        spec.link.clone()
    }
}

fn ddp_code() -> String {
    "# torchrun --nproc_per_node=N train.py\n\
     import os, torch, torch.distributed as dist\n\
     from torch.nn.parallel import DistributedDataParallel as DDP\n\
     from torch.utils.data import DataLoader\n\
     from torch.utils.data.distributed import DistributedSampler\n\n\
     dist.init_process_group(\"nccl\")\n\
     local_rank = int(os.environ[\"LOCAL_RANK\"])\n\
     torch.cuda.set_device(local_rank)\n\
     model = DDP(model.to(local_rank), device_ids=[local_rank], gradient_as_bucket_view=True)\n\
     sampler = DistributedSampler(dataset, shuffle=True)\n\
     loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, pin_memory=True)\n\
     for epoch in range(epochs):\n    sampler.set_epoch(epoch)\n    ..."
        .to_owned()
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
        hardware
    }

    fn qwen_training(data_parallel: Option<&str>) -> serde_json::Value {
        let mut config = json!({ "mode": "training", "batch_size": "1", "seq_len": "512",
                                 "precision": "bf16" });
        if let Some(n) = data_parallel {
            config["data_parallel"] = json!(n);
        }
        config
    }

    fn roberta_training() -> serde_json::Value {
        json!({ "mode": "training", "batch_size": "32", "seq_len": "512", "precision": "bf16" })
    }

    #[test]
    fn roberta_fine_tuning_on_one_of_eight_a10gs() {
        expect![[r#"
            data_parallelism · parallelization · impact high · difficulty medium
            title: Train on all 8 GPUs with DistributedDataParallel: one replica per GPU
            description: The job trains on one of the machine's 8 GPUs. One DDP process per GPU, each with its own batch of 32, processes 8× the samples per step; the price is one all-reduce of the gradients per optimizer step over PCIe 4.0 x16, most of it hidden behind the backward pass.
            changes: data parallelism over 8 devices
            expected:
            - throughput ×7.9–8.0 [0.874, 0.875]: model: step time per sample 7.8 ms–17.9 ms → 980 µs–2.2 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - 8 GPUs of NVIDIA A10G (hardware_info.gpu_count)
            - data_parallel 1 (assumed: data_parallel not set; the job runs on one GPU)
            - the data-parallel synchronization over 8 replicas sends 416.0 MiB over each GPU's PCIe 4.0 x16 per optimizer step (a ring all-reduce sends 2(n − 1)/n of the gradients, in 25 MiB buckets): 15.4 ms–22.9 ms on the link, 1.5 ms–2.3 ms of it not hidden behind the backward pass
            steps:
            - Launch one process per GPU: torchrun --nproc_per_node=8 train.py (Hugging Face Trainer and Accelerate pick the ranks up from torchrun; accelerate launch --num_processes 8 does the same).
            - Wrap the model in DistributedDataParallel after moving it to its GPU, and give the DataLoader a DistributedSampler (set_epoch each epoch) so each rank reads its own shard of the data.
            - The global batch grows from 32 to 256: scale the learning rate with it (the linear scaling rule with warm-up, Goyal et al. 2017), or lower the per-GPU batch to keep the global batch.
            code: python
            warnings:
            - Log and checkpoint from rank 0 only, and seed each rank's data order through the sampler, not the global RNG.
        "#]]
        .assert_eq(&advise(
            "data_parallelism",
            context(roberta_base(), gpus("nvidia-a10g", 8), roberta_training()),
        ));
    }

    #[test]
    fn llama_2_7b_lora_with_ddp_over_eight_pcie_a100s_is_left_to_the_backward() {
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "data_parallelism",
            context(
                llama_2_7b(),
                gpus("nvidia-a100-80gb-pcie", 8),
                json!({ "mode": "training", "batch_size": "4", "seq_len": "1024", "precision": "bf16",
                        "lora_rank": "16", "data_parallel": "8" }),
            ),
        ));
    }

    #[test]
    fn a_full_fine_tune_of_qwen2_1_5b_with_ddp_over_eight_l40s_on_pcie() {
        expect![[r#"
            data_parallelism · parallelization · impact high · difficulty easy
            title: Accumulate gradients over 16 micro-steps: the all-reduce over PCIe 4.0 x16 is not hidden
            description: Each optimizer step all-reduces the gradients over PCIe 4.0 x16, and the backward pass hides only part of it. Accumulating 16 micro-steps of batch 1 under no_sync() synchronizes once per 16, so the exposed part is paid once per 16 samples per GPU.
            changes: 16 gradient accumulation steps
            expected:
            - throughput ×5.6–7.6 [0.823, 0.868]: model: step time per sample 33.7 ms–58.6 ms → 4.9 ms–10.1 ms (bound by communication between GPUs → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - data_parallel 8 (config data_parallel)
            - zero_stage 0 (assumed: zero_stage not set; nothing sharded (DDP))
            - gradient_accumulation 1 (assumed: gradient_accumulation not set; one micro-step per optimizer step)
            - the data-parallel synchronization over 8 replicas sends 5.0 GiB over each GPU's PCIe 4.0 x16 per optimizer step (a ring all-reduce sends 2(n − 1)/n of the gradients, in 25 MiB buckets): 190.0 ms–283.8 ms on the link, 165.4 ms–264.3 ms of it not hidden behind the backward pass
            - the exposed synchronization is 67.1 % of the step by the model
            steps:
            - Accumulate 16 micro-steps per optimizer step under model.no_sync() (Hugging Face: TrainingArguments(gradient_accumulation_steps=16)); divide the loss by 16.
            - Larger DDP buckets (bucket_cap_mb=100) launch fewer all-reduces, each nearer the link's bandwidth, at the cost of a longer last bucket; measure both.
            - On PCIe machines, an NVLink machine or fewer, larger GPUs cut the all-reduce itself; so does bf16 gradient compression (DDP's bf16_compress_hook).
            code: python
            warnings:
            - Accumulation multiplies the samples per optimizer step by 16: fewer, larger updates, a hyperparameter change to tune like a larger batch.
        "#]]
        .assert_eq(&advise(
            "data_parallelism",
            context(qwen2_1_5b(), gpus("nvidia-l40s", 8), qwen_training(Some("8"))),
        ));
    }

    #[test]
    fn qwen2_1_5b_on_one_of_eight_l40s_replicates_and_accumulates() {
        expect![[r#"
            data_parallelism · parallelization · impact high · difficulty medium
            title: Train on all 8 GPUs with DistributedDataParallel: one replica per GPU
            description: The job trains on one of the machine's 8 GPUs. One DDP process per GPU, each with its own batch of 1, processes 8× the samples per step; the price is one all-reduce of the gradients per optimizer step over PCIe 4.0 x16, which the backward pass hides little of: accumulating micro-steps pays it less often.
            changes: data parallelism over 8 devices; 16 gradient accumulation steps
            expected:
            - throughput ×19.4–21.9 [0.948, 0.954]: model: step time per sample 95.6 ms–222.2 ms → 4.9 ms–10.1 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - 8 GPUs of NVIDIA L40S (hardware_info.gpu_count)
            - data_parallel 1 (assumed: data_parallel not set; the job runs on one GPU)
            - the data-parallel synchronization over 8 replicas sends 5.0 GiB over each GPU's PCIe 4.0 x16 per optimizer step (a ring all-reduce sends 2(n − 1)/n of the gradients, in 25 MiB buckets): 190.0 ms–283.8 ms on the link, 165.4 ms–264.3 ms of it not hidden behind the backward pass
            steps:
            - Launch one process per GPU: torchrun --nproc_per_node=8 train.py (Hugging Face Trainer and Accelerate pick the ranks up from torchrun; accelerate launch --num_processes 8 does the same).
            - Wrap the model in DistributedDataParallel after moving it to its GPU, and give the DataLoader a DistributedSampler (set_epoch each epoch) so each rank reads its own shard of the data.
            - The global batch grows from 1 to 128: scale the learning rate with it (the linear scaling rule with warm-up, Goyal et al. 2017), or lower the per-GPU batch to keep the global batch.
            - Accumulate 16 micro-steps per optimizer step under model.no_sync() (Hugging Face: TrainingArguments(gradient_accumulation_steps=16)); divide the loss by 16.
            code: python, python
            warnings:
            - Log and checkpoint from rank 0 only, and seed each rank's data order through the sampler, not the global RNG.
            - Accumulation multiplies the samples per optimizer step by 16: fewer, larger updates, a hyperparameter change to tune like a larger batch.
        "#]]
        .assert_eq(&advise(
            "data_parallelism",
            context(qwen2_1_5b(), gpus("nvidia-l40s", 8), qwen_training(None)),
        ));
    }

    #[test]
    fn the_trace_gives_the_world_size() {
        let mut context = context(qwen2_1_5b(), gpus("nvidia-l40s", 8), qwen_training(None));
        context["profile_results"] = json!({ "total_ms": 100.0, "trace": {
            "communication": { "kernels": 40, "time_us": 30000.0, "overlapped_us": 6000.0,
                               "overlap_pct": 20.0, "exposed_pct_of_kernel_time": 24.0,
                               "backend": "nccl", "world_size": 8 } } });
        expect![[r#"
            data_parallelism · parallelization · impact high · difficulty easy
            title: Accumulate gradients over 16 micro-steps: the all-reduce over PCIe 4.0 x16 is not hidden
            description: Each optimizer step all-reduces the gradients over PCIe 4.0 x16, and the backward pass hides only part of it. Accumulating 16 micro-steps of batch 1 under no_sync() synchronizes once per 16, so the exposed part is paid once per 16 samples per GPU.
            changes: 16 gradient accumulation steps
            expected:
            - throughput ×5.6–7.6 [0.823, 0.868]: model: step time per sample 33.7 ms–58.6 ms → 4.9 ms–10.1 ms (bound by communication between GPUs → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - data_parallel 8 (measured: trace: distributedInfo world_size)
            - zero_stage 0 (assumed: zero_stage not set; nothing sharded (DDP))
            - gradient_accumulation 1 (assumed: gradient_accumulation not set; one micro-step per optimizer step)
            - the data-parallel synchronization over 8 replicas sends 5.0 GiB over each GPU's PCIe 4.0 x16 per optimizer step (a ring all-reduce sends 2(n − 1)/n of the gradients, in 25 MiB buckets): 190.0 ms–283.8 ms on the link, 165.4 ms–264.3 ms of it not hidden behind the backward pass
            - the exposed synchronization is 67.1 % of the step by the model
            - trace: communication kernels run 30.0 ms, 20.0 % of it overlapped with compute (communication_overlap weighs the trace's exposed time)
            steps:
            - Accumulate 16 micro-steps per optimizer step under model.no_sync() (Hugging Face: TrainingArguments(gradient_accumulation_steps=16)); divide the loss by 16.
            - Larger DDP buckets (bucket_cap_mb=100) launch fewer all-reduces, each nearer the link's bandwidth, at the cost of a longer last bucket; measure both.
            - On PCIe machines, an NVLink machine or fewer, larger GPUs cut the all-reduce itself; so does bf16 gradient compression (DDP's bf16_compress_hook).
            code: python
            warnings:
            - Accumulation multiplies the samples per optimizer step by 16: fewer, larger updates, a hyperparameter change to tune like a larger batch.
        "#]]
        .assert_eq(&advise("data_parallelism", context));
    }

    #[test]
    fn one_gpu_machines_and_inference_are_silent() {
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "data_parallelism",
            context(roberta_base(), gpus("nvidia-a10g", 1), roberta_training()),
        ));
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "data_parallelism",
            context(
                roberta_base(),
                gpus("nvidia-a10g", 8),
                json!({ "mode": "inference", "batch_size": "32", "seq_len": "512" }),
            ),
        ));
    }
}
