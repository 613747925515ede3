//! Scoped spans: the low-overhead recording side of our profiler.
//!
//! # How recording works
//!
//! Each thread keeps, per [`Profiler`], a stack of open spans and an append-only log of
//! finished spans in fixed-size chunks. Opening a span reads the clock and pushes onto the
//! thread's stack; closing it reads the clock again and appends one event (start, end, name,
//! depth) to the thread's current chunk. The chunk's words are atomics written with relaxed
//! stores and published by a release store of its length, so the hot path takes no lock and
//! touches no memory another thread writes; the collector reads each chunk up to its
//! published length. A lock is taken only when a thread opens its first span or fills a
//! chunk (every [`CHUNK_EVENTS`] spans).
//!
//! The clock is the CPU's time-stamp counter through `quanta` where it is invariant (scaled
//! to nanoseconds at collection), else the operating system's monotonic clock.
//!
//! Events are logged in the order spans finish (post-order) with their depth, which is all
//! [`Profiler::collect`] needs to rebuild each thread's tree exactly, whatever the clock's
//! resolution. Merging by name path happens only at collection.
//!
//! # Open spans, disabling and resetting
//!
//! - A span still open when [`Profiler::collect`] runs is not in the snapshot, and neither
//!   are the spans that finished inside it: they are held back (counted in
//!   [`ProfileSnapshot::held_back_spans`]) until the outermost open span on that thread
//!   finishes, and the next collection has the whole subtree.
//! - [`Profiler::disable`] stops new spans from being recorded; spans already open still
//!   record when they close, so trees stay whole.
//! - [`Profiler::reset`] discards everything recorded so far, including finished spans inside
//!   spans that are still open; those open spans are recorded when they close, with only the
//!   children that finish after the reset.
//! - A guard that is leaked (`std::mem::forget`) is closed, at the time its enclosing span
//!   closes, so that the enclosing span's tree stays consistent.
//! - Each thread records at most [`Profiler::max_events_per_thread`] spans between resets
//!   (up to [`CHUNK_EVENTS`] fewer after a reset, which leaves the thread's partly used
//!   chunk in place); later ones are counted in [`ProfileSnapshot::dropped_spans`] and not
//!   recorded.

use std::{
    cell::RefCell,
    collections::HashMap,
    marker::PhantomData,
    sync::{
        Arc, LazyLock, Mutex, MutexGuard, OnceLock, PoisonError, Weak,
        atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering},
    },
};

use advisor_core::{ProfileOperation, ProfileResults};

/// Spans per chunk of a thread's log; a thread takes a lock once per this many spans.
pub const CHUNK_EVENTS: usize = 8192;

/// Words per logged event: start ticks, end ticks, and name id with depth.
const WORDS_PER_EVENT: usize = 3;

/// Default cap on the spans one thread records between resets (96 MiB of log per thread).
const DEFAULT_MAX_EVENTS_PER_THREAD: usize = 4 * 1024 * 1024;

/// The process-wide clock, calibrated once (up to 200 ms on first use).
static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();

fn clock() -> &'static quanta::Clock {
    CLOCK.get_or_init(quanta::Clock::new)
}

/// Gives each [`Profiler`] an id that thread-local state is keyed by.
static NEXT_PROFILER_ID: AtomicU64 = AtomicU64::new(1);

/// The profiler behind [`profile!`](crate::profile) and [`Profiler::global`].
static GLOBAL: LazyLock<Profiler> = LazyLock::new(|| Profiler::with_state(false));

/// Interned span names, shared by every profiler: ids are stable for the process's life.
struct NameTable {
    names: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, u32>,
}

static NAMES: LazyLock<Mutex<NameTable>> = LazyLock::new(|| {
    Mutex::new(NameTable {
        // Id 0 means "not interned yet" in `SpanName`, so it holds a sentinel name that is never looked up.
        names: vec![Arc::from("")],
        ids: HashMap::new(),
    })
});

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data behind these locks stays consistent even if a holder panicked.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn intern(name: &str) -> u32 {
    let mut table = lock(&NAMES);
    if let Some(&id) = table.ids.get(name) {
        return id;
    }
    let id = u32::try_from(table.names.len()).unwrap_or(u32::MAX);
    let name: Arc<str> = Arc::from(name);
    table.names.push(name.clone());
    table.ids.insert(name, id);
    id
}

/// A span name known at compile time, interned on first use so the hot path only loads an id.
///
/// [`profile!`](crate::profile) declares one per call site; declare your own as a `static`
/// to call [`Profiler::span`] directly.
///
/// ```
/// use advisor_profile::{Profiler, SpanName};
///
/// static FORWARD: SpanName = SpanName::new("forward");
/// let profiler = Profiler::new();
/// {
///     let _span = profiler.span(&FORWARD);
/// }
/// assert_eq!(profiler.collect().tree().roots[0].name, "forward");
/// ```
#[derive(Debug)]
pub struct SpanName {
    name: &'static str,
    id: AtomicU32,
}

impl SpanName {
    /// A name for spans; interned the first time a span with it is recorded.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            id: AtomicU32::new(0),
        }
    }

    /// The name as written.
    pub fn as_str(&self) -> &'static str {
        self.name
    }

    #[inline]
    fn id(&self) -> u32 {
        let id = self.id.load(Ordering::Relaxed);
        if id != 0 {
            return id;
        }
        let id = intern(self.name);
        self.id.store(id, Ordering::Relaxed);
        id
    }
}

/// One chunk of a thread's log: written only by its thread, read by collectors.
struct Chunk {
    words: Box<[AtomicU64]>,
    /// Events written and published; the writer stores it with `Release` after the words.
    len: AtomicUsize,
}

impl Chunk {
    fn new() -> Arc<Self> {
        let words = (0..CHUNK_EVENTS * WORDS_PER_EVENT)
            .map(|_| AtomicU64::new(0))
            .collect();
        Arc::new(Self {
            words,
            len: AtomicUsize::new(0),
        })
    }
}

/// What the collector sees of one thread: its chunks, shared with the thread.
struct ThreadSlot {
    thread_index: u64,
    thread_name: String,
    log: Mutex<SlotLog>,
    /// Mirror of `log.chunks.len()`, so the writer can check the cap without the lock.
    chunk_count: AtomicUsize,
    dropped: AtomicU64,
}

struct SlotLog {
    chunks: Vec<Arc<Chunk>>,
    /// Events of `chunks[0]` before this offset were discarded by a reset.
    start_offset: usize,
}

/// The state behind a [`Profiler`], shared by its clones and referenced by threads' state.
struct Shared {
    id: u64,
    enabled: AtomicBool,
    /// Clock reading that timestamps are relative to; set on the first `enable`.
    epoch_ticks: OnceLock<u64>,
    max_chunks: AtomicUsize,
    threads: Mutex<Vec<Arc<ThreadSlot>>>,
    next_thread_index: AtomicU64,
}

/// A thread's recording state for one profiler.
struct LocalState {
    profiler: Weak<Shared>,
    profiler_id: u64,
    clock: quanta::Clock,
    /// Open spans: name id and start ticks.
    stack: Vec<(u32, u64)>,
    chunk: Arc<Chunk>,
    chunk_len: usize,
    slot: Arc<ThreadSlot>,
}

impl LocalState {
    #[inline]
    fn record(&mut self, name_id: u32, start: u64, end: u64, depth: usize) {
        if self.chunk_len == CHUNK_EVENTS && !self.next_chunk() {
            self.slot.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let base = self.chunk_len * WORDS_PER_EVENT;
        let depth = u32::try_from(depth).unwrap_or(u32::MAX);
        let words = &self.chunk.words[base..base + WORDS_PER_EVENT];
        words[0].store(start, Ordering::Relaxed);
        words[1].store(end, Ordering::Relaxed);
        words[2].store(
            (u64::from(name_id) << 32) | u64::from(depth),
            Ordering::Relaxed,
        );
        self.chunk_len += 1;
        self.chunk.len.store(self.chunk_len, Ordering::Release);
    }

    /// Starts a new chunk; false when the thread is at its cap.
    #[cold]
    fn next_chunk(&mut self) -> bool {
        let max_chunks = self
            .profiler
            .upgrade()
            .map_or(0, |shared| shared.max_chunks.load(Ordering::Relaxed));
        if self.slot.chunk_count.load(Ordering::Relaxed) >= max_chunks {
            return false;
        }
        let chunk = Chunk::new();
        let mut log = lock(&self.slot.log);
        log.chunks.push(chunk.clone());
        self.slot
            .chunk_count
            .store(log.chunks.len(), Ordering::Relaxed);
        drop(log);
        self.chunk = chunk;
        self.chunk_len = 0;
        true
    }
}

thread_local! {
    static LOCAL: RefCell<Vec<LocalState>> = const { RefCell::new(Vec::new()) };
}

/// A span profiler: a handle to shared state, cheap to clone.
///
/// Open spans with [`Profiler::span`] (or the [`profile!`](crate::profile) macro for the
/// global profiler) and read what was recorded with [`Profiler::collect`]. See the
/// [module documentation](self) for what happens to open spans, disabling and resetting.
///
/// ```
/// use advisor_profile::{Profiler, SpanName};
///
/// static STEP: SpanName = SpanName::new("step");
/// static MATMUL: SpanName = SpanName::new("matmul");
/// let profiler = Profiler::new();
/// for _ in 0..3 {
///     let _step = profiler.span(&STEP);
///     let _matmul = profiler.span(&MATMUL);
/// }
/// let tree = profiler.collect().tree();
/// assert_eq!(tree.roots[0].calls, 3);
/// assert_eq!(tree.roots[0].children[0].name, "matmul");
/// ```
#[derive(Clone)]
pub struct Profiler {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Profiler {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Profiler")
            .field("id", &self.shared.id)
            .field("enabled", &self.is_enabled())
            .finish_non_exhaustive()
    }
}

impl Default for Profiler {
    fn default() -> Self {
        Self::new()
    }
}

impl Profiler {
    /// A new profiler, enabled. Its first use in the process calibrates the clock (up to
    /// 200 ms, once).
    pub fn new() -> Self {
        Self::with_state(true)
    }

    fn with_state(enabled: bool) -> Self {
        let profiler = Self {
            shared: Arc::new(Shared {
                id: NEXT_PROFILER_ID.fetch_add(1, Ordering::Relaxed),
                enabled: AtomicBool::new(false),
                epoch_ticks: OnceLock::new(),
                max_chunks: AtomicUsize::new(DEFAULT_MAX_EVENTS_PER_THREAD.div_ceil(CHUNK_EVENTS)),
                threads: Mutex::new(Vec::new()),
                next_thread_index: AtomicU64::new(1),
            }),
        };
        if enabled {
            profiler.enable();
        }
        profiler
    }

    /// The process-wide profiler that [`profile!`](crate::profile) records into. It starts
    /// disabled, so instrumented code costs one atomic load per span until
    /// [`enable`](Self::enable) is called.
    pub fn global() -> &'static Profiler {
        &GLOBAL
    }

    /// Starts recording new spans (and calibrates the clock on first use).
    pub fn enable(&self) {
        let clock = clock();
        self.shared.epoch_ticks.get_or_init(|| clock.raw());
        self.shared.enabled.store(true, Ordering::Release);
    }

    /// Stops recording new spans; spans already open still record when they close.
    pub fn disable(&self) {
        self.shared.enabled.store(false, Ordering::Release);
    }

    /// Whether new spans are recorded.
    pub fn is_enabled(&self) -> bool {
        self.shared.enabled.load(Ordering::Relaxed)
    }

    /// The cap on spans one thread records between resets.
    pub fn max_events_per_thread(&self) -> usize {
        self.shared.max_chunks.load(Ordering::Relaxed) * CHUNK_EVENTS
    }

    /// Sets the cap on spans one thread records between resets, rounded up to a whole chunk
    /// of [`CHUNK_EVENTS`]; each recorded span takes 24 bytes.
    pub fn set_max_events_per_thread(&self, max_events: usize) {
        self.shared
            .max_chunks
            .store(max_events.div_ceil(CHUNK_EVENTS).max(1), Ordering::Relaxed);
    }

    /// Opens a span that closes when the guard is dropped. Costs one atomic load when the
    /// profiler is disabled.
    #[inline]
    pub fn span(&self, name: &SpanName) -> SpanGuard {
        if !self.shared.enabled.load(Ordering::Relaxed) {
            return SpanGuard::inert();
        }
        self.open(name.id())
    }

    /// Opens a span with a name made at run time. Slower than [`span`](Self::span): the name
    /// is interned under a lock on every call, so keep it off hot paths.
    pub fn span_named(&self, name: &str) -> SpanGuard {
        if !self.shared.enabled.load(Ordering::Relaxed) {
            return SpanGuard::inert();
        }
        self.open(intern(name))
    }

    /// Runs `f` inside a span named `name` and returns what it returns.
    pub fn in_span<R>(&self, name: &SpanName, f: impl FnOnce() -> R) -> R {
        let _span = self.span(name);
        f()
    }

    #[inline]
    fn open(&self, name_id: u32) -> SpanGuard {
        let profiler_id = self.shared.id;
        let opened = LOCAL.try_with(|local| {
            let mut states = local.borrow_mut();
            let index = match states.iter().position(|s| s.profiler_id == profiler_id) {
                Some(index) => index,
                None => self.register_thread(&mut states),
            };
            let state = &mut states[index];
            let depth = state.stack.len();
            // Read the clock last so the span's time leaves out this bookkeeping.
            let start = state.clock.raw();
            state.stack.push((name_id, start));
            depth
        });
        match opened {
            Ok(depth) => SpanGuard {
                open: Some((profiler_id, depth)),
                _not_send: PhantomData,
            },
            Err(_) => SpanGuard::inert(),
        }
    }

    #[cold]
    fn register_thread(&self, states: &mut Vec<LocalState>) -> usize {
        // State for profilers that no longer exist is dead weight: drop it here, off the
        // hot path.
        states.retain(|state| state.profiler.strong_count() > 0);
        let current = std::thread::current();
        let thread_index = self
            .shared
            .next_thread_index
            .fetch_add(1, Ordering::Relaxed);
        let thread_name = current
            .name()
            .map_or_else(|| format!("thread {thread_index}"), str::to_owned);
        let chunk = Chunk::new();
        let slot = Arc::new(ThreadSlot {
            thread_index,
            thread_name,
            log: Mutex::new(SlotLog {
                chunks: vec![chunk.clone()],
                start_offset: 0,
            }),
            chunk_count: AtomicUsize::new(1),
            dropped: AtomicU64::new(0),
        });
        lock(&self.shared.threads).push(slot.clone());
        states.push(LocalState {
            profiler: Arc::downgrade(&self.shared),
            profiler_id: self.shared.id,
            clock: clock().clone(),
            stack: Vec::with_capacity(64),
            chunk,
            chunk_len: 0,
            slot,
        });
        states.len() - 1
    }

    /// Discards everything recorded so far; see the [module documentation](self) for spans
    /// that are open during a reset. Frees the log of threads that have exited.
    pub fn reset(&self) {
        let mut threads = lock(&self.shared.threads);
        threads.retain(|slot| {
            let mut log = lock(&slot.log);
            let current = log.chunks.pop();
            log.chunks.clear();
            log.start_offset = 0;
            // The thread goes on writing into its current chunk; a full one it will replace.
            if let Some(current) = current {
                let len = current.len.load(Ordering::Acquire);
                if len < CHUNK_EVENTS {
                    log.start_offset = len;
                    log.chunks.push(current);
                }
            }
            slot.chunk_count.store(log.chunks.len(), Ordering::Relaxed);
            slot.dropped.store(0, Ordering::Relaxed);
            // Only the registry holds the slot of a thread that has exited.
            Arc::strong_count(slot) > 1
        });
    }

    /// A snapshot of the finished spans of every thread, for [`ProfileSnapshot::tree`] and
    /// the exports. Recording goes on undisturbed.
    pub fn collect(&self) -> ProfileSnapshot {
        let slots: Vec<Arc<ThreadSlot>> = lock(&self.shared.threads).clone();
        let epoch = self.shared.epoch_ticks.get().copied().unwrap_or(0);
        let clock = clock();
        let mut raw_threads = Vec::with_capacity(slots.len());
        let mut dropped_spans = 0;
        let mut held_back_spans = 0;
        for slot in &slots {
            dropped_spans += slot.dropped.load(Ordering::Relaxed);
            let mut events: Vec<[u64; WORDS_PER_EVENT]> = Vec::new();
            {
                let log = lock(&slot.log);
                for (index, chunk) in log.chunks.iter().enumerate() {
                    let len = chunk.len.load(Ordering::Acquire);
                    let first = if index == 0 { log.start_offset } else { 0 };
                    for event in first..len {
                        let base = event * WORDS_PER_EVENT;
                        events.push([
                            chunk.words[base].load(Ordering::Relaxed),
                            chunk.words[base + 1].load(Ordering::Relaxed),
                            chunk.words[base + 2].load(Ordering::Relaxed),
                        ]);
                    }
                }
            }
            // Spans after the last outermost one are inside a span that is still open.
            let complete = events
                .iter()
                .rposition(|words| words[2] & u64::from(u32::MAX) == 0)
                .map_or(0, |last_root| last_root + 1);
            held_back_spans += (events.len() - complete) as u64;
            events.truncate(complete);
            raw_threads.push((slot, events));
        }
        let names = lock(&NAMES).names.clone();
        let threads = raw_threads
            .into_iter()
            .map(|(slot, events)| ThreadSpans {
                thread_id: slot.thread_index,
                thread_name: slot.thread_name.clone(),
                spans: events
                    .into_iter()
                    .map(|[start, end, meta]| {
                        let start_ns = clock.delta_as_nanos(epoch, start);
                        let end_ns = clock.delta_as_nanos(epoch, end).max(start_ns);
                        SpanRecord {
                            name: names
                                .get((meta >> 32) as usize)
                                .cloned()
                                .unwrap_or_else(|| Arc::from("?")),
                            start_ns,
                            duration_ns: end_ns - start_ns,
                            depth: (meta & u64::from(u32::MAX)) as u32,
                        }
                    })
                    .collect(),
            })
            .collect();
        ProfileSnapshot {
            threads,
            dropped_spans,
            held_back_spans,
        }
    }
}

/// Closes its span when dropped. Not `Send`: a span opens and closes on one thread.
#[must_use = "the span closes when the guard is dropped; bind it with `let _span = ...`"]
#[derive(Debug)]
pub struct SpanGuard {
    /// Profiler id and the span's depth on this thread's stack; `None` when not recording.
    open: Option<(u64, usize)>,
    _not_send: PhantomData<*const ()>,
}

impl SpanGuard {
    fn inert() -> Self {
        Self {
            open: None,
            _not_send: PhantomData,
        }
    }

    /// Whether this guard is recording a span (false when the profiler was disabled).
    pub fn is_recording(&self) -> bool {
        self.open.is_some()
    }
}

impl Drop for SpanGuard {
    #[inline]
    fn drop(&mut self) {
        let Some((profiler_id, depth)) = self.open else {
            return;
        };
        // Nothing to do if the thread's state is already torn down (guard dropped during
        // thread exit).
        let _ = LOCAL.try_with(|local| {
            let mut states = local.borrow_mut();
            let Some(state) = states.iter_mut().find(|s| s.profiler_id == profiler_id) else {
                return;
            };
            let end = state.clock.raw();
            // Leaked guards above this one: close them now, innermost first.
            while state.stack.len() > depth + 1 {
                if let Some((name_id, start)) = state.stack.pop() {
                    let leaked_depth = state.stack.len();
                    state.record(name_id, start, end, leaked_depth);
                }
            }
            // A guard dropped after an enclosing one (possible only by moving guards around)
            // finds its span already closed.
            if state.stack.len() == depth + 1
                && let Some((name_id, start)) = state.stack.pop()
            {
                state.record(name_id, start, end, depth);
            }
        });
    }
}

/// One finished span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanRecord {
    /// The span's name.
    pub name: Arc<str>,
    /// When it opened, in nanoseconds since the profiler was first enabled.
    pub start_ns: u64,
    /// How long it was open.
    pub duration_ns: u64,
    /// Nesting depth on its thread: 0 for an outermost span.
    pub depth: u32,
}

impl SpanRecord {
    /// When it closed, in nanoseconds since the profiler was first enabled.
    pub fn end_ns(&self) -> u64 {
        self.start_ns + self.duration_ns
    }
}

/// The finished spans of one thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadSpans {
    /// The profiler's number for the thread, from 1 in the order threads first recorded.
    pub thread_id: u64,
    /// The thread's name, or `thread N` for unnamed threads.
    pub thread_name: String,
    /// Spans in the order they finished (children before their parent).
    pub spans: Vec<SpanRecord>,
}

/// What [`Profiler::collect`] saw: every finished span, per thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileSnapshot {
    /// Threads that recorded spans, in the order they started recording.
    pub threads: Vec<ThreadSpans>,
    /// Spans not recorded because a thread was at its cap.
    pub dropped_spans: u64,
    /// Finished spans left out because a span enclosing them was still open.
    pub held_back_spans: u64,
}

impl ProfileSnapshot {
    /// Number of spans in the snapshot.
    pub fn span_count(&self) -> usize {
        self.threads.iter().map(|thread| thread.spans.len()).sum()
    }

    /// Wall time from the first span's start to the last span's end, over all threads.
    pub fn wall_ns(&self) -> u64 {
        let spans = self.threads.iter().flat_map(|thread| &thread.spans);
        let first = spans.clone().map(|span| span.start_ns).min();
        let last = spans.map(SpanRecord::end_ns).max();
        match (first, last) {
            (Some(first), Some(last)) => last.saturating_sub(first),
            _ => 0,
        }
    }

    /// The spans merged by name path over all calls and threads.
    pub fn tree(&self) -> SpanTree {
        let mut arena = TreeArena::default();
        for thread in &self.threads {
            arena.add_thread(&thread.spans);
        }
        SpanTree {
            wall_ns: self.wall_ns(),
            roots: arena.into_nodes(),
        }
    }

    /// The merged tree as advisor-core's profile results (times in milliseconds).
    pub fn to_profile_results(&self) -> ProfileResults {
        self.tree().to_profile_results()
    }
}

/// Spans merged by name path: each node is one place in the call tree over all its calls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanTree {
    /// Wall time the snapshot covers, first start to last end.
    pub wall_ns: u64,
    /// Outermost spans, largest total first.
    pub roots: Vec<SpanNode>,
}

/// One place in the merged call tree.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanNode {
    /// The span's name.
    pub name: String,
    /// Number of spans merged here.
    pub calls: u64,
    /// Sum of their durations.
    pub total_ns: u64,
    /// `total_ns` less the time spent in child spans.
    pub self_ns: u64,
    /// Shortest single span.
    pub min_ns: u64,
    /// Longest single span.
    pub max_ns: u64,
    /// Spans opened inside these, largest total first.
    pub children: Vec<SpanNode>,
}

impl SpanNode {
    /// Mean duration per call.
    pub fn mean_ns(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.total_ns as f64 / self.calls as f64
        }
    }

    /// advisor-core's operation for this node and the nodes below it, at most
    /// [`ProfileOperation::MAX_DEPTH`] levels: a node on the last level keeps the time of the
    /// nodes below it as its own. Built with a heap stack, not recursion.
    fn to_operation(&self) -> ProfileOperation {
        let last_level = ProfileOperation::MAX_DEPTH - 1;
        let leaf = |node: &SpanNode, level: usize| ProfileOperation {
            name: node.name.clone(),
            calls: node.calls,
            total_ms: ns_to_ms(node.total_ns),
            self_ms: ns_to_ms(if level >= last_level {
                node.total_ns
            } else {
                node.self_ns
            }),
            children: Vec::new(),
        };
        // (node, next child to convert, its operation so far, level)
        let mut stack = vec![(self, 0usize, leaf(self, 0), 0usize)];
        loop {
            let Some((node, next, _, level)) = stack.last_mut() else {
                return leaf(self, 0);
            };
            let level = *level;
            if level < last_level
                && let Some(child) = node.children.get(*next)
            {
                *next += 1;
                stack.push((child, 0, leaf(child, level + 1), level + 1));
                continue;
            }
            let Some((_, _, operation, _)) = stack.pop() else {
                return leaf(self, 0);
            };
            match stack.last_mut() {
                Some((_, _, parent, _)) => parent.children.push(operation),
                None => return operation,
            }
        }
    }
}

impl SpanTree {
    /// Finds a node by its name path from a root, for example `["step", "forward"]`.
    pub fn find(&self, path: &[&str]) -> Option<&SpanNode> {
        let (first, rest) = path.split_first()?;
        let mut node = self.roots.iter().find(|node| node.name == *first)?;
        for name in rest {
            node = node.children.iter().find(|child| child.name == *name)?;
        }
        Some(node)
    }

    /// Visits every node depth first with its name path (root first).
    pub fn walk(&self, mut visit: impl FnMut(&[&str], &SpanNode)) {
        fn go<'a>(
            node: &'a SpanNode,
            path: &mut Vec<&'a str>,
            visit: &mut dyn FnMut(&[&str], &SpanNode),
        ) {
            path.push(&node.name);
            visit(path, node);
            for child in &node.children {
                go(child, path, visit);
            }
            path.pop();
        }
        let mut path = Vec::new();
        for root in &self.roots {
            go(root, &mut path, &mut visit);
        }
    }

    /// advisor-core's profile results: `total_ms` is the wall time, operations keep calls,
    /// total and self time (min/max stay here).
    pub fn to_profile_results(&self) -> ProfileResults {
        ProfileResults {
            total_ms: ns_to_ms(self.wall_ns),
            operations: self.roots.iter().map(SpanNode::to_operation).collect(),
            ..ProfileResults::default()
        }
    }
}

impl From<&SpanTree> for ProfileResults {
    fn from(tree: &SpanTree) -> Self {
        tree.to_profile_results()
    }
}

fn ns_to_ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Builds the merged tree; nodes live in a vector and refer to each other by index.
#[derive(Default)]
struct TreeArena {
    nodes: Vec<ArenaNode>,
    /// Children of the virtual root.
    roots: Vec<usize>,
}

struct ArenaNode {
    name: Arc<str>,
    calls: u64,
    total_ns: u64,
    min_ns: u64,
    max_ns: u64,
    children: Vec<usize>,
}

impl TreeArena {
    fn child(&mut self, parent: Option<usize>, name: &Arc<str>) -> usize {
        let siblings = match parent {
            Some(parent) => &self.nodes[parent].children,
            None => &self.roots,
        };
        if let Some(&found) = siblings
            .iter()
            .find(|&&index| *self.nodes[index].name == **name)
        {
            return found;
        }
        let index = self.nodes.len();
        self.nodes.push(ArenaNode {
            name: name.clone(),
            calls: 0,
            total_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
            children: Vec::new(),
        });
        match parent {
            Some(parent) => self.nodes[parent].children.push(index),
            None => self.roots.push(index),
        }
        index
    }

    /// Adds one thread's spans, given in the order they finished.
    fn add_thread(&mut self, spans: &[SpanRecord]) {
        // In finishing order a span's descendants come right before it, so the spans one
        // level deeper that are waiting for a parent are exactly its children.
        let mut parent_of: Vec<Option<usize>> = vec![None; spans.len()];
        let mut waiting: Vec<Vec<usize>> = Vec::new();
        for (index, span) in spans.iter().enumerate() {
            let depth = span.depth as usize;
            if waiting.len() <= depth + 1 {
                waiting.resize_with(depth + 2, Vec::new);
            }
            for child in waiting[depth + 1].drain(..) {
                parent_of[child] = Some(index);
            }
            waiting[depth].push(index);
        }
        // Reverse finishing order visits every parent before its children.
        let mut node_of: Vec<usize> = vec![0; spans.len()];
        for index in (0..spans.len()).rev() {
            let span = &spans[index];
            let parent_node = parent_of[index].map(|parent| node_of[parent]);
            let node = self.child(parent_node, &span.name);
            node_of[index] = node;
            let node = &mut self.nodes[node];
            node.calls += 1;
            node.total_ns += span.duration_ns;
            node.min_ns = node.min_ns.min(span.duration_ns);
            node.max_ns = node.max_ns.max(span.duration_ns);
        }
    }

    fn into_nodes(self) -> Vec<SpanNode> {
        fn build(arena: &TreeArena, index: usize) -> SpanNode {
            let node = &arena.nodes[index];
            let mut children: Vec<SpanNode> = node
                .children
                .iter()
                .map(|&child| build(arena, child))
                .collect();
            sort_nodes(&mut children);
            let children_ns: u64 = children.iter().map(|child| child.total_ns).sum();
            SpanNode {
                name: node.name.to_string(),
                calls: node.calls,
                total_ns: node.total_ns,
                self_ns: node.total_ns.saturating_sub(children_ns),
                min_ns: if node.calls == 0 { 0 } else { node.min_ns },
                max_ns: node.max_ns,
                children,
            }
        }
        let mut roots: Vec<SpanNode> = self.roots.iter().map(|&root| build(&self, root)).collect();
        sort_nodes(&mut roots);
        roots
    }
}

fn sort_nodes(nodes: &mut [SpanNode]) {
    nodes.sort_by(|a, b| {
        b.total_ns
            .cmp(&a.total_ns)
            .then_with(|| a.name.cmp(&b.name))
    });
}

/// Opens a span in the [global profiler](Profiler::global) that lasts until the end of the
/// enclosing block.
///
/// `profile!("name")` records into the global profiler (a no-op costing one atomic load
/// while it is disabled); `profile!(profiler, "name")` records into the given [`Profiler`].
/// The name must be a string literal; use [`Profiler::span_named`] for names made at run
/// time.
///
/// ```
/// use advisor_profile::{Profiler, profile};
///
/// let profiler = Profiler::new();
/// {
///     profile!(profiler, "load");
///     {
///         profile!(profiler, "parse");
///     }
/// }
/// let tree = profiler.collect().tree();
/// assert!(tree.find(&["load", "parse"]).is_some());
/// ```
#[macro_export]
macro_rules! profile {
    ($name:literal) => {
        let _advisor_profile_span = {
            static NAME: $crate::SpanName = $crate::SpanName::new($name);
            $crate::Profiler::global().span(&NAME)
        };
    };
    ($profiler:expr, $name:literal) => {
        let _advisor_profile_span = {
            static NAME: $crate::SpanName = $crate::SpanName::new($name);
            ($profiler).span(&NAME)
        };
    };
}
