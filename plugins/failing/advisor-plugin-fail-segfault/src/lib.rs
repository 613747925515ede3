//! A plugin built to fail: a static constructor (an `.init_array` entry, which the dynamic
//! loader runs while it opens the library) that writes through a null pointer. Loaded in the
//! advisor's own process it would take the advisor down with SIGSEGV; the host vets it in a
//! child process and refuses it.

// A segmentation fault cannot be had without `unsafe`, and the constructor needs the unsafe
// attribute `#[unsafe(link_section)]`; this crate exists to do exactly that.
#![allow(unsafe_code)]

/// Runs when the library is opened.
extern "C" fn segfault_on_load() {
    let null = std::ptr::null_mut::<u64>();
    // SAFETY: none; the write is meant to fault. `write_volatile` keeps the compiler from
    // treating it as unreachable and removing it.
    unsafe { null.write_volatile(0xdead) };
}

/// The constructor's entry, the way the `ctor` crate writes it: `#[used]` keeps the static
/// although nothing refers to it, and the section makes the loader call it.
#[used]
#[unsafe(link_section = ".init_array")]
static CONSTRUCTOR: extern "C" fn() = segfault_on_load;
