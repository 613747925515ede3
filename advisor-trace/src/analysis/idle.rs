//! Why each GPU stream is idle: Holistic Trace Analysis's idle-time breakdown (host wait,
//! kernel wait, other), defined on advisor-core's `StreamIdleBreakdown`.

use advisor_core::StreamIdleBreakdown;

use crate::accumulate::{FastMap, GpuActivity, RuntimeCall};

/// A gap between two activities already launched is the cost of starting back-to-back
/// kernels when it is shorter than this (HTA's `consecutive_kernel_delay` default).
pub(crate) const KERNEL_WAIT_US: i64 = 30;

/// The idle-time breakdown of the window's GPU activities, one row per stream, by stream
/// number. Activities without a stream are left out, as HTA leaves them out.
pub(crate) fn idle_breakdown(
    kept: &[GpuActivity],
    runtime: &FastMap<i64, RuntimeCall>,
) -> Vec<StreamIdleBreakdown> {
    // (stream, start, end, when the launching call started), whole microseconds.
    let mut activities: Vec<(i32, i64, i64, Option<i64>)> = kept
        .iter()
        .filter(|a| a.stream >= 0)
        .map(|a| {
            let launched = runtime
                .get(&a.correlation)
                .map(|call| call.ts.ceil() as i64);
            (a.stream, a.start, a.end, launched)
        })
        .collect();
    activities.sort_unstable_by_key(|&(stream, start, end, _)| (stream, start, end));
    let mut rows: Vec<StreamIdleBreakdown> = Vec::new();
    let mut previous: Option<(i32, i64)> = None;
    for (stream, start, end, launched) in activities {
        let row = match rows.last_mut() {
            Some(row) if row.stream == i64::from(stream) => row,
            _ => {
                rows.push(StreamIdleBreakdown {
                    stream: i64::from(stream),
                    ..StreamIdleBreakdown::default()
                });
                previous = None;
                let Some(row) = rows.last_mut() else { break };
                row
            }
        };
        if let Some((_, previous_end)) = previous {
            // As in HTA, the gap is measured from the previous activity's end, even when it
            // overlaps this one (the gap is then negative): the three parts still add up to
            // the stream's busy-to-busy span minus its activities.
            let gap = (start - previous_end) as f64;
            if launched.is_some_and(|launched| launched > previous_end) {
                row.host_wait_us += gap;
            } else if start - previous_end < KERNEL_WAIT_US {
                row.kernel_wait_us += gap;
            } else {
                row.other_us += gap;
            }
        }
        previous = Some((stream, end));
    }
    rows
}

#[cfg(test)]
mod tests {
    use crate::analysis::summary_of;

    #[test]
    fn idle_time_by_cause() {
        // (launch calls (correlation, ts), activities (correlation, stream, ts, dur)) ->
        // rows (stream, host wait, kernel wait, other)
        type Case<'a> = (
            &'a [(u32, f64)],
            &'a [(u32, i32, f64, f64)],
            &'a [(i64, f64, f64, f64)],
        );
        let cases: &[Case] = &[
            (&[], &[], &[]),
            // One activity: a stream with no idle time.
            (&[(1, 0.0)], &[(1, 7, 10.0, 10.0)], &[(7, 0.0, 0.0, 0.0)]),
            // Launched after the previous kernel ended: host wait.
            (
                &[(1, 0.0), (2, 50.0)],
                &[(1, 7, 10.0, 10.0), (2, 7, 60.0, 10.0)],
                &[(7, 40.0, 0.0, 0.0)],
            ),
            // Launched early, gap under 30 µs: kernel wait; at 30 µs or more: other.
            (
                &[(1, 0.0), (2, 1.0), (3, 2.0)],
                &[(1, 7, 10.0, 10.0), (2, 7, 25.0, 10.0), (3, 7, 80.0, 10.0)],
                &[(7, 0.0, 5.0, 45.0)],
            ),
            // No launch call found: never host wait. Streams apart, by number; activities
            // without a stream left out.
            (
                &[],
                &[
                    (1, 20, 0.0, 10.0),
                    (2, 20, 100.0, 10.0),
                    (3, 3, 0.0, 5.0),
                    (4, 3, 10.0, 5.0),
                    (5, -1, 50.0, 1.0),
                ],
                &[(3, 0.0, 5.0, 0.0), (20, 0.0, 0.0, 90.0)],
            ),
            // Rounded as HTA rounds: starts up, ends down (ends at 20, next starts at 21).
            (
                &[(1, 0.0), (2, 20.4)],
                &[(1, 7, 10.2, 10.3), (2, 7, 20.6, 5.0)],
                &[(7, 1.0, 0.0, 0.0)],
            ),
        ];
        for (calls, activities, expected) in cases {
            let mut events: Vec<String> = calls
                .iter()
                .map(|(c, ts)| format!(r#"{{"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": {ts}, "dur": 1, "args": {{"correlation": {c}}}}}"#))
                .collect();
            events.extend(activities.iter().map(|(c, stream, ts, dur)| {
                let stream = if *stream >= 0 { format!(r#", "stream": {stream}"#) } else { String::new() };
                format!(r#"{{"ph": "X", "cat": "kernel", "name": "k", "ts": {ts}, "dur": {dur}, "args": {{"correlation": {c}{stream}}}}}"#)
            }));
            let events: Vec<&str> = events.iter().map(String::as_str).collect();
            let rows: Vec<(i64, f64, f64, f64)> = summary_of("", &events)
                .idle_breakdown
                .iter()
                .map(|r| (r.stream, r.host_wait_us, r.kernel_wait_us, r.other_us))
                .collect();
            assert_eq!(&rows, expected, "{activities:?}");
        }
    }
}
