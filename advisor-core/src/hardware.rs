//! Facts about the machine the model runs on.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The hardware the analysis is for: detected live, or a named deployment target.
///
/// Every field is optional: unknown stays unknown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HardwareInfo {
    /// CPU model name, for example `AMD EPYC 7B13`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_model: Option<String>,
    /// Physical CPU cores available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_cores: Option<u32>,
    /// Logical CPU threads available to the process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_threads: Option<u32>,
    /// GPU model name as the driver reports it, for example `NVIDIA A100-SXM4-80GB`.
    /// Software adapters (llvmpipe, lavapipe, SwiftShader) are not GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_model: Option<String>,
    /// Memory of one GPU in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_memory_mb: Option<u64>,
    /// Number of GPUs of that model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_count: Option<u32>,
    /// CUDA compute capability, `"8.0"` (a number such as `8.0` is accepted too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_compute_capability: Option<ComputeCapability>,
    /// Total system memory in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_memory_mb: Option<u64>,
    /// CPU vector and matrix extensions, lowercase (`avx2`, `avx512f`, `amx-tile`, `neon`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simd_capabilities: Option<Vec<String>>,
    /// The CPU's clock and memory bandwidth as measured by `advisor hardware --calibrate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_calibration: Option<CpuCalibration>,
    /// NUMA nodes with CPUs (sockets, or sub-NUMA clusters), as `/sys/devices/system/node`
    /// lists them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numa_nodes: Option<u32>,
}

/// CPU figures measured on the machine, so CPU predictions rest on measurements rather than
/// assumptions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CpuCalibration {
    /// Core clock under load, GHz.
    pub clock_ghz: f64,
    /// Memory bandwidth one thread reaches (STREAM triad), GB/s.
    pub per_thread_bandwidth_gbps: f64,
    /// Memory bandwidth all threads reach together, GB/s.
    pub machine_bandwidth_gbps: f64,
    /// How they were measured.
    pub method: String,
}

/// A CUDA compute capability such as 8.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComputeCapability {
    /// Major version: 7 for Volta and Turing, 8 for Ampere and Ada, 9 for Hopper.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl ComputeCapability {
    /// Creates a compute capability.
    pub const fn new(major: u32, minor: u32) -> ComputeCapability {
        ComputeCapability { major, minor }
    }

    /// The NVIDIA architecture name for this capability.
    pub fn architecture(self) -> &'static str {
        match (self.major, self.minor) {
            (7, 0..=2) => "Volta",
            (7, _) => "Turing",
            (8, 9) => "Ada Lovelace",
            (8, _) => "Ampere",
            (9, _) => "Hopper",
            (10..=12, _) => "Blackwell",
            (6, _) => "Pascal",
            (5, _) => "Maxwell",
            _ => "unknown",
        }
    }

    /// Whether the GPU has tensor cores (Volta, compute capability 7.0, and newer).
    pub fn has_tensor_cores(self) -> bool {
        self >= ComputeCapability::new(7, 0)
    }

    /// Whether the tensor cores run bfloat16 (Ampere, 8.0, and newer).
    pub fn supports_bf16(self) -> bool {
        self >= ComputeCapability::new(8, 0)
    }
}

impl fmt::Display for ComputeCapability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for ComputeCapability {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error =
            || format!("invalid compute capability `{text}`: expected MAJOR.MINOR such as 8.0");
        let (major, minor) = text.trim().split_once('.').ok_or_else(error)?;
        let major = major.parse().map_err(|_| error())?;
        let minor = minor.parse().map_err(|_| error())?;
        Ok(ComputeCapability { major, minor })
    }
}

impl Serialize for ComputeCapability {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ComputeCapability {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(f64),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Text(text) => text.parse().map_err(serde::de::Error::custom),
            Raw::Number(number) if (0.0..100.0).contains(&number) => {
                // 8.6 as a float: one decimal digit is all NVIDIA has ever used.
                format!("{number:.1}")
                    .parse()
                    .map_err(serde::de::Error::custom)
            }
            Raw::Number(number) => Err(serde::de::Error::custom(format!(
                "invalid compute capability {number}: expected MAJOR.MINOR such as 8.0"
            ))),
        }
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for ComputeCapability {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ComputeCapability".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "CUDA compute capability as \"MAJOR.MINOR\" (a number such as 8.6 is accepted too)",
            "oneOf": [
                { "type": "string", "pattern": "^[0-9]+\\.[0-9]+$" },
                { "type": "number", "minimum": 0, "maximum": 100 }
            ]
        })
    }
}

impl HardwareInfo {
    /// Parses a hardware document. Errors name the JSON path, line and column.
    pub fn from_json_str(text: &str) -> Result<HardwareInfo, crate::ContextError> {
        crate::context::from_json(text)
    }

    /// GPU memory in bytes, when known.
    pub fn gpu_memory_bytes(&self) -> Option<u64> {
        self.gpu_memory_mb.map(|mb| mb.saturating_mul(1 << 20))
    }

    /// System memory in bytes, when known.
    pub fn system_memory_bytes(&self) -> Option<u64> {
        self.system_memory_mb.map(|mb| mb.saturating_mul(1 << 20))
    }
}
