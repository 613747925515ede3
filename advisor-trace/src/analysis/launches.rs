//! Kernel launches: kernels matched to their launch call by correlation id, kernels shorter
//! than their launch, short kernels, and the delay from launch to start. The kernels of a CUDA
//! graph share their `cudaGraphLaunch`'s correlation id; one launch runs them all, so they
//! are not matched to it (a 5 µs graph kernel is not "shorter than" a 600 µs graph launch).

use advisor_core::KernelLaunchFacts;

use crate::accumulate::{GpuActivity, GpuCategory, RuntimeCalls};

use super::{SMALL_US, pct, percentile};

/// The launch statistics of the window's kernels; `None` without kernels.
pub(crate) fn launch_summary(
    kept: &[GpuActivity],
    runtime: &RuntimeCalls,
) -> Option<KernelLaunchFacts> {
    let kernels: Vec<&GpuActivity> = kept
        .iter()
        .filter(|a| a.category == GpuCategory::Kernel)
        .collect();
    if kernels.is_empty() {
        return None;
    }
    let mut delays = Vec::new();
    let (mut matched, mut shorter, mut launch_total) = (0u64, 0u64, 0.0);
    for kernel in &kernels {
        if let Some(call) = runtime.of(kernel)
            && call.is_launch
        {
            matched += 1;
            launch_total += call.dur;
            if kernel.dur < call.dur {
                shorter += 1;
            }
            delays.push(kernel.ts - call.ts);
        }
    }
    delays.sort_by(f64::total_cmp);
    let short: Vec<&&GpuActivity> = kernels.iter().filter(|k| k.dur < SMALL_US).collect();
    Some(KernelLaunchFacts {
        kernels: kernels.len() as u64,
        matched,
        shorter_than_launch: shorter,
        shorter_than_launch_pct: pct(shorter as f64, matched as f64),
        short_kernels: short.len() as u64,
        short_kernel_threshold_us: SMALL_US,
        short_kernel_time_us: short.iter().map(|k| k.dur).sum(),
        kernel_time_us: kernels.iter().map(|k| k.dur).sum(),
        launch_call_us_mean: (matched > 0).then(|| launch_total / matched as f64),
        launch_delay_us_p50: percentile(&delays, 0.50),
        launch_delay_us_p95: percentile(&delays, 0.95),
    })
}

#[cfg(test)]
mod tests {
    use crate::analysis::summary_of;

    #[test]
    fn launch_statistics() {
        // (launch calls (name, correlation, ts, dur), kernels (correlation, ts, dur)) ->
        // (kernels, matched, shorter than launch, short, launch mean, delay p50)
        type Case<'a> = (
            &'a [(&'a str, u32, f64, f64)],
            &'a [(u32, f64, f64)],
            Option<(u64, u64, u64, u64, Option<f64>, Option<f64>)>,
        );
        let cases: &[Case] = &[
            (&[], &[], None),
            // Unmatched kernels count, but give no launch figures.
            (&[], &[(1, 0.0, 30.0)], Some((1, 0, 0, 0, None, None))),
            (
                &[
                    ("cudaLaunchKernel", 1, 0.0, 8.0),
                    ("cudaLaunchKernel", 2, 10.0, 4.0),
                ],
                &[(1, 20.0, 5.0), (2, 30.0, 50.0)],
                Some((2, 2, 1, 1, Some(6.0), Some(20.0))),
            ),
            // A graph's kernels are not compared with the whole `cudaGraphLaunch`.
            (
                &[("cudaGraphLaunch", 1, 0.0, 600.0)],
                &[(1, 20.0, 5.0), (1, 30.0, 5.0)],
                Some((2, 0, 0, 2, None, None)),
            ),
            // A copy's runtime call is not a launch.
            (
                &[("cudaMemcpyAsync", 1, 0.0, 8.0)],
                &[(1, 20.0, 5.0)],
                Some((1, 0, 0, 1, None, None)),
            ),
        ];
        for (calls, kernels, expected) in cases {
            let mut events: Vec<String> = calls
                .iter()
                .map(|(name, c, ts, dur)| format!(r#"{{"ph": "X", "cat": "cuda_runtime", "name": "{name}", "ts": {ts}, "dur": {dur}, "args": {{"correlation": {c}}}}}"#))
                .collect();
            events.extend(kernels.iter().map(|(c, ts, dur)| format!(r#"{{"ph": "X", "cat": "kernel", "name": "k", "ts": {ts}, "dur": {dur}, "args": {{"correlation": {c}}}}}"#)));
            let events: Vec<&str> = events.iter().map(String::as_str).collect();
            let launch = summary_of("", &events).launch;
            let found = launch.as_ref().map(|l| {
                (
                    l.kernels,
                    l.matched,
                    l.shorter_than_launch,
                    l.short_kernels,
                    l.launch_call_us_mean,
                    l.launch_delay_us_p50,
                )
            });
            assert_eq!(found, *expected, "{calls:?} {kernels:?}");
        }
    }
}
