//! The HTML renderer: one self-contained page (inline CSS and SVG, no script, no font, no
//! link outside the page) with a contents list, the report's text, and charts: the model's
//! predicted time and memory before and after each suggestion and the combined plan, and,
//! when a trace was read, its GPU time per step, idle time by cause and its longest kernels
//! and CPU operators.
//!
//! Text goes through the Markdown renderer (which keeps input text text) and then a CommonMark
//! renderer that holds even if some did get through: raw HTML becomes text, and so does every
//! link and image, since the report's prose puts none there itself (a `javascript:` link or a
//! remote image could only come from an input). Input text the page writes directly (names
//! in tables, titles) is escaped by [`escape`]; chart labels are escaped by plotters.

use std::fmt::Write;

use advisor_core::{
    DiagnosticSeverity, GpuTimeBreakdown, ModelFigures, ModelProjections, OptimizationReport,
    OptimizationSuggestion, SecondsRange, TimedName, TraceOverview,
};
use pulldown_cmark::{CowStr, Event, LinkType, Options, Parser, Tag, TagEnd, html};

use crate::{
    charts::{
        BarChart, Marker, RooflineChart, RooflinePoint, RooflineRoof, Row, Series, hex, label,
        palette,
    },
    markdown,
    text::{Place, escape_control, markdown_code, markdown_prose},
};

const STYLE: &str = "\
:root{color-scheme:light dark;--fg:#1f2328;--muted:#59636e;--bg:#ffffff;--panel:#f6f8fa;--border:#d0d7de;\
--critical:#cf222e;--high:#bc4c00;--medium:#9a6700;--low:#0969da;--error:#cf222e;--warning:#9a6700;--axis:#6e7781}\
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--panel:#161b22;--border:#3d444d;\
--critical:#ff7b72;--high:#ffa657;--medium:#d29922;--low:#58a6ff;--error:#ff7b72;--warning:#d29922;--axis:#9198a1}}\
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:var(--fg);background:var(--bg)}\
h1{border-bottom:1px solid var(--border);padding-bottom:.3rem}h2{margin-top:2.4rem;border-bottom:1px solid var(--border)}h3{margin-top:0}\
a{color:var(--low)}table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid var(--border);padding:.25rem .6rem;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}\
pre{background:var(--panel);padding:.8rem;overflow-x:auto;border-radius:6px}code{font-family:ui-monospace,monospace;font-size:.9em;overflow-wrap:anywhere}\
em{color:var(--muted)}nav.contents{background:var(--panel);border:1px solid var(--border);border-radius:6px;padding:.5rem 1.2rem}nav.contents ol{margin:.3rem 0}\
.badge{display:inline-block;font-size:.75rem;font-weight:600;text-transform:uppercase;letter-spacing:.03em;padding:0 .45rem;border-radius:1rem;border:1px solid currentColor;vertical-align:middle}\
.impact-critical{--sev:var(--critical)}.impact-high{--sev:var(--high)}.impact-medium{--sev:var(--medium)}.impact-low{--sev:var(--low)}\
.severity-error{--sev:var(--error)}.severity-warning{--sev:var(--warning)}.badge{color:var(--sev,var(--muted))}\
article.suggestion{border-left:4px solid var(--sev,var(--border));padding:.6rem 0 .6rem 1rem;margin:1.6rem 0}\
li.diagnostic{border-left:3px solid var(--sev,var(--border));padding-left:.5rem;margin:.3rem 0;list-style:none}li.diagnostic p{display:inline;margin:0}\
figure.chart{margin:1rem 0}figure.chart figcaption{font-weight:600}figure.chart svg{max-width:100%;height:auto;display:block}\
figure.chart svg text{fill:var(--fg)}figure.chart svg [stroke=\"#6E7781\"]{stroke:var(--axis)}\
ul.legend{list-style:none;padding:0;margin:.2rem 0;display:flex;flex-wrap:wrap;gap:.3rem 1.2rem;font-size:.85rem}\
.swatch{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.35rem;vertical-align:-.05rem}.swatch.line{height:.2rem;vertical-align:.2rem}\
p.chart-error{color:var(--error)}";

/// The page.
pub(crate) fn render(report: &OptimizationReport) -> String {
    let mut body = String::new();
    body.push_str("<header>\n<h1>Optimization report</h1>\n");
    let mut header = String::new();
    markdown::header(&mut header, report);
    body.push_str(&fragment(&header));
    body.push_str("</header>\n");
    contents(&mut body, report);

    body.push_str("<section id=\"summary\">\n");
    let mut summary = String::new();
    markdown::summary(&mut summary, report);
    body.push_str(&fragment(&summary));
    if let Some(projections) = &report.projections
        && (!projections.suggestions.is_empty() || projections.plan.is_some())
    {
        time_chart(
            &mut body,
            "chart-plan-time",
            &format!(
                "Predicted time of {} before and after each suggestion and the combined plan",
                projections.unit
            ),
            &runs(report, projections),
        );
    }
    body.push_str("</section>\n");

    if let Some(trace) = &report.trace {
        trace_section(&mut body, trace);
    }
    if let Some(projections) = &report.projections {
        body.push_str("<section id=\"memory\">\n<h2>Memory</h2>\n");
        let _ = writeln!(
            body,
            "<p>Peak memory by part, as the performance model predicts it for the run as configured and after each change{}.</p>",
            match projections.capacity_bytes {
                Some(capacity) => format!(
                    ", against the device's {} (the red line) and the {} a run may plan to use (the orange line)",
                    gib_text(capacity as f64),
                    projections.usable_bytes.map_or_else(String::new, gib_text)
                ),
                None => String::new(),
            }
        );
        memory_chart(
            &mut body,
            "chart-memory",
            "Peak memory by part before and after each change",
            projections,
            &runs(report, projections),
        );
        body.push_str("</section>\n");
    }

    if !report.suggestions.is_empty() {
        body.push_str("<section id=\"suggestions\">\n<h2>Suggestions</h2>\n");
        for (index, suggestion) in report.suggestions.iter().enumerate() {
            suggestion_article(&mut body, index + 1, suggestion, report);
        }
        body.push_str("</section>\n");
    }
    diagnostics(&mut body, report);

    let title = match &report.inputs.model {
        Some(model) => format!("Optimization report: {}", escape(model)),
        None => "Optimization report".to_owned(),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"color-scheme\" content=\"light dark\">\n<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
}

/// The contents list: the sections present, each suggestion with its impact.
fn contents(out: &mut String, report: &OptimizationReport) {
    out.push_str("<nav class=\"contents\" aria-label=\"Contents\">\n<strong>Contents</strong>\n<ol>\n<li><a href=\"#summary\">Summary</a></li>\n");
    if report.trace.is_some() {
        out.push_str("<li><a href=\"#trace\">Trace overview</a></li>\n");
    }
    if report.projections.is_some() {
        out.push_str("<li><a href=\"#memory\">Memory</a></li>\n");
    }
    if !report.suggestions.is_empty() {
        out.push_str("<li><a href=\"#suggestions\">Suggestions</a>\n<ol>\n");
        for (index, suggestion) in report.suggestions.iter().enumerate() {
            let impact = suggestion.impact.as_str();
            let _ = writeln!(
                out,
                "<li class=\"impact-{impact}\"><a href=\"#suggestion-{}\">{}</a> <span class=\"badge\">{impact}</span></li>",
                index + 1,
                inline_fragment(&markdown_prose(&suggestion.title, Place::Block)),
            );
        }
        out.push_str("</ol>\n</li>\n");
    }
    if !report.diagnostics.is_empty() {
        out.push_str("<li><a href=\"#diagnostics\">Problems and checks not made</a></li>\n");
    }
    out.push_str("</ol>\n</nav>\n");
}

/// The runs the model predicts: as configured, after each suggestion alone, the plan.
fn runs<'a>(
    report: &OptimizationReport,
    projections: &'a ModelProjections,
) -> Vec<(String, &'a ModelFigures)> {
    let mut runs = vec![("as configured".to_owned(), &projections.before)];
    // In report order, by the suggestion's number in the page.
    for (index, suggestion) in report.suggestions.iter().enumerate() {
        if let Some(after) = projections.after(&suggestion.id) {
            runs.push((format!("{}. {}", index + 1, label(&suggestion.id)), after));
        }
    }
    if let Some(plan) = &projections.plan {
        runs.push(("combined plan".to_owned(), plan));
    }
    runs
}

fn suggestion_article(
    out: &mut String,
    number: usize,
    suggestion: &OptimizationSuggestion,
    report: &OptimizationReport,
) {
    let impact = suggestion.impact.as_str();
    let _ = writeln!(
        out,
        "<article class=\"suggestion impact-{impact}\" id=\"suggestion-{number}\">\n<h3>{number}. {} <span class=\"badge\">{impact}</span></h3>",
        inline_fragment(&markdown_prose(&suggestion.title, Place::Block)),
    );
    let mut body = String::new();
    markdown::suggestion_body(&mut body, suggestion);
    out.push_str(&fragment(&body));
    if let Some(projections) = &report.projections
        && let Some(after) = projections.after(&suggestion.id)
    {
        let runs = vec![
            ("as configured".to_owned(), &projections.before),
            ("with this change".to_owned(), after),
        ];
        time_chart(
            out,
            &format!("chart-suggestion-{number}-time"),
            &format!("Predicted time of {}", projections.unit),
            &runs,
        );
        memory_chart(
            out,
            &format!("chart-suggestion-{number}-memory"),
            "Predicted peak memory",
            projections,
            &runs,
        );
    }
    out.push_str("</article>\n");
}

fn diagnostics(out: &mut String, report: &OptimizationReport) {
    if report.diagnostics.is_empty() {
        return;
    }
    out.push_str("<section id=\"diagnostics\">\n");
    let problems: Vec<_> = report
        .diagnostics
        .iter()
        .filter(|d| d.severity != DiagnosticSeverity::Info)
        .collect();
    if !problems.is_empty() {
        out.push_str("<h2>Problems</h2>\n<ul>\n");
        for diagnostic in problems {
            let severity = match diagnostic.severity {
                DiagnosticSeverity::Error => "error",
                _ => "warning",
            };
            let _ = writeln!(
                out,
                "<li class=\"diagnostic severity-{severity}\"><span class=\"badge\">{severity}</span> {}: {}</li>",
                inline_fragment(&markdown_code(&diagnostic.source, Place::Inline)),
                inline_fragment(&markdown_prose(&diagnostic.message, Place::Block)),
            );
        }
        out.push_str("</ul>\n");
    }
    let undecided: Vec<_> = report
        .diagnostics
        .iter()
        .filter(|d| d.severity == DiagnosticSeverity::Info)
        .cloned()
        .collect();
    let mut text = String::new();
    markdown::diagnostics(&mut text, &undecided);
    out.push_str(&fragment(&text));
    out.push_str("</section>\n");
}

fn trace_section(out: &mut String, trace: &TraceOverview) {
    out.push_str("<section id=\"trace\">\n<h2>Trace overview</h2>\n");
    // Each device name once, with how many the trace lists (`8 × Tesla V100-SXM2-32GB`).
    let mut names: Vec<(&str, usize)> = Vec::new();
    for name in trace.devices.iter().filter_map(|d| d.name.as_deref()) {
        match names.iter_mut().find(|(seen, _)| *seen == name) {
            Some((_, count)) => *count += 1,
            None => names.push((name, 1)),
        }
    }
    let devices: Vec<String> = names
        .iter()
        .map(|(name, count)| match count {
            1 => format!("<code>{}</code>", escape(name)),
            _ => format!("{count} × <code>{}</code>", escape(name)),
        })
        .collect();
    let _ = write!(
        out,
        "<p>From <code>{}</code>: {} profiler step{}",
        escape(&trace.source),
        trace.steps.len(),
        if trace.steps.len() == 1 { "" } else { "s" }
    );
    if !devices.is_empty() {
        let _ = write!(out, " on {}", devices.join(", "));
    }
    out.push('.');
    if let Some(window) = &trace.gpu_breakdown {
        let _ = write!(
            out,
            " Over the analyzed window ({} of GPU span): compute {:.1} %, exposed communication {:.1} %, memory copies {:.1} %, idle {:.1} % (Holistic Trace Analysis's temporal breakdown).",
            ms_text(window.kernel_time_us / 1e3),
            window.compute_pct,
            window.communication_pct,
            window.memory_pct,
            window.idle_pct
        );
    }
    out.push_str("</p>\n");

    let breakdown_series = [
        Series {
            name: "compute",
            color: palette::BLUE,
        },
        Series {
            name: "exposed communication",
            color: palette::PURPLE,
        },
        Series {
            name: "memory copies",
            color: palette::ORANGE,
        },
        Series {
            name: "idle",
            color: palette::GREY,
        },
    ];
    let breakdown_values = |b: &GpuTimeBreakdown| {
        vec![
            b.compute_us / 1e3,
            b.communication_us / 1e3,
            b.memory_us / 1e3,
            b.idle_us / 1e3,
        ]
    };
    let mut step_rows: Vec<Row> = trace
        .steps
        .iter()
        .filter_map(|step| {
            let breakdown = step.gpu_breakdown.as_ref()?;
            Some(Row {
                label: format!("step {}", step.step),
                values: breakdown_values(breakdown),
                note: None,
            })
        })
        .collect();
    if step_rows.is_empty()
        && let Some(window) = &trace.gpu_breakdown
    {
        step_rows.push(Row {
            label: "whole trace".to_owned(),
            values: breakdown_values(window),
            note: None,
        });
    }
    if !step_rows.is_empty() {
        chart(
            out,
            "chart-trace-steps",
            "GPU time per profiler step, by what the GPU did",
            &BarChart {
                unit: "ms",
                series: breakdown_series.to_vec(),
                rows: step_rows,
                markers: Vec::new(),
                total_label: |ms| ms_text(ms),
            },
        );
    }

    let idle_rows: Vec<Row> = trace
        .idle_breakdown
        .iter()
        .filter(|stream| stream.host_wait_us + stream.kernel_wait_us + stream.other_us > 0.0)
        .map(|stream| Row {
            label: format!("stream {}", stream.stream),
            values: vec![
                stream.host_wait_us / 1e3,
                stream.kernel_wait_us / 1e3,
                stream.other_us / 1e3,
            ],
            note: None,
        })
        .collect();
    if !idle_rows.is_empty() {
        chart(
            out,
            "chart-trace-idle",
            "GPU idle time per stream, by cause",
            &BarChart {
                unit: "ms",
                series: vec![
                    Series {
                        name: "host wait (the GPU waited for the CPU to launch)",
                        color: palette::VERMILION,
                    },
                    Series {
                        name: "kernel wait (gaps under 30 µs between launched kernels)",
                        color: palette::YELLOW,
                    },
                    Series {
                        name: "other (another stream, an event, a collective)",
                        color: palette::SKY,
                    },
                ],
                rows: idle_rows,
                markers: Vec::new(),
                total_label: |ms| ms_text(ms),
            },
        );
    }

    if !trace.top_kernels.is_empty() {
        let kinds = ["computation", "communication", "memory"];
        let rows = trace
            .top_kernels
            .iter()
            .map(|kernel| Row {
                label: label(&kernel.name),
                values: kinds
                    .iter()
                    .map(|kind| {
                        let same = kernel.kind.as_deref().unwrap_or("computation") == *kind;
                        if same { kernel.time_us / 1e3 } else { 0.0 }
                    })
                    .collect(),
                note: None,
            })
            .collect();
        chart(
            out,
            "chart-trace-kernels",
            "Kernels with the most GPU time",
            &BarChart {
                unit: "ms",
                series: vec![
                    Series {
                        name: "computation",
                        color: palette::BLUE,
                    },
                    Series {
                        name: "communication",
                        color: palette::PURPLE,
                    },
                    Series {
                        name: "memory",
                        color: palette::ORANGE,
                    },
                ],
                rows,
                markers: Vec::new(),
                total_label: |ms| ms_text(ms),
            },
        );
        names_table(out, "Kernel", "Launches", "GPU time", &trace.top_kernels);
    }
    if !trace.top_cpu_ops.is_empty() {
        let rows = trace
            .top_cpu_ops
            .iter()
            .map(|op| Row {
                label: label(&op.name),
                values: vec![op.time_us / 1e3],
                note: None,
            })
            .collect();
        chart(
            out,
            "chart-trace-ops",
            "CPU operators with the most self time",
            &BarChart {
                unit: "ms",
                series: vec![Series {
                    name: "self time",
                    color: palette::GREEN,
                }],
                rows,
                markers: Vec::new(),
                total_label: |ms| ms_text(ms),
            },
        );
        names_table(out, "Operator", "Calls", "Self time", &trace.top_cpu_ops);
    }
    if !trace.op_roofline.is_empty() {
        roofline(out, trace);
    }
    out.push_str("</section>\n");
}

/// Colour of an element width on the roofline: its roof and its operators.
fn width_color(bits: u32) -> plotters::style::RGBColor {
    match bits {
        8 => palette::GREEN,
        16 => palette::BLUE,
        32 => palette::VERMILION,
        _ => palette::GREY,
    }
}

/// Operators numbered on the roofline chart; the rest are in the JSON.
const ROOFLINE_DRAWN: usize = 20;

/// The per-operator roofline: each operator-and-shape row at its arithmetic intensity and
/// achieved rate under the roofs of the trace's GPU, and the table of what each number is, how
/// far below its roof it runs and the time that costs.
fn roofline(out: &mut String, trace: &TraceOverview) {
    let drawn: Vec<&advisor_core::OpPoint> =
        trace.op_roofline.iter().take(ROOFLINE_DRAWN).collect();
    let total: f64 = drawn.iter().map(|p| p.kernel_time_us).sum();
    let roof_of = |bits: u32| trace.roofs.iter().find(|r| r.element_bits == bits);
    let chart = RooflineChart {
        points: drawn
            .iter()
            .enumerate()
            .map(|(index, p)| RooflinePoint {
                number: index + 1,
                intensity: p.flops_per_byte,
                tflops: p.achieved_tflops,
                share: if total > 0.0 {
                    p.kernel_time_us / total
                } else {
                    0.0
                },
                color: width_color(p.element_bits),
            })
            .collect(),
        roofs: trace
            .roofs
            .iter()
            .map(|r| RooflineRoof {
                peak_tflops: r.peak_tflops,
                memory_tb_per_s: r.memory_tb_per_s,
                color: width_color(r.element_bits),
            })
            .collect(),
    };
    open_figure(
        out,
        "chart-trace-roofline",
        "How fast each operator runs: its achieved rate against the roofline",
        chart.svg(),
    );
    out.push_str("<ul class=\"legend\">\n");
    for roof in &trace.roofs {
        let _ = writeln!(
            out,
            "<li><span class=\"swatch line\" style=\"background:{}\"></span>{}: {:.0} TFLOP/s, {:.2} TB/s</li>",
            hex(width_color(roof.element_bits)),
            escape(&roof.name),
            roof.peak_tflops,
            roof.memory_tb_per_s
        );
    }
    if trace.roofs.is_empty() {
        out.push_str("<li>No roofs: the accelerator table does not know the trace's GPU.</li>\n");
    }
    out.push_str("</ul>\n</figure>\n");
    out.push_str(
        "<p>FLOPs and bytes come from the shapes the profiler recorded (<code>record_shapes=True</code>); \
         the memory roof is DRAM bandwidth, which operands still in L2 can beat. A point's size is its \
         share of the kernel time drawn.</p>\n",
    );
    out.push_str(
        "<table>\n<thead><tr><th>#</th><th>Operator</th><th>Inputs</th><th>Calls</th><th>GPU time</th>\
         <th>TFLOP/s</th><th>FLOP/byte</th><th>Bound</th><th>Of its roof</th></tr></thead>\n<tbody>\n",
    );
    for (index, point) in drawn.iter().enumerate() {
        let (bound, of_roof) = roof_of(point.element_bits).map_or_else(
            || ("-".to_owned(), "-".to_owned()),
            |roof| {
                let memory = point.flops_per_byte * roof.memory_tb_per_s;
                let (attainable, bound) = if memory < roof.peak_tflops {
                    (memory, "memory")
                } else {
                    (roof.peak_tflops, "compute")
                };
                let share = if attainable > 0.0 {
                    100.0 * point.achieved_tflops / attainable
                } else {
                    0.0
                };
                (bound.to_owned(), format!("{share:.0} %"))
            },
        );
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td><code>{}</code></td><td><code>{}</code></td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.2}</td>\
             <td class=\"num\">{:.1}</td><td>{bound}</td><td class=\"num\">{of_roof}</td></tr>",
            index + 1,
            escape(&point.op),
            escape(&point.shapes),
            crate::group_digits(point.calls),
            ms_text(point.kernel_time_us / 1e3),
            point.achieved_tflops,
            point.flops_per_byte
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

/// The full names behind a chart's cut labels.
fn names_table(out: &mut String, what: &str, count: &str, time: &str, names: &[TimedName]) {
    let _ = writeln!(
        out,
        "<table>\n<thead><tr><th>{what}</th><th>{count}</th><th>{time}</th></tr></thead>\n<tbody>"
    );
    for name in names {
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(&name.name),
            crate::group_digits(name.count),
            ms_text(name.time_us / 1e3)
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

/// Bars of predicted time: the fastest scenario solid, the rest of the range to the slowest
/// lighter.
fn time_chart(out: &mut String, id: &str, title: &str, runs: &[(String, &ModelFigures)]) {
    let slowest = runs
        .iter()
        .map(|(_, figures)| figures.request_seconds.max)
        .fold(0.0_f64, f64::max);
    // Seconds when the slowest run takes one or more, else milliseconds.
    let (unit, scale): (&'static str, f64) = if slowest >= 1.0 {
        ("s", 1.0)
    } else {
        ("ms", 1e3)
    };
    let rows = runs
        .iter()
        .map(|(name, figures)| {
            let SecondsRange { min, max } = figures.request_seconds;
            Row {
                label: name.clone(),
                values: vec![min * scale, (max - min).max(0.0) * scale],
                note: Some(range_text(min, max)),
            }
        })
        .collect();
    chart(
        out,
        id,
        title,
        &BarChart {
            unit,
            series: vec![
                Series {
                    name: "fastest scenario",
                    color: palette::BLUE,
                },
                Series {
                    name: "up to the slowest scenario",
                    color: palette::SKY,
                },
            ],
            rows,
            markers: Vec::new(),
            total_label: |value| format!("{value:.2}"),
        },
    );
}

/// Stacked bars of peak memory by part, with the device's memory and its usable share.
fn memory_chart(
    out: &mut String,
    id: &str,
    title: &str,
    projections: &ModelProjections,
    runs: &[(String, &ModelFigures)],
) {
    // Every part any run has, in the order first seen (the largest of the first run first).
    let mut parts: Vec<&str> = Vec::new();
    for (_, figures) in runs {
        for part in &figures.memory {
            if !parts.contains(&part.name.as_str()) {
                parts.push(&part.name);
            }
        }
    }
    let series = parts
        .iter()
        .zip(palette::CYCLE.iter().cycle())
        .map(|(name, color)| Series {
            name: memory_part_name(name),
            color: *color,
        })
        .collect();
    let rows = runs
        .iter()
        .map(|(name, figures)| Row {
            label: name.clone(),
            values: parts
                .iter()
                .map(|part| {
                    figures
                        .memory
                        .iter()
                        .filter(|p| p.name == *part)
                        .map(|p| p.bytes / GIB)
                        .sum()
                })
                .collect(),
            note: Some(gib_text(figures.peak_bytes)),
        })
        .collect();
    let mut markers = Vec::new();
    if let Some(usable) = projections.usable_bytes {
        markers.push(Marker {
            name: format!("usable: {}", gib_text(usable)),
            value: usable / GIB,
            color: palette::ORANGE,
        });
    }
    if let Some(capacity) = projections.capacity_bytes {
        markers.push(Marker {
            name: format!("device memory: {}", gib_text(capacity as f64)),
            value: capacity as f64 / GIB,
            color: palette::LIMIT,
        });
    }
    chart(
        out,
        id,
        title,
        &BarChart {
            unit: "GiB",
            series,
            rows,
            markers,
            total_label: |gib| format!("{gib:.1} GiB"),
        },
    );
}

/// The model's part names are its own `&'static str`s; a part the renderer does not know
/// (a newer model's) is drawn under a generic name rather than leaking a `String` into the
/// legend's `&'static str`.
fn memory_part_name(name: &str) -> &'static str {
    const KNOWN: [&str; 8] = [
        "weights",
        "KV cache",
        "attention scores",
        "activations",
        "gradients",
        "optimizer state",
        "logits",
        "CUDA context and workspaces",
    ];
    KNOWN
        .iter()
        .find(|known| **known == name)
        .copied()
        .unwrap_or("other")
}

/// A figure with its chart, or a note saying why it could not be drawn.
fn chart(out: &mut String, id: &str, title: &str, chart: &BarChart) {
    open_figure(out, id, title, chart.svg());
    out.push_str("<ul class=\"legend\">\n");
    for series in &chart.series {
        let _ = writeln!(
            out,
            "<li><span class=\"swatch\" style=\"background:{}\"></span>{}</li>",
            hex(series.color),
            escape(series.name)
        );
    }
    for marker in &chart.markers {
        let _ = writeln!(
            out,
            "<li><span class=\"swatch line\" style=\"background:{}\"></span>{}</li>",
            hex(marker.color),
            escape(&marker.name)
        );
    }
    out.push_str("</ul>\n</figure>\n");
}

/// Opens a chart's figure: its caption, then the SVG (or a note saying why it could not be
/// drawn). The caller writes the legend and closes the figure.
fn open_figure(out: &mut String, id: &str, title: &str, svg: Result<String, String>) {
    let _ = writeln!(
        out,
        "<figure class=\"chart\" id=\"{id}\">\n<figcaption>{}</figcaption>",
        escape(title)
    );
    match svg {
        Ok(svg) => {
            // The SVG names itself for screen readers; plotters writes the `<svg` tag first.
            let labelled = svg.replacen(
                "<svg ",
                &format!("<svg role=\"img\" aria-label=\"{}\" ", escape(title)),
                1,
            );
            out.push_str(&labelled);
        }
        Err(error) => {
            let _ = writeln!(
                out,
                "<p class=\"chart-error\">The chart could not be drawn: {}</p>",
                escape(&error)
            );
        }
    }
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

fn gib_text(bytes: f64) -> String {
    format!("{:.1} GiB", bytes / GIB)
}

fn ms_text(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1e3)
    } else if ms >= 1.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.0} µs", ms * 1e3)
    }
}

/// `12.3–15.0 ms`, or one figure when the range is within 5 %.
fn range_text(min_seconds: f64, max_seconds: f64) -> String {
    if (max_seconds - min_seconds).abs() <= 0.05 * max_seconds.abs() {
        ms_text(max_seconds * 1e3)
    } else {
        format!(
            "{}–{}",
            ms_text(min_seconds * 1e3),
            ms_text(max_seconds * 1e3)
        )
    }
}

/// Text for HTML: terminal controls escaped as for the terminal, then `& < > " '`.
pub(crate) fn escape(text: &str) -> String {
    let text = escape_control(text);
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Inline Markdown as HTML, without the paragraph around it.
fn inline_fragment(markdown: &str) -> String {
    let html = fragment(markdown);
    let trimmed = html.trim_end();
    trimmed
        .strip_prefix("<p>")
        .and_then(|inner| inner.strip_suffix("</p>"))
        .unwrap_or(trimmed)
        .to_owned()
}

/// Markdown as HTML, with raw HTML, links and images kept as text.
pub(crate) fn fragment(markdown: &str) -> String {
    // How to close each link or image being turned back into text, innermost last.
    let mut closings: Vec<CowStr<'_>> = Vec::new();
    let events = Parser::new_ext(markdown, Options::ENABLE_TABLES).map(|event| match event {
        // CommonMark passes HTML through: as text events the renderer escapes it.
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        // A link or image is shown as the Markdown it was written as, `[text](destination)`.
        Event::Start(Tag::Link {
            link_type: LinkType::Autolink | LinkType::Email,
            ..
        }) => {
            closings.push(">".into());
            Event::Text("<".into())
        }
        Event::Start(Tag::Link { dest_url, .. }) => {
            closings.push(format!("]({dest_url})").into());
            Event::Text("[".into())
        }
        Event::Start(Tag::Image { dest_url, .. }) => {
            closings.push(format!("]({dest_url})").into());
            Event::Text("![".into())
        }
        Event::End(TagEnd::Link | TagEnd::Image) => {
            Event::Text(closings.pop().unwrap_or(CowStr::Borrowed("")))
        }
        other => other,
    });
    let mut body = String::with_capacity(markdown.len() * 2);
    html::push_html(&mut body, events);
    body
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_raw_html_and_renders_tables() {
        let page =
            super::fragment("# Report\n\n| a | b |\n|---|---|\n| <script>x</script> | 1 |\n");
        assert!(page.contains("<table>"));
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;x&lt;/script&gt;"), "{page}");
        let page = super::fragment(
            "<img src=x onerror=alert(1)>\n\n```python\nif a < b and c & d: pass\n```\n",
        );
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains("if a &lt; b and c &amp; d: pass"), "{page}");
    }

    #[test]
    fn links_and_images_are_text() {
        let page = super::fragment(
            "[x](javascript:alert(1)) ![y](http://evil/y.png) <javascript:alert(2)> [z]\n\n[z]: http://evil/\n",
        );
        assert!(!page.contains("<a"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains("[x](javascript:alert(1))"), "{page}");
        assert!(page.contains("![y](http://evil/y.png)"), "{page}");
        assert!(page.contains("&lt;javascript:alert(2)&gt;"), "{page}");
    }

    #[test]
    fn escapes_text() {
        assert_eq!(
            super::escape("<a href='x'>&\"\u{1b}[2J"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;\\x1b[2J"
        );
    }
}
