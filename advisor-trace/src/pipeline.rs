//! The multi-core reader: the calling thread reads (and inflates) the input and cuts
//! `traceEvents` into runs of about 256 KiB; worker threads, one per core, parse each run at
//! once on simd-json's tape ([`crate::tape`]) into compact events; one more thread folds them
//! into the [`Accumulator`] in file order. The accumulator and every analysis stay exactly as
//! in the one-thread reader (they are order-sensitive: correlation ids, per-thread stacks,
//! first and last times), so the summary is the same whichever reader ran.
//!
//! Runs are cut where they may end, without looking at every byte: after a `}` that a comma
//! and a line break follow (a raw line break is never inside a JSON string), as Kineto writes
//! every event. Whether the cut was between elements is known only once a worker parsed the
//! run: a run that starts between elements and parses as whole objects ends between them too.
//! A run the tape refuses (a cut inside a long element, a `NaN`, the array's end) is sent
//! back: the accumulator drops it and whatever was cut after it ([`Slot::Rewound`]), and the
//! scanner scans those bytes again exactly (string state and object depth, eight bytes at a
//! time), so a refusal costs time, never correctness. Before it does anything but cut another
//! run (the end of the array, a long element), the reading thread waits for the workers'
//! answers ([`Sink::settle`]).
//!
//! Memory stays bounded: at most [`in_flight`] batches are between the reader and the
//! accumulator at a time (each about 256 KiB of JSON and its compact events, which borrow
//! nothing; runs cut but not yet known whole are kept until they are), an element of 1 MiB
//! or longer is parsed on the reading thread and sent on alone, and the buffers come back to
//! be reused. A trace smaller than one batch starts no thread at all.

use std::{
    collections::BTreeMap,
    io::Read,
    ops::Range,
    panic,
    sync::{
        Mutex, PoisonError,
        mpsc::{self, Receiver, Sender, SyncSender},
    },
    thread::{Scope, ScopedJoinHandle},
};

use crate::{
    accumulate::{
        Accumulator, CommParams, Fields, Metadata, Parsed, ShapeCost, comm_params, parse_element,
        shape_cost,
    },
    event::{ArgNumbers, Num, RawEvent},
    read::TraceError,
    scan::{LONG_ELEMENT_BYTES, Prefix, Scanner, Sink, StructureRepairs},
    tape::{TapeEvent, TapeParser},
};

/// Elements go to the workers in batches of about this many bytes of JSON: large enough that
/// handing one over costs nothing next to parsing it, small enough that a few in flight, and
/// each worker's tape of one (about four times its size), stay a few megabytes: 1 MiB runs
/// read no faster on the 531 MB benchmark trace and peak 6 MiB higher.
pub(crate) const CHUNK_BYTES: usize = 256 << 10;

/// Batches between the reader and the accumulator at most, for `workers` workers: enough
/// that no worker waits while another batch is being folded in.
fn in_flight(workers: usize) -> usize {
    workers + 2
}

/// What a batch holds, in file order.
enum Element {
    /// An element of `traceEvents`: its bytes in the batch and its offset in the stream.
    Json(Range<usize>, u64),
    /// A top-level value other than `traceEvents`, already parsed.
    Metadata(Metadata),
}

/// Elements for a worker: their bytes back to back, or (with `run_offset`) a run of
/// `traceEvents` as the file has it, from that stream offset, for the worker to split.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    elements: Vec<Element>,
    run_offset: Option<u64>,
    /// A run cut where it may end ([`Sink::try_raw_events`]): its number among those the
    /// reading thread cut. The worker reads it on the tape or refuses it, and its bytes come
    /// back intact either way, for the reading thread to scan again after a refusal.
    speculative: Option<u64>,
}

/// A batch's buffer back from a worker, and whether the tape read it (always true for a
/// batch that was not speculative).
struct Returned {
    batch: Batch,
    plain: bool,
}

/// One event as a worker parsed it: its strings in the batch's arena, owned, so it can cross
/// to the accumulating thread.
struct CompactEvent {
    ph: Range<u32>,
    cat: Range<u32>,
    name: Range<u32>,
    ts: Num,
    dur: Num,
    thread: u64,
    args: Option<ArgNumbers>,
    cost: Option<Box<ShapeCost>>,
    comm: Option<Box<CommParams>>,
}

enum Item {
    Event(CompactEvent),
    Malformed(u64, serde_json::Error),
    Metadata(Metadata),
}

/// A parsed batch, ready to fold in.
#[derive(Default)]
struct Done {
    arena: String,
    items: Vec<Item>,
    non_finite_repairs: u64,
    comma_repairs: u64,
    /// What splitting a run repaired (trailing commas, cut strings, ...).
    structure: StructureRepairs,
    /// A speculative run the tape did not read: the accumulator drops it and every batch
    /// after it up to [`Slot::Rewound`], and the reading thread scans the bytes again.
    refused: bool,
}

impl Done {
    fn clear(&mut self) {
        self.arena.clear();
        self.items.clear();
        self.refused = false;
        self.non_finite_repairs = 0;
        self.comma_repairs = 0;
        self.structure = StructureRepairs::default();
    }

    fn keep(&mut self, text: &str) -> Range<u32> {
        let start = self.arena.len();
        self.arena.push_str(text);
        // An arena holds one batch's strings (a few MiB at most): far below 4 GiB.
        let index = |at: usize| u32::try_from(at).unwrap_or(u32::MAX);
        index(start)..index(self.arena.len())
    }

    /// Parses one element into this batch's items; `text` is the element when it is known to
    /// be UTF-8.
    fn parse(&mut self, element: &[u8], text: Option<&str>, offset: u64, fixed: &mut Vec<u8>) {
        match parse_element(element, text, fixed) {
            Parsed::Event {
                event,
                non_finite_repairs,
                comma_repairs,
            } => {
                self.non_finite_repairs += non_finite_repairs;
                self.comma_repairs += comma_repairs;
                self.push_event(&event);
            }
            Parsed::Malformed(error) => self.items.push(Item::Malformed(offset, error)),
        }
    }

    fn push_event(&mut self, event: &RawEvent<'_>) {
        let cost = shape_cost(event).map(Box::new);
        let comm = comm_params(event).map(Box::new);
        self.push_compact(&Fields::of(event, None, None), cost, comm);
    }

    fn push_tape_event(&mut self, mut event: TapeEvent<'_>) {
        let (cost, comm) = (event.cost.take(), event.comm.take());
        self.push_compact(&event.fields(), cost, comm);
    }

    /// Keeps an event's fields, its strings in the arena, with its cost and collective.
    fn push_compact(
        &mut self,
        fields: &Fields<'_>,
        cost: Option<Box<ShapeCost>>,
        comm: Option<Box<CommParams>>,
    ) {
        let compact = CompactEvent {
            ph: self.keep(fields.ph),
            cat: self.keep(fields.cat),
            name: self.keep(fields.name),
            ts: fields.ts,
            dur: fields.dur,
            thread: fields.thread,
            args: fields.args,
            cost,
            comm,
        };
        self.items.push(Item::Event(compact));
    }

    /// Parses a batch: a run at once on the tape when it is plain JSON, else element by
    /// element.
    fn parse_batch(&mut self, batch: &mut Batch, tape: &mut TapeParser) {
        if let Some(offset) = batch.run_offset {
            let (items, arena) = (self.items.len(), self.arena.len());
            if tape.parse_streaming(&batch.bytes, |event| self.push_tape_event(event)) {
                return;
            }
            // What the tape gave before it stopped: a refused run is dropped whole, and a
            // run found exactly is read again element by element.
            self.items.truncate(items);
            self.arena.truncate(arena);
            if batch.speculative.is_some() {
                self.refused = true;
                return;
            }
            let mut scanner = Scanner::over_run(std::mem::take(&mut batch.bytes), offset);
            // A run in memory cannot fail to read, and splitting it raises no error.
            let _ = scanner.batch_events(self);
            self.structure = scanner.repairs;
            batch.bytes = scanner.into_run();
            batch.bytes.clear();
            return;
        }
        let mut fixed = Vec::new();
        // One check of the whole batch (fast on ASCII) instead of one per string.
        let text = std::str::from_utf8(&batch.bytes).ok();
        for element in batch.elements.drain(..) {
            match element {
                Element::Json(range, offset) => {
                    let element_text = text.and_then(|t| t.get(range.clone()));
                    if let Some(bytes) = batch.bytes.get(range) {
                        self.parse(bytes, element_text, offset, &mut fixed);
                    }
                }
                Element::Metadata(metadata) => self.items.push(Item::Metadata(metadata)),
            }
        }
    }

    /// Folds the batch into `accumulator` and `structure`, in order.
    fn fold_into(&mut self, accumulator: &mut Accumulator, structure: &mut StructureRepairs) {
        structure.merge(&self.structure);
        accumulator.non_finite_repairs += self.non_finite_repairs;
        accumulator.comma_repairs += self.comma_repairs;
        let text = |range: &Range<u32>| {
            self.arena
                .get(range.start as usize..range.end as usize)
                .unwrap_or("")
        };
        for item in self.items.drain(..) {
            match item {
                Item::Event(event) => accumulator.add(&Fields {
                    ph: text(&event.ph),
                    cat: text(&event.cat),
                    name: text(&event.name),
                    ts: event.ts,
                    dur: event.dur,
                    thread: event.thread,
                    args: event.args,
                    cost: event.cost.as_deref(),
                    comm: event.comm.as_deref(),
                }),
                Item::Malformed(offset, error) => accumulator.malformed(offset, &error),
                Item::Metadata(metadata) => accumulator.apply_metadata(metadata),
            }
        }
    }
}

/// A worker splitting a run parses each element straight from the run, as the one-thread
/// reader parses from its buffer.
impl Sink for Done {
    fn metadata(&mut self, _key: &str, _value: &[u8], _offset: u64) {}

    fn event(&mut self, element: &[u8], offset: u64) {
        self.parse(element, None, offset, &mut Vec::new());
    }

    fn event_prefix(&mut self, data: &[u8]) -> Prefix {
        let mut stream = serde_json::Deserializer::from_slice(data).into_iter::<RawEvent<'_>>();
        match stream.next() {
            Some(Ok(event)) => {
                let len = stream.byte_offset();
                self.push_event(&event);
                Prefix::Parsed(len)
            }
            Some(Err(error)) if error.is_eof() => Prefix::NeedMore,
            None => Prefix::NeedMore,
            Some(Err(_)) => Prefix::Invalid,
        }
    }
}

/// A batch's place in the order of the file: parsed by a worker (its answer comes on the
/// receiver) or on the reading thread.
enum Slot {
    Pending(Receiver<Done>),
    Ready(Done),
    /// The reading thread took back the speculative runs from the refused one on: what
    /// comes after this is the file again.
    Rewound,
}

struct Job {
    batch: Batch,
    reply: SyncSender<Done>,
}

/// The threads, once started.
struct Running<'scope> {
    jobs: SyncSender<Job>,
    order: SyncSender<Slot>,
    /// Batch buffers back from the workers.
    spent: Receiver<Returned>,
    workers: Vec<ScopedJoinHandle<'scope, ()>>,
    accumulator: ScopedJoinHandle<'scope, (Accumulator, StructureRepairs)>,
}

/// Runs `scanner` over the input with `workers` parsing threads and batches of `chunk_bytes`;
/// returns whether a `traceEvents` array was found, and what was accumulated. The repairs
/// the workers made splitting runs are added to the scanner's.
pub(crate) fn run<R: Read>(
    scanner: &mut Scanner<R>,
    workers: usize,
    chunk_bytes: usize,
) -> Result<(bool, Accumulator), TraceError> {
    let pool = Mutex::new(Vec::new());
    let (found, accumulator, structure) = std::thread::scope(|scope| {
        let mut pipeline = Pipeline::new(scope, workers, chunk_bytes, &pool);
        let found = scanner.run(&mut pipeline);
        // Joined even after an error, so no thread outlives the read.
        let (accumulator, structure) = pipeline.finish();
        (found, accumulator, structure)
    });
    let found = found?;
    scanner.repairs.merge(&structure);
    Ok((found, accumulator))
}

/// The [`Sink`] the scanner feeds on the reading thread.
struct Pipeline<'scope, 'env> {
    scope: &'scope Scope<'scope, 'env>,
    workers: usize,
    chunk_bytes: usize,
    batch: Batch,
    /// Parsed batches the accumulator is done with, for the workers to reuse.
    pool: &'env Mutex<Vec<Done>>,
    running: Option<Running<'scope>>,
    /// Batches parsed on this thread before the threads started, in order.
    parsed_here: Vec<Done>,
    /// Their bytes of JSON.
    bytes_here: usize,
    /// The tape parser of the batches parsed here.
    tape: TapeParser,
    /// Batch buffers back from the workers, to reuse.
    free: Vec<Batch>,
    /// Speculative runs back from the workers and not yet known to follow whole runs only,
    /// by number: kept until every run before them is known whole, or scanned again.
    held: BTreeMap<u64, Returned>,
    /// The number the next speculative run gets.
    next_speculative: u64,
    /// The first speculative run not yet known whole (every one before it was).
    first_unverified: u64,
    /// Speculative runs at the workers.
    outstanding: usize,
}

impl<'scope, 'env> Pipeline<'scope, 'env> {
    /// A pipeline of `workers` parsing threads and batches of `chunk_bytes`, started when the
    /// first batch is full.
    fn new(
        scope: &'scope Scope<'scope, 'env>,
        workers: usize,
        chunk_bytes: usize,
        pool: &'env Mutex<Vec<Done>>,
    ) -> Self {
        Pipeline {
            scope,
            workers: workers.max(1),
            chunk_bytes: chunk_bytes.max(1),
            batch: Batch::default(),
            pool,
            running: None,
            parsed_here: Vec::new(),
            bytes_here: 0,
            tape: TapeParser::default(),
            free: Vec::new(),
            held: BTreeMap::new(),
            next_speculative: 0,
            first_unverified: 0,
            outstanding: 0,
        }
    }

    fn start(&mut self) -> &mut Running<'scope> {
        let pool = self.pool;
        let workers = self.workers;
        let scope = self.scope;
        let parsed_here = if self.running.is_none() {
            std::mem::take(&mut self.parsed_here)
        } else {
            Vec::new()
        };
        self.running.get_or_insert_with(|| {
            let (jobs, job_queue) = mpsc::sync_channel::<Job>(in_flight(workers));
            let (order, order_queue) = mpsc::sync_channel::<Slot>(in_flight(workers));
            let (spent_sender, spent) = mpsc::channel::<Returned>();
            let job_queue = std::sync::Arc::new(Mutex::new(job_queue));
            let workers = (0..workers)
                .map(|_| {
                    let job_queue = std::sync::Arc::clone(&job_queue);
                    let spent_sender: Sender<Returned> = spent_sender.clone();
                    scope.spawn(move || work(&job_queue, &spent_sender, pool))
                })
                .collect();
            let accumulator = scope.spawn(move || accumulate(order_queue, pool));
            for done in parsed_here {
                let _ = order.send(Slot::Ready(done));
            }
            Running {
                jobs,
                order,
                spent,
                workers,
                accumulator,
            }
        })
    }

    /// Hands the current batch to a worker (or, while everything read so far is under one
    /// batch, parses it here).
    fn flush(&mut self) {
        if self.batch.elements.is_empty() && self.batch.run_offset.is_none() {
            return;
        }
        if self.running.is_none()
            && self.batch.speculative.is_none()
            && self.bytes_here + self.batch.bytes.len() < self.chunk_bytes
        {
            self.parse_here();
            return;
        }
        let capacity = self.chunk_bytes + self.chunk_bytes / 4;
        self.start();
        self.take_returned(false);
        let mut next = self.free.pop().unwrap_or_else(|| Batch {
            bytes: Vec::with_capacity(capacity),
            ..Batch::default()
        });
        next.bytes.clear();
        next.elements.clear();
        next.run_offset = None;
        next.speculative = None;
        let batch = std::mem::replace(&mut self.batch, next);
        let running = self.start();
        let (reply, answer) = mpsc::sync_channel(1);
        // The slot goes first: the accumulator waits for batches in this order. A send fails
        // only when a thread stopped (a panic), which `finish` reports.
        if running.order.send(Slot::Pending(answer)).is_ok() {
            let _ = running.jobs.send(Job { batch, reply });
        }
    }

    /// Takes the buffers the workers sent back (waiting for one when `wait`), and lets go of
    /// the speculative runs now known to follow whole runs only.
    fn take_returned(&mut self, wait: bool) {
        let Some(running) = self.running.as_ref() else {
            return;
        };
        let waited = if wait {
            let back = running.spent.recv().ok();
            if back.is_none() {
                // Every worker stopped (a panic, which `finish` resumes): nothing more comes.
                self.outstanding = 0;
            }
            back
        } else {
            None
        };
        for back in waited.into_iter().chain(running.spent.try_iter()) {
            match back.batch.speculative {
                None => self.free.push(back.batch),
                Some(number) => {
                    self.outstanding = self.outstanding.saturating_sub(1);
                    self.held.insert(number, back);
                }
            }
        }
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() != self.first_unverified || !entry.get().plain {
                break;
            }
            self.free.push(entry.remove().batch);
            self.first_unverified += 1;
        }
    }

    /// Parses a long element here and sends it on alone, so no worker holds more than a
    /// batch's worth of JSON.
    fn send_alone(&mut self, element: &[u8], offset: u64) {
        self.flush();
        let mut done = Done::default();
        let text = std::str::from_utf8(element).ok();
        done.parse(element, text, offset, &mut Vec::new());
        let running = self.start();
        let _ = running.order.send(Slot::Ready(done));
    }

    /// Waits for the threads and returns the accumulator and the repairs made splitting
    /// runs; a panic on one of them is resumed here. What was parsed here before the threads
    /// started (all of a small trace) is folded first.
    fn finish(mut self) -> (Accumulator, StructureRepairs) {
        if self.running.is_none() {
            self.parse_here();
            let mut accumulator = Accumulator::default();
            let mut structure = StructureRepairs::default();
            for mut done in self.parsed_here.drain(..) {
                done.fold_into(&mut accumulator, &mut structure);
            }
            return (accumulator, structure);
        }
        self.flush();
        let Some(running) = self.running.take() else {
            return Default::default();
        };
        let Running {
            jobs,
            order,
            spent,
            workers,
            accumulator,
        } = running;
        drop((jobs, order, spent));
        for worker in workers {
            if let Err(payload) = worker.join() {
                panic::resume_unwind(payload);
            }
        }
        match accumulator.join() {
            Ok(result) => result,
            Err(payload) => panic::resume_unwind(payload),
        }
    }

    /// Before the threads start: parses the current batch here, while what was parsed stays
    /// under one batch's worth.
    fn parse_here(&mut self) {
        self.bytes_here += self.batch.bytes.len();
        let mut done = Done::default();
        done.parse_batch(&mut self.batch, &mut self.tape);
        self.batch.bytes.clear();
        self.batch.elements.clear();
        self.batch.run_offset = None;
        self.parsed_here.push(done);
    }
}

/// A worker: parses batches until the reader is done.
fn work(jobs: &Mutex<Receiver<Job>>, spent: &Sender<Returned>, pool: &Mutex<Vec<Done>>) {
    let mut tape = TapeParser::default();
    loop {
        let job = {
            let queue = jobs.lock().unwrap_or_else(PoisonError::into_inner);
            queue.recv()
        };
        let Ok(Job { mut batch, reply }) = job else {
            return;
        };
        let mut done = pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        done.parse_batch(&mut batch, &mut tape);
        let plain = !done.refused;
        let _ = spent.send(Returned { batch, plain });
        let _ = reply.send(done);
    }
}

/// The accumulating thread: folds the batches in file order.
fn accumulate(order: Receiver<Slot>, pool: &Mutex<Vec<Done>>) -> (Accumulator, StructureRepairs) {
    let mut accumulator = Accumulator::default();
    let mut structure = StructureRepairs::default();
    let mut discarding = false;
    for slot in order {
        let mut done = match slot {
            Slot::Rewound => {
                discarding = false;
                continue;
            }
            Slot::Ready(done) => done,
            Slot::Pending(answer) => match answer.recv() {
                Ok(done) => done,
                // The worker stopped (a panic, which `finish` resumes).
                Err(_) => break,
            },
        };
        discarding |= done.refused;
        if !discarding {
            done.fold_into(&mut accumulator, &mut structure);
        }
        done.clear();
        let mut pool = pool.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < 8 {
            pool.push(done);
        }
    }
    (accumulator, structure)
}

impl Sink for Pipeline<'_, '_> {
    fn metadata(&mut self, key: &str, value: &[u8], _offset: u64) {
        self.batch
            .elements
            .push(Element::Metadata(Metadata::parse(key, value)));
    }

    fn event(&mut self, element: &[u8], offset: u64) {
        if element.len() >= LONG_ELEMENT_BYTES.max(self.chunk_bytes) {
            self.send_alone(element, offset);
            return;
        }
        let start = self.batch.bytes.len();
        self.batch.bytes.extend_from_slice(element);
        self.batch
            .elements
            .push(Element::Json(start..self.batch.bytes.len(), offset));
        if self.batch.bytes.len() >= self.chunk_bytes {
            self.flush();
        }
    }

    fn speculates(&self) -> bool {
        true
    }

    /// Sends the run to a worker as it is, unless a run sent so far was refused; the
    /// worker's answer comes back before the scanner does anything but cut another run
    /// ([`Sink::settle`]).
    fn try_raw_events(&mut self, run: &[u8], offset: u64) -> bool {
        self.take_returned(false);
        if self.held.values().any(|back| !back.plain) {
            return false;
        }
        self.flush();
        self.batch.bytes.extend_from_slice(run);
        self.batch.run_offset = Some(offset);
        self.batch.speculative = Some(self.next_speculative);
        self.next_speculative += 1;
        self.outstanding += 1;
        self.flush();
        true
    }

    /// Waits for every speculative run; when one was refused, hands back its bytes and
    /// those of every run cut after it, and tells the accumulator to drop what they gave.
    fn settle(&mut self) -> Option<(Vec<u8>, u64)> {
        while self.outstanding > 0 {
            self.take_returned(true);
        }
        self.take_returned(false);
        if self.held.is_empty() {
            return None;
        }
        let mut bytes = Vec::new();
        let mut start = None;
        for (_, back) in std::mem::take(&mut self.held) {
            start = start.or(back.batch.run_offset);
            bytes.extend_from_slice(&back.batch.bytes);
            self.free.push(back.batch);
        }
        self.first_unverified = self.next_speculative;
        if let Some(running) = self.running.as_ref() {
            let _ = running.order.send(Slot::Rewound);
        }
        Some((bytes, start.unwrap_or(0)))
    }

    /// Never parses here: the scanner then finds the element's end and hands it to
    /// [`Sink::event`], which batches it.
    fn event_prefix(&mut self, _data: &[u8]) -> Prefix {
        Prefix::Invalid
    }

    fn raw_batch_bytes(&self) -> Option<usize> {
        Some(self.chunk_bytes)
    }

    /// A run of whole elements: one copy into a batch of its own, split by the worker.
    fn raw_events(&mut self, run: &[u8], offset: u64) {
        self.flush();
        self.batch.bytes.extend_from_slice(run);
        self.batch.run_offset = Some(offset);
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::{io::Write, path::PathBuf};

    use crate::{TraceOptions, read_trace};

    /// Every way of reading: one thread, with runs on the tape of the default size and of
    /// 300 bytes; two and three workers with batches so small that a test trace is cut into
    /// hundreds; and the defaults.
    fn every_way() -> Vec<(&'static str, TraceOptions)> {
        vec![
            ("1 thread, 256 KiB runs", TraceOptions::default().threads(1)),
            (
                "1 thread, 300-byte runs",
                TraceOptions::default().threads(1).chunk_bytes(300),
            ),
            (
                "2 workers, 256 KiB batches",
                TraceOptions::default().threads(2),
            ),
            (
                "2 workers, 300-byte batches",
                TraceOptions::default().threads(2).chunk_bytes(300),
            ),
            (
                "3 workers, 1-byte batches",
                TraceOptions::default().threads(3).chunk_bytes(1),
            ),
            ("the defaults", TraceOptions::default()),
        ]
    }

    /// Reads `bytes` with one thread element by element and every other way, and checks the
    /// whole summary (its `Debug` form, which holds the fields the JSON skips too) or the
    /// error is the same.
    fn same_every_way(name: &str, bytes: &[u8]) {
        let one = read_trace(bytes, name, TraceOptions::default().element_by_element());
        let one = match one {
            Ok(summary) => format!("{summary:#?}"),
            Err(error) => format!("error: {error}"),
        };
        for (way, options) in every_way() {
            let other = match read_trace(bytes, name, options) {
                Ok(summary) => format!("{summary:#?}"),
                Err(error) => format!("error: {error}"),
            };
            if other != one {
                let line = one
                    .lines()
                    .zip(other.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                let around = |text: &str| {
                    text.lines()
                        .skip(line.saturating_sub(3))
                        .take(8)
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                panic!(
                    "{name}: {way} differs from one thread at line {line}:\n{}\n--- vs ---\n{}",
                    around(&one),
                    around(&other)
                );
            }
        }
    }

    fn traces_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/traces")
    }

    #[test]
    fn every_test_trace_reads_the_same_on_every_core_count() {
        let mut files = Vec::new();
        for dir in [
            traces_dir(),
            traces_dir().join("hta"),
            traces_dir().join("synthetic"),
        ] {
            for entry in std::fs::read_dir(&dir).expect("test data") {
                let path = entry.expect("entry").path();
                let name = path.to_string_lossy().into_owned();
                if name.ends_with(".json") || name.ends_with(".json.gz") {
                    files.push(path);
                }
            }
        }
        assert!(files.len() >= 9, "{files:?}");
        for path in files {
            let bytes = std::fs::read(&path).expect("reads");
            same_every_way(&path.display().to_string(), &bytes);
        }
    }

    /// What real and broken traces hold, many batches of it: repairs, malformed elements,
    /// metadata after the events, shapes, a long element sent on alone, a truncated end.
    fn synthetic(events: usize, tail: &str) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(
            br#"{"schemaVersion": 1, "deviceProperties": [{"id": 0, "name": "NVIDIA A100-SXM4-80GB", "totalGlobalMem": 85899345920, "computeMajor": 8, "computeMinor": 0, "numSms": 108}],
            "traceEvents": [
            {"ph":"X","cat":"user_annotation","name":"ProfilerStep#1","pid":1,"tid":1,"ts":0,"dur":5000000},
            {"ph":"X","cat":"user_annotation","name":"ProfilerStep#2","pid":1,"tid":1,"ts":5000000,"dur":5000000},"#,
        );
        for i in 0..events {
            let ts = i * 100;
            let _ = write!(
                out,
                r#"
            {{"ph":"X","cat":"cpu_op","name":"aten::mm","pid":1,"tid":1,"ts":{ts},"dur":50,"args":{{"External id":{i},"Input Dims":[[64,{k}],[{k},32]],"Input type":["float","float"]}}}},
            {{"ph":"X","cat":"cuda_runtime","name":"cudaLaunchKernel","pid":1,"tid":1,"ts":{t1},"dur":5,"args":{{"correlation":{i},"cbid":211}}}},
            {{"ph":"X","cat":"kernel","name":"ampere_sgemm_\u0031{m}","pid":0,"tid":7,"ts":{t2},"dur":{d},"args":{{"stream":7,"correlation":{i},"grid":[1,1,1]}}}},"#,
                k = 16 + i % 5,
                t1 = ts + 10,
                t2 = ts + 30 + i % 7,
                m = i % 3,
                d = 20 + i % 11,
            );
            match i % 97 {
                5 => out.extend_from_slice(br#"{"ph":"X","cat":"kernel","name":"nan","pid":0,"tid":7,"ts":NaN,"dur":1,"args":{"stream":7,},},"#),
                17 => out.extend_from_slice(
                    br#"42, "not ]} an [ event", {"ph": "X", "ts": }, , [1, {"a": [2]}], } , {"ph":"X","cat":"cpu_op","name":"q\"}\\","ts":3,"dur":1},"#,
                ),
                31 => {
                    let _ = write!(
                        out,
                        r#"{{"ph":"i","s":"t","name":"[memory]","pid":1,"tid":1,"ts":{ts},"args":{{"Total Allocated":{a},"Total Reserved":{r},"Device Type":1}}}},"#,
                        a = 1000 + i,
                        r = 4000 + i
                    );
                }
                47 => out.extend_from_slice(br#"{"ph":"X","cat":"cuda_runtime","name":"cudaStreamSynchronize","pid":1,"tid":1,"ts":1,"dur":300},{"ph":"X","cat":"mystery","name":"x","ts":2,"dur":1},"#),
                _ => {}
            }
            if i == events / 2 {
                // Longer than a batch: parsed on the reading thread and sent on alone.
                let _ = write!(
                    out,
                    r#"{{"ph":"X","cat":"cpu_op","name":"long{}","pid":1,"tid":2,"ts":{ts},"dur":3}},"#,
                    "n".repeat(crate::scan::LONG_ELEMENT_BYTES + 10)
                );
            }
        }
        out.extend_from_slice(
            br#"{"ph":"X","cat":"kernel","name":"last","pid":0,"tid":7,"ts":9999000,"dur":10,"args":{"stream":7}}"#,
        );
        out.extend_from_slice(tail.as_bytes());
        out
    }

    #[test]
    fn a_trace_of_many_batches_reads_the_same_on_every_core_count() {
        let complete = synthetic(
            3000,
            r#"], "distributedInfo": {"rank": 3, "world_size": 8}, "baseTimeNanoseconds": 1000}"#,
        );
        assert!(complete.len() > 2 << 20, "{} bytes", complete.len());
        let summary = read_trace(
            &complete[..],
            "complete",
            TraceOptions::default().threads(1),
        )
        .expect("reads");
        // The trace has what the test means it to have.
        assert!(!summary.op_roofline.is_empty());
        assert!(summary.memory.is_some());
        assert_eq!(summary.steps.len(), 2);
        assert_eq!(summary.base_time_ns, Some(1000));
        for warning in [
            "31 NaN/Infinity",
            "4096 bytes",
            "155 malformed",
            "mystery (31)",
        ] {
            assert!(
                summary.warnings.iter().any(|w| w.contains(warning)),
                "{warning}: {:#?}",
                summary.warnings
            );
        }
        same_every_way("complete", &complete);
        // Cut inside an element, with the array and object unclosed.
        let cut = &complete[..complete.len() * 2 / 3];
        same_every_way("cut", cut);
        // A syntax error at the top level after the events.
        same_every_way("broken", &synthetic(2000, r#"] x"#));
        // Gzip, whole and cut short.
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&complete).expect("compresses");
        let compressed = encoder.finish().expect("compresses");
        same_every_way("gzip", &compressed);
        same_every_way("gzip cut", &compressed[..compressed.len() / 2]);
    }

    #[test]
    fn no_thread_starts_for_a_trace_smaller_than_a_batch() {
        // Checked through the result only: the small path parses in the calling thread, and
        // reads what the one-thread reader reads.
        same_every_way("small", &synthetic(5, "]}"));
        same_every_way("nothing but malformed", br#"{"traceEvents": [1, 2, "x"]}"#);
        same_every_way("no events", br#"{"schemaVersion": 1}"#);
    }
}
