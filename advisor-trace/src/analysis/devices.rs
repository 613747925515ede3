//! Devices and the distributed setup, from the trace's `deviceProperties` and
//! `distributedInfo`, and the hardware facts they give.

use advisor_core::{ComputeCapability, HardwareInfo, TraceDevice};
use serde::{Deserialize, Serialize};

use crate::{accumulate::cut_to, event::Num, scan::MAX_STRING_BYTES};

/// Device properties as Kineto writes them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDevice {
    #[serde(default)]
    id: Num,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    total_global_mem: Num,
    #[serde(default)]
    compute_major: Num,
    #[serde(default)]
    compute_minor: Num,
    #[serde(default)]
    num_sms: Num,
    #[serde(default)]
    warp_size: Num,
}

#[derive(Debug, Default, Deserialize)]
struct RawDistributed {
    #[serde(default)]
    backend: Option<String>,
    #[serde(default)]
    rank: Num,
    #[serde(default)]
    world_size: Num,
}

/// `distributedInfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DistributedSummary {
    /// Collective backend, `nccl`.
    pub backend: Option<String>,
    /// This process's rank.
    pub rank: Option<i64>,
    /// Number of ranks.
    pub world_size: Option<i64>,
}

/// The devices of a `deviceProperties` value; `None` when it is not a list of objects.
pub(crate) fn parse_devices(value: &[u8]) -> Option<Vec<TraceDevice>> {
    let devices: Vec<RawDevice> = serde_json::from_slice(value).ok()?;
    Some(devices.into_iter().map(device).collect())
}

fn device(raw: RawDevice) -> TraceDevice {
    let version = match (raw.compute_major.int(), raw.compute_minor.int()) {
        (Some(major), Some(minor)) => u32::try_from(major)
            .ok()
            .zip(u32::try_from(minor).ok())
            .map(|(major, minor)| ComputeCapability::new(major, minor)),
        _ => None,
    };
    let name = raw
        .name
        .map(|name| cut_to(&name, MAX_STRING_BYTES).to_owned());
    let sm_count = raw.num_sms.int().and_then(|n| u64::try_from(n).ok());
    let vendor = vendor(name.as_deref(), raw.warp_size.int());
    let (compute_capability, architecture) = match vendor {
        // ROCm's Kineto writes HIP's `major.minor`, the GCN/CDNA architecture number, where
        // CUDA writes the compute capability: 9.0 on an MI250 is gfx90a, not Hopper.
        Some(Vendor::Amd) => (None, version.map(|v| amd_architecture(v, sm_count))),
        _ => (
            version.map(|c| format!("{}.{}", c.major, c.minor)),
            version.map(|c| c.architecture().to_owned()),
        ),
    };
    TraceDevice {
        id: raw.id.int(),
        name,
        memory_bytes: raw.total_global_mem.0.map(|b| b as u64),
        vendor: vendor.map(|v| v.as_str().to_owned()),
        compute_capability,
        architecture,
        sm_count,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vendor {
    Nvidia,
    Amd,
}

impl Vendor {
    fn as_str(self) -> &'static str {
        match self {
            Vendor::Nvidia => "NVIDIA",
            Vendor::Amd => "AMD",
        }
    }
}

/// The vendor from the device name, else from the warp width: AMD's CDNA GPUs run 64-wide
/// wavefronts, NVIDIA's warps are 32 wide (CUDA C++ Programming Guide, "SIMT Architecture";
/// AMD CDNA 2 ISA guide, "Wavefronts").
fn vendor(name: Option<&str>, warp_size: Option<i64>) -> Option<Vendor> {
    let lower = name.unwrap_or("").to_ascii_lowercase();
    if ["amd", "radeon", "instinct"]
        .iter()
        .any(|mark| lower.contains(mark))
    {
        return Some(Vendor::Amd);
    }
    if ["nvidia", "tesla", "geforce", "quadro"]
        .iter()
        .any(|mark| lower.contains(mark))
    {
        return Some(Vendor::Nvidia);
    }
    match warp_size {
        Some(64) => Some(Vendor::Amd),
        Some(32) => Some(Vendor::Nvidia),
        _ => None,
    }
}

/// An AMD architecture from HIP's `major.minor` (the gfx number: gfx90a is 9.0, gfx942 is
/// 9.4; ROCm's "GPU architecture hardware specifications" table) and, where one number
/// covers two generations, the compute-unit count (MI100, gfx908, has 120; MI200s, gfx90a,
/// 104 or 110).
fn amd_architecture(version: ComputeCapability, compute_units: Option<u64>) -> String {
    let name = match (version.major, version.minor) {
        (9, 0) if compute_units == Some(120) => "CDNA (gfx908)",
        (9, 0) => "CDNA 2 (gfx90a)",
        (9, 4) => "CDNA 3 (gfx942)",
        (9, 5) => "CDNA 4 (gfx950)",
        (10, _) => "RDNA or RDNA 2 (gfx10)",
        (11, _) => "RDNA 3 (gfx11)",
        (12, _) => "RDNA 4 (gfx12)",
        (major, minor) => return format!("AMD gfx {major}.{minor}"),
    };
    format!("AMD {name}")
}

/// A `distributedInfo` value; `None` when it is not an object.
pub(crate) fn parse_distributed(value: &[u8]) -> Option<DistributedSummary> {
    let info: RawDistributed = serde_json::from_slice(value).ok()?;
    Some(DistributedSummary {
        backend: info
            .backend
            .map(|name| cut_to(&name, MAX_STRING_BYTES).to_owned()),
        rank: info.rank.int(),
        world_size: info.world_size.int(),
    })
}

/// Hardware facts from the devices: the first GPU's name, memory, compute capability and the
/// number of GPUs of that name. `None` without a named device.
pub(crate) fn hardware_info(devices: &[TraceDevice]) -> Option<HardwareInfo> {
    let first = devices.first()?;
    let name = first.name.clone()?;
    let count = devices
        .iter()
        .filter(|d| d.name.as_deref() == Some(name.as_str()))
        .count();
    Some(HardwareInfo {
        gpu_model: Some(name),
        gpu_memory_mb: first.memory_bytes.map(|b| b / (1024 * 1024)),
        gpu_count: u32::try_from(count).ok(),
        gpu_compute_capability: first
            .compute_capability
            .as_deref()
            .and_then(|c| c.parse().ok()),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::summary_of;

    #[test]
    fn devices_and_distributed_info() {
        // (metadata, devices as (name, capability, architecture, memory), world size)
        type Expected<'a> = (&'a [(&'a str, &'a str, &'a str, u64)], Option<i64>);
        let cases: &[(&str, Expected)] = &[
            ("", (&[], None)),
            (
                r#""deviceProperties": [{"id": 0, "name": "Tesla V100-SXM2-32GB", "computeMajor": 7, "computeMinor": 0, "totalGlobalMem": 34089730048, "numSms": 80}]"#,
                (
                    &[("Tesla V100-SXM2-32GB", "7.0", "Volta", 34_089_730_048)],
                    None,
                ),
            ),
            (
                r#""deviceProperties": [{"id": "0", "name": "NVIDIA H100", "computeMajor": "9", "computeMinor": 0, "totalGlobalMem": 1e10}],
                   "distributedInfo": {"backend": "nccl", "rank": 3, "world_size": 8}"#,
                (&[("NVIDIA H100", "9.0", "Hopper", 10_000_000_000)], Some(8)),
            ),
            // AMD (ROCm's Kineto, as in HTA's MI250 trace): HIP's 9.0 is gfx90a, not a
            // CUDA compute capability; told by the name or, unnamed, the 64-wide wavefront.
            (
                r#""deviceProperties": [
                    {"id": 0, "name": "AMD Radeon Graphics", "computeMajor": 9, "computeMinor": 0, "totalGlobalMem": 68702699520, "warpSize": 64, "numSms": 104},
                    {"id": 1, "name": "", "computeMajor": 9, "computeMinor": 0, "warpSize": 64, "numSms": 120},
                    {"id": 2, "name": "", "computeMajor": 9, "computeMinor": 4, "warpSize": 64, "numSms": 304},
                    {"id": 3, "name": "", "computeMajor": 8, "computeMinor": 0, "warpSize": 32}]"#,
                (
                    &[
                        (
                            "AMD Radeon Graphics",
                            "",
                            "AMD CDNA 2 (gfx90a)",
                            68_702_699_520,
                        ),
                        ("", "", "AMD CDNA (gfx908)", 0),
                        ("", "", "AMD CDNA 3 (gfx942)", 0),
                        ("", "8.0", "Ampere", 0),
                    ],
                    None,
                ),
            ),
            // Not a list: no devices, the rest is still read.
            (
                r#""deviceProperties": {"id": 0}, "distributedInfo": 5"#,
                (&[], None),
            ),
        ];
        for (metadata, (devices, world_size)) in cases {
            let summary = summary_of(metadata, &[]);
            let found: Vec<(&str, &str, &str, u64)> = summary
                .devices
                .iter()
                .map(|d| {
                    (
                        d.name.as_deref().unwrap_or(""),
                        d.compute_capability.as_deref().unwrap_or(""),
                        d.architecture.as_deref().unwrap_or(""),
                        d.memory_bytes.unwrap_or(0),
                    )
                })
                .collect();
            assert_eq!(&found, devices, "{metadata}");
            assert_eq!(
                summary.distributed.as_ref().and_then(|d| d.world_size),
                *world_size,
                "{metadata}"
            );
        }
    }

    #[test]
    fn hardware_from_devices() {
        let gpu = |name: &str| TraceDevice {
            name: Some(name.to_owned()),
            memory_bytes: Some(32 << 30),
            compute_capability: Some("7.0".to_owned()),
            ..TraceDevice::default()
        };
        type Case = (Vec<TraceDevice>, Option<(u32, u64)>);
        let cases: &[Case] = &[
            (vec![], None),
            (vec![TraceDevice::default()], None),
            (
                vec![gpu("V100"), gpu("V100"), gpu("A100")],
                Some((2, 32 << 10)),
            ),
        ];
        for (devices, expected) in cases {
            let info = hardware_info(devices);
            assert_eq!(
                info.as_ref()
                    .map(|i| (i.gpu_count.unwrap_or(0), i.gpu_memory_mb.unwrap_or(0))),
                *expected
            );
            if let Some(info) = info {
                assert_eq!(
                    info.gpu_compute_capability,
                    Some(ComputeCapability::new(7, 0))
                );
            }
        }
    }
}
