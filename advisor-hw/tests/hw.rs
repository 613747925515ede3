//! Behaviour of probing, and the accelerator table as this crate re-exports it (its own
//! tests are in `advisor-hw-table`).

#![allow(
    clippy::unwrap_used,
    reason = "in a test a panic is the failure report, and the values come from this crate"
)]

/// `advisor-hw` re-exports `advisor-hw-table`'s items themselves, not copies: one table, one
/// set of types.
#[test]
fn the_table_is_advisor_hw_tables() {
    assert!(std::ptr::eq(
        advisor_hw::accelerators(),
        advisor_hw_table::accelerators()
    ));
    let a100: Option<&'static advisor_hw_table::Accelerator> =
        advisor_hw::match_gpu_name("NVIDIA A100-SXM4-80GB", None);
    assert_eq!(
        a100.map(|accelerator| accelerator.id),
        Some("nvidia-a100-80gb")
    );
    let error: advisor_hw_table::HwError = advisor_hw::resolve_target("nvidia-t5").unwrap_err();
    assert!(error.to_string().contains("nvidia-t4"), "{error}");
}

#[cfg(feature = "probe")]
mod probe {
    use std::path::Path;

    use advisor_core::ComputeCapability;
    use advisor_hw::{
        Adapter, AdapterType, CacheKind, GpuDevice, GpuFindings, GpuProbe, NO_GPU_PROBE_REASON,
        NvmlProbe, OsVectorSupport, ProbeStatus, RecordedCpuid, RecordedNvml,
        cpu_details_from_cpuid, detect, detect_with, is_software_adapter, parse_cpu_list,
        read_numa_nodes,
    };
    use proptest::prelude::*;

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
        let detection = detect_with(&[&advisor_hw::WgpuProbe::always()]);
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
