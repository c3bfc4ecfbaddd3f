"""Where are we running (GPUs or CPU only) and which environment must an engine process get."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess

# NVLink multicast (NVLS) must stay off on shared machines; harmless elsewhere.
NO_MULTICAST_ENV = {
    "NCCL_NVLS_ENABLE": "0",
    "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1",
    "NVSHMEM_DISABLE_NVLS": "1",
}


_PLANNED: list[tuple[int, str]] = []  # --plan NxGPU: the pod a plan is for, in place of this machine (plan_for)


def plan_for(machine: str) -> None:
    """Answer this process's device questions for the pod `machine` names ("4xH100", "1xH200"), not this machine:
    --plan MACHINE prints what a command would run and cost there, before renting it, and exits. ValueError if
    `machine` is not N x a GPU the lab has reference numbers for."""
    m = re.fullmatch(r"\s*(\d+)\s*x\s*(H100|H200)\s*", machine, re.IGNORECASE)
    if not m or int(m.group(1)) < 1:
        raise ValueError(f"--plan {machine}: name a pod as N x GPU, e.g. 4xH100 or 1xH200")
    _PLANNED[:] = [(int(m.group(1)), m.group(2).upper())]
    gpu_count.cache_clear()


def planned_gpu() -> str | None:
    """The GPU a --plan MACHINE names, else None (the plan is for this machine)."""
    return _PLANNED[0][1] if _PLANNED else None


@functools.lru_cache(maxsize=1)
def gpu_count() -> int:
    """Number of NVIDIA GPUs visible to this process (honours CUDA_VISIBLE_DEVICES); 0 without NVML/driver."""
    if _PLANNED:
        return _PLANNED[0][0]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return 0
    try:
        import pynvml

        pynvml.nvmlInit()
        n = pynvml.nvmlDeviceGetCount()
        pynvml.nvmlShutdown()
    except Exception:
        if not shutil.which("nvidia-smi"):
            return 0
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            return 0
        n = sum(1 for line in out.splitlines() if line.startswith("GPU "))
    if visible is not None:
        n = min(n, len([v for v in visible.split(",") if v.strip()]))
    return n


def has_gpu() -> bool:
    return gpu_count() > 0


DEFAULTS_ENV = "LAB_DEFAULTS"


def small_defaults() -> bool:
    """Whether a run takes the CPU box's defaults (the tiny local model, small workloads, short probes): on a CPU box,
    or anywhere with LAB_DEFAULTS=cpu (the tests set it, so a GPU pod runs them on the tiny model too)."""
    return not has_gpu() or os.environ.get(DEFAULTS_ENV) == "cpu"


def cpu_cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return list(range(os.cpu_count() or 1))


def device_count() -> int:
    """How many ranks this machine can host: GPUs, or on a CPU box one rank per core."""
    return gpu_count() if has_gpu() else len(cpu_cores())


def device_label() -> str:
    return "GPU" if has_gpu() else "CPU core"


def unit() -> str:
    """What one rank runs on, as tables and plots name it: "GPU", or "CPU rank" on a CPU box."""
    return "GPU" if has_gpu() else "CPU rank"


def cpu_bind_spec(world_size: int) -> str:
    """VLLM_CPU_OMP_THREADS_BIND value giving each CPU rank its own slice of the cores ("0|1", "0-3|4-7")."""
    cores = cpu_cores()
    if world_size > len(cores):
        raise ValueError(f"{world_size} CPU ranks need {world_size} cores; this machine has {len(cores)}")
    per = len(cores) // world_size
    parts = []
    for r in range(world_size):
        chunk = cores[r * per : (r + 1) * per]
        parts.append(str(chunk[0]) if len(chunk) == 1 else ",".join(map(str, chunk)))
    return "|".join(parts)


def engine_env(world_size: int = 1, model_is_local: bool = False, kv_cache_set: bool = False) -> dict[str, str]:
    """Environment variables an engine process needs; existing user settings win.

    - always: NVLink multicast off.
    - CPU: a 1 GiB KV cache per rank (vLLM's default of 92 % of the NUMA node fails on small boxes) unless the engine
      is given --kv-cache-memory-bytes (the variable would override it), one core slice per rank, and no hub access
      for local folders.
    """
    env = dict(NO_MULTICAST_ENV)
    env["TOKENIZERS_PARALLELISM"] = "false"
    env["VLLM_LOGGING_LEVEL"] = "WARNING"  # the lab prints its own summary; VLLM_LOGGING_LEVEL=INFO shows all
    env["VLLM_LOGGING_STREAM"] = "ext://sys.stderr"  # beside torch's warnings: a run's log file (common.runtime.runlog)
    if model_is_local:
        env["HF_HUB_OFFLINE"] = "1"
    if not has_gpu():
        if not kv_cache_set:
            env["VLLM_CPU_KVCACHE_SPACE"] = "1"
        if world_size > 1:
            env["VLLM_CPU_OMP_THREADS_BIND"] = cpu_bind_spec(world_size)
    for key in list(env):
        if key in os.environ and key not in NO_MULTICAST_ENV:
            env[key] = os.environ[key]
    return env


def apply_engine_env(world_size: int = 1, model_is_local: bool = False) -> dict[str, str]:
    """Set engine_env() in this process (call before importing vLLM); returns what was set."""
    env = engine_env(world_size, model_is_local)
    os.environ.update(env)
    return env
