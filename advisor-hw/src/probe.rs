//! Live probing of this machine: CPU, memory, NUMA and, through [`GpuProbe`]s, GPUs. The
//! CPU, memory and GPU probes run on their own threads, so `detect` takes as long as the
//! slowest of them, not their sum.

use std::{path::Path, thread, time::Instant};

use advisor_core::HardwareInfo;
use advisor_hw_table::{compute_capability_from_name, is_software_adapter, match_gpu_name};
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

use crate::{
    detection::{CpuDetails, Detection, MemoryDetails, NumaNode, ProbeReport, ProbeStatus},
    gpu::{Adapter, GpuDevice, GpuProbe, NO_GPU_PROBE_REASON},
    topology,
};

const SYS_CPU: &str = "/sys/devices/system/cpu";
const SYS_NODE: &str = "/sys/devices/system/node";

/// Probes this machine with the GPU probes compiled in: NVML (feature `nvml`), then wgpu
/// (feature `wgpu`), which only starts when NVML found no GPU.
///
/// Reports, in order: `cpu-model`, `cpu-threads` (logical threads this process may use,
/// which respects CPU affinity and cgroup quotas), `cpu-cores` (physical cores among those
/// threads), `cpu-frequency`, `cpu-caches`, `simd` (vector and matrix extensions),
/// `memory` (total, available, cgroup limit), `numa`, then each GPU probe that ran (`gpu`
/// when none is compiled in). A probe that cannot run leaves its fields empty and says why;
/// this function always returns, in well under a second.
///
/// ```
/// let detection = advisor_hw::detect();
/// assert!(detection.info.cpu_threads.unwrap_or(1) >= 1);
/// assert!(detection.gpus.iter().all(|gpu| !advisor_hw::is_software_adapter(&gpu.name)));
/// ```
pub fn detect() -> Detection {
    detect_listing_software_adapters(false)
}

/// Like [`detect`]; with `software_adapters`, wgpu starts even on a machine without a GPU
/// device node, so software renderers (llvmpipe, SwiftShader) are listed as adapters (never
/// counted as GPUs).
pub fn detect_listing_software_adapters(software_adapters: bool) -> Detection {
    #[cfg(feature = "nvml")]
    let nvml = crate::nvml::NvmlProbe::new(crate::nvml::NvmlLibrary);
    #[cfg(feature = "wgpu")]
    let wgpu = crate::wgpu_probe::WgpuProbe {
        always: software_adapters,
    };
    #[cfg(not(feature = "wgpu"))]
    let _ = software_adapters;
    // NVML first: wgpu only starts when NVML found no GPU.
    let gpu_probes: &[&dyn GpuProbe] = &[
        #[cfg(feature = "nvml")]
        &nvml,
        #[cfg(feature = "wgpu")]
        &wgpu,
    ];
    detect_with(gpu_probes)
}

/// Probes this machine like [`detect`], with these GPU probes.
///
/// The GPU probes run in order, on a thread beside the CPU and memory probes, until one
/// finds a GPU that is not a software renderer. Every GPU it found goes to
/// [`Detection::gpus`], matched to the accelerator table; the seed's GPU fields describe the
/// first, with `gpu_count` the number of GPUs of that name. Memory and compute capability a
/// probe does not report are taken from the accelerator table when the name matches.
pub fn detect_with(gpu_probes: &[&dyn GpuProbe]) -> Detection {
    let (cpu, memory, numa, gpus) = thread::scope(|scope| {
        let cpu = scope.spawn(probe_cpu);
        let memory = scope.spawn(probe_memory);
        let gpus = scope.spawn(|| probe_gpus(gpu_probes));
        let numa = probe_numa();
        (
            cpu.join().unwrap_or_else(|_| {
                let reports = panicked(&[
                    "cpu-model",
                    "cpu-threads",
                    "cpu-cores",
                    "cpu-frequency",
                    "cpu-caches",
                    "simd",
                ]);
                (CpuDetails::default(), reports)
            }),
            memory
                .join()
                .unwrap_or_else(|_| (MemoryDetails::default(), panicked(&["memory"]).remove(0))),
            numa,
            gpus.join()
                .unwrap_or_else(|_| (Vec::new(), Vec::new(), panicked(&["gpu"]))),
        )
    });
    let (cpu, cpu_reports) = cpu;
    let (memory, memory_report) = memory;
    let (numa_nodes, numa_report) = numa;
    let (gpus, adapters, gpu_reports) = gpus;

    let mut probes = cpu_reports;
    probes.push(memory_report);
    probes.push(numa_report);
    probes.extend(gpu_reports);
    let mut info = hardware_info(&cpu, &memory, &gpus);
    let nodes_with_cpus = numa_nodes
        .iter()
        .filter(|node| !node.cpus.is_empty())
        .count();
    info.numa_nodes = u32::try_from(nodes_with_cpus).ok().filter(|n| *n > 0);
    Detection {
        info,
        cpu,
        memory,
        numa_nodes,
        gpus,
        adapters,
        probes,
    }
}

/// The seed's view of the details.
fn hardware_info(cpu: &CpuDetails, memory: &MemoryDetails, gpus: &[GpuDevice]) -> HardwareInfo {
    let mut info = HardwareInfo {
        cpu_model: cpu.model.clone(),
        cpu_cores: cpu.physical_cores,
        cpu_threads: cpu.logical_threads,
        system_memory_mb: match (memory.total_mb, memory.cgroup_limit_mb) {
            (Some(total), Some(limit)) => Some(total.min(limit)),
            (total, limit) => total.or(limit),
        },
        simd_capabilities: (!cpu.simd_capabilities.is_empty())
            .then(|| cpu.simd_capabilities.clone()),
        ..HardwareInfo::default()
    };
    if let Some(first) = gpus.first() {
        let same_model = gpus.iter().filter(|gpu| gpu.name == first.name).count();
        info.gpu_model = Some(first.name.clone());
        info.gpu_count = u32::try_from(same_model).ok();
        info.gpu_memory_mb = first
            .memory_mb
            .or_else(|| first.accelerator.map(|accelerator| accelerator.memory_mb()));
        info.gpu_compute_capability = first
            .compute_capability
            .or_else(|| compute_capability_from_name(&first.name))
            .or_else(|| {
                first
                    .accelerator
                    .and_then(|accelerator| accelerator.compute_capability)
            });
    }
    info
}

fn timed(name: &str, probe: impl FnOnce() -> ProbeStatus) -> ProbeReport {
    let started = Instant::now();
    let status = probe();
    ProbeReport {
        name: name.to_owned(),
        status,
        elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
    }
}

fn panicked(names: &[&str]) -> Vec<ProbeReport> {
    names
        .iter()
        .map(|name| ProbeReport {
            name: (*name).to_owned(),
            status: unavailable("the probe panicked".to_owned()),
            elapsed_ms: 0.0,
        })
        .collect()
}

fn found<T>(value: &Option<T>, reason: &str) -> ProbeStatus {
    match value {
        Some(_) => ProbeStatus::Ok,
        None => unavailable(reason.to_owned()),
    }
}

fn unavailable(reason: String) -> ProbeStatus {
    ProbeStatus::Unavailable { reason }
}

fn probe_cpu() -> (CpuDetails, Vec<ProbeReport>) {
    let mut cpu = CpuDetails::default();
    let mut reports = Vec::new();

    reports.push(timed("cpu-model", || {
        cpu = cpuid_details();
        if cpu.model.is_none() || cpu.vendor.is_none() {
            let system = System::new_with_specifics(
                RefreshKind::nothing().with_cpu(CpuRefreshKind::nothing()),
            );
            if let Some(first) = system.cpus().first() {
                let nonempty =
                    |text: &str| Some(text.trim().to_owned()).filter(|text| !text.is_empty());
                cpu.model = cpu.model.take().or_else(|| nonempty(first.brand()));
                cpu.vendor = cpu.vendor.take().or_else(|| nonempty(first.vendor_id()));
            }
        }
        found(&cpu.model, "the operating system reports no CPU model name")
    }));

    reports.push(timed(
        "cpu-threads",
        || match thread::available_parallelism() {
            Ok(threads) => {
                cpu.logical_threads = u32::try_from(threads.get()).ok();
                ProbeStatus::Ok
            }
            Err(error) => unavailable(format!("cannot count available threads: {error}")),
        },
    ));

    let allowed = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| topology::allowed_cpus(&status));
    reports.push(timed("cpu-cores", || {
        let physical = allowed
            .as_deref()
            .and_then(|cpus| topology::physical_cores(Path::new(SYS_CPU), cpus))
            .or_else(|| System::physical_core_count().and_then(|cores| u32::try_from(cores).ok()));
        // A process limited to two threads of a 64-core machine has at most two cores.
        cpu.physical_cores = match (physical, cpu.logical_threads) {
            (Some(cores), Some(threads)) => Some(cores.min(threads)),
            (cores, _) => cores,
        };
        found(
            &cpu.physical_cores,
            "the operating system reports no physical core count",
        )
    }));

    reports.push(timed("cpu-frequency", || {
        let first_cpu = allowed
            .as_deref()
            .and_then(|cpus| cpus.first().copied())
            .unwrap_or(0);
        let (base, max) = topology::cpufreq_mhz(Path::new(SYS_CPU), first_cpu);
        cpu.base_frequency_mhz = base.or(cpu.base_frequency_mhz);
        cpu.max_frequency_mhz = max.or(cpu.max_frequency_mhz);
        if cpu.base_frequency_mhz.is_none() && cpu.max_frequency_mhz.is_none() {
            return unavailable(
                "no cpufreq in /sys/devices/system/cpu and no CPUID frequency leaf (common in VMs)"
                    .to_owned(),
            );
        }
        ProbeStatus::Ok
    }));

    reports.push(timed("cpu-caches", || {
        if cpu.caches.is_empty() {
            return unavailable(if cfg!(any(target_arch = "x86", target_arch = "x86_64")) {
                "CPUID reports no cache parameters".to_owned()
            } else {
                "cache sizes are read from CPUID, which this architecture does not have".to_owned()
            });
        }
        ProbeStatus::Ok
    }));

    reports.push(timed("simd", || {
        if cfg!(any(
            target_arch = "x86",
            target_arch = "x86_64",
            target_arch = "aarch64"
        )) {
            ProbeStatus::Ok
        } else {
            unavailable(format!(
                "no SIMD probe for this architecture ({})",
                std::env::consts::ARCH
            ))
        }
    }));
    (cpu, reports)
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
fn cpuid_details() -> CpuDetails {
    crate::cpuid::cpu_details_from_cpuid(
        &crate::cpuid::NativeCpuid,
        crate::cpuid::OsVectorSupport::native(),
    )
}

#[cfg(target_arch = "aarch64")]
fn cpuid_details() -> CpuDetails {
    let features = [
        ("neon", std::arch::is_aarch64_feature_detected!("neon")),
        ("sve", std::arch::is_aarch64_feature_detected!("sve")),
    ];
    CpuDetails {
        simd_capabilities: features
            .into_iter()
            .filter(|(_, present)| *present)
            .map(|(name, _)| name.to_owned())
            .collect(),
        ..CpuDetails::default()
    }
}

#[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
fn cpuid_details() -> CpuDetails {
    CpuDetails::default()
}

fn probe_memory() -> (MemoryDetails, ProbeReport) {
    let mut memory = MemoryDetails::default();
    let report = timed("memory", || {
        let mut system = System::new();
        system.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        let total_bytes = system.total_memory();
        if total_bytes == 0 {
            return unavailable("the operating system reports no memory size".to_owned());
        }
        memory.total_mb = Some(total_bytes >> 20);
        memory.available_mb = Some(system.available_memory() >> 20);
        // `cgroup_limits` needs a memory refresh with a non-zero total, which just happened.
        memory.cgroup_limit_mb = system
            .cgroup_limits()
            .map(|limits| limits.total_memory)
            .filter(|limit| *limit > 0 && *limit < total_bytes)
            .map(|limit| limit >> 20);
        ProbeStatus::Ok
    });
    (memory, report)
}

fn probe_numa() -> (Vec<NumaNode>, ProbeReport) {
    let mut nodes = Vec::new();
    let report = timed("numa", || {
        if !cfg!(target_os = "linux") {
            return unavailable(
                "NUMA nodes are read from /sys/devices/system/node, which only Linux has"
                    .to_owned(),
            );
        }
        match topology::read_numa_nodes(Path::new(SYS_NODE)) {
            Ok(found) if !found.is_empty() => {
                nodes = found;
                ProbeStatus::Ok
            }
            Ok(_) => unavailable(format!("no NUMA node in {SYS_NODE}")),
            Err(reason) => unavailable(reason),
        }
    });
    (nodes, report)
}

fn probe_gpus(gpu_probes: &[&dyn GpuProbe]) -> (Vec<GpuDevice>, Vec<Adapter>, Vec<ProbeReport>) {
    let mut gpus = Vec::new();
    let mut adapters = Vec::new();
    let mut reports = Vec::new();
    if gpu_probes.is_empty() {
        reports.push(ProbeReport {
            name: "gpu".to_owned(),
            status: unavailable(NO_GPU_PROBE_REASON.to_owned()),
            elapsed_ms: 0.0,
        });
    }
    for gpu_probe in gpu_probes {
        let report = timed(gpu_probe.name(), || match gpu_probe.probe() {
            Ok(findings) => {
                let software: Vec<String> = findings
                    .adapters
                    .iter()
                    .filter(|adapter| adapter.software)
                    .map(|adapter| adapter.name.clone())
                    .chain(
                        findings
                            .devices
                            .iter()
                            .filter(|device| is_software_adapter(&device.name))
                            .map(|device| device.name.clone()),
                    )
                    .collect();
                adapters.extend(findings.adapters);
                gpus = findings
                    .devices
                    .into_iter()
                    .filter(|device| !is_software_adapter(&device.name))
                    .map(|mut device| {
                        device.accelerator = match_gpu_name(&device.name, device.memory_mb);
                        device
                    })
                    .collect();
                match (gpus.is_empty(), software.first()) {
                    (false, _) => ProbeStatus::Ok,
                    (true, Some(first)) => {
                        unavailable(format!("only software renderers found ({first})"))
                    }
                    (true, None) => unavailable("no GPU found".to_owned()),
                }
            }
            Err(reason) => unavailable(reason),
        });
        let done = report.status.is_ok();
        reports.push(report);
        if done {
            break;
        }
    }
    (gpus, adapters, reports)
}
