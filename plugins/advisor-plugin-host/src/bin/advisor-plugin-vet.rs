//! `advisor-plugin-vet FILE`: the vetting process for hosts without a binary of their own
//! (`Vetting::in_child("advisor-plugin-vet", None::<&str>)`): loads one plugin library,
//! prints the one-line report and exits 0. If the library's startup code ends or hangs this
//! process, the host sees that instead.

use std::{io::Write, path::PathBuf, process::ExitCode};

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(file), None) = (args.next(), args.next()) else {
        let _ = writeln!(std::io::stderr(), "usage: advisor-plugin-vet FILE");
        return ExitCode::from(2);
    };
    let report = advisor_plugin_host::vet_in_this_process(&PathBuf::from(file));
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{}", report.to_line()).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(1),
    }
}
