"""Every figure the lab reports is computed here, from measured samples. Names follow `vllm bench serve`
(mean_ttft_ms, p99_tpot_ms, output_throughput, request_goodput) where it has one, and carry their units.

- per request stream: request_metrics (throughput, TTFT/TPOT/ITL/E2E percentiles, goodput), fairness_metrics,
  unloaded_reference, median_stream (the batch-1 figures)
- percentiles with unfinished requests counted as infinite (the capacity verdict): percentile_with_unfinished
- per layout against its baseline: speedup, derive_scaling (speedup, efficiency, per GPU, $ per 1M tokens),
  derive_capacity (capacity per GPU and per $), tp_overhead_share
- noise: ratio_of_medians_ci (bootstrap), jain_index
- timing: StageTimer (load, warm-up and measurement apart)

The typed dicts below name the keys a result carries, so an editor finds them.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from typing import Any

import numpy as np

DEFAULT_PERCENTILES = (50, 90, 99)


# request_metrics(): one load level, as `vllm bench serve` reports a run: completed, failed, duration_s,
# total_input_tokens, total_output_tokens, request_throughput, output_throughput, total_token_throughput,
# request_goodput, goodput_share, errors, and summarize()'s mean/median/std/p50/p90/p99 for ttft, tpot, itl, e2el (ms).
# A plain dict: the percentile keys are named at run time (p99_ttft_ms), which a TypedDict cannot declare.
RequestMetrics = dict[str, Any]


class StageTimer:
    """Wall-clock time per named stage, so start-up never leaks into a throughput figure.

    timer = StageTimer()
    with timer("engine_start"): llm = ...
    timer.seconds  # {"engine_start": 31.2, ...}
    """

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0


# --------------------------------------------------------------------------- distributions
def summarize(name: str, values, unit: str = "ms", percentiles=DEFAULT_PERCENTILES) -> dict[str, float | None]:
    """{mean_<name>_<unit>, median_..., std_..., p90_..., p99_...} the way vllm bench serve names them."""
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    keys = [f"mean_{name}_{unit}", f"median_{name}_{unit}", f"std_{name}_{unit}"] + [
        f"p{p:g}_{name}_{unit}" for p in percentiles
    ]
    if arr.size == 0:
        return dict.fromkeys(keys)
    out: dict[str, float | None] = {
        keys[0]: float(arr.mean()),
        keys[1]: float(np.median(arr)),
        keys[2]: float(arr.std()),
    }
    for p, k in zip(percentiles, keys[3:], strict=True):
        out[k] = float(np.percentile(arr, p))
    return out


def percentile_with_unfinished(values: list[float], unfinished: int, p: float) -> float | None:
    """numpy's linear percentile over the finished values plus `unfinished` infinite ones: inf as soon as
    the rank reaches an unfinished request. None when there is nothing at all."""
    arr = np.sort(np.asarray(list(values) + [math.inf] * unfinished, dtype=float))
    if arr.size == 0:
        return None
    pos = (arr.size - 1) * p / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    if math.isinf(arr[hi]):
        return math.inf
    return float(arr[lo] + (arr[hi] - arr[lo]) * (pos - lo))


def jain_index(values) -> float | None:
    """Jain's fairness index (sum x)^2 / (n * sum x^2): 1.0 = perfectly even, 1/n = one takes all."""
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    if arr.size == 0 or not np.any(arr):
        return None
    return float(arr.sum() ** 2 / (arr.size * np.square(arr).sum()))


def ratio_of_medians_ci(a, b, level: float = 0.95, n_boot: int = 20000, seed: int = 0) -> tuple[float, float]:
    """Bootstrap interval of median(a) / median(b): both samples resampled with replacement, independently,
    `n_boot` times; the (1 - level) / 2 and (1 + level) / 2 quantiles of the ratio."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    ra = np.median(rng.choice(a, size=(n_boot, a.size)), axis=1)
    rb = np.median(rng.choice(b, size=(n_boot, b.size)), axis=1)
    lo, hi = np.quantile(ra / rb, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


# --------------------------------------------------------------------------- request streams
def meets_slo(r, slos: dict[str, float]) -> bool:
    """One finished request within every given target (ms): ttft, tpot (when it has one), e2el."""
    return (
        r.ttft_s is not None
        and r.ttft_s * 1000 <= slos.get("ttft", math.inf)
        and (r.tpot_s is None or r.tpot_s * 1000 <= slos.get("tpot", math.inf))
        and r.e2e_s * 1000 <= slos.get("e2el", math.inf)
    )


def request_metrics(records, slos: dict[str, float] | None = None) -> RequestMetrics:
    """vllm-bench-serve style metrics over one load level (duration = first send -> last finish)."""
    done = [r for r in records if r.ok]
    failed = [r for r in records if not r.ok]
    starts = [r.start_s for r in records if r.start_s is not None]
    ends = [r.end_s for r in done]
    duration = (max(ends) - min(starts)) if done and starts else 0.0
    out_tokens = sum(r.output_len for r in done)
    in_tokens = sum(r.prompt_len for r in done)
    per_s = lambda x: x / duration if duration else 0.0  # noqa: E731
    m: RequestMetrics = {
        "completed": len(done),
        "failed": len(failed),
        "duration_s": duration,
        "total_input_tokens": in_tokens,
        "total_output_tokens": out_tokens,
        "request_throughput": per_s(len(done)),
        "output_throughput": per_s(out_tokens),
        "total_token_throughput": per_s(in_tokens + out_tokens),
    }
    m.update(summarize("ttft", [r.ttft_s * 1000 for r in done if r.ttft_s is not None]))
    m.update(summarize("tpot", [r.tpot_s * 1000 for r in done if r.tpot_s is not None]))
    m.update(summarize("itl", [g * 1000 for r in done for g in r.itl_s]))
    m.update(summarize("e2el", [r.e2e_s * 1000 for r in done]))
    if slos:
        good = [r for r in done if meets_slo(r, slos)]
        m["request_goodput"] = per_s(len(good))
        m["goodput_share"] = len(good) / len(records) if records else 0.0
    errors: dict[str, int] = {}
    for r in failed:
        errors[r.error or "unknown"] = errors.get(r.error or "unknown", 0) + 1
    m["errors"] = errors
    return m


def send_lag(records) -> dict:
    """How late the client sent each request against its schedule (open loop: actual - scheduled send), in ms:
    a replay is only as true as this is small."""
    lag = [(r.start_s - r.scheduled_s) * 1000 for r in records if r.start_s is not None and r.scheduled_s is not None]
    return {
        "mean_send_lag_ms": float(np.mean(lag)) if lag else None,
        "p99_send_lag_ms": float(np.percentile(lag, 99)) if lag else None,
    }


BURST_TPOT_S = 1e-4  # 0.1 ms a token: far below any engine's decode step, so tokens read that fast came queued up
BURST_MIN_TOKENS = 8


def stream_bursts(records) -> dict:
    """How many answers reached the client whole, in one burst (the median gap between chunks under BURST_TPOT_S:
    a client descheduled once while reading the burst still read it whole): then the client or the server's front
    end was short of CPU while the engine decoded, and that request's TTFT and TPOT are read times, not the engine's.
    Over finished requests of at least BURST_MIN_TOKENS tokens."""
    long = [r for r in records if r.ok and r.output_len >= BURST_MIN_TOKENS and r.tpot_s is not None]
    burst = sum(bool(gaps := r.itl_s) and float(np.median(gaps)) < BURST_TPOT_S for r in long)
    return {"burst_delivered": burst, "burst_delivered_share": burst / len(long) if long else None}


def cached_prompt_share(records) -> float | None:
    """Share of the prompt tokens the engine found in its prefix cache, from each finished request's own count (a
    front end without /metrics or a stat logger: vllm.LLM driven step by step); None where no request says."""
    told = [r for r in records if r.cached_tokens is not None]
    prompt = sum(r.prompt_len for r in told)
    return sum(r.cached_tokens for r in told) / prompt if prompt else None


def unloaded_reference(records) -> tuple[float, float]:
    """(TTFT s, TPOT s) medians of requests sent one at a time: the reference for slowdown."""
    ok = [r for r in records if r.ok]
    ttft = float(np.median([r.ttft_s for r in ok])) if ok else 0.0
    tpots = [r.tpot_s for r in ok if r.tpot_s is not None]
    return ttft, float(np.median(tpots)) if tpots else 0.0


def median_stream(records) -> dict:
    """A single stream's figures from repeated batch-1 requests: the median request's TPOT (and decode tok/s) and
    the median TTFT, each over the requests that finished with a TPOT; None where none did."""
    ok = sorted((r for r in records if r.ok and r.tpot_s), key=lambda r: r.tpot_s)
    if not ok:
        return {"tpot_ms": None, "decode_tokens_per_s": None, "ttft_ms": None}
    tpot = ok[len(ok) // 2].tpot_s
    return {
        "tpot_ms": tpot * 1000,
        "decode_tokens_per_s": 1 / tpot,
        "ttft_ms": sorted(r.ttft_s for r in ok)[len(ok) // 2] * 1000,
    }


def fairness_metrics(records, unloaded: tuple[float, float] | None = None) -> dict:
    """Did every client / request get its share?

    - jain_client_throughput: Jain's index over clients' output tokens per second of their busy time
    - client_throughput_max_min: the best-served client's rate / the worst one's
    - jain_slowdown, max_slowdown: slowdown = E2E / the same request's unloaded E2E
      (unloaded TTFT + TPOT x (tokens - 1), measured one request at a time)
    - starvation_ttft_ratio: worst TTFT / median TTFT
    """
    done = [r for r in records if r.ok]
    out: dict = {}
    per_client: dict[int, list] = {}
    for r in done:
        if r.client is not None:
            per_client.setdefault(r.client, []).append(r)
    if len(per_client) > 1:
        rates = [sum(r.output_len for r in rs) / sum(r.e2e_s for r in rs) for rs in per_client.values()]
        out["jain_client_throughput"] = jain_index(rates)
        out["client_throughput_max_min"] = max(rates) / min(rates) if min(rates) > 0 else None
    if unloaded and done:
        t0, tpot = unloaded
        slow = [r.e2e_s / (t0 + tpot * max(r.output_len - 1, 0)) for r in done if t0 + tpot > 0]
        if slow:
            out["jain_slowdown"] = jain_index(slow)
            out["mean_slowdown"] = float(np.mean(slow))
            out["max_slowdown"] = float(np.max(slow))
    ttfts = [r.ttft_s for r in done]
    if ttfts and np.median(ttfts) > 0:
        out["starvation_ttft_ratio"] = float(np.max(ttfts) / np.median(ttfts))
    return out


# --------------------------------------------------------------------------- layouts against their baseline
def usd_per_1m(price: float, gpus: int, output_throughput: float) -> float | None:
    """$ per 1M output tokens: GPUs x $/GPU-hour over the tokens an hour at `output_throughput`."""
    return price * gpus / 3600 / output_throughput * 1e6 if output_throughput else None


def speedup(m: dict, base: dict | None) -> tuple[float | None, float | None]:
    """(speedup, efficiency) of a layout's offline throughput over its run's 1-GPU baseline: throughput(N) /
    throughput(1), and that over N. (None, None) without a baseline."""
    if not base or not base.get("output_throughput"):
        return None, None
    s = m["output_throughput"] / base["output_throughput"]
    return s, s / m["gpus"]


def tp_overhead_share(m: dict, base_m: dict | None) -> float | None:
    """Measured, not modelled: the share of a TP=N batch-1 decode step beyond an ideal 1/N split of the
    1-GPU step (all-reduces, and per-step costs that do not shrink with N); for TPxDP, of one TP replica's
    step. None for layouts without TP."""
    if not base_m or m.get("tp", 1) < 2 or m.get("pp", 1) > 1:
        return None
    t1, tn = base_m.get("batch1_tpot_ms"), m.get("batch1_tpot_ms")
    if not t1 or not tn:
        return None
    return max(0.0, tn - t1 / m["tp"]) / tn


def derive_scaling(m: dict, base_m: dict | None, price: float | None) -> None:
    """Speedup and efficiency vs the 1-GPU baseline, throughput per GPU, $ per 1M output tokens, and the capacity
    figures (derive_capacity), into `m`."""
    n = m["gpus"]
    if base_m:
        m["speedup"], m["scaling_efficiency"] = speedup(m, base_m)
        m["tp_step_overhead_share"] = tp_overhead_share(m, base_m)
    m["output_throughput_per_gpu"] = m["output_throughput"] / n
    if price:
        m["gpu_hour_usd"] = price
        m["usd_per_1m_output_tokens"] = usd_per_1m(price, n, m["output_throughput"])
    derive_capacity(m, price)


def derive_capacity(m: dict, price: float | None) -> None:
    """Capacity under the SLO per GPU and its $ per 1M output tokens, when the layout has a capacity search
    (m["capacity"]: a common.capacity.result.CapacityResult)."""
    n, cap = m["gpus"], m.get("capacity")
    if cap is not None and cap.request_rate is not None:
        m["capacity_request_rate"] = cap.request_rate
        m["capacity_output_throughput"] = cap.output_throughput
        m["capacity_request_rate_per_gpu"] = cap.request_rate / n
        m["capacity_output_throughput_per_gpu"] = cap.output_throughput / n
        m["capacity_bound_by"] = cap.bound_by
        if price:
            m["usd_per_1m_output_tokens_at_capacity"] = usd_per_1m(price, n, cap.output_throughput)
