//! Memory copies and sets by direction, with their bytes, time and bandwidth.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::accumulate::{GpuActivity, GpuCategory, Interner};

/// Copies and sets by direction.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MemcpySummary {
    /// Bytes moved or set.
    pub total_bytes: f64,
    /// GPU time.
    pub total_time_us: f64,
    /// Per direction (`HtoD`, `DtoH`, `DtoD`, `PtoP`, `Memset`).
    pub by_direction: Vec<MemcpyDirection>,
}

/// Copies in one direction.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MemcpyDirection {
    /// `HtoD`, `DtoH`, `DtoD`, `PtoP`, `HtoH` or `Memset`.
    pub direction: String,
    /// Operations.
    pub count: u64,
    /// Bytes.
    pub bytes: f64,
    /// GPU time.
    pub time_us: f64,
    /// Bytes over time, GB/s.
    pub bandwidth_gb_per_s: Option<f64>,
}

/// The direction of a copy from its name: `Memcpy HtoD (Pageable -> Device)` is `HtoD`.
fn copy_direction(name: &str) -> &str {
    name.strip_prefix("Memcpy ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("unknown")
}

/// The window's copies and sets by direction; `None` without any.
pub(crate) fn memcpy_table(kept: &[GpuActivity], names: &Interner) -> Option<MemcpySummary> {
    let mut directions: BTreeMap<&str, MemcpyDirection> = BTreeMap::new();
    for activity in kept.iter().filter(|a| a.category != GpuCategory::Kernel) {
        let direction = match activity.category {
            GpuCategory::Memset => "Memset",
            _ => copy_direction(names.name(activity.name)),
        };
        let entry = directions
            .entry(direction)
            .or_insert_with(|| MemcpyDirection {
                direction: direction.to_owned(),
                ..MemcpyDirection::default()
            });
        entry.count += 1;
        entry.bytes += activity.bytes;
        entry.time_us += activity.dur;
    }
    if directions.is_empty() {
        return None;
    }
    let mut rows: Vec<MemcpyDirection> = directions.into_values().collect();
    for row in &mut rows {
        // Bytes per microsecond are MB/s; divide by 1000 for GB/s.
        row.bandwidth_gb_per_s = (row.time_us > 0.0).then(|| row.bytes / row.time_us / 1000.0);
    }
    Some(MemcpySummary {
        total_bytes: rows.iter().map(|r| r.bytes).sum(),
        total_time_us: rows.iter().map(|r| r.time_us).sum(),
        by_direction: rows,
    })
}

#[cfg(test)]
mod tests {
    use crate::analysis::summary_of;

    #[test]
    fn copies_by_direction() {
        // (category, name, dur, bytes) -> rows (direction, count, bytes, time, GB/s)
        type Row<'a> = (&'a str, u64, f64, f64, Option<f64>);
        type Case<'a> = (&'a [(&'a str, &'a str, f64, f64)], Option<&'a [Row<'a>]>);
        let cases: &[Case] = &[
            (&[("kernel", "gemm", 10.0, 0.0)], None),
            (
                &[
                    ("gpu_memcpy", "Memcpy HtoD (Pageable -> Device)", 10.0, 1e6),
                    ("gpu_memcpy", "Memcpy HtoD (Pinned -> Device)", 10.0, 3e6),
                    ("gpu_memcpy", "Memcpy DtoH (Device -> Pageable)", 0.0, 8.0),
                    ("gpu_memset", "Memset (Device)", 5.0, 100.0),
                    ("memcpy", "odd name", 1.0, 0.0),
                ],
                Some(&[
                    ("DtoH", 1, 8.0, 0.0, None),
                    ("HtoD", 2, 4e6, 20.0, Some(200.0)),
                    ("Memset", 1, 100.0, 5.0, Some(0.02)),
                    ("unknown", 1, 0.0, 1.0, Some(0.0)),
                ]),
            ),
        ];
        for (activities, rows) in cases {
            let events: Vec<String> = activities
                .iter()
                .enumerate()
                .map(|(i, (cat, name, dur, bytes))| format!(r#"{{"ph": "X", "cat": "{cat}", "name": "{name}", "ts": {}, "dur": {dur}, "args": {{"bytes": {bytes}}}}}"#, i * 100))
                .collect();
            let events: Vec<&str> = events.iter().map(String::as_str).collect();
            let memcpy = summary_of("", &events).memcpy;
            let found: Option<Vec<Row>> = memcpy.as_ref().map(|m| {
                m.by_direction
                    .iter()
                    .map(|d| {
                        (
                            d.direction.as_str(),
                            d.count,
                            d.bytes,
                            d.time_us,
                            d.bandwidth_gb_per_s,
                        )
                    })
                    .collect()
            });
            assert_eq!(found.as_deref(), *rows, "{activities:?}");
            if let Some(m) = memcpy {
                assert_eq!(
                    m.total_bytes,
                    m.by_direction.iter().map(|d| d.bytes).sum::<f64>()
                );
            }
        }
    }
}
