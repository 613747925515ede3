"""Writes the synthetic traces in this folder (run by hand; CI reads the files it wrote).

pageable-copies.trace.json: four training steps shaped like HTA's TorchRec traces
(`sampled_rank-*.json.gz`): a forward, then a `## sparse_data_dist ##` annotation in which
`.item()` (aten::item -> aten::_local_scalar_dense) and `.to("cuda")` (aten::to -> aten::copy_)
issue cudaMemcpyAsync on pageable host memory, which blocks the CPU until the GPU has drained
its queue and the copy is done; then a backward. About 30 % of each step is blocked.

graphs-deep-queue.trace.json: a compiled decode loop replayed with CUDA graphs
(`cudaGraphLaunch`, kernels attributed to the graph launch) behind a deep queue: the host runs
far ahead of the GPU, so the GPU is the bottleneck and launch advice would be wrong.

input-stall.trace.json: five training steps fed by an iterable dataset whose reading and
tokenization run in the loop (no DataLoader spans): each step starts with 4 ms of host work
(`tokenize` under a `## next_batch ##` annotation) before its first copy and kernel, while
the GPU, done with the previous step, sits idle.
"""

import json

PID, TID, STREAM = 100, 100, 7


def x(cat, name, ts, dur, pid=PID, tid=TID, **args):
    event = {"ph": "X", "cat": cat, "name": name, "pid": pid, "tid": tid, "ts": ts, "dur": dur}
    if args:
        event["args"] = args
    return event


def gpu(cat, name, ts, dur, correlation, **extra):
    return x(cat, name, ts, dur, pid=0, tid=STREAM,
             correlation=correlation, stream=STREAM, device=0, **extra)


def pageable():
    events, correlation, t = [], 1, 1_000_000.0
    for step in range(4):
        start = t
        events.append(x("user_annotation", f"ProfilerStep#{step}", start, 10_000.0))
        # Forward: 30 launches of 80 µs GEMMs, queued back to back on the GPU.
        events.append(x("user_annotation", "## forward ##", start + 10, 3_000.0))
        gpu_t = start + 50
        for i in range(30):
            launch = start + 20 + 90 * i
            events.append(x("cpu_op", "aten::mm", launch - 2, 8.0))
            events.append(x("cuda_runtime", "cudaLaunchKernel", launch, 5.0, correlation=correlation))
            gpu_t = max(gpu_t, launch + 10)
            events.append(gpu("kernel", "ampere_bf16_s16816gemm_bf16_128x64_ldg8_f2f_nn", gpu_t, 80.0, correlation))
            gpu_t += 82
            correlation += 1
        # sparse_data_dist: .item() and .to() on pageable memory, blocking the host.
        sdd = start + 3_100
        events.append(x("user_annotation", "## sparse_data_dist ##", sdd, 3_800.0))
        events.append(x("cpu_op", "aten::item", sdd + 10, 1_800.0))
        events.append(x("cpu_op", "aten::_local_scalar_dense", sdd + 15, 1_790.0))
        events.append(x("cuda_runtime", "cudaMemcpyAsync", sdd + 20, 1_770.0, correlation=correlation))
        events.append(gpu("gpu_memcpy", "Memcpy DtoH (Device -> Pageable)", sdd + 1_780, 3.0, correlation,
                          bytes=8))
        correlation += 1
        events.append(x("cpu_op", "aten::to", sdd + 1_900, 1_300.0))
        events.append(x("cpu_op", "aten::copy_", sdd + 1_905, 1_290.0))
        events.append(x("cuda_runtime", "cudaMemcpyAsync", sdd + 1_910, 1_270.0, correlation=correlation))
        events.append(gpu("gpu_memcpy", "Memcpy HtoD (Pageable -> Device)", sdd + 2_700, 450.0, correlation,
                          bytes=4 * 1024 * 1024))
        correlation += 1
        # Backward: 30 launches of 90 µs kernels.
        bwd = start + 7_000
        events.append(x("cpu_op", "autograd::engine::evaluate_function: MmBackward0", bwd, 2_900.0))
        gpu_t = bwd + 40
        for i in range(30):
            launch = bwd + 10 + 95 * i
            events.append(x("cuda_runtime", "cudaLaunchKernel", launch, 5.0, correlation=correlation))
            gpu_t = max(gpu_t, launch + 10)
            events.append(gpu("kernel", "ampere_bf16_s16816gemm_bf16_64x64_ldg8_f2f_tn", gpu_t, 90.0, correlation))
            gpu_t += 92
            correlation += 1
        t += 10_000.0
    return events


def graphs():
    events, correlation, t = [], 1, 1_000_000.0
    # The host replays a graph every 100 µs; each graph holds 8 kernels of 60 µs on the GPU,
    # so the GPU falls behind and the queue deepens: GPU-bound.
    gpu_t = t + 20
    for step in range(4):
        start = t
        events.append(x("user_annotation", f"ProfilerStep#{step}", start, 2_000.0))
        events.append(x("cpu_op", "CompiledFunction", start + 1, 1_990.0))
        for g in range(20):
            launch = start + 5 + 100 * g
            events.append(x("cuda_runtime", "cudaGraphLaunch", launch, 20.0, correlation=correlation))
            for k in range(8):
                gpu_t = max(gpu_t, launch + 10)
                events.append(gpu("kernel", f"triton_poi_fused_mul_{k}", gpu_t, 60.0, correlation))
                gpu_t += 61
            correlation += 1
        t += 2_000.0
    return events


def input_stall():
    events, correlation, t = [], 1, 1_000_000.0
    for step in range(5):
        start = t
        events.append(x("user_annotation", f"ProfilerStep#{step}", start, 10_000.0))
        # The next batch, read and tokenized on the critical path: 4 ms before any GPU work.
        events.append(x("user_annotation", "## next_batch ##", start + 5, 3_990.0))
        events.append(x("cpu_op", "tokenize", start + 10, 3_980.0))
        # Copy it in (pageable, small), then 60 back-to-back 95 µs kernels.
        launch = start + 4_000
        events.append(x("cpu_op", "aten::to", launch - 5, 30.0))
        events.append(x("cuda_runtime", "cudaMemcpyAsync", launch, 20.0, correlation=correlation))
        events.append(gpu("gpu_memcpy", "Memcpy HtoD (Pinned -> Device)", launch + 10, 20.0, correlation,
                          bytes=256 * 1024))
        correlation += 1
        gpu_t = launch + 40
        for i in range(60):
            call = launch + 40 + 15 * i
            events.append(x("cpu_op", "aten::mm", call - 2, 8.0))
            events.append(x("cuda_runtime", "cudaLaunchKernel", call, 5.0, correlation=correlation))
            gpu_t = max(gpu_t, call + 10)
            events.append(gpu("kernel", "ampere_bf16_s16816gemm_bf16_128x64_ldg8_f2f_nn", gpu_t, 95.0, correlation))
            gpu_t += 97
            correlation += 1
        t = start + 10_000
    return events


def write(name, events):
    document = {
        "schemaVersion": 1,
        "deviceProperties": [{"id": 0, "name": "NVIDIA A100-SXM4-80GB", "totalGlobalMem": 85899345920,
                              "computeMajor": 8, "computeMinor": 0, "numSms": 108, "warpSize": 32}],
        "traceEvents": events,
    }
    with open(name, "w") as f:
        json.dump(document, f, separators=(",", ":"))


if __name__ == "__main__":
    write("pageable-copies.trace.json", pageable())
    write("graphs-deep-queue.trace.json", graphs())
    write("input-stall.trace.json", input_stall())
