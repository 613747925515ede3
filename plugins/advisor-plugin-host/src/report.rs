//! What loading a plugin folder found: the plugins that loaded, the files refused and why.

use std::path::PathBuf;

use advisor_core::{Diagnostic, DiagnosticSeverity};
use serde::Serialize;

/// The outcome of loading a plugin folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PluginReport {
    /// The folder.
    pub dir: PathBuf,
    /// Plugins that loaded, in file-name order.
    pub loaded: Vec<LoadedPlugin>,
    /// Files that were refused, in file-name order.
    pub refused: Vec<RefusedPlugin>,
}

/// A plugin that loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LoadedPlugin {
    /// The library file.
    pub file: PathBuf,
    /// The plugin's name.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// Ids of the rules it registered.
    pub rules: Vec<String>,
    /// Rules it offered that were refused.
    pub refused_rules: Vec<RefusedRule>,
}

/// A rule a loaded plugin offered that was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RefusedRule {
    /// The id it claimed.
    pub id: String,
    /// Why it was refused.
    pub reason: String,
}

/// A file that was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RefusedPlugin {
    /// The file.
    pub file: PathBuf,
    /// Why it was refused.
    pub reason: String,
}

impl PluginReport {
    /// One error diagnostic per refused file and refused rule, with source `plugin`,
    /// each naming the file and the cause.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let refused_files = self
            .refused
            .iter()
            .map(|refused| format!("{}: refused: {}", refused.file.display(), refused.reason));
        let refused_rules = self.loaded.iter().flat_map(|plugin| {
            plugin.refused_rules.iter().map(move |rule| {
                format!(
                    "{}: rule `{}` refused: {}",
                    plugin.file.display(),
                    rule.id,
                    rule.reason
                )
            })
        });
        refused_files
            .chain(refused_rules)
            .map(|message| Diagnostic::new(DiagnosticSeverity::Error, "plugin".to_owned(), message))
            .collect()
    }
}

/// The plugin folder as a whole cannot be used; no plugin in it was loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin folder {}: {problem}", dir.display())]
pub struct PluginDirError {
    /// The folder.
    pub dir: PathBuf,
    /// What is wrong with it.
    pub problem: String,
}
