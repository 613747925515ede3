//! One module per rule, named after the rule's id.

pub(crate) mod batch_size;
pub(crate) mod communication_overlap;
pub(crate) mod conv_channels_last;
pub(crate) mod cpu_inference_stack;
pub(crate) mod cpu_vector_units;
pub(crate) mod data_loader;
pub(crate) mod data_parallelism;
pub(crate) mod distillation;
pub(crate) mod dynamic_quantization;
pub(crate) mod encoder_serving;
pub(crate) mod feasibility;
pub(crate) mod flash_attention;
pub(crate) mod fp8;
pub(crate) mod fused_optimizer;
pub(crate) mod gpu_idle;
pub(crate) mod gradient_checkpointing;
pub(crate) mod host_sync;
pub(crate) mod kernel_fusion;
pub(crate) mod kv_cache;
pub(crate) mod kv_cache_quantization;
pub(crate) mod launch_overhead;
pub(crate) mod memory_fragmentation;
pub(crate) mod mixed_precision;
pub(crate) mod numa_binding;
pub(crate) mod parallelization;
pub(crate) mod pipeline_parallelism;
pub(crate) mod prefill_decode;
pub(crate) mod quantization;
pub(crate) mod sequence_packing;
pub(crate) mod serving_engine;
pub(crate) mod smoothquant;
pub(crate) mod sparse_attention;
pub(crate) mod speculative_decoding;
pub(crate) mod tensor_parallelism;
pub(crate) mod torch_compile;
pub(crate) mod training_memory;

#[cfg(test)]
pub(crate) mod test_support {
    //! What the rules' own tests share: running a rule or the whole advisor on a JSON context,
    //! rendering what comes out for a snapshot, and the models and machines users really have.
    //!
    //! Snapshots are `expect-test`'s: refresh them with `UPDATE_EXPECT=1 cargo test -p
    //! advisor-rules-builtin`, then read every changed figure before committing it.

    use std::fmt::Write as _;

    use advisor_core::{
        AnalysisContext, EmptyCatalog, OptimizationAdvisor, OptimizationRule,
        OptimizationSuggestion, RuleError, run_rule,
    };
    use serde_json::{Value, json};

    use crate::BuiltinRules as _;

    /// Runs one rule on a whole context the way the engine does, without the accelerator table.
    pub(crate) fn run(
        rule: &dyn OptimizationRule,
        context: Value,
    ) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let context =
            AnalysisContext::from_json_str(&context.to_string()).expect("a valid context");
        run_rule(rule, &context, &EmptyCatalog)
    }

    /// A context with only a trace, as `advisor analyze --trace` builds it.
    pub(crate) fn with_trace(trace: Value) -> Value {
        json!({ "profile_results": { "total_ms": 100.0, "trace": trace } })
    }

    /// What a rule returns for a context, as pretty JSON, or the error it returns.
    pub(crate) fn render_context(rule: &dyn OptimizationRule, context: Value) -> String {
        match run(rule, context) {
            Ok(suggestions) => serde_json::to_string_pretty(&suggestions).expect("serializes"),
            Err(error) => format!("error: {error}"),
        }
    }

    /// What a rule returns for a trace, as pretty JSON.
    pub(crate) fn render(rule: &dyn OptimizationRule, trace: Value) -> String {
        render_context(rule, with_trace(trace))
    }

    /// Only the figures of what a rule returns for a context: id, impact, improvements and
    /// slack claims.
    pub(crate) fn figures_of(rule: &dyn OptimizationRule, context: Value) -> String {
        match run(rule, context) {
            Ok(suggestions) => {
                let figures: Vec<Value> = suggestions
                    .iter()
                    .map(|s| {
                        json!({ "id": s.id, "impact": s.impact,
                                "expected_improvement": s.expected_improvement, "slack": s.slack })
                    })
                    .collect();
                serde_json::to_string_pretty(&figures).expect("serializes")
            }
            Err(error) => format!("error: {error}"),
        }
    }

    /// Only the figures of what a rule returns for a trace.
    pub(crate) fn figures(rule: &dyn OptimizationRule, trace: Value) -> String {
        figures_of(rule, with_trace(trace))
    }

    /// A GPU time breakdown over a 100 ms span, in percent of it.
    pub(crate) fn breakdown(idle: f64, compute: f64, communication: f64, memory: f64) -> Value {
        json!({
            "kernel_time_us": 100_000.0, "idle_us": idle * 1000.0, "compute_us": compute * 1000.0,
            "communication_us": communication * 1000.0, "memory_us": memory * 1000.0,
            "non_compute_us": (communication + memory) * 1000.0,
            "idle_pct": idle, "compute_pct": compute, "communication_pct": communication,
            "memory_pct": memory, "non_compute_pct": communication + memory
        })
    }

    /// What the whole advisor (every built-in rule, the accelerator table and the performance
    /// model, as `advisor analyze` runs them) says through one rule about a context, as text:
    /// each suggestion of the rule, then the rule's diagnostics and those about the inputs.
    ///
    /// Code examples are listed by language only; everything else is shown whole, with each
    /// improvement's range as the report prints it and as fractions.
    pub(crate) fn advise(rule: &str, context: Value) -> String {
        let context =
            AnalysisContext::from_json_str(&context.to_string()).expect("a valid context");
        let report = OptimizationAdvisor::new()
            .analyze(&context)
            .expect("a valid configuration");
        let mut out = String::new();
        let suggestions: Vec<_> = report
            .suggestions
            .iter()
            .filter(|s| s.rule_id == rule)
            .collect();
        if suggestions.is_empty() {
            out.push_str("silent\n");
        }
        for suggestion in suggestions {
            out.push_str(&suggestion_text(suggestion));
        }
        for diagnostic in report
            .diagnostics
            .iter()
            .filter(|d| d.source == rule || d.source == "config" || d.source == "inputs")
        {
            let _ = writeln!(
                out,
                "diagnostic {:?} {}: {}",
                diagnostic.severity, diagnostic.source, diagnostic.message
            );
        }
        out
    }

    /// One suggestion as compact text.
    fn suggestion_text(s: &OptimizationSuggestion) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} · {} · impact {} · difficulty {}",
            s.id,
            s.category.as_str(),
            s.impact.as_str(),
            s.difficulty.as_str()
        );
        let _ = writeln!(out, "title: {}", s.title);
        let _ = writeln!(out, "description: {}", s.description);
        if !s.changes.is_empty() {
            let changes: Vec<String> = s.changes.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "changes: {}", changes.join("; "));
        }
        list(
            &mut out,
            "expected",
            s.expected_improvement.iter().map(|i| {
                format!(
                    "{} [{:.3}, {:.3}]: {}",
                    i.describe(),
                    i.min_reduction,
                    i.max_reduction,
                    i.basis
                )
            }),
        );
        list(&mut out, "evidence", s.evidence.iter().cloned());
        list(&mut out, "steps", s.implementation_steps.iter().cloned());
        if !s.code_examples.is_empty() {
            let languages: Vec<&str> = s
                .code_examples
                .iter()
                .map(|c| c.language.as_str())
                .collect();
            let _ = writeln!(out, "code: {}", languages.join(", "));
        }
        list(&mut out, "warnings", s.warnings.iter().cloned());
        for claim in &s.slack {
            let _ = writeln!(out, "slack: {claim:?}");
        }
        out
    }

    fn list(out: &mut String, heading: &str, items: impl Iterator<Item = String>) {
        let mut items = items.peekable();
        if items.peek().is_none() {
            return;
        }
        let _ = writeln!(out, "{heading}:");
        for item in items {
            let _ = writeln!(out, "- {item}");
        }
    }

    /// A deployment target's hardware, as `--hardware NAME` gives it.
    pub(crate) fn target(name: &str) -> Value {
        let hardware = advisor_hw_table::resolve_target(name).expect("a known target");
        serde_json::to_value(hardware).expect("serializes")
    }

    /// A CPU-only machine with `cores` physical cores (AVX2, no bf16 or int8 dot products).
    pub(crate) fn cpu(cores: u32) -> Value {
        json!({ "cpu_model": "Intel Xeon", "cpu_cores": cores, "cpu_threads": cores * 2,
                "system_memory_mb": 65536, "simd_capabilities": ["avx2", "fma"] })
    }

    /// A context: a model, hardware and a run configuration.
    pub(crate) fn context(model: Value, hardware: Value, config: Value) -> Value {
        json!({ "model_graph": model, "hardware_info": hardware, "current_config": config })
    }

    /// Model facts as `advisor-graph` reads them from the model's Hugging Face `config.json`.
    fn model(name: &str, facts: Value) -> Value {
        json!({ "name": name, "facts": facts })
    }

    /// meta-llama/Llama-2-7b-hf (6,738,415,616 parameters, fp16).
    pub(crate) fn llama_2_7b() -> Value {
        model(
            "meta-llama/Llama-2-7b-hf",
            json!({ "family": "llama", "architecture": "decoder", "parameters": 6738415616u64,
                    "layers": 32, "hidden_size": 4096, "intermediate_size": 11008,
                    "attention_heads": 32, "kv_heads": 32, "vocab_size": 32000,
                    "max_sequence_length": 4096, "tie_word_embeddings": false, "dtype": "fp16" }),
        )
    }

    /// meta-llama/Llama-2-13b-hf (13,015,864,320 parameters, fp16).
    pub(crate) fn llama_2_13b() -> Value {
        model(
            "meta-llama/Llama-2-13b-hf",
            json!({ "family": "llama", "architecture": "decoder", "parameters": 13015864320u64,
                    "layers": 40, "hidden_size": 5120, "intermediate_size": 13824,
                    "attention_heads": 40, "kv_heads": 40, "vocab_size": 32000,
                    "max_sequence_length": 4096, "tie_word_embeddings": false, "dtype": "fp16" }),
        )
    }

    /// mistralai/Mistral-7B-v0.1 (7,241,732,096 parameters, bf16, a 4096-token window).
    pub(crate) fn mistral_7b() -> Value {
        model(
            "mistralai/Mistral-7B-v0.1",
            json!({ "family": "mistral", "architecture": "decoder", "parameters": 7241732096u64,
                    "layers": 32, "hidden_size": 4096, "intermediate_size": 14336,
                    "attention_heads": 32, "kv_heads": 8, "vocab_size": 32000,
                    "max_sequence_length": 32768, "sliding_window": 4096,
                    "tie_word_embeddings": false, "dtype": "bf16" }),
        )
    }

    /// openai-community/gpt2 (124,439,808 parameters, tied embeddings, no dtype stated).
    pub(crate) fn gpt2() -> Value {
        model(
            "openai-community/gpt2",
            json!({ "family": "gpt2", "architecture": "decoder", "parameters": 124439808u64,
                    "layers": 12, "hidden_size": 768, "intermediate_size": 3072,
                    "attention_heads": 12, "kv_heads": 12, "vocab_size": 50257,
                    "max_sequence_length": 1024, "tie_word_embeddings": true }),
        )
    }

    /// google-bert/bert-base-uncased (109,482,240 parameters).
    pub(crate) fn bert_base() -> Value {
        model(
            "google-bert/bert-base-uncased",
            json!({ "family": "bert", "architecture": "encoder", "parameters": 109482240u64,
                    "layers": 12, "hidden_size": 768, "intermediate_size": 3072,
                    "attention_heads": 12, "kv_heads": 12, "vocab_size": 30522,
                    "max_sequence_length": 512 }),
        )
    }

    /// FacebookAI/roberta-base (124,645,632 parameters).
    pub(crate) fn roberta_base() -> Value {
        model(
            "FacebookAI/roberta-base",
            json!({ "family": "roberta", "architecture": "encoder", "parameters": 124645632u64,
                    "layers": 12, "hidden_size": 768, "intermediate_size": 3072,
                    "attention_heads": 12, "kv_heads": 12, "vocab_size": 50265,
                    "max_sequence_length": 514 }),
        )
    }

    /// sentence-transformers/all-MiniLM-L6-v2 (22,713,216 parameters).
    pub(crate) fn minilm() -> Value {
        model(
            "sentence-transformers/all-MiniLM-L6-v2",
            json!({ "family": "bert", "architecture": "encoder", "parameters": 22713216u64,
                    "layers": 6, "hidden_size": 384, "intermediate_size": 1536,
                    "attention_heads": 12, "kv_heads": 12, "vocab_size": 30522,
                    "max_sequence_length": 512 }),
        )
    }

    /// Qwen/Qwen2-1.5B (1,543,714,304 parameters, bf16, grouped-query attention).
    pub(crate) fn qwen2_1_5b() -> Value {
        model(
            "Qwen/Qwen2-1.5B",
            json!({ "family": "qwen2", "architecture": "decoder", "parameters": 1543714304u64,
                    "layers": 28, "hidden_size": 1536, "intermediate_size": 8960,
                    "attention_heads": 12, "kv_heads": 2, "vocab_size": 151936,
                    "max_sequence_length": 131072, "tie_word_embeddings": true, "dtype": "bf16" }),
        )
    }
}
