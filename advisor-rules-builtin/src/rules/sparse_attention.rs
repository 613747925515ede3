//! `sparse_attention`: long sequences through dense attention.
//!
//! ## What it checks
//! The model has attention, no sliding window of its own (Mistral's, Qwen2's with
//! `use_sliding_window`), and sequences over 2048 tokens.
//!
//! ## Why it matters
//! Dense attention costs `4 · layers · heads · head_dim · context` FLOPs per token, and with
//! eager attention `s²` score traffic per head and layer, so its share of the step grows with
//! the sequence. A sliding window of `w` positions (Beltagy et al. 2020, "Longformer"; Jiang et
//! al. 2023, "Mistral 7B") makes it linear in `s`, and caps the KV cache at `w` tokens. The
//! gain is the performance model with the window against without it.
//!
//! A window changes what the model computes: a model trained with full attention must be
//! trained or fine-tuned with the window. For someone serving a pretrained model this is an
//! architecture change, said as such, and left out of the report's combined plan; in training
//! it is a change to the run.
//!
//! ## When it stays silent
//! No attention, a model that already has a sliding window, sequences of 2048 tokens or fewer,
//! or a gain under 5 %. Without the model or the run it says what it needs.
//!
//! ## Example
//! Qwen2-1.5B fine-tuned at 16384 tokens: a 4096-token window takes 14–16 % off the step (at
//! 4096 tokens, Llama-2-7B gains under 5 % and the rule stays silent).

use advisor_core::{
    Category, Change, Difficulty, ImprovementMetric, Mode, OptimizationRule,
    OptimizationSuggestion, RuleError, RuleInput,
};

use crate::facts;

/// Sequences longer than this are "long".
const LONG_SEQUENCE: u64 = 2048;

/// See the module documentation.
pub(crate) struct SparseAttention;

impl OptimizationRule for SparseAttention {
    fn id(&self) -> &str {
        "sparse_attention"
    }

    fn category(&self) -> Category {
        Category::Architecture
    }

    fn description(&self) -> &str {
        "Sequences over 2048 tokens through dense attention: a sliding-window pattern (needs training with it)"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        let model = facts.model()?;
        if !model.has_attention || model.sliding_window.is_some() {
            return Ok(Vec::new());
        }
        let settings = facts.settings()?;
        let total = settings.prompt_tokens + settings.generated_tokens;
        if total <= LONG_SEQUENCE {
            return Ok(Vec::new());
        }
        // A window of a quarter of the sequence, at least 512 and at most 4096 positions.
        let window = (total / 4).clamp(512, 4096).next_power_of_two().min(4096);
        let changes = [Change::SlidingWindow(window)];
        let simulation = facts::simulate(input, &changes)?;
        let gain = simulation
            .improvement(ImprovementMetric::Latency)
            .map_or(0.0, |i| i.max_reduction);
        if gain < 0.05 {
            return Ok(Vec::new());
        }
        let training = settings.mode == Mode::Training;
        let suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Architecture,
            advisor_core::Impact::Medium,
            Difficulty::Hard,
            format!("Train with a {window}-token sliding attention window for {total}-token sequences"),
        )
        .description(format!(
            "At {total} tokens, dense attention computes a score for every pair of positions. A sliding window of {window} \
             positions makes attention linear in the sequence length and caps the KV cache at {window} tokens."
        ))
        .evidence(format!("{total} tokens per sequence"))
        .evidence("the model has no sliding window of its own (model sliding_window)");
        let mut suggestion = if training {
            facts::with_simulation(suggestion, &changes, &simulation)
        } else {
            // An architecture change for a served model: its figures, out of the plan.
            let mut s = facts::with_simulation(suggestion, &[], &simulation);
            s = s.warning(
                "The model was trained with full attention: a window changes its outputs, so it needs training or fine-tuning with the window before serving. The figures are what a windowed model would buy.",
            );
            s
        };
        suggestion.difficulty = Difficulty::Hard;
        if facts.run.attention.value == advisor_core::AttentionKernel::Eager {
            suggestion = suggestion.warning("If attention is not the bottleneck, exact FlashAttention (rule flash_attention) gives most of the speed without changing results.");
        }
        Ok(vec![suggestion
            .step("Pick a pattern the model can learn: sliding window (Mistral, Longformer), block-sparse (BigBird) or dilated windows.")
            .step("Fine-tune with the pattern on your data; a dense-trained model loses accuracy when attention is cut without training.")
            .step("Use a kernel that skips the masked blocks (FlashAttention-2's window_size, xFormers' BlockDiagonalCausalLocalAttentionMask); a mask on dense attention saves nothing.")
            .code(
                "python",
                format!(
                    "from flash_attn import flash_attn_func\n\n# q, k, v: (batch, seq, heads, head_dim) in fp16/bf16\nout = flash_attn_func(q, k, v, causal=True, window_size=({}, 0))",
                    window - 1
                ),
            )
            .warning("Sparse attention changes what the model computes: evaluate quality on long inputs before shipping.")])
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::rules::test_support::{advise, context, llama_2_7b, mistral_7b, qwen2_1_5b, target};

    #[test]
    fn llama_2_7b_serving_4096_token_contexts_on_an_a100_80gb() {
        expect![[r#"
            sparse_attention · architecture · impact low · difficulty hard
            title: Train with a 1024-token sliding attention window for 4096-token sequences
            description: At 4096 tokens, dense attention computes a score for every pair of positions. A sliding window of 1024 positions makes attention linear in the sequence length and caps the KV cache at 1024 tokens.
            expected:
            - latency −0–9 % [0.002, 0.094]: model: request 4.48 s–10.37 s → 4.06 s–10.35 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.0–1.1 [0.002, 0.094]: model: request time per sequence 4.48 s–10.37 s → 4.06 s–10.35 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_to_first_token −3 % [0.030, 0.031]: model: time to first token 225.6 ms–516.8 ms → 218.7 ms–501.0 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_per_token −0–10 % [0.000, 0.097]: model: time per generated token 8.3 ms–19.2 ms → 7.5 ms–19.2 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −10 % [0.099, 0.099]: model: peak memory 15.2 GiB → 13.7 GiB (weights 12.6 GiB + KV cache 512.0 MiB + CUDA context and workspaces 512.0 MiB + activations 168.0 MiB)
            evidence:
            - 4096 tokens per sequence
            - the model has no sliding window of its own (model sliding_window)
            steps:
            - Pick a pattern the model can learn: sliding window (Mistral, Longformer), block-sparse (BigBird) or dilated windows.
            - Fine-tune with the pattern on your data; a dense-trained model loses accuracy when attention is cut without training.
            - Use a kernel that skips the masked blocks (FlashAttention-2's window_size, xFormers' BlockDiagonalCausalLocalAttentionMask); a mask on dense attention saves nothing.
            code: python
            warnings:
            - The model was trained with full attention: a window changes its outputs, so it needs training or fine-tuning with the window before serving. The figures are what a windowed model would buy.
            - Sparse attention changes what the model computes: evaluate quality on long inputs before shipping.
        "#]].assert_eq(&advise(
            "sparse_attention",
            context(
                llama_2_7b(),
                target("nvidia-a100-80gb"),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "4096",
                        "precision": "fp16", "flash_attention": "true" }),
            ),
        ));
    }

    #[test]
    fn qwen2_1_5b_trained_at_16384_tokens_on_an_h100() {
        expect![[r#"
            sparse_attention · architecture · impact medium · difficulty hard
            title: Train with a 4096-token sliding attention window for 16384-token sequences
            description: At 16384 tokens, dense attention computes a score for every pair of positions. A sliding window of 4096 positions makes attention linear in the sequence length and caps the KV cache at 4096 tokens.
            changes: a 4096-token attention window
            expected:
            - latency −13–14 % [0.133, 0.143]: model: step 472.5 ms–1.08 s → 406.8 ms–934.7 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.2 [0.133, 0.143]: model: step time per sample 472.5 ms–1.08 s → 406.8 ms–934.7 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - 16384 tokens per sequence
            - the model has no sliding window of its own (model sliding_window)
            steps:
            - Pick a pattern the model can learn: sliding window (Mistral, Longformer), block-sparse (BigBird) or dilated windows.
            - Fine-tune with the pattern on your data; a dense-trained model loses accuracy when attention is cut without training.
            - Use a kernel that skips the masked blocks (FlashAttention-2's window_size, xFormers' BlockDiagonalCausalLocalAttentionMask); a mask on dense attention saves nothing.
            code: python
            warnings:
            - Sparse attention changes what the model computes: evaluate quality on long inputs before shipping.
        "#]].assert_eq(&advise(
            "sparse_attention",
            context(
                qwen2_1_5b(),
                target("nvidia-h100-sxm"),
                json!({ "mode": "training", "batch_size": "1", "seq_len": "16384",
                        "precision": "bf16", "flash_attention": "true",
                        "gradient_checkpointing": "true" }),
            ),
        ));
    }

    #[test]
    fn llama_2_7b_trained_at_4096_tokens_gains_under_5_percent() {
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "sparse_attention",
            context(
                llama_2_7b(),
                target("nvidia-h200"),
                json!({ "mode": "training", "batch_size": "1", "seq_len": "4096",
                        "precision": "bf16", "flash_attention": "true",
                        "gradient_checkpointing": "true" }),
            ),
        ));
    }

    #[test]
    fn mistral_has_a_window_of_its_own() {
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "sparse_attention",
            context(
                mistral_7b(),
                target("nvidia-a100-80gb"),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "8192",
                        "precision": "bf16" }),
            ),
        ));
    }
}
