//! `cargo xtask calibrate [--hardware detect|TARGET|FILE]`: for every recorded pair in
//! `testdata/pairs`, the advisor's prediction for the before run next to the change that was
//! measured, as a table. Runs the built `advisor` binary (`analyze`, then `verify`), so it
//! checks exactly what users get; xtask depends on none of the advisor's crates.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};
use serde_json::Value;

/// A prediction is calibrated when the measurement lies within this share of the nearest end
/// of its range (issue 12's acceptance bar).
const TOLERANCE: f64 = 0.25;

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let root = crate::root();
    let pairs = root.join("testdata/pairs");
    let mut hardware = pairs.join("hardware.json").display().to_string();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--hardware" => {
                hardware = rest.next().context("--hardware needs a value")?.clone();
            }
            other => bail!("calibrate: unknown argument `{other}`"),
        }
    }
    crate::run("cargo", &["build", "-p", "advisor-cli", "--bin", "advisor"])?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let advisor = target.join("debug").join("advisor");
    let measured_path = pairs.join("measured.json");
    let measured: Value = serde_json::from_str(
        &std::fs::read_to_string(&measured_path)
            .with_context(|| format!("reading {}", measured_path.display()))?,
    )
    .with_context(|| format!("parsing {}", measured_path.display()))?;
    let scratch = target.join("calibrate");
    std::fs::create_dir_all(&scratch)?;
    println!(
        "machine: {}\nhardware: {hardware}\n",
        measured["machine"]["cpu"].as_str().unwrap_or("unknown")
    );
    println!(
        "| pair | suggestion | metric | predicted | measured | off by | within {:.0} % |",
        TOLERANCE * 100.0
    );
    println!("|---|---|---|---:|---:|---:|---|");
    let mut outside = 0;
    for pair in measured["pairs"].as_array().into_iter().flatten() {
        let id = pair["id"].as_str().context("a pair without an id")?;
        let file = |key: &str| -> anyhow::Result<String> {
            let name = pair[key]["context"]
                .as_str()
                .with_context(|| format!("{id}: no {key}.context"))?;
            Ok(pairs.join(name).display().to_string())
        };
        let model = pairs.join(pair["model"].as_str().context("a pair without a model")?);
        let report = scratch.join(format!("{id}.report.json"));
        let (before, after) = (file("before")?, file("after")?);
        advisor_ok(
            &advisor,
            &[
                "analyze",
                "--model",
                &model.display().to_string(),
                "--context",
                &before,
                "--hardware",
                &hardware,
                "--format",
                "json",
                "--output",
                &report.display().to_string(),
            ],
        )?;
        let verification: Value = serde_json::from_str(&advisor_ok(
            &advisor,
            &[
                "verify",
                &report.display().to_string(),
                "--before",
                &before,
                "--after",
                &after,
                "--format",
                "json",
            ],
        )?)?;
        let checks = verification["checks"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let measurable: Vec<&Value> = checks
            .iter()
            .filter(|c| c["measured"].is_number())
            .collect();
        if measurable.is_empty() {
            // No suggestion was applied: the measured change per sample, for the record.
            let per_sample = |side: &str| {
                let mean = pair[side]["latency"]["mean_ms"]
                    .as_f64()
                    .unwrap_or(f64::NAN);
                let batch = pair[side]["config"]["batch_size"]
                    .as_str()
                    .and_then(|b| b.parse::<f64>().ok())
                    .unwrap_or(1.0);
                mean / batch
            };
            println!(
                "| {id} | none applied (expected `{}`) | throughput | — | {:.1} % | — | no prediction |",
                pair["suggestion"].as_str().unwrap_or("?"),
                (1.0 - per_sample("after") / per_sample("before")) * 100.0
            );
            continue;
        }
        for check in measurable {
            let number = |key: &str| check[key].as_f64().unwrap_or(f64::NAN);
            let relative = number("relative_error");
            let ok = relative.abs() <= TOLERANCE;
            if !ok {
                outside += 1;
            }
            println!(
                "| {id} | {} | {} | {:.1}–{:.1} % | {:.1} % | {:+.1} pts ({:+.0} %) | {} |",
                check["suggestion"].as_str().unwrap_or("?"),
                check["metric"].as_str().unwrap_or("?"),
                number("predicted_min") * 100.0,
                number("predicted_max") * 100.0,
                number("measured") * 100.0,
                number("off_by") * 100.0,
                relative * 100.0,
                if ok { "yes" } else { "**no**" }
            );
        }
    }
    println!(
        "\nReductions are 1 − after / before of the measured mean latency (throughput: per \
         sample). {outside} prediction(s) off by more than {:.0} % of the nearest end of their range.",
        TOLERANCE * 100.0
    );
    Ok(())
}

/// Runs the advisor and returns its standard output; its standard error on failure.
fn advisor_ok(advisor: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(advisor)
        .args(args)
        .output()
        .with_context(|| format!("running {}", advisor.display()))?;
    if !output.status.success() {
        bail!(
            "advisor {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
