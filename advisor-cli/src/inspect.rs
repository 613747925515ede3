//! `advisor inspect MODEL`: what the advisor understands of a model file, for people or as
//! JSON.

use std::path::PathBuf;

use advisor_core::Dimension;
use advisor_graph::{ModelSummary, TensorSignature};
use advisor_report::{escape_control, escape_json_controls, group_digits};
use clap::Args;

use crate::{ListFormat, input_error};

#[derive(Args)]
pub(crate) struct InspectArgs {
    /// The model: ONNX, safetensors (or its `model.safetensors.index.json`), a Hugging Face
    /// config.json, or the advisor's graph JSON.
    #[arg(value_name = "MODEL")]
    model: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    format: ListFormat,
}

pub(crate) fn run(args: InspectArgs) -> anyhow::Result<()> {
    let imported =
        advisor_graph::import_path(&args.model).map_err(|error| input_error(error.to_string()))?;
    let summary = ModelSummary::new(&imported);
    let rendered = match args.format {
        // Names in the JSON are kept exactly; only the controls serde_json leaves raw (DEL, C1,
        // bidi) are spelled as `\u` escapes.
        ListFormat::Json => {
            escape_json_controls(&serde_json::to_string_pretty(
                &crate::output::Versioned::new(&summary),
            )?)
            .into_owned()
                + "\n"
        }
        ListFormat::Text => render_text(&summary, &args.model.display().to_string()),
    };
    crate::listing::print(&rendered)
}

/// The summary for people. Every string in it came from the file (its path, op, tensor and
/// dimension names, warnings that quote them) and is shown escaped: a name cannot move the
/// cursor, retitle the terminal or start a line of its own.
fn render_text(summary: &ModelSummary, name: &str) -> String {
    let number = |value: Option<u64>| value.map_or("unknown".to_owned(), group_digits);
    let mut out = format!("{}\n", escape_control(name));
    let mut line = |label: &str, value: String| out.push_str(&format!("  {label:<26}{value}\n"));
    line("parameters", number(summary.parameters));
    let mut bytes = number(summary.weight_bytes);
    if !summary.weight_bytes_by_dtype.is_empty() {
        let parts: Vec<String> = summary
            .weight_bytes_by_dtype
            .iter()
            .map(|(dtype, bytes)| format!("{} {}", escape_control(dtype), group_digits(*bytes)))
            .collect();
        bytes.push_str(&format!(" ({})", parts.join(", ")));
    }
    line("weight bytes", bytes);
    line("dtype", text(summary.dtype.as_deref()));
    line("architecture", text(summary.architecture.as_deref()));
    line("layers", number(summary.layers));
    line("hidden size", number(summary.hidden_size));
    line("attention heads", number(summary.attention_heads));
    line("kv heads", number(summary.kv_heads));
    line("vocabulary", number(summary.vocab_size));
    line("max sequence length", number(summary.max_sequence_length));
    line("kv-cache bytes per token", kv_cache(summary));
    line(
        "prefill FLOPs per token",
        number(summary.flops_per_token.prefill),
    );
    line(
        "decode FLOPs per token",
        number(summary.flops_per_token.decode),
    );
    line("attention blocks", number(summary.attention_blocks));
    if let Some(opset) = summary.opset {
        line("opset", opset.to_string());
    }
    for (label, tensors) in [("inputs", &summary.inputs), ("outputs", &summary.outputs)] {
        if !tensors.is_empty() {
            // A decoder exported with its KV cache has dozens of `past_key_values` inputs.
            let mut shown: Vec<String> = tensors.iter().take(8).map(signature).collect();
            if tensors.len() > 8 {
                shown.push(format!("and {} more", tensors.len() - 8));
            }
            line(label, shown.join(", "));
        }
    }
    if !summary.op_counts.is_empty() {
        let mut counts: Vec<(&String, &u64)> = summary.op_counts.iter().collect();
        counts.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let shown: Vec<String> = counts
            .iter()
            .take(12)
            .map(|(op, count)| format!("{} {count}", escape_control(op)))
            .collect();
        let more = counts.len().saturating_sub(12);
        let mut ops = shown.join(", ");
        if more > 0 {
            ops.push_str(&format!(" and {more} more"));
        }
        line("ops", ops);
    }
    if summary.fusion_opportunities.is_empty() {
        out.push_str("\nfusion opportunities: none found\n");
    } else {
        out.push_str("\nfusion opportunities:\n");
        for fusion in &summary.fusion_opportunities {
            out.push_str(&format!(
                "  {:<34}{} ({} node{})\n",
                escape_control(&fusion.pattern),
                fusion.count,
                fusion.nodes.len(),
                if fusion.nodes.len() == 1 { "" } else { "s" }
            ));
        }
    }
    if !summary.warnings.is_empty() {
        out.push_str("\nwarnings:\n");
        for warning in &summary.warnings {
            out.push_str(&format!("  - {}\n", escape_control(warning)));
        }
    }
    out
}

/// `input_ids int64 [batch_size, sequence_length]`.
fn signature(tensor: &TensorSignature) -> String {
    let dims: Vec<String> = tensor
        .shape
        .iter()
        .map(|dim| match dim {
            Dimension::Fixed(size) => size.to_string(),
            Dimension::Symbolic(name) => escape_control(name).into_owned(),
        })
        .collect();
    let dtype = escape_control(tensor.dtype.as_deref().unwrap_or("?"));
    format!(
        "{} {dtype} [{}]",
        escape_control(&tensor.name),
        dims.join(", ")
    )
}

/// `36,864 (fp16, the model does not state its dtype; 18,432 elements)`: the dtype says why
/// `advisor analyze`, which sizes the cache at the run's compute precision, may show another
/// figure for the same elements.
fn kv_cache(summary: &ModelSummary) -> String {
    let Some(bytes) = summary.kv_cache_bytes_per_token else {
        return "unknown".to_owned();
    };
    let mut shown = group_digits(bytes);
    if let Some(kv_dtype) = summary.kv_cache_dtype.as_deref() {
        let kv_dtype = escape_control(kv_dtype);
        let basis = match summary.dtype.as_deref() {
            None => "the model does not state its dtype".to_owned(),
            Some(dtype) if escape_control(dtype) == kv_dtype => "the model's dtype".to_owned(),
            // Integer-quantized weights: activations, and so the cache, stay 16-bit.
            Some(dtype) => format!("16-bit beside {} weights", escape_control(dtype)),
        };
        let elements = summary
            .kv_cache_elements_per_token
            .map_or(String::new(), |elements| {
                format!("; {} elements", group_digits(elements))
            });
        shown.push_str(&format!(" ({kv_dtype}, {basis}{elements})"));
    }
    shown
}

fn text(value: Option<&str>) -> String {
    escape_control(value.unwrap_or("unknown")).into_owned()
}
