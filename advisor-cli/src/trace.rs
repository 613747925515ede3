//! `advisor trace`: read a PyTorch profiler (Kineto) trace and print its summary.

use std::{
    io::IsTerminal,
    path::{Path, PathBuf},
};

use advisor_report::{escape_control, escape_json_controls};
use advisor_trace::{TraceOptions, TraceSummary};
use clap::Args;

use crate::{ListFormat, input_error};

#[derive(Args)]
pub(crate) struct TraceArgs {
    /// Traces written by torch.profiler (`.json` or `.json.gz`), one per rank, or a folder of
    /// them (a `tensorboard_trace_handler` folder). Several are read in parallel and compared
    /// rank by rank.
    #[arg(value_name = "TRACE", required = true, num_args = 1..)]
    traces: Vec<PathBuf>,
    /// The inputs are JSON from `advisor trace --format json` (one rank's, or several ranks'
    /// with `ranks`): compare them across ranks without reading the traces again.
    #[arg(long)]
    merge: bool,
    /// Also write the trace back to OUT with the advisor's findings added, for Perfetto's UI
    /// (ui.perfetto.dev) or chrome://tracing: counter tracks of each stream's queue length
    /// and idle cause, an instant for each call that blocked the host and for each step, and
    /// the trace's diagnosis. Gzip when OUT ends in `.gz`. One trace only.
    #[arg(long, value_name = "OUT", conflicts_with = "merge")]
    annotate: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    format: ListFormat,
}

/// Files at least this large get a progress bar (on a terminal).
const PROGRESS_MIN_BYTES: u64 = 32 << 20;

/// Reads a trace, with a progress bar on stderr when it is a terminal and the file is large.
/// Errors name the file and are input errors (exit status 2).
pub(crate) fn read(path: &Path) -> anyhow::Result<TraceSummary> {
    // A FIFO, a socket, a device or a folder is refused before it is opened (the reader checks
    // again on the file it opens).
    let size = crate::input::regular_file_metadata(path)?.len();
    let mut options = TraceOptions::default();
    let bar =
        (size >= PROGRESS_MIN_BYTES && std::io::stderr().is_terminal() && !crate::term::quiet())
            .then(|| {
                let bar = indicatif::ProgressBar::new(size);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "reading trace {bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                bar
            });
    if let Some(bar) = &bar {
        let bar = bar.clone();
        options = options.progress(move |bytes| bar.set_position(bytes));
    }
    let result = advisor_trace::read_trace_file(path, options);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result.map_err(|error| input_error(error.to_string()))
}

pub(crate) fn run(args: TraceArgs) -> anyhow::Result<()> {
    if args.merge {
        let mut ranks = Vec::new();
        for path in &args.traces {
            ranks.extend(read_rank_json(path)?);
        }
        return print_ranks(&advisor_trace::merge(ranks), args.format);
    }
    let paths = trace_files(&args.traces)?;
    if let Some(out) = &args.annotate {
        let [path] = paths.as_slice() else {
            return Err(input_error(format!(
                "--annotate writes one trace back: {} traces were given",
                paths.len()
            )));
        };
        return annotate(path, out, args.format);
    }
    if let [path] = paths.as_slice() {
        return print_one(&read(path)?, args.format);
    }
    for path in &paths {
        crate::input::regular_file_metadata(path)?;
    }
    let summaries =
        advisor_trace::read_traces(&paths).map_err(|error| input_error(error.to_string()))?;
    let ranks = summaries
        .iter()
        .map(advisor_trace::RankSummary::of)
        .collect();
    print_ranks(&advisor_trace::merge(ranks), args.format)
}

/// The trace files named, a folder standing for the `.json` and `.json.gz` files in it (sorted
/// by name).
fn trace_files(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        let is_dir = std::fs::symlink_metadata(input).is_ok_and(|m| m.is_dir());
        if !is_dir {
            files.push(input.clone());
            continue;
        }
        let entries = std::fs::read_dir(input)
            .map_err(|e| input_error(format!("{}: {e}", input.display())))?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                (name.ends_with(".json") || name.ends_with(".json.gz"))
                    && std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file())
            })
            .collect();
        if found.is_empty() {
            return Err(input_error(format!(
                "{}: a folder with no trace files (.json or .json.gz) in it",
                input.display()
            )));
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// Rank summaries from a JSON file `advisor trace --format json` wrote: one rank's summary,
/// or a multi-rank output's `ranks`.
fn read_rank_json(path: &Path) -> anyhow::Result<Vec<advisor_trace::RankSummary>> {
    crate::input::regular_file_metadata(path)?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| input_error(format!("{}: {e}", path.display())))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        input_error(format!(
            "{}: not JSON from `advisor trace --format json`: {e}",
            path.display()
        ))
    })?;
    let parse = |v: serde_json::Value| {
        serde_json::from_value::<advisor_trace::RankSummary>(v).map_err(|e| {
            input_error(format!(
                "{}: not a rank summary from `advisor trace --format json`: {e}",
                path.display()
            ))
        })
    };
    if let Some(version) = value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
        && version > u64::from(advisor_trace::SCHEMA_VERSION)
    {
        return Err(input_error(format!(
            "{}: written by a newer advisor (schema_version {version}; this one reads up to {})",
            path.display(),
            advisor_trace::SCHEMA_VERSION
        )));
    }
    match value {
        serde_json::Value::Object(mut map) if map.contains_key("ranks") => {
            let ranks = map.remove("ranks").unwrap_or_default();
            let serde_json::Value::Array(ranks) = ranks else {
                return Err(input_error(format!(
                    "{}: `ranks` is not a list",
                    path.display()
                )));
            };
            ranks.into_iter().map(parse).collect()
        }
        value => Ok(vec![parse(value)?]),
    }
}

fn print_one(summary: &TraceSummary, format: ListFormat) -> anyhow::Result<()> {
    let text = match format {
        // Names in the JSON are kept exactly; only the controls serde_json leaves raw (DEL, C1,
        // bidi) are spelled as `\u` escapes.
        ListFormat::Json => {
            escape_json_controls(&serde_json::to_string_pretty(summary)?).into_owned() + "\n"
        }
        ListFormat::Text => render_text(summary),
    };
    crate::listing::print(&text)
}

fn print_ranks(merged: &advisor_trace::MultiRankSummary, format: ListFormat) -> anyhow::Result<()> {
    let text = match format {
        ListFormat::Json => {
            escape_json_controls(&serde_json::to_string_pretty(merged)?).into_owned() + "\n"
        }
        ListFormat::Text => render_ranks(merged),
    };
    crate::listing::print(&text)
}

/// The cross-rank view for people; every name from the traces is escaped.
fn render_ranks(m: &advisor_trace::MultiRankSummary) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "{} ranks", m.ranks.len());
    let _ = writeln!(
        out,
        "\n  rank  step (mean)   GPU idle  compute  non-compute  NCCL wait  NCCL transfer  bus GB/s  top kernel"
    );
    for r in &m.ranks {
        let b = r.summary.breakdown.as_ref();
        let pct = |f: fn(&advisor_core::GpuTimeBreakdown) -> f64| {
            b.map_or("     ?".to_owned(), |b| format!("{:5.1} %", f(b)))
        };
        let _ = writeln!(
            out,
            "  {:>4}  {:>11}   {}  {}  {}      {:>9}  {:>13}  {:>8}  {}",
            r.rank,
            r.step_time_us_mean.map_or("?".to_owned(), ms),
            pct(|b| b.idle_pct),
            pct(|b| b.compute_pct),
            pct(|b| b.non_compute_pct),
            ms(r.collective_wait_us),
            ms(r.collective_transfer_us),
            r.collective_busbw_gb_per_s
                .map_or("-".to_owned(), |b| format!("{b:.1}")),
            r.summary
                .top_kernels
                .first()
                .map_or(String::new(), |k| short(&k.name))
        );
    }
    for r in &m.ranks {
        let _ = writeln!(
            out,
            "  rank {}: {}",
            r.rank,
            escape_control(&r.summary.source)
        );
    }
    if let Some(s) = &m.stragglers {
        let _ = writeln!(
            out,
            "\nStragglers: rank {} steps in {} on average, rank {} in {} ({:.1} % skew)",
            s.slowest_rank,
            ms(s.slowest_step_us),
            s.fastest_rank,
            ms(s.fastest_step_us),
            s.skew_pct
        );
    }
    if let Some(c) = &m.collectives {
        let _ = writeln!(
            out,
            "\nCollectives matched across ranks: {} ({} unmatched); start skew mean {}, max {}{}",
            c.matched,
            c.unmatched,
            ms(c.mean_start_skew_us),
            ms(c.max_start_skew_us),
            c.most_often_last.map_or(String::new(), |r| format!(
                "; rank {r} arrives last most often"
            ))
        );
    }
    if !m.warnings.is_empty() {
        let _ = writeln!(out, "\nWarnings");
        for w in &m.warnings {
            let _ = writeln!(out, "  {}", escape_control(w));
        }
    }
    out
}

fn ms(us: f64) -> String {
    format!("{:.2} ms", us / 1000.0)
}

/// A kernel or op name cut to 90 characters, then escaped: cutting first means an escape such
/// as `\x1b` is never cut in half.
fn short(name: &str) -> String {
    const MAX: usize = 90;
    if name.chars().count() <= MAX {
        escape_control(name).into_owned()
    } else {
        let cut: String = name.chars().take(MAX - 1).collect();
        format!("{}…", escape_control(&cut))
    }
}

/// Input text shown escaped, or `missing` when the trace does not say.
fn shown(value: Option<&str>, missing: &str) -> String {
    value.map_or_else(|| missing.to_owned(), |v| escape_control(v).into_owned())
}

/// Reads `path`, writes it to `out` with the findings added, prints the summary and says on
/// stderr what was added.
fn annotate(path: &Path, out: &Path, format: ListFormat) -> anyhow::Result<()> {
    crate::input::regular_file_metadata(path)?;
    let annotated = advisor_trace::annotate_trace_file(path, out, TraceOptions::default())
        .map_err(|error| input_error(error.to_string()))?;
    if !crate::term::quiet() {
        let repaired = if annotated.repaired + annotated.dropped > 0 {
            format!(
                "; {} element(s) repaired, {} left out (not JSON)",
                annotated.repaired, annotated.dropped
            )
        } else {
            String::new()
        };
        eprintln!(
            "wrote {}: {} events copied, {} added ({} counter values, {} instants){repaired}; \
             open it in https://ui.perfetto.dev",
            escape_control(&out.display().to_string()),
            annotated.copied,
            annotated.added(),
            annotated.counters,
            annotated.instants,
        );
    }
    print_one(&annotated.summary, format)
}

/// The summary for people. Every string in it came from the trace or its path (device, kernel
/// and op names, the backend, warnings that quote them) and is shown escaped: a name cannot
/// move the cursor, retitle the terminal or start a line of its own.
fn render_text(s: &TraceSummary) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let total_events: u64 = s.event_counts.values().sum();
    let _ = writeln!(
        out,
        "Trace {} ({:.1} MB of JSON, {total_events} events, timestamps {})",
        escape_control(&s.source),
        s.bytes_read as f64 / 1e6,
        s.timestamps
    );
    for device in &s.devices {
        let capability = device
            .compute_capability
            .as_deref()
            .map_or(String::new(), |c| {
                format!("compute capability {}, ", escape_control(c))
            });
        let _ = writeln!(
            out,
            "  device {}: {} ({} GiB, {capability}{})",
            device.id.map_or("?".to_owned(), |i| i.to_string()),
            shown(device.name.as_deref(), "unknown"),
            device.memory_bytes.map_or("?".to_owned(), |b| format!(
                "{:.0}",
                b as f64 / f64::from(1u32 << 30)
            )),
            shown(device.architecture.as_deref(), "?")
        );
    }
    if let Some(d) = &s.distributed {
        let _ = writeln!(
            out,
            "  distributed: backend {}, rank {}, world size {}",
            shown(d.backend.as_deref(), "?"),
            d.rank.map_or("?".to_owned(), |r| r.to_string()),
            d.world_size.map_or("?".to_owned(), |w| w.to_string())
        );
    }
    if let Some(run) = &s.run {
        render_run(&mut out, run);
    }
    if let Some(b) = &s.breakdown {
        let _ = writeln!(
            out,
            "\nGPU time breakdown over {} (Holistic Trace Analysis's definitions)",
            ms(b.kernel_time_us)
        );
        let _ = writeln!(
            out,
            "  idle {:.2} %  compute {:.2} %  non-compute {:.2} % (communication {:.2} %, memory {:.2} %)",
            b.idle_pct, b.compute_pct, b.non_compute_pct, b.communication_pct, b.memory_pct
        );
    }
    if !s.idle_breakdown.is_empty() {
        let _ = writeln!(
            out,
            "\nIdle time by stream (host wait: the CPU launched late; kernel wait: back-to-back \
             launches; other: waiting on another stream or a dependency)"
        );
        for row in &s.idle_breakdown {
            let _ = writeln!(
                out,
                "  stream {:<4} host wait {:>10}  kernel wait {:>10}  other {:>10}",
                row.stream,
                ms(row.host_wait_us),
                ms(row.kernel_wait_us),
                ms(row.other_us)
            );
        }
    }
    if !s.queue_length.is_empty() {
        let _ = writeln!(
            out,
            "\nQueue length by stream (GPU activities launched and not finished)"
        );
        for row in &s.queue_length {
            let _ = writeln!(
                out,
                "  stream {:<4} mean {:>7.1}  max {:>5}  ≥1 queued {:>5.1} % of its span",
                row.stream, row.mean, row.max, row.busy_pct
            );
        }
    }
    if let Some(h) = &s.host_blocked {
        let _ = writeln!(
            out,
            "\nHost blocked in steps: {} calls, {} ({:.1} % of step time)",
            h.calls,
            ms(h.time_us),
            h.pct_of_step
        );
        for cause in &h.by_cause {
            let _ = writeln!(
                out,
                "  {:<17} {:>6} calls {:>12} ({:.1} %)",
                cause.cause.as_str(),
                cause.calls,
                ms(cause.time_us),
                cause.pct_of_step
            );
        }
        for site in &h.by_site {
            let kind = site
                .copy_kind
                .as_deref()
                .map_or(String::new(), |k| format!(" {}", short(k)));
            let _ = writeln!(
                out,
                "  {:>10} ({:.1} %) {}{kind} in {} under {} ({} calls)",
                ms(site.time_us),
                site.pct_of_step,
                short(&site.call),
                site.op.as_deref().map_or("-".to_owned(), short),
                site.annotation.as_deref().map_or("-".to_owned(), short),
                site.calls
            );
        }
    }
    if !s.memcpy_kinds.is_empty() {
        let _ = writeln!(
            out,
            "\nCopies by kind (GPU time; pageable host memory blocks the host)"
        );
        for kind in &s.memcpy_kinds {
            let sides = match (&kind.source, &kind.destination) {
                (Some(source), Some(destination)) => {
                    format!(" ({} -> {})", short(source), short(destination))
                }
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "  {}{sides}: {} copies, {:.1} MB in {}{}",
                short(&kind.direction),
                kind.count,
                kind.bytes / 1e6,
                ms(kind.time_us),
                kind.bandwidth_gb_per_s
                    .map_or(String::new(), |b| format!(", {b:.2} GB/s"))
            );
        }
    }
    if !s.steps.is_empty() {
        let _ = writeln!(
            out,
            "\nSteps (the analyzed window cut where each step starts: the GPU work as it ran)"
        );
        for step in &s.steps {
            let gpu = step.gpu_breakdown.as_ref().map_or_else(
                || ": no GPU work of the analyzed window ran in it".to_owned(),
                |b| {
                    let (host, kernel, other) = advisor_core::StreamIdleBreakdown::sum_by_cause(&step.idle_breakdown);
                    format!(
                        " ({} of GPU span): GPU idle {:.1} %, compute {:.1} %, non-compute {:.1} %; \
                         stream idle: host wait {}, kernel wait {}, other {}",
                        ms(b.kernel_time_us),
                        b.idle_pct,
                        b.compute_pct,
                        b.non_compute_pct,
                        ms(host),
                        ms(kernel),
                        ms(other)
                    )
                },
            );
            let _ = writeln!(
                out,
                "  ProfilerStep#{} {}{gpu}",
                step.step,
                ms(step.duration_us)
            );
        }
    }
    if !s.op_roofline.is_empty() {
        render_roofline(&mut out, s);
    }
    if !s.top_kernels.is_empty() {
        let _ = writeln!(out, "\nTop kernels by time");
        for k in &s.top_kernels {
            let _ = writeln!(
                out,
                "  {:>10} {:>5.1} % ×{:<6} {}",
                ms(k.total_us),
                k.pct_of_kernel_time,
                k.count,
                short(&k.name)
            );
        }
    }
    if !s.top_cpu_ops.is_empty() {
        let _ = writeln!(out, "\nTop CPU ops by self time");
        for op in &s.top_cpu_ops {
            let _ = writeln!(
                out,
                "  {:>10} self {:>10} total ×{:<6} {}",
                ms(op.self_us),
                ms(op.total_us),
                op.count,
                short(&op.name)
            );
        }
    }
    if let Some(l) = &s.launch {
        let _ = writeln!(
            out,
            "\nKernel launches: {} kernels, {} matched to launch calls, {} ({:.1} %) shorter than their launch; {} under {:.0} µs",
            l.kernels,
            l.matched,
            l.shorter_than_launch,
            l.shorter_than_launch_pct,
            l.short_kernels,
            l.short_kernel_threshold_us
        );
        if let (Some(p50), Some(p95)) = (l.launch_delay_us_p50, l.launch_delay_us_p95) {
            let _ = writeln!(
                out,
                "  launch-to-start delay p50 {p50:.1} µs, p95 {p95:.1} µs"
            );
        }
    }
    if let Some(m) = &s.memcpy {
        let _ = writeln!(
            out,
            "\nMemcpy/memset: {:.1} MB in {}",
            m.total_bytes / 1e6,
            ms(m.total_time_us)
        );
        for d in &m.by_direction {
            let _ = writeln!(
                out,
                "  {:<7} ×{:<6} {:>10.1} MB {:>10} {}",
                escape_control(&d.direction),
                d.count,
                d.bytes / 1e6,
                ms(d.time_us),
                d.bandwidth_gb_per_s
                    .map_or(String::new(), |b| format!("{b:.1} GB/s"))
            );
        }
    }
    if let Some(c) = &s.communication {
        let _ = writeln!(
            out,
            "\nCommunication: {} kernels, {}, {:.1} % overlapped with computation",
            c.kernels,
            ms(c.time_us),
            c.overlap_pct
        );
    }
    if !s.collective_bandwidth.is_empty() {
        render_collective_bandwidth(&mut out, s);
    }
    if let Some(t) = &s.tensor_cores {
        let _ = writeln!(
            out,
            "Tensor-core kernels: {:.1} % of compute-kernel time ({} patterns)",
            t.pct_of_compute,
            shown(t.architecture.as_deref(), "all")
        );
    }
    if let Some(d) = &s.data_loader {
        let _ = writeln!(
            out,
            "Data loader: {:.1} % of step time ({} calls)",
            d.pct_of_step, d.calls
        );
    }
    if let Some(h) = &s.host_syncs {
        let _ = writeln!(
            out,
            "Host syncs in steps: {} calls, {} ({:.1} % of step time)",
            h.calls_in_steps,
            ms(h.time_us),
            h.pct_of_step
        );
    }
    if let Some(c) = &s.cpu {
        let _ = writeln!(
            out,
            "CPU ops: {} calls, {} ({:.1} %) under {:.0} µs taking {} of {} self time",
            c.calls,
            c.small_calls,
            c.small_calls_pct,
            c.small_threshold_us,
            ms(c.small_self_time_us),
            ms(c.self_time_us)
        );
    }
    if let Some(m) = &s.memory {
        // A CPU-only trace's peaks are often a few MiB: "0.00 GiB" would hide them.
        let gib = |b: Option<u64>| {
            b.map_or("-".to_owned(), |b| {
                if b >= 1 << 30 {
                    format!("{:.2} GiB", b as f64 / f64::from(1u32 << 30))
                } else {
                    format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20))
                }
            })
        };
        let _ = writeln!(
            out,
            "Memory peaks: GPU allocated {}, GPU reserved {}, CPU allocated {}",
            gib(m.gpu_peak_allocated_bytes),
            gib(m.gpu_peak_reserved_bytes),
            gib(m.cpu_peak_allocated_bytes)
        );
    }
    if !s.warnings.is_empty() {
        let _ = writeln!(out, "\nWarnings");
        for warning in &s.warnings {
            let _ = writeln!(out, "  {}", escape_control(warning));
        }
    }
    out
}

/// The accelerator-table entry of the trace's first device, when the table knows it.
fn trace_gpu(s: &TraceSummary) -> Option<&'static advisor_hw::Accelerator> {
    let device = s.devices.first()?;
    advisor_hw::match_gpu_name(
        device.name.as_deref()?,
        device.memory_bytes.map(|b| b / (1024 * 1024)),
    )
}

/// The collectives' achieved bandwidth, against the trace's GPU link when the accelerator
/// table knows the GPU.
fn render_collective_bandwidth(out: &mut String, s: &TraceSummary) {
    use std::fmt::Write as _;
    let link = trace_gpu(s);
    let _ = writeln!(
        out,
        "\nCollectives' bandwidth (NCCL tests' bus bandwidth over the kernels' time, which \
         includes waiting for the other ranks: a lower bound of the transfer's rate{})",
        link.map_or(String::new(), |g| format!(
            "; the {}'s {} carries {:.0} GB/s per direction",
            g.name,
            g.link,
            g.link_bandwidth_bytes_per_second / 2e9
        ))
    );
    for row in &s.collective_bandwidth {
        let _ = writeln!(
            out,
            "  {:<16} {:>3} ranks ×{:<6} {:>10.1} MB in {:>10}: algorithm {:>7.2} GB/s, bus {:>7.2} GB/s",
            short(&row.collective),
            row.group_size,
            row.calls,
            row.bytes / 1e6,
            ms(row.kernel_time_us),
            row.algbw_gb_per_s,
            row.busbw_gb_per_s
        );
    }
}

/// What the run already uses, as the trace shows it.
fn render_run(out: &mut String, run: &advisor_core::TraceRunFacts) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "\nWhat the run already uses (read from the trace)");
    if let (Some(mode), Some(evidence)) = (run.mode, &run.mode_evidence) {
        let _ = writeln!(out, "  {mode}: {}", escape_control(evidence));
    }
    if run.matmul_time_us > 0.0 {
        let shares: Vec<String> = run
            .matmul_by_precision
            .iter()
            .map(|p| format!("{} {:.1} %", p.precision.as_str(), p.pct))
            .collect();
        let _ = writeln!(
            out,
            "  matmuls and convolutions: {} in {}{}",
            ms(run.matmul_time_us),
            shares.join(", "),
            run.matmul_precision
                .map_or(String::new(), |p| format!(" (computes in {})", p.as_str()))
        );
        if !run.matmul_examples.is_empty() {
            let examples: Vec<String> = run.matmul_examples.iter().map(|n| short(n)).collect();
            let _ = writeln!(out, "    longest: {}", examples.join(", "));
        }
    }
    let names = |list: &[String]| list.iter().map(|n| short(n)).collect::<Vec<_>>().join(", ");
    let _ = writeln!(
        out,
        "  fused attention: {}",
        if run.fused_attention.is_empty() {
            "none seen".to_owned()
        } else {
            names(&run.fused_attention)
        }
    );
    let _ = writeln!(
        out,
        "  torch.compile: {}",
        run.compiled.as_deref().map_or("not seen".to_owned(), short)
    );
    let _ = writeln!(
        out,
        "  CUDA graphs: {}",
        if run.cuda_graph_launches == 0 {
            "not used".to_owned()
        } else {
            format!("{} cudaGraphLaunch calls", run.cuda_graph_launches)
        }
    );
    if let Some(g) = &run.generation {
        let _ = writeln!(
            out,
            "  generation{}: a {}-token prompt, {} tokens generated ({} one-token decode calls, keys up to {} tokens)",
            run.batch_size
                .map_or(String::new(), |b| format!(" at batch {b}")),
            g.prefill_tokens,
            g.generated_tokens,
            g.decode_calls,
            g.context_tokens
        );
    } else if let (Some(batch), Some(tokens)) = (run.batch_size, run.query_tokens) {
        let _ = writeln!(
            out,
            "  batch {batch}, {tokens} query tokens per sequence: {}",
            run.shape_evidence.as_deref().map_or(String::new(), short)
        );
    }
    if let Some(o) = &run.optimizer {
        let implementation = match o.implementation {
            advisor_core::OptimizerImplementation::Fused => "fused",
            advisor_core::OptimizerImplementation::Foreach => "foreach (multi-tensor)",
            advisor_core::OptimizerImplementation::ForLoop => "a loop over parameters",
        };
        let _ = writeln!(
            out,
            "  optimizer: {} ({implementation}), {} step() calls, {} on the CPU, {} of GPU work ({:.1} %)",
            o.name.as_deref().map_or("unnamed".to_owned(), short),
            o.steps,
            ms(o.cpu_time_us),
            ms(o.gpu_time_us),
            o.pct_of_gpu
        );
    }
}

/// The roof of one operator row on the trace's GPU: the datasheet peak for its element width
/// (TF32 for fp32 when the trace's matmuls run as TF32) and the memory bandwidth times its
/// arithmetic intensity (Williams et al. 2009, "Roofline"). `None` without a known GPU.
fn roof(
    gpu: &advisor_hw::Accelerator,
    row: &advisor_trace::OpRoofline,
    tf32: bool,
) -> (f64, &'static str) {
    let peak_tflops = gpu
        .peak_tflops_for_bits(row.element_bits, tf32)
        .unwrap_or(gpu.fp32_tflops);
    let memory_tflops = row.flops_per_byte * gpu.memory_bandwidth_bytes_per_second / 1e12;
    if memory_tflops < peak_tflops {
        (memory_tflops, "memory")
    } else {
        (peak_tflops, "compute")
    }
}

/// The operators furthest from their roof by time lost, against the trace's GPU when the
/// accelerator table knows it.
fn render_roofline(out: &mut String, s: &TraceSummary) {
    use std::fmt::Write as _;
    let gpu = trace_gpu(s);
    let tf32 = s
        .run
        .as_ref()
        .and_then(|r| r.matmul_precision)
        .is_some_and(|p| p == advisor_core::KernelPrecision::Tf32);
    // (row, (efficiency, bound, time lost) against the GPU's roof)
    type Row<'a> = (
        &'a advisor_trace::OpRoofline,
        Option<(f64, &'static str, f64)>,
    );
    let mut rows: Vec<Row> = s
        .op_roofline
        .iter()
        .map(|row| {
            let against = gpu.map(|gpu| {
                let (roof_tflops, bound) = roof(gpu, row, tf32);
                let efficiency = if roof_tflops > 0.0 {
                    (row.achieved_tflops / roof_tflops).min(1.0)
                } else {
                    0.0
                };
                (efficiency, bound, row.kernel_time_us * (1.0 - efficiency))
            });
            (row, against)
        })
        .collect();
    rows.sort_by(|a, b| {
        let lost = |r: &Row| r.1.map_or(r.0.kernel_time_us, |(_, _, lost)| lost);
        lost(b).total_cmp(&lost(a))
    });
    let _ = writeln!(
        out,
        "\nOperators by time lost to their roof (FLOPs and bytes from record_shapes{})",
        gpu.map_or(": no peak figures for this GPU".to_owned(), |g| format!(
            "; roofs of the {}, memory at its DRAM bandwidth, which operands still in L2 can beat",
            g.name
        ))
    );
    for (row, against) in rows.iter().take(10) {
        let versus = against.map_or(String::new(), |(efficiency, bound, lost)| {
            format!(
                ", {bound}-bound at {:.0} % of its roof, {} lost",
                100.0 * efficiency,
                ms(lost)
            )
        });
        let _ = writeln!(
            out,
            "  {:>10} ×{:<5} {:.2} TFLOP/s {:.3} TB/s ({:.0} FLOP/B){versus}  {} {}",
            ms(row.kernel_time_us),
            row.calls,
            row.achieved_tflops,
            row.achieved_tb_per_s,
            row.flops_per_byte,
            escape_control(&row.op),
            short(&row.shapes)
        );
    }
}
