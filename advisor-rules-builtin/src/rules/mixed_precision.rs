//! `mixed_precision`: fp32 on a GPU with tensor cores.
//!
//! ## What it checks
//! The run computes in fp32 (config `precision`, else the weights' dtype) on a GPU of compute
//! capability 7.0 or newer. It recommends fp16 on Volta and Turing (7.x) and bf16 on Ampere
//! and newer (8.0+), which have the range of fp32 and need no loss scaling.
//!
//! ## Why it matters
//! Tensor cores run 16-bit matmuls many times faster than fp32 CUDA cores, and 16-bit tensors
//! halve memory traffic. The expected improvement spans the memory-bound case (half the bytes:
//! −50 %) to the compute-bound case (`1 − fp32 peak / 16-bit tensor peak` from the accelerator
//! table).
//!
//! ## When it stays silent
//! Already 16-bit or lower, a CPU run, or a GPU older than Volta. Without the precision or the
//! GPU's compute capability it says what it needs.
//!
//! ## Example
//! fp32 training on a Tesla V100 (fp16: 125 vs 15.7 TFLOP/s).

use advisor_core::{
    Category, ComputeCapability, Difficulty, ExpectedImprovement, Impact, ImprovementMetric, Mode,
    OptimizationRule, OptimizationSuggestion, Precision, RuleError, RuleInput,
};

use crate::facts;

/// See the module documentation.
pub(crate) struct MixedPrecision;

impl OptimizationRule for MixedPrecision {
    fn id(&self) -> &str {
        "mixed_precision"
    }

    fn category(&self) -> Category {
        Category::Hardware
    }

    fn description(&self) -> &str {
        "fp32 on a GPU with tensor cores: compute in fp16 (Volta, Turing) or bf16 (Ampere and newer)"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let context = input.context;
        let config = context.run_config()?;
        let Some(facts::RunGpu {
            gpu,
            capability,
            device_source,
        }) = facts::run_gpu(context, &config)?
        else {
            return Ok(Vec::new());
        };
        let (precision, precision_source) = facts::compute_precision(context, &config)
            .ok_or_else(|| RuleError::MissingFacts("config precision".to_owned()))?;
        if precision != Precision::Fp32 {
            return Ok(Vec::new());
        }
        if !capability.has_tensor_cores() {
            return Ok(Vec::new());
        }
        let target = if capability.supports_bf16() {
            Precision::Bf16
        } else {
            Precision::Fp16
        };
        let training = config.mode == Some(Mode::Training);
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Hardware,
            Impact::High,
            Difficulty::Easy,
            format!("Compute in {target} with automatic mixed precision"),
        )
        .description(format!(
            "The run computes in fp32 on a {} ({}, compute capability {capability}), whose tensor cores run {target} matmuls \
             far faster than fp32 and move half the bytes.",
            gpu.name,
            capability.architecture()
        ))
        .evidence(precision_source)
        .evidence(device_source)
        .evidence(format!(
            "compute capability {capability} ≥ {} ({})",
            ComputeCapability::new(7, 0),
            capability.architecture()
        ));
        let mut max = 0.5;
        let mut basis = "memory-bound kernels move half the bytes (−50 %)".to_owned();
        if let Some(accelerator) = gpu.accelerator
            && let (Some(fp32), Some(half)) = (
                facts::peak_flops_per_second(accelerator, Precision::Fp32),
                facts::peak_flops_per_second(accelerator, target),
            )
            && half > fp32
        {
            max = 1.0 - fp32 / half;
            basis.push_str(&format!(
                "; compute-bound matmuls run at {:.0} instead of {:.1} TFLOP/s dense on the {} (−{})",
                half / 1e12,
                fp32 / 1e12,
                accelerator.name,
                facts::percent(max)
            ));
        }
        suggestion = suggestion.improvement(ExpectedImprovement::new(
            ImprovementMetric::Latency,
            0.5_f64.min(max),
            max,
            basis,
        ));
        if !training {
            suggestion = suggestion.improvement(ExpectedImprovement::new(
                ImprovementMetric::Memory,
                0.0,
                0.5,
                "16-bit weights and activations take half the bytes of fp32; the share of peak memory they hold is not known",
            ));
        }
        suggestion = if training {
            let scaler = target == Precision::Fp16;
            let code = if scaler {
                "scaler = torch.cuda.amp.GradScaler()\nfor batch in loader:\n    with torch.autocast(\"cuda\", dtype=torch.float16):\n        loss = model(**batch).loss\n    scaler.scale(loss).backward()\n    scaler.step(optimizer)\n    scaler.update()\n    optimizer.zero_grad(set_to_none=True)"
            } else {
                "for batch in loader:\n    with torch.autocast(\"cuda\", dtype=torch.bfloat16):\n        loss = model(**batch).loss\n    loss.backward()\n    optimizer.step()\n    optimizer.zero_grad(set_to_none=True)"
            };
            let mut s = suggestion
                .step(format!(
                    "Wrap the forward pass and loss in torch.autocast(\"cuda\", dtype=torch.{}).",
                    if scaler { "float16" } else { "bfloat16" }
                ))
                .step("Keep the master weights and optimizer state in fp32 (autocast does this).");
            if scaler {
                s = s
                    .step("Use a GradScaler: fp16's narrow range underflows small gradients without loss scaling.")
                    .warning("fp16 overflows above 65504: watch for inf/NaN losses; the GradScaler skips those steps.");
            }
            s.code("python", code)
        } else {
            suggestion
                .step(format!("Load or cast the model to {target} and run inference under torch.inference_mode()."))
                .step("Compare outputs against fp32 on a sample of inputs.")
                .code("python", format!("model = model.to(device=\"cuda\", dtype=torch.{})\nwith torch.inference_mode():\n    out = model(**inputs)", if target == Precision::Bf16 { "bfloat16" } else { "float16" }))
        };
        Ok(vec![suggestion.warning("Autocast keeps precision-sensitive ops (softmax, norms, reductions) in fp32; custom kernels may need the same care.")])
    }
}
