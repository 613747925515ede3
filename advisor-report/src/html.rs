//! The HTML renderer: the Markdown report through a CommonMark renderer, in a page with
//! inline styles so the file can be opened or mailed on its own.

use pulldown_cmark::{Event, Options, Parser, html};

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1f2328}\
h1{border-bottom:1px solid #d0d7de;padding-bottom:.3rem}h3{margin-top:2.2rem}\
table{border-collapse:collapse}th,td{border:1px solid #d0d7de;padding:.3rem .7rem}\
pre{background:#f6f8fa;padding:.8rem;overflow-x:auto;border-radius:6px}code{font-family:ui-monospace,monospace;font-size:.9em}\
em{color:#57606a}";

pub(crate) fn render(markdown: &str) -> String {
    // Raw HTML in the input (a model name, a rule's text) must stay text: CommonMark passes
    // HTML through, so turn it into text events, which the renderer escapes.
    let events = Parser::new_ext(markdown, Options::ENABLE_TABLES).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    let mut body = String::with_capacity(markdown.len() * 2);
    html::push_html(&mut body, events);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Optimization report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_raw_html_and_renders_tables() {
        let page = super::render("# Report\n\n| a | b |\n|---|---|\n| <script>x</script> | 1 |\n");
        assert!(page.contains("<table>"));
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;x&lt;/script&gt;"), "{page}");
        let page = super::render(
            "<img src=x onerror=alert(1)>\n\n```python\nif a < b and c & d: pass\n```\n",
        );
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains("if a &lt; b and c &amp; d: pass"), "{page}");
    }
}
