//! The analyses, one module per fact. Each reads the records the streaming pass kept
//! (`accumulate`) and fills advisor-core's fact types directly (`GpuTimeBreakdown`,
//! `KernelLaunchFacts`, ...), or the summary's own tables where core has no fact (steps, top
//! kernels and CPU operators, memcpy by direction). Each ends with its table-driven tests.

pub(crate) mod breakdown;
pub(crate) mod collective_bandwidth;
pub(crate) mod collectives;
pub(crate) mod communication;
pub(crate) mod cpu_ops;
pub(crate) mod data_loader;
pub(crate) mod devices;
pub(crate) mod host_blocked;
pub(crate) mod host_syncs;
pub(crate) mod idle;
pub(crate) mod input_wait;
pub(crate) mod kernels;
pub(crate) mod launches;
pub(crate) mod memcpy;
pub(crate) mod memcpy_kinds;
pub(crate) mod memory;
pub(crate) mod queue;
pub(crate) mod roofline;
pub(crate) mod run_facts;
pub(crate) mod steps;
pub(crate) mod tensor_cores;

use crate::accumulate::Step;

/// A call shorter than this is a small operation or a short kernel (the order of a kernel
/// launch or a PyTorch dispatch); the same threshold as the `kernel_fusion` rule.
pub(crate) const SMALL_US: f64 = 20.0;
/// Rows kept in the top tables.
pub(crate) const TOP: usize = 10;

/// `part` as a percentage of `whole`, 0 when `whole` is not positive.
pub(crate) fn pct(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        100.0 * part / whole
    } else {
        0.0
    }
}

/// The nearest-rank percentile of sorted values.
pub(crate) fn percentile(sorted: &[f64], quantile: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((quantile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// The step a time falls in. Steps are sorted and do not overlap: the last step starting at
/// or before `ts`, if `ts` is before its end.
pub(crate) fn step_index(steps: &[Step], ts: f64) -> Option<usize> {
    span_index(steps, ts, |s| (s.ts, s.ts + s.dur))
}

/// The span a time falls in, of spans sorted by start that do not overlap (`bounds` gives a
/// span's start and end): the last one starting at or before `ts`, if `ts` is before its end.
pub(crate) fn span_index<T>(
    spans: &[T],
    ts: f64,
    bounds: impl Fn(&T) -> (f64, f64),
) -> Option<usize> {
    let after = spans.partition_point(|s| bounds(s).0 <= ts);
    let index = after.checked_sub(1)?;
    (ts < bounds(&spans[index]).1).then_some(index)
}

/// The length of the union of intervals (sorts them).
pub(crate) fn union_length(intervals: &mut [(f64, f64)]) -> f64 {
    intervals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut current: Option<(f64, f64)> = None;
    for &(start, end) in intervals.iter() {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((s, e)) = current {
        total += e - s;
    }
    total
}

/// The summary of a trace made of `events` (JSON objects) and `metadata` (top-level keys
/// and values, written as JSON), for the analyses' tests.
#[cfg(test)]
pub(crate) fn summary_of(metadata: &str, events: &[&str]) -> crate::TraceSummary {
    let separator = if metadata.is_empty() { "" } else { "," };
    let text = format!(
        r#"{{{metadata}{separator} "traceEvents": [{}]}}"#,
        events.join(",")
    );
    crate::read_trace(text.as_bytes(), "test", crate::TraceOptions::default())
        .unwrap_or_else(|error| panic!("{error} in {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        let cases: &[(&[f64], f64, Option<f64>)] = &[
            (&[], 0.5, None),
            (&[1.0], 0.95, Some(1.0)),
            (&[1.0, 2.0, 3.0, 4.0], 0.5, Some(2.0)),
            (&[1.0, 2.0, 3.0, 4.0], 0.95, Some(4.0)),
        ];
        for (sorted, quantile, expected) in cases {
            assert_eq!(
                percentile(sorted, *quantile),
                *expected,
                "{sorted:?} {quantile}"
            );
        }
        let unions: &[(&[(f64, f64)], f64)] = &[
            (&[], 0.0),
            (&[(0.0, 10.0), (5.0, 15.0)], 15.0),
            (&[(20.0, 30.0), (0.0, 10.0)], 20.0),
            (&[(0.0, 10.0), (2.0, 3.0), (10.0, 11.0)], 11.0),
        ];
        for (intervals, expected) in unions {
            assert_eq!(
                union_length(&mut intervals.to_vec()),
                *expected,
                "{intervals:?}"
            );
        }
        let steps = [
            Step {
                number: 1,
                ts: 0.0,
                dur: 10.0,
            },
            Step {
                number: 2,
                ts: 20.0,
                dur: 10.0,
            },
        ];
        let at: &[(f64, Option<usize>)] = &[
            (-1.0, None),
            (0.0, Some(0)),
            (9.9, Some(0)),
            (10.0, None),
            (25.0, Some(1)),
            (30.0, None),
        ];
        for (ts, expected) in at {
            assert_eq!(step_index(&steps, *ts), *expected, "{ts}");
        }
        assert_eq!((pct(1.0, 4.0), pct(1.0, 0.0)), (25.0, 0.0));
    }
}
