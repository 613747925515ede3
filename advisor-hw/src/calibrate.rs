//! Measures the CPU's clock and memory bandwidth, so CPU predictions rest on measured figures
//! (`advisor hardware --calibrate`).
//!
//! - Clock: a chain of dependent steps `x = x · (x | 1)`, which no core can overlap and no
//!   compiler can fold (each step multiplies by a value of the previous one): each costs the
//!   latency of `or` (1 cycle) plus `imul` (3 cycles on every x86-64 core since Nehalem and
//!   Zen; Agner Fog, "Instruction tables"), so steps × 4 / seconds is the clock under load.
//! - Bandwidth: STREAM's triad `a[i] = b[i] + s · c[i]` (McCalpin 1995) over arrays several
//!   times the last-level cache, once on one thread and once on every thread the process may
//!   use; the best of a few repetitions, counting 3 × 8 bytes per element as STREAM does.

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use advisor_core::CpuCalibration;

/// How long each measurement runs at least.
const CLOCK_TIME: Duration = Duration::from_millis(200);
/// Cycles of one step of the dependent chain: `or` (1) + `imul` (3).
const CYCLES_PER_STEP: f64 = 4.0;

/// Measures this machine. `array_bytes` is the size of each of the triad's three arrays (use
/// several times the last-level cache); `threads` the threads for the machine figure.
pub fn calibrate_cpu(array_bytes: usize, threads: usize) -> CpuCalibration {
    let clock = clock_ghz();
    let elements = (array_bytes / 8).max(1024);
    let single = triad_gbps(elements, 1);
    let threads = threads.max(1);
    let machine = if threads > 1 {
        triad_gbps(elements, threads).max(single)
    } else {
        single
    };
    CpuCalibration {
        clock_ghz: clock,
        per_thread_bandwidth_gbps: single,
        machine_bandwidth_gbps: machine,
        method: format!(
            "advisor hardware --calibrate: dependent or+imul chain for the clock; STREAM triad over 3 × {} MiB on 1 and {threads} threads",
            array_bytes >> 20
        ),
    }
}

/// The clock under load, GHz (x86-64; other architectures report the chain's rate at the
/// same assumed latency).
fn clock_ghz() -> f64 {
    let mut best: f64 = 0.0;
    for _ in 0..3 {
        let steps: u64 = 20_000_000;
        let start = Instant::now();
        let mut total_steps = 0u64;
        let mut x = black_box(0x9E37_79B9_7F4A_7C15u64);
        while start.elapsed() < CLOCK_TIME {
            for _ in 0..steps / 100 {
                x = x.wrapping_mul(x | 1);
            }
            total_steps += steps / 100;
        }
        black_box(x);
        let seconds = start.elapsed().as_secs_f64();
        best = best.max(total_steps as f64 * CYCLES_PER_STEP / seconds / 1e9);
    }
    best
}

/// The triad's bandwidth over `elements` doubles per array on `threads` threads, GB/s.
fn triad_gbps(elements: usize, threads: usize) -> f64 {
    let mut a = vec![0.0f64; elements];
    let b = vec![1.0f64; elements];
    let c = vec![2.0f64; elements];
    let scalar = black_box(3.0f64);
    let chunk = elements.div_ceil(threads);
    let mut best: f64 = 0.0;
    for _ in 0..4 {
        let start = Instant::now();
        std::thread::scope(|scope| {
            for ((a, b), c) in a
                .chunks_mut(chunk)
                .zip(b.chunks(chunk))
                .zip(c.chunks(chunk))
            {
                scope.spawn(move || {
                    for ((a, b), c) in a.iter_mut().zip(b).zip(c) {
                        *a = b + scalar * c;
                    }
                });
            }
        });
        let seconds = start.elapsed().as_secs_f64();
        black_box(&a);
        best = best.max(3.0 * 8.0 * elements as f64 / seconds / 1e9);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The measurements are plausible for any machine that runs the tests: a clock between
    /// 0.3 and 7 GHz, a bandwidth between 0.1 and 2,000 GB/s, the machine at least a thread.
    #[test]
    fn measurements_are_plausible() {
        let calibration = calibrate_cpu(8 << 20, 2);
        assert!(
            (0.3..7.0).contains(&calibration.clock_ghz),
            "{calibration:?}"
        );
        assert!(
            (0.1..2000.0).contains(&calibration.per_thread_bandwidth_gbps),
            "{calibration:?}"
        );
        assert!(calibration.machine_bandwidth_gbps >= calibration.per_thread_bandwidth_gbps);
    }
}
