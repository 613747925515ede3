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
    "current_config": { "mode": "inference", "batch_size": "1", "precision": "fp16", "seq_len": "2048", "slo_tpot_ms": "5" }
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
            "plugin folder {shown}\n\nloaded (1):\n  libadvisor_plugin_serving.so: advisor-plugin-serving 0.1.0, rules: serving_slo\n\nrefused (2):\n  libadvisor_plugin_fail_version.so: built for plugin API 2, expected plugin API 1\n  notes.so: not a loadable library ({shown}/notes.so: invalid ELF header)\n"
        )
    );
    // The same from $ADVISOR_PLUGIN_DIR, as JSON.
    let output = advisor(&["plugins", "--format", "json"], Some(dir.path()));
    assert!(output.status.success(), "{output:?}");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["loaded"][0]["rules"][0], "serving_slo");
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
    assert!(ids.contains(&"serving_slo"), "{ids:?}");
    assert!(ids.contains(&"serving_engine"), "{ids:?}");
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
            "serving_slo",
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
            .all(|s| s["id"] != "serving_slo")
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

#[test]
fn plugins_that_would_kill_the_advisor_are_refused_and_the_rest_runs() {
    let dir = tempfile::tempdir().expect("temporary folder");
    stage(
        dir.path(),
        &[
            "advisor-plugin-serving",
            "advisor-plugin-fail-abort",
            "advisor-plugin-fail-exit",
            "advisor-plugin-fail-hang",
            "advisor-plugin-fail-header",
            "advisor-plugin-fail-segfault",
        ],
        Profile::Debug,
    )
    .expect("plugins staged");
    let shown = dir.path().display().to_string();
    let started = std::time::Instant::now();
    let output = advisor(&["plugins", &shown], None);
    assert!(output.status.success(), "{output:?}");
    // The hanging plugin's vetting process is killed after 10 s, not waited for.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!(
            "plugin folder {shown}\n\nloaded (1):\n  libadvisor_plugin_serving.so: advisor-plugin-serving 0.1.0, rules: serving_slo\n\nrefused (5):\n  libadvisor_plugin_fail_abort.so: loading it aborted the vetting process (signal 6, SIGABRT)\n  libadvisor_plugin_fail_exit.so: the vetting process exited with status 0 before reporting\n  libadvisor_plugin_fail_hang.so: loading it did not finish within 10 s; the vetting process was killed\n  libadvisor_plugin_fail_header.so: loading it crashed the vetting process (signal 11, SIGSEGV)\n  libadvisor_plugin_fail_segfault.so: loading it crashed the vetting process (signal 11, SIGSEGV)\n"
        )
    );
    // Nothing the failing libraries printed reached the user.
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");

    // `analyze` without the hanging one: the report is written, with the plugin's rule.
    std::fs::remove_file(dir.path().join("libadvisor_plugin_fail_hang.so")).unwrap();
    let context = dir.path().join("context.json");
    std::fs::write(&context, CONTEXT).unwrap();
    let output = advisor(
        &[
            "analyze",
            "--context",
            &context.display().to_string(),
            "--format",
            "json",
        ],
        Some(dir.path()),
    );
    assert!(output.status.success(), "{output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let ids: Vec<&str> = report["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(ids.contains(&"serving_slo"), "{ids:?}");
    let plugin_messages: Vec<&str> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["source"] == "plugin")
        .filter_map(|d| d["message"].as_str())
        .collect();
    assert_eq!(
        plugin_messages,
        [
            format!(
                "{shown}/libadvisor_plugin_fail_abort.so: refused: loading it aborted the vetting process (signal 6, SIGABRT)"
            ),
            format!(
                "{shown}/libadvisor_plugin_fail_exit.so: refused: the vetting process exited with status 0 before reporting"
            ),
            format!(
                "{shown}/libadvisor_plugin_fail_header.so: refused: loading it crashed the vetting process (signal 11, SIGSEGV)"
            ),
            format!(
                "{shown}/libadvisor_plugin_fail_segfault.so: refused: loading it crashed the vetting process (signal 11, SIGSEGV)"
            ),
        ]
    );
}

#[test]
fn a_plugin_folder_below_a_folder_others_can_write_is_bad_input() {
    let root = tempfile::tempdir().unwrap();
    let open = root.path().join("open");
    let plugins = open.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    advisor_plugin_testkit::set_mode(&plugins, 0o755).unwrap();
    advisor_plugin_testkit::set_mode(&open, 0o777).unwrap();
    let output = advisor(&["plugins", &plugins.display().to_string()], None);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "error: plugin folder {}: the folder {} on its path is writable by group or others (mode 0777)\n",
            plugins.display(),
            open.display()
        )
    );
}

#[test]
fn the_vetting_subcommand_is_hidden() {
    let output = advisor(&["--help"], None);
    assert!(output.status.success());
    assert!(!String::from_utf8_lossy(&output.stdout).contains("vet"));
}
