//! `cargo xtask ci`: the same checks as `.ci/run`, without the system setup.

pub(crate) fn run() -> anyhow::Result<()> {
    crate::run("cargo", &["fmt", "--all", "--", "--check"])?;
    crate::run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    crate::run("cargo", &["test", "--workspace"])?;
    Ok(())
}
