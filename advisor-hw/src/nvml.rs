//! NVIDIA GPUs through NVML: the readings NVML gives, the trait that supplies them (the
//! driver, or a recording), and the probe that turns them into [`GpuDevice`]s.

use advisor_core::ComputeCapability;
use advisor_hw_table::HwError;
use serde::{Deserialize, Serialize};

use crate::gpu::{GpuDevice, GpuFindings, GpuProbe};

/// Everything the NVML probe reads, in NVML's own units, so that a recording from a real
/// machine replays through the same conversion as the driver.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NvmlRecord {
    /// Where a recording came from; `None` for a live reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `nvmlSystemGetDriverVersion`: `510.47.03`.
    #[serde(default)]
    pub driver_version: Option<String>,
    /// `nvmlSystemGetCudaDriverVersion`: 1000 × major + 10 × minor (`11060` is 11.6).
    #[serde(default)]
    pub cuda_driver_version: Option<i32>,
    /// One entry per device, in NVML's index order.
    pub devices: Vec<NvmlDeviceRecord>,
}

/// What NVML reports about one device; a call NVML does not support here stays `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NvmlDeviceRecord {
    /// `nvmlDeviceGetName`.
    pub name: String,
    /// `nvmlDeviceGetUUID`.
    #[serde(default)]
    pub uuid: Option<String>,
    /// `nvmlDeviceGetMemoryInfo`, total, in bytes.
    #[serde(default)]
    pub memory_total_bytes: Option<u64>,
    /// `nvmlDeviceGetMemoryInfo`, used, in bytes.
    #[serde(default)]
    pub memory_used_bytes: Option<u64>,
    /// `nvmlDeviceGetCudaComputeCapability`, as `[major, minor]`.
    #[serde(default)]
    pub cuda_compute_capability: Option<[i32; 2]>,
    /// `nvmlDeviceGetNumGpuCores`: CUDA cores, from which the SM count follows.
    #[serde(default)]
    pub num_cores: Option<u32>,
    /// `nvmlDeviceGetMaxClockInfo(NVML_CLOCK_GRAPHICS)` in MHz.
    #[serde(default)]
    pub max_graphics_clock_mhz: Option<u32>,
    /// `nvmlDeviceGetMaxClockInfo(NVML_CLOCK_SM)` in MHz.
    #[serde(default)]
    pub max_sm_clock_mhz: Option<u32>,
    /// `nvmlDeviceGetMaxClockInfo(NVML_CLOCK_MEM)` in MHz.
    #[serde(default)]
    pub max_memory_clock_mhz: Option<u32>,
    /// `nvmlDeviceGetEnforcedPowerLimit` in milliwatts.
    #[serde(default)]
    pub enforced_power_limit_milliwatts: Option<u32>,
    /// `nvmlDeviceGetMaxPcieLinkGeneration`.
    #[serde(default)]
    pub max_pcie_link_generation: Option<u32>,
    /// `nvmlDeviceGetMaxPcieLinkWidth`.
    #[serde(default)]
    pub max_pcie_link_width: Option<u32>,
    /// `nvmlDeviceGetMigMode`, current mode: 1 enabled, 0 disabled.
    #[serde(default)]
    pub mig_mode_current: Option<u32>,
    /// `nvmlDeviceGetUtilizationRates`, GPU, in percent.
    #[serde(default)]
    pub utilization_gpu_percent: Option<u32>,
    /// `nvmlDeviceGetUtilizationRates`, memory, in percent.
    #[serde(default)]
    pub utilization_memory_percent: Option<u32>,
}

/// A supplier of NVML readings: the driver (`NvmlLibrary`, feature `nvml`) or a recording
/// ([`RecordedNvml`]).
pub trait NvmlSource: Sync {
    /// The readings; `Err` with a lowercase reason when NVML cannot be used here.
    fn read(&self) -> Result<NvmlRecord, String>;
}

/// NVML readings recorded on a real machine, replayed for tests and for `--hardware FILE`
/// style analyses without the GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedNvml {
    record: NvmlRecord,
}

impl RecordedNvml {
    /// Reads a recording in the JSON shape of [`NvmlRecord`]; `origin` (a file name) names
    /// it in errors.
    ///
    /// ```
    /// let json = r#"{"devices": [{"name": "NVIDIA L4", "memory_total_bytes": 24152899584}]}"#;
    /// let recorded = advisor_hw::RecordedNvml::from_json(json, "l4.json").unwrap();
    /// assert_eq!(recorded.record().devices[0].name, "NVIDIA L4");
    /// let error = advisor_hw::RecordedNvml::from_json("{}", "empty.json").unwrap_err();
    /// assert!(error.to_string().starts_with("empty.json: "));
    /// ```
    pub fn from_json(json: &str, origin: &str) -> Result<RecordedNvml, HwError> {
        let record = serde_json::from_str(json).map_err(|error| HwError::Recording {
            origin: origin.to_owned(),
            message: error.to_string(),
        })?;
        Ok(RecordedNvml { record })
    }

    /// A recording of these readings.
    pub fn new(record: NvmlRecord) -> RecordedNvml {
        RecordedNvml { record }
    }

    /// The recorded readings.
    pub fn record(&self) -> &NvmlRecord {
        &self.record
    }
}

impl NvmlSource for RecordedNvml {
    fn read(&self) -> Result<NvmlRecord, String> {
        Ok(self.record.clone())
    }
}

/// The NVML GPU probe over any [`NvmlSource`]; its report is named `nvml`.
///
/// ```
/// use advisor_hw::{GpuProbe, NvmlProbe, RecordedNvml};
///
/// let json = r#"{"cuda_driver_version": 12020, "devices": [{"name": "NVIDIA H100 80GB HBM3",
///     "cuda_compute_capability": [9, 0], "num_cores": 16896}]}"#;
/// let probe = NvmlProbe::new(RecordedNvml::from_json(json, "h100.json").unwrap());
/// let device = &probe.probe().unwrap().devices[0];
/// assert_eq!(device.sm_count, Some(132));
/// assert_eq!(device.cuda_driver_version.as_deref(), Some("12.2"));
/// ```
#[derive(Debug, Clone)]
pub struct NvmlProbe<S> {
    source: S,
}

impl<S: NvmlSource> NvmlProbe<S> {
    /// A probe reading from `source`.
    pub fn new(source: S) -> NvmlProbe<S> {
        NvmlProbe { source }
    }
}

impl<S: NvmlSource> GpuProbe for NvmlProbe<S> {
    fn name(&self) -> &'static str {
        "nvml"
    }

    fn probe(&self) -> Result<GpuFindings, String> {
        let record = self.source.read()?;
        let cuda_driver_version = record.cuda_driver_version.and_then(cuda_version_text);
        let devices: Vec<GpuDevice> = record
            .devices
            .iter()
            .map(|device| device_from_record(device, &record, cuda_driver_version.clone()))
            .collect();
        Ok(GpuFindings::from(devices))
    }
}

fn device_from_record(
    device: &NvmlDeviceRecord,
    record: &NvmlRecord,
    cuda_driver_version: Option<String>,
) -> GpuDevice {
    let compute_capability = device.cuda_compute_capability.and_then(|[major, minor]| {
        Some(ComputeCapability::new(
            u32::try_from(major).ok()?,
            u32::try_from(minor).ok()?,
        ))
    });
    let mut gpu = GpuDevice::named(device.name.trim());
    gpu.uuid = device.uuid.clone();
    gpu.memory_mb = device.memory_total_bytes.map(|bytes| bytes >> 20);
    gpu.memory_used_mb = device.memory_used_bytes.map(|bytes| bytes >> 20);
    gpu.compute_capability = compute_capability;
    gpu.sm_count = device
        .num_cores
        .zip(compute_capability)
        .and_then(|(cores, capability)| sm_count(cores, capability));
    gpu.max_graphics_clock_mhz = device.max_graphics_clock_mhz;
    gpu.max_sm_clock_mhz = device.max_sm_clock_mhz;
    gpu.max_memory_clock_mhz = device.max_memory_clock_mhz;
    gpu.power_limit_watts = device
        .enforced_power_limit_milliwatts
        .map(|milliwatts| f64::from(milliwatts) / 1000.0);
    gpu.pcie_generation = device.max_pcie_link_generation;
    gpu.pcie_width = device.max_pcie_link_width;
    gpu.mig_enabled = device.mig_mode_current.map(|mode| mode == 1);
    gpu.utilization_gpu_percent = device.utilization_gpu_percent;
    gpu.utilization_memory_percent = device.utilization_memory_percent;
    gpu.driver_version = record.driver_version.clone();
    gpu.cuda_driver_version = cuda_driver_version;
    gpu
}

/// `11060` → `11.6`, as NVML encodes the CUDA driver version.
fn cuda_version_text(version: i32) -> Option<String> {
    (version > 0).then(|| format!("{}.{}", version / 1000, version % 1000 / 10))
}

/// Streaming multiprocessors from CUDA cores: NVML counts FP32 cores, of which an SM has 64
/// on Volta, Turing and GA100 (8.0), and 128 on GA10x, Ada, Hopper and Blackwell.
fn sm_count(cores: u32, capability: ComputeCapability) -> Option<u32> {
    let per_sm = match (capability.major, capability.minor) {
        (7, _) | (8, 0) => 64,
        (8, _) | (9, _) | (10..=12, _) => 128,
        (6, 0) => 64,
        (6, _) | (5, _) => 128,
        _ => return None,
    };
    (cores > 0 && cores.is_multiple_of(per_sm)).then_some(cores / per_sm)
}

/// The NVIDIA driver's NVML, loaded at run time from `libnvidia-ml.so.1` (`nvml.dll` on
/// Windows). Without the driver it reports why, and `detect` moves on to wgpu.
#[cfg(feature = "nvml")]
#[derive(Debug, Clone, Copy, Default)]
pub struct NvmlLibrary;

#[cfg(feature = "nvml")]
impl NvmlSource for NvmlLibrary {
    fn read(&self) -> Result<NvmlRecord, String> {
        use nvml_wrapper::{Nvml, enum_wrappers::device::Clock, error::NvmlError};

        // The unversioned `libnvidia-ml.so` only comes with development packages; the
        // driver itself installs the `.so.1`.
        let library = if cfg!(target_os = "windows") {
            "nvml.dll"
        } else {
            "libnvidia-ml.so.1"
        };
        let nvml = Nvml::builder()
            .lib_path(std::ffi::OsStr::new(library))
            .init()
            .map_err(|error| match error {
                NvmlError::LibloadingError(_) | NvmlError::LibraryNotFound => {
                    format!("{library} not found")
                }
                NvmlError::DriverNotLoaded => "the NVIDIA driver is not loaded".to_owned(),
                other => format!("NVML failed to start: {other}"),
            })?;
        let count = nvml
            .device_count()
            .map_err(|error| format!("NVML cannot count devices: {error}"))?;
        let mut devices = Vec::new();
        for index in 0..count {
            let Ok(device) = nvml.device_by_index(index) else {
                continue;
            };
            let Ok(name) = device.name() else {
                continue;
            };
            let memory = device.memory_info().ok();
            let utilization = device.utilization_rates().ok();
            devices.push(NvmlDeviceRecord {
                name,
                uuid: device.uuid().ok(),
                memory_total_bytes: memory.as_ref().map(|memory| memory.total),
                memory_used_bytes: memory.as_ref().map(|memory| memory.used),
                cuda_compute_capability: device
                    .cuda_compute_capability()
                    .ok()
                    .map(|capability| [capability.major, capability.minor]),
                num_cores: device.num_cores().ok(),
                max_graphics_clock_mhz: device.max_clock_info(Clock::Graphics).ok(),
                max_sm_clock_mhz: device.max_clock_info(Clock::SM).ok(),
                max_memory_clock_mhz: device.max_clock_info(Clock::Memory).ok(),
                enforced_power_limit_milliwatts: device.enforced_power_limit().ok(),
                max_pcie_link_generation: device.max_pcie_link_gen().ok(),
                max_pcie_link_width: device.max_pcie_link_width().ok(),
                mig_mode_current: device.mig_mode().ok().map(|mode| mode.current),
                utilization_gpu_percent: utilization.as_ref().map(|rates| rates.gpu),
                utilization_memory_percent: utilization.as_ref().map(|rates| rates.memory),
            });
        }
        Ok(NvmlRecord {
            source: None,
            driver_version: nvml.sys_driver_version().ok(),
            cuda_driver_version: nvml.sys_cuda_driver_version().ok(),
            devices,
        })
    }
}
