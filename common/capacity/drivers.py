"""Running a capacity search on a front end: the probes' requests, the sync (step-driven vllm.LLM) and async
(AsyncLLM or an OpenAI-compatible server) drivers, the warm-up and unloaded reference before a search, and one
layout's search in its own process. The search's rule is common/capacity/search.py."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Protocol

import numpy as np

from common.capacity.display import printer
from common.capacity.probe import Probe
from common.capacity.result import CapacityResult
from common.capacity.search import (
    START_FRACTION,
    CapacitySearch,
    ProbePlan,
    SearchSpec,
    SureFail,
    first_arrival,
    judge,
    judged_mask,
    window_verdicts,
)
from common.capacity.stats import saturation_rate
from common.measure.metrics import StageTimer, derive_capacity, unloaded_reference
from common.measure.scaling import Layout
from common.output.results import Status
from common.output.tables import rate as rate_text
from common.runtime import engine as eng
from common.runtime.isolation import Failure, checkpoint, run_isolated
from common.traffic.load_profile import clock
from common.traffic.loadgen import AsyncLLMBackend, Backend, run_async, run_closed_loop, run_open_loop, warm_up
from common.traffic.prom import prefix_hit_rate, read_counters
from common.traffic.workloads import (
    ProbeLoad,
    TraceWorkload,
    WorkloadSettings,
    WorkloadSource,
    random_prompts,
    workload_source,
)

UNFINISHED = "stopped before the search finished"


def probe_specs(plan: ProbePlan, rate: float, source: WorkloadSource, seed: int, stretch: int = 1) -> ProbeLoad:
    """One probe's load at an offered rate (common.traffic.workloads.ProbeLoad): Poisson arrivals over warm-up and
    window; a trace's heaviest window (or, judged from its start, a window stretched until it holds the probe's minimum
    of arrivals, at most 10 x the window)."""
    return source.probe_specs(
        rate,
        seed,
        plan.window(rate, stretch),
        plan.min_requests * stretch,
        plan.warmup_s + 10 * plan.measure_s * stretch,
        stretch,
    )


def trace_terms(res: CapacityResult, source: WorkloadSource) -> CapacityResult:
    """A search over a trace: the capacity also as the trace's speed-up and its busiest minute's rate; judged on its
    heaviest window, the window that decided (binding_window) and the stretch's load profile."""
    judge = source.judge
    if judge is None or source.stretch() is None:  # Poisson arrivals: the rate is the whole story
        return res
    res.trace_judge = judge
    if source.profile is not None and judge == "heaviest":
        res.profile = source.profile.to_json()
    if not res.request_rate:
        return res
    note = source.rate_note(res.request_rate)
    res.trace_speedup, res.busiest_minute_rate = note["trace_speedup"], note["busiest_minute_rate"]
    at, _ = res.at_bracket()
    if source.profile is not None and judge == "heaviest" and at and at.note.get("trace_window"):
        tw = at.note["trace_window"]
        res.binding_window = {"start_s": tw["start_s"], "end_s": tw["end_s"]}
        res.binding_window_rate = at.arrived_rate
        res.binding_work_per_s = source.profile.work_between(*tw["judged_s"])
    elif at and at.arrived_rate is not None:  # the stretch replayed is not the whole trace: what arrived in its window
        res.stretch_arrived_rate = at.arrived_rate
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
    sat = saturation or {}
    ceiling = sat.get("search_ceiling_rate", sat.get("ceiling_rate"))
    return SearchSpec(
        **{**search, **extra, "start_rate": round(START_FRACTION * ceiling, 4) if ceiling else 1.0, "ceiling": ceiling}
    )


def start_note(spec: SearchSpec, saturation: dict | None) -> dict:
    """metrics.capacity.start: where the first rate came from, for the JSON and the table."""
    if spec.ceiling is None:
        src = "--capacity-start-rate" if saturation is None else "1 req/s (the saturation probe completed too few)"
        return {"from": src, "rate": spec.start_rate}
    saturation = saturation or {}  # a ceiling comes from the saturation probe
    why = saturation.get("ceiling_from")
    return {
        "from": f"{START_FRACTION:g} x "
        + (
            f"{rate_text(spec.ceiling)} req/s: {why}"
            if why
            else f"the saturation probe's {rate_text(spec.ceiling)} req/s"
        ),
        "rate": spec.start_rate,
        **saturation,
    }


# --------------------------------------------------------------------------- one driver, two kinds of front end
# Each part of a search is written once, as a generator: it yields what to send (the arguments of one run) and is
# sent the records that came back; what it returns is the result. drive_sync / drive_async feed it from a blocking
# front end (a step-driven vllm.LLM) or an async one (AsyncLLM, an OpenAI-compatible server).
def drive_sync(steps, run):
    """Run a search part's generator with a blocking `run(*args) -> records`; its result."""
    try:
        args = next(steps)
        while True:
            args = steps.send(run(*args))
    except StopIteration as done:
        return done.value


async def drive_async(steps, run):
    """drive_sync with `run(*args)` a coroutine."""
    try:
        args = next(steps)
        while True:
            args = steps.send(await run(*args))
    except StopIteration as done:
        return done.value


def saturation_steps(source, concurrency: int, seed: int):
    """The saturation probe: yields (specs, concurrency) for a closed loop of `concurrency` clients, 2 x that many
    requests; returns the ceiling (saturation_rate) and its cost."""
    t, specs = time.perf_counter(), source.requests(2 * concurrency, seed)
    recs = yield specs, concurrency
    return _saturation(source, specs, recs, concurrency, t)


async def saturation_async(backend: Backend, source: WorkloadSource, concurrency: int, seed: int) -> dict:
    return await drive_async(
        saturation_steps(source, concurrency, seed),
        lambda specs, conc: run_closed_loop(backend, specs, concurrency=conc),
    )


def saturation_sync(run_closed, source, concurrency: int, seed: int) -> dict:
    """The saturation probe with a blocking front end: `run_closed(specs, concurrency) -> records`."""
    return drive_sync(saturation_steps(source, concurrency, seed), run_closed)


def _saturation(source, specs, recs, concurrency: int, t: float) -> dict:
    """The saturation probe's record: its completion rate, and the search's ceiling the workload derives from it (a
    trace judged on its heaviest window: the rate at which that window asks for all of it)."""
    rate = saturation_rate(recs)
    out = {
        "ceiling_rate": rate,
        "concurrency": concurrency,
        "requests": len(recs),
        "wall_s": round(time.perf_counter() - t, 2),
    }
    ceiling, why = source.search_ceiling(rate, specs)
    if why:
        out.update({"search_ceiling_rate": ceiling, "ceiling_from": why})
    return out


def _with_time_and_samples(probe: Probe, t: float, records) -> Probe:
    """The probe's wall time, and its requests one by one (the JSON's raw has them: CapacityResult.probe_samples)."""
    probe.wall_s = round(time.perf_counter() - t, 2)
    t0 = first_arrival(records)
    w = probe.window_s or [0.0, 0.0]  # judge sets it
    ms = lambda v: None if v is None else round(v * 1000, 3)  # noqa: E731
    probe.samples = {
        "arrival_s": [None if r.scheduled_s is None else round(r.scheduled_s - t0, 4) for r in records],
        "ttft_ms": [ms(r.ttft_s) for r in records],
        "tpot_ms": [ms(r.tpot_s) for r in records],
        "e2el_ms": [ms(r.e2e_s) if r.ok else None for r in records],
        "output_len": [r.output_len for r in records],
        "klass": [r.klass for r in records],
        "error": [r.error for r in records],
        # exactly the requests judged: arrival_s is rounded, so one at a window edge could be counted either way
        "judged": judged_mask(records, t0 + w[0], t0 + w[1]),
    }
    return probe


def search_steps(spec: SearchSpec, plan: ProbePlan, source, seed: int = 0, on_probe=None):
    """The search, one probe at a time: yields each probe's (specs, time limit, stop) - `stop(records, t0, now)`
    ends the probe when it returns a reason - and is sent its records. After each probe `on_probe(result so far)`
    gets what result() would say, marked failed (UNFINISHED) until the search ends. A probe in which no request got
    a token and some failed (a server gone) ends the search as failed, keeping the probes done."""
    search = CapacitySearch(spec)
    while (rate := search.next_rate()) is not None:
        load = probe_specs(plan, rate, source, seed + 1000 * len(search.probes), search.stretch())
        stop, t = SureFail(load.specs, load.window, spec), time.perf_counter()
        recs = yield load.specs, plan.time_limit_s(load.window), stop
        dead = [
            r.error for r in recs if r.error and not r.error.startswith("probe stopped") and "time limit" not in r.error
        ]
        probe = judge(recs, rate, load.window, spec, stopped=stop.stopped)
        probe.note.update(load.note)
        search.add(_with_time_and_samples(probe, t, recs))
        if on_probe:
            on_probe(CapacityResult.of(search, UNFINISHED))
        if dead and not any(r.first_token_s is not None for r in recs):  # nothing answered, something refused
            why = f"no request of the probe at {rate:.3g} req/s was answered, e.g. {dead[0]}"
            return CapacityResult.of(search, why)
    return trace_terms(CapacityResult.of(search), source)


def search_sync(spec: SearchSpec, plan: ProbePlan, source, run_open, seed: int = 0, on_probe=None) -> CapacityResult:
    """The search with a blocking front end: `run_open(specs, time_limit_s, stop) -> records` (e.g. stepdrive)."""
    return drive_sync(search_steps(spec, plan, source, seed, on_probe), run_open)


async def search_async(
    spec: SearchSpec, plan: ProbePlan, source: WorkloadSource, backend: Backend, seed: int = 0, on_probe=None
) -> CapacityResult:
    """The search with an async streaming backend (common.traffic.loadgen: AsyncLLM or an OpenAI-compatible server)."""
    return await drive_async(
        search_steps(spec, plan, source, seed, on_probe),
        lambda specs, limit, stop: run_open_loop(backend, specs, time_limit_s=limit, stop=stop),
    )


async def capacity_on_backend(
    backend: Backend,
    search: dict,
    source: WorkloadSource,
    seed: int,
    warm_up_shape: tuple[int, int] | None = None,
    on_probe=None,
    max_num_seqs: int | None = None,
    saturation_cap: int = 256,
    **extra,
) -> CapacityResult:
    """Warm-up, unloaded reference, the saturation probe, then the search, on one running front end (a
    common.traffic.loadgen backend). `search`: spec_from_args()'s dict; `source`: the requests
    (common.traffic.workloads); `seed`: the run's; `warm_up_shape`: (input_len, vocab_size) of the warm-up's random
    prompts, or None when the caller warmed the engine up and measured it alone itself (then no unloaded reference
    here); `saturation_cap`: the most clients the saturation probe runs; `extra`: SearchSpec fields."""
    reference = warm_up_shape is not None
    if warm_up_shape is not None:
        await warm_up(backend, random_prompts(4, warm_up_shape[0], 8, warm_up_shape[1], seed=seed + 7))
        ref = await run_closed_loop(backend, source.requests(4, seed + 11), concurrency=1)
    before = await read_counters(backend)
    concurrency = saturation_concurrency(max_num_seqs, cap=saturation_cap)
    sat = None if search.get("start_rate") else await saturation_async(backend, source, concurrency, seed + 13)
    spec = started(search, sat, **extra)
    res = await search_async(
        spec,
        ProbePlan.from_spec(spec, source.max_output_len),
        source,
        backend,
        seed=seed + 5000,
        on_probe=printer(spec, on_probe, start_note(spec, sat)),
    )
    if reference:
        ttft, tpot = unloaded_reference(ref)
        res.unloaded = {"ttft_ms": ttft * 1000, "tpot_ms": tpot * 1000}
    res.start = start_note(spec, sat)
    # the engine's prefix cache over the saturation probe and the search (a trace's shared blocks show here)
    after = await read_counters(backend) if before is not None else None
    res.prefix_cache_hit_rate = prefix_hit_rate(before, after)
    return res


# --------------------------------------------------------------------------- the validation replay
def validation_span(
    source: TraceWorkload, binding_window: dict | None, span_s: float | None
) -> tuple[float, float] | None:
    """The part of the stretch (stretch time) a validation replays: all of it, or `span_s` seconds that hold the
    binding window (the search's, trace time; centred on it where the stretch allows)."""
    tr, w = source.trace, source.profile.window_s
    if not span_s or span_s >= tr.span_s:
        return None
    bw = binding_window or {"start_s": tr.origin_s, "end_s": tr.origin_s + w}
    a0, b0 = bw["start_s"] - tr.origin_s, bw["end_s"] - tr.origin_s
    a = round(max(0.0, (a0 + b0) / 2 - span_s / 2) / w) * w  # on a window's edge: whole windows judged
    a = min(a, max(0.0, (tr.span_s // w + 1) * w - span_s))
    b = a + max(span_s, b0 - a0)
    return a, (b if b < tr.span_s else np.inf)  # to the end: the last request too


async def validate_on_backend(
    backend: Backend,
    source: TraceWorkload,
    cap: CapacityResult,
    seed: int,
    span: tuple[float, float] | None = None,
    progress=None,
) -> dict:
    """--validate: the stretch (or `span`, stretch time: validation_span) replayed once at the speed found, judged
    window by window (capacity.window_verdicts): metrics.capacity.validation, and its requests' samples under
    "samples" (for the JSON's raw)."""
    speed = cap.trace_speedup
    assert speed is not None  # a search over a trace that found a rate
    specs, trace_t = source.validation_specs(speed, seed, span)
    plan = ProbePlan.from_spec(cap.spec, source.max_output_len)
    t = time.perf_counter()
    recs = await run_open_loop(
        backend, specs, time_limit_s=(specs[-1].arrival_s if specs else 0) + plan.drain_s(), progress=progress
    )
    p = source.profile
    edges = [p.origin_s + w.start_s for w in p.windows] + [p.origin_s + p.windows[-1].end_s]
    out = {
        "speed": speed,
        "window_s": p.window_s,
        "requests": len(recs),
        "wall_s": round(time.perf_counter() - t, 2),
        "span_s": [round(trace_t[0], 3), round(trace_t[-1], 3)] if trace_t else None,
        **window_verdicts(recs, trace_t, edges, cap.slo, cap.percentile),
    }
    out["thin_windows"] = sum(bool(x.get("thin")) for x in out["windows"])
    out["verdict"] = validation_verdict(out, cap.percentile)
    ms = lambda v: None if v is None else round(v * 1000, 3)  # noqa: E731
    out["samples"] = {
        "trace_s": [round(x, 3) for x in trace_t],
        "ttft_ms": [ms(r.ttft_s) for r in recs],
        "tpot_ms": [ms(r.tpot_s) for r in recs],
        "error": [r.error for r in recs],
    }
    return out


def validation_verdict(v: dict, percentile: float) -> str:
    """'validated over 20 minutes (00:30-00:50 of the trace) at 3.1x: ...' or the windows that missed."""
    if not v["windows"]:
        return "no request was replayed"
    a, b = v["windows"][0]["start_s"], v["windows"][-1]["end_s"]
    where = f"{(b - a) / 60:.3g} minutes ({clock(a)}-{clock(b)} of the trace) at {v['speed']:.3g}x"
    thin = v["thin_windows"]
    few = f" ({thin} window(s) with too few requests for a p{percentile:g} are shown, not judged)" if thin else ""
    if v["pass"]:
        return f"validated over {where}: each of its {len(v['windows']) - thin} judged windows within the SLO{few}"
    q = f"p{percentile:g}"
    bad = [w for w in v["windows"] if not w["pass"]]
    ms = lambda x: "unbounded" if x is None else f"{x:.0f} ms"  # noqa: E731
    return (
        f"NOT validated over {where}{few}: {len(bad)} of its {len(v['windows']) - thin} judged windows missed the SLO: "
        + ", ".join(
            f"{clock(w['start_s'])} ({q} TTFT {ms(w.get(f'{q}_ttft_ms'))}, TPOT {ms(w.get(f'{q}_tpot_ms'))})"
            for w in bad[:6]
        )
        + (" ..." if len(bad) > 6 else "")
    )


# --------------------------------------------------------------------------- one layout's search, in its own process
class CapacitySettings(WorkloadSettings, Protocol):
    """What a layout's capacity search reads from its script's Config: the requests (WorkloadSettings), the search's
    settings (`capacity`: spec_from_args()'s dict) and the seed."""

    capacity: dict
    seed: int


def capacity_child(cfg: CapacitySettings) -> dict:
    """One layout as `vllm serve` would run it (AsyncLLM, DP via data_parallel_size) and its capacity search."""
    return run_async(_capacity(cfg))


async def _capacity(cfg: CapacitySettings) -> dict:
    timer = StageTimer()
    with timer("engine_start"):
        engine = eng.build_async_engine(cfg.engine)
    try:
        with timer("capacity_search"):
            res = await capacity_on_backend(
                AsyncLLMBackend(engine),
                cfg.capacity,
                workload_source(cfg),
                cfg.seed,
                warm_up_shape=(cfg.input_len, cfg.vocab_size),
                on_probe=checkpoint,
                max_num_seqs=eng.scheduler_limits(engine)["max_num_seqs"] * cfg.engine.get("data_parallel_size", 1),
            )  # every DP replica's batch
        res.extra["scheduler"] = eng.scheduler_limits(engine)
    finally:
        eng.shutdown(engine)
    res.extra.update(engine=cfg.engine, stage_seconds=timer.seconds)
    return res.to_json()  # to the parent, as JSON (run_capacity reads it back)


def run_capacity(layout: Layout, base: CapacitySettings, timeout_s: float) -> CapacityResult:
    """metrics.capacity of one layout, from its own process; a failed search is recorded with its cause (and the
    probes it checkpointed)."""
    engine = {
        **base.engine,
        "tensor_parallel_size": layout.tp,
        "pipeline_parallel_size": layout.pp,
        **({"data_parallel_size": layout.dp} if layout.dp > 1 else {}),
    }
    print(f"  {layout.name}: capacity search (an AsyncLLM engine as `vllm serve` builds it) ...", flush=True)
    res = run_isolated(
        "common.capacity.drivers:capacity_child",
        replace(base, engine=engine),
        timeout_s=timeout_s,
        label=f"{layout.name} capacity",
    )
    if res["status"] == Status.OK:
        res.pop("status")
        return CapacityResult.from_json(res)
    f: Failure = res["failure"]
    c = base.capacity  # no probe checkpointed: the settings alone
    part = res.get("partial") or {
        "slo": c["slo"],
        "percentile": c["percentile"],
        "resolution": c["resolution"],
        "search": {k: v for k, v in c.items() if k != "slo"},
    }
    out = CapacityResult.from_json({**part, "engine": engine})
    out.request_rate, out.failed = None, f"{f.kind}: {f.message[:300]}"  # (its kind: out.failed_kind)
    print("  " + f.line(f"{layout.name} capacity search"), flush=True)
    return out


def layout_capacity(
    run, layout: Layout, base: CapacitySettings, timeout_s: float, price: float | None, row=None
) -> None:
    """A layout's capacity search (run_capacity: its own engine process) into its result file `run` (a
    common.output.results.RunFile) and its metrics; `row(metrics)` its table row, when it has one. A failed search
    marks the layout failed; one cut by Ctrl-C raises KeyboardInterrupt, so the sweep stops with the file saying so."""
    m = run.metrics
    m["capacity"] = cap = run_capacity(layout, base, timeout_s)
    run.raw["capacity_probes"], cap.samples_in_raw = cap.probe_samples(), True
    derive_capacity(m, price)
    if cap.failed:
        m["status"] = Status.FAILED
    if row:
        run.rows = [row(m)]
    if cap.interrupted:  # recorded as such by the step, and the sweep stops
        raise KeyboardInterrupt
    if cap.failed:
        run.status = Status.FAILED  # a second measurement of the layout: its failure is the layout's
        hint = "the layout's offline figures before it are kept; the search's log is above"
        step = "the capacity search"
        run.step_ended(step, f"failed: {cap.failed}", Failure("other", cap.failed, hint, step=step))
