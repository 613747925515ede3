//! `mixed_precision`: fp32 where 16-bit (or TF32) matmuls are much faster.
//!
//! ## What it checks
//! The run computes in fp32 (config `precision`, else the weights' dtype, else PyTorch's fp32
//! default) on a GPU with tensor cores, or on a CPU with bf16 instructions (AVX512-BF16, AMX).
//! It recommends bf16 on Ampere and newer (and on AMD CDNA), fp16 on Volta and Turing, which
//! have no bf16 tensor cores; with fp32 on Ampere or newer, TF32 matmuls
//! (`torch.set_float32_matmul_precision("high")`) are the one-line first step. It also warns
//! when the configuration asks for bf16 on a GPU without bf16 tensor cores, or fp8 on one
//! without fp8 units.
//!
//! ## Why it matters
//! The gain is the performance model before and after, which is an Amdahl bound rather than a
//! peak ratio: compute-bound matmuls speed up by the peak ratio, memory-bound work by half the
//! bytes, and the optimizer step and input do not speed up at all. NVIDIA quotes up to 3× for
//! automatic mixed precision end to end ("Mixed Precision Training", Micikevicius et al. 2018;
//! NVIDIA's AMP documentation). Activation memory halves in training.
//!
//! ## When it stays silent
//! Already 16-bit or lower, a GPU without tensor cores, a CPU without bf16 instructions. Without
//! the device it says what it needs.
//!
//! ## Example
//! fp32 fine-tuning of RoBERTa on an A100.

use advisor_core::{
    Category, Change, ComputeCapability, Difficulty, GpuVendor, Impact, Mode, OptimizationRule,
    OptimizationSuggestion, Precision, RuleError, RuleInput,
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
        let facts = input.facts;
        let precision = facts.run.compute.value;
        let training = facts.mode()? == Mode::Training;
        let gpu = facts.run_gpu_spec()?;
        let mut found = Vec::new();
        if let Some((gpu, spec)) = gpu {
            let capability = gpu.compute_capability.as_ref().map(|c| c.value);
            // Precisions the GPU has no fast path for.
            let warn = match precision {
                Precision::Bf16 if spec.peak.bf16.is_none() => Some(format!(
                    "The {} has no bf16 tensor cores ({}): bf16 runs far slower there. Use fp16 with a GradScaler in training, or fp16 weights for inference.",
                    spec.name, spec.architecture
                )),
                Precision::Fp8 if spec.peak.fp8.is_none() => Some(format!(
                    "The {} has no fp8 units ({}): fp8 needs Ada or Hopper (sm89+) or MI300. Use bf16, or int8 weights.",
                    spec.name, spec.architecture
                )),
                _ => None,
            };
            if let Some(text) = warn {
                let target = if spec.peak.bf16.is_some() {
                    Precision::Bf16
                } else {
                    Precision::Fp16
                };
                let changes = [Change::Precision(target)];
                let simulation = facts::simulate(input, &changes)?;
                let suggestion = OptimizationSuggestion::new(
                    self.id(),
                    Category::Hardware,
                    Impact::High,
                    Difficulty::Easy,
                    format!("{precision} is not supported well by this GPU: compute in {target}"),
                )
                .description(text.clone())
                .evidence(facts::sourced("precision", &facts.run.compute))
                .evidence(format!("{} ({})", spec.name, spec.architecture))
                .warning(text);
                let mut suggestion = facts::with_simulation(suggestion, &changes, &simulation);
                suggestion.impact = Impact::High;
                found.push(suggestion);
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
            let changes = [Change::Precision(target)];
            let simulation = facts::simulate(input, &changes)?;
            let mut suggestion = OptimizationSuggestion::new(
                self.id(),
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
            if ampere && let Some(tf32) = spec.peak.tf32 {
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
                self.id(),
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
        advise, bert_base, context, qwen2_1_5b, roberta_base, target,
    };

    #[test]
    fn bert_base_serving_in_fp32_on_an_l4() {
        expect![[r#"
            mixed_precision · hardware · impact high · difficulty easy
            title: Compute in bf16 with automatic mixed precision
            description: The run computes in fp32 on the NVIDIA L4 (Ada Lovelace), whose matrix units run bf16 matmuls far faster than fp32 and move half the bytes.
            changes: compute in bf16
            expected:
            - latency −50–63 % [0.500, 0.627]: model: request 11.4 ms–15.7 ms → 4.2 ms–7.8 ms (compute-bound → memory-bound); range over kernel efficiency (bandwidth 60–90 %, compute 50–80 %) and host overhead
            - throughput ×2.0–2.7 [0.500, 0.627]: model: request time per sequence 1.4 ms–2.0 ms → 531 µs–980 µs (compute-bound → memory-bound); range over kernel efficiency (bandwidth 60–90 %, compute 50–80 %) and host overhead
            - memory −23 % [0.230, 0.230]: model: peak memory 947.6 MiB → 729.8 MiB (CUDA context and workspaces 512.0 MiB + weights 208.8 MiB + activations 9.0 MiB)
            - model_size −50 % [0.500, 0.500]: model: weights 417.6 MiB → 208.8 MiB (32 → 16 bits per weight, embeddings and head at the same format)
            evidence:
            - precision fp32 (config precision)
            - NVIDIA L4: 121 TFLOP/s dense at bf16, 30.3 at fp32
            steps:
            - First, one line: torch.set_float32_matmul_precision("high") runs fp32 matmuls as TF32 (60 TFLOP/s): latency −0–25 % by the model, no other change.
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
            title: bf16 is not supported well by this GPU: compute in fp16
            description: The NVIDIA T4 has no bf16 tensor cores (Turing): bf16 runs far slower there. Use fp16 with a GradScaler in training, or fp16 weights for inference.
            changes: compute in fp16
            expected:
            - latency −77–82 % [0.767, 0.820]: model: step 401.2 ms–886.4 ms → 84.0 ms–161.5 ms (compute-bound → compute-bound); range over kernel efficiency (bandwidth 60–90 %, compute 50–80 %) and host overhead
            - throughput ×4.3–5.6 [0.767, 0.820]: model: step time per sample 50.1 ms–110.8 ms → 10.5 ms–20.2 ms (compute-bound → compute-bound); range over kernel efficiency (bandwidth 60–90 %, compute 50–80 %) and host overhead
            evidence:
            - precision bf16 (config precision)
            - NVIDIA T4 (Turing)
            warnings:
            - The NVIDIA T4 has no bf16 tensor cores (Turing): bf16 runs far slower there. Use fp16 with a GradScaler in training, or fp16 weights for inference.
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
            title: bf16 is not supported well by this GPU: compute in fp16
            description: The NVIDIA T4 has no bf16 tensor cores (Turing): bf16 runs far slower there. Use fp16 with a GradScaler in training, or fp16 weights for inference.
            changes: compute in fp16
            expected:
            - latency −8–16 % [0.082, 0.156]: model: request 6.38 s–10.18 s → 5.72 s–8.65 s (memory-bound → memory-bound); range over kernel efficiency (bandwidth 60–90 %, compute 50–80 %) and host overhead
            - throughput ×1.1–1.2 [0.082, 0.156]: model: request time per sequence 6.38 s–10.18 s → 5.72 s–8.65 s (memory-bound → memory-bound); range over kernel efficiency (bandwidth 60–90 %, compute 50–80 %) and host overhead
            - time_to_first_token −84–86 % [0.837, 0.857]: model: time to first token 789.8 ms–1.78 s → 121.7 ms–257.3 ms (memory-bound → memory-bound); range over kernel efficiency (bandwidth 60–90 %, compute 50–80 %) and host overhead
            evidence:
            - precision bf16 (config precision)
            - NVIDIA T4 (Turing)
            warnings:
            - The NVIDIA T4 has no bf16 tensor cores (Turing): bf16 runs far slower there. Use fp16 with a GradScaler in training, or fp16 weights for inference.
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
            - latency −35–39 % [0.353, 0.391]: model: request 7.9 ms–10.7 ms → 5.1 ms–6.5 ms (memory-bound → memory-bound); range over kernel efficiency (bandwidth 60–90 %, compute 50–80 %) and host overhead
            - throughput ×1.5–1.6 [0.353, 0.391]: model: request time per sequence 7.9 ms–10.7 ms → 5.1 ms–6.5 ms (memory-bound → memory-bound); range over kernel efficiency (bandwidth 60–90 %, compute 50–80 %) and host overhead
            - memory −50 % [0.500, 0.500]: model: peak memory 419.9 MiB → 209.9 MiB (weights 208.8 MiB + activations 1.1 MiB)
            - model_size −50 % [0.500, 0.500]: model: weights 417.6 MiB → 208.8 MiB (32 → 16 bits per weight, embeddings and head at the same format)
            evidence:
            - precision fp32 (config precision)
            - CPU extensions: avx2, fma, avx512f, avx512bf16, avx512vnni, amx-tile, amx-bf16, amx-int8
            - CPU peak: assumed: AMX at 2.5 GHz: 64 fp32 FLOPs per cycle and core (the clock is not reported; advisor hardware --calibrate measures it)
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
