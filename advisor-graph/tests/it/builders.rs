//! Builders: base-size graphs with any number of layers.

use advisor_graph::builders;

use crate::support::assert_graph_invariants;

#[test]
fn builders_at_published_depth_match_published_counts() {
    assert_eq!(builders::bert(12).facts.parameters, Some(109_482_240));
    assert_eq!(builders::gpt2(12).facts.parameters, Some(124_439_808));
    assert_eq!(builders::llama(32).facts.parameters, Some(6_738_415_616));
}

#[test]
fn builders_scale_with_layers() {
    for layers in [1u16, 2, 5, 40] {
        for graph in [
            builders::bert(layers),
            builders::gpt2(layers),
            builders::llama(layers),
        ] {
            assert_eq!(graph.facts.layers, Some(u64::from(layers)));
            assert_graph_invariants(&graph);
            // Six nodes per layer plus at most three around them.
            assert!(graph.nodes.len() <= 6 * usize::from(layers) + 3);
        }
    }
    let one_layer_llama = 6_738_415_616 - 31 * 202_383_360;
    assert_eq!(builders::llama(1).facts.parameters, Some(one_layer_llama));
}

#[test]
fn zero_layers_is_raised_to_one() {
    assert_eq!(builders::gpt2(0), builders::gpt2(1));
}
