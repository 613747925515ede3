//! The graph JSON importer: round trips, error positions, structural warnings.

use advisor_graph::{ImportErrorKind, ImportWarning, ModelFormat, builders, from_graph_json_str};

#[test]
fn an_imported_graph_round_trips_without_warnings() {
    for graph in [builders::bert(2), builders::gpt2(2), builders::llama(2)] {
        let text = serde_json::to_string_pretty(&graph).unwrap();
        let imported = from_graph_json_str(&text, "graph.json").unwrap();
        assert_eq!(imported.graph, graph);
        assert_eq!(imported.format, ModelFormat::GraphJson);
        assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    }
}

#[test]
fn shape_errors_name_the_json_path_line_and_column() {
    let text = "{\n  \"nodes\": [\n    {\"id\": \"a\", \"op_type\": \"MatMul\"},\n    \
                {\"id\": \"b\", \"op_type\": \"Add\", \"parameters\": \"many\"}\n  ]\n}";
    let error = from_graph_json_str(text, "graph.json").unwrap_err();
    let ImportErrorKind::Schema { path, line, .. } = error.kind() else {
        panic!("{error:?}");
    };
    assert_eq!(path, "nodes[1].parameters");
    assert_eq!(*line, 4);
    assert!(
        error
            .to_string()
            .starts_with("graph.json: at `nodes[1].parameters` (line 4, column "),
        "{error}"
    );

    let unknown_field = r#"{"facts": {"layers": 2, "depth": 3}}"#;
    let error = from_graph_json_str(unknown_field, "graph.json").unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("graph.json: at `facts.depth` (line 1, column"),
        "{error}"
    );

    let bad_dtype = r#"{"facts": {"dtype": "float64"}}"#;
    let error = from_graph_json_str(bad_dtype, "graph.json").unwrap_err();
    assert!(
        error.to_string().contains("unknown dtype `float64`"),
        "{error}"
    );
}

#[test]
fn syntax_errors_name_line_and_column() {
    let error = from_graph_json_str("{\"nodes\": [\n}", "graph.json").unwrap_err();
    assert!(
        matches!(
            error.kind(),
            ImportErrorKind::Json {
                line: 2,
                column: 1,
                ..
            }
        ),
        "{error:?}"
    );
    let error = from_graph_json_str("{} trailing", "graph.json").unwrap_err();
    assert!(
        matches!(error.kind(), ImportErrorKind::Json { line: 1, .. }),
        "{error:?}"
    );
}

#[test]
fn structural_problems_are_warnings() {
    let text = r#"{
        "nodes": [
            {"id": "a", "op_type": "MatMul"},
            {"id": "b", "op_type": "Add"},
            {"id": "a", "op_type": "Relu"},
            {"id": "c", "op_type": "Relu"},
            {"id": "d", "op_type": "Relu"}
        ],
        "edges": [
            {"from": "a", "to": "b"},
            {"from": "b", "to": "a"},
            {"from": "b", "to": "ghost"},
            {"from": "c", "to": "c"},
            {"from": "a", "to": "d"}
        ]
    }"#;
    let imported = from_graph_json_str(text, "graph.json").unwrap();
    assert_eq!(
        imported.graph.nodes.len(),
        5,
        "the graph is kept as written"
    );
    let messages: Vec<String> = imported.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "duplicate node id `a`: `nodes[2]` repeats `nodes[0]`",
            "`edges[2].to` names unknown node id `ghost`; the edge is ignored",
            "the edges form a cycle through `a`, `b`",
            "the edges form a cycle through `c`",
        ]
    );
    assert!(matches!(
        &imported.warnings[0],
        ImportWarning::DuplicateNodeId {
            first_index: 0,
            index: 2,
            ..
        }
    ));
}
