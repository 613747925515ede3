//! What live probing found, and how each probe fared.

use advisor_core::HardwareInfo;
use serde::Serialize;

/// The result of probing this machine: the facts found, and one report per probe.
///
/// Probing never fails as a whole: a probe that cannot run leaves its fields `None` and says
/// why in its [`ProbeReport`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    /// The facts found; what no probe could find stays `None`.
    pub info: HardwareInfo,
    /// One report per probe, in the order they ran.
    pub probes: Vec<ProbeReport>,
}

impl Detection {
    /// The report of the probe with this name (`cpu-model`, `gpu`, ...).
    pub fn probe(&self, name: &str) -> Option<&ProbeReport> {
        self.probes.iter().find(|report| report.name == name)
    }
}

/// How one probe fared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeReport {
    /// What was probed: `cpu-model`, `cpu-cores`, `cpu-threads`, `memory`, `simd`, `gpu`,
    /// or the name of a GPU probe such as `nvml`.
    pub name: String,
    /// Whether it found its facts.
    #[serde(flatten)]
    pub status: ProbeStatus,
    /// Wall time the probe took, in milliseconds.
    pub elapsed_ms: f64,
}

/// Whether a probe found its facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProbeStatus {
    /// The probe found its facts.
    Ok,
    /// The probe found nothing; the reason says why (no driver, not supported here).
    Unavailable {
        /// Why, in lowercase words: `no GPU probe compiled in (features nvml, wgpu)`.
        reason: String,
    },
}

impl ProbeStatus {
    /// Whether the probe found its facts.
    pub fn is_ok(&self) -> bool {
        matches!(self, ProbeStatus::Ok)
    }
}
