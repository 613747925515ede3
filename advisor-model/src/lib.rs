//! The advisor's performance model: one model of a transformer workload on its hardware,
//! behind every number the advisor prints.
//!
//! Given the [`ResolvedFacts`](advisor_core::ResolvedFacts) it predicts the time of a request
//! or training step by the roofline (bytes and FLOPs per phase: prefill, decode, forward,
//! backward, optimizer step) and the peak memory by part (weights, KV cache, attention scores,
//! activations, gradients, optimizer state, runtime), and says whether the run fits. A
//! suggestion is a [`Change`](advisor_core::Change); its gain is [`simulate`]: the model run
//! before and after. [`ModelPlan`] runs every change of a report at once for its summary.
//!
//! Times are a range over [`SCENARIOS`] of kernel efficiency and host overhead, never the
//! bare roofline.
//!
//! ```
//! use advisor_core::{AnalysisContext, Change, ImprovementMetric, OptimizationAdvisor};
//! use advisor_hw_table::AcceleratorTable;
//!
//! let context = AnalysisContext::from_json_str(r#"{
//!   "model_graph": { "facts": { "architecture": "decoder", "parameters": 6738415616,
//!       "layers": 32, "hidden_size": 4096, "attention_heads": 32, "kv_heads": 32,
//!       "vocab_size": 32000, "max_sequence_length": 4096, "dtype": "fp16" } },
//!   "hardware_info": { "gpu_model": "NVIDIA A100-SXM4-80GB" },
//!   "current_config": { "mode": "inference", "batch_size": "1", "seq_len": "2048" }
//! }"#).unwrap();
//! let mut advisor = OptimizationAdvisor::empty();
//! advisor.set_catalog(std::sync::Arc::new(AcceleratorTable));
//! let facts = advisor.resolve(&context).unwrap();
//! let prediction = advisor_model::predict_facts(&facts).unwrap();
//! assert!(prediction.fits());
//! // int4 weights: decode reads ~4× fewer weight bytes, but never more than the bytes allow.
//! let simulation = advisor_model::simulate(&facts, &[Change::Weights(advisor_core::WeightFormat::Int4)]).unwrap();
//! let latency = simulation.improvement(ImprovementMetric::Latency).unwrap();
//! assert!(latency.max_reduction < 1.0 - 4.25 / 16.0);
//! ```

mod memory;
mod optimizer;
mod time;
mod weights;
mod workload;

use advisor_core::{
    Change, ExpectedImprovement, ImprovementMetric, MemoryPart, Missing, ModelFigures,
    ModelProjections, PlanModel, ResolvedFacts, SecondsRange, SuggestionProjection,
};

pub use crate::{
    memory::{GPU_RUNTIME_BYTES, MemoryBreakdown, memory},
    optimizer::optimizer_step_bytes_per_parameter,
    time::{
        ASSUMED_HOST_BANDWIDTH, Bound, Cost, DDP_BUCKET_BYTES, Efficiency,
        PIPELINE_LINK_BYTES_PER_SECOND, Rates, SCENARIOS, Times, host_link, rates, scenario_text,
        seconds, sync_bytes_per_device, times,
    },
    workload::{DeviceModel, Workload},
};

/// The share of a device's memory a run may plan to use: drivers report 5–7 % less than the
/// datasheet (a "16 GB" T4 shows 15.0 GiB in `nvidia-smi`, a "24 GB" L4 22.5 GiB) and the
/// caching allocator fragments.
pub const USABLE_MEMORY: f64 = 0.93;

/// What the model predicts for one workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The times under each of [`SCENARIOS`].
    pub times: Vec<Times>,
    /// Peak memory by part.
    pub memory: MemoryBreakdown,
    /// Memory of the device, bytes, when known.
    pub capacity_bytes: Option<u64>,
    /// Bytes the weights take as stored.
    pub weight_bytes: f64,
    /// The device's rates.
    pub rates: Rates,
}

impl Prediction {
    /// Memory a run may plan to use: [`USABLE_MEMORY`] of the device.
    pub fn usable_bytes(&self) -> Option<f64> {
        self.capacity_bytes
            .map(|capacity| capacity as f64 * USABLE_MEMORY)
    }

    /// Whether the peak fits the usable memory of the device.
    pub fn fits(&self) -> bool {
        self.usable_bytes()
            .is_none_or(|usable| self.memory.total() <= usable)
    }

    /// Bytes by which the peak exceeds the usable memory (0 when it fits).
    pub fn overflow_bytes(&self) -> f64 {
        self.usable_bytes()
            .map_or(0.0, |usable| (self.memory.total() - usable).max(0.0))
    }

    /// The range of a time figure over the scenarios.
    pub fn range(&self, figure: impl Fn(&Times) -> f64) -> (f64, f64) {
        self.times
            .iter()
            .map(&figure)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), value| {
                (low.min(value), high.max(value))
            })
    }

    /// What bounds the run in the most optimistic scenario.
    pub fn bound(&self) -> Bound {
        self.times.first().map_or(Bound::Memory, |t| t.bound)
    }

    /// What bounds the prefill (the first token) in the most optimistic scenario.
    pub fn first_token_bound(&self) -> Bound {
        self.times
            .first()
            .map_or(Bound::Memory, |t| t.first_token_bound)
    }
}

/// Weight bytes one forward over `tokens` tokens reads: the routed experts only for a
/// mixture of experts (their expected coverage), the head, not the gathered embedding.
pub fn weight_bytes_read(workload: &Workload, tokens: f64) -> f64 {
    weights::WeightSplit::of(workload).read_bytes(tokens)
}

/// How the model compares with a measurement of the run as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// The measured time of one request or step, seconds.
    pub measured_seconds: f64,
    /// Where it came from.
    pub source: String,
    /// The modelled time in each scenario, before calibration.
    pub modelled_seconds: Vec<f64>,
    /// Per scenario, the efficiencies the run and every changed run are predicted with:
    /// [`SCENARIOS`] on a GPU; on a CPU, the scenario with the efficiency of the resource that
    /// binds the measured run ([`Calibration::fitted`]) lowered until the model matches the
    /// measurement, down to [`FIT_FLOOR`] of the scenario's own.
    pub efficiencies: Vec<Efficiency>,
    /// The resource whose efficiency was fitted (compute or memory), if any.
    pub fitted: Option<Bound>,
    /// Per scenario whose efficiency was fitted, the fitted share of the peak (of FLOP/s in
    /// the run's precision, or of bandwidth).
    pub fitted_shares: Vec<f64>,
    /// Per scenario, the measured time the fitted model still does not explain (on a GPU:
    /// host overhead, Python, input, kernels far from their peak), kept as a fixed cost of
    /// every request or step after a change: what a change removes is only what the model
    /// can account for.
    pub unexplained_seconds: Vec<f64>,
}

/// The lowest share of a scenario's efficiency a CPU calibration fits: a matmul 10× further
/// from the peak than the scenario assumes is no longer a slow kernel but time spent
/// elsewhere, which stays a fixed cost.
pub const FIT_FLOOR: f64 = 0.1;

impl Calibration {
    /// Modelled over measured time in the optimistic scenario: how close the run comes to
    /// the roofline.
    pub fn efficiency(&self) -> f64 {
        self.modelled_seconds.first().copied().unwrap_or(0.0) / self.measured_seconds
    }

    /// Whether the measurement beats the model, which points at wrong inputs (another GPU,
    /// another precision) rather than at a fast run.
    pub fn beats_the_model(&self) -> bool {
        self.modelled_seconds
            .iter()
            .all(|modelled| self.measured_seconds < 0.9 * modelled)
    }

    /// The fitted efficiency's range over the scenarios (a share of the peak), when one was
    /// fitted.
    pub fn fitted_range(&self) -> Option<(f64, f64)> {
        (!self.fitted_shares.is_empty()).then(|| {
            self.fitted_shares
                .iter()
                .fold((f64::INFINITY, 0.0_f64), |(low, high), s| {
                    (low.min(*s), high.max(*s))
                })
        })
    }

    /// The basis of a calibrated prediction, for an expected improvement: what was fitted to
    /// the measurement and what stays a range. `None` when nothing was fitted.
    pub fn basis_text(&self) -> Option<String> {
        if self.beats_the_model() {
            return None;
        }
        let (low, high) = self.fitted_range()?;
        let what = match self.fitted? {
            Bound::Memory => "memory traffic at",
            _ => "matmuls at",
        };
        let of = match self.fitted? {
            Bound::Memory => "of the measured bandwidth",
            _ => "of the CPU's peak",
        };
        Some(format!(
            "calibrated on the measured {}: {what} {:.0}–{:.0} % {of}, the rest a range over kernel efficiency and host overhead (0–{:.0} µs per operator)",
            seconds_text(self.measured_seconds),
            low * 100.0,
            high * 100.0,
            SCENARIOS
                .iter()
                .map(|e| e.per_op_seconds)
                .fold(0.0, f64::max)
                * 1e6
        ))
    }

    /// A sentence for the report.
    pub fn describe(&self) -> String {
        let low = self
            .modelled_seconds
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        let high = self.modelled_seconds.iter().copied().fold(0.0, f64::max);
        if self.beats_the_model() {
            format!(
                "measured {} ({}) is faster than the model's {}–{} for this hardware and configuration: check the GPU, precision and sequence inputs; predictions are not calibrated",
                seconds_text(self.measured_seconds),
                self.source,
                seconds_text(low),
                seconds_text(high)
            )
        } else if let Some((low_share, high_share)) = self.fitted_range() {
            let what = match self.fitted {
                Some(Bound::Memory) => "its memory traffic runs at",
                _ => "its matmuls run at",
            };
            let peak = match self.fitted {
                Some(Bound::Memory) => "of the measured bandwidth",
                _ => "of the CPU's peak",
            };
            let left = self.unexplained_seconds.iter().copied().fold(0.0, f64::max);
            format!(
                "measured {} ({}) against a modelled {}–{}: {what} {:.0}–{:.0} % {peak}, and every changed run is predicted at that efficiency{}",
                seconds_text(self.measured_seconds),
                self.source,
                seconds_text(low),
                seconds_text(high),
                low_share * 100.0,
                high_share * 100.0,
                if left > 0.01 * self.measured_seconds {
                    format!(
                        "; up to {} is left unexplained and kept as a fixed cost",
                        seconds_text(left)
                    )
                } else {
                    String::new()
                }
            )
        } else {
            format!(
                "measured {} ({}) against a modelled {}–{}: the run reaches {:.0} % of the roofline; predictions keep the unexplained time as a fixed cost of every request or step",
                seconds_text(self.measured_seconds),
                self.source,
                seconds_text(low),
                seconds_text(high),
                (self.efficiency() * 100.0).min(100.0)
            )
        }
    }
}

fn uncalibrated(workload: &Workload) -> Prediction {
    with_efficiencies(workload, &SCENARIOS)
}

fn with_efficiencies(workload: &Workload, efficiencies: &[Efficiency]) -> Prediction {
    let times = efficiencies
        .iter()
        .map(|e| time::times(workload, e))
        .collect();
    Prediction {
        times,
        memory: memory::memory(workload),
        capacity_bytes: workload.capacity_bytes(),
        weight_bytes: weights::WeightSplit::of(workload).stored_bytes(),
        rates: time::rates(workload),
    }
}

/// The calibration of a workload against its measurement, if it has one.
pub fn calibration(workload: &Workload) -> Option<Calibration> {
    let (measured, source) = workload.measured.clone()?;
    let prediction = uncalibrated(workload);
    let modelled: Vec<f64> = prediction.times.iter().map(|t| t.request_seconds).collect();
    let cpu = matches!(workload.device, DeviceModel::Cpu(_));
    let fp32 =
        prediction.rates.precision == advisor_core::Precision::Fp32 && !prediction.rates.tf32;
    let mut fitted_shares = Vec::new();
    let mut efficiencies = Vec::with_capacity(SCENARIOS.len());
    let mut unexplained = Vec::with_capacity(SCENARIOS.len());
    let mut fitted = None;
    // One resource for every scenario: the one that binds the run in the optimistic
    // scenario, where each term is nearest its physical floor (a pessimistic scenario's slow
    // element-wise kernels can tip a balanced run to memory-bound, and fitting the bandwidth
    // there would slow the memory-bound runs of every change).
    let resource = prediction.bound();
    for (scenario, times) in SCENARIOS.iter().zip(&prediction.times) {
        let fit = if cpu && times.request_seconds < measured {
            fit(workload, scenario, resource, measured)
        } else {
            None
        };
        match fit {
            Some((efficiency, seconds)) => {
                fitted = Some(resource);
                fitted_shares.push(match resource {
                    Bound::Memory => efficiency.bandwidth,
                    _ if fp32 => efficiency.compute_fp32,
                    _ => efficiency.compute,
                });
                efficiencies.push(efficiency);
                unexplained.push((measured - seconds).max(0.0));
            }
            None => {
                efficiencies.push(*scenario);
                unexplained.push((measured - times.request_seconds).max(0.0));
            }
        }
    }
    Some(Calibration {
        measured_seconds: measured,
        source,
        modelled_seconds: modelled,
        efficiencies,
        fitted,
        fitted_shares,
        unexplained_seconds: unexplained,
    })
}

/// On a CPU the host is the device, so a run slower than the model is its kernels running
/// further from the peak than the scenario assumes (a GEMM over a few dozen rows on two
/// cores reaches a quarter of the AVX-512 peak, not 80 %): the efficiency of the resource
/// that binds the run is lowered until the model's request time is the measurement (a
/// bisection; the time falls as the efficiency rises), and the changed runs keep it, so a
/// change that removes FLOPs removes the time they really take. On a GPU the gap to the
/// roofline in eager PyTorch is mostly the host issuing operators (PyTorch, "Accelerating
/// Generative AI with PyTorch II: GPT, Fast", 2023), which stays a fixed cost. Returns the
/// fitted efficiency and the modelled seconds at it; `None` when the run is bound by
/// neither compute nor memory.
fn fit(
    workload: &Workload,
    scenario: &Efficiency,
    bound: Bound,
    measured: f64,
) -> Option<(Efficiency, f64)> {
    let scaled = |share: f64| {
        let mut efficiency = *scenario;
        match bound {
            Bound::Compute => {
                efficiency.compute *= share;
                efficiency.compute_fp32 *= share;
            }
            Bound::Memory => {
                efficiency.bandwidth *= share;
                efficiency.stream *= share;
            }
            Bound::Host | Bound::Communication => {}
        }
        efficiency
    };
    if !matches!(bound, Bound::Compute | Bound::Memory) {
        return None;
    }
    let request = |share: f64| time::times(workload, &scaled(share)).request_seconds;
    let floor = request(FIT_FLOOR);
    if floor <= measured {
        return Some((scaled(FIT_FLOOR), floor));
    }
    // Bisection on the logarithm of the share: 40 halvings of [ln 0.1, 0] resolve it to
    // 2e-12 relative.
    let (mut low, mut high) = (FIT_FLOOR.ln(), 0.0_f64);
    for _ in 0..40 {
        let middle = 0.5 * (low + high);
        if request(middle.exp()) > measured {
            low = middle;
        } else {
            high = middle;
        }
    }
    let share = high.exp();
    Some((scaled(share), request(share)))
}

fn with_overhead(workload: &Workload, calibration: &Calibration) -> Prediction {
    if calibration.beats_the_model() {
        return uncalibrated(workload);
    }
    let mut prediction = with_efficiencies(workload, &calibration.efficiencies);
    let batch = workload.settings.samples_per_step().max(1) as f64;
    let generated = workload.settings.generated_tokens as f64;
    for (times, extra) in prediction
        .times
        .iter_mut()
        .zip(&calibration.unexplained_seconds)
    {
        times.request_seconds += extra;
        times.per_sample_seconds = times.request_seconds / batch;
        if generated > 0.0 && workload.model.generates() {
            times.per_token_seconds += extra / generated;
        }
    }
    prediction
}

/// Predicts a workload: at its calibration's efficiencies, with the fixed cost the
/// calibration leaves unexplained, when it has one.
pub fn predict(workload: &Workload) -> Prediction {
    match &workload.calibration {
        Some(calibration) => with_overhead(workload, calibration),
        None => uncalibrated(workload),
    }
}

/// Predicts the workload the facts describe.
pub fn predict_facts(facts: &ResolvedFacts) -> Result<Prediction, Missing> {
    Ok(predict(&Workload::from_facts(facts)?))
}

/// The model run before and after a set of changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// The workload as configured.
    pub before: Workload,
    /// With the changes applied.
    pub after: Workload,
    /// Its prediction before.
    pub predicted_before: Prediction,
    /// And after.
    pub predicted_after: Prediction,
}

/// Runs the model on the facts before and after `changes`.
pub fn simulate(facts: &ResolvedFacts, changes: &[Change]) -> Result<Simulation, Missing> {
    let before = Workload::from_facts(facts)?;
    Ok(simulate_workload(before, changes))
}

/// The workload with `changes` applied. The measurement is of the run as configured, so the
/// changed run has none; its calibration (the unexplained time) travels with it.
pub fn changed(workload: &Workload, changes: &[Change]) -> Workload {
    let mut after = workload.clone();
    for change in changes {
        change.apply(&mut after.settings);
    }
    after.measured = None;
    if let Some(kept) = after.settings.kept_layers.take() {
        keep_layers(&mut after.model, kept);
    }
    after
}

/// The model with only `kept` of its transformer blocks, at the same width (a distilled
/// student such as DistilBERT, which keeps one block of two: Sanh et al. 2019, §3; or blocks
/// dropped: Gromov et al. 2024, "The Unreasonable Ineffectiveness of the Deeper Layers"):
/// every block holds the same parameters, the embeddings and the head stay.
fn keep_layers(model: &mut advisor_core::ModelShape, kept: u64) {
    let Some(layers) = model.layers.filter(|l| *l > kept && kept > 0) else {
        return;
    };
    let embeddings = model.embedding_parameters();
    let dropped = (layers - kept) as f64 / layers as f64;
    let shrink = |total: u64| {
        let body = total.saturating_sub(embeddings) as f64;
        embeddings + (body * (1.0 - dropped)).round() as u64
    };
    model.parameters = model.parameters.map(shrink);
    model.active_parameters = model.active_parameters.map(shrink);
    model.layers = Some(kept);
}

/// Whether a workload's peak memory fits the usable memory of its device: the memory half of
/// [`Prediction::fits`], without the time simulation, for searches over settings.
pub fn fits(workload: &Workload) -> bool {
    workload
        .capacity_bytes()
        .is_none_or(|capacity| memory::memory(workload).total() <= capacity as f64 * USABLE_MEMORY)
}

/// The batch a run should grow to: doubling from `start` while the run still fits and each
/// doubling still makes the time per sequence (in the slowest scenario) at least
/// `min_speedup` times faster, up to `limit`. Returns `start` when the first doubling does
/// not pay.
pub fn doubling_batch(workload: &Workload, start: u64, limit: u64, min_speedup: f64) -> u64 {
    let per_sample = |batch: u64| {
        let mut trial = workload.clone();
        trial.settings.batch_size = batch;
        let prediction = predict(&trial);
        (
            prediction.fits(),
            prediction.range(|t| t.per_sample_seconds).1,
        )
    };
    let mut chosen = start;
    let (_, mut best_time) = per_sample(start);
    let mut batch = start.saturating_mul(2);
    while batch <= limit {
        let (fits, time) = per_sample(batch);
        if !fits || best_time / time < min_speedup {
            break;
        }
        chosen = batch;
        best_time = time;
        batch = batch.saturating_mul(2);
    }
    chosen
}

/// The batch where the throughput plateaus: the smallest power of two from `start` up to
/// `limit` that fits and whose time per sequence (in the slowest scenario) is within
/// `within` (a fraction) of the best any fitting batch up to `limit` reaches. For a
/// compute-bound device (a CPU), where each doubling buys a few percent as the weight reads
/// and per-operator costs are amortized, and doubles the latency. Returns `start` when no
/// larger batch is better.
pub fn plateau_batch(workload: &Workload, start: u64, limit: u64, within: f64) -> u64 {
    let mut candidates = Vec::new();
    let mut batch = start.max(1);
    while batch <= limit {
        let mut trial = workload.clone();
        trial.settings.batch_size = batch;
        let prediction = predict(&trial);
        if !prediction.fits() {
            break;
        }
        candidates.push((batch, prediction.range(|t| t.per_sample_seconds).1));
        batch = batch.saturating_mul(2);
    }
    let best = candidates
        .iter()
        .map(|(_, time)| *time)
        .fold(f64::INFINITY, f64::min);
    candidates
        .iter()
        .find(|(_, time)| *time <= best * (1.0 + within))
        .map_or(start, |(batch, _)| *batch)
}

/// Runs the model on a workload before and after `changes`.
pub fn simulate_workload(before: Workload, changes: &[Change]) -> Simulation {
    let after = changed(&before, changes);
    Simulation {
        predicted_before: predict(&before),
        predicted_after: predict(&after),
        before,
        after,
    }
}

impl Simulation {
    /// The fraction of a metric's cost the changes remove, per scenario: `(min, max)`.
    /// Negative values mean the metric gets worse.
    pub fn reduction(&self, metric: ImprovementMetric) -> Option<(f64, f64)> {
        let (before, after) = (&self.predicted_before, &self.predicted_after);
        let pairs: Vec<(f64, f64)> = match metric {
            ImprovementMetric::Latency => before
                .times
                .iter()
                .zip(&after.times)
                .map(|(b, a)| (b.request_seconds, a.request_seconds))
                .collect(),
            ImprovementMetric::Throughput => before
                .times
                .iter()
                .zip(&after.times)
                .map(|(b, a)| (b.per_sample_seconds, a.per_sample_seconds))
                .collect(),
            ImprovementMetric::TimeToFirstToken | ImprovementMetric::TimePerToken
                if !self.generates() =>
            {
                return None;
            }
            ImprovementMetric::TimeToFirstToken => before
                .times
                .iter()
                .zip(&after.times)
                .map(|(b, a)| (b.first_token_seconds, a.first_token_seconds))
                .collect(),
            ImprovementMetric::TimePerToken => before
                .times
                .iter()
                .zip(&after.times)
                .map(|(b, a)| (b.per_token_seconds, a.per_token_seconds))
                .collect(),
            ImprovementMetric::Memory => vec![(before.memory.total(), after.memory.total())],
            ImprovementMetric::ModelSize => vec![(before.weight_bytes, after.weight_bytes)],
            _ => return None,
        };
        let reductions: Vec<f64> = pairs
            .iter()
            .filter(|(b, a)| b.is_finite() && a.is_finite() && *b > 0.0)
            .map(|(b, a)| 1.0 - a / b)
            .collect();
        if reductions.is_empty() {
            return None;
        }
        let low = reductions.iter().copied().fold(f64::INFINITY, f64::min);
        let high = reductions.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some((low, high))
    }

    /// Whether both runs generate tokens, so time to first token and per token apply.
    fn generates(&self) -> bool {
        [&self.before, &self.after].iter().all(|w| {
            w.model.generates()
                && w.settings.mode == advisor_core::Mode::Inference
                && w.settings.generated_tokens > 0
        })
    }

    /// The improvement of a metric with its basis, when the changes improve it in every
    /// scenario; `None` when they do not improve it (see [`Simulation::regressions`]).
    pub fn improvement(&self, metric: ImprovementMetric) -> Option<ExpectedImprovement> {
        // The stored size is a serving figure: under autocast a training run keeps fp32
        // parameters whatever it computes in.
        if metric == ImprovementMetric::ModelSize
            && self.before.settings.mode == advisor_core::Mode::Training
        {
            return None;
        }
        let (low, high) = self.reduction(metric)?;
        // Under half a percent is within the model's own rounding: not an improvement.
        if high < 0.005 {
            return None;
        }
        let low = low.max(0.0);
        let basis = self.basis(metric);
        Some(ExpectedImprovement::new(metric, low, high, basis))
    }

    /// Every metric the changes improve.
    pub fn improvements(&self) -> Vec<ExpectedImprovement> {
        ImprovementMetric::ALL
            .into_iter()
            .filter_map(|metric| self.improvement(metric))
            .collect()
    }

    /// Metrics the changes make worse, for warnings: `latency +35 %`.
    pub fn regressions(&self) -> Vec<String> {
        // A smaller stored size is never worse: every metric but the model size.
        ImprovementMetric::ALL
            .into_iter()
            .filter(|metric| *metric != ImprovementMetric::ModelSize)
            .filter(|metric| {
                // In training a step's time per sample is its step time over the batch: one
                // figure, said once as the step time.
                !(self.before.settings.mode == advisor_core::Mode::Training
                    && self.before.settings.samples_per_step()
                        == self.after.settings.samples_per_step()
                    && *metric == ImprovementMetric::Throughput)
            })
            .filter_map(|metric| {
                let (low, _) = self.reduction(metric)?;
                (low < -0.01).then(|| {
                    let name = match (metric, self.before.settings.mode) {
                        (ImprovementMetric::Latency, advisor_core::Mode::Training) => "step time",
                        (ImprovementMetric::Throughput, advisor_core::Mode::Training) => {
                            "step time per sample"
                        }
                        (ImprovementMetric::Throughput, _) => "time per sequence",
                        (ImprovementMetric::TimeToFirstToken, _) => "time to first token",
                        (ImprovementMetric::TimePerToken, _) => "time per token",
                        (other, _) => other.as_str(),
                    };
                    if metric == ImprovementMetric::Memory {
                        format!("{name} +{:.0} %", -low * 100.0)
                    } else {
                        format!("{name} +{:.0} % in the worst case", -low * 100.0)
                    }
                })
            })
            .collect()
    }

    fn basis(&self, metric: ImprovementMetric) -> String {
        let (before, after) = (&self.predicted_before, &self.predicted_after);
        match metric {
            ImprovementMetric::Latency
            | ImprovementMetric::Throughput
            | ImprovementMetric::TimeToFirstToken
            | ImprovementMetric::TimePerToken => {
                let figure = |t: &Times| match metric {
                    ImprovementMetric::Latency => t.request_seconds,
                    ImprovementMetric::TimeToFirstToken => t.first_token_seconds,
                    ImprovementMetric::TimePerToken => t.per_token_seconds,
                    _ => t.per_sample_seconds,
                };
                let (b_low, b_high) = before.range(figure);
                let (a_low, a_high) = after.range(figure);
                let what = match (self.before.settings.mode, metric) {
                    (_, ImprovementMetric::TimeToFirstToken) => "time to first token",
                    (_, ImprovementMetric::TimePerToken) => "time per generated token",
                    (advisor_core::Mode::Training, ImprovementMetric::Latency) => "step",
                    (advisor_core::Mode::Training, _) => "step time per sample",
                    (_, ImprovementMetric::Latency) => "request",
                    _ => "request time per sequence",
                };
                let bound = |p: &Prediction| match metric {
                    ImprovementMetric::TimeToFirstToken => p.first_token_bound(),
                    _ => p.bound(),
                };
                format!(
                    "model: {what} {} → {} ({} → {}); {}",
                    seconds_range(b_low, b_high),
                    seconds_range(a_low, a_high),
                    bound(before).as_str(),
                    bound(after).as_str(),
                    self.before
                        .calibration
                        .as_ref()
                        .and_then(Calibration::basis_text)
                        .unwrap_or_else(time::scenario_text),
                )
            }
            ImprovementMetric::Memory => format!(
                "model: peak memory {} → {} ({})",
                bytes_text(before.memory.total()),
                bytes_text(after.memory.total()),
                parts_text(&after.memory),
            ),
            _ => format!(
                "model: weights {} → {} ({} → {} bits per weight, embeddings and head at {} bits)",
                bytes_text(before.weight_bytes),
                bytes_text(after.weight_bytes),
                self.before.settings.weights.bits_per_weight(),
                self.after.settings.weights.bits_per_weight(),
                weights::WeightSplit::of(&self.after).embedding_bits(),
            ),
        }
    }
}

/// The workload model as the engine's [`PlanModel`]: the report's combined improvement is one
/// simulation of every compatible change.
#[derive(Debug, Clone, Copy, Default)]
pub struct ModelPlan;

impl PlanModel for ModelPlan {
    fn simulate(
        &self,
        facts: &ResolvedFacts,
        changes: &[Change],
    ) -> Option<Vec<ExpectedImprovement>> {
        let simulation = simulate(facts, changes).ok()?;
        let mut figures = simulation.improvements();
        // A time the plan makes worse in every scenario (a larger batch lengthens each
        // request) is said too, as a negative reduction: the summary must not report the
        // trace's slack alone as the plan's latency.
        for metric in ImprovementMetric::ALL {
            if metric == ImprovementMetric::ModelSize
                || metric == ImprovementMetric::Memory
                || figures.iter().any(|i| i.metric == metric)
            {
                continue;
            }
            if let Some((low, high)) = simulation.reduction(metric)
                && high < -0.005
            {
                figures.push(ExpectedImprovement::new(
                    metric,
                    low,
                    high,
                    simulation.basis(metric),
                ));
            }
        }
        Some(figures)
    }

    fn projections(
        &self,
        facts: &ResolvedFacts,
        suggestions: &[(&str, &[Change])],
        plan: &[Change],
    ) -> Option<ModelProjections> {
        let before = Workload::from_facts(facts).ok()?;
        let predicted = predict(&before);
        let after = |changes: &[Change]| figures(&predict(&changed(&before, changes)));
        Some(ModelProjections {
            unit: run_unit(&before).to_owned(),
            before: figures(&predicted),
            suggestions: suggestions
                .iter()
                .map(|(id, changes)| SuggestionProjection {
                    suggestion: (*id).to_owned(),
                    after: after(changes),
                })
                .collect(),
            plan: (!plan.is_empty()).then(|| after(plan)),
            capacity_bytes: predicted.capacity_bytes,
            usable_bytes: predicted.usable_bytes(),
        })
    }

    fn notes(&self, facts: &ResolvedFacts) -> Vec<String> {
        let Ok(workload) = Workload::from_facts(facts) else {
            return Vec::new();
        };
        let mut notes = Vec::new();
        if let Some(calibration) = &workload.calibration {
            notes.push(calibration.describe());
        }
        let prediction = predict(&workload);
        let (low, high) = prediction.range(|t| t.request_seconds);
        let time = if (high - low).abs() <= 0.05 * high {
            seconds_text(high)
        } else {
            format!("{}–{}", seconds_text(low), seconds_text(high))
        };
        let st = &workload.settings;
        let what = match st.mode {
            advisor_core::Mode::Training => format!(
                "a training step ({} × {} tokens, {})",
                st.batch_size, st.prompt_tokens, st.compute
            ),
            advisor_core::Mode::Inference
                if st.generated_tokens > 0 && workload.model.generates() =>
            {
                format!(
                    "a request ({} prompt + {} generated tokens at batch {}, {} weights)",
                    st.prompt_tokens, st.generated_tokens, st.batch_size, st.weights
                )
            }
            advisor_core::Mode::Inference => format!(
                "a forward ({} × {} tokens, {})",
                st.batch_size, st.prompt_tokens, st.weights
            ),
        };
        let capacity = prediction
            .capacity_bytes
            .map_or("an unknown device".to_owned(), |c| bytes_text(c as f64));
        notes.push(format!(
            "{what} takes {time}, {}; peak memory {} of {}{}",
            prediction.bound().as_str(),
            bytes_text(prediction.memory.total()),
            capacity,
            if prediction.fits() {
                ""
            } else {
                ": it does not fit"
            },
        ));
        if let DeviceModel::Cpu(cpu) = &workload.device {
            notes.push(format!(
                "CPU figures: peak {}; bandwidth {}",
                cpu.peak_source, cpu.bandwidth_source
            ));
        }
        notes
    }
}

/// What [`Times::request_seconds`] is the time of, for people.
fn run_unit(workload: &Workload) -> &'static str {
    match workload.settings.mode {
        advisor_core::Mode::Training => "a training step",
        advisor_core::Mode::Inference
            if workload.settings.generated_tokens > 0 && workload.model.generates() =>
        {
            "a request"
        }
        advisor_core::Mode::Inference => "a forward",
    }
}

/// A prediction as the report carries it: time ranges over the scenarios, memory by part.
fn figures(prediction: &Prediction) -> ModelFigures {
    let range = |figure: fn(&Times) -> f64| {
        let (min, max) = prediction.range(figure);
        SecondsRange { min, max }
    };
    ModelFigures {
        request_seconds: range(|t| t.request_seconds),
        per_sample_seconds: range(|t| t.per_sample_seconds),
        memory: prediction
            .memory
            .parts()
            .into_iter()
            .map(|(name, bytes)| MemoryPart {
                name: name.to_owned(),
                bytes,
            })
            .collect(),
        peak_bytes: prediction.memory.total(),
    }
}

/// Seconds for people: `12.3 ms`, `1.20 s`.
pub fn seconds_text(seconds: f64) -> String {
    if seconds >= 1.0 {
        format!("{seconds:.2} s")
    } else if seconds >= 1e-3 {
        format!("{:.1} ms", seconds * 1e3)
    } else {
        format!("{:.0} µs", seconds * 1e6)
    }
}

fn seconds_range(low: f64, high: f64) -> String {
    if (high - low).abs() <= 0.05 * high.abs() {
        seconds_text(high)
    } else {
        format!("{}–{}", seconds_text(low), seconds_text(high))
    }
}

/// Bytes for people: `13.5 GiB`.
pub fn bytes_text(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The memory parts for people: `weights 12.6 GiB + KV cache 2.0 GiB + ...`.
pub fn parts_text(memory: &MemoryBreakdown) -> String {
    memory
        .parts()
        .iter()
        .map(|(name, bytes)| format!("{name} {}", bytes_text(*bytes)))
        .collect::<Vec<_>>()
        .join(" + ")
}
