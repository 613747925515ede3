//! CPU operators: self times from the nesting on each thread, the operator table, small
//! operators, and the operation tree merged by name path (for `ProfileResults`).

use advisor_core::{CpuOpFacts, NamedCount, ProfileOperation};
use serde::Serialize;

use crate::accumulate::{CpuSpan, FastMap, Interner};

use super::{SMALL_US, TOP, pct};

/// One CPU operator's statistics.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CpuOpStat {
    /// Operator name.
    pub name: String,
    /// Calls.
    pub count: u64,
    /// Total time including children.
    pub total_us: f64,
    /// Time excluding nested operators.
    pub self_us: f64,
    /// Calls shorter than the small-op threshold.
    pub small_calls: u64,
}

/// What the CPU spans give.
#[derive(Debug, Default)]
pub(crate) struct CpuOps {
    /// Operators by self time, longest first (at most [`TOP`]).
    pub(crate) top: Vec<CpuOpStat>,
    /// The facts; `None` without operators.
    pub(crate) facts: Option<CpuOpFacts>,
    /// The operation tree merged by name path.
    pub(crate) operations: Vec<ProfileOperation>,
    /// Spans nested deeper than the operation tree keeps, folded into their ancestor.
    pub(crate) folded_spans: u64,
}

/// The tree node of a span below the operation tree's last level.
const FOLDED: usize = usize::MAX;

/// Analyzes the CPU operator and annotation spans (sorts them per thread, outer spans first).
pub(crate) fn cpu_ops(spans: &mut [CpuSpan], names: &Interner) -> CpuOps {
    if spans.is_empty() {
        return CpuOps::default();
    }
    spans.sort_by(|a, b| {
        a.thread
            .cmp(&b.thread)
            .then(a.start.total_cmp(&b.start))
            .then(b.end.total_cmp(&a.end))
    });
    let mut folded_spans = 0;
    let mut tree = Tree::default();
    let mut self_times = vec![0.0f64; spans.len()];
    // Stack of (span index, tree node) for the open spans of this thread: a heap stack, as
    // real nesting can be tens of thousands deep.
    let mut stack: Vec<(usize, usize)> = Vec::new();
    let mut thread = None;
    for (index, span) in spans.iter().enumerate() {
        if thread != Some(span.thread) {
            stack.clear();
            thread = Some(span.thread);
        }
        while let Some(&(top, _)) = stack.last() {
            if spans[top].end <= span.start {
                stack.pop();
            } else {
                break;
            }
        }
        let duration = span.end - span.start;
        self_times[index] = duration;
        if let Some(&(parent, _)) = stack.last() {
            self_times[parent] -= duration;
        }
        if stack.len() >= ProfileOperation::MAX_DEPTH {
            // Too deep for the operation tree: the ancestor on its last level keeps this
            // span's time as its own. The per-operator tables still count it.
            folded_spans += 1;
            stack.push((index, FOLDED));
            continue;
        }
        let parent_node = stack.last().map(|&(_, node)| node);
        let node = tree.child(parent_node, span.name);
        tree.nodes[node].calls += 1;
        tree.nodes[node].total_us += duration;
        tree.nodes[node].self_us += duration;
        if let Some(parent_node) = parent_node {
            tree.nodes[parent_node].self_us -= duration;
        }
        stack.push((index, node));
    }

    let mut by_name: FastMap<u32, CpuOpStat> = FastMap::default();
    let mut small_self_by_name: FastMap<u32, f64> = FastMap::default();
    let (mut calls, mut small_calls) = (0u64, 0u64);
    let (mut self_total, mut small_self) = (0.0, 0.0);
    for (span, self_us) in spans.iter().zip(&self_times) {
        if !span.is_op {
            continue;
        }
        let self_us = self_us.max(0.0);
        let duration = span.end - span.start;
        calls += 1;
        self_total += self_us;
        if duration < SMALL_US {
            small_calls += 1;
            small_self += self_us;
            *small_self_by_name.entry(span.name).or_default() += self_us;
        }
        let stat = by_name.entry(span.name).or_insert_with(|| CpuOpStat {
            name: names.name(span.name).to_owned(),
            count: 0,
            total_us: 0.0,
            self_us: 0.0,
            small_calls: 0,
        });
        stat.count += 1;
        stat.total_us += duration;
        stat.self_us += self_us;
        if duration < SMALL_US {
            stat.small_calls += 1;
        }
    }
    let mut top_small: Vec<NamedCount> = by_name
        .iter()
        .filter(|(_, s)| s.small_calls > 0)
        .map(|(id, s)| NamedCount {
            name: s.name.clone(),
            count: s.small_calls,
            // The self time of the small calls only, as `count` counts only them.
            time_us: small_self_by_name.get(id).copied().unwrap_or(0.0),
        })
        .collect();
    top_small.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
    top_small.truncate(TOP);
    let mut top: Vec<CpuOpStat> = by_name.into_values().collect();
    top.sort_by(|a, b| b.self_us.total_cmp(&a.self_us).then(a.name.cmp(&b.name)));
    top.truncate(TOP);
    let facts = (calls > 0).then_some(CpuOpFacts {
        calls,
        small_calls,
        small_threshold_us: SMALL_US,
        small_calls_pct: pct(small_calls as f64, calls as f64),
        self_time_us: self_total,
        small_self_time_us: small_self,
        top_small,
    });
    CpuOps {
        top,
        facts,
        operations: tree.into_operations(names),
        folded_spans,
    }
}

/// The operation tree merged by name path, in an arena.
#[derive(Default)]
struct Tree {
    nodes: Vec<TreeNode>,
    roots: FastMap<u32, usize>,
    root_order: Vec<usize>,
}

struct TreeNode {
    name: u32,
    calls: u64,
    total_us: f64,
    self_us: f64,
    children: FastMap<u32, usize>,
    order: Vec<usize>,
}

impl Tree {
    fn child(&mut self, parent: Option<usize>, name: u32) -> usize {
        let existing = match parent {
            Some(parent) => self.nodes[parent].children.get(&name).copied(),
            None => self.roots.get(&name).copied(),
        };
        if let Some(node) = existing {
            return node;
        }
        let node = self.nodes.len();
        self.nodes.push(TreeNode {
            name,
            calls: 0,
            total_us: 0.0,
            self_us: 0.0,
            children: FastMap::default(),
            order: Vec::new(),
        });
        match parent {
            Some(parent) => {
                self.nodes[parent].children.insert(name, node);
                self.nodes[parent].order.push(node);
            }
            None => {
                self.roots.insert(name, node);
                self.root_order.push(node);
            }
        }
        node
    }

    fn into_operations(self, names: &Interner) -> Vec<ProfileOperation> {
        // Build bottom-up without recursion: children always have larger indices.
        let mut built: Vec<Option<ProfileOperation>> =
            (0..self.nodes.len()).map(|_| None).collect();
        for index in (0..self.nodes.len()).rev() {
            let node = &self.nodes[index];
            let mut children: Vec<ProfileOperation> = node
                .order
                .iter()
                .filter_map(|&child| built[child].take())
                .collect();
            children.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
            built[index] = Some(ProfileOperation {
                name: names.name(node.name).to_owned(),
                calls: node.calls,
                total_ms: node.total_us / 1000.0,
                self_ms: node.self_us.max(0.0) / 1000.0,
                children,
            });
        }
        let mut roots: Vec<ProfileOperation> = self
            .root_order
            .iter()
            .filter_map(|&root| built[root].take())
            .collect();
        roots.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
        roots
    }
}

#[cfg(test)]
mod tests {
    use crate::analysis::summary_of;

    fn op(name: &str, tid: u32, ts: u32, dur: u32) -> String {
        format!(
            r#"{{"ph": "X", "cat": "cpu_op", "name": "{name}", "pid": 1, "tid": {tid}, "ts": {ts}, "dur": {dur}}}"#
        )
    }

    #[test]
    fn operator_table_and_self_times() {
        // events -> (calls, small calls, self time, small self time, top rows (name, count, total, self))
        type Expected<'a> = (u64, u64, f64, f64, Vec<(&'a str, u64, f64, f64)>);
        let cases: Vec<(Vec<String>, Option<Expected>)> = vec![
            (vec![], None),
            // An annotation is no operator, but nests them.
            (
                vec![r#"{"ph": "X", "cat": "user_annotation", "name": "fwd", "pid": 1, "tid": 1, "ts": 0, "dur": 100}"#.to_owned()],
                None,
            ),
            // Nested on one thread: the parent's self time excludes its children.
            (
                vec![op("aten::linear", 1, 0, 100), op("aten::addmm", 1, 10, 60), op("aten::add", 1, 80, 5)],
                Some((3, 1, 100.0, 5.0, vec![("aten::addmm", 1, 60.0, 60.0), ("aten::linear", 1, 100.0, 35.0), ("aten::add", 1, 5.0, 5.0)])),
            ),
            // Overlapping times on two threads do not nest.
            (
                vec![op("a", 1, 0, 50), op("b", 2, 10, 30)],
                Some((2, 0, 80.0, 0.0, vec![("a", 1, 50.0, 50.0), ("b", 1, 30.0, 30.0)])),
            ),
        ];
        for (events, expected) in cases {
            let events: Vec<&str> = events.iter().map(String::as_str).collect();
            let summary = summary_of("", &events);
            let found = summary.cpu.as_ref().map(|c| {
                (
                    c.calls,
                    c.small_calls,
                    c.self_time_us,
                    c.small_self_time_us,
                    summary
                        .top_cpu_ops
                        .iter()
                        .map(|o| (o.name.as_str(), o.count, o.total_us, o.self_us))
                        .collect::<Vec<_>>(),
                )
            });
            assert_eq!(found, expected, "{events:?}");
        }
    }

    #[test]
    fn operation_tree_merges_by_name_path() {
        let events = [
            r#"{"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#1", "pid": 1, "tid": 1, "ts": 0, "dur": 100}"#.to_owned(),
            r#"{"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#2", "pid": 1, "tid": 1, "ts": 100, "dur": 100}"#.to_owned(),
            op("aten::mm", 1, 10, 20),
            op("aten::mm", 1, 110, 40),
            op("aten::relu", 1, 150, 10),
        ];
        let events: Vec<&str> = events.iter().map(String::as_str).collect();
        let profile = summary_of("", &events).to_profile_results();
        let step = &profile.operations[0];
        assert_eq!(
            (step.name.as_str(), step.calls, step.total_ms),
            ("ProfilerStep", 2, 0.2)
        );
        let children: Vec<(&str, u64, f64)> = step
            .children
            .iter()
            .map(|c| (c.name.as_str(), c.calls, c.total_ms))
            .collect();
        assert_eq!(children, [("aten::mm", 2, 0.06), ("aten::relu", 1, 0.01)]);
        assert!((step.self_ms - 0.13).abs() < 1e-12);
        assert_eq!(profile.total_ms, 0.2);
    }
}
