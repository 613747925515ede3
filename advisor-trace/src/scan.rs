//! A streaming splitter for Chrome trace JSON: walks the top-level object and hands out the
//! byte slice of each metadata value and of each `traceEvents` element, repairing what real
//! traces get wrong (trailing commas, missing closing brackets) and counting each repair.
//!
//! Only the current element is held in memory (plus read-ahead), so memory does not grow with
//! the file. Elements are then deserialized into small typed structs by the caller.

use std::io::Read;

use crate::read::TraceError;

/// What the splitter found, handed to a [`Sink`].
pub(crate) trait Sink {
    /// A top-level key other than `traceEvents`, with its raw value.
    fn metadata(&mut self, key: &str, value: &[u8], offset: u64);
    /// One element of `traceEvents`, with its byte offset in the (decompressed) stream.
    fn event(&mut self, element: &[u8], offset: u64);
    /// The fast path: parses one element from the start of `data`, which may hold more
    /// after it (or end inside it). Tells how it went; on `Invalid` the element is handed to
    /// [`Sink::event`] once its end is found.
    fn event_prefix(&mut self, data: &[u8]) -> Prefix;
    /// Whether the sink takes whole runs of elements ([`Sink::raw_events`]) of about this many
    /// bytes, instead of one element at a time.
    fn raw_batch_bytes(&self) -> Option<usize> {
        None
    }
    /// A run of `traceEvents` from just after an element (or the `[`) to the end of a later
    /// element, with the separators between, at this stream offset: to be split with
    /// [`Scanner::batch_events`]. Called only when [`Sink::raw_batch_bytes`] says so.
    fn raw_events(&mut self, _run: &[u8], _offset: u64) {}
    /// Whether the sink also takes runs cut where they only may end between elements
    /// ([`Sink::try_raw_events`]): a sink that parses a run whole and knows whether it was.
    fn speculates(&self) -> bool {
        false
    }
    /// A run that starts between elements and ends at a `}` followed by a comma and a line
    /// break, which may be inside an element: the sink takes it, and returns true, only if it
    /// is whole elements that need no repair (then it ended between elements); on false
    /// nothing of it was taken and the scanner finds the run's end exactly.
    fn try_raw_events(&mut self, _run: &[u8], _offset: u64) -> bool {
        false
    }
    /// Called before the scanner does anything but cut another run: a sink that took runs
    /// it could not check yet (the pipeline's workers check them) waits for the checks, and
    /// when one failed returns the bytes of that run and of every run taken after it, which
    /// end where the scanner is, with the stream offset they start at. The scanner then
    /// scans them again, exactly.
    fn settle(&mut self) -> Option<(Vec<u8>, u64)> {
        None
    }
}

/// The outcome of [`Sink::event_prefix`].
pub(crate) enum Prefix {
    /// Parsed an element of this many bytes.
    Parsed(usize),
    /// The data ends inside the element.
    NeedMore,
    /// The element does not parse as it is.
    Invalid,
}

/// Repairs the splitter made to the file's structure.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StructureRepairs {
    /// Commas directly before a closing bracket, dropped.
    pub trailing_commas: u64,
    /// Closing `]` or `}` missing at the end of the file, added.
    pub missing_closers: u64,
    /// An element cut off by the end of the file, dropped.
    pub truncated_elements: u64,
    /// Strings longer than [`MAX_STRING_BYTES`] inside elements longer than
    /// [`MAX_ELEMENT_BYTES`], cut to their first [`MAX_STRING_BYTES`] while streaming.
    pub strings_cut: u64,
    /// The longest of those strings, in bytes, and where its element starts.
    pub longest_cut: Option<(u64, u64)>,
    /// Elements still longer than [`MAX_ELEMENT_BYTES`] with their strings cut, skipped.
    pub oversized_skipped: u64,
    /// Where the first of those starts, and its length.
    pub first_oversized: Option<(u64, u64)>,
}

impl StructureRepairs {
    /// Adds `later`, the repairs made on a later part of the same stream.
    pub(crate) fn merge(&mut self, later: &StructureRepairs) {
        self.trailing_commas += later.trailing_commas;
        self.missing_closers += later.missing_closers;
        self.truncated_elements += later.truncated_elements;
        self.strings_cut += later.strings_cut;
        self.oversized_skipped += later.oversized_skipped;
        if let Some((longest, offset)) = later.longest_cut {
            let longer = self.longest_cut.is_none_or(|(kept, kept_offset)| {
                longest > kept || longest == kept && offset < kept_offset
            });
            if longer {
                self.longest_cut = Some((longest, offset));
            }
        }
        if let Some((offset, length)) = later.first_oversized
            && self.first_oversized.is_none_or(|(first, _)| offset < first)
        {
            self.first_oversized = Some((offset, length));
        }
    }
}

const READ_CHUNK: usize = 1 << 20;

/// Longest element (one event, or one top-level value) held in memory whole. Real events are
/// a few kilobytes; a longer one is streamed with its long strings cut.
pub(crate) const MAX_ELEMENT_BYTES: usize = 16 << 20;

/// Strings in an over-long element are cut to this many bytes (at a character boundary); the
/// summary keeps names no longer than this either.
pub(crate) const MAX_STRING_BYTES: usize = 4096;

pub(crate) struct Scanner<R> {
    reader: R,
    buf: Vec<u8>,
    /// The last over-long element, with its strings cut.
    compacted: Vec<u8>,
    /// First unconsumed byte.
    pos: usize,
    /// End of valid data.
    end: usize,
    eof: bool,
    /// Stream offset of `buf[0]`.
    base: u64,
    pub repairs: StructureRepairs,
    /// Runs cut where they may end ([`Sink::try_raw_events`]) that were whole, and not.
    speculated: (u64, u64),
    /// Runs are found exactly, not cut where they may end, up to this stream offset: what
    /// a refused run handed back.
    exact_until: u64,
    /// Reports bytes read so far from the underlying reader.
    progress: Option<Box<dyn FnMut(u64) + 'static>>,
    read_total: u64,
}

/// Where a scan resumes after the buffer was refilled: positions are relative to `pos`.
#[derive(Clone, Copy)]
struct ValueState {
    offset: usize,
    depth: u32,
    in_string: bool,
}

impl<R: Read> Scanner<R> {
    pub(crate) fn new(reader: R, progress: Option<Box<dyn FnMut(u64) + 'static>>) -> Self {
        Scanner {
            reader,
            buf: vec![0; READ_CHUNK * 4],
            compacted: Vec::new(),
            pos: 0,
            end: 0,
            eof: false,
            base: 0,
            repairs: StructureRepairs::default(),
            speculated: (0, 0),
            exact_until: 0,
            progress,
            read_total: 0,
        }
    }

    /// Reads more data, keeping `buf[pos..end]`. Returns false at end of input.
    fn fill(&mut self) -> Result<bool, TraceError> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 && self.pos * 2 >= self.buf.len() || self.end == self.buf.len() {
            // Move the unconsumed tail to the front; grow when the tail fills the buffer.
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.end -= self.pos;
            self.pos = 0;
            if self.buf.len() - self.end < READ_CHUNK {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        loop {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    self.read_total += n as u64;
                    if let Some(progress) = self.progress.as_mut() {
                        progress(self.read_total);
                    }
                    return Ok(true);
                }
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(TraceError::Io(error)),
            }
        }
    }

    /// Reads until `buf[pos..end]` holds at least `wanted` bytes or the input ends. Returns
    /// whether anything was read.
    fn fill_at_least(&mut self, wanted: usize) -> Result<bool, TraceError> {
        let before = self.end - self.pos;
        while self.end - self.pos < wanted {
            if !self.fill()? {
                break;
            }
        }
        Ok(self.end - self.pos > before)
    }

    /// Stream offset of the next unconsumed byte.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Skips whitespace; returns the next byte without consuming it, or `None` at the end.
    pub(crate) fn peek(&mut self) -> Result<Option<u8>, TraceError> {
        loop {
            while self.pos < self.end {
                let byte = self.buf[self.pos];
                if matches!(byte, b' ' | b'\n' | b'\r' | b'\t') {
                    self.pos += 1;
                } else if self.base == 0 && self.pos == 0 && byte == 0xEF {
                    // A UTF-8 byte-order mark.
                    if self.end < 3 && self.fill()? {
                        continue;
                    }
                    if self.buf[..self.end.min(3)] == [0xEF, 0xBB, 0xBF] {
                        self.pos = 3;
                    } else {
                        return Ok(Some(byte));
                    }
                } else {
                    return Ok(Some(byte));
                }
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    fn bump(&mut self) {
        self.pos += 1;
    }

    /// Finds the end of the JSON value starting at `pos`: its length, or where the input ended
    /// inside it, or that it is longer than [`MAX_ELEMENT_BYTES`] (and not all in memory).
    fn value_len(&mut self) -> Result<ValueEnd, TraceError> {
        let mut state = ValueState {
            offset: 0,
            depth: 0,
            in_string: false,
        };
        loop {
            if let Some(len) = scan_value(&self.buf[self.pos..self.end], &mut state) {
                // A read may have brought in more than the limit at once.
                return Ok(if len > MAX_ELEMENT_BYTES {
                    ValueEnd::TooLong
                } else {
                    ValueEnd::Len(len)
                });
            }
            if self.end - self.pos > MAX_ELEMENT_BYTES {
                return Ok(ValueEnd::TooLong);
            }
            if !self.fill()? {
                return Ok(ValueEnd::Eof);
            }
        }
    }

    /// Takes the next value: a slice of the buffer, or for an over-long value its compacted
    /// copy; `End` at the end of the input, having counted a truncated value.
    fn take_value(&mut self) -> Result<Taken, TraceError> {
        match self.value_len()? {
            ValueEnd::Len(len) => {
                let start = self.pos;
                let offset = self.offset();
                self.pos += len;
                Ok(Taken::Slice(start, start + len, offset))
            }
            ValueEnd::Eof => {
                if self.pos < self.end {
                    self.repairs.truncated_elements += 1;
                }
                self.pos = self.end;
                Ok(Taken::End)
            }
            ValueEnd::TooLong => self.compact(),
        }
    }

    /// Streams an over-long value through a [`Compactor`] into `compacted`, holding only the
    /// read buffer and the compacted copy.
    fn compact(&mut self) -> Result<Taken, TraceError> {
        let offset = self.offset();
        let mut compactor = Compactor::new(self.buf[self.pos]);
        self.compacted.clear();
        loop {
            let data = &self.buf[self.pos..self.end];
            let done = compactor.feed(data, &mut self.compacted);
            let consumed = done.unwrap_or(data.len());
            self.pos += consumed;
            if done.is_some() {
                break;
            }
            if !self.fill()? {
                self.repairs.truncated_elements += 1;
                self.compacted.clear();
                return Ok(Taken::End);
            }
        }
        let length = self.offset() - offset;
        if compactor.strings_cut > 0 {
            self.repairs.strings_cut += compactor.strings_cut;
            if self
                .repairs
                .longest_cut
                .is_none_or(|(longest, _)| compactor.longest_cut > longest)
            {
                self.repairs.longest_cut = Some((compactor.longest_cut, offset));
            }
        }
        if compactor.overflow {
            self.repairs.oversized_skipped += 1;
            self.repairs.first_oversized.get_or_insert((offset, length));
            self.compacted.clear();
            return Ok(Taken::Skipped);
        }
        Ok(Taken::Compacted(offset))
    }

    /// Consumes a comma if there is one; counts it as a trailing comma when a closer follows.
    fn separator(&mut self, closer: u8) -> Result<Option<u8>, TraceError> {
        let mut next = self.peek()?;
        if next == Some(b',') {
            self.bump();
            next = self.peek()?;
            if next == Some(closer) {
                self.repairs.trailing_commas += 1;
            }
            // Several commas in a row: skip the extras as repairs too.
            while next == Some(b',') {
                self.bump();
                self.repairs.trailing_commas += 1;
                next = self.peek()?;
            }
        }
        Ok(next)
    }

    /// Reads the whole document, handing metadata values and events to `sink`. Returns
    /// whether a `traceEvents` array was found.
    pub(crate) fn run(&mut self, sink: &mut impl Sink) -> Result<bool, TraceError> {
        match self.peek()? {
            Some(b'{') => {
                self.bump();
                self.object(sink)
            }
            Some(b'[') => {
                // The JSON Array Format: the events alone.
                self.bump();
                self.events(sink)?;
                Ok(true)
            }
            Some(other) => Err(TraceError::NotATrace(format!(
                "expected a JSON object or array, found {}",
                describe_byte(other)
            ))),
            None => Err(TraceError::NotATrace("the file is empty".to_owned())),
        }
    }

    fn object(&mut self, sink: &mut impl Sink) -> Result<bool, TraceError> {
        let mut found_events = false;
        loop {
            match self.separator(b'}')? {
                None => {
                    self.repairs.missing_closers += 1;
                    return Ok(found_events);
                }
                Some(b'}') => {
                    self.bump();
                    return Ok(found_events);
                }
                Some(b'"') => {}
                Some(other) => {
                    return Err(TraceError::Syntax {
                        offset: self.offset(),
                        message: format!(
                            "expected a key in the top-level object, found {}",
                            describe_byte(other)
                        ),
                    });
                }
            }
            let (key_bytes, offset) = match self.take_value()? {
                Taken::Slice(start, end, offset) => (&self.buf[start..end], offset),
                Taken::Compacted(offset) => (&self.compacted[..], offset),
                Taken::Skipped => (&b"\"\""[..], self.offset()),
                Taken::End => {
                    self.repairs.missing_closers += 1;
                    return Ok(found_events);
                }
            };
            let key: String =
                serde_json::from_slice(key_bytes).map_err(|error| TraceError::Syntax {
                    offset,
                    message: format!("bad key in the top-level object: {error}"),
                })?;
            match self.peek()? {
                Some(b':') => self.bump(),
                None => {
                    self.repairs.missing_closers += 1;
                    return Ok(found_events);
                }
                Some(other) => {
                    return Err(TraceError::Syntax {
                        offset: self.offset(),
                        message: format!(
                            "expected `:` after key `{key}`, found {}",
                            describe_byte(other)
                        ),
                    });
                }
            }
            if self.peek()?.is_none() {
                self.repairs.truncated_elements += 1;
                return Ok(found_events);
            }
            if key == "traceEvents" && self.peek()? == Some(b'[') {
                self.bump();
                found_events = true;
                if !self.events(sink)? {
                    // The file ended inside the events: the object is unclosed too.
                    self.repairs.missing_closers += 1;
                    return Ok(found_events);
                }
            } else {
                match self.take_value()? {
                    Taken::Slice(start, end, offset) => {
                        sink.metadata(&key, &self.buf[start..end], offset);
                    }
                    Taken::Compacted(offset) => sink.metadata(&key, &self.compacted, offset),
                    Taken::Skipped => {}
                    Taken::End => {
                        self.repairs.missing_closers += 1;
                        return Ok(found_events);
                    }
                }
            }
        }
    }

    /// Reads array elements up to the closing `]`. Returns false when the input ended first.
    fn events(&mut self, sink: &mut impl Sink) -> Result<bool, TraceError> {
        let raw_batch_bytes = sink.raw_batch_bytes();
        loop {
            if let Some(batch_bytes) = raw_batch_bytes {
                self.raw_runs(sink, batch_bytes)?;
            }
            match self.separator(b']')? {
                None => {
                    self.repairs.missing_closers += 1;
                    return Ok(false);
                }
                Some(b']') => {
                    self.bump();
                    return Ok(true);
                }
                Some(_) => {}
            }
            if !self.element(sink)? {
                self.repairs.missing_closers += 1;
                return Ok(false);
            }
        }
    }

    /// Splits a run handed out by [`Sink::raw_events`] (this scanner made with
    /// [`Scanner::over_run`]) into its elements, exactly as [`Scanner::events`] would have.
    pub(crate) fn batch_events(&mut self, sink: &mut impl Sink) -> Result<(), TraceError> {
        loop {
            match self.separator(b']')? {
                None => return Ok(()),
                Some(b']') => {
                    // Not in a run (it ends the array), but handled as the array would.
                    self.bump();
                    return Ok(());
                }
                Some(_) => {}
            }
            if !self.element(sink)? {
                return Ok(());
            }
        }
    }

    /// Hands `sink` runs of whole elements of about `batch_bytes`, found by [`BoundaryScan`]
    /// (string state and object depth only, eight bytes at a time), until something that is
    /// not a plain object element (the closing `]`, a stray `}`, an array element, an element
    /// of [`LONG_ELEMENT_BYTES`] or more) or the end of the input: from there, the
    /// element-by-element loop goes on.
    fn raw_runs(&mut self, sink: &mut impl Sink, batch_bytes: usize) -> Result<(), TraceError> {
        let long_element = batch_bytes.max(LONG_ELEMENT_BYTES);
        let mut scan = BoundaryScan::new(long_element);
        loop {
            if scan.at == 0 && (self.speculate(sink, batch_bytes)? || self.settle(sink)) {
                continue;
            }
            let stop = scan.run(&self.buf[self.pos..self.end], batch_bytes);
            let cut = scan.last_end;
            let send = |this: &mut Self, sink: &mut dyn FnMut(&[u8], u64)| {
                if cut > 0 {
                    let offset = this.offset();
                    sink(&this.buf[this.pos..this.pos + cut], offset);
                    this.pos += cut;
                }
            };
            let mut hand = |run: &[u8], offset: u64| sink.raw_events(run, offset);
            match stop {
                BoundaryStop::Full => {
                    send(self, &mut hand);
                    scan = BoundaryScan::new(long_element);
                }
                BoundaryStop::Odd => {
                    send(self, &mut hand);
                    return Ok(());
                }
                BoundaryStop::Exhausted => {
                    if scan.at - cut > long_element || !self.fill()? {
                        send(self, &mut hand);
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Between elements, for a sink that [speculates](Sink::speculates): hands it the run up
    /// to the last `},` and line break within `batch_bytes`, without looking for element
    /// boundaries. A raw line break is never inside a JSON string, so the run cannot end in
    /// one; if the sink finds the run whole elements (balanced, each complete), it ended at
    /// the top of the array, as it started there. Returns whether the sink took it; it stops
    /// trying when most tries fail (a file of one line, or full of repairs).
    fn speculate(&mut self, sink: &mut impl Sink, batch_bytes: usize) -> Result<bool, TraceError> {
        let (whole, not) = self.speculated;
        if !sink.speculates() || not > 16 && not * 4 > whole || self.offset() < self.exact_until {
            return Ok(false);
        }
        if self.end - self.pos < batch_bytes {
            self.fill_at_least(batch_bytes)?;
        }
        // The end of the input (and so of a trace smaller than a batch) is found exactly.
        if self.end - self.pos < batch_bytes {
            return Ok(false);
        }
        let window = &self.buf[self.pos..self.end.min(self.pos + batch_bytes)];
        let Some(cut) = speculative_cut(window) else {
            return Ok(false);
        };
        let offset = self.offset();
        let taken = sink.try_raw_events(&self.buf[self.pos..self.pos + cut], offset);
        if taken {
            self.pos += cut;
            self.speculated.0 += 1;
        } else {
            self.speculated.1 += 1;
        }
        Ok(taken)
    }

    /// Lets `sink` [settle](Sink::settle) the runs it took unchecked; returns true when it
    /// handed some back, now in front of the buffer, to be scanned again exactly.
    fn settle(&mut self, sink: &mut impl Sink) -> bool {
        let Some((bytes, offset)) = sink.settle() else {
            return false;
        };
        debug_assert_eq!(offset + bytes.len() as u64, self.offset());
        let mut buf = bytes;
        let again = buf.len();
        buf.extend_from_slice(&self.buf[self.pos..self.end]);
        self.end = buf.len();
        self.buf = buf;
        self.pos = 0;
        self.base = offset;
        self.exact_until = offset + again as u64;
        self.speculated.1 += 1;
        true
    }

    /// One element (the separator before it taken): parsed in place, or found and handed on.
    /// Returns false when the input ended inside it.
    fn element(&mut self, sink: &mut impl Sink) -> Result<bool, TraceError> {
        // Parse straight from the buffer; fall back to finding the element's end first
        // when it does not parse (it may need repair) or the input ends inside it.
        loop {
            match sink.event_prefix(&self.buf[self.pos..self.end]) {
                Prefix::Parsed(len) => {
                    self.pos += len;
                    return Ok(true);
                }
                // Each retry parses the element from its start again: doubling what is
                // buffered keeps that linear however little each read brings.
                Prefix::NeedMore
                    if self.end - self.pos <= MAX_ELEMENT_BYTES
                        && self.fill_at_least(2 * (self.end - self.pos))? =>
                {
                    continue;
                }
                Prefix::NeedMore | Prefix::Invalid => {
                    match self.take_value()? {
                        Taken::Slice(start, end, offset) if start == end => {
                            // An empty value: a stray `}` (commas, whitespace and `]` were
                            // taken above). Hand it on as a malformed element so the scan
                            // moves past it instead of finding it again forever.
                            self.pos += 1;
                            sink.event(&self.buf[start..start + 1], offset);
                        }
                        Taken::Slice(start, end, offset) => {
                            sink.event(&self.buf[start..end], offset);
                        }
                        Taken::Compacted(offset) => sink.event(&self.compacted, offset),
                        Taken::Skipped => {}
                        Taken::End => return Ok(false),
                    }
                    return Ok(true);
                }
            }
        }
    }
}

impl Scanner<std::io::Empty> {
    /// A scanner over one run of elements, already in memory, that starts at `offset` in the
    /// stream (so offsets in errors and warnings are the stream's).
    pub(crate) fn over_run(run: Vec<u8>, offset: u64) -> Self {
        let end = run.len();
        Scanner {
            reader: std::io::empty(),
            buf: run,
            compacted: Vec::new(),
            pos: 0,
            end,
            eof: true,
            base: offset,
            repairs: StructureRepairs::default(),
            speculated: (0, 0),
            exact_until: 0,
            progress: None,
            read_total: 0,
        }
    }

    /// The run's buffer back, for reuse.
    pub(crate) fn into_run(self) -> Vec<u8> {
        self.buf
    }
}

/// Just past the last `}` in `window` that a comma and then a line break follow (spaces,
/// tabs and carriage returns allowed around the comma).
fn speculative_cut(window: &[u8]) -> Option<usize> {
    let trim_blanks = |bytes: &[u8]| -> usize {
        let blanks = bytes
            .iter()
            .rev()
            .take_while(|b| matches!(b, b' ' | b'\t' | b'\r'));
        bytes.len() - blanks.count()
    };
    memchr::memrchr_iter(b'\n', window).find_map(|newline| {
        let before = &window[..trim_blanks(&window[..newline])];
        let before = before.strip_suffix(b",")?;
        let before = &before[..trim_blanks(before)];
        before.ends_with(b"}").then_some(before.len())
    })
}

/// Elements at least this long (or a batch's size, if more) are not put in runs: the
/// element-by-element loop hands each on alone.
pub(crate) const LONG_ELEMENT_BYTES: usize = 1 << 20;

/// Why [`BoundaryScan::run`] stopped.
#[derive(Debug, PartialEq, Eq)]
enum BoundaryStop {
    /// Whole elements of at least the batch size end at `last_end`.
    Full,
    /// Something at the top level of the array that the element-by-element loop must see:
    /// `]`, `[` or a stray `}`; whole elements end at `last_end`.
    Odd,
    /// The data ended.
    Exhausted,
}

/// Finds where runs of whole elements end inside `traceEvents`, tracking only what
/// [`scan_container`] tracks (strings, with escapes, and object brackets), eight bytes at a
/// time. Positions are relative to where the run starts, between two elements.
#[derive(Debug)]
struct BoundaryScan {
    /// Next byte to look at.
    at: usize,
    depth: u32,
    in_string: bool,
    /// Just past the last element that closed (0: none yet).
    last_end: usize,
    /// An element longer than this ends the run before it: the element-by-element loop
    /// hands it on alone, so a run holds a batch's worth and one short element at most.
    long_element: usize,
}

impl BoundaryScan {
    fn new(long_element: usize) -> Self {
        BoundaryScan {
            at: 0,
            depth: 0,
            in_string: false,
            last_end: 0,
            long_element,
        }
    }

    fn run(&mut self, data: &[u8], batch_bytes: usize) -> BoundaryStop {
        while let Some(chunk) = data.get(self.at..self.at + 8) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            let word = u64::from_le_bytes(bytes);
            if high_mask(word, b'\\') != 0 {
                let stop = self.at + 8;
                if let Some(found) = self.bytes(data, stop, batch_bytes) {
                    return found;
                }
                if self.at < stop {
                    return BoundaryStop::Exhausted;
                }
                continue;
            }
            // The high bit of each byte: quotes, and brackets of either kind (`[` and `{`,
            // `]` and `}` differ only in bit 5).
            let quotes = high_mask(word, b'"');
            let folded = word | (LOW_BITS * 0x20);
            let brackets = high_mask(folded, b'{') | high_mask(folded, b'}');
            // Prefix parity of the quotes: set on bytes inside a string (after an odd number
            // of quotes in this word, flipped when the word starts inside one).
            let mut inside = quotes;
            inside ^= inside << 8;
            inside ^= inside << 16;
            inside ^= inside << 32;
            if self.in_string {
                inside = !inside;
            }
            let mut left = brackets & !inside & HIGH_BITS;
            while left != 0 {
                let index = (left.trailing_zeros() / 8) as usize;
                left &= left - 1;
                match bytes[index] {
                    b'{' => self.depth += 1,
                    b'}' => {
                        if self.depth == 0 {
                            return BoundaryStop::Odd;
                        }
                        self.depth -= 1;
                        if self.depth == 0 {
                            let end = self.at + index + 1;
                            if end - self.last_end > self.long_element {
                                return BoundaryStop::Odd;
                            }
                            self.last_end = end;
                            if self.last_end >= batch_bytes {
                                return BoundaryStop::Full;
                            }
                        }
                    }
                    // `[` or `]`: array brackets count only at the top of the array.
                    _ if self.depth == 0 => return BoundaryStop::Odd,
                    _ => {}
                }
            }
            self.in_string ^= quotes.count_ones() % 2 == 1;
            self.at += 8;
        }
        self.bytes(data, data.len(), batch_bytes)
            .unwrap_or(BoundaryStop::Exhausted)
    }

    /// Byte by byte up to `stop` (one past it for an escape that straddles it); stops at the
    /// backslash of an escape the data cuts.
    fn bytes(&mut self, data: &[u8], stop: usize, batch_bytes: usize) -> Option<BoundaryStop> {
        while self.at < stop {
            let byte = data[self.at];
            if self.in_string {
                if byte == b'"' {
                    self.in_string = false;
                } else if byte == b'\\' {
                    if self.at + 1 >= data.len() {
                        return Some(BoundaryStop::Exhausted);
                    }
                    self.at += 1;
                }
                self.at += 1;
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' => self.depth += 1,
                b'}' => {
                    if self.depth == 0 {
                        return Some(BoundaryStop::Odd);
                    }
                    self.depth -= 1;
                    if self.depth == 0 {
                        if self.at + 1 - self.last_end > self.long_element {
                            return Some(BoundaryStop::Odd);
                        }
                        self.last_end = self.at + 1;
                        if self.last_end >= batch_bytes {
                            self.at += 1;
                            return Some(BoundaryStop::Full);
                        }
                    }
                }
                b'[' | b']' if self.depth == 0 => return Some(BoundaryStop::Odd),
                _ => {}
            }
            self.at += 1;
        }
        None
    }
}

/// How [`Scanner::value_len`] found a value's end.
enum ValueEnd {
    Len(usize),
    Eof,
    TooLong,
}

/// A value taken by [`Scanner::take_value`].
enum Taken {
    /// `buf[start..end]`, at this stream offset.
    Slice(usize, usize, u64),
    /// In `compacted`, from this stream offset.
    Compacted(u64),
    /// Too long even compacted: skipped and counted.
    Skipped,
    /// The input ended.
    End,
}

/// Copies one JSON value as it streams past, cutting every string after
/// [`MAX_STRING_BYTES`] (never inside an escape, a UTF-8 character or a surrogate pair) and
/// stopping the copy, but not the scan, at [`MAX_ELEMENT_BYTES`]. It finds the value's end
/// as [`scan_value`] does.
struct Compactor {
    /// The bracket that opened the value and its closer, or `None` for a string or scalar.
    brackets: Option<(u8, u8)>,
    /// The value is a string.
    is_string: bool,
    depth: u32,
    in_string: bool,
    /// Escape bytes still to come after the current one (1 after `\`, 4 for `\u`).
    escape: u8,
    /// The escape being read is `\u`; its hex value so far.
    unicode: Option<u32>,
    /// The last complete escape was a leading surrogate: its pair must be kept with it.
    after_leading_surrogate: bool,
    /// Bytes of the current string's content seen.
    string_len: u64,
    /// Whether the current string's bytes are still copied.
    copying: bool,
    overflow: bool,
    strings_cut: u64,
    longest_cut: u64,
    started: bool,
}

impl Compactor {
    fn new(first: u8) -> Self {
        let brackets = match first {
            b'{' => Some((b'{', b'}')),
            b'[' => Some((b'[', b']')),
            _ => None,
        };
        Compactor {
            brackets,
            is_string: first == b'"',
            depth: 0,
            in_string: false,
            escape: 0,
            unicode: None,
            after_leading_surrogate: false,
            string_len: 0,
            copying: true,
            overflow: false,
            strings_cut: 0,
            longest_cut: 0,
            started: false,
        }
    }

    fn push(&mut self, out: &mut Vec<u8>, byte: u8) {
        if out.len() < MAX_ELEMENT_BYTES {
            out.push(byte);
        } else {
            self.overflow = true;
        }
    }

    /// Feeds the next bytes of the value; returns how many it took when the value ended in
    /// them.
    fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) -> Option<usize> {
        let mut i = 0;
        while i < data.len() {
            let byte = data[i];
            if self.in_string {
                if !self.copying && self.escape == 0 {
                    // The cut part of a long string: skip to its next quote or backslash.
                    match memchr::memchr2(b'"', b'\\', &data[i..]) {
                        Some(found) => {
                            self.string_len += found as u64;
                            i += found;
                        }
                        None => {
                            self.string_len += (data.len() - i) as u64;
                            return None;
                        }
                    }
                    if data[i] == b'\\' {
                        self.string_len += 1;
                        self.escape = 1;
                        self.unicode = None;
                        i += 1;
                        continue;
                    }
                }
                let byte = data[i];
                if self.escape > 0 {
                    self.string_len += 1;
                    if self.copying {
                        self.push(out, byte);
                    }
                    match self.unicode {
                        None if byte == b'u' => {
                            self.unicode = Some(0);
                            self.escape = 4;
                        }
                        None => {
                            self.escape = 0;
                            self.after_leading_surrogate = false;
                        }
                        Some(value) => {
                            let digit = (byte as char).to_digit(16).unwrap_or(0);
                            let value = value * 16 + digit;
                            self.unicode = Some(value);
                            self.escape -= 1;
                            if self.escape == 0 {
                                self.after_leading_surrogate = (0xD800..0xDC00).contains(&value);
                                self.unicode = None;
                            }
                        }
                    }
                    i += 1;
                    continue;
                }
                if byte == b'"' {
                    self.in_string = false;
                    if !self.copying {
                        self.strings_cut += 1;
                        self.longest_cut = self.longest_cut.max(self.string_len);
                    }
                    self.push(out, byte);
                    i += 1;
                    if self.is_string {
                        return Some(i);
                    }
                    continue;
                }
                if self.copying
                    && self.string_len >= MAX_STRING_BYTES as u64
                    && byte & 0xC0 != 0x80
                    && !self.after_leading_surrogate
                {
                    self.copying = false;
                    continue;
                }
                self.string_len += 1;
                if self.copying {
                    self.push(out, byte);
                }
                if byte == b'\\' {
                    self.escape = 1;
                    self.unicode = None;
                } else {
                    self.after_leading_surrogate = false;
                }
                i += 1;
                continue;
            }
            if self.brackets.is_none() && !self.is_string && self.started {
                // A number or literal ends at the next delimiter.
                if matches!(byte, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                    return Some(i);
                }
            }
            self.started = true;
            self.push(out, byte);
            i += 1;
            if byte == b'"' {
                self.in_string = true;
                self.copying = true;
                self.string_len = 0;
                self.after_leading_surrogate = false;
            } else if let Some((open, close)) = self.brackets {
                if byte == open {
                    self.depth += 1;
                } else if byte == close {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Some(i);
                    }
                }
            }
        }
        None
    }
}

fn describe_byte(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("`{}`", byte as char)
    } else {
        format!("byte 0x{byte:02x}")
    }
}

/// Scans `data` from `state.offset` for the end of the value that starts at `data[0]`.
/// Returns the value's length, or `None` (with `state` saved) when `data` ends first.
fn scan_value(data: &[u8], state: &mut ValueState) -> Option<usize> {
    let first = *data.first()?;
    match first {
        b'{' | b'[' => scan_container(data, state),
        b'"' => {
            if state.offset == 0 {
                state.offset = 1;
                state.in_string = true;
            }
            scan_string_end(data, state).map(|end| end + 1)
        }
        _ => {
            // A number or literal: up to the next delimiter.
            let mut i = state.offset;
            while i < data.len() {
                if matches!(data[i], b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                    return Some(i);
                }
                i += 1;
            }
            state.offset = i;
            None
        }
    }
}

/// Within a string at `state.offset`: finds the closing quote's index.
fn scan_string_end(data: &[u8], state: &mut ValueState) -> Option<usize> {
    let mut i = state.offset;
    loop {
        match memchr::memchr2(b'"', b'\\', &data[i..]) {
            Some(found) => {
                let at = i + found;
                if data[at] == b'"' {
                    state.in_string = false;
                    state.offset = at + 1;
                    return Some(at);
                }
                // An escape: skip it and the escaped byte.
                if at + 1 >= data.len() {
                    state.offset = at;
                    return None;
                }
                i = at + 2;
            }
            None => {
                state.offset = data.len();
                return None;
            }
        }
    }
}

/// Balanced scan of an object or array. Only the kind of bracket that opened the value is
/// counted: in valid JSON the other kind is balanced inside it, and invalid JSON is left to
/// the parser, which reports it.
///
/// Eight bytes at a time (SWAR: masks of the quotes, backslashes and brackets in a `u64`, the
/// string state carried by the quotes' prefix parity), since this scan is the part of the
/// multi-core reader that runs on one thread: trace events are mostly short strings and short
/// gaps between them, where a `memchr` call per quote costs more than the bytes it skips. A
/// word with a backslash is scanned byte by byte.
fn scan_container(data: &[u8], state: &mut ValueState) -> Option<usize> {
    let (open, close) = if data[0] == b'{' {
        (b'{', b'}')
    } else {
        (b'[', b']')
    };
    let mut scan = ContainerScan {
        open,
        close,
        at: state.offset,
        depth: state.depth,
        in_string: state.in_string,
    };
    let found = scan.run(data);
    state.offset = scan.at;
    state.depth = scan.depth;
    state.in_string = scan.in_string;
    found
}

struct ContainerScan {
    open: u8,
    close: u8,
    /// Next byte to look at.
    at: usize,
    depth: u32,
    in_string: bool,
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` equal to `byte`, exactly (no carries between bytes).
fn high_mask(word: u64, byte: u8) -> u64 {
    let x = word ^ (LOW_BITS * u64::from(byte));
    !(((x & !HIGH_BITS) + !HIGH_BITS) | x) & HIGH_BITS
}

/// One bit per byte of `word` equal to `byte` (bit k for byte k, little-endian).
fn byte_mask(word: u64, byte: u8) -> u32 {
    // Gathers the eight high bits into the top byte.
    ((high_mask(word, byte) >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
}

impl ContainerScan {
    fn run(&mut self, data: &[u8]) -> Option<usize> {
        while let Some(chunk) = data.get(self.at..self.at + 8) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            let word = u64::from_le_bytes(bytes);
            if byte_mask(word, b'\\') != 0 {
                let stop = self.at + 8;
                if let Some(end) = self.bytes(data, stop) {
                    return Some(end);
                }
                if self.at < stop {
                    // An escape at the end of the data: resume at its backslash.
                    return None;
                }
                continue;
            }
            let quotes = byte_mask(word, b'"');
            let mut inside = quotes;
            inside ^= inside << 1;
            inside ^= inside << 2;
            inside ^= inside << 4;
            if self.in_string {
                inside = !inside;
            }
            let brackets =
                (byte_mask(word, self.open) | byte_mask(word, self.close)) & !inside & 0xFF;
            if brackets == 0 {
                self.in_string ^= quotes.count_ones() % 2 == 1;
                self.at += 8;
                continue;
            }
            // A bracket outside strings: count them in order.
            let opens = byte_mask(word, self.open);
            let mut left = brackets;
            while left != 0 {
                let bit = left.trailing_zeros();
                left &= left - 1;
                if opens & (1 << bit) != 0 {
                    self.depth += 1;
                } else {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        self.at += bit as usize + 1;
                        self.in_string = false;
                        return Some(self.at);
                    }
                }
            }
            self.in_string ^= quotes.count_ones() % 2 == 1;
            self.at += 8;
        }
        self.bytes(data, data.len())
    }

    /// Byte by byte up to `stop` (or one past it, for an escape that straddles it); stops early,
    /// at its backslash, at an escape that the data cuts.
    fn bytes(&mut self, data: &[u8], stop: usize) -> Option<usize> {
        while self.at < stop {
            let byte = data[self.at];
            if self.in_string {
                if byte == b'"' {
                    self.in_string = false;
                } else if byte == b'\\' {
                    if self.at + 1 >= data.len() {
                        return None;
                    }
                    self.at += 1;
                }
                self.at += 1;
                continue;
            }
            self.at += 1;
            if byte == b'"' {
                self.in_string = true;
            } else if byte == self.open {
                self.depth += 1;
            } else if byte == self.close {
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 0 {
                    return Some(self.at);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `memchr` scan [`scan_container`] replaced, as the reference it must agree with.
    fn reference_container_end(data: &[u8]) -> Option<usize> {
        let (open, close) = if data[0] == b'{' {
            (b'{', b'}')
        } else {
            (b'[', b']')
        };
        let (mut i, mut depth) = (0, 0u32);
        loop {
            let at = i + memchr::memchr3(b'"', open, close, &data[i..])?;
            if data[at] == b'"' {
                let mut j = at + 1;
                loop {
                    let found = j + memchr::memchr2(b'"', b'\\', &data[j..])?;
                    if data[found] == b'"' {
                        i = found + 1;
                        break;
                    }
                    j = found + 2;
                    if j > data.len() {
                        return None;
                    }
                }
            } else if data[at] == open {
                depth += 1;
                i = at + 1;
            } else {
                depth = depth.saturating_sub(1);
                i = at + 1;
                if depth == 0 {
                    return Some(i);
                }
            }
        }
    }

    proptest::proptest! {
        /// The run splitter's word-at-a-time scan stops where its byte loop stops, with the
        /// same state.
        #[test]
        fn the_boundary_scan_agrees_with_its_byte_loop(
            data in proptest::collection::vec(
                proptest::sample::select(&b"{}[]\\\"aaaaaaa, "[..]), 0..300),
            batch_bytes in 1usize..120,
            long_element in 1usize..200,
        ) {
            let mut fast = BoundaryScan::new(long_element);
            let fast_stop = fast.run(&data, batch_bytes);
            let mut slow = BoundaryScan::new(long_element);
            let slow_stop = slow
                .bytes(&data, data.len(), batch_bytes)
                .unwrap_or(BoundaryStop::Exhausted);
            proptest::prop_assert_eq!(&fast_stop, &slow_stop);
            proptest::prop_assert_eq!(fast.last_end, slow.last_end);
            if fast_stop == BoundaryStop::Exhausted {
                proptest::prop_assert_eq!(
                    (fast.at, fast.depth, fast.in_string),
                    (slow.at, slow.depth, slow.in_string)
                );
            }
        }

        /// Whole or fed in pieces (as refills feed it), the scan finds the end the reference
        /// finds, in valid JSON or not.
        #[test]
        fn the_container_scan_agrees_with_the_reference(
            body in proptest::collection::vec(
                proptest::sample::select(&b"{}[]\\\"a,:"[..]), 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..4),
            array in proptest::bool::ANY,
        ) {
            let mut data = vec![if array { b'[' } else { b'{' }];
            data.extend(&body);
            let expected = reference_container_end(&data);
            let mut state = ValueState { offset: 0, depth: 0, in_string: false };
            let mut found = None;
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort_unstable();
            cuts.push(data.len());
            for cut in cuts {
                if cut == 0 {
                    continue;
                }
                if let Some(end) = scan_container(&data[..cut], &mut state) {
                    found = Some(end);
                    break;
                }
            }
            proptest::prop_assert_eq!(found, expected, "{}", String::from_utf8_lossy(&data));
        }
    }

    #[derive(Default)]
    struct Collect {
        metadata: Vec<(String, String)>,
        events: Vec<String>,
    }

    impl Sink for Collect {
        fn metadata(&mut self, key: &str, value: &[u8], _: u64) {
            self.metadata
                .push((key.to_owned(), String::from_utf8_lossy(value).into_owned()));
        }
        fn event(&mut self, element: &[u8], _: u64) {
            self.events
                .push(String::from_utf8_lossy(element).into_owned());
        }
        fn event_prefix(&mut self, _: &[u8]) -> Prefix {
            Prefix::Invalid
        }
    }

    /// A reader that hands out one byte at a time, to exercise every refill path.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            match (self.0.split_first(), out.first_mut()) {
                (Some((byte, rest)), Some(slot)) => {
                    *slot = *byte;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    fn split(text: &str) -> (Collect, StructureRepairs) {
        let mut sink = Collect::default();
        let mut scanner = Scanner::new(Trickle(text.as_bytes()), None);
        scanner.run(&mut sink).expect("splits");
        (sink, scanner.repairs)
    }

    #[test]
    fn splits_events_and_metadata() {
        let (sink, repairs) = split(
            r#"{"schemaVersion": 1, "traceEvents": [ {"name": "a}\"{", "ts": 1}, {"args": {"x": [1, {"y": 2}]}} ], "x": "y"}"#,
        );
        assert_eq!(sink.events.len(), 2);
        assert_eq!(sink.events[0], r#"{"name": "a}\"{", "ts": 1}"#);
        assert_eq!(
            sink.metadata[0],
            ("schemaVersion".to_owned(), "1".to_owned())
        );
        assert_eq!(sink.metadata[1], ("x".to_owned(), "\"y\"".to_owned()));
        assert_eq!(repairs.trailing_commas + repairs.missing_closers, 0);
    }

    /// A sink that takes runs cut where they may end, as the one-thread reader does, checking
    /// each is whole elements with serde_json; it keeps each element's text.
    #[derive(Default)]
    struct Speculating {
        events: Vec<String>,
        taken: usize,
        refused: usize,
    }

    impl Sink for Speculating {
        fn metadata(&mut self, _: &str, _: &[u8], _: u64) {}
        fn event(&mut self, element: &[u8], _: u64) {
            let value: serde_json::Value = serde_json::from_slice(element).expect("an element");
            self.events.push(value.to_string());
        }
        fn event_prefix(&mut self, _: &[u8]) -> Prefix {
            Prefix::Invalid
        }
        fn raw_batch_bytes(&self) -> Option<usize> {
            Some(120)
        }
        fn raw_events(&mut self, run: &[u8], offset: u64) {
            let mut scanner = Scanner::over_run(run.to_vec(), offset);
            scanner.batch_events(self).expect("splits");
        }
        fn speculates(&self) -> bool {
            true
        }
        fn try_raw_events(&mut self, run: &[u8], _: u64) -> bool {
            let array = [b"[", crate::tape::strip_leading_separator(run), b"]"].concat();
            match serde_json::from_slice::<Vec<serde_json::Value>>(&array) {
                Ok(values) if values.iter().all(serde_json::Value::is_object) => {
                    self.events.extend(values.iter().map(|v| v.to_string()));
                    self.taken += 1;
                    true
                }
                _ => {
                    self.refused += 1;
                    false
                }
            }
        }
    }

    #[test]
    fn runs_cut_at_line_breaks_are_taken_only_when_whole() {
        // Kineto's layout, an element whose nested objects span several windows (each cut in
        // it parses as objects but leaves the element open), a `},` inside a string, and
        // metadata after the array.
        let mut text = String::from("{\"traceEvents\": [\n");
        for i in 0..40 {
            text.push_str(&format!(
                "  {{\"ph\": \"X\", \"name\": \"op{i}\", \"ts\": {i}}},\n"
            ));
        }
        text.push_str("  {\"args\": {\"list\": [\n");
        for i in 0..20 {
            text.push_str(&format!("    {{\"k\": {i}}},\n"));
        }
        text.push_str("    {\"k\": 0}]}},\n  {\"name\": \"a},\\nb\", \"ts\": 1}\n], \"x\": 1}");
        let mut speculating = Speculating::default();
        let mut scanner = Scanner::new(text.as_bytes(), None);
        assert!(scanner.run(&mut speculating).expect("reads"));
        let (plain, _) = split(&text);
        let plain: Vec<String> = plain
            .events
            .iter()
            .map(|e| {
                serde_json::from_str::<serde_json::Value>(e)
                    .expect("json")
                    .to_string()
            })
            .collect();
        assert_eq!(speculating.events, plain);
        assert!(speculating.taken >= 10, "{}", speculating.taken);
        assert!(speculating.refused >= 1, "{}", speculating.refused);
    }

    #[test]
    fn a_speculative_cut_is_after_a_brace_a_comma_and_a_line_break() {
        assert_eq!(speculative_cut(b"{\"a\": 1},\n{\"b\": 2},\n{"), Some(18));
        assert_eq!(speculative_cut(b"{\"a\": 1} , \r\n  {"), Some(8));
        assert_eq!(speculative_cut(b"{\"a\": 1},{\"b\": 2}"), None);
        assert_eq!(speculative_cut(b"[1,\n2]"), None);
    }

    fn split_fast(bytes: &[u8]) -> (Collect, StructureRepairs) {
        let mut sink = Collect::default();
        let mut scanner = Scanner::new(bytes, None);
        scanner.run(&mut sink).expect("splits");
        assert!(scanner.buf.len() <= 2 * MAX_ELEMENT_BYTES + 4 * READ_CHUNK);
        (sink, scanner.repairs)
    }

    #[test]
    fn over_long_elements_are_streamed_with_their_strings_cut() {
        let long = MAX_ELEMENT_BYTES + (1 << 20);
        let mut trace = br#"{"traceEvents": [{"name": ""#.to_vec();
        // A surrogate pair, an escape and a two-byte character right at the cut stay whole.
        trace.extend(std::iter::repeat_n(b'a', MAX_STRING_BYTES - 1));
        trace.extend_from_slice(br"\uD83D\uDE00");
        trace.extend(std::iter::repeat_n(b'b', long));
        trace.extend_from_slice(br#"", "cat": ""#);
        trace.extend(std::iter::repeat_n(b'c', MAX_STRING_BYTES - 1));
        trace.extend_from_slice(r#"\"é"#.as_bytes());
        trace.extend_from_slice(br#"", "ph": ""#);
        trace.extend(std::iter::repeat_n(b'p', MAX_STRING_BYTES - 1));
        trace.extend_from_slice("éd".as_bytes());
        trace.extend_from_slice(br#"", "ts": 1}, {"name": "next"}]}"#);
        let (sink, repairs) = split_fast(&trace);
        assert_eq!(sink.events.len(), 2);
        assert!(
            sink.events[0].len() < 4 * MAX_STRING_BYTES,
            "strings not cut"
        );
        let event: serde_json::Value = serde_json::from_str(&sink.events[0]).expect("valid JSON");
        let name = event["name"].as_str().expect("name");
        assert_eq!(name.len(), MAX_STRING_BYTES - 1 + 4);
        assert!(name.ends_with("a😀"), "{}", &name[name.len() - 8..]);
        // An escape or a character at the cut is kept whole.
        let cat = event["cat"].as_str().expect("cat");
        assert_eq!(cat.len(), MAX_STRING_BYTES, "{}", &cat[cat.len() - 8..]);
        assert!(cat.ends_with("c\""), "{}", &cat[cat.len() - 8..]);
        let ph = event["ph"].as_str().expect("ph");
        assert_eq!(ph.len(), MAX_STRING_BYTES + 1, "{}", &ph[ph.len() - 8..]);
        assert!(ph.ends_with("pé"), "{}", &ph[ph.len() - 8..]);
        assert_eq!(event["ts"], 1);
        assert_eq!(sink.events[1], r#"{"name": "next"}"#);
        assert_eq!(repairs.strings_cut, 3);
        assert_eq!(
            repairs.longest_cut,
            Some(((MAX_STRING_BYTES - 1 + 12 + long) as u64, 17))
        );
        assert_eq!(repairs.oversized_skipped, 0);
    }

    #[test]
    fn elements_too_long_even_compacted_are_skipped_and_metadata_too() {
        let mut trace = br#"{"deviceProperties": ["#.to_vec();
        trace.extend(std::iter::repeat_n(&b"1,"[..], MAX_ELEMENT_BYTES / 2 + 10).flatten());
        trace.extend_from_slice(br#"1], "traceEvents": [{"args": ["#);
        trace.extend(std::iter::repeat_n(&b"[],"[..], MAX_ELEMENT_BYTES / 3 + 10).flatten());
        trace.extend_from_slice(br#"[]]}, {"name": "kept"}], "x": "y"}"#);
        let (sink, repairs) = split_fast(&trace);
        assert_eq!(sink.events.len(), 1, "an over-long element was kept");
        assert_eq!(sink.events[0], r#"{"name": "kept"}"#);
        assert_eq!(sink.metadata, [("x".to_owned(), "\"y\"".to_owned())]);
        assert_eq!(repairs.oversized_skipped, 2);
        assert_eq!(repairs.first_oversized.map(|(offset, _)| offset), Some(21));
    }

    #[test]
    fn repairs_trailing_commas_and_missing_closers() {
        let (sink, repairs) = split(r#"{"traceEvents": [{"a": 1}, {"b": 2},"#);
        assert_eq!(sink.events.len(), 2);
        assert_eq!(repairs.missing_closers, 2);
        let (sink, repairs) = split(r#"{"traceEvents": [{"a": 1}, {"b": 2},], }"#);
        assert_eq!(sink.events.len(), 2);
        assert_eq!(repairs.trailing_commas, 2);
        let (sink, repairs) = split(r#"{"traceEvents": [{"a": 1}, {"b": "#);
        assert_eq!(sink.events.len(), 1);
        assert_eq!(repairs.truncated_elements, 1);
    }
}
