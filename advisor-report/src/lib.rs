//! Renders an [`OptimizationReport`] for people (Markdown, or a self-contained HTML page) and
//! machines (JSON).
//!
//! [`RenderReport`] keeps the seed's spelling, `report.to_markdown()`:
//!
//! ```
//! use advisor_core::{AnalysisContext, OptimizationAdvisor};
//! use advisor_report::RenderReport;
//!
//! let report = OptimizationAdvisor::empty().analyze(&AnalysisContext::default()).unwrap();
//! assert!(report.to_markdown().starts_with("# Optimization report"));
//! let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
//! assert_eq!(json["schema_version"], 1);
//! ```
//!
//! Text from the inputs (model, kernel and file names, config values, plugin prose) is never
//! shown raw: [`escape_control`] makes it safe on a terminal, the Markdown and HTML renderers
//! keep it text (no headings, links, images or HTML of its own), and the JSON keeps every
//! value exactly, with [`escape_json_controls`] spelling terminal controls as `\u` escapes.

mod charts;
mod html;
mod markdown;
mod text;

use advisor_core::OptimizationReport;

pub use crate::{
    markdown::group_digits,
    text::{escape_control, escape_json_controls},
};

/// Rendering methods on [`OptimizationReport`].
pub trait RenderReport {
    /// Markdown for people: summary, suggestions with evidence and steps, diagnostics.
    fn to_markdown(&self) -> String;
    /// Pretty JSON with a top-level `schema_version`; values exactly as in the report, with
    /// terminal controls written as `\u` escapes.
    fn to_json(&self) -> String;
    /// A self-contained HTML page (inline CSS and SVG charts, no scripts, fonts or links out)
    /// with the Markdown report's content, a contents list, severity colours, light and dark
    /// schemes, and charts of the model's predictions and the trace overview.
    fn to_html(&self) -> String;
}

impl RenderReport for OptimizationReport {
    fn to_markdown(&self) -> String {
        markdown::render(self)
    }

    fn to_json(&self) -> String {
        // The report is plain data with string keys: serializing cannot fail.
        let json = serde_json::to_string_pretty(self).unwrap_or_default();
        escape_json_controls(&json).into_owned()
    }

    fn to_html(&self) -> String {
        html::render(self)
    }
}

/// Parses a report written by [`RenderReport::to_json`].
pub fn from_json(text: &str) -> Result<OptimizationReport, serde_json::Error> {
    serde_json::from_str(text)
}
