//! Loads every plugin built to fail, next to the example plugin, and asserts the exact
//! diagnostic for each and that the run still succeeds with the built-in rules and the
//! good plugin's rules. The plugins whose startup code aborts, exits, hangs or faults are
//! vetted in a child process and refused; this test process survives them.

use std::path::Path;

use advisor_core::{AnalysisContext, DiagnosticSeverity, OptimizationAdvisor};
use std::time::Duration;

use advisor_plugin_host::{PluginReport, PluginRules, RefusedPlugin, RefusedRule, Vetting};
use advisor_plugin_testkit::{Profile, plugin_packages, stage};
use advisor_rules_builtin::BuiltinRules;

const CONTEXT: &str = r#"{
    "model_graph": { "facts": { "architecture": "decoder", "parameters": 6738415616, "layers": 32,
                                "hidden_size": 4096, "attention_heads": 32, "dtype": "fp16" } },
    "hardware_info": { "gpu_model": "NVIDIA A100-SXM4-80GB", "gpu_memory_mb": 81920 },
    "current_config": { "mode": "inference", "batch_size": "1", "precision": "fp16", "seq_len": "2048", "slo_tpot_ms": "5" }
}"#;

/// Vetting by this crate's own vetting binary, with a short time limit for the plugin that
/// hangs.
fn vetting() -> Vetting {
    Vetting::in_child(env!("CARGO_BIN_EXE_advisor-plugin-vet"), None::<&str>)
        .with_time_limit(Duration::from_secs(3))
}

fn load_all(dir: &Path) -> (OptimizationAdvisor, PluginReport) {
    let packages = plugin_packages().expect("plugin packages");
    let names: Vec<&str> = packages.iter().map(String::as_str).collect();
    stage(dir, &names, Profile::Debug).expect("plugins staged");
    // Longer than an ELF header, so the loader reads it and finds no ELF magic.
    let text = "this is a text file named like a plugin library; it is not one.\n".repeat(4);
    std::fs::write(dir.join("not-a-library.so"), text).expect("text file written");
    let mut advisor = OptimizationAdvisor::new();
    let report = advisor
        .load_plugins(dir, &vetting())
        .expect("the folder loads");
    (advisor, report)
}

#[test]
fn each_failure_is_refused_with_its_cause_and_the_rest_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (advisor, report) = load_all(dir.path());
    let file = |name: &str| dir.path().join(name);
    assert_eq!(
        report.refused,
        [
            RefusedPlugin {
                file: file("libadvisor_plugin_fail_abort.so"),
                reason: "loading it aborted the vetting process (signal 6, SIGABRT)".into(),
            },
            RefusedPlugin {
                file: file("libadvisor_plugin_fail_exit.so"),
                reason: "the vetting process exited with status 0 before reporting".into(),
            },
            RefusedPlugin {
                file: file("libadvisor_plugin_fail_hang.so"),
                reason: "loading it did not finish within 3 s; the vetting process was killed"
                    .into(),
            },
            RefusedPlugin {
                file: file("libadvisor_plugin_fail_header.so"),
                reason: "loading it crashed the vetting process (signal 11, SIGSEGV)".into(),
            },
            RefusedPlugin {
                file: file("libadvisor_plugin_fail_loader.so"),
                reason: "the root module loader panicked".into(),
            },
            RefusedPlugin {
                file: file("libadvisor_plugin_fail_no_root.so"),
                reason: "not an advisor plugin: it exports no abi_stable root module (`_as_root_module_loader`); build it with `advisor_plugin_api::export_plugin!`".into(),
            },
            RefusedPlugin {
                file: file("libadvisor_plugin_fail_segfault.so"),
                reason: "loading it crashed the vetting process (signal 11, SIGSEGV)".into(),
            },
            RefusedPlugin {
                file: file("libadvisor_plugin_fail_version.so"),
                reason: "built for plugin API 2, expected plugin API 1".into(),
            },
            RefusedPlugin {
                file: file("not-a-library.so"),
                reason: format!(
                    "not a loadable library ({}: invalid ELF header)",
                    file("not-a-library.so").display()
                ),
            },
        ]
    );
    let loaded: Vec<(&str, Vec<&str>)> = report
        .loaded
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.rules.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        loaded,
        [
            (
                "advisor-plugin-fail-output",
                vec![
                    "fail_output_range",
                    "fail_output_non_finite",
                    "fail_output_oversized",
                    "fail_output_foreign_id",
                    "fail_output_ok"
                ]
            ),
            ("advisor-plugin-fail-panic", vec!["fail_panic"]),
            ("advisor-plugin-serving", vec!["serving_slo"]),
        ]
    );
    assert_eq!(
        report.loaded[0].refused_rules,
        [RefusedRule {
            id: "kv_cache".into(),
            reason: "the id clashes with a built-in rule".into()
        }]
    );
    assert_eq!(report.loaded[2].version, env!("CARGO_PKG_VERSION"));

    // The run succeeds: built-in rules, the example plugin and the good rule all report.
    let context = AnalysisContext::from_json_str(CONTEXT).unwrap();
    let analysis = advisor.analyze(&context).unwrap();
    let ids: Vec<&str> = analysis.suggestions.iter().map(|s| s.id.as_str()).collect();
    assert!(ids.contains(&"serving_slo"), "{ids:?}");
    assert!(ids.contains(&"fail_output_ok"), "{ids:?}");
    assert!(ids.contains(&"serving_engine"), "{ids:?}");
    let plugin_errors: Vec<(&str, &str)> = analysis
        .diagnostics
        .iter()
        .filter(|d| d.severity == DiagnosticSeverity::Error && d.source.starts_with("fail_"))
        .map(|d| (d.source.as_str(), d.message.as_str()))
        .collect();
    let output = file("libadvisor_plugin_fail_output.so")
        .display()
        .to_string();
    let panic = file("libadvisor_plugin_fail_panic.so")
        .display()
        .to_string();
    assert_eq!(
        plugin_errors,
        [
            (
                "fail_output_foreign_id",
                format!("rule failed: plugin {output}: output refused: suggestions[0]: id `kv_cache` is not the rule id `fail_output_foreign_id` or `fail_output_foreign_id.NAME` (at most 64 characters)").as_str()
            ),
            (
                "fail_output_non_finite",
                format!("rule failed: plugin {output}: output refused: invalid response at `suggestions[0].expected_improvement[0].min_reduction`: number out of range at line 1 column 219").as_str()
            ),
            (
                "fail_output_oversized",
                format!("rule failed: plugin {output}: output refused: suggestions[0]: title has 100000 characters, more than 200").as_str()
            ),
            (
                "fail_output_range",
                format!("rule failed: plugin {output}: output refused: suggestions[0]: expected_improvement[0].min_reduction = 1.5 is not in [0, 1)").as_str()
            ),
            (
                "fail_panic",
                format!("rule failed: plugin {panic}: panicked: deliberate panic in fail_panic").as_str()
            ),
        ]
    );
    // The load report's own diagnostics name each refused file and rule.
    let load_diagnostics = report.diagnostics();
    assert_eq!(load_diagnostics.len(), 10);
    assert!(load_diagnostics.iter().all(|d| d.source == "plugin"));
    assert_eq!(
        load_diagnostics[0].message,
        format!(
            "{}: refused: loading it aborted the vetting process (signal 6, SIGABRT)",
            file("libadvisor_plugin_fail_abort.so").display()
        )
    );
    assert_eq!(
        load_diagnostics[7].message,
        format!(
            "{}: refused: built for plugin API 2, expected plugin API 1",
            file("libadvisor_plugin_fail_version.so").display()
        )
    );
    assert_eq!(
        load_diagnostics[9].message,
        format!("{output}: rule `kv_cache` refused: the id clashes with a built-in rule")
    );
}

#[test]
fn a_plugin_loaded_twice_clashes_with_itself_only_by_id() {
    // Two copies (different inodes) of the same plugin: the second one's rule ids clash
    // with the first plugin's, and the message says which plugin holds them.
    let first = tempfile::tempdir().unwrap();
    let files = stage(first.path(), &["advisor-plugin-serving"], Profile::Debug).unwrap();
    std::fs::copy(&files[0], first.path().join("zz-copy.so")).unwrap();
    let mut advisor = OptimizationAdvisor::empty();
    let report = advisor.load_plugins(first.path(), &vetting()).unwrap();
    assert_eq!(report.loaded.len(), 2);
    assert_eq!(
        report.loaded[1].refused_rules,
        [RefusedRule {
            id: "serving_slo".into(),
            reason: format!(
                "the id clashes with a rule of the plugin {}",
                files[0].display()
            )
        }]
    );
}
