//! What the run already uses, as its trace shows it: training or inference, the precision of
//! its matmuls, fused attention, torch.compile, CUDA graphs, the optimizer and the layout of
//! its convolutions. The rules read these as facts, so they neither recommend what is already
//! in use nor ask for a config key
//! the trace answers.

use advisor_core::{
    ConvolutionFacts, KernelPrecision, Mode, OptimizerImplementation, PrecisionShare,
    TraceGeneration, TraceOptimizer, TraceRunFacts,
};

use crate::accumulate::{Accumulator, FastMap, GpuActivity, Kind};

use super::{pct, span_index};

/// A matmul or convolution kernel, by its (lowercase) name: cuBLAS (`volta_sgemm`,
/// `ampere_fp16_s16816gemm`, `sm80_xmma_gemm`), CUTLASS, cuDNN convolutions (`scudnn`,
/// `implicit_convolve_sgemm`, `dgrad`/`wgrad` engines), rocBLAS/Tensile (`Cijk_`) and Triton
/// matmuls. FBGEMM's embedding kernels carry `gemm` in their library name and are not matmuls.
fn is_matmul(lower: &str) -> bool {
    if lower.contains("fbgemm") {
        return false;
    }
    const MARKS: &[&str] = &[
        "gemm",
        "gemv",
        "xmma",
        "cutlass",
        "scudnn",
        "cudnn_infer",
        "h884cudnn",
        "convolve",
        "dgrad",
        "wgrad",
        "fprop",
        "implicit_gemm",
        "cijk_",
    ];
    MARKS.iter().any(|m| lower.contains(m))
        || (lower.starts_with("triton") && (lower.contains("_mm") || lower.contains("bmm")))
}

/// What a (lowercase) kernel name says about a convolutional network's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConvKernel {
    /// A convolution (forward, data or weight gradient), with whether its name says NHWC.
    Convolution { nhwc: bool },
    /// A layout transpose between NCHW and NHWC.
    Transpose,
    /// A batch norm.
    BatchNorm,
    /// Anything else.
    Other,
}

/// Kernel names as cuDNN, CUTLASS and PyTorch write them: cuDNN's implicit-GEMM convolutions
/// (`scudnn_128x64_relu_medium_nn`, `cudnn::detail::implicit_convolve_sgemm`,
/// `dgrad_engine`, `wgrad_alg0_engine`), its and CUTLASS's tensor-core ones
/// (`h884cudnn`, `xmma_fprop_implicit_gemm_..._nhwckrsc_nhwc`), PyTorch's depthwise ones;
/// cuDNN's `nchwToNhwcKernel` and `nhwcToNchwKernel` transposes; `bn_fw_*`, `bn_bw_*` and
/// PyTorch's `batch_norm_*` kernels.
fn conv_kernel(lower: &str) -> ConvKernel {
    let any = |marks: &[&str]| marks.iter().any(|m| lower.contains(m));
    if any(&["nchwtonhwc", "nhwctonchw"]) {
        ConvKernel::Transpose
    } else if any(&[
        "scudnn",
        "cudnn_infer",
        "884cudnn",
        "1688cudnn",
        "convolve",
        "dgrad",
        "wgrad",
        "fprop",
        "conv_depthwise",
        "conv2d",
        "conv3d",
    ]) {
        ConvKernel::Convolution {
            nhwc: lower.contains("nhwc"),
        }
    } else if any(&["bn_fw", "bn_bw", "batch_norm", "batchnorm"]) {
        ConvKernel::BatchNorm
    } else {
        ConvKernel::Other
    }
}

/// The precision a matmul kernel's (lowercase) name spells. The checks run from the most
/// specific: `bf16` before `f16`, a `fp16` tag before Ampere's `s16816` shape, and TF32
/// before plain fp32 (`cutlass_80_tensorop_s1688gemm` takes fp32 inputs on tensor cores,
/// which on Ampere is TF32; NVIDIA, "CUTLASS: Fast Linear Algebra in CUDA C++", kernel naming).
fn precision_of(lower: &str) -> KernelPrecision {
    let any = |marks: &[&str]| marks.iter().any(|m| lower.contains(m));
    if any(&["e4m3", "e5m2", "fp8"]) {
        KernelPrecision::Fp8
    } else if any(&["bf16", "bfloat16", "_bbs_", "_bb_"]) {
        KernelPrecision::Bf16
    } else if any(&["int8", "imma", "i8i8", "_i8_"]) {
        KernelPrecision::Int8
    } else if any(&[
        "h884", "h1688", "h16816", "hgemm", "fp16", "f16", "half", "_hhs_", "_hh_",
    ]) {
        KernelPrecision::Fp16
    } else if lower.contains("tf32")
        || (any(&["s1688", "s16816"]) && any(&["tensorop", "sm80", "sm86", "sm90"]))
    {
        KernelPrecision::Tf32
    } else if any(&[
        "sgemm",
        "scudnn",
        "<float",
        "f32f32_f32",
        "sgemv",
        "_sb_",
        "_ss_",
        "float",
    ]) {
        KernelPrecision::Fp32
    } else {
        KernelPrecision::Unknown
    }
}

/// Operator or kernel names that mark a fused attention kernel.
const FUSED_ATTENTION: &[&str] = &[
    "flash_fwd",
    "flash_bwd",
    "flash::",
    "flash_attn",
    "fmha",
    "efficient_attention",
    "mem_eff",
    "cudnn_attention",
    "sdpa_flash",
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
];

/// Operator and annotation names that mark torch.compile.
const COMPILED: &[&str] = &[
    "CompiledFunction",
    "Torch-Compiled Region",
    "TorchDynamo",
    "CompiledFxGraph",
    "torch_compile",
];

/// What a CPU span's name says about the run.
#[derive(Debug, Clone, Copy)]
struct CpuName {
    backward: bool,
    compiled: bool,
    optimizer_step: bool,
    fused_optimizer: bool,
    foreach: bool,
    attention: bool,
}

impl CpuName {
    fn of(name: &str) -> CpuName {
        let fused_optimizer = name.contains("_fused_adam") || name.contains("_fused_sgd");
        let lower = name.to_ascii_lowercase();
        CpuName {
            backward: name.contains("Backward")
                || name.starts_with("autograd::engine::evaluate_function"),
            compiled: COMPILED.iter().any(|m| name.contains(m)),
            optimizer_step: name.starts_with("Optimizer.step#"),
            fused_optimizer,
            foreach: !fused_optimizer && name.contains("_foreach_"),
            attention: FUSED_ATTENTION.iter().any(|m| lower.contains(m)),
        }
    }
}

/// The run's facts from the trace; `None` when it has neither CPU operators nor GPU work.
pub(crate) fn run_facts(accumulator: &Accumulator, kept: &[GpuActivity]) -> Option<TraceRunFacts> {
    let names = &accumulator.names;
    if accumulator.cpu.is_empty() && kept.is_empty() {
        return None;
    }

    // CPU side: backward operators, torch.compile frames, optimizer steps, fused attention ops.
    let mut backward = 0u64;
    let mut cpu_ops = 0u64;
    let mut compiled: FastMap<u32, u64> = FastMap::default();
    let mut attention: Vec<String> = Vec::new();
    let mut optimizer_spans: Vec<(f64, f64)> = Vec::new();
    let mut optimizer_name: Option<String> = None;
    let (mut fused_ops, mut foreach_ops) = (0u64, 0u64);
    // What each name is, worked out once per distinct name: a trace has millions of spans
    // and a few thousand names.
    let mut kind_of_name: FastMap<u32, CpuName> = FastMap::default();
    for span in &accumulator.cpu {
        let kind = *kind_of_name
            .entry(span.name)
            .or_insert_with(|| CpuName::of(names.name(span.name)));
        cpu_ops += u64::from(span.is_op);
        backward += u64::from(kind.backward);
        if kind.compiled {
            *compiled.entry(span.name).or_default() += 1;
        }
        if kind.optimizer_step {
            optimizer_spans.push((span.start, span.end));
            if optimizer_name.is_none() {
                optimizer_name = names
                    .name(span.name)
                    .strip_prefix("Optimizer.step#")
                    .and_then(|rest| rest.split('.').next())
                    .map(str::to_owned);
            }
        }
        fused_ops += u64::from(kind.fused_optimizer);
        foreach_ops += u64::from(kind.foreach);
        if kind.attention {
            push_distinct(&mut attention, names.name(span.name));
        }
    }
    optimizer_spans.sort_by(|a, b| a.0.total_cmp(&b.0));

    // GPU side: matmul kernels by precision, Triton and attention kernels, optimizer kernels.
    let mut by_precision: FastMap<KernelPrecision, f64> = FastMap::default();
    let mut matmul_kernels: FastMap<u32, f64> = FastMap::default();
    let mut kind_of: FastMap<u32, (bool, KernelPrecision, bool, bool)> = FastMap::default();
    let (mut triton, mut gpu_total, mut optimizer_gpu) = (0u64, 0.0, 0.0);
    let mut conv_of: FastMap<u32, ConvKernel> = FastMap::default();
    let mut convolution = ConvolutionFacts::default();
    let mut conv_kernels: FastMap<u32, f64> = FastMap::default();
    for activity in kept {
        gpu_total += activity.dur;
        if !optimizer_spans.is_empty()
            && let Some(call) = accumulator.runtime.of(activity)
            && span_index(&optimizer_spans, call.ts, |&span| span).is_some()
        {
            optimizer_gpu += activity.dur;
        }
        if activity.kind != Kind::Compute {
            continue;
        }
        let (matmul, precision, is_triton, fused) =
            *kind_of.entry(activity.name).or_insert_with(|| {
                let lower = names.name(activity.name).to_ascii_lowercase();
                (
                    is_matmul(&lower),
                    precision_of(&lower),
                    lower.starts_with("triton"),
                    FUSED_ATTENTION.iter().any(|m| lower.contains(m)),
                )
            });
        let conv = *conv_of
            .entry(activity.name)
            .or_insert_with(|| conv_kernel(&names.name(activity.name).to_ascii_lowercase()));
        match conv {
            ConvKernel::Convolution { nhwc } => {
                convolution.kernels += 1;
                convolution.time_us += activity.dur;
                if nhwc {
                    convolution.nhwc_time_us += activity.dur;
                }
                if precision == KernelPrecision::Fp32 {
                    convolution.fp32_time_us += activity.dur;
                }
                *conv_kernels.entry(activity.name).or_default() += activity.dur;
            }
            ConvKernel::Transpose => convolution.transpose_time_us += activity.dur,
            ConvKernel::BatchNorm => convolution.batch_norm_time_us += activity.dur,
            ConvKernel::Other => {}
        }
        triton += u64::from(is_triton);
        if fused {
            push_distinct(&mut attention, names.name(activity.name));
        }
        if matmul {
            *by_precision.entry(precision).or_default() += activity.dur;
            *matmul_kernels.entry(activity.name).or_default() += activity.dur;
        }
    }
    // `+ 0.0`: an empty float sum is -0.0.
    let matmul_time_us: f64 = by_precision.values().sum::<f64>() + 0.0;
    let mut matmul_by_precision: Vec<PrecisionShare> = by_precision
        .into_iter()
        .map(|(precision, time_us)| PrecisionShare {
            precision,
            time_us,
            pct: pct(time_us, matmul_time_us),
        })
        .collect();
    matmul_by_precision.sort_by(|a, b| {
        b.time_us
            .total_cmp(&a.time_us)
            .then(a.precision.cmp(&b.precision))
    });
    let matmul_precision = matmul_by_precision
        .first()
        .filter(|share| share.pct > 50.0 && share.precision != KernelPrecision::Unknown)
        .map(|share| share.precision);
    let mut examples: Vec<(u32, f64)> = matmul_kernels.into_iter().collect();
    examples.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let matmul_examples = examples
        .iter()
        .take(3)
        .map(|(name, _)| short(names.name(*name)))
        .collect();

    let convolution = (convolution.kernels > 0).then(|| {
        let mut longest: Vec<(u32, f64)> = conv_kernels.into_iter().collect();
        longest.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ConvolutionFacts {
            gpu_time_us: gpu_total,
            examples: longest
                .iter()
                .take(3)
                .map(|(name, _)| short(names.name(*name)))
                .collect(),
            ..convolution
        }
    });

    let optimizer = (!optimizer_spans.is_empty() || fused_ops > 0).then(|| TraceOptimizer {
        name: optimizer_name,
        implementation: if fused_ops > 0 {
            OptimizerImplementation::Fused
        } else if foreach_ops > 0 {
            OptimizerImplementation::Foreach
        } else {
            OptimizerImplementation::ForLoop
        },
        steps: optimizer_spans.len() as u64,
        cpu_time_us: optimizer_spans.iter().map(|(s, e)| e - s).sum(),
        gpu_time_us: optimizer_gpu,
        pct_of_gpu: pct(optimizer_gpu, gpu_total),
    });

    let (mode, mode_evidence) = if backward > 0 {
        (
            Some(Mode::Training),
            Some(format!(
                "{backward} backward operators (autograd::engine::evaluate_function, *Backward)"
            )),
        )
    } else if optimizer.is_some() {
        (
            Some(Mode::Training),
            Some("optimizer.step() or a fused optimizer operator".to_owned()),
        )
    } else if cpu_ops > 0 {
        (
            Some(Mode::Inference),
            Some(format!(
                "{cpu_ops} CPU operators and no backward or optimizer operator"
            )),
        )
    } else {
        (None, None)
    };

    let mut compiled: Vec<(u32, u64)> = compiled.into_iter().collect();
    compiled.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then(names.name(a.0).len().cmp(&names.name(b.0).len()))
            .then(a.0.cmp(&b.0))
    });
    let compiled = match (compiled.first(), triton) {
        (Some(&(name, count)), _) => Some(format!("{} ×{count}", short(names.name(name)))),
        (None, n) if n > 0 => Some(format!("{n} Triton kernels")),
        _ => None,
    };
    let cuda_graph_launches = accumulator
        .runtime_by_name
        .iter()
        .filter(|(name, _)| names.name(**name).contains("GraphLaunch"))
        .map(|(_, (count, _))| count)
        .sum();
    let shapes = attention_shapes(accumulator);
    let batch_size = shapes.as_ref().map(|s| s.batch);
    let query_tokens = shapes.as_ref().map(|s| s.tokens);
    let (shape_evidence, generation) = match shapes {
        Some(s) => (Some(s.evidence), s.generation),
        None => (None, None),
    };

    Some(TraceRunFacts {
        mode,
        mode_evidence,
        matmul_precision,
        matmul_time_us,
        matmul_by_precision,
        matmul_examples,
        fused_attention: attention,
        compiled,
        cuda_graph_launches,
        optimizer,
        convolution,
        batch_size,
        query_tokens,
        shape_evidence,
        generation,
    })
}

/// What the attention calls' recorded shapes show.
struct AttentionShapes {
    batch: u64,
    tokens: u64,
    evidence: String,
    generation: Option<TraceGeneration>,
}

/// The batch size and query tokens of the attention calls with recorded shapes: the most
/// frequent (batch, tokens) of the queries `[batch, heads, tokens, head size]` of
/// `aten::scaled_dot_product_attention` and its `aten::_scaled_dot_product_*` kernels, the
/// longer tokens on a tie. (flash-attn's own `[batch, tokens, heads, head size]` layout is
/// left out.) When some calls have one query token and others more, the trace is of
/// generation with a KV cache: the longer queries are the prefill (the prompt), the
/// one-token ones the decode steps, whose keys `[batch, heads, context, head size]` grow by
/// a token a step (as Hugging Face's `generate` and vLLM-style decoders run them).
fn attention_shapes(accumulator: &Accumulator) -> Option<AttentionShapes> {
    let mut counts: std::collections::BTreeMap<(u64, u64), (u64, String)> =
        std::collections::BTreeMap::new();
    // Decode calls by operator (the public op and the kernel it dispatches to both show, one
    // inside the other), the longest keys among them (with an example), the longest prefill.
    let mut decode_calls: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    let mut context = None::<(u64, String)>;
    let mut prefill: Option<(u64, String)> = None;
    for cost in &accumulator.op_costs {
        let key = accumulator.names.name(cost.key);
        let (op, shapes) = key.split_once('\u{1f}').unwrap_or((key, ""));
        if !(op.starts_with("aten::scaled_dot_product_attention")
            || op.starts_with("aten::_scaled_dot_product_"))
        {
            continue;
        }
        let tensors = tensor_dims(shapes);
        let Some(&[batch, heads, tokens, head]) = tensors.first().map(Vec::as_slice) else {
            continue;
        };
        let entry = counts
            .entry((batch, tokens))
            .or_insert_with(|| (0, String::new()));
        entry.0 += 1;
        if entry.1.is_empty() {
            entry.1 = format!("{op} queries [{batch}, {heads}, {tokens}, {head}]");
        }
        let keys = match tensors.get(1).map(Vec::as_slice) {
            Some(&[_, _, keys, _]) => Some(keys),
            _ => None,
        };
        if tokens == 1 {
            *decode_calls.entry(op).or_default() += 1;
            if let Some(keys) = keys
                && context.as_ref().is_none_or(|(longest, _)| keys > *longest)
            {
                context = Some((
                    keys,
                    format!("{op} keys [{batch}, {heads}, {keys}, {head}]"),
                ));
            }
        } else if prefill
            .as_ref()
            .is_none_or(|(longest, _)| tokens > *longest)
        {
            prefill = Some((
                tokens,
                format!("{op} queries [{batch}, {heads}, {tokens}, {head}]"),
            ));
        }
    }
    let decode_calls = decode_calls.into_values().max().unwrap_or(0);
    let generation = match (prefill, context) {
        (Some((prompt, prefill_example)), Some((context, decode_example)))
            if decode_calls > 0 && context >= prompt =>
        {
            Some(TraceGeneration {
                prefill_tokens: prompt,
                decode_calls,
                context_tokens: context,
                generated_tokens: context - prompt + 1,
                evidence: format!(
                    "prefill {prefill_example}; {decode_calls} one-token decode calls, the longest {decode_example}"
                ),
            })
        }
        _ => None,
    };
    let ((batch, tokens), (calls, example)) =
        counts
            .into_iter()
            .max_by(|((_, a_tokens), (a, _)), ((_, b_tokens), (b, _))| {
                a.cmp(b).then(a_tokens.cmp(b_tokens))
            })?;
    Some(AttentionShapes {
        batch,
        tokens,
        evidence: format!("{example} (batch, heads, tokens, head size) in {calls} call(s)"),
        generation,
    })
}

/// The dims of each input in an operator-and-shapes key's shapes (`[2, 2, 16, 64] - [2, 2,
/// 16, 64] float`, `-` for an input that is not a tensor), in order: whole positive numbers
/// only, an input with anything else (or none) left empty.
fn tensor_dims(shapes: &str) -> Vec<Vec<u64>> {
    let mut tensors = Vec::new();
    let mut rest = shapes.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix('[') {
            let Some((dims, after)) = after.split_once(']') else {
                break;
            };
            let parsed: Option<Vec<u64>> = dims
                .split(',')
                .map(|d| {
                    d.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|d| d.is_finite() && *d >= 1.0 && d.fract() == 0.0)
                        .map(|d| d as u64)
                })
                .collect();
            tensors.push(parsed.unwrap_or_default());
            rest = after.trim_start();
        } else if let Some(after) = rest.strip_prefix('-') {
            tensors.push(Vec::new());
            rest = after.trim_start();
        } else {
            // The element type ends the shapes.
            break;
        }
    }
    tensors
}

/// At most three distinct names, each cut for the evidence.
fn push_distinct(list: &mut Vec<String>, name: &str) {
    let name = short(name);
    if list.len() < 3 && !list.contains(&name) {
        list.push(name);
    }
}

/// A kernel name cut at its template arguments or after 80 characters; a generic wrapper
/// (`cutlass::Kernel<cutlass_80_tensorop_s1688gemm_...>`) is named by its first argument.
fn short(name: &str) -> String {
    let mut name = name.strip_prefix("void ").unwrap_or(name);
    if let Some(open) = name.find('<')
        && name[..open].to_ascii_lowercase().ends_with("kernel")
        && name[..open].contains("::")
    {
        let inner = &name[open + 1..];
        name = &inner[..inner.find([',', '>', '<']).unwrap_or(inner.len())];
    }
    let cut = name.find('<').unwrap_or(name.len()).min(80);
    let mut end = cut;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::summary_of;

    #[test]
    fn matmul_kernels_and_their_precision() {
        // (kernel name, is a matmul, precision)
        let cases: &[(&str, bool, KernelPrecision)] = &[
            ("volta_sgemm_128x64_nn", true, KernelPrecision::Fp32),
            ("volta_h884gemm_64x64_ldg8_nn", true, KernelPrecision::Fp16),
            (
                "ampere_fp16_s16816gemm_fp16_128x128_ldg8_f2f_stages_32x5_nn",
                true,
                KernelPrecision::Fp16,
            ),
            (
                "ampere_bf16_s16816gemm_bf16_128x64_ldg8_f2f_nn",
                true,
                KernelPrecision::Bf16,
            ),
            (
                "void cutlass::Kernel<cutlass_80_tensorop_s1688gemm_128x64_32x6_nt_align1>",
                true,
                KernelPrecision::Tf32,
            ),
            (
                "sm80_xmma_gemm_f32f32_tf32f32_f32_tn_n_tilesize128x128x16",
                true,
                KernelPrecision::Tf32,
            ),
            (
                "sm90_xmma_gemm_e4m3e4m3_e4m3f32_f32_tn_n",
                true,
                KernelPrecision::Fp8,
            ),
            (
                "cudnn_infer_volta_scudnn_128x64_relu_medium_nn_v1",
                true,
                KernelPrecision::Fp32,
            ),
            (
                "void cudnn::detail::dgrad_engine<float, 512, 6, 5, 3, 3, 3, false>",
                true,
                KernelPrecision::Fp32,
            ),
            (
                "Cijk_Alik_Bljk_SB_Bias_AS_SAV_UserArgs_MT64x16x32_MI16x16x1_SN_ISA90a",
                true,
                KernelPrecision::Fp32,
            ),
            ("triton_tem_fused_mm_0", true, KernelPrecision::Unknown),
            ("sm80_xmma_gemm_i8i8_i32_tn", true, KernelPrecision::Int8),
            // Not matmuls: FBGEMM embeddings, batch norm, element-wise, Triton fusions.
            (
                "void split_embedding_codegen_forward_unweighted_kernel<c10::Half, fbgemm_gpu::x>",
                false,
                KernelPrecision::Fp16,
            ),
            (
                "void cudnn::bn_bw_1C11_kernel_new<float, float, float2, 128, 1, 1>",
                false,
                KernelPrecision::Fp32,
            ),
            ("triton_poi_fused_add_0", false, KernelPrecision::Unknown),
        ];
        for &(name, matmul, precision) in cases {
            let lower = name.to_ascii_lowercase();
            assert_eq!(is_matmul(&lower), matmul, "{name}");
            assert_eq!(precision_of(&lower), precision, "{name}");
        }
    }

    fn cpu(name: &str, ts: u32, dur: u32) -> String {
        format!(
            r#"{{"ph": "X", "cat": "cpu_op", "name": "{name}", "ts": {ts}, "dur": {dur}, "pid": 1, "tid": 1}}"#
        )
    }
    fn annotation(name: &str, ts: u32, dur: u32) -> String {
        format!(
            r#"{{"ph": "X", "cat": "user_annotation", "name": "{name}", "ts": {ts}, "dur": {dur}, "pid": 1, "tid": 1}}"#
        )
    }
    fn launch(name: &str, correlation: u32, ts: u32) -> String {
        format!(
            r#"{{"ph": "X", "cat": "cuda_runtime", "name": "{name}", "ts": {ts}, "dur": 2, "pid": 1, "tid": 1, "args": {{"correlation": {correlation}}}}}"#
        )
    }
    fn kernel(name: &str, correlation: u32, ts: u32, dur: u32) -> String {
        format!(
            r#"{{"ph": "X", "cat": "kernel", "name": "{name}", "ts": {ts}, "dur": {dur}, "args": {{"correlation": {correlation}, "stream": 7}}}}"#
        )
    }

    #[test]
    fn what_the_run_already_uses() {
        type Expected<'a> = (
            Option<Mode>,
            Option<KernelPrecision>,
            &'a [&'a str],
            Option<&'a str>,
            u64,
            Option<(Option<&'a str>, OptimizerImplementation, f64)>,
        );
        let cases: Vec<(Vec<String>, Option<Expected>)> = vec![
            (vec![], None),
            // Inference, fp32 cuBLAS: no backward operators.
            (
                vec![
                    cpu("aten::mm", 0, 10),
                    launch("cudaLaunchKernel", 1, 1),
                    kernel("volta_sgemm_128x64_nn", 1, 5, 30),
                    kernel("ampere_fp16_s16816gemm", 2, 40, 10),
                ],
                Some((
                    Some(Mode::Inference),
                    Some(KernelPrecision::Fp32),
                    &[],
                    None,
                    0,
                    None,
                )),
            ),
            // Training with a foreach AdamW (GPU time inside optimizer.step()), compiled, with
            // flash attention and CUDA graphs; no precision has a majority.
            (
                vec![
                    annotation("CompiledFunction", 0, 50),
                    cpu("autograd::engine::evaluate_function: MmBackward0", 60, 10),
                    cpu("aten::_scaled_dot_product_flash_attention", 0, 5),
                    annotation("Optimizer.step#AdamW.step", 100, 50),
                    cpu("aten::_foreach_mul_", 101, 10),
                    launch("cudaLaunchKernel", 1, 110),
                    kernel("void at::native::multi_tensor_apply_kernel<x>", 1, 120, 20),
                    annotation(
                        "autograd::engine::evaluate_function: CompiledFunctionBackward",
                        60,
                        1,
                    ),
                    launch("cudaGraphLaunch", 2, 200),
                    launch("cudaGraphLaunch", 3, 210),
                    kernel("ampere_bf16_s16816gemm", 4, 220, 10),
                    kernel("volta_sgemm_64x64", 5, 230, 10),
                    kernel("flash_fwd_kernel<x>", 6, 240, 40),
                ],
                Some((
                    Some(Mode::Training),
                    None,
                    &[
                        "aten::_scaled_dot_product_flash_attention",
                        "flash_fwd_kernel",
                    ],
                    Some("CompiledFunction ×1"),
                    2,
                    Some((Some("AdamW"), OptimizerImplementation::Foreach, 25.0)),
                )),
            ),
            // Triton kernels alone show torch.compile; a fused optimizer op shows without its
            // annotation.
            (
                vec![
                    cpu("aten::_fused_adamw_", 0, 10),
                    kernel("triton_poi_fused_add_0", 1, 0, 10),
                ],
                Some((
                    Some(Mode::Training),
                    None,
                    &[],
                    Some("1 Triton kernels"),
                    0,
                    Some((None, OptimizerImplementation::Fused, 0.0)),
                )),
            ),
        ];
        for (events, expected) in cases {
            let events: Vec<&str> = events.iter().map(String::as_str).collect();
            let run = summary_of("", &events).run;
            let found = run.as_ref().map(|r| {
                (
                    r.mode,
                    r.matmul_precision,
                    r.fused_attention
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>(),
                    r.compiled.as_deref(),
                    r.cuda_graph_launches,
                    r.optimizer
                        .as_ref()
                        .map(|o| (o.name.as_deref(), o.implementation, o.pct_of_gpu)),
                )
            });
            let expected = expected.map(
                |(mode, precision, attention, compiled, graphs, optimizer)| {
                    (
                        mode,
                        precision,
                        attention.to_vec(),
                        compiled,
                        graphs,
                        optimizer,
                    )
                },
            );
            assert_eq!(found, expected, "{events:?}");
        }
    }

    #[test]
    fn convolution_kernels_by_name() {
        use super::{ConvKernel, conv_kernel};
        let cases = [
            (
                "cudnn_infer_volta_scudnn_128x64_relu_medium_nn_v1",
                ConvKernel::Convolution { nhwc: false },
            ),
            (
                "void cudnn::detail::dgrad_engine<float, 512, 6, 5, 3, 3, 3, false>",
                ConvKernel::Convolution { nhwc: false },
            ),
            (
                "sm80_xmma_fprop_implicit_gemm_indexed_f16f16_f16f32_f32_nhwckrsc_nhwc_tilesize128x128x32",
                ConvKernel::Convolution { nhwc: true },
            ),
            (
                "void cudnn::ops::nchwToNhwcKernel<__half, __half, float, false, true>",
                ConvKernel::Transpose,
            ),
            (
                "void cudnn::bn_bw_1C11_kernel_new<float, float, float2, 128, true, 1>",
                ConvKernel::BatchNorm,
            ),
            ("volta_sgemm_64x64_tn", ConvKernel::Other),
        ];
        for (name, kind) in cases {
            assert_eq!(conv_kernel(&name.to_ascii_lowercase()), kind, "{name}");
        }
    }
}
