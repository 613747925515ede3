//! The HTML report in a real browser: headless Chromium loads the page made from the V100
//! trace, with no console errors, the charts in its DOM and a screenshot that is not blank.
//!
//! Skips, saying so, when no `chromium` is installed; `ADVISOR_REQUIRE_CHROMIUM=1` (set by
//! `.ci/run`, which installs Debian's package) makes a missing browser a failure.

use std::{path::PathBuf, process::Command};

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Chromium with the flags that keep it off the network and out of the user's profile.
fn browser(chromium: &PathBuf, profile: &std::path::Path) -> Command {
    let mut command = Command::new(chromium);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// Chromium, or `None` when it is not installed (the test then skips, saying so), unless
/// `ADVISOR_REQUIRE_CHROMIUM` is set.
fn chromium_or_skip() -> Option<PathBuf> {
    let found = chromium();
    if found.is_none() {
        assert!(
            std::env::var_os("ADVISOR_REQUIRE_CHROMIUM").is_none(),
            "ADVISOR_REQUIRE_CHROMIUM is set but no chromium is on PATH"
        );
        eprintln!("skipped: no chromium on PATH (install Debian's `chromium` to run this test)");
    }
    found
}

/// Writes `advisor analyze --example llama-2-7b --hardware nvidia-a100-80gb --trace TRACE
/// --format html` (a trace in `testdata/traces`) into `dir` and returns the page.
fn report_page(dir: &std::path::Path, trace: &str) -> PathBuf {
    let page = dir.join("report.html");
    let status = Command::new(env!("CARGO_BIN_EXE_advisor"))
        .args([
            "analyze",
            "--example",
            "llama-2-7b",
            "--hardware",
            "nvidia-a100-80gb",
            "--trace",
        ])
        .arg(workspace().join("testdata/traces").join(trace))
        .args(["--format", "html", "--output"])
        .arg(&page)
        .status()
        .expect("advisor runs");
    assert!(status.success());
    page
}

/// The page's DOM after Chromium loaded it, which must log no console messages.
fn loaded_dom(chromium: &PathBuf, dir: &std::path::Path, page: &std::path::Path) -> String {
    let dom = browser(chromium, &dir.join("profile-dom"))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    let stderr = String::from_utf8_lossy(&dom.stderr);
    assert!(dom.status.success(), "chromium failed: {stderr}");
    let console: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("CONSOLE") || line.contains("Uncaught"))
        .collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    String::from_utf8_lossy(&dom.stdout).into_owned()
}

/// The figure with this id in the DOM, up to its end.
fn figure<'a>(html: &'a str, id: &str) -> &'a str {
    let figure = html
        .split_once(&format!("id=\"{id}\""))
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no figure {id} in the DOM"));
    &figure[..figure.find("</figure>").unwrap_or(figure.len())]
}

#[test]
fn report_renders_in_headless_chromium() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary folder");
    let page = report_page(dir.path(), "v100-training-rank0.trace.json.gz");

    // The DOM after load: the charts must be there as SVG elements the parser built.
    let html = loaded_dom(&chromium, dir.path(), &page);
    for id in [
        "chart-trace-steps",
        "chart-trace-idle",
        "chart-trace-kernels",
        "chart-trace-ops",
        "chart-memory",
        "chart-plan-time",
    ] {
        let figure = figure(&html, id);
        assert!(figure.contains("<svg"), "figure {id} has no SVG");
        assert!(figure.contains("<rect"), "figure {id} draws no bars");
    }

    // The screenshot: a blank page is one colour.
    let shot = dir.path().join("report.png");
    let output = browser(&chromium, &dir.path().join("profile-shot"))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1280,2400")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let file = std::fs::File::open(&shot).expect("the screenshot was written");
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("the screenshot is a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().unwrap_or(0)];
    let info = reader.next_frame(&mut pixels).expect("PNG frame");
    let channels = info.color_type.samples();
    let luma: Vec<f64> = pixels[..info.buffer_size()]
        .chunks(channels)
        .map(|px| f64::from(px[0]) * 0.299 + f64::from(px[1]) * 0.587 + f64::from(px[2]) * 0.114)
        .collect();
    let mean = luma.iter().sum::<f64>() / luma.len() as f64;
    let variance = luma.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / luma.len() as f64;
    let coloured = pixels[..info.buffer_size()]
        .chunks(channels)
        .filter(|px| px[0].abs_diff(px[1]) > 40 || px[1].abs_diff(px[2]) > 40)
        .count();
    eprintln!(
        "screenshot {}x{}: luma mean {mean:.1}, variance {variance:.1}, {coloured} coloured pixels",
        info.width, info.height
    );
    if let Some(keep) = std::env::var_os("ADVISOR_KEEP_SCREENSHOT") {
        let _ = std::fs::copy(&shot, keep);
    }
    assert!(variance > 100.0, "the screenshot looks blank");
    assert!(coloured > 10_000, "the screenshot shows no charts");
}

/// A trace recorded with `record_shapes` (the A100 TorchRec rank, which has no
/// `deviceProperties`: the roofs are the given hardware's) draws the per-operator roofline,
/// its points as circles under the roof lines, in the browser's DOM.
#[test]
fn the_roofline_renders_in_headless_chromium() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary folder");
    let page = report_page(dir.path(), "hta/sampled_rank-0.json.gz");
    let html = loaded_dom(&chromium, dir.path(), &page);
    let figure = figure(&html, "chart-trace-roofline");
    assert!(figure.contains("<svg"), "no SVG");
    assert!(figure.matches("<circle").count() >= 20, "too few points");
    assert!(
        figure.contains("<polyline") || figure.contains("<path"),
        "no roof line"
    );
    assert!(
        figure.contains("TF32 tensor cores of the NVIDIA A100"),
        "{figure}"
    );
    assert!(figure.contains("compute-bound"));
}
