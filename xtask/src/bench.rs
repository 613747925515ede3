//! `cargo xtask bench`: every speed and memory target, measured.
//!
//! Runs the criterion benches of the whole workspace (span enter/exit, the tracking allocator,
//! `detect()`, the 1,000,000-node graph import, a plugin rule call against the same rule built
//! in, trace reading) and then `bench-trace`, which reads a generated 500 MB Kineto trace and
//! reports MB/s and peak memory.

pub(crate) fn run() -> anyhow::Result<()> {
    crate::run("cargo", &["bench", "--workspace"])?;
    crate::gen_trace::bench(&[])
}
