//! The workload the model simulates: the model's shape, the device's figures and the run's
//! settings, taken from the resolved facts.

use advisor_core::{CpuFacts, GpuSpec, Missing, ModelShape, ResolvedFacts, RunSettings};

/// The device a workload runs on.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceModel {
    /// A GPU with its table figures and its memory.
    Gpu {
        /// The table figures.
        spec: GpuSpec,
        /// Memory of one device in bytes (measured or from the table).
        memory_bytes: u64,
    },
    /// The host CPU.
    Cpu(CpuFacts),
}

/// Everything one simulation needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// The model.
    pub model: ModelShape,
    /// The device.
    pub device: DeviceModel,
    /// The run.
    pub settings: RunSettings,
}

impl Workload {
    /// The workload the facts describe, or the first fact that is missing.
    pub fn from_facts(facts: &ResolvedFacts) -> Result<Workload, Missing> {
        let model = facts.model()?.clone();
        for (value, name) in [
            (model.parameters, "parameters"),
            (model.layers, "layers"),
            (model.hidden_size, "hidden_size"),
        ] {
            if value.is_none_or(|v| v == 0) {
                return Err(Missing::ModelFact(name.to_owned()));
            }
        }
        if model.architecture.is_none() {
            return Err(Missing::ModelFact("architecture".to_owned()));
        }
        let settings = facts.settings()?;
        let device = match facts.run_gpu_spec()? {
            Some((gpu, spec)) => DeviceModel::Gpu {
                spec: spec.clone(),
                memory_bytes: gpu
                    .memory_bytes
                    .as_ref()
                    .map_or(spec.memory_bytes, |fact| fact.value),
            },
            None => DeviceModel::Cpu(facts.cpu.clone().ok_or(Missing::CpuCores)?),
        };
        Ok(Workload {
            model,
            device,
            settings,
        })
    }

    /// Memory capacity of the device the run uses, bytes.
    pub fn capacity_bytes(&self) -> Option<u64> {
        match &self.device {
            DeviceModel::Gpu { memory_bytes, .. } => Some(*memory_bytes),
            DeviceModel::Cpu(cpu) => cpu.memory_bytes,
        }
    }
}
