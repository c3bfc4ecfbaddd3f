"""Running a capacity search on a front end: the probes' requests, the sync (step-driven vllm.LLM) and async
(AsyncLLM or an OpenAI-compatible server) drivers, the warm-up and unloaded reference before a search, and one
layout's search in its own process. The search's rule is common/capacity.py."""
from __future__ import annotations

import time

from common import engine as eng
from common.capacity import (START_FRACTION, CapacitySearch, ProbePlan, SearchSpec, SureFail, bracket_probes,
                             first_arrival, judge, judged_mask)
from common.capacity_display import printer
from common.capacity_stats import saturation_rate
from common.isolation import checkpoint, run_isolated
from common.loadgen import AsyncLLMBackend, run_async, run_closed_loop, run_open_loop
from common.metrics import StageTimer, unloaded_reference
from common.prom import prefix_hit_rate, read_counters
from common.workloads import PoissonWorkload, random_prompts, trace_source

UNFINISHED = "stopped before the search finished"


def as_workload(source):
    """A workload source (common.workloads: PoissonWorkload, TraceWorkload), or `make(n, seed)` as a Poisson one."""
    return source if hasattr(source, "timed") else PoissonWorkload(source)


def probe_specs(plan: ProbePlan, rate: float, source, seed: int, stretch: int = 1):
    """(RequestSpecs with arrival times covering warm-up and window, the window) at an offered rate. A trace's window
    is stretched until it holds the probe's minimum of arrivals (at most 10 x the window), as its local rate can be
    far below its mean."""
    window, w = plan.window(rate, stretch), as_workload(source)
    if hasattr(w, "fit_window"):
        window = w.fit_window(rate, window, plan.min_requests * stretch, plan.warmup_s + 10 * plan.measure_s * stretch)
    return w.timed(rate, seed, window[1]), window


def trace_terms(res: dict, source) -> dict:
    """A search over a trace: the capacity also as the trace's speed-up and its busiest minute's rate."""
    note = as_workload(source).rate_note(res.get("request_rate") or 0.0)
    if note and res.get("request_rate"):
        res.update(note)
        res["verdict"] += (f"; it holds this trace at up to {note['trace_speedup']:.3g} x its recorded rate: "
                           f"{res['request_rate']:.3g} req/s on average, {note['busiest_minute_rate']:.3g} req/s in "
                           "its busiest minute")
        # the stretch replayed is not the whole trace: what actually arrived in the judged window at that speed
        at, _ = bracket_probes(res["probes"], *res["bracket"])
        if at and at.get("arrived_rate") is not None:
            res["stretch_arrived_rate"] = at["arrived_rate"]
            res["verdict"] += f" (the stretch replayed brought {at['arrived_rate']:.3g} req/s in the judged window)"
    return res


# --------------------------------------------------------------------------- where the search starts
def saturation_concurrency(max_num_seqs: int | None = None, cap: int = 256) -> int:
    """Clients of the saturation probe: the engine's batch limit (max_num_seqs; 256 when unknown, as behind a
    server), at most `cap` (256) - a batch at least as large as a probe near capacity runs at."""
    return max(2, min(max_num_seqs or 256, cap))


def started(search: dict, saturation: dict | None, **extra) -> SearchSpec:
    """The search's spec with its first rate and ceiling: --capacity-start-rate when given (no ceiling), else
    START_FRACTION of the saturation probe's rate; where the first rate came from goes into `search_start`."""
    if search.get("start_rate"):
        return SearchSpec(**{**search, **extra})
    ceiling = (saturation or {}).get("ceiling_rate")
    return SearchSpec(**{**search, **extra, "start_rate": round(START_FRACTION * ceiling, 4) if ceiling else 1.0,
                         "ceiling": ceiling})


def start_note(spec: SearchSpec, saturation: dict | None) -> dict:
    """metrics.capacity.start: where the first rate came from, for the JSON and the table."""
    if spec.ceiling is None:
        src = "--capacity-start-rate" if saturation is None else "1 req/s (the saturation probe completed too few)"
        return {"from": src, "rate": spec.start_rate}
    return {"from": f"{START_FRACTION:g} x the saturation probe's {spec.ceiling:.3g} req/s", "rate": spec.start_rate,
            **saturation}


async def saturation_async(backend, source, concurrency: int, seed: int) -> dict:
    """A closed loop of `concurrency` clients, 2 x that many requests: the ceiling (saturation_rate) and its cost."""
    t = time.perf_counter()
    recs = await run_closed_loop(backend, as_workload(source).requests(2 * concurrency, seed), concurrency=concurrency)
    return {"ceiling_rate": saturation_rate(recs), "concurrency": concurrency, "requests": len(recs),
            "wall_s": round(time.perf_counter() - t, 2)}


def saturation_sync(run_closed, source, concurrency: int, seed: int) -> dict:
    """saturation_async with a blocking front end: `run_closed(specs, concurrency) -> records`."""
    t = time.perf_counter()
    recs = run_closed(as_workload(source).requests(2 * concurrency, seed), concurrency)
    return {"ceiling_rate": saturation_rate(recs), "concurrency": concurrency, "requests": len(recs),
            "wall_s": round(time.perf_counter() - t, 2)}


def _with_time_and_samples(probe: dict, t: float, records) -> dict:
    """The probe's wall time, and its requests one by one (moved to the JSON's raw by `split_samples`)."""
    probe["wall_s"] = round(time.perf_counter() - t, 2)
    t0 = first_arrival(records)
    w = probe["window_s"]
    ms = lambda v: None if v is None else round(v * 1000, 3)  # noqa: E731
    probe["samples"] = {
        "arrival_s": [None if r.scheduled_s is None else round(r.scheduled_s - t0, 4) for r in records],
        "ttft_ms": [ms(r.ttft_s) for r in records], "tpot_ms": [ms(r.tpot_s) for r in records],
        "e2el_ms": [ms(r.e2e_s) if r.ok else None for r in records], "output_len": [r.output_len for r in records],
        "klass": [r.klass for r in records], "error": [r.error for r in records],
        # exactly the requests judged: arrival_s is rounded, so one at a window edge could be counted either way
        "judged": judged_mask(records, t0 + w[0], t0 + w[1])}
    return probe


def split_samples(cap: dict | None) -> list[dict]:
    """Take each probe's per-request samples out of metrics.capacity, for the JSON's raw: [{offered_rate, ...}]."""
    return [{"offered_rate": p["offered_rate"], **p.pop("samples")} for p in (cap or {}).get("probes", [])
            if "samples" in p]


def search_sync(spec: SearchSpec, plan: ProbePlan, source, run_open, seed: int = 0, on_probe=None) -> dict:
    """The search with a blocking front end: `run_open(specs, time_limit_s, stop) -> records` (e.g. stepdrive),
    which calls `stop(records, t0, now)` now and then and ends the probe when it returns a reason. After each probe
    `on_probe(result so far)` gets what result() would say, marked failed (UNFINISHED) until the search ends."""
    search = CapacitySearch(spec)
    while (rate := search.next_rate()) is not None:
        specs, window = probe_specs(plan, rate, source, seed + 1000 * len(search.probes), search.stretch())
        stop, t = SureFail(specs, window, spec), time.perf_counter()
        recs = run_open(specs, plan.time_limit_s(window), stop)
        search.add(_with_time_and_samples(judge(recs, rate, window, spec, stopped=stop.stopped), t, recs))
        if on_probe:
            on_probe(search.result(failure=UNFINISHED))
    return trace_terms(search.result(), source)


async def search_async(spec: SearchSpec, plan: ProbePlan, source, backend, seed: int = 0,
                       on_probe=None) -> dict:
    """The search with an async streaming backend (common.loadgen: AsyncLLM or an OpenAI-compatible server).
    A probe in which no request got a token and some failed (a server gone) ends the search as failed, keeping
    the probes done."""
    search = CapacitySearch(spec)
    while (rate := search.next_rate()) is not None:
        specs, window = probe_specs(plan, rate, source, seed + 1000 * len(search.probes), search.stretch())
        stop, t = SureFail(specs, window, spec), time.perf_counter()
        recs = await run_open_loop(backend, specs, time_limit_s=plan.time_limit_s(window), stop=stop)
        dead = [r.error for r in recs if r.error and not r.error.startswith("probe stopped")
                and "time limit" not in r.error]
        search.add(_with_time_and_samples(judge(recs, rate, window, spec, stopped=stop.stopped), t, recs))
        if on_probe:
            on_probe(search.result(failure=UNFINISHED))
        if dead and not any(r.first_token_s is not None for r in recs):  # nothing answered, something refused
            return search.result(failure=f"no request of the probe at {rate:.3g} req/s was answered, e.g. {dead[0]}")
    return trace_terms(search.result(), source)



async def capacity_on_backend(backend, search: dict, workload: dict, on_probe=None, max_num_seqs: int | None = None,
                              source=None, **extra) -> dict:
    """Warm-up, unloaded reference, the saturation probe, then the search, on one running front end (a common.loadgen
    backend). `search`: spec_from_args()'s dict; `workload`: input_len, output_len, range_ratio, vocab_size, seed;
    `source`: the requests (common.workloads; default: random prompts of that shape); `extra`: SearchSpec fields."""
    w = workload
    source = as_workload(source or (lambda n, seed: random_prompts(n, w["input_len"], w["output_len"], w["vocab_size"],
                                                                   seed=seed, range_ratio=w.get("range_ratio", 0.0))))
    warm = await run_closed_loop(backend, random_prompts(4, w["input_len"], 8, w["vocab_size"], seed=w["seed"] + 7),
                                 concurrency=4)
    if not any(r.ok for r in warm):
        raise RuntimeError(f"every warm-up request failed, e.g. {warm[0].error}")
    ttft, tpot = unloaded_reference(await run_closed_loop(backend, source.requests(4, w["seed"] + 11), concurrency=1))
    before = await read_counters(backend)
    sat = None if search.get("start_rate") else await saturation_async(
        backend, source, saturation_concurrency(max_num_seqs), w["seed"] + 13)
    spec = started(search, sat, **extra)
    max_out = getattr(source, "max_output_len", None) or int(w["output_len"] * (1 + w.get("range_ratio", 0.0))) + 1
    res = await search_async(spec, ProbePlan.from_spec(spec, max_out), source, backend,
                             seed=w["seed"] + 5000, on_probe=printer(spec, on_probe, start_note(spec, sat)))
    res["unloaded"] = {"ttft_ms": ttft * 1000, "tpot_ms": tpot * 1000}
    res["start"] = start_note(spec, sat)
    # the engine's prefix cache over the saturation probe and the search (a trace's shared blocks show here)
    after = await read_counters(backend) if before is not None else None
    res["prefix_cache_hit_rate"] = prefix_hit_rate(before, after) if after is not None else None
    return res


# --------------------------------------------------------------------------- one layout's search, in its own process
def capacity_child(cfg: dict) -> dict:
    """One layout as `vllm serve` would run it (AsyncLLM, DP via data_parallel_size) and its capacity search."""
    return run_async(_capacity(cfg))


async def _capacity(cfg: dict) -> dict:
    timer = StageTimer()
    with timer("engine_start"):
        engine = eng.build_async_engine(cfg["engine"])
    try:
        workload = {"range_ratio": 0.0, **{k: cfg[k] for k in ("input_len", "output_len", "vocab_size", "seed")}}
        with timer("capacity_search"):
            res = await capacity_on_backend(AsyncLLMBackend(engine), cfg["capacity"], workload, source=trace_source(cfg),
                                            on_probe=lambda partial: checkpoint(cfg, partial),
                                            max_num_seqs=eng.scheduler_limits(engine)["max_num_seqs"]
                                            * cfg["engine"].get("data_parallel_size", 1))  # every DP replica's batch
        res["scheduler"] = eng.scheduler_limits(engine)
    finally:
        engine.shutdown()
    return {**res, "engine": cfg["engine"], "stage_seconds": timer.seconds}


def run_capacity(layout: dict, base: dict, timeout_s: float) -> dict:
    """metrics.capacity of one layout, from its own process; a failed search is recorded with its cause."""
    engine = {**base["engine"], "tensor_parallel_size": layout["tp"], "pipeline_parallel_size": layout["pp"],
              **({"data_parallel_size": layout["dp"]} if layout["dp"] > 1 else {})}
    print(f"  {layout['name']}: capacity search (an AsyncLLM engine as `vllm serve` builds it) ...", flush=True)
    res = run_isolated("common.capacity_drivers:capacity_child", {**base, "engine": engine}, timeout_s=timeout_s,
                       label=f"{layout['name']} capacity")
    if res["status"] == "ok":
        res.pop("status")
        return res
    f = res["failure"]
    out = {**(res.get("partial") or {}), "engine": engine, "request_rate": None,
           "failed": f"{f['kind']}: {f['message'][:300]}", "verdict": f"search failed ({f['kind']}): {f['message'][:200]}"}
    print(f"  {layout['name']} capacity search FAILED ({f['kind']}): {f['message'][:300]}\n  hint: {f['hint']}", flush=True)
    if f["kind"] == "interrupted":
        out["interrupted"] = True
    return out
