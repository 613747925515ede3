//! The subset of the ONNX protobuf schema (`onnx/onnx.proto3`) this importer reads, as
//! hand-written `prost` messages with the schema's field numbers.
//!
//! Fields the importer does not need are left out, and `prost` skips them while decoding
//! without keeping them: in particular an initializer's `raw_data` (field 9) and its typed
//! data fields, so weight bytes are never copied. Strings that are only used to wire the graph
//! (node inputs and outputs) are decoded as [`Bytes`], which slice the file buffer instead of
//! allocating; UTF-8 is checked when they are interned. Node `domain` (7) and attribute
//! `graphs` (11) are not read and not decoded.

use bytes::Bytes;

/// `ModelProto`: the file's top level.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ModelProto {
    /// `ir_version` (1).
    #[prost(int64, tag = "1")]
    pub(crate) ir_version: i64,
    /// `producer_name` (2).
    #[prost(string, tag = "2")]
    pub(crate) producer_name: String,
    /// `graph` (7).
    #[prost(message, optional, tag = "7")]
    pub(crate) graph: Option<GraphProto>,
    /// `opset_import` (8).
    #[prost(message, repeated, tag = "8")]
    pub(crate) opset_import: Vec<OperatorSetIdProto>,
}

/// `OperatorSetIdProto`: an operator-set domain and version.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct OperatorSetIdProto {
    /// `domain` (1); empty means the default `ai.onnx` domain.
    #[prost(string, tag = "1")]
    pub(crate) domain: String,
    /// `version` (2).
    #[prost(int64, tag = "2")]
    pub(crate) version: i64,
}

/// `GraphProto`: nodes, initializers, inputs and outputs.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct GraphProto {
    /// `node` (1).
    #[prost(message, repeated, tag = "1")]
    pub(crate) node: Vec<NodeProto>,
    /// `name` (2).
    #[prost(string, tag = "2")]
    pub(crate) name: String,
    /// `initializer` (5).
    #[prost(message, repeated, tag = "5")]
    pub(crate) initializer: Vec<TensorInfo>,
    /// `input` (11).
    #[prost(message, repeated, tag = "11")]
    pub(crate) input: Vec<ValueInfoProto>,
    /// `output` (12).
    #[prost(message, repeated, tag = "12")]
    pub(crate) output: Vec<ValueInfoProto>,
    /// `sparse_initializer` (15).
    #[prost(message, repeated, tag = "15")]
    pub(crate) sparse_initializer: Vec<SparseTensorInfo>,
}

/// `NodeProto`: one operator.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct NodeProto {
    /// `input` (1): tensor names, empty for an omitted optional input.
    #[prost(bytes = "bytes", repeated, tag = "1")]
    pub(crate) input: Vec<Bytes>,
    /// `output` (2).
    #[prost(bytes = "bytes", repeated, tag = "2")]
    pub(crate) output: Vec<Bytes>,
    /// `name` (3).
    #[prost(string, tag = "3")]
    pub(crate) name: String,
    /// `op_type` (4), interned by the importer.
    #[prost(bytes = "bytes", tag = "4")]
    pub(crate) op_type: Bytes,
    /// `attribute` (5).
    #[prost(message, repeated, tag = "5")]
    pub(crate) attribute: Vec<AttributeProto>,
}

/// `AttributeProto`: a named operator attribute.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct AttributeProto {
    /// `name` (1).
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    /// `f` (2).
    #[prost(float, tag = "2")]
    pub(crate) f: f32,
    /// `i` (3).
    #[prost(int64, tag = "3")]
    pub(crate) i: i64,
    /// `t` (5): a tensor value, as in `Constant`. Boxed, as are subgraphs: most attributes
    /// have neither, and an attribute is decoded for every one in the file.
    #[prost(message, optional, boxed, tag = "5")]
    pub(crate) t: Option<Box<ConstantTensor>>,
    /// `g` (6): a subgraph, as in `If` and `Loop`. Decoded (and counted by the census) though
    /// unused, so that nesting past the decoder's recursion limit is an error.
    #[prost(message, optional, boxed, tag = "6")]
    pub(crate) g: Option<Box<GraphProto>>,
    /// `ints` (8).
    #[prost(int64, repeated, tag = "8")]
    pub(crate) ints: Vec<i64>,
}

/// `TensorProto` without its data: what an initializer's size and dtype need.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TensorInfo {
    /// `dims` (1).
    #[prost(int64, repeated, tag = "1")]
    pub(crate) dims: Vec<i64>,
    /// `data_type` (2): a `TensorProto.DataType` value.
    #[prost(int32, tag = "2")]
    pub(crate) data_type: i32,
    /// `name` (8).
    #[prost(string, tag = "8")]
    pub(crate) name: String,
    /// `external_data` (13): `location`, `offset`, `length`, `checksum`.
    #[prost(message, repeated, tag = "13")]
    pub(crate) external_data: Vec<StringStringEntryProto>,
    /// `data_location` (14): 0 `DEFAULT`, 1 `EXTERNAL`.
    #[prost(int32, tag = "14")]
    pub(crate) data_location: i32,
}

/// `TensorProto` with the data fields a small constant uses, for `Constant` node values.
///
/// `raw_data` is a slice of the file buffer, not a copy.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ConstantTensor {
    /// `dims` (1).
    #[prost(int64, repeated, tag = "1")]
    pub(crate) dims: Vec<i64>,
    /// `data_type` (2).
    #[prost(int32, tag = "2")]
    pub(crate) data_type: i32,
    /// `float_data` (4).
    #[prost(float, repeated, tag = "4")]
    pub(crate) float_data: Vec<f32>,
    /// `int64_data` (7).
    #[prost(int64, repeated, tag = "7")]
    pub(crate) int64_data: Vec<i64>,
    /// `raw_data` (9).
    #[prost(bytes = "bytes", tag = "9")]
    pub(crate) raw_data: Bytes,
    /// `double_data` (10).
    #[prost(double, repeated, tag = "10")]
    pub(crate) double_data: Vec<f64>,
}

/// `SparseTensorProto` without its data.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct SparseTensorInfo {
    /// `values` (1): the stored non-zero values; its dims give their count.
    #[prost(message, optional, tag = "1")]
    pub(crate) values: Option<TensorInfo>,
    /// `dims` (3): the dense shape.
    #[prost(int64, repeated, tag = "3")]
    pub(crate) dims: Vec<i64>,
}

/// `StringStringEntryProto`: a key and a value.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct StringStringEntryProto {
    /// `key` (1).
    #[prost(string, tag = "1")]
    pub(crate) key: String,
    /// `value` (2).
    #[prost(string, tag = "2")]
    pub(crate) value: String,
}

/// `ValueInfoProto`: a graph input or output with its type.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ValueInfoProto {
    /// `name` (1).
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    /// `type` (2).
    #[prost(message, optional, tag = "2")]
    pub(crate) r#type: Option<TypeProto>,
}

/// `TypeProto`, tensor types only.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TypeProto {
    /// `tensor_type` (1).
    #[prost(message, optional, tag = "1")]
    pub(crate) tensor_type: Option<TensorTypeProto>,
}

/// `TypeProto.Tensor`: element type and shape.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TensorTypeProto {
    /// `elem_type` (1).
    #[prost(int32, tag = "1")]
    pub(crate) elem_type: i32,
    /// `shape` (2).
    #[prost(message, optional, tag = "2")]
    pub(crate) shape: Option<TensorShapeProto>,
}

/// `TensorShapeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TensorShapeProto {
    /// `dim` (1).
    #[prost(message, repeated, tag = "1")]
    pub(crate) dim: Vec<DimensionProto>,
}

/// `TensorShapeProto.Dimension`: a fixed value or a symbolic name.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct DimensionProto {
    /// `dim_value` (1).
    #[prost(int64, optional, tag = "1")]
    pub(crate) dim_value: Option<i64>,
    /// `dim_param` (2).
    #[prost(string, optional, tag = "2")]
    pub(crate) dim_param: Option<String>,
}

/// `TensorProto.DataType` facts: name and bits per element.
pub(crate) fn data_type_info(data_type: i32) -> Option<(&'static str, u64, bool)> {
    // (name, bits per element, is floating point)
    Some(match data_type {
        1 => ("fp32", 32, true),
        2 => ("uint8", 8, false),
        3 => ("int8", 8, false),
        4 => ("uint16", 16, false),
        5 => ("int16", 16, false),
        6 => ("int32", 32, false),
        7 => ("int64", 64, false),
        8 => ("string", 0, false),
        9 => ("bool", 8, false),
        10 => ("fp16", 16, true),
        11 => ("fp64", 64, true),
        12 => ("uint32", 32, false),
        13 => ("uint64", 64, false),
        14 => ("complex64", 64, true),
        15 => ("complex128", 128, true),
        16 => ("bf16", 16, true),
        17..=20 => ("fp8", 8, true),
        21 => ("uint4", 4, false),
        22 => ("int4", 4, false),
        23 => ("fp4", 4, true),
        _ => return None,
    })
}
