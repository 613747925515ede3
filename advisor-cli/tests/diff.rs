//! `advisor diff` end to end: the two sampled ranks of Holistic Trace Analysis's test data
//! (two views of one job) and the recorded before/after pairs in `testdata/pairs`.

mod common;

use common::{advisor, ok};

use std::path::PathBuf;

use serde_json::Value;

fn testdata(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(path)
        .display()
        .to_string()
}

fn json(args: &[&str]) -> Value {
    let out = ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn two_ranks_of_one_job_differ_within_noise() {
    let (a, b) = (
        testdata("traces/hta/sampled_rank-0.json.gz"),
        testdata("traces/hta/sampled_rank-1.json.gz"),
    );
    let diff = json(&["diff", &a, &b, "--format", "json"]);
    let step = &diff["step_time"];
    assert_eq!(step["before"]["count"], 2);
    let change = step["mean_us"]["change_pct"].as_f64().unwrap_or(f64::NAN);
    assert!(change.abs() < 5.0, "{change}");
    assert_eq!(step["test"]["significant"], false);
    // The GPU breakdown is per step of the analyzed window and tiles it: idle, compute,
    // communication and memory add up to about one step.
    let breakdown = &diff["breakdown"];
    let sum: f64 = ["idle_us", "compute_us", "communication_us", "memory_us"]
        .iter()
        .map(|k| breakdown[k]["before"].as_f64().unwrap_or(0.0))
        .sum();
    let step_us = step["mean_us"]["before"].as_f64().unwrap_or(0.0);
    assert!((sum / step_us - 1.0).abs() < 0.1, "{sum} vs {step_us}");
    assert!(!diff["changed"].as_array().is_none_or(Vec::is_empty));
    // Kernel names carry C++ templates: escaped on the page, never raw markup.
    let html = ok(&["diff", &a, &b, "--format", "html"]);
    assert!(html.contains("&lt;c10::Half"), "templates are escaped");
    assert!(!html.contains("<c10::"), "no raw template brackets");
    let text = ok(&["diff", &a, &b]);
    assert!(text.contains("within the step-to-step noise"), "{text}");
    assert!(text.contains("## GPU time per step"), "{text}");
}

#[test]
fn the_kv_cache_pair_shows_the_recomputation_vanish() {
    let (before, after) = (
        testdata("pairs/gpt2_kv_cache.before.trace.json.gz"),
        testdata("pairs/gpt2_kv_cache.after.trace.json.gz"),
    );
    let diff = json(&["diff", &before, &after, "--format", "json"]);
    let change = diff["step_time"]["mean_us"]["change_pct"]
        .as_f64()
        .unwrap_or(f64::NAN);
    assert!(change < -40.0, "{change}");
    // The matmuls are the same calls on shorter inputs: matched by name, much less time.
    let addmm = diff["changed"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["name"] == "aten::addmm"))
        .unwrap_or_else(|| panic!("aten::addmm changed: {diff}"));
    assert!(addmm["time_per_step_us"]["change"].as_f64().unwrap_or(0.0) < 0.0);
}

#[test]
fn metrics_files_compare_by_their_latency() {
    let (before, after) = (
        testdata("pairs/bert_int8.before.context.json"),
        testdata("pairs/bert_int8.after.context.json"),
    );
    let diff = json(&["diff", &before, &after, "--format", "json"]);
    assert_eq!(diff["step_time"]["test"]["significant"], true, "{diff}");
    let html = ok(&["diff", &before, &after, "--format", "html"]);
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains("<table>"),
        "{html}"
    );
}

#[test]
fn a_file_that_is_neither_is_refused_with_its_name() {
    let config = testdata("pairs/bert.config.json");
    let output = advisor(&["diff", &config, &config]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bert.config.json"), "{stderr}");
}
