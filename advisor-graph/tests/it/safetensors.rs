//! The safetensors importer: single files, sharded checkpoints with their index, a
//! `config.json` beside them, and malformed headers.

use std::path::Path;

use advisor_core::{Architecture, Precision};
use advisor_graph::{
    ImportErrorKind, ModelFormat, detect_format, from_safetensors_bytes, import_bytes, import_path,
};
use serde_json::{Value, json};

use crate::support::hf_fixture;

/// A safetensors file with zero-filled data for `tensors` (name, dtype, shape); with
/// `data: false` the data section is left out (the header alone, as a sparse test file).
pub fn safetensors_file(tensors: &[(&str, &str, &[u64])], data: bool) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), json!({"format": "pt"}));
    let mut offset = 0u64;
    for (name, dtype, shape) in tensors {
        let bits = match *dtype {
            "F32" | "I32" => 32,
            "F16" | "BF16" => 16,
            "I64" => 64,
            _ => 8,
        };
        let bytes = shape.iter().product::<u64>() * bits / 8;
        header.insert(
            (*name).into(),
            json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    let header = serde_json::to_vec(&Value::Object(header)).unwrap();
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(&header);
    if data {
        file.resize(file.len() + offset as usize, 0);
    }
    file
}

/// Llama-shaped tensors: embeddings, `layers` layers of attention and a SwiGLU MLP, a final
/// norm and an untied head, at small dimensions.
fn llama_tensors(layers: usize) -> Vec<(String, &'static str, Vec<u64>)> {
    let (hidden, inter, vocab, kv) = (64u64, 128u64, 100u64, 32u64);
    let mut tensors = vec![(
        "model.embed_tokens.weight".to_owned(),
        "BF16",
        vec![vocab, hidden],
    )];
    for layer in 0..layers {
        let p = |name: &str| format!("model.layers.{layer}.{name}");
        tensors.extend([
            (p("input_layernorm.weight"), "BF16", vec![hidden]),
            (p("self_attn.q_proj.weight"), "BF16", vec![hidden, hidden]),
            (p("self_attn.k_proj.weight"), "BF16", vec![kv, hidden]),
            (p("self_attn.v_proj.weight"), "BF16", vec![kv, hidden]),
            (p("self_attn.o_proj.weight"), "BF16", vec![hidden, hidden]),
            (p("post_attention_layernorm.weight"), "BF16", vec![hidden]),
            (p("mlp.gate_proj.weight"), "BF16", vec![inter, hidden]),
            (p("mlp.up_proj.weight"), "BF16", vec![inter, hidden]),
            (p("mlp.down_proj.weight"), "BF16", vec![hidden, inter]),
        ]);
    }
    tensors.push(("model.norm.weight".to_owned(), "BF16", vec![hidden]));
    tensors.push(("lm_head.weight".to_owned(), "BF16", vec![vocab, hidden]));
    tensors
}

fn as_refs<'a>(
    tensors: &'a [(String, &'static str, Vec<u64>)],
) -> Vec<(&'a str, &'a str, &'a [u64])> {
    tensors
        .iter()
        .map(|(name, dtype, shape)| (name.as_str(), *dtype, shape.as_slice()))
        .collect()
}

const LLAMA_CONFIG: &str = r#"{
    "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "vocab_size": 100, "max_position_embeddings": 256, "torch_dtype": "bfloat16"
}"#;

/// Parameters of the small Llama above: embeddings and head, 2 layers, final norm.
const LLAMA_PARAMETERS: u64 =
    2 * 100 * 64 + 2 * (64 + 64 * 64 * 2 + 32 * 64 * 2 + 64 + 3 * 128 * 64) + 64;

#[test]
fn single_file_counts_from_the_header() {
    let tensors = llama_tensors(2);
    let file = safetensors_file(&as_refs(&tensors), true);
    assert_eq!(detect_format(&file), ModelFormat::Safetensors);
    let imported = from_safetensors_bytes(&file, "model.safetensors").unwrap();
    let facts = &imported.graph.facts;
    assert_eq!(facts.parameters, Some(LLAMA_PARAMETERS));
    assert_eq!(facts.weight_bytes, Some(LLAMA_PARAMETERS * 2));
    assert_eq!(facts.dtype, Some(Precision::Bf16));
    assert_eq!(facts.layers, Some(2));
    assert_eq!(facts.attention_blocks, Some(2));
    assert_eq!(facts.vocab_size, Some(100));
    assert_eq!(facts.hidden_size, Some(64));
    assert_eq!(facts.architecture, Some(Architecture::Decoder));
    // Same through the generic entry point.
    assert_eq!(
        import_bytes(&file, "model.safetensors")
            .unwrap()
            .graph
            .facts,
        *facts
    );
}

#[test]
fn with_config_beside_it_and_sharded() {
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path();
    std::fs::write(dir.join("config.json"), LLAMA_CONFIG).unwrap();
    let tensors = llama_tensors(2);
    let refs = as_refs(&tensors);
    std::fs::write(dir.join("model.safetensors"), safetensors_file(&refs, true)).unwrap();
    let single = import_path(&dir.join("model.safetensors")).unwrap();
    let facts = &single.graph.facts;
    assert_eq!(facts.parameters, Some(LLAMA_PARAMETERS));
    assert_eq!(facts.attention_heads, Some(4));
    assert_eq!(facts.kv_heads, Some(2));
    assert_eq!(facts.max_sequence_length, Some(256));
    // bf16: 2 × 2 layers × 2 kv heads × 16 head_dim × 2 bytes.
    assert_eq!(facts.kv_cache_bytes_per_token, Some(256));
    assert!(facts.prefill_flops_per_token.is_some());
    assert!(single.warnings.is_empty(), "{:?}", single.warnings);
    // The file holds exactly the configured model, so the module graph comes along.
    assert!(!single.graph.nodes.is_empty());

    // The same tensors in two shards behind an index.
    let (first, second) = refs.split_at(refs.len() / 2);
    std::fs::write(
        dir.join("model-00001-of-00002.safetensors"),
        safetensors_file(first, true),
    )
    .unwrap();
    std::fs::write(
        dir.join("model-00002-of-00002.safetensors"),
        safetensors_file(second, true),
    )
    .unwrap();
    let mut weight_map = serde_json::Map::new();
    for (name, _, _) in first {
        weight_map.insert((*name).into(), "model-00001-of-00002.safetensors".into());
    }
    for (name, _, _) in second {
        weight_map.insert((*name).into(), "model-00002-of-00002.safetensors".into());
    }
    let index = json!({"metadata": {"total_size": LLAMA_PARAMETERS * 2}, "weight_map": weight_map});
    let index_path = dir.join("model.safetensors.index.json");
    std::fs::write(&index_path, index.to_string()).unwrap();
    let sharded = import_path(&index_path).unwrap();
    assert_eq!(sharded.format, ModelFormat::SafetensorsIndex);
    assert_eq!(sharded.graph.facts, single.graph.facts);

    // A shard outside the folder is refused.
    let escape = json!({"weight_map": {"x": "../model.safetensors"}});
    std::fs::write(&index_path, escape.to_string()).unwrap();
    let error = import_path(&index_path).unwrap_err();
    assert!(
        error.to_string().contains("not a file name inside"),
        "{error}"
    );
}

#[test]
fn mixtral_config_gives_active_parameters() {
    let folder = tempfile::tempdir().unwrap();
    let config = hf_fixture("mixtral-8x7b-v0.1.json");
    std::fs::write(folder.path().join("config.json"), &config).unwrap();
    // A header-only file with Mixtral's real tensor list is too large to write here, so one
    // tensor stands in: the config supplies the structure, the file its own count.
    let file = safetensors_file(
        &[("model.embed_tokens.weight", "BF16", &[32000, 4096])],
        true,
    );
    let path = folder.path().join("model.safetensors");
    std::fs::write(&path, file).unwrap();
    let imported = import_path(&path).unwrap();
    let facts = &imported.graph.facts;
    assert_eq!(facts.parameters, Some(32000 * 4096));
    assert_eq!(facts.num_experts, Some(8));
    assert_eq!(facts.experts_per_token, Some(2));
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn bad_safetensors_files_are_clear_errors() {
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path();
    // Header length far past the end of the file: refused before allocating.
    let mut huge = u64::MAX.to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    let error = from_safetensors_bytes(&huge, "m.safetensors").unwrap_err();
    assert_eq!(
        error.to_string(),
        "m.safetensors: invalid safetensors file: the header length 18446744073709551615 is \
         larger than the file (10 bytes)"
    );
    let path = write(dir, "huge.safetensors", &huge);
    let error = import_path(&path).unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("is larger than the file (10 bytes)"),
        "{error}"
    );

    let short = from_safetensors_bytes(b"\x02\x00", "m.safetensors").unwrap_err();
    assert!(
        short
            .to_string()
            .contains("fewer than the 8-byte header length")
    );

    let bad_offsets = {
        let header = br#"{"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 8]}}"#;
        let mut file = (header.len() as u64).to_le_bytes().to_vec();
        file.extend_from_slice(header);
        file.extend_from_slice(&[0; 16]);
        file
    };
    let error = from_safetensors_bytes(&bad_offsets, "m.safetensors").unwrap_err();
    assert_eq!(
        error.to_string(),
        "m.safetensors: tensor `w`: data_offsets [0, 8] hold 8 bytes, but F32 [2, 2] needs 16"
    );
    let overflow = {
        let header = br#"{"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 4294967296], "data_offsets": [0, 8]}}"#;
        let mut file = (header.len() as u64).to_le_bytes().to_vec();
        file.extend_from_slice(header);
        file
    };
    let error = from_safetensors_bytes(&overflow, "m.safetensors").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("overflows a 64-bit element count"),
        "{error}"
    );
    assert!(matches!(
        error.kind(),
        ImportErrorKind::InvalidTensor { .. }
    ));

    let past_end = safetensors_file(&[("w", "F32", &[4])], false);
    let error = from_safetensors_bytes(&past_end, "m.safetensors").unwrap_err();
    assert!(
        error.to_string().contains("past the 0 bytes of data"),
        "{error}"
    );

    let index = write(
        dir,
        "index.json",
        br#"{"weight_map": {"w": "missing.safetensors"}}"#,
    );
    let error = import_path(&index).unwrap_err();
    assert!(error.to_string().contains("no such file"), "{error}");
    let error = import_bytes(br#"{"weight_map": {}}"#, "index.json").unwrap_err();
    assert!(error.to_string().contains("import it by path"), "{error}");
}

/// Layer and expert numbers in tensor names are the file's word, not a size: the largest
/// possible ones are counted without overflow.
#[test]
fn absurd_layer_and_expert_numbers_are_not_a_panic() {
    let file = safetensors_file(
        &[(
            "model.layers.18446744073709551615.mlp.experts.18446744073709551615.w1.weight",
            "F16",
            &[2, 2],
        )],
        true,
    );
    let imported = from_safetensors_bytes(&file, "m.safetensors").unwrap();
    assert_eq!(imported.graph.facts.parameters, Some(4));
    assert_eq!(imported.graph.facts.layers, Some(u64::MAX));
    assert_eq!(imported.graph.facts.num_experts, Some(u64::MAX));
}
