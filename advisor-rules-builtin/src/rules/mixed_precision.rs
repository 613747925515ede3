//! `mixed_precision`: fp32 where 16-bit (or TF32) matmuls are much faster.
//!
//! ## What it checks
//! The run computes in fp32 (config `precision`, else the weights' dtype, else PyTorch's fp32
//! default) on a GPU with tensor cores, or on a CPU with bf16 instructions (AVX512-BF16, AMX).
//! It recommends bf16 on Ampere and newer (and on AMD CDNA), fp16 on Volta and Turing, which
//! have no bf16 tensor cores; with fp32 on Ampere or newer, TF32 matmuls
//! (`torch.set_float32_matmul_precision("high")`) are the one-line first step. It also warns
//! when the configuration asks for bf16 on a GPU without bf16 tensor cores, or fp8 on one
//! without fp8 units. fp16 advice on a T5-family model (`t5`, `mt5`, `umt5`) warns that those
//! checkpoints overflow in fp16 (trained in bf16; transformers keeps their `wo` in fp32).
//!
//! ## Why it matters
//! The gain is the performance model before and after, which is an Amdahl bound rather than a
//! peak ratio: compute-bound matmuls speed up by the peak ratio, memory-bound work by half the
//! bytes, and the optimizer step and input do not speed up at all. NVIDIA quotes up to 3× for
//! automatic mixed precision end to end ("Mixed Precision Training", Micikevicius et al. 2018;
//! NVIDIA's AMP documentation). Activation memory halves in training.
//!
//! Without a model, a trace whose matmul and convolution kernels run in fp32 (their names
//! say so: `volta_sgemm`, `scudnn`, `<float>` cuDNN engines) gives the gain instead: those
//! kernels' share of the GPU span is the pool, and at the target precision they run between
//! half the peak ratio and the peak ratio faster (the same fraction of a higher roof, or half
//! of it); everything else keeps its time.
//!
//! ## When it stays silent
//! Already 16-bit or lower, a GPU without tensor cores, a CPU without bf16 instructions. Without
//! the device it says what it needs.
//!
//! ## Example
//! fp32 fine-tuning of RoBERTa on an A100.

use advisor_core::{
    Category, Change, ComputeCapability, Difficulty, GpuVendor, Impact, KernelPrecision, Mode,
    OptimizationRule, OptimizationSuggestion, Precision, RuleError, RuleInput, SlackClaim,
    SlackPool,
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
        "fp32 where 16-bit matmuls are far faster: bf16 (Ampere+, CDNA, CPUs with bf16), fp16 (Volta, Turing), TF32 first"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let found = advise(self.id(), input)?;
        Ok(found.into_iter().map(|s| t5_in_fp16(input, s)).collect())
    }
}

/// T5 checkpoints overflow in fp16: their feed-forward activations exceed fp16's 65,504 (the
/// models were trained in bf16; Hugging Face keeps T5's `wo` projection in fp32 through
/// `_keep_in_fp32_modules` for this reason, transformers issues #14189 and #20287).
fn t5_in_fp16(input: &RuleInput<'_>, suggestion: OptimizationSuggestion) -> OptimizationSuggestion {
    let family = facts::model_family(input);
    let fp16 = suggestion
        .changes
        .contains(&Change::Precision(Precision::Fp16));
    if fp16 && matches!(family.as_str(), "t5" | "mt5" | "umt5") {
        suggestion.warning(
            "T5-family checkpoints overflow in fp16 (feed-forward activations above 65,504 give inf and NaN): \
             load them with transformers, which keeps the `wo` projections in fp32 (`_keep_in_fp32_modules`), \
             or check the outputs against fp32 before switching.",
        )
    } else {
        suggestion
    }
}

fn advise(id: &str, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
    {
        let facts = input.facts;
        let precision = facts.run.compute.value;
        let training = facts.mode()? == Mode::Training;
        let gpu = facts.run_gpu_spec()?;
        let mut found = Vec::new();
        if let Some((gpu, spec)) = gpu {
            let capability = gpu.compute_capability.as_ref().map(|c| c.value);
            // Precisions the GPU has no fast path for.
            if precision == Precision::Fp8 && spec.peak.fp8.is_none() {
                // fp8 checkpoints still run here, weight-only: what they buy is the memory and
                // the decode bandwidth of 8-bit weights, not fp8 matmuls.
                let suggestion = OptimizationSuggestion::new(
                    id,
                    Category::Hardware,
                    Impact::Low,
                    Difficulty::Easy,
                    "fp8 runs weight-only on this GPU: expect 16-bit matmul speed",
                )
                .description(format!(
                    "The {} ({}) has no fp8 tensor cores (those need Ada or Hopper, sm89+, or MI300). fp8 weights run \
                     weight-only there (W8A16, vLLM's Marlin kernels): 8-bit weights in memory and at decode, matmuls at \
                     16-bit speed. The model prices the run that way.",
                    spec.name, spec.architecture
                ))
                .evidence(facts::sourced("precision", &facts.run.compute))
                .evidence(format!("{} ({})", spec.name, spec.architecture))
                .step("Keep fp8 weights for their memory and decode bandwidth, served with W8A16 kernels (vLLM picks Marlin on Ampere).")
                .step("For compute-bound prefill or large batches, int8 W8A8 (SmoothQuant) runs on this GPU's int8 tensor cores.");
                found.push(suggestion);
                return Ok(found);
            }
            if precision == Precision::Bf16 && spec.peak.bf16.is_none() {
                let changes = [Change::Precision(Precision::Fp16)];
                let simulation = facts::simulate(input, &changes)?;
                let suggestion = OptimizationSuggestion::new(
                    id,
                    Category::Hardware,
                    Impact::High,
                    Difficulty::Easy,
                    "This GPU has no bf16 tensor cores: compute in fp16",
                )
                .description(format!(
                    "The {} ({}) has no bf16 tensor cores: bf16 matmuls fall back to the fp32 rate there. fp16 runs on \
                     its tensor cores; in training it needs a GradScaler for fp16's narrower range.",
                    spec.name, spec.architecture
                ))
                .evidence(facts::sourced("precision", &facts.run.compute))
                .evidence(format!(
                    "{}: {:.0} TFLOP/s dense at fp16, no bf16 tensor-core figure",
                    spec.name,
                    spec.peak.fp16.unwrap_or(0.0) / 1e12
                ));
                let mut suggestion = facts::with_simulation(suggestion, &changes, &simulation);
                suggestion.impact = suggestion.impact.min(Impact::High);
                found.push(steps(suggestion, Precision::Fp16, training));
                return Ok(found);
            }
            if precision != Precision::Fp32 || !spec.matrix_units {
                return Ok(found);
            }
            let target = if spec.peak.bf16.is_some() {
                Precision::Bf16
            } else {
                Precision::Fp16
            };
            let ampere = spec.vendor == GpuVendor::Amd
                || capability.is_some_and(|cc| cc >= ComputeCapability::new(8, 0));
            if facts.model.is_none()
                && let Some(suggestion) = from_trace(input, spec, target, training)
            {
                found.push(suggestion);
                return Ok(found);
            }
            let changes = [Change::Precision(target)];
            let simulation = facts::simulate(input, &changes)?;
            let mut suggestion = OptimizationSuggestion::new(
                id,
                Category::Hardware,
                Impact::High,
                Difficulty::Easy,
                format!("Compute in {target} with automatic mixed precision"),
            )
            .description(format!(
                "The run computes in fp32 on the {} ({}), whose matrix units run {target} matmuls far faster than fp32 and move half the bytes.",
                spec.name, spec.architecture
            ))
            .evidence(facts::sourced("precision", &facts.run.compute))
            .evidence(format!(
                "{}: {:.0} TFLOP/s dense at {target}, {:.1} at fp32",
                spec.name,
                spec.peak.for_precision(target).unwrap_or(0.0) / 1e12,
                spec.peak.fp32.unwrap_or(0.0) / 1e12
            ));
            if ampere
                && !facts.run.tf32.value
                && let Some(tf32) = spec.peak.tf32
            {
                let tf32_sim = facts::simulate(input, &[Change::Tf32(true)])?;
                if let Some(latency) =
                    tf32_sim.improvement(advisor_core::ImprovementMetric::Latency)
                {
                    suggestion = suggestion
                        .step(format!(
                            "First, one line: torch.set_float32_matmul_precision(\"high\") runs fp32 matmuls as TF32 ({:.0} TFLOP/s): {} by the model, no other change.",
                            tf32 / 1e12,
                            latency.describe()
                        ));
                }
            }
            suggestion = facts::with_simulation(suggestion, &changes, &simulation);
            found.push(steps(suggestion, target, training));
        } else if let Some(cpu) = &facts.cpu {
            if precision != Precision::Fp32 || cpu.per_core_peak.bf16.is_none() {
                return Ok(found);
            }
            let changes = [Change::Precision(Precision::Bf16)];
            let simulation = facts::simulate(input, &changes)?;
            let suggestion = OptimizationSuggestion::new(
                id,
                Category::Hardware,
                Impact::Medium,
                Difficulty::Easy,
                "Compute in bf16 on this CPU's bf16 instructions",
            )
            .description(
                "The CPU has bf16 dot-product instructions (AVX512-BF16 or AMX), which run bf16 matmuls at least twice as fast as fp32 and move half the bytes.",
            )
            .evidence(facts::sourced("precision", &facts.run.compute))
            .evidence(format!("CPU extensions: {}", cpu.simd.join(", ")))
            .evidence(format!("CPU peak: {}", cpu.peak_source))
            .step("Run under torch.autocast(\"cpu\", dtype=torch.bfloat16), or cast the model with model.to(torch.bfloat16).")
            .step("Compare outputs against fp32 on a sample of inputs.")
            .code("python", "with torch.inference_mode(), torch.autocast(\"cpu\", dtype=torch.bfloat16):\n    out = model(**inputs)");
            found.push(facts::with_simulation(suggestion, &changes, &simulation));
        }
        Ok(found)
    }
}

/// The trace-only path: no model to simulate, but the trace's own fp32 matmul kernels. Their
/// GPU time is the pool; at `target` they run `ratio / 2` to `ratio` times faster, where
/// `ratio` is the datasheet peak at `target` over the peak they run at now (fp32, or TF32 when
/// the kernels already use it). `None` when the trace does not show fp32 matmuls.
fn from_trace(
    input: &RuleInput<'_>,
    spec: &advisor_core::GpuSpec,
    target: Precision,
    training: bool,
) -> Option<OptimizationSuggestion> {
    let trace = facts::trace(input.context).ok()?;
    let run = trace.run.as_ref()?;
    let breakdown = trace.gpu_breakdown.as_ref()?;
    let kernel = run.matmul_precision?;
    let current_peak = match kernel {
        KernelPrecision::Fp32 => spec.peak.fp32?,
        KernelPrecision::Tf32 => spec.peak.tf32?,
        _ => return None,
    };
    let target_peak = spec.peak.for_precision(target)?;
    let ratio = target_peak / current_peak;
    if ratio <= 1.0 || breakdown.kernel_time_us <= 0.0 {
        return None;
    }
    let matmul_us: f64 = run
        .matmul_by_precision
        .iter()
        .filter(|s| s.precision == kernel)
        .map(|s| s.time_us)
        .sum();
    // Kernels on several streams may overlap: never more than the computation time.
    let pool = (matmul_us.min(breakdown.compute_us) / breakdown.kernel_time_us).clamp(0.0, 1.0);
    let low = pool * (1.0 - 2.0 / ratio).max(0.0);
    let high = pool * (1.0 - 1.0 / ratio);
    if high < 0.05 {
        return None;
    }
    let source = trace.source.as_deref().unwrap_or("the trace");
    let suggestion = OptimizationSuggestion::new(
        "mixed_precision",
        Category::Hardware,
        facts::impact_from_reduction(high).min(Impact::High),
        Difficulty::Easy,
        format!("Compute in {target} with automatic mixed precision"),
    )
    .description(format!(
        "The trace's matmuls and convolutions run in {} on the {} ({}), whose matrix units run {target} {ratio:.1}× faster at peak and move half the bytes.",
        kernel.as_str(),
        spec.name,
        spec.architecture
    ))
    .evidence(format!(
        "{source}: {} of matmul and convolution kernel time, {:.1} % of the GPU span, is {} ({})",
        facts::percent(
            run.matmul_by_precision
                .iter()
                .find(|s| s.precision == kernel)
                .map_or(0.0, |s| s.pct / 100.0)
        ),
        100.0 * pool,
        kernel.as_str(),
        run.matmul_examples.join(", ")
    ))
    .evidence(format!(
        "{}: {:.0} TFLOP/s dense at {target}, {:.1} at {}",
        spec.name,
        target_peak / 1e12,
        current_peak / 1e12,
        kernel.as_str()
    ));
    let suggestion = crate::rules::gpu_idle::claim(
        suggestion,
        SlackClaim {
            pool: SlackPool::Fp32Matmuls,
            pool_fraction: pool,
            min_fraction: low,
            max_fraction: high,
        },
        &format!(
            "the trace's {} matmul kernels ({} of the GPU span) run {:.1}–{ratio:.1}× faster at {target} (half to all of the peak ratio); the rest of the step keeps its time",
            kernel.as_str(),
            facts::percent(pool),
            (ratio / 2.0).max(1.0)
        ),
    );
    Some(steps(suggestion, target, training))
}

fn steps(
    suggestion: OptimizationSuggestion,
    target: Precision,
    training: bool,
) -> OptimizationSuggestion {
    if training {
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
            .step("Keep the master weights and optimizer state in fp32 (autocast does this); activation memory halves.");
        if scaler {
            s = s
                .step("Use a GradScaler: fp16's narrow range underflows small gradients without loss scaling.")
                .warning("fp16 overflows above 65504: watch for inf/NaN losses; the GradScaler skips those steps.");
        }
        s.code("python", code)
            .warning("Autocast keeps precision-sensitive ops (softmax, norms, reductions) in fp32; custom kernels may need the same care.")
    } else {
        suggestion
            .step(format!("Load or cast the model to {target} and run inference under torch.inference_mode()."))
            .step("Compare outputs against fp32 on a sample of inputs.")
            .code("python", format!("model = model.to(device=\"cuda\", dtype=torch.{})\nwith torch.inference_mode():\n    out = model(**inputs)", if target == Precision::Bf16 { "bfloat16" } else { "float16" }))
            .warning("A model cast to 16 bits runs its norms and softmax in 16 bits too (autocast would keep them in fp32): compare outputs before switching traffic.")
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::rules::test_support::{
        advise, bert_base, breakdown, context, qwen2_1_5b, roberta_base, target,
    };

    /// A training trace on a V100 whose matmuls run at `precision` (60 % of a 100 ms span).
    fn v100_trace(precision: &str, example: &str) -> serde_json::Value {
        let mut hardware = target("nvidia-v100-sxm2-32gb");
        hardware["gpu_count"] = json!(1);
        json!({
            "hardware_info": hardware,
            "profile_results": { "total_ms": 100.0, "trace": {
                "source": "v100.json",
                "gpu_breakdown": breakdown(3.0, 96.0, 0.0, 1.0),
                "run": {
                    "mode": "training", "mode_evidence": "2615 backward operators",
                    "matmul_precision": precision, "matmul_time_us": 60_000.0,
                    "matmul_by_precision": [{ "precision": precision, "time_us": 60_000.0, "pct": 100.0 }],
                    "matmul_examples": [example], "cuda_graph_launches": 0
                }
            }}
        })
    }

    #[test]
    fn an_fp32_training_trace_without_a_model_gets_its_gain_from_the_kernels() {
        expect![[r#"
            mixed_precision · hardware · impact high · difficulty easy
            title: Compute in fp16 with automatic mixed precision
            description: The trace's matmuls and convolutions run in fp32 on the NVIDIA Tesla V100 SXM2 32GB (Volta), whose matrix units run fp16 8.0× faster at peak and move half the bytes.
            expected:
            - latency −45–52 % [0.449, 0.525]: the trace's fp32 matmul kernels (60.0 % of the GPU span) run 4.0–8.0× faster at fp16 (half to all of the peak ratio); the rest of the step keeps its time; a claim on the fp32 matmul pool (60.0 % of the GPU span): claims on one pool recover the same time, so the report combines them by their maximum and never beyond the pool
            evidence:
            - v100.json: 100.0 % of matmul and convolution kernel time, 60.0 % of the GPU span, is fp32 (volta_sgemm_64x64_tn)
            - NVIDIA Tesla V100 SXM2 32GB: 125 TFLOP/s dense at fp16, 15.7 at fp32
            steps:
            - Wrap the forward pass and loss in torch.autocast("cuda", dtype=torch.float16).
            - Keep the master weights and optimizer state in fp32 (autocast does this); activation memory halves.
            - Use a GradScaler: fp16's narrow range underflows small gradients without loss scaling.
            code: python
            warnings:
            - fp16 overflows above 65504: watch for inf/NaN losses; the GradScaler skips those steps.
            - Autocast keeps precision-sensitive ops (softmax, norms, reductions) in fp32; custom kernels may need the same care.
            slack: SlackClaim { pool: Fp32Matmuls, pool_fraction: 0.6, min_fraction: 0.44927999999999996, max_fraction: 0.52464 }
        "#]]
        .assert_eq(&advise(
            "mixed_precision",
            v100_trace("fp32", "volta_sgemm_64x64_tn"),
        ));
    }

    #[test]
    fn an_fp16_trace_is_left_alone() {
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "mixed_precision",
            v100_trace("fp16", "volta_h884gemm_64x64"),
        ));
    }

    #[test]
    fn bert_base_serving_in_fp32_on_an_l4() {
        expect![[r#"
            mixed_precision · hardware · impact high · difficulty easy
            title: Compute in bf16 with automatic mixed precision
            description: The run computes in fp32 on the NVIDIA L4 (Ada Lovelace), whose matrix units run bf16 matmuls far faster than fp32 and move half the bytes.
            changes: compute in bf16
            expected:
            - latency −50–61 % [0.500, 0.614]: model: request 12.8 ms–22.8 ms → 4.9 ms–11.4 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×2.0–2.6 [0.500, 0.614]: model: request time per sequence 1.6 ms–2.8 ms → 616 µs–1.4 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −23 % [0.230, 0.230]: model: peak memory 947.6 MiB → 729.8 MiB (CUDA context and workspaces 512.0 MiB + weights 208.8 MiB + activations 9.0 MiB)
            - model_size −50 % [0.500, 0.500]: model: weights 417.6 MiB → 208.8 MiB (32 → 16 bits per weight, embeddings and head at 16 bits)
            evidence:
            - precision fp32 (config precision)
            - NVIDIA L4: 121 TFLOP/s dense at bf16, 30.3 at fp32
            steps:
            - First, one line: torch.set_float32_matmul_precision("high") runs fp32 matmuls as TF32 (60 TFLOP/s): latency −0–22 % by the model, no other change.
            - Load or cast the model to bf16 and run inference under torch.inference_mode().
            - Compare outputs against fp32 on a sample of inputs.
            code: python
            warnings:
            - A model cast to 16 bits runs its norms and softmax in 16 bits too (autocast would keep them in fp32): compare outputs before switching traffic.
        "#]].assert_eq(&advise(
            "mixed_precision",
            context(
                bert_base(),
                target("nvidia-l4"),
                json!({ "mode": "inference", "batch_size": "8", "seq_len": "128",
                        "precision": "fp32" }),
            ),
        ));
    }

    #[test]
    fn roberta_fine_tuning_in_bf16_on_a_t4() {
        expect![[r#"
            mixed_precision · hardware · impact high · difficulty easy
            title: This GPU has no bf16 tensor cores: compute in fp16
            description: The NVIDIA T4 (Turing) has no bf16 tensor cores: bf16 matmuls fall back to the fp32 rate there. fp16 runs on its tensor cores; in training it needs a GradScaler for fp16's narrower range.
            changes: compute in fp16
            expected:
            - latency −75–78 % [0.749, 0.781]: model: step 412.3 ms–944.7 ms → 95.1 ms–219.8 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×4.0–4.6 [0.749, 0.781]: model: step time per sample 51.5 ms–118.1 ms → 11.9 ms–27.5 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - precision bf16 (config precision)
            - NVIDIA T4: 65 TFLOP/s dense at fp16, no bf16 tensor-core figure
            steps:
            - Wrap the forward pass and loss in torch.autocast("cuda", dtype=torch.float16).
            - Keep the master weights and optimizer state in fp32 (autocast does this); activation memory halves.
            - Use a GradScaler: fp16's narrow range underflows small gradients without loss scaling.
            code: python
            warnings:
            - fp16 overflows above 65504: watch for inf/NaN losses; the GradScaler skips those steps.
            - Autocast keeps precision-sensitive ops (softmax, norms, reductions) in fp32; custom kernels may need the same care.
        "#]].assert_eq(&advise(
            "mixed_precision",
            context(
                roberta_base(),
                target("nvidia-t4"),
                json!({ "mode": "training", "batch_size": "8", "seq_len": "512",
                        "precision": "bf16" }),
            ),
        ));
    }

    #[test]
    fn qwen2_1_5b_serving_in_bf16_on_a_t4() {
        expect![[r#"
            mixed_precision · hardware · impact high · difficulty easy
            title: This GPU has no bf16 tensor cores: compute in fp16
            description: The NVIDIA T4 (Turing) has no bf16 tensor cores: bf16 matmuls fall back to the fp32 rate there. fp16 runs on its tensor cores; in training it needs a GradScaler for fp16's narrower range.
            changes: compute in fp16
            expected:
            - latency −8–15 % [0.082, 0.155]: model: request 6.42 s–10.48 s → 5.75 s–8.95 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.1–1.2 [0.082, 0.155]: model: request time per sequence 6.42 s–10.48 s → 5.75 s–8.95 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_to_first_token −81–83 % [0.812, 0.829]: model: time to first token 811.6 ms–1.86 s → 143.5 ms–330.3 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - precision bf16 (config precision)
            - NVIDIA T4: 65 TFLOP/s dense at fp16, no bf16 tensor-core figure
            steps:
            - Load or cast the model to fp16 and run inference under torch.inference_mode().
            - Compare outputs against fp32 on a sample of inputs.
            code: python
            warnings:
            - A model cast to 16 bits runs its norms and softmax in 16 bits too (autocast would keep them in fp32): compare outputs before switching traffic.
        "#]].assert_eq(&advise(
            "mixed_precision",
            context(
                qwen2_1_5b(),
                target("nvidia-t4"),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "2048",
                        "precision": "bf16", "flash_attention": "false" }),
            ),
        ));
    }

    #[test]
    fn bert_base_in_fp32_on_a_sapphire_rapids_cpu() {
        let hardware = json!({ "cpu_model": "Intel Xeon Platinum 8480+", "cpu_cores": 56,
            "cpu_threads": 112, "system_memory_mb": 524288,
            "simd_capabilities": ["avx2", "fma", "avx512f", "avx512bf16", "avx512vnni",
                                  "amx-tile", "amx-bf16", "amx-int8"] });
        expect![[r#"
            mixed_precision · hardware · impact high · difficulty easy
            title: Compute in bf16 on this CPU's bf16 instructions
            description: The CPU has bf16 dot-product instructions (AVX512-BF16 or AMX), which run bf16 matmuls at least twice as fast as fp32 and move half the bytes.
            changes: compute in bf16
            expected:
            - latency −34–39 % [0.343, 0.385]: model: request 14.7 ms–29.2 ms → 9.0 ms–19.2 ms (memory-bound → bound by the host issuing operators); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.5–1.6 [0.343, 0.385]: model: request time per sequence 14.7 ms–29.2 ms → 9.0 ms–19.2 ms (memory-bound → bound by the host issuing operators); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −50 % [0.500, 0.500]: model: peak memory 419.9 MiB → 209.9 MiB (weights 208.8 MiB + activations 1.1 MiB)
            - model_size −50 % [0.500, 0.500]: model: weights 417.6 MiB → 208.8 MiB (32 → 16 bits per weight, embeddings and head at 16 bits)
            evidence:
            - precision fp32 (config precision)
            - CPU extensions: avx2, fma, avx512f, avx512bf16, avx512vnni, amx-tile, amx-bf16, amx-int8
            - CPU peak: assumed: fp32 64 FLOPs per cycle and core (AVX-512), bf16 (AMX) 1024 FLOPs, int8 (AMX) 2048 ops at 2.5 GHz (the clock is not reported; advisor hardware --calibrate measures it)
            steps:
            - Run under torch.autocast("cpu", dtype=torch.bfloat16), or cast the model with model.to(torch.bfloat16).
            - Compare outputs against fp32 on a sample of inputs.
            code: python
        "#]].assert_eq(&advise(
            "mixed_precision",
            context(
                bert_base(),
                hardware,
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "128",
                        "precision": "fp32", "device": "cpu" }),
            ),
        ));
    }
}
