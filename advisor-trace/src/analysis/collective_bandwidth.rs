//! What bandwidth each kind of collective achieved: the message sizes PyTorch's c10d records
//! on `record_param_comms` (`In msg nelems`, `Out msg nelems`, `dtype`, `Group size`,
//! `Collective name`), the NCCL kernels each call launched (the kernel's launching runtime
//! call falls inside the operator), and the NCCL tests' definitions (NVIDIA,
//! `nccl-tests/doc/PERFORMANCE.md`): algorithm bandwidth is the message size over the time,
//! bus bandwidth that times the share of the data each rank must send over its links,
//! `2(n-1)/n` for all-reduce, `(n-1)/n` for all-gather, reduce-scatter and all-to-all, 1 for
//! broadcast, reduce and point-to-point. Bus bandwidth is what compares with the link's.
//!
//! On one rank the kernel's time includes waiting for the other ranks to arrive, so the
//! figure is a lower bound of the transfer's rate; the cross-rank view (`ranks`) separates
//! the wait.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::accumulate::{CommOp, FastMap, GpuActivity, Interner, Kind, RuntimeCalls};

/// The bandwidth of one kind of collective on one group size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CollectiveBandwidth {
    /// c10d's name of the collective: `allreduce`, `allgather`, `reduce_scatter`, ...
    pub collective: String,
    /// Ranks in the process group.
    pub group_size: u32,
    /// Calls whose kernels were found.
    pub calls: u64,
    /// Their messages together (the larger of each call's input and output), bytes.
    pub bytes: f64,
    /// Their kernels' GPU time, waiting for the other ranks included.
    pub kernel_time_us: f64,
    /// `bytes / kernel time`, GB/s.
    pub algbw_gb_per_s: f64,
    /// Algorithm bandwidth times `bus_factor`, GB/s: comparable with the link's bandwidth
    /// per direction.
    pub busbw_gb_per_s: f64,
    /// The share of the message each rank sends over its links (`2(n-1)/n` for all-reduce).
    pub bus_factor: f64,
}

/// The NCCL tests' bus-bandwidth factor of a collective on `ranks` ranks; `None` for a
/// barrier or a wait.
pub(crate) fn bus_factor(collective: &str, ranks: u32) -> Option<f64> {
    let name = collective.to_ascii_lowercase().replace('_', "");
    let n = f64::from(ranks.max(1));
    // A barrier, and the `wait` c10d records for a work object, move no data worth a rate.
    if name.contains("barrier") || name == "wait" {
        None
    } else if name.contains("allreduce") {
        Some(2.0 * (n - 1.0) / n)
    } else if ["allgather", "reducescatter", "alltoall"]
        .iter()
        .any(|k| name.contains(k))
    {
        Some((n - 1.0) / n)
    } else {
        Some(1.0)
    }
}

/// The collective calls by start, to find the one a kernel was launched in.
pub(crate) struct CommIndex<'a> {
    comms: &'a [CommOp],
    order: Vec<usize>,
    starts: Vec<f64>,
}

impl<'a> CommIndex<'a> {
    pub(crate) fn new(comms: &'a [CommOp]) -> CommIndex<'a> {
        let mut order: Vec<usize> = (0..comms.len()).collect();
        order.sort_by(|&a, &b| comms[a].start.total_cmp(&comms[b].start));
        let starts = order.iter().map(|&i| comms[i].start).collect();
        CommIndex {
            comms,
            order,
            starts,
        }
    }

    /// The call a communication kernel belongs to: the latest one that started before the
    /// kernel's launching runtime call and is still open at it (calls on other threads may
    /// overlap; a few are looked at).
    pub(crate) fn call_of(
        &self,
        activity: &GpuActivity,
        runtime: &RuntimeCalls,
    ) -> Option<(usize, &'a CommOp)> {
        let launch = runtime.of(activity)?.ts;
        let before = self.starts.partition_point(|&s| s <= launch);
        self.order[..before]
            .iter()
            .rev()
            .take(8)
            .find(|&&i| self.comms[i].end >= launch)
            .map(|&i| (i, &self.comms[i]))
    }
}

/// One row per collective and group size, most kernel time first.
pub(crate) fn collective_bandwidth(
    comms: &[CommOp],
    kept: &[GpuActivity],
    runtime: &RuntimeCalls,
    names: &Interner,
) -> Vec<CollectiveBandwidth> {
    if comms.is_empty() {
        return Vec::new();
    }
    let index = CommIndex::new(comms);
    // Kernel time per call.
    let mut time: FastMap<usize, f64> = FastMap::default();
    for activity in kept.iter().filter(|a| a.kind == Kind::Communication) {
        if let Some((call, _)) = index.call_of(activity, runtime) {
            *time.entry(call).or_default() += activity.dur;
        }
    }
    // (collective, group size) -> (calls, bytes, time)
    let mut rows: BTreeMap<(u32, u32), (u64, f64, f64)> = BTreeMap::new();
    // In call order, so the sums do not depend on the map's order.
    let mut time: Vec<(usize, f64)> = time.into_iter().collect();
    time.sort_unstable_by_key(|&(index, _)| index);
    for (index, dur) in time {
        let call = &comms[index];
        let row = rows.entry((call.collective, call.group_size)).or_default();
        row.0 += 1;
        row.1 += call.bytes;
        row.2 += dur;
    }
    let mut out: Vec<CollectiveBandwidth> = rows
        .into_iter()
        .filter_map(|((collective, group_size), (calls, bytes, time_us))| {
            let name = names.name(collective);
            let factor = bus_factor(name, group_size)?;
            let algbw = if time_us > 0.0 {
                bytes / (time_us * 1e-6) / 1e9
            } else {
                0.0
            };
            Some(CollectiveBandwidth {
                collective: name.to_owned(),
                group_size,
                calls,
                bytes,
                kernel_time_us: time_us,
                algbw_gb_per_s: algbw,
                busbw_gb_per_s: algbw * factor,
                bus_factor: factor,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.kernel_time_us
            .total_cmp(&a.kernel_time_us)
            .then_with(|| a.collective.cmp(&b.collective))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::bus_factor;
    use crate::analysis::summary_of;

    #[test]
    fn bus_factors_are_the_nccl_tests() {
        // (collective, ranks) -> factor
        let cases: &[(&str, u32, Option<f64>)] = &[
            ("allreduce", 2, Some(1.0)),
            ("allreduce", 8, Some(1.75)),
            ("all_reduce", 4, Some(1.5)),
            ("allgather", 8, Some(0.875)),
            ("_allgather_base", 4, Some(0.75)),
            ("reduce_scatter", 2, Some(0.5)),
            ("_reduce_scatter_base", 8, Some(0.875)),
            ("alltoall_base", 4, Some(0.75)),
            ("broadcast", 8, Some(1.0)),
            ("send", 2, Some(1.0)),
            ("barrier", 8, None),
            ("wait", 2, None),
        ];
        for &(name, ranks, factor) in cases {
            assert_eq!(bus_factor(name, ranks), factor, "{name} on {ranks}");
        }
    }

    #[test]
    fn a_collective_takes_the_kernels_launched_inside_it() {
        // An all-reduce of 1,000,000 floats on 4 ranks whose kernel runs 100 µs: 40 GB/s
        // algorithm bandwidth, 60 GB/s bus bandwidth. A second call's kernel is launched after
        // its operator ended and is not counted.
        let events = [
            r#"{"ph": "X", "cat": "cpu_op", "name": "record_param_comms", "ts": 0, "dur": 50, "tid": 1, "pid": 1, "args": {"In msg nelems": 1000000, "Out msg nelems": 1000000, "dtype": "Float", "Group size": 4, "Collective name": "allreduce"}}"#,
            r#"{"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": 10, "dur": 5, "tid": 1, "pid": 1, "args": {"correlation": 7}}"#,
            r#"{"ph": "X", "cat": "kernel", "name": "ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevComm*, unsigned long, ncclWork*)", "ts": 20, "dur": 100, "args": {"correlation": 7, "stream": 20}}"#,
            r#"{"ph": "X", "cat": "cpu_op", "name": "record_param_comms", "ts": 200, "dur": 10, "tid": 1, "pid": 1, "args": {"In msg nelems": 10, "Out msg nelems": 10, "dtype": "Float", "Group size": 4, "Collective name": "allreduce"}}"#,
            r#"{"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": 300, "dur": 5, "tid": 1, "pid": 1, "args": {"correlation": 8}}"#,
            r#"{"ph": "X", "cat": "kernel", "name": "ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevComm*, unsigned long, ncclWork*)", "ts": 310, "dur": 100, "args": {"correlation": 8, "stream": 20}}"#,
        ];
        let summary = summary_of("", &events);
        let rows = &summary.collective_bandwidth;
        assert_eq!(rows.len(), 1, "{rows:?}");
        let row = &rows[0];
        assert_eq!(
            (row.collective.as_str(), row.group_size, row.calls),
            ("allreduce", 4, 1)
        );
        assert_eq!(row.bytes, 4.0e6);
        assert_eq!(row.kernel_time_us, 100.0);
        assert!((row.algbw_gb_per_s - 40.0).abs() < 1e-9);
        assert!((row.busbw_gb_per_s - 60.0).abs() < 1e-9);
    }
}
