//! Profiles a small two-thread workload and writes what was recorded as a Chrome trace
//! (open it in <https://ui.perfetto.dev> or `chrome://tracing`) and as folded stacks (feed
//! them to `inferno-flamegraph` or `flamegraph.pl`).
//!
//! `cargo run -p advisor-profile --example profile_demo -- OUT_DIR`

use std::{error::Error, hint::black_box, path::PathBuf, thread};

use advisor_profile::{LatencyOptions, Profiler, TrackingAllocator, measure_latency, profile};

#[global_allocator]
static ALLOCATOR: TrackingAllocator = TrackingAllocator::new();

fn matmul(size: usize) -> f64 {
    let a: Vec<f64> = (0..size * size).map(|i| i as f64).collect();
    let mut sum = 0.0;
    for row in 0..size {
        for col in 0..size {
            sum += (0..size)
                .map(|k| a[row * size + k] * a[k * size + col])
                .sum::<f64>();
        }
    }
    sum
}

fn step(profiler: &Profiler) {
    profile!(profiler, "step");
    {
        profile!(profiler, "forward");
        for _ in 0..4 {
            profile!(profiler, "matmul");
            black_box(matmul(48));
        }
    }
    profile!(profiler, "backward");
    black_box(matmul(64));
}

fn main() -> Result<(), Box<dyn Error>> {
    let out_dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    let profiler = Profiler::new();
    thread::scope(|scope| -> std::io::Result<()> {
        for worker in 0..2 {
            let profiler = &profiler;
            thread::Builder::new()
                .name(format!("worker-{worker}"))
                .spawn_scoped(scope, move || {
                    for _ in 0..5 {
                        step(profiler);
                    }
                })?;
        }
        Ok(())
    })?;

    let snapshot = profiler.collect();
    let tree = snapshot.tree();
    tree.walk(|path, node| {
        println!(
            "{:indent$}{} calls={} total={:.3} ms self={:.3} ms min={:.3} ms max={:.3} ms",
            "",
            node.name,
            node.calls,
            node.total_ns as f64 / 1e6,
            node.self_ns as f64 / 1e6,
            node.min_ns as f64 / 1e6,
            node.max_ns as f64 / 1e6,
            indent = 2 * (path.len() - 1),
        );
    });

    let trace_path = out_dir.join("profile_demo.trace.json");
    snapshot.write_chrome_trace(std::fs::File::create(&trace_path)?)?;
    let folded_path = out_dir.join("profile_demo.folded");
    tree.write_folded_stacks(std::fs::File::create(&folded_path)?)?;
    println!(
        "wrote {} and {}",
        trace_path.display(),
        folded_path.display()
    );

    let latency = measure_latency(|| matmul(32), &LatencyOptions::iterations(50))?;
    println!("matmul(32) latency: {}", serde_json::to_string(&latency)?);
    let memory = ALLOCATOR.stats();
    println!(
        "heap: current {} bytes, peak {} bytes, {} allocations",
        memory.current_bytes, memory.peak_bytes, memory.allocations
    );
    Ok(())
}
