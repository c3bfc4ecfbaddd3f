"""Load levels (concurrency, request rate or a trace's speed-up), as experiment 2 measures them: their figures first
(`level_metrics`: per level, where throughput peaks, concurrent vs one batch), then text and plots that only render
those figures (table rows, takeaway lines, the calibration table, the three plots)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

import psutil
from tqdm import tqdm

from common.measure.metrics import StageTimer, fairness_metrics, request_metrics, send_lag, stream_bursts
from common.output.plotting import cdf_plot, line_plot
from common.output.tables import num, print_table
from common.runtime import engine as eng
from common.runtime import runlog
from common.traffic.loadgen import run_closed_loop, run_open_loop
from common.traffic.prom import Watcher, prefix_hit_rate, read_counters
from common.traffic.stepdrive import generate_offline
from common.traffic.traces import TIMED, dataset_kind
from common.traffic.workloads import (
    TraceWorkload,
    WorkloadSettings,
    arrival_times,
    random_prompts,
    trace_prompts,
    with_arrivals,
    workload_source,
)


class LevelSettings(WorkloadSettings, Protocol):
    """What the load levels read from their script's Config (simulate_concurrent_requests.py's)."""

    base_url: str | None
    goodput: dict
    level_time_limit_s: float
    speeds: list[float]
    request_rates: list[float]
    concurrency: list[int]
    num_prompts: int | None
    burstiness: float
    batch_prompts: int
    seed: int


# --------------------------------------------------------------------------- measuring
async def one_level(backend, specs: list, kind: str, value: float, cfg: LevelSettings, unloaded) -> dict:
    """One load level on a running front end (common.traffic.loadgen): `specs` sent closed-loop at `value` clients
    (kind "concurrency") or at their own arrival times ("rate", "speed"); their metrics (with fairness against the
    `unloaded` reference and the client's own CPU cost), and the engine's prefix-cache hits over the level (behind
    cfg.base_url also the server's scheduler state, scraped from /metrics). cfg: goodput, level_time_limit_s."""
    proc = psutil.Process()
    cpu0, t0 = proc.cpu_times(), time.perf_counter()
    with tqdm(total=len(specs), desc=f"{kind}={value:g}", unit="req", leave=False, file=runlog.screen()) as bar:
        if cfg.base_url:
            async with Watcher(backend.session, cfg.base_url) as w:
                recs = await _send(backend, specs, kind, value, cfg.level_time_limit_s, bar)
            server = w.report()
        else:  # in-process: the engine's own counters give the prefix cache's hits over the level
            before = await read_counters(backend)
            recs = await _send(backend, specs, kind, value, cfg.level_time_limit_s, bar)
            hit = prefix_hit_rate(before, await read_counters(backend))
            server = {"prefix_cache_hit_rate": hit} if hit is not None else None
    cpu1 = proc.cpu_times()
    m = request_metrics(recs, cfg.goodput or None)
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


async def _send(backend, specs, kind: str, value: float, time_limit_s: float, bar):
    if kind in ("rate", "speed"):
        return await run_open_loop(backend, specs, time_limit_s=time_limit_s, progress=bar)
    return await run_closed_loop(backend, specs, int(value), time_limit_s=time_limit_s, progress=bar)


async def all_at_once(backend, specs: list, time_limit_s: float) -> dict:
    """Concurrent vs batch, the concurrent half: the batch's prompts, all sent at once as async requests."""
    t0 = time.perf_counter()
    recs = await run_closed_loop(backend, specs, concurrency=len(specs), time_limit_s=time_limit_s)
    wall = time.perf_counter() - t0
    m = request_metrics(recs)
    return {
        "wall_s": wall,
        "completed": m["completed"],
        "failed": m["failed"],
        "output_tokens": m["total_output_tokens"],
        "output_throughput": m["total_output_tokens"] / wall if wall else 0.0,
    }


# --------------------------------------------------------------------------- which levels, and their requests
def levels(cfg: LevelSettings) -> list[tuple[str, float]]:
    """The levels a run measures: a trace's speed-ups, or request rates, or client counts."""
    if cfg.dataset_path and dataset_kind(cfg.dataset_path, cfg.dataset_name) in TIMED:
        return [("speed", x) for x in cfg.speeds or [1.0]]
    if cfg.request_rates:
        return [("rate", r) for r in cfg.request_rates]
    return [("concurrency", c) for c in cfg.concurrency]


def level_requests(cfg: LevelSettings, kind: str, value: float) -> int:
    """Requests at a level of clients or of a rate: --num-prompts, else max(32, 4 x the clients), or 64 at a rate."""
    return cfg.num_prompts or (max(32, 4 * int(value)) if kind == "concurrency" else 64)


def level_prompts(cfg: LevelSettings, kind: str, value: float, seed: int):
    """One level's requests: the trace's stretch at that speed-up, or the workload's prompts (with arrival times at
    a rate)."""
    if kind == "speed":  # the stretch once, at that speed-up
        src = workload_source(cfg)
        assert isinstance(src, TraceWorkload)  # a timed trace's levels are speeds (levels())
        return trace_prompts(src.trace, cfg.vocab_size, seed, value, cfg.max_model_len)[0]
    n = level_requests(cfg, kind, value)
    specs = workload_source(cfg).requests(n, seed)  # ShareGPT's real prompts, or the random shape
    return with_arrivals(specs, arrival_times(n, value, cfg.burstiness, seed=seed)) if kind == "rate" else specs


# --------------------------------------------------------------------------- figures
def level_name(lv: dict) -> str:
    """A level as tables, plots and metrics.levels name it: "concurrency=4", "rate=2.5", "speed=1"."""
    return f"{lv['kind']}={lv['value']:g}"


def per_level(levels: list[dict]) -> dict:
    """metrics.levels: each level's figures under its name."""
    return {level_name(lv): lv["metrics"] for lv in levels}


def level_metrics(res: dict, batch: dict | None) -> dict:
    """The run's metrics from what its levels measured: per level, the unloaded reference, the peak
    (peak_output_throughput, peak_level) and, with the batch half, concurrent_vs_batch."""
    levels = per_level(res.get("levels", []))
    metrics: dict = {"levels": levels, "unloaded": res.get("unloaded")}
    if any(m["completed"] for m in levels.values()):
        best = max(levels, key=lambda k: levels[k]["output_throughput"])
        metrics["peak_output_throughput"], metrics["peak_level"] = levels[best]["output_throughput"], best
    conc = res.get("concurrent_all_at_once")
    if conc and batch:
        metrics["concurrent_vs_batch"] = {
            "concurrent_output_throughput": conc["output_throughput"],
            "batch_output_throughput": batch["output_throughput"],
            "concurrent_wall_s": conc["wall_s"],
            "batch_wall_s": batch["wall_s"],
            "ratio": conc["output_throughput"] / batch["output_throughput"],
        }
    return metrics


# --------------------------------------------------------------------------- text
def level_row(lv: dict, goodput: bool) -> dict:
    """One level as a table row."""
    m = lv["metrics"]
    pair = lambda n: "-" if m.get(f"median_{n}_ms") is None else f"{m[f'median_{n}_ms']:.1f} / {m[f'p99_{n}_ms']:.1f}"  # noqa: E731
    row = {
        "level": level_name(lv),
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
    if goodput:
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


def level_lines(metrics: dict, conc: dict | None, batch: dict | None, batch_prompts: int, stopped: bool) -> list[str]:
    """The takeaway lines under the levels' table, from level_metrics: where throughput peaks, concurrent vs batch,
    levels read in bursts, and whether the run finished."""
    per_level = metrics["levels"]
    lines = []
    if per_level and "peak_level" not in metrics:
        lines.append("Takeaway: no request completed at any level - see the errors in the JSON (`errors`).")
    elif per_level:
        lines.append(peak_line(per_level, metrics["peak_level"]))
    lines += batch_lines(conc, batch, metrics.get("concurrent_vs_batch"), batch_prompts)
    lines += burst_lines(per_level)
    if stopped:
        lines.append("The run did not finish; the table shows the levels that did.")
    return lines


def burst_lines(per_level: dict) -> list[str]:
    """A warning per level where answers reached the client whole (common.measure.metrics.stream_bursts)."""
    return [
        f"Warning: at {k}, {m['burst_delivered']} of {m['completed']} answers reached the client whole, in one "
        "burst: the client or the server's front end was short of CPU, so that level's TTFT and TPOT are read "
        "times, not the engine's. Run it again with nothing else busy on this machine."
        for k, m in per_level.items()
        if (m.get("burst_delivered_share") or 0) > 0.1
    ]


def peak_line(per_level: dict, best: str) -> str:
    keys = list(per_level)
    b, first = per_level[best], per_level[keys[0]]
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


def batch_lines(conc: dict | None, batch: dict | None, vs: dict | None, batch_prompts: int) -> list[str]:
    if conc and not batch:
        return [
            f"All {batch_prompts} prompts at once: {conc['output_throughput']:.0f} out tok/s "
            "(one-batch comparison needs the in-process engine)."
        ]
    if not conc or not batch or not vs:
        return []
    ratio, s = vs["ratio"], batch.get("scheduler")
    limits = (
        f" with the same scheduler limits ({s['max_num_seqs']} sequences, {s['max_num_batched_tokens']} tokens"
        " per step)"
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
        f"Concurrent vs batch ({batch_prompts} prompts): {conc['output_throughput']:.0f} vs "
        f"{batch['output_throughput']:.0f} out tok/s ({conc['wall_s']:.2f} s vs {batch['wall_s']:.2f} s): "
        f"concurrent requests reach {ratio * 100:.0f}% of one batch{limits}{verdict}"
    ]


def calibration_table(comparison: dict) -> None:
    """Ours / vllm bench serve's per level (common.measure.calibration.bench_serve_level), as a table."""
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


# --------------------------------------------------------------------------- plots
def level_plots(stem: Path, lvs: list[dict], sub: str) -> list[str]:
    """Throughput and latency per level, and each level's end-to-end latency CDF: the PNGs made."""
    xs = [lv["value"] for lv in lvs]
    xl = "concurrent clients" if lvs[0]["kind"] == "concurrency" else "request rate (req/s)"
    finite = [x if x != float("inf") else max([v for v in xs if v != float("inf")] or [1]) * 2 for x in xs]
    latency = {
        f"{p} {n}": (finite, [lv["metrics"][f"{p}_{n}_ms"] for lv in lvs])
        for n in ("ttft", "tpot")
        for p in ("median", "p99")
    }
    throughput = {"output tokens/s": (finite, [lv["metrics"]["output_throughput"] for lv in lvs])}
    return [
        str(
            line_plot(
                Path(f"{stem}_throughput.png"),
                throughput,
                f"Throughput under load: {sub}",
                xl,
                "output tokens / s",
                logx=True,
            )
        ),
        str(
            line_plot(
                Path(f"{stem}_latency.png"), latency, f"Latency under load: {sub}", xl, "ms", logx=True, logy=True
            )
        ),
        str(
            cdf_plot(
                Path(f"{stem}_e2e_cdf.png"),
                {level_name(lv): [r["e2el_ms"] for r in lv["requests"]] for lv in lvs},
                f"End-to-end latency CDF per level: {sub}",
                "E2E latency (ms)",
                logx=True,
            )
        ),
    ]


# --------------------------------------------------------------------------- the offline batch (its own process)
def batch_specs(cfg: LevelSettings):
    """The prompts sent all at once, and then as one offline batch: the same in both."""
    return random_prompts(cfg.batch_prompts, cfg.input_len, cfg.output_len, cfg.vocab_size, seed=cfg.seed + 999)


def offline_batch(cfg: LevelSettings) -> dict:
    """Child (its own process): the all-at-once prompts as one LLM.generate batch (offline engine, one call)."""
    timer = StageTimer()
    with timer("engine_start"):
        llm = eng.build_llm(cfg.engine)
    scheduler = eng.scheduler_limits(llm)
    try:
        with timer("warmup"):  # prompts of its own: the timed ones must not be in the prefix cache
            generate_offline(llm, random_prompts(4, cfg.input_len, 8, cfg.vocab_size, seed=cfg.seed + 998))
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
