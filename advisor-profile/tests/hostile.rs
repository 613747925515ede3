//! Traces built to break the reader: nesting deeper than any call stack, strings of
//! gigabytes, decompression bombs. Each is generated while it is read, never stored.

use std::io::Read;

use advisor_core::ProfileOperation;
use advisor_profile::{TraceOptions, read_trace};

/// A reader over a trace made of `head`, `count` generated events and `tail`, produced as it
/// is read.
struct Generated<F: FnMut(u64, &mut Vec<u8>)> {
    head: Vec<u8>,
    event: F,
    next: u64,
    count: u64,
    tail: Vec<u8>,
    pending: Vec<u8>,
    at: usize,
    done: bool,
}

impl<F: FnMut(u64, &mut Vec<u8>)> Generated<F> {
    fn new(head: &str, count: u64, event: F, tail: &str) -> Self {
        Generated {
            head: head.as_bytes().to_vec(),
            event,
            next: 0,
            count,
            tail: tail.as_bytes().to_vec(),
            pending: Vec::new(),
            at: 0,
            done: false,
        }
    }
}

impl<F: FnMut(u64, &mut Vec<u8>)> Read for Generated<F> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.pending.len() {
            self.pending.clear();
            self.at = 0;
            if !self.head.is_empty() {
                self.pending = std::mem::take(&mut self.head);
            } else if self.next < self.count {
                // Several events per refill keeps the generator cheap.
                while self.next < self.count && self.pending.len() < 1 << 16 {
                    (self.event)(self.next, &mut self.pending);
                    self.next += 1;
                }
            } else if !self.done {
                self.done = true;
                self.pending = std::mem::take(&mut self.tail);
            } else {
                return Ok(0);
            }
        }
        let n = out.len().min(self.pending.len() - self.at);
        out[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// `levels` CPU operators, each inside the one before it.
fn nested(levels: u64) -> impl Read {
    Generated::new(
        r#"{"traceEvents": ["#,
        levels,
        move |i, out| {
            use std::io::Write;
            let separator = if i == 0 { "" } else { "," };
            let _ = write!(
                out,
                r#"{separator}{{"ph":"X","cat":"cpu_op","name":"aten::op","pid":1,"tid":1,"ts":{i},"dur":{}}}"#,
                2 * (levels - i)
            );
        },
        "]}",
    )
}

#[test]
fn a_million_nested_operators_are_read_cloned_serialized_and_dropped() {
    let levels = 1_000_000;
    let summary = read_trace(nested(levels), "deep.json", TraceOptions::default()).unwrap();
    let cpu = summary.cpu.as_ref().expect("cpu summary");
    assert_eq!(cpu.calls, levels);
    let folded = levels - ProfileOperation::MAX_DEPTH as u64;
    let warning = format!(
        "{folded} CPU operator call(s) nested deeper than 48 levels are folded into their \
         ancestor on level 48"
    );
    assert!(
        summary.warnings.iter().any(|w| w.starts_with(&warning)),
        "{:?}",
        summary.warnings
    );
    // The profile is cloned into the context, serialized for plugins and dropped.
    let profile = summary.to_profile_results();
    assert_eq!(profile.depth(), ProfileOperation::MAX_DEPTH);
    let json = serde_json::to_string(&profile).unwrap();
    let back: advisor_core::ProfileResults = serde_json::from_str(&json).unwrap();
    assert!(back == profile);
    // Nothing of the time is lost: the last level holds what is below it as its own.
    let mut self_ms = 0.0;
    profile.walk(|operation, _| self_ms += operation.self_ms);
    assert!((self_ms - profile.operations[0].total_ms).abs() < 1e-6);
    drop((summary, profile, back));
}
