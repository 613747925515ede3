//! Shared helpers: fixture files and graph invariants.

use std::{collections::HashSet, path::PathBuf};

use advisor_core::ModelGraph;

/// The folder of Hugging Face config fixtures.
pub fn hf_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/hf")
}

/// The text of a fixture in `tests/data/hf`.
pub fn hf_fixture(name: &str) -> String {
    let path = hf_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Rows of a tab-separated expectations file, without comments.
pub fn tsv_rows(name: &str) -> Vec<Vec<String>> {
    hf_fixture(name)
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| line.split('\t').map(str::to_owned).collect())
        .collect()
}

/// Checks what every imported graph must satisfy: unique ids, edges between known nodes,
/// node parameters summing to the model total, active parameters no more than the total.
pub fn assert_graph_invariants(graph: &ModelGraph) {
    let mut ids = HashSet::new();
    for node in &graph.nodes {
        assert!(ids.insert(node.id.as_str()), "duplicate id {}", node.id);
    }
    for edge in &graph.edges {
        assert!(
            ids.contains(edge.from.as_str()),
            "unknown from {}",
            edge.from
        );
        assert!(ids.contains(edge.to.as_str()), "unknown to {}", edge.to);
    }
    let node_sum: u64 = graph.nodes.iter().map(|node| node.parameters).sum();
    assert_eq!(
        Some(node_sum),
        graph.facts.parameters,
        "node parameters sum"
    );
    assert!(graph.facts.active_parameters <= graph.facts.parameters);
}
