"""All-reduce micro-benchmark: one process per device, torch.distributed (NCCL on GPUs, gloo on CPU), and the
model of a batch-1 TP decode step it feeds (roofline + all-reduces) beside the measured TP overhead.

    run_allreduce_bench(world_size=2, sizes_bytes=[...])
        -> {"backend": "nccl", "results": [{bytes, latency_us, busbw_gbps}]}
Bus bandwidth follows nccl-tests: busbw = algbw x 2(n-1)/n, algbw = bytes / time.
"""

from __future__ import annotations

import os
import time

from common.runtime import hardware
from common.runtime.server import free_port


def _worker(rank: int, world: int, port: int, sizes: list[int], iters: int, backend: str, q) -> None:
    import torch
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if backend == "nccl":
        torch.cuda.set_device(rank)
    dist.init_process_group(backend, rank=rank, world_size=world)
    dev = torch.device("cuda", rank) if backend == "nccl" else torch.device("cpu")
    out = []
    for nbytes in sizes:
        x = torch.ones(max(nbytes // 2, 1), dtype=torch.bfloat16 if backend == "nccl" else torch.float32, device=dev)
        n_iter = iters if nbytes < 64 * 2**20 else max(5, iters // 4)
        for _ in range(5):
            dist.all_reduce(x)
        if backend == "nccl":
            torch.cuda.synchronize()
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(n_iter):
            dist.all_reduce(x)
        if backend == "nccl":
            torch.cuda.synchronize()
        dt = (time.perf_counter() - t0) / n_iter
        real_bytes = x.numel() * x.element_size()
        algbw = real_bytes / dt
        out.append(
            {
                "bytes": real_bytes,
                "latency_us": dt * 1e6,
                "algbw_gbps": algbw / 1e9,
                "busbw_gbps": algbw * 2 * (world - 1) / world / 1e9,
            }
        )
    if rank == 0:
        q.put(out)
    dist.barrier()
    dist.destroy_process_group()


def run_allreduce_bench(world_size: int, sizes_bytes: list[int], iters: int = 50, backend: str | None = None) -> dict:
    import torch
    import torch.multiprocessing as mp

    backend = backend or ("nccl" if torch.cuda.is_available() and torch.cuda.device_count() >= world_size else "gloo")
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    port = free_port()
    procs = [
        ctx.Process(target=_worker, args=(r, world_size, port, sizes_bytes, iters, backend, q))
        for r in range(world_size)
    ]
    for p in procs:
        p.start()
    results = q.get(timeout=600)
    for p in procs:
        p.join(timeout=60)
    return {"backend": backend, "world_size": world_size, "results": results}


def allreduce_child(cfg: dict) -> dict:
    """Isolated entry point (common.runtime.isolation)."""
    hardware.apply_engine_env(cfg["world_size"])
    return run_allreduce_bench(cfg["world_size"], cfg["sizes_bytes"], cfg.get("iters", 50))


# --------------------------------------------------------------------------- the step model
# HBM bandwidth by GPU name (vendor datasheets, bytes/s), for the decode roofline
HBM_BANDWIDTH = {
    "H200": 4.8e12,
    "H100 NVL": 3.9e12,
    "H100": 3.35e12,
    "A100-SXM4-80GB": 2.039e12,
    "A100 80GB PCIe": 1.935e12,
    "A100": 1.555e12,
    "L40S": 0.864e12,
    "A10G": 0.6e12,
    "RTX 4090": 1.008e12,
    "L4": 0.3e12,
}


def comm_model(m: dict, allreduce: dict | None, info, gpu_name: str | None) -> dict:
    """Roofline + all-reduce model of one batch-1 TP decode step vs the measured step time."""
    out = {}
    step_s = m["batch1_tpot_ms"] / 1000 if m.get("batch1_tpot_ms") else None
    bw = next((v for k, v in HBM_BANDWIDTH.items() if gpu_name and k in gpu_name), None)
    if step_s and bw and m.get("weights_bytes_per_gpu"):
        roof = m["weights_bytes_per_gpu"] * m["pp"] / bw  # PP stages run one after another within a step
        out.update(
            {
                "hbm_bandwidth_gbps": bw / 1e9,
                "roofline_step_ms": roof * 1000,
                "decode_pct_of_hbm_roofline": roof / step_s * 100,
            }
        )
    if step_s and allreduce and m["tp"] > 1:
        decode_bytes = info.hidden_size * 2  # one token's activations, bf16
        ar = min(allreduce["results"], key=lambda r: abs(r["bytes"] - decode_bytes))
        comm = 2 * info.num_hidden_layers * ar["latency_us"] / 1e6
        out.update(
            {
                "allreduce_decode_latency_us": ar["latency_us"],
                "modelled_comm_ms_per_step": comm * 1000,
                "comm_share_of_step": comm / step_s,
            }
        )
        if "roofline_step_ms" in out:
            model = out["roofline_step_ms"] / 1000 + comm
            out.update(
                {
                    "modelled_step_ms": model * 1000,
                    "measured_step_ms": step_s * 1000,
                    "unexplained_ms": (step_s - model) * 1000,
                }
            )
    return out
