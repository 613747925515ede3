//! `flash_attention`: exact attention that never writes the score matrix to memory.
//!
//! ## What it checks
//! The model has attention, runs on a GPU of compute capability 8.0 or newer (what
//! FlashAttention-2 supports), and the run configuration says flash attention is off.
//!
//! ## Why it matters
//! Standard attention writes the `s × s` score and probability matrices of every head to GPU
//! memory and reads them back; FlashAttention computes the same result in on-chip tiles. The
//! memory saved is the score matrix (`batch · heads · s² · bytes` per layer); the time saved is
//! the attention share of the FLOPs times the 2–4× attention speed-up FlashAttention-2 reports
//! over standard PyTorch attention (Dao, 2023).
//!
//! ## When it stays silent
//! No attention, a CPU run, a GPU older than Ampere, or flash attention already on. When the
//! configuration does not say whether it is on, it asks.
//!
//! ## Example
//! Llama-2-7B at 4096 tokens on an A100.

use advisor_core::{
    Category, ComputeCapability, Difficulty, ExpectedImprovement, Impact, ImprovementMetric, Mode,
    OptimizationRule, OptimizationSuggestion, Precision, RuleError, RuleInput,
};

use crate::facts;

/// FlashAttention-2's reported speed-up of attention over standard PyTorch attention.
const SPEEDUP_LOW: f64 = 2.0;
const SPEEDUP_HIGH: f64 = 4.0;

/// See the module documentation.
pub(crate) struct FlashAttention;

impl OptimizationRule for FlashAttention {
    fn id(&self) -> &str {
        "flash_attention"
    }

    fn category(&self) -> Category {
        Category::Compute
    }

    fn description(&self) -> &str {
        "Attention on an Ampere-or-newer GPU without FlashAttention: turn it on"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let context = input.context;
        let config = context.run_config()?;
        let model = facts::model(context, "to know whether it has attention")?;
        if !model.has_attention() || config.flash_attention == Some(true) {
            return Ok(Vec::new());
        }
        let Some(facts::RunGpu {
            gpu,
            capability,
            device_source,
        }) = facts::run_gpu(context, &config)?
        else {
            return Ok(Vec::new());
        };
        if capability < ComputeCapability::new(8, 0) {
            return Ok(Vec::new());
        }
        if config.flash_attention.is_none() {
            return Err(RuleError::MissingFacts(
                "config flash_attention (whether FlashAttention or SDPA's flash kernel is already on)".to_owned(),
            ));
        }
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Compute,
            Impact::Medium,
            Difficulty::Easy,
            "Use FlashAttention",
        )
        .description(format!(
            "The {} ({}) runs FlashAttention-2, which computes exact attention in on-chip tiles instead of writing \
             the full score matrix to memory: less memory, less traffic, same results.",
            gpu.name,
            capability.architecture()
        ))
        .evidence("config flash_attention = false")
        .evidence(device_source)
        .evidence(format!("compute capability {capability} ≥ 8.0 ({})", capability.architecture()));
        let (precision, _) = facts::weight_precision_or_default(context, &config);
        if let Some((seq_len, source)) = context.sequence_length(&config) {
            suggestion = suggestion.evidence(format!("sequence length {seq_len} ({source})"));
            if let Some(share) = facts::attention_share(model, seq_len) {
                let min = share.share * (1.0 - 1.0 / SPEEDUP_LOW);
                let max = share.share * (1.0 - 1.0 / SPEEDUP_HIGH);
                suggestion.impact = facts::impact_from_reduction(max);
                suggestion = suggestion.improvement(ExpectedImprovement::new(
                    ImprovementMetric::Latency,
                    min,
                    max,
                    format!(
                        "attention is {} of forward FLOPs at s = {seq_len}; FlashAttention-2 runs attention {SPEEDUP_LOW:.0}–{SPEEDUP_HIGH:.0}× faster than standard PyTorch attention (Dao, 2023)",
                        facts::percent(share.share)
                    ),
                ));
            }
            if let Some(heads) = model.facts.attention_heads {
                let batch = config.batch_size.unwrap_or(1);
                let bytes_per_element = precision.bytes_per_element().max(2.0);
                let per_layer =
                    batch as f64 * heads as f64 * (seq_len as f64).powi(2) * bytes_per_element;
                // Training keeps every layer's probabilities for the backward pass.
                let layers = if config.mode == Some(Mode::Training) {
                    model.facts.layers.unwrap_or(1)
                } else {
                    1
                };
                let saved = per_layer * layers as f64;
                suggestion = suggestion.evidence(format!(
                    "the {seq_len}×{seq_len} scores take {} per layer for batch {batch} and {heads} heads; {} held at once",
                    facts::float_bytes_text(per_layer),
                    facts::float_bytes_text(saved)
                ));
                if let Some(peak) = context.memory_metrics.as_ref().and_then(|m| m.peak_bytes)
                    && peak > 0
                {
                    let fraction = (saved / peak as f64).min(0.9);
                    suggestion = suggestion.improvement(ExpectedImprovement::new(
                        ImprovementMetric::Memory,
                        fraction,
                        fraction,
                        format!(
                            "the score matrices ({}) are never materialized; measured peak is {}",
                            facts::float_bytes_text(saved),
                            facts::bytes_text(peak)
                        ),
                    ));
                }
            }
        }
        if precision == Precision::Fp32 {
            suggestion = suggestion.warning(
                "FlashAttention runs in fp16/bf16 only: switch the run to bf16 first (rule mixed_precision).",
            );
        }
        Ok(vec![suggestion
            .step("With Hugging Face Transformers, load the model with attn_implementation=\"flash_attention_2\" (needs the flash-attn package) or \"sdpa\".")
            .step("In your own code, call torch.nn.functional.scaled_dot_product_attention, which dispatches to a flash kernel for fp16/bf16 inputs.")
            .step("Check the flash kernel is used: torch.backends.cuda.sdp_kernel or the profiler's kernel names (flash_fwd...).")
            .code("python", "model = AutoModelForCausalLM.from_pretrained(\n    name, torch_dtype=torch.bfloat16, attn_implementation=\"flash_attention_2\"\n).to(\"cuda\")")
            .code("python", "import torch.nn.functional as F\nout = F.scaled_dot_product_attention(q, k, v, is_causal=True)")
            .warning("Custom attention masks other than causal or padding may force a slower kernel.")])
    }
}
