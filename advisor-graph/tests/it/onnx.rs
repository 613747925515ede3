//! The ONNX importer: the fixtures exported by `torch.onnx.export` against the manifest and
//! onnxruntime's fusions, generated graphs for the other patterns, and bad files.

use std::path::PathBuf;

use advisor_core::{Architecture, Dimension};
use advisor_graph::{
    ImportErrorKind, ImportWarning, ModelFormat, ModelSummary, detect_format, from_onnx_bytes,
    import_bytes, import_path,
};
use serde_json::Value;

use crate::onnx_writer::{self, Initializer, Node};

fn onnx_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/onnx")
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(onnx_dir().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn fusion_count(summary: &ModelSummary, pattern: &str) -> u64 {
    summary
        .fusion_opportunities
        .iter()
        .find(|fusion| fusion.pattern == pattern)
        .map_or(0, |fusion| fusion.count)
}

#[test]
fn fixtures_match_the_manifest() {
    let manifest = manifest();
    for name in ["bert-tiny.onnx", "gpt2-tiny.onnx"] {
        let expected = &manifest[name];
        let bytes = std::fs::read(onnx_dir().join(name)).unwrap();
        assert_eq!(detect_format(&bytes), ModelFormat::Onnx, "{name}");
        let imported = from_onnx_bytes(&bytes, name).unwrap();
        let graph = &imported.graph;
        assert_eq!(
            graph.facts.parameters,
            expected["onnx_float_initializer_elements"].as_u64(),
            "{name}"
        );
        assert_eq!(
            graph.nodes.len() as u64,
            expected["onnx_nodes"].as_u64().unwrap(),
            "{name}"
        );
        let summary = ModelSummary::new(&imported);
        let op_counts: Value = serde_json::to_value(&summary.op_counts).unwrap();
        assert_eq!(op_counts, expected["op_types"], "{name}");
        // fp32 weights: 4 bytes per parameter, and no other initializer dtype in these files.
        assert_eq!(
            graph.facts.weight_bytes,
            graph.facts.parameters.map(|p| p * 4)
        );
        assert_eq!(graph.facts.attention_blocks, Some(2), "{name}");
        assert_eq!(graph.facts.layers, Some(2), "{name}");
        assert_eq!(graph.facts.hidden_size, Some(128), "{name}");
        assert_eq!(graph.facts.vocab_size, Some(1024), "{name}");
        // torch.onnx.export at opset 17, with dynamic batch and sequence axes.
        assert_eq!(imported.opset, Some(17), "{name}");
        let input_ids = &imported.inputs[0];
        assert_eq!(input_ids.name, "input_ids", "{name}");
        assert_eq!(input_ids.dtype.as_deref(), Some("int64"), "{name}");
        assert_eq!(
            input_ids.shape,
            [
                Dimension::Symbolic("batch".to_owned()),
                Dimension::Symbolic("seq".to_owned())
            ],
            "{name}"
        );
        assert!(!imported.outputs.is_empty(), "{name}");
        // Node parameters add up to the file's total: every initializer here is used.
        let node_sum: u64 = graph.nodes.iter().map(|node| node.parameters).sum();
        assert_eq!(Some(node_sum), graph.facts.parameters, "{name}");
        let ids: std::collections::HashSet<&str> =
            graph.nodes.iter().map(|node| node.id.as_str()).collect();
        assert_eq!(ids.len(), graph.nodes.len());
        assert!(
            graph
                .edges
                .iter()
                .all(|edge| ids.contains(edge.from.as_str()) && ids.contains(edge.to.as_str()))
        );
    }
}

/// onnxruntime 1.32's `optimize_model` fuses these (`shared/fixtures/README.md`) and reports
/// "Attention not fused"; the advisor finds the fusions and both attention blocks.
#[test]
fn fixtures_show_at_least_what_onnxruntime_fuses() {
    let expectations: [(&str, &[(&str, u64)]); 2] = [
        (
            "bert-tiny.onnx",
            &[
                ("SkipLayerNormalization", 4),
                ("BiasGelu", 2),
                ("LayerNormalization", 1),
                ("Attention", 2),
            ],
        ),
        (
            "gpt2-tiny.onnx",
            &[
                ("SkipLayerNormalization", 4),
                ("FastGelu", 2),
                ("LayerNormalization", 1),
                ("Attention", 2),
            ],
        ),
    ];
    for (name, fusions) in expectations {
        let imported = import_path(&onnx_dir().join(name)).unwrap();
        let summary = ModelSummary::new(&imported);
        for (pattern, count) in fusions {
            assert_eq!(fusion_count(&summary, pattern), *count, "{name} {pattern}");
        }
        let attention = summary
            .fusion_opportunities
            .iter()
            .find(|fusion| fusion.pattern == "Attention")
            .unwrap();
        assert!(attention.nodes.iter().any(|node| node.contains("Softmax")));
        assert!(attention.nodes.iter().any(|node| node.contains("MatMul")));
    }
}

#[test]
fn fixtures_with_their_configs_have_heads_flops_and_kv_cache() {
    let bert = import_path(&onnx_dir().join("bert-tiny.onnx")).unwrap();
    let facts = &bert.graph.facts;
    assert_eq!(facts.architecture, Some(Architecture::Encoder));
    assert_eq!(facts.attention_heads, Some(2));
    assert_eq!(facts.max_sequence_length, Some(128));
    assert_eq!(
        facts.kv_cache_bytes_per_token, None,
        "encoders keep no KV cache"
    );
    assert_eq!(facts.decode_flops_per_token, None);
    // 2 × (parameters − embedding tables) + 4 × 2 layers × 128 (heads × head_dim) × 128
    // positions. The tables: words 1024 × 128, positions 128 × 128, token types 2 × 128.
    let lookup = 1024 * 128 + 128 * 128 + 2 * 128;
    let expected = 2 * (541_696 - lookup) + 4 * 2 * 128 * 128;
    assert_eq!(facts.prefill_flops_per_token, Some(expected));

    let gpt2 = import_path(&onnx_dir().join("gpt2-tiny.onnx")).unwrap();
    let facts = &gpt2.graph.facts;
    assert_eq!(facts.architecture, Some(Architecture::Decoder));
    assert_eq!(facts.attention_heads, Some(4));
    assert_eq!(facts.kv_heads, Some(4));
    // fp32 file: 2 × 2 layers × 4 heads × 32 head_dim × 4 bytes.
    assert_eq!(facts.kv_cache_bytes_per_token, Some(2048));
    let lookup = 1024 * 128 + 128 * 128;
    let weights = 2 * (672_896 - lookup);
    assert_eq!(
        facts.prefill_flops_per_token,
        Some(weights + 2 * 2 * 128 * 129)
    );
    assert_eq!(
        facts.decode_flops_per_token,
        Some(weights + 4 * 2 * 128 * 128)
    );
    assert!(gpt2.warnings.iter().any(|warning| matches!(
        warning,
        ImportWarning::LikelyTiedCopy { first, .. } if first == "model.transformer.wte.weight"
    )));
}

#[test]
fn generated_graph_patterns() {
    let bytes = onnx_writer::transformer(3);
    let imported = from_onnx_bytes(&bytes, "generated.onnx").unwrap();
    let summary = ModelSummary::new(&imported);
    assert_eq!(summary.attention_blocks, Some(3));
    assert_eq!(fusion_count(&summary, "Attention"), 3);
    assert_eq!(fusion_count(&summary, "SiLUGateMLP"), 3);
    // Layers 1 and 2 read the previous layer's output through Identity, not an Add.
    assert_eq!(fusion_count(&summary, "LayerNormalization"), 3);
    let norm = summary
        .fusion_opportunities
        .iter()
        .find(|fusion| fusion.pattern == "LayerNormalization")
        .unwrap();
    assert_eq!(
        &norm.nodes[..9],
        [
            "l0.n0", "l0.n1", "l0.n2", "l0.n3", "l0.n4", "l0.n5", "l0.n6", "l0.n7", "l0.n8"
        ]
    );
    // Relu → Neg → Neg → Relu → Abs, behind the residual Add: element-wise chains.
    assert!(imported.warnings.iter().any(
        |warning| matches!(warning, ImportWarning::ElementwiseChain { nodes } if nodes.len() >= 5)
    ));
}

fn graph_with(nodes: &[Node<'_>], initializers: &[Initializer<'_>]) -> Vec<u8> {
    let mut graph = Vec::new();
    onnx_writer::input(&mut graph, "x");
    for tensor in initializers {
        onnx_writer::initializer(&mut graph, tensor);
    }
    for node in nodes {
        onnx_writer::node(&mut graph, node);
    }
    onnx_writer::model(&graph)
}

#[test]
fn fused_attention_ops_give_heads_and_grouped_query_attention() {
    let bytes = graph_with(
        &[Node {
            name: "gqa",
            op_type: "GroupQueryAttention",
            inputs: &["x"],
            outputs: &["y"],
            ints: &[("num_heads", 32), ("kv_num_heads", 8)],
        }],
        &[],
    );
    let imported = from_onnx_bytes(&bytes, "gqa.onnx").unwrap();
    let facts = &imported.graph.facts;
    assert_eq!(facts.attention_blocks, Some(1));
    assert_eq!(facts.attention_heads, Some(32));
    assert_eq!(facts.kv_heads, Some(8));
    assert_eq!(facts.architecture, Some(Architecture::Decoder));
    // Already fused: not an opportunity.
    assert!(imported.graph.fusion_opportunities.is_empty());
}

#[test]
fn cycles_and_dangling_inputs_are_warnings() {
    let bytes = graph_with(
        &[
            Node {
                name: "a",
                op_type: "Add",
                inputs: &["x", "c"],
                outputs: &["b_in"],
                ints: &[],
            },
            Node {
                name: "b",
                op_type: "Relu",
                inputs: &["b_in"],
                outputs: &["c"],
                ints: &[],
            },
            Node {
                name: "d",
                op_type: "Relu",
                inputs: &["nowhere"],
                outputs: &["e"],
                ints: &[],
            },
        ],
        &[],
    );
    let imported = from_onnx_bytes(&bytes, "bad.onnx").unwrap();
    let messages: Vec<String> = imported.warnings.iter().map(ToString::to_string).collect();
    assert!(
        imported.warnings.contains(&ImportWarning::Cycle {
            node_ids: vec!["a".to_owned(), "b".to_owned()]
        }),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("`d` reads `nowhere`")),
        "{messages:?}"
    );
}

#[test]
fn external_data_is_counted_and_escapes_are_refused() {
    let folder = tempfile::tempdir().unwrap();
    let model = |location: &str| {
        graph_with(
            &[Node {
                name: "m",
                op_type: "MatMul",
                inputs: &["x", "w"],
                outputs: &["y"],
                ints: &[],
            }],
            &[Initializer {
                name: "w",
                dims: &[1000, 1000],
                data_type: 10,
                external: Some(location),
            }],
        )
    };
    std::fs::write(folder.path().join("weights.bin"), vec![0u8; 2_000_000]).unwrap();
    let path = folder.path().join("model.onnx");
    std::fs::write(&path, model("weights.bin")).unwrap();
    let imported = import_path(&path).unwrap();
    assert_eq!(imported.graph.facts.parameters, Some(1_000_000));
    assert_eq!(imported.graph.facts.weight_bytes, Some(2_000_000));
    assert_eq!(
        imported.graph.facts.dtype,
        Some(advisor_core::Precision::Fp16)
    );
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);

    for location in ["../weights.bin", "/etc/passwd", "sub/../../x"] {
        std::fs::write(&path, model(location)).unwrap();
        let error = import_path(&path).unwrap_err();
        assert!(
            matches!(error.kind(), ImportErrorKind::ExternalDataEscapes { .. }),
            "{location}: {error}"
        );
        assert!(error.to_string().contains("leaves the model's folder"));
        // Without a folder, the same locations are refused from the bytes alone.
        assert!(from_onnx_bytes(&model(location), "m.onnx").is_err());
    }

    #[cfg(unix)]
    {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.bin"), vec![0u8; 2_000_000]).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.bin"),
            folder.path().join("link.bin"),
        )
        .unwrap();
        std::fs::write(&path, model("link.bin")).unwrap();
        let error = import_path(&path).unwrap_err();
        assert!(
            matches!(error.kind(), ImportErrorKind::ExternalDataEscapes { .. }),
            "{error}"
        );
    }
}

#[test]
fn bad_onnx_files_are_clear_errors() {
    let real = std::fs::read(onnx_dir().join("bert-tiny.onnx")).unwrap();
    let truncated = from_onnx_bytes(&real[..real.len() / 2], "bert.onnx").unwrap_err();
    assert!(
        truncated
            .to_string()
            .starts_with("bert.onnx: not a valid ONNX model:"),
        "{truncated}"
    );

    let json = from_onnx_bytes(br#"{"model_type": "bert"}"#, "m.onnx").unwrap_err();
    assert_eq!(
        json.to_string(),
        "m.onnx: expected an ONNX model (protobuf), found JSON text"
    );
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("model.onnx");
    std::fs::write(&path, br#"{"model_type": "bert"}"#).unwrap();
    let mismatch = import_path(&path).unwrap_err();
    assert!(
        mismatch
            .to_string()
            .ends_with("expected an ONNX model (protobuf), found JSON text"),
        "{mismatch}"
    );

    let overflow = graph_with(
        &[],
        &[Initializer {
            name: "huge",
            dims: &[1 << 40, 1 << 40],
            data_type: 1,
            external: None,
        }],
    );
    let error = from_onnx_bytes(&overflow, "m.onnx").unwrap_err();
    assert_eq!(
        error.to_string(),
        "m.onnx: tensor `huge`: dims [1099511627776, 1099511627776] overflow a 64-bit element \
         count"
    );
    let negative = graph_with(
        &[],
        &[Initializer {
            name: "neg",
            dims: &[-1, 4],
            data_type: 1,
            external: None,
        }],
    );
    assert!(
        from_onnx_bytes(&negative, "m.onnx")
            .unwrap_err()
            .to_string()
            .contains("negative dimension -1")
    );

    // Subgraphs nested past the decoder's recursion limit: an error, not a stack overflow.
    let mut graph = Vec::new();
    for _ in 0..200 {
        let mut attribute = Vec::new();
        attribute.extend_from_slice(&[0x32]); // field 6 (g), length-delimited
        push_varint(&mut attribute, graph.len() as u64);
        attribute.extend_from_slice(&graph);
        let mut node = vec![0x2a]; // field 5 (attribute)
        push_varint(&mut node, attribute.len() as u64);
        node.extend_from_slice(&attribute);
        graph = vec![0x0a]; // field 1 (node)
        push_varint(&mut graph, node.len() as u64);
        graph.extend_from_slice(&node);
    }
    let deep = onnx_writer::model(&graph);
    let error = import_bytes(&deep, "deep.onnx").unwrap_err();
    assert!(error.to_string().contains("recursion limit"), "{error}");
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A node that lists one output twice is an invalid graph, not a panic.
#[test]
fn a_node_listing_an_output_twice_is_not_a_panic() {
    let bytes = graph_with(
        &[
            Node {
                name: "split",
                op_type: "Split",
                inputs: &["x"],
                outputs: &["y", "y"],
                ints: &[],
            },
            Node {
                name: "relu",
                op_type: "Relu",
                inputs: &["y"],
                outputs: &["z"],
                ints: &[],
            },
        ],
        &[],
    );
    let imported = from_onnx_bytes(&bytes, "twice.onnx").unwrap();
    assert_eq!(imported.graph.nodes.len(), 2);
    assert_eq!(imported.graph.edges.len(), 1);
}

/// One long element-wise chain is reported once, in time linear in its length (every end
/// inside the reported chain is dismissed at its first node).
#[test]
fn a_long_elementwise_chain_is_one_warning() {
    let length = 30_000;
    let tensors: Vec<String> = (0..=length).map(|index| format!("t{index}")).collect();
    let names: Vec<String> = (0..length).map(|index| format!("relu{index}")).collect();
    let mut graph = Vec::new();
    onnx_writer::input(&mut graph, "t0");
    for index in 0..length {
        onnx_writer::node(
            &mut graph,
            &Node {
                name: &names[index],
                op_type: "Relu",
                inputs: &[tensors[index].as_str()],
                outputs: &[tensors[index + 1].as_str()],
                ints: &[],
            },
        );
    }
    let imported = from_onnx_bytes(&onnx_writer::model(&graph), "chain.onnx").unwrap();
    let chains: Vec<usize> = imported
        .warnings
        .iter()
        .filter_map(|warning| match warning {
            ImportWarning::ElementwiseChain { nodes } => Some(nodes.len()),
            _ => None,
        })
        .collect();
    assert_eq!(chains, [length]);
}
