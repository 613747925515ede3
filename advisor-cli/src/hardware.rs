//! `advisor hardware`: what was detected on this machine, or with `--list` the deployment
//! targets of the accelerator table.

use std::fmt::Write as _;

use serde_json::Value;

use crate::{
    ListFormat,
    listing::{print, print_json},
};

/// Runs `advisor hardware [--list] [--format text|json]`.
pub(crate) fn run(
    format: ListFormat,
    list: bool,
    calibrate: bool,
    software_adapters: bool,
) -> anyhow::Result<()> {
    if list {
        return targets(format);
    }
    detected(format, calibrate, software_adapters)
}

fn targets(format: ListFormat) -> anyhow::Result<()> {
    let accelerators = advisor_hw::accelerators();
    match format {
        ListFormat::Json => print_json(&serde_json::to_value(accelerators)?),
        ListFormat::Text => {
            let mut out = String::from(
                "Deployment targets (--hardware NAME); dense peaks, TFLOP/s (int8: TOP/s)\n\n",
            );
            let _ = writeln!(
                out,
                "{:24} {:>6} {:>4} {:>8} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}",
                "NAME", "MEMORY", "CC", "GB/S", "FP32", "TF32", "FP16", "BF16", "FP8", "INT8"
            );
            let figure =
                |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |v| format!("{v}"));
            for accelerator in accelerators {
                let _ = writeln!(
                    out,
                    "{:24} {:>4}GB {:>4} {:>8.0} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}",
                    accelerator.id,
                    accelerator.memory_bytes >> 30,
                    accelerator
                        .compute_capability
                        .map_or_else(|| "-".to_owned(), |capability| capability.to_string()),
                    accelerator.memory_bandwidth_bytes_per_second / 1e9,
                    accelerator.fp32_tflops,
                    figure(accelerator.tf32_tflops),
                    accelerator.fp16_tflops,
                    figure(accelerator.bf16_tflops),
                    figure(accelerator.fp8_tflops),
                    figure(accelerator.int8_tops),
                );
            }
            out.push_str("\nSources:\n");
            let mut sources: Vec<&str> = Vec::new();
            for accelerator in accelerators {
                if !sources.contains(&accelerator.source) {
                    sources.push(accelerator.source);
                }
            }
            for source in sources {
                let ids: Vec<&str> = accelerators
                    .iter()
                    .filter(|accelerator| accelerator.source == source)
                    .map(|accelerator| accelerator.id)
                    .collect();
                let _ = writeln!(out, "  {}: {source}", ids.join(", "));
            }
            print(&out)
        }
    }
}

#[cfg(feature = "probe")]
fn detected(format: ListFormat, calibrate: bool, software_adapters: bool) -> anyhow::Result<()> {
    let mut detection = advisor_hw::detect_listing_software_adapters(software_adapters);
    if calibrate {
        // Each triad array is four times the last-level cache, between 64 and 512 MiB, so
        // the arrays come from memory, not cache.
        let last_level = detection
            .cpu
            .caches
            .iter()
            .filter(|cache| cache.kind != advisor_hw::CacheKind::Instruction)
            .max_by_key(|cache| cache.level)
            .map_or(0, |cache| cache.size_bytes);
        let array_bytes = (last_level.saturating_mul(4)).clamp(64 << 20, 512 << 20) as usize;
        let threads = detection
            .info
            .cpu_threads
            .or(detection.info.cpu_cores)
            .unwrap_or(1) as usize;
        detection.info.cpu_calibration = Some(advisor_hw::calibrate_cpu(array_bytes, threads));
    }
    match format {
        ListFormat::Json => print_json(&detection_json(&detection)?),
        ListFormat::Text => print(&detection_text(&detection)),
    }
}

#[cfg(not(feature = "probe"))]
fn detected(_: ListFormat, _: bool, _: bool) -> anyhow::Result<()> {
    Err(crate::input_error(
        "this build has no hardware probing (build with the `probe` feature); `advisor hardware --list` still works",
    ))
}

/// The seed's fields (always present, `null` when unknown), then the detail.
#[cfg(feature = "probe")]
fn detection_json(detection: &advisor_hw::Detection) -> anyhow::Result<Value> {
    let info = &detection.info;
    Ok(serde_json::to_value(crate::output::HardwareOutput {
        schema_version: crate::output::SCHEMA_VERSION,
        cpu_model: info.cpu_model.clone(),
        cpu_cores: info.cpu_cores,
        cpu_threads: info.cpu_threads,
        gpu_model: info.gpu_model.clone(),
        gpu_memory_mb: info.gpu_memory_mb,
        gpu_count: info.gpu_count,
        gpu_compute_capability: info
            .gpu_compute_capability
            .map(|capability| capability.to_string()),
        system_memory_mb: info.system_memory_mb,
        simd_capabilities: info.simd_capabilities.clone(),
        cpu_calibration: info.cpu_calibration.clone(),
        cpu: detection.cpu.clone(),
        memory: detection.memory,
        numa_nodes: detection.numa_nodes.clone(),
        gpus: detection.gpus.clone(),
        adapters: detection.adapters.clone(),
        probes: detection.probes.clone(),
    })?)
}

/// Names from the machine (CPUID brand strings, driver and adapter names, probe errors) are
/// escaped: a driver or a VM can report anything.
#[cfg(feature = "probe")]
fn detection_text(detection: &advisor_hw::Detection) -> String {
    let shown = |text: &str| advisor_report::escape_control(text).into_owned();
    let cpu = &detection.cpu;
    let unknown = || "unknown".to_owned();
    let mut out = String::new();
    let model = match (&cpu.vendor, &cpu.model) {
        (_, Some(model)) => shown(model),
        (Some(vendor), None) => shown(vendor),
        (None, None) => unknown(),
    };
    let _ = writeln!(out, "CPU:      {model}");
    let _ = writeln!(
        out,
        "Cores:    {} physical, {} threads available",
        cpu.physical_cores.map_or_else(unknown, |c| c.to_string()),
        cpu.logical_threads.map_or_else(unknown, |c| c.to_string())
    );
    if cpu.base_frequency_mhz.is_some() || cpu.max_frequency_mhz.is_some() {
        let mhz = |value: Option<u32>| value.map_or_else(unknown, |mhz| format!("{mhz} MHz"));
        let _ = writeln!(
            out,
            "Clock:    base {}, max {}",
            mhz(cpu.base_frequency_mhz),
            mhz(cpu.max_frequency_mhz)
        );
    }
    if !cpu.caches.is_empty() {
        let caches: Vec<String> = cpu
            .caches
            .iter()
            .map(|cache| {
                let kind = match cache.kind {
                    advisor_hw::CacheKind::Data => "d",
                    advisor_hw::CacheKind::Instruction => "i",
                    _ => "",
                };
                format!("L{}{kind} {}", cache.level, size(cache.size_bytes))
            })
            .collect();
        let _ = writeln!(out, "Caches:   {}", caches.join(", "));
    }
    let _ = writeln!(
        out,
        "SIMD:     {}",
        if cpu.simd_capabilities.is_empty() {
            "none found".to_owned()
        } else {
            shown(&cpu.simd_capabilities.join(" "))
        }
    );
    if let Some(calibration) = &detection.info.cpu_calibration {
        let _ = writeln!(
            out,
            "Measured: clock {:.2} GHz under load; memory bandwidth {:.1} GB/s on one thread, {:.1} GB/s on all (STREAM triad)",
            calibration.clock_ghz,
            calibration.per_thread_bandwidth_gbps,
            calibration.machine_bandwidth_gbps
        );
    }
    let memory = &detection.memory;
    let gib = |mb: u64| format!("{:.1} GiB", mb as f64 / 1024.0);
    let mut memory_line = memory.total_mb.map_or_else(unknown, gib);
    if let Some(available) = memory.available_mb {
        let _ = write!(memory_line, ", {} available", gib(available));
    }
    if let Some(limit) = memory.cgroup_limit_mb {
        let _ = write!(memory_line, ", cgroup limit {}", gib(limit));
    }
    let _ = writeln!(out, "Memory:   {memory_line}");
    if !detection.numa_nodes.is_empty() {
        let nodes: Vec<String> = detection
            .numa_nodes
            .iter()
            .map(|node| {
                let memory = node
                    .memory_total_mb
                    .map(|mb| format!(", {}", gib(mb)))
                    .unwrap_or_default();
                format!("node{} ({} CPUs{memory})", node.id, node.cpus.len())
            })
            .collect();
        let _ = writeln!(out, "NUMA:     {}", nodes.join("; "));
    }
    if detection.gpus.is_empty() {
        let _ = writeln!(out, "GPUs:     none found");
    }
    for (index, gpu) in detection.gpus.iter().enumerate() {
        let mut line = shown(&gpu.name);
        if let Some(mb) = gpu.memory_mb {
            let _ = write!(line, ", {}", gib(mb));
        }
        if let Some(capability) = gpu.compute_capability {
            let _ = write!(line, ", compute {capability}");
        }
        if let Some(sm_count) = gpu.sm_count {
            let _ = write!(line, ", {sm_count} SMs");
        }
        if gpu.mig_enabled == Some(true) {
            line.push_str(", MIG on");
        }
        if let Some(accelerator) = gpu.accelerator {
            let _ = write!(
                line,
                " (table: {}, {:.0} GB/s)",
                accelerator.id,
                accelerator.memory_bandwidth_bytes_per_second / 1e9
            );
        }
        let _ = writeln!(out, "GPU {index}:    {line}");
    }
    for adapter in &detection.adapters {
        let kind = if adapter.software {
            "software, not a GPU"
        } else {
            "hardware"
        };
        let _ = writeln!(
            out,
            "Adapter:  {} ({}, {kind}; {})",
            shown(&adapter.name),
            shown(&adapter.backend),
            shown(&adapter.driver_info)
        );
    }
    out.push_str("\nProbes:\n");
    for probe in &detection.probes {
        let status = match &probe.status {
            advisor_hw::ProbeStatus::Ok => "ok".to_owned(),
            advisor_hw::ProbeStatus::Unavailable { reason } => {
                format!("unavailable: {}", shown(reason))
            }
            _ => "other".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {:14} {:>8.2} ms  {status}",
            probe.name, probe.elapsed_ms
        );
    }
    out
}

#[cfg(feature = "probe")]
fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}
