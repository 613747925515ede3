//! Synchronizing runtime calls inside the steps: the host waits for the GPU.

use std::collections::BTreeMap;

use advisor_core::{HostSyncFacts, NamedCount};

use crate::accumulate::{Interner, Step, SyncCall};

use super::{pct, step_index};

/// Whether a runtime or driver call blocks the host until the GPU catches up.
pub(crate) fn is_sync_call(name: &str) -> bool {
    matches!(
        name,
        "cudaDeviceSynchronize"
            | "cudaStreamSynchronize"
            | "cudaEventSynchronize"
            | "cudaMemcpy"
            | "cudaMemset"
            | "cuCtxSynchronize"
            | "cuStreamSynchronize"
            | "cuEventSynchronize"
            | "hipDeviceSynchronize"
            | "hipStreamSynchronize"
            | "hipEventSynchronize"
            | "hipMemcpy"
    )
}

/// The synchronizing calls inside steps, by name (most frequent first); `None` without steps.
pub(crate) fn host_syncs(
    steps: &[Step],
    syncs: &[SyncCall],
    names: &Interner,
) -> Option<HostSyncFacts> {
    if steps.is_empty() {
        return None;
    }
    let mut by_name: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
    let (mut calls, mut time) = (0u64, 0.0);
    for sync in syncs {
        if is_sync_call(names.name(sync.name)) && step_index(steps, sync.ts).is_some() {
            calls += 1;
            time += sync.dur;
            let entry = by_name.entry(names.name(sync.name)).or_default();
            entry.0 += 1;
            entry.1 += sync.dur;
        }
    }
    let mut by_name: Vec<NamedCount> = by_name
        .into_iter()
        .map(|(name, (count, time_us))| NamedCount {
            name: name.to_owned(),
            count,
            time_us,
        })
        .collect();
    by_name.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
    let step_time: f64 = steps.iter().map(|s| s.dur).sum();
    Some(HostSyncFacts {
        calls_in_steps: calls,
        time_us: time,
        pct_of_step: pct(time, step_time),
        by_name,
    })
}

#[cfg(test)]
mod tests {
    use crate::analysis::summary_of;

    #[test]
    fn synchronizing_calls_in_steps() {
        let step = r#"{"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#1", "ts": 0, "dur": 100}"#;
        let call = |name: &str, ts: u32, dur: u32| {
            format!(
                r#"{{"ph": "X", "cat": "cuda_runtime", "name": "{name}", "ts": {ts}, "dur": {dur}}}"#
            )
        };
        // (events, with a step) -> (calls, time, share, by name (name, count, time))
        type Expected<'a> = Option<(u64, f64, f64, Vec<(&'a str, u64, f64)>)>;
        let cases: Vec<(Vec<String>, bool, Expected)> = vec![
            (vec![call("cudaStreamSynchronize", 0, 10)], false, None),
            (
                vec![
                    call("cudaStreamSynchronize", 10, 10),
                    call("cudaDeviceSynchronize", 30, 5),
                    call("cudaStreamSynchronize", 50, 10),
                    call("cudaLaunchKernel", 60, 10),
                    call("cudaStreamSynchronize", 150, 10),
                ],
                true,
                Some((
                    3,
                    25.0,
                    25.0,
                    vec![
                        ("cudaStreamSynchronize", 2, 20.0),
                        ("cudaDeviceSynchronize", 1, 5.0),
                    ],
                )),
            ),
        ];
        for (mut events, with_step, expected) in cases {
            if with_step {
                events.push(step.to_owned());
            }
            let events: Vec<&str> = events.iter().map(String::as_str).collect();
            let syncs = summary_of("", &events).host_syncs;
            let found = syncs.as_ref().map(|h| {
                (
                    h.calls_in_steps,
                    h.time_us,
                    h.pct_of_step,
                    h.by_name
                        .iter()
                        .map(|n| (n.name.as_str(), n.count, n.time_us))
                        .collect::<Vec<_>>(),
                )
            });
            assert_eq!(found, expected, "{events:?}");
        }
    }
}
