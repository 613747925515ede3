//! Property tests: no input, random or mutated, makes an importer panic, and any config the
//! importer accepts yields a consistent graph.

use advisor_graph::{
    detect_format, from_graph_json_str, from_hf_config_str, from_hf_config_value, import_bytes,
};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::{assert_graph_invariants, hf_fixture};

const FIXTURES: &[&str] = &[
    "all-minilm-l6-v2.json",
    "distilbert-base-uncased.json",
    "gpt2-medium.json",
    "qwen2-1.5b.json",
    "roberta-base.json",
    "mixtral-8x7b-v0.1.json",
    "phi-3-mini-4k-instruct.json",
    "qwen3-8b.json",
    "qwen3-30b-a3b.json",
    "gemma-2-2b-it.json",
    "falcon-7b.json",
    "falcon-40b.json",
    "t5-base.json",
    "flan-t5-base.json",
];

/// Keys worth mutating: every key an importer reads, plus the fixtures' own.
const KEYS: &[&str] = &[
    "model_type",
    "architectures",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "intermediate_size",
    "vocab_size",
    "max_position_embeddings",
    "type_vocab_size",
    "position_embedding_type",
    "head_dim",
    "tie_word_embeddings",
    "attention_bias",
    "mlp_bias",
    "num_local_experts",
    "num_experts_per_tok",
    "num_experts",
    "moe_intermediate_size",
    "mlp_only_layers",
    "decoder_sparse_step",
    "use_sliding_window",
    "sliding_window",
    "max_window_layers",
    "layer_types",
    "attn_logit_softcapping",
    "final_logit_softcapping",
    "hidden_activation",
    "use_bidirectional_attention",
    "new_decoder_architecture",
    "multi_query",
    "parallel_attn",
    "num_kv_heads",
    "num_ln_in_parallel_attn",
    "ffn_hidden_size",
    "bias",
    "alibi",
    "activation",
    "d_model",
    "num_layers",
    "num_decoder_layers",
    "num_heads",
    "d_kv",
    "d_ff",
    "relative_attention_num_buckets",
    "feed_forward_proj",
    "torch_dtype",
    "dtype",
    "dim",
    "n_layers",
    "n_heads",
    "hidden_dim",
    "n_embd",
    "n_layer",
    "n_head",
    "n_inner",
    "n_positions",
    "n_ctx",
    "add_cross_attention",
    "hidden_act",
    "_name_or_path",
];

fn json_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        // Small counts keep accepted configs cheap to build; huge ones probe the limits.
        (0u64..64).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|number| json!(number)),
        "\\PC{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("bert"),
            Just("gpt2"),
            Just("mixtral"),
            Just("qwen3"),
            Just("qwen3_moe"),
            Just("gemma2"),
            Just("falcon"),
            Just("t5"),
            Just("gated-gelu"),
            Just("sliding_attention"),
            Just("relative_key"),
            Just("bfloat16")
        ]
        .prop_map(Value::from),
        prop::collection::vec("[A-Za-z0-9]{0,20}", 0..3).prop_map(Value::from),
        Just(json!({"nested": [1, 2]})),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Remove(usize),
    Set(usize, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0..KEYS.len()).prop_map(Mutation::Remove),
        (0..KEYS.len(), json_value()).prop_map(|(key, value)| Mutation::Set(key, value)),
    ]
}

fn mutated(fixture: usize, mutations: &[Mutation]) -> Value {
    let mut config: Value = serde_json::from_str(&hf_fixture(FIXTURES[fixture])).unwrap();
    let object = config.as_object_mut().unwrap();
    for mutation in mutations {
        match mutation {
            Mutation::Remove(key) => {
                object.remove(KEYS[*key]);
            }
            Mutation::Set(key, value) => {
                object.insert(KEYS[*key].to_owned(), value.clone());
            }
        }
    }
    // Keep accepted configs small: a mutated depth is capped so a case builds quickly.
    for key in [
        "num_hidden_layers",
        "n_layers",
        "n_layer",
        "num_layers",
        "num_decoder_layers",
    ] {
        if object
            .get(key)
            .and_then(Value::as_u64)
            .is_some_and(|n| (64..=65535).contains(&n))
        {
            object.insert(key.to_owned(), json!(64));
        }
    }
    config
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = detect_format(&bytes);
        let _ = import_bytes(&bytes, "random");
        let text = String::from_utf8_lossy(&bytes);
        let _ = from_hf_config_str(&text, "random");
        let _ = from_graph_json_str(&text, "random");
    }

    #[test]
    fn mutated_configs_never_panic(
        fixture in 0..FIXTURES.len(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let config = mutated(fixture, &mutations);
        if let Ok(graph) = from_hf_config_value(&config, "mutated") {
            assert_graph_invariants(&graph);
        }
        let _ = import_bytes(config.to_string().as_bytes(), "mutated");
    }

    #[test]
    fn byte_edits_of_a_config_never_panic(
        fixture in 0..FIXTURES.len(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = hf_fixture(FIXTURES[fixture]).into_bytes();
        for (index, byte) in edits {
            let position = index.index(bytes.len());
            bytes[position] = byte;
        }
        let _ = import_bytes(&bytes, "edited");
        let _ = from_hf_config_str(&String::from_utf8_lossy(&bytes), "edited");
    }
}

/// The ONNX fixtures, read once per test process.
fn onnx_fixture(name: &str) -> &'static [u8] {
    use std::sync::OnceLock;
    static BERT: OnceLock<Vec<u8>> = OnceLock::new();
    static GPT2: OnceLock<Vec<u8>> = OnceLock::new();
    let cell = if name == "bert" { &BERT } else { &GPT2 };
    cell.get_or_init(|| {
        let file = if name == "bert" {
            "bert-tiny.onnx"
        } else {
            "gpt2-tiny.onnx"
        };
        std::fs::read(
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/onnx")
                .join(file),
        )
        .unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random bytes, with or without a protobuf- or safetensors-looking start, are an error or
    /// a graph, never a panic.
    #[test]
    fn random_bytes_never_panic_the_binary_importers(
        prefix in prop::sample::select(vec![&b""[..], b"\x08\x08\x3a", b"\x10\x00\x00\x00\x00\x00\x00\x00{"]),
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut input = prefix.to_vec();
        input.extend_from_slice(&bytes);
        let _ = detect_format(&input);
        let _ = import_bytes(&input, "random");
        let _ = advisor_graph::from_onnx_bytes(&input, "random.onnx");
        let _ = advisor_graph::from_safetensors_bytes(&input, "random.safetensors");
    }

    /// The real ONNX files with bytes overwritten, truncated, or both: an error or a graph
    /// whose parameters never exceed what the dims allow, never a panic.
    #[test]
    fn mutated_onnx_files_never_panic(
        which in prop::sample::select(vec!["bert", "gpt2"]),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = onnx_fixture(which).to_vec();
        for (index, value) in edits {
            let at = index.index(bytes.len());
            bytes[at] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Ok(imported) = advisor_graph::from_onnx_bytes(&bytes, "mutated.onnx") {
            let summary = advisor_graph::ModelSummary::new(&imported);
            prop_assert!(summary.attention_blocks.is_some());
        }
    }

    /// Safetensors headers with arbitrary lengths, dtypes, shapes and offsets.
    #[test]
    fn mutated_safetensors_headers_never_panic(
        length in any::<u64>(),
        dtype in prop::sample::select(vec!["F32", "BF16", "I4", "??", "F8_E4M3", "BOOL"]),
        shape in prop::collection::vec(any::<u64>(), 0..4),
        begin in any::<u64>(),
        end in any::<u64>(),
        use_length in any::<bool>(),
    ) {
        let header = json!({"t": {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}})
            .to_string();
        let declared = if use_length { header.len() as u64 } else { length };
        let mut file = declared.to_le_bytes().to_vec();
        file.extend_from_slice(header.as_bytes());
        file.extend_from_slice(&[0; 64]);
        let _ = advisor_graph::from_safetensors_bytes(&file, "m.safetensors");
        let _ = import_bytes(&file, "m.safetensors");
    }
}
