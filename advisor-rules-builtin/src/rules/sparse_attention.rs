//! `sparse_attention`: long sequences through dense attention.
//!
//! ## What it checks
//! The model has attention and the sequence length (config `seq_len`, else the model's
//! maximum sequence length) is over 512 tokens.
//!
//! ## Why it matters
//! Dense attention costs `4 · s² · heads · head_dim` FLOPs per layer and sequence, so its
//! share of the forward pass grows with the sequence length. A local (sliding-window) or
//! block-sparse pattern over 512 keys per query makes that cost linear in `s`. The expected
//! improvement is the attention share of the FLOPs times the fraction of the score matrix
//! the pattern skips (`1 − 512 / s`); sparse kernels run below dense-kernel efficiency, so the
//! lower end is half of that.
//!
//! ## When it stays silent
//! No attention in the model, or sequences of 512 tokens or fewer. Without a model it says
//! it needs one.
//!
//! ## Example
//! GPT-2 at 1024 tokens, Llama-2-7B at 4096 tokens.

use advisor_core::{
    Category, Difficulty, ExpectedImprovement, ImprovementMetric, OptimizationRule,
    OptimizationSuggestion, RuleError, RuleInput,
};

use crate::facts;

/// Sequences longer than this are "long".
const LONG_SEQUENCE: u64 = 512;
/// Keys each query attends to under the suggested local pattern.
const WINDOW: u64 = 512;

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
        "Sequences over 512 tokens through dense attention: use a sliding-window or block-sparse pattern"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let context = input.context;
        let config = context.run_config()?;
        let model = facts::model(context, "to know whether it has attention")?;
        if !model.has_attention() {
            return Ok(Vec::new());
        }
        let (seq_len, source) = context.sequence_length(&config).ok_or_else(|| {
            RuleError::MissingFacts("config seq_len or the model's max_sequence_length".to_owned())
        })?;
        if seq_len <= LONG_SEQUENCE {
            return Ok(Vec::new());
        }
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Architecture,
            advisor_core::Impact::Medium,
            Difficulty::Hard,
            "Use sparse or sliding-window attention for long sequences",
        )
        .description(format!(
            "At {seq_len} tokens, dense attention computes a {seq_len}×{seq_len} score matrix per head and layer. \
             A sliding-window or block-sparse pattern over {WINDOW} keys per query makes attention linear in the sequence length."
        ))
        .evidence(format!("sequence length {seq_len} > {LONG_SEQUENCE} ({source})"));
        if let Some(heads) = model.facts.attention_heads {
            suggestion = suggestion.evidence(format!("{heads} attention heads"));
        }
        if let Some(share) = facts::attention_share(model, seq_len) {
            let skipped = 1.0 - WINDOW as f64 / seq_len as f64;
            let max = share.share * skipped;
            suggestion.impact = facts::impact_from_reduction(max);
            suggestion = suggestion
                .evidence(format!(
                    "attention scores are {} of forward FLOPs ({} of {} per sequence)",
                    facts::percent(share.share),
                    facts::flops_text(share.attention_flops),
                    facts::flops_text(share.attention_flops + share.linear_flops),
                ))
                .improvement(ExpectedImprovement::new(
                    ImprovementMetric::Latency,
                    max / 2.0,
                    max,
                    format!(
                        "attention is {} of forward FLOPs at s = {seq_len}; a {WINDOW}-token window skips {} of the score matrix; \
                         the lower end allows for sparse kernels running at half the efficiency of dense ones",
                        facts::percent(share.share),
                        facts::percent(skipped)
                    ),
                ));
        }
        Ok(vec![suggestion
            .step("Pick a pattern the model can learn: sliding window (Mistral, Longformer), block-sparse (BigBird) or dilated windows.")
            .step("Fine-tune with the pattern on your data; a dense-trained model loses accuracy when attention is cut without training.")
            .step("Use a kernel that skips the masked blocks (FlashAttention-2's window_size, xFormers' BlockDiagonalCausalLocalAttentionMask); a mask on dense attention saves nothing.")
            .code(
                "python",
                format!(
                    "from flash_attn import flash_attn_func\n\n# q, k, v: (batch, seq, heads, head_dim) in fp16/bf16\nout = flash_attn_func(q, k, v, causal=True, window_size=({}, 0))",
                    WINDOW - 1
                ),
            )
            .warning("Sparse attention changes what the model computes: evaluate quality on long inputs before shipping.")
            .warning("If attention is not the bottleneck, exact FlashAttention (rule flash_attention) gives most of the speed without changing results.")])
    }
}
