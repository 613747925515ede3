//! `sequence_packing`: encoder batches (and fine-tuning batches) padded to a fixed length.
//!
//! ## What it checks
//! An encoder in training or serving, or a decoder being fine-tuned, whose sequences are
//! padded to `seq_len` while they hold `mean_seq_len` real tokens on average (a config key: the
//! mean length of your data after tokenization), where the padding is at least 10 % of the
//! tokens and the performance model finds removing it buys at least 10 % of the time.
//!
//! ## Why it matters
//! Every padded position costs a real token's work: its share of each Linear layer's FLOPs,
//! of the element-wise traffic, and of attention (masked, not skipped). Packing several
//! sequences into one row with a block-diagonal mask, or dropping the padding and running
//! variable-length attention (FlashAttention's `flash_attn_varlen_func` over `cu_seqlens`),
//! computes only the real tokens. Krell et al. 2021 ("Efficient Sequence Packing without
//! Cross-contamination", arXiv:2107.02027) find half of BERT's 512-token pre-training rows is
//! padding on Wikipedia and recover it as a 2× speed-up; Hugging Face's
//! `DataCollatorWithFlattening` does the same for fine-tuning with FlashAttention-2 ("Improving
//! Hugging Face Training Efficiency Through Packing with Flash Attention 2", 2024).
//!
//! The gain is the performance model before and after: the same sequences at `mean_seq_len`
//! tokens each instead of `seq_len` (the padding fraction `1 − mean_seq_len / seq_len`
//! removed). Attention then costs `Σ lenᵢ²`, which the model counts as if every sequence had
//! the mean length: for spread-out lengths the attention part of the gain is a little
//! optimistic (Jensen's inequality). Weight reads do not shrink, so a memory-bound step at a
//! small batch gains less than the padding fraction.
//!
//! ## When it stays silent
//! Decoders in inference (generation has its own serving engines), padding under 10 % of the
//! tokens, or under 10 % modelled gain. Without `mean_seq_len` it says that it needs it
//! (`--set mean_seq_len=N`); without the mode or the model, what it needs of those.
//!
//! ## Example
//! BERT-base fine-tuned at batch 32 with inputs padded to 512 tokens that hold 180 on average,
//! on an A100.

use advisor_core::{
    Architecture, Category, Change, Difficulty, ImprovementMetric, Missing, Mode, OptimizationRule,
    OptimizationSuggestion, RuleError, RuleInput,
};

use crate::facts;

/// Padding under this share of the tokens is not worth a new collator.
const MIN_PADDING: f64 = 0.10;
/// Gains under this share of the time are not worth one either.
const MIN_GAIN: f64 = 0.10;

/// See the module documentation.
pub(crate) struct SequencePacking;

impl OptimizationRule for SequencePacking {
    fn id(&self) -> &str {
        "sequence_packing"
    }

    fn category(&self) -> Category {
        Category::DataPipeline
    }

    fn description(&self) -> &str {
        "Encoder (or fine-tuning) batches padded to a fixed length: sequence packing, variable-length attention, length bucketing"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        let mode = facts.mode()?;
        let model = facts.model()?;
        let encoder = model.architecture == Some(Architecture::Encoder);
        if !encoder && mode != Mode::Training {
            return Ok(Vec::new());
        }
        let settings = facts.settings()?;
        let padded = settings.prompt_tokens;
        let mean = facts
            .run
            .mean_tokens
            .as_ref()
            .ok_or_else(|| Missing::Config("mean_seq_len".to_owned()))?;
        if mean.value >= padded {
            return Ok(Vec::new());
        }
        let padding = 1.0 - mean.value as f64 / padded.max(1) as f64;
        if padding < MIN_PADDING {
            return Ok(Vec::new());
        }
        let changes = [Change::SequenceLength(mean.value)];
        let simulation = facts::simulate(input, &changes)?;
        let gain = simulation
            .improvement(ImprovementMetric::Latency)
            .map_or(0.0, |i| i.max_reduction);
        if gain < MIN_GAIN {
            return Ok(Vec::new());
        }
        let training = mode == Mode::Training;
        let prompt_source = facts
            .run
            .prompt_tokens
            .as_ref()
            .map_or_else(String::new, |fact| format!(" ({})", fact.source));
        let suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::DataPipeline,
            advisor_core::Impact::Medium,
            if training {
                Difficulty::Medium
            } else {
                Difficulty::Easy
            },
            if training {
                "Pack sequences instead of padding them"
            } else {
                "Stop padding every request to the same length"
            },
        )
        .description(format!(
            "Sequences are padded to {padded} tokens but hold {} on average: {} of every batch is padding, and each padded \
             position costs a real token's FLOPs and memory traffic. {} computes only the real tokens.",
            mean.value,
            facts::percent(padding),
            if training {
                "Packing sequences into full rows with a per-sequence attention mask (variable-length FlashAttention)"
            } else {
                "Padding each batch only to its longest request, grouping requests of similar length, or dropping the padding with variable-length attention"
            },
        ))
        .evidence(format!("padded to {padded} tokens{prompt_source}"))
        .evidence(facts::sourced("mean real tokens per sequence", mean))
        .evidence(format!(
            "batch size {} ({})",
            settings.batch_size, facts.run.batch_size.source
        ))
        .evidence(format!(
            "the model runs the same {} sequences at {} tokens instead of {padded}: attention counted at the mean length (Σ lenᵢ² is larger for spread-out lengths)",
            settings.batch_size, mean.value
        ));
        let flattening = "from transformers import AutoModelForCausalLM, DataCollatorWithFlattening, Trainer, TrainingArguments\n\nmodel = AutoModelForCausalLM.from_pretrained(name, torch_dtype=torch.bfloat16,\n                                             attn_implementation=\"flash_attention_2\")\ntrainer = Trainer(model=model, args=TrainingArguments(output_dir=\"out\", bf16=True),\n                  train_dataset=tokenized, data_collator=DataCollatorWithFlattening())";
        let per_batch = "from transformers import DataCollatorWithPadding, TrainingArguments\n\nargs = TrainingArguments(output_dir=\"out\", group_by_length=True)\ncollator = DataCollatorWithPadding(tokenizer)  # pads each batch to its longest sequence";
        let suggestion = if training {
            let s = if encoder {
                suggestion
                    .step("Encoders without a FlashAttention-2 path in Transformers (BERT, RoBERTa): tokenize without padding, pad per batch (DataCollatorWithPadding) and set group_by_length=True so each batch holds similar lengths; an encoder that unpads itself (ModernBERT) removes the rest.")
                    .step("Where the model has attn_implementation=\"flash_attention_2\", DataCollatorWithFlattening packs each batch into one row with position_ids restarting per sequence.")
                    .code("python", per_batch)
            } else {
                suggestion
                    .step("Hugging Face Trainer: DataCollatorWithFlattening packs each batch into one row with position_ids restarting per sequence; load the model with attn_implementation=\"flash_attention_2\" so attention stays within each sequence.")
                    .step("Without FlashAttention-2, at least pad per batch (DataCollatorWithPadding) and set group_by_length=True.")
                    .code("python", flattening)
                    .code("python", per_batch)
            };
            s.step("Scale the batch to tokens, not sequences: a packed row holds several sequences, so keep the tokens per step (and the learning rate) what they were.")
                .warning("Packing without a per-sequence mask lets sequences attend to each other (cross-contamination, Krell et al. 2021): use a collator that passes position_ids or cu_seqlens to a varlen kernel.")
        } else {
            suggestion
                .step("Tokenize with padding=\"longest\" (per batch), not padding=\"max_length\": most batches then stop well short of the maximum.")
                .step("Batch requests of similar length together (sort a window of queued requests by length, or bucket them) so little padding is left.")
                .step("ONNX Runtime and TensorRT: export with dynamic sequence axes (TensorRT optimization profiles over the lengths you serve) instead of a fixed shape.")
                .code(
                    "python",
                    "batch = tokenizer(texts, padding=\"longest\", truncation=True, max_length=512, return_tensors=\"pt\")\n\n# Length bucketing: sort a window of requests so each batch pads little.\nwindow = sorted(requests, key=lambda r: len(r.token_ids))\nbatches = [window[i:i + batch_size] for i in range(0, len(window), batch_size)]",
                )
                .warning("Sorting by length changes which requests share a batch: bound the window so no request waits long.")
        };
        let suggestion = suggestion.warning("The figures are for all the padding removed (packing or variable-length attention): padding per batch with length grouping leaves some of it.");
        Ok(vec![facts::with_simulation(
            suggestion,
            &changes,
            &simulation,
        )])
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::rules::test_support::{advise, bert_base, context, llama_2_7b, target};

    #[test]
    fn bert_base_fine_tuning_padded_to_512_on_an_a100() {
        expect![[r#"
            sequence_packing · data_pipeline · impact high · difficulty medium
            title: Pack sequences instead of padding them
            description: Sequences are padded to 512 tokens but hold 180 on average: 64.8 % of every batch is padding, and each padded position costs a real token's FLOPs and memory traffic. Packing sequences into full rows with a per-sequence attention mask (variable-length FlashAttention) computes only the real tokens.
            changes: sequence length 180
            expected:
            - latency −64 % [0.636, 0.642]: model: step 61.3 ms–141.3 ms → 22.1 ms–51.0 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×2.7–2.8 [0.636, 0.642]: model: step time per sample 1.9 ms–4.4 ms → 691 µs–1.6 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −45 % [0.449, 0.449]: model: peak memory 6.9 GiB → 3.8 GiB (activations 1.7 GiB + optimizer state 1.2 GiB + CUDA context and workspaces 512.0 MiB + weights 208.8 MiB + gradients 208.8 MiB)
            evidence:
            - padded to 512 tokens (config seq_len)
            - mean real tokens per sequence 180 (config mean_seq_len)
            - batch size 32 (config batch_size)
            - the model runs the same 32 sequences at 180 tokens instead of 512: attention counted at the mean length (Σ lenᵢ² is larger for spread-out lengths)
            steps:
            - Encoders without a FlashAttention-2 path in Transformers (BERT, RoBERTa): tokenize without padding, pad per batch (DataCollatorWithPadding) and set group_by_length=True so each batch holds similar lengths; an encoder that unpads itself (ModernBERT) removes the rest.
            - Where the model has attn_implementation="flash_attention_2", DataCollatorWithFlattening packs each batch into one row with position_ids restarting per sequence.
            - Scale the batch to tokens, not sequences: a packed row holds several sequences, so keep the tokens per step (and the learning rate) what they were.
            code: python
            warnings:
            - Packing without a per-sequence mask lets sequences attend to each other (cross-contamination, Krell et al. 2021): use a collator that passes position_ids or cu_seqlens to a varlen kernel.
            - The figures are for all the padding removed (packing or variable-length attention): padding per batch with length grouping leaves some of it.
        "#]].assert_eq(&advise(
            "sequence_packing",
            context(
                bert_base(),
                target("nvidia-a100-80gb"),
                json!({ "mode": "training", "batch_size": "32", "seq_len": "512",
                        "mean_seq_len": "180", "precision": "bf16" }),
            ),
        ));
    }

    #[test]
    fn bert_base_serving_padded_to_256_on_a_t4() {
        expect![[r#"
            sequence_packing · data_pipeline · impact high · difficulty easy
            title: Stop padding every request to the same length
            description: Sequences are padded to 256 tokens but hold 60 on average: 76.6 % of every batch is padding, and each padded position costs a real token's FLOPs and memory traffic. Padding each batch only to its longest request, grouping requests of similar length, or dropping the padding with variable-length attention computes only the real tokens.
            changes: sequence length 60
            expected:
            - latency −77 % [0.770, 0.771]: model: request 103.0 ms–237.7 ms → 23.6 ms–54.5 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×4.4 [0.770, 0.771]: model: request time per sequence 1.6 ms–3.7 ms → 369 µs–851 µs (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −13 % [0.127, 0.127]: model: peak memory 864.8 MiB → 754.6 MiB (CUDA context and workspaces 512.0 MiB + weights 208.8 MiB + activations 33.8 MiB)
            evidence:
            - padded to 256 tokens (config seq_len)
            - mean real tokens per sequence 60 (config mean_seq_len)
            - batch size 64 (config batch_size)
            - the model runs the same 64 sequences at 60 tokens instead of 256: attention counted at the mean length (Σ lenᵢ² is larger for spread-out lengths)
            steps:
            - Tokenize with padding="longest" (per batch), not padding="max_length": most batches then stop well short of the maximum.
            - Batch requests of similar length together (sort a window of queued requests by length, or bucket them) so little padding is left.
            - ONNX Runtime and TensorRT: export with dynamic sequence axes (TensorRT optimization profiles over the lengths you serve) instead of a fixed shape.
            code: python
            warnings:
            - Sorting by length changes which requests share a batch: bound the window so no request waits long.
            - The figures are for all the padding removed (packing or variable-length attention): padding per batch with length grouping leaves some of it.
        "#]].assert_eq(&advise(
            "sequence_packing",
            context(
                bert_base(),
                target("nvidia-t4"),
                json!({ "mode": "inference", "batch_size": "64", "seq_len": "256",
                        "mean_seq_len": "60", "precision": "fp16" }),
            ),
        ));
    }

    #[test]
    fn says_it_needs_the_mean_length() {
        expect![[r#"
            silent
            diagnostic Info sequence_packing: could not decide: needs current_config.mean_seq_len (--set mean_seq_len=VALUE)
        "#]].assert_eq(&advise(
            "sequence_packing",
            context(
                bert_base(),
                target("nvidia-a100-80gb"),
                json!({ "mode": "training", "batch_size": "32", "seq_len": "512" }),
            ),
        ));
    }

    #[test]
    fn silent_for_generation_or_little_padding() {
        for (model, config) in [
            (
                llama_2_7b(),
                json!({ "mode": "inference", "batch_size": "8", "seq_len": "2048", "mean_seq_len": "500" }),
            ),
            (
                bert_base(),
                json!({ "mode": "training", "batch_size": "32", "seq_len": "128", "mean_seq_len": "120" }),
            ),
        ] {
            let text = advise(
                "sequence_packing",
                context(model, target("nvidia-a100-80gb"), config),
            );
            assert!(!text.contains("title:"), "{text}");
            assert!(!text.contains("diagnostic"), "{text}");
        }
    }
}
