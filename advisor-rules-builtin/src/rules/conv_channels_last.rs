//! `conv_channels_last`: a convolutional network on a GPU with its tensors in NCHW.
//!
//! ## What it checks
//! A trace whose convolution kernels (cuDNN's `scudnn`, `implicit_convolve`, `dgrad`,
//! `wgrad`, `fprop` kernels, by name) take at least 10 % of the GPU time and do not run in
//! NHWC, or, without a trace, a model graph with `Conv` operators served on a GPU.
//!
//! ## Why it matters
//! cuDNN's tensor-core convolution kernels (fp16, bf16, TF32) are NHWC kernels: for NCHW
//! tensors, PyTorch's default layout, cuDNN either transposes around each call
//! (`nchwToNhwcKernel`, `nhwcToNchwKernel`) or falls back to slower NCHW kernels (NVIDIA,
//! "Convolutional Layers User's Guide", Deep Learning Performance documentation: tensor layouts).
//! `model.to(memory_format=torch.channels_last)` keeps every activation NHWC, so the
//! transposes go; PyTorch reports over 22 % faster AMP training with channels last than with
//! contiguous tensors on Volta ("Channels Last Memory Format in PyTorch", the tutorial's
//! performance section). `torch.backends.cudnn.benchmark = True` times cuDNN's algorithms once
//! per input shape and keeps the fastest. Batch norm after every convolution is a memory-bound
//! pass of its own: in inference it folds into the convolution's weights, in training
//! torch.compile fuses it with the activation that follows.
//!
//! The gain claimed is the trace's transposes: a pool of the GPU span that channels-last
//! tensors remove, half of it at least (the input's conversion and operators without an NHWC
//! kernel may keep some). What NHWC kernels buy over NCHW ones and what cudnn.benchmark finds
//! are not in the trace, so they are steps without a figure. Convolutions in fp32 on CUDA
//! cores (Volta, Turing) gain little from the layout until they run on tensor cores: the
//! suggestion says mixed precision comes first, which `mixed_precision` sizes.
//!
//! ## When it stays silent
//! A trace whose convolutions take under 10 % of the GPU time or run in NHWC already with
//! transposes under 1 %, a trace without convolutions, a model graph without `Conv` operators
//! or one served on a CPU. With neither a trace nor a model it says it needs a trace.
//!
//! ## Example
//! The shared V100 training trace (a ResNet-style network in fp32, NCHW).

use advisor_core::{
    Category, ConvolutionFacts, Difficulty, Mode, OptimizationRule, OptimizationSuggestion,
    RuleError, RuleInput, SlackClaim, SlackPool, TraceFacts,
};

use crate::facts;

/// Convolutions under this share of the GPU time are not worth a layout change.
const MIN_CONV_SHARE: f64 = 0.10;
/// Operator types of a convolution in a model graph (ONNX's and PyTorch's names).
const CONV_OPS: &[&str] = &["Conv", "ConvTranspose", "Conv2d", "Conv3d", "QLinearConv"];

/// See the module documentation.
pub(crate) struct ConvChannelsLast;

impl OptimizationRule for ConvChannelsLast {
    fn id(&self) -> &str {
        "conv_channels_last"
    }

    fn category(&self) -> Category {
        Category::Compute
    }

    fn description(&self) -> &str {
        "A convolutional network in NCHW on a GPU: channels_last tensors, cudnn.benchmark, folded or fused batch norm"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let trace = advisor_core::trace_facts(input.context).ok();
        if let Some(trace) = trace {
            return Ok(trace
                .run
                .as_ref()
                .and_then(|run| run.convolution.as_ref())
                .and_then(|convolution| from_trace(input, trace, convolution))
                .into_iter()
                .collect());
        }
        let Some(graph) = input.context.model_graph.as_ref() else {
            return Err(advisor_core::Missing::Trace.into());
        };
        let convs = graph
            .nodes
            .iter()
            .filter(|node| CONV_OPS.contains(&node.op_type.as_str()))
            .count();
        if convs == 0 || !input.facts.on_gpu()? {
            return Ok(Vec::new());
        }
        let suggestion = steps(
            OptimizationSuggestion::new(
                "conv_channels_last",
                Category::Compute,
                advisor_core::Impact::Low,
                Difficulty::Easy,
                "Run the convolutions in channels_last (NHWC) with cudnn.benchmark",
            )
            .description(
                "The model is a convolutional network. cuDNN's tensor-core convolutions are NHWC kernels; with PyTorch's \
                 default NCHW tensors it transposes around them or picks slower kernels. A profiler trace (--trace) \
                 shows how much GPU time the layout costs; without one the gain is not sized.",
            )
            .evidence(format!("model graph: {convs} convolution operator(s)")),
            input.facts.mode().ok() == Some(Mode::Training),
            true,
            bf16(input),
        );
        Ok(vec![suggestion])
    }
}

/// The suggestion a trace's convolution facts give, or `None` where the layout is not worth
/// changing.
fn from_trace(
    input: &RuleInput<'_>,
    trace: &TraceFacts,
    convolution: &ConvolutionFacts,
) -> Option<OptimizationSuggestion> {
    if convolution.gpu_time_us <= 0.0 || convolution.time_us <= 0.0 {
        return None;
    }
    let share = |us: f64| us / convolution.gpu_time_us;
    let conv_share = share(convolution.time_us);
    let nhwc = convolution.nhwc_time_us / convolution.time_us;
    let fp32 = convolution.fp32_time_us / convolution.time_us;
    // The transposes as a share of the GPU span, never more than its computation (kernels on
    // several streams may overlap); without a breakdown, of all GPU activity time.
    let transposes = match &trace.gpu_breakdown {
        Some(breakdown) if breakdown.kernel_time_us > 0.0 => {
            convolution.transpose_time_us.min(breakdown.compute_us) / breakdown.kernel_time_us
        }
        _ => share(convolution.transpose_time_us),
    }
    .clamp(0.0, 1.0);
    if conv_share < MIN_CONV_SHARE || (nhwc >= 0.5 && transposes < 0.01) {
        return None;
    }
    let source = trace.source.as_deref().unwrap_or("the trace");
    let training = input.facts.mode().ok() == Some(Mode::Training);
    let description = if fp32 >= 0.5 {
        format!(
            "Convolutions take {} of the GPU time, {} of it in fp32 on CUDA cores and {} in NHWC. The layout pays once \
             they run on tensor cores: cuDNN's fp16, bf16 and TF32 convolutions are NHWC kernels and transpose NCHW \
             tensors around every call. Turn on mixed precision first (the mixed_precision suggestion sizes it), then \
             keep the tensors channels_last; this suggestion claims only the transposes the trace shows.",
            facts::percent(conv_share),
            facts::percent(fp32),
            facts::percent(nhwc),
        )
    } else {
        format!(
            "Convolutions take {} of the GPU time, {} of it in NHWC kernels; cuDNN transposes NCHW tensors around its \
             tensor-core kernels, {} of the GPU span here. channels_last tensors remove the transposes and let cuDNN \
             pick its NHWC kernels.",
            facts::percent(conv_share),
            facts::percent(nhwc),
            facts::percent(transposes),
        )
    };
    let mut suggestion = OptimizationSuggestion::new(
        "conv_channels_last",
        Category::Compute,
        advisor_core::Impact::Low,
        Difficulty::Easy,
        "Run the convolutions in channels_last (NHWC) with cudnn.benchmark",
    )
    .description(description)
    .evidence(format!(
        "{source}: {} convolution kernels take {:.1} ms, {} of GPU activity time ({})",
        convolution.kernels,
        convolution.time_us / 1000.0,
        facts::percent(conv_share),
        convolution.examples.join(", ")
    ))
    .evidence(format!(
        "of the convolution time: {} in NHWC kernels, {} in fp32",
        facts::percent(nhwc),
        facts::percent(fp32)
    ))
    .evidence(format!(
        "layout transposes (nchwToNhwc, nhwcToNchw): {:.1} ms, {} of the GPU span",
        convolution.transpose_time_us / 1000.0,
        facts::percent(transposes)
    ))
    .evidence(format!(
        "batch norm: {:.1} ms, {} of GPU activity time",
        convolution.batch_norm_time_us / 1000.0,
        facts::percent(share(convolution.batch_norm_time_us))
    ));
    suggestion = steps(suggestion, training, fp32 >= 0.5, bf16(input));
    if transposes * 0.5 >= 0.001 {
        suggestion = crate::rules::gpu_idle::claim(
            suggestion,
            SlackClaim {
                pool: SlackPool::LayoutTransposes,
                pool_fraction: transposes,
                min_fraction: transposes * 0.5,
                max_fraction: transposes,
            },
            &format!(
                "the trace's NCHW ↔ NHWC transposes ({} of the GPU span) go with channels_last tensors, half of them at least (the input's conversion and operators without an NHWC kernel may keep some); what NHWC kernels and cudnn.benchmark buy beyond that is not in the trace",
                facts::percent(transposes)
            ),
        );
        suggestion.impact = facts::impact_from_reduction(transposes);
    }
    Some(suggestion)
}

/// Whether the GPU's tensor cores run bf16 (Ampere and newer); true when it is not known.
fn bf16(input: &RuleInput<'_>) -> bool {
    input
        .facts
        .run_gpu()
        .ok()
        .flatten()
        .and_then(|gpu| gpu.compute_capability.as_ref())
        .is_none_or(|capability| capability.value.supports_bf16())
}

/// The steps and code every variant shares; `fp32` adds mixed precision, which the layout
/// needs to pay, in bf16 where the GPU has it (`bf16`) and fp16 with a GradScaler elsewhere.
fn steps(
    suggestion: OptimizationSuggestion,
    training: bool,
    fp32: bool,
    bf16: bool,
) -> OptimizationSuggestion {
    let suggestion = suggestion
        .step("Convert the model and every input batch: model.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last) (channels_last_3d for 5-D inputs).")
        .step("Set torch.backends.cudnn.benchmark = True with fixed input shapes: cuDNN times its algorithms on the first call of each shape and keeps the fastest.");
    let suggestion = if training {
        let suggestion = match fp32 {
            true => suggestion.step("Train under torch.autocast (bf16 on Ampere and newer, fp16 with a GradScaler on Volta and Turing): the NHWC tensor-core kernels are what channels_last is for."),
            false => suggestion,
        };
        let code = if !bf16 {
            "import torch\n\ntorch.backends.cudnn.benchmark = True\nmodel = model.cuda().to(memory_format=torch.channels_last)\nmodel = torch.compile(model)\nscaler = torch.cuda.amp.GradScaler()\nfor images, labels in loader:\n    images = images.cuda(non_blocking=True).to(memory_format=torch.channels_last)\n    with torch.autocast(\"cuda\", dtype=torch.float16):\n        loss = criterion(model(images), labels)\n    scaler.scale(loss).backward()\n    scaler.step(optimizer)\n    scaler.update()\n    optimizer.zero_grad(set_to_none=True)"
        } else {
            "import torch\n\ntorch.backends.cudnn.benchmark = True\nmodel = model.cuda().to(memory_format=torch.channels_last)\nmodel = torch.compile(model)\nfor images, labels in loader:\n    images = images.cuda(non_blocking=True).to(memory_format=torch.channels_last)\n    with torch.autocast(\"cuda\", dtype=torch.bfloat16):\n        loss = criterion(model(images), labels)\n    loss.backward()\n    optimizer.step()\n    optimizer.zero_grad(set_to_none=True)"
        };
        suggestion
            .step("Compile the model (torch.compile) to fuse each batch norm with the ReLU and residual add after it: fewer memory-bound passes.")
            .code("python", code)
    } else {
        suggestion
            .step("Fold each batch norm into the convolution before it (eval mode): torch.nn.utils.fusion.fuse_conv_bn_eval, or torch.ao.quantization.fuse_modules for Conv-BN-ReLU.")
            .code(
                "python",
                "import torch\n\ntorch.backends.cudnn.benchmark = True\nmodel = model.eval().cuda().half().to(memory_format=torch.channels_last)\nwith torch.inference_mode():\n    out = model(images.cuda().half().to(memory_format=torch.channels_last))",
            )
    };
    suggestion
        .step("Re-profile: the convolution kernels' names should say nhwc and the nchwToNhwc/nhwcToNchw kernels should be gone.")
        .warning("Operators without a channels_last kernel (some custom or upsampling ops) convert back to NCHW silently: look for new copy or transpose kernels after the change.")
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::{Value, json};

    use super::ConvChannelsLast;
    use crate::rules::test_support::{advise, breakdown, figures, render_context, target};

    /// A training trace with convolutions in `precision`, `nhwc_pct` % of them NHWC, and
    /// transposes of `transpose_pct` % of a 100 ms span.
    fn trace(conv_pct: f64, nhwc_pct: f64, fp32_pct: f64, transpose_pct: f64) -> Value {
        let conv_us = conv_pct * 1000.0;
        json!({ "source": "resnet.json", "steps": 4,
                "gpu_breakdown": breakdown(3.0, 96.0, 0.0, 1.0),
                "run": { "mode": "training", "matmul_time_us": conv_us, "cuda_graph_launches": 0,
                         "convolution": {
                             "kernels": 400, "time_us": conv_us,
                             "nhwc_time_us": conv_us * nhwc_pct / 100.0,
                             "fp32_time_us": conv_us * fp32_pct / 100.0,
                             "transpose_time_us": transpose_pct * 1000.0,
                             "batch_norm_time_us": 15_000.0, "gpu_time_us": 100_000.0,
                             "examples": ["sm70_xmma_fprop_implicit_gemm_f16f16_f16f32_f32_nchwkcrs_nchw"] } } })
    }

    fn with_trace(trace: Value) -> Value {
        json!({ "profile_results": { "total_ms": 100.0, "trace": trace },
                "hardware_info": target("nvidia-v100-sxm2-32gb") })
    }

    #[test]
    fn amp_convolutions_with_transposes() {
        expect![[r#"
            conv_channels_last · compute · impact medium · difficulty easy
            title: Run the convolutions in channels_last (NHWC) with cudnn.benchmark
            description: Convolutions take 45.0 % of the GPU time, 10.0 % of it in NHWC kernels; cuDNN transposes NCHW tensors around its tensor-core kernels, 12.0 % of the GPU span here. channels_last tensors remove the transposes and let cuDNN pick its NHWC kernels.
            expected:
            - latency −6–12 % [0.060, 0.120]: the trace's NCHW ↔ NHWC transposes (12.0 % of the GPU span) go with channels_last tensors, half of them at least (the input's conversion and operators without an NHWC kernel may keep some); what NHWC kernels and cudnn.benchmark buy beyond that is not in the trace; a claim on the layout transpose pool (12.0 % of the GPU span): claims on one pool recover the same time, so the report combines them by their maximum and never beyond the pool
            evidence:
            - resnet.json: 400 convolution kernels take 45.0 ms, 45.0 % of GPU activity time (sm70_xmma_fprop_implicit_gemm_f16f16_f16f32_f32_nchwkcrs_nchw)
            - of the convolution time: 10.0 % in NHWC kernels, 0.0 % in fp32
            - layout transposes (nchwToNhwc, nhwcToNchw): 12.0 ms, 12.0 % of the GPU span
            - batch norm: 15.0 ms, 15.0 % of GPU activity time
            steps:
            - Convert the model and every input batch: model.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last) (channels_last_3d for 5-D inputs).
            - Set torch.backends.cudnn.benchmark = True with fixed input shapes: cuDNN times its algorithms on the first call of each shape and keeps the fastest.
            - Compile the model (torch.compile) to fuse each batch norm with the ReLU and residual add after it: fewer memory-bound passes.
            - Re-profile: the convolution kernels' names should say nhwc and the nchwToNhwc/nhwcToNchw kernels should be gone.
            code: python
            warnings:
            - Operators without a channels_last kernel (some custom or upsampling ops) convert back to NCHW silently: look for new copy or transpose kernels after the change.
            slack: SlackClaim { pool: LayoutTransposes, pool_fraction: 0.12, min_fraction: 0.06, max_fraction: 0.12 }
        "#]].assert_eq(&advise(
            "conv_channels_last",
            with_trace(trace(45.0, 10.0, 0.0, 12.0)),
        ));
    }

    #[test]
    fn fp32_convolutions_claim_only_their_transposes() {
        expect![[r#"
            [
              {
                "expected_improvement": [
                  {
                    "basis": "the trace's NCHW ↔ NHWC transposes (0.2 % of the GPU span) go with channels_last tensors, half of them at least (the input's conversion and operators without an NHWC kernel may keep some); what NHWC kernels and cudnn.benchmark buy beyond that is not in the trace; a claim on the layout transpose pool (0.2 % of the GPU span): claims on one pool recover the same time, so the report combines them by their maximum and never beyond the pool",
                    "max_reduction": 0.002,
                    "metric": "latency",
                    "min_reduction": 0.001
                  }
                ],
                "id": "conv_channels_last",
                "impact": "low",
                "slack": [
                  {
                    "max_fraction": 0.002,
                    "min_fraction": 0.001,
                    "pool": "layout_transposes",
                    "pool_fraction": 0.002
                  }
                ]
              }
            ]"#]].assert_eq(&figures(
            &ConvChannelsLast,
            trace(36.0, 3.0, 99.0, 0.2),
        ));
    }

    #[test]
    fn silent_when_nhwc_already_small_or_not_a_conv_net() {
        for trace in [
            trace(45.0, 90.0, 0.0, 0.5),
            trace(5.0, 0.0, 0.0, 2.0),
            json!({ "steps": 4, "run": { "matmul_time_us": 0.0, "cuda_graph_launches": 0 } }),
        ] {
            expect!["[]"].assert_eq(&figures(&ConvChannelsLast, trace));
        }
    }

    #[test]
    fn a_graph_with_conv_operators_on_a_gpu() {
        let graph = json!({ "name": "resnet50", "facts": { "parameters": 25557032u64 },
            "nodes": [ { "id": "conv1", "op_type": "Conv" }, { "id": "bn1", "op_type": "BatchNormalization" },
                       { "id": "conv2", "op_type": "Conv" } ] });
        expect![[r#"
            conv_channels_last · compute · impact low · difficulty easy
            title: Run the convolutions in channels_last (NHWC) with cudnn.benchmark
            description: The model is a convolutional network. cuDNN's tensor-core convolutions are NHWC kernels; with PyTorch's default NCHW tensors it transposes around them or picks slower kernels. A profiler trace (--trace) shows how much GPU time the layout costs; without one the gain is not sized.
            evidence:
            - model graph: 2 convolution operator(s)
            steps:
            - Convert the model and every input batch: model.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last) (channels_last_3d for 5-D inputs).
            - Set torch.backends.cudnn.benchmark = True with fixed input shapes: cuDNN times its algorithms on the first call of each shape and keeps the fastest.
            - Fold each batch norm into the convolution before it (eval mode): torch.nn.utils.fusion.fuse_conv_bn_eval, or torch.ao.quantization.fuse_modules for Conv-BN-ReLU.
            - Re-profile: the convolution kernels' names should say nhwc and the nchwToNhwc/nhwcToNchw kernels should be gone.
            code: python
            warnings:
            - Operators without a channels_last kernel (some custom or upsampling ops) convert back to NCHW silently: look for new copy or transpose kernels after the change.
        "#]].assert_eq(&advise(
            "conv_channels_last",
            json!({ "model_graph": graph, "hardware_info": target("nvidia-a100-80gb"),
                    "current_config": { "mode": "inference" } }),
        ));
    }

    #[test]
    fn without_a_trace_or_a_model_it_asks_for_a_trace() {
        expect!["error: needs profile_results.trace"].assert_eq(&render_context(
            &ConvChannelsLast,
            json!({ "current_config": { "mode": "training" } }),
        ));
    }
}
