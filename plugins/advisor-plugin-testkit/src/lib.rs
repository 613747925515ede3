//! Test support for the plugin host and the CLI: builds the repository's plugin crates
//! (`plugins/examples/*`, `plugins/failing/*`) with a nested `cargo build`, once per
//! process, and copies their libraries into test folders.
//!
//! `cargo test --workspace` does not produce `cdylib` files, and a test run alone
//! (`cargo test -p advisor-plugin-host`) would not build them either; the nested build is
//! a no-op when they are current. Cargo releases the build lock before it runs tests, so
//! the nested build shares the workspace's target folder and its compiled dependencies.
//!
//! Some of the plugins built to fail end the process that loads them (their static
//! constructors abort, exit or fault): load a folder holding them only with vetting in a
//! child (`advisor_plugin_host::Vetting::in_child`), never unvetted in a test process.
//!
//! ```no_run
//! use advisor_plugin_testkit::{Profile, stage};
//!
//! let dir = std::env::temp_dir().join("plugins-example");
//! std::fs::create_dir_all(&dir).unwrap();
//! let files = stage(&dir, &["advisor-plugin-serving"], Profile::Debug).unwrap();
//! assert!(files[0].exists());
//! ```

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

/// Which cargo profile to build the plugins with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `dev`, into `target/debug` (tests).
    Debug,
    /// `release`, into `target/release` (benches).
    Release,
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map_or_else(|| manifest.to_path_buf(), Path::to_path_buf)
}

/// The plugin packages in the repository: every folder under `plugins/examples` and
/// `plugins/failing` (folder name = package name), sorted.
pub fn plugin_packages() -> Result<Vec<String>, String> {
    let mut packages = Vec::new();
    for group in ["examples", "failing"] {
        let dir = workspace_root().join("plugins").join(group);
        let entries = fs::read_dir(&dir).map_err(|error| format!("{}: {error}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|error| format!("{}: {error}", dir.display()))?;
            if entry.path().join("Cargo.toml").is_file()
                && let Some(name) = entry.file_name().to_str()
            {
                packages.push(name.to_owned());
            }
        }
    }
    packages.sort();
    Ok(packages)
}

/// The file name of a package's dynamic library on this platform.
pub fn library_file_name(package: &str) -> String {
    format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        package.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    )
}

/// Builds every plugin package (once per process and profile) and returns the folder
/// holding the libraries.
pub fn build(profile: Profile) -> Result<PathBuf, String> {
    static DEBUG: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    static RELEASE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let cell = match profile {
        Profile::Debug => &DEBUG,
        Profile::Release => &RELEASE,
    };
    cell.get_or_init(|| build_now(profile)).clone()
}

fn build_now(profile: Profile) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace_root())
        .args(["build", "--quiet", "--offline"]);
    if profile == Profile::Release {
        command.arg("--release");
    }
    for package in plugin_packages()? {
        command.args(["--package", &package]);
    }
    let output = command
        .output()
        .map_err(|error| format!("starting cargo to build the plugins: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "building the plugins failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_relative() {
                workspace_root().join(dir)
            } else {
                dir
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"));
    Ok(target.join(match profile {
        Profile::Debug => "debug",
        Profile::Release => "release",
    }))
}

/// Builds the plugins and copies the libraries of `packages` into `dir`, readable and
/// executable by all and writable only by the owner. Returns the copies' paths.
pub fn stage(dir: &Path, packages: &[&str], profile: Profile) -> Result<Vec<PathBuf>, String> {
    let built = build(profile)?;
    packages
        .iter()
        .map(|package| {
            let name = library_file_name(package);
            let destination = dir.join(&name);
            fs::copy(built.join(&name), &destination)
                .map_err(|error| format!("copying {name} into {}: {error}", dir.display()))?;
            set_mode(&destination, 0o755)?;
            Ok(destination)
        })
        .collect()
}

/// Sets a file's permission bits (Unix only; elsewhere a no-op).
pub fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|error| format!("{}: {error}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}
