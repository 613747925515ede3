//! Text from inputs made safe to show. A model name, a config value, a kernel name or a file
//! name is whatever the file said: on a terminal it must not move the cursor, clear the screen
//! or retitle the window, and in a report it must stay text, never Markdown that makes a
//! heading, a link, an image or HTML.
//!
//! The policy, in one place:
//!
//! - **Terminal text** ([`escape_control`]): every control character becomes a visible escape
//!   instead of disappearing: C0 controls as `\n`, `\r`, `\t` or `\x1b`, DEL as `\x7f`, C1
//!   controls (U+0080–U+009F, U+009B is a one-byte CSI) as `\u{9b}`, and the invisible
//!   characters that reorder or break lines (bidi embeddings, overrides and isolates, the
//!   Arabic letter mark, LRM/RLM, U+2028/U+2029) as `\u{202e}`. Everything else, backslashes
//!   included, is left as it is, so ordinary names and Windows paths read unchanged.
//! - **Markdown** (this module's crate-private helpers, used by the renderers): the same
//!   escapes first, so a value is always one line and cannot open a section of its own; then
//!   the punctuation that could make structure is backslash-escaped (`[`, `]`, `<`, `*`,
//!   backticks, `_` at word edges, `&` before an entity, a backslash before punctuation, block
//!   markers such as a leading `#`, `>`, `-` or `1.`, and `|` in table cells). Prose a rule
//!   wrote keeps its code spans (re-delimited so that a backtick inside cannot end them) and
//!   nothing else. Code examples keep their lines and tabs inside a fence longer than any
//!   backtick run in them; a language tag that is not a plain word is left off.
//! - **JSON** keeps every value exactly; [`escape_json_controls`] only spells the characters
//!   serde_json writes raw (DEL, C1, bidi, U+2028/U+2029) as `\u` escapes, which parse back to
//!   the same string.

use std::{borrow::Cow, fmt::Write as _};

/// Whether a character must not reach a terminal or a report raw.
fn needs_escape(ch: char) -> bool {
    matches!(
        ch,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{61c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// Escapes control characters so that text from an input is safe on a terminal and stays on
/// one line: C0 controls as `\n`, `\r`, `\t` or `\x1b`, DEL as `\x7f`, C1 controls as
/// `\u{9b}`, bidi controls and line separators as `\u{202e}`. Other text is unchanged.
///
/// Use it on every input-derived string printed as text: model, tensor, op, kernel, device and
/// plugin names, config keys and values, file names, error messages.
///
/// ```
/// use advisor_report::escape_control;
///
/// assert_eq!(escape_control("gpt2"), "gpt2");
/// assert_eq!(escape_control("a\u{1b}[2Jb\nc"), "a\\x1b[2Jb\\nc");
/// assert_eq!(escape_control("\u{9b}31m \u{202e}"), "\\u{9b}31m \\u{202e}");
/// ```
pub fn escape_control(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        push_escaped(&mut out, ch);
    }
    Cow::Owned(out)
}

/// Like [`escape_control`], but keeps line feeds and tabs: for code, whose lines and
/// indentation are meant. A tab only moves to the next tab stop; it cannot rewrite anything.
pub(crate) fn escape_control_keep_lines(text: &str) -> Cow<'_, str> {
    let escape = |ch: char| needs_escape(ch) && ch != '\n' && ch != '\t';
    if !text.chars().any(escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        if escape(ch) {
            push_escaped(&mut out, ch);
        } else {
            out.push(ch);
        }
    }
    Cow::Owned(out)
}

fn push_escaped(out: &mut String, ch: char) {
    match ch {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{0}'..='\u{1f}' | '\u{7f}' => {
            let _ = write!(out, "\\x{:02x}", u32::from(ch));
        }
        _ if needs_escape(ch) => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(ch));
        }
        _ => out.push(ch),
    }
}

/// Spells the characters serde_json leaves raw and a terminal would act on (DEL, C1 controls,
/// bidi controls, U+2028/U+2029) as JSON `\u` escapes. The document parses to the same values;
/// serde_json already escapes C0 controls. Structure is ASCII, so these characters can only
/// stand inside strings, where an escape such as `\u009b` means the same character.
///
/// ```
/// use advisor_report::escape_json_controls;
///
/// let json = serde_json::to_string_pretty(&["a\u{9b}\u{1b}b"]).unwrap();
/// let escaped = escape_json_controls(&json);
/// assert_eq!(escaped, "[\n  \"a\\u009b\\u001bb\"\n]");
/// assert_eq!(serde_json::from_str::<Vec<String>>(&escaped).unwrap(), ["a\u{9b}\u{1b}b"]);
/// ```
pub fn escape_json_controls(json: &str) -> Cow<'_, str> {
    // C0 controls outside strings are the document's own line breaks and indentation.
    let escape = |ch: char| needs_escape(ch) && ch > '\u{1f}';
    if !json.chars().any(escape) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for ch in json.chars() {
        if escape(ch) {
            // Every character needs_escape matches is in the Basic Multilingual Plane.
            let _ = write!(out, "\\u{:04x}", u32::from(ch));
        } else {
            out.push(ch);
        }
    }
    Cow::Owned(out)
}

/// Where Markdown text goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// The start of a paragraph or list item, where `#`, `>`, `-`, `+`, `=`, `~` and `1.`
    /// would begin a block.
    Block,
    /// Within a line the renderer began (after `**Model:** `, in a heading).
    Inline,
    /// A table cell: pipes end cells, even in code spans.
    Cell,
}

/// Input text as Markdown text: one line, every character shown as it is, no structure.
pub(crate) fn markdown_text(text: &str, place: Place) -> String {
    let line = escape_control(text);
    let mut out = String::with_capacity(line.len() + 8);
    push_markdown_text(
        &mut out,
        line.trim_matches(' '),
        place,
        place == Place::Block,
    );
    out
}

/// Input text as a Markdown code span.
pub(crate) fn markdown_code(text: &str, place: Place) -> String {
    let mut out = String::new();
    push_code_span(&mut out, &escape_control(text), place);
    out
}

/// Prose a rule or plugin wrote, which may hold input text: its code spans stay code spans
/// (re-delimited, so a backtick inside cannot end them early), everything else is text.
pub(crate) fn markdown_prose(text: &str, place: Place) -> String {
    let line = escape_control(text);
    let line = line.trim_matches(' ');
    let mut out = String::with_capacity(line.len() + 8);
    let mut rest = line;
    let mut at_start = place == Place::Block;
    while !rest.is_empty() {
        let Some(open) = rest.find('`') else {
            push_markdown_text(&mut out, rest, place, at_start);
            break;
        };
        let run = backtick_run(&rest[open..]);
        let after = &rest[open + run..];
        match find_closing_run(after, run) {
            Some(close) => {
                push_markdown_text(&mut out, &rest[..open], place, at_start);
                let mut content = &after[..close];
                // CommonMark strips one space each side when both are there.
                if content.len() >= 2
                    && content.starts_with(' ')
                    && content.ends_with(' ')
                    && !content.bytes().all(|b| b == b' ')
                {
                    content = &content[1..content.len() - 1];
                }
                push_code_span(&mut out, content, place);
                rest = &after[close + run..];
            }
            None => {
                // No closing run: the backticks are text (escaped below).
                push_markdown_text(&mut out, &rest[..open + run], place, at_start);
                rest = after;
            }
        }
        at_start = false;
    }
    out
}

/// A fenced code block whose fence no line of the code can close.
pub(crate) fn push_code_block(out: &mut String, language: &str, code: &str) {
    let code = escape_control_keep_lines(code);
    let longest = longest_backtick_run(&code);
    let fence = "`".repeat((longest + 1).max(3));
    // An info string is a word such as `python`; anything else is left off rather than let
    // it carry markup.
    let language = if language
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+-._#".contains(c))
    {
        language
    } else {
        ""
    };
    let _ = writeln!(out, "{fence}{language}\n{}\n{fence}\n", code.trim_end());
}

fn backtick_run(text: &str) -> usize {
    text.bytes().take_while(|&b| b == b'`').count()
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// The offset of the next run of exactly `run` backticks.
fn find_closing_run(text: &str, run: usize) -> Option<usize> {
    let mut offset = 0;
    while let Some(found) = text[offset..].find('`') {
        let start = offset + found;
        let length = backtick_run(&text[start..]);
        if length == run {
            return Some(start);
        }
        offset = start + length;
    }
    None
}

fn push_code_span(out: &mut String, content: &str, place: Place) {
    if content.is_empty() {
        out.push_str("` `");
        return;
    }
    let fence = "`".repeat(longest_backtick_run(content) + 1);
    // A space each side keeps a backtick at an edge from joining the fence; CommonMark takes
    // one off each side again.
    let pad = content.starts_with('`')
        || content.ends_with('`')
        || (content.starts_with(' ') && content.ends_with(' '));
    out.push_str(&fence);
    if pad {
        out.push(' ');
    }
    for ch in content.chars() {
        // In a table, GFM splits cells at a pipe even inside a code span, unless escaped.
        if ch == '|' && place == Place::Cell {
            out.push('\\');
        }
        out.push(ch);
    }
    if pad {
        out.push(' ');
    }
    out.push_str(&fence);
}

/// Backslash-escapes what could make Markdown structure; `at_start` when the text may begin a
/// block (a paragraph, a list item), where `#`, `>`, `-`, `+`, `=`, `~` and `1.` mean something.
fn push_markdown_text(out: &mut String, text: &str, place: Place, at_start: bool) {
    let chars: Vec<char> = text.chars().collect();
    // An ordered-list marker: up to nine digits, then `.` or `)` and a space or the end.
    let digits = chars.iter().take_while(|c| c.is_ascii_digit()).count();
    let ordered_marker = (at_start
        && (1..=9).contains(&digits)
        && matches!(chars.get(digits), Some('.' | ')'))
        && chars.get(digits + 1).is_none_or(|c| *c == ' '))
    .then_some(digits);
    for (index, &ch) in chars.iter().enumerate() {
        let previous = index.checked_sub(1).map(|i| chars[i]);
        let next = chars.get(index + 1).copied();
        let escape = match ch {
            '[' | ']' | '<' | '*' | '`' => true,
            '\\' => next.is_none_or(|c| c.is_ascii_punctuation()),
            '_' => {
                !(previous.is_some_and(char::is_alphanumeric)
                    && next.is_some_and(char::is_alphanumeric))
            }
            '&' => next.is_some_and(|c| c == '#' || c.is_ascii_alphanumeric()),
            '|' => place == Place::Cell,
            '#' | '>' | '-' | '+' | '=' | '~' => at_start && index == 0,
            '.' | ')' => ordered_marker == Some(index),
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(ch);
    }
}

#[cfg(test)]
mod tests {
    use super::{Place, escape_control, markdown_code, markdown_prose, markdown_text};

    #[test]
    fn control_characters_become_visible_escapes() {
        let cases = [
            ("plain", "plain"),
            ("C:\\models\\bert", "C:\\models\\bert"),
            ("a\u{1b}]0;title\u{7}b", "a\\x1b]0;title\\x07b"),
            ("line\r\nnext\ttab", "line\\r\\nnext\\ttab"),
            ("\u{0}\u{7f}", "\\x00\\x7f"),
            ("\u{9b}2J\u{85}", "\\u{9b}2J\\u{85}"),
            (
                "\u{202e}cod.exe\u{2066}\u{2069}",
                "\\u{202e}cod.exe\\u{2066}\\u{2069}",
            ),
            ("\u{2028}\u{200f}", "\\u{2028}\\u{200f}"),
            ("ünïcödé ✓ 日本", "ünïcödé ✓ 日本"),
        ];
        for (input, expected) in cases {
            assert_eq!(escape_control(input), expected, "{input:?}");
        }
    }

    #[test]
    fn markdown_text_is_text() {
        let cases = [
            ("gpt2", "gpt2"),
            ("meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-7b-hf"),
            ("snake_case_name", "snake_case_name"),
            ("__init__", "\\_\\_init\\_\\_"),
            ("[x](javascript:alert(1))", "\\[x\\](javascript:alert(1))"),
            ("![x](http://evil/)", "!\\[x\\](http://evil/)"),
            ("<script>alert(1)</script>", "\\<script>alert(1)\\</script>"),
            ("<javascript:alert(1)>", "\\<javascript:alert(1)>"),
            ("# heading", "\\# heading"),
            ("1. item", "1\\. item"),
            ("1.5b", "1.5b"),
            ("- item", "\\- item"),
            ("a\n## Suggestions\n", "a\\n## Suggestions\\n"),
            ("a`b", "a\\`b"),
            ("trailing\\", "trailing\\\\"),
            ("\\[", "\\\\\\["),
            ("&amp; & b", "\\&amp; & b"),
            ("a | b", "a | b"),
            ("**bold**", "\\*\\*bold\\*\\*"),
        ];
        for (input, expected) in cases {
            assert_eq!(markdown_text(input, Place::Block), expected, "{input:?}");
        }
        assert_eq!(markdown_text("a | b", Place::Cell), "a \\| b");
    }

    #[test]
    fn prose_keeps_its_code_spans_and_nothing_else() {
        let cases = [
            (
                "needs `advisor analyze --trace FILE` first",
                "needs `advisor analyze --trace FILE` first",
            ),
            ("set `a` and `b`", "set `a` and `b`"),
            ("a `` b`c `` d", "a ``b`c`` d"),
            ("unclosed ` tick", "unclosed \\` tick"),
            (
                "value `x` [y](javascript:z) `w`",
                "value `x` \\[y\\](javascript:z) `w`",
            ),
            ("# `x`", "\\# `x`"),
            ("`x` # y", "`x` # y"),
        ];
        for (input, expected) in cases {
            assert_eq!(markdown_prose(input, Place::Block), expected, "{input:?}");
        }
    }

    #[test]
    fn code_spans_hold_any_content() {
        assert_eq!(markdown_code("a=b", Place::Block), "`a=b`");
        assert_eq!(markdown_code("a`b", Place::Block), "``a`b``");
        assert_eq!(markdown_code("`a", Place::Block), "`` `a ``");
        assert_eq!(markdown_code("", Place::Block), "` `");
        assert_eq!(markdown_code("a|b", Place::Cell), "`a\\|b`");
        assert_eq!(markdown_code("a\nb", Place::Block), "`a\\nb`");
    }
}
