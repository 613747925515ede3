//! `cpu_vector_units`: CPU inference whose int8 path cannot reach the CPU's matrix units.
//!
//! ## What it checks
//! Inference on a CPU whose probe reports AMX-INT8 (Sapphire Rapids and newer Xeons), served
//! from PyTorch (`engine` `hf` or unset), where moving the Linear layers' int8 matmuls onto AMX
//! (Intel Extension for PyTorch and OpenVINO through oneDNN, ONNX Runtime 1.14+ through MLAS)
//! buys at least 10 % of the latency by the performance model: the run already int8 through
//! `quantize_dynamic`, or in fp32 or bf16 with float weights.
//!
//! ## Why it matters
//! The CPU's peak depends on which units the kernels use, and the model takes it per dtype
//! from the extensions the probe reports (Intel Optimization Reference Manual, vol. 1, ch. 20):
//! fp32 FMAs on AVX-512 do 64 FLOPs per cycle and core, AVX512-VNNI's `vpdpbusd` 4× that in
//! int8, AMX's tile multiply 1,024 bf16 FLOPs and 2,048 int8 operations. PyTorch's
//! `quantize_dynamic` runs FBGEMM, which uses AVX2 and AVX512-VNNI but not AMX
//! (pytorch/FBGEMM issue #649), so on an AMX CPU its int8 matmuls stop at a quarter of what
//! the tiles do (and at the rate of bf16 on AMX); oneDNN (IPEX, OpenVINO) and ONNX Runtime's
//! MLAS (microsoft/onnxruntime PR #14042) dispatch int8 GEMMs to AMX. The gain is the model
//! with the int8 rate raised from FBGEMM's cap to AMX's: large where the matmuls bind (long
//! prompts, batches, encoders), small for single-token decoding, which reads weights.
//!
//! fp32 to bf16 on the same tiles is `mixed_precision`'s; int8 at FBGEMM's rate is
//! `dynamic_quantization`'s.
//!
//! ## When it stays silent
//! A GPU run, training, a CPU without AMX-INT8 (there FBGEMM already uses VNNI), an engine
//! that uses AMX already (OpenVINO, ONNX Runtime), weights at int4, or under 10 % to gain.
//! Without the device or the model it says what it needs.
//!
//! ## Example
//! BERT-base at batch 8 and 256 tokens in fp32 on a 56-core Xeon Platinum 8480+.

use advisor_core::{
    Category, Change, Difficulty, ImprovementMetric, Mode, OptimizationRule,
    OptimizationSuggestion, RuleError, RuleInput, WeightFormat,
};

use crate::facts;

/// The least latency gain worth a change of runtime.
const MIN_GAIN: f64 = 0.10;

/// See the module documentation.
pub(crate) struct CpuVectorUnits;

impl OptimizationRule for CpuVectorUnits {
    fn id(&self) -> &str {
        "cpu_vector_units"
    }

    fn category(&self) -> Category {
        Category::Hardware
    }

    fn description(&self) -> &str {
        "CPU inference whose int8 matmuls cannot use the CPU's AMX tiles (PyTorch's FBGEMM): oneDNN through IPEX, OpenVINO or ONNX Runtime"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        if facts.mode()? != Mode::Inference || facts.on_gpu()? {
            return Ok(Vec::new());
        }
        let Some(cpu) = &facts.cpu else {
            return Err(advisor_core::Missing::CpuCores.into());
        };
        let amx = cpu.simd.iter().any(|s| s == "amx-int8");
        let settings = facts.settings()?;
        if !amx || settings.amx_int8 || settings.weights == WeightFormat::Int4 {
            return Ok(Vec::new());
        }
        let changes: Vec<Change> = match settings.weights {
            WeightFormat::Int8 | WeightFormat::W8A8 => vec![Change::AmxInt8(true)],
            _ => vec![Change::Weights(WeightFormat::Int8), Change::AmxInt8(true)],
        };
        let simulation = facts::simulate(input, &changes)?;
        let gain = simulation
            .improvement(ImprovementMetric::Latency)
            .map_or(0.0, |i| i.max_reduction);
        if gain < MIN_GAIN {
            return Ok(Vec::new());
        }
        let before_rates = &simulation.predicted_before.rates;
        let after_rates = &simulation.predicted_after.rates;
        let already_int8 = changes.len() == 1;
        let suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Hardware,
            advisor_core::Impact::Medium,
            if already_int8 {
                Difficulty::Easy
            } else {
                Difficulty::Medium
            },
            if already_int8 {
                "Run the int8 model on the CPU's AMX tiles: oneDNN (IPEX, OpenVINO) or ONNX Runtime instead of FBGEMM"
                    .to_owned()
            } else {
                "Quantize the Linear layers to int8 on the CPU's AMX tiles (IPEX, OpenVINO or ONNX Runtime)".to_owned()
            },
        )
        .description(format!(
            "This CPU has AMX tiles, whose int8 multiply does 2,048 operations per cycle and core. {} Intel Extension for PyTorch and OpenVINO \
             (oneDNN) and ONNX Runtime 1.14+ dispatch int8 GEMMs to the tiles: the model's matmul peak goes from {} to {}.",
            if already_int8 {
                "PyTorch's quantize_dynamic runs FBGEMM, which stops at AVX512-VNNI, a quarter of that."
            } else {
                "The run computes in float; int8 through PyTorch's quantize_dynamic would run on FBGEMM, which stops at AVX512-VNNI, a quarter of that."
            },
            tflops(before_rates.peak, before_rates.precision),
            tflops(after_rates.peak, after_rates.precision),
        ))
        .evidence(format!("CPU extensions: {}", cpu.simd.join(", ")))
        .evidence(format!("CPU peak: {}", cpu.peak_source))
        .evidence(facts::sourced("engine", &facts.run.engine))
        .evidence(facts::sourced("weights", &facts.run.weights))
        .evidence(format!(
            "the run is {} by the model ({} threads)",
            simulation.predicted_before.bound().as_str(),
            after_rates.threads
        ))
        .step("Intel Extension for PyTorch: quantize with ipex.quantization (static with a few calibration batches, or dynamic), then torch.jit.trace and freeze; oneDNN picks AMX on its own.")
        .step("OpenVINO: export with optimum-intel (OVModelFor...from_pretrained(name, export=True)) and quantize with NNCF (nncf.quantize over ~300 calibration samples).")
        .step("ONNX Runtime: onnxruntime.quantization.quantize_dynamic(model.onnx, model.int8.onnx, weight_type=QuantType.QInt8) on 1.14 or newer.")
        .step("Check that the tiles run: ONEDNN_VERBOSE=1 prints each primitive with its ISA (avx512_core_amx); a plain avx512_core_vnni means AMX is not in use (old kernel, DNNL_MAX_CPU_ISA, or a VM that hides it).")
        .code(
            "python",
            "import torch\nimport intel_extension_for_pytorch as ipex\nfrom intel_extension_for_pytorch.quantization import convert, prepare\n\n\
             model.eval()\nqconfig = ipex.quantization.default_static_qconfig_mapping\n\
             prepared = prepare(model, qconfig, example_kwarg_inputs=example, inplace=False)\n\
             with torch.no_grad():\n    for batch in calibration_batches:\n        prepared(**batch)\n\
             quantized = convert(prepared)\n\
             with torch.no_grad():\n    quantized = torch.jit.freeze(torch.jit.trace(quantized, example_kwarg_inputs=example, strict=False))",
        )
        .code(
            "python",
            "from onnxruntime.quantization import QuantType, quantize_dynamic\n\n\
             quantize_dynamic(\"model.onnx\", \"model.int8.onnx\", weight_type=QuantType.QInt8)",
        )
        .warning("Static int8 needs calibration data drawn from real inputs; compare the quantized model's accuracy on a validation set before serving it.");
        Ok(vec![facts::with_simulation(
            suggestion,
            &changes,
            &simulation,
        )])
    }
}

/// A machine peak for people: `186.9 int8 TOP/s`.
fn tflops(peak: f64, precision: advisor_core::Precision) -> String {
    let unit = if precision == advisor_core::Precision::Int8 {
        "TOP/s"
    } else {
        "TFLOP/s"
    };
    format!("{:.1} {precision} {unit}", peak / 1e12)
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::rules::test_support::{advise, bert_base, context, cpu};

    fn sapphire_rapids() -> serde_json::Value {
        json!({ "cpu_model": "Intel Xeon Platinum 8480+", "cpu_cores": 56, "cpu_threads": 112,
                "system_memory_mb": 524288,
                "simd_capabilities": ["avx2", "fma", "avx512f", "avx512bf16", "avx512vnni",
                                      "amx-tile", "amx-bf16", "amx-int8"] })
    }

    #[test]
    fn bert_base_in_fp32_on_a_sapphire_rapids_xeon() {
        expect![[r#"
            cpu_vector_units · hardware · impact medium · difficulty medium
            title: Quantize the Linear layers to int8 on the CPU's AMX tiles (IPEX, OpenVINO or ONNX Runtime)
            description: This CPU has AMX tiles, whose int8 multiply does 2,048 operations per cycle and core. The run computes in float; int8 through PyTorch's quantize_dynamic would run on FBGEMM, which stops at AVX512-VNNI, a quarter of that. Intel Extension for PyTorch and OpenVINO (oneDNN) and ONNX Runtime 1.14+ dispatch int8 GEMMs to the tiles: the model's matmul peak goes from 9.0 fp32 TFLOP/s to 286.7 int8 TOP/s.
            changes: int8 weights; int8 matmuls on AMX (oneDNN, OpenVINO, ONNX Runtime)
            expected:
            - latency −14–25 % [0.138, 0.248]: model: request 92.4 ms–188.4 ms → 69.5 ms–162.4 ms (compute-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.2–1.3 [0.138, 0.248]: model: request time per sequence 11.5 ms–23.5 ms → 8.7 ms–20.3 ms (compute-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −54 % [0.543, 0.543]: model: peak memory 453.6 MiB → 207.5 MiB (weights 171.5 MiB + activations 36.0 MiB)
            - model_size −59 % [0.589, 0.589]: model: weights 417.6 MiB → 171.5 MiB (32 → 8 bits per weight, embeddings and head at 32 bits)
            evidence:
            - CPU extensions: avx2, fma, avx512f, avx512bf16, avx512vnni, amx-tile, amx-bf16, amx-int8
            - CPU peak: assumed: fp32 64 FLOPs per cycle and core (AVX-512), bf16 (AMX) 1024 FLOPs, int8 (AMX) 2048 ops at 2.5 GHz (the clock is not reported; advisor hardware --calibrate measures it)
            - engine hf (assumed: engine not set; taken as Hugging Face Transformers on PyTorch (generate() or a plain forward))
            - weights fp32 (derived: weights stored at the compute precision, fp32)
            - the run is compute-bound by the model (56 threads)
            steps:
            - Intel Extension for PyTorch: quantize with ipex.quantization (static with a few calibration batches, or dynamic), then torch.jit.trace and freeze; oneDNN picks AMX on its own.
            - OpenVINO: export with optimum-intel (OVModelFor...from_pretrained(name, export=True)) and quantize with NNCF (nncf.quantize over ~300 calibration samples).
            - ONNX Runtime: onnxruntime.quantization.quantize_dynamic(model.onnx, model.int8.onnx, weight_type=QuantType.QInt8) on 1.14 or newer.
            - Check that the tiles run: ONEDNN_VERBOSE=1 prints each primitive with its ISA (avx512_core_amx); a plain avx512_core_vnni means AMX is not in use (old kernel, DNNL_MAX_CPU_ISA, or a VM that hides it).
            code: python, python
            warnings:
            - Static int8 needs calibration data drawn from real inputs; compare the quantized model's accuracy on a validation set before serving it.
        "#]]
        .assert_eq(&advise(
            "cpu_vector_units",
            context(
                bert_base(),
                sapphire_rapids(),
                json!({ "mode": "inference", "batch_size": "8", "seq_len": "256",
                        "precision": "fp32", "device": "cpu" }),
            ),
        ));
    }

    #[test]
    fn bert_base_quantized_with_quantize_dynamic_on_a_sapphire_rapids_xeon() {
        expect![[r#"
            cpu_vector_units · hardware · impact medium · difficulty easy
            title: Run the int8 model on the CPU's AMX tiles: oneDNN (IPEX, OpenVINO) or ONNX Runtime instead of FBGEMM
            description: This CPU has AMX tiles, whose int8 multiply does 2,048 operations per cycle and core. PyTorch's quantize_dynamic runs FBGEMM, which stops at AVX512-VNNI, a quarter of that. Intel Extension for PyTorch and OpenVINO (oneDNN) and ONNX Runtime 1.14+ dispatch int8 GEMMs to the tiles: the model's matmul peak goes from 35.8 int8 TOP/s to 286.7 int8 TOP/s.
            changes: int8 matmuls on AMX (oneDNN, OpenVINO, ONNX Runtime)
            expected:
            - latency −14–18 % [0.136, 0.185]: model: request 80.9 ms–199.2 ms → 69.5 ms–162.4 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.2 [0.136, 0.185]: model: request time per sequence 10.1 ms–24.9 ms → 8.7 ms–20.3 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            evidence:
            - CPU extensions: avx2, fma, avx512f, avx512bf16, avx512vnni, amx-tile, amx-bf16, amx-int8
            - CPU peak: assumed: fp32 64 FLOPs per cycle and core (AVX-512), bf16 (AMX) 1024 FLOPs, int8 (AMX) 2048 ops at 2.5 GHz (the clock is not reported; advisor hardware --calibrate measures it)
            - engine hf (assumed: engine not set; taken as Hugging Face Transformers on PyTorch (generate() or a plain forward))
            - weights int8 (config quantization)
            - the run is memory-bound by the model (56 threads)
            steps:
            - Intel Extension for PyTorch: quantize with ipex.quantization (static with a few calibration batches, or dynamic), then torch.jit.trace and freeze; oneDNN picks AMX on its own.
            - OpenVINO: export with optimum-intel (OVModelFor...from_pretrained(name, export=True)) and quantize with NNCF (nncf.quantize over ~300 calibration samples).
            - ONNX Runtime: onnxruntime.quantization.quantize_dynamic(model.onnx, model.int8.onnx, weight_type=QuantType.QInt8) on 1.14 or newer.
            - Check that the tiles run: ONEDNN_VERBOSE=1 prints each primitive with its ISA (avx512_core_amx); a plain avx512_core_vnni means AMX is not in use (old kernel, DNNL_MAX_CPU_ISA, or a VM that hides it).
            code: python, python
            warnings:
            - Static int8 needs calibration data drawn from real inputs; compare the quantized model's accuracy on a validation set before serving it.
        "#]]
        .assert_eq(&advise(
            "cpu_vector_units",
            context(
                bert_base(),
                sapphire_rapids(),
                json!({ "mode": "inference", "batch_size": "8", "seq_len": "256",
                        "precision": "fp32", "quantization": "int8", "device": "cpu" }),
            ),
        ));
    }

    #[test]
    fn silent_on_openvino_and_on_a_cpu_without_amx() {
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "cpu_vector_units",
            context(
                bert_base(),
                sapphire_rapids(),
                json!({ "mode": "inference", "batch_size": "8", "seq_len": "256",
                        "precision": "fp32", "engine": "openvino", "device": "cpu" }),
            ),
        ));
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "cpu_vector_units",
            context(
                bert_base(),
                cpu(16),
                json!({ "mode": "inference", "batch_size": "8", "seq_len": "256",
                        "precision": "fp32", "device": "cpu" }),
            ),
        ));
    }
}
