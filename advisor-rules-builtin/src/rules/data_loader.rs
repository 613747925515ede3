//! `data_loader`: the training or inference step waits on the data loader.
//!
//! ## What it checks
//! A PyTorch profiler trace (`profile_results.trace`) whose steps (`ProfilerStep#N`) spend
//! more than 5 % of their wall time inside data-loader calls
//! (`enumerate(DataLoader)#...__next__`). Without such spans (an iterable dataset, a streaming
//! reader, file I/O or tokenization in the loop), the trace's `input_wait`: the host time from
//! each step's start to its first kernel or copy while the GPU sits idle, above 5 % of the
//! step; then the advice is to prefetch (workers, sharded streaming formats, a side-stream
//! copy of the next batch).
//!
//! ## Why it matters
//! While the main process fetches and collates the next batch, nothing feeds the GPU. With
//! worker processes, pinned memory and prefetching, loading overlaps the previous step and
//! its time leaves the critical path. What comes back is at most the data-loader share of the
//! step, and with a GPU time breakdown at most the GPU's idle share too: loading while the GPU
//! still works through its queue costs nothing, and the step cannot get shorter than its
//! kernels. So the claim takes from the GPU idle pool that `gpu_idle`, `launch_overhead` and
//! `host_sync` also claim (they combine by their maximum, not their sum). A trace without GPU
//! activity has no idle figure: the claim then takes from the host-blocked pool, the step time
//! the host spends in the loader and in synchronizing calls. (Until the slack pools, the rule
//! claimed the whole data-loader share even when the trace showed the GPU busy meanwhile.)
//!
//! ## When it stays silent
//! Data loading at most 5 % of the step, a GPU idle at most 5 % of the span (loading then
//! overlaps GPU work), or a trace without steps; for the input wait, a wait with the GPU idle
//! at most 5 % of the step (every real trace in `testdata/traces` waits under 3 %) or no GPU
//! breakdown. Without a trace it says it needs one.
//!
//! ## Example
//! A trace where each 100 ms step spends 30 ms in `enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__`
//! while the GPU idles 45 % of the span: step time −0–30 %, a claim on the GPU idle pool.

use advisor_core::{
    Category, Difficulty, OptimizationRule, OptimizationSuggestion, RuleError, RuleInput,
    SlackClaim, SlackPool,
};

use super::gpu_idle;
use crate::facts;

/// Data loading above this share of the step (percent) is worth hiding.
const DATA_LOADER_PCT: f64 = 5.0;

/// See the module documentation.
pub(crate) struct DataLoader;

impl OptimizationRule for DataLoader {
    fn id(&self) -> &str {
        "data_loader"
    }

    fn category(&self) -> Category {
        Category::DataPipeline
    }

    fn description(&self) -> &str {
        "The step waits on data loading or on its input before its first GPU work (trace): use workers, pinned memory and prefetching"
    }

    fn analyze(&self, input: &RuleInput<'_>) -> Result<Vec<OptimizationSuggestion>, RuleError> {
        let context = input.context;
        let trace = facts::trace(context)?;
        let loader = trace.data_loader.as_ref().filter(|loader| {
            loader.pct_of_step.is_finite()
                && loader.pct_of_step > DATA_LOADER_PCT
                && loader.step_time_us > 0.0
        });
        let Some(loader) = loader else {
            return Ok(input_wait(self.id(), trace).into_iter().collect());
        };
        let share = loader.pct_of_step / 100.0;
        let source = trace.source.as_deref().unwrap_or("the trace");
        // Loading costs the step only while the GPU waits for the host: the host-wait part of
        // the idle time bounds the claim (HTA's idle-time breakdown; all idle without one).
        let host_wait = gpu_idle::host_wait_pool(trace);
        let (claim, basis, idle_evidence) = match gpu_idle::idle_pool(trace) {
            Some(idle) => (
                SlackClaim {
                    pool: SlackPool::GpuIdle,
                    pool_fraction: idle,
                    min_fraction: 0.0,
                    max_fraction: share.min(host_wait.unwrap_or(idle)),
                },
                format!(
                    "at most the data-loader share of the step ({}) and at most the GPU idle share ({}): loading costs the step \
                     only while the GPU waits for it; how much comes back depends on whether the workers keep up",
                    facts::percent(share),
                    facts::percent(idle)
                ),
                Some(format!(
                    "the GPU idles {} of the span: loading can cost the step at most that",
                    facts::percent(idle)
                )),
            ),
            None => (
                SlackClaim {
                    pool: SlackPool::HostBlocked,
                    pool_fraction: gpu_idle::host_blocked_pool(trace).max(share),
                    min_fraction: 0.0,
                    max_fraction: share,
                },
                format!(
                    "at most the data-loader share of the step ({}) leaves the critical path when loading overlaps compute; \
                     how much depends on whether the workers keep up",
                    facts::percent(share)
                ),
                None,
            ),
        };
        if claim.max_fraction * 100.0 <= DATA_LOADER_PCT {
            return Ok(Vec::new());
        }
        let mut suggestion = OptimizationSuggestion::new(
            self.id(),
            Category::DataPipeline,
            facts::impact_from_reduction(claim.max_fraction),
            Difficulty::Easy,
            "Overlap data loading with the step",
        )
        .evidence(format!(
            "{source}: {} data-loader call(s) take {:.1} ms of {:.1} ms of step time ({})",
            loader.calls,
            loader.time_us / 1000.0,
            loader.step_time_us / 1000.0,
            facts::percent(share)
        ));
        if let Some(evidence) = idle_evidence {
            suggestion = suggestion.evidence(evidence);
        }
        Ok(vec![overlap_loading(gpu_idle::claim(suggestion, claim, &basis)
            .description(format!(
                "The profiled steps spend {} of their time waiting for the next batch. Loading in worker processes with \
                 prefetching overlaps it with the previous step.",
                facts::percent(share)
            )))
            .step("Re-profile: the data-loader share should fall under 5 % of the step.")])
    }
}

/// The steps and code of overlapping input with compute.
fn overlap_loading(suggestion: OptimizationSuggestion) -> OptimizationSuggestion {
    suggestion
        .step("Set `num_workers` to a few per GPU (start with the CPU cores per GPU) and `persistent_workers=True`.")
        .step("Use `pin_memory=True` and `.to(device, non_blocking=True)` so host-to-device copies are asynchronous.")
        .step("Move expensive decoding or tokenization out of `__getitem__` (pre-tokenize, cache) if workers cannot keep up.")
        .code(
            "python",
            "loader = DataLoader(dataset, batch_size=bs, num_workers=8, pin_memory=True,\n                    persistent_workers=True, prefetch_factor=4)\nfor batch in loader:\n    batch = batch.to(\"cuda\", non_blocking=True)",
        )
        .warning("More workers use more host memory and CPU; watch for contention with the main process.")
}

/// Without data-loader spans above the threshold: the host time at each step's start before
/// its first GPU work while the GPU is idle, which an input pipeline of any kind (an iterable
/// dataset, a streaming reader, file I/O, tokenization in the loop) leaves there.
fn input_wait(id: &str, trace: &advisor_core::TraceFacts) -> Option<OptimizationSuggestion> {
    let wait = trace.input_wait.as_ref()?;
    let share = wait.gpu_idle_pct_of_step / 100.0;
    if !share.is_finite() || wait.gpu_idle_pct_of_step <= DATA_LOADER_PCT || wait.steps == 0 {
        return None;
    }
    // The wait is GPU idle time by construction: it claims the idle pool, bounded by it.
    let idle = gpu_idle::idle_pool(trace)?;
    let claim = SlackClaim {
        pool: SlackPool::GpuIdle,
        pool_fraction: idle,
        min_fraction: 0.0,
        max_fraction: share.min(idle),
    };
    let source = trace.source.as_deref().unwrap_or("the trace");
    let per_step = wait.gpu_idle_us / wait.steps as f64;
    let basis = format!(
        "at most the GPU idle time at the steps' starts ({} of the step): the input can cost no more than the GPU waited \
         for it; how much comes back depends on whether the pipeline then keeps up",
        facts::percent(share)
    );
    let loader_note = trace.data_loader.as_ref().map_or(
        "the trace has no DataLoader spans: the input comes from elsewhere (an iterable dataset, a streaming reader, \
         file I/O or work in the loop), or the loader is not profiled"
            .to_owned(),
        |loader| {
            format!(
                "DataLoader spans take only {} of the step: the wait is elsewhere in the input path (collation, transfer, \
                 work in the loop before the forward)",
                facts::percent(loader.pct_of_step / 100.0)
            )
        },
    );
    let suggestion = OptimizationSuggestion::new(
        id,
        Category::DataPipeline,
        facts::impact_from_reduction(claim.max_fraction),
        Difficulty::Medium,
        "Prefetch the input: each step waits for it before its first GPU work",
    )
    .evidence(format!(
        "{source}: {} step(s) wait {:.1} ms on average (up to {:.1} ms) from their start to their first kernel or copy, \
         {:.1} ms of it with the GPU idle ({} of the step)",
        wait.steps,
        wait.wait_us / wait.steps as f64 / 1000.0,
        wait.max_wait_us / 1000.0,
        per_step / 1000.0,
        facts::percent(share)
    ))
    .evidence(loader_note);
    Some(
        overlap_loading(
            gpu_idle::claim(suggestion, claim, &basis).description(format!(
                "Every step starts by waiting {:.1} ms with the GPU idle before it launches anything: the next batch is \
                 produced on the critical path. Produce it ahead of time, in workers or on a side thread, and copy it \
                 to the GPU while the previous step runs.",
                per_step / 1000.0
            )),
        )
        .step("For an IterableDataset or a streaming source, shard it across workers (`torch.utils.data.get_worker_info()`) and read a sharded format (WebDataset tar shards, MosaicML Streaming, Parquet) so workers read in parallel.")
        .step("Copy the next batch on a side CUDA stream while the current step runs (a prefetcher), or let the DataLoader's `pin_memory` thread do it.")
        .step("Re-profile: the steps should launch their first kernel within a fraction of a millisecond of their start.")
        .code(
            "python",
            "class CudaPrefetcher:\n    \"\"\"Yields batches already on the GPU, copied on a side stream.\"\"\"\n    def __init__(self, loader, device=\"cuda\"):\n        self.it, self.device = iter(loader), device\n        self.stream = torch.cuda.Stream()\n        self._load()\n    def _load(self):\n        try:\n            batch = next(self.it)\n        except StopIteration:\n            self.next = None\n            return\n        with torch.cuda.stream(self.stream):\n            self.next = [t.to(self.device, non_blocking=True) for t in batch]\n    def __iter__(self):\n        return self\n    def __next__(self):\n        if self.next is None:\n            raise StopIteration\n        torch.cuda.current_stream().wait_stream(self.stream)\n        batch = self.next\n        self._load()\n        return batch",
        )
        .warning("The wait is measured at the steps' starts only; a pipeline that stalls mid-step (a lazily loaded tensor) shows as host-wait idle elsewhere (see gpu_idle)."),
    )
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::{Value, json};

    use super::DataLoader;
    use crate::rules::test_support::{breakdown, figures, render};

    fn loader(pct: f64) -> Value {
        json!({ "time_us": pct * 4000.0, "step_time_us": 400_000.0, "pct_of_step": pct, "calls": 4 })
    }

    #[test]
    fn loading_while_the_gpu_idles_claims_the_idle_pool() {
        let trace = json!({ "source": "run.json", "steps": 4, "data_loader": loader(30.0),
                            "gpu_breakdown": breakdown(45.0, 50.0, 0.0, 5.0) });
        expect![[r#"
            [
              {
                "id": "data_loader",
                "rule_id": "data_loader",
                "category": "data_pipeline",
                "impact": "high",
                "difficulty": "easy",
                "title": "Overlap data loading with the step",
                "description": "The profiled steps spend 30.0 % of their time waiting for the next batch. Loading in worker processes with prefetching overlaps it with the previous step.",
                "expected_improvement": [
                  {
                    "metric": "latency",
                    "min_reduction": 0.0,
                    "max_reduction": 0.3,
                    "basis": "at most the data-loader share of the step (30.0 %) and at most the GPU idle share (45.0 %): loading costs the step only while the GPU waits for it; how much comes back depends on whether the workers keep up; a claim on the GPU idle pool (45.0 % of the GPU span): claims on one pool recover the same time, so the report combines them by their maximum and never beyond the pool"
                  }
                ],
                "implementation_steps": [
                  "Set `num_workers` to a few per GPU (start with the CPU cores per GPU) and `persistent_workers=True`.",
                  "Use `pin_memory=True` and `.to(device, non_blocking=True)` so host-to-device copies are asynchronous.",
                  "Move expensive decoding or tokenization out of `__getitem__` (pre-tokenize, cache) if workers cannot keep up.",
                  "Re-profile: the data-loader share should fall under 5 % of the step."
                ],
                "code_examples": [
                  {
                    "language": "python",
                    "code": "loader = DataLoader(dataset, batch_size=bs, num_workers=8, pin_memory=True,\n                    persistent_workers=True, prefetch_factor=4)\nfor batch in loader:\n    batch = batch.to(\"cuda\", non_blocking=True)"
                  }
                ],
                "warnings": [
                  "More workers use more host memory and CPU; watch for contention with the main process."
                ],
                "evidence": [
                  "run.json: 4 data-loader call(s) take 120.0 ms of 400.0 ms of step time (30.0 %)",
                  "the GPU idles 45.0 % of the span: loading can cost the step at most that"
                ],
                "slack": [
                  {
                    "pool": "gpu_idle",
                    "pool_fraction": 0.45,
                    "min_fraction": 0.0,
                    "max_fraction": 0.3
                  }
                ]
              }
            ]"#]].assert_eq(&render(&DataLoader, trace));
    }

    #[test]
    fn without_gpu_activity_the_claim_is_on_host_blocked_time() {
        let trace = json!({ "steps": 4, "data_loader": loader(30.0),
                            "host_syncs": { "calls_in_steps": 4, "time_us": 8_000.0, "pct_of_step": 2.0 } });
        expect![[r#"
            [
              {
                "expected_improvement": [
                  {
                    "basis": "at most the data-loader share of the step (30.0 %) leaves the critical path when loading overlaps compute; how much depends on whether the workers keep up; a claim on the host-blocked pool (32.0 % of the step): claims on one pool recover the same time, so the report combines them by their maximum and never beyond the pool",
                    "max_reduction": 0.3,
                    "metric": "latency",
                    "min_reduction": 0.0
                  }
                ],
                "id": "data_loader",
                "impact": "high",
                "slack": [
                  {
                    "max_fraction": 0.3,
                    "min_fraction": 0.0,
                    "pool": "host_blocked",
                    "pool_fraction": 0.32
                  }
                ]
              }
            ]"#]].assert_eq(&figures(&DataLoader, trace));
    }

    #[test]
    fn loading_hidden_behind_a_busy_gpu_costs_nothing() {
        // 30 % of the step in the loader, but the GPU idles 3 %: the loader overlaps its queue.
        let busy = json!({ "steps": 4, "data_loader": loader(30.0),
                           "gpu_breakdown": breakdown(3.0, 96.0, 0.0, 1.0) });
        expect!["[]"].assert_eq(&figures(&DataLoader, busy));
        // Idle GPU, but loading is 4 % of the step.
        let short = json!({ "steps": 4, "data_loader": loader(4.0),
                            "gpu_breakdown": breakdown(45.0, 50.0, 0.0, 5.0) });
        expect!["[]"].assert_eq(&figures(&DataLoader, short));
    }

    fn input_wait(idle_pct: f64) -> Value {
        json!({ "steps": 4, "step_time_us": 40_000.0, "wait_us": 16_000.0, "max_wait_us": 4_000.0,
                "gpu_idle_us": idle_pct * 400.0, "gpu_idle_pct_of_step": idle_pct })
    }

    #[test]
    fn a_wait_before_the_first_gpu_work_without_loader_spans() {
        // The synthetic `input-stall` trace's figures: 4 ms of every 10 ms step before the
        // first copy, all of it GPU idle; the GPU idles 36 % of its span.
        let trace = json!({ "source": "input-stall.json", "steps": 5, "input_wait": input_wait(40.0),
                            "gpu_breakdown": breakdown(36.0, 63.0, 0.0, 1.0) });
        expect![[r#"
            [
              {
                "id": "data_loader",
                "rule_id": "data_loader",
                "category": "data_pipeline",
                "impact": "high",
                "difficulty": "medium",
                "title": "Prefetch the input: each step waits for it before its first GPU work",
                "description": "Every step starts by waiting 4.0 ms with the GPU idle before it launches anything: the next batch is produced on the critical path. Produce it ahead of time, in workers or on a side thread, and copy it to the GPU while the previous step runs.",
                "expected_improvement": [
                  {
                    "metric": "latency",
                    "min_reduction": 0.0,
                    "max_reduction": 0.36,
                    "basis": "at most the GPU idle time at the steps' starts (40.0 % of the step): the input can cost no more than the GPU waited for it; how much comes back depends on whether the pipeline then keeps up; a claim on the GPU idle pool (36.0 % of the GPU span): claims on one pool recover the same time, so the report combines them by their maximum and never beyond the pool"
                  }
                ],
                "implementation_steps": [
                  "Set `num_workers` to a few per GPU (start with the CPU cores per GPU) and `persistent_workers=True`.",
                  "Use `pin_memory=True` and `.to(device, non_blocking=True)` so host-to-device copies are asynchronous.",
                  "Move expensive decoding or tokenization out of `__getitem__` (pre-tokenize, cache) if workers cannot keep up.",
                  "For an IterableDataset or a streaming source, shard it across workers (`torch.utils.data.get_worker_info()`) and read a sharded format (WebDataset tar shards, MosaicML Streaming, Parquet) so workers read in parallel.",
                  "Copy the next batch on a side CUDA stream while the current step runs (a prefetcher), or let the DataLoader's `pin_memory` thread do it.",
                  "Re-profile: the steps should launch their first kernel within a fraction of a millisecond of their start."
                ],
                "code_examples": [
                  {
                    "language": "python",
                    "code": "loader = DataLoader(dataset, batch_size=bs, num_workers=8, pin_memory=True,\n                    persistent_workers=True, prefetch_factor=4)\nfor batch in loader:\n    batch = batch.to(\"cuda\", non_blocking=True)"
                  },
                  {
                    "language": "python",
                    "code": "class CudaPrefetcher:\n    \"\"\"Yields batches already on the GPU, copied on a side stream.\"\"\"\n    def __init__(self, loader, device=\"cuda\"):\n        self.it, self.device = iter(loader), device\n        self.stream = torch.cuda.Stream()\n        self._load()\n    def _load(self):\n        try:\n            batch = next(self.it)\n        except StopIteration:\n            self.next = None\n            return\n        with torch.cuda.stream(self.stream):\n            self.next = [t.to(self.device, non_blocking=True) for t in batch]\n    def __iter__(self):\n        return self\n    def __next__(self):\n        if self.next is None:\n            raise StopIteration\n        torch.cuda.current_stream().wait_stream(self.stream)\n        batch = self.next\n        self._load()\n        return batch"
                  }
                ],
                "warnings": [
                  "More workers use more host memory and CPU; watch for contention with the main process.",
                  "The wait is measured at the steps' starts only; a pipeline that stalls mid-step (a lazily loaded tensor) shows as host-wait idle elsewhere (see gpu_idle)."
                ],
                "evidence": [
                  "input-stall.json: 4 step(s) wait 4.0 ms on average (up to 4.0 ms) from their start to their first kernel or copy, 4.0 ms of it with the GPU idle (40.0 % of the step)",
                  "the trace has no DataLoader spans: the input comes from elsewhere (an iterable dataset, a streaming reader, file I/O or work in the loop), or the loader is not profiled"
                ],
                "slack": [
                  {
                    "pool": "gpu_idle",
                    "pool_fraction": 0.36,
                    "min_fraction": 0.0,
                    "max_fraction": 0.36
                  }
                ]
              }
            ]"#]].assert_eq(&render(&DataLoader, trace));
    }

    #[test]
    fn a_short_wait_or_one_hidden_by_a_busy_gpu_is_silent() {
        // 3 % of the step: under the threshold (every real trace in testdata waits under 3 %).
        let short = json!({ "steps": 4, "input_wait": input_wait(3.0),
                            "gpu_breakdown": breakdown(36.0, 63.0, 0.0, 1.0) });
        expect!["[]"].assert_eq(&figures(&DataLoader, short));
        // No GPU breakdown: no idle pool to claim from.
        let no_gpu = json!({ "steps": 4, "input_wait": input_wait(40.0) });
        expect!["[]"].assert_eq(&figures(&DataLoader, no_gpu));
    }
}
