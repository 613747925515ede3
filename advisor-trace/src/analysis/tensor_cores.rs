//! Tensor-core use: the share of computation-kernel time in kernels whose names mark
//! tensor-core instructions, with the name fragments chosen per architecture.

use advisor_core::{ComputeCapability, TensorCoreFacts, TraceDevice};

use crate::accumulate::{FastMap, GpuActivity, Interner, Kind};

use super::pct;

/// Kernel-name fragments that mark AMD matrix-core kernels: MFMA instructions, which
/// rocBLAS/Tensile kernel names spell as the instruction shape (`_MI16x16x1_`, `_MI32x32x8_`),
/// and composable-kernel or FlashAttention kernels.
const AMD: &[&str] = &["mfma", "_mi16x16", "_mi32x32", "_mi4x4", "flash"];

/// Kernel-name fragments that mark tensor-core kernels, per architecture.
fn tensor_core_patterns(capability: Option<ComputeCapability>) -> &'static [&'static str] {
    const VOLTA: &[&str] = &["884", "hmma", "wmma", "tensorop"];
    const TURING: &[&str] = &["1688", "884", "hmma", "wmma", "imma", "tensorop"];
    const AMPERE: &[&str] = &[
        "16816",
        "1688",
        "sm80",
        "sm86",
        "sm89",
        "xmma",
        "tensorop",
        "hmma",
        "wmma",
        "imma",
        "cutlass_80",
        "ampere_",
        "flash",
    ];
    const HOPPER: &[&str] = &[
        "sm90",
        "gmma",
        "wgmma",
        "16816",
        "1688",
        "xmma",
        "tensorop",
        "hmma",
        "wmma",
        "cutlass3x",
        "flash",
    ];
    const ANY: &[&str] = &[
        "884",
        "1688",
        "16816",
        "sm80",
        "sm86",
        "sm89",
        "sm90",
        "gmma",
        "xmma",
        "tensorop",
        "hmma",
        "wmma",
        "imma",
        "cutlass3x",
        "flash",
    ];
    match capability.map(|c| (c.major, c.minor)) {
        Some((7, 0..=2)) => VOLTA,
        Some((7, _)) => TURING,
        Some((8, _)) => AMPERE,
        Some((9, _)) => HOPPER,
        _ => ANY,
    }
}

/// The window's tensor-core share, with the patterns of the first device's architecture;
/// `None` without computation kernels.
pub(crate) fn tensor_cores(
    kept: &[GpuActivity],
    names: &Interner,
    devices: &[TraceDevice],
) -> Option<TensorCoreFacts> {
    let capability = devices.iter().find_map(|d| {
        d.compute_capability
            .as_deref()
            .and_then(|c| c.parse::<ComputeCapability>().ok())
    });
    let amd = devices.iter().find(|d| d.vendor.as_deref() == Some("AMD"));
    let patterns = match amd {
        Some(_) => AMD,
        None => tensor_core_patterns(capability),
    };
    let mut is_tensor_core: FastMap<u32, bool> = FastMap::default();
    let (mut tensor_core_us, mut compute_us) = (0.0, 0.0);
    for activity in kept.iter().filter(|a| a.kind == Kind::Compute) {
        compute_us += activity.dur;
        let uses = *is_tensor_core.entry(activity.name).or_insert_with(|| {
            let lower = names.name(activity.name).to_ascii_lowercase();
            patterns.iter().any(|p| lower.contains(p))
        });
        if uses {
            tensor_core_us += activity.dur;
        }
    }
    (compute_us > 0.0).then(|| TensorCoreFacts {
        time_us: tensor_core_us,
        compute_kernel_time_us: compute_us,
        pct_of_compute: pct(tensor_core_us, compute_us),
        architecture: match amd {
            Some(device) => device.architecture.clone(),
            None => capability.map(|c| c.architecture().to_owned()),
        },
        patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use crate::analysis::summary_of;

    #[test]
    fn tensor_core_share() {
        let device = |major: u32| {
            format!(
                r#""deviceProperties": [{{"id": 0, "name": "gpu", "computeMajor": {major}, "computeMinor": 0}}]"#
            )
        };
        // (metadata, kernels (name, dur)) -> (tensor-core time, compute time, share, architecture)
        type Case<'a> = (
            String,
            &'a [(&'a str, f64)],
            Option<(f64, f64, f64, Option<&'a str>)>,
        );
        let cases: Vec<Case> = vec![
            (String::new(), &[("ncclKernel_AllReduce", 10.0)], None),
            // Volta: fp32 sgemm uses CUDA cores, h884 tensor cores.
            (
                device(7),
                &[
                    ("volta_sgemm_128x64_nn", 30.0),
                    ("volta_h884gemm_64x64", 10.0),
                ],
                Some((10.0, 40.0, 25.0, Some("Volta"))),
            ),
            // Ampere's patterns know sm80 and 16816; Volta's do not.
            (
                device(8),
                &[
                    ("sm80_xmma_gemm_f16f16", 10.0),
                    ("ampere_fp16_s16816gemm", 10.0),
                    ("elementwise", 20.0),
                ],
                Some((20.0, 40.0, 50.0, Some("Ampere"))),
            ),
            (
                device(7),
                &[("sm80_xmma_gemm_f16f16", 10.0)],
                Some((0.0, 10.0, 0.0, Some("Volta"))),
            ),
            // AMD: rocBLAS/Tensile names spell the MFMA shape; HIP's 9.0 is not Hopper.
            (
                r#""deviceProperties": [{"id": 0, "name": "AMD Radeon Graphics", "computeMajor": 9, "computeMinor": 0, "warpSize": 64, "numSms": 104}]"#.to_owned(),
                &[
                    ("Cijk_Alik_Bljk_SB_MT64x16x32_MI16x16x1_SN_ISA90a", 30.0),
                    ("sm90_gemm", 10.0),
                ],
                Some((30.0, 40.0, 75.0, Some("AMD CDNA 2 (gfx90a)"))),
            ),
            // Unknown architecture: every pattern.
            (
                String::new(),
                &[("cutlass3x_sm90_gemm", 10.0), ("relu", 10.0)],
                Some((10.0, 20.0, 50.0, None)),
            ),
        ];
        for (metadata, kernels, expected) in &cases {
            let events: Vec<String> = kernels
                .iter()
                .enumerate()
                .map(|(i, (name, dur))| format!(r#"{{"ph": "X", "cat": "kernel", "name": "{name}", "ts": {}, "dur": {dur}}}"#, i * 100))
                .collect();
            let events: Vec<&str> = events.iter().map(String::as_str).collect();
            let tensor = summary_of(metadata, &events).tensor_cores;
            let found = tensor.as_ref().map(|t| {
                (
                    t.time_us,
                    t.compute_kernel_time_us,
                    t.pct_of_compute,
                    t.architecture.as_deref(),
                )
            });
            assert_eq!(found, *expected, "{metadata} {kernels:?}");
        }
    }
}
