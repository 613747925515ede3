//! Hostile text in every field of a report: whatever an input says, the Markdown has no raw
//! control character and the same structure as with a harmless value (no heading, list,
//! table, emphasis, link, image or HTML of its own), the HTML has no link, image or element
//! the report did not make, and the JSON keeps the value exactly.

use advisor_core::{
    Category, Diagnostic, DiagnosticSeverity, Difficulty, ExpectedImprovement, Impact,
    ImprovementMetric, InputSummary, Missing, OptimizationReport, OptimizationSuggestion,
};
use advisor_report::{RenderReport, escape_control, from_json};
use pulldown_cmark::{Event, Options, Parser};

/// One string per class of attack; each is put in every field at once.
const HOSTILE: &[&str] = &[
    // C0 controls: escape sequences (clear, retitle), CR, BEL, NUL, backspace, tab.
    "\u{1b}[2J\u{1b}[H\u{1b}]0;pwned\u{7}",
    "ok\rFAKE OUTPUT",
    "\u{0}\u{8}\u{8}\u{8}\t\u{b}\u{c}",
    // DEL and C1 controls: a one-byte CSI, OSC ... ST, NEL.
    "a\u{7f}b",
    "\u{9b}2J\u{9b}31mred",
    "\u{9d}0;title\u{9c}\u{85}next",
    // Bidi overrides and isolates, line and paragraph separators.
    "\u{202e}txt.exe\u{202c} \u{2066}x\u{2069} \u{200f}",
    "a\u{2028}b\u{2029}c",
    // Newlines forging sections, lists, rules and code.
    "model\n## Suggestions\n### 1. Forged [CRITICAL]\n",
    "x\r\n\r\n# Title\r\n---\r\n",
    "\n\n- forged item\n1. forged step\n> quote\n\n    indented code\n",
    "a\n```\n# inside a fence\n```\n",
    // Block markers at the start of a value.
    "# heading",
    "## Problems",
    "- item",
    "+ item",
    "1. item",
    "2) item",
    "> quote",
    "    four spaces",
    "***",
    "___",
    "===",
    "~~~",
    // Table structure.
    "a | b |",
    "| a | b |\n|---|---|\n| c | d |",
    // Links, images, autolinks, reference definitions.
    "[x](javascript:alert(1))",
    "![x](http://evil.example/pixel.png)",
    "<javascript:alert(1)>",
    "<http://evil.example/>",
    "[x]: javascript:alert(1)",
    "[x][y]\n\n[y]: javascript:alert(1)",
    "\\[x](javascript:alert(1))",
    "![](javascript:alert(1)) [a](<javascript:alert(1)>)",
    // Raw HTML.
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "&#60;script&#62;alert(1)&#60;/script&#62; &lt;b&gt;",
    // Code spans and emphasis.
    "a`b",
    "`` ` [x](javascript:alert(1)) ` ``",
    "`code` [x](javascript:alert(1)) `more`",
    "```",
    "**bold** _em_ __init__ *x*",
    "trailing backslash\\",
];

const HARMLESS: &str = "harmless";

fn report_with(value: &str) -> OptimizationReport {
    let inputs = InputSummary {
        model: Some(value.to_owned()),
        parameters: Some(124_439_808),
        architecture: Some(value.to_owned()),
        hardware: Some(value.to_owned()),
        config: [
            (value.to_owned(), "1".to_owned()),
            ("precision".to_owned(), value.to_owned()),
        ]
        .into_iter()
        .collect(),
        provided: vec![value.to_owned()],
        rules_run: vec![value.to_owned()],
    };
    let suggestion = OptimizationSuggestion::new(
        value,
        Category::Compute,
        Impact::High,
        Difficulty::Easy,
        value,
    )
    .description(value)
    .improvement(ExpectedImprovement::new(
        ImprovementMetric::Latency,
        0.1,
        0.2,
        value,
    ))
    .evidence(value)
    .evidence(format!("config precision `{value}`"))
    .step(value)
    .step(format!("set `{value}` to `x`"))
    .code(value, value)
    .code("python", format!("print({value:?})\n{value}"))
    .warning(value);
    let mut typed = Diagnostic::new(DiagnosticSeverity::Info, value, value);
    typed.missing = vec![
        Missing::Config(value.to_owned()),
        Missing::GpuFigures(value.to_owned()),
    ];
    let diagnostics = vec![
        Diagnostic::new(DiagnosticSeverity::Error, value, value),
        Diagnostic::new(
            DiagnosticSeverity::Warning,
            "model",
            format!("{value}: {value}"),
        ),
        Diagnostic::new(DiagnosticSeverity::Info, value, value),
        typed,
    ];
    let mut report = OptimizationReport::new(inputs, vec![suggestion], diagnostics);
    report.summary.method = value.to_owned();
    for metric in &mut report.summary.combined {
        metric.description = value.to_owned();
    }
    report
}

/// Characters that must never reach a terminal raw. Line feeds are the document's own; tabs
/// are kept in code blocks only (code is indented with them; elsewhere they are escaped, as the
/// model line's check shows).
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

/// The Markdown's structure: every start and end of a block or inline element, and every
/// event other than text and code (breaks, HTML, rules), in order. Text and code spans are
/// content and may differ.
fn structure(markdown: &str) -> Vec<String> {
    Parser::new_ext(markdown, Options::ENABLE_TABLES)
        .filter(|event| !matches!(event, Event::Text(_) | Event::Code(_)))
        .map(|event| match event {
            // A fence's info string is content too.
            Event::Start(pulldown_cmark::Tag::CodeBlock(_)) => "code block".to_owned(),
            other => format!("{other:?}"),
        })
        .collect()
}

/// The text a reader sees: text and code events joined.
fn visible_text(markdown: &str) -> String {
    Parser::new_ext(markdown, Options::ENABLE_TABLES)
        .filter_map(|event| match event {
            Event::Text(text) | Event::Code(text) => Some(text.into_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn hostile_text_stays_text_in_markdown() {
    let expected = structure(&report_with(HARMLESS).to_markdown());
    for value in HOSTILE {
        let markdown = report_with(value).to_markdown();
        assert_eq!(
            raw_controls(&markdown),
            Vec::<char>::new(),
            "{value:?}:\n{markdown}"
        );
        assert_eq!(
            structure(&markdown),
            expected,
            "{value:?} changed the report's structure:\n{markdown}"
        );
        // Shown, escaped where needed, not dropped: the model line reads as the value.
        let shown = escape_control(value);
        let shown = shown.trim_matches(' ');
        let header = markdown.lines().nth(2).unwrap_or_default();
        let header_text = visible_text(header);
        assert!(
            header_text.contains(shown),
            "{value:?}: the model line {header:?} reads {header_text:?}, not {shown:?}"
        );
    }
}

/// The page with its contents list's links to its own sections (`<a href="#summary">`)
/// written as `<a>`: any other link stays for the checks to find.
fn own_anchors(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    let mut rest = page;
    while let Some(start) = rest.find("<a href=\"#") {
        out.push_str(&rest[..start]);
        let after = &rest[start + "<a href=\"#".len()..];
        let id_end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(after.len());
        if after[id_end..].starts_with("\">") {
            out.push_str("<anchor>");
            rest = &after[id_end + 2..];
        } else {
            out.push_str("<a href=\"#");
            rest = after;
        }
    }
    out.push_str(rest);
    out.replace("</a>", "</anchor>")
}

#[test]
fn hostile_text_makes_no_links_images_or_elements_in_html() {
    let harmless = report_with(HARMLESS).to_html();
    // The elements of the page, in order. Backticks in a rule's prose make code spans, so
    // `<code>` is content here; code blocks still count as `<pre>`.
    let tags = |page: &str| -> Vec<String> {
        page.split('<')
            .skip(1)
            .filter_map(|rest| rest.split([' ', '>']).next())
            .filter(|tag| !matches!(*tag, "code" | "/code"))
            .map(str::to_owned)
            .collect()
    };
    let expected = tags(&own_anchors(&harmless));
    for value in HOSTILE {
        let page = report_with(value).to_html();
        // The contents list links to the page's own sections, and only there.
        let page = own_anchors(&page);
        assert_eq!(
            raw_controls(&page),
            Vec::<char>::new(),
            "{value:?}:\n{page}"
        );
        for forbidden in ["<a ", "<a>", "<img", "<script", "<iframe", "<svg"] {
            assert!(!page.contains(forbidden), "{value:?}: {forbidden}\n{page}");
        }
        // No element carries a link, a source or a handler.
        for element in page
            .split('<')
            .skip(1)
            .filter_map(|rest| rest.split('>').next())
        {
            for attribute in ["href", "src", "on"] {
                assert!(
                    !element.contains(&format!(" {attribute}")),
                    "{value:?}: <{element}>"
                );
            }
        }
        assert_eq!(tags(&page), expected, "{value:?}:\n{page}");
    }
}

#[test]
fn json_keeps_hostile_values_exactly() {
    for value in HOSTILE {
        let report = report_with(value);
        let json = report.to_json();
        assert_eq!(
            raw_controls(&json),
            Vec::<char>::new(),
            "{value:?}:\n{json}"
        );
        let back = from_json(&json).expect("the report's own JSON parses");
        assert_eq!(back.inputs.model.as_deref(), Some(*value));
        assert_eq!(back.suggestions[0].description, *value);
        assert_eq!(back.diagnostics, report.diagnostics);
    }
}
