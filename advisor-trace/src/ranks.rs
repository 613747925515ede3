//! Every rank of a job at once: each rank's trace read on its own thread, in its own bounded
//! memory, into a small [`RankSummary`]; then the cross-rank view ([`merge`]): a per-rank
//! table, stragglers (step-time skew) and the collectives matched across ranks, with each
//! rank's NCCL time split into waiting for the slowest rank and transferring.
//!
//! The cross-rank sections are computed from the rank summaries alone, and a rank summary is
//! what `advisor trace --format json` writes for one file (a subset of its keys), so merging
//! per-rank JSON files gives what reading the traces together gives.

use std::{
    path::{Path, PathBuf},
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use advisor_core::{GpuTimeBreakdown, StreamIdleBreakdown};
use serde::{Deserialize, Serialize};

use crate::{
    Collective, DistributedSummary, TraceError, TraceOptions, TraceSummary, read_trace_file,
};

/// One step of one rank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RankStep {
    /// `N` of `ProfilerStep#N`.
    pub step: i64,
    /// Wall time.
    pub duration_us: f64,
}

/// One kernel name of a rank's top table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RankKernel {
    /// Kernel name.
    pub name: String,
    /// Total time.
    pub total_us: f64,
    /// Share of the rank's kernel time.
    pub pct_of_kernel_time: f64,
}

/// What the cross-rank view needs of one rank. Its keys are those of the single-trace JSON
/// (`advisor trace --format json`), so that JSON reads as a rank summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RankSummary {
    /// Where the trace came from.
    pub source: String,
    /// `distributedInfo`: the rank and world size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distributed: Option<DistributedSummary>,
    /// The profiler steps.
    #[serde(default)]
    pub steps: Vec<RankStep>,
    /// The GPU time breakdown.
    #[serde(default)]
    pub breakdown: Option<GpuTimeBreakdown>,
    /// The idle-time breakdown per stream.
    #[serde(default)]
    pub idle_breakdown: Vec<StreamIdleBreakdown>,
    /// The longest kernels.
    #[serde(default)]
    pub top_kernels: Vec<RankKernel>,
    /// Every communication kernel in time order.
    #[serde(default)]
    pub collectives: Vec<Collective>,
}

impl RankSummary {
    /// The rank summary of a trace summary.
    pub fn of(summary: &TraceSummary) -> RankSummary {
        RankSummary {
            source: summary.source.clone(),
            distributed: summary.distributed.clone(),
            steps: summary
                .steps
                .iter()
                .map(|s| RankStep {
                    step: s.step,
                    duration_us: s.duration_us,
                })
                .collect(),
            breakdown: summary.breakdown.clone(),
            idle_breakdown: summary.idle_breakdown.clone(),
            top_kernels: summary
                .top_kernels
                .iter()
                .map(|k| RankKernel {
                    name: k.name.clone(),
                    total_us: k.total_us,
                    pct_of_kernel_time: k.pct_of_kernel_time,
                })
                .collect(),
            collectives: summary.collectives.clone(),
        }
    }

    /// The rank number from `distributedInfo`.
    pub fn rank(&self) -> Option<i64> {
        self.distributed.as_ref().and_then(|d| d.rank)
    }

    /// Mean step wall time; `None` without steps.
    pub fn step_time_us_mean(&self) -> Option<f64> {
        (!self.steps.is_empty()).then(|| {
            self.steps.iter().map(|s| s.duration_us).sum::<f64>() / self.steps.len() as f64
        })
    }
}

/// One rank's row of the cross-rank table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RankRow {
    /// The rank (`distributedInfo`), or the file's position when the trace does not say.
    pub rank: i64,
    /// The rank's summary.
    #[serde(flatten)]
    pub summary: RankSummary,
    /// Mean step wall time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_time_us_mean: Option<f64>,
    /// Time in matched collectives spent waiting for the last rank to arrive.
    pub collective_wait_us: f64,
    /// Time in matched collectives after the last rank arrived: the transfer.
    pub collective_transfer_us: f64,
    /// The bus bandwidth of the matched collectives' transfers (their bytes times the NCCL
    /// tests' bus factor over the time after the last rank arrived), GB/s: comparable with
    /// the link's bandwidth per direction. Absent without `record_param_comms` sizes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collective_busbw_gb_per_s: Option<f64>,
}

/// Step-time skew across ranks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Stragglers {
    /// The rank with the longest mean step.
    pub slowest_rank: i64,
    /// Its mean step.
    pub slowest_step_us: f64,
    /// The rank with the shortest mean step.
    pub fastest_rank: i64,
    /// Its mean step.
    pub fastest_step_us: f64,
    /// `(slowest - fastest) / fastest`, percent.
    pub skew_pct: f64,
}

/// Collectives matched across ranks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CollectiveSkew {
    /// Collectives found on every rank (the k-th kernel of a name on each rank is one
    /// collective: NCCL runs a process group's collectives in the same order on every rank).
    pub matched: u64,
    /// Communication kernels left unmatched (a name seen more often on some ranks).
    pub unmatched: u64,
    /// Mean spread of the matched collectives' start times across ranks.
    pub mean_start_skew_us: f64,
    /// Largest spread.
    pub max_start_skew_us: f64,
    /// The rank that arrives last most often (the one the others wait for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub most_often_last: Option<i64>,
}

/// The cross-rank view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MultiRankSummary {
    /// The version of this JSON shape (`advisor_trace::SCHEMA_VERSION`).
    pub schema_version: u32,
    /// One row per rank, by rank.
    pub ranks: Vec<RankRow>,
    /// Step-time skew (`None` with fewer than two ranks with steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stragglers: Option<Stragglers>,
    /// The collectives matched across ranks (`None` with fewer than two ranks or no
    /// communication kernels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collectives: Option<CollectiveSkew>,
    /// What limits the comparison (clocks, missing ranks, repeated ranks).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// Reads several traces at once, each on a worker thread (as many as the machine has cores,
/// at most one per file), each in the reader's bounded memory. With fewer files than cores,
/// each file's events are parsed on its share of the cores; with as many or more, each file
/// is read on its thread alone (the cores are busy either way, and memory stays one reader's
/// per core). Results come back in the order of `paths`; the first error is returned with its
/// file named.
pub fn read_traces(paths: &[PathBuf]) -> Result<Vec<TraceSummary>, TraceError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = cores.min(paths.len()).max(1);
    let threads_per_file = (cores / workers).max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<TraceSummary, TraceError>>>> =
        Mutex::new((0..paths.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(index) else { break };
                    let result =
                        read_trace_file(path, TraceOptions::default().threads(threads_per_file));
                    if let Ok(mut slots) = results.lock() {
                        slots[index] = Some(result);
                    }
                }
            });
        }
    });
    let slots = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut summaries = Vec::with_capacity(paths.len());
    for (slot, path) in slots.into_iter().zip(paths) {
        match slot {
            Some(result) => summaries.push(result?),
            None => return Err(lost(path)),
        }
    }
    Ok(summaries)
}

fn lost(path: &Path) -> TraceError {
    TraceError::File {
        path: path.display().to_string(),
        source: Box::new(TraceError::Io(std::io::Error::other(
            "the reading thread stopped before reporting",
        ))),
    }
}

/// The cross-rank view of rank summaries (from [`read_traces`] or from per-rank JSON).
pub fn merge(summaries: Vec<RankSummary>) -> MultiRankSummary {
    let mut warnings = Vec::new();
    let mut ranks: Vec<RankRow> = summaries
        .into_iter()
        .enumerate()
        .map(|(index, summary)| RankRow {
            rank: summary.rank().unwrap_or(index as i64),
            step_time_us_mean: summary.step_time_us_mean(),
            summary,
            collective_wait_us: 0.0,
            collective_transfer_us: 0.0,
            collective_busbw_gb_per_s: None,
        })
        .collect();
    ranks.sort_by(|a, b| {
        a.rank
            .cmp(&b.rank)
            .then(a.summary.source.cmp(&b.summary.source))
    });
    for pair in ranks.windows(2) {
        if pair[0].rank == pair[1].rank {
            warnings.push(format!(
                "rank {} appears twice ({} and {}): the same rank's traces are compared as two ranks",
                pair[0].rank, pair[0].summary.source, pair[1].summary.source
            ));
        }
    }
    if let Some(world) = ranks
        .iter()
        .find_map(|r| r.summary.distributed.as_ref().and_then(|d| d.world_size))
        && world > ranks.len() as i64
    {
        warnings.push(format!(
            "{} of {world} ranks read: stragglers and collective skew are among these ranks only",
            ranks.len()
        ));
    }

    let with_steps: Vec<&RankRow> = ranks
        .iter()
        .filter(|r| r.step_time_us_mean.is_some())
        .collect();
    let stragglers = (with_steps.len() >= 2).then(|| {
        let key = |r: &&RankRow| r.step_time_us_mean.unwrap_or(0.0);
        let slowest = with_steps
            .iter()
            .max_by(|a, b| key(a).total_cmp(&key(b)))
            .copied();
        let fastest = with_steps
            .iter()
            .min_by(|a, b| key(a).total_cmp(&key(b)))
            .copied();
        match (slowest, fastest) {
            (Some(slow), Some(fast)) => {
                let (s, f) = (key(&slow), key(&fast));
                Some(Stragglers {
                    slowest_rank: slow.rank,
                    slowest_step_us: s,
                    fastest_rank: fast.rank,
                    fastest_step_us: f,
                    skew_pct: if f > 0.0 { 100.0 * (s - f) / f } else { 0.0 },
                })
            }
            _ => None,
        }
    });
    let collectives = match_collectives(&mut ranks);
    if collectives.is_some() {
        warnings.push(
            "collective skew compares the ranks' clocks: across hosts it includes their clock offset"
                .to_owned(),
        );
    }
    MultiRankSummary {
        schema_version: crate::SCHEMA_VERSION,
        ranks,
        stragglers: stragglers.flatten(),
        collectives,
        warnings,
    }
}

/// Matches the k-th communication kernel of each name across ranks and splits each rank's
/// time in them into waiting (until the last rank's kernel starts) and transfer.
fn match_collectives(ranks: &mut [RankRow]) -> Option<CollectiveSkew> {
    if ranks.len() < 2 || ranks.iter().all(|r| r.summary.collectives.is_empty()) {
        return None;
    }
    // Per rank: name -> its kernels in time order.
    let by_name: Vec<std::collections::BTreeMap<&str, Vec<&Collective>>> = ranks
        .iter()
        .map(|r| {
            let mut map: std::collections::BTreeMap<&str, Vec<&Collective>> =
                std::collections::BTreeMap::new();
            for c in &r.summary.collectives {
                map.entry(c.name.as_str()).or_default().push(c);
            }
            map
        })
        .collect();
    let mut names: Vec<&str> = by_name.iter().flat_map(|m| m.keys().copied()).collect();
    names.sort_unstable();
    names.dedup();
    let total: u64 = ranks
        .iter()
        .map(|r| r.summary.collectives.len() as u64)
        .sum();
    let (mut matched, mut skew_sum, mut skew_max) = (0u64, 0.0f64, 0.0f64);
    let mut last_counts = vec![0u64; ranks.len()];
    let mut waits = vec![(0.0f64, 0.0f64); ranks.len()];
    // Per rank: bus bytes and transfer time of the matched collectives with sizes.
    let mut sized = vec![(0.0f64, 0.0f64); ranks.len()];
    for name in names {
        let instances = by_name
            .iter()
            .map(|m| m.get(name).map_or(0, Vec::len))
            .min()
            .unwrap_or(0);
        for k in 0..instances {
            let group: Vec<&Collective> = by_name
                .iter()
                .filter_map(|m| m.get(name).and_then(|v| v.get(k)).copied())
                .collect();
            let latest = group
                .iter()
                .map(|c| c.start_us)
                .fold(f64::NEG_INFINITY, f64::max);
            let earliest = group
                .iter()
                .map(|c| c.start_us)
                .fold(f64::INFINITY, f64::min);
            matched += 1;
            skew_sum += latest - earliest;
            skew_max = skew_max.max(latest - earliest);
            for (index, c) in group.iter().enumerate() {
                let wait = (latest - c.start_us).clamp(0.0, c.dur_us);
                waits[index].0 += wait;
                waits[index].1 += c.dur_us - wait;
                if let Some(bytes) = c.bus_bytes {
                    sized[index].0 += bytes;
                    sized[index].1 += c.dur_us - wait;
                }
            }
            if let Some(last) = group
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.start_us.total_cmp(&b.1.start_us))
                .map(|(i, _)| i)
            {
                last_counts[last] += 1;
            }
        }
    }
    for ((row, (wait, transfer)), (bytes, time_us)) in ranks.iter_mut().zip(waits).zip(sized) {
        row.collective_wait_us = wait;
        row.collective_transfer_us = transfer;
        row.collective_busbw_gb_per_s =
            (bytes > 0.0 && time_us > 0.0).then(|| bytes / (time_us * 1e-6) / 1e9);
    }
    let most_often_last = last_counts
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
        .map(|(i, _)| ranks[i].rank);
    Some(CollectiveSkew {
        matched,
        unmatched: total - matched * ranks.len() as u64,
        mean_start_skew_us: if matched > 0 {
            skew_sum / matched as f64
        } else {
            0.0
        },
        max_start_skew_us: skew_max,
        most_often_last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rank(rank: i64, steps: &[f64], collectives: &[(&str, f64, f64)]) -> RankSummary {
        RankSummary {
            source: format!("rank{rank}.json"),
            distributed: Some(DistributedSummary {
                backend: Some("nccl".to_owned()),
                rank: Some(rank),
                world_size: Some(2),
            }),
            steps: steps
                .iter()
                .enumerate()
                .map(|(i, &d)| RankStep {
                    step: i as i64,
                    duration_us: d,
                })
                .collect(),
            breakdown: None,
            idle_breakdown: Vec::new(),
            top_kernels: Vec::new(),
            collectives: collectives
                .iter()
                .map(|&(name, start_us, dur_us)| Collective {
                    name: name.to_owned(),
                    start_us,
                    dur_us,
                    // Every all-reduce moves 9 MB of bus bytes.
                    bus_bytes: name.contains("AllReduce").then_some(9.0e6),
                })
                .collect(),
        }
    }

    #[test]
    fn stragglers_and_collectives_across_ranks() {
        // Rank 1 arrives 30 µs late at the first all-reduce and 10 µs late at the second;
        // rank 0 waits for it inside its NCCL kernels. An extra broadcast on rank 0 alone is
        // unmatched.
        let merged = merge(vec![
            rank(
                1,
                &[120.0, 120.0],
                &[
                    ("ncclAllReduce", 130.0, 50.0),
                    ("ncclAllReduce", 310.0, 40.0),
                ],
            ),
            rank(
                0,
                &[100.0, 100.0],
                &[
                    ("ncclAllReduce", 100.0, 80.0),
                    ("ncclAllReduce", 300.0, 50.0),
                    ("ncclBroadcast", 400.0, 5.0),
                ],
            ),
        ]);
        let rows: Vec<(i64, Option<f64>, f64, f64)> = merged
            .ranks
            .iter()
            .map(|r| {
                (
                    r.rank,
                    r.step_time_us_mean,
                    r.collective_wait_us,
                    r.collective_transfer_us,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [(0, Some(100.0), 40.0, 90.0), (1, Some(120.0), 0.0, 90.0)]
        );
        // 18 MB of bus bytes in 90 µs of transfer on each rank: 200 GB/s.
        for row in &merged.ranks {
            let busbw = row.collective_busbw_gb_per_s.expect("sized collectives");
            assert!((busbw - 200.0).abs() < 1e-9, "{busbw}");
        }
        let stragglers = merged.stragglers.expect("two ranks with steps");
        assert_eq!(
            (
                stragglers.slowest_rank,
                stragglers.fastest_rank,
                stragglers.skew_pct
            ),
            (1, 0, 20.0)
        );
        let skew = merged.collectives.expect("collectives");
        assert_eq!(
            (
                skew.matched,
                skew.unmatched,
                skew.mean_start_skew_us,
                skew.max_start_skew_us,
                skew.most_often_last
            ),
            (2, 1, 20.0, 30.0, Some(1))
        );
    }

    #[test]
    fn one_rank_has_no_cross_rank_sections() {
        let merged = merge(vec![rank(0, &[100.0], &[("ncclAllReduce", 0.0, 1.0)])]);
        assert_eq!(merged.ranks.len(), 1);
        assert!(merged.stragglers.is_none() && merged.collectives.is_none());
        let twice = merge(vec![rank(0, &[1.0], &[]), rank(0, &[2.0], &[])]);
        assert!(twice.warnings.iter().any(|w| w.contains("appears twice")));
    }
}
