//! The ONNX importer: decodes the protobuf with hand-written `prost` messages, builds the
//! operator graph, counts initializers and runs the graph analysis.

mod census;
mod proto;

use std::{
    collections::{BTreeMap, HashMap},
    path::{Component, Path},
};

use rustc_hash::FxHashMap;

use advisor_core::{
    Architecture, Dimension, GraphEdge, GraphNode, ModelFacts, ModelGraph, Precision,
};
use bytes::Bytes;
use prost::Message;

use crate::{
    analysis::{self, is_embedding_lookup},
    error::{ImportError, ImportErrorKind, ImportWarning},
    format::{Imported, ModelFormat, TensorSignature},
    opgraph::{NONE, OpGraph, OpGraphBuilder, TensorId, TensorKind},
};

/// Most values kept for a `Constant` node: shapes and scalars, never weights.
const MAX_CONSTANT_VALUES: u64 = 16;

/// Integer attributes the analysis reads.
const READ_ATTRIBUTES: &[&str] = &["num_heads", "kv_num_heads", "unidirectional"];

/// An imported ONNX model before the facts shared with other importers are derived.
pub(crate) struct OnnxImport {
    pub(crate) imported: Imported,
    /// Parameters of embedding tables (read by Gather only), which cost no FLOPs.
    pub(crate) lookup_parameters: u64,
}

/// Reads an ONNX model from bytes and analyzes its graph.
///
/// External-data tensors are counted from their dims; their files are not read. A location
/// that would leave the model's folder (absolute, or with `..`) is refused. Use
/// [`import_path`](crate::import_path) to also check that the files exist and that no symlink
/// leads out of the folder, and to combine the model with a `config.json` beside it.
///
/// ```
/// let error = advisor_graph::from_onnx_bytes(br#"{"model_type": "bert"}"#, "model.onnx")
///     .unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "model.onnx: expected an ONNX model (protobuf), found JSON text"
/// );
/// ```
///
/// # Errors
///
/// Content that is not protobuf (JSON, safetensors), a truncated or corrupt protobuf, nesting
/// deeper than the decoder's limit, a model without a graph, and initializers with negative
/// or overflowing dims, an unknown data type, or an external location outside the folder.
pub fn from_onnx_bytes(bytes: &[u8], source: &str) -> Result<Imported, ImportError> {
    let mut onnx = import(Bytes::copy_from_slice(bytes), source, None)?;
    crate::facts::complete(&mut onnx.imported.graph, Some(onnx.lookup_parameters));
    Ok(onnx.imported)
}

/// Imports ONNX bytes; `folder` is the model's folder, for external data.
pub(crate) fn import(
    bytes: Bytes,
    source: &str,
    folder: Option<&Path>,
) -> Result<OnnxImport, ImportError> {
    let error = |kind| ImportError::new(source, kind);
    if let Some(found) = crate::format::describe_non_protobuf(&bytes) {
        return Err(error(ImportErrorKind::FormatMismatch {
            expected: "an ONNX model (protobuf)",
            found,
        }));
    }
    // Counted before decoding: a file of nearly empty elements would cost a hundred times
    // its size once decoded.
    if let Some(message) = census::census(&bytes).refusal(bytes.len() as u64) {
        return Err(error(ImportErrorKind::Io { message }));
    }
    let model = proto::ModelProto::decode(bytes).map_err(|e| {
        error(ImportErrorKind::Protobuf {
            message: e.to_string(),
        })
    })?;
    let Some(graph) = model.graph else {
        return Err(error(ImportErrorKind::Protobuf {
            message: "the model has no graph (ModelProto field 7)".to_owned(),
        }));
    };
    let mut warnings = Vec::new();
    let mut builder = OpGraphBuilder::with_capacity(graph.node.len());
    let mut shapes: FxHashMap<u32, Vec<Dimension>> = FxHashMap::default();
    let mut input_names: HashMap<String, Vec<Dimension>> = HashMap::new();
    for input in &graph.input {
        let id = builder.declare(&Bytes::from(input.name.clone()), TensorKind::GraphInput);
        shapes.insert(id, shape_of(input));
        input_names.insert(input.name.clone(), shape_of(input));
    }

    let mut counts = Counts::default();
    let mut initializers = Vec::with_capacity(graph.initializer.len());
    for tensor in &graph.initializer {
        let info = tensor_info(tensor, source, folder, &mut warnings)?;
        counts.add(&info);
        let id = builder.declare(
            &Bytes::from(tensor.name.clone()),
            TensorKind::Initializer {
                dims: info.dims.clone(),
                float: info.float,
            },
        );
        initializers.push((id, info));
    }
    for sparse in &graph.sparse_initializer {
        let Some(values) = &sparse.values else {
            continue;
        };
        let info = tensor_info(values, source, folder, &mut warnings)?;
        counts.add(&info);
        let dims = dims_of(&sparse.dims, &values.name, source)?;
        let id = builder.declare(
            &Bytes::from(values.name.clone()),
            TensorKind::Initializer {
                dims,
                float: info.float,
            },
        );
        initializers.push((id, info));
    }

    for node in graph.node {
        let mut int_attributes = Vec::new();
        let mut constant = None;
        let is_constant = &node.op_type[..] == b"Constant";
        for attribute in &node.attribute {
            if READ_ATTRIBUTES.contains(&attribute.name.as_str()) {
                int_attributes.push((attribute.name.as_str().into(), attribute.i));
            }
            if is_constant {
                constant = constant.or(match attribute.name.as_str() {
                    "value" => attribute.t.as_deref().and_then(constant_values),
                    "value_float" => Some(vec![f64::from(attribute.f)]),
                    "value_int" => Some(vec![attribute.i as f64]),
                    "value_ints" if attribute.ints.len() as u64 <= MAX_CONSTANT_VALUES => {
                        Some(attribute.ints.iter().map(|v| *v as f64).collect())
                    }
                    _ => None,
                });
            }
        }
        builder.node(
            node.name,
            &node.op_type,
            &node.input,
            &node.output,
            int_attributes,
        );
        if let (Some(values), Some(output)) = (constant, node.output.first())
            && !output.is_empty()
        {
            let tensor = builder.tensor(output);
            builder.set_values(tensor, values);
        }
    }
    let mut output_shapes: FxHashMap<u32, Vec<Dimension>> = FxHashMap::default();
    for output in &graph.output {
        let id = builder.tensor(&Bytes::from(output.name.clone()));
        output_shapes.insert(id, shape_of(output));
    }
    let initializer_names: std::collections::HashSet<&str> = graph
        .initializer
        .iter()
        .map(|tensor| tensor.name.as_str())
        .collect();
    let signatures = |values: &[proto::ValueInfoProto]| -> Vec<TensorSignature> {
        values
            .iter()
            .filter(|value| !initializer_names.contains(value.name.as_str()))
            .map(|value| {
                let dtype = value
                    .r#type
                    .as_ref()
                    .and_then(|t| t.tensor_type.as_ref())
                    .and_then(|t| proto::data_type_info(t.elem_type))
                    .map(|(name, _, _)| name.to_owned());
                TensorSignature::new(value.name.clone(), dtype, shape_of(value))
            })
            .collect()
    };
    let graph_inputs = signatures(&graph.input);
    let graph_outputs = signatures(&graph.output);
    drop(initializer_names);
    // The default domain is spelled `` or `ai.onnx`; other domains (`com.microsoft`) version
    // their own operators.
    let opset = model
        .opset_import
        .iter()
        .filter(|set| set.domain.is_empty() || set.domain == "ai.onnx")
        .filter_map(|set| u64::try_from(set.version).ok())
        .max();
    let producer_name = model.producer_name;
    let graph_name = graph.name;
    let ops = builder.finish();
    // The analysis and the conversion to core's types only read the operator graph; on a large
    // model each is a good share of the import, so they run side by side on two threads.
    let (analysis, converted) = if ops.nodes.len() >= PARALLEL_NODES {
        std::thread::scope(|scope| {
            let analysis = scope.spawn(|| analysis::analyze(&ops));
            let converted = convert(&ops, &initializers, &shapes, &output_shapes);
            match analysis.join() {
                Ok(analysis) => (analysis, converted),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    } else {
        let analysis = analysis::analyze(&ops);
        (
            analysis,
            convert(&ops, &initializers, &shapes, &output_shapes),
        )
    };
    let Converted {
        mut nodes,
        edges,
        lookup_parameters,
        tied_copies,
    } = converted;
    warnings.extend(analysis.warnings.iter().cloned());
    warnings.extend(tied_copies);
    let facts = onnx_facts(&ops, &analysis, &counts, &initializers, &input_names);
    for (node, op) in nodes.iter_mut().zip(ops.nodes) {
        node.id.clone_from(&op.name);
        node.name = op.name;
    }
    let name = [graph_name, producer_name]
        .into_iter()
        .find(|name| !name.trim().is_empty());
    let graph = ModelGraph {
        name,
        facts,
        nodes,
        edges,
        fusion_opportunities: analysis.fusions,
    };
    let mut imported = Imported::new(graph, ModelFormat::Onnx, warnings);
    imported.opset = opset;
    imported.inputs = graph_inputs;
    imported.outputs = graph_outputs;
    Ok(OnnxImport {
        imported,
        lookup_parameters,
    })
}

/// Operator graphs at least this large run the analysis and the conversion in parallel.
const PARALLEL_NODES: usize = 50_000;

/// Core's nodes and edges for an operator graph, with the per-node parameters.
struct Converted {
    nodes: Vec<GraphNode>,
    edges: Vec<GraphEdge>,
    lookup_parameters: u64,
    tied_copies: Vec<ImportWarning>,
}

/// Converts the operator graph to core's nodes and edges (node names are filled in later, by
/// moving them out of the operator graph) and attributes initializer parameters to nodes.
fn convert(
    ops: &OpGraph,
    initializers: &[(TensorId, InitializerInfo)],
    shapes: &FxHashMap<u32, Vec<Dimension>>,
    output_shapes: &FxHashMap<u32, Vec<Dimension>>,
) -> Converted {
    let mut tied_copies = Vec::new();
    // Parameters are attributed to the first node reading them, so node counts sum to the
    // file's total for every initializer in use.
    let mut node_parameters = vec![0u64; ops.nodes.len()];
    let mut node_dtype: Vec<Option<Precision>> = vec![None; ops.nodes.len()];
    let mut lookup_parameters = 0u64;
    let mut tables: HashMap<(u64, u64), String> = HashMap::new();
    for (id, info) in initializers {
        if !info.parameter {
            continue;
        }
        let consumers = ops.consumers(*id);
        if let Some(first) = consumers.iter().min() {
            let slot = &mut node_parameters[*first as usize];
            *slot = slot.saturating_add(info.elements);
            node_dtype[*first as usize] = node_dtype[*first as usize].or(info.precision);
        }
        if !consumers.is_empty()
            && consumers
                .iter()
                .all(|consumer| is_embedding_lookup(ops, *consumer))
        {
            lookup_parameters = lookup_parameters.saturating_add(info.elements);
            if let [rows, columns] = info.dims.as_slice() {
                tables.insert((*rows, *columns), ops.tensor_name(*id).to_owned());
            }
        }
    }
    for (id, info) in initializers {
        if let [rows, columns] = info.dims.as_slice()
            && info.float
            && rows != columns
            && !tables.values().any(|name| name == ops.tensor_name(*id))
            && let Some(table) = tables.get(&(*columns, *rows))
        {
            tied_copies.push(ImportWarning::LikelyTiedCopy {
                first: table.clone(),
                second: ops.tensor_name(*id).to_owned(),
            });
        }
    }

    let mut nodes = Vec::with_capacity(ops.nodes.len());
    // Count the edges first: growing a vector of a million edges copies it a dozen times.
    let edge_count: usize = ops
        .nodes
        .iter()
        .map(|node| {
            node.inputs
                .iter()
                .filter(|input| ops.producer(**input).is_some())
                .count()
        })
        .sum();
    let mut edges = Vec::with_capacity(edge_count);
    for (index, node) in ops.nodes.iter().enumerate() {
        let mut input_shapes = Vec::new();
        if node.inputs.iter().any(|input| shapes.contains_key(input)) {
            input_shapes = node
                .inputs
                .iter()
                .map(|input| match input {
                    &NONE => Vec::new(),
                    input => shapes.get(input).cloned().unwrap_or_default(),
                })
                .collect();
        }
        let mut node_output_shapes = Vec::new();
        if node
            .outputs
            .iter()
            .any(|output| output_shapes.contains_key(output))
        {
            node_output_shapes = node
                .outputs
                .iter()
                .map(|output| output_shapes.get(output).cloned().unwrap_or_default())
                .collect();
        }
        // A tensor read twice by one node is one edge. Nodes have a handful of inputs; one
        // with thousands gets a set rather than a scan of the inputs before each.
        let mut seen = rustc_hash::FxHashSet::default();
        for (position, input) in node.inputs.iter().enumerate() {
            let Some(producer) = ops.producer(*input) else {
                continue;
            };
            let repeated = if node.inputs.len() <= 16 {
                node.inputs[..position].contains(input)
            } else {
                !seen.insert(*input)
            };
            if repeated {
                continue;
            }
            edges.push(GraphEdge {
                from: ops.nodes[producer as usize].name.clone(),
                to: node.name.clone(),
                tensor: Some(ops.tensor_name(*input).to_owned()),
            });
        }
        nodes.push(GraphNode {
            // Filled below, moving the names out of the operator graph.
            id: String::new(),
            op_type: ops.op_types[node.op_type as usize].clone(),
            name: String::new(),
            parameters: node_parameters[index],
            dtype: node_dtype[index],
            input_shapes,
            output_shapes: node_output_shapes,
            attributes: BTreeMap::new(),
        });
    }
    Converted {
        nodes,
        edges,
        lookup_parameters,
        tied_copies,
    }
}

/// What the importer needs of one initializer.
struct InitializerInfo {
    dims: Vec<u64>,
    elements: u64,
    bytes: u64,
    dtype_name: &'static str,
    precision: Option<Precision>,
    float: bool,
    /// Counted as a parameter: floating point, or 8- and 4-bit integers (quantized weights).
    parameter: bool,
}

/// Totals over initializers.
#[derive(Default)]
struct Counts {
    parameters: u64,
    bytes: u64,
    bytes_by_dtype: BTreeMap<String, u64>,
    elements_by_precision: BTreeMap<&'static str, (u64, Option<Precision>)>,
}

impl Counts {
    fn add(&mut self, info: &InitializerInfo) {
        if info.parameter {
            self.parameters = self.parameters.saturating_add(info.elements);
            let entry = self
                .elements_by_precision
                .entry(info.dtype_name)
                .or_insert((0, info.precision));
            entry.0 = entry.0.saturating_add(info.elements);
        }
        self.bytes = self.bytes.saturating_add(info.bytes);
        let entry = self
            .bytes_by_dtype
            .entry(info.dtype_name.to_owned())
            .or_default();
        *entry = entry.saturating_add(info.bytes);
    }
}

fn dims_of(dims: &[i64], tensor: &str, source: &str) -> Result<Vec<u64>, ImportError> {
    dims.iter()
        .map(|dim| {
            u64::try_from(*dim).map_err(|_| {
                ImportError::new(
                    source,
                    ImportErrorKind::InvalidTensor {
                        tensor: tensor.to_owned(),
                        message: format!("negative dimension {dim} in dims {dims:?}"),
                    },
                )
            })
        })
        .collect()
}

fn tensor_info(
    tensor: &proto::TensorInfo,
    source: &str,
    folder: Option<&Path>,
    warnings: &mut Vec<ImportWarning>,
) -> Result<InitializerInfo, ImportError> {
    let invalid = |message: String| {
        ImportError::new(
            source,
            ImportErrorKind::InvalidTensor {
                tensor: tensor.name.clone(),
                message,
            },
        )
    };
    let dims = dims_of(&tensor.dims, &tensor.name, source)?;
    let elements = dims
        .iter()
        .try_fold(1u64, |product, dim| product.checked_mul(*dim))
        .ok_or_else(|| {
            invalid(format!(
                "dims {:?} overflow a 64-bit element count",
                tensor.dims
            ))
        })?;
    let (dtype_name, bits, float) = proto::data_type_info(tensor.data_type)
        .ok_or_else(|| invalid(format!("unknown data_type {}", tensor.data_type)))?;
    let bytes = elements
        .checked_mul(bits)
        .map(|bits| bits.div_ceil(8))
        .ok_or_else(|| {
            invalid(format!(
                "dims {:?} overflow a 64-bit byte count",
                tensor.dims
            ))
        })?;
    if tensor.data_location == 1 {
        check_external(tensor, source, folder, bytes, warnings)?;
    }
    let precision = Precision::parse(dtype_name);
    Ok(InitializerInfo {
        dims,
        elements,
        bytes,
        dtype_name,
        precision,
        float,
        parameter: float || matches!(bits, 4 | 8) && dtype_name != "bool",
    })
}

/// Refuses an external-data location outside the model's folder; with the folder known,
/// checks the file exists, stays inside after resolving symlinks, and is long enough.
fn check_external(
    tensor: &proto::TensorInfo,
    source: &str,
    folder: Option<&Path>,
    bytes: u64,
    warnings: &mut Vec<ImportWarning>,
) -> Result<(), ImportError> {
    let entry = |key: &str| {
        tensor
            .external_data
            .iter()
            .find(|entry| entry.key == key)
            .map(|entry| entry.value.as_str())
    };
    let Some(location) = entry("location") else {
        return Err(ImportError::new(
            source,
            ImportErrorKind::InvalidTensor {
                tensor: tensor.name.clone(),
                message: "external data without a `location`".to_owned(),
            },
        ));
    };
    let escapes = || {
        ImportError::new(
            source,
            ImportErrorKind::ExternalDataEscapes {
                tensor: tensor.name.clone(),
                location: location.to_owned(),
            },
        )
    };
    let path = Path::new(location);
    let inside = !location.is_empty()
        && !location.contains('\\')
        && path
            .components()
            .all(|component| matches!(component, Component::Normal(_) | Component::CurDir));
    if !inside {
        return Err(escapes());
    }
    let Some(folder) = folder else {
        return Ok(());
    };
    let full = folder.join(path);
    let (Ok(real_folder), Ok(real_file)) = (folder.canonicalize(), full.canonicalize()) else {
        warnings.push(ImportWarning::Companion {
            file: full.display().to_string(),
            message: format!(
                "external data of tensor `{}` not found; counted from its dims",
                tensor.name
            ),
        });
        return Ok(());
    };
    if !real_file.starts_with(&real_folder) {
        return Err(escapes());
    }
    let offset: u64 = entry("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let length: u64 = entry("length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(bytes);
    if let Ok(metadata) = std::fs::metadata(&real_file)
        && offset.saturating_add(length) > metadata.len()
    {
        warnings.push(ImportWarning::Companion {
            file: full.display().to_string(),
            message: format!(
                "tensor `{}` needs bytes {offset}..{} but the file has {}",
                tensor.name,
                offset.saturating_add(length),
                metadata.len()
            ),
        });
    }
    Ok(())
}

/// The values of a small `Constant` tensor.
fn constant_values(tensor: &proto::ConstantTensor) -> Option<Vec<f64>> {
    let elements = tensor.dims.iter().try_fold(1u64, |product, dim| {
        product.checked_mul(u64::try_from(*dim).ok()?)
    })?;
    // The data fields are checked too: a tensor whose dims claim a scalar but whose data
    // holds a weight matrix is not a small constant.
    let stored = [
        tensor.float_data.len(),
        tensor.int64_data.len(),
        tensor.double_data.len(),
        tensor.raw_data.len() / 8,
    ];
    if elements > MAX_CONSTANT_VALUES
        || stored
            .iter()
            .any(|count| *count as u64 > MAX_CONSTANT_VALUES)
    {
        return None;
    }
    if !tensor.float_data.is_empty() {
        return Some(tensor.float_data.iter().map(|v| f64::from(*v)).collect());
    }
    if !tensor.int64_data.is_empty() {
        return Some(tensor.int64_data.iter().map(|v| *v as f64).collect());
    }
    if !tensor.double_data.is_empty() {
        return Some(tensor.double_data.clone());
    }
    let raw = &tensor.raw_data;
    let values = match tensor.data_type {
        1 => raw
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        6 => raw
            .chunks_exact(4)
            .map(|c| f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        7 => raw
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f64)
            .collect(),
        11 => raw
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
        _ => return None,
    };
    Some(values)
}

fn shape_of(value: &proto::ValueInfoProto) -> Vec<Dimension> {
    value
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
        .map(|shape| {
            shape
                .dim
                .iter()
                .map(|dim| match (&dim.dim_param, dim.dim_value) {
                    (Some(param), _) if !param.is_empty() => Dimension::Symbolic(param.clone()),
                    (_, Some(value)) if value >= 0 => Dimension::Fixed(value as u64),
                    _ => Dimension::Symbolic("?".to_owned()),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The model facts an ONNX graph states: parameters and bytes from the initializers, the
/// rest from attention blocks, norms and embedding tables.
fn onnx_facts(
    ops: &OpGraph,
    analysis: &analysis::GraphAnalysis,
    counts: &Counts,
    initializers: &[(u32, InitializerInfo)],
    inputs: &HashMap<String, Vec<Dimension>>,
) -> ModelFacts {
    let blocks = &analysis.attention;
    let majority = |values: Vec<u64>| {
        let mut tally: BTreeMap<u64, u64> = BTreeMap::new();
        for value in values {
            *tally.entry(value).or_default() += 1;
        }
        tally
            .into_iter()
            .max_by_key(|(_, count)| *count)
            .map(|(value, _)| value)
    };
    let heads = majority(blocks.iter().filter_map(|b| b.heads).collect());
    let kv_heads = majority(blocks.iter().filter_map(|b| b.kv_heads).collect());
    let head_dim = majority(blocks.iter().filter_map(|b| b.head_dim).collect());
    let mut vocab = None;
    let mut embedding_width = None;
    let mut positions = None;
    for (id, info) in initializers {
        let lookup = !ops.consumers(*id).is_empty()
            && ops
                .consumers(*id)
                .iter()
                .all(|consumer| is_embedding_lookup(ops, *consumer));
        let [rows, width] = info.dims.as_slice() else {
            continue;
        };
        if !lookup {
            continue;
        }
        let name = ops.tensor_name(*id).to_ascii_lowercase();
        if name.contains("position") || name.contains("wpe") {
            positions = Some(*rows);
        } else if vocab.is_none_or(|v| *rows > v) {
            vocab = Some(*rows);
            embedding_width = Some(*width);
        }
    }
    let causal = blocks.iter().any(|b| b.causal == Some(true))
        || analysis.op_counts.contains_key("Trilu")
        || inputs.keys().any(|name| name.starts_with("past"));
    let architecture = if causal {
        Some(Architecture::Decoder)
    } else if inputs.contains_key("token_type_ids") {
        Some(Architecture::Encoder)
    } else {
        None
    };
    let dtype = counts
        .elements_by_precision
        .values()
        .max_by_key(|(elements, _)| *elements)
        .and_then(|(_, precision)| *precision);
    ModelFacts {
        architecture,
        parameters: Some(counts.parameters),
        layers: (!blocks.is_empty()).then_some(blocks.len() as u64),
        hidden_size: analysis.norm_width.or(embedding_width),
        attention_heads: heads,
        kv_heads,
        head_dim,
        vocab_size: vocab,
        max_sequence_length: positions,
        dtype,
        weight_bytes: Some(counts.bytes),
        weight_bytes_by_dtype: counts.bytes_by_dtype.clone(),
        attention_blocks: Some(blocks.len() as u64),
        ..ModelFacts::default()
    }
}
