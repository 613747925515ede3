//! A minimal protobuf writer for ONNX test models: nodes, initializers (dims and data type
//! only, or external data) and graph inputs, with the ONNX schema's field numbers.

#![allow(dead_code, reason = "shared with the bench, which uses a subset")]

/// A node: name, op type, inputs, outputs, integer attributes.
pub struct Node<'a> {
    pub name: &'a str,
    pub op_type: &'a str,
    pub inputs: &'a [&'a str],
    pub outputs: &'a [&'a str],
    pub ints: &'a [(&'a str, i64)],
}

/// An initializer: name, dims, data type, optional external location.
pub struct Initializer<'a> {
    pub name: &'a str,
    pub dims: &'a [i64],
    pub data_type: i32,
    pub external: Option<&'a str>,
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn key(out: &mut Vec<u8>, field: u64, wire: u64) {
    varint(out, (field << 3) | wire);
}

fn bytes_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    key(out, field, 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn int_field(out: &mut Vec<u8>, field: u64, value: i64) {
    key(out, field, 0);
    varint(out, value as u64);
}

/// Encodes one node.
pub fn node(out: &mut Vec<u8>, node: &Node<'_>) {
    let mut body = Vec::new();
    for input in node.inputs {
        bytes_field(&mut body, 1, input.as_bytes());
    }
    for output in node.outputs {
        bytes_field(&mut body, 2, output.as_bytes());
    }
    bytes_field(&mut body, 3, node.name.as_bytes());
    bytes_field(&mut body, 4, node.op_type.as_bytes());
    for (name, value) in node.ints {
        let mut attribute = Vec::new();
        bytes_field(&mut attribute, 1, name.as_bytes());
        int_field(&mut attribute, 3, *value);
        int_field(&mut attribute, 20, 2);
        bytes_field(&mut body, 5, &attribute);
    }
    bytes_field(out, 1, &body);
}

/// Encodes one initializer into a graph body.
pub fn initializer(out: &mut Vec<u8>, tensor: &Initializer<'_>) {
    let mut body = Vec::new();
    for dim in tensor.dims {
        int_field(&mut body, 1, *dim);
    }
    int_field(&mut body, 2, i64::from(tensor.data_type));
    bytes_field(&mut body, 8, tensor.name.as_bytes());
    if let Some(location) = tensor.external {
        let mut entry = Vec::new();
        bytes_field(&mut entry, 1, b"location");
        bytes_field(&mut entry, 2, location.as_bytes());
        bytes_field(&mut body, 13, &entry);
        int_field(&mut body, 14, 1);
    }
    bytes_field(out, 5, &body);
}

/// Encodes a graph input without a type.
pub fn input(out: &mut Vec<u8>, name: &str) {
    let mut body = Vec::new();
    bytes_field(&mut body, 1, name.as_bytes());
    bytes_field(out, 11, &body);
}

/// Wraps a graph body into a model (IR version 8, opset 17).
pub fn model(graph: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    int_field(&mut out, 1, 8);
    bytes_field(&mut out, 7, graph);
    let mut opset = Vec::new();
    int_field(&mut opset, 2, 17);
    bytes_field(&mut out, 8, &opset);
    out
}

/// A model of `layers` pre-norm transformer layers with decomposed attention, decomposed
/// LayerNorm and a SiLU-gated MLP: 40 nodes per layer.
pub fn transformer(layers: usize) -> Vec<u8> {
    let mut graph = Vec::new();
    input(&mut graph, "x0");
    for (name, dims) in [("w", &[64i64, 64][..]), ("gamma", &[64]), ("beta", &[64])] {
        initializer(
            &mut graph,
            &Initializer {
                name,
                dims,
                data_type: 1,
                external: None,
            },
        );
    }
    for layer in 0..layers {
        let t = |name: &str| format!("l{layer}.{name}");
        let x = format!("x{layer}");
        let next = format!("x{}", layer + 1);
        let steps: Vec<(&str, Vec<String>, String)> = vec![
            // LayerNorm, decomposed.
            ("ReduceMean", vec![x.clone()], t("mean")),
            ("Sub", vec![x.clone(), t("mean")], t("centered")),
            ("Pow", vec![t("centered"), "two".into()], t("square")),
            ("ReduceMean", vec![t("square")], t("variance")),
            ("Add", vec![t("variance"), "eps".into()], t("variance_eps")),
            ("Sqrt", vec![t("variance_eps")], t("std")),
            ("Div", vec![t("centered"), t("std")], t("normalized")),
            ("Mul", vec![t("normalized"), "gamma".into()], t("scaled")),
            ("Add", vec![t("scaled"), "beta".into()], t("ln")),
            // Attention, decomposed.
            ("MatMul", vec![t("ln"), "w".into()], t("q")),
            ("MatMul", vec![t("ln"), "w".into()], t("k")),
            ("MatMul", vec![t("ln"), "w".into()], t("v")),
            ("Reshape", vec![t("q"), "shape".into()], t("q4")),
            ("Transpose", vec![t("q4")], t("qh")),
            ("Reshape", vec![t("k"), "shape".into()], t("k4")),
            ("Transpose", vec![t("k4")], t("kh")),
            ("Reshape", vec![t("v"), "shape".into()], t("v4")),
            ("Transpose", vec![t("v4")], t("vh")),
            ("MatMul", vec![t("qh"), t("kh")], t("scores")),
            ("Div", vec![t("scores"), "scale".into()], t("scaled_scores")),
            ("Add", vec![t("scaled_scores"), "mask".into()], t("masked")),
            ("Softmax", vec![t("masked")], t("probs")),
            ("MatMul", vec![t("probs"), t("vh")], t("context")),
            ("Transpose", vec![t("context")], t("context_t")),
            ("Reshape", vec![t("context_t"), "shape".into()], t("merged")),
            ("MatMul", vec![t("merged"), "w".into()], t("attn_out")),
            ("Add", vec![x.clone(), t("attn_out")], t("h")),
            // SiLU-gated MLP.
            ("MatMul", vec![t("h"), "w".into()], t("gate")),
            ("MatMul", vec![t("h"), "w".into()], t("up")),
            ("Sigmoid", vec![t("gate")], t("sig")),
            ("Mul", vec![t("gate"), t("sig")], t("silu")),
            ("Mul", vec![t("silu"), t("up")], t("gated")),
            ("MatMul", vec![t("gated"), "w".into()], t("down")),
            ("Add", vec![t("h"), t("down")], t("h2")),
            ("Relu", vec![t("h2")], t("r1")),
            ("Neg", vec![t("r1")], t("r2")),
            ("Neg", vec![t("r2")], t("r3")),
            ("Relu", vec![t("r3")], t("r4")),
            ("Abs", vec![t("r4")], t("r5")),
            ("Identity", vec![t("r5")], next),
        ];
        for (index, (op_type, inputs, output)) in steps.iter().enumerate() {
            let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            let name = format!("l{layer}.n{index}");
            node(
                &mut graph,
                &Node {
                    name: &name,
                    op_type,
                    inputs: &inputs,
                    outputs: &[output.as_str()],
                    ints: &[],
                },
            );
        }
    }
    for constant in ["two", "eps", "shape", "scale", "mask"] {
        node(
            &mut graph,
            &Node {
                name: constant,
                op_type: "Constant",
                inputs: &[],
                outputs: &[constant],
                ints: &[],
            },
        );
    }
    model(&graph)
}
