//! Host-blocked time: runtime calls inside the steps that hold the CPU until the GPU catches
//! up (copies to or from pageable memory, synchronous copies, synchronizations, event waits,
//! and any call far longer than usual), by cause and by the CPU operator and user annotation
//! that issued them.

use std::collections::BTreeMap;

use advisor_core::{HostBlockCause, HostBlockedByCause, HostBlockedFacts, HostBlockedSite};

use crate::accumulate::{CpuSpan, FastMap, GpuActivity, GpuCategory, Interner, Step, SyncCall};

use super::{TOP, pct, step_index};

/// A runtime call this long or longer is kept as a candidate outlier while streaming.
pub(crate) const OUTLIER_MIN_US: f64 = 100.0;
/// An outlier takes at least this many times the mean of the other calls of its name.
const OUTLIER_FACTOR: f64 = 10.0;

/// A runtime or driver call that copies or sets memory.
fn is_copy_call(name: &str) -> bool {
    [
        "cudaMemcpy",
        "cuMemcpy",
        "hipMemcpy",
        "cudaMemset",
        "cuMemset",
        "hipMemset",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
}

/// Whether a call may block the host whatever its duration: it is kept while streaming.
pub(crate) fn may_block(name: &str) -> bool {
    is_copy_call(name) || name.contains("Synchronize")
}

/// Why the call blocked the host, if it did. `copy_kind` is the kind of the copy it issued
/// (`DtoH (Device -> Pageable)`); `others` the count and total time of the other calls of its
/// name.
fn cause(
    name: &str,
    copy_kind: Option<&str>,
    dur: f64,
    others: (u64, f64),
) -> Option<HostBlockCause> {
    if name.contains("EventSynchronize") {
        return Some(HostBlockCause::EventWait);
    }
    if name.contains("Synchronize") {
        return Some(HostBlockCause::Synchronize);
    }
    if is_copy_call(name) {
        if copy_kind.is_some_and(|kind| kind.contains("Pageable")) {
            return Some(HostBlockCause::PageableCopy);
        }
        if !name.contains("Async") {
            return Some(HostBlockCause::SynchronousCopy);
        }
    }
    let (count, time) = others;
    let outlier = dur >= OUTLIER_MIN_US && count > 0 && dur >= OUTLIER_FACTOR * time / count as f64;
    if !outlier {
        None
    } else if name.contains("Launch") || name.contains("Async") {
        // An enqueue that waited: the queue was full.
        Some(HostBlockCause::LaunchBackpressure)
    } else {
        Some(HostBlockCause::Outlier)
    }
}

/// The kind of a copy or set from its GPU activity's name: `Memcpy DtoH (Device -> Pageable)`
/// is `DtoH (Device -> Pageable)`.
pub(crate) fn copy_kind(name: &str) -> &str {
    name.strip_prefix("Memcpy ").unwrap_or(name)
}

/// The innermost CPU operator and user annotation (not a step) around each call, on its
/// thread. `spans` are sorted by thread, start, then longest first (as `cpu_ops` leaves them).
fn attribute(
    calls: &[&SyncCall],
    spans: &[CpuSpan],
    names: &Interner,
) -> Vec<(Option<u32>, Option<u32>)> {
    let mut order: Vec<usize> = (0..calls.len()).collect();
    order.sort_by(|&a, &b| {
        calls[a]
            .thread
            .cmp(&calls[b].thread)
            .then(calls[a].ts.total_cmp(&calls[b].ts))
    });
    let mut found = vec![(None, None); calls.len()];
    let mut stack: Vec<usize> = Vec::new();
    let (mut thread, mut next, mut end) = (None, 0, 0);
    for index in order {
        let call = calls[index];
        if thread != Some(call.thread) {
            thread = Some(call.thread);
            stack.clear();
            next = spans.partition_point(|s| s.thread < call.thread);
            end = spans.partition_point(|s| s.thread <= call.thread);
        }
        while next < end && spans[next].start <= call.ts {
            while stack
                .last()
                .is_some_and(|&top| spans[top].end <= spans[next].start)
            {
                stack.pop();
            }
            stack.push(next);
            next += 1;
        }
        while stack.last().is_some_and(|&top| spans[top].end <= call.ts) {
            stack.pop();
        }
        let (mut op, mut annotation) = (None, None);
        for &open in stack.iter().rev() {
            let span = &spans[open];
            // A span that ended before the call is a closed sibling below the top.
            if span.end <= call.ts {
                continue;
            }
            if span.is_op {
                op = op.or(Some(span.name));
            } else if annotation.is_none() && names.name(span.name) != "ProfilerStep" {
                annotation = Some(span.name);
            }
            if op.is_some() && annotation.is_some() {
                break;
            }
        }
        found[index] = (op, annotation);
    }
    found
}

/// One runtime call inside a step that blocked the host, with why and where.
pub(crate) struct Blocking<'a> {
    pub(crate) call: &'a SyncCall,
    pub(crate) cause: HostBlockCause,
    /// The name of the copy's GPU activity (`Memcpy DtoH (Device -> Pageable)`).
    pub(crate) copy: Option<u32>,
    /// The innermost CPU operator around the call.
    pub(crate) op: Option<u32>,
    /// The innermost user annotation around the call (not a step).
    pub(crate) annotation: Option<u32>,
}

/// The runtime calls inside steps that blocked the host, in the candidates' order.
pub(crate) fn blocking_calls<'a>(
    steps: &[Step],
    candidates: &'a [SyncCall],
    runtime_by_name: &FastMap<u32, (u64, f64)>,
    gpu: &[GpuActivity],
    spans: &[CpuSpan],
    names: &Interner,
) -> Vec<Blocking<'a>> {
    let copies: FastMap<i64, u32> = gpu
        .iter()
        .filter(|a| a.category != GpuCategory::Kernel && a.correlation >= 0)
        .map(|a| (a.correlation, a.name))
        .collect();
    let mut blocking: Vec<(&SyncCall, HostBlockCause, Option<u32>)> = Vec::new();
    for call in candidates {
        if step_index(steps, call.ts).is_none() {
            continue;
        }
        let copy = copies.get(&call.correlation).copied();
        let (count, time) = runtime_by_name
            .get(&call.name)
            .copied()
            .unwrap_or((1, call.dur));
        let others = (count.saturating_sub(1), (time - call.dur).max(0.0));
        let kind = copy.map(|id| copy_kind(names.name(id)));
        if let Some(cause) = cause(names.name(call.name), kind, call.dur, others) {
            blocking.push((call, cause, copy));
        }
    }
    let calls: Vec<&SyncCall> = blocking.iter().map(|b| b.0).collect();
    let sites_of = attribute(&calls, spans, names);
    blocking
        .into_iter()
        .zip(sites_of)
        .map(|((call, cause, copy), (op, annotation))| Blocking {
            call,
            cause,
            copy,
            op,
            annotation,
        })
        .collect()
}

/// The host-blocked time inside steps; `None` without steps. `blocking` are
/// [`blocking_calls`]' of the same steps.
pub(crate) fn host_blocked(
    steps: &[Step],
    blocking: &[Blocking<'_>],
    names: &Interner,
) -> Option<HostBlockedFacts> {
    if steps.is_empty() {
        return None;
    }
    let step_time: f64 = steps.iter().map(|s| s.dur).sum();
    let mut by_cause: BTreeMap<HostBlockCause, (u64, f64)> = BTreeMap::new();
    type SiteKey = (HostBlockCause, u32, Option<u32>, Option<u32>, Option<u32>);
    let mut by_site: BTreeMap<SiteKey, (u64, f64)> = BTreeMap::new();
    for &Blocking {
        call,
        cause,
        copy,
        op,
        annotation,
    } in blocking
    {
        let entry = by_cause.entry(cause).or_default();
        entry.0 += 1;
        entry.1 += call.dur;
        let entry = by_site
            .entry((cause, call.name, copy, op, annotation))
            .or_default();
        entry.0 += 1;
        entry.1 += call.dur;
    }
    // `+ 0.0`: an empty float sum is -0.0, which would print as "-0.00 ms".
    let time: f64 = by_cause.values().map(|v| v.1).sum::<f64>() + 0.0;
    let mut by_cause: Vec<HostBlockedByCause> = by_cause
        .into_iter()
        .map(|(cause, (calls, time_us))| HostBlockedByCause {
            cause,
            calls,
            time_us,
            pct_of_step: pct(time_us, step_time),
        })
        .collect();
    by_cause.sort_by(|a, b| b.time_us.total_cmp(&a.time_us).then(a.cause.cmp(&b.cause)));
    let owned = |id: Option<u32>| id.map(|id| names.name(id).to_owned());
    let mut by_site: Vec<HostBlockedSite> = by_site
        .into_iter()
        .map(
            |((cause, call, copy, op, annotation), (calls, time_us))| HostBlockedSite {
                cause,
                call: names.name(call).to_owned(),
                copy_kind: copy.map(|id| copy_kind(names.name(id)).to_owned()),
                op: owned(op),
                annotation: owned(annotation),
                calls,
                time_us,
                pct_of_step: pct(time_us, step_time),
            },
        )
        .collect();
    by_site.sort_by(|a, b| {
        b.time_us
            .total_cmp(&a.time_us)
            .then_with(|| (&a.call, &a.op, &a.annotation).cmp(&(&b.call, &b.op, &b.annotation)))
    });
    by_site.truncate(TOP);
    Some(HostBlockedFacts {
        calls: blocking.len() as u64,
        time_us: time,
        step_time_us: step_time,
        pct_of_step: pct(time, step_time),
        by_cause,
        by_site,
    })
}

#[cfg(test)]
mod tests {
    use advisor_core::HostBlockCause::{self, *};

    use crate::analysis::summary_of;

    #[test]
    fn causes() {
        // (call, copy kind, dur, others (count, time)) -> cause
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            f64,
            (u64, f64),
            Option<HostBlockCause>,
        );
        let cases: &[Case] = &[
            (
                "cudaStreamSynchronize",
                None,
                5.0,
                (0, 0.0),
                Some(Synchronize),
            ),
            (
                "cudaDeviceSynchronize",
                None,
                5.0,
                (0, 0.0),
                Some(Synchronize),
            ),
            ("cudaEventSynchronize", None, 5.0, (0, 0.0), Some(EventWait)),
            (
                "cudaMemcpyAsync",
                Some("DtoH (Device -> Pageable)"),
                5.0,
                (0, 0.0),
                Some(PageableCopy),
            ),
            (
                "cudaMemcpyAsync",
                Some("HtoD (Pageable -> Device)"),
                5.0,
                (0, 0.0),
                Some(PageableCopy),
            ),
            (
                "cudaMemcpyAsync",
                Some("HtoD (Pinned -> Device)"),
                5.0,
                (0, 0.0),
                None,
            ),
            (
                "cudaMemcpyAsync",
                Some("DtoD (Device -> Device)"),
                5.0,
                (0, 0.0),
                None,
            ),
            (
                "cudaMemcpy",
                Some("DtoD (Device -> Device)"),
                5.0,
                (0, 0.0),
                Some(SynchronousCopy),
            ),
            ("cudaMemset", None, 5.0, (0, 0.0), Some(SynchronousCopy)),
            ("cudaMemsetAsync", None, 5.0, (0, 0.0), None),
            // Outliers: at least 100 µs and ten times the others' mean.
            (
                "cudaStreamGetPriority",
                None,
                2393.0,
                (950, 700.0),
                Some(Outlier),
            ),
            (
                "cudaLaunchKernel",
                None,
                150.0,
                (10, 100.0),
                Some(LaunchBackpressure),
            ),
            (
                "cudaGraphLaunch",
                None,
                5000.0,
                (10, 100.0),
                Some(LaunchBackpressure),
            ),
            ("cudaLaunchKernel", None, 150.0, (10, 200.0), None),
            ("cudaLaunchKernel", None, 99.0, (10, 10.0), None),
            ("cudaMalloc", None, 5000.0, (0, 0.0), None),
            // Any enqueue that waited is back-pressure; another long call is an outlier.
            (
                "cudaMemcpyAsync",
                Some("DtoD (Device -> Device)"),
                500.0,
                (10, 100.0),
                Some(LaunchBackpressure),
            ),
            (
                "cudaStreamGetPriority",
                None,
                500.0,
                (10, 100.0),
                Some(Outlier),
            ),
        ];
        for &(name, kind, dur, others, expected) in cases {
            assert_eq!(
                super::cause(name, kind, dur, others),
                expected,
                "{name} {kind:?} {dur}"
            );
        }
    }

    fn event(
        cat: &str,
        name: &str,
        ts: u32,
        dur: u32,
        tid: u32,
        correlation: Option<u32>,
    ) -> String {
        let args = correlation.map_or(String::new(), |c| {
            format!(r#", "args": {{"correlation": {c}, "stream": 7, "bytes": 4}}"#)
        });
        format!(
            r#"{{"ph": "X", "cat": "{cat}", "name": "{name}", "ts": {ts}, "dur": {dur}, "pid": 1, "tid": {tid}{args}}}"#
        )
    }

    #[test]
    fn blocked_time_by_cause_and_site() {
        let mut events = vec![
            event("user_annotation", "ProfilerStep#1", 0, 1000, 1, None),
            event(
                "user_annotation",
                "## sparse_data_dist ##",
                10,
                400,
                1,
                None,
            ),
            event("cpu_op", "aten::to", 20, 200, 1, None),
            event("cpu_op", "aten::copy_", 30, 150, 1, None),
            event("cuda_runtime", "cudaMemcpyAsync", 40, 100, 1, Some(1)),
            event(
                "gpu_memcpy",
                "Memcpy DtoH (Device -> Pageable)",
                50,
                80,
                7,
                Some(1),
            ),
            // A pinned copy does not block.
            event("cuda_runtime", "cudaMemcpyAsync", 300, 10, 1, Some(2)),
            event(
                "gpu_memcpy",
                "Memcpy HtoD (Pinned -> Device)",
                310,
                5,
                7,
                Some(2),
            ),
            event("cpu_op", "aten::item", 500, 100, 1, None),
            event("cpu_op", "aten::_local_scalar_dense", 505, 90, 1, None),
            event("cuda_runtime", "cudaMemcpyAsync", 510, 60, 1, Some(3)),
            event(
                "gpu_memcpy",
                "Memcpy DtoH (Device -> Pageable)",
                560,
                2,
                7,
                Some(3),
            ),
            event("cuda_runtime", "cudaStreamSynchronize", 700, 50, 1, Some(4)),
            // Another thread's synchronization has no operator around it.
            event(
                "cuda_runtime",
                "cudaDeviceSynchronize",
                800,
                100,
                2,
                Some(5),
            ),
            // Outside the step.
            event(
                "cuda_runtime",
                "cudaDeviceSynchronize",
                2000,
                100,
                1,
                Some(6),
            ),
        ];
        events.push(event("cpu_op", "aten::add", 790, 120, 2, None));
        let events: Vec<&str> = events.iter().map(String::as_str).collect();
        let blocked = summary_of("", &events).host_blocked.expect("steps");
        assert_eq!(
            (blocked.calls, blocked.time_us, blocked.pct_of_step),
            (4, 310.0, 31.0)
        );
        let causes: Vec<(HostBlockCause, u64, f64)> = blocked
            .by_cause
            .iter()
            .map(|c| (c.cause, c.calls, c.time_us))
            .collect();
        assert_eq!(causes, [(PageableCopy, 2, 160.0), (Synchronize, 2, 150.0)]);
        // (call, copy kind, operator, annotation, time)
        type Site<'a> = (
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            f64,
        );
        let sites: Vec<Site> = blocked
            .by_site
            .iter()
            .map(|s| {
                (
                    s.call.as_str(),
                    s.copy_kind.as_deref(),
                    s.op.as_deref(),
                    s.annotation.as_deref(),
                    s.time_us,
                )
            })
            .collect();
        assert_eq!(
            sites,
            [
                (
                    "cudaDeviceSynchronize",
                    None,
                    Some("aten::add"),
                    None,
                    100.0
                ),
                (
                    "cudaMemcpyAsync",
                    Some("DtoH (Device -> Pageable)"),
                    Some("aten::copy_"),
                    Some("## sparse_data_dist ##"),
                    100.0
                ),
                (
                    "cudaMemcpyAsync",
                    Some("DtoH (Device -> Pageable)"),
                    Some("aten::_local_scalar_dense"),
                    None,
                    60.0
                ),
                ("cudaStreamSynchronize", None, None, None, 50.0),
            ]
        );
        let without_steps = summary_of("", &events[1..]);
        assert!(without_steps.host_blocked.is_none());
    }
}
