"""The day's fleet three ways, for a capacity measured on a trace: the demand over a day (the trace stretch's
within-hour shape, scaled hour by hour by the user's own daily curve, or the stretch repeated), and the replicas
three autoscaling policies would run for it, with what each costs and where each falls short of the SLO.

- DayProfile: relative request rates over a day, as a user exports them from a dashboard (a CSV of hour,rate or
  time,rate); `flat()` is the stretch repeated all day.
- day_demand: the stretch's windows laid end to end over 24 hours, each window's work x growth x the profile's
  rate at that time of day / the profile's peak (the stretch stands for the busiest hour).
- Three fleets over that demand for one replica's capacity C (work units per second within the SLO):
  static (sized for the day's peak), autoscaled with foresight (each step runs what it needs, started a step
  ahead: the best an autoscaler could do) and autoscaled reactively (it sees a window's demand at the window's end,
  asks for replicas when the demand passes --scale-up-at of what the fleet holds, and a new replica serves only
  after the engine's start time; it scales down after --scale-down-after seconds of slack). A window whose demand
  exceeds what the live replicas hold is over the SLO: its minutes and requests are counted.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.traffic.load_profile import foresight_replicas, steps_of

DAY_S = 86400.0


@dataclass(frozen=True)
class DayProfile:
    """Relative request rates over a day: rates[i] holds from starts_s[i] to starts_s[i + 1] (the last one to
    midnight, and on from midnight to the first start: a day wraps). `source` names it in the report."""

    starts_s: tuple[float, ...]
    rates: tuple[float, ...]
    source: str

    @classmethod
    def flat(cls) -> DayProfile:
        return cls((0.0,), (1.0,), "the trace stretch repeated all day")

    def factor(self, t: float) -> float:
        """The rate at `t` seconds into the day, as a share of the day's peak rate."""
        i = int(np.searchsorted(self.starts_s, t % DAY_S, side="right")) - 1
        return self.rates[i] / max(self.rates)  # i = -1 (before the first start): the last row's, wrapped

    @classmethod
    def read(cls, path: str | Path) -> DayProfile:
        """A CSV with a header `hour,rate` (hours 0 <= h < 24, may be fractional) or `time,rate` (HH:MM or
        HH:MM:SS), rows in time order, rates >= 0 and not all 0. Anything else: ValueError with one line."""
        p = Path(path)
        try:
            rows = list(csv.reader(p.read_text().splitlines()))
        except OSError as e:
            raise ValueError(f"--day-profile {path}: {e.strerror or e}") from None
        rows = [r for r in rows if r and any(c.strip() for c in r)]
        head = [c.strip().lower() for c in rows[0]] if rows else []
        if len(head) != 2 or head[0] not in ("hour", "time") or head[1] != "rate":
            raise ValueError(f"--day-profile {path}: the header must be hour,rate or time,rate (got {','.join(head)})")
        starts, rates = [], []
        for n, r in enumerate(rows[1:], start=2):
            if len(r) != 2:
                raise ValueError(f"--day-profile {path}: line {n} has {len(r)} fields, not 2")
            starts.append(_seconds(r[0].strip(), head[0], f"--day-profile {path}: line {n}"))
            rates.append(_number(r[1].strip(), f"--day-profile {path}: line {n}"))
        if not rates:
            raise ValueError(f"--day-profile {path}: no rows under the header")
        if any(b <= a for a, b in zip(starts, starts[1:], strict=False)):
            raise ValueError(f"--day-profile {path}: times must increase from row to row")
        if min(rates) < 0 or max(rates) <= 0:
            raise ValueError(f"--day-profile {path}: rates must be >= 0 and not all 0")
        return cls(tuple(starts), tuple(rates), p.name)


def _number(text: str, where: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(v):
        raise ValueError(f"{where}: {text!r} is not a finite number")
    return v


def _seconds(text: str, kind: str, where: str) -> float:
    """Seconds into the day of an `hour` (a number) or a `time` (HH:MM[:SS])."""
    if kind == "hour":
        s = _number(text, where) * 3600
    else:
        parts = text.split(":")
        if len(parts) not in (2, 3):
            raise ValueError(f"{where}: {text!r} is not a time of day HH:MM")
        s = sum(_number(x, where) * f for x, f in zip(parts, (3600, 60, 1), strict=False))
    if not 0 <= s < DAY_S:
        raise ValueError(f"{where}: {text!r} is not within the day (00:00 to 24:00)")
    return s


@dataclass(frozen=True)
class Demand:
    """A day's demand window by window: start (s into the day), length, work per second (units/s: what the capacity
    is measured in) and requests arriving."""

    starts_s: np.ndarray
    lengths_s: np.ndarray
    work_per_s: np.ndarray
    requests: np.ndarray


def day_demand(windows: list[dict], profile: DayProfile, growth: float = 1.0, end_s: float | None = None) -> Demand:
    """The stretch's windows (the profile's JSON windows, trace time; `end_s` its last arrival) laid end to end from
    midnight until the day is full, each scaled by growth x profile.factor at its start."""
    full = np.array([w["end_s"] - w["start_s"] for w in windows], dtype=float)
    lengths = np.array([min(w["end_s"], end_s or np.inf) - w["start_s"] for w in windows], dtype=float)
    # a window's work per second is over its whole length; the last one's arrivals all fall before the stretch's end
    work = np.array([w["work_per_s"] for w in windows], dtype=float) * full / np.maximum(lengths, 1e-9)
    reqs = np.array([w["requests"] for w in windows], dtype=float)
    if not lengths.sum() > 0:
        raise ValueError("a day's demand needs a stretch that lasts > 0 s")
    reps = math.ceil(DAY_S / lengths.sum())
    whole, wk, rq = np.tile(lengths, reps), np.tile(work, reps), np.tile(reqs, reps)
    starts = np.concatenate([[0.0], np.cumsum(whole)[:-1]])
    keep = starts < DAY_S
    starts, whole, wk, rq = starts[keep], whole[keep], wk[keep], rq[keep]
    ln = np.minimum(whole, DAY_S - starts)  # the last window ends at midnight, with its share of the requests
    f = np.array([profile.factor(t) for t in starts]) * growth
    return Demand(starts, ln, wk * f, rq * f * ln / whole)


@dataclass(frozen=True)
class Fleet:
    """One policy's replicas over the day: `live` serving and `billed` paid (live + starting) per window; the windows
    whose demand exceeded what the live replicas hold are over the SLO."""

    policy: str
    live: np.ndarray
    billed: np.ndarray
    replica_hours: float
    minutes_over_slo: float
    requests_over_slo: float

    def gpu_hours(self, gpus_per_replica: int) -> float:
        return self.replica_hours * gpus_per_replica

    @property
    def peak(self) -> int:
        return int(self.billed.max()) if len(self.billed) else 0


def _fleet(policy: str, d: Demand, capacity: float, live, billed) -> Fleet:
    live, billed = np.asarray(live, dtype=int), np.asarray(billed, dtype=int)
    over = d.work_per_s > live * capacity * (1 + 1e-9)
    return Fleet(
        policy,
        live,
        billed,
        float((billed * d.lengths_s).sum() / 3600),
        float(d.lengths_s[over].sum() / 60),
        float(d.requests[over].sum()),
    )


def _need(d: Demand, capacity: float, share: float = 1.0) -> np.ndarray:
    return np.ceil(d.work_per_s / (capacity * share) - 1e-9).astype(int)


def static_fleet(d: Demand, capacity: float, min_replicas: int = 1) -> Fleet:
    """Sized for the day's peak, all day."""
    n = max(min_replicas, int(_need(d, capacity).max()))
    return _fleet("static", d, capacity, [n] * len(d.starts_s), [n] * len(d.starts_s))


def foresight_fleet(d: Demand, capacity: float, min_replicas: int = 1, step_s: float = 60.0) -> Fleet:
    """Each step (whole windows lasting >= step_s) runs what its heaviest window needs, and a replica needed next
    step is started (and paid) this step: what an autoscaler that knows the future would run."""
    steps = steps_of(list(d.lengths_s), step_s)
    need = _need(d, capacity)
    per_step = [max(min_replicas, int(need[s].max())) for s in steps]
    billed = foresight_replicas(per_step, min_replicas)
    live = np.concatenate([[per_step[i]] * len(s) for i, s in enumerate(steps)])
    return _fleet("autoscaled with foresight", d, capacity, live, np.repeat(billed, [len(s) for s in steps]))


@dataclass(frozen=True)
class Reactive:
    """A reactive autoscaler's settings: scale up when a window's demand passes `scale_up_at` of what the fleet
    holds; a new replica serves `start_s` after it is asked for; scale down after `scale_down_after_s` of slack."""

    scale_up_at: float = 0.8
    start_s: float = 60.0
    scale_down_after_s: float = 600.0
    min_replicas: int = 1


def reactive_fleet(d: Demand, capacity: float, r: Reactive) -> Fleet:
    """The reactive autoscaler over two identical days back to back, the second one reported (so the day starts with
    the fleet the night before left). At each window's end it sees that window's demand and wants
    max(min_replicas, ceil(demand / (scale_up_at x C))) replicas. Wanting more than it has (serving + starting), it
    asks for the rest, which serve from the first window that starts `start_s` later. Having wanted fewer than it
    serves for `scale_down_after_s` on end, with none starting, it stops the spare ones (down to the most it wanted
    over that span)."""
    n = len(d.starts_s)
    want = np.maximum(r.min_replicas, _need(d, capacity, r.scale_up_at))
    live = int(want[-1])
    ready: list[float] = []  # when each starting replica begins to serve
    slack_since: float | None = None
    slack_max, out_live, out_billed = 0, [], []
    for day in (0, 1):
        for k in range(n):
            t0, w = day * DAY_S + d.starts_s[k], int(want[k])
            live += len([x for x in ready if x <= t0 + 1e-9])
            ready = [x for x in ready if x > t0 + 1e-9]
            if day:
                out_live.append(live)
                out_billed.append(live + len(ready))
            end = t0 + d.lengths_s[k]
            if w > live + len(ready):
                ready += [end + r.start_s] * (w - live - len(ready))
            if w >= live or ready:
                slack_since = None
                continue
            if slack_since is None:
                slack_since, slack_max = t0, w
            slack_max = max(slack_max, w)
            if end - slack_since >= r.scale_down_after_s - 1e-9:
                live, slack_since = slack_max, None
    return _fleet("autoscaled reactively", d, capacity, out_live, out_billed)


def three_fleets(d: Demand, capacity: float, r: Reactive, step_s: float) -> list[Fleet]:
    return [static_fleet(d, capacity, r.min_replicas), foresight_fleet(d, capacity, r.min_replicas, step_s),
            reactive_fleet(d, capacity, r)]  # fmt: skip
