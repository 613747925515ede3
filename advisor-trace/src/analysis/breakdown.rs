//! The GPU time breakdown, as Holistic Trace Analysis's temporal breakdown defines it: one
//! sweep over the start and end points of the GPU activities, classifying each stretch of
//! time by which kinds (computation, communication, memory) are running.

use advisor_core::GpuTimeBreakdown;

use crate::accumulate::{GpuActivity, Kind};

use super::pct;

/// Communication time and the part of it that computation overlaps, from the same sweep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Overlap {
    /// Time at least one communication kernel runs.
    pub(crate) communication_us: f64,
    /// Part of it with a computation kernel running too.
    pub(crate) overlapped_us: f64,
}

/// The breakdown of a set of GPU activities and the communication overlap; `None` without
/// activities. Times are whole microseconds, as HTA rounds them (start up, end down).
pub(crate) fn sweep(activities: &[GpuActivity]) -> Option<(GpuTimeBreakdown, Overlap)> {
    let (first, last) = span_of(activities)?;
    let mut pieces = sweep_pieces(activities, &[]);
    let (totals, overlap) = pieces.pop()?;
    debug_assert_eq!(totals.span, last - first);
    Some((totals.breakdown(), overlap))
}

/// The first start and last end of the activities, whole microseconds.
fn span_of(activities: &[GpuActivity]) -> Option<(i64, i64)> {
    let first = activities.iter().map(|a| a.start).min()?;
    let last = activities.iter().map(|a| a.end.max(a.start)).max()?;
    Some((first, last))
}

/// Whole-microsecond totals of one stretch of the sweep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) span: i64,
    busy: i64,
    compute: i64,
    communication_only: i64,
    memory_only: i64,
}

impl Totals {
    pub(crate) fn breakdown(self) -> GpuTimeBreakdown {
        let span = self.span as f64;
        let idle = span - self.busy as f64;
        let compute_us = self.compute as f64;
        let non_compute = span - compute_us - idle;
        GpuTimeBreakdown {
            kernel_time_us: span,
            idle_us: idle,
            compute_us,
            communication_us: self.communication_only as f64,
            memory_us: self.memory_only as f64,
            non_compute_us: non_compute,
            idle_pct: pct(idle, span),
            compute_pct: pct(compute_us, span),
            communication_pct: pct(self.communication_only as f64, span),
            memory_pct: pct(self.memory_only as f64, span),
            non_compute_pct: pct(non_compute, span),
        }
    }
}

/// One sweep over the activities' span, cut at `cuts` (sorted; whole microseconds): the
/// totals of each stretch `[first, cuts[0])`, `[cuts[0], cuts[1])`, ..., `[cuts[n-1], last]`,
/// with cuts clamped into the span, so the stretches tile it and their totals add up to the
/// whole span's exactly. Empty without activities.
pub(crate) fn sweep_pieces(activities: &[GpuActivity], cuts: &[i64]) -> Vec<(Totals, Overlap)> {
    let Some((first, last)) = span_of(activities) else {
        return Vec::new();
    };
    let mut points: Vec<(i64, i8, Kind)> = Vec::with_capacity(activities.len() * 2);
    for activity in activities {
        // A zero-length or rounded-away activity still bounds the span.
        let end = activity.end.max(activity.start);
        points.push((activity.start, 1, activity.kind));
        points.push((end, -1, activity.kind));
    }
    // Ends before starts at the same time: touching intervals leave no gap either way.
    points.sort_unstable_by_key(|&(t, delta, _)| (t, delta));
    let bounds: Vec<i64> = cuts.iter().map(|&c| c.clamp(first, last)).collect();
    let mut pieces = vec![(Totals::default(), (0i64, 0i64)); bounds.len() + 1];
    let (mut compute, mut comm, mut memory) = (0i64, 0i64, 0i64);
    let mut piece = 0usize;
    let mut previous = first;
    // Adds the stretch [from, to), which lies in one piece, with the running counters.
    let mut add = |piece: usize, length: i64, compute: i64, comm: i64, memory: i64| {
        let (totals, (comm_time, overlap)) = &mut pieces[piece];
        if compute > 0 || comm > 0 || memory > 0 {
            totals.busy += length;
        }
        if compute > 0 {
            totals.compute += length;
        } else if comm > 0 {
            totals.communication_only += length;
        } else if memory > 0 {
            totals.memory_only += length;
        }
        if comm > 0 {
            *comm_time += length;
            if compute > 0 {
                *overlap += length;
            }
        }
    };
    for (time, delta, kind) in points {
        // Split the stretch since the previous point at every cut inside it.
        while piece < bounds.len() && bounds[piece] <= time {
            let cut = bounds[piece].max(previous);
            if cut > previous {
                add(piece, cut - previous, compute, comm, memory);
                previous = cut;
            }
            piece += 1;
        }
        if time > previous {
            add(piece, time - previous, compute, comm, memory);
        }
        previous = previous.max(time);
        let counter = match kind {
            Kind::Compute => &mut compute,
            Kind::Communication => &mut comm,
            Kind::Memory => &mut memory,
        };
        *counter += i64::from(delta);
    }
    let mut starts = vec![first];
    starts.extend(bounds.iter().copied());
    let mut ends = bounds;
    ends.push(last);
    pieces
        .into_iter()
        .zip(starts.into_iter().zip(ends))
        .map(|((mut totals, (communication, overlap)), (start, end))| {
            totals.span = end - start;
            (
                totals,
                Overlap {
                    communication_us: communication as f64,
                    overlapped_us: overlap as f64,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::analysis::summary_of;

    #[test]
    fn temporal_breakdown() {
        // GPU events (category, name, ts, dur) -> (span, idle, compute, communication, memory)
        type Case<'a> = (
            &'a [(&'a str, &'a str, f64, f64)],
            Option<(f64, f64, f64, f64, f64)>,
        );
        let cases: &[Case] = &[
            (&[], None),
            (
                &[("kernel", "gemm", 0.0, 10.0)],
                Some((10.0, 0.0, 10.0, 0.0, 0.0)),
            ),
            // A gap between two kernels is idle.
            (
                &[
                    ("kernel", "gemm", 0.0, 10.0),
                    ("kernel", "relu", 20.0, 10.0),
                ],
                Some((30.0, 10.0, 20.0, 0.0, 0.0)),
            ),
            // NCCL alone is communication; under computation it is compute.
            (
                &[
                    ("kernel", "gemm", 0.0, 10.0),
                    ("kernel", "ncclKernel_AllReduce", 5.0, 10.0),
                ],
                Some((15.0, 0.0, 10.0, 5.0, 0.0)),
            ),
            // Memcpy and memset are memory, also when named as kernels.
            (
                &[
                    ("gpu_memcpy", "Memcpy HtoD (Pageable -> Device)", 0.0, 4.0),
                    ("kernel", "Memset (Device)", 4.0, 2.0),
                    ("kernel", "gemm", 6.0, 4.0),
                ],
                Some((10.0, 0.0, 4.0, 0.0, 6.0)),
            ),
            // Fractional times round as HTA does: start up, end down.
            (
                &[("kernel", "gemm", 0.5, 10.0)],
                Some((9.0, 0.0, 9.0, 0.0, 0.0)),
            ),
        ];
        for (activities, expected) in cases {
            let events: Vec<String> = activities
                .iter()
                .map(|(cat, name, ts, dur)| {
                    format!(r#"{{"ph": "X", "cat": "{cat}", "name": "{name}", "ts": {ts}, "dur": {dur}}}"#)
                })
                .collect();
            let events: Vec<&str> = events.iter().map(String::as_str).collect();
            let b = summary_of("", &events).breakdown;
            let found = b.as_ref().map(|b| {
                (
                    b.kernel_time_us,
                    b.idle_us,
                    b.compute_us,
                    b.communication_us,
                    b.memory_us,
                )
            });
            assert_eq!(found, *expected, "{activities:?}");
            if let Some(b) = b {
                let total = b.idle_pct + b.compute_pct + b.communication_pct + b.memory_pct;
                assert!((total - 100.0).abs() < 1e-9, "{b:?}");
                assert_eq!(b.non_compute_us, b.communication_us + b.memory_us);
            }
        }
    }
}
