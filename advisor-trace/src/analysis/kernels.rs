//! The kernel table: kernels by total time, longest first.

use serde::Serialize;

use crate::accumulate::{FastMap, GpuActivity, GpuCategory, Interner};

use super::{TOP, pct};

/// One kernel name's statistics.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct KernelStat {
    /// Kernel name.
    pub name: String,
    /// `computation`, `communication` or `memory`.
    pub kind: &'static str,
    /// Launches.
    pub count: u64,
    /// Total time.
    pub total_us: f64,
    /// Mean time.
    pub mean_us: f64,
    /// Shortest.
    pub min_us: f64,
    /// Longest.
    pub max_us: f64,
    /// Share of all kernel time.
    pub pct_of_kernel_time: f64,
}

/// The [`TOP`] kernels of the window by total time (ties by name).
pub(crate) fn top_kernels(kept: &[GpuActivity], names: &Interner) -> Vec<KernelStat> {
    let mut by_name: FastMap<u32, KernelStat> = FastMap::default();
    let mut total = 0.0;
    for activity in kept.iter().filter(|a| a.category == GpuCategory::Kernel) {
        total += activity.dur;
        let stat = by_name.entry(activity.name).or_insert_with(|| KernelStat {
            name: names.name(activity.name).to_owned(),
            kind: activity.kind.as_str(),
            count: 0,
            total_us: 0.0,
            mean_us: 0.0,
            min_us: f64::INFINITY,
            max_us: 0.0,
            pct_of_kernel_time: 0.0,
        });
        stat.count += 1;
        stat.total_us += activity.dur;
        stat.min_us = stat.min_us.min(activity.dur);
        stat.max_us = stat.max_us.max(activity.dur);
    }
    let mut stats: Vec<KernelStat> = by_name.into_values().collect();
    stats.sort_by(|a, b| b.total_us.total_cmp(&a.total_us).then(a.name.cmp(&b.name)));
    stats.truncate(TOP);
    for stat in &mut stats {
        stat.mean_us = stat.total_us / stat.count.max(1) as f64;
        stat.pct_of_kernel_time = pct(stat.total_us, total);
    }
    stats
}

#[cfg(test)]
mod tests {
    use crate::analysis::summary_of;

    #[test]
    fn kernel_table() {
        // kernels (name, dur) -> rows (name, kind, count, total, min, max, share)
        type Row<'a> = (&'a str, &'a str, u64, f64, f64, f64, f64);
        type Case<'a> = (&'a [(&'a str, f64)], &'a [Row<'a>]);
        let cases: &[Case] = &[
            (&[], &[]),
            (
                &[
                    ("gemm", 30.0),
                    ("relu", 10.0),
                    ("gemm", 10.0),
                    ("ncclKernel_AllReduce", 50.0),
                ],
                &[
                    (
                        "ncclKernel_AllReduce",
                        "communication",
                        1,
                        50.0,
                        50.0,
                        50.0,
                        50.0,
                    ),
                    ("gemm", "computation", 2, 40.0, 10.0, 30.0, 40.0),
                    ("relu", "computation", 1, 10.0, 10.0, 10.0, 10.0),
                ],
            ),
            // Ties by name.
            (
                &[("b", 5.0), ("a", 5.0)],
                &[
                    ("a", "computation", 1, 5.0, 5.0, 5.0, 50.0),
                    ("b", "computation", 1, 5.0, 5.0, 5.0, 50.0),
                ],
            ),
        ];
        for (kernels, rows) in cases {
            let events: Vec<String> = kernels
                .iter()
                .enumerate()
                .map(|(i, (name, dur))| {
                    format!(r#"{{"ph": "X", "cat": "kernel", "name": "{name}", "ts": {}, "dur": {dur}}}"#, i * 100)
                })
                .collect();
            let events: Vec<&str> = events.iter().map(String::as_str).collect();
            let summary = summary_of("", &events);
            let found: Vec<Row> = summary
                .top_kernels
                .iter()
                .map(|k| {
                    (
                        k.name.as_str(),
                        k.kind,
                        k.count,
                        k.total_us,
                        k.min_us,
                        k.max_us,
                        k.pct_of_kernel_time,
                    )
                })
                .collect();
            assert_eq!(&found, rows);
        }
        // At most ten rows.
        let many: Vec<String> = (0..15)
            .map(|i| {
                format!(
                    r#"{{"ph": "X", "cat": "kernel", "name": "k{i}", "ts": {}, "dur": 1}}"#,
                    i * 10
                )
            })
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(summary_of("", &many).top_kernels.len(), 10);
    }
}
