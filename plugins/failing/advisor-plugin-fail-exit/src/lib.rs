//! A plugin built to fail: a static constructor (an `.init_array` entry, which the dynamic
//! loader runs while it opens the library) that calls `std::process::exit(0)`. Loaded in the
//! advisor's own process it would end the advisor with status 0 and no output; the host vets
//! it in a child process and refuses it.

// Placing a function pointer in `.init_array` needs `#[unsafe(link_section)]`, an unsafe
// attribute the workspace denies; this crate exists to do exactly that.
#![allow(unsafe_code)]

/// Runs when the library is opened.
extern "C" fn exit_on_load() {
    std::process::exit(0);
}

/// The constructor's entry, the way the `ctor` crate writes it: `#[used]` keeps the static
/// although nothing refers to it, and the section makes the loader call it.
#[used]
#[unsafe(link_section = ".init_array")]
static CONSTRUCTOR: extern "C" fn() = exit_on_load;
