//! An example advisor plugin: `speculative_decoding`, for decoder models served at small
//! batch on a GPU, a suggestion the built-in rules do not make.
//!
//! The rule is an ordinary [`OptimizationRule`](advisor_core::OptimizationRule)
//! ([`SpeculativeDecoding`]); [`advisor_plugin_api::export_plugin!`] exports it from the
//! `cdylib`. Its tests (`src/tests.rs`) call the rule directly; the host's tests load the
//! library. To try it:
//!
//! ```text
//! cargo xtask build-plugins
//! advisor analyze --example llama-2-7b --hardware nvidia-a100-80gb \
//!     --set mode=inference --set batch_size=1 --plugins target/plugins
//! ```

mod speculative_decoding;

pub use crate::speculative_decoding::SpeculativeDecoding;

#[cfg(test)]
mod tests;

advisor_plugin_api::export_plugin! {
    name: "advisor-plugin-serving",
    version: env!("CARGO_PKG_VERSION"),
    rules: [
        "Speculative decoding" => SpeculativeDecoding,
    ],
}
