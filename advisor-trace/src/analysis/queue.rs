//! Queue length per GPU stream over time, as Holistic Trace Analysis's augmented counters
//! count it: an activity is queued from the start of the runtime call that launched it until
//! it ends on the GPU. A deep queue means the host runs ahead and the GPU is the bottleneck.

use advisor_core::StreamQueueLength;

use crate::accumulate::{FastMap, GpuActivity, RuntimeCalls};

use super::pct;

/// The queue length of each stream of the window's activities, summarised, by stream number.
/// An activity without its launch call counts from its own start.
/// `changes` are [`changes`]'s of the same activities.
pub(crate) fn queue_length(
    kept: &[GpuActivity],
    changes: &[(i32, f64, i32)],
) -> Vec<StreamQueueLength> {
    let mut gpu_time: FastMap<i32, f64> = FastMap::default();
    for activity in kept.iter().filter(|a| a.stream >= 0) {
        *gpu_time.entry(activity.stream).or_default() += activity.dur;
    }
    let mut rows = Vec::new();
    let mut index = 0;
    while index < changes.len() {
        let stream = changes[index].0;
        let first = changes[index].1;
        let (mut length, mut max, mut area, mut busy) = (0i64, 0i64, 0.0, 0.0);
        let mut last = first;
        while index < changes.len() && changes[index].0 == stream {
            let (_, time, delta) = changes[index];
            area += length as f64 * (time - last);
            if length > 0 {
                busy += time - last;
            }
            length += i64::from(delta);
            max = max.max(length);
            last = time;
            index += 1;
        }
        let span = last - first;
        rows.push(StreamQueueLength {
            stream: i64::from(stream),
            mean: if span > 0.0 { area / span } else { 0.0 },
            max: max.max(0) as u64,
            busy_pct: pct(busy, span),
            gpu_time_us: gpu_time.get(&stream).copied().unwrap_or(0.0),
        });
    }
    rows
}

/// The queue's changes, `(stream, time, +1 on launch or -1 on end)`, sorted by stream, then
/// time, ends before launches at the same time.
pub(crate) fn changes(kept: &[GpuActivity], runtime: &RuntimeCalls) -> Vec<(i32, f64, i32)> {
    let mut changes: Vec<(i32, f64, i32)> = Vec::with_capacity(kept.len() * 2);
    for activity in kept.iter().filter(|a| a.stream >= 0) {
        let end = activity.ts + activity.dur;
        let launched = runtime
            .of(activity)
            .map_or(activity.ts, |call| call.ts)
            .min(end);
        changes.push((activity.stream, launched, 1));
        changes.push((activity.stream, end, -1));
    }
    // Ends before launches at the same time: a queue that empties and refills at one instant
    // does not count twice. Equal keys are equal changes, so an unstable sort (which needs no
    // scratch buffer) gives the same order.
    changes.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
    changes
}

#[cfg(test)]
mod tests {
    use crate::analysis::summary_of;

    #[test]
    fn queue_length_per_stream() {
        let launch = |ts: u32, dur: u32, correlation: u32| {
            format!(
                r#"{{"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": {ts}, "dur": {dur}, "args": {{"correlation": {correlation}}}}}"#
            )
        };
        let kernel = |ts: u32, dur: u32, stream: u32, correlation: u32| {
            format!(
                r#"{{"ph": "X", "cat": "kernel", "name": "k", "ts": {ts}, "dur": {dur}, "args": {{"correlation": {correlation}, "stream": {stream}}}}}"#
            )
        };
        // (events) -> rows (stream, mean, max, busy %, GPU time)
        type Case = (Vec<String>, Vec<(i64, f64, u64, f64, f64)>);
        let cases: Vec<Case> = vec![
            (vec![], vec![]),
            // Two kernels launched together at 0, running 10..20 and 20..30: the queue is 2
            // until 20, then 1 until 30.
            (
                vec![
                    launch(0, 1, 1),
                    launch(0, 1, 2),
                    kernel(10, 10, 7, 1),
                    kernel(20, 10, 7, 2),
                ],
                vec![(7, (2.0 * 20.0 + 10.0) / 30.0, 2, 100.0, 20.0)],
            ),
            // Without a launch call a kernel counts from its start; a gap empties the queue.
            (
                vec![
                    kernel(0, 10, 3, 1),
                    kernel(30, 10, 3, 2),
                    kernel(0, 40, 4, 3),
                ],
                vec![(3, 0.5, 1, 50.0, 20.0), (4, 1.0, 1, 100.0, 40.0)],
            ),
        ];
        for (events, expected) in cases {
            let events: Vec<&str> = events.iter().map(String::as_str).collect();
            let found: Vec<(i64, f64, u64, f64, f64)> = summary_of("", &events)
                .queue_length
                .iter()
                .map(|q| (q.stream, q.mean, q.max, q.busy_pct, q.gpu_time_us))
                .collect();
            assert_eq!(found, expected, "{events:?}");
        }
    }
}
