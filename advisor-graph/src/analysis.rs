//! Operator-graph analysis: op counts, attention blocks (fused and decomposed), fusion
//! opportunities named as onnxruntime's transformer optimizer names them, long chains of
//! element-wise operators, cycles and dangling inputs.
//!
//! The patterns follow onnxruntime's `onnxruntime/python/tools/transformers/fusion_*.py`
//! (`fusion_skiplayernorm.py`, `fusion_layernorm.py`, `fusion_gelu.py`,
//! `fusion_biasgelu.py`, `fusion_fastgelu.py`, `fusion_attention.py`,
//! `fusion_embedlayer.py`, `fusion_simplified_layernorm.py`), matched loosely enough to find
//! what those passes miss: attention exported as MatMul → scale → mask → Softmax → MatMul with
//! any mix of Transpose, Reshape, Cast and Where around it. Every walk is bounded, so the
//! analysis is linear in the graph.

use std::collections::{BTreeMap, HashSet};

use advisor_core::FusionOpportunity;
use petgraph::{algo::tarjan_scc, graph::DiGraph};

use crate::{
    error::ImportWarning,
    opgraph::{NONE, NodeId, OpGraph, TensorKind},
};

/// Fused attention operators, as onnxruntime and the ONNX standard (opset 23) spell them.
const FUSED_ATTENTION_OPS: &[&str] = &[
    "Attention",
    "MultiHeadAttention",
    "GroupQueryAttention",
    "PackedAttention",
    "PackedMultiHeadAttention",
    "DecoderMaskedMultiHeadAttention",
    "SparseAttention",
];

/// Operators between the QK MatMul and the Softmax: scaling, masking, casts and reshapes.
const SCORE_OPS: &[&str] = &[
    "Add", "Where", "Mul", "Div", "Sub", "Cast", "Reshape", "Identity", "Slice", "Max", "Min",
];

/// Operators between the Softmax and the value MatMul.
const PROBABILITY_OPS: &[&str] = &["Cast", "Dropout", "Identity", "Where", "Mul", "Reshape"];

/// Small element-wise operators: each is a kernel launch and a round trip through memory.
const ELEMENTWISE_OPS: &[&str] = &[
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Sqrt",
    "Reciprocal",
    "Erf",
    "Tanh",
    "Sigmoid",
    "Relu",
    "Exp",
    "Log",
    "Neg",
    "Abs",
    "Cast",
    "Where",
    "Clip",
    "Min",
    "Max",
    "Softplus",
    "LeakyRelu",
    "HardSigmoid",
    "Gelu",
    "Not",
    "And",
    "Or",
    "Equal",
    "Less",
    "Greater",
];

/// Shortest element-wise chain worth a warning.
const MIN_CHAIN: usize = 4;
/// Most element-wise chains reported.
const MAX_CHAINS: usize = 3;
/// Most examples named in a dangling-input warning.
const MAX_EXAMPLES: usize = 5;

/// One attention block.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AttentionBlock {
    /// The nodes of the block, the core MatMuls and Softmax first.
    pub(crate) nodes: Vec<NodeId>,
    /// Whether a single fused operator implements it.
    pub(crate) fused: bool,
    /// Query heads, when the graph states them.
    pub(crate) heads: Option<u64>,
    /// Key/value heads, when the graph states them.
    pub(crate) kv_heads: Option<u64>,
    /// Head dimension, when the graph states it.
    pub(crate) head_dim: Option<u64>,
    /// Whether the block is causal (decoder), when the graph says.
    pub(crate) causal: Option<bool>,
}

/// Everything the analysis found.
#[derive(Debug, Default)]
pub(crate) struct GraphAnalysis {
    pub(crate) op_counts: BTreeMap<String, u64>,
    pub(crate) attention: Vec<AttentionBlock>,
    pub(crate) fusions: Vec<FusionOpportunity>,
    pub(crate) warnings: Vec<ImportWarning>,
    /// Hidden size from the norms' scale vectors, when they agree on one.
    pub(crate) norm_width: Option<u64>,
}

/// Runs every analysis over `graph`.
pub(crate) fn analyze(graph: &OpGraph) -> GraphAnalysis {
    let mut analysis = GraphAnalysis::default();
    let mut counts = vec![0u64; graph.op_types.len()];
    for node in &graph.nodes {
        counts[node.op_type as usize] += 1;
    }
    analysis.op_counts = graph
        .op_types
        .iter()
        .zip(counts)
        .map(|(op, count)| (op.clone(), count))
        .collect();

    let order = topological_order(graph);
    if order.len() < graph.nodes.len() {
        analysis.warnings.extend(cycles(graph, &order));
    }
    if let Some(warning) = dangling_inputs(graph) {
        analysis.warnings.push(warning);
    }
    analysis.attention = attention_blocks(graph);
    let mut fusions = Fusions::default();
    norms(graph, &mut fusions, &mut analysis.norm_width);
    gelus(graph, &mut fusions);
    silu_gates(graph, &mut fusions);
    let decomposed: Vec<&AttentionBlock> = analysis
        .attention
        .iter()
        .filter(|block| !block.fused)
        .collect();
    for block in decomposed {
        let names = block
            .nodes
            .iter()
            .map(|node| graph.node(*node).name.clone());
        fusions.add("Attention", names);
    }
    analysis.fusions = fusions.finish();
    analysis
        .warnings
        .extend(elementwise_chains(graph, &order).into_iter().map(|nodes| {
            ImportWarning::ElementwiseChain {
                nodes: nodes
                    .into_iter()
                    .map(|node| graph.node(node).name.clone())
                    .collect(),
            }
        }));
    analysis
}

/// Kahn's algorithm over node-to-node data flow; a shorter order than the node count means
/// the rest lie on or behind a cycle.
fn topological_order(graph: &OpGraph) -> Vec<NodeId> {
    let mut pending: Vec<u32> = graph
        .nodes
        .iter()
        .map(|node| {
            node.inputs
                .iter()
                .filter(|input| graph.producer(**input).is_some())
                .count() as u32
        })
        .collect();
    let mut order: Vec<NodeId> = (0..graph.nodes.len() as NodeId)
        .filter(|node| pending[*node as usize] == 0)
        .collect();
    let mut next = 0;
    // Tensors whose consumers were released: a linear check instead of scanning a node's
    // earlier outputs, which is quadratic for a node with many outputs.
    let mut released = vec![false; graph.tensors.len()];
    while next < order.len() {
        let node = order[next];
        next += 1;
        let outputs = &graph.node(node).outputs;
        for output in outputs {
            // Only the tensor's recorded producer releases its consumers, and only once: a
            // node that lists one output twice (an invalid graph) must not release it twice.
            if graph.producer(*output) != Some(node)
                || std::mem::replace(&mut released[*output as usize], true)
            {
                continue;
            }
            for consumer in graph.consumers(*output) {
                let count = &mut pending[*consumer as usize];
                *count -= 1;
                if *count == 0 {
                    order.push(*consumer);
                }
            }
        }
    }
    order
}

/// The cycles among the nodes the topological order could not place, one warning each.
fn cycles(graph: &OpGraph, order: &[NodeId]) -> Vec<ImportWarning> {
    let mut placed = vec![false; graph.nodes.len()];
    for node in order {
        placed[*node as usize] = true;
    }
    let mut flow = DiGraph::<NodeId, ()>::new();
    let mut index = vec![None; graph.nodes.len()];
    for node in 0..graph.nodes.len() {
        if !placed[node] {
            index[node] = Some(flow.add_node(node as NodeId));
        }
    }
    for (node, slot) in index.iter().enumerate() {
        let Some(to) = slot else { continue };
        for input in &graph.nodes[node].inputs {
            if let Some(from) = graph.producer(*input).and_then(|p| index[p as usize]) {
                flow.add_edge(from, *to, ());
            }
        }
    }
    let mut found: Vec<Vec<String>> = tarjan_scc(&flow)
        .into_iter()
        .filter(|component| component.len() > 1 || flow.contains_edge(component[0], component[0]))
        .map(|component| {
            let mut names: Vec<String> = component
                .iter()
                .map(|node| graph.node(flow[*node]).name.clone())
                .collect();
            names.sort();
            names
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .map(|node_ids| ImportWarning::Cycle { node_ids })
        .collect()
}

/// Node inputs that name a tensor nothing provides.
fn dangling_inputs(graph: &OpGraph) -> Option<ImportWarning> {
    let mut count = 0u64;
    let mut examples = Vec::new();
    for node in &graph.nodes {
        for input in &node.inputs {
            if *input == NONE {
                continue;
            }
            let tensor = &graph.tensors[*input as usize];
            if tensor.kind == TensorKind::Activation && tensor.producer == NONE {
                count += 1;
                if examples.len() < MAX_EXAMPLES {
                    examples.push(format!(
                        "`{}` reads `{}`",
                        node.name,
                        graph.tensor_name(*input)
                    ));
                }
            }
        }
    }
    (count > 0).then_some(ImportWarning::DanglingInputs { count, examples })
}

/// Fused attention operators, then decomposed blocks found from each Softmax.
fn attention_blocks(graph: &OpGraph) -> Vec<AttentionBlock> {
    let mut blocks = Vec::new();
    for node in 0..graph.nodes.len() as NodeId {
        let op = graph.op(node);
        if FUSED_ATTENTION_OPS.contains(&op) {
            let heads = graph
                .int_attribute(node, "num_heads")
                .and_then(|h| u64::try_from(h).ok())
                .filter(|h| *h > 0);
            let kv_heads = graph
                .int_attribute(node, "kv_num_heads")
                .and_then(|h| u64::try_from(h).ok())
                .filter(|h| *h > 0)
                .or(heads);
            let causal = match op {
                "GroupQueryAttention" | "DecoderMaskedMultiHeadAttention" => Some(true),
                _ => graph.int_attribute(node, "unidirectional").map(|u| u != 0),
            };
            blocks.push(AttentionBlock {
                nodes: vec![node],
                fused: true,
                heads,
                kv_heads,
                head_dim: None,
                causal,
            });
        } else if op == "Softmax"
            && let Some(block) = decomposed_attention(graph, node)
        {
            blocks.push(block);
        }
    }
    blocks
}

/// MatMul → (scale, mask, cast) → Softmax → (cast, dropout) → MatMul, with the Transposes and
/// Reshapes that split and merge heads around it.
fn decomposed_attention(graph: &OpGraph, softmax: NodeId) -> Option<AttentionBlock> {
    let mut between = Vec::new();
    let scores = find_back(graph, softmax, 6, &mut between)?;
    let (values, after) = find_forward(graph, softmax)?;
    let mut nodes = vec![scores, softmax, values];
    nodes.extend(between);
    nodes.extend(after);
    let mut seen: HashSet<NodeId> = nodes.iter().copied().collect();
    // Head split on the query and key side, head merge after the value product.
    for input in 0..2 {
        let mut current = graph.input_producer(scores, input);
        for _ in 0..3 {
            let Some(node) = current else { break };
            if !matches!(graph.op(node), "Transpose" | "Reshape" | "Mul" | "Div") {
                break;
            }
            if seen.insert(node) {
                nodes.push(node);
            }
            current = graph.computed_inputs(node).next();
        }
    }
    let mut current = graph.output_consumers(values).first().copied();
    for _ in 0..2 {
        let Some(node) = current else { break };
        if !matches!(graph.op(node), "Transpose" | "Reshape") {
            break;
        }
        if seen.insert(node) {
            nodes.push(node);
        }
        current = graph.output_consumers(node).first().copied();
    }
    let (heads, head_dim) = split_heads(graph, scores, 0).unzip();
    let kv_heads = split_heads(graph, scores, 1).map(|(heads, _)| heads);
    Some(AttentionBlock {
        nodes,
        fused: false,
        heads,
        kv_heads: kv_heads.or(heads),
        head_dim,
        causal: None,
    })
}

/// Whether `node` is a MatMul of two computed tensors (attention), not a weight product.
fn is_activation_matmul(graph: &OpGraph, node: NodeId) -> bool {
    graph.op(node) == "MatMul"
        && graph
            .node(node)
            .inputs
            .iter()
            .all(|input| *input != NONE && !graph.is_constant(*input))
}

/// Searches backward from `node` through score operators for the QK MatMul.
fn find_back(graph: &OpGraph, node: NodeId, depth: u32, path: &mut Vec<NodeId>) -> Option<NodeId> {
    if depth == 0 {
        return None;
    }
    let inputs: Vec<NodeId> = graph.computed_inputs(node).collect();
    for producer in &inputs {
        if is_activation_matmul(graph, *producer) {
            return Some(*producer);
        }
    }
    for producer in inputs {
        if SCORE_OPS.contains(&graph.op(producer)) {
            path.push(producer);
            if let Some(found) = find_back(graph, producer, depth - 1, path) {
                return Some(found);
            }
            path.pop();
        }
    }
    None
}

/// Searches forward from the Softmax for the MatMul that applies the probabilities.
fn find_forward(graph: &OpGraph, softmax: NodeId) -> Option<(NodeId, Vec<NodeId>)> {
    let mut path = Vec::new();
    let mut tensor = *graph.node(softmax).outputs.first()?;
    for _ in 0..4 {
        let consumers = graph.consumers(tensor);
        if let Some(matmul) = consumers.iter().copied().find(|consumer| {
            is_activation_matmul(graph, *consumer)
                && graph.node(*consumer).inputs.first() == Some(&tensor)
        }) {
            return Some((matmul, path));
        }
        let next = consumers
            .iter()
            .copied()
            .find(|consumer| PROBABILITY_OPS.contains(&graph.op(*consumer)))?;
        path.push(next);
        tensor = *graph.node(next).outputs.first()?;
    }
    None
}

/// Heads and head dimension from the Reshape that splits the MatMul's `input` into heads:
/// its target shape's last two entries, from a constant or a Concat of constants.
fn split_heads(graph: &OpGraph, matmul: NodeId, input: usize) -> Option<(u64, u64)> {
    let mut current = graph.input_producer(matmul, input)?;
    for _ in 0..4 {
        if graph.op(current) == "Reshape" {
            let shape = *graph.node(current).inputs.get(1)?;
            let values: Vec<f64> = match graph.values(shape) {
                Some(values) => values.to_vec(),
                None => {
                    let concat = graph.producer(shape)?;
                    if graph.op(concat) != "Concat" {
                        return None;
                    }
                    let parts = &graph.node(concat).inputs;
                    let tail = parts.get(parts.len().checked_sub(2)?..)?;
                    let mut values = Vec::new();
                    for part in tail {
                        values.extend_from_slice(graph.values(*part)?);
                    }
                    values
                }
            };
            let [.., heads, head_dim] = values.as_slice() else {
                return None;
            };
            let as_count = |value: f64| {
                (value >= 1.0 && value.fract() == 0.0 && value < 1e9).then_some(value as u64)
            };
            return Some((as_count(*heads)?, as_count(*head_dim)?));
        }
        if !matches!(graph.op(current), "Transpose" | "Mul" | "Div" | "Cast") {
            return None;
        }
        current = graph.computed_inputs(current).next()?;
    }
    None
}

/// Fusion opportunities collected by pattern name.
#[derive(Default)]
struct Fusions {
    by_pattern: BTreeMap<&'static str, (u64, Vec<String>)>,
}

impl Fusions {
    fn add(&mut self, pattern: &'static str, nodes: impl IntoIterator<Item = String>) {
        let entry = self.by_pattern.entry(pattern).or_default();
        entry.0 += 1;
        entry.1.extend(nodes);
    }

    fn finish(self) -> Vec<FusionOpportunity> {
        self.by_pattern
            .into_iter()
            .map(|(pattern, (count, nodes))| FusionOpportunity {
                pattern: pattern.to_owned(),
                count,
                nodes,
            })
            .collect()
    }
}

/// A normalization found in the graph, explicit or decomposed.
struct NormUnit {
    /// The normalized input tensor's producer.
    input: Option<NodeId>,
    /// All nodes of the unit.
    nodes: Vec<NodeId>,
    /// RMS-style (no mean subtraction).
    simplified: bool,
}

/// LayerNormalization (explicit or ReduceMean/Sub/Pow/Sqrt/Div), its RMS variant, and the
/// residual Add before it (SkipLayerNormalization) or embedding lookups (EmbedLayerNormalization).
fn norms(graph: &OpGraph, fusions: &mut Fusions, norm_width: &mut Option<u64>) {
    let mut units = Vec::new();
    let mut widths: BTreeMap<u64, u64> = BTreeMap::new();
    for node in 0..graph.nodes.len() as NodeId {
        match graph.op(node) {
            "LayerNormalization" | "SimplifiedLayerNormalization" => {
                let simplified = graph.op(node) == "SimplifiedLayerNormalization";
                if let Some(scale) = graph.node(node).inputs.get(1)
                    && let Some(tensor) = graph.tensors.get(*scale as usize)
                    && let TensorKind::Initializer { dims, .. } = &tensor.kind
                    && let [width] = dims.as_slice()
                {
                    *widths.entry(*width).or_default() += 1;
                }
                units.push(NormUnit {
                    input: graph.input_producer(node, 0),
                    nodes: vec![node],
                    simplified,
                });
            }
            "Sqrt" => {
                if let Some(unit) = decomposed_norm(graph, node) {
                    units.push(unit);
                }
            }
            _ => {}
        }
    }
    *norm_width = widths
        .into_iter()
        .max_by_key(|(_, count)| *count)
        .map(|(width, _)| width);
    for unit in units {
        let mut nodes: Vec<String> = unit
            .nodes
            .iter()
            .map(|node| graph.node(*node).name.clone())
            .collect();
        let skip = unit.input.filter(|add| is_skip_add(graph, *add));
        if let Some(add) = skip {
            nodes.insert(0, graph.node(add).name.clone());
            let pattern = if unit.simplified {
                "SkipSimplifiedLayerNormalization"
            } else {
                "SkipLayerNormalization"
            };
            fusions.add(pattern, nodes);
            continue;
        }
        if let Some(lookups) = unit.input.and_then(|add| embedding_sum(graph, add)) {
            let mut embed_nodes: Vec<String> = lookups
                .iter()
                .map(|node| graph.node(*node).name.clone())
                .collect();
            embed_nodes.extend(nodes.iter().cloned());
            fusions.add("EmbedLayerNormalization", embed_nodes);
        }
        let pattern = if unit.simplified {
            "SimplifiedLayerNormalization"
        } else {
            "LayerNormalization"
        };
        fusions.add(pattern, nodes);
    }
}

/// Sqrt ← Add(eps) ← ReduceMean ← Pow(2)|Mul(x, x) ← Sub(x, ReduceMean(x)) [absent for RMS],
/// then → Div (or Reciprocal → Mul) → Mul(scale) → Add(bias).
fn decomposed_norm(graph: &OpGraph, sqrt: NodeId) -> Option<NormUnit> {
    let add_eps = graph.input_producer(sqrt, 0)?;
    if graph.op(add_eps) != "Add" {
        return None;
    }
    let variance = graph
        .computed_inputs(add_eps)
        .find(|node| graph.op(*node) == "ReduceMean")?;
    let square = graph.input_producer(variance, 0)?;
    let squared = match graph.op(square) {
        "Pow" => *graph.node(square).inputs.first()?,
        "Mul" => {
            let inputs = &graph.node(square).inputs;
            if inputs.len() != 2 || inputs[0] != inputs[1] {
                return None;
            }
            inputs[0]
        }
        _ => return None,
    };
    let mut nodes = Vec::new();
    let centered = graph.producer(squared).filter(|node| {
        graph.op(*node) == "Sub"
            && graph
                .input_producer(*node, 1)
                .is_some_and(|mean| graph.op(mean) == "ReduceMean")
    });
    let (input, simplified) = match centered {
        Some(sub) => {
            let mean = graph.input_producer(sub, 1)?;
            nodes.extend([mean, sub]);
            (graph.input_producer(sub, 0), false)
        }
        None => (graph.producer(squared), true),
    };
    nodes.extend([square, variance, add_eps, sqrt]);
    // The normalizing division, then the affine scale and shift (constant operands only, so
    // the residual Add after the norm is not taken for its shift).
    let divide = graph
        .output_consumers(sqrt)
        .iter()
        .copied()
        .find(|node| matches!(graph.op(*node), "Div" | "Reciprocal"))?;
    nodes.push(divide);
    let mut current = divide;
    if graph.op(divide) == "Reciprocal" {
        current = graph
            .output_consumers(divide)
            .iter()
            .copied()
            .find(|node| graph.op(*node) == "Mul")?;
        nodes.push(current);
    }
    for wanted in ["Mul", "Add"] {
        let Some(next) = graph
            .output_consumers(current)
            .iter()
            .copied()
            .find(|node| {
                graph.op(*node) == wanted
                    && graph
                        .node(*node)
                        .inputs
                        .iter()
                        .any(|input| graph.is_constant(*input))
            })
        else {
            break;
        };
        nodes.push(next);
        current = next;
    }
    Some(NormUnit {
        input,
        nodes,
        simplified,
    })
}

/// An Add of two computed tensors, neither an embedding lookup: onnxruntime's
/// `fusion_skiplayernorm.py` skips an Add fed by a Gather, which is the embedding sum.
fn is_skip_add(graph: &OpGraph, add: NodeId) -> bool {
    let node = graph.node(add);
    graph.op(add) == "Add"
        && node.inputs.len() == 2
        && node
            .inputs
            .iter()
            .all(|input| *input != NONE && !graph.is_constant(*input))
        && node.inputs.iter().all(|input| {
            graph
                .producer(*input)
                .is_none_or(|p| graph.op(p) != "Gather")
        })
}

/// The embedding lookups summed by an Add tree (at most three Adds deep) that feeds a norm:
/// Gathers from two-dimensional initializers.
fn embedding_sum(graph: &OpGraph, add: NodeId) -> Option<Vec<NodeId>> {
    if graph.op(add) != "Add" {
        return None;
    }
    let mut lookups = Vec::new();
    let mut stack = vec![(add, 0)];
    while let Some((node, depth)) = stack.pop() {
        lookups.push(node);
        for producer in graph.computed_inputs(node) {
            match graph.op(producer) {
                "Add" if depth < 3 => stack.push((producer, depth + 1)),
                "Gather" if is_embedding_lookup(graph, producer) => lookups.push(producer),
                _ => {}
            }
        }
    }
    lookups
        .iter()
        .any(|node| graph.op(*node) == "Gather")
        .then_some(lookups)
}

/// A Gather whose data is a two-dimensional floating-point initializer: an embedding table.
pub(crate) fn is_embedding_lookup(graph: &OpGraph, gather: NodeId) -> bool {
    graph.op(gather) == "Gather"
        && graph.node(gather).inputs.first().is_some_and(|data| {
            *data != NONE
                && matches!(
                    &graph.tensors[*data as usize].kind,
                    TensorKind::Initializer { dims, float: true } if dims.len() == 2
                )
        })
}

/// Gelu from Erf (`fusion_gelu.py`: Div(√2) → Erf → Add(1) → Mul → Mul(0.5)); with a bias Add
/// before it, BiasGelu (`fusion_biasgelu.py`). FastGelu from Tanh (`fusion_fastgelu.py`:
/// x + 0.044715·x³ → Mul(√(2/π)) → Tanh → Add(1) → Mul → Mul(0.5)).
fn gelus(graph: &OpGraph, fusions: &mut Fusions) {
    for node in 0..graph.nodes.len() as NodeId {
        match graph.op(node) {
            "Erf" => {
                let Some(scale) = graph.input_producer(node, 0) else {
                    continue;
                };
                if !matches!(graph.op(scale), "Div" | "Mul") {
                    continue;
                }
                let Some(tail) = gelu_tail(graph, node) else {
                    continue;
                };
                let mut nodes = vec![scale, node];
                nodes.extend(tail);
                let bias = graph
                    .input_producer(scale, 0)
                    .filter(|add| is_bias_add(graph, *add));
                let pattern = match bias {
                    Some(add) => {
                        nodes.insert(0, add);
                        "BiasGelu"
                    }
                    None => "Gelu",
                };
                fusions.add(pattern, names(graph, &nodes));
            }
            "Tanh" => {
                let Some(nodes) = fast_gelu(graph, node) else {
                    continue;
                };
                fusions.add("FastGelu", names(graph, &nodes));
            }
            _ => {}
        }
    }
}

/// Add(1) → Mul → Mul after the Erf or Tanh of a Gelu, in either multiplication order.
fn gelu_tail(graph: &OpGraph, activation: NodeId) -> Option<Vec<NodeId>> {
    let add = graph
        .output_consumers(activation)
        .iter()
        .copied()
        .find(|node| graph.op(*node) == "Add")?;
    let first = graph
        .output_consumers(add)
        .iter()
        .copied()
        .find(|node| graph.op(*node) == "Mul")?;
    let mut tail = vec![add, first];
    if let Some(second) = graph
        .output_consumers(first)
        .iter()
        .copied()
        .find(|node| graph.op(*node) == "Mul")
    {
        tail.push(second);
    }
    Some(tail)
}

/// The FastGelu around `tanh`: Mul(c) ← Add(x, Mul(0.044715, Pow(x, 3))) before it.
fn fast_gelu(graph: &OpGraph, tanh: NodeId) -> Option<Vec<NodeId>> {
    let scale = graph.input_producer(tanh, 0)?;
    if graph.op(scale) != "Mul" {
        return None;
    }
    let inner = graph
        .computed_inputs(scale)
        .find(|n| graph.op(*n) == "Add")?;
    let cubic = graph
        .computed_inputs(inner)
        .find(|n| graph.op(*n) == "Mul")?;
    let power = graph
        .computed_inputs(cubic)
        .find(|n| matches!(graph.op(*n), "Pow" | "Mul"))?;
    let tail = gelu_tail(graph, tanh)?;
    let mut nodes = vec![power, cubic, inner, scale, tanh];
    nodes.extend(tail);
    Some(nodes)
}

/// An Add of a computed tensor and an initializer vector: a bias that a fused op can absorb.
fn is_bias_add(graph: &OpGraph, add: NodeId) -> bool {
    let inputs = &graph.node(add).inputs;
    graph.op(add) == "Add"
        && inputs.len() == 2
        && inputs.iter().any(|input| graph.is_initializer(*input))
        && inputs.iter().any(|input| {
            graph
                .producer(*input)
                .is_some_and(|p| matches!(graph.op(p), "MatMul" | "Gemm"))
        })
}

/// The SiLU-gated MLP of Llama-style models: MatMul(gate) → Sigmoid → Mul(gate, ·) [SiLU]
/// → Mul(·, MatMul(up)).
fn silu_gates(graph: &OpGraph, fusions: &mut Fusions) {
    for sigmoid in 0..graph.nodes.len() as NodeId {
        if graph.op(sigmoid) != "Sigmoid" {
            continue;
        }
        let Some(gate) = graph.input_producer(sigmoid, 0) else {
            continue;
        };
        let gate_output = graph.node(sigmoid).inputs[0];
        let Some(silu) = graph
            .output_consumers(sigmoid)
            .iter()
            .copied()
            .find(|n| graph.op(*n) == "Mul" && graph.node(*n).inputs.contains(&gate_output))
        else {
            continue;
        };
        let Some(product) = graph
            .output_consumers(silu)
            .iter()
            .copied()
            .find(|n| graph.op(*n) == "Mul")
        else {
            continue;
        };
        let up = graph
            .computed_inputs(product)
            .find(|n| *n != silu && matches!(graph.op(*n), "MatMul" | "Gemm"));
        if !matches!(graph.op(gate), "MatMul" | "Gemm") {
            continue;
        }
        let Some(up) = up else { continue };
        fusions.add(
            "SiLUGateMLP",
            names(graph, &[gate, up, sigmoid, silu, product]),
        );
    }
}

fn names(graph: &OpGraph, nodes: &[NodeId]) -> Vec<String> {
    nodes
        .iter()
        .map(|node| graph.node(*node).name.clone())
        .collect()
}

/// The longest chains of element-wise operators, each node fed by the one before; disjoint,
/// longest first, at least [`MIN_CHAIN`] long.
fn elementwise_chains(graph: &OpGraph, order: &[NodeId]) -> Vec<Vec<NodeId>> {
    let is_elementwise = |node: NodeId| ELEMENTWISE_OPS.contains(&graph.op(node));
    let elementwise: Vec<bool> = (0..graph.nodes.len() as NodeId)
        .map(is_elementwise)
        .collect();
    let mut length = vec![0u32; graph.nodes.len()];
    let mut previous = vec![NONE; graph.nodes.len()];
    for node in order {
        let node = *node;
        if !elementwise[node as usize] {
            continue;
        }
        let mut best = (0, NONE);
        for input in &graph.node(node).inputs {
            if let Some(producer) = graph.producer(*input)
                && elementwise[producer as usize]
                && length[producer as usize] > best.0
            {
                best = (length[producer as usize], producer);
            }
        }
        length[node as usize] = best.0 + 1;
        previous[node as usize] = best.1;
    }
    let mut ends: Vec<NodeId> = (0..graph.nodes.len() as NodeId)
        .filter(|node| length[*node as usize] as usize >= MIN_CHAIN)
        .collect();
    ends.sort_by_key(|node| (std::cmp::Reverse(length[*node as usize]), *node));
    let mut used = HashSet::new();
    let mut chains = Vec::new();
    for end in ends {
        if chains.len() == MAX_CHAINS {
            break;
        }
        // Stop at the first node already reported: every end inside a reported chain is
        // skipped after one step, so a long chain costs linear time, not quadratic.
        let mut chain = Vec::new();
        let mut current = end;
        let mut overlaps = false;
        while current != NONE {
            if used.contains(&current) {
                overlaps = true;
                break;
            }
            chain.push(current);
            current = previous[current as usize];
        }
        if overlaps {
            continue;
        }
        used.extend(chain.iter().copied());
        chain.reverse();
        chains.push(chain);
    }
    chains
}
