"""One capacity probe, typed inside the search and flattened at the edge.

`judge` (common.capacity.search) builds a `Probe`; the driver adds its wall time and per-request samples, the
workload its note (a trace's speed-up and replayed window). `to_json` writes it as one entry of
metrics.capacity.probes, with `vllm bench serve`'s key style (`p99_ttft_ms`, `mean_tpot_ms`); `from_json` reads any
such entry back, old files' too (a key it does not know goes to `note`), so readers never rebuild key strings.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from common.capacity.stats import KeepUp, finite

LATENCY_KEY = re.compile(r"(p[\d.]+|mean)_(ttft|tpot|e2el)_ms")


def latency_key(stat: float | str, term: str) -> str:
    """The JSON key of a probe's latency figure: (99, "ttft") -> "p99_ttft_ms", ("mean", "tpot") -> "mean_tpot_ms"."""
    return f"{stat}_{term}_ms" if stat == "mean" else f"p{stat:g}_{term}_ms"


@dataclass
class Probe:
    """A probe's verdict at one offered rate: what arrived and finished in its judged window, each latency figure
    (percentiles and means per term), the keep-up verdict, and pass / bound_by / margins."""

    offered_rate: float
    passed: bool
    bound_by: str | None = None
    arrived_rate: float | None = None
    achieved_rate: float | None = None
    output_throughput: float | None = None
    requests: int | None = None
    judged_requests: int | None = None
    unfinished: int | None = None
    window_s: list[float] | None = None
    judged_by_term: dict[str, int] | None = None  # how many requests each SLO term's percentile is taken over
    # (None: a JSON from before it was counted)
    latency_ms: dict[str, float | None] = field(default_factory=dict)  # latency_key -> ms (None: unbounded)
    term_class: dict[str, str] | None = None
    keep_up: KeepUp | None = None  # None: a JSON from before the backlog rule
    keep_up_verdict: str | None = None  # such a JSON's own keep_up word, if it has one
    stopped_early: dict | None = None  # SureFail's {term, target_ms, over, judged, at_s}
    margin: float | None = None
    margins: dict[str, float] | None = None
    inconclusive: bool | None = None  # undecided: run again, longer (None: a JSON from before)
    whole_run: dict | None = None  # the probe measured as `vllm bench serve` measures a run
    note: dict = field(default_factory=dict)  # the workload's: trace_speedup, trace_window, window_rate
    wall_s: float | None = None
    samples: dict | None = None  # per request; moved to the JSON's raw when written

    def ms(self, stat: float | str, term: str) -> float | None:
        """A latency figure: probe.ms(99, "ttft"), probe.ms("mean", "tpot"); None when unbounded (unfinished requests
        counted as infinite: `judge` keeps inf in memory, the file None)."""
        v = self.latency_ms.get(latency_key(stat, term))
        return None if v is None or math.isinf(v) else v

    def throughput_at(self, rate: float) -> float | None:
        """Output tok/s at `rate` req/s with the output tokens per request that finished in this probe's window: what
        the rate delivers, whatever number of requests its Poisson draw brought."""
        if self.output_throughput is None or not self.achieved_rate:
            return self.output_throughput
        return rate * self.output_throughput / self.achieved_rate

    def draw_differs(self) -> bool:
        """Whether the requests it finished in its window differ from the offered rate by more than twice the Poisson
        noise of the count offered (2 / sqrt(offered rate x window) of the rate): the ratio `throughput_at` scales
        its figure by."""
        got, w = self.achieved_rate, self.window_s
        if not (got and self.offered_rate and w and w[1] > w[0]):
            return False
        return abs(got / self.offered_rate - 1) > 2 / math.sqrt(self.offered_rate * (w[1] - w[0]))

    @property
    def keep_up_word(self) -> str | None:
        return self.keep_up.verdict if self.keep_up else self.keep_up_verdict

    def to_json(self) -> dict:
        """metrics.capacity.probes[i], keys in the order they have always been written."""
        out: dict[str, Any] = {
            "offered_rate": self.offered_rate,
            "arrived_rate": self.arrived_rate,
            "achieved_rate": self.achieved_rate,
            "output_throughput": self.output_throughput,
            "requests": self.requests,
            "judged_requests": self.judged_requests,
            "unfinished": self.unfinished,
            "window_s": self.window_s,
        }
        if self.judged_by_term is not None:
            out["judged_by_term"] = self.judged_by_term
        out.update(self.latency_ms)
        if self.term_class:
            out["term_class"] = dict(self.term_class)
        if self.keep_up or self.keep_up_verdict is not None:
            out.update(self.keep_up.to_json() if self.keep_up else {"keep_up": self.keep_up_verdict})
        if self.stopped_early:
            out["stopped_early"] = dict(self.stopped_early)
        out.update({"pass": self.passed, "margin": self.margin, "bound_by": self.bound_by, "margins": self.margins})
        if self.inconclusive is not None:
            out["inconclusive"] = self.inconclusive
        out["whole_run"] = self.whole_run
        out = finite(out)
        out.update(self.note)
        if self.wall_s is not None:
            out["wall_s"] = self.wall_s
        if self.samples is not None:
            out["samples"] = self.samples
        return out

    @classmethod
    def from_json(cls, d: dict) -> Probe:
        """A probe as written (any version of the file): the inverse of to_json."""
        d = dict(d)
        lat = {k: d.pop(k) for k in list(d) if LATENCY_KEY.fullmatch(k)}
        ku = None
        if "backlog_growth" in d:
            ku = KeepUp(
                d.pop("keep_up"), d.pop("backlog_growth"), d.pop("backlog_mean", None), d.pop("backlog_noise"), math.nan
            )
        own = {
            k: d.pop(k, None)
            for k in (
                "offered_rate",
                "bound_by",
                "arrived_rate",
                "achieved_rate",
                "output_throughput",
                "requests",
                "judged_requests",
                "unfinished",
                "window_s",
                "judged_by_term",
                "term_class",
                "stopped_early",
                "margin",
                "margins",
                "whole_run",
                "wall_s",
                "samples",
            )
        }
        return cls(
            passed=bool(d.pop("pass")),
            latency_ms=lat,
            keep_up=ku,
            keep_up_verdict=d.pop("keep_up", None),
            inconclusive=d.pop("inconclusive", None),
            note=d,
            **own,
        )

    def bound_words(self, percentile: float) -> str:
        """The term that decided this probe, in a word or two: 'the queue grew', 'p99 TTFT'."""
        return "the queue grew" if self.bound_by == "keep_up" else f"p{percentile:g} {(self.bound_by or '?').upper()}"

    def describe(self, percentile: float, brief: bool = False) -> str:
        """'p99 TTFT 820 ms' / 'backlog grew by 16 requests ...' / 'p99 TPOT unbounded (3 unfinished)'; `brief`: a
        probe stopped early without its counts ('p99 TTFT over 500 ms for sure', for a table's cell)."""
        term = self.bound_by
        if term is None:  # a probe that judged nothing
            return "no request judged"
        if term == "keep_up":
            if self.keep_up is None:  # a JSON from before the backlog rule
                return f"achieved {self.achieved_rate:.3g} of {self.arrived_rate:.3g} req/s (the queue grows)"
            ku = self.keep_up
            what = "the queue grows" if ku.verdict == "grows" else "too close to tell: it runs again, longer"
            return (
                f"backlog grew by {ku.backlog_growth:.0f} requests over the window, noise "
                f"+-{ku.backlog_noise:.0f} ({what})"
            )
        cls = (self.term_class or {}).get(term)
        of = f" of {cls} requests" if cls else ""
        if self.stopped_early:
            st = self.stopped_early
            if brief:
                return f"p{percentile:g} {term.upper()}{of} over {st['target_ms']:g} ms for sure"
            return (
                f"p{percentile:g} {term.upper()}{of} over {st['target_ms']:g} ms for sure: {st['over']} of the "
                f"{st['judged']} requests it judges past it at {st['at_s']:.1f} s, probe stopped"
            )
        v = self.ms(percentile, term)
        value = f"{v:.0f} ms" if v is not None else f"unbounded ({self.unfinished} unfinished)"
        return f"p{percentile:g} {term.upper()}{of} {value}"

    def fewest_samples(self) -> int | None:
        """The fewest requests any SLO term was judged over (None: a JSON from before that was counted)."""
        if self.stopped_early:  # a surely failed probe is judged over its whole window's requests
            return self.stopped_early["judged"]
        return min(self.judged_by_term.values()) if self.judged_by_term else None
