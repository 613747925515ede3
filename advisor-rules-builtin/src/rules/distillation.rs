//! `distillation`: a model too large for its latency budget: a distilled student, layers
//! dropped, or 2:4 structured sparsity.
//!
//! ## What it checks
//! Inference with a latency budget in the run configuration (`latency_budget_ms` for a
//! request or a forward, `slo_ttft_ms` and `slo_tpot_ms` for generation) that the
//! performance model's range does not meet in every scenario. It weighs smaller variants of
//! the same model, each run through the model against every budget given:
//! - a distilled student where one is published (DistilBERT for BERT, DistilRoBERTa for
//!   RoBERTa: half the blocks at the same width);
//! - a quarter of the blocks dropped (the deepest before the last) and the rest healed by a
//!   short fine-tune;
//! - 2:4 structured sparsity of the Linear layers on NVIDIA Ampere and newer.
//!
//! It proposes the one that meets the budgets with the least retraining, else the fastest.
//!
//! ## Why it matters
//! Past the serving changes (batching, kernels, quantization) a budget the model cannot meet
//! needs less model. DistilBERT keeps 6 of BERT-base's 12 blocks: 40 % fewer parameters,
//! 60 % faster, 97 % of BERT's GLUE score (Sanh et al. 2019, "DistilBERT, a distilled version
//! of BERT"). Decoders lose little when up to a quarter of their deeper blocks are removed and
//! the rest healed with a short QLoRA fine-tune (Gromov et al. 2024, "The Unreasonable
//! Ineffectiveness of the Deeper Layers"); pruning and distilling to a smaller width is
//! Minitron's recipe (Muralidharan et al. 2024). 2:4 sparsity keeps two weights of every four:
//! Ampere's sparse tensor cores run those matmuls at up to twice the dense rate and store the
//! weights in 0.5625 of their 16-bit size with 2-bit indices (NVIDIA A100 whitepaper, 2020;
//! Mishra et al. 2021, "Accelerating Sparse Deep Neural Networks", which recovers accuracy by
//! retraining with the mask). Each figure is the model run with fewer blocks, or with half the
//! Linear FLOPs and the compressed weights, not a published speed-up.
//!
//! ## When it stays silent
//! Training, a budget the model meets in every scenario, or no variant that gains 10 %.
//! Without a budget it says it needs `latency_budget_ms` (or `slo_ttft_ms` / `slo_tpot_ms`).
//!
//! ## Example
//! BERT-base serving 512-token requests at batch 32 on a T4 within 100 ms.

use advisor_core::{
    Category, Change, Difficulty, Fact, Impact, ImprovementMetric, Missing, Mode, OptimizationRule,
    OptimizationSuggestion, Precision, RuleError, RuleInput, WeightFormat,
};
use advisor_model::{Prediction, Simulation, Times, Workload};

use crate::facts;

/// The least gain on a budgeted metric worth retraining for.
const MIN_GAIN: f64 = 0.10;

/// See the module documentation.
pub(crate) struct Distillation;

/// A budget on one figure of the model's times.
struct Budget {
    name: &'static str,
    metric: ImprovementMetric,
    figure: fn(&Times) -> f64,
    seconds: f64,
    fact: Fact<f64>,
}

/// A smaller variant weighed.
struct Variant {
    changes: Vec<Change>,
    what: String,
    difficulty: Difficulty,
    code: String,
    warning: String,
}

impl OptimizationRule for Distillation {
    fn id(&self) -> &str {
        "distillation"
    }

    fn category(&self) -> Category {
        Category::Architecture
    }

    fn description(&self) -> &str {
        "A model too large for its latency budget: a distilled student, layers dropped, or 2:4 sparsity, with the retraining each needs"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        if facts.mode()? != Mode::Inference {
            return Ok(Vec::new());
        }
        let model = facts.model()?;
        let budgets = budgets(input, model.generates());
        if budgets.is_empty() {
            // A generation budget is most often per output token; `latency_budget_ms` and
            // `slo_ttft_ms` serve as well.
            let key = if model.generates() {
                "slo_tpot_ms"
            } else {
                "latency_budget_ms"
            };
            return Err(RuleError::Needs(vec![Missing::Config(key.to_owned())]));
        }
        let workload = Workload::from_facts(facts)?;
        let before = advisor_model::predict(&workload);
        if budgets.iter().all(|b| meets(&before, b)) {
            return Ok(Vec::new());
        }
        let variants = variants(input, &workload);
        let weighed: Vec<(Variant, Simulation)> = variants
            .into_iter()
            .map(|v| {
                let simulation = advisor_model::simulate_workload(workload.clone(), &v.changes);
                (v, simulation)
            })
            .filter(|(_, simulation)| {
                budgets.iter().any(|b| {
                    simulation
                        .improvement(b.metric)
                        .is_some_and(|i| i.max_reduction >= MIN_GAIN)
                })
            })
            .collect();
        let worst = |prediction: &Prediction| {
            budgets
                .iter()
                .map(|b| prediction.range(b.figure).1 / b.seconds)
                .fold(0.0, f64::max)
        };
        // The least retraining that meets every budget (variants are listed in that order),
        // else the one nearest them.
        let chosen = weighed
            .iter()
            .position(|(_, s)| budgets.iter().all(|b| meets(&s.predicted_after, b)))
            .or_else(|| {
                weighed
                    .iter()
                    .enumerate()
                    .min_by(|(_, (_, a)), (_, (_, b))| {
                        worst(&a.predicted_after).total_cmp(&worst(&b.predicted_after))
                    })
                    .map(|(i, _)| i)
            });
        let Some(chosen) = chosen else {
            return Ok(Vec::new());
        };
        let (variant, simulation) = &weighed[chosen];
        let meets_all = budgets
            .iter()
            .all(|b| meets(&simulation.predicted_after, b));
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Architecture,
            Impact::Medium,
            variant.difficulty,
            format!(
                "{} to {} the latency budget",
                variant.what,
                if meets_all { "meet" } else { "come nearer" }
            ),
        )
        .description(format!(
            "The performance model says this {}-parameter model misses its budget in at least one scenario of kernel efficiency. \
             A smaller variant of the same model, retrained to recover its accuracy, {} it: {}.",
            facts::count_text(model.parameters.unwrap_or(0) as f64),
            if meets_all { "meets" } else { "comes nearer" },
            lowercase_first(&variant.what)
        ));
        for budget in &budgets {
            suggestion = suggestion.evidence(format!(
                "{} budget {} ({}): the model gives {} as configured, {} with the change",
                budget.name,
                advisor_model::seconds_text(budget.seconds),
                budget.fact.source,
                facts::seconds_range_text(before.range(budget.figure)),
                facts::seconds_range_text(simulation.predicted_after.range(budget.figure)),
            ));
        }
        if let Some(measured) = facts.measured.latency_ms {
            suggestion = suggestion.evidence(format!(
                "measured latency {} (latency_metrics): the model is calibrated against it",
                advisor_model::seconds_text(measured / 1e3)
            ));
        }
        suggestion = facts::with_simulation(suggestion, &variant.changes, simulation);
        for (other, other_simulation) in &weighed {
            let verdicts: Vec<String> = budgets
                .iter()
                .map(|b| {
                    format!(
                        "{} {}{}",
                        b.name,
                        facts::seconds_range_text(other_simulation.predicted_after.range(b.figure)),
                        if meets(&other_simulation.predicted_after, b) {
                            " (meets)"
                        } else {
                            ""
                        }
                    )
                })
                .collect();
            suggestion = suggestion.step(format!(
                "{}: {} parameters, {}",
                other.what,
                facts::count_text(other_simulation.after.model.parameters.unwrap_or(0) as f64),
                verdicts.join(", ")
            ));
        }
        suggestion = suggestion
            .step("Evaluate the variant on the task's own validation set against the current model before switching: the figures are speed, not accuracy.")
            .code("python", variant.code.clone())
            .warning(variant.warning.clone());
        if variant.difficulty == Difficulty::Hard {
            suggestion = suggestion.warning(
                "This needs training: a fine-tune (or distillation run) on task data with the teacher's outputs, hours to days of GPU time depending on the data.",
            );
        }
        Ok(vec![suggestion])
    }
}

/// Whether a prediction meets a budget in every scenario.
fn meets(prediction: &Prediction, budget: &Budget) -> bool {
    prediction.range(budget.figure).1 <= budget.seconds
}

/// The budgets the configuration states that apply to the run.
fn budgets(input: &RuleInput<'_>, generates: bool) -> Vec<Budget> {
    let run = &input.facts.run;
    let mut budgets = Vec::new();
    if let Some(fact) = &run.latency_budget_ms {
        budgets.push(Budget {
            name: "latency",
            metric: ImprovementMetric::Latency,
            figure: |t| t.request_seconds,
            seconds: fact.value / 1e3,
            fact: fact.clone(),
        });
    }
    let generating = generates
        && run
            .generated_tokens
            .as_ref()
            .is_some_and(|tokens| tokens.value > 0);
    if generating {
        if let Some(fact) = &run.ttft_budget_ms {
            budgets.push(Budget {
                name: "time to first token",
                metric: ImprovementMetric::TimeToFirstToken,
                figure: |t| t.first_token_seconds,
                seconds: fact.value / 1e3,
                fact: fact.clone(),
            });
        }
        if let Some(fact) = &run.tpot_budget_ms {
            budgets.push(Budget {
                name: "time per output token",
                metric: ImprovementMetric::TimePerToken,
                figure: |t| t.per_token_seconds,
                seconds: fact.value / 1e3,
                fact: fact.clone(),
            });
        }
    }
    budgets
}

/// The smaller variants of this model, least retraining first.
fn variants(input: &RuleInput<'_>, workload: &Workload) -> Vec<Variant> {
    let layers = workload.model.layers.unwrap_or(0);
    let family = facts::model_family(input);
    let mut variants = Vec::new();
    let student = match family.as_str() {
        "bert" if layers == 12 => Some(("DistilBERT", "distilbert-base-uncased")),
        "roberta" if layers == 12 => Some(("DistilRoBERTa", "distilbert/distilroberta-base")),
        _ => None,
    };
    if let Some((name, checkpoint)) = student {
        variants.push(Variant {
            changes: vec![Change::KeepLayers(layers / 2)],
            what: format!("Serve a distilled student ({name}: {} of {layers} blocks)", layers / 2),
            difficulty: Difficulty::Medium,
            code: format!(
                "import torch.nn.functional as F\nfrom transformers import AutoModelForSequenceClassification\n\n\
                 student = AutoModelForSequenceClassification.from_pretrained(\"{checkpoint}\", num_labels=num_labels)\n\n\
                 # Fine-tune the student on the task with the current model as teacher.\n\
                 def distillation_loss(student_logits, teacher_logits, labels, temperature=2.0, alpha=0.5):\n    \
                 soft = F.kl_div(F.log_softmax(student_logits / temperature, dim=-1),\n                    \
                 F.softmax(teacher_logits / temperature, dim=-1), reduction=\"batchmean\")\n    \
                 return alpha * temperature**2 * soft + (1 - alpha) * F.cross_entropy(student_logits, labels)"
            ),
            warning: format!(
                "{name} keeps 97 % of its teacher's GLUE score in Sanh et al. (2019); on your task the gap can be larger: distil from your fine-tuned model, not only from the pre-trained one."
            ),
        });
    }
    if layers >= 8 {
        let kept = layers - layers / 4;
        let blocks = if workload.model.generates() {
            "model.model.layers"
        } else {
            "model.base_model.encoder.layer"
        };
        variants.push(Variant {
            changes: vec![Change::KeepLayers(kept)],
            what: format!("Drop {} of the {layers} blocks and heal with a short fine-tune", layers - kept),
            difficulty: Difficulty::Hard,
            code: format!(
                "import torch\n\n\
                 # Drop the deepest blocks before the last (Gromov et al. 2024), then fine-tune briefly (LoRA or QLoRA).\n\
                 blocks = {blocks}\n\
                 keep = list(range({first})) + [{last}]\n\
                 {blocks} = torch.nn.ModuleList(blocks[i] for i in keep)\n\
                 model.config.num_hidden_layers = len(keep)",
                first = kept - 1,
                last = layers - 1,
            ),
            warning: "Accuracy falls off a cliff past some depth, earlier on reasoning than on knowledge tasks (Gromov et al. 2024 find it near half the blocks for Llama-2-70B on MMLU): measure the pruned model before serving it.".to_owned(),
        });
    }
    let sparse_cores = input
        .facts
        .run_gpu_spec()
        .ok()
        .flatten()
        .is_some_and(|(_, spec)| {
            spec.vendor == advisor_core::GpuVendor::Nvidia
                && spec
                    .compute_capability
                    .is_some_and(|cc| cc >= advisor_core::ComputeCapability::new(8, 0))
        });
    let sixteen_bit = matches!(
        workload.settings.weights,
        WeightFormat::Float(Precision::Fp16 | Precision::Bf16)
    );
    if sparse_cores && sixteen_bit && !workload.settings.sparse_2_4 {
        variants.push(Variant {
            changes: vec![Change::Sparse24(true)],
            what: "Prune the Linear layers to 2:4 structured sparsity for the sparse tensor cores".to_owned(),
            difficulty: Difficulty::Hard,
            code: "import torch\nfrom torch.sparse import to_sparse_semi_structured\n\n\
                   def prune_2_4(weight):\n    \
                   groups = weight.reshape(-1, 4)\n    \
                   kept = groups.abs().topk(2, dim=1).indices\n    \
                   mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(1, kept, True)\n    \
                   return (groups * mask).reshape(weight.shape)\n\n\
                   # After fine-tuning with the mask fixed (NVIDIA ASP: apex.contrib.sparsity.ASP.prune_trained_model):\n\
                   for module in model.modules():\n    \
                   if isinstance(module, torch.nn.Linear):\n        \
                   module.weight = torch.nn.Parameter(to_sparse_semi_structured(prune_2_4(module.weight.detach())))"
                .to_owned(),
            warning: "One-shot 2:4 pruning costs accuracy; Mishra et al. (2021) recover it by retraining with the mask fixed for about as long as the original fine-tune. The speed-up needs kernels that use the sparse tensor cores (TensorRT --sparsity=enable, cuSPARSELt through torch.sparse) and large enough matmuls.".to_owned(),
        });
    }
    variants
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

    use crate::rules::test_support::{advise, bert_base, context, llama_2_7b, target};

    #[test]
    fn bert_base_at_batch_32_on_a_t4_within_100_ms() {
        expect![[r#"
            distillation · architecture · impact high · difficulty medium
            title: Serve a distilled student (DistilBERT: 6 of 12 blocks) to come nearer the latency budget
            description: The performance model says this 109 M-parameter model misses its budget in at least one scenario of kernel efficiency. A smaller variant of the same model, retrained to recover its accuracy, comes nearer it: serve a distilled student (DistilBERT: 6 of 12 blocks).
            changes: 6 transformer blocks
            expected:
            - latency −50 % [0.500, 0.500]: model: request 106.0 ms–244.5 ms → 53.0 ms–122.2 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×2.0 [0.500, 0.500]: model: request time per sequence 3.3 ms–7.6 ms → 1.7 ms–3.8 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −9 % [0.095, 0.095]: model: peak memory 864.8 MiB → 782.8 MiB (CUDA context and workspaces 512.0 MiB + activations 144.0 MiB + weights 126.8 MiB)
            - model_size −39 % [0.393, 0.393]: model: weights 208.8 MiB → 126.8 MiB (16 → 16 bits per weight, embeddings and head at 16 bits)
            evidence:
            - latency budget 100.0 ms (config latency_budget_ms): the model gives 106.0 ms–244.5 ms as configured, 53.0 ms–122.2 ms with the change
            steps:
            - Serve a distilled student (DistilBERT: 6 of 12 blocks): 66 M parameters, latency 53.0 ms–122.2 ms
            - Drop 3 of the 12 blocks and heal with a short fine-tune: 88 M parameters, latency 79.5 ms–183.4 ms
            - Evaluate the variant on the task's own validation set against the current model before switching: the figures are speed, not accuracy.
            code: python
            warnings:
            - DistilBERT keeps 97 % of its teacher's GLUE score in Sanh et al. (2019); on your task the gap can be larger: distil from your fine-tuned model, not only from the pre-trained one.
        "#]]
        .assert_eq(&advise(
            "distillation",
            context(
                bert_base(),
                target("nvidia-t4"),
                json!({ "mode": "inference", "batch_size": "32", "seq_len": "512",
                        "precision": "fp16", "latency_budget_ms": "100" }),
            ),
        ));
    }

    #[test]
    fn llama_2_7b_with_a_per_token_budget_on_an_a100() {
        expect![[r#"
            distillation · architecture · impact medium · difficulty hard
            title: Drop 8 of the 32 blocks and heal with a short fine-tune to come nearer the latency budget
            description: The performance model says this 6.74 B-parameter model misses its budget in at least one scenario of kernel efficiency. A smaller variant of the same model, retrained to recover its accuracy, comes nearer it: drop 8 of the 32 blocks and heal with a short fine-tune.
            changes: 24 transformer blocks
            expected:
            - latency −25 % [0.245, 0.249]: model: request 1.99 s–5.07 s → 1.50 s–3.80 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.3 [0.245, 0.249]: model: request time per sequence 1.99 s–5.07 s → 1.50 s–3.80 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_to_first_token −25 % [0.246, 0.246]: model: time to first token 61.7 ms–141.4 ms → 46.6 ms–106.6 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_per_token −25 % [0.245, 0.249]: model: time per generated token 7.5 ms–19.2 ms → 5.7 ms–14.4 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −23 % [0.231, 0.231]: model: peak memory 13.7 GiB → 10.6 GiB (weights 9.5 GiB + CUDA context and workspaces 512.0 MiB + KV cache 480.0 MiB + activations 48.0 MiB)
            - model_size −24 % [0.240, 0.240]: model: weights 12.6 GiB → 9.5 GiB (16 → 16 bits per weight, embeddings and head at 16 bits)
            evidence:
            - time to first token budget 200.0 ms (config slo_ttft_ms): the model gives 61.7 ms–141.4 ms as configured, 46.6 ms–106.6 ms with the change
            - time per output token budget 8.0 ms (config slo_tpot_ms): the model gives 7.5 ms–19.2 ms as configured, 5.7 ms–14.4 ms with the change
            steps:
            - Drop 8 of the 32 blocks and heal with a short fine-tune: 5.12 B parameters, time to first token 46.6 ms–106.6 ms (meets), time per output token 5.7 ms–14.4 ms
            - Prune the Linear layers to 2:4 structured sparsity for the sparse tensor cores: 6.74 B parameters, time to first token 35.1 ms–80.6 ms (meets), time per output token 4.4 ms–19.2 ms
            - Evaluate the variant on the task's own validation set against the current model before switching: the figures are speed, not accuracy.
            code: python
            warnings:
            - Accuracy falls off a cliff past some depth, earlier on reasoning than on knowledge tasks (Gromov et al. 2024 find it near half the blocks for Llama-2-70B on MMLU): measure the pruned model before serving it.
            - This needs training: a fine-tune (or distillation run) on task data with the teacher's outputs, hours to days of GPU time depending on the data.
        "#]]
        .assert_eq(&advise(
            "distillation",
            context(
                llama_2_7b(),
                target("nvidia-a100-80gb"),
                json!({ "mode": "inference", "batch_size": "1", "prompt_len": "1024",
                        "new_tokens": "256", "slo_tpot_ms": "8", "slo_ttft_ms": "200" }),
            ),
        ));
    }

    #[test]
    fn a_budget_the_model_meets_is_silent() {
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "distillation",
            context(
                bert_base(),
                target("nvidia-a100-80gb"),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "128",
                        "precision": "fp16", "latency_budget_ms": "100" }),
            ),
        ));
    }

    #[test]
    fn without_a_budget_it_says_what_it_needs() {
        expect![[r#"
            silent
            diagnostic Info distillation: could not decide: needs current_config.latency_budget_ms (--set latency_budget_ms=VALUE)
        "#]]
        .assert_eq(&advise(
            "distillation",
            context(
                bert_base(),
                target("nvidia-t4"),
                json!({ "mode": "inference", "batch_size": "32", "seq_len": "512" }),
            ),
        ));
    }
}
