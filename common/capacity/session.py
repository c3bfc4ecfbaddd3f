"""One capacity search as a script runs it, on a running front end (an in-process AsyncLLM or a server): the search
with each probe checkpointed, the validation replay after it (the search saved first), its figures derived
(`summarized`: the day's fleet), its failure as the run's, and the `vllm bench serve` cross-check at the rate
found. Text about it lives in common.capacity.display; the rule in common.capacity.search."""

from __future__ import annotations

import asyncio
from typing import Protocol

from common.capacity.drivers import CapacitySettings, capacity_on_backend, validate_on_backend, validation_span
from common.capacity.result import CapacityResult
from common.measure.calibration import bench_at_capacity
from common.measure.metrics import StageTimer
from common.runtime.isolation import Failure, checkpoint
from common.traffic.load_profile import SCALE_STEP_S, fleet_plan
from common.traffic.workloads import TraceWorkload, workload_source


class SessionSettings(CapacitySettings, Protocol):
    """What a search session reads from its script's Config (simulate_concurrent_requests.py's): the search's
    (CapacitySettings), the server it talks to, if any, and the validation replay's span."""

    base_url: str | None
    validate_span_s: float | None
    timeout_s: float


async def search(backend, cfg: CapacitySettings, out: dict) -> CapacityResult:
    """--find-capacity on `backend`: warm-up, unloaded reference and the search (settings: cfg.capacity); each probe
    checkpointed into out["capacity"]."""

    def on_probe(partial: CapacityResult):
        out["capacity"] = partial
        checkpoint(out)

    return await capacity_on_backend(
        backend,
        cfg.capacity,
        workload_source(cfg),
        cfg.seed,
        warm_up_shape=(cfg.input_len, cfg.vocab_size),
        on_probe=on_probe,
        max_num_seqs=(out.get("scheduler") or {}).get("max_num_seqs"),
    )


async def validate(backend, cfg: SessionSettings, out: dict, timer: StageTimer, after_search=None) -> None:
    """--validate after a search: the search on disk first (its validation said to be pending; `after_search(out)`
    saves it behind a server), then the replay; a replay that fails is recorded in metrics.capacity.validation, and
    the search stands."""
    cap: CapacityResult = out["capacity"]
    cap.validation = {"verdict": "not finished: the run stopped during the validation replay"}
    checkpoint(out)
    if after_search:
        await asyncio.to_thread(after_search, out)
    src = workload_source(cfg)
    assert isinstance(src, TraceWorkload)  # --validate goes with a timed trace (the script's flags check says so)
    span = validation_span(src, cap.binding_window, cfg.validate_span_s)
    a, b = span or (0.0, src.trace.span_s)
    b = min(b, src.trace.span_s)
    speed = cap.trace_speedup or 1.0  # (a search over a trace that found a rate: the caller checks)
    print(
        f"  validation replay: {(b - a) / 60:.3g} min of the trace at {speed:.3g}x, "
        f"about {(b - a) / speed / 60:.3g} min"
        + ("" if cfg.base_url else f" (within this run's --timeout {cfg.timeout_s:g} s)"),
        flush=True,
    )
    try:
        with timer("validation"):  # prompts seeded apart from every probe's: nothing in the prefix cache from them
            cap.validation = v = await validate_on_backend(backend, src, cap, cfg.seed + 900_000, span)
    except Exception as e:  # e.g. the server went away during the replay
        cap.validation = {"verdict": f"failed: {type(e).__name__}: {e}"[:300]}
        return
    print(f"  validation: {v['verdict']}", flush=True)


def summarized(cap: CapacityResult, gpus: int) -> CapacityResult:
    """The search's derived figures, into `cap`: on a trace, the stretch as recorded (x1) served by replicas like
    this one, static vs autoscaled, per day (the stretch's pattern repeated): fleet_at_recorded_rate."""
    if cap.found and cap.binding_window and cap.binding_work_per_s and cap.profile and cap.trace_speedup:
        cap.fleet_at_recorded_rate = fleet_plan(
            cap.profile["windows"],
            cap.trace_speedup * cap.binding_work_per_s,
            gpus_per_replica=gpus,
            step_s=SCALE_STEP_S,
            end_s=cap.profile.get("end_s"),
        )
    return cap


def search_failure(cfg: SessionSettings, res: dict) -> Failure | None:
    """A capacity search that did not finish, as the run's failure (None for levels, or a search that finished)."""
    cap: CapacityResult | None = res.get("capacity")
    if not cfg.capacity or (cap and not cap.failed):
        return None
    return Failure(
        "other",
        (cap.failed if cap else None) or res.get("error") or "no result",
        f"is the server at {cfg.base_url} still up? its log says why it stopped"
        if cfg.base_url
        else "the engine's log above says why it stopped",
    )


def cross_check(cfg, cap: CapacityResult, served: str) -> None:
    """--compare-vllm-bench after a search: vllm bench serve at the rate found, into cap; cut or broken, the error
    goes there too (the step records the run's failure), and the search stands. `cfg`: the script's Config."""
    try:
        print(
            f"\n=== vllm bench serve at the capacity found, {cap.request_rate:.3g} req/s"
            + (f" ({cap.trace_speedup:.3g}x the trace)" if cap.trace_speedup else "")
            + " ...",
            flush=True,
        )
        cap.vllm_bench_at_capacity = bench_at_capacity(cfg, served, cap, cap.at_bracket()[0])
    except KeyboardInterrupt:
        cap.vllm_bench_at_capacity = {"error": "interrupted by the user (Ctrl-C) during vllm bench serve"}
        raise
    except Exception as e:
        cap.vllm_bench_at_capacity = {"error": f"{type(e).__name__}: {e}"[:500]}
        raise
