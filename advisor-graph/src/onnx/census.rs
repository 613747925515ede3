//! Counts what decoding an ONNX file would build, before it is decoded, so that a small file
//! of nearly empty elements is refused instead of costing gigabytes.
//!
//! A protobuf element can be two bytes on disk (a tag and a zero length) and a few hundred
//! bytes once decoded, converted to core's types and analyzed: 40 million empty nodes fit in
//! 76 MiB. The census walks the wire format of the messages in `proto.rs` with a heap stack,
//! allocating nothing per element, and counts nodes, node input and output names,
//! attributes, initializers, graph inputs and outputs, shape dimensions and repeated numbers.
//! [`Census::estimated_bytes`] turns the counts into the memory the import needs.
//!
//! The census never fails: where the bytes stop making sense it stops counting, and the
//! decoder reports what is wrong.

/// Most nodes a model may have, over all its graphs. The largest exported transformers have a
/// few hundred thousand; the importer's benchmark has a million.
pub(crate) const MAX_NODES: u64 = 5_000_000;

/// The import may always take this much memory, however small the file.
pub(crate) const MIN_IMPORT_BUDGET_BYTES: u64 = 256 << 20;

/// Past [`MIN_IMPORT_BUDGET_BYTES`], the import may take this many times the file's size.
/// Real graphs take 15 to 45 times their size (names of 20 to 50 bytes per node); a file of
/// empty nodes would take 150 times.
pub(crate) const MAX_IMPORT_BYTES_PER_FILE_BYTE: u64 = 64;

/// What decoding a model would build.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Census {
    /// Nodes, in the main graph and in subgraphs.
    pub(crate) nodes: u64,
    /// Node input and output names.
    pub(crate) names: u64,
    /// Node attributes.
    pub(crate) attributes: u64,
    /// Initializers, dense and sparse.
    pub(crate) initializers: u64,
    /// Graph inputs and outputs.
    pub(crate) values: u64,
    /// Dimensions of graph input and output shapes.
    pub(crate) dims: u64,
    /// Repeated numbers: dims of initializers and constants, attribute `ints`, constant data.
    pub(crate) numbers: u64,
    /// Other small messages: opsets, external-data entries, constant tensors, types.
    pub(crate) others: u64,
}

// Bytes each element costs the import at its peak, measured on generated graphs (decoded
// message, operator graph, analysis and core's node, which keeps its own copies of names and
// shapes), rounded up.
const NODE_BYTES: u64 = 480;
const NAME_BYTES: u64 = 160;
const ATTRIBUTE_BYTES: u64 = 224;
const INITIALIZER_BYTES: u64 = 400;
const VALUE_BYTES: u64 = 400;
const DIM_BYTES: u64 = 192;
const NUMBER_BYTES: u64 = 32;
const OTHER_BYTES: u64 = 160;

impl Census {
    /// Memory the import takes for these elements, not counting the file itself.
    pub(crate) fn estimated_bytes(&self) -> u64 {
        [
            (self.nodes, NODE_BYTES),
            (self.names, NAME_BYTES),
            (self.attributes, ATTRIBUTE_BYTES),
            (self.initializers, INITIALIZER_BYTES),
            (self.values, VALUE_BYTES),
            (self.dims, DIM_BYTES),
            (self.numbers, NUMBER_BYTES),
            (self.others, OTHER_BYTES),
        ]
        .iter()
        .fold(0u64, |total, (count, bytes)| {
            total.saturating_add(count.saturating_mul(*bytes))
        })
    }

    /// Why a file of `file_bytes` bytes with these elements is refused, if it is.
    pub(crate) fn refusal(&self, file_bytes: u64) -> Option<String> {
        if self.nodes > MAX_NODES {
            // Counting stops there: the exact number is not known.
            return Some(format!(
                "more than {MAX_NODES} nodes, the most the importer reads"
            ));
        }
        let estimate = self.estimated_bytes();
        let limit =
            MIN_IMPORT_BUDGET_BYTES.max(file_bytes.saturating_mul(MAX_IMPORT_BYTES_PER_FILE_BYTE));
        (estimate > limit).then(|| {
            format!(
                "importing would take about {} MiB for {} nodes, {} node input/output names, \
                 {} attributes, {} initializers, {} graph inputs/outputs and {} shape \
                 dimensions, more than {MAX_IMPORT_BYTES_PER_FILE_BYTE} times the file's {} \
                 bytes (and {} MiB): its elements are nearly empty",
                estimate >> 20,
                self.nodes,
                self.names,
                self.attributes,
                self.initializers,
                self.values,
                self.dims,
                file_bytes,
                MIN_IMPORT_BUDGET_BYTES >> 20
            )
        })
    }
}

/// The messages of `proto.rs` whose fields the census looks into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Message {
    Model,
    Graph,
    Node,
    Attribute,
    Tensor,
    ConstantTensor,
    SparseTensor,
    ValueInfo,
    Type,
    TensorType,
    Shape,
}

/// Submessages nested deeper than this are not looked into (the decoder refuses them: its
/// recursion limit is 100).
const MAX_NESTING: usize = 128;

/// Counts the elements of the `ModelProto` in `bytes`.
pub(crate) fn census(bytes: &[u8]) -> Census {
    let mut census = Census::default();
    // (message, end of its bytes)
    let mut stack: Vec<(Message, usize)> = vec![(Message::Model, bytes.len())];
    let mut at = 0usize;
    while let Some(&(message, end)) = stack.last() {
        if census.nodes > MAX_NODES {
            // Refused whatever follows.
            break;
        }
        if at >= end {
            stack.pop();
            continue;
        }
        let Some(key) = varint(bytes, &mut at) else {
            break;
        };
        let field = key >> 3;
        let payload = match key & 7 {
            0 => {
                if varint(bytes, &mut at).is_none() {
                    break;
                }
                census.count_scalar(message, field);
                continue;
            }
            1 => {
                at = at.saturating_add(8);
                census.count_fixed(message, field, 8);
                continue;
            }
            5 => {
                at = at.saturating_add(4);
                census.count_fixed(message, field, 4);
                continue;
            }
            2 => {
                let Some(length) = varint(bytes, &mut at) else {
                    break;
                };
                let Some(payload_end) = usize::try_from(length)
                    .ok()
                    .and_then(|length| at.checked_add(length))
                    .filter(|payload_end| *payload_end <= end)
                else {
                    break;
                };
                at..payload_end
            }
            // Groups (3, 4) and unknown wire types: the decoder says what is wrong.
            _ => break,
        };
        let data = &bytes[payload.clone()];
        match census.count_length_delimited(message, field, data) {
            Some(inner) if stack.len() < MAX_NESTING => {
                stack.push((inner, payload.end));
            }
            _ => at = payload.end,
        }
    }
    census
}

impl Census {
    /// A varint-encoded field: unpacked repeated numbers are counted.
    fn count_scalar(&mut self, message: Message, field: u64) {
        if is_repeated_number(message, field) {
            self.numbers += 1;
        }
    }

    /// A fixed-width field of `width` bytes.
    fn count_fixed(&mut self, message: Message, field: u64, _width: u64) {
        if is_repeated_number(message, field) {
            self.numbers += 1;
        }
    }

    /// A length-delimited field: counts it and returns the message to look into, if any.
    fn count_length_delimited(
        &mut self,
        message: Message,
        field: u64,
        data: &[u8],
    ) -> Option<Message> {
        use Message::*;
        match (message, field) {
            (Model, 7) => Some(Graph),
            (Model, 8) => {
                self.others += 1;
                None
            }
            (Graph, 1) => {
                self.nodes += 1;
                Some(Node)
            }
            (Graph, 5) => {
                self.initializers += 1;
                Some(Tensor)
            }
            (Graph, 11 | 12) => {
                self.values += 1;
                Some(ValueInfo)
            }
            (Graph, 15) => {
                self.initializers += 1;
                Some(SparseTensor)
            }
            (Node, 1 | 2) => {
                self.names += 1;
                None
            }
            (Node, 5) => {
                self.attributes += 1;
                Some(Attribute)
            }
            (Attribute, 5) => {
                self.others += 1;
                Some(ConstantTensor)
            }
            (Attribute, 6) => Some(Graph),
            (Tensor, 13) => {
                self.others += 1;
                None
            }
            (SparseTensor, 1) => Some(Tensor),
            (ValueInfo, 2) => {
                self.others += 1;
                Some(Type)
            }
            (Type, 1) => Some(TensorType),
            (TensorType, 2) => Some(Shape),
            (Shape, 1) => {
                self.dims += 1;
                None
            }
            // Packed repeated numbers.
            (ConstantTensor, 4) => {
                self.numbers += data.len() as u64 / 4;
                None
            }
            (ConstantTensor, 10) => {
                self.numbers += data.len() as u64 / 8;
                None
            }
            _ if is_repeated_number(message, field) => {
                // Packed varints: one ends at each byte without the continuation bit.
                self.numbers += data.iter().filter(|byte| **byte < 0x80).count() as u64;
                None
            }
            _ => None,
        }
    }
}

/// Repeated number fields the decoder keeps.
fn is_repeated_number(message: Message, field: u64) -> bool {
    use Message::*;
    matches!(
        (message, field),
        (Tensor, 1) | (SparseTensor, 3) | (Attribute, 8) | (ConstantTensor, 1 | 4 | 7 | 10)
    )
}

/// Reads a varint at `at`, moving past it; `None` when the bytes end inside it or it is longer
/// than ten bytes.
fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift.min(63);
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(out: &mut Vec<u8>, number: u64, payload: &[u8]) {
        out.push((number << 3 | 2) as u8);
        out.push(payload.len() as u8);
        out.extend_from_slice(payload);
    }

    #[test]
    fn counts_the_elements_the_decoder_builds() {
        let mut node = Vec::new();
        field(&mut node, 1, b"x");
        field(&mut node, 1, b"");
        field(&mut node, 2, b"y");
        field(&mut node, 4, b"Add");
        let mut attribute = Vec::new();
        field(&mut attribute, 1, b"axes");
        field(&mut attribute, 8, &[1, 2, 0x81, 0x01]);
        field(&mut node, 5, &attribute);
        let mut dim = Vec::new();
        field(&mut dim, 2, b"batch");
        let mut shape = Vec::new();
        field(&mut shape, 1, &dim);
        field(&mut shape, 1, &[]);
        let mut tensor_type = Vec::new();
        field(&mut tensor_type, 2, &shape);
        let mut value_type = Vec::new();
        field(&mut value_type, 1, &tensor_type);
        let mut value = Vec::new();
        field(&mut value, 1, b"x");
        field(&mut value, 2, &value_type);
        let mut graph = Vec::new();
        field(&mut graph, 1, &node);
        field(&mut graph, 1, &[]);
        field(&mut graph, 11, &value);
        let mut model = vec![0x08, 0x08];
        field(&mut model, 7, &graph);
        let census = census(&model);
        assert_eq!(
            census,
            Census {
                nodes: 2,
                names: 3,
                attributes: 1,
                initializers: 0,
                values: 1,
                dims: 2,
                numbers: 3,
                others: 1,
            }
        );
        // Cut anywhere, it counts what it saw and stops.
        for end in 0..model.len() {
            let _ = super::census(&model[..end]);
        }
    }

    #[test]
    fn empty_nodes_are_refused_and_real_graphs_are_not() {
        let empty = Census {
            nodes: 4_000_000,
            ..Census::default()
        };
        let refusal = empty.refusal(8_000_011).expect("refused");
        assert!(
            refusal.starts_with("importing would take about 1831 MiB for 4000000 nodes"),
            "{refusal}"
        );
        assert!(
            Census {
                nodes: 40_000_000,
                ..Census::default()
            }
            .refusal(80_000_000)
            .expect("refused")
            .starts_with("more than 5000000 nodes, the most the importer reads")
        );
        // The importer's benchmark: a million nodes with 20-byte names, 50 MB.
        let bench = Census {
            nodes: 1_000_000,
            names: 2_600_000,
            ..Census::default()
        };
        assert_eq!(bench.refusal(50_478_097), None);
    }
}
