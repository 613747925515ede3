//! Profile results: a tree of named operations with call counts and times.

use serde::{Deserialize, Serialize};

/// A profile: the total time and the tree of operations under it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ProfileResults {
    /// Wall time the profile covers.
    pub total_ms: f64,
    /// Top-level operations.
    #[serde(default)]
    pub operations: Vec<ProfileOperation>,
    /// Facts from a PyTorch profiler trace (`advisor analyze --trace`), when one was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<crate::TraceFacts>,
}

/// One operation, merged over all its calls at the same place in the tree.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ProfileOperation {
    /// Operation name, for example `aten::add` or a kernel name.
    pub name: String,
    /// Number of calls.
    pub calls: u64,
    /// Time including children.
    pub total_ms: f64,
    /// Time excluding children.
    pub self_ms: f64,
    /// Operations called from this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ProfileOperation>,
}

impl ProfileResults {
    /// Visits every operation in the tree, depth first, with its depth (0 at the top).
    pub fn walk(&self, mut visit: impl FnMut(&ProfileOperation, usize)) {
        // An explicit stack: profile trees from real traces can be deeper than the call stack.
        let mut stack: Vec<(&ProfileOperation, usize)> =
            self.operations.iter().rev().map(|op| (op, 0)).collect();
        while let Some((operation, depth)) = stack.pop() {
            visit(operation, depth);
            stack.extend(
                operation
                    .children
                    .iter()
                    .rev()
                    .map(|child| (child, depth + 1)),
            );
        }
    }
}

impl ProfileOperation {
    /// Mean time per call, or `None` when the operation was never called.
    pub fn mean_ms_per_call(&self) -> Option<f64> {
        (self.calls > 0).then(|| self.total_ms / self.calls as f64)
    }
}
