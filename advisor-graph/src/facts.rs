//! Facts derived from other facts, the same for every importer: weight bytes at the dtype,
//! KV-cache bytes per token, and FLOPs per token for prefill and decode.
//!
//! FLOPs count a multiply-add as two operations and follow Kaplan et al. 2020, "Scaling Laws
//! for Neural Language Models", Table 1 (`C_forward ≈ 2N + 2·n_layer·n_ctx·d_attn`), with the
//! attention term doubled to count both the `QKᵀ` and the `softmax·V` products, as in
//! Chowdhery et al. 2022, "PaLM", Appendix B (`6N + 12·L·H·Q·T` for training, a third of it
//! forward):
//!
//! - weights: `2 × N` per token, where `N` is the parameters a token multiplies with: the
//!   active parameters (mixture of experts: the routed experts only), less the embedding
//!   tables, which are looked up rather than multiplied, plus the language-model head when it
//!   is tied to the embedding (the tied matrix is multiplied once more per token).
//! - attention: `4 × layers × heads × head_dim × context` per token.
//!   - prefill of a prompt of `S = max_sequence_length` tokens: a causal decoder's token `i`
//!     attends to `i` positions, `(S + 1) / 2` on average, so `2 × L × d_attn × (S + 1)`; an
//!     encoder attends to all `S`, so `4 × L × d_attn × S`.
//!   - decode: one new token attending to a full cache of `S` positions, `4 × L × d_attn × S`.
//!     Encoders do not decode.
//!
//! KV-cache bytes per token are `2 (K and V) × layers × kv_heads × head_dim × bytes`, with
//! bytes the model's dtype: 4 for fp32, 2 for fp16 and bf16, 1 for fp8, and 2 when the file
//! does not say or the weights are integer-quantized (activations, and so the cache, stay
//! 16-bit then): that is how such models are served.

use advisor_core::{Architecture, ModelGraph, Precision};

/// Fills the derived facts of `graph`; `lookup_parameters` are the embedding-table parameters
/// (derived from `Embedding` nodes when `None`).
pub(crate) fn complete(graph: &mut ModelGraph, lookup_parameters: Option<u64>) {
    let lookup = lookup_parameters.unwrap_or_else(|| {
        graph
            .nodes
            .iter()
            .filter(|node| node.op_type == "Embedding")
            .map(|node| node.parameters)
            .fold(0u64, u64::saturating_add)
    });
    let tied_head = graph.nodes.iter().any(|node| {
        node.attributes
            .get("tied")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    });
    let head_dim = graph.head_dim();
    let attention_nodes = graph
        .nodes
        .iter()
        .filter(|node| node.op_type == "Attention")
        .count() as u64;
    let facts = &mut graph.facts;
    if facts.attention_blocks.is_none() && attention_nodes > 0 {
        facts.attention_blocks = Some(attention_nodes);
    }
    if facts.weight_bytes.is_none()
        && let (Some(parameters), Some(dtype)) = (facts.parameters, facts.dtype)
    {
        let bytes = match dtype {
            Precision::Int4 => parameters.div_ceil(2),
            other => parameters.saturating_mul(bytes_per_element(other)),
        };
        facts.weight_bytes = Some(bytes);
        facts
            .weight_bytes_by_dtype
            .insert(dtype.as_str().to_owned(), bytes);
    }
    facts.kv_cache_bytes_per_token = None;
    facts.prefill_flops_per_token = None;
    facts.decode_flops_per_token = None;
    let generates = facts
        .architecture
        .is_some_and(Architecture::generates_autoregressively);
    // One formula and one dtype rule for every crate (`advisor_core::formulas`).
    let kv_dtype = advisor_core::formulas::default_kv_dtype(facts.dtype);
    if generates
        && let (Some(layers), Some(kv_heads), Some(head_dim)) = (
            facts.layers,
            facts.kv_heads.or(facts.attention_heads),
            head_dim,
        )
    {
        facts.kv_cache_bytes_per_token =
            advisor_core::formulas::kv_elements_per_token(layers, kv_heads, head_dim)
                .map(|elements| advisor_core::formulas::bytes_of(elements, kv_dtype));
    }
    let (Some(parameters), Some(layers), Some(heads), Some(head_dim), Some(context)) = (
        facts.active_parameters.or(facts.parameters),
        facts.layers,
        facts.attention_heads,
        head_dim,
        facts.max_sequence_length,
    ) else {
        return;
    };
    let tied_extra = match (tied_head, facts.vocab_size, facts.hidden_size) {
        (true, Some(vocab), Some(hidden)) => vocab.saturating_mul(hidden),
        _ => 0,
    };
    let multiplied = parameters.saturating_sub(lookup).saturating_add(tied_extra);
    let Some(width) = heads.checked_mul(head_dim) else {
        return;
    };
    // The one forward-FLOPs formula (`advisor_core::formulas`), which the performance model
    // uses too: a causal prompt attends to (S + 1) / 2 positions on average, an encoder to
    // all S, a decoded token to the whole cache.
    let causal = facts.architecture != Some(Architecture::Encoder);
    let prefill_context = if causal {
        advisor_core::formulas::causal_mean_context(context as f64, None)
    } else {
        context as f64
    };
    let per_token = |mean_context: f64| {
        let flops = advisor_core::formulas::forward_flops_per_token(
            multiplied as f64,
            layers,
            width,
            mean_context,
        );
        // Within u64 for any real model; an absurd shape gives no figure.
        (flops.is_finite() && flops < u64::MAX as f64).then(|| flops.round() as u64)
    };
    facts.prefill_flops_per_token = per_token(prefill_context);
    if generates {
        facts.decode_flops_per_token = per_token(context as f64);
    }
}

/// Bytes per element of a dtype (int4 is half a byte; callers round up).
pub(crate) fn bytes_per_element(dtype: Precision) -> u64 {
    match dtype {
        Precision::Fp32 => 4,
        Precision::Fp16 | Precision::Bf16 => 2,
        Precision::Fp8 | Precision::Int8 | Precision::Int4 => 1,
    }
}

/// Fills facts the model file left unknown from the `config.json` beside it, and warns where
/// both give a value and they differ; the file's value is kept.
pub(crate) fn merge_config(
    graph: &mut ModelGraph,
    config: &ModelGraph,
    warnings: &mut Vec<crate::ImportWarning>,
) {
    let file = &mut graph.facts;
    let from = &config.facts;
    macro_rules! merge {
        ($($field:ident),*) => {$(
            match (&file.$field, &from.$field) {
                (None, Some(value)) => file.$field = Some(value.clone()),
                (Some(ours), Some(theirs)) if ours != theirs => {
                    warnings.push(crate::ImportWarning::ConfigMismatch {
                        fact: stringify!($field).to_owned(),
                        file_value: format!("{ours:?}"),
                        config_value: format!("{theirs:?}"),
                    });
                }
                _ => {}
            }
        )*};
    }
    merge!(
        family,
        architecture,
        layers,
        hidden_size,
        intermediate_size,
        attention_heads,
        kv_heads,
        head_dim,
        vocab_size,
        max_sequence_length,
        num_experts,
        experts_per_token
    );
    if file.dtype.is_none() {
        file.dtype = from.dtype;
    }
    // Mixture of experts: the inactive experts are the config's difference, whatever the
    // file holds beyond it.
    if let (Some(parameters), Some(total), Some(active)) =
        (file.parameters, from.parameters, from.active_parameters)
    {
        file.active_parameters = Some(parameters.saturating_sub(total.saturating_sub(active)));
    }
    if graph.name.is_none() {
        graph.name.clone_from(&config.name);
    }
}
