//! Text from inputs never reaches the terminal raw and never becomes report structure: model
//! names (`_name_or_path`), config keys and values, hardware and trace device, kernel and op
//! names, file names echoed in errors, plugin file names. Each hostile string goes through
//! every entry point; the output may show it escaped (`\x1b`, `\n`), never act on it.

mod common;

use std::path::Path;

use common::{advisor, ok};
use serde_json::Value;

/// One string per class: C0 escape sequences, CR, BEL, DEL, C1 (U+009B is a one-byte CSI),
/// bidi overrides, newlines forging sections, Markdown links, images and HTML. (No NUL: it
/// cannot be an argument.)
const HOSTILE: &[&str] = &[
    "\u{1b}[2J\u{1b}[H\u{1b}]0;pwned\u{7}",
    "ok\rFAKE\u{8}\u{8}",
    "a\u{7f}b\u{9b}2J\u{9b}31m\u{9d}0;t\u{9c}\u{85}",
    "\u{202e}cod.exe\u{202c}\u{2066}x\u{2069}\u{2028}",
    "gpt2\n## Suggestions\n### 1. Forged [CRITICAL]\n",
    "x\r\n\r\n# Title\r\n---\r\n- item\r\n",
    "| a | b |\n|---|---|\n| c | d |",
    "[x](javascript:alert(1)) ![y](http://evil.example/p.png) <javascript:alert(2)>",
    "<script>alert(1)</script><img src=x onerror=alert(1)>",
    "`` ` [x](javascript:alert(1)) ` `` \\[z](javascript:alert(3))",
    "# heading",
    "1. item",
];

/// Controls a terminal would act on; line feeds are the output's own, tabs only indent.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `advisor` and checks neither stream has a raw control; returns (status, stdout, stderr).
fn run_clean(args: &[&str]) -> (bool, String, String) {
    let output = advisor(args);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(
        raw_controls(&stdout),
        Vec::<char>::new(),
        "{args:?}:\n{stdout}"
    );
    assert_eq!(
        raw_controls(&stderr),
        Vec::<char>::new(),
        "{args:?}:\n{stderr}"
    );
    (output.status.success(), stdout, stderr)
}

/// The Markdown report's headings outside code blocks.
fn headings(markdown: &str) -> Vec<&str> {
    let mut in_code = false;
    markdown
        .lines()
        .filter(|line| {
            if line.starts_with("```") {
                in_code = !in_code;
                return false;
            }
            !in_code && line.starts_with('#')
        })
        .collect()
}

/// Checks a report in the three formats: Markdown headings are the report's own (one per
/// suggestion, plus the sections), the HTML has no link or image, the JSON is valid.
/// Returns the JSON report.
fn check_report(args: &[&str]) -> Value {
    let with_format = |format: &str| {
        let mut all = args.to_vec();
        all.extend(["--format", format]);
        let (ok, stdout, stderr) = run_clean(&all);
        assert!(ok, "{all:?}: {stderr}");
        stdout
    };
    let report: Value = serde_json::from_str(&with_format("json")).expect("the JSON report");
    let markdown = with_format("markdown");
    let suggestions = report["suggestions"].as_array().map_or(0, Vec::len);
    let headings = headings(&markdown);
    let own = |heading: &str| {
        heading == "# Optimization report"
            || [
                "## Summary",
                "## Suggestions",
                "## Problems",
                "## Not checked for lack of facts",
            ]
            .contains(&heading)
            || heading.starts_with("### ")
    };
    assert!(headings.iter().all(|h| own(h)), "{args:?}:\n{markdown}");
    assert_eq!(
        headings.iter().filter(|h| h.starts_with("### ")).count(),
        suggestions,
        "{args:?}:\n{markdown}"
    );
    assert_eq!(
        headings.iter().filter(|h| h.starts_with("# ")).count(),
        1,
        "{args:?}:\n{markdown}"
    );
    let html = with_format("html");
    for forbidden in ["<a ", "<a>", "<img", "<script"] {
        assert!(!html.contains(forbidden), "{args:?}: {forbidden}\n{html}");
    }
    // No element carries a link, a source or a handler (as text, `src=` is fine).
    for element in html
        .split('<')
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
    {
        for attribute in [" href", " src", " on"] {
            assert!(!element.contains(attribute), "{args:?}: <{element}>");
        }
    }
    report
}

fn gpt2_config_named(dir: &Path, name: &str) -> String {
    let mut config: Value =
        serde_json::from_str(include_str!("../models/gpt2.json")).expect("gpt2 config");
    config["_name_or_path"] = Value::from(name);
    let path = dir.join("config.json");
    std::fs::write(&path, config.to_string()).expect("write config");
    path.to_str().expect("utf-8 path").to_owned()
}

#[test]
fn model_names_and_config_from_inputs_are_shown_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    for value in HOSTILE {
        let config = gpt2_config_named(dir.path(), value);
        let note = format!("note={value}");
        let key = format!("k{value}=1");
        let report = check_report(&[
            "analyze",
            "--model",
            &config,
            "--hardware",
            "nvidia-a100-80gb",
            "--set",
            &note,
            "--set",
            &key,
        ]);
        // The JSON keeps the name exactly.
        assert_eq!(report["inputs"]["model"], *value, "{report}");
    }
    // Shown, escaped, not dropped.
    let config = gpt2_config_named(dir.path(), HOSTILE[0]);
    let markdown = ok(&["analyze", "--model", &config, "--hardware", "nvidia-t4"]);
    assert_eq!(raw_controls(&markdown), Vec::<char>::new(), "{markdown}");
    assert!(
        markdown.contains("\\x1b\\[2J\\x1b\\[H\\x1b\\]0;pwned\\x07"),
        "{markdown}"
    );
}

#[test]
fn hardware_and_trace_names_are_shown_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    for value in HOSTILE {
        let hardware = dir.path().join("hardware.json");
        let document = serde_json::json!({
            "gpu_model": value, "gpu_memory_mb": 81920, "gpu_count": 1,
            "cpu_model": value, "cpu_cores": 8, "system_memory_mb": 65536,
        });
        std::fs::write(&hardware, document.to_string()).expect("write hardware");
        let hardware = hardware.to_str().expect("utf-8 path");
        check_report(&["analyze", "--example", "gpt2", "--hardware", hardware]);

        let name = serde_json::to_string(value).expect("json string");
        let trace = dir.path().join("trace.json");
        let kernel = |ts: u64, correlation: u64| {
            format!(
                r#"{{"ph": "X", "cat": "kernel", "name": {name}, "pid": 0, "tid": 7, "ts": {ts}, "dur": 20, "args": {{"device": 0, "stream": 7, "correlation": {correlation}}}}}"#
            )
        };
        let launch = |ts: u64, correlation: u64| {
            format!(
                r#"{{"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": {ts}, "dur": 30, "args": {{"correlation": {correlation}}}}}"#
            )
        };
        let events: Vec<String> = (0..20)
            .flat_map(|i| [launch(1100 + i * 200, i), kernel(1150 + i * 200, i)])
            .collect();
        std::fs::write(
            &trace,
            format!(
                r#"{{"deviceProperties": [{{"id": 0, "name": {name}, "totalGlobalMem": 17179869184, "computeMajor": 7, "computeMinor": 0}}],
                    "distributedInfo": {{"backend": {name}, "rank": 0, "world_size": 1}},
                    "traceEvents": [
                      {{"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#1", "pid": 1, "tid": 1, "ts": 1000, "dur": 5000}},
                      {{"ph": "X", "cat": "cpu_op", "name": {name}, "pid": 1, "tid": 1, "ts": 1050, "dur": 4500}},
                      {}
                    ]}}"#,
                events.join(",\n")
            ),
        )
        .expect("write trace");
        check_report(&[
            "analyze",
            "--example",
            "gpt2",
            "--trace",
            trace.to_str().expect("utf-8 path"),
        ]);
    }
}

#[test]
fn errors_echo_file_names_and_values_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    for value in HOSTILE {
        // A file name holds anything but a slash.
        let file_name = value.replace('/', "_");
        let missing = dir.path().join(format!("{file_name}.onnx"));
        let missing = missing.to_str().expect("utf-8 path");
        let bad_context = dir.path().join(format!("{file_name}.json"));
        std::fs::write(
            &bad_context,
            format!("{{\"current_config\": {{\"{file_name}"),
        )
        .ok();
        let bad_context = bad_context.to_str().expect("utf-8 path");
        let no_equals = value.replace('=', "");
        let cases: Vec<Vec<&str>> = vec![
            vec!["analyze", "--model", missing],
            vec!["analyze", "--context", missing],
            vec!["analyze", "--context", bad_context],
            vec!["analyze", "--example", value],
            vec!["analyze", "--example", "gpt2", "--set", &no_equals],
            vec!["analyze", "--example", "gpt2", "--disable", value],
            vec!["analyze", "--example", "gpt2", "--hardware", value],
            vec!["analyze", "--example", "gpt2", "--trace", missing],
            vec!["inspect", missing],
            vec!["trace", missing],
            vec!["plugins", missing],
        ];
        for args in cases {
            let (ok, _, stderr) = run_clean(&args);
            assert!(!ok, "{args:?} should fail");
            // One line, escaped.
            assert_eq!(stderr.lines().count(), 1, "{args:?}:\n{stderr}");
            assert!(stderr.starts_with("error: "), "{args:?}:\n{stderr}");
        }
    }
    let (_, _, stderr) = run_clean(&["analyze", "--model", "\u{1b}]0;t\u{7}.onnx"]);
    assert!(stderr.contains("\\x1b]0;t\\x07.onnx"), "{stderr}");
}

#[test]
fn plugin_file_and_folder_names_are_shown_escaped() {
    let root = tempfile::tempdir().expect("tempdir");
    for value in HOSTILE {
        let name = value.replace('/', "_");
        let dir = root.path().join(format!("plugins {name}"));
        std::fs::create_dir_all(&dir).expect("plugin dir");
        // Not a library: refused, with its name.
        std::fs::write(dir.join(format!("{name}.so")), "not a library\n".repeat(8)).expect("write");
        let dir = dir.to_str().expect("utf-8 path");
        // The folder may be refused as a whole (its ancestors' permissions); either way the
        // output is clean.
        let (ok, listing, _) = run_clean(&["plugins", dir]);
        if ok {
            assert!(listing.contains("refused (1):"), "{listing}");
            run_clean(&["plugins", "--format", "json", dir]);
            check_report(&[
                "analyze",
                "--example",
                "gpt2",
                "--hardware",
                "nvidia-t4",
                "--plugins",
                dir,
            ]);
        }
        std::fs::remove_dir_all(dir).expect("clean up");
    }
}
