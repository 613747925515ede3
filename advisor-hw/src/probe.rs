//! Live probing of this machine: CPU, memory, SIMD extensions and, through [`GpuProbe`]s, GPUs.

use std::{thread, time::Instant};

use advisor_core::HardwareInfo;
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

use crate::{
    detection::{Detection, ProbeReport, ProbeStatus},
    gpu::{GpuDevice, GpuProbe, NO_GPU_PROBE_REASON},
    names::{compute_capability_from_name, is_software_adapter, match_gpu_name},
};

/// Probes this machine with the GPU probes compiled in (none yet).
///
/// Reports, in order: `cpu-model` (the CPU brand), `cpu-threads` (logical threads this
/// process may use, which respects CPU affinity and cgroup quotas), `cpu-cores` (physical
/// cores, at most the threads available), `memory` (total memory, or the cgroup limit
/// when lower), `simd` (vector and matrix extensions) and `gpu`. A probe that cannot run
/// leaves its fields `None` and says why; this function always returns, in well under a
/// second.
///
/// ```
/// let detection = advisor_hw::detect();
/// assert!(detection.info.cpu_threads.unwrap_or(1) >= 1);
/// assert!(!detection.probe("gpu").unwrap().status.is_ok());
/// ```
pub fn detect() -> Detection {
    // The `nvml` and `wgpu` features will pass their probes here.
    detect_with(&[])
}

/// Probes this machine like [`detect`], with these GPU probes.
///
/// The probes run in order until one finds a GPU that is not a software renderer. The GPU
/// fields describe the first such GPU, with `gpu_count` the number of GPUs of that name;
/// memory and compute capability the probe does not report are taken from the accelerator
/// table when the name matches.
pub fn detect_with(gpu_probes: &[&dyn GpuProbe]) -> Detection {
    let mut info = HardwareInfo::default();
    let mut probes = Vec::new();

    let mut system = None;
    probes.push(timed("cpu-model", || {
        let probed =
            System::new_with_specifics(RefreshKind::nothing().with_cpu(CpuRefreshKind::nothing()));
        let brand = probed
            .cpus()
            .first()
            .map(|cpu| cpu.brand().trim().to_owned())
            .filter(|brand| !brand.is_empty());
        system = Some(probed);
        info.cpu_model = brand;
        found(
            &info.cpu_model,
            "the operating system reports no CPU model name",
        )
    }));

    probes.push(timed(
        "cpu-threads",
        || match thread::available_parallelism() {
            Ok(threads) => {
                info.cpu_threads = u32::try_from(threads.get()).ok();
                ProbeStatus::Ok
            }
            Err(error) => unavailable(format!("cannot count available threads: {error}")),
        },
    ));

    probes.push(timed("cpu-cores", || {
        let physical = System::physical_core_count().and_then(|cores| u32::try_from(cores).ok());
        // A process limited to two threads of a 64-core machine has at most two cores.
        info.cpu_cores = match (physical, info.cpu_threads) {
            (Some(cores), Some(threads)) => Some(cores.min(threads)),
            (cores, _) => cores,
        };
        found(
            &info.cpu_cores,
            "the operating system reports no physical core count",
        )
    }));

    probes.push(timed("memory", || {
        let system = system.get_or_insert_with(System::new);
        system.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        let total_bytes = system.total_memory();
        if total_bytes == 0 {
            return unavailable("the operating system reports no memory size".to_owned());
        }
        // `cgroup_limits` needs a memory refresh with a non-zero total, which just happened.
        let limit_bytes = system
            .cgroup_limits()
            .map_or(total_bytes, |limits| limits.total_memory.min(total_bytes));
        info.system_memory_mb = Some(limit_bytes >> 20);
        ProbeStatus::Ok
    }));

    probes.push(timed("simd", || match simd_capabilities() {
        Ok(capabilities) => {
            info.simd_capabilities = Some(capabilities);
            ProbeStatus::Ok
        }
        Err(reason) => unavailable(reason),
    }));

    if gpu_probes.is_empty() {
        probes.push(ProbeReport {
            name: "gpu".to_owned(),
            status: unavailable(NO_GPU_PROBE_REASON.to_owned()),
            elapsed_ms: 0.0,
        });
    }
    for gpu_probe in gpu_probes {
        let report = timed(gpu_probe.name(), || match gpu_probe.probe() {
            Ok(devices) => apply_gpus(&mut info, &devices),
            Err(reason) => unavailable(reason),
        });
        let done = report.status.is_ok();
        probes.push(report);
        if done {
            break;
        }
    }

    Detection { info, probes }
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

fn found<T>(value: &Option<T>, reason: &str) -> ProbeStatus {
    match value {
        Some(_) => ProbeStatus::Ok,
        None => unavailable(reason.to_owned()),
    }
}

fn unavailable(reason: String) -> ProbeStatus {
    ProbeStatus::Unavailable { reason }
}

/// Fills the GPU fields from the first real GPU of `devices`.
fn apply_gpus(info: &mut HardwareInfo, devices: &[GpuDevice]) -> ProbeStatus {
    let mut real = devices
        .iter()
        .filter(|device| !is_software_adapter(&device.name));
    let Some(first) = real.next() else {
        return match devices.first() {
            Some(software) => {
                unavailable(format!("only software renderers found ({})", software.name))
            }
            None => unavailable("no GPU found".to_owned()),
        };
    };
    let same_model = 1 + real.filter(|device| device.name == first.name).count();
    let matched = match_gpu_name(&first.name, first.memory_mb);
    info.gpu_model = Some(first.name.clone());
    info.gpu_count = u32::try_from(same_model).ok();
    info.gpu_memory_mb = first
        .memory_mb
        .or_else(|| matched.map(|accelerator| accelerator.memory_mb()));
    info.gpu_compute_capability = first
        .compute_capability
        .or_else(|| compute_capability_from_name(&first.name));
    ProbeStatus::Ok
}

/// The CPU's vector and matrix extensions, lowercase, in a fixed order.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
fn simd_capabilities() -> Result<Vec<String>, String> {
    let cpuid = raw_cpuid::CpuId::new();
    let basic = cpuid
        .get_feature_info()
        .ok_or_else(|| "cpuid reports no feature leaf".to_owned())?;
    let extended = cpuid.get_extended_feature_info();
    let extended_has =
        |has: fn(&raw_cpuid::ExtendedFeatures) -> bool| extended.as_ref().is_some_and(has);
    // CPUID says what the CPU can do; the wide registers also need the operating system to
    // save them on context switches, which `is_x86_feature_detected!` checks (XCR0).
    let os_saves_ymm = std::arch::is_x86_feature_detected!("avx");
    let os_saves_zmm = std::arch::is_x86_feature_detected!("avx512f");
    let features = [
        ("sse4.2", basic.has_sse42()),
        ("avx", os_saves_ymm && basic.has_avx()),
        (
            "avx2",
            os_saves_ymm && extended_has(|features| features.has_avx2()),
        ),
        ("fma", os_saves_ymm && basic.has_fma()),
        ("f16c", os_saves_ymm && basic.has_f16c()),
        (
            "avx512f",
            os_saves_zmm && extended_has(|features| features.has_avx512f()),
        ),
        (
            "avx512bw",
            os_saves_zmm && extended_has(|features| features.has_avx512bw()),
        ),
        (
            "avx512vl",
            os_saves_zmm && extended_has(|features| features.has_avx512vl()),
        ),
        (
            "avx512vnni",
            os_saves_zmm && extended_has(|features| features.has_avx512vnni()),
        ),
        (
            "avx512bf16",
            os_saves_zmm && extended_has(|features| features.has_avx512_bf16()),
        ),
        (
            "avx512fp16",
            os_saves_zmm && extended_has(|features| features.has_avx512_fp16()),
        ),
        (
            "avx-vnni",
            os_saves_ymm && extended_has(|features| features.has_avx_vnni()),
        ),
        // AMX state is granted per process on request (Linux `arch_prctl`), so what counts
        // here is that the CPU has it.
        ("amx-tile", extended_has(|features| features.has_amx_tile())),
        ("amx-bf16", extended_has(|features| features.has_amx_bf16())),
        ("amx-int8", extended_has(|features| features.has_amx_int8())),
    ];
    Ok(features
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(name, _)| name.to_owned())
        .collect())
}

/// The CPU's vector extensions, lowercase, in a fixed order.
#[cfg(target_arch = "aarch64")]
fn simd_capabilities() -> Result<Vec<String>, String> {
    let features = [
        ("neon", std::arch::is_aarch64_feature_detected!("neon")),
        ("sve", std::arch::is_aarch64_feature_detected!("sve")),
    ];
    Ok(features
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(name, _)| name.to_owned())
        .collect())
}

#[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
fn simd_capabilities() -> Result<Vec<String>, String> {
    Err(format!(
        "no SIMD probe for this architecture ({})",
        std::env::consts::ARCH
    ))
}
