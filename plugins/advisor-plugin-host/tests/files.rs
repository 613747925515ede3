//! The checks made before any plugin code runs: permissions, owners, symlinks, non-regular
//! files and the same file under two names. The libraries used are plugins whose loader
//! panics or that load fine, so a refusal for the right reason shows the check came first.

use std::{os::unix::fs::symlink, path::Path};

use advisor_core::OptimizationAdvisor;
use advisor_plugin_host::{PluginRules, RefusedPlugin, Vetting};
use advisor_plugin_testkit::{Profile, set_mode, stage};

const LOADER: &str = "libadvisor_plugin_fail_loader.so";
const SERVING: &str = "libadvisor_plugin_serving.so";

fn vetting() -> Vetting {
    Vetting::in_child(env!("CARGO_BIN_EXE_advisor-plugin-vet"), None::<&str>)
}

fn refused(dir: &Path) -> Vec<(String, String)> {
    let report = OptimizationAdvisor::empty()
        .load_plugins(dir, &vetting())
        .expect("the folder loads");
    report
        .refused
        .into_iter()
        .map(|RefusedPlugin { file, reason }| {
            let name = file
                .file_name()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            (name, reason)
        })
        .collect()
}

#[test]
fn files_writable_by_group_or_others_are_refused_before_loading() {
    let dir = tempfile::tempdir().unwrap();
    stage(dir.path(), &["advisor-plugin-fail-loader"], Profile::Debug).unwrap();
    set_mode(&dir.path().join(LOADER), 0o775).unwrap();
    assert_eq!(
        refused(dir.path()),
        [(
            LOADER.to_owned(),
            "writable by group or others (mode 0775)".to_owned()
        )]
    );
    set_mode(&dir.path().join(LOADER), 0o757).unwrap();
    assert_eq!(
        refused(dir.path())[0].1,
        "writable by group or others (mode 0757)"
    );
    // With safe permissions the same file gets as far as its (panicking) loader.
    set_mode(&dir.path().join(LOADER), 0o755).unwrap();
    assert_eq!(refused(dir.path())[0].1, "the root module loader panicked");
}

#[test]
fn a_folder_writable_by_others_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o777).unwrap();
    let error = OptimizationAdvisor::empty()
        .load_plugins(dir.path(), &vetting())
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "plugin folder {}: writable by group or others (mode 0777)",
            dir.path().display()
        )
    );
    let missing = dir.path().join("missing");
    let error = OptimizationAdvisor::empty()
        .load_plugins(&missing, &vetting())
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "plugin folder {}: No such file or directory (os error 2)",
            missing.display()
        )
    );
}

#[test]
fn files_owned_by_another_user_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    stage(dir.path(), &["advisor-plugin-fail-loader"], Profile::Debug).unwrap();
    let file = dir.path().join(LOADER);
    match std::os::unix::fs::chown(&file, Some(12345), None) {
        Ok(()) => {}
        // Only root may give a file away; CI runs as root.
        Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => {
            eprintln!("skipped: chown needs root");
            return;
        }
        Err(error) => panic!("chown: {error}"),
    }
    assert_eq!(
        refused(dir.path()),
        [(
            LOADER.to_owned(),
            "owned by uid 12345, neither root nor the current user (uid 0)".to_owned()
        )]
    );
}

#[test]
fn symlinks_out_of_the_folder_and_non_regular_files_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    stage(
        outside.path(),
        &["advisor-plugin-fail-loader"],
        Profile::Debug,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    symlink(outside.path().join(LOADER), dir.path().join("a-link.so")).unwrap();
    std::fs::create_dir(dir.path().join("b-folder.so")).unwrap();
    symlink(dir.path().join("nowhere"), dir.path().join("c-dangling.so")).unwrap();
    let target = outside.path().canonicalize().unwrap().join(LOADER);
    assert_eq!(
        refused(dir.path()),
        [
            (
                "a-link.so".to_owned(),
                format!(
                    "a symlink that leads out of the folder (to {})",
                    target.display()
                )
            ),
            (
                "b-folder.so".to_owned(),
                "not a regular file (a folder)".to_owned()
            ),
            (
                "c-dangling.so".to_owned(),
                "a symlink that cannot be resolved: No such file or directory (os error 2)"
                    .to_owned()
            ),
        ]
    );
}

#[test]
fn the_same_file_is_loaded_once_under_any_name() {
    let dir = tempfile::tempdir().unwrap();
    stage(dir.path(), &["advisor-plugin-serving"], Profile::Debug).unwrap();
    let original = dir.path().join(SERVING);
    symlink(&original, dir.path().join("m-symlink.so")).unwrap();
    std::fs::hard_link(&original, dir.path().join("z-hardlink.so")).unwrap();
    let mut advisor = OptimizationAdvisor::empty();
    let report = advisor.load_plugins(dir.path(), &vetting()).unwrap();
    assert_eq!(report.loaded.len(), 1);
    assert_eq!(report.loaded[0].file, original);
    let reasons: Vec<&str> = report.refused.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons.len(), 2);
    for reason in reasons {
        assert!(
            reason.starts_with(&format!("same file as {} (device ", original.display())),
            "{reason}"
        );
        assert!(reason.ends_with("); it is loaded once"), "{reason}");
    }
    assert_eq!(advisor.rules().count(), 1);
}

/// Loads a folder with the serving plugin's vetting, returning the error's text.
fn folder_error(dir: &Path) -> String {
    match OptimizationAdvisor::empty().load_plugins(dir, &vetting()) {
        Ok(report) => panic!("{} loaded: {report:?}", dir.display()),
        Err(error) => error.to_string(),
    }
}

fn loaded_count(dir: &Path) -> usize {
    match OptimizationAdvisor::empty().load_plugins(dir, &vetting()) {
        Ok(report) => {
            assert!(report.refused.is_empty(), "{report:?}");
            report.loaded.len()
        }
        Err(error) => panic!("{error}"),
    }
}

#[test]
fn a_folder_on_the_path_writable_by_group_or_others_is_refused_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let parent = root.path().join("parent");
    let plugins = parent.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    set_mode(&plugins, 0o755).unwrap();
    stage(&plugins, &["advisor-plugin-serving"], Profile::Debug).unwrap();
    for mode in [0o777, 0o775, 0o757] {
        set_mode(&parent, mode).unwrap();
        assert_eq!(
            folder_error(&plugins),
            format!(
                "plugin folder {}: the folder {} on its path is writable by group or others (mode {mode:04o})",
                plugins.display(),
                parent.display()
            )
        );
    }
    // Sticky and owned by root, like /tmp: the current user's folder in it is safe, since
    // nobody else may rename or replace it.
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata(&parent).unwrap().uid() == 0 {
        set_mode(&parent, 0o1777).unwrap();
        assert_eq!(loaded_count(&plugins), 1);
    }
    set_mode(&parent, 0o755).unwrap();
    assert_eq!(loaded_count(&plugins), 1);
}

#[test]
fn a_symlinked_folder_is_accepted_only_when_every_folder_it_resolves_through_passes() {
    let good = tempfile::tempdir().unwrap();
    stage(good.path(), &["advisor-plugin-serving"], Profile::Debug).unwrap();
    let links = tempfile::tempdir().unwrap();

    // A link whose target passes: loaded, and named as the user named it.
    let good_link = links.path().join("good-link");
    symlink(good.path(), &good_link).unwrap();
    let report = OptimizationAdvisor::empty()
        .load_plugins(&good_link, &vetting())
        .unwrap();
    assert_eq!(report.loaded.len(), 1, "{report:?}");
    assert_eq!(report.loaded[0].file, good_link.join(SERVING));

    // A link whose target lies below a folder writable by others: refused, naming it.
    let bad = tempfile::tempdir().unwrap();
    let open = bad.path().join("open");
    let plugins = open.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    set_mode(&plugins, 0o755).unwrap();
    stage(&plugins, &["advisor-plugin-serving"], Profile::Debug).unwrap();
    set_mode(&open, 0o777).unwrap();
    let bad_link = links.path().join("bad-link");
    symlink(&plugins, &bad_link).unwrap();
    assert_eq!(
        folder_error(&bad_link),
        format!(
            "plugin folder {}: the folder {} on its path is writable by group or others (mode 0777)",
            bad_link.display(),
            open.display()
        )
    );

    // A link placed in a folder others can write, even one leading to a trusted folder of
    // system libraries: anyone could have made or retargeted it, so it is not followed.
    for target in [good.path(), Path::new("/usr/lib")] {
        let swapped = open.join("swapped");
        let _ = std::fs::remove_file(&swapped);
        symlink(target, &swapped).unwrap();
        assert_eq!(
            folder_error(&swapped),
            format!(
                "plugin folder {}: the folder {} on its path is writable by group or others (mode 0777)",
                swapped.display(),
                open.display()
            )
        );
    }

    // A link to a folder that is itself writable by others.
    let writable = tempfile::tempdir().unwrap();
    set_mode(writable.path(), 0o777).unwrap();
    let writable_link = links.path().join("writable-link");
    symlink(writable.path(), &writable_link).unwrap();
    assert_eq!(
        folder_error(&writable_link),
        format!(
            "plugin folder {}: resolves to {}, which is writable by group or others (mode 0777)",
            writable_link.display(),
            writable.path().display()
        )
    );
}
