"""Build vLLM engines from plain kwargs (any EngineArgs field) and ask each rank about itself.

vLLM is imported inside the functions: the scripts' `--help` and the parent sweep process never pay
for it; only the per-configuration child processes do.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import psutil

from common.runtime import hardware
from common.runtime.isolation import shm_of, unlink_shm


def world_size(kwargs: dict) -> int:
    return (
        int(kwargs.get("tensor_parallel_size", 1))
        * int(kwargs.get("pipeline_parallel_size", 1))
        * int(kwargs.get("data_parallel_size", 1))
    )


def engine_env_for(kwargs: dict) -> dict[str, str]:
    """hardware.engine_env for the engine these vLLM kwargs build (its ranks, a local model, an explicit KV cache)."""
    local = Path(str(kwargs.get("model", ""))).expanduser().is_dir()
    return hardware.engine_env(world_size(kwargs), local, kwargs.get("kv_cache_memory_bytes") is not None)


def prepare_env(kwargs: dict) -> None:
    """Environment for this engine process (before vLLM is imported)."""
    os.environ.update(engine_env_for(kwargs))


WORKER_EXTENSION = "common.runtime.worker_ext.RankReport"


def build_llm(kwargs: dict):
    """vllm.LLM from EngineArgs-style kwargs; its workers gain the lab's rank report (`rank_reports`) unless the
    user names a worker extension of their own."""
    prepare_env(kwargs)
    from vllm import LLM

    return LLM(**{"worker_extension_cls": WORKER_EXTENSION, **kwargs})


def build_async_engine(kwargs: dict):
    """vllm AsyncLLM from EngineArgs-style kwargs, configured as `vllm serve` configures it.

    vLLM picks scheduler defaults by entry point: AsyncLLM's own default (ENGINE_CONTEXT) gives 128
    sequences and 2,048 tokens per step, where `vllm serve` gets 1,024 and 8,192 on an H100/H200 (and
    `vllm.LLM` 1,024 and 16,384). Passing the server's usage context makes the in-process engine the one a
    `--base-url` run measures; flags the user sets still win."""
    prepare_env(kwargs)
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.usage.usage_lib import UsageContext
    from vllm.v1.engine.async_llm import AsyncLLM

    return AsyncLLM.from_engine_args(AsyncEngineArgs(**kwargs), usage_context=UsageContext.OPENAI_API_SERVER)


SCHEDULER_LIMITS = ("max_num_seqs", "max_num_batched_tokens")


def scheduler_limits(engine) -> dict:
    """The scheduler limits an LLM or AsyncLLM actually runs with (vLLM's defaults depend on the device and
    the entry point, so a run records what it got)."""
    cfg = (engine.llm_engine if hasattr(engine, "llm_engine") else engine).vllm_config
    s = cfg.scheduler_config
    return {
        "max_num_seqs": s.max_num_seqs,
        "max_num_batched_tokens": s.max_num_batched_tokens,
        "enable_chunked_prefill": getattr(s, "enable_chunked_prefill", None),
        "long_prefill_token_threshold": getattr(s, "long_prefill_token_threshold", None),
        "cudagraph_max_tokens": cudagraph_max_tokens(cfg.compilation_config),
    }


def cudagraph_max_tokens(compilation_config) -> int:
    """The largest step (in tokens) the engine replays as a CUDA graph; 0 when it captures none (CPU, eager).
    Steps past it run without a graph, which costs a mixed step far more than its extra tokens: pick a prefill cap
    that keeps cap + running decodes within it (docs/sample_results/h200x1/mixed_capacity/)."""
    sizes = compilation_config.cudagraph_capture_sizes or []
    mode = getattr(compilation_config, "cudagraph_mode", None)
    if not sizes or (mode is not None and mode.max_cudagraph_mode().name == "NONE"):
        return 0
    return max(sizes)


# How long an engine core gets to exit on its own before vLLM kills its process tree. vLLM's default (5 s) is mostly
# spent tearing down Python interpreters: on a loaded 2-core box the core rarely makes it and is killed anyway. The
# result is on disk by then; a Ray executor keeps vLLM's default (its actors are not in the tree a kill reaches).
SHUTDOWN_GRACE_S = 1.0


def shutdown(engine) -> None:
    """Stop an LLM's or AsyncLLM's engine core and workers before the process exits, so worker processes
    do not outlive their process group and print c10d heartbeat errors on the way out."""
    # the queues only the engine core and workers map: gone with them when they exit in time, left behind when vLLM
    # kills them (ours are removed by this process's resource tracker as it exits)
    me = psutil.Process()
    theirs = shm_of(me.children(recursive=True)) - shm_of([me])
    try:
        core = engine.llm_engine.engine_core if hasattr(engine, "llm_engine") else engine
        config = getattr(engine, "llm_engine", engine).vllm_config
        ray = config.parallel_config.distributed_executor_backend == "ray"
        if ray or "timeout" not in inspect.signature(core.shutdown).parameters:  # vLLM before the timeout argument
            core.shutdown()
        else:
            core.shutdown(timeout=SHUTDOWN_GRACE_S)
    except Exception:
        pass  # exiting anyway; the isolation layer kills what is left
    unlink_shm(theirs)


def rank_reports(llm) -> list[dict]:
    """One report per rank (weights bytes, KV-cache bytes, pid, device), from the method every worker gains
    through WORKER_EXTENSION: called by name, so no engine needs to accept pickled functions."""
    return sorted(llm.collective_rpc("lab_rank_report"), key=lambda r: (r["rank"] is None, r["rank"]))


def kv_cache_tokens(llm) -> int | None:
    cc = llm.llm_engine.vllm_config.cache_config
    if cc.num_gpu_blocks is None:
        return None
    return int(cc.num_gpu_blocks) * int(cc.block_size)
