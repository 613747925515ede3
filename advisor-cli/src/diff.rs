//! `advisor diff BEFORE AFTER`: compare two runs (traces, or metrics/context JSON files):
//! step time against its noise, the breakdown, the kernels and operators that changed most.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
};

use advisor_compare::{Delta, DiffOptions, ItemDiff, Run, RunDiff, WorkItem, WorkKind};
use advisor_core::{AnalysisContext, ProfileOperation};
use advisor_report::{escape_control, escape_json_controls};

use clap::{Args, ValueEnum};

use crate::input_error;

#[derive(Args)]
pub(crate) struct DiffArgs {
    /// The run before the change: a torch.profiler trace (`.json`, `.json.gz`) or a metrics
    /// (analysis context) JSON file with `latency_metrics`.
    before: PathBuf,
    /// The run after the change, of either kind.
    after: PathBuf,
    /// Changed kernels and operators listed.
    #[arg(long, default_value_t = 15)]
    top: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Markdown)]
    format: DiffFormat,
}

/// Output format of `diff` and `verify`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DiffFormat {
    /// For people, in a terminal.
    Markdown,
    /// For machines.
    Json,
    /// A self-contained page.
    Html,
}

/// A measured run and the run configuration that came with it: a metrics file's
/// `current_config`, or the settings a trace shows ([`trace_settings`]).
pub(crate) struct Measured {
    pub(crate) run: Run,
    pub(crate) config: BTreeMap<String, String>,
}

/// Reads a run: a trace by its name (`.gz`) or content (`traceEvents`), otherwise an analysis
/// context whose latency gives the step statistics.
pub(crate) fn read_run(path: &Path) -> anyhow::Result<Measured> {
    let name = path.display().to_string();
    let is_gz = path.extension().is_some_and(|e| e == "gz");
    if !is_gz {
        let text = crate::input::read_text(path)?;
        if !text.contains("\"traceEvents\"") {
            let context = AnalysisContext::from_json_str(&text)
                .map_err(|e| input_error(format!("{name}: {e}")))?;
            let latency = context.latency_metrics.as_ref().ok_or_else(|| {
                input_error(format!(
                    "{name}: neither a trace (no traceEvents) nor metrics with latency_metrics"
                ))
            })?;
            let run = Run::from_latency(name.clone(), latency).ok_or_else(|| {
                input_error(format!(
                    "{name}: latency_metrics has no positive mean_ms, median_ms or p50_ms"
                ))
            })?;
            return Ok(Measured {
                run,
                config: context.current_config,
            });
        }
    }
    let summary = crate::trace::read(path)?;
    Ok(Measured {
        run: run_of_trace(&summary),
        config: trace_settings(&summary),
    })
}

/// The run settings a trace shows, as `current_config` keys: dynamic int8 operators
/// (`quantized::linear_dynamic`, `quantized::linear`), torch.compile, a fused attention
/// kernel, and the matmul precision from the GPU kernels' names. A setting the trace cannot
/// show is left out, never guessed.
fn trace_settings(summary: &advisor_trace::TraceSummary) -> BTreeMap<String, String> {
    let mut settings = BTreeMap::new();
    fn any_op(nodes: &[ProfileOperation], test: &dyn Fn(&str) -> bool) -> bool {
        nodes
            .iter()
            .any(|n| test(&n.name) || any_op(&n.children, test))
    }
    if any_op(&summary.operations, &|name| {
        name.starts_with("quantized::linear")
    }) {
        settings.insert("quantization".to_owned(), "int8".to_owned());
    }
    if let Some(run) = &summary.run {
        if run.compiled.is_some() {
            settings.insert("compile".to_owned(), "true".to_owned());
        }
        if !run.fused_attention.is_empty() {
            settings.insert("flash_attention".to_owned(), "true".to_owned());
        }
        if let Some(precision) = run.matmul_precision.and_then(|p| p.precision()) {
            settings.insert("precision".to_owned(), precision.as_str().to_owned());
        }
    }
    settings
}

/// The comparison's view of a trace: per-step times, the breakdown, kernels (top kernels and
/// the operator roofline's rows, which carry shapes) and CPU operators by self time.
fn run_of_trace(summary: &advisor_trace::TraceSummary) -> Run {
    let mut items: Vec<WorkItem> = summary
        .top_kernels
        .iter()
        .map(|k| WorkItem {
            kind: WorkKind::Kernel,
            name: k.name.clone(),
            shapes: None,
            count: k.count,
            time_us: k.total_us,
        })
        .collect();
    items.extend(summary.op_roofline.iter().map(|row| WorkItem {
        kind: WorkKind::Kernel,
        name: format!("{} (kernels)", row.op),
        shapes: Some(row.shapes.clone()),
        count: row.calls,
        time_us: row.kernel_time_us,
    }));
    let mut ops: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
    fn walk<'a>(ops: &mut BTreeMap<&'a str, (u64, f64)>, nodes: &'a [ProfileOperation]) {
        for node in nodes {
            let entry = ops.entry(node.name.as_str()).or_default();
            entry.0 += node.calls;
            entry.1 += node.self_ms * 1000.0;
            walk(ops, &node.children);
        }
    }
    walk(&mut ops, &summary.operations);
    items.extend(ops.into_iter().map(|(name, (count, time_us))| WorkItem {
        kind: WorkKind::CpuOp,
        name: name.to_owned(),
        shapes: None,
        count,
        time_us,
    }));
    Run {
        source: summary.source.clone(),
        step_times_us: summary.steps.iter().map(|s| s.duration_us).collect(),
        step_stats_us: None,
        breakdown: summary.breakdown.clone(),
        idle: summary.idle_breakdown.clone(),
        items,
        gpu_window_steps: (summary.steps.len() >= 2).then(|| summary.steps.len() as u64 - 1),
    }
}

pub(crate) fn run(args: DiffArgs) -> anyhow::Result<()> {
    let before = read_run(&args.before)?;
    let after = read_run(&args.after)?;
    let options = DiffOptions {
        top_items: args.top,
        ..DiffOptions::default()
    };
    let diff = advisor_compare::compare(&before.run, &after.run, &options);
    let text = match args.format {
        DiffFormat::Json => {
            escape_json_controls(&serde_json::to_string_pretty(&diff)?).into_owned() + "\n"
        }
        DiffFormat::Markdown => {
            return crate::term::print_markdown(&terminal(&render_markdown(&diff)))
                .map_err(Into::into);
        }
        DiffFormat::Html => page("advisor diff", &render_markdown(&diff)),
    };
    crate::listing::print(&text)
}

/// Text for a terminal: every line's controls escaped, the line breaks kept.
pub(crate) fn terminal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        out.push_str(&escape_control(line));
        out.push('\n');
    }
    out
}

/// A long name (C++ kernel signatures run to thousands of characters) cut for a table; the
/// JSON keeps it whole.
fn short(name: &str) -> String {
    const MAX_CHARS: usize = 90;
    if name.chars().count() <= MAX_CHARS {
        return name.to_owned();
    }
    let cut: String = name.chars().take(MAX_CHARS - 1).collect();
    format!("{cut}…")
}

fn ms(us: f64) -> String {
    format!("{:.3} ms", us / 1000.0)
}

fn pct(delta: &Delta) -> String {
    delta
        .change_pct
        .map_or_else(|| "new".to_owned(), |p| format!("{p:+.1} %"))
}

/// Markdown for people. Names from the inputs are escaped by the caller (terminal) or by
/// [`page`] (HTML); table cells have their pipes escaped here.
fn render_markdown(diff: &RunDiff) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Diff\n");
    let _ = writeln!(out, "- before: `{}`", cell(&diff.before_source));
    let _ = writeln!(out, "- after: `{}`", cell(&diff.after_source));
    let _ = writeln!(out, "\n**{}**\n", diff.verdict());
    if let Some(step) = &diff.step_time {
        let _ = writeln!(out, "## Step time\n");
        let _ = writeln!(out, "| | before | after | change |\n|---|---:|---:|---:|");
        let _ = writeln!(
            out,
            "| mean | {} | {} | {} |",
            ms(step.mean_us.before),
            ms(step.mean_us.after),
            pct(&step.mean_us)
        );
        let _ = writeln!(
            out,
            "| std dev (noise) | {} ({:.1} %) | {} ({:.1} %) | |",
            ms(step.before.std_dev),
            step.before.relative_noise() * 100.0,
            ms(step.after.std_dev),
            step.after.relative_noise() * 100.0
        );
        let _ = writeln!(
            out,
            "| steps | {} | {} | |",
            step.before.count, step.after.count
        );
        if let Some(test) = &step.test {
            let _ = writeln!(
                out,
                "\nWelch's t-test: t = {:.2}, df = {:.1}, p = {:.4}; 95 % CI of the change {} to {}.",
                test.t,
                test.degrees_of_freedom,
                test.p_value,
                ms(test.ci95_low),
                ms(test.ci95_high)
            );
        }
    }
    if let Some(b) = &diff.breakdown {
        let _ = writeln!(out, "\n## GPU time per step\n");
        let _ = writeln!(out, "| | before | after | change |\n|---|---:|---:|---:|");
        for (name, d) in [
            ("kernels", &b.kernel_us),
            ("compute", &b.compute_us),
            ("communication", &b.communication_us),
            ("memory", &b.memory_us),
            ("idle", &b.idle_us),
            ("idle: host wait (all streams)", &b.idle_host_wait_us),
            ("idle: kernel wait (all streams)", &b.idle_kernel_wait_us),
            ("idle: other (all streams)", &b.idle_other_us),
        ] {
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} |",
                ms(d.before),
                ms(d.after),
                pct(d)
            );
        }
    }
    for (title, items) in [
        ("Regressions", &diff.regressions),
        ("Changed most (per step)", &diff.changed),
        ("New", &diff.new),
        ("Vanished", &diff.vanished),
    ] {
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n## {title}\n");
        item_table(&mut out, items);
    }
    for note in &diff.notes {
        let _ = writeln!(out, "\nNote: {note}");
    }
    out
}

fn item_table(out: &mut String, items: &[ItemDiff]) {
    let _ = writeln!(
        out,
        "| kind | name | shapes | calls/step | before | after | change |\n|---|---|---|---:|---:|---:|---:|"
    );
    for item in items {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {:.1} → {:.1} | {} | {} | {}{} |",
            item.kind.as_str(),
            cell(&short(&item.name)),
            item.shapes
                .as_deref()
                .map(|s| cell(&short(s)))
                .unwrap_or_default(),
            item.calls_per_step.before,
            item.calls_per_step.after,
            ms(item.time_per_step_us.before),
            ms(item.time_per_step_us.after),
            pct(&item.time_per_step_us),
            if item.regression {
                " **regression**"
            } else {
                ""
            }
        );
    }
}

/// A table cell: pipes and backticks would break the Markdown table.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('`', "'")
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => {
                let _ = write!(out, "&#x{:x};", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// A self-contained page of the Markdown: headings, tables and paragraphs turned into HTML,
/// every piece of text escaped.
pub(crate) fn page(title: &str, markdown: &str) -> String {
    let mut body = String::new();
    let mut in_table = false;
    for line in markdown.lines() {
        let is_row = line.starts_with('|');
        if in_table && !is_row {
            body.push_str("</table>\n");
            in_table = false;
        }
        if is_row {
            let cells: Vec<String> = split_row(line);
            if cells
                .iter()
                .all(|c| c.chars().all(|ch| matches!(ch, '-' | ':')))
            {
                continue;
            }
            let tag = if in_table { "td" } else { "th" };
            if !in_table {
                body.push_str("<table>\n");
                in_table = true;
            }
            body.push_str("<tr>");
            for c in cells {
                let _ = write!(body, "<{tag}>{}</{tag}>", inline(&c));
            }
            body.push_str("</tr>\n");
        } else if let Some(h) = line.strip_prefix("## ") {
            let _ = writeln!(body, "<h2>{}</h2>", inline(h));
        } else if let Some(h) = line.strip_prefix("# ") {
            let _ = writeln!(body, "<h1>{}</h1>", inline(h));
        } else if let Some(item) = line.strip_prefix("- ") {
            let _ = writeln!(body, "<p>{}</p>", inline(item));
        } else if !line.trim().is_empty() {
            let _ = writeln!(body, "<p>{}</p>", inline(line));
        }
    }
    if in_table {
        body.push_str("</table>\n");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem}}\
         table{{border-collapse:collapse;margin:1rem 0}}td,th{{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}}\
         td:nth-child(2),th:nth-child(2){{text-align:left}}code{{font-size:.9em}}\
         @media (prefers-color-scheme:dark){{body{{background:#111;color:#ddd}}td,th{{border-color:#444}}}}</style>\
         </head><body>\n{body}</body></html>\n",
        html_escape(title)
    )
}

/// The cells of a Markdown table row (`\|` is a literal pipe).
fn split_row(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    let mut cells = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                if let Some(last) = cells.last_mut() {
                    last.push('|');
                }
            }
            '|' => cells.push(String::new()),
            c => {
                if let Some(last) = cells.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    cells.into_iter().map(|c| c.trim().to_owned()).collect()
}

/// Inline Markdown (`code`, **bold**) to HTML, the text escaped first.
fn inline(text: &str) -> String {
    let escaped = html_escape(text);
    let mut out = String::new();
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            for (j, bold) in part.split("**").enumerate() {
                if j % 2 == 1 {
                    let _ = write!(out, "<strong>{bold}</strong>");
                } else {
                    out.push_str(bold);
                }
            }
        }
    }
    out
}
