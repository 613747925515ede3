//! Peak memory from the profiler's `[memory]` instant events (`profile_memory=True`).

use advisor_core::TraceMemoryFacts;

/// The peaks seen so far, folded as the events stream by.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct MemoryPeaks {
    gpu_allocated: Option<f64>,
    gpu_reserved: Option<f64>,
    cpu_allocated: Option<f64>,
}

impl MemoryPeaks {
    /// Folds one `[memory]` event's `Total Allocated` and `Total Reserved`.
    pub(crate) fn add(&mut self, on_gpu: bool, allocated: Option<f64>, reserved: Option<f64>) {
        let max = |slot: &mut Option<f64>, value: Option<f64>| {
            if let Some(value) = value {
                *slot = Some(slot.map_or(value, |s| s.max(value)));
            }
        };
        if on_gpu {
            max(&mut self.gpu_allocated, allocated);
            max(&mut self.gpu_reserved, reserved);
        } else {
            max(&mut self.cpu_allocated, allocated);
        }
    }

    /// The peaks; `None` without any memory event.
    pub(crate) fn facts(&self) -> Option<TraceMemoryFacts> {
        (self.gpu_allocated.is_some()
            || self.gpu_reserved.is_some()
            || self.cpu_allocated.is_some())
        .then(|| TraceMemoryFacts {
            gpu_peak_allocated_bytes: self.gpu_allocated.map(|b| b as u64),
            gpu_peak_reserved_bytes: self.gpu_reserved.map(|b| b as u64),
            cpu_peak_allocated_bytes: self.cpu_allocated.map(|b| b as u64),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::analysis::summary_of;

    #[test]
    fn memory_peaks() {
        let event = |allocated: u64, reserved: u64, device_type: u32| {
            format!(
                r#"{{"ph": "i", "cat": "cpu_instant_event", "name": "[memory]", "ts": 1, "args": {{"Total Allocated": {allocated}, "Total Reserved": {reserved}, "Device Type": {device_type}}}}}"#
            )
        };
        // events -> (GPU allocated, GPU reserved, CPU allocated)
        type Case = (Vec<String>, Option<(Option<u64>, Option<u64>, Option<u64>)>);
        let cases: Vec<Case> = vec![
            (vec![], None),
            (
                vec![event(10, 20, 0), event(5, 0, 0)],
                Some((None, None, Some(10))),
            ),
            (
                vec![event(100, 400, 1), event(300, 200, 1), event(7, 0, 0)],
                Some((Some(300), Some(400), Some(7))),
            ),
        ];
        for (events, expected) in cases {
            let events: Vec<&str> = events.iter().map(String::as_str).collect();
            let memory = summary_of("", &events).memory;
            let found = memory.map(|m| {
                (
                    m.gpu_peak_allocated_bytes,
                    m.gpu_peak_reserved_bytes,
                    m.cpu_peak_allocated_bytes,
                )
            });
            assert_eq!(found, expected, "{events:?}");
        }
    }
}
