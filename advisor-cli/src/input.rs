//! Reading input files and writing the output file, with errors that name the file and the
//! problem.
//!
//! Only regular files are read, and a path is checked before it is opened: opening a FIFO
//! blocks until something writes to it, and reading a device may never end. For the same
//! reason the output is never a FIFO, a socket or a block device.

use std::{
    fs::{self, File, Metadata},
    io::Read,
    path::Path,
};

use crate::input_error;

/// Inputs larger than this are refused before reading: context and config files are
/// kilobytes to megabytes; a multi-gigabyte one is a mistake (a weights file, say).
pub(crate) const MAX_INPUT_BYTES: u64 = 256 << 20;

/// Reads a whole input file, refusing directories, special files and oversized files.
pub(crate) fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let shown = path.display();
    let (file, metadata) = open_regular(path)?;
    if metadata.len() > MAX_INPUT_BYTES {
        return Err(input_error(format!(
            "{shown}: {} bytes is larger than the {} MiB limit for this input",
            metadata.len(),
            MAX_INPUT_BYTES >> 20
        )));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    // At most the limit, should the file grow while it is read.
    file.take(MAX_INPUT_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| input_error(format!("{shown}: {}", io_reason(&e))))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(input_error(format!("{shown}: the file is empty")));
    }
    Ok(bytes)
}

/// Reads a UTF-8 text file.
pub(crate) fn read_text(path: &Path) -> anyhow::Result<String> {
    let bytes = read_file(path)?;
    String::from_utf8(bytes).map_err(|e| {
        input_error(format!(
            "{}: not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}

/// The metadata of an input that must be a regular file: a missing file, a directory, a FIFO,
/// a socket or a device is an input error naming the path.
pub(crate) fn regular_file_metadata(path: &Path) -> anyhow::Result<Metadata> {
    let shown = path.display();
    let metadata =
        fs::metadata(path).map_err(|e| input_error(format!("{shown}: {}", io_reason(&e))))?;
    if metadata.is_dir() {
        return Err(input_error(format!(
            "{shown}: is a directory, expected a file"
        )));
    }
    if !metadata.is_file() {
        return Err(input_error(format!(
            "{shown}: not a regular file ({})",
            special_kind(&metadata)
        )));
    }
    Ok(metadata)
}

/// Opens an input once its metadata says it is a regular file, and checks the opened file
/// again (the path may have been replaced in between).
fn open_regular(path: &Path) -> anyhow::Result<(File, Metadata)> {
    let shown = path.display();
    regular_file_metadata(path)?;
    let file = File::open(path).map_err(|e| input_error(format!("{shown}: {}", io_reason(&e))))?;
    let metadata = file
        .metadata()
        .map_err(|e| input_error(format!("{shown}: {}", io_reason(&e))))?;
    if !metadata.is_file() {
        return Err(input_error(format!(
            "{shown}: not a regular file ({})",
            special_kind(&metadata)
        )));
    }
    Ok((file, metadata))
}

/// Checks that `path` can take the output without blocking: a new file, a regular file, or a
/// character device such as `/dev/null` or a terminal. A FIFO (which would wait for a reader),
/// a socket, a block device or a directory is an input error naming the path.
pub(crate) fn check_output_path(path: &Path) -> anyhow::Result<()> {
    let shown = path.display();
    let Ok(metadata) = fs::metadata(path) else {
        // Not there yet (or not reachable): writing creates it, or says why it cannot.
        return Ok(());
    };
    if metadata.is_dir() {
        return Err(input_error(format!(
            "{shown}: is a directory, expected a file for the output"
        )));
    }
    if metadata.is_file() || is_char_device(&metadata) {
        return Ok(());
    }
    Err(input_error(format!(
        "{shown}: not a regular file ({}); to pipe the report, write it to standard output",
        special_kind(&metadata)
    )))
}

/// Writes the output to `path` after [`check_output_path`]; a failure to write names the path.
pub(crate) fn write_output(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    check_output_path(path)?;
    fs::write(path, bytes)
        .map_err(|e| anyhow::anyhow!("writing the report to {}: {}", path.display(), e))
}

#[cfg(unix)]
fn is_char_device(metadata: &Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    metadata.file_type().is_char_device()
}

#[cfg(not(unix))]
fn is_char_device(_: &Metadata) -> bool {
    false
}

/// What a path that is neither a regular file nor a directory names.
#[cfg(unix)]
fn special_kind(metadata: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let kind = metadata.file_type();
    if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_kind(metadata: &Metadata) -> &'static str {
    if metadata.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

fn io_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => error.to_string(),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .expect("mkfifo runs");
        assert!(status.success());
    }

    #[test]
    fn a_fifo_is_neither_read_nor_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("m.json");
        mkfifo(&fifo);
        let shown = fifo.display();
        for error in [
            read_text(&fifo).map(|_| ()).unwrap_err(),
            write_output(&fifo, b"report").unwrap_err(),
        ] {
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("{shown}: not a regular file (a FIFO)")),
                "{error}"
            );
            assert!(error.downcast_ref::<crate::InputError>().is_some());
        }
        // A new file, a regular file and /dev/null take the output.
        let report = dir.path().join("report.md");
        write_output(&report, b"one").expect("writes a new file");
        write_output(&report, b"two").expect("replaces a file");
        assert_eq!(fs::read(&report).expect("reads"), b"two");
        write_output(Path::new("/dev/null"), b"gone").expect("writes to /dev/null");
        let error = write_output(dir.path(), b"x").unwrap_err();
        assert!(error.to_string().contains("is a directory"), "{error}");
    }
}
