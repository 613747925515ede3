"""A ``torch.profiler`` hook: write each profiling cycle's trace as
``torch.profiler.tensorboard_trace_handler`` does, and the advisor's report beside it.

    import torch, advisor.torch
    with torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA],
        schedule=torch.profiler.schedule(wait=1, warmup=1, active=3),
        record_shapes=True,
        on_trace_ready=advisor.torch.on_trace_ready("./prof", model="config.json",
                                                     config={"batch_size": 8}),
    ) as prof:
        for batch in loader:
            train_step(batch)
            prof.step()

This module does not import torch: the handler only calls the profiler's
``export_chrome_trace``.
"""

import os
import socket
import time

import advisor

__all__ = ["on_trace_ready"]


def on_trace_ready(dir_name, model=None, config=None, hardware=None, worker_name=None,
                   use_gzip=False, format="markdown"):
    """A handler for ``torch.profiler.profile(on_trace_ready=...)``. Each call writes
    ``dir_name/WORKER.TIMESTAMP.pt.trace.json[.gz]`` (the names TensorBoard's plugin and
    ``advisor trace DIR`` read) and the report ``WORKER.TIMESTAMP.advisor.md`` (``.json``,
    ``.html`` for the other formats) beside it, and returns the report's path. ``model``,
    ``config`` and ``hardware`` are as in ``advisor.analyze``."""
    extension = {"markdown": "md", "json": "json", "html": "html"}.get(format)
    if extension is None:
        raise ValueError(f"format {format!r}: expected 'markdown', 'json' or 'html'")

    def handler(prof):
        os.makedirs(dir_name, exist_ok=True)
        worker = worker_name or f"{socket.gethostname()}_{os.getpid()}"
        stem = f"{worker}.{int(time.time() * 1000)}"
        trace = os.path.join(dir_name, f"{stem}.pt.trace.json" + (".gz" if use_gzip else ""))
        prof.export_chrome_trace(trace)
        report = advisor.analyze(model=model, trace=trace, hardware=hardware, config=config,
                                 format="markdown" if format == "markdown" else format)
        path = os.path.join(dir_name, f"{stem}.advisor.{extension}")
        with open(path, "w", encoding="utf-8") as out:
            if format == "json":
                import json
                json.dump(report, out, indent=2)
            else:
                out.write(report)
        return path

    return handler
