//! The `advisor` binary end to end: good input, and every kind of bad input exits 2 with one
//! line naming the file and the problem, never a panic.

mod common;

use common::{advisor, ok};

use std::{
    path::{Path, PathBuf},
    process::Output,
};

use serde_json::Value;

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs and expects exit 2 with a one-line error containing every fragment.
fn bad_input(args: &[&str], fragments: &[&str]) {
    let output = advisor(args);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "advisor {args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("backtrace"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    for fragment in fragments {
        assert!(err.contains(fragment), "`{fragment}` not in: {err}");
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("valid JSON output")
}

fn ids(report: &Value) -> Vec<String> {
    report["suggestions"]
        .as_array()
        .expect("suggestions")
        .iter()
        .map(|s| s["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn temp_file(name: &str, contents: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, contents).expect("write");
    (dir, path)
}

#[test]
fn example_on_detected_hardware_renders_markdown() {
    let markdown = ok(&["analyze", "--example", "gpt2"]);
    assert!(markdown.starts_with("# Optimization report"), "{markdown}");
    assert!(
        markdown.contains("openai-community/gpt2 (124,439,808 parameters, decoder)"),
        "{markdown}"
    );
    // The scenario has the KV cache off in inference: the cache is the first thing to fix.
    assert!(markdown.contains("`kv_cache`"), "{markdown}");
}

#[test]
fn example_on_a_deployment_target() {
    let report = json(&ok(&[
        "analyze",
        "--example",
        "bert-base",
        "--hardware",
        "nvidia-a100-80gb",
        "--format",
        "json",
    ]));
    assert_eq!(report["schema_version"], 1);
    let ids = ids(&report);
    // fp32 BERT at 128 tokens is compute-bound on an A100: batching buys nothing there, bf16 does.
    for expected in ["mixed_precision", "quantization"] {
        assert!(
            ids.contains(&expected.to_owned()),
            "{expected} missing from {ids:?}"
        );
    }
    // BERT is an encoder: no KV-cache advice, ever.
    assert!(!ids.contains(&"kv_cache".to_owned()));
    // Training advice never appears at inference.
    assert!(!ids.contains(&"gradient_checkpointing".to_owned()));
}

#[test]
fn set_overrides_the_scenario_and_disable_removes_a_rule() {
    let report = json(&ok(&[
        "analyze",
        "--example",
        "gpt2",
        "--hardware",
        "nvidia-t4",
        "--set",
        "kv_cache=true",
        "--disable",
        "quantization",
        "--format",
        "json",
    ]));
    let ids = ids(&report);
    assert!(!ids.contains(&"kv_cache".to_owned()), "{ids:?}");
    assert!(!ids.contains(&"quantization".to_owned()), "{ids:?}");
    assert!(ids.contains(&"mixed_precision".to_owned()), "{ids:?}");
}

#[test]
fn every_fixture_config_analyzes() {
    let folder = workspace().join("advisor-cli/models");
    for entry in std::fs::read_dir(folder).expect("models folder") {
        let path = entry.expect("entry").path();
        let report = json(&ok(&[
            "analyze",
            "--model",
            path.to_str().unwrap(),
            "--hardware",
            "nvidia-h100-sxm",
            "--format",
            "json",
        ]));
        assert!(
            report["inputs"]["parameters"].as_u64().unwrap() > 1_000_000,
            "{}",
            path.display()
        );
    }
}

#[test]
fn context_file_round_trip_and_output_file() {
    let context = r#"{
        "model_graph": { "name": "tiny", "facts": { "architecture": "decoder", "parameters": 500000000,
                         "layers": 24, "hidden_size": 1024, "attention_heads": 16, "vocab_size": 32000,
                         "max_sequence_length": 16384 } },
        "memory_metrics": { "peak_bytes": 30000000000, "current_bytes": 9000000000 },
        "hardware_info": { "cpu_cores": 16, "system_memory_mb": 65536,
                           "simd_capabilities": ["avx2", "avx512f", "avx512vnni"] },
        "current_config": { "mode": "inference", "num_threads": "1", "device": "cpu", "seq_len": "16384" }
    }"#;
    let (dir, path) = temp_file("context.json", context);
    let out = dir.path().join("report.json");
    ok(&[
        "analyze",
        "--context",
        path.to_str().unwrap(),
        "--format",
        "json",
        "--output",
        out.to_str().unwrap(),
    ]);
    let report = json(&std::fs::read_to_string(out).unwrap());
    let ids = ids(&report);
    for expected in [
        "dynamic_quantization",
        "memory_fragmentation",
        "parallelization",
        "sparse_attention",
    ] {
        assert!(
            ids.contains(&expected.to_owned()),
            "{expected} missing from {ids:?}"
        );
    }
}

#[test]
fn malformed_inputs_exit_2_with_one_clear_line() {
    let (_a, truncated) = temp_file("truncated.json", r#"{"hardware_info": {"cpu_cores": 8"#);
    bad_input(
        &["analyze", "--context", truncated.to_str().unwrap()],
        &["truncated.json", "line 1, column", "truncated"],
    );

    let (_b, wrong_type) = temp_file(
        "wrong.json",
        "{\n  \"latency_metrics\": { \"p99_ms\": \"slow\" }\n}",
    );
    bad_input(
        &["analyze", "--context", wrong_type.to_str().unwrap()],
        &["wrong.json", "latency_metrics.p99_ms", "line 2"],
    );

    let (_c, empty) = temp_file("empty.json", "");
    bad_input(
        &["analyze", "--context", empty.to_str().unwrap()],
        &["empty.json", "the file is empty"],
    );

    let dir = tempfile::tempdir().unwrap();
    bad_input(
        &["analyze", "--context", dir.path().to_str().unwrap()],
        &["is a directory"],
    );
    bad_input(
        &["analyze", "--context", "/no/such/context.json"],
        &["/no/such/context.json", "no such file"],
    );

    let (_d, model) = temp_file("config.json", r#"{"model_type": "gpt2", "n_embd": "wide"}"#);
    bad_input(
        &["analyze", "--model", model.to_str().unwrap()],
        &["config.json", "n_embd"],
    );

    let (_e, binary) = temp_file("model.bin", "\u{0}\u{1}\u{2}garbage");
    bad_input(
        &["analyze", "--model", binary.to_str().unwrap()],
        &["model.bin"],
    );

    let (_f, bad_config) = temp_file("ctx.json", r#"{"current_config": {"mode": "sleeping"}}"#);
    bad_input(
        &["analyze", "--context", bad_config.to_str().unwrap()],
        &["ctx.json", "`mode`", "`sleeping`"],
    );
}

#[test]
fn bad_flags_exit_2() {
    bad_input(&["analyze", "--example", "gpt5"], &["gpt5", "bert-base"]);
    bad_input(
        &["analyze", "--example", "gpt2", "--set", "batch_size=lots"],
        &["`batch_size`", "`lots`"],
    );
    bad_input(
        &["analyze", "--example", "gpt2", "--set", "nonsense"],
        &["KEY=VALUE"],
    );
    bad_input(
        &["analyze", "--example", "gpt2", "--hardware", "nvidia-a100"],
        &["nvidia-a100"],
    );
    bad_input(
        &["analyze", "--example", "gpt2", "--disable", "no_such_rule"],
        &["no_such_rule"],
    );
}

#[test]
fn unknown_config_keys_are_warnings_with_a_suggestion() {
    let markdown = ok(&["analyze", "--example", "gpt2", "--set", "batchsize=4"]);
    assert!(
        markdown.contains("unknown config key `batchsize`; did you mean `batch_size`?"),
        "{markdown}"
    );
}

#[test]
fn rules_and_examples_list() {
    let rules = json(&ok(&["rules", "--format", "json"]));
    assert_eq!(rules.as_array().unwrap().len(), 36);
    assert!(
        rules.as_array().unwrap().iter().all(|r| r["id"].is_string()
            && r["category"].is_string()
            && r["description"].is_string())
    );
    let text = ok(&["rules"]);
    assert!(text.contains("kv_cache"));
    // Grouped by category, in the guide's order, each with its count.
    let headers: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.is_empty())
        .collect();
    assert_eq!(headers.first().copied(), Some("architecture (3)"), "{text}");
    assert_eq!(headers.len(), 7, "{text}");
    let examples = ok(&["examples"]);
    for name in ["bert-base", "gpt2", "llama-2-7b"] {
        assert!(examples.contains(name), "{examples}");
    }
}

#[test]
fn published_schemas_are_current() {
    let generated = ok(&["schema"]);
    let published =
        std::fs::read_to_string(workspace().join("docs/context.schema.json")).unwrap_or_default();
    assert!(
        generated == published,
        "docs/context.schema.json is out of date: run `cargo xtask codegen`"
    );
    for name in ["report", "inspect", "hardware", "plugins", "diff", "verify"] {
        let generated = ok(&["schema", name]);
        let path = format!("docs/schemas/{name}.schema.json");
        let published = std::fs::read_to_string(workspace().join(&path)).unwrap_or_default();
        assert!(
            generated == published,
            "{path} is out of date: run `cargo xtask codegen`"
        );
    }
    let unknown = advisor(&["schema", "reprot"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("did you mean `report`?"));
}

/// Each command's JSON carries `schema_version` and fits its published schema's top level:
/// every required field is there and every field is one the schema names.
#[test]
fn every_json_output_is_versioned_and_matches_its_schema() {
    let pairs = workspace().join("testdata/pairs");
    let pair = |name: &str| pairs.join(name).display().to_string();
    let trace = |name: &str| {
        workspace()
            .join("testdata/traces")
            .join(name)
            .display()
            .to_string()
    };
    let report_path =
        std::env::temp_dir().join(format!("advisor-schema-{}.json", std::process::id()));
    let report_file = report_path.display().to_string();
    ok(&[
        "analyze",
        "--model",
        &pair("bert.config.json"),
        "--context",
        &pair("bert_batch.before.context.json"),
        "--hardware",
        &pair("hardware.json"),
        "--format",
        "json",
        "--output",
        &report_file,
    ]);
    let plugins = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let outputs: Vec<(&str, String)> = vec![
        (
            "report",
            std::fs::read_to_string(&report_path).unwrap_or_default(),
        ),
        (
            "inspect",
            ok(&["inspect", &pair("bert.config.json"), "--format", "json"]),
        ),
        ("hardware", ok(&["hardware", "--format", "json"])),
        (
            "trace",
            ok(&[
                "trace",
                &trace("v100-training-rank0.trace.json.gz"),
                "--format",
                "json",
            ]),
        ),
        (
            "trace-ranks",
            ok(&[
                "trace",
                &trace("hta/sampled_rank-0.json.gz"),
                &trace("hta/sampled_rank-1.json.gz"),
                "--format",
                "json",
            ]),
        ),
        (
            "plugins",
            ok(&[
                "plugins",
                &plugins.path().display().to_string(),
                "--format",
                "json",
            ]),
        ),
        (
            "diff",
            ok(&[
                "diff",
                &pair("bert_batch.before.context.json"),
                &pair("bert_batch.after.context.json"),
                "--format",
                "json",
            ]),
        ),
        (
            "verify",
            ok(&[
                "verify",
                &report_file,
                "--before",
                &pair("bert_batch.before.context.json"),
                "--after",
                &pair("bert_batch.after.context.json"),
                "--format",
                "json",
            ]),
        ),
    ];
    let _ = std::fs::remove_file(&report_path);
    for (name, text) in outputs {
        let output: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}: {text}"));
        assert!(
            output["schema_version"].as_u64().is_some_and(|v| v >= 1),
            "{name}: {output}"
        );
        let schema: serde_json::Value =
            serde_json::from_str(&ok(&["schema", name])).unwrap_or_else(|e| panic!("{name}: {e}"));
        let properties = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(!properties.is_empty(), "{name}: {schema}");
        for required in schema["required"].as_array().into_iter().flatten() {
            let key = required.as_str().unwrap_or_default();
            assert!(output.get(key).is_some(), "{name}: no `{key}` in {output}");
        }
        for key in output.as_object().into_iter().flatten().map(|(k, _)| k) {
            assert!(
                properties.contains_key(key),
                "{name}: `{key}` is not in the schema"
            );
        }
    }
}

#[test]
fn html_report_is_a_self_contained_page() {
    let page = ok(&[
        "analyze",
        "--example",
        "llama-2-7b",
        "--hardware",
        "nvidia-h100-sxm",
        "--format",
        "html",
    ]);
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains("<h1>Optimization report</h1>"), "{page}");
    assert!(
        page.contains("<table>"),
        "the summary table renders: {page}"
    );
    assert!(page.contains("<code class=\"language-python\">"), "{page}");
    assert!(!page.contains("<script"), "no scripts in the report");
}

#[test]
fn hardware_json_from_another_machine_is_accepted_as_hardware() {
    let detected = ok(&["hardware", "--format", "json"]);
    let (_dir, path) = temp_file("hardware.json", &detected);
    let report = json(&ok(&[
        "analyze",
        "--example",
        "gpt2",
        "--hardware",
        path.to_str().unwrap(),
        "--format",
        "json",
    ]));
    assert!(
        report["inputs"]["hardware"]
            .as_str()
            .is_some_and(|h| !h.is_empty()),
        "{report}"
    );

    let (_dir2, typo) = temp_file("typo.json", r#"{"gpu_modle": "Tesla T4"}"#);
    bad_input(
        &[
            "analyze",
            "--example",
            "gpt2",
            "--hardware",
            typo.to_str().unwrap(),
        ],
        &["typo.json", "unknown field `gpu_modle`"],
    );
}

/// fp16 on a T5 checkpoint comes with T5's overflow warning; on BERT it does not.
#[test]
fn fp16_advice_on_t5_warns_of_its_overflow() {
    let t5 = workspace().join("advisor-graph/tests/data/hf/flan-t5-base.json");
    let args = |model: &str| {
        ok(&[
            "analyze",
            "--model",
            model,
            "--hardware",
            "nvidia-t4",
            "--set",
            "mode=inference",
            "--set",
            "batch_size=8",
            "--set",
            "seq_len=512",
            "--format",
            "json",
            "-q",
        ])
    };
    let warned = |report: &str| {
        let report: serde_json::Value = serde_json::from_str(report).expect("json");
        report["suggestions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["id"] == "mixed_precision")
            .any(|s| {
                s.to_string()
                    .contains("T5-family checkpoints overflow in fp16")
            })
    };
    assert!(warned(&args(&t5.display().to_string())));
    let bert = workspace().join("testdata/pairs/bert.config.json");
    assert!(!warned(&args(&bert.display().to_string())));
}
