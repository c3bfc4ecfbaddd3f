"""One capacity search's result, typed: what a `CapacitySearch` found (`CapacityResult.of`), what the workload adds
(a trace's speed-up, the window that decided, the stretch's load profile), where the search started, the validation
replay, the `vllm bench serve` cross-check and the day's fleet, as fields.

`to_json` writes it as metrics.capacity; `from_json` reads any version of that back (a key it does not know is kept in
`extra` and written again). The verdict is rendered from the fields each time it is shown (`verdict`); the one in the
file is a copy for whoever reads the JSON, never read back.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from common.capacity.probe import Probe
from common.capacity.search import CapacitySearch, SearchSpec, bracket_probes, decided, slo_text
from common.capacity.stats import thin_samples
from common.output.tables import rate
from common.traffic.load_profile import clock

# keys of metrics.capacity in the order they have been written (the search's, then the trace's, then the run's)
_ORDER = (
    "request_rate",
    "output_throughput",
    "slo",
    "percentile",
    "resolution",
    "bracket",
    "converged",
    "bound_by",
    "samples_at_bracket",
    "search",
    "probes",
    "search_s",
    "failed",
    "verdict",
)


@dataclass
class CapacityResult:
    """metrics.capacity, typed. `search` holds the SearchSpec's settings but its SLO (`spec` rebuilds it); `failed`
    says why a search stopped before its end (its probes stand); `profile` is LoadProfile.to_json's summary."""

    slo: dict[str, float]
    percentile: float
    resolution: float
    search: dict[str, Any]
    probes: list[Probe] = field(default_factory=list)
    request_rate: float | None = 0.0
    bracket: list[float | None] = field(default_factory=lambda: [None, None])
    converged: bool = False
    bound_by: str | None = None
    samples_at_bracket: list[int | None] | None = None
    search_s: float | None = None
    failed: str | None = None  # a search whose process failed: "kind: message", and request_rate None
    # a trace's terms (common.capacity.drivers.trace_terms)
    trace_judge: str | None = None
    profile: dict | None = None
    trace_speedup: float | None = None
    busiest_minute_rate: float | None = None
    binding_window: dict | None = None
    binding_window_rate: float | None = None
    binding_work_per_s: float | None = None
    stretch_arrived_rate: float | None = None
    # around the search
    unloaded: dict | None = None
    start: dict | None = None
    prefix_cache_hit_rate: float | None = None
    validation: dict | None = None
    vllm_bench_at_capacity: dict | None = None
    fleet_at_recorded_rate: dict | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys this type does not know (the child's engine, ...)
    samples_in_raw: bool = False  # the per-request samples are in the result file's raw: to_json leaves them out

    # ----------------------------------------------------------------------- what the figures mean
    @property
    def spec(self) -> SearchSpec:
        known = SearchSpec.__dataclass_fields__
        return SearchSpec(**{k: v for k, v in self.search.items() if k in known and k != "slo"}, slo=self.slo)

    @property
    def output_throughput(self) -> float:
        """Output tok/s at the capacity: the rate the SLO was judged at x the output tokens per request of its probe
        (a Poisson draw that brought more requests than offered adds nothing); on a trace, what the window delivered
        at that speed (its arrivals are the trace's, not a draw). 0 without a passing probe."""
        at, _ = self.at_bracket()
        return self.throughput_of(at) if at is not None and self.request_rate else 0.0

    def throughput_of(self, probe: Probe) -> float:
        """A probe's output tok/s at the rate it offered (its output tokens per request x that rate); on a trace,
        what its window delivered."""
        return (probe.output_throughput if self.is_trace else probe.throughput_at(probe.offered_rate)) or 0.0

    def lowest_probe(self) -> Probe:
        """The decided probe at the lowest rate tried (any probe, when none decided): what a capacity 0 rests on."""
        return min(decided(self.probes) or self.probes, key=lambda x: x.offered_rate)

    @property
    def is_trace(self) -> bool:
        """A search that replayed a trace (a file from before trace_judge was written, or a partial one, too)."""
        return (
            self.trace_judge is not None
            or self.trace_speedup is not None
            or any(p.note.get("trace_speedup") is not None for p in self.probes)
        )

    def _rate(self, probe: Probe) -> str:
        """A probe's offered rate as the verdict says it: '55.1 req/s', on a trace '2.1x (5.97 req/s mean)'."""
        x = probe.note.get("trace_speedup")
        return f"{x:.3g}x ({rate(probe.offered_rate)} req/s mean)" if x else f"{rate(probe.offered_rate)} req/s"

    def stopped_by(self) -> str:
        """Why the next rate failed, in words, and the latencies measured at the capacity: 'the queue grew by 40
        requests at 55.1 req/s: the engine could not keep up; at capacity p99 TTFT 184 ms, TPOT 28 ms'."""
        if self.failed:
            return "the search failed"
        at, above = self.at_bracket()
        p = self.percentile
        if at is None and self.probes:  # capacity 0
            low = self.lowest_probe()
            return f"even the lowest rate tried, {self._rate(low)}, failed: {low.describe(p, brief=True)}"
        if above is None:
            why = "no rate failed within the probe budget"
        elif above.bound_by == "keep_up" and above.keep_up is not None:
            grew = above.keep_up.backlog_growth
            why = f"at {self._rate(above)} the queue grew by {grew:.0f} requests: the engine could not keep up"
        else:
            why = f"at {self._rate(above)}: {above.describe(p, brief=True)}"
        here = [f"{t.upper()} {rate(v)} ms" for t in ("ttft", "tpot") if at and (v := at.ms(p, t)) is not None]
        return why + (f"; at capacity p{p:g} " + ", ".join(here) if here else "")

    @property
    def found(self) -> bool:
        """Whether the search found a rate and finished."""
        return bool(self.request_rate) and not self.failed

    def at_bracket(self) -> tuple[Probe | None, Probe | None]:
        """(the passing probe at the capacity, the failing one just above it; a file without a bracket: the rate's)."""
        lo, hi = self.bracket
        return bracket_probes(self.probes, self.request_rate if lo is None else lo, hi)

    def thin(self) -> int | None:
        return thin_samples(self.samples_at_bracket, self.percentile)

    @property
    def failed_kind(self) -> str | None:
        """The Failure kind of a search whose own process failed (run_capacity): None for a search that ran."""
        return self.failed.split(": ", 1)[0] if self.failed and self.request_rate is None else None

    @property
    def interrupted(self) -> bool:
        return self.failed_kind == "interrupted"

    @property
    def verdict(self) -> str:
        """'capacity 3.1 req/s (400 out tok/s) under p99 TTFT <= 500 ms ...; at 3.3 req/s p99 TTFT 820 ms', rendered
        from the fields: the search's bracket, then the trace's terms, then why it failed."""
        if self.failed_kind is not None:  # the search's process failed (run_capacity)
            return f"search failed ({self.failed_kind}): {(self.failed or '').split(': ', 1)[-1][:200]}"
        text = self._search_verdict() + self._trace_verdict()
        return text + (f"; search FAILED: {self.failed}" if self.failed else "")

    def _search_verdict(self) -> str:
        p, failure = self.percentile, self.failed
        if not self.probes:
            return "no probe ran" + (f": {failure}" if failure else "")
        lo, hi = self.bracket
        if lo is None:
            low = self.lowest_probe()
            return f"capacity 0: {low.describe(p)} at {low.offered_rate:.3g} req/s, the lowest rate tried"
        at, above = self.at_bracket()
        drawn = ""
        if at and not self.is_trace and at.draw_differs():  # what the probe's draw finished, beside it
            drawn = (
                f"; its probe's Poisson draw finished {at.achieved_rate:.3g} req/s, "
                f"{at.output_throughput or 0:.0f} out tok/s"
            )
        text = f"capacity {lo:.3g} req/s ({self.output_throughput:.0f} out tok/s{drawn}) under " + slo_text(
            self.slo, p, self.search.get("term_class")
        )
        if above:
            text += f"; at {hi:.3g} req/s {above.describe(p)}"
        else:
            text += "; no failing rate found" + ("" if failure else " within the probe budget (raise --max-probes)")
        if not self.converged and above and not failure:  # a search stopped early says why at the end
            text += " (probe budget spent before the bracket narrowed to the resolution)"
        if (thin := self.thin()) is not None:  # 0 too: a probe whose window held no request
            text += (
                f"; p{p:g} over {thin} requests lies between their two largest, so one or two late requests decided "
                "a verdict here: lengthen the probes (--probe-min-requests) to settle it"
            )
        return text

    def _trace_verdict(self) -> str:
        """What the rate is in the trace's terms (empty for Poisson arrivals, or when nothing passed)."""
        if self.trace_speedup is None or not self.request_rate:
            return ""
        at, _ = self.at_bracket()
        if self.binding_window and self.profile and at is not None:
            tw, a = at.note["trace_window"], self.profile["origin_s"]
            b = self.profile.get("end_s", self.profile["windows"][-1]["end_s"])  # (files before end_s: a window's)
            return (
                f"; it holds this stretch ({clock(a)}-{clock(b)} of the trace) at up to {self.trace_speedup:.3g} x its "
                f"recorded rate: its heaviest window at {clock(tw['start_s'])}-{clock(tw['end_s'])} decides (it "
                f"brought {at.arrived_rate:.3g} req/s at that speed; {self.request_rate:.3g} req/s on average over the "
                "stretch)"
            )
        text = (
            f"; it holds this trace at up to {self.trace_speedup:.3g} x its recorded rate: {self.request_rate:.3g} "
            f"req/s on average, {self.busiest_minute_rate:.3g} req/s in its busiest minute"
        )
        if self.stretch_arrived_rate is not None:
            text += f" (the stretch replayed brought {self.stretch_arrived_rate:.3g} req/s in the judged window)"
        return text

    # ----------------------------------------------------------------------- the file's edge
    def to_json(self) -> dict:
        """metrics.capacity, with each probe's and the validation's per-request samples unless `samples_in_raw` (a
        result file's raw has them: probe_samples, validation_samples); whole, it crosses a process boundary."""
        d: dict[str, Any] = {"output_throughput": self.output_throughput}  # (a copy: rendered from the probe)
        samples = not self.samples_in_raw
        for f in fields(self):
            if f.name in ("extra", "samples_in_raw"):
                continue
            v = getattr(self, f.name)
            if f.name == "probes":
                v = [p.to_json() for p in v]
                if not samples:
                    v = [{k: x for k, x in p.items() if k != "samples"} for p in v]
            elif f.name == "validation" and v and not samples:
                v = {k: x for k, x in v.items() if k != "samples"}
            elif v is None and f.name not in _ORDER[:8]:
                continue  # absent, as it has always been
            d[f.name] = v
        if self.failed is None:
            d.pop("failed", None)
        d["verdict"] = self.verdict
        if self.interrupted:
            d["interrupted"] = True
        out = {k: d.pop(k) for k in _ORDER if k in d}
        return {**out, **d, **self.extra}

    @classmethod
    def from_json(cls, d: dict) -> CapacityResult:
        """metrics.capacity as any version of the lab wrote it (the stored verdict is not read: it is rendered)."""
        d = dict(d)
        d.pop("verdict", None)
        d.pop("output_throughput", None)  # (derived from the probe at the capacity, as the verdict)
        d.pop("interrupted", None)  # (said by `failed`)
        known = {f.name for f in fields(cls)} - {"extra", "probes", "samples_in_raw"}
        own = {k: d.pop(k) for k in list(d) if k in known}
        search = own.pop("search", None) or {}
        return cls(
            slo=own.pop("slo", None) or {},
            percentile=own.pop("percentile", 99.0),
            resolution=own.pop("resolution", 0.05),
            search=search,
            probes=[Probe.from_json(p) for p in d.pop("probes", None) or []],
            extra=d,
            **own,
        )

    @classmethod
    def of(cls, search: CapacitySearch, failure: str | None = None) -> CapacityResult:
        """What a search found so far: the rate, what it delivers, what bound it, and every probe (`failure`: why
        it stopped before its end)."""
        spec = search.spec
        lo, hi = search.bracket()
        at, above = bracket_probes(search.probes, lo, hi)
        res = cls(
            slo=dict(spec.slo),
            percentile=spec.percentile,
            resolution=spec.resolution,
            search={k: v for k, v in asdict(spec).items() if k != "slo"},
            request_rate=lo or 0.0,
            bracket=[lo, hi],
            converged=search.converged(),
            bound_by=above.bound_by if above else None,
            samples_at_bracket=[x.fewest_samples() if x else None for x in (at, above)],
            probes=list(search.probes),
            search_s=round(time.perf_counter() - search.t0, 2),
            failed=failure,
        )
        if search.probes and lo is None:  # capacity 0: what broke the lowest rate tried
            res.bound_by = res.lowest_probe().bound_by
        return res

    # ----------------------------------------------------------------------- per-request samples, for the raw
    def probe_samples(self) -> list[dict]:
        """Each probe's per-request samples, [{offered_rate, ...}] (the JSON's raw.capacity_probes)."""
        return [{"offered_rate": p.offered_rate, **p.samples} for p in self.probes if p.samples is not None]

    def validation_samples(self) -> dict | None:
        return (self.validation or {}).get("samples")


@dataclass(frozen=True)
class CapacityRange:
    """A capacity with the range it may lie in, in the unit the SLO was judged in (a trace's speed-up, else req/s):
    `point` the newest run's (the rate its SLO was judged at), `low` the lowest rate any pooled run passed, `high` the
    highest rate at which one failed first (its bracket's top), over `runs` runs of the same layout, workload, SLO and
    GPU model. `validation_missed`: the newest run's validation replay missed the SLO in a window at `point`."""

    point: float
    low: float
    high: float
    runs: int
    unit: str  # "x" or "req/s"
    validation_missed: bool = False

    @classmethod
    def of(cls, newest: CapacityResult, pooled: list[CapacityResult] | None = None) -> CapacityRange:
        caps = [c for c in (pooled or [newest]) if c.found] or [newest]
        ends = [_ends(c) for c in caps]
        v = newest.validation or {}
        return cls(
            _ends(newest)[0],
            min(lo for lo, _ in ends),
            max(hi for _, hi in ends),
            len(caps),
            "x" if newest.is_trace else "req/s",
            v.get("pass") is False,
        )

    def at(self, end: str) -> float:
        """The capacity a plan is sized from: "low" or "point"."""
        return self.low if end == "low" else self.point

    def text(self) -> str:
        """'2.13x (range 2.04-2.21x: the search's bracket over 2 runs)', the validation's miss said after it."""
        u = "x" if self.unit == "x" else " req/s"
        where = "the search's bracket" + (f" and the spread of {self.runs} runs" if self.runs > 1 else "")
        return f"{self.point:.3g}{u} (range {self.low:.3g}-{self.high:.3g}{u}: {where})" + (
            "; its validation replay missed the SLO in a window at this speed" if self.validation_missed else ""
        )


def _ends(c: CapacityResult) -> tuple[float, float]:
    """(the rate passed, the rate that failed just above it) of one search, as a trace's speed-up where it has one."""
    at, above = c.at_bracket()
    if not c.is_trace:
        lo = float(c.request_rate or 0.0)
        return lo, float(above.offered_rate) if above else lo
    lo = float(c.trace_speedup or 0.0)
    hi = above.note.get("trace_speedup") if above else None
    return lo, float(hi) if hi else lo
