//! A transformer described by its dimensions, and the module-level graph built from it.
//!
//! Importers fill a [`TransformerSpec`]; [`build_graph`] turns it into a `petgraph` graph of
//! modules (embeddings, per-layer norms, attention, MLP or mixture of experts, residual adds,
//! final norm, head) with exact parameter counts, then converts that graph into core's plain
//! [`ModelGraph`] at the boundary. Model facts are derived from the same nodes, so node
//! parameters always sum to `facts.parameters`.
//!
//! Parameter formulas follow the Hugging Face `transformers` modeling files named on each
//! function. A linear layer `nn.Linear(in, out, bias)` holds `in × out` weights plus `out`
//! biases; `nn.LayerNorm(h)` holds a weight and a bias (`2h`); the RMSNorms of Llama, Mistral,
//! Mixtral and Qwen2 hold only a weight (`h`); `nn.Embedding(rows, h)` holds `rows × h`.

use std::collections::BTreeMap;

use advisor_core::{
    Architecture, Dimension, GraphEdge, GraphNode, ModelFacts, ModelGraph, Precision,
};
use petgraph::graph::DiGraph;
use serde_json::Value;

use crate::error::{ImportError, ImportErrorKind};

/// Tensor name on skip-connection edges, so a reader can tell them from the main path.
const RESIDUAL_TENSOR: &str = "residual";
/// Tensor name on the edges carrying the encoder's output into cross-attention.
const ENCODER_TENSOR: &str = "encoder_hidden_states";

/// A supported model family, named by its Hugging Face `model_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Bert,
    Roberta,
    DistilBert,
    Gpt2,
    Llama,
    Mistral,
    Mixtral,
    Qwen2,
    Phi3,
    Qwen3,
    Qwen3Moe,
    Gemma2,
    Falcon,
    T5,
}

impl Family {
    const ALL: [Family; 14] = [
        Family::Bert,
        Family::Roberta,
        Family::DistilBert,
        Family::Gpt2,
        Family::Llama,
        Family::Mistral,
        Family::Mixtral,
        Family::Qwen2,
        Family::Phi3,
        Family::Qwen3,
        Family::Qwen3Moe,
        Family::Gemma2,
        Family::Falcon,
        Family::T5,
    ];

    /// The `model_type` in `config.json`.
    pub(crate) fn model_type(self) -> &'static str {
        match self {
            Family::Bert => "bert",
            Family::Roberta => "roberta",
            Family::DistilBert => "distilbert",
            Family::Gpt2 => "gpt2",
            Family::Llama => "llama",
            Family::Mistral => "mistral",
            Family::Mixtral => "mixtral",
            Family::Qwen2 => "qwen2",
            Family::Phi3 => "phi3",
            Family::Qwen3 => "qwen3",
            Family::Qwen3Moe => "qwen3_moe",
            Family::Gemma2 => "gemma2",
            Family::Falcon => "falcon",
            Family::T5 => "t5",
        }
    }

    /// The prefix of the family's model class names (`BertModel`, `GPT2LMHeadModel`, ...).
    fn class_prefix(self) -> &'static str {
        match self {
            Family::Bert => "Bert",
            Family::Roberta => "Roberta",
            Family::DistilBert => "DistilBert",
            Family::Gpt2 => "GPT2",
            Family::Llama => "Llama",
            Family::Mistral => "Mistral",
            Family::Mixtral => "Mixtral",
            Family::Qwen2 => "Qwen2",
            Family::Phi3 => "Phi3",
            Family::Qwen3 => "Qwen3",
            Family::Qwen3Moe => "Qwen3Moe",
            Family::Gemma2 => "Gemma2",
            Family::Falcon => "Falcon",
            Family::T5 => "T5",
        }
    }

    pub(crate) fn from_model_type(model_type: &str) -> Option<Family> {
        Family::ALL
            .into_iter()
            .find(|family| family.model_type() == model_type)
    }

    /// The family of a class name from `architectures`, such as `RobertaForMaskedLM`.
    ///
    /// The rest of the name must start a model class (`Model`, `For...`, `LMHead...`,
    /// `DoubleHeads...`), so that `Qwen2MoeForCausalLM` is not taken for Qwen2.
    pub(crate) fn from_architecture(class_name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|family| {
            class_name
                .strip_prefix(family.class_prefix())
                .is_some_and(|rest| {
                    ["Model", "For", "LMHead", "DoubleHeads", "PreTrainedModel"]
                        .iter()
                        .any(|start| rest.starts_with(start))
                })
        })
    }

    fn architecture(self) -> Architecture {
        match self {
            Family::Bert | Family::Roberta | Family::DistilBert => Architecture::Encoder,
            Family::Gpt2
            | Family::Llama
            | Family::Mistral
            | Family::Mixtral
            | Family::Qwen2
            | Family::Phi3
            | Family::Qwen3
            | Family::Qwen3Moe
            | Family::Gemma2
            | Family::Falcon => Architecture::Decoder,
            Family::T5 => Architecture::EncoderDecoder,
        }
    }

    /// Whether the query, key and value projections are one matrix in the checkpoint
    /// (`qkv_proj`, `query_key_value`); the parameters are the same as three projections.
    fn fused_qkv(self) -> bool {
        matches!(self, Family::Phi3 | Family::Falcon)
    }

    /// Whether the gate and up projections are one matrix (`gate_up_proj`).
    fn fused_gate_up(self) -> bool {
        matches!(self, Family::Phi3)
    }
}

/// Normalization layer kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Norm {
    /// `nn.LayerNorm`: weight and bias.
    LayerNorm,
    /// RMSNorm: weight only.
    RmsNorm,
}

/// Where the norms sit relative to the residual adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// BERT: `norm(x + sublayer(x))`.
    PostNorm,
    /// GPT-2, Llama: `x + sublayer(norm(x))`, with a final norm after the last layer.
    PreNorm,
    /// Falcon: `x + attention(norm(x)) + mlp(norm'(x))`, attention and MLP side by side on
    /// the same input, with a final norm; `shared_norm` when one norm feeds both.
    Parallel { shared_norm: bool },
}

/// The feed-forward block of each layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FeedForward {
    /// Up projection, activation, down projection; `gated` adds a gate projection (SwiGLU).
    Dense { gated: bool, bias: bool },
    /// Mixtral's sparse mixture of gated, bias-free experts behind a router.
    Experts {
        experts: u64,
        experts_per_token: u64,
    },
}

/// What sits after the last layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Head {
    /// BERT's pooler: dense `h × h` with bias and tanh on the first token.
    Pooler,
    /// The language-model head; when tied it reuses the token embedding and owns nothing.
    LanguageModel { tied: bool },
    /// DistilBERT's base model ends with the last layer.
    None,
}

/// Everything needed to count a transformer's parameters and draw its module graph.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TransformerSpec {
    pub(crate) family: Family,
    pub(crate) name: Option<String>,
    pub(crate) dtype: Option<Precision>,
    pub(crate) layers: u64,
    pub(crate) hidden_size: u64,
    pub(crate) intermediate_size: u64,
    pub(crate) heads: u64,
    pub(crate) kv_heads: u64,
    pub(crate) head_dim: u64,
    pub(crate) vocab_size: u64,
    pub(crate) max_sequence_length: u64,
    /// Sliding-window attention span (Mistral; Qwen2 with `use_sliding_window`).
    pub(crate) sliding_window: Option<u64>,
    /// Rows of the learned position-embedding table; 0 for rotary position encoding.
    pub(crate) position_embeddings: u64,
    /// ALiBi attention biases instead of rotary positions (Falcon's `alibi`); no weights.
    pub(crate) alibi: bool,
    /// Rows of the token-type (segment) embedding table; 0 when there is none.
    pub(crate) token_types: u64,
    /// Rows of BERT's per-layer `distance_embedding` for relative positions; 0 when absent.
    pub(crate) relative_distance_rows: u64,
    /// Whether a norm follows the embeddings (BERT, DistilBERT).
    pub(crate) embedding_norm: bool,
    pub(crate) norm: Norm,
    pub(crate) placement: Placement,
    /// Biases on the query, key and value projections.
    pub(crate) qkv_bias: bool,
    /// Bias on the attention output projection.
    pub(crate) output_bias: bool,
    /// Per-head RMSNorms on the queries and keys (Qwen3's `q_norm`, `k_norm`), `head_dim`
    /// weights each.
    pub(crate) qk_norm: bool,
    /// A second norm on each sublayer's output before its residual add (Gemma 2's
    /// `post_attention_layernorm` and `post_feedforward_layernorm`).
    pub(crate) post_norms: bool,
    /// Layers that attend within a window while the others attend to everything (Gemma 2
    /// alternates them). A window on every layer is `sliding_window` instead.
    pub(crate) local_window: Option<LocalWindow>,
    /// `tanh` soft-capping of the attention scores (Gemma 2's `attn_logit_softcapping`).
    pub(crate) attention_softcap: Option<f64>,
    /// `tanh` soft-capping of the logits (Gemma 2's `final_logit_softcapping`).
    pub(crate) final_softcap: Option<f64>,
    /// Layers of the decoder stack of an encoder-decoder (T5), whose layers add a
    /// cross-attention block after self-attention; 0 for a single stack. `layers` is then the
    /// encoder's.
    pub(crate) decoder_layers: u64,
    /// Rows of T5's `relative_attention_bias` (`relative_attention_num_buckets`), an
    /// `Embedding(buckets, heads)` in the first layer's self-attention of each stack; 0 when
    /// absent.
    pub(crate) relative_attention_buckets: u64,
    pub(crate) feed_forward: FeedForward,
    pub(crate) head: Head,
    pub(crate) activation: Option<String>,
}

/// A window some layers attend within; the model-wide `sliding_window` fact stays unset, so
/// the KV cache and attention FLOPs are counted for full attention, which the other layers
/// need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalWindow {
    pub(crate) window: u64,
    /// One entry per layer: whether it attends within the window.
    pub(crate) layers: Vec<bool>,
}

/// One module of the internal graph; becomes a [`GraphNode`] at the boundary.
struct Module {
    id: String,
    op_type: &'static str,
    name: String,
    parameters: u64,
    /// Parameters used per token; less than `parameters` only for mixture of experts.
    active_parameters: u64,
    input_shapes: Vec<Vec<Dimension>>,
    output_shapes: Vec<Vec<Dimension>>,
    attributes: BTreeMap<String, Value>,
}

type ModuleGraph = DiGraph<Module, Option<&'static str>>;

/// Builds the module graph for `spec` and converts it to core's [`ModelGraph`].
pub(crate) fn build_graph(spec: &TransformerSpec, source: &str) -> Result<ModelGraph, ImportError> {
    // Refuse an overflowing total before building thousands of nodes for it.
    if total_parameters(spec).is_none() {
        return Err(ImportError::new(
            source,
            ImportErrorKind::Overflow {
                what: "the whole model".to_owned(),
            },
        ));
    }
    let graph = build_module_graph(spec, source)?;
    to_model_graph(spec, &graph, source)
}

fn build_module_graph(spec: &TransformerSpec, source: &str) -> Result<ModuleGraph, ImportError> {
    let overflow = |what: &str| {
        ImportError::new(
            source,
            ImportErrorKind::Overflow {
                what: format!("`{what}`"),
            },
        )
    };
    let names = ModuleNames {
        family: spec.family,
        placement: spec.placement,
    };
    let hidden_shape = vec![
        Dimension::Symbolic("batch".to_owned()),
        Dimension::Symbolic("sequence".to_owned()),
        Dimension::Fixed(spec.hidden_size),
    ];
    let mut graph = ModuleGraph::new();

    let parameters = embedding_parameters(spec).ok_or_else(|| overflow("embeddings"))?;
    let mut attributes = BTreeMap::new();
    attributes.insert("vocab_size".to_owned(), spec.vocab_size.into());
    if spec.position_embeddings > 0 {
        attributes.insert("position_encoding".to_owned(), "learned".into());
        attributes.insert(
            "position_embeddings".to_owned(),
            spec.position_embeddings.into(),
        );
    } else if spec.relative_attention_buckets > 0 {
        attributes.insert("position_encoding".to_owned(), "relative".into());
    } else if spec.alibi {
        attributes.insert("position_encoding".to_owned(), "alibi".into());
    } else {
        attributes.insert("position_encoding".to_owned(), "rotary".into());
    }
    if spec.token_types > 0 {
        attributes.insert("token_types".to_owned(), spec.token_types.into());
    }
    let embeddings = graph.add_node(Module {
        id: "embeddings".to_owned(),
        op_type: "Embedding",
        name: names.embeddings(),
        parameters,
        active_parameters: parameters,
        input_shapes: vec![vec![
            Dimension::Symbolic("batch".to_owned()),
            Dimension::Symbolic("sequence".to_owned()),
        ]],
        output_shapes: vec![hidden_shape.clone()],
        attributes,
    });
    let mut current = embeddings;

    let norm_parameters = norm_parameters(spec).ok_or_else(|| overflow("norm"))?;
    let norm = |id: String, name: String| Module {
        id,
        op_type: match spec.norm {
            Norm::LayerNorm => "LayerNormalization",
            Norm::RmsNorm => "SimplifiedLayerNormalization",
        },
        name,
        parameters: norm_parameters,
        active_parameters: norm_parameters,
        input_shapes: vec![hidden_shape.clone()],
        output_shapes: vec![hidden_shape.clone()],
        attributes: BTreeMap::new(),
    };
    let residual_add = |id: String, name: String| Module {
        id,
        op_type: "Add",
        name,
        parameters: 0,
        active_parameters: 0,
        input_shapes: vec![hidden_shape.clone(), hidden_shape.clone()],
        output_shapes: vec![hidden_shape.clone()],
        attributes: BTreeMap::new(),
    };

    if spec.embedding_norm {
        let node = graph.add_node(norm("embeddings.norm".to_owned(), names.embedding_norm()));
        graph.add_edge(current, node, None);
        current = node;
    }

    let attention_parameters =
        attention_parameters(spec).ok_or_else(|| overflow("layers.0.attention"))?;
    let first_attention_parameters = relative_bias_parameters(spec)
        .and_then(|bias| bias.checked_add(attention_parameters))
        .ok_or_else(|| overflow("layers.0.attention"))?;
    // An encoder-decoder's first stack is its encoder.
    let stack = if spec.decoder_layers > 0 {
        "encoder."
    } else {
        ""
    };
    let (feed_forward_parameters, feed_forward_active) =
        feed_forward_parameters(spec).ok_or_else(|| overflow("layers.0.mlp"))?;
    let attention = |layer: u64| {
        let mut attributes = BTreeMap::new();
        attributes.insert("heads".to_owned(), spec.heads.into());
        attributes.insert("kv_heads".to_owned(), spec.kv_heads.into());
        attributes.insert("head_dim".to_owned(), spec.head_dim.into());
        if spec.family.fused_qkv() {
            attributes.insert("fused_qkv".to_owned(), true.into());
        }
        if spec.qk_norm {
            attributes.insert("qk_norm".to_owned(), true.into());
        }
        if let Some(local) = &spec.local_window
            && usize::try_from(layer)
                .ok()
                .and_then(|index| local.layers.get(index))
                .copied()
                .unwrap_or(false)
        {
            attributes.insert("sliding_window".to_owned(), local.window.into());
        }
        if let Some(cap) = spec.attention_softcap {
            attributes.insert("logit_softcapping".to_owned(), cap.into());
        }
        if layer == 0 && spec.relative_attention_buckets > 0 {
            attributes.insert(
                "relative_attention_buckets".to_owned(),
                spec.relative_attention_buckets.into(),
            );
        }
        attributes.insert(
            "causal".to_owned(),
            (spec.family.architecture() == Architecture::Decoder).into(),
        );
        let parameters = if layer == 0 {
            first_attention_parameters
        } else {
            attention_parameters
        };
        Module {
            id: format!("{stack}layers.{layer}.attention"),
            op_type: "Attention",
            name: names.attention(layer),
            parameters,
            active_parameters: parameters,
            input_shapes: vec![hidden_shape.clone()],
            output_shapes: vec![hidden_shape.clone()],
            attributes,
        }
    };
    let feed_forward = |layer: u64| {
        let mut attributes = BTreeMap::new();
        attributes.insert(
            "intermediate_size".to_owned(),
            spec.intermediate_size.into(),
        );
        if let Some(activation) = &spec.activation {
            attributes.insert("activation".to_owned(), activation.clone().into());
        }
        let (id, op_type) = match spec.feed_forward {
            FeedForward::Dense { gated, .. } => {
                attributes.insert("gated".to_owned(), gated.into());
                if gated && spec.family.fused_gate_up() {
                    attributes.insert("fused_gate_up".to_owned(), true.into());
                }
                (format!("{stack}layers.{layer}.mlp"), "MLP")
            }
            FeedForward::Experts {
                experts,
                experts_per_token,
            } => {
                attributes.insert("num_experts".to_owned(), experts.into());
                attributes.insert("experts_per_token".to_owned(), experts_per_token.into());
                attributes.insert("active_parameters".to_owned(), feed_forward_active.into());
                (format!("{stack}layers.{layer}.moe"), "MoE")
            }
        };
        Module {
            id,
            op_type,
            name: names.feed_forward(layer),
            parameters: feed_forward_parameters,
            active_parameters: feed_forward_active,
            input_shapes: vec![hidden_shape.clone()],
            output_shapes: vec![hidden_shape.clone()],
            attributes,
        }
    };

    for layer in 0..spec.layers {
        // x → norm → attention → add ← x (skip), norm (or norm') → mlp → the same add.
        if let Placement::Parallel { shared_norm } = spec.placement {
            let attention_norm = graph.add_node(norm(
                format!("{stack}layers.{layer}.attention_norm"),
                names.attention_norm(layer),
            ));
            graph.add_edge(current, attention_norm, None);
            let attention = graph.add_node(attention(layer));
            graph.add_edge(attention_norm, attention, None);
            let mlp_input = if shared_norm {
                attention_norm
            } else {
                let mlp_norm = graph.add_node(norm(
                    format!("{stack}layers.{layer}.mlp_norm"),
                    names.mlp_norm(layer),
                ));
                graph.add_edge(current, mlp_norm, None);
                mlp_norm
            };
            let mlp = graph.add_node(feed_forward(layer));
            graph.add_edge(mlp_input, mlp, None);
            let mut residual = residual_add(
                format!("{stack}layers.{layer}.residual"),
                format!("layer {layer} residual add of attention and the feed-forward block"),
            );
            residual.input_shapes.push(hidden_shape.clone());
            let residual = graph.add_node(residual);
            graph.add_edge(attention, residual, None);
            graph.add_edge(mlp, residual, None);
            graph.add_edge(current, residual, Some(RESIDUAL_TENSOR));
            current = residual;
            continue;
        }
        let attention_norm = norm(
            format!("{stack}layers.{layer}.attention_norm"),
            names.attention_norm(layer),
        );
        let attention_residual = residual_add(
            format!("{stack}layers.{layer}.attention_residual"),
            format!("layer {layer} residual add around attention"),
        );
        let mlp_norm = norm(
            format!("{stack}layers.{layer}.mlp_norm"),
            names.mlp_norm(layer),
        );
        let mlp_residual = residual_add(
            format!("{stack}layers.{layer}.mlp_residual"),
            format!("layer {layer} residual add around the feed-forward block"),
        );
        let post_norm = |id: &str, name: String| {
            spec.post_norms
                .then(|| norm(format!("{stack}layers.{layer}.{id}"), name))
        };
        let sublayers = [
            (
                attention_norm,
                attention(layer),
                post_norm("attention_post_norm", names.attention_post_norm(layer)),
                attention_residual,
            ),
            (
                mlp_norm,
                feed_forward(layer),
                post_norm("mlp_post_norm", names.mlp_post_norm(layer)),
                mlp_residual,
            ),
        ];
        // Nodes are added in data-flow order so the node list reads top to bottom.
        for (norm, sublayer, post_norm, residual) in sublayers {
            current = match spec.placement {
                // x → norm → sublayer (→ post-norm) → add ← x (skip); the add's output
                // continues.
                Placement::PreNorm => {
                    let norm = graph.add_node(norm);
                    let sublayer = graph.add_node(sublayer);
                    graph.add_edge(current, norm, None);
                    graph.add_edge(norm, sublayer, None);
                    let output = match post_norm {
                        Some(post_norm) => {
                            let post_norm = graph.add_node(post_norm);
                            graph.add_edge(sublayer, post_norm, None);
                            post_norm
                        }
                        None => sublayer,
                    };
                    let residual = graph.add_node(residual);
                    graph.add_edge(output, residual, None);
                    graph.add_edge(current, residual, Some(RESIDUAL_TENSOR));
                    residual
                }
                // x → sublayer → add ← x (skip) → norm; the norm's output continues.
                Placement::PostNorm => {
                    let sublayer = graph.add_node(sublayer);
                    let residual = graph.add_node(residual);
                    let norm = graph.add_node(norm);
                    graph.add_edge(current, sublayer, None);
                    graph.add_edge(sublayer, residual, None);
                    graph.add_edge(current, residual, Some(RESIDUAL_TENSOR));
                    graph.add_edge(residual, norm, None);
                    norm
                }
                Placement::Parallel { .. } => current,
            };
        }
    }

    if spec.placement != Placement::PostNorm {
        let node = graph.add_node(norm(format!("{stack}final_norm"), names.final_norm()));
        graph.add_edge(current, node, None);
        current = node;
    }

    // The decoder reads the shared embedding and, in each layer's cross-attention, the
    // encoder's output: x → norm → self-attention → add, → norm → cross-attention (keys and
    // values from the encoder) → add, → norm → MLP → add.
    if spec.decoder_layers > 0 {
        let encoder_output = current;
        current = embeddings;
        for layer in 0..spec.decoder_layers {
            // `attention` gives layer 0 its relative-position bias table.
            let mut self_attention = attention(layer);
            self_attention.id = format!("decoder.layers.{layer}.attention");
            self_attention.name = names.decoder(layer, 0, "SelfAttention");
            self_attention
                .attributes
                .insert("causal".to_owned(), true.into());
            let mut cross_attention = attention(1);
            cross_attention.id = format!("decoder.layers.{layer}.cross_attention");
            cross_attention.name = names.decoder(layer, 1, "EncDecAttention");
            cross_attention.input_shapes.push(hidden_shape.clone());
            cross_attention
                .attributes
                .insert("cross_attention".to_owned(), true.into());
            let mut mlp = feed_forward(layer);
            mlp.id = format!("decoder.layers.{layer}.mlp");
            mlp.name = names.decoder(layer, 2, "DenseReluDense");
            let blocks = [
                ("attention", self_attention),
                ("cross_attention", cross_attention),
                ("mlp", mlp),
            ];
            for (index, (kind, block)) in (0u64..).zip(blocks) {
                let norm = graph.add_node(norm(
                    format!("decoder.layers.{layer}.{kind}_norm"),
                    names.decoder(layer, index, "layer_norm"),
                ));
                let cross = kind == "cross_attention";
                let block = graph.add_node(block);
                let residual = graph.add_node(residual_add(
                    format!("decoder.layers.{layer}.{kind}_residual"),
                    format!("decoder layer {layer} residual add around {kind}"),
                ));
                graph.add_edge(current, norm, None);
                graph.add_edge(norm, block, None);
                if cross {
                    graph.add_edge(encoder_output, block, Some(ENCODER_TENSOR));
                }
                graph.add_edge(block, residual, None);
                graph.add_edge(current, residual, Some(RESIDUAL_TENSOR));
                current = residual;
            }
        }
        let node = graph.add_node(norm(
            "decoder.final_norm".to_owned(),
            "decoder.final_layer_norm".to_owned(),
        ));
        graph.add_edge(current, node, None);
        current = node;
    }

    let head = match spec.head {
        Head::None => None,
        Head::Pooler => {
            let parameters = linear(spec.hidden_size, spec.hidden_size, true)
                .ok_or_else(|| overflow("pooler"))?;
            Some(Module {
                id: "pooler".to_owned(),
                op_type: "Pooler",
                name: "pooler".to_owned(),
                parameters,
                active_parameters: parameters,
                input_shapes: vec![hidden_shape.clone()],
                output_shapes: vec![vec![
                    Dimension::Symbolic("batch".to_owned()),
                    Dimension::Fixed(spec.hidden_size),
                ]],
                attributes: BTreeMap::new(),
            })
        }
        Head::LanguageModel { tied } => {
            // A tied head multiplies by the token-embedding matrix, already counted there.
            let parameters = if tied {
                0
            } else {
                linear(spec.hidden_size, spec.vocab_size, false)
                    .ok_or_else(|| overflow("lm_head"))?
            };
            let mut attributes = BTreeMap::new();
            attributes.insert("tied".to_owned(), tied.into());
            attributes.insert("vocab_size".to_owned(), spec.vocab_size.into());
            if let Some(cap) = spec.final_softcap {
                attributes.insert("final_logit_softcapping".to_owned(), cap.into());
            }
            Some(Module {
                id: "lm_head".to_owned(),
                op_type: "MatMul",
                name: names.lm_head(tied),
                parameters,
                active_parameters: parameters,
                input_shapes: vec![hidden_shape.clone()],
                output_shapes: vec![vec![
                    Dimension::Symbolic("batch".to_owned()),
                    Dimension::Symbolic("sequence".to_owned()),
                    Dimension::Fixed(spec.vocab_size),
                ]],
                attributes,
            })
        }
    };
    if let Some(head) = head {
        let node = graph.add_node(head);
        graph.add_edge(current, node, None);
    }
    Ok(graph)
}

/// Converts the internal graph to core's plain type, with facts summed from the nodes.
fn to_model_graph(
    spec: &TransformerSpec,
    graph: &ModuleGraph,
    source: &str,
) -> Result<ModelGraph, ImportError> {
    let overflow = || {
        ImportError::new(
            source,
            ImportErrorKind::Overflow {
                what: "the whole model".to_owned(),
            },
        )
    };
    let mut parameters = 0u64;
    let mut active_parameters = 0u64;
    for module in graph.node_weights() {
        parameters = parameters
            .checked_add(module.parameters)
            .ok_or_else(overflow)?;
        active_parameters = active_parameters
            .checked_add(module.active_parameters)
            .ok_or_else(overflow)?;
    }
    let (num_experts, experts_per_token) = match spec.feed_forward {
        FeedForward::Dense { .. } => (None, None),
        FeedForward::Experts {
            experts,
            experts_per_token,
        } => (Some(experts), Some(experts_per_token)),
    };
    let facts = ModelFacts {
        family: Some(spec.family.model_type().to_owned()),
        architecture: Some(spec.family.architecture()),
        parameters: Some(parameters),
        active_parameters: Some(active_parameters),
        // An encoder-decoder's KV cache lives in its decoder layers (self-attention per target
        // token, cross-attention per source token), so those are its `layers`.
        layers: Some(if spec.decoder_layers > 0 {
            spec.decoder_layers
        } else {
            spec.layers
        }),
        hidden_size: Some(spec.hidden_size),
        intermediate_size: Some(spec.intermediate_size),
        attention_heads: Some(spec.heads),
        kv_heads: Some(spec.kv_heads),
        head_dim: Some(spec.head_dim),
        vocab_size: Some(spec.vocab_size),
        max_sequence_length: Some(spec.max_sequence_length),
        sliding_window: spec.sliding_window,
        tie_word_embeddings: match spec.head {
            Head::LanguageModel { tied } => Some(tied),
            _ => None,
        },
        dtype: spec.dtype,
        num_experts,
        experts_per_token,
        ..ModelFacts::default()
    };
    let nodes = graph
        .node_weights()
        .map(|module| GraphNode {
            id: module.id.clone(),
            op_type: module.op_type.to_owned(),
            name: module.name.clone(),
            parameters: module.parameters,
            dtype: spec.dtype,
            input_shapes: module.input_shapes.clone(),
            output_shapes: module.output_shapes.clone(),
            attributes: module.attributes.clone(),
        })
        .collect();
    let edges = graph
        .raw_edges()
        .iter()
        .map(|edge| GraphEdge {
            from: graph[edge.source()].id.clone(),
            to: graph[edge.target()].id.clone(),
            tensor: edge.weight.map(str::to_owned),
        })
        .collect();
    let mut graph = ModelGraph {
        name: spec.name.clone(),
        facts,
        nodes,
        edges,
        fusion_opportunities: Vec::new(),
    };
    crate::facts::complete(&mut graph, None);
    Ok(graph)
}

/// The model's total, from the same per-module formulas the nodes use; `None` on overflow.
fn total_parameters(spec: &TransformerSpec) -> Option<u64> {
    let norm = norm_parameters(spec)?;
    let (feed_forward, _) = feed_forward_parameters(spec)?;
    let post_norms = if spec.post_norms {
        norm.checked_mul(2)?
    } else {
        0
    };
    let layer_norms = match spec.placement {
        Placement::Parallel { shared_norm: true } => norm,
        _ => norm.checked_mul(2)?,
    };
    let per_layer = checked_sum(&[
        layer_norms,
        attention_parameters(spec)?,
        feed_forward,
        post_norms,
    ])?;
    let decoder = if spec.decoder_layers > 0 {
        // Each decoder layer adds a norm and a cross-attention block to an encoder layer's;
        // the stack ends with its own final norm, and its first layer has its own bias table.
        let decoder_layer = checked_sum(&[per_layer, norm, attention_parameters(spec)?])?;
        checked_sum(&[
            decoder_layer.checked_mul(spec.decoder_layers)?,
            norm,
            relative_bias_parameters(spec)?,
        ])?
    } else {
        0
    };
    let embedding_norm = if spec.embedding_norm { norm } else { 0 };
    let final_norm = match spec.placement {
        Placement::PreNorm | Placement::Parallel { .. } => norm,
        Placement::PostNorm => 0,
    };
    let head = match spec.head {
        Head::None | Head::LanguageModel { tied: true } => 0,
        Head::Pooler => linear(spec.hidden_size, spec.hidden_size, true)?,
        Head::LanguageModel { tied: false } => linear(spec.hidden_size, spec.vocab_size, false)?,
    };
    checked_sum(&[
        embedding_parameters(spec)?,
        embedding_norm,
        per_layer.checked_mul(spec.layers)?,
        relative_bias_parameters(spec)?,
        final_norm,
        decoder,
        head,
    ])
}

/// T5's `relative_attention_bias`, `Embedding(relative_attention_num_buckets, heads)`, in the
/// first layer of a stack (`T5Attention` with `has_relative_attention_bias`).
fn relative_bias_parameters(spec: &TransformerSpec) -> Option<u64> {
    spec.relative_attention_buckets.checked_mul(spec.heads)
}

/// `nn.Linear(inputs, outputs, bias)`: `inputs × outputs` weights plus `outputs` biases.
fn linear(inputs: u64, outputs: u64, bias: bool) -> Option<u64> {
    inputs
        .checked_mul(outputs)?
        .checked_add(if bias { outputs } else { 0 })
}

/// Sums terms, `None` on overflow.
fn checked_sum(terms: &[u64]) -> Option<u64> {
    terms
        .iter()
        .try_fold(0u64, |sum, term| sum.checked_add(*term))
}

/// Token, position and token-type embedding tables.
///
/// - BERT / RoBERTa (`modeling_bert.py`, `BertEmbeddings`): `word_embeddings`
///   `vocab × h`, `position_embeddings` `max_position_embeddings × h`,
///   `token_type_embeddings` `type_vocab_size × h`. Its `LayerNorm` is a separate node.
/// - DistilBERT (`modeling_distilbert.py`, `Embeddings`): word and position tables, no
///   token types (sinusoidal positions are still an `nn.Embedding`, so they count).
/// - GPT-2 (`modeling_gpt2.py`, `GPT2Model`): `wte` `vocab × h`, `wpe` `n_positions × h`.
/// - Llama, Mistral, Mixtral, Qwen2, Qwen3, Phi-3, Gemma 2: `embed_tokens` `vocab × h` only;
///   positions are rotary (Gemma 2 scales the embeddings by `√h`, which holds no weight).
fn embedding_parameters(spec: &TransformerSpec) -> Option<u64> {
    let rows = checked_sum(&[spec.vocab_size, spec.position_embeddings, spec.token_types])?;
    rows.checked_mul(spec.hidden_size)
}

/// One norm: `nn.LayerNorm(h)` is `2h` (weight and bias), RMSNorm is `h` (weight only;
/// `LlamaRMSNorm`, `MistralRMSNorm`, `MixtralRMSNorm`, `Qwen2RMSNorm`, `Qwen3RMSNorm`;
/// `Gemma2RMSNorm` stores its weight as an offset from 1, still `h` values). Gemma 2 has four
/// per layer (`input_layernorm`, `post_attention_layernorm`, `pre_feedforward_layernorm`,
/// `post_feedforward_layernorm`), the others two.
fn norm_parameters(spec: &TransformerSpec) -> Option<u64> {
    match spec.norm {
        Norm::LayerNorm => spec.hidden_size.checked_mul(2),
        Norm::RmsNorm => Some(spec.hidden_size),
    }
}

/// One attention block: query, key, value and output projections.
///
/// - T5 (`T5Attention`): `q`, `k`, `v` `d_model → num_heads·d_kv`, `o` back, no biases; the
///   decoder's cross-attention (`EncDecAttention`) has the same shapes. The first layer of
///   each stack adds `relative_attention_bias` (counted by `relative_bias_parameters`).
///
/// `q_proj` is `h → heads·head_dim`, `k_proj` and `v_proj` are `h → kv_heads·head_dim`,
/// `o_proj` is `heads·head_dim → h`.
///
/// - BERT / RoBERTa (`BertSelfAttention`, `BertSelfOutput.dense`) and DistilBERT
///   (`MultiHeadSelfAttention`: `q_lin`, `k_lin`, `v_lin`, `out_lin`): all four with bias,
///   `4h² + 4h`. With `position_embedding_type` `relative_key(_query)`, BERT adds a
///   `distance_embedding` of `(2·max_position_embeddings − 1) × head_dim`.
/// - GPT-2 (`GPT2Attention`): `c_attn` is a `Conv1D(3h, h)`, `h × 3h + 3h`, the same as
///   three biased projections; `c_proj` is `h × h + h`.
/// - Llama (`LlamaAttention`): bias on all four only when `attention_bias` is true.
/// - Mistral, Mixtral: no biases.
/// - Falcon (`FalconAttention`): one `query_key_value` `h → (heads + 2·kv_heads)·head_dim`
///   (multi-query: one key/value head; `new_decoder_architecture`: `num_kv_heads`) and
///   `dense`, both biased only when `bias` is true: the same count as four projections.
/// - Qwen2 (`Qwen2Attention`): biases on `q_proj`, `k_proj`, `v_proj`; none on `o_proj`.
/// - Phi-3 (`Phi3Attention`): one `qkv_proj` `h → (heads + 2·kv_heads)·head_dim` and
///   `o_proj`, no biases: the same count as four separate projections.
/// - Qwen3, Qwen3-MoE (`Qwen3Attention`): biases on all four only when `attention_bias` is
///   true, plus `q_norm` and `k_norm`, RMSNorms over one head (`head_dim` weights each),
///   shared by every head.
/// - Gemma 2 (`Gemma2Attention`): biases on all four only when `attention_bias` is true;
///   `head_dim` (256) is its own key, so `heads·head_dim` need not equal `h`. Soft-capping
///   and the `query_pre_attn_scalar` scaling hold no weights.
fn attention_parameters(spec: &TransformerSpec) -> Option<u64> {
    let query_width = spec.heads.checked_mul(spec.head_dim)?;
    let kv_width = spec.kv_heads.checked_mul(spec.head_dim)?;
    let query = linear(spec.hidden_size, query_width, spec.qkv_bias)?;
    let key_value = linear(spec.hidden_size, kv_width, spec.qkv_bias)?.checked_mul(2)?;
    let output = linear(query_width, spec.hidden_size, spec.output_bias)?;
    let distance = spec.relative_distance_rows.checked_mul(spec.head_dim)?;
    let qk_norm = if spec.qk_norm {
        spec.head_dim.checked_mul(2)?
    } else {
        0
    };
    checked_sum(&[query, key_value, output, distance, qk_norm])
}

/// One feed-forward block, as (all parameters, parameters used per token).
///
/// - Falcon (`FalconMLP`): `dense_h_to_4h` `h → ffn_hidden_size` and `dense_4h_to_h`, biased
///   only when `bias` is true.
/// - BERT / RoBERTa (`BertIntermediate.dense`, `BertOutput.dense`), DistilBERT (`FFN`:
///   `lin1`, `lin2`), GPT-2 (`GPT2MLP`: `c_fc` `h × inner + inner`, `c_proj`
///   `inner × h + h`): `h → inner → h` with biases.
/// - Llama, Mistral, Qwen2 (`LlamaMLP`): `gate_proj`, `up_proj` `h → inter` and `down_proj`
///   `inter → h`, no biases (`mlp_bias` adds them for Llama): `3·h·inter`. Gemma 2
///   (`Gemma2MLP`) has the same three projections around a tanh-approximated GELU.
/// - Mixtral (`MixtralSparseMoeBlock`): router `gate` `h → num_local_experts` without bias,
///   plus `num_local_experts` experts of `w1`, `w3` `h → inter` and `w2` `inter → h`. A token
///   runs the router and `num_experts_per_tok` experts.
/// - Qwen3-MoE (`Qwen3MoeSparseMoeBlock`): the same shape, router `gate` `h → num_experts`
///   and `num_experts` experts of `gate_proj`, `up_proj`, `down_proj` at
///   `moe_intermediate_size`, no shared expert.
fn feed_forward_parameters(spec: &TransformerSpec) -> Option<(u64, u64)> {
    let hidden = spec.hidden_size;
    let inner = spec.intermediate_size;
    match spec.feed_forward {
        FeedForward::Dense { gated, bias } => {
            let up = linear(hidden, inner, bias)?;
            let gate = if gated { up } else { 0 };
            let down = linear(inner, hidden, bias)?;
            let total = checked_sum(&[gate, up, down])?;
            Some((total, total))
        }
        FeedForward::Experts {
            experts,
            experts_per_token,
        } => {
            let router = linear(hidden, experts, false)?;
            let expert = linear(hidden, inner, false)?.checked_mul(3)?;
            let total = router.checked_add(expert.checked_mul(experts)?)?;
            let active = router.checked_add(expert.checked_mul(experts_per_token)?)?;
            Some((total, active))
        }
    }
}

/// Human-readable node names: the Hugging Face module path where there is one.
struct ModuleNames {
    family: Family,
    placement: Placement,
}

impl ModuleNames {
    /// T5's decoder module `index` (0 self-attention, 1 cross-attention, 2 MLP) of `layer`.
    fn decoder(&self, layer: u64, index: u64, module: &str) -> String {
        format!("decoder.block.{layer}.layer.{index}.{module}")
    }

    fn embeddings(&self) -> String {
        match self.family {
            Family::T5 => "shared".to_owned(),
            Family::Bert | Family::Roberta | Family::DistilBert => "embeddings".to_owned(),
            Family::Gpt2 => "wte + wpe".to_owned(),
            Family::Falcon => "transformer.word_embeddings".to_owned(),
            _ => "model.embed_tokens".to_owned(),
        }
    }

    fn embedding_norm(&self) -> String {
        "embeddings.LayerNorm".to_owned()
    }

    fn attention(&self, layer: u64) -> String {
        match self.family {
            Family::Bert | Family::Roberta => format!("encoder.layer.{layer}.attention"),
            Family::DistilBert => format!("transformer.layer.{layer}.attention"),
            Family::Gpt2 => format!("h.{layer}.attn"),
            Family::Falcon => format!("transformer.h.{layer}.self_attention"),
            Family::T5 => format!("encoder.block.{layer}.layer.0.SelfAttention"),
            _ => format!("model.layers.{layer}.self_attn"),
        }
    }

    fn attention_norm(&self, layer: u64) -> String {
        match self.family {
            Family::Bert | Family::Roberta => {
                format!("encoder.layer.{layer}.attention.output.LayerNorm")
            }
            Family::DistilBert => format!("transformer.layer.{layer}.sa_layer_norm"),
            Family::Gpt2 => format!("h.{layer}.ln_1"),
            Family::Falcon if self.placement == (Placement::Parallel { shared_norm: false }) => {
                format!("transformer.h.{layer}.ln_attn")
            }
            Family::Falcon => format!("transformer.h.{layer}.input_layernorm"),
            Family::T5 => format!("encoder.block.{layer}.layer.0.layer_norm"),
            _ => format!("model.layers.{layer}.input_layernorm"),
        }
    }

    fn feed_forward(&self, layer: u64) -> String {
        match self.family {
            Family::Bert | Family::Roberta => {
                format!("encoder.layer.{layer}.intermediate + encoder.layer.{layer}.output.dense")
            }
            Family::DistilBert => format!("transformer.layer.{layer}.ffn"),
            Family::Gpt2 => format!("h.{layer}.mlp"),
            Family::Falcon => format!("transformer.h.{layer}.mlp"),
            Family::T5 => format!("encoder.block.{layer}.layer.1.DenseReluDense"),
            Family::Mixtral => format!("model.layers.{layer}.block_sparse_moe"),
            _ => format!("model.layers.{layer}.mlp"),
        }
    }

    /// Gemma 2's norm on the attention output.
    fn attention_post_norm(&self, layer: u64) -> String {
        format!("model.layers.{layer}.post_attention_layernorm")
    }

    /// Gemma 2's norm on the feed-forward output.
    fn mlp_post_norm(&self, layer: u64) -> String {
        format!("model.layers.{layer}.post_feedforward_layernorm")
    }

    fn mlp_norm(&self, layer: u64) -> String {
        match self.family {
            Family::Gemma2 => format!("model.layers.{layer}.pre_feedforward_layernorm"),
            Family::Bert | Family::Roberta => format!("encoder.layer.{layer}.output.LayerNorm"),
            Family::DistilBert => format!("transformer.layer.{layer}.output_layer_norm"),
            Family::Gpt2 => format!("h.{layer}.ln_2"),
            Family::Falcon if self.placement == (Placement::Parallel { shared_norm: false }) => {
                format!("transformer.h.{layer}.ln_mlp")
            }
            Family::Falcon => format!("transformer.h.{layer}.post_attention_layernorm"),
            Family::T5 => format!("encoder.block.{layer}.layer.1.layer_norm"),
            _ => format!("model.layers.{layer}.post_attention_layernorm"),
        }
    }

    fn final_norm(&self) -> String {
        match self.family {
            Family::Gpt2 => "ln_f".to_owned(),
            Family::Falcon => "transformer.ln_f".to_owned(),
            Family::T5 => "encoder.final_layer_norm".to_owned(),
            _ => "model.norm".to_owned(),
        }
    }

    fn lm_head(&self, tied: bool) -> String {
        let embedding = match self.family {
            Family::Gpt2 => "wte",
            Family::Falcon => "transformer.word_embeddings",
            Family::T5 => "shared",
            _ => "model.embed_tokens",
        };
        if tied {
            format!("lm_head (tied to {embedding})")
        } else {
            "lm_head".to_owned()
        }
    }
}
