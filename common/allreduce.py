"""All-reduce micro-benchmark: one process per device, torch.distributed (NCCL on GPUs, gloo on CPU).

    run_allreduce_bench(world_size=2, sizes_bytes=[...]) -> {"backend": "nccl", "results": [{bytes, latency_us, busbw_gbps}]}
Bus bandwidth follows nccl-tests: busbw = algbw x 2(n-1)/n, algbw = bytes / time.
"""
from __future__ import annotations

import os
import time


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
        out.append({"bytes": real_bytes, "latency_us": dt * 1e6, "algbw_gbps": algbw / 1e9,
                    "busbw_gbps": algbw * 2 * (world - 1) / world / 1e9})
    if rank == 0:
        q.put(out)
    dist.barrier()
    dist.destroy_process_group()


def run_allreduce_bench(world_size: int, sizes_bytes: list[int], iters: int = 50, backend: str | None = None) -> dict:
    import torch
    import torch.multiprocessing as mp
    from common.server import free_port
    backend = backend or ("nccl" if torch.cuda.is_available() and torch.cuda.device_count() >= world_size else "gloo")
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=_worker, args=(r, world_size, port, sizes_bytes, iters, backend, q))
             for r in range(world_size)]
    for p in procs:
        p.start()
    results = q.get(timeout=600)
    for p in procs:
        p.join(timeout=60)
    return {"backend": backend, "world_size": world_size, "results": results}


def allreduce_child(cfg: dict) -> dict:
    """Isolated entry point (common.isolation)."""
    from common import platform
    platform.apply_engine_env(cfg["world_size"])
    return run_allreduce_bench(cfg["world_size"], cfg["sizes_bytes"], cfg.get("iters", 50))
