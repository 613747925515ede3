//! Profile results: a tree of named operations with call counts and times.
//!
//! Trees read from real traces can be tens of thousands of levels deep, far deeper than the
//! call stack allows a recursive walk to go. Everything here that visits the whole tree
//! (`Drop`, `Clone`, `PartialEq`, [`ProfileResults::walk`], [`ProfileResults::fold_deeper_than`])
//! keeps its own stack on the heap. Serialization and `Debug` nest through serde's and the
//! formatter's APIs, so they are bounded instead: see [`ProfileOperation::MAX_DEPTH`].

use serde::{Deserialize, Serialize, Serializer, ser::SerializeSeq, ser::SerializeStruct};

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
///
/// Deserialized by serde's derive: `serde_json` refuses input nested more than 128
/// containers deep (two per level of this tree), so reading cannot exhaust the stack.
/// Serialized level by level up to [`ProfileOperation::MAX_DEPTH`].
#[derive(Default, Deserialize)]
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

    /// Number of levels in the tree: 0 without operations, 1 with top-level operations only.
    pub fn depth(&self) -> usize {
        let mut depth = 0;
        self.walk(|_, level| depth = depth.max(level + 1));
        depth
    }

    /// Cuts the tree below `max_depth` levels: the operations deeper than that are removed and
    /// their time is added to the self time of their ancestor on the last level kept (its total
    /// time already includes them). Returns the number of operations removed.
    ///
    /// Readers of deep traces call this with [`ProfileOperation::MAX_DEPTH`] so the profile
    /// can be serialized.
    pub fn fold_deeper_than(&mut self, max_depth: usize) -> u64 {
        if max_depth == 0 {
            let removed = count_operations(&self.operations);
            self.operations.clear();
            return removed;
        }
        let mut removed = 0u64;
        let mut stack: Vec<(&mut ProfileOperation, usize)> =
            self.operations.iter_mut().map(|op| (op, 1)).collect();
        while let Some((operation, level)) = stack.pop() {
            if level < max_depth {
                stack.extend(
                    operation
                        .children
                        .iter_mut()
                        .map(|child| (child, level + 1)),
                );
            } else if !operation.children.is_empty() {
                let below = std::mem::take(&mut operation.children);
                removed += count_operations(&below);
                operation.self_ms += below.iter().map(|child| child.total_ms).sum::<f64>();
            }
        }
        removed
    }
}

/// Operations in these trees, at every level.
fn count_operations(operations: &[ProfileOperation]) -> u64 {
    let mut count = 0u64;
    let mut stack: Vec<&ProfileOperation> = operations.iter().collect();
    while let Some(operation) = stack.pop() {
        count += 1;
        stack.extend(&operation.children);
    }
    count
}

impl ProfileOperation {
    /// Deepest tree that is serialized: a deeper one is a serialization error. `serde_json`
    /// reads at most 128 nested containers and each level takes two (the operation and its
    /// `children`), so a deeper tree could not be read back, by the advisor or by a plugin
    /// (whose context document nests the tree four containers down). The trace reader folds
    /// deeper operations into their ancestor on this level, with a warning.
    pub const MAX_DEPTH: usize = 48;

    /// Mean time per call, or `None` when the operation was never called.
    pub fn mean_ms_per_call(&self) -> Option<f64> {
        (self.calls > 0).then(|| self.total_ms / self.calls as f64)
    }

    /// A copy without the children.
    fn leaf(&self, children_capacity: usize) -> ProfileOperation {
        ProfileOperation {
            name: self.name.clone(),
            calls: self.calls,
            total_ms: self.total_ms,
            self_ms: self.self_ms,
            children: Vec::with_capacity(children_capacity),
        }
    }
}

impl Drop for ProfileOperation {
    fn drop(&mut self) {
        // Moves every descendant onto a heap stack, so that each is dropped with no children
        // left and the default recursive drop never goes more than one level deep.
        if self.children.is_empty() {
            return;
        }
        let mut stack = std::mem::take(&mut self.children);
        while let Some(mut operation) = stack.pop() {
            stack.append(&mut operation.children);
        }
    }
}

impl Clone for ProfileOperation {
    fn clone(&self) -> Self {
        // Post-order with an explicit stack: (original, next child to copy, copy so far).
        let mut stack: Vec<(&ProfileOperation, usize, ProfileOperation)> =
            vec![(self, 0, self.leaf(self.children.len()))];
        loop {
            let Some((original, next, _)) = stack.last_mut() else {
                // Unreachable: the root's copy is returned when its frame is popped.
                return self.leaf(0);
            };
            if let Some(child) = original.children.get(*next) {
                *next += 1;
                stack.push((child, 0, child.leaf(child.children.len())));
                continue;
            }
            let Some((_, _, copy)) = stack.pop() else {
                return self.leaf(0);
            };
            match stack.last_mut() {
                Some((_, _, parent)) => parent.children.push(copy),
                None => return copy,
            }
        }
    }
}

impl PartialEq for ProfileOperation {
    fn eq(&self, other: &Self) -> bool {
        let mut stack = vec![(self, other)];
        while let Some((left, right)) = stack.pop() {
            if left.name != right.name
                || left.calls != right.calls
                || left.total_ms != right.total_ms
                || left.self_ms != right.self_ms
                || left.children.len() != right.children.len()
            {
                return false;
            }
            stack.extend(left.children.iter().zip(&right.children));
        }
        true
    }
}

/// Levels `Debug` prints before it only counts what is below.
const DEBUG_DEPTH: usize = 16;

impl std::fmt::Debug for ProfileOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        DebugLevel {
            operation: self,
            depth: 0,
        }
        .fmt(f)
    }
}

struct DebugLevel<'a> {
    operation: &'a ProfileOperation,
    depth: usize,
}

impl std::fmt::Debug for DebugLevel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let operation = self.operation;
        let mut out = f.debug_struct("ProfileOperation");
        out.field("name", &operation.name)
            .field("calls", &operation.calls)
            .field("total_ms", &operation.total_ms)
            .field("self_ms", &operation.self_ms);
        if self.depth + 1 >= DEBUG_DEPTH && !operation.children.is_empty() {
            out.field(
                "children",
                &format_args!("[{} more level(s) not shown]", operation.children.len()),
            );
        } else {
            out.field(
                "children",
                &DebugChildren {
                    children: &operation.children,
                    depth: self.depth + 1,
                },
            );
        }
        out.finish()
    }
}

struct DebugChildren<'a> {
    children: &'a [ProfileOperation],
    depth: usize,
}

impl std::fmt::Debug for DebugChildren<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.children.iter().map(|operation| DebugLevel {
                operation,
                depth: self.depth,
            }))
            .finish()
    }
}

impl Serialize for ProfileOperation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SerializeLevel {
            operation: self,
            depth: 0,
        }
        .serialize(serializer)
    }
}

/// One operation `depth` levels below the operation serialization started at.
struct SerializeLevel<'a> {
    operation: &'a ProfileOperation,
    depth: usize,
}

impl Serialize for SerializeLevel<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let operation = self.operation;
        if self.depth >= ProfileOperation::MAX_DEPTH {
            return Err(serde::ser::Error::custom(format!(
                "the profile's operation tree is deeper than {} levels (at `{}`)",
                ProfileOperation::MAX_DEPTH,
                operation.name
            )));
        }
        let has_children = !operation.children.is_empty();
        let mut out =
            serializer.serialize_struct("ProfileOperation", 4 + usize::from(has_children))?;
        out.serialize_field("name", &operation.name)?;
        out.serialize_field("calls", &operation.calls)?;
        out.serialize_field("total_ms", &operation.total_ms)?;
        out.serialize_field("self_ms", &operation.self_ms)?;
        if has_children {
            out.serialize_field(
                "children",
                &SerializeChildren {
                    children: &operation.children,
                    depth: self.depth + 1,
                },
            )?;
        } else {
            out.skip_field("children")?;
        }
        out.end()
    }
}

struct SerializeChildren<'a> {
    children: &'a [ProfileOperation],
    depth: usize,
}

impl Serialize for SerializeChildren<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_seq(Some(self.children.len()))?;
        for operation in self.children {
            out.serialize_element(&SerializeLevel {
                operation,
                depth: self.depth,
            })?;
        }
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain `levels` deep: one operation per level.
    fn chain(levels: usize) -> ProfileResults {
        let mut operation = ProfileOperation {
            name: format!("op{}", levels - 1),
            calls: 1,
            total_ms: 1.0,
            self_ms: 1.0,
            children: Vec::new(),
        };
        for level in (0..levels - 1).rev() {
            operation = ProfileOperation {
                name: format!("op{level}"),
                calls: 1,
                total_ms: (levels - level) as f64,
                self_ms: 1.0,
                children: vec![operation],
            };
        }
        ProfileResults {
            total_ms: levels as f64,
            operations: vec![operation],
            trace: None,
        }
    }

    #[test]
    fn deep_trees_clone_compare_and_drop_without_recursion() {
        // Deep enough to overflow any thread's stack with recursive clone, eq or drop.
        let profile = chain(200_000);
        let copy = profile.clone();
        assert_eq!(copy.depth(), 200_000);
        assert!(copy == profile);
        let mut changed = copy.clone();
        changed.walk(|_, _| {});
        let mut deepest = &mut changed.operations[0];
        while !deepest.children.is_empty() {
            deepest = &mut deepest.children[0];
        }
        deepest.calls = 2;
        assert!(changed != profile);
        drop((profile, copy, changed));
        drop(chain(1_000_000));
    }

    #[test]
    fn debug_of_a_deep_tree_is_cut() {
        let text = format!("{:?}", chain(100_000));
        assert!(text.contains("more level(s) not shown"), "{text}");
        assert!(text.len() < 10_000);
    }

    #[test]
    fn serialization_has_the_documented_shape_and_a_depth_limit() {
        let profile = chain(2);
        let json = serde_json::to_string(&profile).unwrap();
        assert_eq!(
            json,
            r#"{"total_ms":2.0,"operations":[{"name":"op0","calls":1,"total_ms":2.0,"self_ms":1.0,"children":[{"name":"op1","calls":1,"total_ms":1.0,"self_ms":1.0}]}]}"#
        );
        let back: ProfileResults = serde_json::from_str(&json).unwrap();
        assert_eq!(back, profile);

        let limit = chain(ProfileOperation::MAX_DEPTH);
        let json = serde_json::to_string(&limit).unwrap();
        let back: ProfileResults = serde_json::from_str(&json).unwrap();
        assert_eq!(back, limit);

        let error = serde_json::to_string(&chain(100_000)).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("deeper than 48 levels (at `op48`)"),
            "{error}"
        );
    }

    #[test]
    fn deep_json_is_refused_by_the_recursion_limit() {
        let levels = 100_000;
        let mut json = String::from(r#"{"total_ms":1,"operations":["#);
        for _ in 0..levels {
            json.push_str(r#"{"name":"x","calls":1,"total_ms":1,"self_ms":1,"children":["#);
        }
        for _ in 0..levels {
            json.push_str("]}");
        }
        json.push_str("]}");
        let error = serde_json::from_str::<ProfileResults>(&json).unwrap_err();
        assert!(error.to_string().contains("recursion limit"), "{error}");
    }

    #[test]
    fn folding_keeps_the_time_on_the_last_level() {
        let mut profile = chain(10);
        assert_eq!(profile.fold_deeper_than(4), 6);
        assert_eq!(profile.depth(), 4);
        let mut last = &profile.operations[0];
        while let Some(child) = last.children.first() {
            last = child;
        }
        // op3's own 1 ms and the 6 ms of op4..op9 below it.
        assert_eq!(
            (last.name.as_str(), last.total_ms, last.self_ms),
            ("op3", 7.0, 7.0)
        );
        assert_eq!(profile.fold_deeper_than(4), 0);
        let mut deep = chain(1_000_000);
        assert_eq!(
            deep.fold_deeper_than(ProfileOperation::MAX_DEPTH),
            1_000_000 - ProfileOperation::MAX_DEPTH as u64
        );
        assert!(serde_json::to_string(&deep).is_ok());
    }
}
