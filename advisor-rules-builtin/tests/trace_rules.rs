//! The trace-driven rules: a context with `profile_results.trace` facts in, the suggestions
//! and the numbers they derive out; silent below their thresholds and without a trace. Each
//! rule's rendered suggestion is snapshotted beside it; here are the behaviours, and how the
//! report combines the rules' claims on the trace's pools of slack.

use advisor_core::{
    AnalysisContext, ImprovementMetric, MetricSummary, OptimizationAdvisor, OptimizationReport,
    OptimizationSuggestion, SlackPool,
};
use advisor_rules_builtin::BuiltinRules;
use serde_json::{Value, json};

fn analyze(trace: Value, config: Value) -> OptimizationReport {
    let context = json!({
        "profile_results": { "total_ms": 100.0, "trace": trace },
        "current_config": config,
    });
    let context = AnalysisContext::from_json_str(&context.to_string()).expect("valid context");
    OptimizationAdvisor::new()
        .analyze(&context)
        .expect("analyzes")
}

fn find<'a>(report: &'a OptimizationReport, id: &str) -> Option<&'a OptimizationSuggestion> {
    report.suggestions.iter().find(|s| s.id == id)
}

fn breakdown(idle: f64, compute: f64, communication: f64, memory: f64) -> Value {
    let span = 100_000.0;
    json!({
        "kernel_time_us": span, "idle_us": idle * 1000.0, "compute_us": compute * 1000.0,
        "communication_us": communication * 1000.0, "memory_us": memory * 1000.0,
        "non_compute_us": (communication + memory) * 1000.0,
        "idle_pct": idle, "compute_pct": compute, "communication_pct": communication,
        "memory_pct": memory, "non_compute_pct": communication + memory
    })
}

/// The pools a suggestion claims.
fn pools(suggestion: &OptimizationSuggestion) -> Vec<SlackPool> {
    suggestion.slack.iter().map(|claim| claim.pool).collect()
}

/// The report's combined figure for a metric.
fn combined(report: &OptimizationReport, metric: ImprovementMetric) -> &MetricSummary {
    report
        .summary
        .combined
        .iter()
        .find(|m| m.metric == metric)
        .unwrap_or_else(|| panic!("no combined {metric:?}: {:#?}", report.summary))
}

/// The trace the old summary double-counted: a small model at batch 8 whose GPU idles 45 %
/// of the span, with short kernels shorter than their launches. `gpu_idle`,
/// `launch_overhead` and `batch_size` each claimed all 45 %, and the summary multiplied them:
/// 1 − 0.55³ = 83 % (×6.0).
fn idle_45() -> Value {
    json!({ "source": "small.json", "gpu_breakdown": breakdown(45.0, 40.0, 0.0, 15.0),
            "kernel_launches": launches(2000, 1500, 1800) })
}

fn launches(kernels: u64, shorter: u64, short: u64) -> Value {
    json!({ "kernels": kernels, "matched": kernels, "shorter_than_launch": shorter,
            "short_kernels": short, "short_kernel_threshold_us": 20.0,
            "short_kernel_time_us": short as f64 * 5.0, "kernel_time_us": 60_000.0,
            "launch_call_us_mean": 6.0, "launch_delay_us_p50": 12.0 })
}

#[test]
fn rules_need_a_trace() {
    let context = AnalysisContext::from_json_str("{}").expect("valid");
    let report = OptimizationAdvisor::new()
        .analyze(&context)
        .expect("analyzes");
    for id in [
        "data_loader",
        "gpu_idle",
        "launch_overhead",
        "communication_overlap",
        "host_sync",
    ] {
        let diagnostic = report.diagnostics.iter().find(|d| d.source == id);
        assert!(
            diagnostic.is_some_and(|d| d.message.contains("profile_results.trace")),
            "`{id}` should say it needs a trace: {:?}",
            report.diagnostics
        );
        assert!(find(&report, id).is_none());
    }
}

#[test]
fn data_loader_fires_above_five_percent_of_the_step() {
    let trace = |pct: f64| {
        json!({ "source": "run.json", "steps": 4,
                "data_loader": { "time_us": pct * 4000.0, "step_time_us": 400_000.0, "pct_of_step": pct, "calls": 4 } })
    };
    let report = analyze(trace(30.0), json!({}));
    let suggestion = find(&report, "data_loader").expect("fires at 30 %");
    assert!((suggestion.expected_improvement[0].max_reduction - 0.30).abs() < 1e-9);
    // No GPU activity in the trace: the loader's time is host-blocked time.
    assert_eq!(pools(suggestion), [SlackPool::HostBlocked]);
    assert!(find(&analyze(trace(4.0), json!({})), "data_loader").is_none());
}

#[test]
fn gpu_idle_fires_above_ten_percent_idle() {
    let report = analyze(
        json!({ "gpu_breakdown": breakdown(40.0, 55.0, 0.0, 5.0) }),
        json!({}),
    );
    let suggestion = find(&report, "gpu_idle").expect("fires at 40 % idle");
    assert!((suggestion.expected_improvement[0].max_reduction - 0.40).abs() < 1e-9);
    assert_eq!(pools(suggestion), [SlackPool::GpuIdle]);
    let report = analyze(
        json!({ "gpu_breakdown": breakdown(2.6, 96.8, 0.0, 0.6) }),
        json!({}),
    );
    assert!(find(&report, "gpu_idle").is_none());
}

#[test]
fn launch_overhead_fires_when_kernels_are_shorter_than_their_launch() {
    let trace = json!({ "gpu_breakdown": breakdown(25.0, 75.0, 0.0, 0.0), "kernel_launches": launches(1000, 600, 700) });
    let report = analyze(trace, json!({}));
    let suggestion = find(&report, "launch_overhead").expect("fires at 60 %");
    assert!((suggestion.expected_improvement[0].max_reduction - 0.25).abs() < 1e-9);
    assert_eq!(pools(suggestion), [SlackPool::GpuIdle]);
    let quiet = json!({ "kernel_launches": launches(1000, 100, 100) });
    assert!(find(&analyze(quiet, json!({})), "launch_overhead").is_none());
    // A GPU busy 97 % of the time has a full queue: short kernels cost it nothing.
    let busy = json!({ "gpu_breakdown": breakdown(2.6, 96.8, 0.0, 0.6), "kernel_launches": launches(1000, 600, 700) });
    assert!(find(&analyze(busy, json!({})), "launch_overhead").is_none());
}

#[test]
fn communication_overlap_fires_on_exposed_communication() {
    let trace = json!({
        "gpu_breakdown": breakdown(5.0, 70.0, 25.0, 0.0),
        "communication": { "kernels": 40, "time_us": 30_000.0, "overlapped_us": 5_000.0,
                           "overlap_pct": 16.7, "exposed_pct_of_kernel_time": 25.0, "backend": "nccl", "world_size": 8 }
    });
    let report = analyze(trace, json!({}));
    let suggestion = find(&report, "communication_overlap").expect("fires");
    assert!((suggestion.expected_improvement[0].max_reduction - 0.25).abs() < 1e-9);
    assert_eq!(pools(suggestion), [SlackPool::ExposedCommunication]);
    let hidden = json!({
        "gpu_breakdown": breakdown(5.0, 94.0, 1.0, 0.0),
        "communication": { "kernels": 40, "time_us": 30_000.0, "overlapped_us": 29_000.0,
                           "overlap_pct": 96.7, "exposed_pct_of_kernel_time": 1.0 }
    });
    assert!(find(&analyze(hidden, json!({})), "communication_overlap").is_none());
}

#[test]
fn host_sync_fires_on_syncs_inside_steps() {
    let trace = json!({ "steps": 5, "host_syncs": { "calls_in_steps": 5, "time_us": 20_000.0, "pct_of_step": 4.0,
        "by_name": [ { "name": "cudaStreamSynchronize", "count": 5, "time_us": 20_000.0 } ] } });
    let report = analyze(trace, json!({}));
    let suggestion = find(&report, "host_sync").expect("fires");
    assert!((suggestion.expected_improvement[0].max_reduction - 0.04).abs() < 1e-9);
    assert_eq!(pools(suggestion), [SlackPool::HostBlocked]);
    let none = json!({ "steps": 5, "host_syncs": { "calls_in_steps": 0, "time_us": 0.0, "pct_of_step": 0.0 } });
    assert!(find(&analyze(none, json!({})), "host_sync").is_none());
}

#[test]
fn kernel_fusion_and_batch_size_read_the_trace() {
    let report = analyze(idle_45(), json!({ "batch_size": "8" }));
    let fusion = find(&report, "kernel_fusion").expect("kernel_fusion fires on short kernels");
    assert_eq!(pools(fusion), [SlackPool::GpuIdle]);
    let batch = find(&report, "batch_size").expect("batch_size fires on low utilization");
    assert!(
        batch.evidence[0].contains("computes 40.0 %"),
        "{:?}",
        batch.evidence
    );
    assert!((batch.expected_improvement[0].max_reduction - 0.45).abs() < 1e-9);
    let busy = json!({ "gpu_breakdown": breakdown(2.0, 97.0, 0.0, 1.0), "kernel_launches": launches(2000, 100, 100) });
    let report = analyze(busy, json!({ "batch_size": "8" }));
    assert!(find(&report, "batch_size").is_none() && find(&report, "kernel_fusion").is_none());
}

#[test]
fn claims_on_the_gpu_idle_pool_combine_to_at_most_the_pool() {
    let report = analyze(idle_45(), json!({ "batch_size": "8" }));
    let claiming: Vec<&str> = report
        .suggestions
        .iter()
        .filter(|s| pools(s).contains(&SlackPool::GpuIdle))
        .map(|s| s.id.as_str())
        .collect();
    for id in ["gpu_idle", "launch_overhead", "kernel_fusion"] {
        assert!(
            claiming.contains(&id),
            "`{id}` claims GPU idle time: {claiming:?}"
        );
    }
    // Multiplied, the rules' separate figures would claim far more than the idle time.
    let multiplied = 1.0
        - report
            .suggestions
            .iter()
            .flat_map(|s| &s.expected_improvement)
            .filter(|i| {
                matches!(
                    i.metric,
                    ImprovementMetric::Latency | ImprovementMetric::Throughput
                )
            })
            .map(|i| 1.0 - i.max_reduction)
            .product::<f64>();
    assert!(multiplied > 0.8, "the double-counting case: {multiplied}");
    for metric in [ImprovementMetric::Latency, ImprovementMetric::Throughput] {
        let combined = combined(&report, metric);
        assert!(
            combined.max_reduction <= 0.45 + 1e-9,
            "{metric:?} combines to at most the 45 % pool: {combined:?}"
        );
        // ×1.8 at most, where the product claimed ×6.
        assert!(1.0 / (1.0 - combined.max_reduction) < 1.82, "{combined:?}");
        assert!(combined.basis.contains("each claimed once"), "{combined:?}");
    }
}

#[test]
fn claims_on_different_pools_add_up_to_at_most_the_pools() {
    // 20 % idle (claimed by gpu_idle, launch_overhead, kernel_fusion, batch_size) and 25 %
    // exposed communication: disjoint parts of the span, so together at most 45 %.
    let trace = json!({
        "gpu_breakdown": breakdown(20.0, 55.0, 25.0, 0.0),
        "kernel_launches": launches(1000, 600, 700),
        "communication": { "kernels": 40, "time_us": 30_000.0, "overlapped_us": 5_000.0,
                           "overlap_pct": 16.7, "exposed_pct_of_kernel_time": 25.0 }
    });
    let report = analyze(trace, json!({}));
    let idle = find(&report, "gpu_idle").expect("fires at 20 % idle");
    let communication = find(&report, "communication_overlap").expect("fires at 25 % exposed");
    assert_eq!(pools(idle), [SlackPool::GpuIdle]);
    assert_eq!(pools(communication), [SlackPool::ExposedCommunication]);
    let pool_total = 0.20 + 0.25;
    for metric in [ImprovementMetric::Latency, ImprovementMetric::Throughput] {
        let combined = combined(&report, metric);
        // More than either pool alone: they add ...
        assert!(combined.max_reduction > 0.25 + 1e-9, "{combined:?}");
        // ... but never beyond their sum, however many rules claim each.
        assert!(combined.max_reduction <= pool_total + 1e-9, "{combined:?}");
        assert!((combined.max_reduction - pool_total).abs() < 1e-9);
    }
}

/// The collectives' bus bandwidth from the trace is held against the run's GPU link: 8 GB/s
/// on an A100's NVLink (300 GB/s per direction) says the collectives mostly wait.
#[test]
fn communication_overlap_holds_the_bus_bandwidth_against_the_link() {
    let trace = json!({
        "gpu_breakdown": breakdown(5.0, 70.0, 25.0, 0.0),
        "communication": { "kernels": 40, "time_us": 30_000.0, "overlapped_us": 5_000.0,
                           "overlap_pct": 16.7, "exposed_pct_of_kernel_time": 25.0,
                           "backend": "nccl", "world_size": 8, "bus_bandwidth_gb_per_s": 8.0 }
    });
    let context = json!({
        "profile_results": { "total_ms": 100.0, "trace": trace },
        "hardware_info": advisor_hw_table::find_accelerator("nvidia-a100-80gb")
            .expect("in the table")
            .to_hardware_info(),
        "current_config": {},
    });
    let context = AnalysisContext::from_json_str(&context.to_string()).expect("valid context");
    let report = OptimizationAdvisor::new()
        .analyze(&context)
        .expect("analyzes");
    let suggestion = find(&report, "communication_overlap").expect("fires");
    assert!(
        suggestion
            .evidence
            .iter()
            .any(|e| e.contains("8.0 GB/s of bus bandwidth") && e.contains("3 % of the NVLink")),
        "{:?}",
        suggestion.evidence
    );
    assert!(
        suggestion
            .warnings
            .iter()
            .any(|w| w.contains("far below the link's rate"))
    );
}

/// An input wait at the steps' starts is named in gpu_idle's evidence and gets data_loader's
/// prefetch advice; both claim the one idle pool.
#[test]
fn an_input_wait_is_named_by_gpu_idle_and_prefetched_by_data_loader() {
    let trace = json!({
        "steps": 5,
        "gpu_breakdown": breakdown(36.0, 63.0, 0.0, 1.0),
        "input_wait": { "steps": 4, "step_time_us": 40_000.0, "wait_us": 16_000.0,
                        "max_wait_us": 4_000.0, "gpu_idle_us": 16_000.0, "gpu_idle_pct_of_step": 40.0 }
    });
    let report = analyze(trace, json!({}));
    let idle = find(&report, "gpu_idle").expect("fires");
    assert!(
        idle.evidence
            .iter()
            .any(|e| e.contains("before its first GPU work")),
        "{:?}",
        idle.evidence
    );
    let loader = find(&report, "data_loader").expect("fires");
    assert!(loader.title.starts_with("Prefetch the input"));
    assert_eq!(pools(loader), [SlackPool::GpuIdle]);
    assert!(combined(&report, ImprovementMetric::Latency).max_reduction <= 0.36 + 1e-9);
}
