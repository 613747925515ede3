//! `advisor verify REPORT.json --after TRACE|METRICS`: the predicted range of each applied
//! suggestion next to the change that was measured.

use std::{collections::BTreeMap, fmt::Write as _, path::PathBuf};

use advisor_compare::{AppliedBy, Run, Side, Verification};
use advisor_report::escape_json_controls;
use clap::Args;

use crate::{
    diff::{DiffFormat, page, read_run, terminal},
    input_error,
};

#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// A report the advisor wrote before the change (`advisor analyze ... --format json`).
    report: PathBuf,
    /// The run after the change: a trace or a metrics (analysis context) JSON file.
    #[arg(long, value_name = "TRACE|METRICS")]
    after: PathBuf,
    /// The run before the change, when the report holds no trace overview (a report made
    /// from metrics); default: the report's trace.
    #[arg(long, value_name = "TRACE|METRICS")]
    before: Option<PathBuf>,
    /// The suggestions applied, by id or rule id; default: those whose settings the after
    /// run changed, as its metrics file's `current_config` states them or its trace shows
    /// them (int8 operators, torch.compile, fused attention, matmul precision).
    #[arg(long, value_name = "ID", num_args = 1..)]
    applied: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Markdown)]
    format: DiffFormat,
}

pub(crate) fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let name = args.report.display().to_string();
    let text = crate::input::read_text(&args.report)?;
    let report = advisor_report::from_json(&text).map_err(|e| {
        input_error(format!(
            "{name}: not a report from `advisor analyze --format json`: {e}"
        ))
    })?;
    let after = read_run(&args.after)?;
    let (before_run, before_config) = match &args.before {
        Some(path) => {
            let measured = read_run(path)?;
            // The report's configuration is what the predictions assumed; a before file's
            // own settings fill the keys the report does not state.
            let mut config = measured.config;
            config.extend(report.inputs.config.clone());
            (measured.run, config)
        }
        None => {
            let overview = report.trace.as_ref().ok_or_else(|| {
                input_error(format!(
                    "{name}: the report holds no trace, so the run before the change is \
                     unknown: pass --before TRACE|METRICS"
                ))
            })?;
            (
                Run::from_trace_overview(overview),
                report.inputs.config.clone(),
            )
        }
    };
    // Keys the after run does not state are taken as unchanged.
    let mut after_config: BTreeMap<String, String> = before_config.clone();
    after_config.extend(after.config);
    let verification = advisor_compare::verify(
        &report,
        Side {
            run: &before_run,
            config: &before_config,
        },
        Side {
            run: &after.run,
            config: &after_config,
        },
        &args.applied,
    );
    if !verification.unknown_applied.is_empty() {
        return Err(input_error(format!(
            "{name}: no suggestion with id or rule {} in the report (it has: {})",
            verification.unknown_applied.join(", "),
            report
                .suggestions
                .iter()
                .map(|s| s.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let text = match args.format {
        DiffFormat::Json => {
            escape_json_controls(&serde_json::to_string_pretty(&verification)?).into_owned() + "\n"
        }
        DiffFormat::Markdown => {
            return crate::term::print_markdown(&terminal(&render_markdown(&verification)))
                .map_err(Into::into);
        }
        DiffFormat::Html => page("advisor verify", &render_markdown(&verification)),
    };
    crate::listing::print(&text)
}

fn percent(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

fn render_markdown(v: &Verification) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Verify\n");
    let _ = writeln!(out, "- before: `{}`", v.before_source.replace('`', "'"));
    let _ = writeln!(out, "- after: `{}`", v.after_source.replace('`', "'"));
    if v.checks.is_empty() {
        let _ = writeln!(
            out,
            "\nNo suggestion of the report was applied: the after run's configuration changes \
             none of their settings. Name them with `--applied ID`."
        );
        return out;
    }
    let _ = writeln!(
        out,
        "\n| suggestion | applied (how) | metric | predicted reduction | measured | 95 % CI | inside | off by |\n|---|---|---|---:|---:|---:|---|---:|"
    );
    for c in &v.checks {
        let how = match &c.applied_by {
            AppliedBy::Named => "named".to_owned(),
            AppliedBy::Config(keys) => format!("changed: {}", keys.join(", ")),
        };
        let measured = c.measured.map(percent).unwrap_or_else(|| "—".to_owned());
        let ci = c
            .measured_ci95
            .map(|(lo, hi)| format!("{} to {}", percent(lo), percent(hi)))
            .unwrap_or_default();
        let inside = match c.inside {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        let off = match (c.off_by, c.relative_error) {
            (Some(off), Some(rel)) if off != 0.0 => {
                format!("{:+.1} pts ({:+.0} %)", off * 100.0, rel * 100.0)
            }
            (Some(_), _) => "0".to_owned(),
            _ => c.note.clone().unwrap_or_default(),
        };
        let _ = writeln!(
            out,
            "| `{}` | {how} | {} | {}–{} | {measured} | {ci} | {inside} | {off} |",
            c.suggestion.replace('|', "\\|"),
            c.metric.as_str(),
            percent(c.predicted_min),
            percent(c.predicted_max),
        );
    }
    let mut differently: Vec<(&str, &str)> = v
        .checks
        .iter()
        .flat_map(|c| {
            c.applied_differently
                .iter()
                .map(|d| (c.suggestion.as_str(), d.as_str()))
        })
        .collect();
    differently.dedup();
    for (suggestion, what) in differently {
        let _ = writeln!(
            out,
            "\n**`{}` was applied with another value** ({what}): its prediction is for the suggested value.",
            suggestion.replace('`', "'")
        );
    }
    let _ = writeln!(
        out,
        "\nA reduction is 1 − after / before: latency from the mean step or request time, \
         throughput from the time per sample (divided by the batch size)."
    );
    out
}
