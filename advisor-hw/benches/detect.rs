//! How long `detect()` takes on this machine, with the GPU probes of the enabled features
//! (`cargo bench -p advisor-hw --features nvml,wgpu`). The issue asks for well under a
//! second; CPU, memory and GPU probes run concurrently, so the slowest probe sets the time.

use criterion::{Criterion, criterion_group, criterion_main};

fn detect(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("detect");
    // wgpu initialises a Vulkan instance per call, which takes tens of milliseconds.
    group.sample_size(10);
    group.bench_function("detect", |bencher| bencher.iter(advisor_hw::detect));
    group.bench_function("detect_without_gpu_probes", |bencher| {
        bencher.iter(|| advisor_hw::detect_with(&[]))
    });
    group.finish();
}

criterion_group!(benches, detect);
criterion_main!(benches);
