"""Records the before/after pairs in this folder: torch.profiler traces and measured latencies.

Not run in CI. Needs CPU PyTorch and transformers (models are built from configs with random
weights; nothing is downloaded):

    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch transformers
    /tmp/torchenv/bin/python testdata/pairs/record.py

Each pair runs its two variants interleaved (A, B, B, A, ...) after a warm-up, so drift of a
shared machine falls on both, and writes for each variant a gzipped trace of a few profiler
steps (record_shapes=True) and an analysis context with the measured latency and the run's
settings. measured.json gathers the figures and the machine they came from.
"""

import gzip
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

import torch
import transformers
from torch.profiler import ProfilerActivity, profile, schedule

HERE = os.path.dirname(os.path.abspath(__file__))
TRACE_STEPS = 2
SEED = 0


def gpt2_config():
    # GPT-2 small (124M): the shape of the published checkpoint, random weights.
    return transformers.GPT2Config(n_layer=12, n_embd=768, n_head=12, n_positions=1024,
                                   vocab_size=50257)


def bert_config():
    # BERT-base (110M), random weights.
    return transformers.BertConfig(hidden_size=768, num_hidden_layers=12,
                                   num_attention_heads=12, intermediate_size=3072)


def gpt2_generate(use_cache, prompt_len, new_tokens):
    torch.manual_seed(SEED)
    model = transformers.GPT2LMHeadModel(gpt2_config()).eval()
    ids = torch.randint(0, 50257, (1, prompt_len))

    def step():
        with torch.inference_mode():
            model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                           do_sample=False, use_cache=use_cache, pad_token_id=0)
    return step


def bert_forward(batch, seq_len, int8=False, bf16=False):
    torch.manual_seed(SEED)
    model = transformers.BertModel(bert_config()).eval()
    if int8:
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear},
                                                       dtype=torch.qint8)
    ids = torch.randint(0, 30522, (batch, seq_len))

    def step():
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16,
                                                    enabled=bf16):
            model(input_ids=ids)
    return step


def with_threads(threads, make):
    def step():
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            make()
        finally:
            torch.set_num_threads(previous)
    return step


PAIRS = [
    {
        "id": "gpt2_kv_cache",
        "suggestion": "kv_cache",
        "model": "gpt2",
        "description": "GPT-2 small greedy generation, 32-token prompt, 16 new tokens, "
                       "KV cache off then on",
        "repetitions": 5,
        "before": {"config": {"kv_cache": "false", "prompt_len": "32", "new_tokens": "16",
                              "batch_size": "1"},
                   "make": lambda: gpt2_generate(False, 32, 16)},
        "after": {"config": {"kv_cache": "true", "prompt_len": "32", "new_tokens": "16",
                             "batch_size": "1"},
                  "make": lambda: gpt2_generate(True, 32, 16)},
    },
    {
        "id": "bert_int8",
        "suggestion": "dynamic_quantization",
        "model": "bert",
        "description": "BERT-base forward, batch 1, sequence 128, fp32 then dynamic int8 "
                       "(torch.ao.quantization.quantize_dynamic on nn.Linear)",
        "repetitions": 8,
        "before": {"config": {"precision": "fp32", "batch_size": "1", "seq_len": "128"},
                   "make": lambda: bert_forward(1, 128)},
        "after": {"config": {"precision": "fp32", "quantization": "int8", "batch_size": "1",
                             "seq_len": "128"},
                  "make": lambda: bert_forward(1, 128, int8=True)},
    },
    {
        "id": "bert_bf16",
        "suggestion": "mixed_precision",
        "model": "bert",
        "description": "BERT-base forward, batch 1, sequence 128, fp32 then bf16 autocast "
                       "(torch.autocast(\"cpu\", dtype=torch.bfloat16): oneDNN's AMX or "
                       "AVX512-BF16 kernels where the CPU has them)",
        "repetitions": 8,
        "before": {"config": {"precision": "fp32", "batch_size": "1", "seq_len": "128"},
                   "make": lambda: bert_forward(1, 128)},
        "after": {"config": {"precision": "bf16", "batch_size": "1", "seq_len": "128"},
                  "make": lambda: bert_forward(1, 128, bf16=True)},
    },
    {
        "id": "bert_threads",
        "suggestion": "parallelization",
        "model": "bert",
        "description": "BERT-base forward, batch 1, sequence 128, 1 intra-op thread then 2",
        "repetitions": 8,
        "before": {"config": {"num_threads": "1", "batch_size": "1", "seq_len": "128"},
                   "make": lambda: with_threads(1, bert_forward(1, 128))},
        "after": {"config": {"num_threads": "2", "batch_size": "1", "seq_len": "128"},
                  "make": lambda: with_threads(2, bert_forward(1, 128))},
    },
    {
        "id": "bert_batch",
        "suggestion": "batch_size",
        "model": "bert",
        "description": "BERT-base forward, sequence 128, batch 1 then batch 8 (latency is "
                       "per batch; throughput per sample)",
        "repetitions": 8,
        "before": {"config": {"batch_size": "1", "seq_len": "128"},
                   "make": lambda: bert_forward(1, 128)},
        "after": {"config": {"batch_size": "8", "seq_len": "128"},
                  "make": lambda: bert_forward(8, 128)},
    },
]


def record_trace(step, path):
    """Profiles TRACE_STEPS steps (after one warm-up step) and writes a gzipped trace."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "trace.json")
        # The profiler drops a cycle's events once it ends: export them as it does.
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True,
                     schedule=schedule(wait=0, warmup=1, active=TRACE_STEPS),
                     on_trace_ready=lambda p: p.export_chrome_trace(raw)) as prof:
            for _ in range(1 + TRACE_STEPS):
                step()
                prof.step()
        with open(raw, "rb") as src, gzip.open(path, "wb", compresslevel=9) as dst:
            shutil.copyfileobj(src, dst)


def measure(pair):
    steps = {side: pair[side]["make"]() for side in ("before", "after")}
    for side in ("before", "after"):
        steps[side]()  # warm-up
    times = {"before": [], "after": []}
    for rep in range(pair["repetitions"]):
        order = ("before", "after") if rep % 2 == 0 else ("after", "before")
        for side in order:
            start = time.perf_counter()
            steps[side]()
            times[side].append((time.perf_counter() - start) * 1000.0)
    result = {}
    for side in ("before", "after"):
        trace = f"{pair['id']}.{side}.trace.json.gz"
        record_trace(steps[side], os.path.join(HERE, trace))
        ms = times[side]
        latency = {"count": len(ms), "mean_ms": statistics.mean(ms),
                   "median_ms": statistics.median(ms), "min_ms": min(ms), "max_ms": max(ms),
                   "std_dev_ms": statistics.stdev(ms)}
        context = {"latency_metrics": latency,
                   "current_config": dict(pair[side]["config"], device="cpu", mode="inference")}
        name = f"{pair['id']}.{side}.context.json"
        with open(os.path.join(HERE, name), "w") as f:
            json.dump(context, f, indent=2)
            f.write("\n")
        result[side] = {"config": pair[side]["config"], "latency_ms": ms, "latency": latency,
                        "trace": trace, "context": name}
    return result


def machine():
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": model, "logical_cpus": os.cpu_count(),
            "usable_cpus": len(os.sched_getaffinity(0)), "python": sys.version.split()[0],
            "torch": torch.__version__, "transformers": transformers.__version__,
            "torch_threads_default": torch.get_num_threads(), "platform": platform.platform()}


def main():
    only = set(sys.argv[1:])
    out = {"machine": machine(), "pairs": []}
    path = os.path.join(HERE, "measured.json")
    if only and os.path.exists(path):
        with open(path) as f:
            out["pairs"] = [p for p in json.load(f)["pairs"] if p["id"] not in only]
    for pair in PAIRS:
        if only and pair["id"] not in only:
            continue
        print(f"recording {pair['id']}", file=sys.stderr)
        result = measure(pair)
        before, after = result["before"]["latency"]["mean_ms"], result["after"]["latency"]["mean_ms"]
        print(f"  before {before:.1f} ms, after {after:.1f} ms, "
              f"change {100 * (after - before) / before:+.1f} %", file=sys.stderr)
        out["pairs"].append({"id": pair["id"], "suggestion": pair["suggestion"],
                             "model": f"{pair['model']}.config.json",
                             "description": pair["description"], **result})
    for name, config in (("gpt2", gpt2_config()), ("bert", bert_config())):
        config.to_json_file(os.path.join(HERE, f"{name}.config.json"))
    with open(path, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
