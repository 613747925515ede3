//! Time the steps spend in the data loader (`enumerate(DataLoader)#...__next__`).

use advisor_core::DataLoaderFacts;

use crate::accumulate::Step;

use super::{pct, step_index, union_length};

/// Whether a CPU operator or annotation is a data-loader call.
pub(crate) fn is_data_loader(name: &str) -> bool {
    name.starts_with("enumerate(DataLoader)")
        || (name.contains("DataLoader") && name.contains("__next__"))
}

/// The data-loader share of the steps; `None` without steps. Only calls that start inside a
/// step count, and nested calls count once (the union of their intervals).
pub(crate) fn data_loader(steps: &[Step], calls: &[(f64, f64)]) -> Option<DataLoaderFacts> {
    if steps.is_empty() {
        return None;
    }
    let step_time: f64 = steps.iter().map(|s| s.dur).sum();
    let mut inside: Vec<(f64, f64)> = calls
        .iter()
        .filter(|(start, _)| step_index(steps, *start).is_some())
        .copied()
        .collect();
    let count = inside.len() as u64;
    let time = union_length(&mut inside);
    Some(DataLoaderFacts {
        time_us: time,
        step_time_us: step_time,
        pct_of_step: pct(time, step_time),
        calls: count,
    })
}

#[cfg(test)]
mod tests {
    use crate::analysis::summary_of;

    #[test]
    fn data_loader_share() {
        let step = r#"{"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#1", "ts": 0, "dur": 100}"#;
        let call = |name: &str, ts: u32, dur: u32| {
            format!(r#"{{"ph": "X", "cat": "cpu_op", "name": "{name}", "ts": {ts}, "dur": {dur}}}"#)
        };
        let next = "enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__";
        // (events, with a step) -> (time, step time, share, calls)
        type Case = (Vec<String>, bool, Option<(f64, f64, f64, u64)>);
        let cases: Vec<Case> = vec![
            (vec![call(next, 0, 10)], false, None),
            (
                vec![call("aten::mm", 0, 10)],
                true,
                Some((0.0, 100.0, 0.0, 0)),
            ),
            // Nested calls count once; a call after the step not at all.
            (
                vec![
                    call(next, 10, 20),
                    call("_MultiProcessingDataLoaderIter.__next__", 15, 5),
                    call(next, 150, 10),
                ],
                true,
                Some((20.0, 100.0, 20.0, 2)),
            ),
        ];
        for (mut events, with_step, expected) in cases {
            if with_step {
                events.push(step.to_owned());
            }
            let events: Vec<&str> = events.iter().map(String::as_str).collect();
            let loader = summary_of("", &events).data_loader;
            let found = loader
                .as_ref()
                .map(|d| (d.time_us, d.step_time_us, d.pct_of_step, d.calls));
            assert_eq!(found, expected, "{events:?}");
        }
    }
}
