//! The checks made before any plugin code runs: every folder on the path to the plugin
//! folder, the folder, then each candidate file.

use std::{
    collections::{HashMap, VecDeque},
    ffi::OsString,
    fs::{self, Metadata},
    path::{Component, Path, PathBuf},
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
///
/// The folder is resolved once ([`trusted_folder`]); the files are listed and checked in the
/// resolved folder, and named in the report as `dir` joined with their name.
pub(crate) fn scan(dir: &Path) -> Result<Vec<Candidate>, PluginDirError> {
    let dir_error = |problem: String| PluginDirError {
        dir: dir.to_path_buf(),
        problem,
    };
    let real_dir = trusted_folder(dir)?;
    let mut names = Vec::new();
    for entry in fs::read_dir(&real_dir).map_err(|error| dir_error(error.to_string()))? {
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
        let verdict = check_file(&real_dir.join(&name), &real_dir).and_then(|checked| {
            match seen.get(&checked.identity) {
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
            }
        });
        candidates.push(Candidate { file, verdict });
    }
    Ok(candidates)
}

/// Checks one library on its own, as the vetting process does: its folder as
/// [`trusted_folder`] does, then the file.
pub(crate) fn check_single_file(file: &Path) -> Result<CheckedFile, String> {
    let (Some(parent), Some(name)) = (file.parent(), file.file_name()) else {
        return Err("not a file in a folder".to_owned());
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let real_dir = trusted_folder(parent).map_err(|error| error.to_string())?;
    check_file(&real_dir.join(name), &real_dir)
}

/// Resolves the plugin folder once, checking every folder on the way, the way OpenSSH's
/// `StrictModes` checks the path to `authorized_keys`: each folder in which a name is looked
/// up, from the root down and through every symlink followed, must be owned by root or the
/// current user and not writable by group or others, and so must the plugin folder.
///
/// One exception: a folder on the way (never the plugin folder itself) that is writable by
/// others but sticky and owned by root, such as `/tmp`, is accepted when the entry looked up
/// in it belongs to the current user or root, because the sticky bit lets no one else
/// rename, remove or replace that entry.
///
/// So a symlink on the path is followed only where nobody else could have placed or retarget
/// it, and the folder it leads to is checked like any other. What is used afterwards is the
/// resolved path: anyone able to change a folder on it is root or the current user.
pub(crate) fn trusted_folder(dir: &Path) -> Result<PathBuf, PluginDirError> {
    let dir_error = |problem: String| PluginDirError {
        dir: dir.to_path_buf(),
        problem,
    };
    let dir_meta = fs::metadata(dir).map_err(|error| dir_error(error.to_string()))?;
    if !dir_meta.is_dir() {
        return Err(dir_error("not a folder".to_owned()));
    }
    let start = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|error| dir_error(format!("the current folder: {error}")))?
            .join(dir)
    };
    let mut pending: VecDeque<OsString> = VecDeque::new();
    push_front(&mut pending, &start);
    let mut resolved = PathBuf::from("/");
    let mut links_followed = 0;
    while let Some(name) = pending.pop_front() {
        if name == "." {
            continue;
        }
        if name == ".." {
            // `resolved` holds no symlink, so its parent is the real parent.
            resolved.pop();
            continue;
        }
        let entry = resolved.join(&name);
        let entry_meta = fs::symlink_metadata(&entry)
            .map_err(|error| dir_error(format!("{}: {error}", entry.display())))?;
        if let Some(problem) = lookup_problem(&resolved, &entry_meta) {
            return Err(dir_error(format!(
                "the folder {} on its path is {problem}",
                resolved.display()
            )));
        }
        if entry_meta.file_type().is_symlink() {
            links_followed += 1;
            if links_followed > MAX_SYMLINKS {
                return Err(dir_error(format!(
                    "more than {MAX_SYMLINKS} symlinks on its path"
                )));
            }
            let target = fs::read_link(&entry)
                .map_err(|error| dir_error(format!("{}: {error}", entry.display())))?;
            if target.is_absolute() {
                resolved = PathBuf::from("/");
            }
            push_front(&mut pending, &target);
            continue;
        }
        if !entry_meta.is_dir() {
            return Err(dir_error(format!(
                "{} on its path is not a folder ({})",
                entry.display(),
                kind(&entry_meta)
            )));
        }
        resolved = entry;
    }
    let meta = fs::symlink_metadata(&resolved)
        .map_err(|error| dir_error(format!("{}: {error}", resolved.display())))?;
    if let Some(problem) = permission_problem(&meta) {
        return Err(dir_error(if resolved == dir {
            problem
        } else {
            format!("resolves to {}, which is {problem}", resolved.display())
        }));
    }
    Ok(resolved)
}

/// How many symlinks resolving the plugin folder may follow (Linux's own limit).
const MAX_SYMLINKS: usize = 40;

/// Puts a path's components in front of those still to resolve.
fn push_front(pending: &mut VecDeque<OsString>, path: &Path) {
    let names: Vec<OsString> = path
        .components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => None,
        })
        .collect();
    for name in names.into_iter().rev() {
        pending.push_front(name);
    }
}

/// Why looking up an entry in `folder` on the plugin folder's path cannot be trusted:
/// someone other than root and the current user could have put the entry there.
#[cfg(unix)]
fn lookup_problem(folder: &Path, entry: &Metadata) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = match fs::symlink_metadata(folder) {
        Ok(meta) => meta,
        Err(error) => return Some(format!("unreadable: {error}")),
    };
    let problem = permission_problem(&meta)?;
    let sticky_root = meta.mode() & 0o1000 != 0 && meta.uid() == 0;
    if sticky_root && owner_problem(entry).is_none() {
        None
    } else {
        Some(problem)
    }
}

#[cfg(not(unix))]
fn lookup_problem(_: &Path, _: &Metadata) -> Option<String> {
    None
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
    owner_problem(meta)
}

/// Why a file or folder's owner may not be trusted: neither root nor the current user.
#[cfg(unix)]
fn owner_problem(meta: &Metadata) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
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
