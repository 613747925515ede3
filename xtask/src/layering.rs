//! A hygiene test: the crate layering of `docs/architecture.md`, checked against
//! `cargo metadata`, so a new dependency edge that breaks it fails CI.

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, process::Command};

    /// Each workspace library and the workspace crates it may depend on (normal dependencies).
    const ALLOWED: &[(&str, &[&str])] = &[
        ("advisor-core", &[]),
        // The table without probing code: nothing but core, whatever the features.
        ("advisor-hw-table", &["advisor-core"]),
        ("advisor-hw", &["advisor-core", "advisor-hw-table"]),
        ("advisor-graph", &["advisor-core"]),
        // The trace importer, a peer of the model importers: file in, facts out.
        ("advisor-trace", &["advisor-core"]),
        ("advisor-profile", &["advisor-core"]),
        // The workload model is pure: core only (GPU figures arrive in the resolved facts).
        ("advisor-model", &["advisor-core"]),
        // The rules reach no probing code: the table-only crate and the model, never
        // `advisor-hw`.
        (
            "advisor-rules-builtin",
            &["advisor-core", "advisor-hw-table", "advisor-model"],
        ),
        ("advisor-report", &["advisor-core"]),
        // Run comparison and prediction checks: pure, on core's types only.
        ("advisor-compare", &["advisor-core"]),
        // The facade: every library crate above, nothing of the binary's or the plugins'.
        (
            "advisor",
            &[
                "advisor-core",
                "advisor-hw",
                "advisor-graph",
                "advisor-trace",
                "advisor-model",
                "advisor-profile",
                "advisor-rules-builtin",
                "advisor-report",
                "advisor-compare",
            ],
        ),
        ("advisor-plugin-api", &["advisor-core"]),
        (
            "advisor-plugin-host",
            &["advisor-core", "advisor-plugin-api"],
        ),
        ("xtask", &[]),
    ];

    #[test]
    fn layering() {
        let output = Command::new(env!("CARGO"))
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .current_dir(crate::root())
            .output()
            .expect("cargo metadata runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let metadata: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
        let packages = metadata["packages"].as_array().expect("packages");
        let ours: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
        let mut edges: BTreeMap<&str, Vec<(&str, bool)>> = BTreeMap::new();
        for package in packages {
            let name = package["name"].as_str().unwrap_or_default();
            for dependency in package["dependencies"].as_array().into_iter().flatten() {
                let target = dependency["name"].as_str().unwrap_or_default();
                let normal = dependency["kind"].is_null();
                if normal && ours.contains(&target) {
                    let default_features =
                        dependency["uses_default_features"].as_bool() == Some(true);
                    edges
                        .entry(name)
                        .or_default()
                        .push((target, default_features));
                }
            }
        }
        for (crate_name, allowed) in ALLOWED {
            for (target, _) in edges.get(crate_name).into_iter().flatten() {
                assert!(
                    allowed.contains(target),
                    "`{crate_name}` depends on `{target}`, which docs/architecture.md does not allow"
                );
            }
        }
        for (crate_name, _) in ALLOWED {
            assert!(
                ours.contains(crate_name),
                "`{crate_name}` is in the layering but not a workspace member"
            );
        }
        // The Kineto trace reader lives in advisor-trace alone: advisor-profile (our own
        // profiler) has no trace module and none of the reader's decoding dependencies.
        let profile = packages
            .iter()
            .find(|package| package["name"] == "advisor-profile")
            .expect("advisor-profile is a workspace member");
        for dependency in profile["dependencies"].as_array().into_iter().flatten() {
            let name = dependency["name"].as_str().unwrap_or_default();
            assert!(
                !["flate2", "memchr", "foldhash", "advisor-trace"].contains(&name),
                "advisor-profile depends on `{name}`: trace reading belongs in advisor-trace"
            );
        }
        for stale in ["src/trace", "src/trace.rs"] {
            assert!(
                !crate::root().join("advisor-profile").join(stale).exists(),
                "advisor-profile/{stale} exists: trace reading belongs in advisor-trace"
            );
        }
        // advisor-hw-table has no probing code to switch on: no feature but `schema` (JSON
        // Schema derives for the CLI's published schemas), and no optional dependency but
        // schemars, which that feature pulls in.
        let table = packages
            .iter()
            .find(|package| package["name"] == "advisor-hw-table")
            .expect("advisor-hw-table is a workspace member");
        assert!(
            table["features"]
                .as_object()
                .is_none_or(|features| features.keys().all(|name| name == "schema")),
            "advisor-hw-table must have no features: {}",
            table["features"]
        );
        for dependency in table["dependencies"].as_array().into_iter().flatten() {
            let normal = dependency["kind"].is_null();
            assert!(
                !(normal && dependency["optional"] == true && dependency["name"] != "schemars"),
                "advisor-hw-table must have no optional dependencies: {}",
                dependency["name"]
            );
        }
    }
}
