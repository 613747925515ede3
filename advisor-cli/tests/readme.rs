//! The README's sample report is real output: every line it shows (but the `...` that mark
//! what it leaves out) is in what its command prints today, in the same order.

mod common;

use common::ok;

/// The README, read at test time so that an edit to it is tested without a rebuild.
fn readme() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    std::fs::read_to_string(path).expect("README.md beside the workspace")
}

/// The sample's command (the first code span of the section, `advisor ...`) and the lines of
/// its fenced block.
fn sample(readme: &str) -> (Vec<String>, Vec<String>) {
    let section = readme
        .split("\n## A sample report\n")
        .nth(1)
        .expect("README has a \"## A sample report\" section");
    let command = section
        .split('`')
        .nth(1)
        .expect("the section names its command in a code span");
    let args: Vec<String> = command
        .strip_prefix("advisor ")
        .expect("the command runs `advisor`")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let block = section
        .split_once("\n```markdown\n")
        .expect("the sample is a ```markdown block")
        .1
        .split_once("\n```\n")
        .expect("the block is closed")
        .0;
    (args, block.lines().map(str::to_owned).collect())
}

#[test]
fn the_readme_sample_report_is_the_real_output() {
    let readme = readme();
    let (args, lines) = sample(&readme);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = ok(&args);
    let printed: Vec<&str> = output.lines().collect();
    let shown: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .filter(|line| !line.trim().is_empty() && line.trim() != "...")
        .collect();
    assert!(shown.len() > 10, "the sample shows too little: {shown:?}");
    let mut at = 0;
    for line in shown {
        match printed[at..].iter().position(|printed| *printed == line) {
            Some(offset) => at += offset + 1,
            None => panic!(
                "README.md's sample report shows a line that `advisor {}` does not print \
                 (after line {at} of its output); update the sample from the real output.\n\
                 line: {line}\n\noutput:\n{output}",
                args.join(" ")
            ),
        }
    }
}
