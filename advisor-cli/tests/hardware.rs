//! `advisor hardware` end to end: the JSON shape the issue specifies, the deployment target
//! list, and on this machine (no GPU, Mesa's lavapipe installed by `.ci/run`) a software
//! adapter that is flagged and never reaches the rules.

mod common;

use common::ok;

use serde_json::Value;

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&ok(args)).expect("valid JSON output")
}

#[test]
fn hardware_json_has_the_seed_fields_and_the_detail() {
    let report = json(&["hardware", "--format", "json"]);
    for field in [
        "cpu_model",
        "cpu_cores",
        "cpu_threads",
        "gpu_model",
        "gpu_memory_mb",
        "system_memory_mb",
        "simd_capabilities",
    ] {
        assert!(report.get(field).is_some(), "missing {field}: {report}");
    }
    assert!(report["cpu_cores"].as_u64().expect("cpu_cores") >= 1);
    assert!(report["cpu_threads"].as_u64() >= report["cpu_cores"].as_u64());
    assert!(report["system_memory_mb"].as_u64().expect("memory") > 0);
    assert!(report["numa_nodes"].is_array());
    assert!(report["gpus"].is_array());
    assert!(report["adapters"].is_array());
    let probes = report["probes"].as_array().expect("probes");
    for probe in probes {
        assert!(probe["name"].is_string(), "{probe}");
        assert!(probe["elapsed_ms"].as_f64().expect("elapsed_ms") >= 0.0);
        match probe["status"].as_str() {
            Some("ok") => {}
            Some("unavailable") => assert!(probe["reason"].is_string(), "{probe}"),
            other => panic!("status {other:?}"),
        }
    }
    let names: Vec<&str> = probes.iter().filter_map(|p| p["name"].as_str()).collect();
    assert!(
        names.contains(&"cpu-model") && names.contains(&"numa"),
        "{names:?}"
    );
    // The default build has the NVML probe, which always reports.
    assert!(names.contains(&"nvml"), "{names:?}");
}

/// A machine without a GPU device node (CI, this VM) does not start wgpu at all: loading the
/// Vulkan drivers would only find a software renderer.
#[cfg(target_os = "linux")]
#[test]
fn without_a_gpu_device_node_the_wgpu_probe_is_skipped() {
    let has_node = std::fs::read_dir("/dev/dri").is_ok_and(|mut e| e.next().is_some())
        || std::fs::read_dir("/dev").is_ok_and(|e| {
            e.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("nvidia"))
        })
        || std::path::Path::new("/dev/kfd").exists();
    if has_node {
        return;
    }
    let report = json(&["hardware", "--format", "json"]);
    let wgpu = report["probes"]
        .as_array()
        .expect("probes")
        .iter()
        .find(|probe| probe["name"] == "wgpu")
        .cloned()
        .expect("a wgpu probe report");
    assert_eq!(wgpu["status"], "unavailable", "{wgpu}");
    assert!(
        wgpu["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("no GPU device node"),
        "{wgpu}"
    );
    assert!(report["adapters"].as_array().expect("adapters").is_empty());
}

/// CI has no GPU and `.ci/run` installs mesa-vulkan-drivers: asked to list software
/// adapters, wgpu finds lavapipe, flags it as software, no GPU is reported, and the rules
/// that need a GPU stay silent.
#[cfg(target_os = "linux")]
#[test]
fn software_adapter_is_flagged_and_the_rules_see_no_gpu() {
    let report = json(&["hardware", "--software-adapters", "--format", "json"]);
    let nvml_found_gpus = report["probes"]
        .as_array()
        .expect("probes")
        .iter()
        .any(|probe| probe["name"] == "nvml" && probe["status"] == "ok");
    if nvml_found_gpus {
        // An NVIDIA machine: wgpu does not start, and the GPUs come from NVML.
        assert!(report["adapters"].as_array().expect("adapters").is_empty());
        assert!(report["gpu_model"].is_string());
        return;
    }
    let adapters = report["adapters"].as_array().expect("adapters");
    let software: Vec<&Value> = adapters
        .iter()
        .filter(|adapter| adapter["software"] == true)
        .collect();
    assert!(
        software.iter().any(|adapter| adapter["name"]
            .as_str()
            .unwrap_or_default()
            .contains("llvmpipe")),
        "no llvmpipe adapter (is mesa-vulkan-drivers installed?): {report}"
    );
    if adapters.iter().all(|adapter| adapter["software"] == true) {
        assert!(report["gpus"].as_array().expect("gpus").is_empty());
        assert!(report["gpu_model"].is_null(), "{report}");
        let rule_ids = |extra: &[&str]| -> Vec<String> {
            let mut args = vec!["analyze", "--example", "gpt2", "--format", "json"];
            args.extend_from_slice(extra);
            json(&args)["suggestions"]
                .as_array()
                .expect("suggestions")
                .iter()
                .filter_map(|suggestion| suggestion["rule_id"].as_str().map(str::to_owned))
                .collect()
        };
        // The control: with a GPU, these rules fire on this example, so their silence below
        // is the detected hardware's doing.
        let with_gpu = rule_ids(&["--hardware", "nvidia-a100-80gb"]);
        let detected = rule_ids(&[]);
        // `mixed_precision` may still fire without a GPU, for a CPU with bf16 instructions
        // (this machine's), and `batch_size` advises CPUs too, so the control is a rule that
        // only ever fires on a GPU.
        let gpu_rule = "flash_attention";
        assert!(
            with_gpu.iter().any(|id| id == gpu_rule),
            "{gpu_rule} did not fire with a GPU: {with_gpu:?}"
        );
        assert!(
            !detected.iter().any(|id| id == gpu_rule),
            "{gpu_rule} fired without a GPU: {detected:?}"
        );
    }
}

#[test]
fn hardware_text_summary_lists_probes() {
    let text = ok(&["hardware"]);
    assert!(text.starts_with("CPU:"), "{text}");
    assert!(text.contains("\nProbes:\n"), "{text}");
    assert!(text.contains("cpu-model"), "{text}");
}

#[test]
fn hardware_list_names_every_target_with_figures_and_sources() {
    let text = ok(&["hardware", "--list"]);
    for id in [
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
        assert!(
            text.lines().any(|line| line.starts_with(id)),
            "{id} missing:\n{text}"
        );
    }
    assert!(text.contains("Sources:"), "{text}");
    assert!(text.contains("https://"), "{text}");

    let list = json(&["hardware", "--list", "--format", "json"]);
    let h100 = list
        .as_array()
        .expect("array")
        .iter()
        .find(|entry| entry["id"] == "nvidia-h100-sxm")
        .expect("nvidia-h100-sxm");
    assert_eq!(h100["compute_capability"], "9.0");
    assert!(h100["memory_bandwidth_bytes_per_second"].as_f64() > Some(3e12));
    assert!(h100["source"].as_str().expect("source").contains("H100"));
}

/// `--calibrate` measures the clock and bandwidth; the saved JSON, passed back as
/// `--hardware FILE`, makes the CPU figures measured rather than assumed.
#[test]
fn calibration_is_measured_saved_and_used() {
    let report = json(&["hardware", "--calibrate", "--format", "json"]);
    let calibration = &report["cpu_calibration"];
    let clock = calibration["clock_ghz"].as_f64().expect("clock");
    let bandwidth = calibration["per_thread_bandwidth_gbps"]
        .as_f64()
        .expect("bandwidth");
    assert!((0.3..7.0).contains(&clock), "{calibration}");
    assert!(bandwidth > 0.1, "{calibration}");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hardware.json");
    std::fs::write(&path, report.to_string()).expect("write");
    let analysis: Value = serde_json::from_str(&ok(&[
        "analyze",
        "--example",
        "all-minilm-l6-v2",
        "--hardware",
        path.to_str().expect("utf-8"),
        "--format",
        "json",
    ]))
    .expect("json");
    let text = analysis.to_string();
    assert!(
        text.contains("advisor hardware --calibrate"),
        "the measured figures are cited: {text}"
    );
}
