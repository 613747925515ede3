//! `cargo xtask`: maintainer automation, one module per task.
//!
//! - `cargo xtask ci`: the checks CI runs (format, clippy with `-D warnings`, tests).
//! - `cargo xtask codegen`: regenerates `docs/rules.md` and `docs/context.schema.json`.

mod ci;
mod codegen;

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
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\ntasks:\n  ci        format check, clippy -D warnings, tests\n  codegen   regenerate docs/rules.md and docs/context.schema.json"
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
