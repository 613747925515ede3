//! `advisor plugins [DIR]` and the plugin folder of `advisor analyze`: which plugins load
//! from a folder, and which files and rules were refused and why.

use std::path::{Path, PathBuf};

use advisor_core::OptimizationAdvisor;
use advisor_plugin_host::{PluginReport, PluginRules, Vetting};
use advisor_report::{escape_control, escape_json_controls};
use advisor_rules_builtin::BuiltinRules;
use clap::Args;

use crate::{ListFormat, input_error};

/// The environment variable naming the default plugin folder.
pub(crate) const PLUGIN_DIR_VARIABLE: &str = "ADVISOR_PLUGIN_DIR";

#[derive(Args)]
pub(crate) struct PluginsArgs {
    /// The plugin folder; default `$ADVISOR_PLUGIN_DIR`.
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    format: ListFormat,
}

/// The plugin folder: the flag's, else `$ADVISOR_PLUGIN_DIR` when set and not empty.
pub(crate) fn plugin_dir(flag: Option<&Path>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf).or_else(|| {
        std::env::var_os(PLUGIN_DIR_VARIABLE)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    })
}

/// The hidden subcommand that vets each plugin in a child process (`main.rs`).
const VET_SUBCOMMAND: &str = "__vet-plugin";

/// Loads a plugin folder into an advisor; a folder that cannot be used is bad input.
///
/// Each library is vetted first by this same binary run as `advisor __vet-plugin FILE`, so
/// a library whose startup code aborts, faults, hangs or exits is refused instead of taking
/// the advisor down.
pub(crate) fn load(advisor: &mut OptimizationAdvisor, dir: &Path) -> anyhow::Result<PluginReport> {
    let (program, mut args) = match crate::vetter() {
        Some((program, args)) => (program.clone(), args.clone()),
        None => (
            std::env::current_exe().map_err(|error| {
                anyhow::anyhow!("finding the advisor's own binary, to vet plugins with: {error}")
            })?,
            Vec::new(),
        ),
    };
    args.push(VET_SUBCOMMAND.to_owned());
    advisor
        .load_plugins(dir, &Vetting::in_child(program, args))
        .map_err(|error| input_error(error.to_string()))
}

/// `advisor __vet-plugin FILE`: loads one library in this process and prints the one-line
/// report the parent reads. Whatever the library does wrong, the parent sees it, not the user.
pub(crate) fn vet(file: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    let report = advisor_plugin_host::vet_in_this_process(file);
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", report.to_line())?;
    stdout.flush()?;
    Ok(())
}

pub(crate) fn run(args: PluginsArgs) -> anyhow::Result<()> {
    let dir = plugin_dir(args.dir.as_deref()).ok_or_else(|| {
        input_error(format!(
            "no plugin folder: pass DIR or set {PLUGIN_DIR_VARIABLE}"
        ))
    })?;
    // With the built-in rules registered, so that clashing ids show up as refused.
    let mut advisor = OptimizationAdvisor::new();
    let report = load(&mut advisor, &dir)?;
    let text = match args.format {
        ListFormat::Json => {
            escape_json_controls(&serde_json::to_string_pretty(
                &crate::output::Versioned::new(&report),
            )?)
            .into_owned()
                + "\n"
        }
        ListFormat::Text => render_text(&report),
    };
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// A file's name for the listing, escaped: file names, plugin names and reasons come from the
/// folder and the libraries in it.
fn file_name(path: &Path) -> String {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    escape_control(&name).into_owned()
}

fn render_text(report: &PluginReport) -> String {
    let shown = |text: &str| escape_control(text).into_owned();
    let mut out = format!(
        "plugin folder {}\n",
        shown(&report.dir.display().to_string())
    );
    out.push_str(&format!("\nloaded ({}):\n", report.loaded.len()));
    for plugin in &report.loaded {
        out.push_str(&format!(
            "  {}: {} {}, rules: {}\n",
            file_name(&plugin.file),
            shown(&plugin.name),
            shown(&plugin.version),
            if plugin.rules.is_empty() {
                "none".to_owned()
            } else {
                shown(&plugin.rules.join(", "))
            }
        ));
        for rule in &plugin.refused_rules {
            out.push_str(&format!(
                "    refused rule {}: {}\n",
                shown(&rule.id),
                shown(&rule.reason)
            ));
        }
    }
    out.push_str(&format!("\nrefused ({}):\n", report.refused.len()));
    for refused in &report.refused {
        out.push_str(&format!(
            "  {}: {}\n",
            file_name(&refused.file),
            shown(&refused.reason)
        ));
    }
    out
}
