//! The communication kernels (NCCL, Gloo) of a trace, one record each, so that the ranks of
//! a job can be matched collective by collective (`ranks`).

use serde::{Deserialize, Serialize};

use crate::accumulate::{CommOp, GpuActivity, Interner, Kind, RuntimeCalls};

use super::collective_bandwidth::{CommIndex, bus_factor};

/// One communication kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Collective {
    /// The kernel name up to its argument list (`ncclKernel_AllReduce_RING_LL_Sum_float`).
    pub name: String,
    /// Start in microseconds since the Unix epoch when the trace's timestamps are absolute
    /// (`baseTimeNanoseconds` added), else the trace's own clock.
    pub start_us: f64,
    /// Duration.
    pub dur_us: f64,
    /// Bytes its collective moves times the NCCL tests' bus factor (`record_param_comms`'s
    /// sizes), so the transfer's bus bandwidth can be worked out once the ranks' wait is
    /// known; absent without sizes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus_bytes: Option<f64>,
}

/// Every communication kernel, in time order.
pub(crate) fn collectives(
    activities: &[GpuActivity],
    names: &Interner,
    base_time_ns: Option<u64>,
    comms: &[CommOp],
    runtime: &RuntimeCalls,
) -> Vec<Collective> {
    let base_us = base_time_ns.map_or(0.0, |ns| ns as f64 / 1000.0);
    let index = CommIndex::new(comms);
    let mut found: Vec<Collective> = activities
        .iter()
        .filter(|a| a.kind == Kind::Communication)
        .map(|a| {
            let name = names.name(a.name);
            Collective {
                name: name[..name.find('(').unwrap_or(name.len())]
                    .trim()
                    .to_owned(),
                start_us: base_us + a.ts,
                dur_us: a.dur,
                bus_bytes: index.call_of(a, runtime).and_then(|(_, call)| {
                    let factor = bus_factor(names.name(call.collective), call.group_size)?;
                    Some(call.bytes * factor)
                }),
            }
        })
        .collect();
    found.sort_by(|a, b| a.start_us.total_cmp(&b.start_us).then(a.name.cmp(&b.name)));
    found
}
