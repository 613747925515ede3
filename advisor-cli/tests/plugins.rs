//! `advisor plugins` and `advisor analyze --plugins`: the listing of what loads and what
//! was refused, plugin rules in the report, and refusals as diagnostics of a run that still
//! succeeds.

use std::{
    path::Path,
    process::{Command, Output},
};

use advisor_plugin_testkit::{Profile, stage};
use serde_json::Value;

const CONTEXT: &str = r#"{
    "model_graph": { "name": "llama-7b",
                     "facts": { "architecture": "decoder", "parameters": 6738415616, "layers": 32,
                                "hidden_size": 4096, "attention_heads": 32, "dtype": "fp16" } },
    "hardware_info": { "gpu_model": "NVIDIA A100-SXM4-80GB", "gpu_memory_mb": 81920 },
    "current_config": { "mode": "inference", "batch_size": "1", "precision": "fp16", "seq_len": "2048" }
}"#;

fn advisor(args: &[&str], plugin_dir_variable: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_advisor"));
    command.args(args).env_remove("ADVISOR_PLUGIN_DIR");
    if let Some(dir) = plugin_dir_variable {
        command.env("ADVISOR_PLUGIN_DIR", dir);
    }
    command.output().expect("advisor runs")
}

/// A folder with the example plugin, the wrong-version plugin and a text file.
fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary folder");
    stage(
        dir.path(),
        &["advisor-plugin-serving", "advisor-plugin-fail-version"],
        Profile::Debug,
    )
    .expect("plugins staged");
    let text = "a text file named like a plugin library, which it is not.\n".repeat(4);
    std::fs::write(dir.path().join("notes.so"), text).expect("text file written");
    dir
}

#[test]
fn plugins_lists_what_loads_and_what_was_refused() {
    let dir = folder();
    let shown = dir.path().display().to_string();
    let output = advisor(&["plugins", &shown], None);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        text,
        format!(
            "plugin folder {shown}\n\nloaded (1):\n  libadvisor_plugin_serving.so: advisor-plugin-serving 0.1.0, rules: speculative_decoding\n\nrefused (2):\n  libadvisor_plugin_fail_version.so: built for plugin API 2, expected plugin API 1\n  notes.so: not a loadable library ({shown}/notes.so: invalid ELF header)\n"
        )
    );
    // The same from $ADVISOR_PLUGIN_DIR, as JSON.
    let output = advisor(&["plugins", "--format", "json"], Some(dir.path()));
    assert!(output.status.success(), "{output:?}");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["loaded"][0]["rules"][0], "speculative_decoding");
    assert_eq!(json["loaded"][0]["version"], "0.1.0");
    assert_eq!(
        json["refused"][0]["reason"],
        "built for plugin API 2, expected plugin API 1"
    );
    assert_eq!(json["refused"].as_array().unwrap().len(), 2);
}

#[test]
fn analyze_runs_plugin_rules_and_reports_refusals() {
    let dir = folder();
    let context = dir.path().join("context.json");
    std::fs::write(&context, CONTEXT).unwrap();
    let output = advisor(
        &[
            "analyze",
            "--context",
            &context.display().to_string(),
            "--plugins",
            &dir.path().display().to_string(),
            "--format",
            "json",
        ],
        None,
    );
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let ids: Vec<&str> = report["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(ids.contains(&"speculative_decoding"), "{ids:?}");
    assert!(ids.contains(&"batch_size"), "{ids:?}");
    let plugin_messages: Vec<&str> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["source"] == "plugin")
        .filter_map(|d| d["message"].as_str())
        .collect();
    let version_file = dir.path().join("libadvisor_plugin_fail_version.so");
    assert_eq!(plugin_messages.len(), 2, "{plugin_messages:?}");
    assert_eq!(
        plugin_messages[0],
        format!(
            "{}: refused: built for plugin API 2, expected plugin API 1",
            version_file.display()
        )
    );
    // A plugin rule can be disabled like a built-in one.
    let output = advisor(
        &[
            "analyze",
            "--context",
            &context.display().to_string(),
            "--disable",
            "speculative_decoding",
            "--format",
            "json",
        ],
        Some(dir.path()),
    );
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        report["suggestions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["id"] != "speculative_decoding")
    );
}

#[test]
fn an_unusable_folder_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let output = advisor(&["plugins", &missing.display().to_string()], None);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "error: plugin folder {}: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
    let output = advisor(&["plugins"], None);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: no plugin folder: pass DIR or set ADVISOR_PLUGIN_DIR\n"
    );
}
