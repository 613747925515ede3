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
        "Eager attention on a GPU that runs a fused kernel (FlashAttention-2 on Ampere+ and MI200+, SDPA's memory-efficient kernel on Turing): turn it on"
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
        // Decode-bound serving at short contexts loses little to eager attention: below 2 %
        // on every metric it is not worth a suggestion.
        if simulation
            .improvements()
            .iter()
            .all(|improvement| improvement.max_reduction < 0.02)
        {
            return Ok(Vec::new());
        }
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
        suggestion = if flash2 {
            suggestion
                .step("With Hugging Face Transformers, load the model with attn_implementation=\"flash_attention_2\" (needs the flash-attn package) or \"sdpa\".")
                .step("In your own code, call torch.nn.functional.scaled_dot_product_attention, which dispatches to a flash kernel for fp16/bf16 inputs.")
                .step("Check the flash kernel is used: torch.backends.cuda.sdp_kernel or the profiler's kernel names (flash_fwd...).")
                .code("python", "model = AutoModelForCausalLM.from_pretrained(\n    name, torch_dtype=torch.bfloat16, attn_implementation=\"flash_attention_2\"\n).to(\"cuda\")")
        } else {
            suggestion
                .step("With Hugging Face Transformers, load the model with attn_implementation=\"sdpa\" in fp16 (the flash-attn package's FlashAttention-2 does not run before Ampere).")
                .step("In your own code, call torch.nn.functional.scaled_dot_product_attention, which dispatches to its memory-efficient kernel for fp16 inputs.")
                .step("Check the fused kernel is used: the profiler's kernel names (fmha_cutlass..., mem_efficient...) instead of separate bmm and softmax kernels.")
                .code("python", "model = AutoModelForCausalLM.from_pretrained(\n    name, torch_dtype=torch.float16, attn_implementation=\"sdpa\"\n).to(\"cuda\")")
        };
        Ok(vec![suggestion
            .code("python", "import torch.nn.functional as F\nout = F.scaled_dot_product_attention(q, k, v, is_causal=True)")
            .warning("Custom attention masks other than causal or padding may force a slower kernel.")])
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use crate::rules::test_support::{advise, context, llama_2_7b, qwen2_1_5b, target};

    fn eager_4096() -> serde_json::Value {
        json!({ "mode": "inference", "batch_size": "1", "seq_len": "4096", "precision": "fp16",
                "flash_attention": "false" })
    }

    #[test]
    fn llama_2_7b_at_4096_tokens_with_eager_attention_on_an_a100_80gb() {
        expect![[r#"
            flash_attention · compute · impact low · difficulty easy
            title: Use FlashAttention
            description: The NVIDIA A100 80GB SXM (Ampere) runs FlashAttention-2, which computes exact attention in on-chip tiles instead of writing the full score matrix to memory: less memory, less traffic, same results.
            changes: fused (flash) attention
            expected:
            - latency −2–3 % [0.016, 0.028]: model: request 4.57 s–10.54 s → 4.48 s–10.37 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.0 [0.016, 0.028]: model: request time per sequence 4.57 s–10.54 s → 4.48 s–10.37 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_to_first_token −22–28 % [0.225, 0.281]: model: time to first token 299.4 ms–688.8 ms → 225.6 ms–516.8 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_per_token −0–1 % [0.000, 0.007]: model: time per generated token 8.3 ms–19.2 ms → 8.3 ms–19.2 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −13 % [0.131, 0.131]: model: peak memory 17.5 GiB → 15.2 GiB (weights 12.6 GiB + KV cache 2.0 GiB + CUDA context and workspaces 512.0 MiB + activations 168.0 MiB)
            evidence:
            - attention eager (config flash_attention)
            - NVIDIA A100 80GB SXM (Ampere)
            steps:
            - With Hugging Face Transformers, load the model with attn_implementation="flash_attention_2" (needs the flash-attn package) or "sdpa".
            - In your own code, call torch.nn.functional.scaled_dot_product_attention, which dispatches to a flash kernel for fp16/bf16 inputs.
            - Check the flash kernel is used: torch.backends.cuda.sdp_kernel or the profiler's kernel names (flash_fwd...).
            code: python, python
            warnings:
            - Custom attention masks other than causal or padding may force a slower kernel.
        "#]].assert_eq(&advise(
            "flash_attention",
            context(llama_2_7b(), target("nvidia-a100-80gb"), eager_4096()),
        ));
    }

    #[test]
    fn qwen2_1_5b_fine_tuning_at_4096_tokens_with_eager_attention_on_an_h100() {
        expect![[r#"
            flash_attention · compute · impact high · difficulty easy
            title: Use FlashAttention
            description: The NVIDIA H100 SXM (Hopper) runs FlashAttention-2, which computes exact attention in on-chip tiles instead of writing the full score matrix to memory: less memory, less traffic, same results.
            changes: fused (flash) attention
            expected:
            - latency −42–48 % [0.416, 0.476]: model: step 524.2 ms–1.21 s → 293.3 ms–674.3 ms (memory-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.7–1.9 [0.416, 0.476]: model: step time per sample 131.0 ms–303.2 ms → 73.3 ms–168.6 ms (memory-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −60 % [0.603, 0.603]: model: peak memory 174.0 GiB → 69.0 GiB (logits 23.2 GiB + activations 22.3 GiB + optimizer state 17.3 GiB + weights 2.9 GiB + gradients 2.9 GiB + CUDA context and workspaces 512.0 MiB)
            evidence:
            - attention eager (config flash_attention)
            - NVIDIA H100 SXM (Hopper)
            steps:
            - With Hugging Face Transformers, load the model with attn_implementation="flash_attention_2" (needs the flash-attn package) or "sdpa".
            - In your own code, call torch.nn.functional.scaled_dot_product_attention, which dispatches to a flash kernel for fp16/bf16 inputs.
            - Check the flash kernel is used: torch.backends.cuda.sdp_kernel or the profiler's kernel names (flash_fwd...).
            code: python, python
            warnings:
            - As configured the run does not fit in memory (see the feasibility suggestion): the figures compare with a run that cannot start.
            - Custom attention masks other than causal or padding may force a slower kernel.
        "#]].assert_eq(&advise(
            "flash_attention",
            context(
                qwen2_1_5b(),
                target("nvidia-h100-sxm"),
                json!({ "mode": "training", "batch_size": "4", "seq_len": "4096",
                        "precision": "bf16", "flash_attention": "false" }),
            ),
        ));
    }

    #[test]
    fn qwen2_1_5b_at_4096_tokens_with_eager_attention_on_a_t4() {
        expect![[r#"
            flash_attention · compute · impact low · difficulty easy
            title: Use FlashAttention
            description: The NVIDIA T4 (Turing) runs SDPA's memory-efficient kernel (FlashAttention-2 needs Ampere; FlashAttention-1 runs on Turing), which computes exact attention in on-chip tiles instead of writing the full score matrix to memory: less memory, less traffic, same results.
            changes: fused (flash) attention
            expected:
            - latency −3–4 % [0.031, 0.044]: model: request 6.17 s–9.66 s → 5.97 s–9.27 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.0 [0.031, 0.044]: model: request time per sequence 6.17 s–9.66 s → 5.97 s–9.27 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_to_first_token −33–39 % [0.329, 0.393]: model: time to first token 435.0 ms–1.00 s → 280.8 ms–644.2 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_per_token −0–1 % [0.004, 0.011]: model: time per generated token 11.2 ms–16.9 ms → 11.1 ms–16.8 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −20 % [0.195, 0.195]: model: peak memory 4.4 GiB → 3.5 GiB (weights 2.9 GiB + CUDA context and workspaces 512.0 MiB + KV cache 112.0 MiB + activations 63.0 MiB)
            evidence:
            - attention eager (config flash_attention)
            - NVIDIA T4 (Turing)
            steps:
            - With Hugging Face Transformers, load the model with attn_implementation="sdpa" in fp16 (the flash-attn package's FlashAttention-2 does not run before Ampere).
            - In your own code, call torch.nn.functional.scaled_dot_product_attention, which dispatches to its memory-efficient kernel for fp16 inputs.
            - Check the fused kernel is used: the profiler's kernel names (fmha_cutlass..., mem_efficient...) instead of separate bmm and softmax kernels.
            code: python, python
            warnings:
            - Custom attention masks other than causal or padding may force a slower kernel.
        "#]].assert_eq(&advise(
            "flash_attention",
            context(qwen2_1_5b(), target("nvidia-t4"), eager_4096()),
        ));
    }

    #[test]
    fn llama_2_7b_with_attention_not_stated_on_an_a100_80gb() {
        expect![[r#"
            flash_attention · compute · impact medium · difficulty easy
            title: Check that attention runs a fused (flash) kernel
            description: The NVIDIA A100 80GB SXM (Ampere) runs FlashAttention-2, which computes exact attention in on-chip tiles instead of writing the full score matrix to memory: less memory, less traffic, same results.
            expected:
            - latency −2–3 % [0.016, 0.028]: if the model runs eager attention (attn_implementation="eager", or SDPA falling back): model: request 4.57 s–10.54 s → 4.48 s–10.37 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - throughput ×1.0 [0.016, 0.028]: if the model runs eager attention (attn_implementation="eager", or SDPA falling back): model: request time per sequence 4.57 s–10.54 s → 4.48 s–10.37 s (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_to_first_token −22–28 % [0.225, 0.281]: if the model runs eager attention (attn_implementation="eager", or SDPA falling back): model: time to first token 299.4 ms–688.8 ms → 225.6 ms–516.8 ms (compute-bound → compute-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - time_per_token −0–1 % [0.000, 0.007]: if the model runs eager attention (attn_implementation="eager", or SDPA falling back): model: time per generated token 8.3 ms–19.2 ms → 8.3 ms–19.2 ms (memory-bound → memory-bound); range over kernel efficiency (weight reads 60–90 % of peak bandwidth, element-wise kernels 30–70 %, tensor-core matmuls 35–80 % of peak FLOP/s, fp32 matmuls 70–90 %) and host overhead (0–20 µs per operator)
            - memory −13 % [0.131, 0.131]: if the model runs eager attention (attn_implementation="eager", or SDPA falling back): model: peak memory 17.5 GiB → 15.2 GiB (weights 12.6 GiB + KV cache 2.0 GiB + CUDA context and workspaces 512.0 MiB + activations 168.0 MiB)
            evidence:
            - attention fused (assumed: flash_attention not set; Hugging Face models default to PyTorch SDPA, which picks a fused kernel when it can)
            - NVIDIA A100 80GB SXM (Ampere)
            steps:
            - With Hugging Face Transformers, load the model with attn_implementation="flash_attention_2" (needs the flash-attn package) or "sdpa".
            - In your own code, call torch.nn.functional.scaled_dot_product_attention, which dispatches to a flash kernel for fp16/bf16 inputs.
            - Check the flash kernel is used: torch.backends.cuda.sdp_kernel or the profiler's kernel names (flash_fwd...).
            code: python, python
            warnings:
            - flash_attention is not set: the figures assume the model runs eager attention; set flash_attention=true or false to say.
            - Custom attention masks other than causal or padding may force a slower kernel.
        "#]].assert_eq(&advise(
            "flash_attention",
            context(
                llama_2_7b(),
                target("nvidia-a100-80gb"),
                json!({ "mode": "inference", "batch_size": "1", "seq_len": "4096" }),
            ),
        ));
    }

    #[test]
    fn a_v100_runs_no_fused_kernel() {
        expect![[r#"
            silent
        "#]]
        .assert_eq(&advise(
            "flash_attention",
            context(qwen2_1_5b(), target("nvidia-v100-sxm2-32gb"), eager_4096()),
        ));
    }
}
