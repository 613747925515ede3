//! The Hugging Face config importer: exact counts for every fixture, facts, graph shape and
//! error messages.

use advisor_core::{Architecture, ModelGraph, Precision};
use advisor_graph::{
    ImportErrorKind, ImportWarning, SUPPORTED_MODEL_TYPES, from_hf_config_str, import_bytes,
};
use serde_json::{Value, json};

use crate::support::{assert_graph_invariants, hf_fixture, tsv_rows};

fn import(name: &str) -> ModelGraph {
    from_hf_config_str(&hf_fixture(name), name).unwrap_or_else(|error| panic!("{error}"))
}

fn config(name: &str) -> Value {
    serde_json::from_str(&hf_fixture(name)).unwrap()
}

/// Imports `value` and returns the error message.
fn error_message(value: &Value) -> String {
    from_hf_config_str(&value.to_string(), "config.json")
        .unwrap_err()
        .to_string()
}

fn check_kv_column(graph: &ModelGraph, file: &str, column: &str) {
    if column == "-" {
        assert_eq!(
            graph.facts.architecture,
            Some(Architecture::Encoder),
            "{file}"
        );
    } else {
        let expected: f64 = column.parse().unwrap();
        assert_eq!(
            graph.kv_cache_bytes_per_token(2.0),
            Some(expected),
            "{file}"
        );
        assert!(
            graph
                .facts
                .architecture
                .is_some_and(Architecture::generates_autoregressively),
            "{file}"
        );
    }
}

#[test]
fn every_expected_tsv_row_matches_exactly() {
    let rows = tsv_rows("expected.tsv");
    assert_eq!(rows.len(), 6);
    for row in rows {
        let [file, parameters, kv] = &row[..] else {
            panic!("bad row {row:?}");
        };
        let graph = import(file);
        let parameters: u64 = parameters.parse().unwrap();
        assert_eq!(graph.facts.parameters, Some(parameters), "{file}");
        assert_eq!(graph.facts.active_parameters, Some(parameters), "{file}");
        check_kv_column(&graph, file, kv);
        assert_graph_invariants(&graph);
    }
}

#[test]
fn every_published_config_matches_its_published_count() {
    let rows = tsv_rows("published.tsv");
    assert_eq!(rows.len(), 11);
    for row in rows {
        let [file, parameters, active, kv] = &row[..] else {
            panic!("bad row {row:?}");
        };
        let graph = import(file);
        assert_eq!(
            graph.facts.parameters,
            Some(parameters.parse().unwrap()),
            "{file}"
        );
        assert_eq!(
            graph.facts.active_parameters,
            Some(active.parse().unwrap()),
            "{file}"
        );
        check_kv_column(&graph, file, kv);
        assert_graph_invariants(&graph);
    }
}

#[test]
fn qwen2_facts_come_from_the_config() {
    let facts = import("qwen2-1.5b.json").facts;
    assert_eq!(facts.family.as_deref(), Some("qwen2"));
    assert_eq!(facts.layers, Some(28));
    assert_eq!(facts.hidden_size, Some(1536));
    assert_eq!(facts.intermediate_size, Some(8960));
    assert_eq!(facts.attention_heads, Some(12));
    assert_eq!(facts.kv_heads, Some(2));
    assert_eq!(facts.head_dim, Some(128));
    assert_eq!(facts.vocab_size, Some(151936));
    assert_eq!(facts.max_sequence_length, Some(131072));
    assert_eq!(facts.dtype, Some(Precision::Bf16));
    assert_eq!(facts.num_experts, None);
}

#[test]
fn mixtral_counts_experts_and_active_experts() {
    let graph = import("mixtral-8x7b-v0.1.json");
    assert_eq!(graph.facts.num_experts, Some(8));
    assert_eq!(graph.facts.experts_per_token, Some(2));
    let moe = graph
        .nodes
        .iter()
        .find(|node| node.id == "layers.0.moe")
        .unwrap();
    assert_eq!(moe.op_type, "MoE");
    // Router 4096 × 8, eight experts of 3 × 4096 × 14336.
    assert_eq!(moe.parameters, 4096 * 8 + 8 * 3 * 4096 * 14336);
    assert_eq!(
        moe.attributes["active_parameters"],
        json!(4096 * 8 + 2 * 3 * 4096 * 14336)
    );
}

/// Phi-3-mini-4k-instruct: 3,821,079,552 parameters, the `metadata.total_size` of
/// microsoft/Phi-3-mini-4k-instruct's `model.safetensors.index.json` (7,642,159,104 bytes)
/// divided by 2 bytes per bfloat16 parameter. By the architecture: embeddings and the untied
/// head 2 × 32064 × 3072, 32 layers of `qkv_proj` 3072 × 3 · 3072, `o_proj` 3072², a fused
/// `gate_up_proj` 3072 × 2 · 8192 and `down_proj` 8192 × 3072, two RMSNorms, and the final norm.
#[test]
fn phi3_counts_fused_projections_like_separate_ones() {
    let graph = import("phi-3-mini-4k-instruct.json");
    let per_layer = 3072 * 3 * 3072 + 3072 * 3072 + 3072 * 2 * 8192 + 8192 * 3072 + 2 * 3072;
    assert_eq!(
        graph.facts.parameters,
        Some(2 * 32064 * 3072 + 32 * per_layer + 3072)
    );
    assert_eq!(graph.facts.parameters, Some(3_821_079_552));
    // Multi-head attention (32 key/value heads of 96): 2 × 32 × 32 × 96 × 2 bytes.
    assert_eq!(graph.kv_cache_bytes_per_token(2.0), Some(393_216.0));
    assert_eq!(graph.facts.family.as_deref(), Some("phi3"));
    assert_eq!(graph.facts.head_dim, Some(96));
    assert_eq!(graph.facts.max_sequence_length, Some(4096));
    assert_eq!(graph.facts.sliding_window, Some(2047));
    assert_eq!(graph.facts.tie_word_embeddings, Some(false));
    let node = |id: &str| graph.nodes.iter().find(|node| node.id == id).unwrap();
    assert_eq!(
        node("layers.0.attention").attributes["fused_qkv"],
        json!(true)
    );
    assert_eq!(
        node("layers.0.mlp").attributes["fused_gate_up"],
        json!(true)
    );
    assert_eq!(node("layers.0.mlp").name, "model.layers.0.mlp");

    // `Phi3Config` defaults: key/value heads follow the query heads, 4096 positions.
    let mut bare = config("phi-3-mini-4k-instruct.json");
    let object = bare.as_object_mut().unwrap();
    object.remove("num_key_value_heads");
    object.remove("max_position_embeddings");
    object.remove("sliding_window");
    let facts = from_hf_config_str(&bare.to_string(), "p").unwrap().facts;
    assert_eq!(facts.kv_heads, Some(32));
    assert_eq!(facts.max_sequence_length, Some(4096));
    assert_eq!(facts.sliding_window, None);
    assert_eq!(facts.parameters, Some(3_821_079_552));
}

/// Qwen3-8B: 8,190,735,360 parameters, the `metadata.total_size` of Qwen/Qwen3-8B's
/// `model.safetensors.index.json` (16,381,470,720 bytes) divided by 2 bytes per bfloat16
/// parameter; the model card rounds it to 8.2B. By the architecture: embeddings and the
/// untied head 2 × 151936 × 4096, 36 layers of `q_proj` and `o_proj` 4096 × 32 · 128, `k_proj`
/// and `v_proj` 4096 × 8 · 128, `q_norm` and `k_norm` 128 each, the SwiGLU MLP 3 × 4096 ×
/// 12288 and two RMSNorms, and the final norm.
#[test]
fn qwen3_counts_query_and_key_norms() {
    let graph = import("qwen3-8b.json");
    let attention = 2 * 4096 * 4096 + 2 * 4096 * 1024 + 2 * 128;
    let per_layer = attention + 3 * 4096 * 12288 + 2 * 4096;
    assert_eq!(
        graph.facts.parameters,
        Some(2 * 151936 * 4096 + 36 * per_layer + 4096)
    );
    assert_eq!(graph.facts.parameters, Some(8_190_735_360));
    // Grouped-query attention, 8 key/value heads of 128: 2 × 36 × 8 × 128 × 2 bytes.
    assert_eq!(graph.kv_cache_bytes_per_token(2.0), Some(147_456.0));
    assert_eq!(graph.facts.family.as_deref(), Some("qwen3"));
    assert_eq!(graph.facts.head_dim, Some(128));
    assert_eq!(graph.facts.max_sequence_length, Some(40960));
    assert_eq!(graph.facts.sliding_window, None);
    let node = |id: &str| graph.nodes.iter().find(|node| node.id == id).unwrap();
    assert_eq!(node("layers.0.attention").parameters, attention);
    assert_eq!(
        node("layers.0.attention").attributes["qk_norm"],
        json!(true)
    );

    // `Qwen3Config` defaults: `head_dim` 128 whatever hidden / heads, 32 key/value heads.
    let mut bare = config("qwen3-8b.json");
    let object = bare.as_object_mut().unwrap();
    object.remove("head_dim");
    object.remove("num_key_value_heads");
    let facts = from_hf_config_str(&bare.to_string(), "q").unwrap().facts;
    assert_eq!(facts.head_dim, Some(128));
    assert_eq!(facts.kv_heads, Some(32));

    // `attention_bias` adds q, k, v, o biases.
    let mut biased = config("qwen3-8b.json");
    biased["attention_bias"] = json!(true);
    let facts = from_hf_config_str(&biased.to_string(), "q").unwrap().facts;
    assert_eq!(
        facts.parameters,
        Some(8_190_735_360 + 36 * (4096 + 2 * 1024 + 4096))
    );

    // The window applies only where every layer slides.
    let mut sliding = config("qwen3-8b.json");
    sliding["use_sliding_window"] = json!(true);
    sliding["sliding_window"] = json!(4096);
    let facts = from_hf_config_str(&sliding.to_string(), "q").unwrap().facts;
    assert_eq!(facts.sliding_window, None, "layers from 36 on slide: none");
    sliding["max_window_layers"] = json!(0);
    let facts = from_hf_config_str(&sliding.to_string(), "q").unwrap().facts;
    assert_eq!(facts.sliding_window, Some(4096));
    sliding["layer_types"] = json!(vec!["full_attention"; 36]);
    let facts = from_hf_config_str(&sliding.to_string(), "q").unwrap().facts;
    assert_eq!(facts.sliding_window, None);
    sliding["layer_types"] = json!(["sliding_attention"]);
    assert_eq!(
        error_message(&sliding),
        "config.json: `layer_types` must be an array of 36 \"full_attention\" or \
         \"sliding_attention\" entries, one per layer, found [\"sliding_attention\"]"
    );
}

/// Qwen3-30B-A3B: 30,532,122,624 parameters, the `metadata.total_size` of
/// Qwen/Qwen3-30B-A3B's `model.safetensors.index.json` (61,064,245,248 bytes) divided by 2
/// bytes per bfloat16 parameter. Active per token 3,353,032,704 (the model card's "3.3B
/// activated"): the router and 8 of the 128 experts of `moe_intermediate_size` 768.
#[test]
fn qwen3_moe_counts_total_and_active_experts() {
    let graph = import("qwen3-30b-a3b.json");
    let attention = 2 * 2048 * 4096 + 2 * 2048 * 512 + 2 * 128;
    let router = 2048 * 128;
    let expert = 3 * 2048 * 768;
    let outside = 2 * 151936 * 2048 + 48 * (attention + 2 * 2048) + 2048;
    assert_eq!(
        graph.facts.parameters,
        Some(outside + 48 * (router + 128 * expert))
    );
    assert_eq!(graph.facts.parameters, Some(30_532_122_624));
    assert_eq!(
        graph.facts.active_parameters,
        Some(outside + 48 * (router + 8 * expert))
    );
    assert_eq!(graph.facts.active_parameters, Some(3_353_032_704));
    assert_eq!(graph.kv_cache_bytes_per_token(2.0), Some(98_304.0));
    assert_eq!(graph.facts.family.as_deref(), Some("qwen3_moe"));
    assert_eq!(graph.facts.num_experts, Some(128));
    assert_eq!(graph.facts.experts_per_token, Some(8));
    assert_eq!(graph.facts.intermediate_size, Some(768));
    let moe = graph
        .nodes
        .iter()
        .find(|node| node.id == "layers.0.moe")
        .unwrap();
    assert_eq!(moe.name, "model.layers.0.mlp");
    assert_eq!(moe.parameters, router + 128 * expert);

    // transformers 5 writes `num_local_experts`; the class defaults are 128 and 8.
    let mut renamed = config("qwen3-30b-a3b.json");
    let object = renamed.as_object_mut().unwrap();
    object.remove("num_experts");
    object.remove("num_experts_per_tok");
    let facts = from_hf_config_str(&renamed.to_string(), "q").unwrap().facts;
    assert_eq!(facts.parameters, Some(30_532_122_624));
    renamed["num_local_experts"] = json!(64);
    let facts = from_hf_config_str(&renamed.to_string(), "q").unwrap().facts;
    assert_eq!(facts.num_experts, Some(64));

    // Dense layers among the sparse ones are refused, naming the key.
    let mut dense = config("qwen3-30b-a3b.json");
    dense["mlp_only_layers"] = json!([0, 47]);
    assert_eq!(
        error_message(&dense),
        "config.json: `mlp_only_layers` = [0,47] is not supported: dense MLP layers among the \
         mixture-of-experts layers are not counted"
    );
    dense["mlp_only_layers"] = json!([48]);
    assert_eq!(
        error_message(&dense),
        "config.json: `mlp_only_layers` must be an array of layer indices below \
         `num_hidden_layers` (48), found [48]"
    );
    let mut stepped = config("qwen3-30b-a3b.json");
    stepped["decoder_sparse_step"] = json!(2);
    assert_eq!(
        error_message(&stepped),
        "config.json: `decoder_sparse_step` = 2 is not supported: dense MLP layers among the \
         mixture-of-experts layers are not counted"
    );
    let mut missing = config("qwen3-30b-a3b.json");
    missing
        .as_object_mut()
        .unwrap()
        .remove("moe_intermediate_size");
    assert_eq!(
        error_message(&missing),
        "config.json: missing required key `moe_intermediate_size`"
    );
    let mut too_many = config("qwen3-30b-a3b.json");
    too_many["num_experts_per_tok"] = json!(129);
    assert_eq!(
        error_message(&too_many),
        "config.json: `num_experts_per_tok` (129) must not exceed `num_experts` (128)"
    );

    // The architecture names the family when `model_type` is absent.
    let mut by_class = config("qwen3-30b-a3b.json");
    by_class.as_object_mut().unwrap().remove("model_type");
    let facts = from_hf_config_str(&by_class.to_string(), "q")
        .unwrap()
        .facts;
    assert_eq!(facts.family.as_deref(), Some("qwen3_moe"));
}

/// Gemma-2-2b-it: 2,614,341,888 parameters, the `metadata.total_size` of
/// google/gemma-2-2b-it's `model.safetensors.index.json` (5,228,683,776 bytes) divided by 2
/// bytes per bfloat16 parameter. By the architecture: the embedding 256000 × 2304, tied to
/// the head; 26 layers of `q_proj` and `o_proj` 2304 × 8 · 256, `k_proj` and `v_proj` 2304 ×
/// 4 · 256, the gated MLP 3 × 2304 × 9216 and four RMSNorms (two before, two after the
/// sublayers); and the final norm.
#[test]
fn gemma2_counts_pre_and_post_norms_and_ties_the_head() {
    let graph = import("gemma-2-2b-it.json");
    let per_layer = 2 * 2304 * 2048 + 2 * 2304 * 1024 + 3 * 2304 * 9216 + 4 * 2304;
    assert_eq!(
        graph.facts.parameters,
        Some(256000 * 2304 + 26 * per_layer + 2304)
    );
    assert_eq!(graph.facts.parameters, Some(2_614_341_888));
    // Every layer keeps K and V for its heads (the sliding ones only within the window):
    // 2 × 26 × 4 × 256 × 2 bytes per token.
    assert_eq!(graph.kv_cache_bytes_per_token(2.0), Some(106_496.0));
    assert_eq!(graph.facts.family.as_deref(), Some("gemma2"));
    assert_eq!(graph.facts.head_dim, Some(256));
    assert_eq!(graph.facts.tie_word_embeddings, Some(true));
    assert_eq!(
        graph.facts.sliding_window, None,
        "odd layers attend globally"
    );
    // Embeddings, eight nodes per layer, final norm, head.
    assert_eq!(graph.nodes.len(), 1 + 26 * 8 + 2);
    let node = |id: &str| graph.nodes.iter().find(|node| node.id == id).unwrap();
    assert_eq!(
        node("layers.0.attention").attributes["sliding_window"],
        json!(4096)
    );
    assert!(
        !node("layers.1.attention")
            .attributes
            .contains_key("sliding_window")
    );
    assert_eq!(
        node("layers.0.attention").attributes["logit_softcapping"],
        json!(50.0)
    );
    assert_eq!(
        node("lm_head").attributes["final_logit_softcapping"],
        json!(30.0)
    );
    assert_eq!(node("lm_head").parameters, 0);
    assert_eq!(
        node("layers.3.attention_post_norm").name,
        "model.layers.3.post_attention_layernorm"
    );
    assert_eq!(
        node("layers.3.mlp_norm").name,
        "model.layers.3.pre_feedforward_layernorm"
    );
    assert_eq!(node("layers.3.mlp_post_norm").parameters, 2304);
    let edge = |from: &str, to: &str| {
        graph
            .edges
            .iter()
            .any(|edge| edge.from == from && edge.to == to)
    };
    assert!(edge("layers.0.attention", "layers.0.attention_post_norm"));
    assert!(edge(
        "layers.0.attention_post_norm",
        "layers.0.attention_residual"
    ));
    assert!(edge("layers.0.mlp_post_norm", "layers.0.mlp_residual"));
    assert_eq!(
        node("layers.0.mlp").attributes["activation"],
        json!("gelu_pytorch_tanh")
    );

    // `Gemma2Config` defaults: tied, head_dim 256, 4 key/value heads, a 4096 window.
    let mut bare = config("gemma-2-2b-it.json");
    let object = bare.as_object_mut().unwrap();
    for key in [
        "head_dim",
        "num_key_value_heads",
        "sliding_window",
        "max_position_embeddings",
    ] {
        object.remove(key);
    }
    let graph = from_hf_config_str(&bare.to_string(), "g").unwrap();
    assert_eq!(graph.facts.parameters, Some(2_614_341_888));
    assert_eq!(graph.facts.max_sequence_length, Some(8192));
    let attention = |graph: &ModelGraph, layer: u64| {
        graph
            .nodes
            .iter()
            .find(|node| node.id == format!("layers.{layer}.attention"))
            .unwrap()
            .attributes
            .get("sliding_window")
            .cloned()
    };
    assert_eq!(attention(&graph, 2), Some(json!(4096)));

    // Untied, the head adds 2304 × 256000; `layer_types` overrides the alternation.
    let mut untied = config("gemma-2-2b-it.json");
    untied["tie_word_embeddings"] = json!(false);
    let facts = from_hf_config_str(&untied.to_string(), "g").unwrap().facts;
    assert_eq!(facts.parameters, Some(2_614_341_888 + 2304 * 256000));
    let mut all_sliding = config("gemma-2-2b-it.json");
    all_sliding["layer_types"] = json!(vec!["sliding_attention"; 26]);
    let facts = from_hf_config_str(&all_sliding.to_string(), "g")
        .unwrap()
        .facts;
    assert_eq!(facts.sliding_window, Some(4096));
    let mut no_window = config("gemma-2-2b-it.json");
    no_window["sliding_window"] = Value::Null;
    no_window["attn_logit_softcapping"] = Value::Null;
    let graph = from_hf_config_str(&no_window.to_string(), "g").unwrap();
    assert_eq!(attention(&graph, 0), None);
    assert!(!graph.nodes[2].attributes.contains_key("logit_softcapping"));

    let mut bad = config("gemma-2-2b-it.json");
    bad["final_logit_softcapping"] = json!("thirty");
    assert_eq!(
        error_message(&bad),
        "config.json: `final_logit_softcapping` must be a positive number or null, found \
         \"thirty\""
    );
    let mut bidirectional = config("gemma-2-2b-it.json");
    bidirectional["use_bidirectional_attention"] = json!(true);
    assert_eq!(
        error_message(&bidirectional),
        "config.json: `use_bidirectional_attention` = true is not supported: bidirectional \
         attention makes the decoder an encoder, which is not modelled"
    );
}

/// Falcon-40B (`new_decoder_architecture`: 8 key/value heads, `ln_attn` and `ln_mlp` side by
/// side): 41,303,293,952 parameters with the head tied, as transformers counts it. The Hugging
/// Face Hub's safetensors parameter count for tiiuae/falcon-40b, 41,835,970,560, is that plus
/// one 65024 × 8192 matrix: the checkpoint stores `lm_head.weight` as its own tensor beside
/// `transformer.word_embeddings.weight`, although transformers ties the two when it loads.
#[test]
fn falcon_new_decoder_architecture_counts_grouped_fused_qkv_and_two_norms() {
    let graph = import("falcon-40b.json");
    let qkv = 8192 * (128 + 2 * 8) * 64;
    let per_layer = 2 * 2 * 8192 + qkv + 8192 * 8192 + 2 * 8192 * 32768;
    let total = 65024 * 8192 + 60 * per_layer + 2 * 8192;
    assert_eq!(graph.facts.parameters, Some(total));
    assert_eq!(graph.facts.parameters, Some(41_303_293_952));
    assert_eq!(
        total + 65024 * 8192,
        41_835_970_560,
        "the Hub's safetensors count"
    );
    // 2 × 60 layers × 8 key/value heads × 64 × 2 bytes.
    assert_eq!(graph.kv_cache_bytes_per_token(2.0), Some(122_880.0));
    assert_eq!(graph.facts.family.as_deref(), Some("falcon"));
    assert_eq!(graph.facts.kv_heads, Some(8));
    assert_eq!(graph.facts.max_sequence_length, Some(2048));
    assert_eq!(graph.facts.tie_word_embeddings, Some(true));
    // Embeddings; two norms, attention, MLP and one add per layer; final norm; head.
    assert_eq!(graph.nodes.len(), 1 + 60 * 5 + 2);
    let node = |id: &str| graph.nodes.iter().find(|node| node.id == id).unwrap();
    assert_eq!(
        node("layers.0.attention_norm").name,
        "transformer.h.0.ln_attn"
    );
    assert_eq!(node("layers.0.mlp_norm").name, "transformer.h.0.ln_mlp");
    assert_eq!(node("layers.0.attention").parameters, qkv + 8192 * 8192);
    assert_eq!(
        node("layers.0.attention").attributes["fused_qkv"],
        json!(true)
    );
    assert_eq!(node("layers.0.residual").input_shapes.len(), 3);
    let edge = |from: &str, to: &str| {
        graph
            .edges
            .iter()
            .find(|edge| edge.from == from && edge.to == to)
            .map(|edge| edge.tensor.clone())
    };
    assert_eq!(edge("embeddings", "layers.0.attention_norm"), Some(None));
    assert_eq!(edge("embeddings", "layers.0.mlp_norm"), Some(None));
    assert_eq!(edge("layers.0.attention", "layers.0.residual"), Some(None));
    assert_eq!(edge("layers.0.mlp", "layers.0.residual"), Some(None));
    assert_eq!(
        edge("embeddings", "layers.0.residual"),
        Some(Some("residual".to_owned()))
    );
    assert_eq!(
        edge("layers.0.residual", "layers.1.attention_norm"),
        Some(None)
    );
    assert_eq!(edge("layers.59.residual", "final_norm"), Some(None));

    // Falcon2-11B keeps one norm for both branches; `num_kv_heads` must divide the heads.
    let mut one_norm = config("falcon-40b.json");
    one_norm["num_ln_in_parallel_attn"] = json!(1);
    let facts = from_hf_config_str(&one_norm.to_string(), "f")
        .unwrap()
        .facts;
    assert_eq!(facts.parameters, Some(41_303_293_952 - 60 * 2 * 8192));
    one_norm["num_ln_in_parallel_attn"] = json!(3);
    assert_eq!(
        error_message(&one_norm),
        "config.json: `num_ln_in_parallel_attn` must be a positive integer no larger than 2, \
         found 3"
    );
    let mut uneven = config("falcon-40b.json");
    uneven["num_kv_heads"] = json!(7);
    assert_eq!(
        error_message(&uneven),
        "config.json: `num_attention_heads` (128) must be a multiple of `num_kv_heads` (7) for \
         grouped-query attention"
    );
}

/// Falcon-7B (multi-query, one shared `input_layernorm` for parallel attention and MLP):
/// 6,921,720,704 parameters with the head tied. The Hugging Face Hub's safetensors parameter
/// count for tiiuae/falcon-7b, 7,217,189,760 (the model card rounds to 7B), is that plus the
/// separately stored 65024 × 4544 `lm_head.weight`, as for Falcon-40B. By the architecture:
/// `query_key_value` 4544 × (4544 + 2 · 64), `dense` 4544², the MLP 2 × 4544 × 18176, one
/// LayerNorm of 2 × 4544 per layer, `ln_f`, and the 65024 × 4544 embedding.
#[test]
fn falcon_7b_shares_one_key_value_head_and_one_norm() {
    let graph = import("falcon-7b.json");
    let per_layer = 2 * 4544 + 4544 * (4544 + 2 * 64) + 4544 * 4544 + 2 * 4544 * 18176;
    assert_eq!(
        graph.facts.parameters,
        Some(65024 * 4544 + 32 * per_layer + 2 * 4544)
    );
    assert_eq!(graph.facts.parameters, Some(6_921_720_704));
    assert_eq!(
        6_921_720_704u64 + 65024 * 4544,
        7_217_189_760,
        "the Hub's safetensors count"
    );
    // `multi_query` wins over the config's `num_kv_heads` (71): one key/value head, so
    // 2 × 32 × 1 × 64 × 2 bytes per token.
    assert_eq!(graph.facts.kv_heads, Some(1));
    assert_eq!(graph.kv_cache_bytes_per_token(2.0), Some(8192.0));
    assert_eq!(graph.nodes.len(), 1 + 32 * 4 + 2);
    let node = |id: &str| graph.nodes.iter().find(|node| node.id == id).unwrap();
    assert_eq!(
        node("layers.0.attention_norm").name,
        "transformer.h.0.input_layernorm"
    );
    assert!(
        graph
            .nodes
            .iter()
            .all(|node| node.id != "layers.0.mlp_norm")
    );
    assert!(
        graph
            .edges
            .iter()
            .any(|edge| edge.from == "layers.0.attention_norm" && edge.to == "layers.0.mlp")
    );
    assert_eq!(
        node("embeddings").attributes["position_encoding"],
        json!("rotary")
    );

    // Falcon-RW style: sequential blocks, biases, ALiBi, full multi-head attention.
    let mut rw = config("falcon-7b.json");
    rw["parallel_attn"] = json!(false);
    rw["bias"] = json!(true);
    rw["alibi"] = json!(true);
    rw["multi_query"] = json!(false);
    let graph = from_hf_config_str(&rw.to_string(), "f").unwrap();
    let per_layer = 2 * 2 * 4544
        + (4544 * 3 * 4544 + 3 * 4544)
        + (4544 * 4544 + 4544)
        + (4544 * 18176 + 18176)
        + (18176 * 4544 + 4544);
    assert_eq!(
        graph.facts.parameters,
        Some(65024 * 4544 + 32 * per_layer + 2 * 4544)
    );
    assert_eq!(graph.facts.kv_heads, Some(71));
    assert_eq!(
        graph.nodes[0].attributes["position_encoding"],
        json!("alibi")
    );
    assert!(graph.nodes.iter().any(|node| node.id == "layers.0.mlp_norm"
        && node.name == "transformer.h.0.post_attention_layernorm"));

    let mut uneven = config("falcon-7b.json");
    uneven["hidden_size"] = json!(4545);
    assert_eq!(
        error_message(&uneven),
        "config.json: `hidden_size` (4545) must be divisible by `num_attention_heads` (71)"
    );
}

/// t5-base: 222,903,552 parameters, as transformers counts `T5ForConditionalGeneration`
/// (`model.num_parameters()`) and KerasHub's `t5_base` preset publishes. By the
/// architecture: `shared` 32128 × 768, tied to the head; 12 encoder layers of four 768²
/// projections, `wi` and `wo` 768 × 3072 and two norms; 12 decoder layers adding a
/// cross-attention block and a third norm; a 32 × 12 relative bias in each stack's first
/// layer; two final norms.
#[test]
fn t5_counts_encoder_decoder_cross_attention_and_relative_bias() {
    let graph = import("t5-base.json");
    let attention = 4 * 768 * 768;
    let mlp = 2 * 768 * 3072;
    let encoder = 12 * (attention + mlp + 2 * 768) + 32 * 12 + 768;
    let decoder = 12 * (2 * attention + mlp + 3 * 768) + 32 * 12 + 768;
    assert_eq!(
        graph.facts.parameters,
        Some(32128 * 768 + encoder + decoder)
    );
    assert_eq!(graph.facts.parameters, Some(222_903_552));
    assert_eq!(graph.facts.architecture, Some(Architecture::EncoderDecoder));
    assert_eq!(graph.facts.family.as_deref(), Some("t5"));
    // The decoder's 12 layers hold the cache: self-attention K and V per generated token,
    // cross-attention K and V per source token, 2 × 12 × 12 × 64 × 2 bytes each.
    assert_eq!(graph.facts.layers, Some(12));
    assert_eq!(graph.kv_cache_bytes_per_token(2.0), Some(36_864.0));
    assert_eq!(
        graph.facts.kv_cache_bytes_per_token,
        Some(36_864),
        "no dtype: 16-bit"
    );
    assert_eq!(graph.facts.head_dim, Some(64));
    assert_eq!(graph.facts.attention_blocks, Some(36));
    assert_eq!(graph.facts.tie_word_embeddings, Some(true));
    // Embedding; 6 nodes per encoder layer, its final norm; 9 per decoder layer, its final
    // norm; head.
    assert_eq!(graph.nodes.len(), 1 + 12 * 6 + 1 + 12 * 9 + 1 + 1);
    let node = |id: &str| graph.nodes.iter().find(|node| node.id == id).unwrap();
    assert_eq!(
        node("encoder.layers.0.attention").parameters,
        attention + 32 * 12
    );
    assert_eq!(node("encoder.layers.1.attention").parameters, attention);
    assert_eq!(
        node("encoder.layers.0.attention").attributes["causal"],
        json!(false)
    );
    assert_eq!(
        node("decoder.layers.0.attention").parameters,
        attention + 32 * 12
    );
    assert_eq!(
        node("decoder.layers.0.attention").attributes["causal"],
        json!(true)
    );
    assert_eq!(
        node("decoder.layers.0.cross_attention").parameters,
        attention
    );
    assert_eq!(
        node("decoder.layers.5.cross_attention").name,
        "decoder.block.5.layer.1.EncDecAttention"
    );
    assert_eq!(
        node("encoder.layers.3.mlp").name,
        "encoder.block.3.layer.1.DenseReluDense"
    );
    assert_eq!(
        node("encoder.layers.0.mlp").attributes["gated"],
        json!(false)
    );
    assert_eq!(
        node("encoder.layers.0.mlp").attributes["activation"],
        json!("relu")
    );
    assert_eq!(node("lm_head").name, "lm_head (tied to shared)");
    assert_eq!(
        node("embeddings").attributes["position_encoding"],
        json!("relative")
    );
    let edge = |from: &str, to: &str| {
        graph
            .edges
            .iter()
            .find(|edge| edge.from == from && edge.to == to)
            .map(|edge| edge.tensor.clone())
    };
    assert_eq!(
        edge("embeddings", "encoder.layers.0.attention_norm"),
        Some(None)
    );
    assert_eq!(
        edge("embeddings", "decoder.layers.0.attention_norm"),
        Some(None)
    );
    assert_eq!(
        edge("encoder.final_norm", "decoder.layers.7.cross_attention"),
        Some(Some("encoder_hidden_states".to_owned()))
    );
    assert_eq!(edge("decoder.final_norm", "lm_head"), Some(None));
    assert_eq!(edge("encoder.final_norm", "lm_head"), None);

    // Fewer decoder layers, no relative bias, and a bad projection.
    let mut shallow = config("t5-base.json");
    shallow["num_decoder_layers"] = json!(6);
    shallow["relative_attention_num_buckets"] = json!(0);
    let facts = from_hf_config_str(&shallow.to_string(), "t").unwrap().facts;
    assert_eq!(
        facts.parameters,
        Some(222_903_552 - 6 * (2 * attention + mlp + 3 * 768) - 2 * 32 * 12)
    );
    assert_eq!(facts.layers, Some(6));
    let mut bad = config("t5-base.json");
    bad["feed_forward_proj"] = json!("gated-gelu-new");
    assert_eq!(
        error_message(&bad),
        "config.json: `feed_forward_proj` must be \"relu\", \"gated-gelu\" or another \"ACT\" \
         or \"gated-ACT\", found \"gated-gelu-new\""
    );
    let mut missing = config("t5-base.json");
    missing.as_object_mut().unwrap().remove("d_kv");
    assert_eq!(
        error_message(&missing),
        "config.json: missing required key `d_kv`"
    );
}

/// FLAN-T5-base: 247,577,856 parameters, as transformers counts google/flan-t5-base
/// (`model.num_parameters()`) and KerasHub's `t5_1.1_base` preset (the same shapes)
/// publishes. T5 1.1's gated-GELU MLP (`wi_0`, `wi_1` 768 × 2048, `wo`) and an untied head
/// 768 × 32128 on t5-base's layout.
#[test]
fn flan_t5_has_a_gated_mlp_and_an_untied_head() {
    let graph = import("flan-t5-base.json");
    let attention = 4 * 768 * 768;
    let mlp = 3 * 768 * 2048;
    let encoder = 12 * (attention + mlp + 2 * 768) + 32 * 12 + 768;
    let decoder = 12 * (2 * attention + mlp + 3 * 768) + 32 * 12 + 768;
    assert_eq!(
        graph.facts.parameters,
        Some(2 * 32128 * 768 + encoder + decoder)
    );
    assert_eq!(graph.facts.parameters, Some(247_577_856));
    assert_eq!(graph.facts.tie_word_embeddings, Some(false));
    assert_eq!(graph.facts.dtype, Some(Precision::Fp32));
    let mlp_node = graph
        .nodes
        .iter()
        .find(|node| node.id == "decoder.layers.11.mlp")
        .unwrap();
    assert_eq!(mlp_node.attributes["gated"], json!(true));
    assert_eq!(mlp_node.attributes["activation"], json!("gelu_new"));
    assert_eq!(mlp_node.parameters, mlp);
}

#[test]
fn gpt2_defaults_apply_when_keys_are_absent() {
    let graph = import("gpt2-medium.json");
    assert_eq!(graph.facts.intermediate_size, Some(4096));
    assert_eq!(graph.facts.max_sequence_length, Some(1024));
    assert_eq!(graph.facts.dtype, None);
    let lm_head = graph
        .nodes
        .iter()
        .find(|node| node.id == "lm_head")
        .unwrap();
    assert_eq!(lm_head.parameters, 0, "tied to wte");
    assert_eq!(lm_head.attributes["tied"], json!(true));

    // Untying adds a bias-free `n_embd × vocab` head.
    let mut untied = config("gpt2.json");
    untied["tie_word_embeddings"] = json!(false);
    let graph = from_hf_config_str(&untied.to_string(), "gpt2.json").unwrap();
    assert_eq!(graph.facts.parameters, Some(124_439_808 + 768 * 50257));
}

#[test]
fn llama_like_defaults_follow_each_config_class() {
    let mut mistral = config("mistral-7b-v0.1.json");
    let object = mistral.as_object_mut().unwrap();
    object.remove("num_key_value_heads");
    object.remove("max_position_embeddings");
    let facts = from_hf_config_str(&mistral.to_string(), "m").unwrap().facts;
    assert_eq!(facts.kv_heads, Some(8), "MistralConfig default");
    assert_eq!(facts.max_sequence_length, Some(131072));

    // Null means "same as the query heads" (the backward-compatible path).
    mistral["num_key_value_heads"] = Value::Null;
    let facts = from_hf_config_str(&mistral.to_string(), "m").unwrap().facts;
    assert_eq!(facts.kv_heads, Some(32));

    let mut llama = config("llama-2-13b.json");
    llama.as_object_mut().unwrap().remove("num_key_value_heads");
    llama["tie_word_embeddings"] = json!(true);
    let graph = from_hf_config_str(&llama.to_string(), "l").unwrap();
    assert_eq!(graph.facts.kv_heads, Some(40));
    assert_eq!(graph.facts.parameters, Some(13_015_864_320 - 32000 * 5120));

    // Llama's `attention_bias` adds q, k, v, o biases; `head_dim` overrides hidden / heads.
    let mut biased = config("llama-2-7b.json");
    biased["attention_bias"] = json!(true);
    let graph = from_hf_config_str(&biased.to_string(), "l").unwrap();
    assert_eq!(graph.facts.parameters, Some(6_738_415_616 + 32 * 4 * 4096));
    let mut wide_heads = config("llama-2-7b.json");
    wide_heads["head_dim"] = json!(256);
    let graph = from_hf_config_str(&wide_heads.to_string(), "l").unwrap();
    assert_eq!(graph.facts.head_dim, Some(256));
    assert_eq!(
        graph.facts.parameters,
        Some(6_738_415_616 + 32 * 4 * 4096 * 4096)
    );
}

#[test]
fn bert_variants() {
    let minilm = import("all-minilm-l6-v2.json");
    assert_eq!(minilm.facts.family.as_deref(), Some("bert"));
    assert!(minilm.nodes.iter().any(|node| node.id == "pooler"));
    let distilbert = import("distilbert-base-uncased.json");
    assert!(!distilbert.nodes.iter().any(|node| node.id == "pooler"));

    // Relative position types add a (2 · positions − 1) × head_dim table per layer.
    let mut relative = config("bert-base-uncased.json");
    relative["position_embedding_type"] = json!("relative_key");
    let graph = from_hf_config_str(&relative.to_string(), "b").unwrap();
    assert_eq!(
        graph.facts.parameters,
        Some(109_482_240 + 12 * (2 * 512 - 1) * 64)
    );
}

#[test]
fn family_falls_back_to_architectures() {
    let mut roberta = config("roberta-base.json");
    roberta.as_object_mut().unwrap().remove("model_type");
    let graph = from_hf_config_str(&roberta.to_string(), "r").unwrap();
    assert_eq!(graph.facts.family.as_deref(), Some("roberta"));
    assert_eq!(graph.facts.parameters, Some(124_645_632));

    let mut moe = config("qwen2-1.5b.json");
    moe.as_object_mut().unwrap().remove("model_type");
    moe["architectures"] = json!(["Qwen2MoeForCausalLM"]);
    assert_eq!(
        error_message(&moe),
        format!(
            "config.json: unsupported architectures `Qwen2MoeForCausalLM`: supported model \
             types are {}",
            SUPPORTED_MODEL_TYPES.join(", ")
        )
    );
}

#[test]
fn supported_model_types_are_listed_in_order() {
    assert_eq!(
        SUPPORTED_MODEL_TYPES.join(", "),
        "bert, roberta, distilbert, gpt2, llama, mistral, mixtral, qwen2, phi3, qwen3, qwen3_moe, \
         gemma2, falcon, t5"
    );
}

#[test]
fn graph_follows_data_flow_with_residuals() {
    let graph = import("llama-2-13b.json");
    // Embeddings, six nodes per layer, final norm, head.
    assert_eq!(graph.nodes.len(), 1 + 40 * 6 + 2);
    let edge = |from: &str, to: &str| {
        graph
            .edges
            .iter()
            .find(|edge| edge.from == from && edge.to == to)
            .unwrap_or_else(|| panic!("no edge {from} -> {to}"))
            .tensor
            .clone()
    };
    assert_eq!(edge("embeddings", "layers.0.attention_norm"), None);
    assert_eq!(edge("layers.0.attention_norm", "layers.0.attention"), None);
    assert_eq!(
        edge("layers.0.attention", "layers.0.attention_residual"),
        None
    );
    assert_eq!(
        edge("embeddings", "layers.0.attention_residual").as_deref(),
        Some("residual")
    );
    assert_eq!(
        edge("layers.0.attention_residual", "layers.0.mlp_residual").as_deref(),
        Some("residual")
    );
    assert_eq!(edge("layers.39.mlp_residual", "final_norm"), None);
    assert_eq!(edge("final_norm", "lm_head"), None);

    let attention = &graph.nodes[2];
    assert_eq!(attention.id, "layers.0.attention");
    assert_eq!(attention.op_type, "Attention");
    assert_eq!(attention.name, "model.layers.0.self_attn");
    assert_eq!(attention.attributes["heads"], json!(40));
    assert_eq!(attention.attributes["kv_heads"], json!(40));
    assert_eq!(attention.attributes["head_dim"], json!(128));
    assert_eq!(attention.parameters, 4 * 5120 * 5120);
    assert_eq!(attention.dtype, Some(Precision::Fp16));
    assert_eq!(graph.nodes[1].op_type, "SimplifiedLayerNormalization");
    assert_eq!(graph.nodes[1].parameters, 5120);

    // BERT is post-norm: the add feeds the norm, and the norm feeds the next layer.
    let bert = import("bert-base-uncased.json");
    let ids: Vec<&str> = bert
        .nodes
        .iter()
        .take(8)
        .map(|node| node.id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "embeddings",
            "embeddings.norm",
            "layers.0.attention",
            "layers.0.attention_residual",
            "layers.0.attention_norm",
            "layers.0.mlp",
            "layers.0.mlp_residual",
            "layers.0.mlp_norm",
        ]
    );
    assert_eq!(bert.nodes[1].op_type, "LayerNormalization");
    assert!(
        bert.edges
            .iter()
            .any(|edge| edge.from == "layers.11.mlp_norm" && edge.to == "pooler")
    );
}

#[test]
fn errors_name_the_source_and_the_key() {
    let base = config("llama-2-13b.json");
    let with = |key: &str, value: Value| {
        let mut changed = base.clone();
        changed[key] = value;
        error_message(&changed)
    };
    assert_eq!(
        with("hidden_size", json!("big")),
        "config.json: `hidden_size` must be a positive integer, found \"big\""
    );
    assert_eq!(
        with("num_hidden_layers", json!(1_000_000_000_000u64)),
        "config.json: `num_hidden_layers` must be a positive integer no larger than 65535, \
         found 1000000000000"
    );
    assert_eq!(
        with("num_hidden_layers", json!(0)),
        "config.json: `num_hidden_layers` must be a positive integer, found 0"
    );
    assert_eq!(
        with("num_attention_heads", json!(-4)),
        "config.json: `num_attention_heads` must be a positive integer, found -4"
    );
    assert_eq!(
        with("vocab_size", json!(32000.5)),
        "config.json: `vocab_size` must be a positive integer, found 32000.5"
    );
    assert_eq!(
        with("hidden_size", json!(5121)),
        "config.json: `hidden_size` (5121) must be divisible by `num_attention_heads` (40)"
    );
    assert_eq!(
        with("num_key_value_heads", json!(7)),
        "config.json: `num_attention_heads` (40) must be a multiple of `num_key_value_heads` \
         (7) for grouped-query attention"
    );
    assert_eq!(
        with("tie_word_embeddings", json!("no")),
        "config.json: `tie_word_embeddings` must be true or false, found \"no\""
    );
    assert_eq!(
        with("model_type", json!("bloom")),
        format!(
            "config.json: unsupported model_type `bloom`: supported model types are {}",
            SUPPORTED_MODEL_TYPES.join(", ")
        )
    );
    assert_eq!(
        with("torch_dtype", json!(16)),
        "config.json: `torch_dtype` must be a dtype name such as \"bfloat16\", found 16"
    );

    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("hidden_size");
    assert_eq!(
        error_message(&missing),
        "config.json: missing required key `hidden_size`"
    );
    let mut null = base.clone();
    null["vocab_size"] = Value::Null;
    assert_eq!(
        error_message(&null),
        "config.json: missing required key `vocab_size`"
    );

    assert_eq!(
        error_message(&json!({"hidden_size": 8})),
        format!(
            "config.json: neither `model_type` nor `architectures` names the model family: \
             supported model types are {}",
            SUPPORTED_MODEL_TYPES.join(", ")
        )
    );
    assert_eq!(
        error_message(&json!([1, 2])),
        "config.json: expected a JSON object at the top level, found an array"
    );

    let mut mixtral = config("mixtral-8x7b-v0.1.json");
    mixtral["num_experts_per_tok"] = json!(9);
    assert_eq!(
        error_message(&mixtral),
        "config.json: `num_experts_per_tok` (9) must not exceed `num_local_experts` (8)"
    );
    let mut cross = config("gpt2.json");
    cross["add_cross_attention"] = json!(true);
    assert_eq!(
        error_message(&cross),
        "config.json: `add_cross_attention` = true is not supported: cross-attention layers \
         (an encoder-decoder setup) are not counted"
    );
}

#[test]
fn huge_products_overflow_into_an_error() {
    let mut huge = config("mixtral-8x7b-v0.1.json");
    huge["num_hidden_layers"] = json!(65535);
    huge["hidden_size"] = json!(1 << 20);
    huge["intermediate_size"] = json!(1 << 20);
    huge["num_local_experts"] = json!(1 << 16);
    huge["num_attention_heads"] = json!(1 << 16);
    huge["num_key_value_heads"] = json!(1 << 16);
    let error = from_hf_config_str(&huge.to_string(), "config.json").unwrap_err();
    assert!(
        matches!(error.kind(), ImportErrorKind::Overflow { .. }),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "config.json: the parameter count of the whole model overflows a 64-bit integer"
    );
}

#[test]
fn malformed_json_reports_line_and_column() {
    let error =
        from_hf_config_str("{\n  \"model_type\": \"bert\",\n  oops\n}", "config.json").unwrap_err();
    assert_eq!(
        error.to_string(),
        "config.json: malformed JSON at line 3, column 3: key must be a string"
    );
    assert!(matches!(
        error.kind(),
        ImportErrorKind::Json {
            line: 3,
            column: 3,
            ..
        }
    ));
    assert_eq!(error.source_name(), "config.json");
}

#[test]
fn unrecognized_dtype_is_a_warning_not_an_error() {
    let mut float64 = config("llama-2-13b.json");
    float64["torch_dtype"] = json!("float64");
    let imported = import_bytes(float64.to_string().as_bytes(), "config.json").unwrap();
    assert_eq!(imported.graph.facts.dtype, None);
    assert_eq!(
        imported.warnings,
        [ImportWarning::UnrecognizedDtype {
            key: "torch_dtype".to_owned(),
            value: "float64".to_owned()
        }]
    );

    // Newer transformers write `dtype`.
    let mut newer = config("llama-2-13b.json");
    let object = newer.as_object_mut().unwrap();
    object.remove("torch_dtype");
    object.insert("dtype".to_owned(), json!("bfloat16"));
    let graph = from_hf_config_str(&newer.to_string(), "c").unwrap();
    assert_eq!(graph.facts.dtype, Some(Precision::Bf16));
}

#[test]
fn name_comes_from_name_or_path() {
    assert_eq!(
        import("llama-2-7b.json").name.as_deref(),
        Some("meta-llama/Llama-2-7b-hf")
    );
    assert_eq!(import("gpt2.json").name, None);
}
