//! An opt-in tracking global allocator: the system allocator plus atomic counters for
//! current and peak heap bytes and allocation counts.
//!
//! Install it in your binary (a library cannot do it for you, which is what makes it
//! opt-in):
//!
//! ```
//! use advisor_profile::TrackingAllocator;
//!
//! #[global_allocator]
//! static ALLOCATOR: TrackingAllocator = TrackingAllocator::new();
//!
//! # fn main() {
//! let before = ALLOCATOR.stats();
//! let buffer = vec![0u8; 1 << 20];
//! let during = ALLOCATOR.stats();
//! assert!(during.current_bytes >= before.current_bytes + (1 << 20));
//! assert!(during.peak_bytes >= during.current_bytes);
//! drop(buffer);
//! let metrics = ALLOCATOR.memory_metrics(); // advisor-core's MemoryMetrics
//! assert!(metrics.peak_bytes >= metrics.current_bytes);
//! # }
//! ```
//!
//! Each allocation costs three atomic adds and a load on top of the system allocator, each
//! free two; `benches/alloc.rs` measures the difference. The counters are
//! shared by all threads, so heavily multithreaded allocation contends on their cache line.
//! The figures count bytes requested from the allocator (the `Layout` sizes), not the
//! allocator's own overhead or memory the process maps by other means.

// The one module with unsafe code: `GlobalAlloc` is an unsafe trait, and forwarding to the
// system allocator means calling its unsafe methods.
#![allow(unsafe_code)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicU64, Ordering},
};

use advisor_core::MemoryMetrics;

/// A global allocator that forwards to [`System`] and counts what goes through it. See the
/// [module documentation](self) for installing it.
#[derive(Debug)]
pub struct TrackingAllocator {
    current_bytes: AtomicU64,
    peak_bytes: AtomicU64,
    allocations: AtomicU64,
    deallocations: AtomicU64,
    reallocations: AtomicU64,
    allocated_bytes_total: AtomicU64,
}

/// The counters of a [`TrackingAllocator`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllocationStats {
    /// Heap bytes in use.
    pub current_bytes: u64,
    /// Most heap bytes in use at once since start or the last [`TrackingAllocator::reset_peak`].
    pub peak_bytes: u64,
    /// Allocations made (including the allocating half of reallocations).
    pub allocations: u64,
    /// Allocations freed.
    pub deallocations: u64,
    /// Reallocations (each also counts as one allocation and one deallocation).
    pub reallocations: u64,
    /// Bytes allocated in total, freed or not.
    pub allocated_bytes_total: u64,
}

impl AllocationStats {
    /// Allocations not freed yet.
    pub fn live_allocations(&self) -> u64 {
        self.allocations.saturating_sub(self.deallocations)
    }

    /// What happened between `earlier` and `self`: counts and bytes as differences, current
    /// bytes as the change (saturating at 0), peak as `self`'s.
    pub fn since(&self, earlier: &AllocationStats) -> AllocationStats {
        AllocationStats {
            current_bytes: self.current_bytes.saturating_sub(earlier.current_bytes),
            peak_bytes: self.peak_bytes,
            allocations: self.allocations.saturating_sub(earlier.allocations),
            deallocations: self.deallocations.saturating_sub(earlier.deallocations),
            reallocations: self.reallocations.saturating_sub(earlier.reallocations),
            allocated_bytes_total: self
                .allocated_bytes_total
                .saturating_sub(earlier.allocated_bytes_total),
        }
    }

    /// advisor-core's memory metrics: current and peak bytes (allocation counts stay here).
    pub fn to_memory_metrics(&self) -> MemoryMetrics {
        MemoryMetrics {
            current_bytes: Some(self.current_bytes),
            peak_bytes: Some(self.peak_bytes),
            allocated_bytes: None,
            reserved_bytes: None,
        }
    }
}

impl Default for TrackingAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl TrackingAllocator {
    /// A tracking allocator with zeroed counters, usable in a `static`.
    pub const fn new() -> Self {
        Self {
            current_bytes: AtomicU64::new(0),
            peak_bytes: AtomicU64::new(0),
            allocations: AtomicU64::new(0),
            deallocations: AtomicU64::new(0),
            reallocations: AtomicU64::new(0),
            allocated_bytes_total: AtomicU64::new(0),
        }
    }

    /// The counters now. Each is read atomically, the set is not: with other threads
    /// allocating, the figures may be a few allocations apart.
    pub fn stats(&self) -> AllocationStats {
        let current_bytes = self.current_bytes.load(Ordering::Relaxed);
        AllocationStats {
            current_bytes,
            // Another thread may have raised the current bytes and not yet the peak.
            peak_bytes: self.peak_bytes.load(Ordering::Relaxed).max(current_bytes),
            allocations: self.allocations.load(Ordering::Relaxed),
            deallocations: self.deallocations.load(Ordering::Relaxed),
            reallocations: self.reallocations.load(Ordering::Relaxed),
            allocated_bytes_total: self.allocated_bytes_total.load(Ordering::Relaxed),
        }
    }

    /// advisor-core's memory metrics now: current and peak heap bytes.
    pub fn memory_metrics(&self) -> MemoryMetrics {
        self.stats().to_memory_metrics()
    }

    /// Sets the peak to the current bytes, to measure the peak of what follows.
    pub fn reset_peak(&self) {
        self.peak_bytes.store(
            self.current_bytes.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
    }

    /// Runs `f` and returns its result with what it allocated: counts as differences and
    /// `peak_bytes` as the highest bytes in use during `f` (process-wide: other threads'
    /// allocations count, and this resets the allocator's peak).
    pub fn measure<R>(&self, f: impl FnOnce() -> R) -> (R, AllocationStats) {
        self.reset_peak();
        let before = self.stats();
        let result = f();
        let after = self.stats();
        (result, after.since(&before))
    }

    #[inline]
    fn added(&self, size: usize) {
        let size = size as u64;
        self.allocations.fetch_add(1, Ordering::Relaxed);
        self.allocated_bytes_total
            .fetch_add(size, Ordering::Relaxed);
        let current = self.current_bytes.fetch_add(size, Ordering::Relaxed) + size;
        // A plain load first: the read-modify-write is needed only when a new peak is set.
        if current > self.peak_bytes.load(Ordering::Relaxed) {
            self.peak_bytes.fetch_max(current, Ordering::Relaxed);
        }
    }

    #[inline]
    fn removed(&self, size: usize) {
        self.deallocations.fetch_add(1, Ordering::Relaxed);
        self.current_bytes.fetch_sub(size as u64, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged and
// returns its result unchanged, so `System`'s guarantees carry over; the bookkeeping only
// touches atomics and never allocates.
unsafe impl GlobalAlloc for TrackingAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract (non-zero size), which
        // is `System::alloc`'s.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            self.added(layout.size());
        }
        pointer
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            self.added(layout.size());
        }
        pointer
    }

    #[inline]
    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `pointer` came from this allocator with `layout`;
        // this allocator's blocks are `System`'s blocks.
        unsafe { System.dealloc(pointer, layout) };
        self.removed(layout.size());
    }

    #[inline]
    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `pointer` came from this allocator with `layout` and
        // that `new_size` is valid for it; both are `System`'s requirements too.
        let new_pointer = unsafe { System.realloc(pointer, layout, new_size) };
        if !new_pointer.is_null() {
            self.reallocations.fetch_add(1, Ordering::Relaxed);
            self.removed(layout.size());
            self.added(new_size);
        }
        new_pointer
    }
}
