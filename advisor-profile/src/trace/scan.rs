//! A streaming splitter for Chrome trace JSON: walks the top-level object and hands out the
//! byte slice of each metadata value and of each `traceEvents` element, repairing what real
//! traces get wrong (trailing commas, missing closing brackets) and counting each repair.
//!
//! Only the current element is held in memory (plus read-ahead), so memory does not grow with
//! the file. Elements are then deserialized into small typed structs by the caller.

use std::io::Read;

use super::TraceError;

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
}

const READ_CHUNK: usize = 1 << 20;

pub(crate) struct Scanner<R> {
    reader: R,
    buf: Vec<u8>,
    /// First unconsumed byte.
    pos: usize,
    /// End of valid data.
    end: usize,
    eof: bool,
    /// Stream offset of `buf[0]`.
    base: u64,
    pub repairs: StructureRepairs,
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
            pos: 0,
            end: 0,
            eof: false,
            base: 0,
            repairs: StructureRepairs::default(),
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

    /// Finds the end of the JSON value starting at `pos`; returns its length, or `None` when
    /// the input ends inside it.
    fn value_len(&mut self) -> Result<Option<usize>, TraceError> {
        let mut state = ValueState {
            offset: 0,
            depth: 0,
            in_string: false,
        };
        loop {
            if let Some(len) = scan_value(&self.buf[self.pos..self.end], &mut state) {
                return Ok(Some(len));
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Takes the next value as a slice, with its offset. `None` at the end of the input,
    /// having counted a truncated value.
    fn take_value(&mut self) -> Result<Option<(usize, usize, u64)>, TraceError> {
        match self.value_len()? {
            Some(len) => {
                let start = self.pos;
                let offset = self.offset();
                self.pos += len;
                Ok(Some((start, start + len, offset)))
            }
            None => {
                if self.pos < self.end {
                    self.repairs.truncated_elements += 1;
                }
                self.pos = self.end;
                Ok(None)
            }
        }
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
            let Some((start, end, offset)) = self.take_value()? else {
                self.repairs.missing_closers += 1;
                return Ok(found_events);
            };
            let key: String = serde_json::from_slice(&self.buf[start..end]).map_err(|error| {
                TraceError::Syntax {
                    offset,
                    message: format!("bad key in the top-level object: {error}"),
                }
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
                let Some((start, end, offset)) = self.take_value()? else {
                    self.repairs.missing_closers += 1;
                    return Ok(found_events);
                };
                sink.metadata(&key, &self.buf[start..end], offset);
            }
        }
    }

    /// Reads array elements up to the closing `]`. Returns false when the input ended first.
    fn events(&mut self, sink: &mut impl Sink) -> Result<bool, TraceError> {
        loop {
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
            // Parse straight from the buffer; fall back to finding the element's end first
            // when it does not parse (it may need repair) or the input ends inside it.
            loop {
                match sink.event_prefix(&self.buf[self.pos..self.end]) {
                    Prefix::Parsed(len) => {
                        self.pos += len;
                        break;
                    }
                    Prefix::NeedMore if self.fill()? => continue,
                    Prefix::NeedMore | Prefix::Invalid => {
                        let Some((start, end, offset)) = self.take_value()? else {
                            self.repairs.missing_closers += 1;
                            return Ok(false);
                        };
                        if start == end {
                            // An empty value: a stray `}` (commas, whitespace and `]` were
                            // taken above). Hand it on as a malformed element so the scan
                            // moves past it instead of finding it again forever.
                            self.pos += 1;
                            sink.event(&self.buf[start..start + 1], offset);
                        } else {
                            sink.event(&self.buf[start..end], offset);
                        }
                        break;
                    }
                }
            }
        }
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
fn scan_container(data: &[u8], state: &mut ValueState) -> Option<usize> {
    let (open, close) = if data[0] == b'{' {
        (b'{', b'}')
    } else {
        (b'[', b']')
    };
    let mut i = state.offset;
    if state.in_string {
        scan_string_end(data, state)?;
        i = state.offset;
    }
    loop {
        let found = memchr::memchr3(b'"', open, close, &data[i..]);
        let Some(found) = found else {
            state.offset = data.len();
            return None;
        };
        let at = i + found;
        let byte = data[at];
        if byte == b'"' {
            state.in_string = true;
            state.offset = at + 1;
            scan_string_end(data, state)?;
            i = state.offset;
        } else if byte == open {
            state.depth += 1;
            i = at + 1;
        } else {
            state.depth = state.depth.saturating_sub(1);
            i = at + 1;
            if state.depth == 0 {
                state.offset = i;
                return Some(i);
            }
        }
        state.offset = i;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
