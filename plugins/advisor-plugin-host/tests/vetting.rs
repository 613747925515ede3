//! The vetting process: what the host makes of a child that reports, fails to start, exits
//! early, or never ends, and the library API a host's own vetting binary uses.

use std::{path::Path, time::Duration};

use advisor_core::OptimizationAdvisor;
use advisor_plugin_host::{PluginReport, PluginRules, VetReport, Vetting, vet_in_this_process};
use advisor_plugin_testkit::{Profile, stage};

const SERVING: &str = "libadvisor_plugin_serving.so";

fn load(dir: &Path, vetting: &Vetting) -> PluginReport {
    OptimizationAdvisor::empty()
        .load_plugins(dir, vetting)
        .expect("the folder loads")
}

fn only_reason(report: &PluginReport) -> &str {
    assert!(report.loaded.is_empty(), "{report:?}");
    assert_eq!(report.refused.len(), 1, "{report:?}");
    &report.refused[0].reason
}

#[test]
fn a_good_plugin_is_vetted_in_the_child_and_then_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let files = stage(dir.path(), &["advisor-plugin-serving"], Profile::Debug).unwrap();
    // What the vetting binary does, here in the test process.
    let report = vet_in_this_process(&files[0]);
    assert_eq!(
        report,
        VetReport::Loads {
            name: "advisor-plugin-serving".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            rules: vec!["serving_slo".into()],
        }
    );
    // The line survives whatever a library printed before it.
    let output = format!("noise from a constructor\n{}\n", report.to_line());
    assert_eq!(VetReport::from_output(&output), Some(report));
    assert_eq!(VetReport::from_output("{\"outcome\":\"loads\"}\n"), None);

    let vetting = Vetting::in_child(env!("CARGO_BIN_EXE_advisor-plugin-vet"), None::<&str>);
    assert!(vetting.is_vetted());
    assert_eq!(vetting.time_limit(), Duration::from_secs(10));
    let loaded = load(dir.path(), &vetting);
    assert_eq!(loaded.loaded.len(), 1, "{loaded:?}");
    assert_eq!(loaded.loaded[0].file, dir.path().join(SERVING));
    assert_eq!(loaded.loaded[0].rules, ["serving_slo"]);
    // Opting out loads the same folder in this process.
    assert_eq!(load(dir.path(), &Vetting::unvetted()).loaded.len(), 1);
}

#[test]
fn a_refusal_found_by_the_child_is_the_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let text = "a text file named like a plugin library, which it is not.\n".repeat(4);
    std::fs::write(dir.path().join("notes.so"), text).unwrap();
    let vetting = Vetting::in_child(env!("CARGO_BIN_EXE_advisor-plugin-vet"), None::<&str>);
    let report = load(dir.path(), &vetting);
    assert_eq!(
        only_reason(&report),
        format!(
            "not a loadable library ({}: invalid ELF header)",
            dir.path().join("notes.so").display()
        )
    );
}

#[test]
fn a_child_that_cannot_start_exits_early_or_hangs_refuses_the_library() {
    let dir = tempfile::tempdir().unwrap();
    stage(dir.path(), &["advisor-plugin-serving"], Profile::Debug).unwrap();
    let missing = dir.path().join("no-such-vetting-binary");
    assert_eq!(
        only_reason(&load(
            dir.path(),
            &Vetting::in_child(&missing, None::<&str>)
        )),
        format!(
            "it could not be vetted: starting {} failed: No such file or directory (os error 2)",
            missing.display()
        )
    );
    // A command that prints something else and exits 0, or exits 1.
    assert_eq!(
        only_reason(&load(
            dir.path(),
            &Vetting::in_child("/bin/echo", ["hello"])
        )),
        "the vetting process exited with status 0 before reporting"
    );
    assert_eq!(
        only_reason(&load(
            dir.path(),
            &Vetting::in_child("/bin/sh", ["-c", "exit 3"])
        )),
        "the vetting process exited with status 3 before reporting"
    );
    // One that never ends is killed at the time limit, with what it started.
    let hanging = Vetting::in_child("/bin/sh", ["-c", "sleep 60 & sleep 60"])
        .with_time_limit(Duration::from_millis(300));
    let started = std::time::Instant::now();
    assert_eq!(
        only_reason(&load(dir.path(), &hanging)),
        "loading it did not finish within 300 ms; the vetting process was killed"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // One that reports and then crashes.
    let line = VetReport::Loads {
        name: "x".into(),
        version: "1".into(),
        rules: Vec::new(),
    }
    .to_line();
    let script = format!("echo '{line}'; kill -SEGV $$");
    assert_eq!(
        only_reason(&load(
            dir.path(),
            &Vetting::in_child("/bin/sh", ["-c", &script])
        )),
        "loading it crashed the vetting process (signal 11, SIGSEGV) after it reported"
    );
}
