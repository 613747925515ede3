//! Loading the checked and vetted files: abi_stable's header, version and feature
//! negotiation, and registering the rules with the advisor.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use abi_stable::{
    library::{LibHeader, LibraryError, RootModule, RootModuleError, lib_header_from_path},
    std_types::{RErr, ROk},
};
use advisor_core::{Category, OptimizationAdvisor};
use advisor_plugin_api::{AdvisorPluginRef, HOST_FEATURES, PLUGIN_API_VERSION, PluginRuleBox};

use crate::{
    adapter::PluginRuleAdapter,
    checks::{self, CheckedFile},
    limits::{MAX_ID_CHARS, MAX_LINE_CHARS, MAX_TEXT_CHARS},
    report::{LoadedPlugin, PluginDirError, PluginReport, RefusedPlugin, RefusedRule},
    vet::{self, Vetting},
};

/// Adds `load_plugins(dir)` to [`OptimizationAdvisor`].
pub trait PluginRules {
    /// Loads every plugin library in `dir` (in file-name order) and registers its rules.
    ///
    /// Each library that passes the file checks is vetted as `vetting` says (normally in a
    /// child process, [`Vetting::in_child`]) before it is loaded into this process.
    ///
    /// Fails only when the folder itself cannot be used (missing, not a folder, it or a
    /// folder on its path writable by group or others or owned by another user); nothing is
    /// loaded then. Every problem with one file or one rule is recorded in the report and
    /// the rest still loads.
    fn load_plugins(
        &mut self,
        dir: &Path,
        vetting: &Vetting,
    ) -> Result<PluginReport, PluginDirError>;
}

impl PluginRules for OptimizationAdvisor {
    fn load_plugins(
        &mut self,
        dir: &Path,
        vetting: &Vetting,
    ) -> Result<PluginReport, PluginDirError> {
        let mut report = PluginReport {
            dir: dir.to_path_buf(),
            ..PluginReport::default()
        };
        let candidates = checks::scan(dir)?;
        let checked: Vec<&CheckedFile> = candidates
            .iter()
            .filter_map(|candidate| candidate.verdict.as_ref().ok())
            .collect();
        let mut vetted = vet::vet_all(&checked, vetting).into_iter();
        // Which plugin registered each id, to say what a clash is with.
        let mut owners: HashMap<String, PathBuf> = HashMap::new();
        for candidate in candidates {
            let file = candidate.file;
            let opened = candidate.verdict.and_then(|checked| {
                vetted
                    .next()
                    .unwrap_or_else(|| Err("it was not vetted".to_owned()))?;
                open(&checked)
            });
            let plugin = match opened {
                Ok(plugin) => plugin,
                Err(reason) => {
                    report.refused.push(RefusedPlugin { file, reason });
                    continue;
                }
            };
            let mut loaded = LoadedPlugin {
                file: file.clone(),
                name: plugin.name,
                version: plugin.version,
                rules: Vec::new(),
                refused_rules: Vec::new(),
            };
            for rule in plugin.rules {
                let id = rule.id().into_string();
                let registered = PluginRuleAdapter::new(rule, &file).and_then(|adapter| {
                    self.add_rule(Box::new(adapter))
                        .map_err(|_| match owners.get(&id) {
                            Some(owner) => format!(
                                "the id clashes with a rule of the plugin {}",
                                owner.display()
                            ),
                            None => "the id clashes with a built-in rule".to_owned(),
                        })
                });
                match registered {
                    Ok(()) => {
                        owners.insert(id.clone(), file.clone());
                        loaded.rules.push(id);
                    }
                    Err(reason) => loaded.refused_rules.push(RefusedRule {
                        id: shorten(&id, MAX_ID_CHARS),
                        reason,
                    }),
                }
            }
            report.loaded.push(loaded);
        }
        Ok(report)
    }
}

/// A plugin whose root module loaded and negotiated.
pub(crate) struct OpenedPlugin {
    pub name: String,
    pub version: String,
    pub rules: Vec<PluginRuleBox>,
}

/// Loads one checked file and asks it for its rules.
pub(crate) fn open(checked: &CheckedFile) -> Result<OpenedPlugin, String> {
    let header = load_header(checked)?;
    let expected = <AdvisorPluginRef as RootModule>::VERSION_STRINGS;
    let module = header
        .init_root_module::<AdvisorPluginRef>()
        .map_err(|error| match error {
            LibraryError::IncompatibleVersionNumber { actual_version, .. } => format!(
                "built against advisor-plugin-api {actual_version}, expected a version compatible with {}",
                expected.version
            ),
            LibraryError::ParseVersionError(error) => {
                format!("its interface version cannot be read: {error}")
            }
            LibraryError::AbiInstability(error) => format!(
                "its root module does not match advisor-plugin-api {}: {}",
                expected.version,
                first_line(&error.to_string())
            ),
            LibraryError::RootModule {
                err: RootModuleError::Unwound,
                ..
            } => "the root module loader panicked".to_owned(),
            LibraryError::RootModule {
                err: RootModuleError::Returned(error),
                ..
            } => format!("the root module loader failed: {}", first_line(&error.to_string())),
            other => format!("it could not be loaded: {}", first_line(&other.to_string())),
        })?;
    let api_version = module.api_version();
    if api_version != PLUGIN_API_VERSION {
        return Err(format!(
            "built for plugin API {api_version}, expected plugin API {PLUGIN_API_VERSION}"
        ));
    }
    let missing: Vec<String> = module
        .required_features()
        .iter()
        .map(|feature| feature.as_str())
        .filter(|feature| !HOST_FEATURES.contains(feature))
        .map(|feature| format!("`{}`", shorten(feature, MAX_ID_CHARS)))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "needs plugin-API features this advisor lacks: {} (it has {})",
            missing.join(", "),
            HOST_FEATURES.join(", ")
        ));
    }
    let name = text_field("plugin name", module.plugin_name().as_str(), MAX_LINE_CHARS)?;
    let version = text_field(
        "plugin version",
        module.plugin_version().as_str(),
        MAX_LINE_CHARS,
    )?;
    match (module.rules())() {
        ROk(rules) => Ok(OpenedPlugin {
            name,
            version,
            rules: rules.into_vec(),
        }),
        RErr(error) => Err(format!(
            "making its rules failed: {}",
            shorten(error.as_str(), MAX_TEXT_CHARS)
        )),
    }
}

/// Opens the library and reads abi_stable's header, loading exactly the file that was
/// checked: on Linux it is opened, its device and inode compared with the checked ones, and
/// the dynamic loader is given `/proc/self/fd/N` for that open file, so no path can be
/// swapped in between. Elsewhere the checked path is loaded after the same comparison
/// (nobody but root and the current user can swap it: the folder's checks see to that).
fn load_header(checked: &CheckedFile) -> Result<&'static LibHeader, String> {
    let opened = std::fs::File::open(&checked.path).map_err(|error| error.to_string())?;
    let meta = opened.metadata().map_err(|error| error.to_string())?;
    if checks::identity(&meta) != checked.identity {
        return Err("the file changed between the checks and loading".to_owned());
    }
    let (load_path, opened) = by_descriptor(&checked.path, opened);
    let header = lib_header_from_path(&load_path);
    if header.is_ok()
        && let Some(opened) = opened
    {
        // The dynamic loader knows the library by the name `/proc/self/fd/N` and would hand
        // back this library for that name; the descriptor stays open so that N is never
        // reused. abi_stable never unloads libraries either.
        std::mem::forget(opened);
    }
    let shown = |text: String| {
        text.replace(
            &*load_path.to_string_lossy(),
            &checked.path.to_string_lossy(),
        )
    };
    header.map_err(|error| match error {
        LibraryError::OpenError { err, .. } => format!(
            "not a loadable library ({})",
            first_line(&shown(err.to_string()))
        ),
        LibraryError::GetSymbolError { .. } => {
            "not an advisor plugin: it exports no abi_stable root module (`_as_root_module_loader`); build it with `advisor_plugin_api::export_plugin!`".to_owned()
        }
        LibraryError::InvalidAbiHeader(header) => format!(
            "built with an incompatible abi_stable (header {header:?})"
        ),
        other => first_line(&shown(other.to_string())),
    })
}

/// The path to give the dynamic loader for an open file, and the file if the path depends on
/// it staying open.
#[cfg(target_os = "linux")]
fn by_descriptor(path: &Path, opened: std::fs::File) -> (PathBuf, Option<std::fs::File>) {
    use std::os::fd::AsRawFd;
    let by_fd = PathBuf::from(format!("/proc/self/fd/{}", opened.as_raw_fd()));
    // Without /proc mounted, the checked path.
    match std::fs::metadata(&by_fd) {
        Ok(meta)
            if opened
                .metadata()
                .is_ok_and(|own| checks::identity(&own) == checks::identity(&meta)) =>
        {
            (by_fd, Some(opened))
        }
        _ => (path.to_path_buf(), None),
    }
}

#[cfg(not(target_os = "linux"))]
fn by_descriptor(path: &Path, _opened: std::fs::File) -> (PathBuf, Option<std::fs::File>) {
    (path.to_path_buf(), None)
}

/// Checks a piece of text a plugin hands over.
pub(crate) fn text_field(what: &str, text: &str, max_chars: usize) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err(format!("its {what} is empty"));
    }
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(format!(
            "its {what} has {chars} characters, more than {max_chars}"
        ));
    }
    Ok(text.to_owned())
}

/// Whether a rule id is well formed: lowercase letters, digits and `_`, starting with a
/// letter, at most [`MAX_ID_CHARS`].
pub(crate) fn check_rule_id(id: &str) -> Result<(), String> {
    let well_formed = id.len() <= MAX_ID_CHARS
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "the id `{}` is not 1 to {MAX_ID_CHARS} lowercase letters, digits and `_` starting with a letter",
            shorten(id, MAX_ID_CHARS)
        ))
    }
}

/// Parses a category's JSON name.
pub(crate) fn parse_category(name: &str) -> Result<Category, String> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).map_err(|_| {
        let known: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
        format!(
            "unknown category `{}` (known: {})",
            shorten(name, MAX_ID_CHARS),
            known.join(", ")
        )
    })
}

/// The first line of a message.
fn first_line(text: &str) -> String {
    text.trim()
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Cuts text from a plugin to `max_chars` characters, marking the cut.
pub(crate) fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(max_chars).collect();
        short.push('…');
        short
    }
}
