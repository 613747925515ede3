//! ONNX files built to exhaust memory or time: millions of empty elements, a node reading
//! hundreds of thousands of tensors. Each is refused with an error naming the file, or read in
//! linear time.

use std::{sync::mpsc, time::Duration};

use advisor_graph::from_onnx_bytes;

use crate::onnx_writer::{self, Node};

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A length-delimited field.
fn field(out: &mut Vec<u8>, number: u64, payload: &[u8]) {
    varint(out, number << 3 | 2);
    varint(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// Runs `work` on a thread; fails the test when it takes longer than `seconds`.
fn within<T: Send + 'static>(seconds: u64, work: impl FnOnce() -> T + Send + 'static) -> T {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(work());
    });
    receive
        .recv_timeout(Duration::from_secs(seconds))
        .unwrap_or_else(|_| panic!("still running after {seconds} s"))
}

fn refusal(graph: &[u8]) -> String {
    from_onnx_bytes(&onnx_writer::model(graph), "m.onnx")
        .map(|imported| format!("imported {} nodes", imported.graph.nodes.len()))
        .unwrap_or_else(|error| error.to_string())
}

#[test]
fn files_of_empty_elements_are_refused_before_decoding() {
    let million = 1_000_000;
    // Four million empty nodes: 8 MB that would take 1.2 GB to import.
    let nodes = [0x0a, 0x00].repeat(4 * million);
    let message = refusal(&nodes);
    assert!(
        message.starts_with("m.onnx: importing would take about 1831 MiB for 4000000 nodes"),
        "{message}"
    );
    assert!(
        message.ends_with("its elements are nearly empty"),
        "{message}"
    );

    // Past five million nodes, however large each is.
    let mut node = Vec::new();
    field(&mut node, 4, b"Relu");
    let mut many = Vec::new();
    for _ in 0..5 * million + 1 {
        field(&mut many, 1, &node);
    }
    let message = refusal(&many);
    assert_eq!(
        message,
        "m.onnx: more than 5000000 nodes, the most the importer reads"
    );

    // Empty attributes, names, graph inputs and shape dimensions, four million of each.
    let mut attributes = Vec::new();
    field(&mut attributes, 4, b"Relu");
    attributes.extend([0x2a, 0x00].repeat(4 * million));
    let mut graph = Vec::new();
    field(&mut graph, 1, &attributes);
    assert!(
        refusal(&graph).contains("4000000 attributes"),
        "{}",
        refusal(&graph)
    );

    let mut names = Vec::new();
    field(&mut names, 4, b"Relu");
    names.extend([0x0a, 0x00].repeat(4 * million));
    let mut graph = Vec::new();
    field(&mut graph, 1, &names);
    assert!(
        refusal(&graph).contains("4000000 node input/output names"),
        "{}",
        refusal(&graph)
    );

    let inputs = [0x5a, 0x00].repeat(4 * million);
    assert!(
        refusal(&inputs).contains("4000000 graph inputs/outputs"),
        "{}",
        refusal(&inputs)
    );

    let mut shape = Vec::new();
    shape.extend([0x0a, 0x00].repeat(4 * million));
    let mut tensor_type = Vec::new();
    field(&mut tensor_type, 2, &shape);
    let mut value_type = Vec::new();
    field(&mut value_type, 1, &tensor_type);
    let mut value = Vec::new();
    field(&mut value, 1, b"x");
    field(&mut value, 2, &value_type);
    let mut graph = Vec::new();
    field(&mut graph, 11, &value);
    assert!(
        refusal(&graph).contains("4000000 shape dimensions"),
        "{}",
        refusal(&graph)
    );
}

#[test]
fn a_small_file_of_empty_nodes_is_still_read() {
    // Under the 256 MiB the import may always take.
    let nodes = [0x0a, 0x00].repeat(100_000);
    assert_eq!(refusal(&nodes), "imported 100000 nodes");
}

#[test]
fn a_node_reading_many_tensors_is_imported_in_linear_time() {
    // Three hundred thousand distinct inputs, each from its own node: checking each input
    // against the ones before it took minutes.
    let reads = 300_000;
    let names: Vec<String> = (0..reads).map(|i| format!("x{i}")).collect();
    let mut graph = Vec::new();
    for name in &names {
        onnx_writer::node(
            &mut graph,
            &Node {
                name: "",
                op_type: "Relu",
                inputs: &[],
                outputs: &[name],
                ints: &[],
            },
        );
    }
    let inputs: Vec<&str> = names.iter().map(String::as_str).collect();
    onnx_writer::node(
        &mut graph,
        &Node {
            name: "reader",
            op_type: "Concat",
            inputs: &inputs,
            outputs: &["y"],
            ints: &[],
        },
    );
    let model = onnx_writer::model(&graph);
    let imported = within(60, move || from_onnx_bytes(&model, "m.onnx").unwrap());
    assert_eq!(imported.graph.edges.len(), reads);
}

#[cfg(unix)]
fn mkfifo(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
#[cfg(unix)]
fn fifos_are_refused_before_they_are_opened() {
    use advisor_graph::import_path;

    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    mkfifo(&model);
    let error = within(10, move || import_path(&model).unwrap_err());
    assert!(
        error
            .to_string()
            .ends_with("m.onnx: not a regular file (a FIFO)"),
        "{error}"
    );

    let index = dir.path().join("model.safetensors.index.json");
    std::fs::write(&index, r#"{"weight_map": {"a": "shard.safetensors"}}"#).unwrap();
    mkfifo(&dir.path().join("shard.safetensors"));
    let error = within(10, move || import_path(&index).unwrap_err());
    assert!(
        error
            .to_string()
            .ends_with("shard.safetensors: not a regular file (a FIFO)"),
        "{error}"
    );
}
