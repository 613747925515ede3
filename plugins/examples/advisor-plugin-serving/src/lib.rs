//! An example advisor plugin: `serving_slo`, a serving latency budget (`slo_ttft_ms`,
//! `slo_tpot_ms`) checked against the performance model's time to first token and time per
//! output token, a check the built-in rules do not make.
//!
//! The rule is an ordinary [`OptimizationRule`](advisor_core::OptimizationRule)
//! ([`ServingSlo`]); [`advisor_plugin_api::export_plugin!`] exports it from the
//! `cdylib`. Its tests (`src/tests.rs`) call the rule directly; the host's tests load the
//! library. To try it:
//!
//! ```text
//! cargo xtask build-plugins
//! advisor analyze --example llama-2-7b --hardware nvidia-a100-80gb \
//!     --set mode=inference --set batch_size=1 --set slo_tpot_ms=5 --plugins target/plugins
//! ```

mod serving_slo;

pub use crate::serving_slo::ServingSlo;

#[cfg(test)]
mod tests;

advisor_plugin_api::export_plugin! {
    name: "advisor-plugin-serving",
    version: env!("CARGO_PKG_VERSION"),
    rules: [
        "Serving latency budget" => ServingSlo,
    ],
}
