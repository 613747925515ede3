//! GPU copies by kind: direction and the memory on each side (`DtoH (Device -> Pageable)`),
//! with the achieved bandwidth. Pageable host memory makes a copy block the host.

use std::collections::BTreeMap;

use advisor_core::MemcpyKindFacts;

use crate::accumulate::{GpuActivity, GpuCategory, Interner};

/// Direction, source and destination of a copy from its name:
/// `Memcpy DtoH (Device -> Pageable)` is `("DtoH", Some("Device"), Some("Pageable"))`.
fn parse_kind(name: &str) -> (&str, Option<&str>, Option<&str>) {
    let rest = name.strip_prefix("Memcpy ").unwrap_or(name).trim();
    let (direction, sides) = match rest.split_once(' ') {
        Some((direction, sides)) => (direction, Some(sides)),
        None => (rest, None),
    };
    let sides = sides
        .and_then(|s| s.trim().strip_prefix('('))
        .and_then(|s| s.strip_suffix(')'))
        .and_then(|s| s.split_once("->"));
    let direction = if direction.is_empty() {
        "unknown"
    } else {
        direction
    };
    match sides {
        Some((source, destination)) => (direction, Some(source.trim()), Some(destination.trim())),
        None => (direction, None, None),
    }
}

/// The window's copies by kind, most time first.
pub(crate) fn memcpy_kinds(kept: &[GpuActivity], names: &Interner) -> Vec<MemcpyKindFacts> {
    let mut kinds: BTreeMap<(&str, Option<&str>, Option<&str>), MemcpyKindFacts> = BTreeMap::new();
    for activity in kept.iter().filter(|a| a.category == GpuCategory::Memcpy) {
        let key = parse_kind(names.name(activity.name));
        let (direction, source, destination) = key;
        let entry = kinds.entry(key).or_insert_with(|| MemcpyKindFacts {
            direction: direction.to_owned(),
            source: source.map(str::to_owned),
            destination: destination.map(str::to_owned),
            pageable: [source, destination].contains(&Some("Pageable")),
            ..MemcpyKindFacts::default()
        });
        entry.count += 1;
        entry.bytes += activity.bytes;
        entry.time_us += activity.dur;
    }
    let mut rows: Vec<MemcpyKindFacts> = kinds.into_values().collect();
    for row in &mut rows {
        // Bytes per microsecond are MB/s; divide by 1000 for GB/s.
        row.bandwidth_gb_per_s = (row.time_us > 0.0).then(|| row.bytes / row.time_us / 1000.0);
    }
    rows.sort_by(|a, b| b.time_us.total_cmp(&a.time_us));
    rows
}

#[cfg(test)]
mod tests {
    use crate::analysis::summary_of;

    #[test]
    fn kinds_are_parsed() {
        let cases = [
            (
                "Memcpy DtoH (Device -> Pageable)",
                ("DtoH", Some("Device"), Some("Pageable")),
            ),
            (
                "Memcpy HtoD (Pinned -> Device)",
                ("HtoD", Some("Pinned"), Some("Device")),
            ),
            ("Memcpy DtoD", ("DtoD", None, None)),
            ("odd name", ("odd", None, None)),
            ("", ("unknown", None, None)),
        ];
        for (name, expected) in cases {
            assert_eq!(super::parse_kind(name), expected, "{name}");
        }
    }

    #[test]
    fn copies_by_kind() {
        let copy = |name: &str, ts: u32, dur: u32, bytes: u64| {
            format!(
                r#"{{"ph": "X", "cat": "gpu_memcpy", "name": "{name}", "ts": {ts}, "dur": {dur}, "args": {{"bytes": {bytes}}}}}"#
            )
        };
        let events = [
            copy("Memcpy DtoH (Device -> Pageable)", 0, 10, 1_000_000),
            copy("Memcpy DtoH (Device -> Pageable)", 20, 10, 1_000_000),
            copy("Memcpy HtoD (Pinned -> Device)", 40, 5, 10_000_000),
            copy("Memcpy DtoD (Device -> Device)", 60, 0, 8),
            r#"{"ph": "X", "cat": "gpu_memset", "name": "Memset (Device)", "ts": 70, "dur": 5}"#
                .to_owned(),
        ];
        let events: Vec<&str> = events.iter().map(String::as_str).collect();
        let kinds = summary_of("", &events).memcpy_kinds;
        // (direction, destination, pageable, count, time, GB/s)
        type Row<'a> = (&'a str, Option<&'a str>, bool, u64, f64, Option<f64>);
        let found: Vec<Row> = kinds
            .iter()
            .map(|k| {
                (
                    k.direction.as_str(),
                    k.destination.as_deref(),
                    k.pageable,
                    k.count,
                    k.time_us,
                    k.bandwidth_gb_per_s,
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                ("DtoH", Some("Pageable"), true, 2, 20.0, Some(100.0)),
                ("HtoD", Some("Device"), false, 1, 5.0, Some(2000.0)),
                ("DtoD", Some("Device"), false, 1, 0.0, None),
            ]
        );
    }
}
