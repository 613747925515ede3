//! `cargo xtask`: maintainer automation, one module per task.
//!
//! - `cargo xtask ci`: the checks CI runs (format, clippy with `-D warnings`, tests).
//! - `cargo xtask codegen`: regenerates `docs/rules.md` and `docs/context.schema.json`.
//! - `cargo xtask gen-trace OUT [--size-mb N]`: writes a large trace (500 MB by default) from
//!   the V100 trace in `testdata/traces`, for the trace-reading benchmark.
//! - `cargo xtask bench`: every criterion bench of the workspace, then `bench-trace`.
//! - `cargo xtask bench-trace [--repeat N] [--sizes A,B,..] [--ranks N] [FILE..]`: reads and
//!   summarizes traces of 50 to 500 MB and 8 ranks at once; MB/s, seconds and peak RSS.
//! - `cargo xtask build-plugins [--out DIR]`: builds the plugins into one folder.
//! - `cargo xtask calibrate [--hardware H]`: the advisor's predictions for the recorded
//!   pairs in `testdata/pairs` against what was measured.

mod bench;
mod build_plugins;
mod calibrate;
mod ci;
mod codegen;
mod gen_trace;
mod layering;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    let task = std::env::args().nth(1);
    match task.as_deref() {
        Some("ci") => ci::run(),
        Some("codegen") => codegen::run(),
        Some("gen-trace") => {
            let rest: Vec<String> = std::env::args().skip(2).collect();
            gen_trace::run(&rest)
        }
        Some("bench") => bench::run(),
        Some("bench-trace") => {
            let rest: Vec<String> = std::env::args().skip(2).collect();
            gen_trace::bench(&rest)
        }
        Some("calibrate") => {
            let rest: Vec<String> = std::env::args().skip(2).collect();
            calibrate::run(&rest)
        }
        Some("build-plugins") => {
            let rest: Vec<String> = std::env::args().skip(2).collect();
            build_plugins::run(&rest)
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\ntasks:\n  ci        format check, clippy -D warnings, tests\n  codegen   regenerate docs/rules.md and docs/context.schema.json\n  bench     every criterion bench, then bench-trace\n  build-plugins [--out DIR] [--debug] [--failing]\n            build the plugins into a folder (default target/plugins)\n  gen-trace OUT [--size-mb N] [--from TRACE]\n            write a large trace for the reading benchmark\n  bench-trace [--repeat N] [--sizes 50,100,250,500] [--ranks 8] [FILE..]\n            read and summarize traces of 50-500 MB and 8 ranks: MB/s, seconds, peak memory\n  calibrate [--hardware detect|TARGET|FILE]\n            predicted vs measured for the recorded pairs in testdata/pairs"
            );
            bail!("unknown or missing task")
        }
    }
}

/// The workspace root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs a command in the workspace root, failing if it fails.
pub(crate) fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(root())
        .status()
        .with_context(|| format!("starting {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed with {status}", args.join(" "));
    }
    Ok(())
}
