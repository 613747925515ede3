//! The model as a plain graph: nodes, edges and model-level facts.
//!
//! This is the boundary type: importers in `advisor-graph` build it, rules read it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Precision;

/// A model: its facts, and optionally its operator graph.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ModelGraph {
    /// Model name, for example `meta-llama/Llama-2-7b-hf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Model-level facts.
    #[serde(default)]
    pub facts: ModelFacts,
    /// Operators or modules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<GraphNode>,
    /// Data flow between nodes, by node id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edges: Vec<GraphEdge>,
    /// Groups of nodes that could run as one fused kernel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fusion_opportunities: Vec<FusionOpportunity>,
}

/// Encoder-only, decoder-only or encoder-decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Architecture {
    /// Bidirectional encoder (BERT): no autoregressive generation.
    Encoder,
    /// Causal decoder (GPT, Llama): generates token by token.
    Decoder,
    /// Encoder plus decoder (T5, BART).
    EncoderDecoder,
}

impl Architecture {
    /// Whether the model generates autoregressively, so a KV cache applies.
    pub fn generates_autoregressively(self) -> bool {
        !matches!(self, Architecture::Encoder)
    }

    /// The JSON name (`encoder`, `decoder`, `encoder-decoder`).
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::Encoder => "encoder",
            Architecture::Decoder => "decoder",
            Architecture::EncoderDecoder => "encoder-decoder",
        }
    }
}

/// What is known about the model as a whole.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ModelFacts {
    /// Model family (`bert`, `gpt2`, `llama`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Encoder, decoder or encoder-decoder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<Architecture>,
    /// Total parameters, tied weights counted once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<u64>,
    /// Parameters used per token (differs from `parameters` for mixture-of-experts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_parameters: Option<u64>,
    /// Transformer layers (blocks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<u64>,
    /// Hidden (model) dimension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_size: Option<u64>,
    /// Feed-forward inner dimension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intermediate_size: Option<u64>,
    /// Query heads per layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_heads: Option<u64>,
    /// Key/value heads per layer (fewer than query heads with grouped-query attention).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_heads: Option<u64>,
    /// Dimension of one attention head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<u64>,
    /// Vocabulary size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab_size: Option<u64>,
    /// Longest sequence the position encoding supports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sequence_length: Option<u64>,
    /// Sliding-window attention span (`sliding_window` in the config), when the model uses
    /// one: each token attends to at most this many positions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<u64>,
    /// Whether the language-model head shares the token-embedding matrix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tie_word_embeddings: Option<bool>,
    /// Storage dtype of the weights.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "precision_serde"
    )]
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub dtype: Option<Precision>,
    /// Experts per mixture-of-experts layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_experts: Option<u64>,
    /// Experts routed to per token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experts_per_token: Option<u64>,
    /// Bytes the weights take in the model file (or at `dtype` when only a config is known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_bytes: Option<u64>,
    /// Weight bytes per storage dtype, keyed by dtype name (`fp32`, `bf16`, `int64`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weight_bytes_by_dtype: BTreeMap<String, u64>,
    /// Attention blocks found in the operator graph (fused ops and decomposed patterns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_blocks: Option<u64>,
    /// Forward FLOPs per token while prefilling a prompt of `max_sequence_length` tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_flops_per_token: Option<u64>,
    /// Forward FLOPs for one generated token with `max_sequence_length` tokens in the KV
    /// cache; absent for encoders, which do not decode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_flops_per_token: Option<u64>,
    /// KV-cache bytes per token at the model's dtype (16-bit when the model does not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache_bytes_per_token: Option<u64>,
}

/// One operator or module.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GraphNode {
    /// Unique id, referenced by edges.
    pub id: String,
    /// Operator type (`MatMul`, `Attention`, `LayerNormalization`, ...).
    pub op_type: String,
    /// Human-readable name.
    #[serde(default)]
    pub name: String,
    /// Parameters owned by this node.
    #[serde(default)]
    pub parameters: u64,
    /// Dtype of the node's parameters.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "precision_serde"
    )]
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub dtype: Option<Precision>,
    /// Shapes of the inputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_shapes: Vec<Vec<Dimension>>,
    /// Shapes of the outputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_shapes: Vec<Vec<Dimension>>,
    /// Operator attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(
        feature = "schema",
        schemars(with = "BTreeMap<String, serde_json::Value>")
    )]
    pub attributes: BTreeMap<String, serde_json::Value>,
}

/// One tensor dimension: a number, or a symbol such as `batch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Dimension {
    /// A fixed size.
    Fixed(u64),
    /// A named, dynamic size.
    Symbolic(String),
}

/// Data flowing from one node to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GraphEdge {
    /// Producing node id.
    pub from: String,
    /// Consuming node id.
    pub to: String,
    /// Tensor name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensor: Option<String>,
}

/// A group of nodes that a fused kernel could replace, named as onnxruntime names the fusion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FusionOpportunity {
    /// Fused pattern, for example `SkipLayerNormalization`.
    pub pattern: String,
    /// How many times the pattern occurs.
    pub count: u64,
    /// Names of the nodes involved.
    #[serde(default)]
    pub nodes: Vec<String>,
}

/// Op types that are attention, however a framework spells a fused attention op.
const ATTENTION_OPS: &[&str] = &[
    "Attention",
    "MultiHeadAttention",
    "GroupQueryAttention",
    "SelfAttention",
    "PackedAttention",
    "ScaledDotProductAttention",
];

impl ModelGraph {
    /// Total parameters: the model-level figure, else the sum over nodes.
    pub fn parameter_count(&self) -> Option<u64> {
        self.facts.parameters.or_else(|| {
            let sum = self
                .nodes
                .iter()
                .fold(0u64, |sum, node| sum.saturating_add(node.parameters));
            (sum > 0).then_some(sum)
        })
    }

    /// Whether the model has attention: attention heads are known, or a node is attention.
    pub fn has_attention(&self) -> bool {
        self.facts.attention_heads.is_some_and(|heads| heads > 0)
            || self
                .nodes
                .iter()
                .any(|node| ATTENTION_OPS.contains(&node.op_type.as_str()))
    }

    /// Dimension of one attention head: stated, else hidden size over heads.
    pub fn head_dim(&self) -> Option<u64> {
        let facts = &self.facts;
        facts.head_dim.or_else(|| {
            let heads = facts.attention_heads.filter(|h| *h > 0)?;
            Some(facts.hidden_size? / heads)
        })
    }

    /// KV-cache bytes per token: `2 (K and V) × layers × kv_heads × head_dim × bytes`
    /// ([`crate::formulas::kv_elements_per_token`]).
    pub fn kv_cache_bytes_per_token(&self, bytes_per_element: f64) -> Option<f64> {
        let facts = &self.facts;
        let kv_heads = facts.kv_heads.or(facts.attention_heads)?;
        let elements =
            crate::formulas::kv_elements_per_token(facts.layers?, kv_heads, self.head_dim()?)?;
        Some(elements as f64 * bytes_per_element)
    }
}

mod precision_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::config::Precision;

    pub fn serialize<S: Serializer>(value: &Option<Precision>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(precision) => s.serialize_str(precision.as_str()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Precision>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        Precision::parse(&text).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown dtype `{text}`: expected one of fp32, fp16, bf16, fp8, int8, int4"
            ))
        })
    }
}
