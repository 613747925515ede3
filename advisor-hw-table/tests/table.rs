//! Behaviour of the accelerator table, name matching and deployment targets.

#![allow(
    clippy::unwrap_used,
    reason = "in a test a panic is the failure report, and the values come from this crate"
)]

use std::collections::HashSet;

use advisor_core::ComputeCapability;
use advisor_hw_table::{
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
