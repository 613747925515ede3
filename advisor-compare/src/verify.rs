//! Checks a report's predictions against what a change measured: which suggestions were
//! applied, and for each the predicted range next to the measured change.

use std::collections::BTreeMap;

use advisor_core::{Change, ImprovementMetric, OptimizationReport, OptimizationSuggestion};
use serde::{Deserialize, Serialize};

use crate::{
    run::Run,
    stats::{SampleStats, welch_test},
};

/// How a suggestion was found to be applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum AppliedBy {
    /// The user said so (`--applied ID`).
    Named,
    /// The after run's configuration (stated, or shown by its trace) changed every setting
    /// the suggestion changes (the keys are listed).
    Config(Vec<String>),
}

/// One predicted range next to the measured change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PredictionCheck {
    /// The suggestion's id.
    pub suggestion: String,
    /// Its rule.
    pub rule: String,
    /// How it was found to be applied.
    pub applied_by: AppliedBy,
    /// The metric.
    pub metric: ImprovementMetric,
    /// Predicted reduction, low end (a fraction: 0.6 is −60 %).
    pub predicted_min: f64,
    /// Predicted reduction, high end.
    pub predicted_max: f64,
    /// Measured reduction (`null` when the measurements cannot give this metric).
    pub measured: Option<f64>,
    /// 95 % confidence interval of the measured reduction (Welch), when both runs have
    /// spread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured_ci95: Option<(f64, f64)>,
    /// Whether the measured reduction lies in the predicted range.
    pub inside: Option<bool>,
    /// Distance from the range in reduction points (0 inside; negative: the change bought
    /// less than predicted).
    pub off_by: Option<f64>,
    /// `off_by` relative to the nearest end of the range: the calibration error.
    pub relative_error: Option<f64>,
    /// Why there is no measurement, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Settings the after run changed to another value than the suggestion named
    /// (`batch_size: applied 8, suggested 4`): the prediction is for the suggested value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied_differently: Vec<String>,
}

/// The configuration key and value a change with a number sets, to hold against the value
/// the after run applied.
fn suggested_value(change: &Change) -> Option<(&'static str, u64)> {
    match change {
        Change::BatchSize(batch) => Some(("batch_size", *batch)),
        Change::Threads(threads) => Some(("num_threads", *threads)),
        Change::TensorParallel(degree) => Some(("tensor_parallel", *degree)),
        Change::Lora(rank) => Some(("lora_rank", *rank)),
        Change::DataParallel(devices) => Some(("data_parallel", *devices)),
        Change::Shard(sharding) => Some(("data_parallel", sharding.devices)),
        Change::GradientAccumulation(steps) => Some(("gradient_accumulation", *steps)),
        Change::PipelineParallel(pipeline) => Some(("pipeline_stages", pipeline.stages)),
        _ => None,
    }
}

/// Each numeric setting of a suggestion the after configuration set to another value.
fn applied_differently(
    suggestion: &OptimizationSuggestion,
    after: &BTreeMap<String, String>,
) -> Vec<String> {
    suggestion
        .changes
        .iter()
        .filter_map(suggested_value)
        .filter_map(|(key, suggested)| {
            let applied: u64 = after.get(key)?.trim().parse().ok()?;
            (applied != suggested)
                .then(|| format!("{key}: applied {applied}, suggested {suggested}"))
        })
        .collect()
}

/// The result of checking a report against an after measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Verification {
    /// The version of this JSON shape ([`crate::SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The before run's source.
    pub before_source: String,
    /// The after run's source.
    pub after_source: String,
    /// Suggestions named with `--applied` that the report does not hold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown_applied: Vec<String>,
    /// The predicted-versus-measured pairs, one per applied suggestion and metric.
    pub checks: Vec<PredictionCheck>,
}

/// One side of the comparison: the run and its settings.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    /// The measurements.
    pub run: &'a Run,
    /// The run configuration (`current_config` keys), for detecting what changed and the
    /// batch size.
    pub config: &'a BTreeMap<String, String>,
}

/// The configuration keys a change sets.
fn config_keys(change: &Change) -> &'static [&'static str] {
    match change {
        Change::BatchSize(_) => &["batch_size"],
        Change::SequenceLength(_) => &["seq_len", "prompt_len", "new_tokens"],
        Change::Precision(_) => &["precision"],
        Change::Tf32(_) => &["tf32"],
        Change::Weights(_) => &["quantization", "weights"],
        Change::KvCacheDtype(_) => &["kv_cache_dtype"],
        Change::KvCache(_) => &["kv_cache"],
        Change::Attention(_) => &["flash_attention", "attention"],
        Change::GradientCheckpointing(_) => &["gradient_checkpointing"],
        Change::Threads(_) => &["num_threads"],
        Change::Optimizer(_) => &["optimizer"],
        Change::TensorParallel(_) => &["tensor_parallel"],
        Change::Lora(_) => &["lora_rank"],
        Change::SlidingWindow(_) => &["sliding_window"],
        Change::ShardParameters(_) => &["shard_parameters", "zero_stage"],
        Change::Shard(_) => &["zero_stage", "data_parallel"],
        Change::DataParallel(_) => &["data_parallel"],
        Change::CpuOffload(_) => &["cpu_offload"],
        Change::GradientAccumulation(_) => &["gradient_accumulation"],
        Change::PipelineParallel(_) => &["pipeline_stages", "micro_batches"],
        Change::KeepLayers(_) => &["layers"],
        Change::Sparse24(_) => &["sparsity"],
        Change::AmxInt8(_) => &["engine"],
        Change::NumaProcesses(_) => &["numa_processes"],
        Change::Compile(_) => &["compile"],
        Change::PagedKvCache(_) => &["paged_kv_cache", "engine"],
        Change::Speculate(_) => &["speculative_decoding"],
        // A change added to core after this table: not detected from the configuration
        // (name it with `--applied`).
        _ => &[],
    }
}

/// The keys that show each of a suggestion's changes made: for every change, one of its
/// configuration keys whose value differs between the two configurations. Empty when some
/// change shows in neither (the suggestion was not, or not wholly, applied).
fn changed_keys(
    suggestion: &OptimizationSuggestion,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut keys = Vec::new();
    for change in &suggestion.changes {
        let changed = config_keys(change)
            .iter()
            .find(|key| after.contains_key(**key) && before.get(**key) != after.get(**key));
        match changed {
            Some(key) => keys.push((*key).to_owned()),
            None => return Vec::new(),
        }
    }
    keys.dedup();
    keys
}

fn batch(config: &BTreeMap<String, String>) -> f64 {
    config
        .get("batch_size")
        .and_then(|b| b.parse::<f64>().ok())
        .filter(|b| *b >= 1.0)
        .unwrap_or(1.0)
}

/// Checks the report's applied suggestions against the measured change from `before` to
/// `after`. `applied` names suggestions (by id or rule id) the user says were applied; with
/// none named, a suggestion is applied when the after configuration changed a setting it
/// changes.
pub fn verify(
    report: &OptimizationReport,
    before: Side<'_>,
    after: Side<'_>,
    applied: &[String],
) -> Verification {
    let mut checks = Vec::new();
    let unknown_applied = applied
        .iter()
        .filter(|id| {
            !report
                .suggestions
                .iter()
                .any(|s| &s.id == *id || &s.rule_id == *id)
        })
        .cloned()
        .collect();
    let steps = before.run.step_stats().zip(after.run.step_stats());
    for suggestion in &report.suggestions {
        let applied_by = if applied.is_empty() {
            let keys = changed_keys(suggestion, before.config, after.config);
            if keys.is_empty() {
                continue;
            }
            AppliedBy::Config(keys)
        } else if applied
            .iter()
            .any(|id| id == &suggestion.id || id == &suggestion.rule_id)
        {
            AppliedBy::Named
        } else {
            continue;
        };
        let differently = applied_differently(suggestion, after.config);
        for improvement in &suggestion.expected_improvement {
            let (measured, ci, note) = measure(
                improvement.metric,
                steps,
                batch(before.config),
                batch(after.config),
            );
            let (inside, off_by, relative_error) = match measured {
                Some(m) => {
                    let nearest = m.clamp(improvement.min_reduction, improvement.max_reduction);
                    let off = m - nearest;
                    let relative = if nearest.abs() > f64::EPSILON {
                        off / nearest.abs()
                    } else {
                        off
                    };
                    (Some(off == 0.0), Some(off), Some(relative))
                }
                None => (None, None, None),
            };
            checks.push(PredictionCheck {
                suggestion: suggestion.id.clone(),
                rule: suggestion.rule_id.clone(),
                applied_by: applied_by.clone(),
                metric: improvement.metric,
                predicted_min: improvement.min_reduction,
                predicted_max: improvement.max_reduction,
                measured,
                measured_ci95: ci,
                inside,
                off_by,
                relative_error,
                note,
                applied_differently: differently.clone(),
            });
        }
    }
    Verification {
        schema_version: crate::SCHEMA_VERSION,
        before_source: before.run.source.clone(),
        after_source: after.run.source.clone(),
        unknown_applied,
        checks,
    }
}

type Measured = (Option<f64>, Option<(f64, f64)>, Option<String>);

/// The measured reduction of a metric: latency from the mean step time, throughput from the
/// time per sample (step time over batch size).
fn measure(
    metric: ImprovementMetric,
    steps: Option<(SampleStats, SampleStats)>,
    before_batch: f64,
    after_batch: f64,
) -> Measured {
    let Some((before, after)) = steps else {
        return (
            None,
            None,
            Some("a run has no step times or latency".to_owned()),
        );
    };
    let (before_scale, after_scale) = match metric {
        ImprovementMetric::Latency => (1.0, 1.0),
        ImprovementMetric::Throughput => (before_batch, after_batch),
        _ => {
            return (
                None,
                None,
                Some(format!(
                    "{} is not measured by step times or request latency",
                    metric.as_str()
                )),
            );
        }
    };
    let scale = |s: SampleStats, by: f64| SampleStats {
        mean: s.mean / by,
        std_dev: s.std_dev / by,
        count: s.count,
    };
    let (b, a) = (scale(before, before_scale), scale(after, after_scale));
    if b.mean.is_nan() || b.mean <= 0.0 {
        return (None, None, Some("the before run's time is zero".to_owned()));
    }
    let reduction = 1.0 - a.mean / b.mean;
    // The reduction is −difference / before mean; its interval follows the difference's
    // (treating the before mean as known, a first-order approximation).
    let ci = welch_test(&b, &a).map(|t| (-t.ci95_high / b.mean, -t.ci95_low / b.mean));
    (Some(reduction), ci, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use advisor_core::ExpectedImprovement;

    fn report() -> OptimizationReport {
        let json = r#"{"schema_version": 1, "inputs": {"config": {}, "provided": [],
            "rules_run": []}, "suggestions": [], "diagnostics": [], "summary":
            {"suggestion_count": 0, "by_impact": {}, "combined": [], "method": ""}}"#;
        let mut report: OptimizationReport = match serde_json::from_str(json) {
            Ok(report) => report,
            Err(error) => panic!("minimal report: {error}"),
        };
        let mut suggestion: OptimizationSuggestion = match serde_json::from_value(
            serde_json::json!({"id": "kv_cache", "rule_id": "kv_cache", "category": "memory",
                "impact": "high", "difficulty": "easy", "title": "t", "description": "d"}),
        ) {
            Ok(s) => s,
            Err(error) => panic!("minimal suggestion: {error}"),
        };
        suggestion.changes = vec![Change::KvCache(true)];
        suggestion.expected_improvement = vec![ExpectedImprovement::new(
            ImprovementMetric::Latency,
            0.6,
            0.75,
            "test",
        )];
        report.suggestions.push(suggestion);
        report
    }

    fn run(times: &[f64]) -> Run {
        Run {
            step_times_us: times.to_vec(),
            ..Run::default()
        }
    }

    #[test]
    fn a_changed_setting_marks_the_suggestion_applied() {
        let report = report();
        let before_config = BTreeMap::from([("kv_cache".to_owned(), "false".to_owned())]);
        let after_config = BTreeMap::from([("kv_cache".to_owned(), "true".to_owned())]);
        let (before, after) = (run(&[100.0, 101.0, 99.0]), run(&[50.0, 51.0, 49.0]));
        let result = verify(
            &report,
            Side {
                run: &before,
                config: &before_config,
            },
            Side {
                run: &after,
                config: &after_config,
            },
            &[],
        );
        let [check] = result.checks.as_slice() else {
            panic!("one check: {result:?}");
        };
        assert_eq!(
            check.applied_by,
            AppliedBy::Config(vec!["kv_cache".to_owned()])
        );
        assert!((check.measured.unwrap_or(0.0) - 0.5).abs() < 1e-9);
        assert_eq!(check.inside, Some(false));
        // 0.5 measured against the nearest end 0.6.
        assert!((check.off_by.unwrap_or(0.0) + 0.1).abs() < 1e-9);
        assert!((check.relative_error.unwrap_or(0.0) + 1.0 / 6.0).abs() < 1e-9);
    }

    #[test]
    fn an_unchanged_config_applies_nothing_unless_named() {
        let report = report();
        let config = BTreeMap::new();
        let (before, after) = (run(&[100.0, 101.0]), run(&[30.0, 31.0]));
        let side = |run| Side {
            run,
            config: &config,
        };
        assert!(
            verify(&report, side(&before), side(&after), &[])
                .checks
                .is_empty()
        );
        let named = verify(
            &report,
            side(&before),
            side(&after),
            &["kv_cache".to_owned(), "x".to_owned()],
        );
        assert_eq!(named.checks.len(), 1);
        assert_eq!(named.checks[0].inside, Some(true));
        assert_eq!(named.unknown_applied, vec!["x".to_owned()]);
    }

    #[test]
    fn a_setting_applied_with_another_value_is_said() {
        let mut report = report();
        report.suggestions[0].changes = vec![Change::BatchSize(4)];
        report.suggestions[0].expected_improvement[0].metric = ImprovementMetric::Throughput;
        let before_config = BTreeMap::from([("batch_size".to_owned(), "1".to_owned())]);
        let mut after_config = BTreeMap::from([("batch_size".to_owned(), "8".to_owned())]);
        let (before, after) = (run(&[100.0, 101.0]), run(&[600.0, 610.0]));
        let check = |after_config: &BTreeMap<String, String>| {
            verify(
                &report,
                Side {
                    run: &before,
                    config: &before_config,
                },
                Side {
                    run: &after,
                    config: after_config,
                },
                &[],
            )
            .checks
        };
        let checks = check(&after_config);
        assert_eq!(
            checks[0].applied_differently,
            vec!["batch_size: applied 8, suggested 4".to_owned()]
        );
        after_config.insert("batch_size".to_owned(), "4".to_owned());
        assert!(check(&after_config)[0].applied_differently.is_empty());
    }
}
