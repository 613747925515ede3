//! `cargo xtask build-plugins [--out DIR] [--debug] [--failing]`: builds the repository's
//! plugins and copies their libraries into one folder (default `target/plugins`), ready for
//! `advisor analyze --plugins DIR` and `advisor plugins DIR`.
//!
//! By default it builds the example plugins (`plugins/examples/*`) in release mode. With
//! `--failing` it adds the plugins built to fail (`plugins/failing/*`) and a text file named
//! `not-a-library.so`, to see every refusal in `advisor plugins`.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};

use crate::root;

/// Runs the task with the arguments after `build-plugins`.
pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let mut out = root().join("target").join("plugins");
    let mut release = true;
    let mut failing = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => match args.next() {
                Some(dir) => out = PathBuf::from(dir),
                None => bail!("--out needs a folder"),
            },
            "--debug" => release = false,
            "--failing" => failing = true,
            other => bail!("build-plugins: unknown argument `{other}`"),
        }
    }
    let mut groups = vec!["examples"];
    if failing {
        groups.push("failing");
    }
    let mut packages = Vec::new();
    for group in groups {
        packages.extend(packages_in(&root().join("plugins").join(group))?);
    }
    let mut cargo_args = vec!["build"];
    if release {
        cargo_args.push("--release");
    }
    for package in &packages {
        cargo_args.extend(["--package", package.as_str()]);
    }
    crate::run("cargo", &cargo_args)?;
    let built = root()
        .join("target")
        .join(if release { "release" } else { "debug" });
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    for package in &packages {
        let name = format!(
            "{}{}{}",
            std::env::consts::DLL_PREFIX,
            package.replace('-', "_"),
            std::env::consts::DLL_SUFFIX
        );
        let destination = out.join(&name);
        fs::copy(built.join(&name), &destination)
            .with_context(|| format!("copying {name} into {}", out.display()))?;
        owner_writable_only(&destination)?;
        eprintln!("{}", destination.display());
    }
    if failing {
        let text = out.join(format!("not-a-library{}", std::env::consts::DLL_SUFFIX));
        fs::write(
            &text,
            "This text file is named like a plugin library to show how the advisor refuses it.\n",
        )
        .with_context(|| format!("writing {}", text.display()))?;
        owner_writable_only(&text)?;
    }
    // The loader refuses a folder writable by group or others.
    owner_writable_only(&out)?;
    Ok(())
}

/// Folder names under `dir` that hold a `Cargo.toml` (folder name = package name), sorted.
fn packages_in(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut packages = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        if entry.path().join("Cargo.toml").is_file()
            && let Some(name) = entry.file_name().to_str()
        {
            packages.push(name.to_owned());
        }
    }
    packages.sort();
    Ok(packages)
}

fn owner_writable_only(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut permissions = fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .permissions();
        permissions.set_mode(permissions.mode() & !0o022);
        fs::set_permissions(path, permissions)
            .with_context(|| format!("setting the permissions of {}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
