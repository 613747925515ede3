//! How fast each operator is: FLOPs and bytes of the common operators from their recorded
//! input shapes (`record_shapes=True`: `Input Dims`, `Input type`), their kernels' GPU time
//! (each kernel attributed through its correlation id to the innermost such operator whose
//! span holds its launch call), and the achieved FLOP/s and bytes/s. The peaks to hold them
//! against are the device's (`advisor trace` looks them up in the accelerator table).
//!
//! The counts are the standard ones: a GEMM of `[M, K] × [K, N]` is `2·M·K·N` FLOPs and
//! reads and writes `M·K + K·N + M·N` elements (NVIDIA, "Matrix Multiplication Background
//! User's Guide"); attention of `L` queries over `S` keys of width `D` is `4·L·S·D` FLOPs per
//! head (two GEMMs; Dao et al. 2022, FlashAttention), reading Q, K, V and writing O once with a
//! fused kernel; element-wise and normalization operators move their inputs and one output
//! of the largest input's size. Convolutions are left out: their output size needs the
//! stride and padding, which the trace does not record.

use serde::Serialize;

use crate::accumulate::{FastMap, GpuActivity, Interner, RuntimeCalls};

/// Kernel time attributed to one operator and input shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OpRoofline {
    /// The operator, `aten::addmm`.
    pub op: String,
    /// Its input shapes and element type, `[2048, 6948] [6948, 256] float`.
    pub shapes: String,
    /// Bits per element of its inputs.
    pub element_bits: u32,
    /// Calls with kernels.
    pub calls: u64,
    /// FLOPs of all calls.
    pub flops: f64,
    /// Bytes read and written by all calls.
    pub bytes: f64,
    /// GPU time of their kernels.
    pub kernel_time_us: f64,
    /// `flops / kernel_time`.
    pub achieved_tflops: f64,
    /// `bytes / kernel_time`.
    pub achieved_tb_per_s: f64,
    /// `flops / bytes`.
    pub flops_per_byte: f64,
}

/// What an operator span costs, computed when the event is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpCost {
    pub(crate) start: f64,
    pub(crate) end: f64,
    /// The operator and shapes, interned: `aten::mm\u{1f}[2, 2048] [2048, 1] float`.
    pub(crate) key: u32,
    pub(crate) flops: f64,
    pub(crate) bytes: f64,
    pub(crate) element_bits: u32,
}

/// Bits of a PyTorch element type as the profiler names it.
fn element_bits(name: &str) -> Option<u32> {
    Some(match name {
        "float" => 32,
        "double" => 64,
        "c10::Half" | "c10::BFloat16" | "short" => 16,
        "long int" | "long" => 64,
        "int" => 32,
        "signed char" | "unsigned char" | "bool" | "c10::Float8_e4m3fn" | "c10::Float8_e5m2" => 8,
        _ => return None,
    })
}

/// Operators whose cost this module counts.
pub(crate) fn is_counted(name: &str) -> bool {
    kind(name).is_some()
}

#[derive(Clone, Copy, PartialEq)]
enum OpKind {
    Mm,
    Addmm,
    Bmm,
    Baddbmm,
    Linear,
    Attention,
    Elementwise(f64),
    /// `copy_`: reads the source, writes the destination (not read).
    Copy,
    /// `fill_`, `zero_`: writes only.
    Fill,
}

fn kind(name: &str) -> Option<OpKind> {
    Some(match name {
        "aten::mm" => OpKind::Mm,
        "aten::addmm" => OpKind::Addmm,
        "aten::bmm" => OpKind::Bmm,
        "aten::baddbmm" => OpKind::Baddbmm,
        "aten::linear" => OpKind::Linear,
        "aten::scaled_dot_product_attention"
        | "aten::_scaled_dot_product_flash_attention"
        | "aten::_scaled_dot_product_efficient_attention"
        | "aten::_scaled_dot_product_cudnn_attention"
        | "aten::_flash_attention_forward" => OpKind::Attention,
        "aten::add" | "aten::add_" | "aten::mul" | "aten::mul_" | "aten::sub" | "aten::div"
        | "aten::relu" | "aten::relu_" | "aten::gelu" | "aten::silu" | "aten::sigmoid"
        | "aten::tanh" => OpKind::Elementwise(1.0),
        "aten::copy_" => OpKind::Copy,
        "aten::fill_" | "aten::zero_" => OpKind::Fill,
        // Normalizations and softmax: a few FLOPs per element (mean, variance, scale, shift;
        // max, exp, sum, divide).
        "aten::native_layer_norm"
        | "aten::layer_norm"
        | "aten::_softmax"
        | "aten::softmax"
        | "aten::native_batch_norm"
        | "aten::rms_norm"
        | "aten::_fused_rms_norm" => OpKind::Elementwise(5.0),
        _ => return None,
    })
}

/// The cost of an operator call from its `Input Dims` and `Input type`; `None` when the
/// shapes do not fit the operator (a scalar where a matrix should be, missing dims).
pub(crate) fn cost(
    name: &str,
    dims: &serde_json::Value,
    types: Option<&serde_json::Value>,
) -> Option<(f64, f64, u32, String)> {
    let op = kind(name)?;
    let shapes: Vec<Option<Vec<f64>>> = dims
        .as_array()?
        .iter()
        .map(|d| {
            d.as_array().and_then(|values| {
                values
                    .iter()
                    .map(|v| v.as_f64().filter(|x| x.is_finite() && *x >= 0.0))
                    .collect::<Option<Vec<f64>>>()
            })
        })
        .collect();
    // The element type of the first tensor input (types line up with dims; a scalar's `[]`
    // has a type of its own, often `double`).
    let type_names: Vec<Option<&str>> = types
        .and_then(|t| t.as_array())
        .map(|t| t.iter().map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let first_tensor = shapes
        .iter()
        .position(|s| s.as_ref().is_some_and(|s| !s.is_empty()));
    let type_name = first_tensor.and_then(|i| type_names.get(i).copied().flatten());
    let bits = type_name.and_then(element_bits).unwrap_or(32);
    let el = f64::from(bits) / 8.0;
    let tensor = |i: usize| shapes.get(i).and_then(Option::as_ref);
    let numel = |s: &[f64]| s.iter().product::<f64>();
    let (flops, elements) = match op {
        OpKind::Mm | OpKind::Addmm => {
            let (a, b) = if op == OpKind::Mm {
                (tensor(0)?, tensor(1)?)
            } else {
                (tensor(1)?, tensor(2)?)
            };
            let ([m, k], [k2, n]) = (a.as_slice(), b.as_slice()) else {
                return None;
            };
            if k != k2 {
                return None;
            }
            let bias = if op == OpKind::Addmm { m * n } else { 0.0 };
            (2.0 * m * k * n, m * k + k * n + m * n + bias)
        }
        OpKind::Bmm | OpKind::Baddbmm => {
            let (a, b) = if op == OpKind::Bmm {
                (tensor(0)?, tensor(1)?)
            } else {
                (tensor(1)?, tensor(2)?)
            };
            let ([batch, m, k], [batch2, k2, n]) = (a.as_slice(), b.as_slice()) else {
                return None;
            };
            if k != k2 || batch != batch2 {
                return None;
            }
            let extra = if op == OpKind::Baddbmm {
                batch * m * n
            } else {
                0.0
            };
            (
                2.0 * batch * m * k * n,
                batch * (m * k + k * n + m * n) + extra,
            )
        }
        OpKind::Linear => {
            let (x, w) = (tensor(0)?, tensor(1)?);
            let (&k, rows) = x.split_last()?;
            let [n, k2] = w.as_slice() else { return None };
            if k != *k2 {
                return None;
            }
            let m = numel(rows);
            let bias = tensor(2).map_or(0.0, |b| numel(b));
            (2.0 * m * k * n, m * k + k * n + m * n + bias)
        }
        OpKind::Attention => {
            let (q, k, v) = (tensor(0)?, tensor(1)?, tensor(2)?);
            let ([batch, heads, l, d], [_, _, s, _], [_, _, _, dv]) =
                (q.as_slice(), k.as_slice(), v.as_slice())
            else {
                return None;
            };
            (
                2.0 * batch * heads * l * s * (d + dv),
                batch * heads * (l * d + s * d + s * dv + l * dv),
            )
        }
        OpKind::Copy | OpKind::Fill | OpKind::Elementwise(_) => {
            // The tensors' sizes; scalars (`[]`) are arguments, not tensors moved.
            let sizes: Vec<f64> = shapes
                .iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .map(|s| numel(s))
                .collect();
            let largest = sizes.iter().copied().fold(0.0, f64::max);
            if largest <= 0.0 {
                return None;
            }
            match op {
                OpKind::Copy => (0.0, 2.0 * largest),
                OpKind::Fill => (0.0, largest),
                OpKind::Elementwise(flops_per_element) => (
                    flops_per_element * largest,
                    sizes.iter().sum::<f64>() + largest,
                ),
                _ => return None,
            }
        }
    };
    let shapes_text: Vec<String> = shapes
        .iter()
        .map(|s| match s {
            Some(dims) => format!(
                "[{}]",
                dims.iter()
                    .map(|d| format!("{d}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => "-".to_owned(),
        })
        .collect();
    let type_text = type_name.unwrap_or("?");
    Some((
        flops,
        elements * el,
        bits,
        format!("{} {type_text}", shapes_text.join(" ")),
    ))
}

/// The operators' achieved rates, most kernel time first (at most `limit` rows).
pub(crate) fn op_roofline(
    costs: &mut [OpCost],
    kept: &[GpuActivity],
    runtime: &RuntimeCalls,
    names: &Interner,
    limit: usize,
) -> (Vec<OpRoofline>, usize) {
    if costs.is_empty() {
        return (Vec::new(), 0);
    }
    costs.sort_by(|a, b| a.start.total_cmp(&b.start).then(b.end.total_cmp(&a.end)));
    // Kernel time per operator span (index into `costs`).
    let mut time: Vec<f64> = vec![0.0; costs.len()];
    for activity in kept {
        let Some(call) = runtime.of(activity) else {
            continue;
        };
        if let Some(index) = innermost(costs, call.ts) {
            time[index] += activity.dur;
        }
    }
    let mut rows: FastMap<u32, OpRoofline> = FastMap::default();
    for (cost, kernel_time) in costs.iter().zip(time) {
        if kernel_time <= 0.0 {
            continue;
        }
        let row = rows.entry(cost.key).or_insert_with(|| {
            let key = names.name(cost.key);
            let (op, shapes) = key.split_once('\u{1f}').unwrap_or((key, ""));
            OpRoofline {
                op: op.to_owned(),
                shapes: shapes.to_owned(),
                element_bits: cost.element_bits,
                ..OpRoofline::default()
            }
        });
        row.calls += 1;
        row.flops += cost.flops;
        row.bytes += cost.bytes;
        row.kernel_time_us += kernel_time;
    }
    let mut rows: Vec<OpRoofline> = rows.into_values().collect();
    for row in &mut rows {
        let seconds = row.kernel_time_us / 1e6;
        row.achieved_tflops = row.flops / seconds / 1e12;
        row.achieved_tb_per_s = row.bytes / seconds / 1e12;
        row.flops_per_byte = if row.bytes > 0.0 {
            row.flops / row.bytes
        } else {
            0.0
        };
    }
    rows.sort_by(|a, b| {
        b.kernel_time_us
            .total_cmp(&a.kernel_time_us)
            .then(a.op.cmp(&b.op))
            .then(a.shapes.cmp(&b.shapes))
    });
    let total = rows.len();
    rows.truncate(limit);
    (rows, total)
}

/// The innermost counted operator whose span holds `ts`: spans are sorted by start (outer
/// first on ties), so walking back from the last one that starts by `ts`, the first that
/// still holds it is the innermost. The walk stops after a few dozen finished siblings.
fn innermost(costs: &[OpCost], ts: f64) -> Option<usize> {
    let after = costs.partition_point(|c| c.start <= ts);
    (0..after).rev().take(64).find(|&i| ts < costs[i].end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flops_and_bytes_of_the_common_operators() {
        // (op, dims, types) -> (FLOPs, bytes)
        type Case = (
            &'static str,
            serde_json::Value,
            serde_json::Value,
            Option<(f64, f64)>,
        );
        let cases: Vec<Case> = vec![
            (
                "aten::mm",
                json!([[2, 2048], [2048, 1]]),
                json!(["float", "float"]),
                Some((8192.0, 4.0 * (4096.0 + 2048.0 + 2.0))),
            ),
            (
                "aten::addmm",
                json!([[256], [2048, 6948], [6948, 256], [], []]),
                json!(["c10::Half", "c10::Half", "c10::Half", "Scalar", "Scalar"]),
                Some((
                    2.0 * 2048.0 * 6948.0 * 256.0,
                    2.0 * (2048.0 * 6948.0 + 6948.0 * 256.0 + 2.0 * 2048.0 * 256.0),
                )),
            ),
            (
                "aten::bmm",
                json!([[2048, 160, 45], [2048, 45, 20]]),
                json!(["float", "float"]),
                Some((
                    2.0 * 2048.0 * 160.0 * 45.0 * 20.0,
                    4.0 * 2048.0 * (160.0 * 45.0 + 45.0 * 20.0 + 160.0 * 20.0),
                )),
            ),
            (
                "aten::linear",
                json!([[8, 128, 768], [3072, 768], [3072]]),
                json!(["c10::BFloat16", "c10::BFloat16", "c10::BFloat16"]),
                Some((
                    2.0 * 1024.0 * 768.0 * 3072.0,
                    2.0 * (1024.0 * 768.0 + 768.0 * 3072.0 + 1024.0 * 3072.0 + 3072.0),
                )),
            ),
            (
                "aten::_scaled_dot_product_flash_attention",
                json!([
                    [1, 32, 512, 128],
                    [1, 32, 512, 128],
                    [1, 32, 512, 128],
                    [],
                    []
                ]),
                json!(["c10::Half", "c10::Half", "c10::Half"]),
                Some((
                    2.0 * 32.0 * 512.0 * 512.0 * 256.0,
                    2.0 * 32.0 * 4.0 * 512.0 * 128.0,
                )),
            ),
            (
                "aten::add",
                json!([[1024, 1024], [1024, 1024], []]),
                json!(["float", "float", "Scalar"]),
                Some((1_048_576.0, 4.0 * 3.0 * 1_048_576.0)),
            ),
            // Shapes that do not fit: inner dimensions differ, a scalar for a matrix.
            (
                "aten::copy_",
                json!([[1000], [1000], []]),
                json!(["float", "float", "Scalar"]),
                Some((0.0, 8000.0)),
            ),
            (
                "aten::zero_",
                json!([[1000]]),
                json!(["float"]),
                Some((0.0, 4000.0)),
            ),
            ("aten::mm", json!([[2, 3], [4, 5]]), json!(["float"]), None),
            ("aten::mm", json!([[], [4, 5]]), json!(["float"]), None),
            (
                "aten::convolution",
                json!([[1, 3, 224, 224]]),
                json!(["float"]),
                None,
            ),
        ];
        for (op, dims, types, expected) in cases {
            let found = cost(op, &dims, Some(&types)).map(|(f, b, _, _)| (f, b));
            assert_eq!(found, expected, "{op} {dims}");
        }
    }
}
