//! The path-based entry point [`import_path`]: formats that need the files beside the model
//! (safetensors shards and `config.json`, ONNX external data and config).

use std::{
    collections::BTreeMap,
    fs::File,
    io::Read,
    path::{Component, Path},
};

use advisor_core::ModelGraph;
use bytes::Bytes;

use crate::{
    error::{ImportError, ImportErrorKind, ImportWarning},
    facts,
    format::{self, Imported, ModelFormat},
    onnx, safetensors,
};

/// Largest file read whole (ONNX protobufs are limited to 2 GiB; JSON is far smaller).
const MAX_WHOLE_FILE_BYTES: u64 = 2 << 30;
/// Largest `config.json` or index read beside a model.
const MAX_COMPANION_BYTES: u64 = 64 << 20;

/// Imports a model file of any supported format, detected by content, with the files beside
/// it.
///
/// - ONNX (`.onnx`): external-data locations must stay inside the model's folder (absolute
///   paths, `..` and symlinks leading out are refused); a `<stem>.config.json` or
///   `config.json` beside it fills facts the graph does not state (heads, sequence length).
/// - safetensors: only the header is read, never the weights; a `config.json` beside it
///   gives the architecture.
/// - `model.safetensors.index.json`: every shard's header is read and the tensors combined.
/// - Hugging Face `config.json` and the advisor's graph JSON, as [`import_bytes`](crate::import_bytes).
///
/// A file whose extension names one format (`.onnx`, `.safetensors`, `.json`) but whose
/// content is another is refused rather than guessed at.
///
/// # Errors
///
/// An unreadable or oversized file, a format mismatch, and everything the format's importer
/// rejects, each naming the file.
pub fn import_path(path: &Path) -> Result<Imported, ImportError> {
    let source = path.display().to_string();
    let io_error = |message: String| ImportError::new(&source, ImportErrorKind::Io { message });
    let (mut file, file_len) = open_regular(path).map_err(io_error)?;
    let mut prefix = [0u8; 9];
    let prefix_len = read_prefix(&mut file, &mut prefix).map_err(|e| io_error(io_reason(&e)))?;
    let folder = path.parent().map(|parent| {
        if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        }
    });
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);

    if format::looks_like_safetensors(&prefix[..prefix_len], file_len) {
        expect_extension(extension.as_deref(), ModelFormat::Safetensors, &source)?;
        let header_len = safetensors::header_length(&prefix, file_len, &source)?;
        let entries = read_safetensors_header(&mut file, header_len, file_len, &source)?;
        let (mut graph, lookup) = safetensors::graph_from_entries(&entries);
        let mut warnings = Vec::new();
        let lookup = with_config(&mut graph, lookup, folder, &[], &mut warnings);
        facts::complete(&mut graph, lookup);
        return Ok(Imported::new(graph, ModelFormat::Safetensors, warnings));
    }
    if extension.as_deref() == Some("safetensors") {
        // Not a well-formed safetensors start: say what is wrong with the header length.
        safetensors::header_length(&prefix[..prefix_len], file_len, &source)?;
        return Err(ImportError::new(
            &source,
            ImportErrorKind::Safetensors {
                message: "the header does not start with `{` after its 8-byte length".to_owned(),
            },
        ));
    }
    if file_len > MAX_WHOLE_FILE_BYTES {
        return Err(io_error(format!(
            "{file_len} bytes is larger than the {} GiB limit for a model file read whole",
            MAX_WHOLE_FILE_BYTES >> 30
        )));
    }
    let mut bytes = Vec::with_capacity(file_len as usize);
    bytes.extend_from_slice(&prefix[..prefix_len]);
    // At most the limit, should the file grow while it is read.
    file.take(MAX_WHOLE_FILE_BYTES - prefix_len as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(io_reason(&e)))?;
    let detected = format::detect_format(&bytes);
    match detected {
        ModelFormat::Onnx => {
            expect_extension(extension.as_deref(), ModelFormat::Onnx, &source)?;
            let mut imported = onnx::import(Bytes::from(bytes), &source, folder)?;
            let stem_config = path
                .file_stem()
                .map(|stem| format!("{}.config.json", stem.to_string_lossy()))
                .unwrap_or_default();
            let graph = &mut imported.imported.graph;
            let lookup = with_config(
                graph,
                imported.lookup_parameters,
                folder,
                &[stem_config.as_str()],
                &mut imported.imported.warnings,
            );
            facts::complete(graph, lookup);
            Ok(imported.imported)
        }
        ModelFormat::SafetensorsIndex => {
            expect_extension(extension.as_deref(), ModelFormat::SafetensorsIndex, &source)?;
            import_index(&bytes, &source, folder.unwrap_or(Path::new(".")))
        }
        ModelFormat::Unknown
            if extension.as_deref() == Some("onnx")
                || format::describe_non_protobuf(&bytes).is_none() =>
        {
            // Not JSON and not a well-formed ModelProto: let the decoder say what is wrong.
            let imported = onnx::import(Bytes::from(bytes), &source, folder)?;
            Ok(imported.imported)
        }
        _ => {
            expect_extension(extension.as_deref(), ModelFormat::HfConfig, &source)?;
            crate::import_bytes(&bytes, &source)
        }
    }
}

/// Refuses content that contradicts the extension.
fn expect_extension(
    extension: Option<&str>,
    found: ModelFormat,
    source: &str,
) -> Result<(), ImportError> {
    let describe = |format: ModelFormat| match format {
        ModelFormat::Onnx => "an ONNX model (protobuf)",
        ModelFormat::Safetensors => "a safetensors file",
        _ => "JSON text",
    };
    let expected = match extension {
        Some("onnx") => ModelFormat::Onnx,
        Some("safetensors") => ModelFormat::Safetensors,
        Some("json") => ModelFormat::HfConfig,
        _ => return Ok(()),
    };
    let is_json = |format| {
        matches!(
            format,
            ModelFormat::HfConfig | ModelFormat::GraphJson | ModelFormat::SafetensorsIndex
        )
    };
    if expected == found || (is_json(expected) && is_json(found)) {
        return Ok(());
    }
    Err(ImportError::new(
        source,
        ImportErrorKind::FormatMismatch {
            expected: describe(expected),
            found: describe(found),
        },
    ))
}

/// Opens a file for reading once its metadata says it is a regular file, and returns it with
/// its length. A FIFO, a socket or a device is refused before it is opened: opening a FIFO
/// waits for a writer, and reading a device may never end. The opened file is checked again,
/// in case the path was replaced in between.
fn open_regular(path: &Path) -> Result<(File, u64), String> {
    let metadata = std::fs::metadata(path).map_err(|e| io_reason(&e))?;
    if !metadata.is_file() {
        return Err(not_regular(&metadata));
    }
    let file = File::open(path).map_err(|e| io_reason(&e))?;
    let metadata = file.metadata().map_err(|e| io_reason(&e))?;
    if !metadata.is_file() {
        return Err(not_regular(&metadata));
    }
    Ok((file, metadata.len()))
}

/// "not a regular file (a FIFO)", for a path that names something else.
fn not_regular(metadata: &std::fs::Metadata) -> String {
    let kind = metadata.file_type();
    let what = if kind.is_dir() {
        "a directory"
    } else {
        special_kind(&kind)
    };
    format!("not a regular file ({what})")
}

#[cfg(unix)]
fn special_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::FileType) -> &'static str {
    "a special file"
}

fn read_prefix(file: &mut File, prefix: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < prefix.len() {
        let read = file.read(&mut prefix[filled..])?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    Ok(filled)
}

/// Reads the JSON header after the 9 prefix bytes already read (the 8-byte length and `{`).
fn read_safetensors_header(
    file: &mut File,
    header_len: u64,
    file_len: u64,
    source: &str,
) -> Result<Vec<safetensors::TensorEntry>, ImportError> {
    if header_len == 0 {
        return Err(ImportError::new(
            source,
            ImportErrorKind::Safetensors {
                message: "the header is empty".to_owned(),
            },
        ));
    }
    // `header_length` checked the length against the file size and the 100 MB limit.
    let mut header = vec![0u8; header_len as usize];
    header[0] = b'{';
    file.read_exact(&mut header[1..]).map_err(|e| {
        ImportError::new(
            source,
            ImportErrorKind::Io {
                message: io_reason(&e),
            },
        )
    })?;
    safetensors::parse_header(&header, Some(file_len - 8 - header_len), source)
}

/// Reads the config beside a model (the first of `names`, then `config.json`) and merges its
/// facts; returns the embedding parameters for FLOPs (the file's, else the config's).
fn with_config(
    graph: &mut ModelGraph,
    lookup: u64,
    folder: Option<&Path>,
    names: &[&str],
    warnings: &mut Vec<ImportWarning>,
) -> Option<u64> {
    let folder = folder?;
    // The first that exists: one that is not a regular file is reported, not skipped.
    let Some(path) = names
        .iter()
        .copied()
        .chain(["config.json"])
        .filter(|name| !name.is_empty())
        .map(|name| folder.join(name))
        .find(|path| path.exists())
    else {
        return Some(lookup);
    };
    let shown = path.display().to_string();
    let config = read_companion(&path).and_then(|bytes| {
        let text = std::str::from_utf8(&bytes).map_err(|_| "not UTF-8 text".to_owned())?;
        crate::from_hf_config_str(text, &shown).map_err(|error| error.to_string())
    });
    match config {
        Ok(config) => {
            facts::merge_config(graph, &config, warnings);
            if graph.nodes.is_empty() && graph.facts.parameters == config.facts.parameters {
                // The checkpoint holds exactly the configured model: keep its module graph.
                graph.nodes = config.nodes;
                graph.edges = config.edges;
                return None;
            }
            (lookup > 0).then_some(lookup)
        }
        Err(message) => {
            warnings.push(ImportWarning::Companion {
                file: shown,
                message: format!("not used: {message}"),
            });
            Some(lookup)
        }
    }
}

fn read_companion(path: &Path) -> Result<Vec<u8>, String> {
    let (file, length) = open_regular(path)?;
    if length > MAX_COMPANION_BYTES {
        return Err(format!(
            "{length} bytes is larger than the {} MiB limit",
            MAX_COMPANION_BYTES >> 20
        ));
    }
    let mut bytes = Vec::with_capacity(length as usize);
    // At most the limit, should the file grow while it is read.
    file.take(MAX_COMPANION_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| io_reason(&e))?;
    Ok(bytes)
}

/// A sharded checkpoint: `weight_map` names each tensor's shard; every shard header is read.
fn import_index(bytes: &[u8], source: &str, folder: &Path) -> Result<Imported, ImportError> {
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: BTreeMap<String, String>,
    }
    let invalid =
        |message: String| ImportError::new(source, ImportErrorKind::Safetensors { message });
    let index: Index = serde_json::from_slice(bytes)
        .map_err(|error| invalid(format!("malformed index: {error}")))?;
    let mut shards: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (tensor, shard) in &index.weight_map {
        shards.entry(shard.as_str()).or_default().push(tensor);
    }
    let mut entries = Vec::new();
    let mut warnings = Vec::new();
    for (shard, tensors) in &shards {
        let inside = !shard.is_empty()
            && !shard.contains('\\')
            && Path::new(shard)
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
        if !inside {
            return Err(invalid(format!(
                "shard `{shard}` is not a file name inside the index's folder"
            )));
        }
        let path = folder.join(shard);
        let shown = path.display().to_string();
        let real = path.canonicalize().map_err(|e| {
            ImportError::new(
                &shown,
                ImportErrorKind::Io {
                    message: io_reason(&e),
                },
            )
        })?;
        if let Ok(real_folder) = folder.canonicalize()
            && !real.starts_with(real_folder)
        {
            return Err(invalid(format!(
                "shard `{shard}` resolves outside the index's folder"
            )));
        }
        let (mut file, file_len) = open_regular(&path)
            .map_err(|message| ImportError::new(&shown, ImportErrorKind::Io { message }))?;
        let mut prefix = [0u8; 9];
        let read = read_prefix(&mut file, &mut prefix).map_err(|e| {
            ImportError::new(
                &shown,
                ImportErrorKind::Io {
                    message: io_reason(&e),
                },
            )
        })?;
        let header_len = safetensors::header_length(&prefix[..read], file_len, &shown)?;
        if prefix.get(8) != Some(&b'{') || read < 9 {
            return Err(ImportError::new(
                &shown,
                ImportErrorKind::Safetensors {
                    message: "the header does not start with `{`".to_owned(),
                },
            ));
        }
        let shard_entries = read_safetensors_header(&mut file, header_len, file_len, &shown)?;
        let missing: Vec<&&str> = tensors
            .iter()
            .filter(|tensor| !shard_entries.iter().any(|entry| entry.name == ***tensor))
            .collect();
        if let Some(first) = missing.first() {
            warnings.push(ImportWarning::Companion {
                file: shown.clone(),
                message: format!(
                    "{} tensor(s) the index places here are missing, for example `{first}`",
                    missing.len()
                ),
            });
        }
        entries.extend(shard_entries);
    }
    let (mut graph, lookup) = safetensors::graph_from_entries(&entries);
    let lookup = with_config(&mut graph, lookup, Some(folder), &[], &mut warnings);
    facts::complete(&mut graph, lookup);
    Ok(Imported::new(
        graph,
        ModelFormat::SafetensorsIndex,
        warnings,
    ))
}

fn io_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => error.to_string(),
    }
}
