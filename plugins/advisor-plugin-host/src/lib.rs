//! Loads third-party rule plugins from a folder and runs their rules like built-in ones.
//!
//! [`PluginRules::load_plugins`] (an extension of [`OptimizationAdvisor`]) reads a folder:
//!
//! 1. Before any plugin code runs, it resolves the folder once and checks every folder on
//!    the resolved path, as OpenSSH's `StrictModes` does, then every `*.so` (`*.dylib`,
//!    `*.dll`) file in it, in file-name order: no file or folder writable by group or
//!    others (a sticky, root-owned folder such as `/tmp` on the way excepted) or owned by
//!    a user other than root and the current one, no symlink that leads out of the folder,
//!    nothing but regular files, and each file (device and inode) once.
//! 2. It vets each file where its failure cannot take the host with it ([`Vetting`]): a
//!    child process loads it first ([`vet_in_this_process`]), with a time limit, and a
//!    library whose startup code aborts, faults, hangs or exits there is refused.
//! 3. It loads each vetted file with `abi_stable::library::lib_header_from_path` and
//!    `init_root_module` (not `RootModule::load_from_*`, which caches one library per
//!    interface), by the open file that was checked, then negotiates: the abi_stable
//!    interface version, the plugin API version
//!    ([`PLUGIN_API_VERSION`](advisor_plugin_api::PLUGIN_API_VERSION)) and the features
//!    the plugin needs.
//! 4. It registers each rule under its id, refusing ids that clash with built-in rules or
//!    other plugins, and wraps it so that what the rule returns is validated as untrusted
//!    data ([`limits`]).
//!
//! Every failure is per plugin: it becomes an entry in the [`PluginReport`] naming the file
//! and the cause ([`PluginReport::diagnostics`]), and everything else still loads.
//!
//! ```
//! use advisor_core::{AnalysisContext, OptimizationAdvisor};
//! use advisor_plugin_host::{PluginRules, Vetting};
//!
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("README.txt"), "not a plugin, ignored").unwrap();
//! let mut advisor = OptimizationAdvisor::empty();
//! // A binary of your own vets each library in a child: `Vetting::in_child(
//! // std::env::current_exe()?, ["__vet-plugin"])`, where `__vet-plugin FILE` prints
//! // `vet_in_this_process(FILE).to_line()`. This folder holds no library.
//! let vetting = Vetting::in_child("advisor-plugin-vet", None::<&str>);
//! let report = advisor.load_plugins(dir.path(), &vetting).unwrap();
//! assert!(report.loaded.is_empty() && report.refused.is_empty());
//! assert!(advisor.analyze(&AnalysisContext::default()).is_ok());
//! ```

mod adapter;
mod checks;
pub mod limits;
mod load;
mod report;
mod validate;
mod vet;

pub use crate::{
    load::PluginRules,
    report::{LoadedPlugin, PluginDirError, PluginReport, RefusedPlugin, RefusedRule},
    vet::{VetReport, Vetting, vet_in_this_process},
};
