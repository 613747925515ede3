//! `flash_attention`: exact attention that never writes the score matrix to memory.
//!
//! ## What it checks
//! The model has attention and runs on a GPU where a fused attention kernel runs:
//! FlashAttention-2 on NVIDIA Ampere and newer (sm80+) and AMD MI200/MI300 (ROCm's port), or
//! SDPA's memory-efficient kernel and FlashAttention-1 on Turing; and the configuration says
//! attention is eager (`flash_attention=false`). When the configuration does not say, the run
//! is assumed to use SDPA's fused kernel (Hugging Face's default since transformers 4.36) and
//! the rule advises conditionally: what eager attention would cost, left out of the plan.
//!
//! ## Why it matters
//! Eager attention writes the `s × s` score and probability matrices of every head to memory
//! and reads them back; a fused kernel computes the same result in on-chip tiles (Dao et al.
//! 2022, "FlashAttention"; Dao 2023, "FlashAttention-2", which reports 2–4× over standard
//! PyTorch attention). The gain is the performance model with fused attention against eager:
//! prefill loses the score traffic (four passes over `batch · heads · s²` per layer) and the
//! score memory (one layer's matrix in inference, every layer's in training), decode loses
//! its smaller score traffic.
//!
//! ## When it stays silent
//! No attention, a CPU run, a GPU older than Turing, or fused attention configured on.
//! Without the device or the GPU's figures it says what it needs.
//!
//! ## Example
//! Llama-2-7B at 4096 tokens on an A100 with `flash_attention=false`.

use advisor_core::{
    AttentionKernel, Category, Change, ComputeCapability, Difficulty, GpuVendor, Impact,
    OptimizationRule, OptimizationSuggestion, RuleError, RuleInput,
};

use crate::facts;

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
        let facts = input.facts;
        let model = facts.model()?;
        if !model.has_attention {
            return Ok(Vec::new());
        }
        let Some((gpu, spec)) = facts.run_gpu_spec()? else {
            return Ok(Vec::new());
        };
        let attention = &facts.run.attention;
        if attention.value == AttentionKernel::Fused && !attention.source.is_assumption() {
            return Ok(Vec::new());
        }
        let flash2 = spec.runs_flash_attention_2();
        let turing = spec.vendor == GpuVendor::Nvidia
            && gpu
                .compute_capability
                .as_ref()
                .is_some_and(|cc| cc.value >= ComputeCapability::new(7, 5));
        if !flash2 && !turing {
            return Ok(Vec::new());
        }
        let changes = [Change::Attention(AttentionKernel::Fused)];
        // When the config does not say, the run is assumed to use SDPA's fused kernel: the
        // gain is what eager attention would lose, stated conditionally and left out of the plan.
        let assumed = attention.source.is_assumption();
        let mut eager = advisor_model::Workload::from_facts(facts)?;
        eager.settings.attention = AttentionKernel::Eager;
        let simulation = advisor_model::simulate_workload(eager, &changes);
        let kernel = if flash2 {
            "FlashAttention-2"
        } else {
            "SDPA's memory-efficient kernel (FlashAttention-2 needs Ampere; FlashAttention-1 runs on Turing)"
        };
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::Compute,
            Impact::Medium,
            Difficulty::Easy,
            if assumed {
                "Check that attention runs a fused (flash) kernel".to_owned()
            } else {
                "Use FlashAttention".to_owned()
            },
        )
        .description(format!(
            "The {} ({}) runs {kernel}, which computes exact attention in on-chip tiles instead of writing \
             the full score matrix to memory: less memory, less traffic, same results.",
            spec.name, spec.architecture
        ))
        .evidence(format!(
            "attention {} ({})",
            match facts.run.attention.value {
                AttentionKernel::Eager => "eager",
                AttentionKernel::Fused => "fused",
            },
            facts.run.attention.source
        ))
        .evidence(format!("{} ({})", spec.name, spec.architecture));
        if assumed {
            let mut improvements = simulation.improvements();
            for improvement in &mut improvements {
                improvement.basis = format!(
                    "if the model runs eager attention (attn_implementation=\"eager\", or SDPA falling back): {}",
                    improvement.basis
                );
            }
            let best = improvements
                .iter()
                .map(|i| i.max_reduction)
                .fold(0.0, f64::max);
            suggestion.impact = facts::impact_from_reduction(best).max(Impact::Medium);
            suggestion.expected_improvement = improvements;
            suggestion = suggestion.warning(
                "flash_attention is not set: the figures assume the model runs eager attention; set flash_attention=true or false to say.",
            );
        } else {
            suggestion = facts::with_simulation(suggestion, &changes, &simulation);
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
