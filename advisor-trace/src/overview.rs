//! What a report shows of a trace: its steps with their breakdowns, the whole window's
//! breakdown, and the longest kernels and CPU operators ([`TraceOverview`], core's type, so
//! a report carries it without depending on this crate).

use advisor_core::{OpPoint, StepOverview, TimedName, TraceOverview};

use crate::summary::TraceSummary;

impl TraceSummary {
    /// The trace's overview for a report.
    pub fn overview(&self) -> TraceOverview {
        TraceOverview {
            source: self.source.clone(),
            devices: self.devices.clone(),
            steps: self
                .steps
                .iter()
                .map(|step| StepOverview {
                    step: step.step,
                    duration_us: step.duration_us,
                    gpu_breakdown: step.gpu_breakdown.clone(),
                    idle_breakdown: step.idle_breakdown.clone(),
                })
                .collect(),
            gpu_breakdown: self.breakdown.clone(),
            idle_breakdown: self.idle_breakdown.clone(),
            top_kernels: self
                .top_kernels
                .iter()
                .map(|kernel| TimedName {
                    name: kernel.name.clone(),
                    kind: Some(kernel.kind.to_owned()),
                    count: kernel.count,
                    time_us: kernel.total_us,
                })
                .collect(),
            top_cpu_ops: self
                .top_cpu_ops
                .iter()
                .map(|op| TimedName {
                    name: op.name.clone(),
                    kind: None,
                    count: op.count,
                    time_us: op.self_us,
                })
                .collect(),
            op_roofline: self
                .op_roofline
                .iter()
                .take(OVERVIEW_ROOFLINE_POINTS)
                .map(|row| OpPoint {
                    op: row.op.clone(),
                    shapes: row.shapes.clone(),
                    element_bits: row.element_bits,
                    calls: row.calls,
                    kernel_time_us: row.kernel_time_us,
                    flops_per_byte: row.flops_per_byte,
                    achieved_tflops: row.achieved_tflops,
                })
                .collect(),
            // The roofs need the accelerator table, which this crate does not know: the
            // context builder adds them.
            roofs: Vec::new(),
        }
    }
}

/// Operator rows a report draws on its roofline (the summary keeps up to 200).
const OVERVIEW_ROOFLINE_POINTS: usize = 40;

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn the_overview_holds_every_step_and_the_longest_work() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/traces/v100-training-rank0.trace.json.gz");
        let summary = crate::read_trace_file(&path, crate::TraceOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let overview = summary.overview();
        assert_eq!(overview.steps.len(), summary.steps.len());
        assert!(!overview.steps.is_empty());
        assert_eq!(overview.top_kernels.len(), summary.top_kernels.len());
        assert_eq!(
            overview.top_kernels.first().map(|k| k.time_us),
            summary.top_kernels.first().map(|k| k.total_us)
        );
        assert_eq!(overview.gpu_breakdown, summary.breakdown);
        assert_eq!(overview.devices.len(), summary.devices.len());
    }
}
