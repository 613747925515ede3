//! A plugin built to fail: its root module loader panics. abi_stable catches the panic in
//! the loader and the host refuses the file with a diagnostic.

use advisor_plugin_api::AdvisorPluginRef;

/// The root module loader; it panics.
#[abi_stable::export_root_module]
fn advisor_plugin_root_module() -> AdvisorPluginRef {
    panic!("deliberate panic in the root loader")
}
