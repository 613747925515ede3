//! Profiler steps (`ProfilerStep#N`), the analyzed window, and each step's GPU breakdown.

use serde::Serialize;

use advisor_core::{GpuTimeBreakdown, StreamIdleBreakdown};

use crate::accumulate::{Accumulator, GpuActivity};

use super::{
    breakdown::sweep_pieces,
    idle::{StreamGaps, idle_breakdown_pieces},
};

/// One profiler step.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StepSummary {
    /// `N` of `ProfilerStep#N`.
    pub step: i64,
    /// Start, relative to the trace's first event.
    pub start_us: f64,
    /// Wall time.
    pub duration_us: f64,
    /// The GPU time breakdown of this step's stretch of the analyzed window, by when the GPU
    /// work ran: the window's span is cut where each step starts (the first step's stretch
    /// also holds any work before it, the last one's the work that spills into it), so the
    /// steps' breakdowns add up to the whole window's exactly. `None` when no GPU work of the
    /// window runs in the step.
    pub gpu_breakdown: Option<GpuTimeBreakdown>,
    /// The idle-time breakdown per stream in the same stretch (HTA's host wait, kernel wait,
    /// other); the steps' rows add up to the whole window's `idle_breakdown`.
    pub idle_breakdown: Vec<StreamIdleBreakdown>,
}

/// Puts the GPU activities of the analyzed window first, in their order (those outside it after
/// them, in theirs), and returns how many there are: the analyses read the window as a slice
/// of the activities, not a copy (which was the largest thing the summary allocated). Holistic
/// Trace Analysis keeps, with two or more steps, only the GPU work launched by runtime calls
/// that start before the last step starts; otherwise everything. `steps` must be sorted and
/// the launches linked.
pub(crate) fn analyzed_window_first(accumulator: &mut Accumulator) -> usize {
    let window_end = if accumulator.steps.len() >= 2 {
        accumulator.steps.last().map(|s| s.ts.ceil() as i64)
    } else {
        None
    };
    let Some(end) = window_end else {
        return accumulator.gpu.len();
    };
    let runtime = &accumulator.runtime;
    let outside: Vec<GpuActivity> = accumulator
        .gpu
        .extract_if(.., |a| {
            runtime
                .of(a)
                .is_none_or(|call| (call.ts.ceil() as i64) >= end)
        })
        .collect();
    let kept = accumulator.gpu.len();
    accumulator.gpu.extend(outside);
    kept
}

/// The steps in time order, each with the breakdown of its stretch of the analyzed window
/// (`kept`), by when the GPU work ran. Attributing work to the step whose call launched it
/// instead would count a step's idle while the GPU still runs the previous step's queue: every
/// step would look idler than the whole. `steps` must be sorted; `origin` is the trace's first
/// timestamp.
pub(crate) fn step_summaries(
    accumulator: &Accumulator,
    kept: &[GpuActivity],
    stream_gaps: &StreamGaps,
    origin: f64,
) -> Vec<StepSummary> {
    let steps = &accumulator.steps;
    let cuts: Vec<i64> = steps.iter().skip(1).map(|s| s.ts.ceil() as i64).collect();
    let breakdowns = sweep_pieces(kept, &cuts);
    let mut idle = idle_breakdown_pieces(stream_gaps, &cuts);
    idle.resize(steps.len(), Vec::new());
    steps
        .iter()
        .enumerate()
        .zip(idle)
        .map(|((index, step), idle_breakdown)| StepSummary {
            step: step.number,
            start_us: step.ts - origin,
            duration_us: step.dur,
            gpu_breakdown: breakdowns
                .get(index)
                .filter(|(totals, _)| totals.span > 0)
                .map(|(totals, _)| totals.breakdown()),
            idle_breakdown,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::analysis::summary_of;

    fn step(n: u32, ts: u32, dur: u32) -> String {
        format!(
            r#"{{"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#{n}", "ts": {ts}, "dur": {dur}}}"#
        )
    }
    fn launch(correlation: u32, ts: u32) -> String {
        format!(
            r#"{{"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": {ts}, "dur": 2, "args": {{"correlation": {correlation}}}}}"#
        )
    }
    fn kernel(correlation: u32, ts: u32, dur: u32) -> String {
        format!(
            r#"{{"ph": "X", "cat": "kernel", "name": "k", "ts": {ts}, "dur": {dur}, "args": {{"correlation": {correlation}}}}}"#
        )
    }

    #[test]
    fn steps_and_the_analyzed_window() {
        // (events, steps as (number, start, duration, GPU span), whole-trace GPU span)
        type Case = (Vec<String>, Vec<(i64, f64, f64, Option<f64>)>, Option<f64>);
        let cases: Vec<Case> = vec![
            // No steps: the whole trace is the window.
            (vec![launch(1, 0), kernel(1, 5, 10)], vec![], Some(10.0)),
            // One step: still the whole trace, which the step's breakdown covers.
            (
                vec![
                    step(7, 0, 100),
                    launch(1, 1),
                    kernel(1, 5, 10),
                    kernel(2, 200, 10),
                ],
                vec![(7, 0.0, 100.0, Some(205.0))],
                Some(205.0),
            ),
            // Two steps, written out of order: the window holds the work launched before the
            // last step starts; each step has the stretch of it that ran within the step (the
            // kernel launched in step 1 runs 90–110: 10 µs in each).
            (
                vec![
                    step(2, 100, 100),
                    step(1, 0, 100),
                    launch(1, 10),
                    kernel(1, 90, 20),
                    launch(2, 150),
                    kernel(2, 160, 10),
                ],
                vec![(1, 0.0, 100.0, Some(10.0)), (2, 100.0, 100.0, Some(10.0))],
                Some(20.0),
            ),
            // A step not numbered: -1.
            (
                vec![step(0, 0, 1).replace("#0", "#x")],
                vec![(-1, 0.0, 1.0, None)],
                None,
            ),
        ];
        for (events, expected_steps, span) in cases {
            let events: Vec<&str> = events.iter().map(String::as_str).collect();
            let summary = summary_of("", &events);
            let steps: Vec<(i64, f64, f64, Option<f64>)> = summary
                .steps
                .iter()
                .map(|s| {
                    (
                        s.step,
                        s.start_us,
                        s.duration_us,
                        s.gpu_breakdown.as_ref().map(|b| b.kernel_time_us),
                    )
                })
                .collect();
            assert_eq!(steps, expected_steps, "{events:?}");
            assert_eq!(
                summary.breakdown.map(|b| b.kernel_time_us),
                span,
                "{events:?}"
            );
        }
    }
}
