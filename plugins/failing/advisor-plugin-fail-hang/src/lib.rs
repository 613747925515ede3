//! A plugin built to fail: its root module loader never returns. Loaded in the advisor's
//! own process it would hang the advisor; the host vets it in a child process, kills the
//! child when the vetting's time limit passes, and refuses the file.

use advisor_plugin_api::AdvisorPluginRef;

/// The root module loader; it sleeps forever.
#[abi_stable::export_root_module]
fn advisor_plugin_root_module() -> AdvisorPluginRef {
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
