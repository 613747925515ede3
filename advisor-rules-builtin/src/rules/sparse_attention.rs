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
//! Llama-2-7B fine-tuned at 4096 tokens.

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
            .warning("Sparse attention changes what the model computes: evaluate quality on long inputs before shipping.")
            .warning("If attention is not the bottleneck, exact FlashAttention (rule flash_attention) gives most of the speed without changing results.")])
    }
}
