//! Vetting: each library is first loaded in a child process, where its startup code (static
//! constructors, the root module loader) can abort, fault, hang or exit without taking the
//! host with it. Only libraries the child reports as loading are loaded in the host.

use std::{
    ffi::OsString,
    io::Read,
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use crate::{
    checks::{self, CheckedFile},
    load,
};

/// How [`load_plugins`](crate::PluginRules::load_plugins) makes sure a library's startup
/// code cannot take the host down before loading it into the host's own process.
///
/// Loading a library runs its code at once: static constructors (`.init_array`) while the
/// dynamic loader opens it, then abi_stable's root module loader. Code that aborts, faults,
/// hangs or calls `exit` there ends the process that loads it, and no `catch_unwind` can
/// stop that. [`Vetting::in_child`] loads each library first in a child process (a command
/// that calls [`vet_in_this_process`] and prints [`VetReport::to_line`]), with a time limit;
/// a library whose child does not report that it loads is refused with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vetting {
    mode: Mode,
    time_limit: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Child {
        program: PathBuf,
        args: Vec<OsString>,
    },
    Unvetted,
}

impl Vetting {
    /// The time a vetting process gets before it is killed and its library refused.
    pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(10);

    /// Vets each library by running `program args... FILE`, where `FILE` is the checked,
    /// resolved path of the library. The command must call [`vet_in_this_process`] on
    /// `FILE` and print its report's [`VetReport::to_line`] on stdout. The `advisor` binary
    /// does this as `advisor __vet-plugin FILE`; this crate's `advisor-plugin-vet` binary
    /// does it for hosts without a binary of their own.
    pub fn in_child(
        program: impl Into<PathBuf>,
        args: impl IntoIterator<Item = impl Into<OsString>>,
    ) -> Vetting {
        Vetting {
            mode: Mode::Child {
                program: program.into(),
                args: args.into_iter().map(Into::into).collect(),
            },
            time_limit: Vetting::DEFAULT_TIME_LIMIT,
        }
    }

    /// Loads every library that passes the file checks straight into this process.
    ///
    /// This is the risk vetting removes: a library whose startup code aborts, faults,
    /// hangs or calls `exit` ends or hangs this process, before any diagnostic can be
    /// made, and a library with a corrupt abi_stable header can fault it. Use it only for
    /// folders whose every library you built yourself, or where a child process cannot
    /// be started.
    pub fn unvetted() -> Vetting {
        Vetting {
            mode: Mode::Unvetted,
            time_limit: Vetting::DEFAULT_TIME_LIMIT,
        }
    }

    /// The same vetting with another time limit per library (default
    /// [`DEFAULT_TIME_LIMIT`](Vetting::DEFAULT_TIME_LIMIT)).
    pub fn with_time_limit(mut self, time_limit: Duration) -> Vetting {
        self.time_limit = time_limit;
        self
    }

    /// The time limit per library.
    pub fn time_limit(&self) -> Duration {
        self.time_limit
    }

    /// Whether libraries are vetted in a child process.
    pub fn is_vetted(&self) -> bool {
        matches!(self.mode, Mode::Child { .. })
    }
}

/// What a vetting process found when it loaded one library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum VetReport {
    /// The library loaded and negotiated; these are its name, version and rule ids.
    Loads {
        /// The plugin's name.
        name: String,
        /// The plugin's version.
        version: String,
        /// The ids of the rules it offers.
        rules: Vec<String>,
    },
    /// The library was refused, for this reason (the same the host would give).
    Refused {
        /// Why.
        reason: String,
    },
}

/// The one line a vetting process prints: the report under a key of its own, so that
/// whatever a library prints on stdout itself is not taken for it.
#[derive(Serialize, Deserialize)]
struct VetLine {
    advisor_plugin_vet: VetReport,
}

impl VetReport {
    /// The report as the one JSON line (without the newline) a vetting process prints on
    /// stdout for the host to read.
    pub fn to_line(&self) -> String {
        let line = VetLine {
            advisor_plugin_vet: self.clone(),
        };
        serde_json::to_string(&line).unwrap_or_else(|error| {
            format!(
                r#"{{"advisor_plugin_vet":{{"outcome":"refused","reason":"the report could not be written: {error}"}}}}"#
            )
        })
    }

    /// Reads the last report line in a vetting process's output.
    pub fn from_output(stdout: &str) -> Option<VetReport> {
        stdout
            .lines()
            .rev()
            .find_map(|line| serde_json::from_str::<VetLine>(line.trim()).ok())
            .map(|line| line.advisor_plugin_vet)
    }
}

/// Vets one library inside this process, which is meant to be a child of the host: the
/// same checks the host makes (the folder's path, the file), then the library is loaded
/// with `lib_header_from_path(...).init_root_module()` and its name, version and rules are
/// read. If the library's startup code ends or hangs the process, this never returns, which
/// is what the host watches for.
pub fn vet_in_this_process(file: &Path) -> VetReport {
    let opened = checks::check_single_file(file).and_then(|checked| load::open(&checked));
    match opened {
        Ok(plugin) => VetReport::Loads {
            name: plugin.name,
            version: plugin.version,
            rules: plugin
                .rules
                .iter()
                .map(|rule| rule.id().into_string())
                .collect(),
        },
        Err(reason) => VetReport::Refused { reason },
    }
}

/// The most of a vetting process's stdout that is kept.
const MAX_OUTPUT_BYTES: u64 = 1 << 20;

/// How many vetting processes run at once.
const MAX_CHILDREN_AT_ONCE: usize = 8;

/// Vets the checked files, one child each, [`MAX_CHILDREN_AT_ONCE`] at a time. Returns, in
/// order, `Ok` for a file the host may load and the reason for one it must refuse.
pub(crate) fn vet_all(files: &[&CheckedFile], vetting: &Vetting) -> Vec<Result<(), String>> {
    let Mode::Child { program, args } = &vetting.mode else {
        return files.iter().map(|_| Ok(())).collect();
    };
    let mut verdicts = Vec::with_capacity(files.len());
    for batch in files.chunks(MAX_CHILDREN_AT_ONCE) {
        std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|file| {
                    scope.spawn(move || vet_one(program, args, &file.path, vetting.time_limit))
                })
                .collect();
            verdicts.extend(handles.into_iter().map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err("vetting it failed unexpectedly".to_owned()))
            }));
        });
    }
    verdicts
}

fn vet_one(
    program: &Path,
    args: &[OsString],
    file: &Path,
    time_limit: Duration,
) -> Result<(), String> {
    let mut command = Command::new(program);
    command
        .args(args)
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // What a library prints while it fails is not for the host's terminal; the reason
        // comes from how the child ended.
        .stderr(Stdio::null());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // Its own process group, so that a kill reaches whatever the library started too.
        command.process_group(0);
    }
    let mut child = command.spawn().map_err(|error| {
        format!(
            "it could not be vetted: starting {} failed: {error}",
            program.display()
        )
    })?;
    let (sender, receiver) = mpsc::channel();
    if let Some(mut stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let _ = (&mut stdout).take(MAX_OUTPUT_BYTES).read_to_end(&mut kept);
            // Drain the rest so the child never blocks on a full pipe.
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
            let _ = sender.send(kept);
        });
    }
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= time_limit => {
                kill(&mut child);
                return Err(format!(
                    "loading it did not finish within {}; the vetting process was killed",
                    shown_duration(time_limit)
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(error) => {
                kill(&mut child);
                return Err(format!("it could not be vetted: waiting failed: {error}"));
            }
        }
    };
    // The pipe closes when the child ends (and anything it started with it).
    let output = receiver
        .recv_timeout(Duration::from_secs(1))
        .unwrap_or_default();
    let report = VetReport::from_output(&String::from_utf8_lossy(&output));
    match (report, status.success()) {
        (Some(VetReport::Loads { .. }), true) => Ok(()),
        (Some(VetReport::Refused { reason }), true) => Err(reason),
        (Some(_), false) => Err(format!("{} after it reported", ended(status))),
        (None, _) => Err(match status.code() {
            Some(code) => format!("the vetting process exited with status {code} before reporting"),
            None => ended(status),
        }),
    }
}

/// How a vetting process that failed ended, as a reason.
fn ended(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = signal_name(signal);
            return if signal == 6 {
                format!("loading it aborted the vetting process (signal {signal}{name})")
            } else {
                format!("loading it crashed the vetting process (signal {signal}{name})")
            };
        }
    }
    match status.code() {
        Some(code) => format!("the vetting process exited with status {code}"),
        None => format!("the vetting process ended ({status})"),
    }
}

#[cfg(unix)]
fn signal_name(signal: i32) -> &'static str {
    match signal {
        4 => ", SIGILL",
        5 => ", SIGTRAP",
        6 => ", SIGABRT",
        7 => ", SIGBUS",
        8 => ", SIGFPE",
        9 => ", SIGKILL",
        11 => ", SIGSEGV",
        13 => ", SIGPIPE",
        15 => ", SIGTERM",
        _ => "",
    }
}

/// Kills a vetting process and its group, and reaps it.
fn kill(child: &mut std::process::Child) {
    #[cfg(unix)]
    {
        let group = rustix::process::Pid::from_child(child);
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A time limit as people write it: `10 s`, `250 ms`.
fn shown_duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 && duration.as_secs() > 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}
