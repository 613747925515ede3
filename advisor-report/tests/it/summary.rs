//! The summary's combined figures: a metric the plan makes worse is said as a trade.

use advisor_core::{ImprovementMetric, InputSummary, MetricSummary, OptimizationReport};
use advisor_report::RenderReport;

fn metric(metric: ImprovementMetric, low: f64, high: f64, description: &str) -> MetricSummary {
    MetricSummary {
        metric,
        suggestions: 1,
        min_reduction: low,
        max_reduction: high,
        description: description.to_owned(),
        basis: "one simulation".to_owned(),
    }
}

#[test]
fn a_metric_made_worse_is_called_a_trade() {
    let mut report = OptimizationReport::new(InputSummary::default(), Vec::new(), Vec::new());
    report.summary.suggestion_count = 2;
    report.summary.combined = vec![
        metric(
            ImprovementMetric::Latency,
            -0.9,
            -0.25,
            "latency +25–90 % (longer)",
        ),
        metric(
            ImprovementMetric::Throughput,
            0.88,
            0.92,
            "throughput ×8.4–12.8",
        ),
    ];
    let markdown = report.to_markdown();
    assert!(
        markdown.contains("| latency | 1 | latency +25–90 % (longer) |"),
        "{markdown}"
    );
    assert!(
        markdown.contains(
            "**Trade-off:** the combined plan makes latency worse in at least one scenario, in exchange for throughput."
        ),
        "{markdown}"
    );
    // Every figure an improvement: no trade line.
    report.summary.combined = vec![metric(
        ImprovementMetric::Throughput,
        0.88,
        0.92,
        "throughput ×8.4–12.8",
    )];
    assert!(!report.to_markdown().contains("Trade-off"));
}
