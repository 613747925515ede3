//! The Markdown renderer. Every string of the report goes through `crate::text`: values from
//! the inputs (the model name, config keys and values, file names in diagnostics) are text,
//! and prose the rules wrote keeps only its code spans, so nothing an input says can make a
//! heading, a list, a link, an image or HTML.

use std::fmt::Write;

use advisor_core::{
    Diagnostic, DiagnosticSeverity, Missing, OptimizationReport, OptimizationSuggestion,
};

use crate::text::{Place, markdown_code, markdown_prose, markdown_text, push_code_block};

/// Input text within a line.
fn text(value: &str) -> String {
    markdown_text(value, Place::Inline)
}

/// Prose that begins a paragraph or list item.
fn prose(value: &str) -> String {
    markdown_prose(value, Place::Block)
}

/// Prose within a line.
fn inline_prose(value: &str) -> String {
    markdown_prose(value, Place::Inline)
}

/// A code span.
fn code(value: &str) -> String {
    markdown_code(value, Place::Inline)
}

pub(crate) fn render(report: &OptimizationReport) -> String {
    let mut out = String::new();
    out.push_str("# Optimization report\n\n");
    header(&mut out, report);
    summary(&mut out, report);
    if !report.suggestions.is_empty() {
        out.push_str("## Suggestions\n\n");
        for (index, suggestion) in report.suggestions.iter().enumerate() {
            render_suggestion(&mut out, index + 1, suggestion);
        }
    }
    diagnostics(&mut out, &report.diagnostics);
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

pub(crate) fn header(out: &mut String, report: &OptimizationReport) {
    let inputs = &report.inputs;
    let mut model = inputs
        .model
        .as_deref()
        .map_or_else(|| "not given".to_owned(), text);
    let mut details = Vec::new();
    if let Some(parameters) = inputs.parameters {
        details.push(format!("{} parameters", group_digits(parameters)));
    }
    if let Some(architecture) = &inputs.architecture {
        details.push(text(architecture));
    }
    if !details.is_empty() {
        let _ = write!(model, " ({})", details.join(", "));
    }
    let _ = writeln!(out, "- **Model:** {model}");
    let _ = writeln!(
        out,
        "- **Hardware:** {}",
        inputs
            .hardware
            .as_deref()
            .map_or_else(|| "not given".to_owned(), text)
    );
    let config = if inputs.config.is_empty() {
        "not given".to_owned()
    } else {
        inputs
            .config
            .iter()
            .map(|(key, value)| code(&format!("{key}={value}")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "- **Run configuration:** {config}");
    let _ = writeln!(
        out,
        "- **Inputs:** {}; {} rules ran",
        if inputs.provided.is_empty() {
            "none".to_owned()
        } else {
            inputs
                .provided
                .iter()
                .map(|section| text(section))
                .collect::<Vec<_>>()
                .join(", ")
        },
        inputs.rules_run.len()
    );
    // The model's own sentences, not input text: only the figures in them vary.
    for note in &report.model_notes {
        let _ = writeln!(out, "- **Performance model:** {}", text(note));
    }
    out.push('\n');
}

pub(crate) fn summary(out: &mut String, report: &OptimizationReport) {
    let summary = &report.summary;
    out.push_str("## Summary\n\n");
    if summary.suggestion_count == 0 {
        out.push_str("No suggestions: no rule found anything to change with the facts given.\n\n");
        return;
    }
    let counts: Vec<String> = ["critical", "high", "medium", "low"]
        .iter()
        .filter_map(|impact| {
            summary
                .by_impact
                .get(*impact)
                .map(|n| format!("{n} {impact}"))
        })
        .collect();
    let _ = writeln!(
        out,
        "{} suggestion{}: {}.\n",
        summary.suggestion_count,
        if summary.suggestion_count == 1 {
            ""
        } else {
            "s"
        },
        counts.join(", ")
    );
    if !summary.combined.is_empty() {
        out.push_str("| Metric | Suggestions | Combined expected improvement |\n|---|---:|---|\n");
        for metric in &summary.combined {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                metric.metric.as_str(),
                metric.suggestions,
                markdown_prose(&metric.description, Place::Cell)
            );
        }
        // A metric the plan makes worse in some scenario is a trade, said in words.
        let worse: Vec<&str> = summary
            .combined
            .iter()
            .filter(|m| m.min_reduction < 0.0)
            .map(|m| m.metric.as_str())
            .collect();
        let better: Vec<&str> = summary
            .combined
            .iter()
            .filter(|m| m.min_reduction >= 0.0 && m.max_reduction > 0.0)
            .map(|m| m.metric.as_str())
            .collect();
        if !worse.is_empty() {
            let _ = writeln!(
                out,
                "\n**Trade-off:** the combined plan makes {} worse in at least one scenario{}. Apply its changes one \
                 at a time and keep those whose trade suits your target (a larger batch, for one, lengthens each \
                 request to raise throughput).",
                worse.join(", "),
                if better.is_empty() {
                    String::new()
                } else {
                    format!(", in exchange for {}", better.join(", "))
                }
            );
        }
        let _ = writeln!(out, "\n_{}_\n", inline_prose(&summary.method));
    }
}

fn render_suggestion(out: &mut String, number: usize, suggestion: &OptimizationSuggestion) {
    let _ = writeln!(
        out,
        "### {number}. {} [{}]\n",
        suggestion_title(suggestion),
        suggestion.impact.as_str().to_uppercase()
    );
    suggestion_body(out, suggestion);
}

/// A suggestion's title as inline Markdown.
fn suggestion_title(suggestion: &OptimizationSuggestion) -> String {
    inline_prose(&suggestion.title)
}

/// Everything of a suggestion below its heading.
pub(crate) fn suggestion_body(out: &mut String, suggestion: &OptimizationSuggestion) {
    let _ = writeln!(
        out,
        "{} · {} · impact {} · difficulty {}\n",
        code(&suggestion.id),
        suggestion.category,
        suggestion.impact.as_str(),
        suggestion.difficulty.as_str()
    );
    if !suggestion.description.is_empty() {
        let _ = writeln!(out, "{}\n", prose(&suggestion.description));
    }
    if !suggestion.expected_improvement.is_empty() {
        out.push_str("**Expected improvement**\n\n");
        for improvement in &suggestion.expected_improvement {
            let _ = writeln!(
                out,
                "- {}: {}",
                prose(&improvement.describe()),
                inline_prose(&improvement.basis)
            );
        }
        out.push('\n');
    }
    list(out, "Evidence", &suggestion.evidence, "- ");
    if !suggestion.implementation_steps.is_empty() {
        out.push_str("**Steps**\n\n");
        for (index, step) in suggestion.implementation_steps.iter().enumerate() {
            let _ = writeln!(out, "{}. {}", index + 1, prose(step));
        }
        out.push('\n');
    }
    for example in &suggestion.code_examples {
        push_code_block(out, &example.language, &example.code);
    }
    list(out, "Warnings", &suggestion.warnings, "- ⚠ ");
}

fn list(out: &mut String, heading: &str, items: &[String], bullet: &str) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "**{heading}**\n");
    for item in items {
        let _ = writeln!(out, "{bullet}{}", prose(item));
    }
    out.push('\n');
}

pub(crate) fn diagnostics(out: &mut String, diagnostics: &[Diagnostic]) {
    let problems: Vec<&Diagnostic> = diagnostics
        .iter()
        .filter(|d| d.severity != DiagnosticSeverity::Info)
        .collect();
    let undecided: Vec<&Diagnostic> = diagnostics
        .iter()
        .filter(|d| d.severity == DiagnosticSeverity::Info)
        .collect();
    if !problems.is_empty() {
        out.push_str("## Problems\n\n");
        for diagnostic in problems {
            let severity = match diagnostic.severity {
                DiagnosticSeverity::Error => "error",
                _ => "warning",
            };
            let _ = writeln!(
                out,
                "- {severity} ({}): {}",
                code(&diagnostic.source),
                inline_prose(&diagnostic.message)
            );
        }
        out.push('\n');
    }
    if !undecided.is_empty() {
        out.push_str("## Not checked for lack of facts\n\n");
        undecided_lines(out, &undecided);
        out.push('\n');
    }
}

/// Several rules often need the same fact: each missing fact once, with the flag that supplies
/// it and every rule that needed it. Diagnostics without typed facts (a plugin's prose) are
/// grouped by their message instead.
fn undecided_lines(out: &mut String, undecided: &[&Diagnostic]) {
    let mut by_fact: Vec<(&Missing, Vec<&str>)> = Vec::new();
    let mut by_message: Vec<(&str, Vec<&str>)> = Vec::new();
    for diagnostic in undecided {
        if diagnostic.missing.is_empty() {
            push_source(&mut by_message, &diagnostic.message, &diagnostic.source);
        }
        for missing in &diagnostic.missing {
            push_source(&mut by_fact, missing, &diagnostic.source);
        }
    }
    let rules = |sources: &[&str]| {
        sources
            .iter()
            .map(|source| code(source))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (missing, sources) in by_fact {
        // A context path reads best as code; a few fields are a sentence with code inside.
        let field = match missing {
            Missing::Device | Missing::GpuFigures(_) => prose(&missing.field()),
            _ => code(&missing.field()),
        };
        let _ = writeln!(
            out,
            "- {field} ({}): {}",
            inline_prose(&missing.flag()),
            rules(&sources)
        );
    }
    for (message, sources) in by_message {
        let _ = writeln!(out, "- {}: {}", rules(&sources), inline_prose(message));
    }
}

/// Adds `source` to the group of `key`, in first-seen order, each source once.
fn push_source<'a, K: PartialEq + ?Sized>(
    groups: &mut Vec<(&'a K, Vec<&'a str>)>,
    key: &'a K,
    source: &'a str,
) {
    match groups.iter_mut().find(|(existing, _)| *existing == key) {
        Some((_, sources)) if sources.contains(&source) => {}
        Some((_, sources)) => sources.push(source),
        None => groups.push((key, vec![source])),
    }
}

/// `124439808` → `124,439,808`.
pub fn group_digits(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, ch) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use advisor_core::{Diagnostic, DiagnosticSeverity, InputSummary, Missing, OptimizationReport};

    use super::group_digits;

    #[test]
    fn missing_facts_are_listed_once_with_their_rules() {
        let info = |source: &str, message: &str| {
            Diagnostic::new(
                DiagnosticSeverity::Info,
                source.to_owned(),
                message.to_owned(),
            )
        };
        let report = OptimizationReport::new(
            InputSummary::default(),
            Vec::new(),
            vec![
                info("a", "could not decide: needs x"),
                info("b", "could not decide: needs y"),
                info("c", "could not decide: needs x"),
            ],
        );
        let markdown = super::render(&report);
        assert!(
            markdown.contains("- `a`, `c`: could not decide: needs x\n"),
            "{markdown}"
        );
        assert!(
            markdown.contains("- `b`: could not decide: needs y"),
            "{markdown}"
        );
    }

    #[test]
    fn typed_missing_facts_are_listed_once_with_their_flag_and_rules() {
        let needs = |source: &str, missing: Vec<Missing>| {
            let mut diagnostic = Diagnostic::new(
                DiagnosticSeverity::Info,
                source.to_owned(),
                "could not decide: needs ...".to_owned(),
            );
            diagnostic.missing = missing;
            diagnostic
        };
        let report = OptimizationReport::new(
            InputSummary::default(),
            Vec::new(),
            vec![
                needs("gpu_idle", vec![Missing::Trace]),
                needs("host_sync", vec![Missing::Trace]),
                needs(
                    "kv_cache",
                    vec![Missing::Config("mode".to_owned()), Missing::Trace],
                ),
                Diagnostic::new(
                    DiagnosticSeverity::Info,
                    "plugin_rule".to_owned(),
                    "could not decide: needs a tokenizer".to_owned(),
                ),
            ],
        );
        let markdown = super::render(&report);
        let section = markdown
            .split_once("## Not checked for lack of facts\n\n")
            .map(|(_, section)| section)
            .unwrap_or_default();
        assert_eq!(
            section,
            "- `profile_results.trace` (--trace FILE): `gpu_idle`, `host_sync`, `kv_cache`\n\
             - `current_config.mode` (--set mode=VALUE): `kv_cache`\n\
             - `plugin_rule`: could not decide: needs a tokenizer\n",
        );
    }

    #[test]
    fn groups_digits() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(124_439_808), "124,439,808");
    }
}
