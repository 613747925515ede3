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
    let mut points: Vec<(i64, i8, Kind)> = Vec::with_capacity(activities.len() * 2);
    for activity in activities {
        // A zero-length or rounded-away activity still bounds the span.
        let end = activity.end.max(activity.start);
        points.push((activity.start, 1, activity.kind));
        points.push((end, -1, activity.kind));
    }
    if points.is_empty() {
        return None;
    }
    // Ends before starts at the same time: touching intervals leave no gap either way.
    points.sort_unstable_by_key(|&(t, delta, _)| (t, delta));
    let first = points.first().map(|p| p.0)?;
    let last = points.last().map(|p| p.0)?;
    let (mut compute, mut comm, mut memory) = (0i64, 0i64, 0i64);
    let (mut busy, mut compute_time, mut comm_only, mut mem_only, mut comm_time, mut overlap) =
        (0i64, 0i64, 0i64, 0i64, 0i64, 0i64);
    let mut previous = first;
    for (time, delta, kind) in points {
        let length = time - previous;
        if length > 0 {
            if compute > 0 || comm > 0 || memory > 0 {
                busy += length;
            }
            if compute > 0 {
                compute_time += length;
            } else if comm > 0 {
                comm_only += length;
            } else if memory > 0 {
                mem_only += length;
            }
            if comm > 0 {
                comm_time += length;
                if compute > 0 {
                    overlap += length;
                }
            }
        }
        previous = time;
        let counter = match kind {
            Kind::Compute => &mut compute,
            Kind::Communication => &mut comm,
            Kind::Memory => &mut memory,
        };
        *counter += i64::from(delta);
    }
    let span = (last - first) as f64;
    let idle = span - busy as f64;
    let compute_us = compute_time as f64;
    let non_compute = span - compute_us - idle;
    Some((
        GpuTimeBreakdown {
            kernel_time_us: span,
            idle_us: idle,
            compute_us,
            communication_us: comm_only as f64,
            memory_us: mem_only as f64,
            non_compute_us: non_compute,
            idle_pct: pct(idle, span),
            compute_pct: pct(compute_us, span),
            communication_pct: pct(comm_only as f64, span),
            memory_pct: pct(mem_only as f64, span),
            non_compute_pct: pct(non_compute, span),
        },
        Overlap {
            communication_us: comm_time as f64,
            overlapped_us: overlap as f64,
        },
    ))
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
