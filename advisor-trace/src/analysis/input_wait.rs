//! What each step waits for before its first GPU work: the host time from the step's start
//! to its first runtime call with a correlation id (a launch or a copy), and how much of it
//! the GPU was idle (no activity of the analyzed window running). A data pipeline that does
//! not keep up shows here even without `DataLoader` spans (an iterable dataset, a streaming
//! reader, file I/O, tokenization in the loop).

use advisor_core::InputWaitFacts;

use crate::accumulate::{GpuActivity, RuntimeCalls, Step};

use super::pct;

/// `None` without two steps or without GPU work. `steps` must be sorted.
pub(crate) fn input_wait(
    steps: &[Step],
    runtime: &RuntimeCalls,
    kept: &[GpuActivity],
) -> Option<InputWaitFacts> {
    // The last step is outside the analyzed window (HTA keeps the work launched before it
    // starts), so its GPU idle would be overstated.
    let measured = steps.get(..steps.len().checked_sub(1)?)?;
    if measured.is_empty() || kept.is_empty() {
        return None;
    }
    let mut calls: Vec<f64> = runtime.calls().map(|call| call.ts).collect();
    calls.sort_unstable_by(f64::total_cmp);
    let mut busy: Vec<(f64, f64)> = kept.iter().map(|a| (a.ts, a.ts + a.dur)).collect();
    busy.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let merged = merge(busy);
    let (mut count, mut step_time, mut wait, mut longest, mut idle) = (0u64, 0.0, 0.0, 0.0f64, 0.0);
    for step in measured {
        let end = step.ts + step.dur;
        let first = calls.partition_point(|&t| t < step.ts);
        let Some(&launch) = calls.get(first).filter(|&&t| t < end) else {
            continue;
        };
        let waited = launch - step.ts;
        count += 1;
        step_time += step.dur;
        wait += waited;
        longest = longest.max(waited);
        idle += waited - overlap(&merged, step.ts, launch);
    }
    (count > 0).then(|| InputWaitFacts {
        steps: count,
        step_time_us: step_time,
        wait_us: wait,
        max_wait_us: longest,
        gpu_idle_us: idle,
        gpu_idle_pct_of_step: pct(idle, step_time),
    })
}

/// Sorted intervals merged where they overlap.
fn merge(sorted: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(sorted.len());
    for (start, end) in sorted {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// How much of `[from, to)` the merged intervals cover.
fn overlap(merged: &[(f64, f64)], from: f64, to: f64) -> f64 {
    let first = merged.partition_point(|&(_, end)| end <= from);
    merged[first..]
        .iter()
        .take_while(|&&(start, _)| start < to)
        .map(|&(start, end)| end.min(to) - start.max(from))
        .filter(|&covered| covered > 0.0)
        .sum()
}

#[cfg(test)]
mod tests {
    use crate::analysis::summary_of;

    #[test]
    fn the_wait_before_each_steps_first_gpu_call() {
        let step = |n: u32, ts: u32| {
            format!(
                r#"{{"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#{n}", "ts": {ts}, "dur": 1000}}"#
            )
        };
        let launch = |ts: u32, correlation: u32| {
            format!(
                r#"{{"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": {ts}, "dur": 5, "args": {{"correlation": {correlation}}}}}"#
            )
        };
        let kernel = |ts: u32, dur: u32, correlation: u32| {
            format!(
                r#"{{"ph": "X", "cat": "kernel", "name": "k", "ts": {ts}, "dur": {dur}, "args": {{"correlation": {correlation}, "stream": 7}}}}"#
            )
        };
        // Step 1 (0..1000) launches at 300: the GPU is idle for all 300 µs. Step 2
        // (1000..2000) launches at 1400 while step 1's last kernel runs until 1100: 300 of
        // its 400 µs are idle. Step 3 is the last step and is left out.
        let events = [
            step(1, 0),
            step(2, 1000),
            step(3, 2000),
            launch(300, 1),
            kernel(310, 790, 1),
            launch(1400, 2),
            kernel(1410, 500, 2),
            launch(2100, 3),
            kernel(2110, 100, 3),
        ];
        let events: Vec<&str> = events.iter().map(String::as_str).collect();
        let facts = summary_of("", &events)
            .input_wait
            .expect("two steps with GPU work");
        assert_eq!(facts.steps, 2);
        assert_eq!(facts.step_time_us, 2000.0);
        assert_eq!(facts.wait_us, 700.0);
        assert_eq!(facts.max_wait_us, 400.0);
        assert_eq!(facts.gpu_idle_us, 600.0);
        assert_eq!(facts.gpu_idle_pct_of_step, 30.0);
    }
}
