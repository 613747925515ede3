//! `advisor`: tells you what to optimize next in a transformer model, how much it buys on your
//! hardware, and why. The command's code, as a library so that the Python wheel's `advisor`
//! entry point runs the same command ([`run`]); `src/main.rs` is the binary.
//!
//! Exit status: 0 on success, 2 on bad input (a file, a flag or a value), 1 when writing the
//! output fails.

mod analyze;
mod diff;
mod examples;
mod hardware;
mod input;
mod inspect;
mod listing;
mod output;
mod plugins;
mod suggest;
mod term;
mod trace;
mod verify;

use std::{ffi::OsString, io::Write, path::PathBuf, sync::OnceLock};

use clap::{Parser, Subcommand, ValueEnum};

/// The command that vets a plugin in a child process: this program with `__vet-plugin` by
/// default; the Python entry point sets its interpreter and `-m advisor`.
static VETTER: OnceLock<(PathBuf, Vec<String>)> = OnceLock::new();

/// Sets how plugins are vetted in a child process: `program` with `args`, then
/// `__vet-plugin FILE`. Call before [`run`]; the first call wins.
pub fn set_vetter(program: PathBuf, args: Vec<String>) {
    let _ = VETTER.set((program, args));
}

pub(crate) fn vetter() -> Option<&'static (PathBuf, Vec<String>)> {
    VETTER.get()
}

#[derive(Parser)]
#[command(
    name = "advisor",
    version,
    about = "Prioritized, quantified optimization advice for transformer models"
)]
struct Cli {
    /// No warnings or progress on standard error (errors are still printed).
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Colour: `auto` on a terminal unless NO_COLOR is set, `always`, or `never`.
    #[arg(long, value_enum, global = true, default_value_t = term::ColorChoice::Auto)]
    color: term::ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyze a model, its metrics and the hardware, and print suggestions.
    Analyze(analyze::AnalyzeArgs),
    /// List the embedded example models.
    Examples {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// List every rule with its id, category and description.
    Rules {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Print what was detected about this machine's hardware, or with `--list` the
    /// deployment targets that `--hardware NAME` accepts.
    Hardware {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
        /// List the deployment targets with their figures and sources instead.
        #[arg(long, conflicts_with = "calibrate")]
        list: bool,
        /// Also measure the CPU's clock and memory bandwidth (a few seconds), so CPU
        /// predictions rest on measured figures; save the JSON and pass it as --hardware FILE.
        #[arg(long)]
        calibrate: bool,
        /// Start the wgpu probe even without a GPU device node, to list software renderers
        /// (llvmpipe); by default it is skipped there, which saves loading the Vulkan
        /// drivers.
        #[arg(long)]
        software_adapters: bool,
    },
    /// Print a JSON Schema: of the analysis context (`--context` files; the default) or of a
    /// command's JSON output (`report`, `inspect`, `hardware`, `plugins`, `diff`, `verify`).
    Schema {
        /// Which schema.
        #[arg(default_value = "context")]
        name: String,
    },
    /// List the rule plugins a folder holds: what loads, and what was refused and why.
    Plugins(plugins::PluginsArgs),
    /// Summarize what the advisor understands of a model file (ONNX, safetensors, config.json,
    /// graph JSON).
    Inspect(inspect::InspectArgs),
    /// Summarize a PyTorch profiler (Kineto) trace: steps, GPU time breakdown, top kernels
    /// and CPU ops, launches, memcpy, communication.
    Trace(trace::TraceArgs),
    /// Compare two runs (traces or metrics JSON): step time against its noise, the
    /// breakdown, the kernels and operators that changed most, regressions.
    Diff(diff::DiffArgs),
    /// Check a report's predictions against the run after the change: which suggestions were
    /// applied, and the predicted range next to the measured change.
    Verify(verify::VerifyArgs),
    /// Print a shell completion script: `advisor completions bash > /etc/bash_completion.d/advisor`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `advisor man > advisor.1 && man ./advisor.1`.
    Man,
    /// Load one plugin library in this process and print a one-line JSON report: the child
    /// process in which `advisor` vets each plugin before loading it itself.
    #[command(name = "__vet-plugin", hide = true)]
    VetPlugin {
        /// The checked, resolved path of the library.
        file: std::path::PathBuf,
    },
}

/// Format of listings.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ListFormat {
    /// For people.
    Text,
    /// For machines.
    Json,
}

/// An error in what the user gave us; exits with status 2.
#[derive(Debug)]
pub(crate) struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// Shorthand for returning an input error.
pub(crate) fn input_error(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(InputError(message.into()))
}

/// Runs the `advisor` command with `args` (the first is the program name), printing to
/// standard output and error, and returns its exit status (0, 1 or 2).
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() { 2 } else { 0 };
        }
    };
    term::init(cli.quiet, cli.color);
    let result = match cli.command {
        Command::Analyze(args) => analyze::run(args),
        Command::Examples { format } => listing::examples(format),
        Command::Rules { format } => listing::rules(format),
        Command::Hardware {
            format,
            list,
            calibrate,
            software_adapters,
        } => hardware::run(format, list, calibrate, software_adapters),
        Command::Schema { name } => listing::schema(&name),
        Command::Plugins(args) => plugins::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Trace(args) => trace::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "advisor", &mut script);
            listing::print(&String::from_utf8_lossy(&script))
        }
        Command::Man => man(),
        Command::VetPlugin { file } => plugins::vet(&file),
    };
    match result {
        Ok(()) => 0,
        Err(error) => {
            // A closed pipe (`advisor rules | head`) is not an error worth reporting.
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return 0;
            }
            // Errors echo file names, flags and values from the inputs: escaped, so that none
            // can drive the terminal or forge a line of its own.
            let message = format!("{error:#}");
            let _ = writeln!(
                std::io::stderr(),
                "error: {}",
                advisor_report::escape_control(&message)
            );
            if error.downcast_ref::<InputError>().is_some() {
                2
            } else {
                1
            }
        }
    }
}

/// The man page of the whole command, with a section per subcommand.
fn man() -> anyhow::Result<()> {
    let command = <Cli as clap::CommandFactory>::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page)?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let title = format!("advisor-{}", sub.get_name());
        clap_mangen::Man::new(sub.clone())
            .title(title)
            .render(&mut page)?;
    }
    listing::print(&String::from_utf8_lossy(&page))
}
