"""Timing and metric summaries. Names follow `vllm bench serve` (mean_ttft_ms, p99_tpot_ms, ...)."""
from __future__ import annotations

import time
from contextlib import contextmanager

import numpy as np

DEFAULT_PERCENTILES = (50, 90, 99)


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

    def as_metrics(self) -> dict[str, float]:
        return {f"{k}_s": round(v, 4) for k, v in self.seconds.items()}


def summarize(name: str, values, unit: str = "ms", percentiles=DEFAULT_PERCENTILES) -> dict[str, float | None]:
    """{mean_<name>_<unit>, median_..., std_..., p90_..., p99_...} the way vllm bench serve names them."""
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    keys = [f"mean_{name}_{unit}", f"median_{name}_{unit}", f"std_{name}_{unit}"] + \
           [f"p{p:g}_{name}_{unit}" for p in percentiles]
    if arr.size == 0:
        return dict.fromkeys(keys)
    out = {keys[0]: float(arr.mean()), keys[1]: float(np.median(arr)), keys[2]: float(arr.std())}
    for p, k in zip(percentiles, keys[3:]):
        out[k] = float(np.percentile(arr, p))
    return out


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
