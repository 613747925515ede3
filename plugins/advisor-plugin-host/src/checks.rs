//! The checks made before any plugin code runs: the folder, then each candidate file.

use std::{
    collections::HashMap,
    fs::{self, Metadata},
    path::{Path, PathBuf},
};

use crate::report::PluginDirError;

/// A file in the folder that looks like a plugin, with the verdict of the checks.
pub(crate) struct Candidate {
    /// The path in the folder, as listed.
    pub file: PathBuf,
    /// The checked file to load (a symlink resolved), or why it is refused.
    pub verdict: Result<CheckedFile, String>,
}

/// A file that passed the checks.
pub(crate) struct CheckedFile {
    /// The real path (symlinks resolved).
    pub path: PathBuf,
    /// Device and inode, to make sure the file loaded is the file checked.
    pub identity: (u64, u64),
}

/// Lists the plugin libraries in a folder in file-name order and checks each.
pub(crate) fn scan(dir: &Path) -> Result<Vec<Candidate>, PluginDirError> {
    let dir_error = |problem: String| PluginDirError {
        dir: dir.to_path_buf(),
        problem,
    };
    let dir_meta = fs::metadata(dir).map_err(|error| dir_error(error.to_string()))?;
    if !dir_meta.is_dir() {
        return Err(dir_error("not a folder".to_owned()));
    }
    permission_problem(&dir_meta).map_or(Ok(()), |problem| Err(dir_error(problem)))?;
    let real_dir = fs::canonicalize(dir).map_err(|error| dir_error(error.to_string()))?;
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|error| dir_error(error.to_string()))? {
        let entry = entry.map_err(|error| dir_error(error.to_string()))?;
        let name = entry.file_name();
        if name
            .to_str()
            .is_some_and(|name| name.ends_with(std::env::consts::DLL_SUFFIX))
        {
            names.push(name);
        }
    }
    names.sort();
    let mut seen: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut candidates = Vec::with_capacity(names.len());
    for name in names {
        let file = dir.join(&name);
        let verdict =
            check_file(&file, &real_dir).and_then(|checked| match seen.get(&checked.identity) {
                Some(first) => Err(format!(
                    "same file as {} (device {}, inode {}); it is loaded once",
                    first.display(),
                    checked.identity.0,
                    checked.identity.1
                )),
                None => {
                    seen.insert(checked.identity, file.clone());
                    Ok(checked)
                }
            });
        candidates.push(Candidate { file, verdict });
    }
    Ok(candidates)
}

fn check_file(file: &Path, real_dir: &Path) -> Result<CheckedFile, String> {
    let link_meta = fs::symlink_metadata(file).map_err(|error| error.to_string())?;
    let (path, meta) = if link_meta.file_type().is_symlink() {
        let target = fs::canonicalize(file)
            .map_err(|error| format!("a symlink that cannot be resolved: {error}"))?;
        if !target.starts_with(real_dir) {
            return Err(format!(
                "a symlink that leads out of the folder (to {})",
                target.display()
            ));
        }
        let meta = fs::metadata(&target).map_err(|error| error.to_string())?;
        (target, meta)
    } else {
        (file.to_path_buf(), link_meta)
    };
    if !meta.is_file() {
        return Err(format!("not a regular file ({})", kind(&meta)));
    }
    if let Some(problem) = permission_problem(&meta) {
        return Err(problem);
    }
    Ok(CheckedFile {
        path,
        identity: identity(&meta),
    })
}

fn kind(meta: &Metadata) -> &'static str {
    let file_type = meta.file_type();
    if file_type.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a named pipe";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return "a device";
        }
    }
    "not a file"
}

/// Device and inode of a file.
#[cfg(unix)]
pub(crate) fn identity(meta: &Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// Without inodes, the length and modification time stand in.
#[cfg(not(unix))]
pub(crate) fn identity(meta: &Metadata) -> (u64, u64) {
    let modified = meta
        .modified()
        .ok()
        .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_secs());
    (meta.len(), modified)
}

/// Why a file or folder may not be trusted: writable by group or others, or owned by a
/// user who is neither root nor the current user.
#[cfg(unix)]
fn permission_problem(meta: &Metadata) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Some(format!("writable by group or others (mode {mode:04o})"));
    }
    let owner = meta.uid();
    let me = rustix::process::geteuid().as_raw();
    if owner != 0 && owner != me {
        return Some(format!(
            "owned by uid {owner}, neither root nor the current user (uid {me})"
        ));
    }
    None
}

#[cfg(not(unix))]
fn permission_problem(_: &Metadata) -> Option<String> {
    None
}
