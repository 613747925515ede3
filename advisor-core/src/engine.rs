//! The advisor engine: runs rules over a context and collects a report.

use std::{
    collections::BTreeSet,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::Arc,
};

use crate::{
    context::{AnalysisContext, ContextError},
    device::{AcceleratorCatalog, EmptyCatalog},
    facts::ResolvedFacts,
    plan::PlanModel,
    report::{Diagnostic, DiagnosticSeverity, InputSummary, OptimizationReport},
    rule::{OptimizationRule, RuleError, RuleInput},
};

/// Runs a set of rules over an [`AnalysisContext`].
///
/// The facts are resolved once per analysis with GPU figures from an injected
/// [`AcceleratorCatalog`], and the combined improvement is one simulation by an injected
/// [`PlanModel`]. `advisor-rules-builtin` adds `OptimizationAdvisor::new()` with every
/// built-in rule, the accelerator table and the workload model.
pub struct OptimizationAdvisor {
    rules: Vec<Box<dyn OptimizationRule>>,
    disabled: BTreeSet<String>,
    catalog: Arc<dyn AcceleratorCatalog>,
    plan_model: Option<Arc<dyn PlanModel>>,
}

impl Default for OptimizationAdvisor {
    fn default() -> Self {
        OptimizationAdvisor {
            rules: Vec::new(),
            disabled: BTreeSet::new(),
            catalog: Arc::new(EmptyCatalog),
            plan_model: None,
        }
    }
}

impl std::fmt::Debug for OptimizationAdvisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OptimizationAdvisor")
            .field(
                "rules",
                &self.rules.iter().map(|r| r.id()).collect::<Vec<_>>(),
            )
            .field("disabled", &self.disabled)
            .finish()
    }
}

/// A rule id that is already taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a rule with id `{0}` is already registered")]
pub struct DuplicateRuleId(pub String);

impl OptimizationAdvisor {
    /// An advisor with no rules.
    pub fn empty() -> OptimizationAdvisor {
        OptimizationAdvisor::default()
    }

    /// Sets where GPU figures come from.
    pub fn set_catalog(&mut self, catalog: Arc<dyn AcceleratorCatalog>) {
        self.catalog = catalog;
    }

    /// Sets the performance model that combines the report's changes.
    pub fn set_plan_model(&mut self, model: Arc<dyn PlanModel>) {
        self.plan_model = Some(model);
    }

    /// Resolves the facts of a context the way [`analyze`](Self::analyze) does.
    pub fn resolve(&self, context: &AnalysisContext) -> Result<ResolvedFacts, ContextError> {
        let config = context.run_config()?;
        Ok(ResolvedFacts::resolve(
            context,
            &config,
            self.catalog.as_ref(),
        ))
    }

    /// Adds a rule. Ids are unique: a second rule with a taken id is refused.
    pub fn add_rule(&mut self, rule: Box<dyn OptimizationRule>) -> Result<(), DuplicateRuleId> {
        if self.rules.iter().any(|existing| existing.id() == rule.id()) {
            return Err(DuplicateRuleId(rule.id().to_owned()));
        }
        self.rules.push(rule);
        Ok(())
    }

    /// Disables a rule by id. Returns whether a rule with that id is registered.
    pub fn disable(&mut self, id: &str) -> bool {
        self.disabled.insert(id.to_owned());
        self.rules.iter().any(|rule| rule.id() == id)
    }

    /// The registered rules, enabled or not.
    pub fn rules(&self) -> impl Iterator<Item = &dyn OptimizationRule> {
        self.rules.iter().map(|rule| rule.as_ref())
    }

    /// Whether a rule is enabled.
    pub fn is_enabled(&self, id: &str) -> bool {
        !self.disabled.contains(id)
    }

    /// Runs every enabled rule. Fails only when the run configuration is invalid; a rule
    /// that fails or panics becomes a diagnostic and the other rules still run.
    pub fn analyze(&self, context: &AnalysisContext) -> Result<OptimizationReport, ContextError> {
        let config = context.run_config()?;
        let facts = ResolvedFacts::resolve(context, &config, self.catalog.as_ref());
        let mut diagnostics: Vec<Diagnostic> = config
            .warnings
            .iter()
            .map(|warning| Diagnostic::new(DiagnosticSeverity::Warning, "config", &warning.message))
            .chain(
                facts
                    .warnings
                    .iter()
                    .map(|warning| Diagnostic::new(DiagnosticSeverity::Warning, "inputs", warning)),
            )
            .collect();
        let input = RuleInput {
            context,
            config: &config,
            facts: &facts,
        };
        let mut suggestions = Vec::new();
        let mut rules_run = Vec::new();
        for rule in self.rules.iter().filter(|rule| self.is_enabled(rule.id())) {
            let id = rule.id().to_owned();
            rules_run.push(id.clone());
            let outcome = catch_unwind(AssertUnwindSafe(|| rule.analyze(&input)));
            let diagnostic =
                |severity, message: String| Diagnostic::new(severity, id.clone(), message);
            match outcome {
                Ok(Ok(found)) => {
                    for mut suggestion in found {
                        suggestion.rule_id = id.clone();
                        let invalid: Vec<String> = suggestion
                            .expected_improvement
                            .iter()
                            .filter(|i| !i.is_valid())
                            .map(|i| {
                                format!(
                                    "{} {}–{}",
                                    i.metric.as_str(),
                                    i.min_reduction,
                                    i.max_reduction
                                )
                            })
                            .collect();
                        if !invalid.is_empty() {
                            suggestion.expected_improvement.retain(|i| i.is_valid());
                            diagnostics.push(diagnostic(
                                DiagnosticSeverity::Error,
                                format!(
                                    "rule bug: suggestion `{}` had expected improvements outside [0, 1) ({}); they were dropped",
                                    suggestion.id,
                                    invalid.join(", ")
                                ),
                            ));
                        }
                        suggestions.push(suggestion);
                    }
                }
                Ok(Err(RuleError::Needs(missing))) => {
                    let mut missing = missing;
                    missing.sort();
                    missing.dedup();
                    let mut note = diagnostic(
                        DiagnosticSeverity::Info,
                        format!(
                            "could not decide: needs {}",
                            missing
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                    note.missing = missing;
                    diagnostics.push(note);
                }
                Ok(Err(RuleError::MissingFacts(needs))) => diagnostics.push(diagnostic(
                    DiagnosticSeverity::Info,
                    format!("could not decide: needs {needs}"),
                )),
                Ok(Err(error)) => diagnostics.push(diagnostic(
                    DiagnosticSeverity::Error,
                    format!("rule failed: {error}"),
                )),
                Err(panic) => diagnostics.push(diagnostic(
                    DiagnosticSeverity::Error,
                    format!("rule panicked: {}", panic_message(panic.as_ref())),
                )),
            }
        }
        diagnostics.sort_by(|a, b| (a.severity, &a.source).cmp(&(b.severity, &b.source)));
        let mut inputs = InputSummary::from_context(context);
        inputs.rules_run = rules_run;
        // Memory is the constraint when the run does not fit (a critical memory suggestion) or
        // its measured peak is within 10 % of the device.
        let measured_tight = match (facts.measured.peak_memory_bytes, facts.device_memory()) {
            (Some(peak), Ok(capacity)) => peak as f64 >= 0.9 * capacity.value as f64,
            _ => false,
        };
        let memory_constrained = measured_tight
            || suggestions.iter().any(|s: &crate::OptimizationSuggestion| {
                s.impact == crate::Impact::Critical && s.category == crate::Category::Memory
            });
        let plan_model = self.plan_model.clone();
        let model_notes = plan_model
            .as_ref()
            .map(|model| model.notes(&facts))
            .unwrap_or_default();
        let mut report = OptimizationReport::with_plan(
            inputs,
            suggestions,
            diagnostics,
            memory_constrained,
            |changes| plan_model.as_ref()?.simulate(&facts, changes),
        );
        report.model_notes = model_notes;
        if let Some(model) = &plan_model {
            let changing: Vec<(&str, &[crate::Change])> = report
                .suggestions
                .iter()
                .filter(|s| !s.changes.is_empty())
                .map(|s| (s.id.as_str(), s.changes.as_slice()))
                .collect();
            report.projections = model.projections(&facts, &changing, &report.summary.plan);
        }
        Ok(report)
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

impl InputSummary {
    /// Summarizes what a context holds.
    pub fn from_context(context: &AnalysisContext) -> InputSummary {
        let model = context.model_graph.as_ref();
        let hardware = context.hardware_info.as_ref().map(|hw| {
            let mut parts = Vec::new();
            if let Some(cpu) = &hw.cpu_model {
                let cores = hw
                    .cpu_cores
                    .map(|c| format!(", {c} cores"))
                    .unwrap_or_default();
                parts.push(format!("{cpu}{cores}"));
            } else if let Some(cores) = hw.cpu_cores {
                parts.push(format!("{cores} CPU cores"));
            }
            if let Some(mb) = hw.system_memory_mb {
                parts.push(format!("{:.1} GiB RAM", mb as f64 / 1024.0));
            }
            match &hw.gpu_model {
                Some(gpu) => {
                    let count = hw
                        .gpu_count
                        .filter(|c| *c > 1)
                        .map(|c| format!("{c} × "))
                        .unwrap_or_default();
                    let memory = hw
                        .gpu_memory_mb
                        .map(|mb| format!(" ({:.0} GiB)", mb as f64 / 1024.0))
                        .unwrap_or_default();
                    parts.push(format!("{count}{gpu}{memory}"));
                }
                None => parts.push("no GPU".to_owned()),
            }
            parts.join("; ")
        });
        let provided = [
            ("model_graph", context.model_graph.is_some()),
            ("profile_results", context.profile_results.is_some()),
            ("latency_metrics", context.latency_metrics.is_some()),
            ("memory_metrics", context.memory_metrics.is_some()),
            ("throughput_metrics", context.throughput_metrics.is_some()),
            ("hardware_info", context.hardware_info.is_some()),
            ("current_config", !context.current_config.is_empty()),
        ]
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(name, _)| name.to_owned())
        .collect();
        InputSummary {
            model: model.and_then(|m| m.name.clone()),
            parameters: model.and_then(|m| m.parameter_count()),
            architecture: model
                .and_then(|m| m.facts.architecture)
                .map(|a| a.as_str().to_owned()),
            hardware,
            config: context.current_config.clone(),
            provided,
            rules_run: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        OptimizationSuggestion,
        suggestion::{Category, Difficulty, ExpectedImprovement, Impact, ImprovementMetric},
    };

    struct Fixed {
        id: &'static str,
        impact: Impact,
        difficulty: Difficulty,
        latency: f64,
    }

    impl OptimizationRule for Fixed {
        fn id(&self) -> &str {
            self.id
        }
        fn category(&self) -> Category {
            Category::Compute
        }
        fn description(&self) -> &str {
            "test rule"
        }
        fn analyze(&self, _: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
            Ok(vec![
                OptimizationSuggestion::new(
                    self.id,
                    Category::Compute,
                    self.impact,
                    self.difficulty,
                    "t",
                )
                .improvement(ExpectedImprovement::new(
                    ImprovementMetric::Latency,
                    self.latency,
                    self.latency,
                    "test",
                )),
            ])
        }
    }

    struct Panics;
    impl OptimizationRule for Panics {
        fn id(&self) -> &str {
            "panics"
        }
        fn category(&self) -> Category {
            Category::Memory
        }
        fn description(&self) -> &str {
            "panics"
        }
        fn analyze(&self, _: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
            panic!("boom")
        }
    }

    struct Undecided;
    impl OptimizationRule for Undecided {
        fn id(&self) -> &str {
            "undecided"
        }
        fn category(&self) -> Category {
            Category::Memory
        }
        fn description(&self) -> &str {
            "needs data"
        }
        fn analyze(&self, _: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
            Err(RuleError::MissingFacts("memory_metrics.peak_bytes".into()))
        }
    }

    fn rule(id: &'static str, impact: Impact, difficulty: Difficulty, latency: f64) -> Box<Fixed> {
        Box::new(Fixed {
            id,
            impact,
            difficulty,
            latency,
        })
    }

    #[test]
    fn orders_critical_first_then_by_gain_for_difficulty() {
        let mut advisor = OptimizationAdvisor::empty();
        advisor
            .add_rule(rule("b", Impact::High, Difficulty::Hard, 0.1))
            .unwrap();
        advisor
            .add_rule(rule("a", Impact::High, Difficulty::Hard, 0.1))
            .unwrap();
        advisor
            .add_rule(rule("c", Impact::High, Difficulty::Easy, 0.1))
            .unwrap();
        advisor
            .add_rule(rule("d", Impact::Critical, Difficulty::Hard, 0.1))
            .unwrap();
        advisor
            .add_rule(rule("e", Impact::Low, Difficulty::Easy, 0.1))
            .unwrap();
        let report = advisor.analyze(&AnalysisContext::default()).unwrap();
        let ids: Vec<_> = report.suggestions.iter().map(|s| s.id.as_str()).collect();
        // The same gain for less work ranks first, whatever impact a rule claims.
        assert_eq!(ids, ["d", "c", "e", "a", "b"]);
        assert_eq!(report.high_impact_suggestions().len(), 4);
        assert_eq!(report.easy_suggestions().len(), 2);
    }

    struct Halves;
    impl PlanModel for Halves {
        fn simulate(
            &self,
            _: &ResolvedFacts,
            changes: &[crate::Change],
        ) -> Option<Vec<ExpectedImprovement>> {
            // Each distinct change halves latency in this toy model.
            let keep = 0.5f64.powi(changes.len() as i32);
            Some(vec![ExpectedImprovement::new(
                ImprovementMetric::Latency,
                1.0 - keep,
                1.0 - keep,
                "toy",
            )])
        }
    }

    #[test]
    fn combined_improvement_is_one_simulation_of_compatible_changes() {
        struct Batch(&'static str, u64);
        impl OptimizationRule for Batch {
            fn id(&self) -> &str {
                self.0
            }
            fn category(&self) -> Category {
                Category::Compute
            }
            fn description(&self) -> &str {
                "sets a batch"
            }
            fn analyze(&self, _: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
                Ok(vec![
                    OptimizationSuggestion::new(
                        self.0,
                        Category::Compute,
                        Impact::High,
                        Difficulty::Easy,
                        "t",
                    )
                    .change(crate::Change::BatchSize(self.1))
                    .improvement(ExpectedImprovement::new(
                        ImprovementMetric::Latency,
                        0.5,
                        0.5,
                        "t",
                    )),
                ])
            }
        }
        let mut advisor = OptimizationAdvisor::empty();
        advisor.set_plan_model(Arc::new(Halves));
        advisor.add_rule(Box::new(Batch("a", 16))).unwrap();
        advisor.add_rule(Box::new(Batch("b", 32))).unwrap();
        // A suggestion without a change is listed but not combined.
        advisor
            .add_rule(rule("c", Impact::High, Difficulty::Easy, 0.5))
            .unwrap();
        let report = advisor.analyze(&AnalysisContext::default()).unwrap();
        // Two batch changes conflict: the first (a's 16) is kept, simulated once: −50 %.
        assert_eq!(report.summary.plan, vec![crate::Change::BatchSize(16)]);
        let latency = &report.summary.combined[0];
        assert_eq!(latency.metric, ImprovementMetric::Latency);
        assert!((latency.max_reduction - 0.5).abs() < 1e-12);
        assert_eq!(report.summary.not_combined, vec!["c".to_owned()]);
    }

    #[test]
    fn an_improvement_outside_the_unit_interval_is_a_rule_bug() {
        let mut advisor = OptimizationAdvisor::empty();
        advisor
            .add_rule(rule("x", Impact::Low, Difficulty::Easy, 1.5))
            .unwrap();
        let report = advisor.analyze(&AnalysisContext::default()).unwrap();
        assert!(report.suggestions[0].expected_improvement.is_empty());
        assert_eq!(report.diagnostics[0].severity, DiagnosticSeverity::Error);
        assert!(
            report.diagnostics[0].message.starts_with("rule bug:"),
            "{:?}",
            report.diagnostics
        );
    }

    #[test]
    fn a_panicking_rule_becomes_a_diagnostic_and_others_run() {
        let mut advisor = OptimizationAdvisor::empty();
        advisor.add_rule(Box::new(Panics)).unwrap();
        advisor.add_rule(Box::new(Undecided)).unwrap();
        advisor
            .add_rule(rule("ok", Impact::Low, Difficulty::Easy, 0.1))
            .unwrap();
        let report = advisor.analyze(&AnalysisContext::default()).unwrap();
        assert_eq!(report.suggestions.len(), 1);
        assert_eq!(report.diagnostics.len(), 2);
        assert_eq!(report.diagnostics[0].source, "panics");
        assert_eq!(report.diagnostics[0].message, "rule panicked: boom");
        assert_eq!(report.diagnostics[1].severity, DiagnosticSeverity::Info);
        assert_eq!(
            report.diagnostics[1].message,
            "could not decide: needs memory_metrics.peak_bytes"
        );
    }

    #[test]
    fn duplicate_ids_are_refused_and_disable_works() {
        let mut advisor = OptimizationAdvisor::empty();
        advisor
            .add_rule(rule("a", Impact::Low, Difficulty::Easy, 0.1))
            .unwrap();
        assert!(
            advisor
                .add_rule(rule("a", Impact::Low, Difficulty::Easy, 0.1))
                .is_err()
        );
        assert!(advisor.disable("a"));
        assert!(!advisor.disable("nope"));
        let report = advisor.analyze(&AnalysisContext::default()).unwrap();
        assert!(report.suggestions.is_empty());
    }

    #[test]
    fn invalid_config_is_an_error_and_unknown_keys_are_warnings() {
        let mut context = AnalysisContext::default();
        context
            .current_config
            .insert("batchsize".into(), "4".into());
        let report = OptimizationAdvisor::empty().analyze(&context).unwrap();
        assert_eq!(report.diagnostics[0].severity, DiagnosticSeverity::Warning);
        context
            .current_config
            .insert("mode".into(), "sleeping".into());
        assert!(OptimizationAdvisor::empty().analyze(&context).is_err());
    }
}
