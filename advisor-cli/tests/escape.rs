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
    // The contents list links to the page's own sections (`<a href="#summary">`), and only
    // there: those are taken out before looking for any other link.
    let html = own_anchors(&with_format("html"));
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

/// Protobuf for a tiny ONNX model whose every name is `value`: graph, node and op names, an
/// initializer, typed graph inputs and outputs with a symbolic dimension, and a dangling node
/// input (which the import warns about, quoting it).
mod onnx {
    fn varint(out: &mut Vec<u8>, mut value: u64) {
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }

    fn bytes_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
        varint(out, field << 3 | 2);
        varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }

    fn int_field(out: &mut Vec<u8>, field: u64, value: u64) {
        varint(out, field << 3);
        varint(out, value);
    }

    /// `ValueInfoProto` of an fp32 tensor shaped `[dim_param, 8]`.
    fn value_info(name: &str, dim_param: &str) -> Vec<u8> {
        let mut symbolic = Vec::new();
        bytes_field(&mut symbolic, 2, dim_param.as_bytes());
        let mut fixed = Vec::new();
        int_field(&mut fixed, 1, 8);
        let mut shape = Vec::new();
        bytes_field(&mut shape, 1, &symbolic);
        bytes_field(&mut shape, 1, &fixed);
        let mut tensor = Vec::new();
        int_field(&mut tensor, 1, 1);
        bytes_field(&mut tensor, 2, &shape);
        let mut kind = Vec::new();
        bytes_field(&mut kind, 1, &tensor);
        let mut info = Vec::new();
        bytes_field(&mut info, 1, name.as_bytes());
        bytes_field(&mut info, 2, &kind);
        info
    }

    pub fn named(value: &str) -> Vec<u8> {
        let input = format!("in{value}");
        let output = format!("out{value}");
        let weight = format!("w{value}");
        let mut graph = Vec::new();
        let mut node = Vec::new();
        for name in [&input, &weight, &format!("dangling{value}")] {
            bytes_field(&mut node, 1, name.as_bytes());
        }
        bytes_field(&mut node, 2, output.as_bytes());
        bytes_field(&mut node, 3, format!("node{value}").as_bytes());
        bytes_field(&mut node, 4, format!("Op{value}").as_bytes());
        bytes_field(&mut graph, 1, &node);
        bytes_field(&mut graph, 2, format!("graph{value}").as_bytes());
        let mut initializer = Vec::new();
        int_field(&mut initializer, 1, 8);
        int_field(&mut initializer, 1, 8);
        int_field(&mut initializer, 2, 1);
        bytes_field(&mut initializer, 8, weight.as_bytes());
        bytes_field(&mut graph, 5, &initializer);
        bytes_field(
            &mut graph,
            11,
            &value_info(&input, &format!("batch{value}")),
        );
        bytes_field(&mut graph, 12, &value_info(&output, &format!("seq{value}")));
        let mut model = Vec::new();
        int_field(&mut model, 1, 8);
        bytes_field(&mut model, 7, &graph);
        let mut opset = Vec::new();
        int_field(&mut opset, 2, 17);
        bytes_field(&mut model, 8, &opset);
        model
    }
}

/// How the text outputs show `value`: every control a visible escape, on one line.
fn escaped(value: &str) -> String {
    advisor_report::escape_control(value).into_owned()
}

#[test]
fn inspect_shows_model_file_names_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    for value in HOSTILE {
        // The file's own name is hostile too (a file name holds anything but a slash).
        let model = dir.path().join(format!("{}.onnx", value.replace('/', "_")));
        std::fs::write(&model, onnx::named(value)).expect("write model");
        let model = model.to_str().expect("utf-8 path");
        let (ok, text, stderr) = run_clean(&["inspect", model]);
        assert!(ok, "{value:?}: {stderr}");
        let shown = escaped(value);
        for expected in [
            format!("{}\n", escaped(model)),
            format!("Op{shown} 1"),
            format!("in{shown} fp32 [batch{shown}, 8]"),
            format!("out{shown} fp32 [seq{shown}, 8]"),
            format!("dangling{shown}"),
        ] {
            assert!(text.contains(&expected), "{value:?}: {expected}\n{text}");
        }
        // Every line is the tool's own: a label, a list item or a section.
        for line in text.lines().skip(1) {
            assert!(
                line.is_empty()
                    || line.starts_with("  ")
                    || ["fusion opportunities", "warnings:"]
                        .iter()
                        .any(|section| line.starts_with(section)),
                "{value:?}: {line:?}\n{text}"
            );
        }

        let (ok, json, stderr) = run_clean(&["inspect", model, "--format", "json"]);
        assert!(ok, "{value:?}: {stderr}");
        // The JSON keeps every name exactly.
        let summary: Value = serde_json::from_str(&json).expect("JSON summary");
        assert_eq!(summary["op_counts"][format!("Op{value}")], 1, "{json}");
        assert_eq!(summary["inputs"][0]["name"], format!("in{value}"), "{json}");
        assert_eq!(
            summary["inputs"][0]["shape"][0],
            format!("batch{value}"),
            "{json}"
        );
        assert!(
            summary["warnings"][0]
                .as_str()
                .is_some_and(|warning| warning.contains(&format!("dangling{value}"))),
            "{json}"
        );
    }
    // The escapes themselves, spelled out: ESC, BEL, CR, DEL, C1 (CSI) and bidi controls.
    let expectations = [
        (
            HOSTILE[0],
            "\\x1b[2J\\x1b[H\\x1b]0;pwned\\x07",
            "\\u001b[2J",
        ),
        (HOSTILE[1], "ok\\rFAKE\\x08\\x08", "ok\\rFAKE"),
        (
            HOSTILE[2],
            "a\\x7fb\\u{9b}2J\\u{9b}31m",
            "a\\u007fb\\u009b2J",
        ),
        (
            HOSTILE[3],
            "\\u{202e}cod.exe\\u{202c}\\u{2066}x\\u{2069}\\u{2028}",
            "\\u202ecod.exe\\u202c\\u2066x\\u2069\\u2028",
        ),
    ];
    for (value, in_text, in_json) in expectations {
        let model = dir.path().join("m.onnx");
        std::fs::write(&model, onnx::named(value)).expect("write model");
        let model = model.to_str().expect("utf-8 path");
        let (_, text, _) = run_clean(&["inspect", model]);
        assert!(
            text.contains(&format!("  ops                       Op{in_text}")),
            "{text}"
        );
        let (_, json, _) = run_clean(&["inspect", model, "--format", "json"]);
        assert!(json.contains(&format!("\"Op{in_json}")), "{json}");
    }
}

#[test]
fn inspect_shows_a_config_path_escaped() {
    let root = tempfile::tempdir().expect("tempdir");
    for value in HOSTILE {
        let dir = root.path().join(value.replace('/', "_"));
        std::fs::create_dir_all(&dir).expect("model folder");
        let config = gpt2_config_named(&dir, value);
        let (ok, text, stderr) = run_clean(&["inspect", &config]);
        assert!(ok, "{value:?}: {stderr}");
        assert!(
            text.starts_with(&format!("{}\n", escaped(&config))),
            "{text}"
        );
        let (ok, _, stderr) = run_clean(&["inspect", &config, "--format", "json"]);
        assert!(ok, "{value:?}: {stderr}");
    }
}

/// A trace whose device, backend, kernel, CPU op, copy and category names are all `value`;
/// one kernel name is 92 characters, so the text cuts it right after an escape character.
fn write_named_trace(path: &Path, value: &str) {
    let name = serde_json::to_string(value).expect("json string");
    let long = serde_json::to_string(&format!("{}\u{1b}[2J", "k".repeat(88))).expect("json");
    let copy = serde_json::to_string(&format!("Memcpy {value}")).expect("json string");
    let mut events = vec![
        r#"{"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#1", "pid": 1, "tid": 1, "ts": 1000, "dur": 9000}"#.to_owned(),
        format!(r#"{{"ph": "X", "cat": "cpu_op", "name": {name}, "pid": 1, "tid": 1, "ts": 1050, "dur": 8500}}"#),
        format!(r#"{{"ph": "X", "cat": {name}, "name": "x", "pid": 1, "tid": 1, "ts": 1060, "dur": 5}}"#),
        format!(r#"{{"ph": "X", "cat": "gpu_memcpy", "name": {copy}, "pid": 0, "tid": 7, "ts": 9000, "dur": 50, "args": {{"device": 0, "stream": 7, "bytes": 1048576}}}}"#),
    ];
    for i in 0..20u64 {
        let kernel = if i % 2 == 0 { &name } else { &long };
        events.push(format!(
            r#"{{"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": {}, "dur": 30, "args": {{"correlation": {i}}}}}"#,
            1100 + i * 200
        ));
        events.push(format!(
            r#"{{"ph": "X", "cat": "kernel", "name": {kernel}, "pid": 0, "tid": 7, "ts": {}, "dur": 20, "args": {{"device": 0, "stream": 7, "correlation": {i}}}}}"#,
            1150 + i * 200
        ));
    }
    std::fs::write(
        path,
        format!(
            r#"{{"deviceProperties": [{{"id": 0, "name": {name}, "totalGlobalMem": 17179869184, "computeMajor": 8, "computeMinor": 0}}],
                "distributedInfo": {{"backend": {name}, "rank": 0, "world_size": 1}},
                "traceEvents": [{}]}}"#,
            events.join(",\n")
        ),
    )
    .expect("write trace");
}

#[test]
fn trace_shows_device_kernel_and_op_names_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    for value in HOSTILE {
        let trace = dir.path().join(format!("{}.json", value.replace('/', "_")));
        write_named_trace(&trace, value);
        let trace = trace.to_str().expect("utf-8 path");
        let (ok, text, stderr) = run_clean(&["trace", trace]);
        assert!(ok, "{value:?}: {stderr}");
        let shown = escaped(value);
        // The direction of a copy is the first word after `Memcpy `.
        let direction = value.split_whitespace().next().unwrap_or("unknown");
        for expected in [
            format!("Trace {} (", escaped(trace)),
            format!("  device 0: {shown} (16 GiB, compute capability 8.0, "),
            format!("  distributed: backend {shown}, rank 0"),
            format!(" {shown}\n"),
            // Cut after 89 characters, the escape whole.
            format!(" {}\\x1b…\n", "k".repeat(88)),
            format!("  {}", escaped(direction)),
            format!("events in categories the summary does not use: {shown} (1)"),
        ] {
            assert!(text.contains(&expected), "{value:?}: {expected}\n{text}");
        }
        // Every line is the tool's own: sections start at the margin, rows are indented.
        for line in text.lines() {
            assert!(
                line.is_empty() || line.starts_with("  ") || line.starts_with(char::is_uppercase),
                "{value:?}: {line:?}\n{text}"
            );
        }

        let (ok, json, stderr) = run_clean(&["trace", trace, "--format", "json"]);
        assert!(ok, "{value:?}: {stderr}");
        let summary: Value = serde_json::from_str(&json).expect("JSON summary");
        assert_eq!(summary["devices"][0]["name"], *value, "{json}");
        assert_eq!(summary["distributed"]["backend"], *value, "{json}");
        assert!(
            summary["top_kernels"]
                .as_array()
                .is_some_and(|kernels| kernels.iter().any(|k| k["name"] == *value)),
            "{json}"
        );
        assert!(
            summary["top_cpu_ops"]
                .as_array()
                .is_some_and(|ops| ops.iter().any(|op| op["name"] == *value)),
            "{json}"
        );
    }
    let trace = dir.path().join("c1.json");
    write_named_trace(&trace, HOSTILE[2]);
    let trace = trace.to_str().expect("utf-8 path");
    let (_, text, _) = run_clean(&["trace", trace]);
    assert!(
        text.contains(" a\\x7fb\\u{9b}2J\\u{9b}31m\\u{9d}0;t"),
        "{text}"
    );
    let (_, json, _) = run_clean(&["trace", trace, "--format", "json"]);
    assert!(
        json.contains("\"a\\u007fb\\u009b2J\\u009b31m\\u009d0;t"),
        "{json}"
    );
}

/// The page with its links to its own sections written as `<anchor>`.
fn own_anchors(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    let mut rest = page;
    while let Some(start) = rest.find("<a href=\"#") {
        out.push_str(&rest[..start]);
        let after = &rest[start + "<a href=\"#".len()..];
        let id_end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(after.len());
        if after[id_end..].starts_with("\">") {
            out.push_str("<anchor>");
            rest = &after[id_end + 2..];
        } else {
            out.push_str("<a href=\"#");
            rest = after;
        }
    }
    out.push_str(rest);
    out.replace("</a>", "</anchor>")
}
