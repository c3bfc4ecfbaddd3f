"""Experiment 2 - How does one vLLM engine behave as more clients talk to it at once?

Many async clients stream requests at several concurrency levels (or request rates). Per level:
throughput under load, TTFT/TPOT/ITL/E2E percentiles (named as `vllm bench serve` names them), the
scheduler's fairness (Jain's index over clients and over slowdown, worst TTFT vs median), and, in
--base-url mode, the server's own scheduler state from /metrics. Finally the same prompts are run
once as concurrent requests and once as a single LLM.generate batch: continuous batching should make
the two close, and the table says how close.
With --find-capacity --slo the levels give way to a capacity search (common/capacity/search.py): the highest
Poisson request rate at which the p99 TTFT / TPOT stay within the SLO, every probe kept - how many
requests per second this engine or server can take before its users notice.

Run it:
    python simulate_concurrent_requests.py                                  # in-process AsyncLLM, levels 1,4,16,64,256
    python simulate_concurrent_requests.py -tp 4                            # ... the engine spread over 4 GPUs
    python simulate_concurrent_requests.py --base-url http://127.0.0.1:8000 # any running `vllm serve`
    python simulate_concurrent_requests.py --request-rate 2,8,inf --burstiness 0.5   # open-loop arrivals
    python simulate_concurrent_requests.py --goodput ttft:500 tpot:50      # goodput under an SLO
    python simulate_concurrent_requests.py --find-capacity --slo ttft:500,tpot:50   # highest req/s within the SLO
    python simulate_concurrent_requests.py --base-url http://127.0.0.1:8000 --find-capacity --slo ttft:200,tpot:15
    python simulate_concurrent_requests.py                                  # CPU box: tiny model, small levels
Exit code 0 when every request succeeded, 1 when some failed (their errors are in the JSON), 2 on bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
from tqdm import tqdm

from common import cli
from common.capacity.display import capacity_plot, load_timeline_plot, out_of_reach, probe_rows, validation_plot
from common.capacity.drivers import capacity_on_backend, samples_apart, validate_on_backend, validation_span
from common.capacity.flags import add_cli_args, parse_slo, spec_from_args
from common.capacity.search import probes_at_bracket
from common.config import RunConfig, TraceConfig, add_options, fill_device_defaults, from_args, option
from common.measure.calibration import bench_at_capacity, bench_serve_level
from common.measure.metrics import (
    StageTimer,
    fairness_metrics,
    request_metrics,
    send_lag,
    stream_bursts,
    unloaded_reference,
)
from common.output.plotting import cdf_plot, line_plot
from common.output.results import RunFile, any_failed, environment, figure_subtitle, run_path, then, timestamp
from common.output.tables import num, print_table
from common.runtime import engine as eng
from common.runtime import hardware
from common.runtime.engine import SCHEDULER_LIMITS
from common.runtime.isolation import checkpoint, run_isolated, until_interrupted
from common.runtime.server import API_KEY_ENV
from common.traffic.load_profile import SCALE_STEP_S, clock, fleet_plan, heaviest_rows
from common.traffic.loadgen import AsyncLLMBackend, OpenAIBackend, run_async, run_closed_loop, run_open_loop
from common.traffic.prom import Watcher, prefix_hit_rate, read_counters
from common.traffic.stepdrive import generate_offline
from common.traffic.traces import TIMED, TraceError, check_trace_args, dataset_kind
from common.traffic.workloads import (
    arrival_times,
    random_prompts,
    trace_prompts,
    with_arrivals,
    workload_config,
    workload_source,
    workload_text,
)

EXPERIMENT = "concurrent_requests"


def _rates(text: str) -> list[float]:
    try:
        vals = [float(x) for x in text.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated request rates (req/s or inf), got {text!r}"
        ) from None
    if not vals or any(v <= 0 for v in vals):
        raise argparse.ArgumentTypeError(f"request rates must be > 0, got {text!r}")
    return vals


@dataclass
class Config(TraceConfig, RunConfig):
    base_url: str | None = option(
        help="use a running OpenAI-compatible server instead of an in-process engine", type=str
    )
    concurrency: list[int] | None = option(
        help="closed-loop client counts", gpu=[1, 4, 16, 64, 256], cpu=[1, 4, 16], type=cli.int_list
    )
    request_rates: list[float] = option(
        [],
        "open-loop request rates in req/s (e.g. 2,8,inf); replaces --concurrency",
        flag="--request-rate",
        type=_rates,
    )
    burstiness: float = option(1.0, "gamma shape of arrival gaps: 1 = Poisson, <1 burstier")
    num_prompts: int | None = option(help="requests per level (default max(32, 4 x level))", type=int)
    input_len: int | None = option(help="prompt tokens", gpu=512, cpu=64, type=int)
    output_len: int | None = option(help="output tokens, exact (ignore_eos)", gpu=128, cpu=16, type=int)
    range_ratio: float = option(0.0, "lengths uniform in len x [1-r, 1+r]")
    warmup_requests: int = option(4, "uncounted requests before measuring")
    batch_prompts: int | None = option(help="prompts in the concurrent-vs-batch comparison", gpu=256, cpu=32, type=int)
    goodput: dict = option({}, "SLOs in ms, e.g. ttft:500 tpot:50 e2el:5000", nargs="+", metavar="SLO", type=str)
    seed: int = option(0, "seed of every prompt set")
    level_time_limit_s: float = option(
        600.0, "seconds one level may run; the rest count as failed", flag="--level-time-limit"
    )
    compare_vllm_bench: bool = option(
        False,
        "with --base-url: also run `vllm bench serve` per level on the same workload and report ours / theirs",
        action="store_true",
    )
    plots: bool = option(True, "no PNG plots", flag="--no-plots", action="store_false")
    speeds: list[float] = option(
        [], "with a trace: replay it at these speed-ups (1 = as recorded; default 1)", flag="--speed", type=_rates
    )
    validate: bool = option(
        False,
        "with --find-capacity on a trace: then replay the stretch once at the speed found, judged window by window",
        action="store_true",
    )
    validate_span_s: float | None = option(
        help="with --validate: replay only this many seconds of trace time, around "
        "the window that decided the capacity (default: the whole stretch)",
        flag="--validate-span",
        type=float,
    )
    timeout_s: float = option(3600.0, cli=False)
    capacity: dict | None = option(cli=False)  # --find-capacity: the search's settings (spec_from_args)


def levels(cfg: dict) -> list[tuple[str, float]]:
    if cfg["dataset_path"] and dataset_kind(cfg["dataset_path"], cfg["dataset_name"]) in TIMED:
        return [("speed", x) for x in cfg["speeds"] or [1.0]]
    if cfg["request_rates"]:
        return [("rate", r) for r in cfg["request_rates"]]
    return [("concurrency", c) for c in cfg["concurrency"]]


def level_prompts(cfg: dict, kind: str, value: float, seed: int):
    if kind == "speed":  # the stretch once, at that speed-up
        return trace_prompts(workload_source(cfg).trace, cfg["vocab_size"], seed, value, cfg.get("max_model_len"))[0]
    n = cfg["num_prompts"] or (max(32, 4 * int(value)) if kind == "concurrency" else 64)
    specs = workload_source(cfg).requests(n, seed)  # ShareGPT's real prompts, or the random shape
    return with_arrivals(specs, arrival_times(n, value, cfg["burstiness"], seed=seed)) if kind == "rate" else specs


# --------------------------------------------------------------------------- the measurement (child or base-url)
def measure(cfg: dict, after_level=None, after_search=None) -> dict:
    """Warm-up, unloaded reference, every level, and the all-at-once run. Runs in the isolated child
    (in-process engine) or directly in this process (--base-url). `after_level(i, level)`, if given, runs
    (in a thread) after each level, before the next one starts; `after_search(out)` after a capacity search, before
    its validation replay (to save the search first)."""
    timer = StageTimer()
    out = {"levels": [], "stage_seconds": timer.seconds}
    try:  # Ctrl-C: asyncio.run raises KeyboardInterrupt whatever the coroutine returns; what it filled in stays
        run_async(_measure(cfg, out, timer, after_level, after_search))
    except KeyboardInterrupt:
        out["interrupted"] = True
    return out


async def _measure(cfg: dict, out: dict, timer: StageTimer, after_level=None, after_search=None) -> None:
    backend = _backend(cfg, timer, out)
    try:
        if cfg["capacity"]:
            with timer("capacity_search"):
                out["capacity"] = await _search(backend, cfg, out)
            if cfg["validate"] and out["capacity"].get("trace_speedup"):
                await _validate(backend, cfg, out, timer, after_search)
            return
        with timer("warmup"):  # not counted: compiles, allocates, fills caches
            await _warm_up(backend, cfg)
        with timer("unloaded_reference"):  # one at a time: what each request costs with no one else around
            ref = await run_closed_loop(
                backend,
                random_prompts(4, cfg["input_len"], cfg["output_len"], cfg["vocab_size"], seed=cfg["seed"] + 11),
                concurrency=1,
            )
        unloaded = unloaded_reference(ref)
        out["unloaded"] = {"ttft_ms": unloaded[0] * 1000, "tpot_ms": unloaded[1] * 1000}
        for i, (kind, value) in enumerate(levels(cfg)):
            out["levels"].append(lv := await _one_level(backend, cfg, kind, value, cfg["seed"] + 100 + i, unloaded))
            checkpoint(cfg, out)  # on disk first, then on screen
            m = lv["metrics"]
            print(
                f"  {kind}={value:g}: {m['completed']}/{lv['num_prompts']} ok, {m['output_throughput']:.1f} out tok/s, "
                f"median TTFT {m['median_ttft_ms'] or 0:.1f} ms",
                flush=True,
            )
            if after_level:
                await asyncio.to_thread(after_level, i, out["levels"][-1])
        out["concurrent_all_at_once"] = await _all_at_once(backend, cfg)
    except Exception as e:  # e.g. the server went away between levels: keep the levels that finished
        if not cfg["base_url"]:
            raise  # in-process: the isolation layer records it, with the checkpointed levels
        out["error"] = f"{type(e).__name__}: {e}"[:300]
    finally:
        await backend.close()
        if not cfg["base_url"]:
            backend.engine.shutdown()


async def _validate(backend, cfg: dict, out: dict, timer: StageTimer, after_search=None) -> None:
    """--validate after a search: the search on disk first (its validation said to be pending), then the replay; a
    replay that fails is recorded in metrics.capacity.validation, the search stands."""
    cap = out["capacity"]
    cap["validation"] = {"verdict": "not finished: the run stopped during the validation replay"}
    checkpoint(cfg, out)
    if after_search:
        await asyncio.to_thread(after_search, out)
    src = workload_source(cfg)
    span = validation_span(src, cap, cfg["validate_span_s"])
    a, b = span or (0.0, src.trace.span_s)
    b = min(b, src.trace.span_s)
    print(
        f"  validation replay: {(b - a) / 60:.3g} min of the trace at {cap['trace_speedup']:.3g}x, about "
        f"{(b - a) / cap['trace_speedup'] / 60:.3g} min"
        + ("" if cfg["base_url"] else f" (within this run's --timeout {cfg['timeout_s']:g} s)"),
        flush=True,
    )
    try:
        with timer("validation"):  # prompts seeded apart from every probe's: nothing in the prefix cache from them
            cap["validation"] = v = await validate_on_backend(backend, src, cap, cfg["seed"] + 900_000, span)
    except Exception as e:  # e.g. the server went away during the replay
        cap["validation"] = {"verdict": f"failed: {type(e).__name__}: {e}"[:300]}
        return
    print(f"  validation: {v['verdict']}", flush=True)


def _backend(cfg: dict, timer: StageTimer, out: dict):
    """The server's client (--base-url), or an in-process AsyncLLM whose scheduler limits go into `out`."""
    if cfg["base_url"]:
        return OpenAIBackend(cfg["base_url"], model=cfg["engine"]["model"])
    with timer("engine_start"):
        backend = AsyncLLMBackend(eng.build_async_engine(cfg["engine"]))
    out["scheduler"] = s = eng.scheduler_limits(backend.engine)
    print(
        f"  scheduler: up to {s['max_num_seqs']} running requests and {s['max_num_batched_tokens']} tokens per "
        "step (as `vllm serve` would set them here)",
        flush=True,
    )
    return backend


async def _warm_up(backend, cfg: dict) -> None:
    n = cfg["warmup_requests"]
    warm = await run_closed_loop(
        backend, random_prompts(n, cfg["input_len"], 8, cfg["vocab_size"], seed=cfg["seed"] + 7), concurrency=n
    )
    if warm and not any(r.ok for r in warm):
        raise RuntimeError(f"every warm-up request failed, e.g. {warm[0].error}")


async def _one_level(backend, cfg: dict, kind: str, value: float, seed: int, unloaded) -> dict:
    """One load level: its requests, their metrics (with fairness and the client's own CPU cost), and
    the engine's prefix-cache hits over the level (behind --base-url also the server's scheduler state)."""
    specs = level_prompts(cfg, kind, value, seed)
    label = f"{kind}={value:g}"
    proc = psutil.Process()
    cpu0, t0 = proc.cpu_times(), time.perf_counter()
    server = None
    with tqdm(total=len(specs), desc=label, unit="req", leave=False) as bar:
        if cfg["base_url"]:
            async with Watcher(backend.session, cfg["base_url"]) as w:
                recs = await _run_level(backend, specs, kind, value, cfg, bar)
            server = w.report()
        else:  # in-process: the engine's own counters give the prefix cache's hits over the level
            before = await read_counters(backend)
            recs = await _run_level(backend, specs, kind, value, cfg, bar)
            hit = prefix_hit_rate(before, await read_counters(backend)) if before is not None else None
            server = {"prefix_cache_hit_rate": hit} if hit is not None else None
    cpu1 = proc.cpu_times()
    m = request_metrics(recs, cfg["goodput"] or None)
    m.update(fairness_metrics(recs, unloaded))
    m["client_cpu_ms_per_request"] = ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) * 1000 / max(len(recs), 1)
    m["level_wall_s"] = time.perf_counter() - t0
    m.update(send_lag(recs))
    m.update(stream_bursts(recs))
    return {
        "kind": kind,
        "value": value,
        "num_prompts": len(specs),
        "metrics": m,
        "server_metrics": server,
        "requests": [r.to_raw(t0) for r in recs],
    }


async def _run_level(backend, specs, kind, value, cfg, bar):
    if kind in ("rate", "speed"):
        return await run_open_loop(backend, specs, time_limit_s=cfg["level_time_limit_s"], progress=bar)
    return await run_closed_loop(backend, specs, int(value), time_limit_s=cfg["level_time_limit_s"], progress=bar)


async def _all_at_once(backend, cfg: dict) -> dict:
    """Concurrent vs batch, the concurrent half: the batch's prompts, all sent at once as async requests."""
    specs = batch_specs(cfg)
    t0 = time.perf_counter()
    recs = await run_closed_loop(backend, specs, concurrency=len(specs), time_limit_s=cfg["level_time_limit_s"])
    wall = time.perf_counter() - t0
    m = request_metrics(recs)
    return {
        "wall_s": wall,
        "completed": m["completed"],
        "failed": m["failed"],
        "output_tokens": m["total_output_tokens"],
        "output_throughput": m["total_output_tokens"] / wall if wall else 0.0,
    }


def batch_specs(cfg: dict):
    return random_prompts(
        cfg["batch_prompts"], cfg["input_len"], cfg["output_len"], cfg["vocab_size"], seed=cfg["seed"] + 999
    )


async def _search(backend, cfg: dict, out: dict) -> dict:
    """--find-capacity: warm-up, unloaded reference and the search; each probe checkpointed."""

    def on_probe(partial: dict):
        out["capacity"] = partial
        checkpoint(cfg, out)

    workload = {k: cfg[k] for k in ("input_len", "output_len", "range_ratio", "vocab_size", "seed")}
    return await capacity_on_backend(
        backend,
        cfg["capacity"],
        workload,
        workload_source(cfg),
        on_probe=on_probe,
        max_num_seqs=(out.get("scheduler") or {}).get("max_num_seqs"),
    )


def measure_batch(cfg: dict) -> dict:
    """Child: the same prompts as one LLM.generate batch (offline engine, one call)."""
    timer = StageTimer()
    with timer("engine_start"):
        llm = eng.build_llm(cfg["engine"])
    scheduler = eng.scheduler_limits(llm)
    try:
        with timer("warmup"):  # prompts of its own: the timed ones must not be in the prefix cache
            generate_offline(llm, random_prompts(4, cfg["input_len"], 8, cfg["vocab_size"], seed=cfg["seed"] + 998))
        b = generate_offline(llm, batch_specs(cfg), use_tqdm=True, temperature=0.0)  # greedy, as the requests
    finally:
        eng.shutdown(llm)
    return {
        "wall_s": b["wall_s"],
        "completed": b["completed"],
        "output_tokens": b["output_tokens"],
        "output_throughput": b["output_tokens"] / b["wall_s"],
        "stage_seconds": timer.seconds,
        "scheduler": scheduler,
    }


# --------------------------------------------------------------------------- the experiment
def main(cfg: Config) -> dict:
    fill_device_defaults(cfg)
    t = cli.resolve_target(cfg.model, cfg.engine, cfg.base_url)
    engine_kwargs, tp = t.engine, int(t.engine.get("tensor_parallel_size", 1))
    child = {**asdict(cfg), "engine": engine_kwargs, "vocab_size": t.vocab_size, "max_model_len": t.max_model_len}
    child["workload"] = workload_config(child)
    run = RunFile(run_path(cfg.output_dir, EXPERIMENT, t.short_name, tp, timestamp()), EXPERIMENT, {**child, "tp": tp})
    # 1. Load levels and the all-at-once run (or the capacity search): in its own process unless we talk to a server.
    #    What it measured goes to disk the moment it ends (a search: before its validation replay too). A Ctrl-C from
    #    the first line printed on is recorded in the file
    try:
        print(
            f"model: {engine_kwargs['model']}  mode: "
            f"{'server ' + cfg.base_url if cfg.base_url else 'in-process AsyncLLM'}"
            f"  {'capacity search' if cfg.capacity else 'levels: ' + str([f'{k}={v:g}' for k, v in levels(child)])}"
            f"  {workload_text(child['workload'])}",
            flush=True,
        )
        res, failure, comparison = load_run(cfg, child, lambda out: keep(run, out, None))
    except KeyboardInterrupt:  # before the measurement started: the file still says what happened
        res, failure, comparison = (
            {"levels": []},
            {"kind": "interrupted", "message": "interrupted by the user (Ctrl-C)", "hint": "nothing was measured yet"},
            None,
        )
    keep(run, res, failure, comparison=comparison)
    # 2. The same prompts as one offline batch (a second measurement, in its own process)
    batch = None if cfg.base_url or failure or cfg.capacity else batch_run(cfg, child, res, run)
    # 3. Everything after the measurement is a step: a Ctrl-C or an error in one is recorded in the file, never loses it
    plots = follow_up(cfg, run, res, failure, batch, comparison, engine_kwargs["model"])
    print(f"results: {run.path}" + (f"  plots: {', '.join(plots)}" if plots else ""))
    if res.get("interrupted") or (run.failure or {}).get("kind") == "interrupted":
        raise KeyboardInterrupt
    return {"metrics": run.metrics, "path": str(run.path), "exit_code": 1 if any_failed([run]) else 0}


def follow_up(
    cfg: Config, run: RunFile, res: dict, failure: dict | None, batch: dict | None, comparison: dict | None, served: str
) -> list[str]:
    """The steps after the measurement, each recorded in the run's file as it ends (results.then): the summary, the
    vllm bench serve cross-check, the tables, the plots. The plots made."""

    def summarize() -> tuple[list, dict, list]:
        return record(cfg, run, res, failure, batch, comparison)

    def bench() -> tuple[list, dict, list]:
        try:
            cross_check(cfg, cap, served)
        finally:  # cut or broken, what it got (or its error) goes into the file beside the search
            if run.metrics.get("capacity") is not None:
                run.metrics["capacity"]["vllm_bench_at_capacity"] = cap.get("vllm_bench_at_capacity")
        return summarize()

    def tables() -> None:
        print_table(rows, "\n".join(lines), title=table_title(cfg, res))
        if comparison:
            calibration_table(comparison)
        if cfg.capacity:
            trace_tables(cfg, cap)

    summary = then("the summary", summarize, run) or ([], {}, [])
    cap = res.get("capacity") or {}
    if cfg.capacity and cfg.compare_vllm_bench and cap.get("request_rate") and not cap.get("failed"):
        summary = then("the vllm bench serve cross-check", bench, run) or summary
    rows, _, lines = summary
    then("the tables", tables, run)
    return (then("the plots", lambda: make_plots(cfg, res, run), run) or []) if cfg.plots and rows else []


def keep(
    run: RunFile, res: dict, failure: dict | None, batch: dict | None = None, comparison: dict | None = None
) -> None:
    """What the levels or the search measured, on disk as it is (no summary yet): per-request samples in raw, the
    figures each level or probe already has in metrics."""
    cap, probe_samples, validation_samples = samples_apart(res.get("capacity"))
    run.raw = {
        "levels": res.get("levels", []),
        "unloaded": res.get("unloaded"),
        "capacity_probes": probe_samples,
        "validation_requests": validation_samples,
        "concurrent_all_at_once": res.get("concurrent_all_at_once"),
        "batch": batch,
        "stage_seconds": res.get("stage_seconds"),
    }
    run.metrics = (
        {"capacity": cap}
        if run.config["capacity"]
        else {
            "levels": {f"{lv['kind']}={lv['value']:g}": lv["metrics"] for lv in res.get("levels", [])},
            "unloaded": res.get("unloaded"),
        }
    )
    if comparison:
        run.metrics["vllm_bench_comparison"] = comparison
    measured = failure or search_failure(run.config, res)  # the measurement's own failure (not a later step's)
    run.failure = run.failure or measured
    failed = measured is not None or any(lv["metrics"]["failed"] for lv in res.get("levels", []))
    run.save(status="failed" if failed else "ok")


def record(
    cfg: Config, run: RunFile, res: dict, failure: dict | None, batch: dict | None, comparison: dict | None
) -> tuple[list, dict, list]:
    """The run's summary into its file: (rows, metrics, takeaway lines)."""
    keep(run, res, failure, batch, comparison)
    rows, metrics, lines = (
        capacity_summary(cfg, run.metrics["capacity"] or {})
        if cfg.capacity
        else level_summary(cfg, res, batch, run.failure)
    )
    metrics["scheduler"] = res.get("scheduler")  # in-process only: what the engine ran with
    workload = run.config["workload"]
    if workload.get("dropped"):
        lines.append(
            f"{workload['dropped']} request(s) of the dataset were left out: longer than max_model_len "
            f"{run.config['max_model_len']} (config.workload.dropped); raise --max-model-len to keep them."
        )
    if comparison:
        metrics["vllm_bench_comparison"] = comparison
    run.save(metrics=metrics, rows=rows)
    return rows, metrics, lines


def load_run(cfg: Config, child: dict, on_search=None) -> tuple[dict, dict | None, dict | None]:
    """(what the levels or the search measured, the failure if the run stopped early, vllm bench per level).
    `on_search(out)`: behind --base-url, called when a search has finished and before its validation replay."""
    if not cfg.base_url:
        res = run_isolated("simulate_concurrent_requests:measure", child, timeout_s=cfg.timeout_s, label="load levels")
        if res["status"] == "ok":
            return res, None, None
        f = res["failure"]
        print(f"load run FAILED ({f['kind']}): {f['message'][:300]}\n  hint: {f['hint']}")
        return res.get("partial") or {"levels": []}, f, None
    comparison, after = None, None
    if cfg.compare_vllm_bench:  # vLLM's own client on the same server and level, right after ours
        comparison = {}
        after = lambda i, lv: comparison.update(bench_serve_level(cfg, child["engine"]["model"], i, lv))  # noqa: E731
    res = measure(child, after_level=after, after_search=on_search)
    failure = None
    if res.get("interrupted"):
        failure = {
            "kind": "interrupted",
            "message": "interrupted by the user (Ctrl-C)",
            "hint": "what finished is kept",
        }
    elif res.get("error"):
        failure = {
            "kind": "other",
            "message": res["error"],
            "hint": f"is the server at {cfg.base_url} still up? its log says why it stopped",
        }
        print(f"load run FAILED: {res['error']}\n  hint: {failure['hint']}")
    return res, failure, comparison


def batch_run(cfg: Config, child: dict, res: dict, run: RunFile) -> dict | None:
    """The batch half of concurrent vs batch, with the scheduler limits the concurrent run had (vllm.LLM's own
    defaults are larger on a GPU): the comparison is then about arrivals one by one vs all at once. A batch that
    fails or is cut is recorded in the run's file (the levels before it stand)."""
    same = {k: v for k, v in (res.get("scheduler") or {}).items() if k in SCHEDULER_LIMITS and k not in child["engine"]}
    b = until_interrupted(
        run_isolated,
        "simulate_concurrent_requests:measure_batch",
        {**child, "engine": {**child["engine"], **same}},
        timeout_s=cfg.timeout_s,
        label="batch",
        announce=f"\n=== one LLM.generate batch of the same {cfg.batch_prompts} prompts (its own process) ...",
    )
    if b["status"] == "ok":
        return b
    f = b["failure"]
    print(f"batch run FAILED ({f['kind']}): {f['message'][:300]}")
    run.step_ended(
        "the offline batch",
        "interrupted" if f["kind"] == "interrupted" else f"failed: {f['kind']}",
        {**f, "step": "the offline batch"},
    )
    run.save()
    if f["kind"] == "interrupted":
        res["interrupted"] = True
    return None


def search_failure(child: dict, res: dict) -> dict | None:
    """A capacity search that did not finish, as the run's failure (None for levels, or a search that finished)."""
    cap = res.get("capacity")
    if not child["capacity"] or (cap and not cap.get("failed")):
        return None
    return {
        "kind": "other",
        "message": (cap or {}).get("failed") or res.get("error") or "no result",
        "hint": f"is the server at {child['base_url']} still up? its log says why it stopped"
        if child["base_url"]
        else "the engine's log above says why it stopped",
    }


def cross_check(cfg: Config, cap: dict, served: str) -> None:
    """--compare-vllm-bench after a search: vllm bench serve at the rate found, into cap; cut or broken, the error
    goes there too (the step records the run's failure), and the search stands."""
    try:
        print(
            f"\n=== vllm bench serve at the capacity found, {cap['request_rate']:.3g} req/s"
            + (f" ({cap['trace_speedup']:.3g}x the trace)" if cap.get("trace_speedup") else "")
            + " ...",
            flush=True,
        )
        cap["vllm_bench_at_capacity"] = bench_at_capacity(cfg, served, cap, probes_at_bracket(cap)[0])
    except KeyboardInterrupt:
        cap["vllm_bench_at_capacity"] = {"error": "interrupted by the user (Ctrl-C) during vllm bench serve"}
        raise
    except Exception as e:
        cap["vllm_bench_at_capacity"] = {"error": f"{type(e).__name__}: {e}"[:500]}
        raise


# --------------------------------------------------------------------------- tables, takeaways, plots
def table_title(cfg: Config, res: dict) -> str:
    if not cfg.capacity:
        return "Concurrent requests"
    cap = res.get("capacity") or {}
    return (
        f"Capacity search (one row per probe, in the order run; {len(cap.get('probes', []))} probes in "
        f"{cap.get('search_s', 0) / 60:.1f} min)"
    )


def capacity_summary(cfg: Config, cap: dict) -> tuple[list, dict, list]:
    """--find-capacity: (one row per probe, metrics, the takeaway lines: verdict, sizing, the calibration)."""
    pct = cfg.capacity["percentile"]
    rows = probe_rows(cap, pct)
    if cap.get("failed") and cap.get("probes"):
        lines = [
            f"Takeaway: the search stopped early ({cap['failed']}); {len(rows)} probe(s) finished and are "
            f"kept: {cap['verdict']}."
        ]
    else:
        lines = [f"Takeaway: {cap.get('verdict', 'the search did not run')}."]
    if cap.get("request_rate") and not cap.get("failed") and cap.get("binding_window"):
        lines.append(
            f"Judged where this stretch is hardest: a probe replays its heaviest window by estimated work "
            f"({(cap['profile']['cost_model']['decode_cost']):g} x output + prompt tokens), warmed up by the "
            "trace before it. The capacity is this stretch's, for this traffic's mix; --validate replays the "
            "whole stretch at that speed to check every window."
        )
        lines += fleet_lines(cap, int(cfg.engine.get("tensor_parallel_size") or 1))
    elif cap.get("request_rate") and not cap.get("failed"):
        what = (
            f"this trace's traffic ({Path(cfg.dataset_path).name}, its arrival pattern sped up)"
            if cfg.dataset_path
            else f"this shape ({cfg.input_len} in / {cfg.output_len} out tokens, Poisson arrivals)"
        )
        lines.append(
            f"A server like this one takes up to {cap['request_rate']:.3g} requests per second of {what} "
            f"before p{pct:g} latency breaks the SLO; size the fleet from this rate, not from the offline "
            "batch throughput (run_distributed_benchmark.py --target-rate plans the replicas)."
        )
    if cap.get("validation"):
        lines.append(f"Validation replay: {cap['validation']['verdict']}.")
    if reach := out_of_reach(cap):
        lines.append(reach)
    if cap.get("prefix_cache_hit_rate"):  # (none to find without shared prompt blocks: said only when some hit)
        lines.append(
            f"The engine's prefix cache found {cap['prefix_cache_hit_rate'] * 100:.0f}% of the prompt tokens "
            "it looked up over the search (requests sharing a trace's hash ids share prompt blocks)."
        )
    lines += bench_lines(cap.get("vllm_bench_at_capacity"), pct)
    return rows, {"capacity": cap}, lines


def fleet_lines(cap: dict, gpus: int) -> list[str]:
    """The stretch as recorded (x1), served by replicas like this one: static vs autoscaled, per day (the
    stretch's pattern repeated); metrics.capacity.fleet_at_recorded_rate."""
    if not cap.get("binding_work_per_s"):
        return []
    cap["fleet_at_recorded_rate"] = f = fleet_plan(
        cap["profile"]["windows"],
        cap["trace_speedup"] * cap["binding_work_per_s"],
        gpus_per_replica=gpus,
        step_s=SCALE_STEP_S,
        end_s=cap["profile"].get("end_s"),
    )
    dev = "GPU" if hardware.has_gpu() else "CPU rank"
    return [
        f"At the recorded rate this stretch needs {f['static_replicas']} such replica(s) at its peak: "
        f"{f['static_gpu_hours_per_day']:.1f} {dev}-hours a day static, {f['autoscaled_gpu_hours_per_day']:.1f} "
        f"autoscaled per {f['step_s']:g} s step, if every day repeated this stretch (not measured); "
        "for more traffic: run_distributed_benchmark.py --from-results DIR --growth G."
    ]


def trace_tables(cfg: Config, cap: dict) -> None:
    """A trace's heaviest windows at the speed found, and the validation replay window by window."""
    if cap.get("profile") and cap.get("trace_speedup"):
        print_table(
            heaviest_rows(cap["profile"], cap["trace_speedup"]),
            f"Windows ranked by work ({cap['profile']['cost_model']['decode_cost']:g} x output + prompt tokens "
            "per second, assumed); engine load: that work as a share of the saturation probe's.",
            title=f"The stretch's heaviest windows, at the {cap['trace_speedup']:.3g}x found",
        )
    v = cap.get("validation")
    if v and v.get("windows"):
        q = f"p{cap['percentile']:g}"
        print_table(
            [
                {
                    "window (trace time)": f"{clock(w['start_s'])}-{clock(w['end_s'])}",
                    "requests": w["requests"],
                    f"{q} TTFT ms": num(w.get(f"{q}_ttft_ms"), 0),
                    f"{q} TPOT ms": num(w.get(f"{q}_tpot_ms"), 1),
                    "SLO": "too few to judge" if w.get("thin") else "met" if w["pass"] else "MISSED",
                }
                for w in v["windows"]
            ],
            f"Validation: {v['verdict']}.",
            title=f"Validation replay at {v['speed']:.3g}x, window by window",
        )


def bench_lines(vb: dict | None, pct: float) -> list[str]:
    if not vb:
        return []
    if "ours_vs_vllm_bench" not in vb:
        return [f"vllm bench serve at capacity failed: {vb.get('error', '')[-200:]}"]
    r = vb["ours_vs_vllm_bench"]
    tw = vb.get("trace_window")
    what = (
        f"on the window that decided ({clock(tw['start_s'])}-{clock(tw['end_s'])} of the trace, with its warm-up) "
        f"at {vb['trace_speedup']:.3g}x"
        if tw
        else f"at {vb['request_rate']:.3g} req/s"
    )
    lines = [
        f"vllm bench serve {what} ({vb['num_prompts']} requests): ours / theirs "
        f"p{pct:g} TTFT {num(r['p99_ttft_ms'], 3)}, p{pct:g} TPOT {num(r['p99_tpot_ms'], 3)}, "
        f"output throughput {num(r['output_throughput'], 3)}."
    ]
    if "vllm_bench_meets_slo" in vb:
        seen = ", ".join(f"p99 {t.upper()} {v:.0f} ms" for t, v in vb["vllm_bench_p99_ms"].items())
        lines.append(
            f"By its own p99s ({seen}) vllm bench serve "
            + (
                "agrees: the SLO holds at this rate."
                if vb["vllm_bench_meets_slo"]
                else "does NOT see the SLO met at this rate: read the capacity as an upper bound."
            )
        )
        if tw:
            lines[-1] += " (Its p99 is over every request it sent, the warm-up's too; ours over the window's.)"
    return lines


def level_row(cfg: Config, lv: dict) -> dict:
    m = lv["metrics"]
    pair = lambda n: "-" if m.get(f"median_{n}_ms") is None else f"{m[f'median_{n}_ms']:.1f} / {m[f'p99_{n}_ms']:.1f}"  # noqa: E731
    row = {
        "level": f"{lv['kind']}={lv['value']:g}",
        "ok/total": f"{m['completed']}/{lv['num_prompts']}",
        "req/s": num(m["request_throughput"], 2),
        "out tok/s": num(m["output_throughput"], 1),
        "TTFT p50/p99 ms": pair("ttft"),
        "TPOT p50/p99 ms": pair("tpot"),
        "ITL p99 ms": num(m["p99_itl_ms"]),
        "E2E p50/p99 ms": pair("e2el"),
        "Jain clients": num(m.get("jain_client_throughput"), 3),
        "max slowdown": num(m.get("max_slowdown"), 2),
        "worst/median TTFT": num(m.get("starvation_ttft_ratio"), 1),
        "client CPU ms/req": num(m["client_cpu_ms_per_request"], 2),
    }
    if lv["kind"] in ("rate", "speed"):  # open loop: how late the client sent against the schedule
        row["send lag p99 ms"] = num(m.get("p99_send_lag_ms"), 2)
    if cfg.goodput:
        row["goodput req/s"] = num(m.get("request_goodput"), 2)
    if (s := lv.get("server_metrics")) and "scrapes" in s:  # a server's /metrics over the level
        row["max running/waiting"] = (
            f"{num(s.get('max_num_requests_running'), 0)}/{num(s.get('max_num_requests_waiting'), 0)}"
        )
        row["preemptions"] = num(s.get("num_preemptions"), 0)
    if s:
        row["prefix hit %"] = (
            num(100 * s["prefix_cache_hit_rate"], 0) if s.get("prefix_cache_hit_rate") is not None else "-"
        )
    return row


def level_summary(cfg: Config, res: dict, batch: dict | None, failure: dict | None) -> tuple[list, dict, list]:
    """Levels: (one row per level, metrics, takeaway lines: where throughput peaks, concurrent vs batch)."""
    lvs = res.get("levels", [])
    per_level = {f"{lv['kind']}={lv['value']:g}": lv["metrics"] for lv in lvs}
    metrics = {"levels": per_level, "unloaded": res.get("unloaded")}
    lines = []
    if lvs and not any(m["completed"] for m in per_level.values()):
        lines.append("Takeaway: no request completed at any level - see the errors in the JSON (`errors`).")
    elif lvs:
        lines.append(peak_line(per_level, metrics))
    lines += batch_lines(cfg, res.get("concurrent_all_at_once"), batch, metrics)
    lines += burst_lines(per_level)
    if failure:
        lines.append("The run did not finish; the table shows the levels that did.")
    return [level_row(cfg, lv) for lv in lvs], metrics, lines


def burst_lines(per_level: dict) -> list[str]:
    """A warning per level where answers reached the client whole (common.measure.metrics.stream_bursts)."""
    return [
        f"Warning: at {k}, {m['burst_delivered']} of {m['completed']} answers reached the client whole, in one "
        "burst: the client or the server's front end was short of CPU, so that level's TTFT and TPOT are read "
        "times, not the engine's. Run it again with nothing else busy on this machine."
        for k, m in per_level.items()
        if (m.get("burst_delivered_share") or 0) > 0.1
    ]


def peak_line(per_level: dict, metrics: dict) -> str:
    keys = list(per_level)
    best = max(keys, key=lambda k: per_level[k]["output_throughput"])
    b, first = per_level[best], per_level[keys[0]]
    metrics["peak_output_throughput"], metrics["peak_level"] = b["output_throughput"], best
    gain = f"{b['output_throughput'] / max(first['output_throughput'], 1e-9):.1f}x the first level"
    ttft = f"median TTFT goes from {first['median_ttft_ms'] or 0:.0f} to {b['median_ttft_ms'] or 0:.0f} ms"
    if best == keys[-1] and len(keys) > 1:  # the last level tried: the peak may lie beyond it
        return (
            f"Takeaway: output throughput is still rising at the highest level tried, {best}: "
            f"{b['output_throughput']:.0f} tok/s ({gain}), while {ttft}; the peak lies beyond (try higher levels)."
        )
    return (
        f"Takeaway: output throughput peaks at {best} with {b['output_throughput']:.0f} tok/s ({gain}), while {ttft}."
    )


def batch_lines(cfg: Config, conc: dict | None, batch: dict | None, metrics: dict) -> list[str]:
    if conc and not batch:
        return [
            f"All {cfg.batch_prompts} prompts at once: {conc['output_throughput']:.0f} out tok/s "
            "(one-batch comparison needs the in-process engine)."
        ]
    if not conc:
        return []
    ratio = conc["output_throughput"] / batch["output_throughput"]
    metrics["concurrent_vs_batch"] = {
        "concurrent_output_throughput": conc["output_throughput"],
        "batch_output_throughput": batch["output_throughput"],
        "concurrent_wall_s": conc["wall_s"],
        "batch_wall_s": batch["wall_s"],
        "ratio": ratio,
    }
    s = batch.get("scheduler")
    limits = (
        (
            f" with the same scheduler limits ({s['max_num_seqs']} sequences, {s['max_num_batched_tokens']} tokens "
            "per step)"
        )
        if s
        else ""
    )
    verdict = (
        " - continuous batching makes them nearly the same."
        if 0.85 <= ratio <= 1.15
        else " - the async requests were markedly faster than one LLM.generate call here."
        if ratio > 1.15
        else " - the async path costs throughput here (request handling, streaming)."
    )
    return [
        f"Concurrent vs batch ({cfg.batch_prompts} prompts): {conc['output_throughput']:.0f} vs "
        f"{batch['output_throughput']:.0f} out tok/s ({conc['wall_s']:.2f} s vs {batch['wall_s']:.2f} s): "
        f"concurrent requests reach {ratio * 100:.0f}% of one batch{limits}{verdict}"
    ]


def calibration_table(comparison: dict) -> None:
    rows = []
    for key, c in comparison.items():
        if "error" in c:
            rows.append({"level": key, "vllm bench serve": "failed: " + c["error"][-80:]})
            continue
        r = c["ours_vs_vllm_bench"]
        rows.append(
            {
                "level": key,
                "vllm bench out tok/s": num(c["vllm_bench"]["output_throughput"] or 0, 1),
                "ours/theirs out tok/s": num(r["output_throughput"], 3),
                "ours/theirs mean TTFT": num(r["mean_ttft_ms"], 3),
                "ours/theirs mean TPOT": num(r["mean_tpot_ms"], 3),
            }
        )
    print_table(
        rows,
        "Ratios near 1.0 mean this client measures what vLLM's own benchmark client measures.",
        title="Calibration against vllm bench serve (same server, same workload)",
    )


def make_plots(cfg: Config, res: dict, run: RunFile) -> list[str]:
    path, c = run.path, run.config
    sub = figure_subtitle(c["engine"]["model"], run.env or environment(), workload_text(c["workload"]))
    if cfg.capacity:
        cap = res.get("capacity") or {}
        out = [capacity_plot(path.with_name(path.stem + "_capacity.png"), cap, sub)] if cap.get("probes") else []
        if cap.get("profile"):
            out.append(load_timeline_plot(path.with_name(path.stem + "_load.png"), cap, sub))
        if (cap.get("validation") or {}).get("windows"):
            out.append(validation_plot(path.with_name(path.stem + "_validation.png"), cap, sub))
        return [str(p) for p in out]
    stem, lvs = path.with_suffix(""), res["levels"]
    xs = [lv["value"] for lv in lvs]
    xl = "concurrent clients" if lvs[0]["kind"] == "concurrency" else "request rate (req/s)"
    finite = [x if x != float("inf") else max([v for v in xs if v != float("inf")] or [1]) * 2 for x in xs]
    return [
        str(
            line_plot(
                Path(f"{stem}_throughput.png"),
                {"output tokens/s": (finite, [lv["metrics"]["output_throughput"] for lv in lvs])},
                f"Throughput under load: {sub}",
                xl,
                "output tokens / s",
                logx=True,
            )
        ),
        str(
            line_plot(
                Path(f"{stem}_latency.png"),
                {
                    f"{p} {n}": (finite, [lv["metrics"][f"{p}_{n}_ms"] for lv in lvs])
                    for n in ("ttft", "tpot")
                    for p in ("median", "p99")
                },
                f"Latency under load: {sub}",
                xl,
                "ms",
                logx=True,
                logy=True,
            )
        ),
        str(
            cdf_plot(
                Path(f"{stem}_e2e_cdf.png"),
                {f"{lv['kind']}={lv['value']:g}": [r["e2el_ms"] for r in lv["requests"]] for lv in lvs},
                f"End-to-end latency CDF per level: {sub}",
                "E2E latency (ms)",
                logx=True,
            )
        ),
    ]


# --------------------------------------------------------------------------- command line
def check_trace_flags(args) -> None:
    """A trace that cannot be replayed, or flags that do not go with one: one line, before any engine starts."""
    try:
        check_trace_args(args)
        timed = bool(args.dataset_path) and dataset_kind(args.dataset_path, args.dataset_name) in TIMED
    except TraceError as e:
        raise cli.UsageError(str(e)) from None
    if args.speeds and not timed:
        raise cli.UsageError("--speed replays a timed trace: add --dataset-path FILE (.csv or .jsonl)")
    if timed and (args.request_rates or args.concurrency):
        raise cli.UsageError(
            "a trace brings its own arrival times: use --speed instead of --request-rate/--concurrency"
        )


def build_config(args, engine: dict) -> Config:
    try:
        goodput = parse_slo(args.goodput)
    except ValueError as e:
        raise cli.UsageError(str(e)) from None
    if args.api_key is not None:  # into the environment only: requests, scrapes and vllm bench serve read it there
        if not args.base_url:
            raise cli.UsageError("--api-key goes with --base-url (the key of the server measured)")
        os.environ[API_KEY_ENV] = args.api_key
    if args.compare_vllm_bench and not args.base_url:
        raise cli.UsageError("--compare-vllm-bench needs --base-url (vllm bench serve talks to a server)")
    if args.burstiness <= 0:
        raise cli.UsageError("--burstiness must be > 0")
    if args.slo and not args.find_capacity:
        raise cli.UsageError(
            "--slo sets the capacity search's target: add --find-capacity (or use --goodput per level)"
        )
    capacity = spec_from_args(args, required=True) if args.find_capacity else None
    check_trace_flags(args)
    timed = bool(args.dataset_path) and dataset_kind(args.dataset_path, args.dataset_name) in TIMED
    if (args.validate or args.validate_span_s is not None) and not (capacity and timed):
        raise cli.UsageError(
            "--validate checks a capacity on a trace: add --find-capacity and --dataset-path FILE (.csv or .jsonl)"
        )
    if args.validate_span_s is not None and not args.validate_span_s > 0:
        raise cli.UsageError("--validate-span must be > 0 s of trace time")
    if capacity and (args.burstiness != 1.0 or args.request_rates or args.concurrency):
        raise cli.UsageError(
            "--find-capacity chooses its own Poisson rates: drop --request-rate, --concurrency and --burstiness"
        )
    return from_args(Config, args, **cli.common_fields(args), engine=engine, goodput=goodput, capacity=capacity)


if __name__ == "__main__":
    p = cli.base_parser(__doc__)
    add_options(p, Config)
    add_cli_args(p, with_switch="--find-capacity")
    p.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"with --base-url: the server's API key (default: ${API_KEY_ENV}); "
        "sent as a bearer token, never written to a file",
    )
    cli.run_main(main, build_config, p)
