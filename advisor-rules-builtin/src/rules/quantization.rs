//! `quantization`: a large model served with 16- or 32-bit weights.
//!
//! ## What it checks
//! Inference of a model over 100 M parameters whose weights are not already quantized
//! (`quantization`, an integer `precision`, or the model's dtype).
//!
//! ## Why it matters
//! Weights are stored at their real size: int8 per channel is 8 bits per weight, int4 with a
//! 16-bit scale and zero point per group of 128 is 4.25 bits (GPTQ, AWQ), and the embedding
//! and head stay 16-bit. The gain is the performance model before and after: decode reads the
//! weights once per step, so memory-bound generation speeds up with the bytes it no longer
//! reads (KV-cache reads do not shrink), while weight-only formats still compute in 16-bit, so
//! compute-bound prefill and large batches gain little. On a CPU, dynamic int8 runs int8
//! GEMMs where the CPU has int8 dot products (AVX512-VNNI, AMX).
//!
//! Which format: int4 (AWQ/GPTQ with Marlin or ExLlama kernels) for memory-bound decoding on a
//! GPU; int8 weight-only (torchao with torch.compile) when quality matters most; dynamic int8
//! on CPUs and for encoders. bitsandbytes LLM.int8 saves memory but runs slower than fp16.
//!
//! ## When it stays silent
//! 100 M parameters or fewer, already quantized, training (post-training quantization does
//! not apply), or no modelled gain. Without the model or the device it says what it needs.
//!
//! ## Example
//! Llama-2-7B decoding in fp16 on an A100: the weight reads dominate each step.

use advisor_core::{
    Category, Change, Difficulty, Impact, Mode, OptimizationRule, OptimizationSuggestion,
    RuleError, RuleInput, WeightFormat,
};

use crate::facts;

/// Models above this many parameters are worth quantizing.
const LARGE_MODEL_PARAMETERS: u64 = 100_000_000;

/// See the module documentation.
pub(crate) struct Quantization;

impl OptimizationRule for Quantization {
    fn id(&self) -> &str {
        "quantization"
    }

    fn category(&self) -> Category {
        Category::Quantization
    }

    fn description(&self) -> &str {
        "Models over 100M parameters served unquantized: quantize weights to int4 or int8"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let facts = input.facts;
        if facts.mode()? == Mode::Training {
            return Ok(Vec::new());
        }
        let model = facts.model()?;
        let parameters = model
            .parameters
            .ok_or_else(|| advisor_core::Missing::ModelFact("parameters".to_owned()))?;
        if parameters <= LARGE_MODEL_PARAMETERS || facts.run.weights.value.is_integer() {
            return Ok(Vec::new());
        }
        let on_gpu = facts.on_gpu()?;
        let decoder = model.generates();
        // int4 for memory-bound decoding on a GPU; int8 on CPUs and for encoders.
        let target = if on_gpu && decoder {
            WeightFormat::Int4
        } else {
            WeightFormat::Int8
        };
        let changes = [Change::Weights(target)];
        let simulation = facts::simulate(input, &changes)?;
        let other = if target == WeightFormat::Int4 {
            WeightFormat::Int8
        } else {
            WeightFormat::Int4
        };
        let alternative = facts::simulate(input, &[Change::Weights(other)])?;
        let current = facts.run.weights.value;
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Quantization,
            Impact::High,
            Difficulty::Medium,
            format!("Quantize the weights to {target}"),
        )
        .description(format!(
            "The model holds {} parameters at {current}: {} of weights. Stored at {target} they take {}.",
            facts::count_text(parameters as f64),
            advisor_model::bytes_text(simulation.predicted_before.weight_bytes),
            advisor_model::bytes_text(simulation.predicted_after.weight_bytes),
        ))
        .evidence(format!(
            "{} parameters > {} M",
            facts::count_text(parameters as f64),
            LARGE_MODEL_PARAMETERS / 1_000_000
        ))
        .evidence(facts::sourced("weights", &facts.run.weights))
        .evidence(format!(
            "as configured the run is {}",
            simulation.predicted_before.bound().as_str()
        ));
        if let Some(latency) = alternative.improvement(advisor_core::ImprovementMetric::Latency) {
            suggestion = suggestion.evidence(format!(
                "{other} instead: {} ({})",
                latency.describe(),
                advisor_model::bytes_text(alternative.predicted_after.weight_bytes)
            ));
        }
        let mut suggestion = facts::with_simulation(suggestion, &changes, &simulation);
        suggestion = match (on_gpu, target) {
            (false, _) => suggestion
                .step("Quantize the linear layers with dynamic int8 quantization (activations quantized on the fly); the embeddings stay fp32.")
                .step("Hugging Face GPT-2 uses `Conv1D`, not `nn.Linear`: convert those layers first, or `quantize_dynamic({nn.Linear})` barely touches them.")
                .step("Or export to ONNX and run onnxruntime's quantize_dynamic; int8 is fast where the CPU has VNNI or AMX.")
                .code("python", "import torch\nfrom torch.ao.quantization import quantize_dynamic\n\nqmodel = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)"),
            (true, WeightFormat::Int4) => suggestion
                .step("Serve an AWQ or GPTQ int4 checkpoint with fast kernels (vLLM or TGI with Marlin/ExLlama kernels).")
                .step("For int8 weight-only instead, use torchao's int8_weight_only with torch.compile.")
                .step("Evaluate perplexity or task accuracy against the unquantized model before switching traffic.")
                .code("python", "from vllm import LLM\n\nllm = LLM(model=\"TheBloke/Llama-2-7B-AWQ\", quantization=\"awq_marlin\")"),
            (true, _) => suggestion
                .step("Use torchao's int8 weight-only quantization with torch.compile for speed.")
                .step("Evaluate accuracy on held-out data before switching traffic.")
                .code("python", "import torch\nfrom torchao.quantization import quantize_, int8_weight_only\n\nquantize_(model, int8_weight_only())\nmodel = torch.compile(model, mode=\"max-autotune\")"),
        };
        Ok(vec![suggestion
            .warning("Quantization changes outputs: int8 is usually within noise, int4 can cost measurable accuracy; evaluate on your data.")
            .warning("bitsandbytes LLM.int8 and NF4 save memory but run slower than fp16 matmuls; pick kernels built for speed when latency is the goal.")])
    }
}
