//! Compares runs, and checks the advisor's predictions against what a change measured.
//!
//! [`compare`] takes two [`Run`]s (per-step times or latency statistics, the GPU breakdown,
//! kernels and operators) and gives a [`RunDiff`]: the step-time change with Welch's t-test
//! against the step-to-step noise, the breakdown per step, the items that changed most
//! (matched by kind, name and shapes), new and vanished ones, and regressions. [`verify`]
//! takes a report the advisor wrote before a change and the runs before and after, works out
//! which suggestions were applied, and pairs each predicted range with the measured change.
//! Pure: no I/O; callers read the files.
//!
//! ```
//! use advisor_compare::{DiffOptions, Run, compare};
//!
//! let before = Run { step_times_us: vec![100.0, 102.0, 98.0, 101.0], ..Run::default() };
//! let after = Run { step_times_us: vec![60.0, 61.0, 59.0, 60.5], ..Run::default() };
//! let diff = compare(&before, &after, &DiffOptions::default());
//! let step = diff.step_time.as_ref().expect("both runs have steps");
//! assert!(step.test.as_ref().is_some_and(|t| t.significant));
//! assert!(diff.verdict().starts_with("40.0 % faster"));
//! ```

/// The version of the `diff` and `verify` JSON shapes: raised when a field changes meaning
/// or goes away (adding one does not).
pub const SCHEMA_VERSION: u32 = 1;

mod diff;
mod run;
mod stats;
mod verify;

pub use crate::{
    diff::{BreakdownDiff, Delta, DiffOptions, ItemDiff, RunDiff, StepTimeDiff, compare},
    run::{Run, WorkItem, WorkKind},
    stats::{SampleStats, WelchTest, welch_test},
    verify::{AppliedBy, PredictionCheck, Side, Verification, verify},
};
