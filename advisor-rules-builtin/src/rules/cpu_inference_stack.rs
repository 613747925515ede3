//! `cpu_inference_stack`: LLM generation on a CPU from plain PyTorch.
//!
//! ## What it checks
//! Generation (a decoder with tokens to generate) on a CPU served from PyTorch (`engine` `hf`
//! or unset) with float weights. It weighs the CPU inference stacks by what they change in
//! the run, each through the performance model: 4-bit weights (llama.cpp's GGUF Q4 formats,
//! OpenVINO's and IPEX's int4 weight-only), 8-bit weights (GGUF Q8_0, OpenVINO int8 weight
//! compression), and bf16 on the CPU's bf16 units (IPEX `ipex.llm.optimize` on AVX512-BF16 or
//! AMX) where it has them, and proposes the one with the least time per output token when it
//! buys at least 10 %.
//!
//! ## Why it matters
//! Decoding one token reads every weight once, so on a CPU (60–300 GB/s against a GPU's
//! 1–5 TB/s) the time per output token is the weight bytes over the memory bandwidth: a 7 B
//! model in fp32 reads 27 GB per token, in bf16 13.5 GB, at 4.25 bits 3.6 GB (Williams et al.
//! 2009's roofline; llama.cpp's own speed tables scale with the bytes of each quantization
//! type). Prefill multiplies the prompt's tokens with the same weights and is bound by the
//! matmul rate instead, which bf16 on AMX raises 16× over AVX-512 fp32 (1,024 against 64
//! FLOPs per cycle and core, Intel's optimization manual) and which 4-bit weights do not raise
//! (they are widened to the compute type). The model counts 4-bit weights at 4.25 bits (groups
//! of 128 with a 16-bit scale and zero); GGUF Q4_0 stores 4.5 bits per weight and Q4_K_M
//! about 4.85, so llama.cpp's reads are up to 14 % above the figure.
//!
//! Encoders on a CPU are `encoder_serving`'s (ONNX Runtime, OpenVINO), `mixed_precision`'s
//! (bf16), `dynamic_quantization`'s and `cpu_vector_units`' (int8).
//!
//! ## When it stays silent
//! A GPU run, training, an encoder, an engine other than PyTorch (llama.cpp, OpenVINO and
//! ONNX Runtime chose their formats), weights already integer, or under 10 % per token.
//! Without the CPU or the model it says what it needs.
//!
//! ## Example
//! Llama-2-7B answering 128 tokens after a 256-token prompt, in fp32 on a 56-core Xeon
//! Platinum 8480+.

use advisor_core::{
    Category, Change, Difficulty, Engine, ImprovementMetric, Mode, OptimizationRule,
    OptimizationSuggestion, Precision, RuleError, RuleInput, WeightFormat,
};
use advisor_model::Simulation;

use crate::facts;

/// The least per-token gain worth a change of stack.
const MIN_GAIN: f64 = 0.10;

/// See the module documentation.
pub(crate) struct CpuInferenceStack;

/// A stack weighed.
struct Stack {
    changes: Vec<Change>,
    title: &'static str,
    what: &'static str,
    code: (&'static str, &'static str),
}

impl OptimizationRule for CpuInferenceStack {
    fn id(&self) -> &str {
        "cpu_inference_stack"
    }

    fn category(&self) -> Category {
        Category::Compute
    }

    fn description(&self) -> &str {
        "LLM generation on a CPU from plain PyTorch: llama.cpp GGUF or OpenVINO 4/8-bit weights, IPEX bf16 on AMX, by bytes per token and the matmul rate"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        if facts.mode()? != Mode::Inference || facts.on_gpu()? {
            return Ok(Vec::new());
        }
        let model = facts.model()?;
        let settings = facts.settings()?;
        if !model.generates()
            || settings.generated_tokens == 0
            || facts.run.engine.value != Engine::Hf
            || settings.weights.is_integer()
        {
            return Ok(Vec::new());
        }
        let Some(cpu) = &facts.cpu else {
            return Err(advisor_core::Missing::CpuCores.into());
        };
        let mut stacks = vec![
            Stack {
                changes: vec![Change::Weights(WeightFormat::Int4)],
                title: "Serve 4-bit weights from llama.cpp (GGUF Q4_K_M) or OpenVINO: decoding on a CPU reads every weight per token",
                what: "4-bit weights: llama.cpp with a GGUF Q4_K_M file, or OpenVINO int4 weight compression",
                code: ("bash", LLAMA_CPP),
            },
            Stack {
                changes: vec![Change::Weights(WeightFormat::Int8)],
                title: "Serve 8-bit weights from llama.cpp (GGUF Q8_0) or OpenVINO: decoding on a CPU reads every weight per token",
                what: "8-bit weights: GGUF Q8_0 in llama.cpp, or OpenVINO int8 weight compression",
                code: ("python", OPENVINO),
            },
        ];
        if settings.compute == Precision::Fp32 && cpu.per_core_peak.bf16.is_some() {
            stacks.push(Stack {
                changes: vec![Change::Precision(Precision::Bf16)],
                title: "Serve in bf16 on the CPU's bf16 units with Intel Extension for PyTorch (ipex.llm.optimize)",
                what: "bf16 on the CPU's bf16 units: Intel Extension for PyTorch's ipex.llm.optimize",
                code: ("python", IPEX),
            });
        }
        let weighed: Vec<(Stack, Simulation)> = stacks
            .into_iter()
            .map(|stack| facts::simulate(input, &stack.changes).map(|s| (stack, s)))
            .collect::<Result<_, _>>()?;
        let per_token = |s: &Simulation| s.predicted_after.range(|t| t.per_token_seconds).1;
        let Some((stack, simulation)) = weighed
            .iter()
            .min_by(|(_, a), (_, b)| per_token(a).total_cmp(&per_token(b)))
        else {
            return Ok(Vec::new());
        };
        let gain = simulation
            .improvement(ImprovementMetric::TimePerToken)
            .map_or(0.0, |i| i.max_reduction);
        if gain < MIN_GAIN {
            return Ok(Vec::new());
        }
        let before = &simulation.predicted_before;
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Compute,
            advisor_core::Impact::Medium,
            Difficulty::Easy,
            stack.title,
        )
        .description(format!(
            "Decoding on this CPU reads every weight for each token: {} at {} per token against {:.0} GB/s by the model, \
             which makes the time per output token the weight bytes over the bandwidth. Prefill is bound by the matmul rate instead.",
            advisor_model::bytes_text(before.weight_bytes),
            settings.weights,
            before.rates.bandwidth / 1e9,
        ))
        .evidence(facts::sourced("engine", &facts.run.engine))
        .evidence(facts::sourced("weights", &facts.run.weights))
        .evidence(format!("CPU extensions: {}", cpu.simd.join(", ")))
        .evidence(format!("bandwidth: {}", cpu.bandwidth_source))
        .evidence(format!(
            "decode is {}, prefill {} by the model",
            before.bound().as_str(),
            before.first_token_bound().as_str()
        ));
        if let Some(tokens) = facts::tokens_evidence(facts) {
            suggestion = suggestion.evidence(tokens);
        }
        suggestion = facts::with_simulation(suggestion, &stack.changes, simulation);
        for (other, other_simulation) in &weighed {
            suggestion = suggestion.step(facts::generation_line(other.what, other_simulation));
        }
        suggestion = suggestion
            .step("Keep one process per socket and threads = physical cores of that socket (llama.cpp -t N --numa distribute; numactl for the others): hyper-threads do not add bandwidth.")
            .code(stack.code.0, stack.code.1);
        for (other, _) in &weighed {
            if !std::ptr::eq(other, stack) {
                suggestion = suggestion.code(other.code.0, other.code.1);
            }
        }
        suggestion = suggestion.warning(
            "4-bit weights cost a little quality (GGUF Q4_K_M and OpenVINO int4 AWQ-style compression lose a fraction of a point of perplexity on 7B models); compare outputs on your prompts. The model counts 4.25 bits per weight; Q4_K_M stores about 4.85.",
        );
        Ok(vec![suggestion])
    }
}

const LLAMA_CPP: &str = "# llama.cpp: convert the Hugging Face checkpoint, quantize, serve\n\
python convert_hf_to_gguf.py ./model --outtype f16 --outfile model-f16.gguf\n\
./llama-quantize model-f16.gguf model-Q4_K_M.gguf Q4_K_M\n\
./llama-server -m model-Q4_K_M.gguf -t $(nproc --all) --numa distribute --port 8080";

const OPENVINO: &str = "from optimum.intel import OVModelForCausalLM, OVWeightQuantizationConfig\n\n\
model = OVModelForCausalLM.from_pretrained(name, export=True,\n                                           quantization_config=OVWeightQuantizationConfig(bits=8))\n\
model.save_pretrained(\"model-ov-int8\")  # bits=4 for int4 weight compression";

const IPEX: &str = "import torch\nimport intel_extension_for_pytorch as ipex\n\n\
model = ipex.llm.optimize(model.eval(), dtype=torch.bfloat16, inplace=True, deployment_mode=True)\n\
with torch.inference_mode():\n    output = model.generate(**inputs, max_new_tokens=new_tokens)";

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::rules::test_support::{advise, bert_base, context, cpu, llama_2_7b};

    fn sapphire_rapids() -> serde_json::Value {
        json!({ "cpu_model": "Intel Xeon Platinum 8480+", "cpu_cores": 56, "cpu_threads": 112,
                "system_memory_mb": 524288,
                "simd_capabilities": ["avx2", "fma", "avx512f", "avx512bf16", "avx512vnni",
                                      "amx-tile", "amx-bf16", "amx-int8"] })
    }

    fn generation(precision: &str) -> serde_json::Value {
        json!({ "mode": "inference", "batch_size": "1", "prompt_len": "256", "new_tokens": "128",
                "precision": precision, "device": "cpu" })
    }

    #[test]
    fn llama_2_7b_in_fp32_on_a_sapphire_rapids_xeon() {
        expect![[r#"
            cpu_inference_stack · compute · impact high · difficulty easy
            title: Serve 4-bit weights from llama.cpp (GGUF Q4_K_M) or OpenVINO: decoding on a CPU reads every weight per token
            description: Decoding on this CPU reads every weight for each token: 25.1 GiB at fp32 per token against 100 GB/s by the model, which makes the time per output token the weight bytes over the bandwidth. Prefill is bound by the matmul rate instead.
            changes: int4 weights
            expected:
            - latency −76–79 % [0.762, 0.791]: model: request 41.08 s–63.40 s → 8.88 s–15.10 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×4.2–4.8 [0.762, 0.791]: model: request time per sequence 41.08 s–63.40 s → 8.88 s–15.10 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_to_first_token −26–36 % [0.259, 0.356]: model: time to first token 798.9 ms–1.40 s → 549.3 ms–1.03 s (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_per_token −77–80 % [0.773, 0.799]: model: time per generated token 314.7 ms–484.4 ms → 65.1 ms–109.9 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −82 % [0.820, 0.820]: model: peak memory 25.5 GiB → 4.6 GiB (weights 4.2 GiB + KV cache 384.0 MiB + activations 24.0 MiB)
            - model_size −83 % [0.833, 0.833]: model: weights 25.1 GiB → 4.2 GiB (32 → 4.25 bits per weight, embeddings and head at 32 bits)
            evidence:
            - engine hf (assumed: engine not set; taken as Hugging Face Transformers on PyTorch (generate() or a plain forward))
            - weights fp32 (derived: weights stored at the compute precision, fp32)
            - CPU extensions: avx2, fma, avx512f, avx512bf16, avx512vnni, amx-tile, amx-bf16, amx-int8
            - bandwidth: assumed: no measured bandwidth: 10 GB/s per thread up to 100 GB/s for the machine (typical STREAM figures; advisor hardware --calibrate measures them)
            - decode is memory-bound, prefill compute-bound by the model
            - prompt 256 tokens (config prompt_len) + generated 128 (config new_tokens)
            steps:
            - 4-bit weights: llama.cpp with a GGUF Q4_K_M file, or OpenVINO int4 weight compression: time to first token 798.9 ms–1.40 s → 549.3 ms–1.03 s, per output token 314.7 ms–484.4 ms → 65.1 ms–109.9 ms, peak 25.5 GiB → 4.6 GiB
            - 8-bit weights: GGUF Q8_0 in llama.cpp, or OpenVINO int8 weight compression: time to first token 798.9 ms–1.40 s → 323.2 ms–793.2 ms, per output token 314.7 ms–484.4 ms → 97.8 ms–159.4 ms, peak 25.5 GiB → 7.4 GiB
            - bf16 on the CPU's bf16 units: Intel Extension for PyTorch's ipex.llm.optimize: time to first token 798.9 ms–1.40 s → 226.0 ms–429.2 ms, per output token 314.7 ms–484.4 ms → 164.3 ms–258.4 ms, peak 25.5 GiB → 12.8 GiB
            - Keep one process per socket and threads = physical cores of that socket (llama.cpp -t N --numa distribute; numactl for the others): hyper-threads do not add bandwidth.
            code: bash, python, python
            warnings:
            - 4-bit weights cost a little quality (GGUF Q4_K_M and OpenVINO int4 AWQ-style compression lose a fraction of a point of perplexity on 7B models); compare outputs on your prompts. The model counts 4.25 bits per weight; Q4_K_M stores about 4.85.
        "#]]
        .assert_eq(&advise(
            "cpu_inference_stack",
            context(llama_2_7b(), sapphire_rapids(), generation("fp32")),
        ));
    }

    #[test]
    fn llama_2_7b_in_bf16_on_an_avx2_desktop() {
        expect![[r#"
            cpu_inference_stack · compute · impact high · difficulty easy
            title: Serve 4-bit weights from llama.cpp (GGUF Q4_K_M) or OpenVINO: decoding on a CPU reads every weight per token
            description: Decoding on this CPU reads every weight for each token: 12.6 GiB at bf16 per token against 80 GB/s by the model, which makes the time per output token the weight bytes over the bandwidth. Prefill is bound by the matmul rate instead.
            changes: int4 weights
            expected:
            - latency −36–51 % [0.365, 0.508]: model: request 34.52 s–70.04 s → 17.48 s–44.47 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.6–2.0 [0.365, 0.508]: model: request time per sequence 34.52 s–70.04 s → 17.48 s–44.47 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_to_first_token −1–2 % [0.009, 0.022]: model: time to first token 6.87 s–20.98 s → 6.74 s–20.78 s (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_per_token −52–62 % [0.517, 0.615]: model: time per generated token 216.0 ms–383.3 ms → 83.9 ms–185.1 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −69 % [0.695, 0.695]: model: peak memory 12.8 GiB → 3.9 GiB (weights 3.7 GiB + KV cache 192.0 MiB + activations 12.0 MiB)
            - model_size −71 % [0.706, 0.706]: model: weights 12.6 GiB → 3.7 GiB (16 → 4.25 bits per weight, embeddings and head at 16 bits)
            evidence:
            - engine hf (assumed: engine not set; taken as Hugging Face Transformers on PyTorch (generate() or a plain forward))
            - weights bf16 (derived: weights stored at the compute precision, bf16)
            - CPU extensions: avx2, fma
            - bandwidth: assumed: no measured bandwidth: 10 GB/s per thread up to 80 GB/s for the machine (typical STREAM figures; advisor hardware --calibrate measures them)
            - decode is memory-bound, prefill compute-bound by the model
            - prompt 256 tokens (config prompt_len) + generated 128 (config new_tokens)
            steps:
            - 4-bit weights: llama.cpp with a GGUF Q4_K_M file, or OpenVINO int4 weight compression: time to first token 6.87 s–20.98 s → 6.74 s–20.78 s, per output token 216.0 ms–383.3 ms → 83.9 ms–185.1 ms, peak 12.8 GiB → 3.9 GiB
            - 8-bit weights: GGUF Q8_0 in llama.cpp, or OpenVINO int8 weight compression: time to first token 6.87 s–20.98 s → 3.51 s–10.68 s, per output token 216.0 ms–383.3 ms → 113.2 ms–208.3 ms, peak 12.8 GiB → 6.7 GiB
            - Keep one process per socket and threads = physical cores of that socket (llama.cpp -t N --numa distribute; numactl for the others): hyper-threads do not add bandwidth.
            code: bash, python
            warnings:
            - 4-bit weights cost a little quality (GGUF Q4_K_M and OpenVINO int4 AWQ-style compression lose a fraction of a point of perplexity on 7B models); compare outputs on your prompts. The model counts 4.25 bits per weight; Q4_K_M stores about 4.85.
        "#]]
        .assert_eq(&advise(
            "cpu_inference_stack",
            context(llama_2_7b(), cpu(8), generation("bf16")),
        ));
    }

    #[test]
    fn encoders_and_llama_cpp_are_left_alone() {
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "cpu_inference_stack",
            context(
                bert_base(),
                sapphire_rapids(),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "128", "device": "cpu" }),
            ),
        ));
        let mut config = generation("fp16");
        config["engine"] = json!("llama.cpp");
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "cpu_inference_stack",
            context(llama_2_7b(), sapphire_rapids(), config),
        ));
    }
}
