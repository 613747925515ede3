//! The combined plan: every compatible change applied together in one simulation, and the
//! trace's slack pools claimed once each.

use std::collections::BTreeMap;

use crate::{
    change::{Change, SlackClaim, SlackPool},
    facts::ResolvedFacts,
    suggestion::{ExpectedImprovement, OptimizationSuggestion},
};

/// A performance model that can run a set of changes together. `advisor-model` implements
/// it; the engine uses it for the report's combined improvement.
pub trait PlanModel: Send + Sync {
    /// The improvement of applying every change at once, per metric; `None` when the facts
    /// do not allow a simulation. A time the changes make worse in every scenario comes as a
    /// negative reduction (`-0.25`: 25 % longer), so the summary can say the plan trades it.
    fn simulate(
        &self,
        facts: &ResolvedFacts,
        changes: &[Change],
    ) -> Option<Vec<ExpectedImprovement>>;

    /// What the model says of the run as configured (its time and memory, how it compares
    /// with a measurement), shown once in the report.
    fn notes(&self, _facts: &ResolvedFacts) -> Vec<String> {
        Vec::new()
    }

    /// The model's time and memory before any change, after each suggestion's changes alone
    /// (`(id, changes)`, in report order) and after the combined `plan`, for the report's
    /// charts; `None` when the facts do not allow a model run.
    fn projections(
        &self,
        _facts: &ResolvedFacts,
        _suggestions: &[(&str, &[Change])],
        _plan: &[Change],
    ) -> Option<crate::report::ModelProjections> {
        None
    }
}

/// The changes of the suggestions, in report order, the first of each key kept: a
/// higher-ranked suggestion's setting wins over a lower-ranked one's.
pub fn compatible_changes(suggestions: &[OptimizationSuggestion]) -> Vec<Change> {
    let mut seen = std::collections::BTreeSet::new();
    let mut changes = Vec::new();
    for suggestion in suggestions {
        for change in &suggestion.changes {
            if seen.insert(change.key()) {
                changes.push(*change);
            }
        }
    }
    changes
}

/// Combines slack claims: claims on one pool overlap and take their maximum, capped by the
/// pool; pools are disjoint parts of the step and add. Returns the (min, max) fraction of
/// the step recovered and the total of the pools claimed on.
pub fn combine_slack(claims: &[SlackClaim]) -> Option<(f64, f64, f64)> {
    let mut pools: BTreeMap<SlackPool, (f64, f64, f64)> = BTreeMap::new();
    for claim in claims {
        let pool = claim.pool_fraction.clamp(0.0, 1.0);
        let entry = pools.entry(claim.pool).or_insert((pool, 0.0, 0.0));
        entry.0 = entry.0.max(pool);
        entry.1 = entry.1.max(claim.min_fraction.clamp(0.0, pool));
        entry.2 = entry.2.max(claim.max_fraction.clamp(0.0, pool));
    }
    if pools.is_empty() {
        return None;
    }
    let (mut pool_total, mut low, mut high) = (0.0, 0.0, 0.0);
    for (pool, min, max) in pools.values() {
        pool_total += pool;
        low += min;
        high += max;
    }
    let cap = pool_total.min(0.999);
    Some((low.min(cap), high.min(cap), pool_total))
}

/// Combines a modelled reduction `(min, max)` of the busy time with recovered slack: the
/// step is `busy + Σ pools`; changes shrink the busy part, claims remove slack.
pub fn combine_latency(model: Option<(f64, f64)>, slack: Option<(f64, f64, f64)>) -> (f64, f64) {
    let (slack_low, slack_high, pool) = slack.unwrap_or((0.0, 0.0, 0.0));
    let busy = (1.0 - pool).max(0.0);
    let (model_low, model_high) = model.unwrap_or((0.0, 0.0));
    let after = |m: f64, s: f64| busy * (1.0 - m) + (pool - s);
    (
        1.0 - after(model_low, slack_low),
        1.0 - after(model_high, slack_high),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(pool_fraction: f64, max: f64) -> SlackClaim {
        SlackClaim {
            pool: SlackPool::GpuIdle,
            pool_fraction,
            min_fraction: 0.0,
            max_fraction: max,
        }
    }

    #[test]
    fn claims_on_one_pool_take_their_maximum() {
        // Three rules each claiming the whole 45 % idle pool recover 45 %, not 1 − 0.55³.
        let claims = [claim(0.45, 0.45), claim(0.45, 0.45), claim(0.45, 0.30)];
        let (low, high, pool) = combine_slack(&claims).unwrap();
        assert_eq!((low, high, pool), (0.0, 0.45, 0.45));
        let (_, latency) = combine_latency(None, Some((low, high, pool)));
        assert!((latency - 0.45).abs() < 1e-12);
        // ×1.8 at most.
        assert!(1.0 / (1.0 - latency) <= 1.82);
    }

    #[test]
    fn a_small_claim_on_a_larger_pool_recovers_only_the_claim() {
        // 8 % idle, one rule recovering 0–4 % of it: −0–4 %, not −4–8 %.
        let claims = [SlackClaim {
            pool: SlackPool::GpuIdle,
            pool_fraction: 0.08,
            min_fraction: 0.0,
            max_fraction: 0.04,
        }];
        let (low, high) = combine_latency(None, combine_slack(&claims));
        assert!(
            low.abs() < 1e-12 && (high - 0.04).abs() < 1e-12,
            "{low}–{high}"
        );
    }

    #[test]
    fn a_claim_never_exceeds_its_pool() {
        let (_, high, _) = combine_slack(&[claim(0.2, 0.9)]).unwrap();
        assert_eq!(high, 0.2);
    }

    #[test]
    fn busy_time_and_slack_combine_without_double_counting() {
        // Half the step idle, all of it recovered, and the busy half made 2× faster: ×4.
        let (_, high) = combine_latency(Some((0.5, 0.5)), Some((0.5, 0.5, 0.5)));
        assert!((high - 0.75).abs() < 1e-12);
    }
}
