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
    let mut command = Command::new(env!("CARGO_BIN_EXE_advisor"));
    command.args(args);
    run_within(seconds, command, args)
}

/// Runs `advisor` with `args` in at most `mib` MiB of address space (`ulimit -v`): past it an
/// allocation fails and the process aborts. Kills it after `seconds`.
fn advisor_in_memory<S: AsRef<OsStr>>(seconds: u64, mib: u64, args: &[S]) -> Output {
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(r#"ulimit -v "$1" && shift && exec "$@""#)
        .arg("sh")
        .arg((mib << 10).to_string())
        .arg(env!("CARGO_BIN_EXE_advisor"))
        .args(args);
    run_within(seconds, command, args)
}

fn run_within<S: AsRef<OsStr>>(seconds: u64, mut command: Command, args: &[S]) -> Output {
    let shown: Vec<String> = args
        .iter()
        .map(|arg| arg.as_ref().to_string_lossy().into_owned())
        .collect();
    let mut child = command
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

/// An ONNX model of `count` empty nodes: two bytes each.
fn write_empty_nodes(path: &Path, count: usize) {
    let graph = [0x0a, 0x00].repeat(count);
    let mut model = vec![0x08, 0x08, 0x3a];
    let mut length = graph.len() as u64;
    while length >= 0x80 {
        model.push((length as u8) | 0x80);
        length >>= 7;
    }
    model.push(length as u8);
    model.extend_from_slice(&graph);
    std::fs::write(path, model).expect("write");
}

#[test]
#[cfg(target_os = "linux")]
fn a_file_of_empty_onnx_nodes_is_refused_in_little_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("m.onnx");
    // 8 MB that took 1.2 GB to import.
    write_empty_nodes(&model, 4_000_000);
    let shown = model.display().to_string();
    for args in [
        vec!["inspect", &shown],
        vec![
            "analyze",
            "--model",
            &shown,
            "--hardware",
            "nvidia-a100-80gb",
        ],
    ] {
        let output = advisor_in_memory(60, 256, &args);
        assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
        let stderr = text(&output.stderr);
        assert!(
            stderr.starts_with(&format!(
                "error: {shown}: importing would take about 1831 MiB for 4000000 nodes"
            )) && stderr.contains("its elements are nearly empty"),
            "{stderr}"
        );
    }
}

#[test]
#[cfg(target_os = "linux")]
fn a_trace_event_with_a_huge_name_is_read_in_little_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("name.json");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&trace).expect("create"));
    out.write_all(br#"{"traceEvents": [{"ph":"X","cat":"kernel","ts":1,"dur":5,"name":""#)
        .expect("write");
    // 64 MiB of name: reading it whole took 400 MB.
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..64 {
        out.write_all(&chunk).expect("write");
    }
    out.write_all(br#""}]}"#).expect("write");
    out.flush().expect("flush");
    drop(out);
    let shown = trace.display().to_string();
    let output = advisor_in_memory(60, 256, &["trace", &shown]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(
            "cut: 1 string(s) in event(s) over the 16 MiB element limit kept only their first \
             4096 bytes; the longest, 67108864 bytes, in the element at byte 17"
        ),
        "{stdout}"
    );
    let output = advisor_in_memory(
        60,
        256,
        &[
            "analyze",
            "--trace",
            &shown,
            "--hardware",
            "nvidia-a100-80gb",
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("cut: 1 string(s)"));
}

/// Makes a FIFO at `path`; nothing ever writes to it or reads from it.
#[cfg(unix)]
fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Runs `args` (in which `{}` stands for `path`), expecting exit status 2 and an error that
/// names `path` as a FIFO, within ten seconds (opening a FIFO blocks until a writer comes).
#[cfg(unix)]
fn refused_as_fifo(args: &[&str], path: &Path) {
    let shown = path.display().to_string();
    let args: Vec<String> = args.iter().map(|arg| arg.replace("{}", &shown)).collect();
    let output = advisor_within(10, &args);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        stderr.contains(&format!("{shown}: not a regular file (a FIFO)")),
        "{args:?}: {stderr}"
    );
}

#[test]
#[cfg(unix)]
fn fifos_are_refused_not_waited_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = |name: &str| {
        let path = dir.path().join(name);
        mkfifo(&path);
        path
    };
    let model = fifo("m.onnx");
    refused_as_fifo(&["inspect", "{}"], &model);
    refused_as_fifo(
        &["analyze", "--model", "{}", "--hardware", "nvidia-a100-80gb"],
        &model,
    );
    let trace = fifo("trace.json");
    refused_as_fifo(&["trace", "{}"], &trace);
    refused_as_fifo(
        &["analyze", "--trace", "{}", "--hardware", "nvidia-a100-80gb"],
        &trace,
    );
    // `--output` to a FIFO with no reader: refused, not blocked on.
    let report = fifo("report.md");
    refused_as_fifo(
        &[
            "analyze",
            "--example",
            "gpt2",
            "--hardware",
            "nvidia-a100-80gb",
            "--output",
            "{}",
        ],
        &report,
    );
    let config = fifo("context.json");
    refused_as_fifo(&["analyze", "--context", "{}"], &config);
    refused_as_fifo(&["analyze", "--hardware", "{}"], &config);
    refused_as_fifo(&["inspect", "{}"], &config);

    // A shard named by a safetensors index.
    let sharded = dir.path().join("sharded");
    std::fs::create_dir(&sharded).expect("mkdir");
    std::fs::write(
        sharded.join("model.safetensors.index.json"),
        r#"{"weight_map": {"wte.weight": "model-00001-of-00001.safetensors"}}"#,
    )
    .expect("write");
    let shard = sharded.join("model-00001-of-00001.safetensors");
    mkfifo(&shard);
    let index = sharded.join("model.safetensors.index.json");
    let output = advisor_within(10, &["inspect", &index.display().to_string()]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}: not a regular file (a FIFO)", shard.display())),
        "{stderr}"
    );
}

#[test]
#[cfg(unix)]
fn a_fifo_config_beside_a_model_is_reported_not_waited_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let header = br#"{"wte.weight": {"dtype": "F16", "shape": [4, 2], "data_offsets": [0, 16]}}"#;
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header);
    file.extend_from_slice(&[0; 16]);
    let model = dir.path().join("model.safetensors");
    std::fs::write(&model, file).expect("write");
    let config = dir.path().join("config.json");
    mkfifo(&config);
    let output = advisor_within(10, &["inspect", &model.display().to_string()]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        stdout.contains(&format!(
            "{}: not used: not a regular file (a FIFO)",
            config.display()
        )),
        "{stdout}"
    );
}
