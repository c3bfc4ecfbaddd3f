"""Serving capacity under a latency SLO: the highest Poisson arrival rate at which the p-th percentile TTFT,
TPOT (and E2E, if asked) stay within their targets - capacity as Sarathi-Serve and DistServe define it.

The search does not know the front end or the workload: it proposes a rate, a driver (common/capacity/drivers.py)
runs one probe at it (arrivals from common/traffic/workloads.py: Poisson, or a trace sped up) and hands the records to
`judge`, and the search takes the verdict. The rule in full, with its numbers, is docs/concepts.md, "The capacity rule":

- Start: START_FRACTION x the ceiling a saturation probe measured (or --capacity-start-rate). Bracket: after a
  pass, halfway to the ceiling (the ceiling itself once within the resolution; past it, doubling); after a fail,
  halving (a quarter while nothing has passed, when the fail was certain within the first EARLY_SHARE of its window;
  down to start_rate / FLOOR_FACTOR: capacity 0). Bisect to `resolution` or `max_probes`. Capacity is
  the highest passing rate; every probe is kept; a noisy fail below a passing rate does not move the bracket.
- Probe: warmup_s unjudged, then a window of measure_s (stretched to `min_requests` arrivals, at most 4 x), then
  a drain of 1.2 x the slowest E2E the SLO allows (+1 s); what still runs counts as an infinite latency. It
  passes when every SLO term's p-th percentile is within target and the backlog keeps up (capacity_stats.keep_up);
  an undecided backlog runs the rate again with a 2x, then 4x window (MAX_STRETCH), then counts as a fail.
- Early stop (`SureFail`): a probe ends once so many judged requests are over a target that the percentile must
  land on one of them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from common.capacity.probe import Probe, latency_key
from common.capacity.stats import keep_up
from common.measure.metrics import percentile_with_unfinished, request_metrics

SLO_TERMS = ("ttft", "tpot", "e2el")
MAX_STRETCH = 2  # an undecided probe runs again with a 2x, then 4x window; then it counts as a fail
START_FRACTION = 0.6  # the first probe's rate, as a share of the saturation probe's ceiling
# a probe's size where the flags leave it: (on a GPU, on the CPU box)
PROBE_DEFAULTS = {"measure_s": (20.0, 5.0), "warmup_s": (5.0, 1.5), "min_requests": (100, 30)}
FLOOR_FACTOR = 64  # the search gives up (capacity 0) below start_rate / 64
EARLY_SHARE = 0.25  # a sure fail within this share of the judged window: the next rate is a quarter, not a half


@dataclass
class SearchSpec:
    """A search's settings; its defaults are the flags' defaults (common.capacity.flags reads them from here)."""

    slo: dict  # {"ttft": ms, "tpot": ms, "e2el": ms}, at least one term
    percentile: float = 99.0
    resolution: float = 0.05  # stop when (fail - pass) / pass <= this
    start_rate: float = 1.0  # req/s of the first probe
    max_probes: int = 12
    warmup_s: float = PROBE_DEFAULTS["warmup_s"][0]
    measure_s: float = PROBE_DEFAULTS["measure_s"][0]
    min_requests: int = int(PROBE_DEFAULTS["min_requests"][0])  # judged arrivals a probe aims for
    term_class: dict | None = None  # {"ttft": "short"}: that term is judged over requests of that class only
    ceiling: float | None = None  # req/s the engine completes at most (saturation probe), None: unknown

    def __post_init__(self):
        check_slo(self.slo)
        check_settings(self.percentile, self.resolution)


def check_slo(slo: dict) -> None:
    """ValueError (one line) for an SLO with no term or a term that is not a positive number of ms."""
    if not slo or any(k not in SLO_TERMS or not (v > 0) for k, v in slo.items()):
        raise ValueError(f"the SLO needs at least one of ttft:MS, tpot:MS, e2el:MS, each > 0 (got {slo})")


def check_settings(percentile: float, resolution: float) -> None:
    """ValueError (one line) for a percentile outside (0, 100] or a resolution <= 0."""
    if not (0 < percentile <= 100):
        raise ValueError(f"--slo-percentile must be in (0, 100], got {percentile:g}")
    if not (resolution > 0):
        raise ValueError(f"--capacity-resolution must be > 0, got {resolution:g}")


def slo_text(slo: dict, percentile: float, term_class: dict | None = None) -> str:
    only = term_class or {}
    return ", ".join(
        f"p{percentile:g} {k.upper()}{' (' + only[k] + ')' if k in only else ''} <= {v:g} ms" for k, v in slo.items()
    )


# --------------------------------------------------------------------------- one probe: workload and verdict
@dataclass
class ProbePlan:
    """How long a probe offers load at a rate, and for how long it may drain."""

    warmup_s: float
    measure_s: float
    min_requests: int
    slo: dict
    max_output_len: int
    bounded: bool = True  # False: the SLO leaves some class's E2E unbounded (a term limited to a class)

    @classmethod
    def from_spec(cls, spec: SearchSpec, max_output_len: int) -> "ProbePlan":
        return cls(
            spec.warmup_s, spec.measure_s, spec.min_requests, spec.slo, max_output_len, bounded=not spec.term_class
        )

    def window(self, rate: float, stretch: int = 1) -> tuple[float, float]:
        """(start, end) of the judged arrivals, seconds from the probe's start; `stretch` x longer for a probe run
        again because the last one could not tell."""
        measure = min(max(self.measure_s, self.min_requests / rate), 4 * self.measure_s) * stretch
        return self.warmup_s, self.warmup_s + measure

    def drain_s(self) -> float:
        """Seconds after the last arrival before what still runs is aborted (it has broken the SLO by then)."""
        if "e2el" in self.slo:
            bound = self.slo["e2el"]
        elif "ttft" in self.slo and "tpot" in self.slo:
            bound = self.slo["ttft"] + self.slo["tpot"] * max(self.max_output_len - 1, 0)
        else:  # one term alone does not bound E2E: give the queue the window's length to drain
            return self.measure_s + 1.0
        if not self.bounded:  # requests outside a class-limited term: at least the window's length too
            return max(1.2 * bound / 1000, self.measure_s) + 1.0
        return 1.2 * bound / 1000 + 1.0

    def time_limit_s(self, window: tuple[float, float]) -> float:
        return window[1] + self.drain_s()


def _over(r, term: str, target_s: float, now: float) -> bool | None:
    """True: request r is over the term's target already; False: it met it; None: not decided yet."""
    if term == "tpot":
        return (
            None if not (r.ok or r.error) else (r.error is not None or (r.tpot_s is not None and r.tpot_s > target_s))
        )
    mark = r.first_token_s if term == "ttft" else r.end_s
    if mark is not None and r.start_s is not None:
        return mark - r.start_s > target_s
    if r.error is not None:  # gone without it: infinite, as `judge` counts it
        return True
    return True if r.start_s is not None and now - r.start_s > target_s else None


class SureFail:
    """The early stop: call it while a probe runs, `stop(records, t0, now)`; it returns why once the verdict can
    only be FAIL. A term is surely broken when k of the n judged requests (the window's arrivals, known before the
    probe starts) are already over its target and k >= n - floor((n - 1) p / 100): numpy's linear p-th percentile
    then lands on one of them whatever the rest do (with fewer samples, as TPOT has, it needs fewer). Over the
    target already: TTFT and E2E once the first token / the end came late, or is still missing past the target;
    TPOT once a request finished; a request gone with an error counts as infinite, as `judge` counts it. The
    keep-up rule is never decided early. `records` align with `specs`; `t0` is when arrival offset 0 was."""

    def __init__(self, specs, window: tuple[float, float], spec: SearchSpec):
        a0 = min((s.arrival_s for s in specs), default=0.0)  # judge's window starts at the first arrival
        self.lo, self.hi = a0 + window[0], a0 + window[1]
        self.spec = spec
        only = spec.term_class or {}
        self.judged = {
            t: [
                i
                for i, s in enumerate(specs)
                if self.lo <= s.arrival_s < self.hi and (t not in only or s.klass == only[t])
            ]
            for t in spec.slo
        }
        self.need = {t: len(ix) - math.floor((len(ix) - 1) * spec.percentile / 100) for t, ix in self.judged.items()}
        self.over = dict.fromkeys(spec.slo, 0)
        self.pending = {t: list(ix) for t, ix in self.judged.items()}  # not decided yet
        self.stopped: dict | None = None

    def __call__(self, records, t0: float, now: float) -> str | None:
        for term, target in self.spec.slo.items():
            still = []
            for i in self.pending[term]:
                v = _over(records[i], term, target / 1000, now)
                if v is None:
                    still.append(i)
                elif v:
                    self.over[term] += 1
            self.pending[term] = still
            n = len(self.judged[term])
            if n and self.over[term] >= self.need[term]:
                self.stopped = {
                    "term": term,
                    "target_ms": target,
                    "over": self.over[term],
                    "judged": n,
                    "at_s": round(now - t0, 2),
                }
                return (
                    f"{self.over[term]} of the {n} requests it judges already over the {term.upper()} target "
                    f"at {now - t0:.1f} s"
                )
        return None


def first_arrival(records) -> float:
    """When a probe's first request was scheduled (perf_counter): arrival offset 0, where its window is counted from."""
    return min((r.scheduled_s for r in records if r.scheduled_s is not None), default=0.0)


def decided(probes: list[Probe]) -> list[Probe]:
    """The probes that gave a verdict (an undecided one ran again, longer)."""
    return [p for p in probes if not p.inconclusive]


def bracket_probes(probes: list[Probe], lo: float | None, hi: float | None) -> tuple[Probe | None, Probe | None]:
    """(the passing probe at `lo`, the failing one at `hi`): the decided probes a capacity's figures come from."""
    at = next((x for x in decided(probes) if x.passed and x.offered_rate == lo), None)
    above = next((x for x in decided(probes) if not x.passed and x.offered_rate == hi), None)
    return at, above


def judged_mask(records, a: float, b: float) -> list[bool]:
    """Which requests a probe is judged over: those scheduled in its window [a, b) (perf_counter)."""
    return [r.scheduled_s is not None and a <= r.scheduled_s < b for r in records]


def judge(records, rate: float, window: tuple[float, float], spec: SearchSpec, stopped: dict | None = None) -> Probe:
    """One probe's verdict from its RequestRecords (absolute perf_counter timestamps, arrival 0 first)."""
    t0 = first_arrival(records)
    a, b = t0 + window[0], t0 + window[1]
    span = window[1] - window[0]
    judged = [r for r, j in zip(records, judged_mask(records, a, b), strict=True) if j]
    done = [r for r in judged if r.ok]
    only = spec.term_class or {}

    def population(term):  # (finished, unfinished count) a term is judged over
        pop = [r for r in judged if term not in only or r.klass == only[term]]
        fin = [r for r in pop if r.ok]
        return fin, len(pop) - len(fin)

    e = float(np.median([r.e2e_s for r in done])) if done else 0.0
    in_window = [r for r in records if r.ok and a + e <= r.end_s < b + e]
    samples = {"ttft": lambda r: r.ttft_s * 1000, "tpot": lambda r: r.tpot_s * 1000, "e2el": lambda r: r.e2e_s * 1000}
    p = spec.percentile
    probe = Probe(
        offered_rate=rate,
        passed=False,
        arrived_rate=len(judged) / span,
        achieved_rate=len(in_window) / span,
        output_throughput=sum(r.output_len for r in in_window) / span,
        requests=len(records),
        judged_requests=len(judged),
        unfinished=len(judged) - len(done),
        window_s=list(window),
        term_class=dict(only) or None,
        stopped_early=dict(stopped) if stopped else None,
    )
    probe.judged_by_term = by_term = {}
    for term, get in samples.items():
        fin, missing = population(term)
        if term in spec.slo:
            by_term[term] = len(fin) + missing
        vals = [get(r) for r in fin if term != "tpot" or r.tpot_s is not None]
        for q in sorted({50.0, 99.0, float(p)}):
            probe.latency_ms[latency_key(q, term)] = percentile_with_unfinished(vals, missing, q)
        probe.latency_ms[latency_key("mean", term)] = float(np.mean(vals)) if vals else None
    probe.keep_up = keep_up(records, a, b, len(judged))
    _verdict(probe, spec, bool(judged), stopped)
    # the whole probe measured as `vllm bench serve` measures a run (first send -> last finish, every request),
    # for the calibration against it at the rate found
    whole = request_metrics(records)
    probe.whole_run = {k: whole[k] for k in WHOLE_RUN_KEYS}
    return probe


WHOLE_RUN_KEYS = (
    "completed", "failed", "output_throughput", "request_throughput", "mean_ttft_ms", "p99_ttft_ms", "mean_tpot_ms",
    "p99_tpot_ms",
)  # fmt: skip


def _verdict(probe: Probe, spec: SearchSpec, judged: bool, stopped: dict | None) -> None:
    """Pass / fail, bound_by, the margins and whether it is undecided, from the probe's figures and its keep-up."""
    p, ku = spec.percentile, probe.keep_up
    assert ku is not None
    # margin per term: (target - measured) / target, > 0 within the SLO; the keep-up condition likewise
    margins = {
        term: (target - probe.ms(p, term)) / target if probe.ms(p, term) is not None else -math.inf
        for term, target in spec.slo.items()
    }
    margins["keep_up"] = ku.margin if judged else -math.inf
    worst = min(margins, key=lambda t: margins[t])
    if stopped:  # the early stop's verdict: that term could no longer be met (what ran is kept as measured)
        worst = stopped["term"]
        margins[worst] = min(margins[worst], -1e-9)
    probe.passed, probe.bound_by = judged and margins[worst] >= 0, worst
    probe.margin, probe.margins = margins[worst], margins
    # undecided: only the backlog's growth is in question, and it lies within its own noise (run again, longer)
    probe.inconclusive = bool(
        not stopped and ku.verdict == "undecided" and all(v >= 0 for k, v in margins.items() if k != "keep_up")
    )


def window_verdicts(
    records, trace_t: list[float], edges: list[float], slo: dict, percentile: float, min_requests: int | None = None
) -> dict:
    """A replay judged window by window: each request falls in the window of trace time [edges[k], edges[k+1]) its
    arrival belongs to; per window its p-th percentile TTFT and TPOT (an unfinished request counts as infinite, as in
    `judge`) against the SLO. The keep-up rule is not applied: over a whole replay a queue that grows shows as
    latency. A window with fewer than `min_requests` (default: too few for its percentile to be more than its largest
    values, n < 1 + 100 / (100 - p), as capacity_stats.thin_samples) is shown with thin=True and judges nothing.
    {windows: [{start_s, end_s, requests, p99_ttft_ms, p99_tpot_ms, pass, thin}], pass, missed: [start_s...]}"""
    k = np.searchsorted(np.asarray(edges), np.asarray(trace_t, dtype=float), side="right") - 1
    get = {"ttft": lambda r: r.ttft_s, "tpot": lambda r: r.tpot_s, "e2el": lambda r: r.e2e_s}
    q = f"p{percentile:g}"
    windows = []
    for i in range(len(edges) - 1):
        mine = [r for r, j in zip(records, k, strict=True) if j == i]
        if not mine:
            continue
        w: dict = {"start_s": round(edges[i], 3), "end_s": round(edges[i + 1], 3), "requests": len(mine)}
        ok = True
        for term in ("ttft", "tpot") + (("e2el",) if "e2el" in slo else ()):
            done = [get[term](r) * 1000 for r in mine if r.ok and get[term](r) is not None]
            v = percentile_with_unfinished(done, sum(not r.ok for r in mine), percentile)
            w[f"{q}_{term}_ms"] = None if v is None or math.isinf(v) else v
            if term in slo:
                ok = ok and v is not None and v <= slo[term]
        need = min_requests if min_requests is not None else (1 + 100 / (100 - percentile) if percentile < 100 else 1)
        w["thin"] = len(mine) < need
        w["pass"] = ok or w["thin"]
        windows.append(w)
    judged = [w for w in windows if not w["thin"]]
    return {
        "windows": windows,
        "pass": bool(judged) and all(w["pass"] for w in judged),
        "missed": [w["start_s"] for w in judged if not w["pass"]],
    }


# --------------------------------------------------------------------------- the search
class CapacitySearch:
    """Bracket then bisect over probe verdicts; see the module docstring for the rule."""

    def __init__(self, spec: SearchSpec):
        self.spec = spec
        self.probes: list[Probe] = []
        self.t0 = time.perf_counter()

    def add(self, probe: Probe) -> None:
        if probe.inconclusive and self.stretch() > 2 ** (MAX_STRETCH - 1):
            probe.inconclusive = False  # still undecided at the longest window: the queue may grow, a fail
        self.probes.append(probe)

    def stretch(self) -> int:
        """How many times longer the next probe's window is: 2 ** (undecided probes just run at this rate)."""
        k = 0
        for p in reversed(self.probes):
            if not p.inconclusive:
                break
            k += 1
        return 2**k

    def bracket(self) -> tuple[float | None, float | None]:
        """(highest passing rate, lowest failing rate above it)."""
        done = decided(self.probes)
        passed = [p.offered_rate for p in done if p.passed]
        lo = max(passed) if passed else None
        above = [p.offered_rate for p in done if not p.passed and (lo is None or p.offered_rate > lo)]
        return lo, (min(above) if above else None)

    def next_rate(self) -> float | None:
        """The next rate to probe, or None when the search has finished."""
        if not self.probes:
            return self.spec.start_rate
        if len(self.probes) >= self.spec.max_probes:
            return None
        if self.probes[-1].inconclusive:
            return self.probes[-1].offered_rate  # the same rate, a longer window
        lo, hi = self.bracket()
        if lo is None:  # no pass yet: halve, or quarter after a fail that was certain early in its window
            assert hi is not None  # a probe was decided, and nothing passed: it failed
            r = hi / (4 if self._failed_early(hi) else 2)
            return r if r >= self.spec.start_rate / FLOOR_FACTOR else None
        if hi is None:
            c = self.spec.ceiling
            if c is None or lo >= c:  # no ceiling, or it read low: double
                return lo * 2
            return c if (c - lo) / lo <= self.spec.resolution else (lo + c) / 2
        if (hi - lo) / lo <= self.spec.resolution:
            return None
        return (lo + hi) / 2

    def _failed_early(self, rate: float) -> bool:
        """Whether the probe at `rate` was stopped as a sure fail within the first EARLY_SHARE of its judged window:
        so far over capacity that halving would likely fail again."""
        p = next((x for x in reversed(decided(self.probes)) if x.offered_rate == rate), None)
        st, w = (p.stopped_early, p.window_s) if p else (None, None)
        return bool(st and w and w[1] > w[0] and (st["at_s"] - w[0]) / (w[1] - w[0]) < EARLY_SHARE)

    def converged(self) -> bool:
        lo, hi = self.bracket()
        return lo is not None and hi is not None and (hi - lo) / lo <= self.spec.resolution
