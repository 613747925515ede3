//! Why each GPU stream is idle: Holistic Trace Analysis's idle-time breakdown (host wait,
//! kernel wait, other), defined on advisor-core's `StreamIdleBreakdown`.

use advisor_core::StreamIdleBreakdown;

use crate::accumulate::{GpuActivity, RuntimeCalls};

/// A gap between two activities already launched is the cost of starting back-to-back
/// kernels when it is shorter than this (HTA's `consecutive_kernel_delay` default).
pub(crate) const KERNEL_WAIT_US: i64 = 30;

/// Why a stream waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    Host,
    Kernel,
    Other,
}

impl Cause {
    /// The cause as the idle-time breakdown names it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Cause::Host => "host wait",
            Cause::Kernel => "kernel wait",
            Cause::Other => "other",
        }
    }
}

/// One gap on a stream: from the previous activity's end to this one's start (negative when
/// they overlap), whole microseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gap {
    pub(crate) stream: i32,
    pub(crate) from: i64,
    pub(crate) to: i64,
    pub(crate) cause: Cause,
}

impl Gap {
    fn add_to(&self, row: &mut StreamIdleBreakdown, length: f64) {
        match self.cause {
            Cause::Host => row.host_wait_us += length,
            Cause::Kernel => row.kernel_wait_us += length,
            Cause::Other => row.other_us += length,
        }
    }
}

/// The idle-time breakdown of the window's GPU activities, one row per stream, by stream
/// number. Activities without a stream are left out, as HTA leaves them out.
pub(crate) fn idle_breakdown(stream_gaps: &StreamGaps) -> Vec<StreamIdleBreakdown> {
    let StreamGaps { streams, gaps } = stream_gaps;
    let mut rows: Vec<StreamIdleBreakdown> = streams
        .iter()
        .map(|&stream| StreamIdleBreakdown {
            stream: i64::from(stream),
            ..StreamIdleBreakdown::default()
        })
        .collect();
    for gap in gaps {
        if let Ok(index) = streams.binary_search(&gap.stream) {
            gap.add_to(&mut rows[index], (gap.to - gap.from) as f64);
        }
    }
    rows
}

/// The idle-time breakdown cut into the stretches `[.., cuts[0])`, `[cuts[0], cuts[1])`, ...,
/// `[cuts[n-1], ..)` (sorted, whole microseconds): one list of stream rows per stretch. A gap
/// that crosses a cut is split at it, and an overlap (a negative gap) counts where the
/// activity that overlaps starts, so the stretches' rows add up to [`idle_breakdown`]'s.
pub(crate) fn idle_breakdown_pieces(
    stream_gaps: &StreamGaps,
    cuts: &[i64],
) -> Vec<Vec<StreamIdleBreakdown>> {
    let StreamGaps { streams, gaps } = stream_gaps;
    let empty: Vec<StreamIdleBreakdown> = streams
        .iter()
        .map(|&stream| StreamIdleBreakdown {
            stream: i64::from(stream),
            ..StreamIdleBreakdown::default()
        })
        .collect();
    let mut pieces = vec![empty; cuts.len() + 1];
    let piece_of = |t: i64| cuts.partition_point(|&c| c <= t);
    for gap in gaps {
        let Ok(row) = streams.binary_search(&gap.stream) else {
            continue;
        };
        if gap.to <= gap.from {
            gap.add_to(
                &mut pieces[piece_of(gap.to)][row],
                (gap.to - gap.from) as f64,
            );
            continue;
        }
        let mut from = gap.from;
        let mut piece = piece_of(from);
        while from < gap.to {
            let end = cuts.get(piece).map_or(gap.to, |&c| c.min(gap.to));
            gap.add_to(&mut pieces[piece][row], (end - from) as f64);
            from = end;
            piece += 1;
        }
    }
    pieces
}

/// The streams of the window's activities and the gaps between consecutive activities on
/// each: worked out once, for the whole window's breakdown, the steps' and the annotations.
pub(crate) struct StreamGaps {
    /// Stream numbers, sorted.
    pub(crate) streams: Vec<i32>,
    /// By stream, then time (negative where activities overlap).
    pub(crate) gaps: Vec<Gap>,
}

/// The streams (sorted) and the gaps between consecutive activities on each, classified as
/// HTA classifies them.
pub(crate) fn gaps(kept: &[GpuActivity], runtime: &RuntimeCalls) -> StreamGaps {
    // (stream, start, end, when the launching call started), whole microseconds.
    let mut activities: Vec<(i32, i64, i64, Option<i64>)> = kept
        .iter()
        .filter(|a| a.stream >= 0)
        .map(|a| {
            let launched = runtime.of(a).map(|call| call.ts.ceil() as i64);
            (a.stream, a.start, a.end, launched)
        })
        .collect();
    activities.sort_unstable_by_key(|&(stream, start, end, _)| (stream, start, end));
    let mut streams: Vec<i32> = Vec::new();
    let mut gaps = Vec::new();
    let mut previous: Option<(i32, i64)> = None;
    for (stream, start, end, launched) in activities {
        match previous {
            Some((previous_stream, previous_end)) if previous_stream == stream => {
                // As in HTA, the gap is measured from the previous activity's end, even when
                // it overlaps this one (the gap is then negative): the three parts still add
                // up to the stream's busy-to-busy span minus its activities.
                let cause = if launched.is_some_and(|launched| launched > previous_end) {
                    Cause::Host
                } else if start - previous_end < KERNEL_WAIT_US {
                    Cause::Kernel
                } else {
                    Cause::Other
                };
                gaps.push(Gap {
                    stream,
                    from: previous_end,
                    to: start,
                    cause,
                });
            }
            _ => streams.push(stream),
        }
        previous = Some((stream, end));
    }
    StreamGaps { streams, gaps }
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
