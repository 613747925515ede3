//! Reading input files with errors that name the file and the problem.

use std::{fs, path::Path};

use crate::input_error;

/// Inputs larger than this are refused before reading: context and config files are
/// kilobytes to megabytes; a multi-gigabyte one is a mistake (a weights file, say).
pub(crate) const MAX_INPUT_BYTES: u64 = 256 << 20;

/// Reads a whole input file, refusing directories, special files and oversized files.
pub(crate) fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let shown = path.display();
    let metadata =
        fs::metadata(path).map_err(|e| input_error(format!("{shown}: {}", io_reason(&e))))?;
    if metadata.is_dir() {
        return Err(input_error(format!(
            "{shown}: is a directory, expected a file"
        )));
    }
    if !metadata.is_file() {
        return Err(input_error(format!("{shown}: not a regular file")));
    }
    if metadata.len() > MAX_INPUT_BYTES {
        return Err(input_error(format!(
            "{shown}: {} bytes is larger than the {} MiB limit for this input",
            metadata.len(),
            MAX_INPUT_BYTES >> 20
        )));
    }
    let bytes = fs::read(path).map_err(|e| input_error(format!("{shown}: {}", io_reason(&e))))?;
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

fn io_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => error.to_string(),
    }
}
