//! Running the `advisor` binary from the CLI's integration tests.

use std::process::{Command, Output};

/// Runs `advisor` with `args`.
pub fn advisor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_advisor"))
        .args(args)
        .output()
        .expect("advisor runs")
}

/// Runs `advisor` and expects success; returns its standard output.
pub fn ok(args: &[&str]) -> String {
    let output = advisor(args);
    assert!(
        output.status.success(),
        "advisor {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
