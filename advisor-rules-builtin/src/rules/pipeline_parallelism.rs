//! `pipeline_parallelism`: a training run that does not fit one machine even with its
//! state fully sharded over every GPU there.
//!
//! ## What it checks
//! GPU training (a full fine-tune or pre-training) that does not fit with ZeRO-3 / FSDP
//! `FULL_SHARD` over all of the machine's GPUs (`hardware_info.gpu_count`) and no pipeline
//! yet (`pipeline_stages` unset or 1). It proposes the fewest machines, 2, 4 or 8, that hold
//! it as a pipeline: consecutive layers on each machine, FSDP over the GPUs inside it, and
//! the number of micro-batches (a divisor of the batch) at which the performance model gives
//! the least time per sample.
//!
//! ## Why it matters
//! Between machines the network is 10–20× slower than NVLink, and ZeRO-3's all-gathers of
//! every layer's weights would cross it twice per step. A pipeline sends only the
//! activations at its stage boundaries (`micro-batch × tokens × hidden × 2 B` per
//! micro-batch, each way), but stages idle while the pipeline fills and drains: with `p`
//! stages and `m` micro-batches a step takes `m + p − 1` slots for `m` slots of work, a
//! bubble of `(p − 1)/(m + p − 1)` (GPipe, Huang et al. 2019, §2.2; the 1F1B schedule of
//! PipeDream-Flush, Narayanan et al. 2021, §2.2, keeps the bubble and holds at most `p`
//! micro-batches' activations). More micro-batches shrink the bubble; smaller ones read
//! every stage's weights more often, which the model prices. The network between machines
//! is taken as one 200 Gb/s InfiniBand adapter per GPU (NVIDIA's DGX A100 and H100 design),
//! a stated assumption.
//!
//! ## When it stays silent
//! Inference (serving splits a model over GPUs with `tensor_parallelism`), a CPU run, a
//! machine of one GPU, a run that fits one machine sharded (`training_memory` says how), a
//! pipeline already, LoRA, or no layout of 8 machines or fewer that fits. Without the model
//! or the device it says what it needs.
//!
//! ## Example
//! A full fine-tune of a 70 B Llama at batch 16 and 2048 tokens on machines of eight A100
//! 80GB GPUs.

use advisor_core::{
    Category, Change, Difficulty, Impact, Mode, OptimizationRule, OptimizationSuggestion, Pipeline,
    RuleError, RuleInput, Sharding,
};
use advisor_model::{Simulation, Workload, bytes_text};

use crate::facts;

/// See the module documentation.
pub(crate) struct PipelineParallelism;

impl OptimizationRule for PipelineParallelism {
    fn id(&self) -> &str {
        "pipeline_parallelism"
    }

    fn category(&self) -> Category {
        Category::Parallelization
    }

    fn description(&self) -> &str {
        "Training too large for one machine even fully sharded: a pipeline across machines, FSDP within each, with its bubble"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        if facts.mode()? != Mode::Training {
            return Ok(Vec::new());
        }
        let Some((gpu, spec)) = facts.run_gpu_spec()? else {
            return Ok(Vec::new());
        };
        let workload = Workload::from_facts(facts)?;
        let s = &workload.settings;
        if gpu.count < 2 || s.pipeline_stages > 1 || s.lora_rank > 0 {
            return Ok(Vec::new());
        }
        let node = Change::Shard(Sharding {
            stage: 3,
            devices: gpu.count,
        });
        // The state alone decides: sharded over the machine at micro-batches of one sequence
        // (the batch accumulated), the activations are as small as a pipeline's.
        let sharded = advisor_model::simulate_workload(
            workload.clone(),
            &[
                node,
                Change::BatchSize(1),
                Change::GradientAccumulation(s.batch_size * s.gradient_accumulation.max(1)),
            ],
        );
        if sharded.predicted_after.fits() {
            return Ok(Vec::new());
        }
        // The fewest machines that hold it; on them the micro-batch count with the least
        // time per sample.
        let mut chosen: Option<(Pipeline, Simulation)> = None;
        for stages in [2u64, 4, 8] {
            let layers = workload.model.layers.unwrap_or(0);
            if layers < stages {
                break;
            }
            let mut micro_batches = 1;
            while micro_batches <= s.batch_size {
                if s.batch_size % micro_batches == 0 {
                    let pipeline = Pipeline {
                        stages,
                        micro_batches,
                    };
                    let simulation = advisor_model::simulate_workload(
                        workload.clone(),
                        &[node, Change::PipelineParallel(pipeline)],
                    );
                    let per_sample =
                        |sim: &Simulation| sim.predicted_after.range(|t| t.per_sample_seconds).1;
                    if simulation.predicted_after.fits()
                        && chosen
                            .as_ref()
                            .is_none_or(|(_, best)| per_sample(&simulation) < per_sample(best))
                    {
                        chosen = Some((pipeline, simulation));
                    }
                }
                micro_batches *= 2;
            }
            if chosen.is_some() {
                break;
            }
        }
        let Some((pipeline, simulation)) = chosen else {
            return Ok(Vec::new());
        };
        let Pipeline {
            stages,
            micro_batches,
        } = pipeline;
        let after = &simulation.predicted_after;
        let bubble = (stages - 1) as f64 / (micro_batches + stages - 1) as f64;
        let layers = workload.model.layers.unwrap_or(0);
        let hidden = workload.model.hidden_size.unwrap_or(0);
        let micro_batch = s.batch_size / micro_batches;
        let boundary_bytes = micro_batch as f64
            * s.prompt_tokens as f64
            * hidden as f64
            * s.compute.bytes_per_element().max(2.0);
        let changes = [node, Change::PipelineParallel(pipeline)];
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Parallelization,
            Impact::High,
            Difficulty::Hard,
            format!(
                "Train across {stages} machines as a {stages}-stage pipeline with FSDP inside each: {} GPUs of {} cannot hold it sharded",
                gpu.count, spec.name
            ),
        )
        .description(format!(
            "Fully sharded over the machine's {} GPUs, one sequence at a time, the run still needs {} per GPU. Split its {layers} layers into {stages} stages of {}, \
             one per machine, shard each stage over that machine's GPUs, and split each batch of {} into {micro_batches} micro-batches: \
             only the activations at the stage boundaries cross the network between machines.",
            gpu.count,
            bytes_text(sharded.predicted_after.memory.total()),
            layers / stages,
            s.batch_size,
        ))
        .evidence(format!(
            "{} GPUs of {} per machine (hardware_info.gpu_count), {} usable each",
            gpu.count,
            spec.name,
            bytes_text(sharded.predicted_after.usable_bytes().unwrap_or(0.0))
        ))
        .evidence(format!(
            "by the model, ZeRO-3 over {} GPUs at micro-batches of 1: {}",
            gpu.count,
            advisor_model::parts_text(&sharded.predicted_after.memory)
        ))
        .evidence(format!(
            "bubble (p − 1)/(m + p − 1) = {}/{} = {} of the step at {stages} stages and {micro_batches} micro-batches of {micro_batch}: {} per step idle",
            stages - 1,
            micro_batches + stages - 1,
            facts::percent(bubble),
            facts::seconds_range_text(after.range(|t| t.bubble_seconds)),
        ))
        .evidence(format!(
            "each micro-batch sends {} of activations across each stage boundary and its gradients back, over one 200 Gb/s InfiniBand adapter per GPU (assumed: {} GB/s each way, a DGX-class machine)",
            bytes_text(boundary_bytes),
            advisor_model::PIPELINE_LINK_BYTES_PER_SECOND / 1e9
        ))
        .evidence(facts::alternative_line(
            &format!(
                "ZeRO-3 over {} GPUs of one machine, batch 1 accumulated {} times",
                gpu.count, s.batch_size
            ),
            &sharded,
        ));
        suggestion = suggestion.evidence(facts::alternative_line(
            &format!(
                "the {stages}-stage pipeline over {} GPUs ({stages} machines)",
                stages * gpu.count
            ),
            &simulation,
        ));
        suggestion = facts::with_simulation(suggestion, &changes, &simulation);
        // Comparing a run that cannot start with one on more machines: the memory is the point.
        suggestion
            .expected_improvement
            .retain(|i| i.metric == advisor_core::ImprovementMetric::Memory);
        suggestion = suggestion
            .step("PyTorch: torch.distributed.pipelining splits the module at layer boundaries and runs it with Schedule1F1B; FSDP shards each stage over the GPUs of its machine on a 2-D device mesh (pipeline × FSDP), as torchtitan composes them.")
            .step(format!(
                "Megatron-LM splits inside each machine by tensor parallelism instead (not modelled here): --tensor-model-parallel-size {} --pipeline-model-parallel-size {stages} --micro-batch-size {micro_batch} --use-distributed-optimizer; DeepSpeed's pipeline engine combines with ZeRO stage 1 only.",
                gpu.count
            ))
            .step("Place stage boundaries between machines and FSDP groups inside them, so the all-gathers stay on NVLink and only activations cross the network.")
            .code(
                "python",
                format!(
                    "from torch.distributed.pipelining import pipeline, SplitPoint, Schedule1F1B\n\n\
                     # Split the {layers} layers into {stages} stages (one per machine).\n\
                     split = {{f\"model.layers.{{i * {per}}}\": SplitPoint.BEGINNING for i in range(1, {stages})}}\n\
                     pipe = pipeline(model, mb_args=(example_micro_batch,), split_spec=split)\n\
                     stage = pipe.build_stage(stage_index, device)\n\
                     schedule = Schedule1F1B(stage, n_microbatches={micro_batches}, loss_fn=loss_fn)\n\
                     # first stage: schedule.step(input_ids); last stage: schedule.step(target=labels)",
                    per = layers / stages
                ),
            )
            .warning(format!(
                "The network between machines is assumed, not given: with slower links than 200 Gb/s per GPU (100 Gb Ethernet), each boundary's {} per micro-batch costs proportionally more.",
                bytes_text(boundary_bytes)
            ))
            .warning("Balance the stages: the first holds the embedding and the last the head and the loss; the slowest stage sets every slot's time.");
        Ok(vec![suggestion])
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::rules::test_support::{advise, context, llama_2_7b, target};

    /// meta-llama/Llama-2-70b-hf (68,976,648,192 parameters, grouped-query attention).
    fn llama_2_70b() -> serde_json::Value {
        json!({ "name": "meta-llama/Llama-2-70b-hf", "facts": {
            "family": "llama", "architecture": "decoder", "parameters": 68976648192u64,
            "layers": 80, "hidden_size": 8192, "intermediate_size": 28672,
            "attention_heads": 64, "kv_heads": 8, "vocab_size": 32000,
            "max_sequence_length": 4096, "tie_word_embeddings": false, "dtype": "fp16" } })
    }

    fn machine(name: &str, count: u32) -> serde_json::Value {
        let mut hardware = target(name);
        hardware["gpu_count"] = json!(count);
        hardware
    }

    fn full_fine_tune(batch: u32) -> serde_json::Value {
        json!({ "mode": "training", "batch_size": batch.to_string(), "seq_len": "2048",
                "precision": "bf16", "gradient_checkpointing": "true" })
    }

    #[test]
    fn a_full_fine_tune_of_llama_2_70b_on_machines_of_eight_a100s() {
        expect![[r#"
            pipeline_parallelism · parallelization · impact high · difficulty hard
            title: Train across 2 machines as a 2-stage pipeline with FSDP inside each: 8 GPUs of NVIDIA A100 80GB SXM cannot hold it sharded
            description: Fully sharded over the machine's 8 GPUs, one sequence at a time, the run still needs 135.8 GiB per GPU. Split its 80 layers into 2 stages of 40, one per machine, shard each stage over that machine's GPUs, and split each batch of 16 into 16 micro-batches: only the activations at the stage boundaries cross the network between machines.
            changes: FSDP / ZeRO-3 over 8 devices; a 2-stage pipeline with 16 micro-batches
            expected:
            - memory −93 % [0.934, 0.934]: model: peak memory 1.1 TiB → 71.6 GiB (optimizer state 48.2 GiB + weights 11.2 GiB + gradients 8.0 GiB + activations 3.0 GiB + logits 625.0 MiB + CUDA context and workspaces 512.0 MiB)
            evidence:
            - 8 GPUs of NVIDIA A100 80GB SXM per machine (hardware_info.gpu_count), 74.4 GiB usable each
            - by the model, ZeRO-3 over 8 GPUs at micro-batches of 1: optimizer state 96.4 GiB + weights 19.3 GiB + gradients 16.1 GiB + activations 3.0 GiB + logits 625.0 MiB + CUDA context and workspaces 512.0 MiB
            - bubble (p − 1)/(m + p − 1) = 1/17 = 5.9 % of the step at 2 stages and 16 micro-batches of 1: 2.43 s–5.55 s per step idle
            - each micro-batch sends 32.0 MiB of activations across each stage boundary and its gradients back, over one 200 Gb/s InfiniBand adapter per GPU (assumed: 25 GB/s each way, a DGX-class machine)
            - ZeRO-3 over 8 GPUs of one machine, batch 1 accumulated 16 times: peak 1.1 TiB → 135.8 GiB (does not fit); step 79.03 s–180.89 s → 77.85 s–178.13 s, per sample 4.94 s–11.31 s → 608.2 ms–1.39 s
            - the 2-stage pipeline over 16 GPUs (2 machines): peak 1.1 TiB → 71.6 GiB (fits); step 79.03 s–180.89 s → 41.40 s–94.70 s, per sample 4.94 s–11.31 s → 323.5 ms–739.8 ms
            steps:
            - PyTorch: torch.distributed.pipelining splits the module at layer boundaries and runs it with Schedule1F1B; FSDP shards each stage over the GPUs of its machine on a 2-D device mesh (pipeline × FSDP), as torchtitan composes them.
            - Megatron-LM splits inside each machine by tensor parallelism instead (not modelled here): --tensor-model-parallel-size 8 --pipeline-model-parallel-size 2 --micro-batch-size 1 --use-distributed-optimizer; DeepSpeed's pipeline engine combines with ZeRO stage 1 only.
            - Place stage boundaries between machines and FSDP groups inside them, so the all-gathers stay on NVLink and only activations cross the network.
            code: python
            warnings:
            - As configured the run does not fit in memory (see the feasibility suggestion): the figures compare with a run that cannot start.
            - The network between machines is assumed, not given: with slower links than 200 Gb/s per GPU (100 Gb Ethernet), each boundary's 32.0 MiB per micro-batch costs proportionally more.
            - Balance the stages: the first holds the embedding and the last the head and the loss; the slowest stage sets every slot's time.
        "#]]
        .assert_eq(&advise(
            "pipeline_parallelism",
            context(llama_2_70b(), machine("nvidia-a100-80gb", 8), full_fine_tune(16)),
        ));
    }

    #[test]
    fn llama_2_7b_fits_one_machine_sharded() {
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "pipeline_parallelism",
            context(
                llama_2_7b(),
                machine("nvidia-a100-80gb", 8),
                full_fine_tune(4),
            ),
        ));
    }

    #[test]
    fn a_pipeline_already_is_left_alone() {
        let mut config = full_fine_tune(16);
        config["pipeline_stages"] = json!("4");
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "pipeline_parallelism",
            context(llama_2_70b(), machine("nvidia-a100-80gb", 8), config),
        ));
    }
}
