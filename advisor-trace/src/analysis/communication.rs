//! Communication kernels (NCCL, Gloo) and how much of their time computation overlaps.

use advisor_core::{CommunicationFacts, GpuTimeBreakdown};

use crate::accumulate::{GpuActivity, Kind};

use super::{breakdown::Overlap, devices::DistributedSummary, pct};

/// The window's communication; `None` when no communication kernel ran.
pub(crate) fn communication(
    kept: &[GpuActivity],
    breakdown: Option<&(GpuTimeBreakdown, Overlap)>,
    distributed: Option<&DistributedSummary>,
) -> Option<CommunicationFacts> {
    let (breakdown, overlap) = breakdown?;
    (overlap.communication_us > 0.0).then(|| CommunicationFacts {
        kernels: kept
            .iter()
            .filter(|a| a.kind == Kind::Communication)
            .count() as u64,
        time_us: overlap.communication_us,
        overlapped_us: overlap.overlapped_us,
        overlap_pct: pct(overlap.overlapped_us, overlap.communication_us),
        exposed_pct_of_kernel_time: breakdown.communication_pct,
        backend: distributed.and_then(|d| d.backend.clone()),
        world_size: distributed
            .and_then(|d| d.world_size)
            .and_then(|w| u64::try_from(w).ok()),
        bus_bandwidth_gb_per_s: None,
    })
}

#[cfg(test)]
mod tests {
    use crate::analysis::summary_of;

    #[test]
    fn communication_and_overlap() {
        // (metadata, kernels (name, ts, dur)) -> (kernels, time, overlapped, overlap %, exposed %, backend)
        type Case<'a> = (
            &'a str,
            &'a [(&'a str, f64, f64)],
            Option<(u64, f64, f64, f64, f64, Option<&'a str>)>,
        );
        let cases: &[Case] = &[
            ("", &[("gemm", 0.0, 10.0)], None),
            (
                r#""distributedInfo": {"backend": "nccl", "rank": 0, "world_size": 2}"#,
                &[("gemm", 0.0, 10.0), ("ncclKernel_AllReduce", 5.0, 15.0)],
                Some((1, 15.0, 5.0, 100.0 / 3.0, 50.0, Some("nccl"))),
            ),
            (
                "",
                &[("gloo:all_reduce", 0.0, 10.0)],
                Some((1, 10.0, 0.0, 0.0, 100.0, None)),
            ),
        ];
        for (metadata, kernels, expected) in cases {
            let events: Vec<String> = kernels
                .iter()
                .map(|(name, ts, dur)| format!(r#"{{"ph": "X", "cat": "kernel", "name": "{name}", "ts": {ts}, "dur": {dur}}}"#))
                .collect();
            let events: Vec<&str> = events.iter().map(String::as_str).collect();
            let comm = summary_of(metadata, &events).communication;
            let found = comm.as_ref().map(|c| {
                (
                    c.kernels,
                    c.time_us,
                    c.overlapped_us,
                    c.overlap_pct,
                    c.exposed_pct_of_kernel_time,
                    c.backend.as_deref(),
                )
            });
            assert_eq!(found, *expected, "{kernels:?}");
        }
    }
}
