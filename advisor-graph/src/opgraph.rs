//! A compact operator graph for analysis: nodes with interned op types, tensors with their
//! producer and consumers, small constant values.
//!
//! Tensors are numbered and consumers are stored in one flat array (compressed sparse rows),
//! so a graph of a million nodes costs a few dozen bytes per node and every walk is a slice
//! lookup.

use bytes::Bytes;
use rustc_hash::{FxHashMap, FxHashSet};

/// Index of a tensor in [`OpGraph::tensors`].
pub(crate) type TensorId = u32;
/// Index of a node in [`OpGraph::nodes`].
pub(crate) type NodeId = u32;

/// Marks "no producer" and omitted optional inputs.
pub(crate) const NONE: u32 = u32::MAX;

/// What a tensor is, apart from node outputs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TensorKind {
    /// Produced by a node (or dangling when it has no producer).
    Activation,
    /// A graph input.
    GraphInput,
    /// An initializer (weight or constant) with its dims.
    Initializer {
        /// Dims, all non-negative.
        dims: Vec<u64>,
        /// Whether it holds floating-point values.
        float: bool,
    },
}

/// One tensor.
#[derive(Debug, Clone)]
pub(crate) struct Tensor {
    /// UTF-8 name; a slice of the model file's buffer, not a copy.
    name: Bytes,
    pub(crate) kind: TensorKind,
    pub(crate) producer: NodeId,
    /// Values of a small constant (a `Constant` node's output), as `f64`.
    pub(crate) values: Option<Box<[f64]>>,
}

/// One operator.
#[derive(Debug, Clone)]
pub(crate) struct OpNode {
    /// Unique name (the file's, or `OpType_index` when it had none or a duplicate).
    pub(crate) name: String,
    /// Index into [`OpGraph::op_types`].
    pub(crate) op_type: u16,
    pub(crate) inputs: Vec<TensorId>,
    pub(crate) outputs: Vec<TensorId>,
    /// Integer attributes the analysis reads (`num_heads`, `kv_num_heads`, `unidirectional`).
    pub(crate) int_attributes: Vec<(Box<str>, i64)>,
}

/// The graph: nodes in file order, tensors, and consumer lists.
#[derive(Debug, Default)]
pub(crate) struct OpGraph {
    pub(crate) nodes: Vec<OpNode>,
    pub(crate) tensors: Vec<Tensor>,
    pub(crate) op_types: Vec<String>,
    consumer_start: Vec<u32>,
    consumer_list: Vec<NodeId>,
}

/// Builds an [`OpGraph`], interning tensor names and op types.
///
/// Names are [`Bytes`]: slices of the file buffer, hashed with `FxHash` (the keys are the
/// model's own names, and a million-node graph spends its time hashing them).
#[derive(Default)]
pub(crate) struct OpGraphBuilder {
    graph: OpGraph,
    tensor_ids: FxHashMap<Bytes, TensorId>,
    op_type_ids: FxHashMap<Bytes, u16>,
}

impl OpGraphBuilder {
    /// A builder with room for `nodes` nodes and about two tensors per node.
    pub(crate) fn with_capacity(nodes: usize) -> OpGraphBuilder {
        let mut builder = OpGraphBuilder::default();
        builder.graph.nodes.reserve(nodes);
        builder.graph.tensors.reserve(nodes.saturating_mul(2));
        builder.tensor_ids.reserve(nodes.saturating_mul(2));
        builder
    }

    /// The id of the tensor called `name` (UTF-8), creating an activation tensor when new.
    pub(crate) fn tensor(&mut self, name: &Bytes) -> TensorId {
        if let Some(id) = self.tensor_ids.get(name) {
            return *id;
        }
        let id = self.graph.tensors.len() as TensorId;
        self.graph.tensors.push(Tensor {
            name: name.clone(),
            kind: TensorKind::Activation,
            producer: NONE,
            values: None,
        });
        self.tensor_ids.insert(name.clone(), id);
        id
    }

    /// Declares a tensor's kind (graph input or initializer).
    pub(crate) fn declare(&mut self, name: &Bytes, kind: TensorKind) -> TensorId {
        let id = self.tensor(name);
        self.graph.tensors[id as usize].kind = kind;
        id
    }

    /// Adds a node; `inputs` may hold empty names for omitted optional inputs. Names must be
    /// UTF-8 (the caller checks).
    pub(crate) fn node<'a>(
        &mut self,
        name: String,
        op_type: &Bytes,
        inputs: impl IntoIterator<Item = &'a Bytes>,
        outputs: impl IntoIterator<Item = &'a Bytes>,
        int_attributes: Vec<(Box<str>, i64)>,
    ) -> NodeId {
        let id = self.graph.nodes.len() as NodeId;
        let op_type = match self.op_type_ids.get(op_type) {
            Some(op) => *op,
            None => {
                let op = self.graph.op_types.len().min(u16::MAX as usize) as u16;
                if (op as usize) == self.graph.op_types.len() {
                    self.graph
                        .op_types
                        .push(String::from_utf8_lossy(op_type).into_owned());
                }
                self.op_type_ids.insert(op_type.clone(), op);
                op
            }
        };
        let inputs = inputs
            .into_iter()
            .map(|input| {
                if input.is_empty() {
                    NONE
                } else {
                    self.tensor(input)
                }
            })
            .collect();
        let outputs: Vec<TensorId> = outputs
            .into_iter()
            .filter(|output| !output.is_empty())
            .map(|output| self.tensor(output))
            .collect();
        for output in &outputs {
            let tensor = &mut self.graph.tensors[*output as usize];
            // The first producer wins; a second one is an invalid graph, kept as written.
            if tensor.producer == NONE {
                tensor.producer = id;
            }
        }
        let name = if name.is_empty() {
            let op_name = &self.graph.op_types[op_type as usize];
            format!("{op_name}_{id}")
        } else {
            name
        };
        self.graph.nodes.push(OpNode {
            name,
            op_type,
            inputs,
            outputs,
            int_attributes,
        });
        id
    }

    /// Records the values of a small constant tensor.
    pub(crate) fn set_values(&mut self, tensor: TensorId, values: Vec<f64>) {
        self.graph.tensors[tensor as usize].values = Some(values.into_boxed_slice());
    }

    /// Finishes the graph: renames duplicate node names (`name_index`) and builds the
    /// consumer lists.
    pub(crate) fn finish(mut self) -> OpGraph {
        let graph = &mut self.graph;
        let duplicates: Vec<usize> = {
            let mut seen = FxHashSet::default();
            (0..graph.nodes.len())
                .filter(|index| !seen.insert(graph.nodes[*index].name.as_str()))
                .collect()
        };
        for index in duplicates {
            let node = &mut graph.nodes[index];
            node.name = format!("{}_{index}", node.name);
        }
        let mut counts = vec![0u32; graph.tensors.len() + 1];
        for node in &graph.nodes {
            for input in &node.inputs {
                if *input != NONE {
                    counts[*input as usize + 1] += 1;
                }
            }
        }
        for index in 1..counts.len() {
            counts[index] += counts[index - 1];
        }
        let mut next = counts.clone();
        let mut list = vec![0; counts.last().copied().unwrap_or(0) as usize];
        for (id, node) in graph.nodes.iter().enumerate() {
            for input in &node.inputs {
                if *input != NONE {
                    let slot = &mut next[*input as usize];
                    list[*slot as usize] = id as NodeId;
                    *slot += 1;
                }
            }
        }
        graph.consumer_start = counts;
        graph.consumer_list = list;
        self.graph
    }
}

impl OpGraph {
    /// The name of `tensor`.
    pub(crate) fn tensor_name(&self, tensor: TensorId) -> &str {
        std::str::from_utf8(&self.tensors[tensor as usize].name).unwrap_or("")
    }

    /// The op type of `node`.
    pub(crate) fn op(&self, node: NodeId) -> &str {
        &self.op_types[self.nodes[node as usize].op_type as usize]
    }

    /// The node with id `node`.
    pub(crate) fn node(&self, node: NodeId) -> &OpNode {
        &self.nodes[node as usize]
    }

    /// The producer of `tensor`, if a node produces it.
    pub(crate) fn producer(&self, tensor: TensorId) -> Option<NodeId> {
        if tensor == NONE {
            return None;
        }
        let producer = self.tensors[tensor as usize].producer;
        (producer != NONE).then_some(producer)
    }

    /// The producer of `node`'s input `index`.
    pub(crate) fn input_producer(&self, node: NodeId, index: usize) -> Option<NodeId> {
        self.producer(*self.node(node).inputs.get(index)?)
    }

    /// The nodes that read `tensor` (a node reading it twice appears twice).
    pub(crate) fn consumers(&self, tensor: TensorId) -> &[NodeId] {
        if tensor == NONE {
            return &[];
        }
        let start = self.consumer_start[tensor as usize] as usize;
        let end = self.consumer_start[tensor as usize + 1] as usize;
        &self.consumer_list[start..end]
    }

    /// The consumers of `node`'s first output.
    pub(crate) fn output_consumers(&self, node: NodeId) -> &[NodeId] {
        match self.node(node).outputs.first() {
            Some(output) => self.consumers(*output),
            None => &[],
        }
    }

    /// The tensor `tensor` copies through a chain of `Identity` nodes (exporters use them to
    /// share one initializer); at most three are followed.
    fn through_identities(&self, tensor: TensorId) -> TensorId {
        let mut tensor = tensor;
        for _ in 0..3 {
            if tensor == NONE
                || !matches!(self.tensors[tensor as usize].kind, TensorKind::Activation)
            {
                break;
            }
            match self.producer(tensor) {
                Some(node) if self.op(node) == "Identity" => {
                    tensor = self.node(node).inputs.first().copied().unwrap_or(NONE);
                }
                _ => break,
            }
        }
        tensor
    }

    /// Whether `tensor` is fixed data: an initializer, or the output of a `Constant` node.
    ///
    /// Looks through `Identity` nodes, which exporters use to share one initializer.
    pub(crate) fn is_constant(&self, tensor: TensorId) -> bool {
        let tensor = self.through_identities(tensor);
        self.is_initializer_itself(tensor)
            || (tensor != NONE
                && matches!(self.tensors[tensor as usize].kind, TensorKind::Activation)
                && self
                    .producer(tensor)
                    .is_some_and(|node| self.op(node) == "Constant"))
    }

    /// Whether `tensor` is an initializer (a stored weight or constant), directly or through
    /// `Identity` nodes.
    pub(crate) fn is_initializer(&self, tensor: TensorId) -> bool {
        self.is_initializer_itself(self.through_identities(tensor))
    }

    fn is_initializer_itself(&self, tensor: TensorId) -> bool {
        tensor != NONE
            && matches!(
                self.tensors[tensor as usize].kind,
                TensorKind::Initializer { .. }
            )
    }

    /// The values of a small constant, looking through `Unsqueeze`, `Cast` and `Identity`.
    pub(crate) fn values(&self, tensor: TensorId) -> Option<&[f64]> {
        let mut tensor = tensor;
        for _ in 0..4 {
            if tensor == NONE {
                return None;
            }
            if let Some(values) = &self.tensors[tensor as usize].values {
                return Some(values);
            }
            let producer = self.producer(tensor)?;
            if !matches!(self.op(producer), "Unsqueeze" | "Cast" | "Identity") {
                return None;
            }
            tensor = *self.node(producer).inputs.first()?;
        }
        None
    }

    /// The integer attribute `name` of `node`.
    pub(crate) fn int_attribute(&self, node: NodeId, name: &str) -> Option<i64> {
        self.node(node)
            .int_attributes
            .iter()
            .find(|(key, _)| &**key == name)
            .map(|(_, value)| *value)
    }

    /// The non-constant inputs of `node` that a node produces, in order.
    pub(crate) fn computed_inputs(&self, node: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.node(node)
            .inputs
            .iter()
            .filter(|input| !self.is_constant(**input))
            .filter_map(|input| self.producer(*input))
    }
}
