//! The comparison of two runs: step time with its significance, the breakdown, and the
//! kernels and operators that changed most.

use std::collections::BTreeMap;

use advisor_core::GpuTimeBreakdown;
use serde::{Deserialize, Serialize};

use crate::{
    run::{Run, WorkItem, WorkKind},
    stats::{SampleStats, WelchTest, welch_test},
};

/// Thresholds of the comparison: policy, not measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiffOptions {
    /// Changed items listed, largest change first.
    pub top_items: usize,
    /// An item that grew by more than this share of the before step time is a regression.
    pub regression_share_of_step: f64,
    /// ... and by more than this share of its own before time.
    pub regression_share_of_item: f64,
}

impl Default for DiffOptions {
    fn default() -> DiffOptions {
        DiffOptions {
            top_items: 15,
            regression_share_of_step: 0.01,
            regression_share_of_item: 0.10,
        }
    }
}

/// A figure before and after, with the change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Delta {
    /// Before.
    pub before: f64,
    /// After.
    pub after: f64,
    /// `after − before`.
    pub change: f64,
    /// `change / before` (`null` when before is zero).
    pub change_pct: Option<f64>,
}

impl Delta {
    /// The change from `before` to `after`.
    pub fn new(before: f64, after: f64) -> Delta {
        Delta {
            before,
            after,
            change: after - before,
            change_pct: (before != 0.0).then(|| (after - before) / before * 100.0),
        }
    }
}

/// The step time of both runs and whether the difference exceeds their noise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StepTimeDiff {
    /// Mean step time, microseconds.
    pub mean_us: Delta,
    /// The before run's step statistics.
    pub before: SampleStats,
    /// The after run's step statistics.
    pub after: SampleStats,
    /// Welch's t-test of the step times (`null` when either run has fewer than two steps or
    /// neither has any spread).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<WelchTest>,
}

/// The breakdown of time per step, microseconds, for each side that has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BreakdownDiff {
    /// Kernel (busy) time.
    pub kernel_us: Delta,
    /// Computation kernels.
    pub compute_us: Delta,
    /// Communication kernels.
    pub communication_us: Delta,
    /// Memory copies and sets.
    pub memory_us: Delta,
    /// GPU idle time.
    pub idle_us: Delta,
    /// Idle waiting on the host (summed over the GPU streams).
    pub idle_host_wait_us: Delta,
    /// Idle between dependent kernels (summed over the GPU streams).
    pub idle_kernel_wait_us: Delta,
    /// Other idle time (summed over the GPU streams).
    pub idle_other_us: Delta,
}

/// How one kernel or operator changed (times per step, microseconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ItemDiff {
    /// Kernel or CPU operator.
    pub kind: WorkKind,
    /// Its name.
    pub name: String,
    /// Its input shapes, when recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shapes: Option<String>,
    /// Calls per step.
    pub calls_per_step: Delta,
    /// Time per step.
    pub time_per_step_us: Delta,
    /// Whether it grew past the regression thresholds.
    pub regression: bool,
}

/// The comparison of two runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunDiff {
    /// The version of this JSON shape ([`crate::SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The before run's source.
    pub before_source: String,
    /// The after run's source.
    pub after_source: String,
    /// Step time (`null` when either run has no step times).
    pub step_time: Option<StepTimeDiff>,
    /// GPU breakdown per step (`null` unless both runs have one).
    pub breakdown: Option<BreakdownDiff>,
    /// Items in both runs, largest absolute change per step first.
    pub changed: Vec<ItemDiff>,
    /// Items only the after run has, longest first.
    pub new: Vec<ItemDiff>,
    /// Items only the before run has, longest first.
    pub vanished: Vec<ItemDiff>,
    /// Items that grew past the thresholds (changed or new), largest growth first.
    pub regressions: Vec<ItemDiff>,
    /// What limits the comparison.
    pub notes: Vec<String>,
}

impl RunDiff {
    /// A one-line verdict: faster, slower or within noise.
    pub fn verdict(&self) -> String {
        let Some(step) = &self.step_time else {
            return "no step times to compare".to_owned();
        };
        let pct = step.mean_us.change_pct.unwrap_or(0.0);
        let direction = if pct < 0.0 { "faster" } else { "slower" };
        match &step.test {
            Some(test) if test.significant => format!(
                "{:.1} % {direction} (p = {:.3}: larger than the step-to-step noise)",
                pct.abs(),
                test.p_value
            ),
            Some(test) => format!(
                "{:.1} % {direction}, within the step-to-step noise (p = {:.3})",
                pct.abs(),
                test.p_value
            ),
            None => format!(
                "{:.1} % {direction} (too few steps to test against noise)",
                pct.abs()
            ),
        }
    }
}

/// Compares two runs.
pub fn compare(before: &Run, after: &Run, options: &DiffOptions) -> RunDiff {
    let mut notes = Vec::new();
    let step_time = match (before.step_stats(), after.step_stats()) {
        (Some(b), Some(a)) => {
            let test = welch_test(&b, &a);
            if test.is_none() {
                notes.push(
                    "fewer than two steps on a side (or no spread): the step-time change \
                     is not tested against noise"
                        .to_owned(),
                );
            }
            Some(StepTimeDiff {
                mean_us: Delta::new(b.mean, a.mean),
                before: b,
                after: a,
                test,
            })
        }
        _ => {
            notes.push("a run has no step times: no step-time comparison".to_owned());
            None
        }
    };
    let (before_steps, after_steps) = (before.steps(), after.steps());
    let breakdown = match (&before.breakdown, &after.breakdown) {
        (Some(b), Some(a)) => Some(breakdown_diff(
            before,
            b,
            before.gpu_steps(),
            after,
            a,
            after.gpu_steps(),
        )),
        (None, None) => None,
        _ => {
            notes.push("only one run has a GPU breakdown".to_owned());
            None
        }
    };
    let step_before_us = step_time.as_ref().map_or(0.0, |s| s.mean_us.before);
    let key = |item: &WorkItem| (item.kind, item.name.clone(), item.shapes.clone());
    let mut by_key: BTreeMap<_, (Option<&WorkItem>, Option<&WorkItem>)> = BTreeMap::new();
    for item in &before.items {
        by_key.entry(key(item)).or_default().0 = Some(item);
    }
    for item in &after.items {
        by_key.entry(key(item)).or_default().1 = Some(item);
    }
    let (mut changed, mut new, mut vanished) = (Vec::new(), Vec::new(), Vec::new());
    for ((kind, name, shapes), (b, a)) in by_key {
        let per_step = |item: Option<&WorkItem>, run: &Run, steps: f64| {
            let steps = if kind == WorkKind::Kernel {
                run.gpu_steps()
            } else {
                steps
            };
            item.map_or((0.0, 0.0), |i| (i.count as f64 / steps, i.time_us / steps))
        };
        let (b_calls, b_time) = per_step(b, before, before_steps);
        let (a_calls, a_time) = per_step(a, after, after_steps);
        let growth = a_time - b_time;
        let regression = growth > options.regression_share_of_step * step_before_us
            && growth > options.regression_share_of_item * b_time;
        let diff = ItemDiff {
            kind,
            name,
            shapes,
            calls_per_step: Delta::new(b_calls, a_calls),
            time_per_step_us: Delta::new(b_time, a_time),
            regression,
        };
        match (b, a) {
            (Some(_), Some(_)) => changed.push(diff),
            (None, Some(_)) => new.push(diff),
            _ => vanished.push(diff),
        }
    }
    let mut regressions: Vec<ItemDiff> = changed
        .iter()
        .chain(&new)
        .filter(|d| d.regression)
        .cloned()
        .collect();
    regressions.sort_by(|x, y| {
        y.time_per_step_us
            .change
            .total_cmp(&x.time_per_step_us.change)
    });
    changed.sort_by(|x, y| {
        y.time_per_step_us
            .change
            .abs()
            .total_cmp(&x.time_per_step_us.change.abs())
    });
    new.sort_by(|x, y| {
        y.time_per_step_us
            .after
            .total_cmp(&x.time_per_step_us.after)
    });
    vanished.sort_by(|x, y| {
        y.time_per_step_us
            .before
            .total_cmp(&x.time_per_step_us.before)
    });
    for list in [&mut changed, &mut new, &mut vanished, &mut regressions] {
        list.truncate(options.top_items);
    }
    RunDiff {
        schema_version: crate::SCHEMA_VERSION,
        before_source: before.source.clone(),
        after_source: after.source.clone(),
        step_time,
        breakdown,
        changed,
        new,
        vanished,
        regressions,
        notes,
    }
}

fn breakdown_diff(
    before: &Run,
    b: &GpuTimeBreakdown,
    before_steps: f64,
    after: &Run,
    a: &GpuTimeBreakdown,
    after_steps: f64,
) -> BreakdownDiff {
    let delta =
        |f: fn(&GpuTimeBreakdown) -> f64| Delta::new(f(b) / before_steps, f(a) / after_steps);
    let idle = |run: &Run, f: fn(&advisor_core::StreamIdleBreakdown) -> f64, steps: f64| {
        run.idle.iter().map(f).sum::<f64>() / steps
    };
    BreakdownDiff {
        kernel_us: delta(|x| x.kernel_time_us),
        compute_us: delta(|x| x.compute_us),
        communication_us: delta(|x| x.communication_us),
        memory_us: delta(|x| x.memory_us),
        idle_us: delta(|x| x.idle_us),
        idle_host_wait_us: Delta::new(
            idle(before, |s| s.host_wait_us, before_steps),
            idle(after, |s| s.host_wait_us, after_steps),
        ),
        idle_kernel_wait_us: Delta::new(
            idle(before, |s| s.kernel_wait_us, before_steps),
            idle(after, |s| s.kernel_wait_us, after_steps),
        ),
        idle_other_us: Delta::new(
            idle(before, |s| s.other_us, before_steps),
            idle(after, |s| s.other_us, after_steps),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: WorkKind, name: &str, count: u64, time_us: f64) -> WorkItem {
        WorkItem {
            kind,
            name: name.to_owned(),
            shapes: None,
            count,
            time_us,
        }
    }

    #[test]
    fn items_match_by_name_and_are_per_step() {
        let before = Run {
            source: "before".to_owned(),
            step_times_us: vec![1000.0, 1010.0],
            items: vec![
                item(WorkKind::CpuOp, "aten::mm", 20, 1200.0),
                item(WorkKind::CpuOp, "aten::cat", 10, 400.0),
            ],
            ..Run::default()
        };
        let after = Run {
            source: "after".to_owned(),
            step_times_us: vec![900.0, 905.0, 910.0, 895.0],
            items: vec![
                item(WorkKind::CpuOp, "aten::mm", 40, 4000.0),
                item(WorkKind::CpuOp, "aten::softmax", 4, 100.0),
            ],
            ..Run::default()
        };
        let diff = compare(&before, &after, &DiffOptions::default());
        let mm = &diff.changed[0];
        assert_eq!(mm.name, "aten::mm");
        // 1200 µs over 2 steps before, 4000 µs over 4 steps after.
        assert_eq!(mm.time_per_step_us.before, 600.0);
        assert_eq!(mm.time_per_step_us.after, 1000.0);
        assert!(mm.regression);
        assert_eq!(diff.new[0].name, "aten::softmax");
        assert_eq!(diff.vanished[0].name, "aten::cat");
        assert_eq!(diff.regressions.len(), 2, "{:?}", diff.regressions);
        let step = diff.step_time.as_ref().map(|s| s.mean_us);
        assert_eq!(step.map(|d| d.after), Some(902.5));
    }

    #[test]
    fn noise_hides_a_small_change() {
        let before = Run {
            step_times_us: vec![100.0, 140.0, 90.0, 130.0],
            ..Run::default()
        };
        let after = Run {
            step_times_us: vec![95.0, 135.0, 92.0, 128.0],
            ..Run::default()
        };
        let diff = compare(&before, &after, &DiffOptions::default());
        assert!(
            diff.verdict().contains("within the step-to-step noise"),
            "{}",
            diff.verdict()
        );
    }
}
