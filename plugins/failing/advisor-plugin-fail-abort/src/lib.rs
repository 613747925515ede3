//! A plugin built to fail: a static constructor (an `.init_array` entry, which the dynamic
//! loader runs while it opens the library, before any symbol is looked up) that calls
//! `std::process::abort()`. Loaded in the advisor's own process it would take the advisor
//! down with SIGABRT; the host vets it in a child process and refuses it.

// Placing a function pointer in `.init_array` needs `#[unsafe(link_section)]`, an unsafe
// attribute the workspace denies; this crate exists to do exactly that.
#![allow(unsafe_code)]

/// Runs when the library is opened.
extern "C" fn abort_on_load() {
    std::process::abort();
}

/// The constructor's entry, the way the `ctor` crate writes it: `#[used]` keeps the static
/// although nothing refers to it, and the section makes the loader call it.
#[used]
#[unsafe(link_section = ".init_array")]
static CONSTRUCTOR: extern "C" fn() = abort_on_load;
