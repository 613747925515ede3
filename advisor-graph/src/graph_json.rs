//! The advisor's own graph JSON: core's [`ModelGraph`] as serde writes it, read back with
//! JSON paths in errors and structural checks as warnings.

use std::collections::HashMap;

use advisor_core::ModelGraph;
use petgraph::{
    algo::{tarjan_scc, toposort},
    graph::DiGraph,
};

use crate::{
    error::{ImportError, ImportErrorKind, ImportWarning},
    format::{Imported, ModelFormat},
    json,
};

/// Reads the advisor's graph JSON (core's `ModelGraph` serialization) and checks its structure.
///
/// Structural problems are returned as warnings beside the graph, not as errors: duplicate
/// node ids, edges naming unknown node ids (those edges are left out of the cycle check), and
/// cycles (one warning per strongly connected component).
///
/// ```
/// use advisor_graph::{ImportWarning, from_graph_json_str};
///
/// let imported = from_graph_json_str(
///     r#"{"nodes": [{"id": "a", "op_type": "MatMul"}], "edges": [{"from": "a", "to": "b"}]}"#,
///     "graph.json",
/// ).unwrap();
/// assert_eq!(imported.graph.nodes.len(), 1);
/// assert!(matches!(imported.warnings[0], ImportWarning::UnknownEdgeEndpoint { .. }));
/// ```
///
/// # Errors
///
/// Malformed JSON (line and column), and values of the wrong shape or unknown fields (JSON
/// path, line and column), each message naming `source`.
pub fn from_graph_json_str(text: &str, source: &str) -> Result<Imported, ImportError> {
    let mut deserializer = serde_json::Deserializer::from_str(json::strip_bom(text));
    let graph: ModelGraph = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|error| shape_error(&error, source))?;
    deserializer
        .end()
        .map_err(|error| json::syntax_error(&error, source))?;
    let warnings = validate(&graph);
    Ok(Imported::new(graph, ModelFormat::GraphJson, warnings))
}

fn shape_error(error: &serde_path_to_error::Error<serde_json::Error>, source: &str) -> ImportError {
    let inner = error.inner();
    if inner.is_data() {
        ImportError::new(
            source,
            ImportErrorKind::Schema {
                path: error.path().to_string(),
                line: inner.line(),
                column: inner.column(),
                message: json::message_without_position(inner),
            },
        )
    } else {
        json::syntax_error(inner, source)
    }
}

/// Structural checks: duplicate ids, dangling edges, cycles.
fn validate(graph: &ModelGraph) -> Vec<ImportWarning> {
    let mut warnings = Vec::new();
    let mut flow = DiGraph::<&str, ()>::new();
    let mut index_by_id = HashMap::new();
    let mut first_by_id = HashMap::new();
    for (index, node) in graph.nodes.iter().enumerate() {
        let id = node.id.as_str();
        if let Some(first_index) = first_by_id.get(id) {
            warnings.push(ImportWarning::DuplicateNodeId {
                id: id.to_owned(),
                first_index: *first_index,
                index,
            });
            continue;
        }
        first_by_id.insert(id, index);
        index_by_id.insert(id, flow.add_node(id));
    }
    for (edge_index, edge) in graph.edges.iter().enumerate() {
        let mut endpoint = |end: &'static str, id: &str| {
            let found = index_by_id.get(id).copied();
            if found.is_none() {
                warnings.push(ImportWarning::UnknownEdgeEndpoint {
                    edge_index,
                    end,
                    id: id.to_owned(),
                });
            }
            found
        };
        let from = endpoint("from", &edge.from);
        let to = endpoint("to", &edge.to);
        if let (Some(from), Some(to)) = (from, to) {
            flow.add_edge(from, to, ());
        }
    }
    // The topological sort is the cheap check; only a cyclic graph pays for the components.
    if toposort(&flow, None).is_err() {
        let mut cycles = Vec::new();
        for component in tarjan_scc(&flow) {
            let is_cycle = component.len() > 1
                || component
                    .first()
                    .is_some_and(|node| flow.contains_edge(*node, *node));
            if is_cycle {
                let mut node_ids: Vec<String> = component
                    .iter()
                    .map(|node| flow[*node].to_owned())
                    .collect();
                node_ids.sort();
                cycles.push(node_ids);
            }
        }
        // Sorted so that the order does not depend on the traversal.
        cycles.sort();
        warnings.extend(
            cycles
                .into_iter()
                .map(|node_ids| ImportWarning::Cycle { node_ids }),
        );
    }
    warnings
}
