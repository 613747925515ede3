//! CPU topology from Linux sysfs and procfs: the CPUs this process may use, their physical
//! cores, NUMA nodes and cpufreq frequencies. Readers take the root folder, so tests can
//! point them at a recorded tree.

use std::{collections::BTreeSet, fs, path::Path};

use crate::detection::NumaNode;

/// Most CPUs one list may name; a larger range is a corrupt file, not a machine.
const MAX_CPUS: u32 = 1 << 16;

/// Parses a Linux CPU list such as `0-3,8,10-11` (sysfs `cpulist`, `Cpus_allowed_list`)
/// into sorted, distinct CPU numbers. An empty list is empty; anything else that is not a
/// list of numbers and ascending ranges is an error that quotes the text.
///
/// ```
/// assert_eq!(advisor_hw::parse_cpu_list("0-3,8,10-11\n").unwrap(), [0, 1, 2, 3, 8, 10, 11]);
/// assert_eq!(advisor_hw::parse_cpu_list("").unwrap(), Vec::<u32>::new());
/// assert!(advisor_hw::parse_cpu_list("3-1").is_err());
/// ```
pub fn parse_cpu_list(text: &str) -> Result<Vec<u32>, String> {
    let text = text.trim();
    let mut cpus = BTreeSet::new();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let number = |part: &str| {
        part.trim()
            .parse::<u32>()
            .ok()
            .filter(|cpu| *cpu < MAX_CPUS)
            .ok_or_else(|| format!("invalid CPU list `{text}`: `{part}` is not a CPU number"))
    };
    for part in text.split(',') {
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last) = (number(first)?, number(last)?);
                if first > last {
                    return Err(format!(
                        "invalid CPU list `{text}`: range `{part}` runs backwards"
                    ));
                }
                cpus.extend(first..=last);
            }
            None => {
                cpus.insert(number(part)?);
            }
        }
    }
    Ok(cpus.into_iter().collect())
}

/// The NUMA nodes under `root` (on Linux `/sys/devices/system/node`): each `nodeN` folder's
/// `cpulist` and `meminfo`. Errors name the file and the problem.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("advisor-hw-numa-doc-{}", std::process::id()));
/// std::fs::create_dir_all(dir.join("node0")).unwrap();
/// std::fs::write(dir.join("node0/cpulist"), "0-3\n").unwrap();
/// std::fs::write(dir.join("node0/meminfo"), "Node 0 MemTotal:       16384000 kB\n").unwrap();
/// let nodes = advisor_hw::read_numa_nodes(&dir).unwrap();
/// assert_eq!(nodes[0].cpus, [0, 1, 2, 3]);
/// assert_eq!(nodes[0].memory_total_mb, Some(16_000));
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn read_numa_nodes(root: &Path) -> Result<Vec<NumaNode>, String> {
    let entries =
        fs::read_dir(root).map_err(|error| format!("cannot read {}: {error}", root.display()))?;
    let mut nodes = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(id) = name
            .to_str()
            .and_then(|name| name.strip_prefix("node"))
            .and_then(|id| id.parse::<u32>().ok())
        else {
            continue;
        };
        let folder = entry.path();
        let cpulist = folder.join("cpulist");
        let cpus = fs::read_to_string(&cpulist)
            .map_err(|error| format!("cannot read {}: {error}", cpulist.display()))
            .and_then(|text| {
                parse_cpu_list(&text).map_err(|error| format!("{}: {error}", cpulist.display()))
            })?;
        // A node's meminfo is optional: memory-less nodes (CXL, some VMs) still have CPUs.
        let meminfo = fs::read_to_string(folder.join("meminfo")).unwrap_or_default();
        nodes.push(NumaNode {
            id,
            cpus,
            memory_total_mb: node_meminfo_kib(&meminfo, "MemTotal:").map(|kib| kib >> 10),
            memory_free_mb: node_meminfo_kib(&meminfo, "MemFree:").map(|kib| kib >> 10),
        });
    }
    nodes.sort_by_key(|node| node.id);
    Ok(nodes)
}

/// A value in kB from a node's meminfo: `Node 0 MemTotal:       16384000 kB`.
fn node_meminfo_kib(meminfo: &str, key: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| {
        let mut words = line.split_whitespace().skip_while(|word| *word != key);
        words.next()?;
        words.next()?.parse().ok()
    })
}

/// The CPUs this process may run on, from `Cpus_allowed_list` in `/proc/self/status`.
pub(crate) fn allowed_cpus(proc_status: &str) -> Option<Vec<u32>> {
    let list = proc_status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))?;
    parse_cpu_list(list).ok().filter(|cpus| !cpus.is_empty())
}

/// Distinct physical cores among `cpus`, from `cpuN/topology/{physical_package_id,core_id}`
/// under `cpu_root` (on Linux `/sys/devices/system/cpu`).
pub(crate) fn physical_cores(cpu_root: &Path, cpus: &[u32]) -> Option<u32> {
    let mut cores = BTreeSet::new();
    for cpu in cpus {
        let topology = cpu_root.join(format!("cpu{cpu}/topology"));
        let read = |file: &str| -> Option<i64> {
            fs::read_to_string(topology.join(file))
                .ok()?
                .trim()
                .parse()
                .ok()
        };
        cores.insert((read("physical_package_id")?, read("core_id")?));
    }
    u32::try_from(cores.len()).ok().filter(|count| *count > 0)
}

/// Base and highest frequency in MHz from cpufreq (`base_frequency` exists with
/// intel_pstate and amd-pstate; `cpuinfo_max_freq` with every driver), both in kHz.
pub(crate) fn cpufreq_mhz(cpu_root: &Path, cpu: u32) -> (Option<u32>, Option<u32>) {
    let folder = cpu_root.join(format!("cpu{cpu}/cpufreq"));
    let read = |file: &str| -> Option<u32> {
        let khz: u64 = fs::read_to_string(folder.join(file))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        u32::try_from(khz / 1000).ok().filter(|mhz| *mhz > 0)
    };
    (read("base_frequency"), read("cpuinfo_max_freq"))
}
