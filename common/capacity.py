"""Serving capacity under a latency SLO: the highest Poisson arrival rate at which the p-th percentile TTFT,
TPOT (and E2E, if asked) stay within their targets - capacity as Sarathi-Serve and DistServe define it.

The search does not know the front end. It proposes a rate; the caller runs one probe at that rate (an
in-process AsyncLLM, a `vllm serve` over HTTP, or a vllm.LLM driven step by step) and hands the records
to `judge`; the search takes the verdict and proposes the next rate:

    search = CapacitySearch(spec)
    while (rate := search.next_rate()) is not None:
        specs, window = plan.specs(rate, seed=...)
        records = <run specs open loop, time limit plan.time_limit_s(window)>
        search.add(judge(records, rate, window, spec))
    result = search.result()

Bracket: the first probe runs at `start_rate`; after a pass the rate doubles, after a fail it halves, until
one rate passes and a higher one fails (or the floor start_rate / 64 fails too: capacity 0, a result, not
an error). Bisect: the midpoint of the bracket, until (lowest fail - highest pass) / highest pass <=
`resolution`, or `max_probes` probes ran. Capacity is the highest passing rate. Every probe is kept. A noisy
probe that fails below a passing rate is kept and shown, and does not move the bracket.

Probe rule (steady state, bounded): Poisson arrivals for warmup_s + measure_s seconds, where measure_s is
stretched to hold at least `min_requests` arrivals (never past 4 x measure_s). Arrivals in the first warmup_s
fill the engine's batch and are not judged; the requests that arrive in the measurement window are. The
probe then drains for 1.2 x the slowest E2E the SLO allows (+1 s): a request still running by then breaks
the SLO whatever happens next, so it is aborted and counted as an infinite latency. A probe passes when the
p-th percentile of every SLO term is within target AND the engine keeps up: the completions inside the
window shifted by the median E2E (where the window's arrivals leave again, in steady state) number at least
95 % of the window's arrivals, less 2 for the edges. Below that the queue grows without bound, however good
the finished requests' percentiles look: an engine that serves mu < lambda req/s completes mu per second
in any window.

Early stop: a probe ends as soon as its verdict can only be FAIL (`SureFail`): so many judged requests are
already over a term's target that the p-th percentile must land on one of them, whatever the others do. The
verdict is the one the full probe would have reached; the time saved is the overloaded tail of failed probes,
the slowest part of a search. Every probe records its wall time, the search its total (`search_s`).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

SLO_TERMS = ("ttft", "tpot", "e2el")
KEEP_UP = 0.95       # achieved / offered request rate a passing probe must reach
KEEP_UP_SLACK = 2    # ... less this many requests: window edges cut a request or two either way
FLOOR_FACTOR = 64    # the search gives up (capacity 0) below start_rate / 64


@dataclass
class SearchSpec:
    slo: dict                      # {"ttft": ms, "tpot": ms, "e2el": ms}, at least one term
    percentile: float = 99.0
    resolution: float = 0.05       # stop when (fail - pass) / pass <= this
    start_rate: float = 1.0        # req/s of the first probe
    max_probes: int = 12
    warmup_s: float = 5.0
    measure_s: float = 20.0
    min_requests: int = 100        # judged arrivals a probe aims for
    term_class: dict | None = None  # {"ttft": "short"}: that term is judged over requests of that class only

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
    return ", ".join(f"p{percentile:g} {k.upper()}{' (' + only[k] + ')' if k in only else ''} <= {v:g} ms"
                     for k, v in slo.items())


# --------------------------------------------------------------------------- one probe: workload and verdict
@dataclass
class ProbePlan:
    """How long a probe offers load at a rate, and for how long it may drain."""
    warmup_s: float
    measure_s: float
    min_requests: int
    slo: dict
    max_output_len: int
    bounded: bool = True           # False: the SLO leaves some class's E2E unbounded (a term limited to a class)

    @classmethod
    def from_spec(cls, spec: SearchSpec, max_output_len: int) -> "ProbePlan":
        return cls(spec.warmup_s, spec.measure_s, spec.min_requests, spec.slo, max_output_len,
                   bounded=not spec.term_class)

    def window(self, rate: float) -> tuple[float, float]:
        """(start, end) of the judged arrivals, seconds from the probe's start."""
        measure = min(max(self.measure_s, self.min_requests / rate), 4 * self.measure_s)
        return self.warmup_s, self.warmup_s + measure

    def arrivals(self, rate: float, seed: int) -> tuple[np.ndarray, tuple[float, float]]:
        """Poisson arrival offsets (s) covering warm-up and window, and the window."""
        from common.loadgen import arrival_times
        window = self.window(rate)
        n = int(rate * window[1] * 1.5) + 20
        t = arrival_times(n, rate, 1.0, seed=seed)
        while t[-1] < window[1]:  # a slow draw: extend until the window is covered
            n *= 2
            t = arrival_times(n, rate, 1.0, seed=seed)
        return t[t < window[1]], window

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


def _over(r, term: str, target_s: float, now: float) -> bool | None:
    """True: request r is over the term's target already; False: it met it; None: not decided yet."""
    if term == "tpot":
        return None if not (r.ok or r.error) else (r.error is not None or (r.tpot_s is not None and r.tpot_s > target_s))
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
        self.judged = {t: [i for i, s in enumerate(specs) if self.lo <= s.arrival_s < self.hi
                           and (t not in only or s.klass == only[t])] for t in spec.slo}
        self.need = {t: len(ix) - math.floor((len(ix) - 1) * spec.percentile / 100) for t, ix in self.judged.items()}
        self.over = dict.fromkeys(spec.slo, 0)
        self.pending = {t: list(ix) for t, ix in self.judged.items()}   # not decided yet
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
                self.stopped = {"term": term, "target_ms": target, "over": self.over[term], "judged": n,
                                "at_s": round(now - t0, 2)}
                return (f"{self.over[term]} of the {n} requests it judges already over the {term.upper()} target "
                        f"at {now - t0:.1f} s")
        return None


def _first_arrival(records) -> float:
    """When a probe's first request was scheduled (perf_counter): arrival offset 0, where its window is counted from."""
    return min((r.scheduled_s for r in records if r.scheduled_s is not None), default=0.0)


def _judged_mask(records, a: float, b: float) -> list[bool]:
    """Which requests a probe is judged over: those scheduled in its window [a, b) (perf_counter)."""
    return [r.scheduled_s is not None and a <= r.scheduled_s < b for r in records]


def judge(records, rate: float, window: tuple[float, float], spec: SearchSpec, stopped: dict | None = None) -> dict:
    """One probe's verdict from its RequestRecords (absolute perf_counter timestamps, arrival 0 first)."""
    t0 = _first_arrival(records)
    a, b = t0 + window[0], t0 + window[1]
    span = window[1] - window[0]
    judged = [r for r, j in zip(records, _judged_mask(records, a, b)) if j]
    done = [r for r in judged if r.ok]
    unfinished = len(judged) - len(done)
    only = spec.term_class or {}

    def population(term):  # (finished, unfinished count) a term is judged over
        pop = [r for r in judged if term not in only or r.klass == only[term]]
        fin = [r for r in pop if r.ok]
        return fin, len(pop) - len(fin)
    e = float(np.median([r.e2e_s for r in done])) if done else 0.0
    in_window = [r for r in records if r.ok and a + e <= r.end_s < b + e]
    arrived_rate = len(judged) / span
    achieved_rate = len(in_window) / span
    samples = {"ttft": lambda r: r.ttft_s * 1000, "tpot": lambda r: r.tpot_s * 1000, "e2el": lambda r: r.e2e_s * 1000}
    p = spec.percentile
    probe = {"offered_rate": rate, "arrived_rate": arrived_rate, "achieved_rate": achieved_rate,
             "output_throughput": sum(r.output_len for r in in_window) / span,
             "requests": len(records), "judged_requests": len(judged), "unfinished": unfinished,
             "window_s": list(window)}
    pcts = sorted({50.0, 99.0, float(p)})
    probe["judged_by_term"] = {}   # how many requests each SLO term's percentile is taken over
    for term, get in samples.items():
        fin, missing = population(term)
        if term in spec.slo:
            probe["judged_by_term"][term] = len(fin) + missing
        vals = [get(r) for r in fin if term != "tpot" or r.tpot_s is not None]
        for q in pcts:
            probe[f"p{q:g}_{term}_ms"] = percentile_with_unfinished(vals, missing, q)
        probe[f"mean_{term}_ms"] = float(np.mean(vals)) if vals else None
    if only:
        probe["term_class"] = dict(only)
    # margin per term: (target - measured) / target, > 0 within the SLO; the keep-up condition likewise
    margins = {term: ((target - probe[f"p{p:g}_{term}_ms"]) / target if probe[f"p{p:g}_{term}_ms"] is not None
                      else -math.inf) for term, target in spec.slo.items()}
    margins["keep_up"] = ((len(in_window) + KEEP_UP_SLACK) / (KEEP_UP * len(judged)) - 1) if judged else -math.inf
    worst = min(margins, key=margins.get)
    if stopped:  # the early stop's verdict: that term could no longer be met (what ran is kept as measured)
        worst = stopped["term"]
        margins[worst] = min(margins[worst], -1e-9)
        probe["stopped_early"] = dict(stopped)
    probe.update({"pass": bool(judged) and margins[worst] >= 0, "margin": margins[worst], "bound_by": worst,
                  "margins": margins})
    # the whole probe measured as `vllm bench serve` measures a run (first send -> last finish, every request),
    # for the calibration against it at the rate found
    from common.loadgen import request_metrics
    whole = request_metrics(records)
    probe["whole_run"] = {k: whole[k] for k in ("completed", "failed", "output_throughput", "request_throughput",
                                                "mean_ttft_ms", "p99_ttft_ms", "mean_tpot_ms", "p99_tpot_ms")}
    return _finite(probe)


def _finite(d):
    """inf -> None (JSON has no infinity); the verdict was taken before."""
    if isinstance(d, dict):
        return {k: _finite(v) for k, v in d.items()}
    if isinstance(d, float) and math.isinf(d):
        return None
    return d


def describe(probe: dict, percentile: float) -> str:
    """'p99 TTFT 820 ms' / 'achieved 12.1 of 14.0 req/s' / 'p99 TPOT unbounded (3 unfinished)'."""
    term = probe["bound_by"]
    if term == "keep_up":
        return f"achieved {probe['achieved_rate']:.3g} of {probe['arrived_rate']:.3g} req/s (the queue grows)"
    v = probe.get(f"p{percentile:g}_{term}_ms")
    cls = (probe.get("term_class") or {}).get(term)
    if probe.get("stopped_early"):
        st = probe["stopped_early"]
        return (f"p{percentile:g} {term.upper()}{' of ' + cls + ' requests' if cls else ''} over "
                f"{st['target_ms']:g} ms for sure: {st['over']} of the {st['judged']} requests it judges past it at "
                f"{st['at_s']:.1f} s, probe stopped")
    value = f"{v:.0f} ms" if v is not None else f"unbounded ({probe['unfinished']} unfinished)"
    return f"p{percentile:g} {term.upper()}{' of ' + cls + ' requests' if cls else ''} {value}"


# --------------------------------------------------------------------------- the search
class CapacitySearch:
    """Bracket then bisect over probe verdicts; see the module docstring for the rule."""

    def __init__(self, spec: SearchSpec):
        self.spec = spec
        self.probes: list[dict] = []
        self.t0 = time.perf_counter()

    def add(self, probe: dict) -> None:
        self.probes.append(probe)

    def _passed(self) -> list[float]:
        return [p["offered_rate"] for p in self.probes if p["pass"]]

    def bracket(self) -> tuple[float | None, float | None]:
        """(highest passing rate, lowest failing rate above it)."""
        passed = self._passed()
        lo = max(passed) if passed else None
        above = [p["offered_rate"] for p in self.probes if not p["pass"] and (lo is None or p["offered_rate"] > lo)]
        return lo, (min(above) if above else None)

    def next_rate(self) -> float | None:
        """The next rate to probe, or None when the search has finished."""
        if not self.probes:
            return self.spec.start_rate
        if len(self.probes) >= self.spec.max_probes:
            return None
        lo, hi = self.bracket()
        if lo is None:
            r = hi / 2
            return r if r >= self.spec.start_rate / FLOOR_FACTOR else None
        if hi is None:
            return lo * 2
        if (hi - lo) / lo <= self.spec.resolution:
            return None
        return (lo + hi) / 2

    def converged(self) -> bool:
        lo, hi = self.bracket()
        return lo is not None and hi is not None and (hi - lo) / lo <= self.spec.resolution

    def result(self, failure: str | None = None) -> dict:
        """metrics.capacity: the rate, what it delivers, what bound it, and every probe."""
        lo, hi = self.bracket()
        p = self.spec.percentile
        at = next((x for x in self.probes if x["pass"] and x["offered_rate"] == lo), None)
        above = next((x for x in self.probes if not x["pass"] and x["offered_rate"] == hi), None)
        out = {"request_rate": lo or 0.0, "output_throughput": at["output_throughput"] if at else 0.0,
               "slo": dict(self.spec.slo), "percentile": p, "resolution": self.spec.resolution,
               "bracket": [lo, hi], "converged": self.converged(), "bound_by": above["bound_by"] if above else None,
               "samples_at_bracket": [_fewest(x) for x in (at, above)],
               "search": {k: v for k, v in asdict(self.spec).items() if k != "slo"},
               "probes": self.probes, "search_s": round(time.perf_counter() - self.t0, 1)}
        if failure:
            out["failed"] = failure
        if not self.probes:
            out["verdict"] = "no probe ran" + (f": {failure}" if failure else "")
        elif lo is None:
            low = min(self.probes, key=lambda x: x["offered_rate"])
            out["verdict"] = f"capacity 0: {describe(low, p)} at {low['offered_rate']:.3g} req/s, the lowest rate tried"
            out["bound_by"] = low["bound_by"]
        else:
            out["verdict"] = (f"capacity {lo:.3g} req/s ({out['output_throughput']:.0f} out tok/s) under "
                              f"{slo_text(self.spec.slo, p, self.spec.term_class)}"
                              + (f"; at {hi:.3g} req/s {describe(above, p)}" if above else
                                 "; no failing rate found within the probe budget (raise --max-probes)"))
            if not out["converged"] and above:
                out["verdict"] += " (probe budget spent before the bracket narrowed to the resolution)"
            if thin := thin_samples(out):
                out["verdict"] += (f"; p{p:g} over {thin} requests lies between their two largest, so one "
                                   "or two late requests decided a verdict here: lengthen the probes (--probe-min-requests) "
                                   "to settle it")
        if failure:
            out["verdict"] += f"; search FAILED: {failure}"
        return out


def _fewest(probe: dict | None) -> int | None:
    """The fewest requests any SLO term of a probe was judged over (None: no probe, or a JSON from before)."""
    if (probe or {}).get("stopped_early"):   # a surely failed probe is judged over its whole window's requests
        return probe["stopped_early"]["judged"]
    n = (probe or {}).get("judged_by_term")
    return min(n.values()) if n else None


def thin_samples(cap: dict | None) -> int | None:
    """The sample count when the capacity rests on a probe (at the rate found, or the failure just above) whose
    percentile was taken over n < 1 + 100 / (100 - p) requests (p99: 100 or fewer). numpy's p-th percentile of n
    values sits at sorted index (n - 1) p / 100, which is then past n - 2: between the two largest values, so the one
    or two latest requests decide the verdict. None when every such probe had more."""
    if not cap or not cap.get("samples_at_bracket"):
        return None
    p = cap["percentile"]
    thin = [n for n in cap["samples_at_bracket"] if n is not None and (p >= 100 or n < 1 + 100 / (100 - p))]
    return min(thin) if thin else None


def start_rate_from_unloaded(ttft_ms: float, tpot_ms: float, output_len: int) -> float:
    """A first rate that is surely below capacity for batching engines: two requests per unloaded E2E."""
    e2e_s = (ttft_ms + tpot_ms * max(output_len - 1, 0)) / 1000
    return round(2.0 / e2e_s, 3) if e2e_s > 0 else 1.0


# --------------------------------------------------------------------------- drivers
def probe_specs(plan: ProbePlan, rate: float, make_prompts, seed: int):
    """(RequestSpecs with arrival times, window): `make_prompts(n, seed)` gives the workload's prompts."""
    t, window = plan.arrivals(rate, seed)
    specs = make_prompts(len(t), seed)
    for s, a in zip(specs, t):
        s.arrival_s = float(a)
    return specs, window


def printer(spec: SearchSpec, then=None):
    """An on_probe callback that prints one line per finished probe (after a header), then calls `then`."""
    print(f"  capacity search under {slo_text(spec.slo, spec.percentile, spec.term_class)}, first rate "
          f"{spec.start_rate:.3g} req/s",
          flush=True)
    count = [0]

    def show(p):
        count[0] += 1
        row = probe_row(p, spec.percentile)
        print(f"  probe {count[0]}: {row['offered req/s']} req/s -> {row['verdict']} (achieved "
              f"{row['achieved req/s']} req/s, judged/unfinished {row['judged/unfinished']}, {row['wall s']} s)", flush=True)
        if then:
            then(p)
    return show


def _with_time_and_samples(probe: dict, t: float, records) -> dict:
    """The probe's wall time, and its requests one by one (moved to the JSON's raw by `split_samples`)."""
    probe["wall_s"] = round(time.perf_counter() - t, 2)
    t0 = _first_arrival(records)
    w = probe["window_s"]
    ms = lambda v: None if v is None else round(v * 1000, 3)  # noqa: E731
    probe["samples"] = {
        "arrival_s": [None if r.scheduled_s is None else round(r.scheduled_s - t0, 4) for r in records],
        "ttft_ms": [ms(r.ttft_s) for r in records], "tpot_ms": [ms(r.tpot_s) for r in records],
        "e2el_ms": [ms(r.e2e_s) if r.ok else None for r in records], "output_len": [r.output_len for r in records],
        "klass": [r.klass for r in records], "error": [r.error for r in records],
        # exactly the requests judged: arrival_s is rounded, so one at a window edge could be counted either way
        "judged": _judged_mask(records, t0 + w[0], t0 + w[1])}
    return probe


def split_samples(cap: dict | None) -> list[dict]:
    """Take each probe's per-request samples out of metrics.capacity, for the JSON's raw: [{offered_rate, ...}]."""
    return [{"offered_rate": p["offered_rate"], **p.pop("samples")} for p in (cap or {}).get("probes", [])
            if "samples" in p]


def search_sync(spec: SearchSpec, plan: ProbePlan, make_prompts, run_open, seed: int = 0, on_probe=None) -> dict:
    """The search with a blocking front end: `run_open(specs, time_limit_s, stop) -> records` (e.g. stepdrive),
    which calls `stop(records, t0, now)` now and then and ends the probe when it returns a reason."""
    search = CapacitySearch(spec)
    while (rate := search.next_rate()) is not None:
        specs, window = probe_specs(plan, rate, make_prompts, seed + 1000 * len(search.probes))
        stop, t = SureFail(specs, window, spec), time.perf_counter()
        recs = run_open(specs, plan.time_limit_s(window), stop)
        search.add(_with_time_and_samples(judge(recs, rate, window, spec, stopped=stop.stopped), t, recs))
        if on_probe:
            on_probe(search.probes[-1])
    return search.result()


async def search_async(spec: SearchSpec, plan: ProbePlan, make_prompts, backend, seed: int = 0,
                       on_probe=None) -> dict:
    """The search with an async streaming backend (common.loadgen: AsyncLLM or an OpenAI-compatible server).
    A probe in which no request got a token and some failed (a server gone) ends the search as failed, keeping
    the probes done."""
    from common.loadgen import run_open_loop
    search = CapacitySearch(spec)
    while (rate := search.next_rate()) is not None:
        specs, window = probe_specs(plan, rate, make_prompts, seed + 1000 * len(search.probes))
        stop, t = SureFail(specs, window, spec), time.perf_counter()
        recs = await run_open_loop(backend, specs, time_limit_s=plan.time_limit_s(window), stop=stop)
        dead = [r.error for r in recs if r.error and not r.error.startswith("probe stopped")
                and "time limit" not in r.error]
        search.add(_with_time_and_samples(judge(recs, rate, window, spec, stopped=stop.stopped), t, recs))
        if on_probe:
            on_probe(search.probes[-1])
        if dead and not any(r.first_token_s is not None for r in recs):  # nothing answered, something refused
            return search.result(failure=f"no request of the probe at {rate:.3g} req/s was answered, e.g. {dead[0]}")
    return search.result()


def probe_row(p: dict, percentile: float) -> dict:
    """One printed row per probe."""
    f = lambda v, nd=0: "-" if v is None else f"{v:.{nd}f}"  # noqa: E731
    q = f"p{percentile:g}"
    cut = bool(p.get("stopped_early"))  # a stopped probe's rates cover part of its window: not shown as rates
    return {"offered req/s": f"{p['offered_rate']:.3g}", "achieved req/s": "-" if cut else f"{p['achieved_rate']:.3g}",
            "out tok/s": "-" if cut else f(p["output_throughput"]), f"{q} TTFT ms": f(p.get(f"{q}_ttft_ms")),
            f"{q} TPOT ms": f(p.get(f"{q}_tpot_ms"), 1), "judged/unfinished": f"{p['judged_requests']}/{p['unfinished']}",
            "wall s": f(p.get("wall_s")), "verdict": "pass" if p["pass"] else f"FAIL ({describe(p, percentile)})"}


# --------------------------------------------------------------------------- command line (shared by the scripts)
def add_cli_args(p, with_switch: str | None = None) -> None:
    """--slo, --slo-percentile, --capacity-resolution, probe sizes; `with_switch` adds the flag that turns it on."""
    g = p.add_argument_group("serving capacity under an SLO")
    if with_switch:
        g.add_argument(with_switch, action="store_true",
                       help="search the highest Poisson request rate that meets --slo (bracket, then bisect)")
    g.add_argument("--slo", metavar="TERMS", help="latency targets in ms, e.g. ttft:500,tpot:50 (optional e2el:MS)")
    g.add_argument("--slo-percentile", type=float, default=99.0, help="percentile the SLO applies to (default 99)")
    g.add_argument("--capacity-resolution", type=float, default=0.05,
                   help="stop when the bracket is this narrow, relative (default 0.05 = 5%%)")
    g.add_argument("--capacity-start-rate", type=float, help="first probe's req/s (default: 2 / unloaded E2E)")
    g.add_argument("--max-probes", type=int, default=12, help="probe budget of one search (default 12)")
    g.add_argument("--probe-seconds", type=float, help="judged window of a probe (GPU 20 s, CPU 5 s)")
    g.add_argument("--probe-warmup-seconds", type=float, help="unjudged arrivals before it (GPU 5 s, CPU 1.5 s)")
    g.add_argument("--probe-min-requests", type=int, help="judged arrivals a probe aims for (GPU 100, CPU 30)")


PROBE_DEFAULTS = {"measure_s": (20.0, 5.0), "warmup_s": (5.0, 1.5), "min_requests": (100, 30)}


def spec_from_args(args, required: bool, slo_optional: bool = False) -> dict | None:
    """The search's settings from the flags as a plain dict (start_rate None = from the unloaded reference;
    slo None, where the experiment derives one, only with `slo_optional`), or None when no search was asked
    for. Bad input -> common.cli.UsageError, before any engine starts."""
    from common import platform
    from common.cli import UsageError
    from common.loadgen import parse_goodput
    if args.slo is None and not slo_optional:
        if required:
            raise UsageError("the capacity search needs --slo, e.g. --slo ttft:500,tpot:50")
        return None
    try:
        slo = parse_goodput([args.slo]) if args.slo is not None else None
        if slo is not None:
            check_slo(slo)
        check_settings(args.slo_percentile, args.capacity_resolution)
    except ValueError as e:
        raise UsageError(str(e)) from None
    for name in ("capacity_start_rate", "probe_seconds", "probe_warmup_seconds"):
        v = getattr(args, name)
        if v is not None and not v > 0:
            raise UsageError(f"--{name.replace('_', '-')} must be > 0")
    if args.max_probes < 2 or (args.probe_min_requests is not None and args.probe_min_requests < 1):
        raise UsageError("--max-probes must be >= 2 and --probe-min-requests >= 1")
    gpu = 0 if platform.has_gpu() else 1
    given = {"measure_s": args.probe_seconds, "warmup_s": args.probe_warmup_seconds,
             "min_requests": args.probe_min_requests}
    return {"slo": slo, "percentile": args.slo_percentile, "resolution": args.capacity_resolution,
            "start_rate": args.capacity_start_rate, "max_probes": args.max_probes,
            **{k: (v if v is not None else PROBE_DEFAULTS[k][gpu]) for k, v in given.items()}}


async def capacity_on_backend(backend, search: dict, workload: dict, on_probe=None) -> dict:
    """Warm-up, unloaded reference, then the search, on one running front end (common.loadgen backend).

    `search`: spec_from_args()'s dict; `workload`: input_len, output_len, range_ratio, vocab_size, seed.
    The first rate, unless given, is two requests per unloaded E2E (start_rate_from_unloaded)."""
    from common.loadgen import random_prompts, run_closed_loop, unloaded_model
    w = workload

    def make_prompts(n: int, seed: int):
        return random_prompts(n, w["input_len"], w["output_len"], w["vocab_size"], seed=seed,
                              range_ratio=w.get("range_ratio", 0.0))

    warm = await run_closed_loop(backend, random_prompts(4, w["input_len"], 8, w["vocab_size"], seed=w["seed"] + 7),
                                 concurrency=4)
    if not any(r.ok for r in warm):
        raise RuntimeError(f"every warm-up request failed, e.g. {warm[0].error}")
    ref = await run_closed_loop(backend, make_prompts(4, w["seed"] + 11), concurrency=1)
    ttft, tpot = unloaded_model(ref)
    spec = SearchSpec(**{**search, "start_rate": search.get("start_rate")
                         or start_rate_from_unloaded(ttft * 1000, tpot * 1000, w["output_len"])})
    max_out = int(w["output_len"] * (1 + w.get("range_ratio", 0.0))) + 1
    res = await search_async(spec, ProbePlan.from_spec(spec, max_out), make_prompts, backend,
                             seed=w["seed"] + 5000, on_probe=printer(spec, on_probe))
    res["unloaded"] = {"ttft_ms": ttft * 1000, "tpot_ms": tpot * 1000}
    return res


# --------------------------------------------------------------------------- one layout's search, in its own process
def capacity_child(cfg: dict) -> dict:
    """One layout as `vllm serve` would run it (AsyncLLM, DP via data_parallel_size) and its capacity search."""
    from common.loadgen import run_async
    return run_async(_capacity(cfg))


async def _capacity(cfg: dict) -> dict:
    from common import engine as eng
    from common.isolation import checkpoint
    from common.loadgen import AsyncLLMBackend
    from common.metrics import StageTimer
    timer = StageTimer()
    with timer("engine_start"):
        engine = eng.build_async_engine(cfg["engine"])
    probes = []

    def keep(p):
        probes.append(p)
        checkpoint(cfg, {"probes": probes, "failed": "stopped before the search finished"})

    try:
        workload = {"range_ratio": 0.0, **{k: cfg[k] for k in ("input_len", "output_len", "vocab_size", "seed")}}
        with timer("capacity_search"):
            res = await capacity_on_backend(AsyncLLMBackend(engine), cfg["capacity"], workload, on_probe=keep)
        res["scheduler"] = eng.scheduler_limits(engine)
    finally:
        engine.shutdown()
    return {**res, "engine": cfg["engine"], "stage_seconds": timer.seconds}


def run_capacity(layout: dict, base: dict, timeout_s: float) -> dict:
    """metrics.capacity of one layout, from its own process; a failed search is recorded with its cause."""
    from common.isolation import run_isolated
    engine = {**base["engine"], "tensor_parallel_size": layout["tp"], "pipeline_parallel_size": layout["pp"],
              **({"data_parallel_size": layout["dp"]} if layout["dp"] > 1 else {})}
    print(f"  {layout['name']}: capacity search (an AsyncLLM engine as `vllm serve` builds it) ...", flush=True)
    res = run_isolated("common.capacity:capacity_child", {**base, "engine": engine}, timeout_s=timeout_s,
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
