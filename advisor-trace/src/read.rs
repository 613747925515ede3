//! Opening and decompressing a trace and running the scanner over it into a [`TraceSummary`]:
//! the file (`.json` or gzip-compressed, detected by content) is refused unless it is a
//! regular file, a gzip stream is bounded against decompression bombs, and what real traces
//! get wrong is repaired and counted, each repair reported as a warning.

use std::{
    fs::File,
    io::{BufReader, Read},
    path::Path,
};

use crate::{
    accumulate::{Accumulator, InThread},
    annotate::Timeline,
    pipeline, scan,
    summary::{self, TraceSummary},
};

/// A trace that cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// Reading (or decompressing) failed.
    #[error("reading failed: {0}")]
    Io(#[from] std::io::Error),
    /// The content is not a Chrome trace.
    #[error("not a PyTorch/Chrome trace: {0}")]
    NotATrace(String),
    /// The JSON structure is broken beyond repair.
    #[error("byte {offset}: {message}")]
    Syntax {
        /// Offset in the decompressed stream.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// The path names something other than a regular file (a FIFO, a socket, a device or a
    /// folder), which is refused before it is opened: opening a FIFO would wait for a writer.
    #[error("not a regular file ({0})")]
    NotARegularFile(&'static str),
    /// An error with the file it happened in.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: Box<TraceError>,
    },
}

/// Options for reading a trace.
pub struct TraceOptions {
    progress: Option<Box<dyn FnMut(u64) + 'static>>,
    min_inflate_limit: u64,
    /// Parsing threads; `None`: one per core the process may use. One reads on the calling
    /// thread alone.
    threads: Option<usize>,
    /// Bytes of JSON per batch handed to a parsing thread.
    chunk_bytes: usize,
    /// Whether runs of whole elements are parsed at once (the tape); off, one thread reads
    /// element by element, the reference the tests hold every other way to.
    runs: bool,
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            progress: None,
            min_inflate_limit: MIN_INFLATE_LIMIT,
            threads: None,
            chunk_bytes: pipeline::CHUNK_BYTES,
            runs: true,
        }
    }
}

impl std::fmt::Debug for TraceOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceOptions")
            .field("progress", &self.progress.is_some())
            .field("min_inflate_limit", &self.min_inflate_limit)
            .field("threads", &self.threads)
            .field("chunk_bytes", &self.chunk_bytes)
            .field("runs", &self.runs)
            .finish()
    }
}

impl TraceOptions {
    /// Calls `progress` with the number of bytes read from the file (compressed bytes for a
    /// gzip file) as reading goes on, for a progress bar.
    pub fn progress(mut self, progress: impl FnMut(u64) + 'static) -> Self {
        self.progress = Some(Box::new(progress));
        self
    }

    /// What [`TraceOptions::min_inflate_limit`] set.
    pub(crate) fn inflate_limit(&self) -> u64 {
        self.min_inflate_limit
    }

    /// How many bytes a gzip stream may always inflate to, however small it is (default
    /// 1 GiB). Past that, it is read up to 100 times its compressed size and the rest is cut
    /// with a warning.
    pub fn min_inflate_limit(mut self, bytes: u64) -> Self {
        self.min_inflate_limit = bytes;
        self
    }

    /// How many threads parse the events (default: one per core this process may use); with
    /// one, the calling thread reads, parses and accumulates alone.
    pub(crate) fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads.max(1));
        self
    }

    /// Bytes of JSON per batch handed to a parsing thread (default 256 KiB); the tests make it
    /// small to cut even a small trace into many batches.
    #[cfg(test)]
    pub(crate) fn chunk_bytes(mut self, bytes: usize) -> Self {
        self.chunk_bytes = bytes.max(1);
        self
    }

    /// One thread, element by element, as the scanner splits them: the reference reader.
    #[cfg(test)]
    pub(crate) fn element_by_element(mut self) -> Self {
        self.threads = Some(1);
        self.runs = false;
        self
    }

    fn parsing_threads(&self) -> usize {
        self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        })
    }
}

/// Reads and summarizes a trace file (`.json` or `.json.gz`, detected by content).
///
/// Anything but a regular file (a FIFO, a socket, a device, a folder) is refused before it is
/// opened, so a FIFO with no writer cannot block the reader. Errors name the file.
pub fn read_trace_file(path: &Path, options: TraceOptions) -> Result<TraceSummary, TraceError> {
    let name = path.display().to_string();
    let with_file = |source: TraceError| TraceError::File {
        path: name.clone(),
        source: Box::new(source),
    };
    let file = open_regular_file(path).map_err(with_file)?;
    read_trace(file, &name, options).map_err(with_file)
}

/// Opens `path` for reading once its metadata says it is a regular file, and checks the opened
/// file again (the path may have been replaced in between).
pub(crate) fn open_regular_file(path: &Path) -> Result<File, TraceError> {
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(TraceError::NotARegularFile(file_kind(&metadata)));
    }
    let file = File::open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(TraceError::NotARegularFile(file_kind(&metadata)));
    }
    Ok(file)
}

/// What a file that is not a regular file is, for errors.
fn file_kind(metadata: &std::fs::Metadata) -> &'static str {
    let kind = metadata.file_type();
    if kind.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
    }
    "a special file"
}

/// A gzip stream is read up to this many times the compressed bytes read so far (JSON traces
/// compress 5 to 30 times; deflate's own maximum is about 1,000), or [`MIN_INFLATE_LIMIT`],
/// whichever is more. What follows is cut, with a warning: a small file that inflates to
/// gigabytes of one string is a decompression bomb, not a trace.
const MAX_INFLATE_RATIO: u64 = 100;
/// A gzip stream may always inflate to this many bytes (unless
/// [`TraceOptions::min_inflate_limit`] says otherwise).
const MIN_INFLATE_LIMIT: u64 = 1 << 30;

/// Reads and summarizes a trace from any reader; gzip is detected by its magic bytes.
/// `source` names the input in the summary and in evidence.
///
/// Memory is bounded whatever the input: one element (an event, or a top-level value) is held
/// whole up to 16 MiB; a longer one is streamed with every string cut to its first 4,096 bytes
/// (and skipped if still too long), and names kept in the summary are cut at 4,096 bytes too.
/// A gzip stream is read up to 100 times its compressed size (at least 1 GiB). Each cut is
/// reported in the summary's warnings.
///
/// The events are parsed on every core this process may use: this thread reads (and
/// inflates) the input and cuts `traceEvents` into runs of whole elements of about 256 KiB,
/// worker threads parse the runs, and one thread accumulates them in file order, so the
/// summary is the one a single thread gives. At most two runs more than there are workers
/// are in flight, each about 256 KiB of JSON plus its parsed events; an element of 1 MiB or
/// more is parsed on this thread and sent on alone. A trace smaller than 256 KiB is read on
/// this thread only. [`read_traces`](crate::read_traces) with as many files as cores reads each
/// file on one thread.
pub fn read_trace(
    reader: impl Read,
    source: &str,
    options: TraceOptions,
) -> Result<TraceSummary, TraceError> {
    read_trace_with(reader, source, options, false).map(|(summary, _)| summary)
}

/// [`read_trace`], and the timeline of what the summary found when `timeline` is set.
pub(crate) fn read_trace_with(
    reader: impl Read,
    source: &str,
    options: TraceOptions,
    timeline: bool,
) -> Result<(TraceSummary, Option<Timeline>), TraceError> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let head = {
        use std::io::BufRead;
        reader.fill_buf()?.get(..2).map(|h| [h[0], h[1]])
    };
    let threads = options.parsing_threads();
    let chunk_bytes = options.chunk_bytes;
    let runs = options.runs;
    if head == Some([0x1f, 0x8b]) {
        let min_limit = options.min_inflate_limit;
        let decoder = flate2::bufread::MultiGzDecoder::new(CountingReader::new(reader, options));
        let mut stream = GzipStream {
            decoder,
            min_limit,
            produced: 0,
            truncated: false,
            cut_at: None,
        };
        let result = summarize(&mut stream, source, threads, chunk_bytes, runs, timeline);
        result.map(|(mut summary, timeline)| {
            if let Some((inflated, compressed)) = stream.cut_at {
                summary.warnings.insert(
                    0,
                    format!(
                        "cut: the gzip stream inflates to more than {MAX_INFLATE_RATIO} times \
                         its size (over {inflated} bytes from {compressed}); read its first \
                         {inflated} bytes only"
                    ),
                );
            }
            if stream.truncated {
                summary.warnings.insert(
                    0,
                    "repaired: the gzip stream ends early (the file is truncated); read what it holds"
                        .to_owned(),
                );
            }
            (summary, timeline)
        })
    } else {
        let counted = CountingReader::new(reader, options);
        summarize(counted, source, threads, chunk_bytes, runs, timeline)
    }
}

/// A trace's JSON: `reader` itself, or its gzip stream inflated (within the same bound as
/// [`read_trace`]'s, past which it ends).
pub(crate) fn decompressed(
    reader: impl Read + 'static,
    min_limit: u64,
) -> Result<Box<dyn Read>, TraceError> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let head = {
        use std::io::BufRead;
        reader.fill_buf()?.get(..2).map(|h| [h[0], h[1]])
    };
    if head != Some([0x1f, 0x8b]) {
        return Ok(Box::new(reader));
    }
    let decoder = flate2::bufread::MultiGzDecoder::new(CountingReader {
        inner: reader,
        read: 0,
        reported: 0,
        progress: None,
    });
    Ok(Box::new(GzipStream {
        decoder,
        min_limit,
        produced: 0,
        truncated: false,
        cut_at: None,
    }))
}

/// The decompressed side of a gzip trace. It treats a stream that stops early (a job killed
/// while writing its trace) as ending there, once it has produced some data, and remembers
/// that it did so the summary can warn; a stream cut inside its header still fails: there is
/// nothing to read. And it ends the stream where it inflates past [`MAX_INFLATE_RATIO`].
struct GzipStream<R: std::io::BufRead> {
    decoder: flate2::bufread::MultiGzDecoder<CountingReader<R>>,
    /// What the stream may always inflate to.
    min_limit: u64,
    produced: u64,
    truncated: bool,
    /// Where the stream was cut: bytes inflated, compressed bytes read.
    cut_at: Option<(u64, u64)>,
}

impl<R: std::io::BufRead> Read for GzipStream<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cut_at.is_some() {
            return Ok(0);
        }
        let compressed = self.decoder.get_ref().read;
        let limit = self
            .min_limit
            .max(compressed.saturating_mul(MAX_INFLATE_RATIO));
        if self.produced >= limit {
            self.cut_at = Some((self.produced, compressed));
            return Ok(0);
        }
        let room = usize::try_from(limit - self.produced).unwrap_or(usize::MAX);
        let want = buf.len().min(room);
        match self.decoder.read(&mut buf[..want]) {
            Ok(n) => {
                self.produced += n as u64;
                Ok(n)
            }
            Err(error)
                if error.kind() == std::io::ErrorKind::UnexpectedEof && self.produced > 0 =>
            {
                self.truncated = true;
                Ok(0)
            }
            Err(error) => Err(error),
        }
    }
}

/// Reports bytes read from the underlying (possibly compressed) reader to the progress hook.
struct CountingReader<R> {
    inner: R,
    read: u64,
    reported: u64,
    progress: Option<Box<dyn FnMut(u64) + 'static>>,
}

impl<R> CountingReader<R> {
    fn new(inner: R, options: TraceOptions) -> Self {
        CountingReader {
            inner,
            read: 0,
            reported: 0,
            progress: options.progress,
        }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if let Some(progress) = self.progress.as_mut()
            && (self.read - self.reported >= 1 << 22 || n == 0)
        {
            self.reported = self.read;
            progress(self.read);
        }
        Ok(n)
    }
}

impl<R: std::io::BufRead> std::io::BufRead for CountingReader<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amount: usize) {
        self.read += amount as u64;
        if let Some(progress) = self.progress.as_mut()
            && self.read - self.reported >= 1 << 22
        {
            self.reported = self.read;
            progress(self.read);
        }
        self.inner.consume(amount);
    }
}

/// Scans the input and runs the analyses: on the calling thread alone with one thread, else
/// through the [`pipeline`] (the same accumulator and analyses, fed in file order).
fn summarize(
    reader: impl Read,
    source: &str,
    threads: usize,
    chunk_bytes: usize,
    runs: bool,
    timeline: bool,
) -> Result<(TraceSummary, Option<Timeline>), TraceError> {
    let mut scanner = scan::Scanner::new(reader, None);
    let (found_events, accumulator) = if threads <= 1 {
        let mut accumulator = Accumulator::default();
        let found_events = if runs {
            let mut sink = InThread::new(&mut accumulator, chunk_bytes);
            let found_events = scanner.run(&mut sink)?;
            let structure = sink.structure;
            scanner.repairs.merge(&structure);
            found_events
        } else {
            scanner.run(&mut accumulator)?
        };
        (found_events, accumulator)
    } else {
        pipeline::run(&mut scanner, threads, chunk_bytes)?
    };
    if !found_events {
        return Err(TraceError::NotATrace(
            "no `traceEvents` array in the top-level object".to_owned(),
        ));
    }
    if let Some(message) = accumulator.nothing_but_malformed() {
        return Err(TraceError::NotATrace(message));
    }
    let bytes_read = scanner.offset();
    Ok(summary::build(
        accumulator,
        source,
        bytes_read,
        scanner.repairs,
        timeline,
    ))
}
