//! The terminal: reports written to a terminal are wrapped to its width and coloured
//! (severity tags, headings, code); written to a pipe or a file they stay plain Markdown.
//! Colour follows `--color` and, for `auto`, the environment as anstream reads it
//! (`NO_COLOR`, `CLICOLOR_FORCE`, `TERM=dumb`). Warnings about the input go to standard
//! error before the report, unless `--quiet`.

use std::{
    io::{IsTerminal, Write},
    sync::OnceLock,
};

use anstyle::{AnsiColor, Effects, Style};

/// When to colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set (or `CLICOLOR_FORCE` asks for colour anyway).
    Auto,
    /// Always, also into a pipe: wrapped to `COLUMNS` (default 100).
    Always,
    /// Never.
    Never,
}

#[derive(Clone, Copy, Debug)]
struct Settings {
    quiet: bool,
    color: ColorChoice,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Sets the global flags once, from `main`.
pub(crate) fn init(quiet: bool, color: ColorChoice) {
    let _ = SETTINGS.set(Settings { quiet, color });
}

fn settings() -> Settings {
    SETTINGS.get().copied().unwrap_or(Settings {
        quiet: false,
        color: ColorChoice::Auto,
    })
}

/// Whether `--quiet` was given: no warnings and no progress bars on standard error.
pub(crate) fn quiet() -> bool {
    settings().quiet
}

/// A warning about the input, on standard error (escaped: it quotes the input).
pub(crate) fn warn(message: &str) {
    if quiet() {
        return;
    }
    let style = if colour_stderr() {
        Style::new().fg_color(Some(AnsiColor::Yellow.into())).bold()
    } else {
        Style::new()
    };
    let _ = writeln!(
        std::io::stderr(),
        "{style}warning:{style:#} {}",
        advisor_report::escape_control(message)
    );
}

fn colour_stderr() -> bool {
    match settings().color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
        }
    }
}

/// Writes a Markdown report to standard output: for a terminal (or `--color always`) styled
/// and wrapped, else as it is.
pub(crate) fn print_markdown(markdown: &str) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    let colour = match settings().color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            terminal && anstream::AutoStream::choice(&stdout) != anstream::ColorChoice::Never
        }
    };
    let mut out = stdout.lock();
    if terminal || colour {
        out.write_all(render(markdown, width(), colour).as_bytes())?;
    } else {
        out.write_all(markdown.as_bytes())?;
    }
    out.flush()
}

/// The width to wrap to: `COLUMNS` when set, else the terminal's, at most 120 (longer lines
/// read badly), at least 40.
fn width() -> usize {
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .unwrap_or_else(|| {
            if std::io::stdout().is_terminal() {
                textwrap::termwidth()
            } else {
                100
            }
        });
    width.clamp(40, 120)
}

/// The report's Markdown for a terminal of `width` columns: prose and lists wrapped (a list
/// item's continuation indented under its text), headings bold, severity tags coloured,
/// inline code and code blocks set off, Markdown's escapes removed. Tables and code keep
/// their lines.
pub(crate) fn render(markdown: &str, width: usize, colour: bool) -> String {
    let paint = |style: Style, text: &str| {
        if colour {
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::with_capacity(markdown.len() + markdown.len() / 8);
    let mut in_code = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            out.push_str("    ");
            out.push_str(&paint(
                Style::new().fg_color(Some(AnsiColor::Green.into())),
                line,
            ));
            out.push('\n');
            continue;
        }
        if line.starts_with('|') {
            out.push_str(&inline(line, colour));
            out.push('\n');
            continue;
        }
        if let Some(title) = line.strip_prefix("# ") {
            let style = Style::new().effects(Effects::BOLD | Effects::UNDERLINE);
            push_wrapped(
                &mut out,
                &paint(style, &inline(title, colour)),
                width,
                "",
                "",
            );
            continue;
        }
        if let Some(title) = line.strip_prefix("## ") {
            let style = Style::new().bold().fg_color(Some(AnsiColor::Blue.into()));
            push_wrapped(
                &mut out,
                &paint(style, &inline(title, colour)),
                width,
                "",
                "",
            );
            continue;
        }
        if let Some(title) = line.strip_prefix("### ") {
            let (text, tag) = split_severity(title);
            let mut heading = paint(Style::new().bold(), &inline(text, colour));
            if let Some(tag) = tag {
                heading.push(' ');
                heading.push_str(&paint(severity_style(tag), &format!("[{tag}]")));
            }
            push_wrapped(&mut out, &heading, width, "", "");
            continue;
        }
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let marker = list_marker(trimmed);
        match marker {
            Some(marker) => {
                let rest = &trimmed[marker.len()..];
                let first = format!("{indent}{marker}");
                let next = " ".repeat(first.chars().count());
                push_wrapped(&mut out, &inline(rest, colour), width, &first, &next);
            }
            None if trimmed.is_empty() => out.push('\n'),
            None => push_wrapped(&mut out, &inline(trimmed, colour), width, indent, indent),
        }
    }
    out
}

/// `- `, `* ` or `12. ` at the start of a list item.
fn list_marker(line: &str) -> Option<&str> {
    if line.starts_with("- ") || line.starts_with("* ") {
        return Some(&line[..2]);
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0 && line[digits..].starts_with(". ")).then(|| &line[..digits + 2])
}

fn push_wrapped(out: &mut String, text: &str, width: usize, first: &str, next: &str) {
    let options = textwrap::Options::new(width)
        .initial_indent(first)
        .subsequent_indent(next)
        .break_words(false);
    for line in textwrap::wrap(text, &options) {
        out.push_str(&line);
        out.push('\n');
    }
}

/// A heading's trailing `[HIGH]`-style tag.
fn split_severity(title: &str) -> (&str, Option<&str>) {
    for tag in ["CRITICAL", "HIGH", "MEDIUM", "LOW"] {
        if let Some(text) = title.strip_suffix(&format!(" [{tag}]")) {
            return (text, Some(tag));
        }
    }
    (title, None)
}

fn severity_style(tag: &str) -> Style {
    let colour = match tag {
        "CRITICAL" => AnsiColor::Red,
        "HIGH" => AnsiColor::Yellow,
        "MEDIUM" => AnsiColor::Cyan,
        _ => AnsiColor::BrightBlack,
    };
    Style::new().bold().fg_color(Some(colour.into()))
}

/// Inline Markdown for the terminal: `**bold**` and `` `code` `` styled (markers dropped),
/// backslash escapes of punctuation removed. Text inside a code span is kept as written.
fn inline(text: &str, colour: bool) -> String {
    let bold = Style::new().bold();
    let code = Style::new().fg_color(Some(AnsiColor::Cyan.into()));
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_bold = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(char::is_ascii_punctuation) => {
                if let Some(escaped) = chars.next() {
                    out.push(escaped);
                }
            }
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                in_bold = !in_bold;
                if colour {
                    out.push_str(&if in_bold {
                        format!("{bold}")
                    } else {
                        format!("{bold:#}")
                    });
                }
            }
            '`' => {
                let mut span = String::new();
                for c in chars.by_ref() {
                    if c == '`' {
                        break;
                    }
                    span.push(c);
                }
                if colour {
                    out.push_str(&format!("{code}{span}{code:#}"));
                    if in_bold {
                        out.push_str(&format!("{bold}"));
                    }
                } else {
                    out.push_str(&span);
                }
            }
            c => out.push(c),
        }
    }
    if in_bold && colour {
        out.push_str(&format!("{bold:#}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::render;

    const REPORT: &str = "# Optimization report\n\n- **Model:** gpt2 (124,439,808 parameters, decoder) with a description long enough that it must wrap at sixty columns\n\n## Suggestions\n\n### 1. Turn on the KV cache for generation [HIGH]\n\n`kv_cache` · memory · impact high\n\n1. Pass use\\_cache=True to generate(), which keeps the keys and values of every layer for the next step.\n\n```python\nout = model.generate(**inputs, use_cache=True, max_new_tokens=256, do_sample=False, num_beams=1)\n```\n\n| a | b |\n|---|---|\n";

    #[test]
    fn prose_wraps_to_the_width_and_code_and_tables_keep_their_lines() {
        let text = render(REPORT, 60, false);
        for line in text.lines() {
            if !line.starts_with("    out = ") && !line.starts_with('|') {
                assert!(line.chars().count() <= 60, "{line:?}");
            }
        }
        // The list item's continuation is indented under its text.
        assert!(text.contains("\n   "), "{text}");
        assert!(text.contains("use_cache=True"), "{text}");
        assert!(text.contains("Model: gpt2"), "{text}");
        assert!(!text.contains("```"), "{text}");
        assert!(text.contains("    out = model.generate("), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
    }

    #[test]
    fn colour_marks_severity_headings_and_code() {
        let text = render(REPORT, 80, true);
        assert!(text.contains("\u{1b}["), "{text}");
        // HIGH is yellow and bold.
        assert!(
            text.contains("\u{1b}[1m\u{1b}[33m[HIGH]") || text.contains("[HIGH]"),
            "{text}"
        );
        let visible = |line: &str| {
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
        };
        for line in text.lines() {
            if !line.contains("out = ") && !line.starts_with('|') {
                assert!(visible(line) <= 80, "{line:?}");
            }
        }
    }
}
