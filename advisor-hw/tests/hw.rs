//! Behaviour of the accelerator table, name matching, deployment targets and probing.

#![allow(
    clippy::unwrap_used,
    reason = "in a test a panic is the failure report, and the values come from this crate"
)]

use std::collections::HashSet;

use advisor_core::ComputeCapability;
use advisor_hw::{
    HwError, accelerators, compute_capability_from_name, find_accelerator, is_software_adapter,
    match_gpu_name, resolve_target,
};

#[test]
fn required_ids_exist() {
    for id in [
        "nvidia-v100-sxm2-16gb",
        "nvidia-v100-sxm2-32gb",
        "nvidia-t4",
        "nvidia-l4",
        "nvidia-a10g",
        "nvidia-a100-40gb",
        "nvidia-a100-80gb",
        "nvidia-h100-sxm",
        "nvidia-h100-pcie",
        "nvidia-h200",
        "nvidia-rtx-4090",
        "amd-mi300x",
    ] {
        assert!(find_accelerator(id).is_some(), "missing {id}");
    }
}

#[test]
fn ids_are_unique_lowercase_and_dashed() {
    let mut seen = HashSet::new();
    for accelerator in accelerators() {
        let id = accelerator.id;
        assert!(seen.insert(id), "duplicate id {id}");
        assert!(
            id.split('-').all(|word| !word.is_empty()
                && word
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit())),
            "id {id} is not lowercase words joined by dashes"
        );
        assert!(id.starts_with(&accelerator.vendor.name().to_lowercase()));
    }
}

#[test]
fn figures_are_plausible() {
    for accelerator in accelerators() {
        let id = accelerator.id;
        assert!(accelerator.memory_bytes >= 8 << 30, "{id}: memory");
        let bandwidth = accelerator.memory_bandwidth_bytes_per_second;
        assert!(
            (100e9..=10e12).contains(&bandwidth),
            "{id}: bandwidth {bandwidth}"
        );
        assert!(accelerator.fp32_tflops > 0.0, "{id}: fp32");
        assert!(
            accelerator.fp16_tflops >= accelerator.fp32_tflops,
            "{id}: fp16 < fp32"
        );
        for (dtype, figure) in [
            ("tf32", accelerator.tf32_tflops),
            ("bf16", accelerator.bf16_tflops),
            ("fp8", accelerator.fp8_tflops),
            ("int8", accelerator.int8_tops),
        ] {
            if let Some(figure) = figure {
                assert!(figure > 0.0, "{id}: {dtype}");
                assert!(
                    figure >= accelerator.fp32_tflops,
                    "{id}: {dtype} below fp32"
                );
            }
        }
        // FP8 halves the bytes of FP16, and the hardware that has it doubles the rate.
        if let Some(fp8) = accelerator.fp8_tflops {
            assert!(fp8 >= accelerator.fp16_tflops, "{id}: fp8 below fp16");
        }
        assert!(!accelerator.source.is_empty(), "{id}: source");
        assert!(!accelerator.name.is_empty(), "{id}: name");
        let capability = accelerator.compute_capability;
        match accelerator.vendor.name() {
            "NVIDIA" => {
                let capability = capability.unwrap_or_else(|| panic!("{id}: no capability"));
                assert_eq!(
                    accelerator.tensor_cores,
                    capability.has_tensor_cores(),
                    "{id}"
                );
                assert_eq!(
                    accelerator.bf16_tflops.is_some(),
                    capability.supports_bf16(),
                    "{id}: bf16"
                );
                assert_eq!(
                    accelerator.tf32_tflops.is_some(),
                    capability.supports_bf16()
                );
                assert_eq!(
                    accelerator.fp8_tflops.is_some(),
                    capability >= ComputeCapability::new(8, 9),
                    "{id}: fp8"
                );
            }
            _ => assert_eq!(capability, None, "{id}: not a CUDA device"),
        }
    }
}

#[test]
fn to_hardware_info_describes_one_gpu() {
    let h100 = find_accelerator("nvidia-h100-sxm").unwrap();
    let info = h100.to_hardware_info();
    assert_eq!(info.gpu_model.as_deref(), Some(h100.name));
    assert_eq!(info.gpu_memory_mb, Some(80 * 1024));
    assert_eq!(info.gpu_count, Some(1));
    assert_eq!(
        info.gpu_compute_capability,
        Some(ComputeCapability::new(9, 0))
    );
    assert_eq!(info.cpu_model, None);
    assert_eq!(info.cpu_cores, None);
    assert_eq!(info.cpu_threads, None);
    assert_eq!(info.system_memory_mb, None);
    assert_eq!(info.simd_capabilities, None);

    let mi300x = find_accelerator("amd-mi300x").unwrap().to_hardware_info();
    assert_eq!(mi300x.gpu_compute_capability, None);
    assert_eq!(mi300x.gpu_memory_mb, Some(192 * 1024));
}

/// Names as drivers report them, with the memory they report in MiB where known.
const DRIVER_NAMES: &[(&str, Option<u64>, &str)] = &[
    ("NVIDIA A100-SXM4-80GB", None, "nvidia-a100-80gb"),
    ("NVIDIA A100-SXM4-80GB", Some(81_920), "nvidia-a100-80gb"),
    ("NVIDIA A100-SXM4-40GB", None, "nvidia-a100-40gb"),
    ("NVIDIA A100-SXM4-40GB", Some(40_960), "nvidia-a100-40gb"),
    ("NVIDIA A100-PCIE-40GB", None, "nvidia-a100-40gb"),
    (
        "NVIDIA A100 80GB PCIe",
        Some(81_920),
        "nvidia-a100-80gb-pcie",
    ),
    ("Tesla V100-SXM2-32GB", None, "nvidia-v100-sxm2-32gb"),
    (
        "Tesla V100-SXM2-32GB",
        Some(32_510),
        "nvidia-v100-sxm2-32gb",
    ),
    ("Tesla V100-SXM2-16GB", None, "nvidia-v100-sxm2-16gb"),
    (
        "Tesla V100-SXM2-16GB",
        Some(16_160),
        "nvidia-v100-sxm2-16gb",
    ),
    (
        "Tesla V100-PCIE-16GB",
        Some(16_160),
        "nvidia-v100-pcie-16gb",
    ),
    ("Tesla V100-PCIE-32GB", None, "nvidia-v100-pcie-32gb"),
    ("NVIDIA H100 80GB HBM3", None, "nvidia-h100-sxm"),
    ("NVIDIA H100 80GB HBM3", Some(81_559), "nvidia-h100-sxm"),
    ("NVIDIA H100 PCIe", None, "nvidia-h100-pcie"),
    ("NVIDIA H100 PCIe", Some(81_559), "nvidia-h100-pcie"),
    ("NVIDIA H200", None, "nvidia-h200"),
    ("NVIDIA H200", Some(143_771), "nvidia-h200"),
    ("Tesla T4", None, "nvidia-t4"),
    ("Tesla T4", Some(15_360), "nvidia-t4"),
    ("NVIDIA L4", Some(23_034), "nvidia-l4"),
    ("NVIDIA L40S", Some(46_068), "nvidia-l40s"),
    ("NVIDIA A10G", Some(23_028), "nvidia-a10g"),
    ("NVIDIA A10", Some(23_028), "nvidia-a10"),
    ("NVIDIA GeForce RTX 4090", Some(24_564), "nvidia-rtx-4090"),
    ("NVIDIA GeForce RTX 3090", None, "nvidia-rtx-3090"),
    ("AMD Instinct MI300X", Some(196_592), "amd-mi300x"),
    // The name leaves the size open; the reported memory picks the variant.
    ("Tesla V100-SXM2", Some(16_160), "nvidia-v100-sxm2-16gb"),
    ("Tesla V100-SXM2", Some(32_510), "nvidia-v100-sxm2-32gb"),
    ("NVIDIA A100-SXM4", Some(40_536), "nvidia-a100-40gb"),
    ("NVIDIA A100-SXM4", Some(81_920), "nvidia-a100-80gb"),
];

#[test]
fn driver_names_match_their_entries() {
    for &(name, memory_mb, id) in DRIVER_NAMES {
        let matched = match_gpu_name(name, memory_mb).map(|accelerator| accelerator.id);
        assert_eq!(matched, Some(id), "{name} with {memory_mb:?} MiB");
    }
}

#[test]
fn names_that_are_not_table_entries_match_nothing() {
    for (name, memory_mb) in [
        // Ambiguous: SXM2 or PCIe, 16 or 32 GB.
        ("Tesla V100-SXM2", None),
        ("Tesla V100", Some(32_510)),
        // The name and the memory disagree.
        ("NVIDIA A100-SXM4-80GB", Some(40_960)),
        ("NVIDIA H100 80GB HBM3", Some(95_830)),
        // Other variants of a known model, and slices of one.
        ("NVIDIA GeForce RTX 4090 Laptop GPU", None),
        ("NVIDIA GeForce RTX 4090 D", None),
        ("NVIDIA GeForce RTX 3090 Ti", None),
        ("NVIDIA H100 NVL", None),
        ("NVIDIA A100-SXM4-40GB MIG 1g.5gb", None),
        ("Tesla V100S-PCIE-32GB", None),
        // Parts the table does not hold.
        ("NVIDIA L40", None),
        ("NVIDIA GH200 480GB", None),
        ("AMD Instinct MI300A", None),
        ("NVIDIA GeForce RTX 4080", None),
        ("", None),
    ] {
        let matched = match_gpu_name(name, memory_mb).map(|accelerator| accelerator.id);
        assert_eq!(matched, None, "{name} with {memory_mb:?} MiB");
    }
}

const SOFTWARE_ADAPTERS: &[&str] = &[
    "llvmpipe (LLVM 15.0.7, 256 bits)",
    "lavapipe",
    "Google SwiftShader",
    "SwiftShader Device (Subzero)",
    "Microsoft Basic Render Driver",
    "softpipe",
];

#[test]
fn software_adapters_are_recognised_and_never_match() {
    for name in SOFTWARE_ADAPTERS {
        assert!(is_software_adapter(name), "{name}");
        assert!(match_gpu_name(name, None).is_none(), "{name}");
        assert!(match_gpu_name(name, Some(16_384)).is_none(), "{name}");
        assert_eq!(compute_capability_from_name(name), None, "{name}");
    }
    for &(name, _, _) in DRIVER_NAMES {
        assert!(!is_software_adapter(name), "{name}");
    }
}

#[test]
fn compute_capability_from_names() {
    let cases = [
        ("Tesla V100-SXM2-16GB", Some((7, 0))),
        ("Tesla V100-SXM2", Some((7, 0))),
        ("Tesla T4", Some((7, 5))),
        ("NVIDIA A10G", Some((8, 6))),
        ("NVIDIA A100-SXM4-40GB MIG 1g.5gb", Some((8, 0))),
        ("NVIDIA L4", Some((8, 9))),
        ("NVIDIA H100 NVL", Some((9, 0))),
        ("NVIDIA H200", Some((9, 0))),
        ("NVIDIA GeForce RTX 4090 Laptop GPU", Some((8, 9))),
        ("NVIDIA GeForce RTX 3080 Ti", Some((8, 6))),
        ("NVIDIA GeForce RTX 2080 SUPER", Some((7, 5))),
        ("NVIDIA GeForce GTX 1080", Some((6, 1))),
        ("NVIDIA GeForce RTX 5090", Some((12, 0))),
        ("NVIDIA RTX A6000", Some((8, 6))),
        ("NVIDIA RTX 6000 Ada Generation", Some((8, 9))),
        ("Quadro RTX 8000", Some((7, 5))),
        ("NVIDIA A40", Some((8, 6))),
        ("NVIDIA L40", Some((8, 9))),
        ("NVIDIA GH200 480GB", Some((9, 0))),
        ("AMD Instinct MI300X", None),
        ("AMD Radeon RX 7900 XTX", None),
        ("Intel(R) Arc(TM) A770 Graphics", None),
        ("Some Unknown GPU", None),
    ];
    for (name, expected) in cases {
        let expected = expected.map(|(major, minor)| ComputeCapability::new(major, minor));
        assert_eq!(compute_capability_from_name(name), expected, "{name}");
    }
}

#[test]
fn every_table_id_resolves_as_a_target() {
    for accelerator in accelerators() {
        let info = resolve_target(accelerator.id).unwrap();
        assert_eq!(info, accelerator.to_hardware_info());
    }
    let forgiving = resolve_target(" NVIDIA_A100_80GB ").unwrap();
    assert_eq!(forgiving.gpu_model.as_deref(), Some("NVIDIA A100 80GB SXM"));
}

#[test]
fn unknown_targets_list_known_ids_and_suggest_the_closest() {
    let suggestion = |name: &str| match resolve_target(name) {
        Err(HwError::UnknownTarget {
            suggestion, known, ..
        }) => {
            assert_eq!(known.len(), accelerators().len());
            suggestion
        }
        other => panic!("{name}: expected an unknown target, got {other:?}"),
    };
    assert_eq!(suggestion("h100"), Some("nvidia-h100-sxm"));
    assert_eq!(suggestion("Tesla T4"), Some("nvidia-t4"));
    assert_eq!(suggestion("nvidia-h100-smx"), Some("nvidia-h100-sxm"));
    assert_eq!(suggestion("rtx4090"), Some("nvidia-rtx-4090"));
    assert_eq!(suggestion("mi300"), Some("amd-mi300x"));
    assert_eq!(suggestion("a100-80gb"), Some("nvidia-a100-80gb"));
    assert_eq!(suggestion("tpu-v5e"), None);

    let message = resolve_target("nvidia-h100-smx").unwrap_err().to_string();
    assert!(
        message.starts_with(
            "unknown deployment target `nvidia-h100-smx` (did you mean `nvidia-h100-sxm`?); \
             known targets: nvidia-v100-sxm2-16gb, "
        ),
        "{message}"
    );
    assert!(message.ends_with("amd-mi300x"), "{message}");
    let message = resolve_target("tpu-v5e").unwrap_err().to_string();
    assert!(message.starts_with("unknown deployment target `tpu-v5e`; known targets: "));
}

#[cfg(feature = "probe")]
mod probe {
    use std::path::Path;

    use advisor_hw::{
        Adapter, AdapterType, CacheKind, GpuDevice, GpuFindings, GpuProbe, NO_GPU_PROBE_REASON,
        NvmlProbe, OsVectorSupport, ProbeStatus, RecordedCpuid, RecordedNvml,
        cpu_details_from_cpuid, detect, detect_with, parse_cpu_list, read_numa_nodes,
    };
    use proptest::prelude::*;

    use super::*;

    const SIMD_NAMES: &[&str] = &[
        "sse4.2",
        "avx",
        "avx2",
        "fma",
        "f16c",
        "avx512f",
        "avx512bw",
        "avx512vl",
        "avx512vnni",
        "avx512bf16",
        "avx512fp16",
        "avx-vnni",
        "amx-tile",
        "amx-bf16",
        "amx-int8",
        "neon",
        "sve",
    ];

    fn fixture(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        std::fs::read_to_string(&path).unwrap()
    }

    #[test]
    fn detect_finds_this_machine() {
        let detection = detect();
        let info = &detection.info;
        assert!(
            info.cpu_threads.is_some_and(|threads| threads >= 1),
            "{detection:?}"
        );
        assert!(
            info.cpu_cores.is_some_and(|cores| cores >= 1),
            "{detection:?}"
        );
        assert!(info.cpu_cores <= info.cpu_threads, "{detection:?}");
        assert_eq!(info.cpu_cores, detection.cpu.physical_cores);
        assert!(
            info.system_memory_mb.is_some_and(|memory| memory > 0),
            "{detection:?}"
        );
        let memory = detection.memory;
        assert!(memory.available_mb <= memory.total_mb, "{memory:?}");
        if let Some(model) = &info.cpu_model {
            assert_eq!(model, model.trim());
        }
        let simd = info.simd_capabilities.as_deref().unwrap_or_default();
        if cfg!(target_arch = "x86_64") {
            assert!(simd.iter().any(|name| name == "sse4.2"), "{simd:?}");
            // Every x86-64 CPU of this century has an L1 data cache that CPUID describes.
            assert!(
                detection
                    .cpu
                    .caches
                    .iter()
                    .any(|cache| cache.level == 1 && cache.size_bytes >= 16 << 10),
                "{:?}",
                detection.cpu.caches
            );
        }
        assert!(
            simd.iter().all(|name| SIMD_NAMES.contains(&name.as_str())),
            "{simd:?}"
        );
        if simd.iter().any(|name| name.starts_with("avx512")) {
            assert!(simd.iter().any(|name| name == "avx2"), "{simd:?}");
        }
        if cfg!(target_os = "linux") {
            assert!(detection.probe("numa").unwrap().status.is_ok());
            let cpus_in_nodes: usize = detection
                .numa_nodes
                .iter()
                .map(|node| node.cpus.len())
                .sum();
            assert!(cpus_in_nodes >= 1, "{:?}", detection.numa_nodes);
        }

        let names: Vec<&str> = detection
            .probes
            .iter()
            .map(|probe| probe.name.as_str())
            .collect();
        assert_eq!(
            names[..8],
            [
                "cpu-model",
                "cpu-threads",
                "cpu-cores",
                "cpu-frequency",
                "cpu-caches",
                "simd",
                "memory",
                "numa"
            ]
        );
        if !cfg!(any(feature = "nvml", feature = "wgpu")) {
            assert_eq!(names[8..], ["gpu"]);
            assert_eq!(
                detection.probe("gpu").unwrap().status,
                ProbeStatus::Unavailable {
                    reason: NO_GPU_PROBE_REASON.to_owned()
                }
            );
        }
        // Software renderers are never GPUs, whatever the probes found.
        assert!(
            detection
                .gpus
                .iter()
                .all(|gpu| !is_software_adapter(&gpu.name))
        );
        assert_eq!(detection.gpus.is_empty(), info.gpu_model.is_none());
        for report in &detection.probes {
            assert!(report.elapsed_ms >= 0.0);
        }
    }

    /// With NVML absent (no NVIDIA driver, as on CI), the NVML probe says so and wgpu runs.
    #[cfg(feature = "nvml")]
    #[test]
    fn missing_nvml_is_a_reported_fact() {
        let detection = detect();
        let nvml = detection.probe("nvml").unwrap();
        if let ProbeStatus::Unavailable { reason } = &nvml.status {
            assert!(!reason.is_empty());
            if cfg!(feature = "wgpu") {
                assert!(detection.probe("wgpu").is_some(), "{:?}", detection.probes);
            }
        } else {
            // An NVIDIA machine: NVML found GPUs, so wgpu must not have started.
            assert!(!detection.gpus.is_empty());
            assert!(detection.probe("wgpu").is_none());
            assert!(detection.gpus[0].uuid.is_some());
        }
    }

    /// `.ci/run` installs Mesa's Vulkan driver, so wgpu finds lavapipe (llvmpipe) here; it is
    /// listed, flagged as software, and never becomes a GPU.
    #[cfg(all(feature = "wgpu", target_os = "linux"))]
    #[test]
    fn wgpu_finds_the_software_adapter_and_flags_it() {
        let detection = detect_with(&[&advisor_hw::WgpuProbe]);
        let wgpu = detection.probe("wgpu").unwrap();
        let software: Vec<&Adapter> = detection
            .adapters
            .iter()
            .filter(|adapter| adapter.software)
            .collect();
        assert!(
            !software.is_empty(),
            "no software adapter found (is mesa-vulkan-drivers installed?): {:?} {:?}",
            wgpu.status,
            detection.adapters
        );
        assert!(
            software
                .iter()
                .any(|adapter| adapter.name.contains("llvmpipe") && adapter.backend == "vulkan"),
            "{software:?}"
        );
        assert!(
            detection
                .gpus
                .iter()
                .all(|gpu| !software.iter().any(|adapter| adapter.name == gpu.name))
        );
        if detection.adapters.iter().all(|adapter| adapter.software) {
            assert!(detection.gpus.is_empty());
            assert_eq!(detection.info.gpu_model, None);
            assert!(matches!(
                &wgpu.status,
                ProbeStatus::Unavailable { reason } if reason.starts_with("only software renderers found (llvmpipe")
            ));
        }
    }

    #[test]
    fn probe_reports_serialize_flat() {
        let json = serde_json::to_value(detect_with(&[])).unwrap();
        let gpu = json["probes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|probe| probe["name"] == "gpu")
            .unwrap();
        assert_eq!(gpu["status"], "unavailable");
        assert_eq!(gpu["reason"], NO_GPU_PROBE_REASON);
        assert_eq!(json["probes"][0]["status"], "ok");
        assert!(json["gpus"].as_array().unwrap().is_empty());
    }

    struct FakeProbe {
        name: &'static str,
        result: Result<GpuFindings, String>,
    }

    impl GpuProbe for FakeProbe {
        fn name(&self) -> &'static str {
            self.name
        }

        fn probe(&self) -> Result<GpuFindings, String> {
            self.result.clone()
        }
    }

    fn devices(names: &[&str]) -> Result<GpuFindings, String> {
        Ok(GpuFindings::from(
            names
                .iter()
                .map(|name| GpuDevice::named(*name))
                .collect::<Vec<_>>(),
        ))
    }

    #[test]
    fn gpu_probes_run_until_one_finds_a_real_gpu() {
        let missing = FakeProbe {
            name: "nvml",
            result: Err("libnvidia-ml.so.1 not found".to_owned()),
        };
        let lavapipe = Adapter::new(
            "llvmpipe (LLVM 15.0.6, 256 bits)",
            0x10005,
            0,
            AdapterType::Cpu,
            "vulkan",
            "llvmpipe",
            "Mesa 22.3.6 (LLVM 15.0.6)",
        );
        let software = FakeProbe {
            name: "software",
            result: Ok(GpuFindings::new(Vec::new(), vec![lavapipe.clone()])),
        };
        let wgpu = FakeProbe {
            name: "wgpu",
            result: devices(&[
                "llvmpipe (LLVM 15.0.7, 256 bits)",
                "NVIDIA A100-SXM4-80GB",
                "NVIDIA A100-SXM4-80GB",
                "NVIDIA T4",
            ]),
        };
        let never_runs = FakeProbe {
            name: "never",
            result: Err("must not run".to_owned()),
        };
        let detection = detect_with(&[&missing, &software, &wgpu, &never_runs]);
        let info = &detection.info;
        assert_eq!(info.gpu_model.as_deref(), Some("NVIDIA A100-SXM4-80GB"));
        assert_eq!(info.gpu_count, Some(2));
        assert_eq!(info.gpu_memory_mb, Some(80 * 1024));
        assert_eq!(
            info.gpu_compute_capability,
            Some(ComputeCapability::new(8, 0))
        );
        assert_eq!(detection.gpus.len(), 3);
        assert_eq!(
            detection.gpus[2].accelerator.map(|entry| entry.id),
            Some("nvidia-t4")
        );
        assert_eq!(detection.adapters, [lavapipe]);
        assert!(detection.adapters[0].software);

        let statuses: Vec<(&str, &ProbeStatus)> = detection
            .probes
            .iter()
            .skip(8)
            .map(|probe| (probe.name.as_str(), &probe.status))
            .collect();
        assert_eq!(
            statuses,
            [
                (
                    "nvml",
                    &ProbeStatus::Unavailable {
                        reason: "libnvidia-ml.so.1 not found".to_owned()
                    }
                ),
                (
                    "software",
                    &ProbeStatus::Unavailable {
                        reason: "only software renderers found (llvmpipe (LLVM 15.0.6, 256 bits))"
                            .to_owned()
                    }
                ),
                ("wgpu", &ProbeStatus::Ok),
            ]
        );
    }

    /// A real A100 record (nvidia-smi -q -x from netdata's test data) replayed through the
    /// NVML probe: every reading lands in its field, in the advisor's units.
    #[test]
    fn recorded_a100_nvml_readings_become_a_gpu() {
        let recorded =
            RecordedNvml::from_json(&fixture("nvml-a100-sxm4-40gb.json"), "a100").unwrap();
        assert!(
            recorded
                .record()
                .source
                .as_deref()
                .unwrap()
                .contains("netdata")
        );
        let nvml = NvmlProbe::new(recorded);
        let detection = detect_with(&[&nvml]);
        assert_eq!(detection.probe("nvml").unwrap().status, ProbeStatus::Ok);
        assert!(detection.adapters.is_empty());
        let [gpu] = detection.gpus.as_slice() else {
            panic!("{:?}", detection.gpus)
        };
        assert_eq!(gpu.name, "NVIDIA A100-SXM4-40GB");
        assert_eq!(
            gpu.uuid.as_deref(),
            Some("GPU-27b94a00-ed54-5c24-b1fd-1054085de32a")
        );
        assert_eq!(gpu.memory_mb, Some(40_960));
        assert_eq!(gpu.memory_used_mb, Some(38));
        assert_eq!(gpu.max_sm_clock_mhz, Some(1410));
        assert_eq!(gpu.max_memory_clock_mhz, Some(1215));
        assert_eq!(gpu.power_limit_watts, Some(400.0));
        assert_eq!((gpu.pcie_generation, gpu.pcie_width), (Some(4), Some(16)));
        assert_eq!(gpu.mig_enabled, Some(true));
        assert_eq!(gpu.utilization_gpu_percent, None);
        assert_eq!(gpu.driver_version.as_deref(), Some("510.47.03"));
        assert_eq!(gpu.cuda_driver_version.as_deref(), Some("11.6"));
        let accelerator = gpu.accelerator.unwrap();
        assert_eq!(accelerator.id, "nvidia-a100-40gb");
        assert_eq!(accelerator.bf16_tflops, Some(312.0));

        let info = &detection.info;
        assert_eq!(info.gpu_model.as_deref(), Some("NVIDIA A100-SXM4-40GB"));
        assert_eq!(info.gpu_memory_mb, Some(40_960));
        assert_eq!(info.gpu_count, Some(1));
        // nvidia-smi -q does not print the compute capability: it comes from the name.
        assert_eq!(
            info.gpu_compute_capability,
            Some(ComputeCapability::new(8, 0))
        );

        let json = serde_json::to_value(&detection).unwrap();
        assert_eq!(json["gpus"][0]["accelerator"]["id"], "nvidia-a100-40gb");
        assert_eq!(json["gpus"][0]["cuda_driver_version"], "11.6");
    }

    #[test]
    fn nvml_readings_that_nvidia_smi_omits_are_converted_too() {
        let mut record = RecordedNvml::from_json(&fixture("nvml-a100-sxm4-40gb.json"), "a100")
            .unwrap()
            .record()
            .clone();
        // The A100's datasheet figures: 108 SMs of 64 FP32 cores, compute capability 8.0.
        record.devices[0].num_cores = Some(6912);
        record.devices[0].cuda_compute_capability = Some([8, 0]);
        record.devices[0].mig_mode_current = Some(0);
        let gpus = NvmlProbe::new(RecordedNvml::new(record))
            .probe()
            .unwrap()
            .devices;
        assert_eq!(gpus[0].sm_count, Some(108));
        assert_eq!(
            gpus[0].compute_capability,
            Some(ComputeCapability::new(8, 0))
        );
        assert_eq!(gpus[0].mig_enabled, Some(false));
    }

    #[test]
    fn bad_nvml_recordings_name_the_file_and_problem() {
        let error = RecordedNvml::from_json(r#"{"devices": [{"nam": "x"}]}"#, "bad.json")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("bad.json: unknown field `nam`"),
            "{error}"
        );
    }

    /// CPUID leaves of a real AMD EPYC 9124 (Zen 4), from libcpuid's test data.
    #[test]
    fn recorded_epyc_cpuid_gives_vendor_model_caches_and_simd() {
        let cpuid = RecordedCpuid::parse(&fixture("cpuid-amd-epyc-9124.txt"), "epyc-9124").unwrap();
        let cpu = cpu_details_from_cpuid(&cpuid, OsVectorSupport::ALL);
        assert_eq!(cpu.vendor.as_deref(), Some("AMD"));
        assert_eq!(
            cpu.model.as_deref(),
            Some("AMD EPYC 9124 16-Core Processor")
        );
        assert_eq!(
            cpu.simd_capabilities,
            [
                "sse4.2",
                "avx",
                "avx2",
                "fma",
                "f16c",
                "avx512f",
                "avx512bw",
                "avx512vl",
                "avx512vnni",
                "avx512bf16"
            ]
        );
        let caches: Vec<(u8, CacheKind, u64, Option<u32>)> = cpu
            .caches
            .iter()
            .map(|cache| {
                (
                    cache.level,
                    cache.kind,
                    cache.size_bytes,
                    cache.shared_by_threads,
                )
            })
            .collect();
        let expected = [
            (1, CacheKind::Data, 32 << 10, Some(2)),
            (1, CacheKind::Instruction, 32 << 10, Some(2)),
            (2, CacheKind::Unified, 1 << 20, Some(2)),
            (3, CacheKind::Unified, 16 << 20, Some(8)),
        ];
        assert_eq!(caches, expected);
        // AMD has no frequency leaf (0x16); the OS must tell.
        assert_eq!(cpu.base_frequency_mhz, None);

        // An OS that does not save ZMM registers cannot run AVX-512, whatever CPUID says.
        let no_zmm = cpu_details_from_cpuid(
            &cpuid,
            OsVectorSupport {
                ymm: true,
                zmm: false,
            },
        );
        assert!(
            no_zmm
                .simd_capabilities
                .iter()
                .all(|name| !name.starts_with("avx512"))
        );
        assert!(no_zmm.simd_capabilities.contains(&"avx2".to_owned()));
    }

    #[test]
    fn bad_cpuid_dumps_name_the_file_and_line() {
        let error = RecordedCpuid::parse(
            "CPUID 00000000: 00000010-68747541-444D4163-69746E65\nCPUID 00000001: 00A10F11-zz\n",
            "dump.txt",
        )
        .unwrap_err()
        .to_string();
        assert!(error.starts_with("dump.txt: line 2: "), "{error}");
        let empty = RecordedCpuid::parse("nothing here", "empty.txt")
            .unwrap_err()
            .to_string();
        assert!(empty.contains("no `CPUID"), "{empty}");
    }

    #[test]
    fn numa_nodes_are_read_from_a_sysfs_tree() {
        let root = tempfile::tempdir().unwrap();
        for (node, cpus, kib) in [(1, "8-15\n", 33_554_432u64), (0, "0-7\n", 33_554_432)] {
            let folder = root.path().join(format!("node{node}"));
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join("cpulist"), cpus).unwrap();
            std::fs::write(
                folder.join("meminfo"),
                format!(
                    "Node {node} MemTotal:       {kib} kB\nNode {node} MemFree:        1048576 kB\n"
                ),
            )
            .unwrap();
        }
        std::fs::create_dir_all(root.path().join("power")).unwrap();
        let nodes = read_numa_nodes(root.path()).unwrap();
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[0].id, 0);
        assert_eq!(nodes[1].cpus, (8..16).collect::<Vec<u32>>());
        assert_eq!(nodes[1].memory_total_mb, Some(32_768));
        assert_eq!(nodes[1].memory_free_mb, Some(1024));

        std::fs::write(root.path().join("node0/cpulist"), "0-x").unwrap();
        let error = read_numa_nodes(root.path()).unwrap_err();
        assert!(
            error.contains("node0/cpulist") && error.contains("`x`"),
            "{error}"
        );
    }

    proptest! {
        #[test]
        fn cpu_lists_round_trip(cpus in proptest::collection::btree_set(0u32..4096, 0..64)) {
            let cpus: Vec<u32> = cpus.into_iter().collect();
            // Write the set as ranges of consecutive CPUs, as the kernel does.
            let mut parts = Vec::new();
            let mut index = 0;
            while index < cpus.len() {
                let start = cpus[index];
                while index + 1 < cpus.len() && cpus[index + 1] == cpus[index] + 1 {
                    index += 1;
                }
                let end = cpus[index];
                parts.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
                index += 1;
            }
            prop_assert_eq!(parse_cpu_list(&parts.join(",")).unwrap(), cpus);
        }

        #[test]
        fn cpu_list_parser_never_panics(text in "\\PC{0,40}") {
            let _ = parse_cpu_list(&text);
        }

        #[test]
        fn cpuid_dump_parser_never_panics(text in "(CPUID [0-9A-Fa-fx]{0,9}: ?[0-9A-F-]{0,40}( \\[SL [0-9A-Fz]{0,3}\\])?\n){0,4}") {
            let _ = RecordedCpuid::parse(&text, "fuzz");
        }
    }
}
