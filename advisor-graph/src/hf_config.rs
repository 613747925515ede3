//! The Hugging Face `config.json` importer: reads a family's keys, applies the family's
//! defaults, validates, and builds the module graph.
//!
//! Keys that fix the model's size (hidden size, layers, heads, intermediate size, vocabulary)
//! are required: `transformers` always writes them, so a config without them is not one it
//! saved, and guessing the class default would report a different model. Secondary keys take
//! the default of the family's `PretrainedConfig` subclass (`configuration_<family>.py`) when
//! absent.

use advisor_core::{ModelGraph, Precision};
use serde_json::{Map, Value};

use crate::{
    error::{ImportError, ImportErrorKind, ImportWarning},
    format::{Imported, ModelFormat},
    json,
    transformer::{
        Family, FeedForward, Head, LocalWindow, Norm, Placement, TransformerSpec, build_graph,
    },
};

/// Most layers accepted; far above any published model, low enough that the module graph
/// (six nodes per layer) stays small. Builders take `u16` layers and rely on this bound.
pub(crate) const MAX_LAYERS: u64 = u16::MAX as u64;
/// Most heads, key/value heads or experts accepted.
const MAX_HEADS: u64 = 1 << 16;
/// Largest hidden, intermediate or head dimension accepted.
const MAX_WIDTH: u64 = 1 << 20;
/// Largest vocabulary or token-type count accepted.
const MAX_VOCAB: u64 = 1 << 24;
/// Longest position range accepted.
const MAX_POSITIONS: u64 = 1 << 32;

/// Reads a Hugging Face `config.json` and builds the model graph.
///
/// `source` names the input in messages. The family is taken from `model_type`, else from the
/// first entry of `architectures`. An unrecognized `torch_dtype` leaves `facts.dtype` unknown;
/// use [`import_bytes`](crate::import_bytes) to see that as a warning.
///
/// # Errors
///
/// Malformed JSON (with line and column), an unsupported or missing family, a missing
/// required key, a value of the wrong type, zero or out of range, dimensions that do not fit
/// together, and parameter counts that overflow `u64`. Each message names `source` and the key.
pub fn from_hf_config_str(text: &str, source: &str) -> Result<ModelGraph, ImportError> {
    let value = json::parse_value(text, source)?;
    from_hf_config_value(&value, source)
}

/// Like [`from_hf_config_str`], for a config already parsed into a JSON value.
///
/// # Errors
///
/// As for [`from_hf_config_str`], apart from malformed JSON.
pub fn from_hf_config_value(value: &Value, source: &str) -> Result<ModelGraph, ImportError> {
    import_value(value, source).map(|imported| imported.graph)
}

/// Imports a parsed config, keeping warnings.
pub(crate) fn import_value(value: &Value, source: &str) -> Result<Imported, ImportError> {
    let Some(object) = value.as_object() else {
        return Err(ImportError::new(
            source,
            ImportErrorKind::NotAnObject {
                found: json::describe_type(value),
            },
        ));
    };
    let config = Config { object, source };
    let mut warnings = Vec::new();
    let family = config.family()?;
    let mut spec = match family {
        Family::Bert | Family::Roberta => read_bert(&config, family)?,
        Family::DistilBert => read_distilbert(&config)?,
        Family::Gpt2 => read_gpt2(&config)?,
        Family::Falcon => read_falcon(&config)?,
        Family::T5 => read_t5(&config)?,
        Family::Llama
        | Family::Mistral
        | Family::Mixtral
        | Family::Qwen2
        | Family::Phi3
        | Family::Qwen3
        | Family::Qwen3Moe
        | Family::Gemma2 => read_llama_like(&config, family)?,
    };
    spec.dtype = config.dtype(&mut warnings)?;
    spec.name = config
        .object
        .get("_name_or_path")
        .and_then(Value::as_str)
        .filter(|name| !name.trim().is_empty())
        .map(str::to_owned);
    let graph = build_graph(&spec, source)?;
    Ok(Imported::new(graph, ModelFormat::HfConfig, warnings))
}

/// BERT and RoBERTa (`configuration_bert.py`, `configuration_roberta.py`): post-norm encoder
/// with learned positions, token types and a pooler. Counted as `BertModel` /
/// `RobertaModel`, the base model with its pooler, whatever head `architectures` names.
fn read_bert(config: &Config<'_>, family: Family) -> Result<TransformerSpec, ImportError> {
    let hidden_size = config.required("hidden_size", MAX_WIDTH)?;
    let layers = config.required("num_hidden_layers", MAX_LAYERS)?;
    let heads = config.required("num_attention_heads", MAX_HEADS)?;
    let intermediate_size = config.required("intermediate_size", MAX_WIDTH)?;
    let vocab_size = config.required("vocab_size", MAX_VOCAB)?;
    let positions = config
        .positive("max_position_embeddings", MAX_POSITIONS)?
        .unwrap_or(512);
    let token_types = config
        .non_negative("type_vocab_size", MAX_VOCAB)?
        .unwrap_or(2);
    config.reject_true(
        "add_cross_attention",
        "cross-attention layers (an encoder-decoder setup) are not counted",
    )?;
    let head_dim = config.divide("hidden_size", hidden_size, "num_attention_heads", heads)?;
    // `BertSelfAttention` adds `distance_embedding = nn.Embedding(2 * max_position_embeddings
    // - 1, head_dim)` for relative position types.
    let relative_distance_rows = match config.text("position_embedding_type")? {
        None | Some("absolute") => 0,
        Some("relative_key" | "relative_key_query") => positions
            .checked_mul(2)
            .and_then(|rows| rows.checked_sub(1))
            .ok_or_else(|| config.overflow("the relative position table"))?,
        Some(other) => {
            return Err(config.invalid(
                "position_embedding_type",
                "one of \"absolute\", \"relative_key\", \"relative_key_query\"",
                &Value::from(other),
            ));
        }
    };
    Ok(TransformerSpec {
        family,
        name: None,
        dtype: None,
        layers,
        hidden_size,
        intermediate_size,
        heads,
        kv_heads: heads,
        head_dim,
        vocab_size,
        max_sequence_length: positions,
        sliding_window: None,
        position_embeddings: positions,
        alibi: false,
        token_types,
        relative_distance_rows,
        embedding_norm: true,
        norm: Norm::LayerNorm,
        placement: Placement::PostNorm,
        qkv_bias: true,
        output_bias: true,
        qk_norm: false,
        post_norms: false,
        local_window: None,
        attention_softcap: None,
        final_softcap: None,
        decoder_layers: 0,
        relative_attention_buckets: 0,
        feed_forward: FeedForward::Dense {
            gated: false,
            bias: true,
        },
        head: Head::Pooler,
        activation: Some(config.text("hidden_act")?.unwrap_or("gelu").to_owned()),
    })
}

/// DistilBERT (`configuration_distilbert.py`): BERT without token types and without a
/// pooler; keys `dim`, `n_layers`, `n_heads`, `hidden_dim`.
fn read_distilbert(config: &Config<'_>) -> Result<TransformerSpec, ImportError> {
    let hidden_size = config.required("dim", MAX_WIDTH)?;
    let layers = config.required("n_layers", MAX_LAYERS)?;
    let heads = config.required("n_heads", MAX_HEADS)?;
    let intermediate_size = config.required("hidden_dim", MAX_WIDTH)?;
    let vocab_size = config.required("vocab_size", MAX_VOCAB)?;
    let positions = config
        .positive("max_position_embeddings", MAX_POSITIONS)?
        .unwrap_or(512);
    let head_dim = config.divide("dim", hidden_size, "n_heads", heads)?;
    Ok(TransformerSpec {
        family: Family::DistilBert,
        name: None,
        dtype: None,
        layers,
        hidden_size,
        intermediate_size,
        heads,
        kv_heads: heads,
        head_dim,
        vocab_size,
        max_sequence_length: positions,
        sliding_window: None,
        position_embeddings: positions,
        alibi: false,
        token_types: 0,
        relative_distance_rows: 0,
        embedding_norm: true,
        norm: Norm::LayerNorm,
        placement: Placement::PostNorm,
        qkv_bias: true,
        output_bias: true,
        qk_norm: false,
        post_norms: false,
        local_window: None,
        attention_softcap: None,
        final_softcap: None,
        decoder_layers: 0,
        relative_attention_buckets: 0,
        feed_forward: FeedForward::Dense {
            gated: false,
            bias: true,
        },
        head: Head::None,
        activation: Some(config.text("activation")?.unwrap_or("gelu").to_owned()),
    })
}

/// GPT-2 (`configuration_gpt2.py`): pre-norm decoder with learned positions, biased
/// `Conv1D` projections and an LM head tied to `wte` (`tie_word_embeddings` defaults to true).
/// `n_inner` null means `4 × n_embd`; `n_positions` defaults to 1024.
fn read_gpt2(config: &Config<'_>) -> Result<TransformerSpec, ImportError> {
    let hidden_size = config.required("n_embd", MAX_WIDTH)?;
    let layers = config.required("n_layer", MAX_LAYERS)?;
    let heads = config.required("n_head", MAX_HEADS)?;
    let vocab_size = config.required("vocab_size", MAX_VOCAB)?;
    let intermediate_size = match config.positive("n_inner", MAX_WIDTH)? {
        Some(inner) => inner,
        None => hidden_size
            .checked_mul(4)
            .ok_or_else(|| config.overflow("`4 × n_embd`"))?,
    };
    let positions = config.positive("n_positions", MAX_POSITIONS)?;
    let context = config.positive("n_ctx", MAX_POSITIONS)?;
    config.reject_true(
        "add_cross_attention",
        "cross-attention layers (an encoder-decoder setup) are not counted",
    )?;
    let head_dim = config.divide("n_embd", hidden_size, "n_head", heads)?;
    let tied = config.flag("tie_word_embeddings", true)?;
    Ok(TransformerSpec {
        family: Family::Gpt2,
        name: None,
        dtype: None,
        layers,
        hidden_size,
        intermediate_size,
        heads,
        kv_heads: heads,
        head_dim,
        vocab_size,
        max_sequence_length: positions.or(context).unwrap_or(1024),
        sliding_window: None,
        position_embeddings: positions.unwrap_or(1024),
        alibi: false,
        token_types: 0,
        relative_distance_rows: 0,
        embedding_norm: false,
        norm: Norm::LayerNorm,
        placement: Placement::PreNorm,
        qkv_bias: true,
        output_bias: true,
        qk_norm: false,
        post_norms: false,
        local_window: None,
        attention_softcap: None,
        final_softcap: None,
        decoder_layers: 0,
        relative_attention_buckets: 0,
        feed_forward: FeedForward::Dense {
            gated: false,
            bias: true,
        },
        head: Head::LanguageModel { tied },
        activation: Some(
            config
                .text("activation_function")?
                .unwrap_or("gelu_new")
                .to_owned(),
        ),
    })
}

/// T5 (`configuration_t5.py`, `modeling_t5.py`), counted as `T5ForConditionalGeneration`: an
/// encoder of `num_layers` and a decoder of `num_decoder_layers` (default `num_layers`)
/// pre-norm layers over one `shared` embedding, with weight-only RMS norms (`T5LayerNorm`),
/// no biases anywhere, `num_heads` heads of `d_kv` (not `d_model / num_heads`), and the
/// relative-position bias `Embedding(relative_attention_num_buckets, num_heads)` (default 32
/// buckets) in the first layer's self-attention of each stack only. Each decoder layer adds
/// a cross-attention block (`EncDecAttention`, the same four projections) on the encoder's
/// output. `feed_forward_proj` is `relu` (T5 1.0: `wi`, `wo`), or `gated-<act>` (T5 1.1,
/// FLAN-T5: `wi_0`, `wi_1`, `wo`); the LM head is tied to `shared` unless
/// `tie_word_embeddings` is false (FLAN-T5). The KV cache is the decoder's: its `layers`
/// fact counts the decoder's layers, whose self-attention caches each generated token and
/// cross-attention each source token, both `2 · num_heads · d_kv` per layer.
fn read_t5(config: &Config<'_>) -> Result<TransformerSpec, ImportError> {
    let hidden_size = config.required("d_model", MAX_WIDTH)?;
    let layers = config.required("num_layers", MAX_LAYERS)?;
    let heads = config.required("num_heads", MAX_HEADS)?;
    let head_dim = config.required("d_kv", MAX_WIDTH)?;
    let intermediate_size = config.required("d_ff", MAX_WIDTH)?;
    let vocab_size = config.required("vocab_size", MAX_VOCAB)?;
    let decoder_layers = config
        .positive("num_decoder_layers", MAX_LAYERS)?
        .unwrap_or(layers);
    let buckets = config
        .non_negative("relative_attention_num_buckets", MAX_VOCAB)?
        .unwrap_or(32);
    let projection = config.text("feed_forward_proj")?.unwrap_or("relu");
    let parts: Vec<&str> = projection.split('-').collect();
    let (gated, activation) = match parts[..] {
        [activation] if !activation.is_empty() => (false, activation),
        // `T5Config` maps `gated-gelu` to the tanh approximation.
        ["gated", "gelu"] => (true, "gelu_new"),
        ["gated", activation] if !activation.is_empty() => (true, activation),
        _ => {
            return Err(config.invalid(
                "feed_forward_proj",
                "\"relu\", \"gated-gelu\" or another \"ACT\" or \"gated-ACT\"",
                &Value::from(projection),
            ));
        }
    };
    // A relative bias has no length limit; `n_positions` is the length T5 was trained at.
    let positions = config
        .positive("n_positions", MAX_POSITIONS)?
        .unwrap_or(512);
    Ok(TransformerSpec {
        family: Family::T5,
        name: None,
        dtype: None,
        layers,
        hidden_size,
        intermediate_size,
        heads,
        kv_heads: heads,
        head_dim,
        vocab_size,
        max_sequence_length: positions,
        sliding_window: None,
        position_embeddings: 0,
        alibi: false,
        token_types: 0,
        relative_distance_rows: 0,
        embedding_norm: false,
        norm: Norm::RmsNorm,
        placement: Placement::PreNorm,
        qkv_bias: false,
        output_bias: false,
        qk_norm: false,
        post_norms: false,
        local_window: None,
        attention_softcap: None,
        final_softcap: None,
        decoder_layers,
        relative_attention_buckets: buckets,
        feed_forward: FeedForward::Dense { gated, bias: false },
        head: Head::LanguageModel {
            tied: config.flag("tie_word_embeddings", true)?,
        },
        activation: Some(activation.to_owned()),
    })
}

/// Falcon (`configuration_falcon.py`, `modeling_falcon.py`): a LayerNorm decoder with one
/// fused `query_key_value` projection, a GELU MLP of `ffn_hidden_size` (default `4h`), biases
/// only with `bias`, rotary positions or ALiBi (`alibi`), and an LM head tied to
/// `word_embeddings` by default.
///
/// - `new_decoder_architecture` false (Falcon-7B): multi-query attention when `multi_query`
///   (the default: one key/value head, whatever `num_kv_heads` says), else full multi-head;
///   with `parallel_attn` (the default) attention and MLP read the same `input_layernorm`
///   and add into one residual, without it they run in turn (`post_attention_layernorm`
///   before the MLP).
/// - `new_decoder_architecture` true (Falcon-40B, -180B): `num_kv_heads` key/value heads
///   (grouped-query), always parallel, with separate `ln_attn` and `ln_mlp` unless
///   `num_ln_in_parallel_attn` is 1 (Falcon2-11B), which keeps one `input_layernorm`.
///
/// `head_dim` is `hidden_size / num_attention_heads`; `max_position_embeddings` defaults to
/// 2048. `apply_residual_connection_post_layernorm` moves the skip connection's start, not a
/// weight, so it does not change the count.
fn read_falcon(config: &Config<'_>) -> Result<TransformerSpec, ImportError> {
    let hidden_size = config.required("hidden_size", MAX_WIDTH)?;
    let layers = config.required("num_hidden_layers", MAX_LAYERS)?;
    let heads = config.required("num_attention_heads", MAX_HEADS)?;
    let vocab_size = config.required("vocab_size", MAX_VOCAB)?;
    let head_dim = config.divide("hidden_size", hidden_size, "num_attention_heads", heads)?;
    let intermediate_size = match config.positive("ffn_hidden_size", MAX_WIDTH)? {
        Some(width) => width,
        None => hidden_size
            .checked_mul(4)
            .ok_or_else(|| config.overflow("`4 × hidden_size`"))?,
    };
    let new_architecture = config.flag("new_decoder_architecture", false)?;
    let multi_query = config.flag("multi_query", true)?;
    let parallel = config.flag("parallel_attn", true)?;
    let (kv_heads, placement) = if new_architecture {
        let kv_heads = config.positive("num_kv_heads", MAX_HEADS)?.unwrap_or(heads);
        if heads % kv_heads != 0 {
            return Err(config.inconsistent(
                &["num_attention_heads", "num_kv_heads"],
                format!(
                    "`num_attention_heads` ({heads}) must be a multiple of `num_kv_heads` \
                     ({kv_heads}) for grouped-query attention"
                ),
            ));
        }
        let shared_norm = match config.positive("num_ln_in_parallel_attn", 2)? {
            None | Some(2) => false,
            Some(_) => true,
        };
        (kv_heads, Placement::Parallel { shared_norm })
    } else {
        let kv_heads = if multi_query { 1 } else { heads };
        let placement = if parallel {
            Placement::Parallel { shared_norm: true }
        } else {
            Placement::PreNorm
        };
        (kv_heads, placement)
    };
    let positions = config
        .positive("max_position_embeddings", MAX_POSITIONS)?
        .unwrap_or(2048);
    let bias = config.flag("bias", false)?;
    Ok(TransformerSpec {
        family: Family::Falcon,
        name: None,
        dtype: None,
        layers,
        hidden_size,
        intermediate_size,
        heads,
        kv_heads,
        head_dim,
        vocab_size,
        max_sequence_length: positions,
        sliding_window: None,
        position_embeddings: 0,
        alibi: config.flag("alibi", false)?,
        token_types: 0,
        relative_distance_rows: 0,
        embedding_norm: false,
        norm: Norm::LayerNorm,
        placement,
        qkv_bias: bias,
        output_bias: bias,
        qk_norm: false,
        post_norms: false,
        local_window: None,
        attention_softcap: None,
        final_softcap: None,
        decoder_layers: 0,
        relative_attention_buckets: 0,
        feed_forward: FeedForward::Dense { gated: false, bias },
        head: Head::LanguageModel {
            tied: config.flag("tie_word_embeddings", true)?,
        },
        activation: Some(config.text("activation")?.unwrap_or("gelu").to_owned()),
    })
}

/// Llama, Mistral, Mixtral, Qwen2, Phi-3, Qwen3, Qwen3-MoE and Gemma 2
/// (`configuration_llama.py`, `configuration_mistral.py`, `configuration_mixtral.py`,
/// `configuration_qwen2.py`, `configuration_phi3.py`, `configuration_qwen3.py`,
/// `configuration_qwen3_moe.py`, `configuration_gemma2.py`):
/// pre-RMSNorm decoders with rotary positions, grouped-query attention and a SwiGLU MLP
/// (Mixtral, Qwen3-MoE: a mixture of SwiGLU experts).
///
/// Qwen3 adds per-head RMSNorms on queries and keys (`q_norm`, `k_norm`) and takes
/// `head_dim` from its own key (absent: 128 for Qwen3, `Qwen3Config`'s default; hidden /
/// heads for Qwen3-MoE, whose attention falls back to that). Qwen3-MoE routes each token to
/// `num_experts_per_tok` (8) of `num_experts` (128) experts of `moe_intermediate_size`
/// (768); configs that keep dense MLP layers among the sparse ones (`mlp_only_layers`,
/// `decoder_sparse_step` other than 1) are refused, since every layer is counted alike.
///
/// Gemma 2 (`configuration_gemma2.py`, `modeling_gemma2.py`) normalizes each sublayer's
/// output as well as its input (four RMSNorms per layer), ties the LM head to the embeddings
/// by default, takes `head_dim` (256) and `hidden_activation` (`gelu_pytorch_tanh`) from its
/// own keys, soft-caps attention scores (`attn_logit_softcapping`, 50) and logits
/// (`final_logit_softcapping`, 30), and alternates sliding-window (`sliding_window`, 4096) and
/// global attention layers, the even ones sliding unless `layer_types` says otherwise. The
/// window is recorded on the sliding layers' attention nodes and not as the model's: the
/// global layers keep a full KV cache. Defaults: 4 key/value heads, 8192 positions.
///
/// Phi-3 (`modeling_phi3.py`) fuses the query, key and value projections into `qkv_proj`
/// (`h → (heads + 2·kv_heads)·head_dim`) and the gate and up projections into `gate_up_proj`
/// (`h → 2·inter`), all without bias whatever `attention_bias` says: the same parameters
/// as Llama's separate projections, so it is counted as Llama and the nodes say `fused_*`.
///
/// Defaults when a key is absent: `num_key_value_heads` is `num_attention_heads` for Llama
/// and Phi-3, 8 for Mistral and Mixtral, 32 for Qwen2 and Qwen3, 4 for Qwen3-MoE (null always
/// means `num_attention_heads`); `max_position_embeddings` is 2048 (Llama), 131072 (Mistral,
/// Mixtral), 32768 (Qwen2, Qwen3, Qwen3-MoE), 4096 (Phi-3); `tie_word_embeddings` is false;
/// Mixtral has 8 experts, 2 per token. Qwen2, Qwen3 and Qwen3-MoE attend within
/// `sliding_window` only with `use_sliding_window` true.
///
/// Qwen3-MoE's `moe_intermediate_size` is required (it sizes every expert) and becomes the
/// reported intermediate size; newer `transformers` write `num_experts` as
/// `num_local_experts`, and both are read.
fn read_llama_like(config: &Config<'_>, family: Family) -> Result<TransformerSpec, ImportError> {
    let hidden_size = config.required("hidden_size", MAX_WIDTH)?;
    let layers = config.required("num_hidden_layers", MAX_LAYERS)?;
    let heads = config.required("num_attention_heads", MAX_HEADS)?;
    let intermediate_size = config.required("intermediate_size", MAX_WIDTH)?;
    let vocab_size = config.required("vocab_size", MAX_VOCAB)?;
    let kv_heads_written = config.object.contains_key("num_key_value_heads");
    let kv_heads = if kv_heads_written {
        config
            .positive("num_key_value_heads", MAX_HEADS)?
            .unwrap_or(heads)
    } else {
        match family {
            Family::Mistral | Family::Mixtral => 8,
            Family::Qwen2 | Family::Qwen3 => 32,
            Family::Qwen3Moe | Family::Gemma2 => 4,
            _ => heads,
        }
    };
    let head_dim = match (config.positive("head_dim", MAX_WIDTH)?, family) {
        (Some(head_dim), _) => head_dim,
        // `Qwen3Config.head_dim` defaults to 128, whatever the hidden size.
        (None, Family::Qwen3) => 128,
        // `Gemma2Config.head_dim` defaults to 256.
        (None, Family::Gemma2) => 256,
        (None, _) => config.divide("hidden_size", hidden_size, "num_attention_heads", heads)?,
    };
    if heads % kv_heads != 0 {
        return Err(config.inconsistent(
            &["num_attention_heads", "num_key_value_heads"],
            format!(
                "`num_attention_heads` ({heads}) must be a multiple of `num_key_value_heads` \
                 ({kv_heads}{}) for grouped-query attention",
                if kv_heads_written {
                    String::new()
                } else {
                    format!(", the {} default", family.model_type())
                }
            ),
        ));
    }
    let default_positions = match family {
        Family::Mistral | Family::Mixtral => 4096 * 32,
        Family::Qwen2 | Family::Qwen3 | Family::Qwen3Moe => 32768,
        Family::Phi3 => 4096,
        Family::Gemma2 => 8192,
        _ => 2048,
    };
    let positions = config
        .positive("max_position_embeddings", MAX_POSITIONS)?
        .unwrap_or(default_positions);
    let tied = config.flag("tie_word_embeddings", family == Family::Gemma2)?;
    // Mistral and Phi-3 attend within `sliding_window` positions; Qwen2 only when
    // `use_sliding_window` is true; a null window is full attention.
    let sliding_window = match family {
        Family::Qwen2 | Family::Qwen3 | Family::Qwen3Moe
            if !config.flag("use_sliding_window", false)? =>
        {
            None
        }
        // Qwen3 slides only from layer `max_window_layers` on (or where `layer_types` says
        // `sliding_attention`); the model-wide window applies when every layer slides.
        Family::Qwen3 if !qwen3_every_layer_slides(config, layers)? => None,
        Family::Gemma2 => None,
        Family::Mistral
        | Family::Mixtral
        | Family::Qwen2
        | Family::Phi3
        | Family::Qwen3
        | Family::Qwen3Moe => config
            .positive("sliding_window", MAX_POSITIONS)?
            .filter(|window| *window < positions),
        _ => None,
    };
    let (qkv_bias, output_bias, mlp_bias) = match family {
        Family::Llama => {
            let attention_bias = config.flag("attention_bias", false)?;
            (
                attention_bias,
                attention_bias,
                config.flag("mlp_bias", false)?,
            )
        }
        Family::Qwen2 => (true, false, false),
        Family::Qwen3 | Family::Qwen3Moe | Family::Gemma2 => {
            let attention_bias = config.flag("attention_bias", false)?;
            (attention_bias, attention_bias, false)
        }
        _ => (false, false, false),
    };
    let (sliding_window, local_window) = if family == Family::Gemma2 {
        gemma2_windows(config, layers, positions)?
    } else {
        (sliding_window, None)
    };
    let (attention_softcap, final_softcap, activation) = if family == Family::Gemma2 {
        config.reject_true(
            "use_bidirectional_attention",
            "bidirectional attention makes the decoder an encoder, which is not modelled",
        )?;
        let activation = match config.text("hidden_activation")? {
            Some(activation) => activation,
            None => config.text("hidden_act")?.unwrap_or("gelu_pytorch_tanh"),
        };
        (
            config.softcap("attn_logit_softcapping", 50.0)?,
            config.softcap("final_logit_softcapping", 30.0)?,
            activation,
        )
    } else {
        (None, None, config.text("hidden_act")?.unwrap_or("silu"))
    };
    let mut intermediate_size = intermediate_size;
    let feed_forward = if family == Family::Qwen3Moe {
        qwen3_moe_sparse_layers_only(config, layers)?;
        // transformers 5 saves `num_experts` under its attribute name `num_local_experts`.
        let experts = match config.positive("num_experts", MAX_HEADS)? {
            Some(experts) => experts,
            None => config
                .positive("num_local_experts", MAX_HEADS)?
                .unwrap_or(128),
        };
        let experts_per_token = config
            .positive("num_experts_per_tok", MAX_HEADS)?
            .unwrap_or(8);
        if experts_per_token > experts {
            return Err(config.inconsistent(
                &["num_experts_per_tok", "num_experts"],
                format!(
                    "`num_experts_per_tok` ({experts_per_token}) must not exceed \
                     `num_experts` ({experts})"
                ),
            ));
        }
        // Every expert is `moe_intermediate_size` wide; `intermediate_size` would only size
        // the dense MLP of `mlp_only_layers`, which are refused above.
        intermediate_size = config.required("moe_intermediate_size", MAX_WIDTH)?;
        FeedForward::Experts {
            experts,
            experts_per_token,
        }
    } else if family == Family::Mixtral {
        let experts = config
            .positive("num_local_experts", MAX_HEADS)?
            .unwrap_or(8);
        let experts_per_token = config
            .positive("num_experts_per_tok", MAX_HEADS)?
            .unwrap_or(2);
        if experts_per_token > experts {
            return Err(config.inconsistent(
                &["num_experts_per_tok", "num_local_experts"],
                format!(
                    "`num_experts_per_tok` ({experts_per_token}) must not exceed \
                     `num_local_experts` ({experts})"
                ),
            ));
        }
        FeedForward::Experts {
            experts,
            experts_per_token,
        }
    } else {
        FeedForward::Dense {
            gated: true,
            bias: mlp_bias,
        }
    };
    Ok(TransformerSpec {
        family,
        name: None,
        dtype: None,
        layers,
        hidden_size,
        intermediate_size,
        heads,
        kv_heads,
        head_dim,
        vocab_size,
        max_sequence_length: positions,
        sliding_window,
        position_embeddings: 0,
        alibi: false,
        token_types: 0,
        relative_distance_rows: 0,
        embedding_norm: false,
        norm: Norm::RmsNorm,
        placement: Placement::PreNorm,
        qkv_bias,
        output_bias,
        qk_norm: matches!(family, Family::Qwen3 | Family::Qwen3Moe),
        post_norms: family == Family::Gemma2,
        local_window,
        attention_softcap,
        final_softcap,
        decoder_layers: 0,
        relative_attention_buckets: 0,
        feed_forward,
        head: Head::LanguageModel { tied },
        activation: Some(activation.to_owned()),
    })
}

/// Gemma 2's windows: `layer_types` when given, else `Gemma2Config`'s alternation (layers 0,
/// 2, 4, ... slide, the odd ones attend to everything), within `sliding_window` (default
/// 4096; null, or a window no shorter than the context, is full attention everywhere).
/// Returns the model-wide window when every layer slides, else the per-layer one.
fn gemma2_windows(
    config: &Config<'_>,
    layers: u64,
    positions: u64,
) -> Result<(Option<u64>, Option<LocalWindow>), ImportError> {
    let window = if config.object.contains_key("sliding_window") {
        config.positive("sliding_window", MAX_POSITIONS)?
    } else {
        Some(4096)
    };
    let sliding: Vec<bool> = match config.layer_types(layers)? {
        Some(types) => types
            .iter()
            .map(|kind| *kind == "sliding_attention")
            .collect(),
        None => (0..layers).map(|layer| layer % 2 == 0).collect(),
    };
    let Some(window) = window.filter(|window| *window < positions) else {
        return Ok((None, None));
    };
    if sliding.iter().all(|slides| *slides) {
        Ok((Some(window), None))
    } else if sliding.iter().any(|slides| *slides) {
        Ok((
            None,
            Some(LocalWindow {
                window,
                layers: sliding,
            }),
        ))
    } else {
        Ok((None, None))
    }
}

/// Whether every layer of a Qwen3 config with `use_sliding_window` attends within the
/// window: `layer_types` all `sliding_attention`, or, without it, `max_window_layers` 0
/// (`Qwen3Config` slides the layers from `max_window_layers`, default 28, on).
fn qwen3_every_layer_slides(config: &Config<'_>, layers: u64) -> Result<bool, ImportError> {
    if let Some(types) = config.layer_types(layers)? {
        return Ok(types.iter().all(|kind| *kind == "sliding_attention"));
    }
    Ok(config
        .non_negative("max_window_layers", MAX_LAYERS)?
        .unwrap_or(28)
        == 0)
}

/// Refuses Qwen3-MoE configs with dense MLP layers among the sparse ones: `mlp_only_layers`
/// listing a layer, or `decoder_sparse_step` other than 1 (a layer is sparse when its index
/// plus one is a multiple of the step). Every layer is counted as a mixture of experts.
fn qwen3_moe_sparse_layers_only(config: &Config<'_>, layers: u64) -> Result<(), ImportError> {
    if let Some(value) = config.get("mlp_only_layers") {
        let Some(list) = value.as_array() else {
            return Err(config.invalid("mlp_only_layers", "an array of layer indices", value));
        };
        if list
            .iter()
            .any(|index| index.as_u64().is_none_or(|index| index >= layers))
        {
            return Err(config.invalid(
                "mlp_only_layers",
                &format!("an array of layer indices below `num_hidden_layers` ({layers})"),
                value,
            ));
        }
        if !list.is_empty() {
            return Err(config.error(ImportErrorKind::Unsupported {
                key: "mlp_only_layers".to_owned(),
                value: json::render(value),
                reason: "dense MLP layers among the mixture-of-experts layers are not counted"
                    .to_owned(),
            }));
        }
    }
    let step = config
        .positive("decoder_sparse_step", MAX_LAYERS)?
        .unwrap_or(1);
    if step != 1 {
        return Err(config.error(ImportErrorKind::Unsupported {
            key: "decoder_sparse_step".to_owned(),
            value: step.to_string(),
            reason: "dense MLP layers among the mixture-of-experts layers are not counted"
                .to_owned(),
        }));
    }
    Ok(())
}

/// A config object with typed, validating accessors that name the source and key on error.
struct Config<'a> {
    object: &'a Map<String, Value>,
    source: &'a str,
}

impl<'a> Config<'a> {
    /// The value of `key`; absent and null both read as `None`, as `transformers` treats
    /// them when it falls back to a default.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.object.get(key).filter(|value| !value.is_null())
    }

    fn error(&self, kind: ImportErrorKind) -> ImportError {
        ImportError::new(self.source, kind)
    }

    fn invalid(&self, key: &str, expected: &str, found: &Value) -> ImportError {
        self.error(ImportErrorKind::InvalidValue {
            key: key.to_owned(),
            expected: expected.to_owned(),
            found: json::render(found),
        })
    }

    fn inconsistent(&self, keys: &[&str], message: String) -> ImportError {
        self.error(ImportErrorKind::Inconsistent {
            keys: keys.iter().map(|key| (*key).to_owned()).collect(),
            message,
        })
    }

    fn overflow(&self, what: &str) -> ImportError {
        self.error(ImportErrorKind::Overflow {
            what: what.to_owned(),
        })
    }

    /// The family, from `model_type`, else from `architectures[0]`.
    fn family(&self) -> Result<Family, ImportError> {
        if let Some(value) = self.get("model_type") {
            let Some(model_type) = value.as_str() else {
                return Err(self.invalid("model_type", "a string", value));
            };
            return Family::from_model_type(model_type).ok_or_else(|| {
                self.error(ImportErrorKind::UnsupportedFamily {
                    key: "model_type",
                    value: model_type.to_owned(),
                })
            });
        }
        let Some(value) = self.get("architectures") else {
            return Err(self.error(ImportErrorKind::MissingFamily));
        };
        let Some(first) = value.as_array().and_then(|names| names.first()) else {
            return Err(self.invalid("architectures", "a non-empty array of class names", value));
        };
        let Some(class_name) = first.as_str() else {
            return Err(self.invalid("architectures[0]", "a string", first));
        };
        Family::from_architecture(class_name).ok_or_else(|| {
            self.error(ImportErrorKind::UnsupportedFamily {
                key: "architectures",
                value: class_name.to_owned(),
            })
        })
    }

    /// A required positive integer no larger than `max`.
    fn required(&self, key: &str, max: u64) -> Result<u64, ImportError> {
        self.positive(key, max)?.ok_or_else(|| {
            self.error(ImportErrorKind::MissingKey {
                key: key.to_owned(),
            })
        })
    }

    /// An optional positive integer no larger than `max`.
    fn positive(&self, key: &str, max: u64) -> Result<Option<u64>, ImportError> {
        self.integer(key, 1, max)
    }

    /// An optional integer from 0 to `max`.
    fn non_negative(&self, key: &str, max: u64) -> Result<Option<u64>, ImportError> {
        self.integer(key, 0, max)
    }

    fn integer(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>, ImportError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let kind = if min == 0 {
            "a non-negative integer"
        } else {
            "a positive integer"
        };
        match value.as_u64() {
            Some(number) if number < min => Err(self.invalid(key, kind, value)),
            Some(number) if number > max => {
                Err(self.invalid(key, &format!("{kind} no larger than {max}"), value))
            }
            Some(number) => Ok(Some(number)),
            None => Err(self.invalid(key, kind, value)),
        }
    }

    /// An optional boolean, `default` when absent or null.
    fn flag(&self, key: &str, default: bool) -> Result<bool, ImportError> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(flag)) => Ok(*flag),
            Some(value) => Err(self.invalid(key, "true or false", value)),
        }
    }

    /// Refuses a variant whose parameters this importer does not count.
    fn reject_true(&self, key: &str, reason: &str) -> Result<(), ImportError> {
        if self.flag(key, false)? {
            return Err(self.error(ImportErrorKind::Unsupported {
                key: key.to_owned(),
                value: "true".to_owned(),
                reason: reason.to_owned(),
            }));
        }
        Ok(())
    }

    /// `layer_types`, when present: one `full_attention` or `sliding_attention` per layer.
    fn layer_types(&self, layers: u64) -> Result<Option<Vec<&'a str>>, ImportError> {
        let Some(value) = self.get("layer_types") else {
            return Ok(None);
        };
        let expected = format!(
            "an array of {layers} \"full_attention\" or \"sliding_attention\" entries, one per \
             layer"
        );
        let Some(list) = value.as_array() else {
            return Err(self.invalid("layer_types", &expected, value));
        };
        let kinds: Option<Vec<&str>> = list
            .iter()
            .map(|kind| {
                kind.as_str()
                    .filter(|kind| ["full_attention", "sliding_attention"].contains(kind))
            })
            .collect();
        match kinds {
            Some(kinds) if kinds.len() as u64 == layers => Ok(Some(kinds)),
            _ => Err(self.invalid("layer_types", &expected, value)),
        }
    }

    /// An optional soft-capping value: a positive finite number, `default` when absent, none
    /// when null (no capping).
    fn softcap(&self, key: &str, default: f64) -> Result<Option<f64>, ImportError> {
        let Some(value) = self.object.get(key) else {
            return Ok(Some(default));
        };
        if value.is_null() {
            return Ok(None);
        }
        match value.as_f64() {
            Some(cap) if cap.is_finite() && cap > 0.0 => Ok(Some(cap)),
            _ => Err(self.invalid(key, "a positive number or null", value)),
        }
    }

    /// An optional string.
    fn text(&self, key: &str) -> Result<Option<&'a str>, ImportError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(value) => Err(self.invalid(key, "a string", value)),
        }
    }

    /// `numerator / denominator`, refusing a remainder as `transformers` does when it splits
    /// the hidden size into heads.
    fn divide(
        &self,
        numerator_key: &str,
        numerator: u64,
        denominator_key: &str,
        denominator: u64,
    ) -> Result<u64, ImportError> {
        if denominator == 0 || !numerator.is_multiple_of(denominator) {
            return Err(self.inconsistent(
                &[numerator_key, denominator_key],
                format!(
                    "`{numerator_key}` ({numerator}) must be divisible by `{denominator_key}` \
                     ({denominator})"
                ),
            ));
        }
        Ok(numerator / denominator)
    }

    /// The weights' dtype from `torch_dtype` (older configs) or `dtype` (newer ones).
    fn dtype(&self, warnings: &mut Vec<ImportWarning>) -> Result<Option<Precision>, ImportError> {
        for key in ["torch_dtype", "dtype"] {
            let Some(value) = self.get(key) else {
                continue;
            };
            let Some(name) = value.as_str() else {
                return Err(self.invalid(key, "a dtype name such as \"bfloat16\"", value));
            };
            let precision = Precision::parse(name);
            if precision.is_none() {
                warnings.push(ImportWarning::UnrecognizedDtype {
                    key: key.to_owned(),
                    value: name.to_owned(),
                });
            }
            return Ok(precision);
        }
        Ok(None)
    }
}
