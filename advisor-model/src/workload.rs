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
    /// A measured time of one request (inference) or step (training), seconds, that the
    /// model is calibrated against, with where it came from.
    pub measured: Option<(f64, String)>,
    /// The calibration against that measurement, computed once for the run as configured and
    /// kept through every change: the time it leaves unexplained is a fixed cost.
    pub calibration: Option<crate::Calibration>,
    /// The host CPU beside a GPU, when the hardware says (its memory bandwidth prices an
    /// optimizer update offloaded to it).
    pub host: Option<CpuFacts>,
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
        let measured = match settings.mode {
            advisor_core::Mode::Training => facts
                .measured
                .trace_step_ms
                .map(|ms| (ms / 1e3, "the trace's mean step time".to_owned()))
                .or_else(|| {
                    facts
                        .measured
                        .latency_ms
                        .map(|ms| (ms / 1e3, "latency_metrics (one step)".to_owned()))
                }),
            advisor_core::Mode::Inference => facts
                .measured
                .latency_ms
                .map(|ms| (ms / 1e3, "latency_metrics (one request)".to_owned())),
        };
        let mut workload = Workload {
            model,
            device,
            settings,
            measured,
            calibration: None,
            host: facts.cpu.clone(),
        };
        workload.calibration = crate::calibration(&workload);
        Ok(workload)
    }

    /// Memory capacity of the device the run uses, bytes.
    pub fn capacity_bytes(&self) -> Option<u64> {
        match &self.device {
            DeviceModel::Gpu { memory_bytes, .. } => Some(*memory_bytes),
            DeviceModel::Cpu(cpu) => cpu.memory_bytes,
        }
    }
}
