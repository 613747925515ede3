//! Ready-made model graphs at base-model dimensions, for visualizers and tests.
//!
//! Each builder writes the published Hugging Face config of its model with `layers` changed,
//! and imports it through [`from_hf_config_value`], so the result is exactly what the
//! importer makes of that config.
//!
//! ```
//! let graph = advisor_graph::builders::llama(2);
//! assert_eq!(graph.facts.layers, Some(2));
//! assert!(graph.nodes.iter().any(|node| node.id == "layers.1.attention"));
//! ```

use advisor_core::ModelGraph;
use serde_json::{Value, json};

use crate::hf_config::{MAX_LAYERS, from_hf_config_value};

// Builders take `u16` layers so that every value they accept is one the importer accepts.
const _: () = assert!(MAX_LAYERS >= u16::MAX as u64);

/// BERT at `bert-base-uncased` dimensions (hidden 768, 12 heads, intermediate 3072,
/// vocabulary 30522, 512 positions) with `layers` layers (at least 1); a pooler, no dtype.
pub fn bert(layers: u16) -> ModelGraph {
    build(
        json!({
            "architectures": ["BertModel"],
            "model_type": "bert",
            "hidden_act": "gelu",
            "hidden_size": 768,
            "intermediate_size": 3072,
            "max_position_embeddings": 512,
            "num_attention_heads": 12,
            "position_embedding_type": "absolute",
            "type_vocab_size": 2,
            "vocab_size": 30522,
        }),
        "num_hidden_layers",
        layers,
        "builders::bert",
    )
}

/// GPT-2 at `gpt2` (small) dimensions (hidden 768, 12 heads, vocabulary 50257, 1024
/// positions, tied LM head) with `layers` layers (at least 1), no dtype.
pub fn gpt2(layers: u16) -> ModelGraph {
    build(
        json!({
            "architectures": ["GPT2LMHeadModel"],
            "model_type": "gpt2",
            "activation_function": "gelu_new",
            "n_ctx": 1024,
            "n_embd": 768,
            "n_head": 12,
            "n_inner": null,
            "n_positions": 1024,
            "vocab_size": 50257,
        }),
        "n_layer",
        layers,
        "builders::gpt2",
    )
}

/// Llama at `meta-llama/Llama-2-7b-hf` dimensions (hidden 4096, 32 heads and key/value
/// heads, intermediate 11008, vocabulary 32000, 4096 positions, untied LM head, fp16) with
/// `layers` layers (at least 1).
pub fn llama(layers: u16) -> ModelGraph {
    build(
        json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_act": "silu",
            "hidden_size": 4096,
            "intermediate_size": 11008,
            "max_position_embeddings": 4096,
            "num_attention_heads": 32,
            "num_key_value_heads": 32,
            "tie_word_embeddings": false,
            "torch_dtype": "float16",
            "vocab_size": 32000,
        }),
        "num_hidden_layers",
        layers,
        "builders::llama",
    )
}

fn build(mut config: Value, layers_key: &str, layers: u16, source: &str) -> ModelGraph {
    // The importer refuses zero layers, as a real config with none would be broken.
    config[layers_key] = json!(layers.max(1));
    // The config is a published one with at most `u16::MAX` layers: within every limit the
    // importer checks, and its counts stay far below `u64::MAX`.
    from_hf_config_value(&config, source)
        .expect("a builder's config is a valid config the importer accepts")
}
