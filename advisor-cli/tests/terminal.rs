//! The terminal: warnings on stderr before the report, `--quiet`, colour and wrapping only
//! when asked or on a terminal, "did you mean" for names users type, completions and the
//! man page.

use std::process::{Command, Output};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_advisor"));
    command
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("advisor runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Columns a line takes on screen: ANSI SGR sequences take none.
fn visible_width(line: &str) -> usize {
    let mut width = 0;
    let mut escape = false;
    for c in line.chars() {
        match (escape, c) {
            (false, '\u{1b}') => escape = true,
            (true, 'm') => escape = false,
            (true, _) => {}
            (false, _) => width += 1,
        }
    }
    width
}

const EXAMPLE: &[&str] = &["analyze", "--example", "gpt2", "--hardware", "nvidia-l4"];

#[test]
fn an_unknown_set_key_warns_on_stderr_with_its_likely_name_and_quiet_silences_it() {
    let mut args = EXAMPLE.to_vec();
    args.extend(["--set", "batch=8"]);
    let output = run(&args, &[]);
    assert!(output.status.success());
    let err = text(&output.stderr);
    assert!(
        err.contains("warning: config: unknown config key `batch`; did you mean `batch_size`?"),
        "{err}"
    );
    assert!(text(&output.stdout).starts_with("# Optimization report"));
    args.push("--quiet");
    let quiet = run(&args, &[]);
    assert!(quiet.status.success());
    assert_eq!(text(&quiet.stderr), "");
    // The report still records it.
    assert!(text(&quiet.stdout).contains("unknown config key `batch`"));
}

#[test]
fn piped_output_is_plain_markdown_and_colour_is_only_on_request() {
    let plain = text(&run(EXAMPLE, &[("COLUMNS", "60")]).stdout);
    assert!(!plain.contains('\u{1b}'));
    assert!(plain.contains("**Model:**"), "Markdown as it is when piped");
    // NO_COLOR wins over nothing; `--color always` colours and wraps to COLUMNS.
    let no_color = text(&run(EXAMPLE, &[("NO_COLOR", "1")]).stdout);
    assert!(!no_color.contains('\u{1b}'));
    let mut args = vec!["--color", "always"];
    args.extend_from_slice(EXAMPLE);
    let coloured = text(&run(&args, &[("COLUMNS", "60")]).stdout);
    assert!(coloured.contains("\u{1b}["), "{coloured}");
    assert!(!coloured.contains("**Model:**"), "bold markers become bold");
    let mut in_table_or_code = 0;
    for line in coloured.lines() {
        if line.starts_with('|') || line.starts_with("    ") {
            in_table_or_code += 1;
            continue;
        }
        assert!(visible_width(line) <= 60, "{line:?}");
    }
    assert!(in_table_or_code > 0);
}

#[test]
fn mistyped_names_get_a_did_you_mean() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["analyze", "--example", "llama2-7b"],
            "did you mean `llama-2-7b`?",
        ),
        (
            &["analyze", "--example", "gpt2", "--disable", "kv_cach"],
            "did you mean `kv_cache`?",
        ),
        (
            &["analyze", "--example", "gpt2", "--hardware", "nvidia-a100"],
            "did you mean",
        ),
        (&["analyz"], "similar subcommand exists: 'analyze'"),
    ];
    for (args, expected) in cases {
        let output = run(args, &[]);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let err = text(&output.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[test]
fn completions_and_the_man_page_come_from_the_cli_definition() {
    for (shell, marker) in [
        ("bash", "_advisor()"),
        ("zsh", "#compdef advisor"),
        ("fish", "complete -c advisor"),
    ] {
        let output = run(&["completions", shell], &[]);
        assert!(output.status.success(), "{shell}");
        let script = text(&output.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("analyze"), "{shell}");
    }
    let man = text(&run(&["man"], &[]).stdout);
    assert!(man.contains(".TH advisor 1"), "{man}");
    for sub in ["advisor-analyze", "advisor-trace", "advisor-verify"] {
        assert!(man.contains(&format!(".TH {sub}")), "{sub}");
    }
    assert!(!man.contains("__vet-plugin"));
}
