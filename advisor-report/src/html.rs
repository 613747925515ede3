//! The HTML renderer: the Markdown report through a CommonMark renderer, in a page with
//! inline styles so the file can be opened or mailed on its own.
//!
//! The Markdown renderer already escapes input text; this one holds even if some did get
//! through: raw HTML becomes text, and so does every link and image, since the report puts
//! none there itself (a `javascript:` link or a remote image could only come from an input).

use pulldown_cmark::{CowStr, Event, LinkType, Options, Parser, Tag, TagEnd, html};

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1f2328}\
h1{border-bottom:1px solid #d0d7de;padding-bottom:.3rem}h3{margin-top:2.2rem}\
table{border-collapse:collapse}th,td{border:1px solid #d0d7de;padding:.3rem .7rem}\
pre{background:#f6f8fa;padding:.8rem;overflow-x:auto;border-radius:6px}code{font-family:ui-monospace,monospace;font-size:.9em}\
em{color:#57606a}";

pub(crate) fn render(markdown: &str) -> String {
    // How to close each link or image being turned back into text, innermost last.
    let mut closings: Vec<CowStr<'_>> = Vec::new();
    let events = Parser::new_ext(markdown, Options::ENABLE_TABLES).map(|event| match event {
        // CommonMark passes HTML through: as text events the renderer escapes it.
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        // A link or image is shown as the Markdown it was written as, `[text](destination)`.
        Event::Start(Tag::Link {
            link_type: LinkType::Autolink | LinkType::Email,
            ..
        }) => {
            closings.push(">".into());
            Event::Text("<".into())
        }
        Event::Start(Tag::Link { dest_url, .. }) => {
            closings.push(format!("]({dest_url})").into());
            Event::Text("[".into())
        }
        Event::Start(Tag::Image { dest_url, .. }) => {
            closings.push(format!("]({dest_url})").into());
            Event::Text("![".into())
        }
        Event::End(TagEnd::Link | TagEnd::Image) => {
            Event::Text(closings.pop().unwrap_or(CowStr::Borrowed("")))
        }
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

    #[test]
    fn links_and_images_are_text() {
        let page = super::render(
            "[x](javascript:alert(1)) ![y](http://evil/y.png) <javascript:alert(2)> [z]\n\n[z]: http://evil/\n",
        );
        assert!(!page.contains("<a"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains("[x](javascript:alert(1))"), "{page}");
        assert!(page.contains("![y](http://evil/y.png)"), "{page}");
        assert!(page.contains("&lt;javascript:alert(2)&gt;"), "{page}");
    }
}
