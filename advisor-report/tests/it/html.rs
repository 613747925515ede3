//! The HTML page's structure, snapshotted: its sections, figures and what each chart draws.

use advisor_core::{
    Category, Change, Difficulty, GpuTimeBreakdown, Impact, InputSummary, MemoryPart, ModelFigures,
    ModelProjections, OpPoint, OptimizationReport, OptimizationSuggestion, Roof, SecondsRange,
    StepOverview, StreamIdleBreakdown, SuggestionProjection, TimedName, TraceOverview,
    WeightFormat,
};
use advisor_report::RenderReport;
use expect_test::expect;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

fn figures(seconds: f64, weights_gib: f64) -> ModelFigures {
    ModelFigures {
        request_seconds: SecondsRange {
            min: seconds,
            max: seconds * 2.0,
        },
        per_sample_seconds: SecondsRange {
            min: seconds,
            max: seconds * 2.0,
        },
        memory: vec![
            MemoryPart {
                name: "weights".to_owned(),
                bytes: weights_gib * GIB,
            },
            MemoryPart {
                name: "KV cache".to_owned(),
                bytes: 2.0 * GIB,
            },
        ],
        peak_bytes: (weights_gib + 2.0) * GIB,
    }
}

fn breakdown(compute_us: f64, idle_us: f64) -> GpuTimeBreakdown {
    GpuTimeBreakdown {
        kernel_time_us: compute_us + idle_us,
        idle_us,
        compute_us,
        ..GpuTimeBreakdown::default()
    }
}

fn report() -> OptimizationReport {
    let suggestion = OptimizationSuggestion::new(
        "quantization",
        Category::Memory,
        Impact::Critical,
        Difficulty::Easy,
        "Quantize <the> weights",
    )
    .change(Change::Weights(WeightFormat::Int4));
    let mut report = OptimizationReport::new(InputSummary::default(), vec![suggestion], Vec::new());
    report.projections = Some(ModelProjections {
        unit: "a request".to_owned(),
        before: figures(2.0, 12.0),
        suggestions: vec![SuggestionProjection {
            suggestion: "quantization".to_owned(),
            after: figures(1.0, 4.0),
        }],
        plan: Some(figures(1.0, 4.0)),
        capacity_bytes: Some(16 * 1024 * 1024 * 1024),
        usable_bytes: Some(0.93 * 16.0 * GIB),
    });
    report.trace = Some(TraceOverview {
        source: "run.trace.json".to_owned(),
        steps: vec![
            StepOverview {
                step: 1,
                duration_us: 1000.0,
                gpu_breakdown: Some(breakdown(800.0, 200.0)),
                idle_breakdown: Vec::new(),
            },
            StepOverview {
                step: 2,
                duration_us: 1000.0,
                gpu_breakdown: Some(breakdown(900.0, 100.0)),
                idle_breakdown: Vec::new(),
            },
        ],
        gpu_breakdown: Some(breakdown(1700.0, 300.0)),
        idle_breakdown: vec![StreamIdleBreakdown {
            stream: 7,
            host_wait_us: 200.0,
            kernel_wait_us: 50.0,
            other_us: 50.0,
        }],
        top_kernels: vec![TimedName {
            name: "volta_sgemm<script>".to_owned(),
            kind: Some("computation".to_owned()),
            count: 3,
            time_us: 1500.0,
        }],
        top_cpu_ops: vec![TimedName {
            name: "aten::mm".to_owned(),
            kind: None,
            count: 3,
            time_us: 300.0,
        }],
        op_roofline: vec![
            OpPoint {
                op: "aten::mm".to_owned(),
                shapes: "[2048, 512] [512, 8192] c10::Half".to_owned(),
                element_bits: 16,
                calls: 2,
                kernel_time_us: 900.0,
                flops_per_byte: 400.0,
                achieved_tflops: 120.0,
            },
            OpPoint {
                op: "aten::add<img src=x>".to_owned(),
                shapes: "[2048, 8192] [2048, 8192] float".to_owned(),
                element_bits: 32,
                calls: 4,
                kernel_time_us: 300.0,
                flops_per_byte: 0.08,
                achieved_tflops: 0.1,
            },
        ],
        roofs: vec![
            Roof {
                name: "fp16/bf16 tensor cores of the test GPU".to_owned(),
                element_bits: 16,
                peak_tflops: 312.0,
                memory_tb_per_s: 2.0,
            },
            Roof {
                name: "fp32 cores of the test GPU".to_owned(),
                element_bits: 32,
                peak_tflops: 19.5,
                memory_tb_per_s: 2.0,
            },
        ],
        ..TraceOverview::default()
    });
    report
}

/// Sections, figures and per chart the bars (`rect`s in a colour) and texts it draws.
fn outline(page: &str) -> String {
    let mut out = String::new();
    for piece in page.split('<').skip(1) {
        let tag = piece.split([' ', '>']).next().unwrap_or_default();
        let id = piece
            .split_once("id=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(id, _)| id);
        match (tag, id) {
            ("section" | "article" | "figure", Some(id)) => {
                out.push_str(&format!("{tag} {id}\n"));
            }
            ("rect", _) => {
                let fill = piece
                    .split_once("fill=\"")
                    .and_then(|(_, rest)| rest.split_once('"'))
                    .map_or("", |(fill, _)| fill);
                out.push_str(&format!("  rect {fill}\n"));
            }
            ("li", _) if piece.contains("swatch") => {
                let name = piece.rsplit('>').next().unwrap_or_default();
                out.push_str(&format!("  legend {name}\n"));
            }
            _ => {}
        }
    }
    out
}

#[test]
fn page_structure() {
    let page = report().to_html();
    assert!(!page.contains("<script"), "{page}");
    assert!(page.contains("volta_sgemm&lt;script&gt;"), "{page}");
    assert!(!page.contains("<img"), "{page}");
    assert!(page.contains("aten::add&lt;img src=x&gt;"), "{page}");
    // The roofline: a point per operator, each roof's line, and each operator's bound.
    let roofline = page
        .split_once("id=\"chart-trace-roofline\"")
        .map_or("", |(_, rest)| rest);
    assert_eq!(
        roofline[..roofline.find("</figure>").unwrap_or(0)]
            .matches("<circle")
            .count(),
        4
    );
    assert!(roofline.contains("<td>compute</td>") && roofline.contains("<td>memory</td>"));
    // 120 of 312 TFLOP/s; 0.1 of 0.08 × 2 TB/s = 0.16.
    assert!(
        roofline.contains(">38 %<") && roofline.contains(">62 %<"),
        "{roofline}"
    );
    expect![[r#"
        section summary
        figure chart-plan-time
          rect #0072B2
          rect #56B4E9
          rect #0072B2
          rect #56B4E9
          rect #0072B2
          rect #56B4E9
        section trace
        figure chart-trace-steps
          rect #0072B2
          rect #999999
          rect #0072B2
          rect #999999
        figure chart-trace-idle
          rect #D55E00
          rect #F0E442
          rect #56B4E9
        figure chart-trace-kernels
          rect #0072B2
        figure chart-trace-ops
          rect #009E73
        figure chart-trace-roofline
        section memory
        figure chart-memory
          rect #0072B2
          rect #E69F00
          rect #0072B2
          rect #E69F00
          rect #0072B2
          rect #E69F00
        section suggestions
        article suggestion-1
        figure chart-suggestion-1-time
          rect #0072B2
          rect #56B4E9
          rect #0072B2
          rect #56B4E9
        figure chart-suggestion-1-memory
          rect #0072B2
          rect #E69F00
          rect #0072B2
          rect #E69F00
    "#]]
    .assert_eq(&outline(&page));
}
