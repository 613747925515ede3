//! [`ModelSummary`]: what `advisor inspect` prints, in one serializable value.

use std::collections::BTreeMap;

use advisor_core::{FusionOpportunity, formulas};
use serde::Serialize;

use crate::format::{Imported, TensorSignature};

/// The facts and findings of an imported model, with the JSON shape of `advisor inspect
/// --format json`. Unknown values are `null`, never `0`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct ModelSummary {
    /// Total parameters (for a model file: the floating-point and 8/4-bit initializer or
    /// tensor elements it holds).
    pub parameters: Option<u64>,
    /// Bytes of all weights at their stored dtypes.
    pub weight_bytes: Option<u64>,
    /// Weight bytes per dtype name.
    pub weight_bytes_by_dtype: BTreeMap<String, u64>,
    /// Storage dtype of most weights (`fp32`, `bf16`, ...).
    pub dtype: Option<String>,
    /// `encoder`, `decoder` or `encoder-decoder`.
    pub architecture: Option<String>,
    /// Transformer layers.
    pub layers: Option<u64>,
    /// Hidden size.
    pub hidden_size: Option<u64>,
    /// Query heads per layer.
    pub attention_heads: Option<u64>,
    /// Key/value heads per layer.
    pub kv_heads: Option<u64>,
    /// Vocabulary size.
    pub vocab_size: Option<u64>,
    /// Longest sequence the model supports.
    pub max_sequence_length: Option<u64>,
    /// KV-cache bytes per token at [`kv_cache_dtype`](Self::kv_cache_dtype); decoders only.
    pub kv_cache_bytes_per_token: Option<u64>,
    /// The dtype the KV-cache figure is at: the model's floating-point dtype, 16-bit when the
    /// model does not state one or its weights are integer-quantized
    /// ([`advisor_core::formulas::default_kv_dtype`]). `advisor analyze` sizes the cache at the
    /// run's compute precision instead (fp32 unless stated), so its figure can differ by that
    /// factor; the elements are the same.
    pub kv_cache_dtype: Option<String>,
    /// KV-cache elements per token, `2 × layers × kv_heads × head_dim`
    /// ([`advisor_core::formulas::kv_elements_per_token`]): the figure before any dtype.
    pub kv_cache_elements_per_token: Option<u64>,
    /// Forward FLOPs per token.
    pub flops_per_token: FlopsPerToken,
    /// Attention blocks found, fused or decomposed.
    pub attention_blocks: Option<u64>,
    /// Nodes per op type.
    pub op_counts: BTreeMap<String, u64>,
    /// Fusion opportunities, named as onnxruntime names the fused operators.
    pub fusion_opportunities: Vec<FusionOpportunity>,
    /// Import warnings, as sentences.
    pub warnings: Vec<String>,
    /// The ONNX operator set (default domain) the model was exported for; `null` for other
    /// formats.
    pub opset: Option<u64>,
    /// ONNX graph inputs with element types and symbolic shapes; empty for other formats.
    pub inputs: Vec<TensorSignature>,
    /// ONNX graph outputs with element types and symbolic shapes; empty for other formats.
    pub outputs: Vec<TensorSignature>,
}

/// FLOPs per token for prefill and decode (see the formulas on `ModelFacts`' fields).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct FlopsPerToken {
    /// Per prompt token, over a prompt of `max_sequence_length` tokens.
    pub prefill: Option<u64>,
    /// Per generated token with a full KV cache; `null` for encoders.
    pub decode: Option<u64>,
}

impl ModelSummary {
    /// Summarizes an import.
    ///
    /// ```
    /// let imported = advisor_graph::import_bytes(
    ///     br#"{"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12,
    ///          "vocab_size": 50257}"#,
    ///     "config.json",
    /// ).unwrap();
    /// let summary = advisor_graph::ModelSummary::new(&imported);
    /// assert_eq!(summary.parameters, Some(124_439_808));
    /// assert_eq!(summary.attention_blocks, Some(12));
    /// assert_eq!(summary.kv_cache_bytes_per_token, Some(36_864));
    /// // The config states no dtype: 16-bit, 18,432 elements of 2 bytes.
    /// assert_eq!(summary.kv_cache_dtype.as_deref(), Some("fp16"));
    /// assert_eq!(summary.kv_cache_elements_per_token, Some(18_432));
    /// ```
    pub fn new(imported: &Imported) -> ModelSummary {
        let graph = &imported.graph;
        let facts = &graph.facts;
        let mut op_counts = BTreeMap::new();
        for node in &graph.nodes {
            *op_counts.entry(node.op_type.clone()).or_insert(0u64) += 1;
        }
        // The same formula and dtype rule the importer used for the bytes, and only where it
        // gave them (decoders with known shapes).
        let kv_cache_elements_per_token = facts.kv_cache_bytes_per_token.and_then(|_| {
            formulas::kv_elements_per_token(
                facts.layers?,
                facts.kv_heads.or(facts.attention_heads)?,
                graph.head_dim()?,
            )
        });
        let kv_cache_dtype = facts
            .kv_cache_bytes_per_token
            .map(|_| formulas::default_kv_dtype(facts.dtype).as_str().to_owned());
        ModelSummary {
            parameters: graph.parameter_count(),
            weight_bytes: facts.weight_bytes,
            weight_bytes_by_dtype: facts.weight_bytes_by_dtype.clone(),
            dtype: facts.dtype.map(|dtype| dtype.as_str().to_owned()),
            architecture: facts.architecture.map(|a| a.as_str().to_owned()),
            layers: facts.layers,
            hidden_size: facts.hidden_size,
            attention_heads: facts.attention_heads,
            kv_heads: facts.kv_heads,
            vocab_size: facts.vocab_size,
            max_sequence_length: facts.max_sequence_length,
            kv_cache_bytes_per_token: facts.kv_cache_bytes_per_token,
            kv_cache_dtype,
            kv_cache_elements_per_token,
            flops_per_token: FlopsPerToken {
                prefill: facts.prefill_flops_per_token,
                decode: facts.decode_flops_per_token,
            },
            attention_blocks: facts.attention_blocks,
            op_counts,
            fusion_opportunities: graph.fusion_opportunities.clone(),
            warnings: imported.warnings.iter().map(ToString::to_string).collect(),
            opset: imported.opset,
            inputs: imported.inputs.clone(),
            outputs: imported.outputs.clone(),
        }
    }
}
