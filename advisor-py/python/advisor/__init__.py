"""The advisor for Python: what to optimize next in a transformer workload, how much each
change buys on your hardware, and why.

    import advisor
    report = advisor.analyze(model="config.json", trace="trace.json.gz",
                             hardware="nvidia-a100-80gb", config={"batch_size": 8})
    for s in report["suggestions"]:
        print(s["title"], s["impact"])

The functions return what the ``advisor`` command prints with ``--format json`` (parsed),
so the module and the command agree. ``advisor.torch.on_trace_ready`` plugs into
``torch.profiler.profile``.
"""

import json
import os

from . import _native

__all__ = ["analyze", "trace_summary", "inspect", "__version__"]
__version__ = _native.__version__


def _path(value):
    return None if value is None else os.fspath(value)


def analyze(model=None, trace=None, hardware=None, config=None, context=None, format="json"):
    """Analyzes a model (a Hugging Face ``config.json``, ``.onnx``, ``.safetensors`` or graph
    JSON), a PyTorch profiler trace (a file or a ``tensorboard_trace_handler`` folder: its
    newest trace), hardware (``"detect"``, a target such as ``"nvidia-l4"`` or a hardware
    JSON file; by default the trace's GPUs, else this machine) and run settings
    (``config``: ``{"batch_size": 8, "precision": "bf16"}``), and returns the report: a dict
    for ``format="json"``, the text for ``"markdown"`` or ``"html"``.

    Bad input raises ``ValueError`` naming the file and the problem.
    """
    settings = [(str(key), _setting(value)) for key, value in (config or {}).items()]
    text = _native.analyze(
        model=_path(model),
        trace=_path(trace),
        hardware=None if hardware is None else os.fspath(hardware),
        config=settings,
        context=_path(context),
        format=format,
    )
    return json.loads(text) if format == "json" else text


def _setting(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def trace_summary(path):
    """The summary of a PyTorch profiler (Kineto) trace, ``.json`` or ``.json.gz`` (or a
    folder's newest trace), as ``advisor trace FILE --format json`` prints it: steps, GPU
    time breakdown, idle time by cause, top kernels and operators, the per-operator
    roofline, what the run already uses."""
    return json.loads(_native.trace_summary(_path(path)))


def inspect(path):
    """What the advisor understands of a model file, as ``advisor inspect FILE --format
    json`` prints it: parameters, weight bytes, architecture, KV-cache bytes per token,
    FLOPs per token."""
    return json.loads(_native.inspect(_path(path)))
