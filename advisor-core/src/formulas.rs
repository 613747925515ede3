//! The one home of the bytes and FLOPs formulas every importer, rule and the model share.
//!
//! FLOPs count a multiply-add as two operations (Kaplan et al. 2020, "Scaling Laws for Neural
//! Language Models", table 1: `C_forward ≈ 2N + 2·n_layer·n_ctx·d_attn`, with the attention
//! term doubled for both `QKᵀ` and `softmax·V` as in Chowdhery et al. 2022, "PaLM",
//! appendix B).

use crate::config::Precision;

/// KV-cache elements per token: `2 (K and V) × layers × kv_heads × head_dim`.
pub fn kv_elements_per_token(layers: u64, kv_heads: u64, head_dim: u64) -> Option<u64> {
    2u64.checked_mul(layers)?
        .checked_mul(kv_heads)?
        .checked_mul(head_dim)
}

/// The element type a KV cache has when nothing says otherwise: the model's floating-point
/// dtype, and 16-bit when the weights are integer-quantized or the dtype is unknown
/// (activations, and so the cache, stay 16-bit in how such models are served).
pub fn default_kv_dtype(model_dtype: Option<Precision>) -> Precision {
    match model_dtype {
        Some(Precision::Fp32) => Precision::Fp32,
        Some(Precision::Bf16) => Precision::Bf16,
        Some(Precision::Fp8) => Precision::Fp8,
        _ => Precision::Fp16,
    }
}

/// Bytes of `elements` values of `dtype`, rounding half bytes up.
pub fn bytes_of(elements: u64, dtype: Precision) -> u64 {
    match dtype {
        Precision::Int4 => elements.div_ceil(2),
        other => elements.saturating_mul(u64::from(other.bits() / 8)),
    }
}

/// Attention FLOPs of one token attending to `context` positions: `4 × layers × d_attn ×
/// context` (`QKᵀ` and `softmax·V`, 2 FLOPs per multiply-add each).
pub fn attention_flops_per_token(layers: u64, attention_width: u64, context: f64) -> f64 {
    4.0 * layers as f64 * attention_width as f64 * context
}

/// Forward FLOPs of one token: 2 per parameter it multiplies with (the active parameters,
/// less the embedding tables that are looked up, plus the head), and attention over
/// `context` positions. The one formula `inspect`'s FLOPs per token and the performance
/// model both use.
pub fn forward_flops_per_token(
    multiplied_parameters: f64,
    layers: u64,
    attention_width: u64,
    context: f64,
) -> f64 {
    2.0 * multiplied_parameters + attention_flops_per_token(layers, attention_width, context)
}

/// Mean positions a token of a causal prefix of `tokens` tokens attends to, `(p + 1) / 2`,
/// capped by a sliding window.
pub fn causal_mean_context(tokens: f64, sliding_window: Option<f64>) -> f64 {
    match sliding_window {
        Some(w) if w < tokens => {
            // Tokens before the window fills attend to i positions, the rest to the window.
            (w * (w + 1.0) / 2.0 + (tokens - w) * w) / tokens
        }
        _ => (tokens + 1.0) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_elements_of_gpt2_and_llama() {
        // GPT-2: 12 layers × 12 heads × 64: 18,432 elements, 36,864 B at 16-bit.
        assert_eq!(kv_elements_per_token(12, 12, 64), Some(18_432));
        assert_eq!(bytes_of(18_432, Precision::Fp16), 36_864);
        assert_eq!(bytes_of(18_432, Precision::Fp32), 73_728);
        // Llama-2-7B: 32 × 32 × 128 at fp16 = 512 KiB per token.
        assert_eq!(
            bytes_of(kv_elements_per_token(32, 32, 128).unwrap(), Precision::Fp16),
            524_288
        );
        assert_eq!(kv_elements_per_token(u64::MAX, 2, 2), None);
    }

    #[test]
    fn sliding_window_caps_the_mean_context() {
        assert_eq!(causal_mean_context(4.0, None), 2.5);
        // Window 2 over 4 tokens: 1, 2, 2, 2 positions.
        assert_eq!(causal_mean_context(4.0, Some(2.0)), 7.0 / 4.0);
    }
}
