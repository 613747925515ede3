//! What one run measured, in the form the comparison reads: per-step times (or summary
//! statistics of latency), the time breakdown and the kernels and operators.

use advisor_core::{GpuTimeBreakdown, LatencyMetrics, StreamIdleBreakdown, TraceOverview};
use serde::{Deserialize, Serialize};

use crate::stats::SampleStats;

/// Whether a work item is a GPU kernel or a CPU operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum WorkKind {
    /// A GPU kernel (time on the device).
    Kernel,
    /// A CPU operator (self time on the host).
    CpuOp,
}

impl WorkKind {
    /// `kernel` or `cpu op`.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkKind::Kernel => "kernel",
            WorkKind::CpuOp => "cpu op",
        }
    }
}

/// A kernel or operator with its total time over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WorkItem {
    /// Kernel or CPU operator.
    pub kind: WorkKind,
    /// The name as the trace writes it.
    pub name: String,
    /// The input shapes (`record_shapes=True`), when known: items match on name and shapes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shapes: Option<String>,
    /// Launches or calls.
    pub count: u64,
    /// Total time in microseconds (kernel time, or CPU self time).
    pub time_us: f64,
}

/// One run's measurements.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Run {
    /// Where the figures came from (a file name).
    pub source: String,
    /// Wall time of each step (or each measured request), in microseconds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub step_times_us: Vec<f64>,
    /// Statistics of the step time when only they are known (a metrics file's latency); the
    /// raw `step_times_us` take precedence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_stats_us: Option<SampleStats>,
    /// GPU time breakdown over the analyzed window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<GpuTimeBreakdown>,
    /// Idle time per GPU stream by cause.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub idle: Vec<StreamIdleBreakdown>,
    /// Kernels and operators with their times over the whole run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<WorkItem>,
    /// Steps the GPU figures (breakdown, idle, kernels) cover when that differs from the
    /// step count: a trace's analyzed window ends where its last step starts (Holistic Trace
    /// Analysis's convention), so with N ≥ 2 steps it covers N − 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_window_steps: Option<u64>,
}

impl Run {
    /// The run a report's trace overview describes (`advisor analyze --trace` writes one).
    pub fn from_trace_overview(overview: &TraceOverview) -> Run {
        let mut items: Vec<WorkItem> = overview
            .top_kernels
            .iter()
            .map(|k| WorkItem {
                kind: WorkKind::Kernel,
                name: k.name.clone(),
                shapes: None,
                count: k.count,
                time_us: k.time_us,
            })
            .collect();
        items.extend(overview.top_cpu_ops.iter().map(|op| WorkItem {
            kind: WorkKind::CpuOp,
            name: op.name.clone(),
            shapes: None,
            count: op.count,
            time_us: op.time_us,
        }));
        Run {
            source: overview.source.clone(),
            step_times_us: overview.steps.iter().map(|s| s.duration_us).collect(),
            step_stats_us: None,
            breakdown: overview.gpu_breakdown.clone(),
            idle: overview.idle_breakdown.clone(),
            items,
            gpu_window_steps: (overview.steps.len() >= 2).then(|| overview.steps.len() as u64 - 1),
        }
    }

    /// The run a metrics file's latency describes: its mean, standard deviation and count
    /// (milliseconds in, microseconds kept). `None` without a mean.
    pub fn from_latency(source: impl Into<String>, latency: &LatencyMetrics) -> Option<Run> {
        let mean_ms = latency.mean_ms.or(latency.median_ms).or(latency.p50_ms)?;
        if !mean_ms.is_finite() || mean_ms <= 0.0 {
            return None;
        }
        Some(Run {
            source: source.into(),
            step_stats_us: Some(SampleStats {
                mean: mean_ms * 1000.0,
                std_dev: latency.std_dev_ms.unwrap_or(0.0) * 1000.0,
                count: latency.count.unwrap_or(1),
            }),
            ..Run::default()
        })
    }

    /// The step-time statistics: from the raw step times when there are any.
    pub fn step_stats(&self) -> Option<SampleStats> {
        SampleStats::of(&self.step_times_us).or(self.step_stats_us)
    }

    /// Steps the CPU operators' totals cover (at least one).
    pub fn steps(&self) -> f64 {
        match self.step_stats() {
            Some(stats) if !self.step_times_us.is_empty() => stats.count.max(1) as f64,
            _ => 1.0,
        }
    }

    /// Steps the GPU figures cover (at least one).
    pub fn gpu_steps(&self) -> f64 {
        self.gpu_window_steps
            .map_or_else(|| self.steps(), |n| n.max(1) as f64)
    }
}
