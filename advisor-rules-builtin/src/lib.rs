//! The advisor's built-in rules, one file per rule under `rules/`, named after its id.
//!
//! Rules read facts from an [`AnalysisContext`](advisor_core::AnalysisContext); they never
//! probe hardware or touch files. A rule without the facts it needs stays silent and says
//! which facts would let it decide.
//!
//! [`BuiltinRules`] gives the seed's `OptimizationAdvisor::new()`:
//!
//! ```
//! use advisor_core::{AnalysisContext, OptimizationAdvisor};
//! use advisor_rules_builtin::BuiltinRules;
//!
//! let context = AnalysisContext::from_json_str(r#"{
//!     "model_graph": { "facts": { "architecture": "decoder", "parameters": 124439808,
//!                                 "layers": 12, "hidden_size": 768, "attention_heads": 12,
//!                                 "max_sequence_length": 1024 } },
//!     "hardware_info": { "gpu_model": "NVIDIA L4" },
//!     "current_config": { "mode": "inference", "kv_cache": "false" }
//! }"#).unwrap();
//! let report = OptimizationAdvisor::new().analyze(&context).unwrap();
//! assert!(report.suggestions.iter().any(|s| s.id == "kv_cache"));
//! ```

mod facts;
mod rules;

use advisor_core::{OptimizationAdvisor, OptimizationRule};

/// Every built-in rule, in id order.
pub fn all() -> Vec<Box<dyn OptimizationRule>> {
    vec![
        Box::new(rules::batch_size::BatchSize),
        Box::new(rules::communication_overlap::CommunicationOverlap),
        Box::new(rules::conv_channels_last::ConvChannelsLast),
        Box::new(rules::cpu_inference_stack::CpuInferenceStack),
        Box::new(rules::cpu_vector_units::CpuVectorUnits),
        Box::new(rules::data_loader::DataLoader),
        Box::new(rules::data_parallelism::DataParallelism),
        Box::new(rules::distillation::Distillation),
        Box::new(rules::dynamic_quantization::DynamicQuantization),
        Box::new(rules::encoder_serving::EncoderServing),
        Box::new(rules::feasibility::Feasibility),
        Box::new(rules::flash_attention::FlashAttention),
        Box::new(rules::fp8::Fp8),
        Box::new(rules::fused_optimizer::FusedOptimizer),
        Box::new(rules::gpu_idle::GpuIdle),
        Box::new(rules::gradient_checkpointing::GradientCheckpointing),
        Box::new(rules::host_sync::HostSync),
        Box::new(rules::kernel_fusion::KernelFusion),
        Box::new(rules::kv_cache::KvCache),
        Box::new(rules::kv_cache_quantization::KvCacheQuantization),
        Box::new(rules::launch_overhead::LaunchOverhead),
        Box::new(rules::memory_fragmentation::MemoryFragmentation),
        Box::new(rules::mixed_precision::MixedPrecision),
        Box::new(rules::numa_binding::NumaBinding),
        Box::new(rules::parallelization::Parallelization),
        Box::new(rules::pipeline_parallelism::PipelineParallelism),
        Box::new(rules::prefill_decode::PrefillDecode),
        Box::new(rules::quantization::Quantization),
        Box::new(rules::sequence_packing::SequencePacking),
        Box::new(rules::serving_engine::ServingEngine),
        Box::new(rules::smoothquant::Smoothquant),
        Box::new(rules::sparse_attention::SparseAttention),
        Box::new(rules::speculative_decoding::SpeculativeDecoding),
        Box::new(rules::tensor_parallelism::TensorParallelism),
        Box::new(rules::torch_compile::TorchCompile),
        Box::new(rules::training_memory::TrainingMemory),
    ]
}

/// Adds the seed's `OptimizationAdvisor::new()`: an advisor with every built-in rule.
pub trait BuiltinRules {
    /// An advisor with every built-in rule.
    fn new() -> Self;
}

impl BuiltinRules for OptimizationAdvisor {
    fn new() -> Self {
        let mut advisor = OptimizationAdvisor::empty();
        advisor.set_catalog(std::sync::Arc::new(advisor_hw_table::AcceleratorTable));
        advisor.set_plan_model(std::sync::Arc::new(advisor_model::ModelPlan));
        for rule in all() {
            // Built-in ids are distinct; a test checks it.
            let _ = advisor.add_rule(rule);
        }
        advisor
    }
}
