//! Inputs built to break the advisor: traces nested deeper than any call stack, inputs that
//! would take gigabytes, FIFOs that would block a reader. Every run has a time limit, so a
//! regression fails the test instead of hanging it.

use std::{
    ffi::OsStr,
    io::{Read, Write},
    path::Path,
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

/// Runs `advisor` with `args`; kills it and fails the test when it runs past `seconds`.
fn advisor_within<S: AsRef<OsStr>>(seconds: u64, args: &[S]) -> Output {
    let shown: Vec<String> = args
        .iter()
        .map(|arg| arg.as_ref().to_string_lossy().into_owned())
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_advisor"))
        .args(args)
        .env_remove("ADVISOR_PLUGIN_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("advisor starts");
    // Drain both pipes while waiting, so a large output cannot block the child.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("advisor {shown:?} still ran after {seconds} s: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout"),
        stderr: stderr.join().expect("stderr"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes a trace of `levels` CPU operators, each inside the one before.
fn write_nested_trace(path: &Path, levels: u64) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    out.write_all(br#"{"traceEvents": ["#).expect("write");
    for i in 0..levels {
        let separator = if i == 0 { "" } else { "," };
        write!(
            out,
            r#"{separator}{{"ph":"X","cat":"cpu_op","name":"aten::op","pid":1,"tid":1,"ts":{i},"dur":{}}}"#,
            2 * (levels - i)
        )
        .expect("write");
    }
    out.write_all(b"]}").expect("write");
    out.flush().expect("flush");
}

#[test]
fn deeply_nested_traces_are_summarized_not_a_stack_overflow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("deep.json");
    // Enough to overflow the main thread's stack in a recursive clone or drop.
    write_nested_trace(&trace, 200_000);
    let trace = trace.display().to_string();

    let output = advisor_within(60, &["trace", &trace]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains(
            "199952 CPU operator call(s) nested deeper than 48 levels are folded into their \
             ancestor on level 48 of the operation tree"
        ),
        "{}",
        text(&output.stdout)
    );

    let output = advisor_within(
        60,
        &[
            "analyze",
            "--trace",
            &trace,
            "--hardware",
            "nvidia-a100-80gb",
            "--format",
            "json",
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("nested deeper than 48 levels"),
        "{}",
        text(&output.stdout)
    );
}
