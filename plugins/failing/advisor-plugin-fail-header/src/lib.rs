//! A plugin built to fail: it exports abi_stable's root module symbol pointing at a header
//! whose first bytes are abi_stable's real `AbiHeader` (magic string and version), so the
//! header check passes, followed by garbage where abi_stable expects the root module's
//! constants and function pointers. Following them faults: loaded in the advisor's own
//! process it would take the advisor down, so the host vets it in a child process and
//! refuses it.

// Exporting a static under abi_stable's symbol name needs `#[unsafe(export_name)]`, an unsafe
// attribute the workspace denies; this crate exists to do exactly that.
#![allow(unsafe_code)]

use abi_stable::library::AbiHeader;

/// The real header followed by garbage: every word is a non-canonical address, so the
/// first pointer abi_stable follows faults.
#[repr(C)]
pub struct CorruptLibHeader {
    header: AbiHeader,
    garbage: [usize; 32],
}

/// What abi_stable finds under its root module symbol
/// (`abi_stable::library::ROOT_MODULE_LOADER_NAME`): the library's header itself.
#[unsafe(export_name = "_1as_0lib_1header_0root_bmodule_bloader")]
pub static ROOT_MODULE: CorruptLibHeader = CorruptLibHeader {
    header: AbiHeader::VALUE,
    garbage: [0x4141_4141_4141_4141; 32],
};
