//! `quantization`: a large model served at 16 or 32 bits.
//!
//! ## What it checks
//! More than 100 M parameters, not training, and neither the run configuration
//! (`quantization`, `precision`) nor the model's dtype says the weights are already quantized.
//! When the weights alone do not fit the memory of the device the model runs on (GPU memory on
//! a GPU, else system memory), the impact is critical.
//!
//! ## Why it matters
//! Weight bytes are `parameters × bytes per element`. Int8 weights take 1 byte, int4 half a
//! byte, so the model shrinks by `1 − 1/b` and `1 − 0.5/b` from `b` bytes. Autoregressive
//! decoding reads every weight once per generated token, so its time is bound by weight bytes
//! over memory bandwidth and shrinks by the same fraction (a roofline upper bound).
//!
//! ## When it stays silent
//! 100 M parameters or fewer; already quantized; training (post-training quantization does
//! not apply). Without a parameter count it says it needs a model.
//!
//! ## Example
//! Llama-2-13B in fp16 (26 GB of weights) on a 24 GB GPU: critical.

use advisor_core::{
    Category, Difficulty, ExpectedImprovement, Impact, ImprovementMetric, Mode, OptimizationRule,
    OptimizationSuggestion, Precision, RuleError, RuleInput,
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
        "Models over 100M parameters served unquantized: quantize weights to int8 or int4"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let context = input.context;
        let config = context.run_config()?;
        if config.mode == Some(Mode::Training) {
            return Ok(Vec::new());
        }
        let model = facts::model(context, "for its parameter count")?;
        let parameters = model.parameter_count().ok_or_else(|| {
            RuleError::MissingFacts(
                "the model's parameter count (model_graph.facts.parameters)".to_owned(),
            )
        })?;
        if parameters <= LARGE_MODEL_PARAMETERS {
            return Ok(Vec::new());
        }
        if config.quantized_format().is_some()
            || model.facts.dtype.is_some_and(Precision::is_quantized)
        {
            return Ok(Vec::new());
        }
        let (precision, precision_source) = facts::weight_precision_or_default(context, &config);
        let bytes_per_element = precision.bytes_per_element();
        let weight_bytes = parameters as f64 * bytes_per_element;
        let int8_reduction = 1.0 - 1.0 / bytes_per_element;
        let int4_reduction = 1.0 - 0.5 / bytes_per_element;

        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Quantization,
            Impact::High,
            Difficulty::Medium,
            "Quantize the weights to int8 or int4",
        )
        .evidence(format!(
            "{} parameters > {} M",
            facts::count_text(parameters as f64),
            LARGE_MODEL_PARAMETERS / 1_000_000
        ))
        .evidence(format!(
            "weights take {} at {precision} ({precision_source})",
            facts::float_bytes_text(weight_bytes)
        ))
        .improvement(ExpectedImprovement::new(
            ImprovementMetric::ModelSize,
            int8_reduction,
            int4_reduction,
            format!(
                "{} B per weight at {precision} → 1 B (int8) or 0.5 B (int4): {} → {} or {}",
                bytes_per_element,
                facts::float_bytes_text(weight_bytes),
                facts::float_bytes_text(parameters as f64),
                facts::float_bytes_text(parameters as f64 * 0.5)
            ),
        ));

        let on_gpu = facts::runs_on_gpu(context, &config);
        if let Some((on_gpu, device_source)) = &on_gpu {
            suggestion = suggestion.evidence(device_source.clone());
            if let Some((memory, memory_source)) = facts::device_memory_bytes(context, *on_gpu) {
                if weight_bytes > memory as f64 {
                    suggestion.impact = Impact::Critical;
                    let fits = if parameters as f64 <= memory as f64 {
                        "int8 weights fit"
                    } else if parameters as f64 * 0.5 <= memory as f64 {
                        "only int4 weights fit"
                    } else {
                        "even int4 weights do not fit: shard the model across devices as well"
                    };
                    suggestion = suggestion.evidence(format!(
                        "the weights alone ({}) exceed the device memory ({memory_source}); {fits}",
                        facts::float_bytes_text(weight_bytes)
                    ));
                } else {
                    suggestion = suggestion.evidence(format!(
                        "weights use {} of device memory ({memory_source})",
                        facts::percent(weight_bytes / memory as f64)
                    ));
                }
            }
        }
        let decoder = model
            .facts
            .architecture
            .is_some_and(|architecture| architecture.generates_autoregressively());
        if decoder {
            let mut basis = format!(
                "decoding reads every weight once per token, so its time scales with weight bytes: \
                 −{} at int8, −{} at int4 (roofline upper bound; dequantizing kernels reach most of it at small batch)",
                facts::percent(int8_reduction),
                facts::percent(int4_reduction)
            );
            if let facts::GpuFacts::Present(gpu) = facts::gpu(context)
                && let Some(accelerator) = gpu.accelerator
            {
                let bandwidth = accelerator.memory_bandwidth_bytes_per_second;
                basis.push_str(&format!(
                    "; on the {} ({:.0} GB/s) a token's weight read takes {:.1} ms at {precision}, {:.1} ms at int8, {:.1} ms at int4",
                    gpu.name,
                    bandwidth / 1e9,
                    weight_bytes / bandwidth * 1e3,
                    parameters as f64 / bandwidth * 1e3,
                    parameters as f64 * 0.5 / bandwidth * 1e3,
                ));
            }
            suggestion = suggestion.improvement(ExpectedImprovement::new(
                ImprovementMetric::Latency,
                int8_reduction,
                int4_reduction,
                basis,
            ));
        }
        let description = format!(
            "The model holds {} parameters at {precision}. Storing weights in int8 or int4 cuts their memory by {}–{}{}.",
            facts::count_text(parameters as f64),
            facts::percent(int8_reduction),
            facts::percent(int4_reduction),
            if decoder {
                " and speeds up memory-bound token generation in proportion"
            } else {
                ""
            }
        );
        suggestion = suggestion.description(description);
        suggestion = match on_gpu {
            Some((false, _)) => suggestion
                .step("Quantize linear layers to int8 with dynamic quantization (activations quantized on the fly).")
                .step("Or export to ONNX and run onnxruntime's quantize_dynamic; check VNNI/AMX support for int8 speed.")
                .step("Compare accuracy against the fp32 model on a held-out set.")
                .code("python", "import torch\nfrom torch.ao.quantization import quantize_dynamic\n\nqmodel = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)"),
            _ => suggestion
                .step("Start with int8 weight-only quantization (bitsandbytes LLM.int8, or torchao int8_weight_only); measure quality.")
                .step("If memory is still short, use 4-bit (NF4 via bitsandbytes, or GPTQ/AWQ checkpoints served with vLLM or TensorRT-LLM).")
                .step("Evaluate perplexity or task accuracy against the unquantized model before switching traffic.")
                .code("python", "from transformers import AutoModelForCausalLM, BitsAndBytesConfig\n\nmodel = AutoModelForCausalLM.from_pretrained(\n    name,\n    quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=\"nf4\",\n                                           bnb_4bit_compute_dtype=torch.bfloat16),\n    device_map=\"auto\",\n)"),
        };
        Ok(vec![suggestion
            .warning("Quantization changes outputs: int8 is usually within noise, int4 can cost measurable accuracy; evaluate on your data.")
            .warning("At large batch, compute rather than weight reads bounds the time, and weight-only quantization speeds it up less.")])
    }
}
