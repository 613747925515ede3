//! Facts derived from a context that several rules share: the GPU, the device the model
//! runs on, weight precision and size, and the attention share of the FLOPs.

use advisor_core::{
    AnalysisContext, ComputeCapability, ModelGraph, Precision, RuleError, RunConfig,
};
use advisor_hw_table::Accelerator;

/// A real GPU (software adapters are never GPUs).
pub(crate) struct Gpu<'a> {
    pub name: &'a str,
    pub compute_capability: Option<ComputeCapability>,
    pub memory_bytes: Option<u64>,
    pub accelerator: Option<&'static Accelerator>,
}

/// What the context says about a GPU.
pub(crate) enum GpuFacts<'a> {
    /// No hardware information at all.
    Unknown,
    /// Hardware is known and has no GPU (or only a software adapter).
    Absent,
    /// A GPU.
    Present(Gpu<'a>),
}

pub(crate) fn gpu(context: &AnalysisContext) -> GpuFacts<'_> {
    let Some(hardware) = &context.hardware_info else {
        return GpuFacts::Unknown;
    };
    let Some(name) = hardware.gpu_model.as_deref().map(str::trim) else {
        return GpuFacts::Absent;
    };
    if name.is_empty() || advisor_hw_table::is_software_adapter(name) {
        return GpuFacts::Absent;
    }
    let accelerator = advisor_hw_table::match_gpu_name(name, hardware.gpu_memory_mb);
    GpuFacts::Present(Gpu {
        name,
        compute_capability: hardware
            .gpu_compute_capability
            .or_else(|| accelerator.and_then(|a| a.compute_capability)),
        memory_bytes: hardware
            .gpu_memory_bytes()
            .or_else(|| accelerator.map(|a| a.memory_bytes)),
        accelerator,
    })
}

/// Whether the model runs on a GPU: the config's `device`, else whether the hardware has
/// one. Returns the answer and the evidence for it; `None` when neither is known.
pub(crate) fn runs_on_gpu(context: &AnalysisContext, config: &RunConfig) -> Option<(bool, String)> {
    let gpu_facts = gpu(context);
    if let Some(device) = config.device {
        let on_gpu = device.is_gpu();
        let text = format!("config device = {}", device_name(device));
        return Some((on_gpu, text));
    }
    match gpu_facts {
        GpuFacts::Unknown => None,
        GpuFacts::Absent => Some((false, "no GPU in hardware_info".to_owned())),
        GpuFacts::Present(gpu) => Some((
            true,
            format!("device not set; the run is assumed to use the {}", gpu.name),
        )),
    }
}

fn device_name(device: advisor_core::Device) -> &'static str {
    match device {
        advisor_core::Device::Cpu => "cpu",
        advisor_core::Device::Cuda => "cuda",
        advisor_core::Device::Rocm => "rocm",
        advisor_core::Device::Mps => "mps",
    }
}

/// The GPU a run uses, with its compute capability and the evidence that the run is on it.
pub(crate) struct RunGpu<'a> {
    pub gpu: Gpu<'a>,
    pub capability: ComputeCapability,
    pub device_source: String,
}

/// The GPU the run uses: `Ok(None)` when the run is on the CPU, missing facts when the device,
/// the GPU or its compute capability is unknown.
pub(crate) fn run_gpu<'a>(
    context: &'a AnalysisContext,
    config: &RunConfig,
) -> Result<Option<RunGpu<'a>>, RuleError> {
    let (on_gpu, device_source) = runs_on_gpu(context, config)
        .ok_or_else(|| RuleError::MissingFacts("config device or hardware_info".to_owned()))?;
    if !on_gpu {
        return Ok(None);
    }
    let GpuFacts::Present(gpu) = gpu(context) else {
        return Err(RuleError::MissingFacts(
            "hardware_info.gpu_model".to_owned(),
        ));
    };
    let capability = gpu.compute_capability.ok_or_else(|| {
        RuleError::MissingFacts(format!(
            "hardware_info.gpu_compute_capability (`{}` is not in the accelerator table)",
            gpu.name
        ))
    })?;
    Ok(Some(RunGpu {
        gpu,
        capability,
        device_source,
    }))
}

/// The precision the model computes in: config `precision`, else the weights' dtype.
pub(crate) fn compute_precision(
    context: &AnalysisContext,
    config: &RunConfig,
) -> Option<(Precision, String)> {
    if let Some(precision) = config.precision {
        return Some((precision, format!("config precision = {precision}")));
    }
    let dtype = context.model_graph.as_ref()?.facts.dtype?;
    Some((
        dtype,
        format!("precision not set; model weights are {dtype}"),
    ))
}

/// Weight precision with PyTorch's default when nothing says otherwise.
pub(crate) fn weight_precision_or_default(
    context: &AnalysisContext,
    config: &RunConfig,
) -> (Precision, String) {
    compute_precision(context, config).unwrap_or((
        Precision::Fp32,
        "precision not given; assuming fp32, PyTorch's default when loading without a dtype"
            .to_owned(),
    ))
}

/// The facts of a PyTorch profiler trace, or the missing-facts error saying how to give one.
pub(crate) fn trace(context: &AnalysisContext) -> Result<&advisor_core::TraceFacts, RuleError> {
    context
        .profile_results
        .as_ref()
        .and_then(|profile| profile.trace.as_ref())
        .ok_or_else(|| {
            RuleError::MissingFacts(
                "profile_results.trace (a PyTorch profiler trace: `advisor analyze --trace FILE`)"
                    .to_owned(),
            )
        })
}

/// The model, or the missing-facts error naming what is needed.
pub(crate) fn model<'a>(
    context: &'a AnalysisContext,
    why: &str,
) -> Result<&'a ModelGraph, RuleError> {
    context
        .model_graph
        .as_ref()
        .ok_or_else(|| RuleError::MissingFacts(format!("model_graph ({why})")))
}

/// The memory of the device the model runs on: GPU memory on a GPU, else system memory.
pub(crate) fn device_memory_bytes(
    context: &AnalysisContext,
    on_gpu: bool,
) -> Option<(u64, String)> {
    if on_gpu {
        match gpu(context) {
            GpuFacts::Present(gpu) => gpu
                .memory_bytes
                .map(|bytes| (bytes, format!("{} has {}", gpu.name, bytes_text(bytes)))),
            _ => None,
        }
    } else {
        let bytes = context.hardware_info.as_ref()?.system_memory_bytes()?;
        Some((bytes, format!("system memory is {}", bytes_text(bytes))))
    }
}

/// Peak dense FLOP/s of an accelerator for a precision (tensor cores where it has them).
pub(crate) fn peak_flops_per_second(
    accelerator: &Accelerator,
    precision: Precision,
) -> Option<f64> {
    let tflops = match precision {
        Precision::Fp32 => Some(accelerator.fp32_tflops),
        Precision::Fp16 => Some(accelerator.fp16_tflops),
        Precision::Bf16 => accelerator.bf16_tflops,
        Precision::Fp8 => accelerator.fp8_tflops,
        Precision::Int8 | Precision::Int4 => accelerator.int8_tops,
    }?;
    (tflops > 0.0).then_some(tflops * 1e12)
}

/// The fraction of forward FLOPs spent in attention scores at sequence length `seq_len`,
/// with the FLOPs it is computed from.
///
/// Per sequence: attention scores cost `4 · s² · heads · head_dim · layers` FLOPs (QKᵀ and
/// the weighted sum of V, 2 FLOPs per multiply-add each), and the weight matmuls cost
/// `2 · N · s` for N active parameters (Kaplan et al. 2020, "Scaling Laws", table 1).
/// Embedding parameters are counted in N, which understates the attention share slightly.
pub(crate) struct AttentionShare {
    pub share: f64,
    pub attention_flops: f64,
    pub linear_flops: f64,
}

pub(crate) fn attention_share(model: &ModelGraph, seq_len: u64) -> Option<AttentionShare> {
    let facts = &model.facts;
    let width = facts.attention_heads? as f64 * model.head_dim()? as f64;
    let layers = facts.layers? as f64;
    let parameters = facts.active_parameters.or(model.parameter_count())? as f64;
    let s = seq_len as f64;
    let attention_flops = 4.0 * s * s * width * layers;
    let linear_flops = 2.0 * parameters * s;
    let total = attention_flops + linear_flops;
    (total > 0.0).then(|| AttentionShare {
        share: attention_flops / total,
        attention_flops,
        linear_flops,
    })
}

/// Bytes for people: `13.5 GiB`.
pub(crate) fn bytes_text(bytes: u64) -> String {
    float_bytes_text(bytes as f64)
}

/// Bytes given as a float, for estimates.
pub(crate) fn float_bytes_text(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A count for people: `6.74 B`, `124 M`.
pub(crate) fn count_text(count: f64) -> String {
    if count >= 1e9 {
        format!("{:.2} B", count / 1e9)
    } else if count >= 1e6 {
        format!("{:.0} M", count / 1e6)
    } else if count >= 1e3 {
        format!("{:.0} k", count / 1e3)
    } else {
        format!("{count:.0}")
    }
}

/// FLOPs for people: `1.2 TFLOP`.
pub(crate) fn flops_text(flops: f64) -> String {
    if flops >= 1e12 {
        format!("{:.1} TFLOP", flops / 1e12)
    } else if flops >= 1e9 {
        format!("{:.1} GFLOP", flops / 1e9)
    } else {
        format!("{:.1} MFLOP", flops / 1e6)
    }
}

/// A fraction as a percentage: `37.5 %`.
pub(crate) fn percent(fraction: f64) -> String {
    format!("{:.1} %", fraction * 100.0)
}

/// Impact from the largest expected reduction.
pub(crate) fn impact_from_reduction(max_reduction: f64) -> advisor_core::Impact {
    use advisor_core::Impact;
    if max_reduction >= 0.3 {
        Impact::High
    } else if max_reduction >= 0.1 {
        Impact::Medium
    } else {
        Impact::Low
    }
}
