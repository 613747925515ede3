//! Imports and analyzes a generated ONNX graph of 1,000,000 nodes (25,000 transformer layers
//! of 40 nodes): decoding, the operator graph, attention and fusion analysis, and the
//! conversion to core's `ModelGraph`.

#![allow(clippy::unwrap_used, reason = "a bench panics on a broken generator")]

use criterion::{Criterion, criterion_group, criterion_main};

// The same allocator as the `advisor` binary, so the figure is what users get.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/it/onnx_writer.rs"]
mod onnx_writer;

fn import_and_analyze(c: &mut Criterion) {
    let bytes = onnx_writer::transformer(25_000);
    let mut group = c.benchmark_group("onnx");
    group.sample_size(10);
    group.bench_function("import_analyze_1m_nodes", |b| {
        // Freeing the result is not part of importing it.
        b.iter_with_large_drop(|| {
            let imported = advisor_graph::from_onnx_bytes(&bytes, "generated.onnx").unwrap();
            assert_eq!(imported.graph.nodes.len(), 1_000_005);
            assert_eq!(imported.graph.facts.attention_blocks, Some(25_000));
            imported
        });
    });
    group.finish();
}

criterion_group!(benches, import_and_analyze);
criterion_main!(benches);
