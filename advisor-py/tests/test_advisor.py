"""The wheel's module and command, end to end on the repository's test data (no torch: the
profiler hook is driven by an object with ``export_chrome_trace``, as torch's is)."""

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import advisor
import advisor.torch

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
BERT = TESTDATA / "pairs" / "bert.config.json"
V100 = TESTDATA / "traces" / "v100-training-rank0.trace.json.gz"


def test_analyze_returns_the_report_as_a_dict():
    report = advisor.analyze(model=BERT, hardware="nvidia-l4",
                             config={"mode": "inference", "batch_size": 1, "seq_len": 128})
    assert report["schema_version"] >= 1
    assert report["inputs"]["config"]["batch_size"] == "1"
    ids = {s["rule_id"] for s in report["suggestions"]}
    assert "batch_size" in ids, ids
    for suggestion in report["suggestions"]:
        assert suggestion["impact"] in {"critical", "high", "medium", "low"}


def test_analyze_renders_markdown_and_html():
    markdown = advisor.analyze(model=BERT, hardware="nvidia-l4", format="markdown")
    assert markdown.startswith("# Optimization report")
    html = advisor.analyze(model=BERT, hardware="nvidia-l4", format="html")
    assert html.startswith("<!DOCTYPE html>")


def test_bad_input_raises_value_error_naming_the_problem(tmp_path):
    with pytest.raises(ValueError, match="nvidia-a100"):
        advisor.analyze(model=BERT, hardware="nvidia-a100")
    broken = tmp_path / "config.json"
    broken.write_text("{ not json")
    with pytest.raises(ValueError, match="config.json"):
        advisor.analyze(model=broken)
    with pytest.raises(ValueError, match="format"):
        advisor.analyze(model=BERT, hardware="nvidia-l4", format="pdf")


def test_trace_summary_and_inspect():
    summary = advisor.trace_summary(V100)
    assert summary["schema_version"] >= 1
    assert len(summary["steps"]) >= 2
    assert summary["devices"][0]["name"].startswith("Tesla V100")
    model = advisor.inspect(BERT)
    assert model["parameters"] == 109482240
    assert model["schema_version"] == 1


class FakeProfile:
    """What the handler needs of ``torch.profiler.profile``: ``export_chrome_trace``."""

    def __init__(self, source):
        self.source = source
        self.exported = []

    def export_chrome_trace(self, path):
        self.exported.append(path)
        if path.endswith(".gz"):
            shutil.copyfile(self.source, path)
        else:
            with gzip.open(self.source, "rb") as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)


def test_on_trace_ready_writes_the_trace_and_the_report_beside_it(tmp_path):
    handler = advisor.torch.on_trace_ready(tmp_path / "prof", worker_name="host_1")
    prof = FakeProfile(V100)
    report_path = handler(prof)
    [trace] = prof.exported
    assert os.path.basename(trace).startswith("host_1.")
    assert trace.endswith(".pt.trace.json")
    assert os.path.dirname(report_path) == os.path.dirname(trace)
    report = Path(report_path).read_text(encoding="utf-8")
    assert report.startswith("# Optimization report")
    assert "V100" in report
    # The folder is a tensorboard_trace_handler folder: the command and the module read it.
    folder = str(tmp_path / "prof")
    assert advisor.trace_summary(folder)["steps"]
    as_json = advisor.torch.on_trace_ready(folder, worker_name="host_1", use_gzip=True,
                                           format="json")(FakeProfile(V100))
    assert json.loads(Path(as_json).read_text())["suggestions"]


def test_the_wheel_installs_the_command():
    out = subprocess.run(["advisor", "rules", "--format", "json"], capture_output=True,
                         text=True, check=True)
    assert any(rule["id"] == "kv_cache" for rule in json.loads(out.stdout))
    bad = subprocess.run(["advisor", "analyze", "--example", "gpt"], capture_output=True,
                         text=True)
    assert bad.returncode == 2
    assert "did you mean `gpt2`?" in bad.stderr
    module = subprocess.run([sys.executable, "-m", "advisor", "--version"],
                            capture_output=True, text=True, check=True)
    assert module.stdout.startswith("advisor ")
    folder = subprocess.run(["advisor", "trace", str(V100.parent / "v100-training-rank0.trace.json.gz")],
                            capture_output=True, text=True, check=True)
    assert "V100" in folder.stdout
