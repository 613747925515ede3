//! Trace reading on real traces (the V100 training trace from Holistic Trace Analysis's test
//! data and a CPU-only bert-tiny trace) and on damaged and made-up ones.

use std::{io::Write, path::PathBuf};

use advisor_trace::{TraceError, TraceOptions, TraceSummary, read_trace, read_trace_file};
use proptest::prelude::*;

/// A trace in the repository's `testdata/traces` folder.
fn trace(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/traces")
        .join(name)
}

fn v100_trace() -> PathBuf {
    trace("v100-training-rank0.trace.json.gz")
}

fn bert_trace() -> PathBuf {
    trace("bert-tiny.trace.json")
}

fn read_str(text: &str) -> Result<TraceSummary, TraceError> {
    read_trace(text.as_bytes(), "test", TraceOptions::default())
}

#[test]
fn v100_breakdown_matches_holistic_trace_analysis() {
    let summary = read_trace_file(&v100_trace(), TraceOptions::default()).expect("reads");
    let b = summary.breakdown.as_ref().expect("has a GPU breakdown");
    // HTA 0.5.0 get_temporal_breakdown(): idle 2.63 %, compute 96.75 %, non-compute 0.62 %
    // (idle 10,113 us, compute 372,150 us, non-compute 2,371 us, kernel time 384,634 us).
    assert!((b.idle_pct - 2.63).abs() < 0.5, "idle {}", b.idle_pct);
    assert!(
        (b.compute_pct - 96.75).abs() < 0.5,
        "compute {}",
        b.compute_pct
    );
    assert!(
        (b.non_compute_pct - 0.62).abs() < 0.5,
        "non-compute {}",
        b.non_compute_pct
    );
    assert_eq!(
        (b.kernel_time_us, b.idle_us, b.compute_us, b.non_compute_us),
        (384_634.0, 10_113.0, 372_150.0, 2_371.0)
    );
    assert!((b.idle_pct + b.compute_pct + b.communication_pct + b.memory_pct - 100.0).abs() < 1e-9);
    assert_eq!(summary.steps.len(), 5);
    assert_eq!(summary.steps[0].step, 101);
    assert_eq!(summary.devices.len(), 8);
    assert_eq!(
        summary.devices[0].name.as_deref(),
        Some("Tesla V100-SXM2-32GB")
    );
    assert_eq!(summary.devices[0].architecture.as_deref(), Some("Volta"));
    let distributed = summary.distributed.as_ref().expect("distributedInfo");
    assert_eq!(
        (distributed.backend.as_deref(), distributed.world_size),
        (Some("nccl"), Some(1))
    );
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);

    let launch = summary.launch.as_ref().expect("launch statistics");
    assert!(launch.kernels > 3000 && launch.matched == launch.kernels);
    assert!(launch.shorter_than_launch > 0);
    let memcpy = summary.memcpy.as_ref().expect("memcpy");
    assert!(
        memcpy
            .by_direction
            .iter()
            .any(|d| d.direction == "DtoD" && d.count > 0)
    );
    assert!(memcpy.by_direction.iter().any(|d| d.direction == "Memset"));
    assert_eq!(summary.top_kernels.len(), 10);
    assert!(summary.top_kernels[0].total_us >= summary.top_kernels[1].total_us);
    let tensor = summary.tensor_cores.as_ref().expect("tensor cores");
    assert_eq!(tensor.architecture.as_deref(), Some("Volta"));
    // An FP32 training run: volta_sgemm and scudnn kernels use CUDA cores, not tensor cores.
    assert_eq!(tensor.pct_of_compute, 0.0);
    assert!(tensor.compute_kernel_time_us > 300_000.0);
    assert!(!summary.top_cpu_ops.is_empty());

    let facts = summary.to_facts();
    assert_eq!(facts.steps, Some(5));
    let hardware = summary
        .hardware_info()
        .expect("hardware from deviceProperties");
    assert_eq!(hardware.gpu_count, Some(8));
    assert_eq!(hardware.gpu_memory_mb, Some(32_500));
}

#[test]
fn cpu_only_trace_gives_the_cpu_op_breakdown() {
    let summary = read_trace_file(&bert_trace(), TraceOptions::default()).expect("reads");
    assert!(summary.breakdown.is_none());
    assert_eq!(summary.steps.len(), 3);
    let cpu = summary.cpu.as_ref().expect("cpu statistics");
    assert_eq!(cpu.calls, 975);
    assert!(cpu.small_calls > 0 && cpu.small_calls <= cpu.calls);
    assert!(!summary.top_cpu_ops.is_empty());
    let memory = summary.memory.as_ref().expect("profile_memory events");
    assert!(memory.cpu_peak_allocated_bytes.unwrap_or(0) > 0);
    assert_eq!(summary.timestamps, "relative to baseTimeNanoseconds");
    let profile = summary.to_profile_results();
    assert_eq!(profile.operations[0].name, "ProfilerStep");
    assert_eq!(profile.operations[0].calls, 3);
    assert!(profile.total_ms > 0.0);
}

#[test]
fn gzip_and_plain_read_the_same() {
    let text = std::fs::read(bert_trace()).expect("fixture");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&text).expect("compress");
    let compressed = encoder.finish().expect("compress");
    let plain = read_trace(&text[..], "plain", TraceOptions::default()).expect("plain");
    let gzip = read_trace(&compressed[..], "gz", TraceOptions::default()).expect("gzip");
    assert_eq!(plain.event_counts, gzip.event_counts);
    assert_eq!(plain.bytes_read, gzip.bytes_read);
}

const SMALL: &str = r#"{"deviceProperties": [{"id": 0, "name": "NVIDIA A100-SXM4-80GB", "computeMajor": 8, "computeMinor": 0, "totalGlobalMem": 85899345920}],
"traceEvents": [
 {"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#1", "ts": 0, "dur": 100, "pid": 1, "tid": 1},
 {"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#2", "ts": 100, "dur": 100, "pid": 1, "tid": 1},
 {"ph": "X", "cat": "cpu_op", "name": "enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__", "ts": 1, "dur": 20, "pid": 1, "tid": 1},
 {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": 30, "dur": 8, "pid": 1, "tid": 1, "args": {"correlation": 1}},
 {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": 40, "dur": 8, "pid": 1, "tid": 1, "args": {"correlation": 2}},
 {"ph": "X", "cat": "cuda_runtime", "name": "cudaStreamSynchronize", "ts": 50, "dur": 10, "pid": 1, "tid": 1},
 {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": 130, "dur": 8, "pid": 1, "tid": 1, "args": {"correlation": 3}},
 {"ph": "X", "cat": "kernel", "name": "ampere_fp16_s16816gemm", "ts": 40, "dur": 20, "pid": 0, "tid": 7, "args": {"correlation": 1}},
 {"ph": "X", "cat": "kernel", "name": "ncclKernel_AllReduce", "ts": 50, "dur": 30, "pid": 0, "tid": 8, "args": {"correlation": 2}},
 {"ph": "X", "cat": "kernel", "name": "volta_h884gemm_late", "ts": 140, "dur": 5, "pid": 0, "tid": 7, "args": {"correlation": 3}},
 {"ph": "i", "cat": "cpu_instant_event", "name": "[memory]", "ts": 5, "args": {"Total Allocated": 1000, "Total Reserved": 4096, "Device Type": 1}},
 {"ph": "X", "cat": "my_category", "name": "x", "ts": 5, "dur": 1}
]}"#;

#[test]
fn small_trace_statistics() {
    let summary = read_str(SMALL).expect("reads");
    // The window is the work launched before the last step starts: kernels 1 and 2.
    let b = summary.breakdown.as_ref().expect("breakdown");
    assert_eq!(b.kernel_time_us, 40.0); // 40..80
    assert_eq!(b.compute_us, 20.0); // gemm 40..60
    assert_eq!(b.communication_us, 20.0); // nccl alone 60..80
    assert_eq!(b.idle_us, 0.0);
    let comm = summary.communication.as_ref().expect("communication");
    assert_eq!((comm.time_us, comm.overlapped_us), (30.0, 10.0));
    let launch = summary.launch.as_ref().expect("launch");
    assert_eq!(
        (launch.kernels, launch.matched, launch.shorter_than_launch),
        (2, 2, 0)
    );
    assert_eq!(launch.launch_delay_us_p50, Some(10.0));
    let loader = summary.data_loader.as_ref().expect("data loader");
    assert_eq!(
        (loader.time_us, loader.step_time_us, loader.calls),
        (20.0, 200.0, 1)
    );
    let syncs = summary.host_syncs.as_ref().expect("syncs");
    assert_eq!((syncs.calls_in_steps, syncs.time_us), (1, 10.0));
    let tensor = summary.tensor_cores.as_ref().expect("tensor cores");
    assert_eq!((tensor.time_us, tensor.pct_of_compute), (20.0, 100.0));
    assert_eq!(
        summary
            .memory
            .as_ref()
            .and_then(|m| m.gpu_peak_reserved_bytes),
        Some(4096)
    );
    // The steps tile the window by when the work ran: all of it runs in step 1, none of
    // the window's work in step 2 (its own kernel is past the window, as in HTA).
    let step_spans: Vec<Option<f64>> = summary
        .steps
        .iter()
        .map(|s| s.gpu_breakdown.as_ref().map(|b| b.kernel_time_us))
        .collect();
    assert_eq!(step_spans, [Some(40.0), None]);
    assert!(
        summary
            .warnings
            .iter()
            .any(|w| w.contains("my_category (1)")),
        "{:?}",
        summary.warnings
    );
}

#[test]
fn repairs_are_counted_and_reported() {
    let damaged = r#"{"traceEvents": [
      {"ph": "X", "cat": "kernel", "name": "k", "ts": 0, "dur": 10, "args": {"bytes": NaN,},},
      {"ph": "X", "cat": "kernel", "name": "k", "ts": 20, "dur": Infinity},
      {"ph": "X", "cat": "kernel", "name": "k", "ts": 30, "dur": 10},
      {"ph": "X", "cat": "kernel", "name": "k", "ts": 50"#;
    let summary = read_str(damaged).expect("repaired");
    let warnings = summary.warnings.join("\n");
    assert!(
        warnings.contains("repaired: 2 trailing comma(s) inside events"),
        "{warnings}"
    );
    assert!(warnings.contains("repaired: 2 NaN/Infinity"), "{warnings}");
    assert!(warnings.contains("missing closing bracket"), "{warnings}");
    assert!(
        warnings.contains("cut off by the end of the file"),
        "{warnings}"
    );
    assert!(
        warnings.contains("1 complete event(s) without a usable `dur`"),
        "{warnings}"
    );
    let b = summary.breakdown.expect("breakdown");
    assert_eq!((b.kernel_time_us, b.idle_us), (40.0, 20.0));
}

#[test]
fn a_file_that_is_not_a_trace_is_a_clear_error() {
    let error = read_str(r#"{"model": "gpt2"}"#).unwrap_err();
    assert!(error.to_string().contains("no `traceEvents`"), "{error}");
    let error = read_str("hello").unwrap_err();
    assert!(
        error.to_string().contains("not a PyTorch/Chrome trace"),
        "{error}"
    );
    assert!(read_str("").unwrap_err().to_string().contains("empty"));
    let dir = std::env::temp_dir().join(format!("advisor-trace-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("config.json");
    std::fs::write(&path, r#"{"hidden_size": 768}"#).expect("write");
    let error = read_trace_file(&path, TraceOptions::default()).unwrap_err();
    assert!(error.to_string().contains("config.json"), "{error}");
    let _ = std::fs::remove_dir_all(&dir);
    let error = read_trace_file(&dir.join("missing.json"), TraceOptions::default()).unwrap_err();
    assert!(error.to_string().contains("missing.json"), "{error}");
}

#[test]
fn a_stray_closing_brace_is_skipped_not_rescanned_forever() {
    let summary = read_str(
        r#"{"traceEvents": [{"ph": "X", "cat": "cpu_op", "name": "a", "ts": 0, "dur": 3}},
          {"ph": "X", "cat": "cpu_op", "name": "b", "ts": 5, "dur": 3}]}"#,
    )
    .expect("reads");
    assert_eq!(summary.cpu.as_ref().map(|c| c.calls), Some(2));
    assert!(
        summary.warnings.iter().any(|w| w.contains("1 malformed")),
        "{:?}",
        summary.warnings
    );
}

#[test]
fn absurd_timestamps_are_left_out_not_overflowed() {
    let summary = read_str(
        r#"{"traceEvents": [
          {"ph": "X", "cat": "kernel", "name": "k", "ts": -1e308, "dur": 1, "args": {"correlation": 1}},
          {"ph": "X", "cat": "kernel", "name": "k", "ts": 1e308, "dur": 1e308},
          {"ph": "X", "cat": "kernel", "name": "k", "ts": 10, "dur": 1e300},
          {"ph": "X", "cat": "kernel", "name": "k", "ts": 10, "dur": 5}]}"#,
    )
    .expect("reads");
    assert_eq!(summary.breakdown.map(|b| b.kernel_time_us), Some(5.0));
    let warnings = summary.warnings.join("\n");
    assert!(
        warnings.contains("2 event(s) without a usable `ts`"),
        "{warnings}"
    );
    assert!(warnings.contains("1 complete event(s) without a usable `dur`"));
}

#[test]
fn a_truncated_gzip_file_reads_what_it_holds_with_a_warning() {
    let text = std::fs::read(bert_trace()).expect("fixture");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&text).expect("compress");
    let compressed = encoder.finish().expect("compress");
    let cut = &compressed[..compressed.len() / 2];
    let summary = read_trace(cut, "cut.json.gz", TraceOptions::default()).expect("repaired");
    let warnings = summary.warnings.join("\n");
    assert!(
        warnings.contains("repaired: the gzip stream ends early"),
        "{warnings}"
    );
    assert!(
        warnings.contains("cut off by the end of the file"),
        "{warnings}"
    );
    assert!(summary.cpu.is_some_and(|c| c.calls > 0));
    // Cut inside the gzip header, nothing can be read: an error, not an empty summary.
    assert!(read_trace(&compressed[..5], "cut.json.gz", TraceOptions::default()).is_err());
}

#[test]
fn an_array_of_non_events_is_not_a_trace() {
    let error = read_str("[1, 2, 3]").unwrap_err().to_string();
    assert!(
        error.contains("not a PyTorch/Chrome trace") && error.contains("none of the 3"),
        "{error}"
    );
    // An empty trace is still a trace.
    assert!(read_str(r#"{"traceEvents": []}"#).is_ok());
}

#[test]
fn the_json_array_format_is_read() {
    let summary =
        read_str(r#"[{"ph": "X", "cat": "cpu_op", "name": "aten::add", "ts": 0, "dur": 3}]"#)
            .expect("reads");
    assert_eq!(summary.cpu.as_ref().map(|c| c.small_calls), Some(1));
}

proptest! {
    /// Any byte soup is an error or a summary, never a panic.
    #[test]
    fn arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = read_trace(&bytes[..], "fuzz", TraceOptions::default());
    }

    /// Damage of the kinds real traces show (stray brackets, commas, quotes, non-finite and
    /// huge numbers), inserted anywhere: a summary or an error, never a panic or a hang.
    #[test]
    fn damaged_traces_never_panic(
        at in 0usize..SMALL.len(),
        token in prop::sample::select(vec![
            "}", "]", "{", "[", ",", ",,", ":", "\"", "\\", "NaN", "-Infinity", "1e999",
            "-1e300", "\u{0}", "}]}",
        ]),
    ) {
        let mut text = SMALL.as_bytes().to_vec();
        text.splice(at..at, token.bytes());
        let _ = read_trace(&text[..], "damaged", TraceOptions::default());
    }

    /// Damaged traces annotated: an error, or JSON that reads back to the same summary
    /// (`--annotate` writes the reader's repairs out, so any viewer opens the file).
    #[test]
    fn damaged_traces_annotate_to_json(
        at in 0usize..SMALL.len(),
        token in prop::sample::select(vec![
            "}", "]", "{", "[", ",", ",,", ":", "\"", "NaN", "-Infinity", "1e999", "}]}",
        ]),
    ) {
        let folder = tempfile::tempdir().expect("temporary folder");
        let input = folder.path().join("in.json");
        let out = folder.path().join("out.json");
        let mut text = SMALL.as_bytes().to_vec();
        text.splice(at..at, token.bytes());
        std::fs::write(&input, &text).expect("written");
        if let Ok(annotated) =
            advisor_trace::annotate_trace_file(&input, &out, TraceOptions::default())
        {
            let written = std::fs::read(&out).expect("written");
            // JSON by RFC 8259's grammar; a number such as 1e999 is kept as written (the
            // RFC leaves its range to the parser: Python and JavaScript read it as
            // infinity, serde_json's `Value` refuses it).
            let value = serde_json::from_slice::<serde::de::IgnoredAny>(&written);
            prop_assert!(value.is_ok(), "not JSON: {}", String::from_utf8_lossy(&written));
            let back = read_trace_file(&out, TraceOptions::default()).expect("reads back");
            prop_assert_eq!(back.idle_breakdown, annotated.summary.idle_breakdown);
            prop_assert_eq!(back.top_kernels.len(), annotated.summary.top_kernels.len());
        }
    }

    /// Cutting a valid trace anywhere still reads (repaired) or fails cleanly, and never
    /// yields more events than the whole trace has.
    #[test]
    fn truncated_traces_read_a_prefix(cut in 0usize..SMALL.len()) {
        let whole = read_str(SMALL).expect("reads");
        let whole_events: u64 = whole.event_counts.values().sum();
        if let Ok(prefix) = read_str(&SMALL[..cut]) {
            let events: u64 = prefix.event_counts.values().sum();
            prop_assert!(events <= whole_events);
        }
    }

    /// Events round-trip their durations into the kernel table.
    #[test]
    fn kernel_totals_add_up(durations in proptest::collection::vec(1u32..1000, 1..50)) {
        let events: Vec<String> = durations.iter().enumerate().map(|(i, d)| format!(
            r#"{{"ph": "X", "cat": "kernel", "name": "k{}", "ts": {}, "dur": {d}}}"#, i % 3, i * 2000)).collect();
        let text = format!(r#"{{"traceEvents": [{}]}}"#, events.join(","));
        let summary = read_str(&text).expect("reads");
        let total: f64 = summary.top_kernels.iter().map(|k| k.total_us).sum();
        prop_assert_eq!(total, durations.iter().map(|&d| f64::from(d)).sum::<f64>());
    }
}

/// Holistic Trace Analysis 0.5's `get_idle_time_breakdown(ranks=[r])` on each fixture, from
/// `testdata/traces/README.md`: (file, stream, host wait, kernel wait, other) in µs. Streams
/// HTA lists with no idle time at all (a single kernel) are left out of the README's table;
/// we report them with zeros.
const HTA_IDLE_BREAKDOWN: &[(&str, i64, f64, f64, f64)] = &[
    (
        "hta/sampled_rank-0.json.gz",
        7,
        213_825.0,
        1_985.0,
        261_740.0,
    ),
    ("hta/sampled_rank-0.json.gz", 23, 596_037.0, 70.0, 34.0),
    ("hta/sampled_rank-0.json.gz", 25, 0.0, 9.0, 47_865.0),
    ("hta/sampled_rank-0.json.gz", 84, 148_934.0, 6.0, 0.0),
    (
        "hta/sampled_rank-1.json.gz",
        7,
        156_827.0,
        1_816.0,
        281_064.0,
    ),
    ("hta/sampled_rank-1.json.gz", 23, 596_313.0, 100.0, 0.0),
    ("hta/sampled_rank-1.json.gz", 25, 0.0, 9.0, 53_028.0),
    ("hta/sampled_rank-1.json.gz", 84, 251_860.0, 0.0, 23_247.0),
    (
        "hta/v100-2rank-rank1.json.gz",
        7,
        791_330.0,
        16_727.0,
        73_829.0,
    ),
    (
        "hta/v100-2rank-rank1.json.gz",
        14,
        933_139.0,
        5_568.0,
        4_444.0,
    ),
    ("hta/a100-nccl-rank0.json.gz", 7, 357_247.0, 2_155.0, 0.0),
    ("hta/a100-nccl-rank0.json.gz", 40, 381_499.0, 0.0, 0.0),
    ("hta/mi250-minitoy.json.gz", 0, 8_780.0, 0.0, 0.0),
    (
        "v100-training-rank0.trace.json.gz",
        7,
        1_709.0,
        8_404.0,
        0.0,
    ),
];

#[test]
fn idle_breakdown_matches_holistic_trace_analysis_exactly() {
    let mut files: Vec<&str> = HTA_IDLE_BREAKDOWN.iter().map(|row| row.0).collect();
    files.dedup();
    for file in files {
        let summary = read_trace_file(&trace(file), TraceOptions::default()).expect("reads");
        let expected: Vec<(i64, f64, f64, f64)> = HTA_IDLE_BREAKDOWN
            .iter()
            .filter(|row| row.0 == file)
            .map(|&(_, stream, host, kernel, other)| (stream, host, kernel, other))
            .collect();
        let found: Vec<(i64, f64, f64, f64)> = summary
            .idle_breakdown
            .iter()
            .filter(|r| r.host_wait_us + r.kernel_wait_us + r.other_us != 0.0)
            .map(|r| (r.stream, r.host_wait_us, r.kernel_wait_us, r.other_us))
            .collect();
        assert_eq!(found, expected, "{file}");
        assert_eq!(summary.to_facts().idle_breakdown, summary.idle_breakdown);
    }
}

/// Host-blocked time, copy kinds and queue length on the real traces: (file, blocked calls,
/// blocked ms, its share of step time in tenths of a percent, the causes, the first site's
/// call, operator and annotation, the deepest queue).
#[test]
fn host_blocked_time_and_queue_length_on_the_real_traces() {
    use advisor_core::HostBlockCause::{self, *};
    type Row<'a> = (
        &'a str,
        u64,
        f64,
        f64,
        &'a [HostBlockCause],
        (&'a str, Option<&'a str>, Option<&'a str>),
        u64,
    );
    let rows: &[Row] = &[
        (
            "hta/sampled_rank-0.json.gz",
            24,
            1.27,
            0.1,
            &[PageableCopy],
            (
                "cudaMemcpyAsync",
                Some("aten::copy_"),
                Some("## KJTAllToAllTensorsAwaitable wait() ##"),
            ),
            77,
        ),
        (
            "hta/sampled_rank-1.json.gz",
            24,
            0.32,
            0.0,
            &[PageableCopy],
            (
                "cudaMemcpyAsync",
                Some("aten::copy_"),
                Some("## sdd_preprocess_splits ##"),
            ),
            75,
        ),
        (
            "hta/a100-nccl-rank0.json.gz",
            25,
            2.47,
            0.4,
            &[Outlier, EventWait],
            (
                "cudaStreamGetPriority",
                Some("aten::cudnn_batch_norm_backward"),
                None,
            ),
            11,
        ),
        (
            "hta/v100-2rank-rank1.json.gz",
            1,
            1.51,
            0.1,
            &[LaunchBackpressure],
            ("cudaMemsetAsync", Some("aten::mm"), None),
            74,
        ),
        // A launch queue of 1,023: the launch calls wait for room, the GPU is the bottleneck.
        (
            "v100-training-rank0.trace.json.gz",
            144,
            86.91,
            22.1,
            &[LaunchBackpressure],
            ("cudaLaunchKernel", Some("aten::convolution_backward"), None),
            1023,
        ),
    ];
    for &(file, calls, blocked_ms, pct, causes, site, max_queue) in rows {
        let summary = read_trace_file(&trace(file), TraceOptions::default()).expect("reads");
        let blocked = summary.host_blocked.as_ref().expect("steps");
        let found_causes: Vec<HostBlockCause> = blocked.by_cause.iter().map(|c| c.cause).collect();
        let first = &blocked.by_site[0];
        assert_eq!(
            (
                blocked.calls,
                (blocked.time_us / 10.0).round() / 100.0,
                (blocked.pct_of_step * 10.0).round() / 10.0,
                found_causes.as_slice(),
                (
                    first.call.as_str(),
                    first.op.as_deref(),
                    first.annotation.as_deref()
                ),
            ),
            (calls, blocked_ms, pct, causes, site),
            "{file}"
        );
        let deepest = summary.queue_length.iter().map(|q| q.max).max();
        assert_eq!(deepest, Some(max_queue), "{file}");
        let facts = summary.to_facts();
        assert_eq!(facts.host_blocked.as_ref(), Some(blocked));
        assert_eq!(facts.queue_length, summary.queue_length);
        assert_eq!(facts.memcpy_kinds, summary.memcpy_kinds);
    }
    // The TorchRec ranks copy to and from pageable memory: the copy kinds say which.
    let summary = read_trace_file(
        &trace("hta/sampled_rank-0.json.gz"),
        TraceOptions::default(),
    )
    .expect("reads");
    // (direction, source, destination, pageable, count)
    type Kind<'a> = (&'a str, Option<&'a str>, Option<&'a str>, bool, u64);
    let kinds: Vec<Kind> = summary
        .memcpy_kinds
        .iter()
        .map(|k| {
            (
                k.direction.as_str(),
                k.source.as_deref(),
                k.destination.as_deref(),
                k.pageable,
                k.count,
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("HtoD", Some("Pinned"), Some("Device"), false, 4),
            ("DtoD", Some("Device"), Some("Device"), false, 4),
            ("HtoD", Some("Pageable"), Some("Device"), true, 8),
            ("DtoH", Some("Device"), Some("Pageable"), true, 4),
        ]
    );
}

/// HTA's MI250 trace: ROCm's Kineto writes HIP's `9.0` (gfx90a) where CUDA writes a compute
/// capability; it is an AMD CDNA 2 GPU, never "Hopper", and its rocBLAS MFMA kernels count
/// as matrix-core kernels.
#[test]
fn amd_traces_name_amd_architectures() {
    let summary = read_trace_file(&trace("hta/mi250-minitoy.json.gz"), TraceOptions::default())
        .expect("reads");
    assert!(!summary.devices.is_empty());
    for device in &summary.devices {
        assert_eq!(device.vendor.as_deref(), Some("AMD"));
        assert_eq!(device.architecture.as_deref(), Some("AMD CDNA 2 (gfx90a)"));
        assert_eq!(device.compute_capability, None);
    }
    let hardware = summary.hardware_info().expect("named devices");
    assert_eq!(hardware.gpu_compute_capability, None);
    let tensor = summary.tensor_cores.as_ref().expect("compute kernels");
    assert_eq!(tensor.architecture.as_deref(), Some("AMD CDNA 2 (gfx90a)"));
    assert!(
        tensor.time_us > 0.0,
        "the Cijk_..._MI16x16x1 GEMMs use MFMA"
    );
}

/// The steps tile the analyzed window: on every real trace with steps, the per-step GPU
/// breakdowns and per-step idle breakdowns add up to the whole window's exactly (whole
/// microseconds), and no step is idler than its share allows.
#[test]
fn per_step_breakdowns_sum_to_the_whole_trace() {
    for file in [
        "hta/sampled_rank-0.json.gz",
        "hta/sampled_rank-1.json.gz",
        "hta/v100-2rank-rank1.json.gz",
        "hta/a100-nccl-rank0.json.gz",
        "v100-training-rank0.trace.json.gz",
    ] {
        let summary = read_trace_file(&trace(file), TraceOptions::default()).expect("reads");
        assert!(summary.steps.len() >= 2, "{file}");
        let whole = summary.breakdown.as_ref().expect("GPU work");
        let sum = |field: fn(&advisor_core::GpuTimeBreakdown) -> f64| -> f64 {
            summary
                .steps
                .iter()
                .filter_map(|s| s.gpu_breakdown.as_ref())
                .map(field)
                .sum()
        };
        assert_eq!(sum(|b| b.kernel_time_us), whole.kernel_time_us, "{file}");
        assert_eq!(sum(|b| b.idle_us), whole.idle_us, "{file}");
        assert_eq!(sum(|b| b.compute_us), whole.compute_us, "{file}");
        assert_eq!(
            sum(|b| b.communication_us),
            whole.communication_us,
            "{file}"
        );
        assert_eq!(sum(|b| b.memory_us), whole.memory_us, "{file}");
        for row in &summary.idle_breakdown {
            let parts: Vec<&advisor_core::StreamIdleBreakdown> = summary
                .steps
                .iter()
                .flat_map(|s| s.idle_breakdown.iter())
                .filter(|r| r.stream == row.stream)
                .collect();
            let total = |f: fn(&advisor_core::StreamIdleBreakdown) -> f64| -> f64 {
                parts.iter().map(|r| f(r)).sum()
            };
            assert_eq!(total(|r| r.host_wait_us), row.host_wait_us, "{file}");
            assert_eq!(total(|r| r.kernel_wait_us), row.kernel_wait_us, "{file}");
            assert_eq!(total(|r| r.other_us), row.other_us, "{file}");
        }
    }
}

/// A file whose runtime calls repeat correlation ids (two traces concatenated, or one
/// replicated) is read, with a warning that matching kernels to launches may go wrong.
#[test]
fn repeated_correlation_ids_are_warned() {
    let events = r#"{"traceEvents": [
      {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": 0, "dur": 5, "args": {"correlation": 1}},
      {"ph": "X", "cat": "kernel", "name": "gemm", "ts": 10, "dur": 30, "args": {"correlation": 1}},
      {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": 100, "dur": 5, "args": {"correlation": 1}},
      {"ph": "X", "cat": "kernel", "name": "gemm", "ts": 110, "dur": 30, "args": {"correlation": 1}}
    ]}"#;
    let summary = read_str(events).expect("reads");
    assert!(
        summary
            .warnings
            .iter()
            .any(|w| w.starts_with("1 runtime call(s) repeat a correlation id")),
        "{:?}",
        summary.warnings
    );
    let clean = read_str(SMALL).expect("reads");
    assert!(!clean.warnings.iter().any(|w| w.contains("correlation id")));
}

/// The per-operator roofline on HTA's TorchRec trace (recorded with `record_shapes=True`):
/// GEMMs with their shapes, FLOPs and bytes, the GPU time of the kernels they launched, and
/// achieved rates that an A100 can reach: at most the TF32 peak of 156 TFLOP/s, and bytes at
/// most its L2 bandwidth (about 5–7 TB/s; an operand the previous kernel just wrote is still
/// in the 40 MB L2, so a small element-wise op can beat the 1.6–2.0 TB/s of HBM).
#[test]
fn per_operator_roofline_from_recorded_shapes() {
    let summary = read_trace_file(
        &trace("hta/sampled_rank-0.json.gz"),
        TraceOptions::default(),
    )
    .expect("reads");
    let rows = &summary.op_roofline;
    assert!(rows.len() > 20, "{}", rows.len());
    assert!(rows.iter().any(|r| r.op == "aten::mm"));
    assert!(rows.iter().any(|r| r.op == "aten::bmm"));
    let kernel_time: f64 = rows.iter().map(|r| r.kernel_time_us).sum();
    let all_kernels: f64 = summary.top_kernels.iter().map(|k| k.total_us).sum::<f64>()
        / summary
            .top_kernels
            .iter()
            .map(|k| k.pct_of_kernel_time)
            .sum::<f64>()
        * 100.0;
    assert!(
        kernel_time > 0.0 && kernel_time <= all_kernels,
        "{kernel_time} of {all_kernels}"
    );
    for row in rows {
        assert!(row.flops >= 0.0 && row.bytes > 0.0, "{row:?}");
        assert!(
            row.achieved_tflops < 156.0 && row.achieved_tb_per_s < 7.0,
            "physically impossible on an A100: {row:?}"
        );
    }
    // Most kernel time first.
    assert!(
        rows.windows(2)
            .all(|w| w[0].kernel_time_us >= w[1].kernel_time_us)
    );
    // The V100 trace was recorded without shapes: no rows.
    let v100 = read_trace_file(&v100_trace(), TraceOptions::default()).expect("reads");
    assert!(v100.op_roofline.is_empty());
}

/// `advisor trace --annotate`: the trace written back is JSON in the Chrome trace format with
/// every original event, the advisor's tracks are there, and the reader reads it back to the
/// same summary, its added events counted under their own category.
#[test]
fn annotated_traces_read_back_with_the_added_tracks() {
    use advisor_trace::annotate_trace_file;
    let folder = tempfile::tempdir().expect("temporary folder");
    for (name, output) in [
        ("hta/sampled_rank-0.json.gz", "rank0.annotated.json"),
        (
            "v100-training-rank0.trace.json.gz",
            "v100.annotated.json.gz",
        ),
        ("bert-tiny.trace.json", "bert.annotated.json"),
        ("synthetic/pageable-copies.trace.json", "pageable.json"),
    ] {
        let input = trace(name);
        let out = folder.path().join(output);
        let annotated = annotate_trace_file(&input, &out, TraceOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let original = read_trace_file(&input, TraceOptions::default()).expect("reads");
        let original_events: u64 = original.event_counts.values().sum();
        assert_eq!(
            annotated.copied, original_events,
            "{name}: every element copied"
        );
        assert_eq!(annotated.dropped, 0, "{name}");

        // Valid JSON with the Chrome trace format's shape.
        let bytes = std::fs::read(&out).expect("written");
        let text = if output.ends_with(".gz") {
            let mut text = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
                .expect("gzip");
            text
        } else {
            bytes
        };
        let value: serde_json::Value = serde_json::from_slice(&text)
            .unwrap_or_else(|e| panic!("{name}: the annotated trace is not JSON: {e}"));
        let events = value["traceEvents"].as_array().expect("traceEvents");
        assert_eq!(events.len() as u64, original_events + annotated.added());
        let ours: Vec<&serde_json::Value> =
            events.iter().filter(|e| e["cat"] == "advisor").collect();
        assert_eq!(ours.len() as u64, annotated.added(), "{name}");
        for event in &ours {
            assert!(
                ["M", "C", "i"].contains(&event["ph"].as_str().unwrap_or("")),
                "{event}"
            );
            assert_eq!(event["pid"], advisor_trace::ADVISOR_PID);
            if event["ph"] != "M" {
                assert!(event["ts"].is_f64() || event["ts"].is_u64(), "{event}");
            }
        }
        // Top-level values other than the events are kept.
        for key in ["deviceProperties", "distributedInfo", "schemaVersion"] {
            let had = !matches!(
                read_top_level_key(&input, key),
                None | Some(serde_json::Value::Null)
            );
            assert_eq!(had, value.get(key).is_some(), "{name}: {key}");
        }
        let named = |ph: &str, prefix: &str| {
            ours.iter()
                .filter(|e| {
                    e["ph"] == ph && e["name"].as_str().is_some_and(|n| n.starts_with(prefix))
                })
                .count()
        };
        if !original.queue_length.is_empty() {
            assert!(named("C", "queue length, stream ") > 0, "{name}");
            assert!(named("C", "idle cause, stream ") > 0, "{name}");
        }
        assert_eq!(named("i", "ProfilerStep#"), original.steps.len(), "{name}");
        let blocked = original.host_blocked.as_ref().map_or(0, |h| h.calls);
        assert_eq!(named("i", "host blocked: ") as u64, blocked, "{name}");

        // Read back: the same summary, the added events counted as the advisor's.
        let back = read_trace_file(&out, TraceOptions::default()).expect("reads back");
        assert_eq!(
            back.event_counts.get("advisor").copied(),
            Some(annotated.added())
        );
        assert_eq!(
            serde_json::to_value(&back.breakdown).ok(),
            serde_json::to_value(&original.breakdown).ok(),
            "{name}"
        );
        assert_eq!(back.idle_breakdown, original.idle_breakdown, "{name}");
        assert_eq!(back.queue_length, original.queue_length, "{name}");
        assert_eq!(back.host_blocked, original.host_blocked, "{name}");
        assert_eq!(back.steps.len(), original.steps.len(), "{name}");
        assert_eq!(back.top_kernels.len(), original.top_kernels.len(), "{name}");
        assert_eq!(back.warnings, original.warnings, "{name}");
    }
}

/// A top-level value of a trace, read with serde_json for the test.
fn read_top_level_key(path: &std::path::Path, key: &str) -> Option<serde_json::Value> {
    let bytes = std::fs::read(path).ok()?;
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
            .ok()?;
        text
    } else {
        bytes
    };
    let mut value: serde_json::Value = serde_json::from_slice(&text).ok()?;
    value.get_mut(key).map(serde_json::Value::take)
}

#[test]
fn annotating_refuses_to_replace_its_input_and_leaves_nothing_on_error() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let input = folder.path().join("t.json");
    std::fs::copy(bert_trace(), &input).expect("copied");
    let error = advisor_trace::annotate_trace_file(&input, &input, TraceOptions::default())
        .expect_err("refused");
    assert!(error.to_string().contains("would replace"), "{error}");
    // Not a trace: an error naming the file, and no output (nor a temporary file) left.
    let bad = folder.path().join("bad.json");
    std::fs::write(&bad, b"{\"nothing\": 1}").expect("written");
    let out = folder.path().join("out.json");
    let error = advisor_trace::annotate_trace_file(&bad, &out, TraceOptions::default())
        .expect_err("not a trace");
    assert!(error.to_string().contains("bad.json"), "{error}");
    let left: Vec<_> = std::fs::read_dir(folder.path())
        .expect("lists")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

/// The collectives' bandwidth on the real two-GPU A100 trace, whose `record_param_comms`
/// events carry their sizes: of its 15 all-reduces, the 10 launched before the last step
/// starts are in Holistic Trace Analysis's window (worked out from the file with a script:
/// 204,456,256 bytes of fp32, 24,211.8 µs of NCCL kernels).
#[test]
fn collective_bandwidth_on_the_a100_trace() {
    let summary = read_trace_file(
        &trace("hta/a100-nccl-rank0.json.gz"),
        TraceOptions::default(),
    )
    .expect("reads");
    let all_reduce = summary
        .collective_bandwidth
        .iter()
        .find(|r| r.collective == "allreduce")
        .expect("an all-reduce row");
    assert_eq!((all_reduce.group_size, all_reduce.calls), (2, 10));
    assert_eq!(all_reduce.bytes, 204_456_256.0);
    assert!((all_reduce.kernel_time_us - 24_211.804).abs() < 1e-6);
    let algbw = 204_456_256.0 / 24_211.804e-6 / 1e9;
    assert!((all_reduce.algbw_gb_per_s - algbw).abs() < 1e-9);
    // Two ranks: each sends 2(n-1)/n = 1 of the message.
    assert_eq!(all_reduce.bus_factor, 1.0);
    assert!(
        summary
            .collective_bandwidth
            .iter()
            .all(|r| r.collective != "wait")
    );
    // The collectives for matching ranks carry their bus bytes.
    assert!(summary.collectives.iter().any(|c| c.bus_bytes.is_some()));
}

/// The synthetic input-stall trace (`testdata/traces/synthetic/make.py`): each 10 ms step
/// tokenizes for 4 ms before its first copy, with the GPU idle; the last of the five steps is
/// outside the analyzed window. The real traces wait under 3 % of their steps.
#[test]
fn input_wait_before_the_first_gpu_work() {
    let summary = read_trace_file(
        &trace("synthetic/input-stall.trace.json"),
        TraceOptions::default(),
    )
    .expect("reads");
    let wait = summary.input_wait.as_ref().expect("steps with GPU work");
    assert_eq!(wait.steps, 4);
    assert_eq!(wait.wait_us, 16_000.0);
    assert_eq!(wait.gpu_idle_us, 16_000.0);
    assert_eq!(wait.gpu_idle_pct_of_step, 40.0);
    for name in [
        "v100-training-rank0.trace.json.gz",
        "hta/a100-nccl-rank0.json.gz",
        "hta/v100-2rank-rank1.json.gz",
        "hta/sampled_rank-0.json.gz",
    ] {
        let summary = read_trace_file(&trace(name), TraceOptions::default()).expect("reads");
        let pct = summary.input_wait.map_or(0.0, |w| w.gpu_idle_pct_of_step);
        assert!(pct < 3.0, "{name}: {pct}");
    }
}

/// The CPU bert-tiny trace, recorded at batch 2 with 16-token inputs: the attention's query
/// shapes say so.
#[test]
fn batch_and_query_tokens_from_the_attention_shapes() {
    let summary = read_trace_file(&bert_trace(), TraceOptions::default()).expect("reads");
    let run = summary.run.as_ref().expect("run facts");
    assert_eq!((run.batch_size, run.query_tokens), (Some(2), Some(16)));
    assert!(
        run.shape_evidence
            .as_deref()
            .is_some_and(|e| e.contains("[2, 2, 16, 64]")),
        "{:?}",
        run.shape_evidence
    );
    // Not a generation: every query has the same 16 tokens.
    assert_eq!(run.generation, None);
    // No attention with shapes: nothing inferred.
    let v100 = read_trace_file(&v100_trace(), TraceOptions::default()).expect("reads");
    assert_eq!(v100.run.as_ref().and_then(|r| r.batch_size), None);
}

/// transformers' `generate` on a 2-layer GPT-2, recorded at batch 2 with a 20-token prompt
/// and 12 new tokens: the prefill's queries give the prompt, the 11 decode steps' one-token
/// queries and growing keys the tokens generated.
#[test]
fn prompt_and_generated_tokens_from_a_generation_trace() {
    let summary = read_trace_file(
        &trace("gpt2-tiny-generate.trace.json.gz"),
        TraceOptions::default(),
    )
    .expect("reads");
    let run = summary.run.as_ref().expect("run facts");
    assert_eq!(run.mode, Some(advisor_core::Mode::Inference));
    assert_eq!((run.batch_size, run.query_tokens), (Some(2), Some(1)));
    let generation = run.generation.as_ref().expect("a generation");
    assert_eq!(
        (
            generation.prefill_tokens,
            generation.context_tokens,
            generation.generated_tokens,
            generation.decode_calls
        ),
        (20, 31, 12, 22),
        "{generation:#?}"
    );
    assert!(
        generation.evidence.contains("[2, 4, 20, 32]")
            && generation.evidence.contains("[2, 4, 31, 32]"),
        "{}",
        generation.evidence
    );
}
