"""The statistics a capacity probe's verdict rests on, from its request records: the backlog and the keep-up rule
over it, the saturation probe's completion rate (the search's ceiling), how few requests a percentile was taken
over. The rule that uses them is common/capacity/search.py."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KEEP_UP_SHARE = 0.05  # backlog growth over the window, as a share of its arrivals, that still keeps up
KEEP_UP_SIGMAS = 3.0  # growth beyond this many Poisson spreads of the backlog is a growing queue, not noise


def backlog(records, a: float, b: float, points: int = 41) -> tuple[float, float]:
    """(growth, mean) of the requests in flight - arrived (scheduled), not finished; a request that never finished
    stays in flight - sampled at `points` times across [a, b): the least-squares line's rise over the window, and
    the mean count."""
    sched = np.array([r.scheduled_s for r in records if r.scheduled_s is not None])
    ends = np.array([r.end_s if r.ok else np.inf for r in records if r.scheduled_s is not None])
    ts = np.linspace(a, b, points)
    n = np.array([(sched <= t).sum() - (ends <= t).sum() for t in ts], dtype=float)
    return float(np.polyfit(ts - a, n, 1)[0] * (b - a)), float(n.mean())


@dataclass
class KeepUp:
    """The keep-up verdict on a probe's backlog: "ok", "grows" or "undecided"; `margin` > 0 when it keeps up (the
    search weighs it beside the SLO terms' margins; it is not written)."""

    verdict: str
    backlog_growth: float
    backlog_mean: float
    backlog_noise: float
    margin: float

    def to_json(self) -> dict:
        """A probe's keep_up and backlog_* keys."""
        return {
            "keep_up": self.verdict,
            "backlog_growth": self.backlog_growth,
            "backlog_mean": self.backlog_mean,
            "backlog_noise": self.backlog_noise,
        }


def keep_up(records, a: float, b: float, arrivals: int) -> KeepUp:
    """The keep-up verdict on the backlog over the judged window [a, b) (see the module docstring): "ok" when it grew
    by at most KEEP_UP_SHARE of the window's arrivals (or 2), "grows" when also beyond KEEP_UP_SIGMAS Poisson spreads
    of the backlog, else "undecided"."""
    growth, mean = backlog(records, a, b)
    material = max(KEEP_UP_SHARE * arrivals, 2.0)
    noise = KEEP_UP_SIGMAS * math.sqrt(max(mean, 1.0))
    verdict = "ok" if growth <= material else "grows" if growth > noise else "undecided"
    return KeepUp(verdict, round(growth, 2), round(mean, 2), round(noise, 2), (material - growth) / material)


def saturation_rate(records) -> float | None:
    """Completions per second of a closed loop between its first and last quarter of completions (its ramp-up and
    tail left out): the most requests per second the engine completes at that batch - the search's ceiling."""
    ends = sorted(r.end_s for r in records if r.ok)
    k1, k2 = len(ends) // 4, (3 * len(ends)) // 4
    if k2 - k1 < 2 or ends[k2] <= ends[k1]:
        return None
    return (k2 - k1) / (ends[k2] - ends[k1])


def finite(d):
    """inf -> None (JSON has no infinity); the verdict was taken before."""
    if isinstance(d, dict):
        return {k: finite(v) for k, v in d.items()}
    if isinstance(d, float) and math.isinf(d):
        return None
    return d


def thin_samples(samples_at_bracket: list[int | None] | None, percentile: float) -> int | None:
    """The sample count when the capacity rests on a probe (at the rate found, or the failure just above) whose
    percentile was taken over n < 1 + 100 / (100 - p) requests (p99: 100 or fewer). numpy's p-th percentile of n
    values sits at sorted index (n - 1) p / 100, which is then past n - 2: between the two largest values, so the one
    or two latest requests decide the verdict. None when every such probe had more (or a file holds no counts)."""
    p = percentile
    thin = [n for n in samples_at_bracket or [] if n is not None and (p >= 100 or n < 1 + 100 / (100 - p))]
    return min(thin) if thin else None
