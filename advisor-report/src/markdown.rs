//! The Markdown renderer.

use std::fmt::Write;

use advisor_core::{Diagnostic, DiagnosticSeverity, OptimizationReport, OptimizationSuggestion};

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

fn header(out: &mut String, report: &OptimizationReport) {
    let inputs = &report.inputs;
    let mut model = inputs
        .model
        .clone()
        .unwrap_or_else(|| "not given".to_owned());
    let mut details = Vec::new();
    if let Some(parameters) = inputs.parameters {
        details.push(format!("{} parameters", group_digits(parameters)));
    }
    if let Some(architecture) = &inputs.architecture {
        details.push(architecture.clone());
    }
    if !details.is_empty() {
        let _ = write!(model, " ({})", details.join(", "));
    }
    let _ = writeln!(out, "- **Model:** {model}");
    let _ = writeln!(
        out,
        "- **Hardware:** {}",
        inputs.hardware.as_deref().unwrap_or("not given")
    );
    let config = if inputs.config.is_empty() {
        "not given".to_owned()
    } else {
        inputs
            .config
            .iter()
            .map(|(key, value)| format!("`{key}={value}`"))
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
            inputs.provided.join(", ")
        },
        inputs.rules_run.len()
    );
    out.push('\n');
}

fn summary(out: &mut String, report: &OptimizationReport) {
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
                metric.description
            );
        }
        let _ = writeln!(out, "\n_{}_\n", summary.method);
    }
}

fn render_suggestion(out: &mut String, number: usize, suggestion: &OptimizationSuggestion) {
    let _ = writeln!(
        out,
        "### {number}. {} [{}]\n",
        suggestion.title,
        suggestion.impact.as_str().to_uppercase()
    );
    let _ = writeln!(
        out,
        "`{}` · {} · impact {} · difficulty {}\n",
        suggestion.id,
        suggestion.category,
        suggestion.impact.as_str(),
        suggestion.difficulty.as_str()
    );
    if !suggestion.description.is_empty() {
        let _ = writeln!(out, "{}\n", suggestion.description);
    }
    if !suggestion.expected_improvement.is_empty() {
        out.push_str("**Expected improvement**\n\n");
        for improvement in &suggestion.expected_improvement {
            let _ = writeln!(out, "- {}: {}", improvement.describe(), improvement.basis);
        }
        out.push('\n');
    }
    list(out, "Evidence", &suggestion.evidence, "- ");
    if !suggestion.implementation_steps.is_empty() {
        out.push_str("**Steps**\n\n");
        for (index, step) in suggestion.implementation_steps.iter().enumerate() {
            let _ = writeln!(out, "{}. {step}", index + 1);
        }
        out.push('\n');
    }
    for example in &suggestion.code_examples {
        let _ = writeln!(
            out,
            "```{}\n{}\n```\n",
            example.language,
            example.code.trim_end()
        );
    }
    list(out, "Warnings", &suggestion.warnings, "- ⚠ ");
}

fn list(out: &mut String, heading: &str, items: &[String], bullet: &str) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "**{heading}**\n");
    for item in items {
        let _ = writeln!(out, "{bullet}{item}");
    }
    out.push('\n');
}

fn diagnostics(out: &mut String, diagnostics: &[Diagnostic]) {
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
                "- {severity} (`{}`): {}",
                diagnostic.source, diagnostic.message
            );
        }
        out.push('\n');
    }
    if !undecided.is_empty() {
        out.push_str("## Not checked for lack of facts\n\n");
        // Several rules often need the same fact: list each missing fact once, with its rules.
        let mut by_message: Vec<(&str, Vec<&str>)> = Vec::new();
        for diagnostic in undecided {
            match by_message
                .iter_mut()
                .find(|(message, _)| *message == diagnostic.message)
            {
                Some((_, sources)) => sources.push(&diagnostic.source),
                None => by_message.push((&diagnostic.message, vec![&diagnostic.source])),
            }
        }
        for (message, sources) in by_message {
            let rules: Vec<String> = sources.iter().map(|s| format!("`{s}`")).collect();
            let _ = writeln!(out, "- {}: {message}", rules.join(", "));
        }
        out.push('\n');
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
    use advisor_core::{Diagnostic, DiagnosticSeverity, InputSummary, OptimizationReport};

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
    fn groups_digits() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(124_439_808), "124,439,808");
    }
}
