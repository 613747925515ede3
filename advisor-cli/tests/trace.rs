//! `advisor trace` and `advisor analyze --trace` end to end, on the real V100 training trace
//! from Holistic Trace Analysis's test data and the CPU-only bert-tiny trace (`testdata/traces`).

mod common;

use common::{advisor, ok};

use std::path::PathBuf;

use serde_json::Value;

/// A trace in the repository's `testdata/traces` folder.
fn trace(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/traces")
        .join(name)
        .display()
        .to_string()
}

fn v100_trace() -> String {
    trace("v100-training-rank0.trace.json.gz")
}

fn bert_trace() -> String {
    trace("bert-tiny.trace.json")
}

#[test]
fn trace_json_has_the_documented_keys_and_hta_figures() {
    let json: Value =
        serde_json::from_str(&ok(&["trace", &v100_trace(), "--format", "json"])).expect("json");
    for key in [
        "devices",
        "steps",
        "breakdown",
        "top_kernels",
        "top_cpu_ops",
        "launch",
        "memcpy",
        "idle_breakdown",
        "host_blocked",
        "memcpy_kinds",
        "queue_length",
        "warnings",
    ] {
        assert!(json.get(key).is_some(), "missing `{key}` in {json:#}");
    }
    let breakdown = &json["breakdown"];
    for key in [
        "idle_pct",
        "compute_pct",
        "communication_pct",
        "memory_pct",
        "non_compute_pct",
        "idle_us",
        "compute_us",
        "kernel_time_us",
    ] {
        assert!(breakdown[key].is_number(), "breakdown.{key}");
    }
    let close = |key: &str, expected: f64| {
        let value = breakdown[key].as_f64().unwrap_or(f64::NAN);
        assert!(
            (value - expected).abs() < 0.5,
            "{key} = {value}, HTA {expected}"
        );
    };
    close("idle_pct", 2.63);
    close("compute_pct", 96.75);
    close("non_compute_pct", 0.62);
    assert_eq!(json["steps"].as_array().map(Vec::len), Some(5));
    assert_eq!(json["devices"][0]["name"], "Tesla V100-SXM2-32GB");
    // HTA's get_idle_time_breakdown() on this trace: stream 7, host wait 1,709 us, kernel
    // wait 8,404 us, other 0.
    assert_eq!(
        json["idle_breakdown"],
        serde_json::json!([
            { "stream": 7, "host_wait_us": 1709.0, "kernel_wait_us": 8404.0, "other_us": 0.0 }
        ])
    );
    let text = ok(&["trace", &v100_trace()]);
    assert!(
        text.contains("stream 7    host wait    1.71 ms  kernel wait    8.40 ms  other    0.00 ms"),
        "{text}"
    );
    // Its launch queue is full (1,023 kernels), so the launch calls wait for room.
    assert_eq!(json["queue_length"][0]["max"], 1023);
    assert_eq!(
        json["host_blocked"]["by_cause"][0]["cause"],
        "launch_backpressure"
    );
    assert_eq!(
        json["host_blocked"]["by_site"][0]["call"],
        "cudaLaunchKernel"
    );
    assert!(
        text.contains("Host blocked in steps: 144 calls, 86.91 ms (22.1 % of step time)"),
        "{text}"
    );
    assert!(
        text.contains("stream 7    mean   838.7  max  1023"),
        "{text}"
    );
}

#[test]
fn trace_text_summarizes_a_cpu_only_trace() {
    let text = ok(&["trace", &bert_trace()]);
    assert!(text.contains("ProfilerStep#1"), "{text}");
    assert!(text.contains("Top CPU ops by self time"), "{text}");
    assert!(text.contains("CPU ops: 975 calls"), "{text}");
    assert!(!text.contains("GPU time breakdown"), "{text}");
    // The documented keys are there for a CPU-only trace too, null where there is no GPU.
    let json: Value =
        serde_json::from_str(&ok(&["trace", &bert_trace(), "--format", "json"])).expect("json");
    for key in ["breakdown", "launch", "memcpy"] {
        assert_eq!(json.get(key), Some(&Value::Null), "`{key}` in {json:#}");
    }
    assert_eq!(json["idle_breakdown"], serde_json::json!([]));
    assert_eq!(json["top_cpu_ops"][0]["name"], "aten::addmm");
}

#[test]
fn a_damaged_trace_is_read_with_its_repairs_as_warnings() {
    let dir = std::env::temp_dir().join(format!("advisor-cli-damaged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let text = std::fs::read_to_string(bert_trace()).expect("fixture");
    // Cut mid-file, with a NaN duration and a stray `}` before the cut.
    let cut = &text[..text.len() / 2];
    let damaged = cut
        .replacen("\"dur\": ", "\"dur\": NaN, \"was\": ", 1)
        .replacen("},", "}},", 1);
    let path = dir.join("damaged.trace.json");
    std::fs::write(&path, damaged).expect("write");
    let json: Value = serde_json::from_str(&ok(&[
        "trace",
        &path.display().to_string(),
        "--format",
        "json",
    ]))
    .expect("json");
    let warnings = json["warnings"].to_string();
    for expected in [
        "NaN/Infinity",
        "missing closing bracket",
        "cut off by the end of the file",
        "malformed event(s) skipped",
    ] {
        assert!(warnings.contains(expected), "`{expected}` in {warnings}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn trace_errors_name_the_file() {
    let output = advisor(&["trace", "no/such/trace.json"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no/such/trace.json"));
    let dir = std::env::temp_dir().join(format!("advisor-cli-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("model.json");
    std::fs::write(&path, r#"{"hidden_size": 768}"#).expect("write");
    let output = advisor(&["trace", &path.display().to_string()]);
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(
        err.contains("model.json") && err.contains("not a PyTorch/Chrome trace"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn analyze_with_a_trace_adds_its_facts_and_hardware() {
    let report: Value = serde_json::from_str(&ok(&[
        "analyze",
        "--trace",
        &v100_trace(),
        "--set",
        "mode=training",
        "--format",
        "json",
    ]))
    .expect("json");
    let ids: Vec<&str> = report["suggestions"]
        .as_array()
        .expect("suggestions")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    // 43 % of the kernels ran shorter than their launch call, but the GPU is busy 97 % of the
    // time with a deep queue (median launch-to-start delay 75 ms): launches cost it nothing.
    assert!(!ids.contains(&"launch_overhead"), "{ids:?}");
    // 45 % of the kernels run under 20 µs: fusing them is still worth it.
    assert!(ids.contains(&"kernel_fusion"), "{ids:?}");
    // The GPU is idle only 2.6 % of the time: no idle-GPU advice.
    assert!(!ids.contains(&"gpu_idle"), "{ids:?}");
    let text = report.to_string();
    assert!(
        text.contains("v100-training-rank0.trace.json.gz"),
        "evidence cites the trace"
    );
    // Hardware came from deviceProperties: the V100's 32 GB and Volta capability.
    let hardware = report["inputs"]["hardware"].as_str().unwrap_or_default();
    assert!(hardware.contains("V100"), "{hardware}");
}

/// A training trace of one step on a 16 GiB V100 whose `[memory]` events peak at 15 GiB
/// allocated and 15.5 GiB reserved.
fn memory_trace() -> String {
    let gib = 1u64 << 30;
    let event = |ts: u64, allocated: u64, reserved: u64| {
        format!(
            r#"{{"ph": "i", "cat": "cpu_instant_event", "name": "[memory]", "pid": 1, "tid": 1, "ts": {ts}, "s": "t",
                "args": {{"Device Type": 1, "Device Id": 0, "Addr": 1, "Bytes": 1024, "Total Allocated": {allocated}, "Total Reserved": {reserved}}}}}"#
        )
    };
    format!(
        r#"{{"deviceProperties": [{{"id": 0, "name": "Tesla V100-SXM2-16GB", "totalGlobalMem": {}, "computeMajor": 7, "computeMinor": 0}}],
            "traceEvents": [
              {{"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#1", "pid": 1, "tid": 1, "ts": 1000, "dur": 5000}},
              {},
              {},
              {{"ph": "X", "cat": "kernel", "name": "volta_sgemm_128x64_nn", "pid": 0, "tid": 7, "ts": 1500, "dur": 3000, "args": {{"device": 0, "stream": 7, "correlation": 1}}}}
            ]}}"#,
        16 * gib,
        event(1100, 10 * gib, 12 * gib),
        event(2000, 15 * gib, (31 * gib) / 2),
    )
}

#[test]
fn trace_memory_events_give_the_measured_peak() {
    let folder = tempfile_dir();
    let path = folder.join("memory.trace.json");
    std::fs::write(&path, memory_trace()).expect("write");
    let report: Value = serde_json::from_str(&ok(&[
        "analyze",
        "--trace",
        path.to_str().expect("utf-8 path"),
        "--set",
        "mode=training",
        "--format",
        "json",
    ]))
    .expect("json");
    let checkpointing = report["suggestions"]
        .as_array()
        .expect("suggestions")
        .iter()
        .find(|s| s["id"] == "gradient_checkpointing")
        .unwrap_or_else(|| panic!("15 GiB of 16 GiB in training: {report}"));
    let evidence = checkpointing["evidence"].to_string();
    assert!(
        evidence.contains("peak memory 15.0 GiB (memory_metrics.peak_bytes) is 93.8 %"),
        "{evidence}"
    );
    let _ = std::fs::remove_dir_all(&folder);
}

fn tempfile_dir() -> PathBuf {
    let folder = std::env::temp_dir().join(format!("advisor-trace-memory-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("temp dir");
    folder
}

/// The trace rules on the real HTA traces: (file, the suggestions that must not be there,
/// those that must).
#[test]
fn trace_rules_on_the_real_traces_follow_the_idle_breakdown_and_the_queue() {
    let cases: &[(&str, &[&str], &[&str])] = &[
        // TorchRec ranks: the main stream's idle mostly waits on other streams and
        // collectives (HTA's "other"), not on the host: no batch advice. Their pageable copies
        // (12 per step, 0.0–0.1 % of it) get host_sync's pinned-memory advice, at low impact.
        (
            "hta/sampled_rank-0.json.gz",
            &["batch_size"],
            &["host_sync"],
        ),
        (
            "hta/sampled_rank-1.json.gz",
            &["batch_size"],
            &["host_sync"],
        ),
        // A deep launch queue (1,023): GPU-bound, no launch advice, and the launch calls that
        // waited for room are not host_sync's to claim.
        (
            "v100-training-rank0.trace.json.gz",
            &["launch_overhead", "host_sync"],
            &[],
        ),
    ];
    for &(file, absent, present) in cases {
        let report: Value = serde_json::from_str(&ok(&[
            "analyze",
            "--trace",
            &trace(file),
            "--set",
            "mode=training",
            "--format",
            "json",
        ]))
        .expect("json");
        let ids: Vec<&str> = report["suggestions"]
            .as_array()
            .expect("suggestions")
            .iter()
            .filter_map(|s| s["id"].as_str())
            .collect();
        for id in absent {
            assert!(!ids.contains(id), "{file}: {id} in {ids:?}");
        }
        for id in present {
            assert!(ids.contains(id), "{file}: {id} missing from {ids:?}");
        }
    }
}

/// The two sampled ranks of HTA's TorchRec job: read together, they give a per-rank table,
/// stragglers and the collectives matched across ranks; merging each rank's own JSON gives
/// exactly the same cross-rank view; a folder of them reads as its files.
#[test]
fn two_ranks_read_together_equal_their_merged_json() {
    let (r0, r1) = (
        trace("hta/sampled_rank-0.json.gz"),
        trace("hta/sampled_rank-1.json.gz"),
    );
    let together: Value =
        serde_json::from_str(&ok(&["trace", &r0, &r1, "--format", "json"])).expect("json");
    let ranks = together["ranks"].as_array().expect("ranks");
    assert_eq!(ranks.len(), 2);
    for (index, rank) in ranks.iter().enumerate() {
        assert_eq!(rank["rank"], index as i64);
        assert!(rank["breakdown"]["idle_pct"].as_f64().is_some());
        assert!(!rank["idle_breakdown"].as_array().expect("rows").is_empty());
        assert!(rank["collective_wait_us"].as_f64().expect("wait") > 0.0);
    }
    assert_eq!(together["stragglers"]["slowest_rank"], 1);
    assert_eq!(together["collectives"]["matched"], 10);
    assert_eq!(together["collectives"]["unmatched"], 0);

    let folder = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    for (name, path) in [("rank0.json", &r0), ("rank1.json", &r1)] {
        let file = folder.path().join(name);
        std::fs::write(&file, ok(&["trace", path, "--format", "json"])).expect("writes");
        files.push(file.display().to_string());
    }
    let merged: Value = serde_json::from_str(&ok(&[
        "trace", "--merge", &files[0], &files[1], "--format", "json",
    ]))
    .expect("json");
    assert_eq!(merged, together);
    // A multi-rank output merges too.
    let all = folder.path().join("all.json");
    std::fs::write(&all, serde_json::to_string(&together).expect("json")).expect("writes");
    let again: Value = serde_json::from_str(&ok(&[
        "trace",
        "--merge",
        &all.display().to_string(),
        "--format",
        "json",
    ]))
    .expect("json");
    assert_eq!(again, together);

    assert_eq!(together["schema_version"], 1);
    // JSON from a newer advisor is refused, naming the file, with exit status 2.
    let newer = folder.path().join("newer.json");
    std::fs::write(&newer, r#"{"schema_version": 99, "source": "x"}"#).expect("writes");
    let refused = advisor(&["trace", "--merge", &newer.display().to_string()]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("newer.json") && stderr.contains("schema_version 99"),
        "{stderr}"
    );

    let text = ok(&["trace", &r0, &r1]);
    assert!(text.contains("Stragglers: rank 1"), "{text}");
    assert!(
        text.contains("Collectives matched across ranks: 10"),
        "{text}"
    );
}

/// `advisor analyze --trace` on one trace, as JSON.
fn analyze_json(trace_file: &str) -> Value {
    serde_json::from_str(&ok(&["analyze", "--trace", trace_file, "--format", "json"]))
        .expect("json")
}

fn suggestion_ids(report: &Value) -> Vec<String> {
    report["suggestions"]
        .as_array()
        .expect("suggestions")
        .iter()
        .map(|s| s["id"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// Blocking copies to pageable memory (shaped like HTA's TorchRec traces: `.item()` and
/// `.to()` inside `## sparse_data_dist ##`) give a high-impact suggestion first that names the
/// copies, their share of the step, and the op and annotation that issue them.
#[test]
fn blocking_pageable_copies_lead_the_report() {
    let report = analyze_json(&trace("synthetic/pageable-copies.trace.json"));
    let first = &report["suggestions"][0];
    assert_eq!(first["id"], "host_sync", "{report}");
    assert_eq!(first["impact"], "high");
    let evidence = first["evidence"].to_string();
    for needle in [
        "30.4 % of step time",
        "Device -> Pageable",
        "aten::_local_scalar_dense",
        "aten::copy_",
        "## sparse_data_dist ##",
    ] {
        assert!(evidence.contains(needle), "{needle} in {evidence}");
    }
}

/// A compiled loop replayed with CUDA graphs behind a queue hundreds deep is GPU-bound:
/// no launch-overhead, compile or batch advice.
#[test]
fn cuda_graphs_and_a_deep_queue_get_no_launch_advice() {
    let report = analyze_json(&trace("synthetic/graphs-deep-queue.trace.json"));
    let ids = suggestion_ids(&report);
    for id in ["launch_overhead", "torch_compile", "batch_size", "gpu_idle"] {
        assert!(!ids.iter().any(|i| i == id), "{id} in {ids:?}");
    }
}

/// The shared V100 trace computes in fp32 (volta_sgemm, cuDNN fp32): mixed_precision fires
/// from the trace's evidence, with no model and no config.
#[test]
fn mixed_precision_fires_from_the_v100_traces_kernels() {
    let report = analyze_json(&v100_trace());
    let suggestion = report["suggestions"]
        .as_array()
        .expect("suggestions")
        .iter()
        .find(|s| s["id"] == "mixed_precision")
        .unwrap_or_else(|| panic!("mixed_precision in {:?}", suggestion_ids(&report)));
    assert_eq!(suggestion["impact"], "high");
    assert!(suggestion["title"].as_str().unwrap_or("").contains("fp16"));
    assert!(suggestion["evidence"].to_string().contains("volta_sgemm"));
}

#[test]
fn annotate_writes_the_trace_back_for_perfetto() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let out = folder.path().join("annotated.json");
    let out_text = out.display().to_string();
    let output = advisor(&[
        "trace",
        &v100_trace(),
        "--annotate",
        &out_text,
        "--format",
        "json",
    ]);
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("wrote ") && stderr.contains("ui.perfetto.dev"),
        "{stderr}"
    );
    // The summary on stdout is the trace's, as without --annotate.
    let summary: Value = serde_json::from_slice(&output.stdout).expect("json summary");
    assert!(summary["breakdown"].is_object());
    // The written file is read back by `advisor trace`, its added events counted.
    let back: Value =
        serde_json::from_str(&ok(&["trace", &out_text, "--format", "json"])).expect("json");
    assert!(
        back["event_counts"]["advisor"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{back:#}"
    );
    assert_eq!(back["breakdown"], summary["breakdown"]);

    // One trace only.
    let two = advisor(&[
        "trace",
        &v100_trace(),
        &bert_trace(),
        "--annotate",
        &out_text,
    ]);
    assert_eq!(two.status.code(), Some(2), "{two:?}");
    assert!(String::from_utf8_lossy(&two.stderr).contains("one trace"));
}

/// `advisor analyze` of `model` with `trace` on the recorded CPU `hardware`, as JSON.
fn analyze_on_the_cpu<'a>(model: &'a str, trace: &'a str, hardware: &'a str) -> Vec<&'a str> {
    vec![
        "analyze",
        "--model",
        model,
        "--trace",
        trace,
        "--hardware",
        hardware,
        "--set",
        "device=cpu",
        "--format",
        "json",
    ]
}

/// The batch the trace's attention shapes show (bert-tiny: queries [2, 2, 16, 64]) is the
/// run's batch when the config is silent, and a config that says otherwise is warned about.
#[test]
fn the_traces_batch_is_measured_and_contradictions_warned() {
    let pairs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/pairs");
    let model = pairs.join("bert.config.json").display().to_string();
    let hardware = pairs.join("hardware.json").display().to_string();
    let trace = bert_trace();
    let base = analyze_on_the_cpu(&model, &trace, &hardware);
    let report: Value = serde_json::from_str(&ok(&base)).expect("json");
    let notes = report["model_notes"].to_string();
    // Batch 2 of 16-token sequences: an encoder's sequence length is its queries' tokens.
    assert!(notes.contains("a forward (2 × 16 tokens"), "{notes}");
    let mut with_batch = base.to_vec();
    with_batch.extend(["--set", "batch_size=8", "--set", "seq_len=128"]);
    let output = advisor(&with_batch);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("config batch_size = 8 but the trace shows batch 2"),
        "{stderr}"
    );
    assert!(
        stderr.contains("config seq_len = 128 but the trace shows 16-token sequences"),
        "{stderr}"
    );
    // `advisor trace` says what it read.
    let text = ok(&["trace", &trace]);
    assert!(
        text.contains("batch 2, 16 query tokens per sequence"),
        "{text}"
    );
}

/// A generation trace (GPT-2's `generate`, batch 2, a 20-token prompt, 12 new tokens) gives
/// the request's prompt and generated tokens when the config is silent; a config prompt
/// length that differs is followed and warned about.
#[test]
fn a_generation_traces_prompt_and_new_tokens_are_measured() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    let model = root.join("pairs/gpt2.config.json").display().to_string();
    let hardware = root.join("pairs/hardware.json").display().to_string();
    let trace = root
        .join("traces/gpt2-tiny-generate.trace.json.gz")
        .display()
        .to_string();
    let base = analyze_on_the_cpu(&model, &trace, &hardware);
    let report: Value = serde_json::from_str(&ok(&base)).expect("json");
    let notes = report["model_notes"].to_string();
    assert!(
        notes.contains("20 prompt + 12 generated tokens at batch 2"),
        "{notes}"
    );
    let mut with_prompt = base.to_vec();
    with_prompt.extend(["--set", "prompt_len=64"]);
    let output = advisor(&with_prompt);
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "config prompt_len = 64 but the trace's prefill attention has 20 query tokens"
        ),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("json");
    let notes = report["model_notes"].to_string();
    assert!(notes.contains("64 prompt + 12 generated tokens"), "{notes}");
    let text = ok(&["trace", &trace]);
    assert!(
        text.contains("generation at batch 2: a 20-token prompt, 12 tokens generated"),
        "{text}"
    );
}
