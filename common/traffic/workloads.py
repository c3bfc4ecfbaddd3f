"""Every request the lab sends is made here, and every arrival time: the one place a workload source is added.

- CHECK_PROMPTS: fixed, human-readable prompts for the inference check
- random_prompts: seeded random-token prompts of exact lengths (fixed, or uniform within --range-ratio), as
  `vllm bench`'s random dataset; fresh_copies: the same requests with new tokens (nothing shared in the cache)
- class_mix: long and short requests mixed at a given share (the mixed workload)
- arrival_times / with_arrivals: Poisson (or gamma, burstiness != 1) arrival offsets, attached to requests
- WorkloadSource: what the scripts and the capacity search ask of a workload - n requests for a closed loop, or
  requests with arrival times at an offered rate; PoissonWorkload (the random shape, a class mix, ShareGPT's real
  prompts: Poisson arrivals) and TraceWorkload (a trace's own times sped up) are its implementations, chosen by
  --dataset-name through one registry (SOURCES, workload_source)
- trace_prompts: a trace's requests (common/traffic/traces.py) at exact token counts, the same in every process for one
  seed, requests sharing hash ids sharing those prompt blocks; arrivals at the trace's times / speed
- ProbeLoad: one capacity probe's requests and judged window; each workload source makes its own (probe_specs), and
  says what the saturation probe's rate means as the search's ceiling (search_ceiling)
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Callable, ClassVar, Protocol

import numpy as np

from common.output.tables import rate as rate_text
from common.traffic.load_profile import LoadProfile, clock
from common.traffic.traces import Trace, dataset_kind, load_sharegpt, load_trace

CHECK_PROMPTS = [
    "The capital of France is",
    "Explain tensor parallelism in one sentence:",
    "def fibonacci(n):",
    "List three reasons GPUs need fast interconnects:",
    "Once upon a time, in a data center far away,",
    "The key idea of continuous batching is",
    "Translate to German: The model is split across four GPUs.",
    "Q: What limits decode speed on a GPU? A:",
]


@dataclass
class RequestSpec:
    prompt_token_ids: list[int]
    output_len: int
    klass: str = "default"
    arrival_s: float = 0.0  # offset from the start of the run (open loop)
    rid: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


def random_tokens(rng, n: int, vocab_size: int) -> list[int]:
    """`n` random token ids, clear of the lowest ids and of the special tokens at the top of the vocabulary."""
    return rng.integers(min(100, vocab_size // 10), min(vocab_size, 150000), size=n).tolist()


def fresh_copies(specs: list[RequestSpec], vocab_size: int, seed: int, suffix: str) -> list[RequestSpec]:
    """The same requests (lengths, class, arrival) with new random tokens: a reference run of these leaves
    nothing in the prefix cache that the originals could hit."""
    rng = np.random.default_rng(seed)
    return [
        RequestSpec(
            random_tokens(rng, len(s.prompt_token_ids), vocab_size),
            s.output_len,
            s.klass,
            s.arrival_s,
            rid=s.rid + suffix,
        )
        for s in specs
    ]


def random_prompts(
    n: int,
    input_len: int,
    output_len: int,
    vocab_size: int,
    seed: int = 0,
    range_ratio: float = 0.0,
    klass: str = "default",
) -> list[RequestSpec]:
    """Seeded random-token prompts; lengths uniform in [len*(1-r), len*(1+r)] like vllm bench's random set."""
    rng = np.random.default_rng(seed)

    def lens(base):
        lo, hi = max(1, int(base * (1 - range_ratio))), max(1, int(base * (1 + range_ratio)))
        return rng.integers(lo, hi + 1, size=n)

    ins, outs = lens(input_len), lens(output_len)
    return [RequestSpec(random_tokens(rng, int(i), vocab_size), int(o), klass) for i, o in zip(ins, outs, strict=True)]


def class_mix(
    n: int,
    long_fraction: float,
    long_len: tuple[int, int],
    short_len: tuple[int, int],
    output_len: int,
    vocab_size: int,
    seed: int,
    rid_prefix: str = "r",
) -> list[RequestSpec]:
    """n seeded requests, each long with probability `long_fraction`, prompt lengths uniform in the class's range."""
    rng = np.random.default_rng(seed)
    is_long = rng.random(n) < long_fraction
    out = []
    for i in range(n):
        lo, hi = long_len if is_long[i] else short_len
        out.append(
            RequestSpec(
                random_tokens(rng, int(rng.integers(lo, hi + 1)), vocab_size),
                output_len,
                klass="long" if is_long[i] else "short",
                rid=f"{rid_prefix}{i}",
            )
        )
    return out


def arrival_times(n: int, rate: float, burstiness: float = 1.0, seed: int = 0) -> np.ndarray:
    """Arrival offsets (s) of n requests at `rate` req/s: gamma gaps with shape=burstiness (1 = Poisson)."""
    if rate == float("inf"):
        return np.zeros(n)
    rng = np.random.default_rng(seed)
    gaps = rng.gamma(shape=burstiness, scale=1.0 / (rate * burstiness), size=n)
    gaps[0] = 0.0
    return np.cumsum(gaps)


def with_arrivals(specs: list[RequestSpec], times) -> list[RequestSpec]:
    """Each request gets its arrival offset (s), in order; returns the same list."""
    for s, t in zip(specs, times, strict=True):
        s.arrival_s = float(t)
    return specs


def trace_prompts(
    trace, vocab_size: int, seed: int = 0, speed: float = 1.0, max_model_len: int | None = None
) -> tuple[list[RequestSpec], int]:
    """(the trace's requests with their arrival offsets t / speed, how many were dropped). Prompt tokens are seeded
    per request index (or, with hash ids, per block id: equal ids give identical blocks, so the engine's prefix cache
    sees the trace's reuse), so every process builds the same requests. A request whose prompt plus answer exceeds
    `max_model_len` is dropped (counted), as the engine would refuse it."""
    blocks: dict[int, list[int]] = {}

    def block(h: int) -> list[int]:
        if h not in blocks:
            blocks[h] = random_tokens(np.random.default_rng([seed, 1, h]), trace.block_size, vocab_size)
        return blocks[h]

    specs, dropped, fits = [], 0, trace.fits(max_model_len)
    for i in range(len(trace)):
        n_in, n_out = int(trace.input_len[i]), int(trace.output_len[i])
        if not fits[i]:
            dropped += 1
            continue
        ids = trace.hash_ids[i] if trace.hash_ids is not None else []
        tokens = [x for h in ids for x in block(h)][:n_in]
        if len(tokens) < n_in:  # no (or too few) shared blocks: the rest is this request's own
            tokens += random_tokens(np.random.default_rng([seed, 2, i]), n_in - len(tokens), vocab_size)
        specs.append(RequestSpec(tokens, n_out, arrival_s=float(trace.t[i]) / speed, rid=f"t{i}"))
    return specs, dropped


@dataclass
class ProbeLoad:
    """One capacity probe's load: its requests (arrival offsets from 0), the judged window (s from the first
    arrival), and what it replayed, for the probe's record (a trace's speed and window in trace time)."""

    specs: list[RequestSpec]
    window: tuple[float, float]
    note: dict = field(default_factory=dict)


def _with_window_rate(load: ProbeLoad) -> ProbeLoad:
    """The load with note["window_rate"]: the req/s its judged window brings by the plan (a probe stopped early sends
    only part of them, so its measured arrived rate reads lower)."""
    a, b = load.window
    n = sum(a <= s.arrival_s < b for s in load.specs)
    load.note["window_rate"] = n / (b - a) if b > a else 0.0
    return load


class WorkloadSource(Protocol):
    """What the scripts and the capacity search ask of a workload. `dropped`: its requests that max_model_len left
    out; `max_output_len`: the longest answer it asks for (sizes a probe's time limit)."""

    dropped: int
    max_output_len: int

    @property
    def judge(self) -> str | None:
        """A trace's: probes judged on its "heaviest" window or from its "start"; else None."""

    @property
    def profile(self) -> LoadProfile | None:
        """A trace's load per window (the work estimate); None for Poisson arrivals."""

    def requests(self, n: int, seed: int) -> list[RequestSpec]:
        """n requests, for a closed loop (no arrival times)."""

    def timed(self, rate: float, seed: int, until_s: float) -> list[RequestSpec]:
        """The requests that arrive in [0, until_s) at an offered `rate` req/s."""

    def probe_specs(
        self, rate: float, seed: int, window: tuple[float, float], min_requests: int, limit_s: float, stretch: int = 1
    ) -> ProbeLoad:
        """One capacity probe's load at `rate`."""

    def search_ceiling(self, ceiling_rate: float | None, specs) -> tuple[float | None, str | None]:
        """(the search's ceiling, how it was derived) from the saturation probe's completion rate."""

    def rate_note(self, rate: float) -> dict:
        """What an offered rate means in this workload's own terms ({} where it is just req/s)."""

    def stretch(self) -> tuple[float, float] | None:
        """A trace's stretch replayed: (its start, its span), s of trace time; None for Poisson arrivals."""

    def describe(self, replay: dict | None = None) -> dict:
        """config.workload: what the requests are; with `replay` (where a run starts a trace, its speeds), what the
        run adds to them."""


@dataclass
class PoissonWorkload:
    """Requests from `make(n, seed)` (the random shape, a class mix, ShareGPT's prompts), arriving as a Poisson
    stream (gamma gaps for burstiness != 1) at the offered rate. `info` is its config.workload."""

    make: Callable[[int, int], list[RequestSpec]]
    max_output_len: int
    info: dict
    burstiness: float = 1.0
    dropped: int = 0
    judge: None = None  # (a trace's)
    profile: None = None  # (a trace's)

    def requests(self, n: int, seed: int) -> list[RequestSpec]:
        return self.make(n, seed)

    def timed(self, rate: float, seed: int, until_s: float) -> list[RequestSpec]:
        """The requests that arrive in [0, until_s) at `rate` req/s."""
        n = int(rate * until_s * 1.5) + 20
        t = arrival_times(n, rate, self.burstiness, seed=seed)
        while t[-1] < until_s:  # a slow draw: extend until the span is covered
            n *= 2
            t = arrival_times(n, rate, self.burstiness, seed=seed)
        t = t[t < until_s]
        return with_arrivals(self.make(len(t), seed), t)

    def probe_specs(
        self, rate: float, seed: int, window: tuple[float, float], min_requests: int, limit_s: float, stretch: int = 1
    ) -> ProbeLoad:
        """A probe at `rate`: the arrivals until the window's end."""
        return ProbeLoad(self.timed(rate, seed, window[1]), window)

    def search_ceiling(self, ceiling_rate: float | None, specs) -> tuple[float | None, str | None]:
        """(the search's ceiling, how it was derived): the saturation probe's completion rate itself."""
        return ceiling_rate, None

    def rate_note(self, rate: float) -> dict:
        return {}

    def stretch(self) -> None:
        return None

    def describe(self, replay: dict | None = None) -> dict:
        return dict(self.info)


def random_source(input_len: int, output_len: int, vocab_size: int, range_ratio: float = 0.0) -> PoissonWorkload:
    """The random shape: seeded random-token prompts of these lengths (random_prompts), Poisson arrivals."""
    return PoissonWorkload(
        lambda n, seed: random_prompts(n, input_len, output_len, vocab_size, seed=seed, range_ratio=range_ratio),
        max_output_len=max(1, int(output_len * (1 + range_ratio))) + 1,
        info={"source": "random", "input_len": input_len, "output_len": output_len, "range_ratio": range_ratio},
    )


@dataclass
class TraceWorkload:
    """A trace's stretch (common/traffic/traces.py), replayed at a speed: offered rate r means the trace's times divided
    by r / its mean rate. Past the stretch's end it starts again from its beginning (the same pattern, new tokens).
    Prompts are seeded per probe, so no probe finds another's prompts in the prefix cache; within one, requests sharing
    hash ids share those blocks."""

    trace: Trace
    vocab_size: int
    max_model_len: int | None = None
    judge: str = "heaviest"  # heaviest: a probe replays the heaviest window; start: from the stretch's start
    window_s: float = 60.0  # the load profile's window, s of trace time

    def __post_init__(self):
        self.fits = self.trace.fits(self.max_model_len)  # the requests trace_prompts keeps
        self.dropped = int((~self.fits).sum())  # the stretch's requests max_model_len leaves out
        self.max_output_len = int(self.trace.output_len.max())
        self.profile = LoadProfile.of(self.trace, self.window_s, self.fits)

    def fresh(self) -> TraceWorkload:
        """This stretch for one search: a copy whose load profile the search may fit its cost model into
        (search_ceiling), leaving the read and cached stretch as it was for the next search in this process."""
        out = copy.copy(self)
        out.profile = replace(self.profile)
        return out

    def speed(self, rate: float) -> float:
        """The speed-up an offered rate means: rate / the stretch's mean rate."""
        return rate / self.trace.mean_rate

    def probe_specs(
        self, rate: float, seed: int, window: tuple[float, float], min_requests: int, limit_s: float, stretch: int = 1
    ) -> ProbeLoad:
        """A probe at speed rate / mean rate. judge=heaviest: the heaviest window of the stretch by work (widened to
        hold `min_requests` and `stretch` windows: LoadProfile.span), preceded by the trace just before it for the
        probe's warm-up seconds, and judged over that window; judge=start: the stretch from its start, the window
        fitted to hold `min_requests` (fit_window)."""
        speed = self.speed(rate)
        if self.judge == "start":
            window = self.fit_window(rate, window, min_requests, limit_s)
            return _with_window_rate(ProbeLoad(self.timed(rate, seed, window[1]), window, {"trace_speedup": speed}))
        a, b = self.profile.span(min_requests, stretch * self.window_s)
        lo = max(0.0, a - window[0] * speed)
        specs, first = self._replay(lo, b, speed, seed)
        o = self.trace.origin_s
        return _with_window_rate(
            ProbeLoad(
                specs,
                (max(0.0, a / speed - first), b / speed - first),
                {
                    "trace_speedup": speed,
                    "trace_window": {
                        "start_s": round(o + a, 3),
                        "end_s": round(o + b, 3),
                        "warmup_from_s": round(o + lo, 3),
                        "replayed_s": [lo, b],
                        "judged_s": [a, b],
                    },
                },
            )
        )

    def _replay(self, a: float, b: float, speed: float, seed: int) -> tuple[list[RequestSpec], float]:
        """(the stretch's requests in [a, b) at `speed`, arrivals moved so the first is at 0; that first one's
        unmoved offset t / speed)."""
        specs, _ = trace_prompts(
            self.trace.between(a, b), self.vocab_size, seed=seed * 1000, speed=speed, max_model_len=self.max_model_len
        )
        first = specs[0].arrival_s if specs else 0.0
        for s in specs:
            s.arrival_s -= first
        return specs, first

    def validation_specs(self, speed: float, seed: int, span: tuple[float, float] | None = None):
        """(the stretch's requests in `span` (s of stretch time; default all of it) at `speed`, each request's
        arrival in trace time): the one replay that checks a capacity window by window."""
        a, b = span or (0.0, np.inf)
        specs, _ = self._replay(a, b, speed, seed)
        part = self.trace.between(a, b)  # the same requests, their trace times exactly (no float round trip)
        return specs, list(self.trace.origin_s + part.t[part.fits(self.max_model_len)])

    def search_ceiling(self, ceiling_rate: float | None, specs) -> tuple[float | None, str | None]:
        """The cost model fitted to the saturation probe's requests; judge=heaviest: the rate (as a speed x the mean)
        at which the heaviest window asks for all of one saturated engine - the ceiling in this trace's terms."""
        if not ceiling_rate:
            return ceiling_rate, None
        p = self.profile
        p.cost = p.cost.fitted(ceiling_rate, [len(s.prompt_token_ids) for s in specs], [s.output_len for s in specs])
        if self.judge == "start":
            return ceiling_rate, None
        w = p.windows[p.heaviest]
        speed = 1.0 / p.load(w)
        return speed * self.trace.mean_rate, (
            f"the heaviest window ({clock(p.origin_s + w.start_s)}) asks for the saturation probe's "
            f"{rate_text(ceiling_rate)} req/s of this mix at {speed:.3g}x (cost model: {p.cost.describe()})"
        )

    def requests(self, n: int, seed: int) -> list[RequestSpec]:
        specs = self._cycle(n, seed, speed=1.0, until_s=None)
        return [RequestSpec(s.prompt_token_ids, s.output_len, rid=s.rid) for s in specs]

    def timed(self, rate: float, seed: int, until_s: float) -> list[RequestSpec]:
        return self._cycle(None, seed, speed=rate / self.trace.mean_rate, until_s=until_s)

    @property
    def period_s(self) -> float:
        """One replay cycle in the trace's own time: its span plus one mean gap, then it starts over."""
        return self.trace.span_s + 1.0 / self.trace.mean_rate

    def _cycle(self, n: int | None, seed: int, speed: float, until_s: float | None) -> list[RequestSpec]:
        out: list[RequestSpec] = []
        k, period = 0, self.period_s
        while n is None or len(out) < n:
            start = k * period / speed
            m = len(self.trace)
            if until_s is not None:
                m = int(np.searchsorted(self.trace.t / speed + start, until_s, side="left"))
            if n is not None:  # the first m of the trace keep the n - len(out) still wanted (no more prompts built)
                m = min(m, int(np.searchsorted(np.cumsum(self.fits), n - len(out))) + 1)
            if m == 0:
                break
            specs, _ = trace_prompts(
                self.trace.head(m), self.vocab_size, seed=seed * 1000 + k, speed=speed, max_model_len=self.max_model_len
            )
            if not specs:  # every request dropped
                break
            for s in specs:
                s.arrival_s += start
                s.rid = f"{s.rid}c{k}"
            out += specs[: None if n is None else n - len(out)]
            if until_s is not None and m < len(self.trace):
                break
            k += 1
        return out

    def fit_window(
        self, rate: float, window: tuple[float, float], min_requests: int, limit_s: float
    ) -> tuple[float, float]:
        """The judged window, its end moved later until it holds `min_requests` of the replay's arrivals, at most to
        `limit_s`: a stretch of a trace can be far sparser than its mean rate (the Azure code trace opens with 12
        requests in 1.4 s, then nothing for 28 s), and a window sized by the mean rate would then judge none."""
        speed, period = rate / self.trace.mean_rate, self.period_s
        t = self.trace.t[self.fits]
        cycles = int(limit_s * speed / period) + 2
        arrivals = np.concatenate([(t + k * period) / speed for k in range(cycles)])
        inside = arrivals[arrivals >= window[0]]
        need = inside[min_requests - 1] + 1e-6 if len(inside) >= min_requests else limit_s
        return window[0], float(min(max(window[1], need), limit_s))

    def rate_note(self, rate: float) -> dict:
        """What an offered rate is in the trace's terms: its speed-up, and the busiest minute's rate at that speed."""
        speed = rate / self.trace.mean_rate
        return {"trace_speedup": speed, "busiest_minute_rate": speed * self.trace.busiest_minute_rate()}

    def stretch(self) -> tuple[float, float]:
        return self.trace.origin_s, self.trace.span_s

    def describe(self, replay: dict | None = None) -> dict:
        """The stretch; with `replay`, also where it starts and the speeds the run replays it at (config.workload)."""
        return {
            **self.trace.describe(),
            **(replay or {}),
            "dropped": self.dropped,
            "max_model_len": self.max_model_len,
            "judge": self.judge,
            "window_s": self.window_s,
        }


# --------------------------------------------------------------------------- a run's workload, from its config
SHAREGPT_MAX = 10_000  # conversations tokenized from a ShareGPT file (the first ones): plenty to sample probes from


def sharegpt_source(path: str, tokenizer: str, max_model_len: int | None = None) -> PoissonWorkload:
    """Real prompts from a ShareGPT file (common/traffic/traces.py), tokenized with the model's tokenizer: each request
    is a first human turn, its output length the answer's token count; Poisson arrivals. Requests drawn with a seed (the
    same in every process); ones longer than max_model_len are dropped and counted."""
    from transformers import AutoTokenizer

    pairs, sha = load_sharegpt(path)
    tok = AutoTokenizer.from_pretrained(tokenizer)
    reqs, dropped = [], 0
    for q, a in pairs[:SHAREGPT_MAX]:
        ids, out = tok(q, add_special_tokens=False).input_ids, len(tok(a, add_special_tokens=False).input_ids)
        if not ids or out < 1 or (max_model_len and len(ids) + out > max_model_len):
            dropped += 1
            continue
        reqs.append((ids, out))
    if not reqs:
        raise ValueError(f"every conversation of {path} is longer than max_model_len {max_model_len}")

    def make(n: int, seed: int) -> list[RequestSpec]:
        idx = np.random.default_rng(seed).choice(len(reqs), size=n, replace=n > len(reqs))
        return [RequestSpec(list(reqs[i][0]), reqs[i][1], rid=f"g{i}-{k}") for k, i in enumerate(idx)]

    return PoissonWorkload(
        make,
        max_output_len=max(o for _, o in reqs),
        dropped=dropped,
        info={
            "source": "sharegpt",
            "path": str(path),
            "sha256": sha,
            "requests": len(reqs),
            "dropped": dropped,
            "mean_input_len": float(np.mean([len(i) for i, _ in reqs])),
            "mean_output_len": float(np.mean([o for _, o in reqs])),
            "max_model_len": max_model_len,
        },
    )


class WorkloadSettings(Protocol):
    """What names a run's requests (a script's Config, a dataclass, with common.config.TraceConfig's fields, after
    the model is resolved): the random shape, or the dataset at dataset_path."""

    __dataclass_fields__: ClassVar[dict[str, Any]]
    engine: dict
    vocab_size: int
    max_model_len: int | None
    input_len: int
    output_len: int
    range_ratio: float
    dataset_path: str | None
    dataset_name: str | None
    trace_start_s: float
    trace_duration_s: float | None
    trace_judge: str
    trace_window_s: float


def _sharegpt(cfg: WorkloadSettings) -> PoissonWorkload:
    return sharegpt_source(
        str(cfg.dataset_path), str(cfg.engine.get("tokenizer") or cfg.engine.get("model")), cfg.max_model_len
    )


def _trace(cfg: WorkloadSettings) -> TraceWorkload:
    trace = load_trace(str(cfg.dataset_path), cfg.dataset_name).stretch(cfg.trace_start_s, cfg.trace_duration_s)
    return TraceWorkload(
        trace,
        cfg.vocab_size,
        cfg.max_model_len,
        judge=cfg.trace_judge or "heaviest",
        window_s=cfg.trace_window_s or 60.0,
    )


def _random(cfg: WorkloadSettings) -> PoissonWorkload:
    return random_source(cfg.input_len, cfg.output_len, cfg.vocab_size, cfg.range_ratio)


# --dataset-name (or the file's extension, common.traffic.traces.dataset_kind) -> the workload source it names
SOURCES: dict[str, Callable[[WorkloadSettings], WorkloadSource]] = {
    "random": _random,
    "sharegpt": _sharegpt,
    "azure": _trace,
    "timed_trace": _trace,
}


def workload_source(cfg: WorkloadSettings) -> WorkloadSource:
    """cfg's requests as a workload source: the random shape (input_len, output_len, range_ratio, vocab_size), or the
    dataset at dataset_path (a trace stretch: trace_start_s, trace_duration_s, trace_judge, trace_window_s; ShareGPT),
    by SOURCES. A file is read (and a ShareGPT one tokenized) once per process; each call gets a trace stretch of its
    own to fit (TraceWorkload.fresh)."""
    if not cfg.dataset_path:
        return _random(cfg)
    key = (
        cfg.dataset_path,
        cfg.dataset_name,
        cfg.trace_start_s,
        cfg.trace_duration_s,
        cfg.trace_judge,
        cfg.trace_window_s,
        cfg.vocab_size,
        cfg.max_model_len,
        cfg.engine.get("tokenizer") or cfg.engine.get("model"),
    )
    if key not in _SOURCES:
        _SOURCES[key] = SOURCES[dataset_kind(cfg.dataset_path, cfg.dataset_name)](cfg)
    src = _SOURCES[key]
    return src.fresh() if isinstance(src, TraceWorkload) else src  # a search fits a trace's cost model: a copy


_SOURCES: dict = {}


def workload_config(cfg: WorkloadSettings, speeds: list[float] | None = None) -> dict:
    """config.workload: what the requests are - the random shape, ShareGPT's prompts, or the replayed trace stretch
    (source, path, sha256, requests, span, rates, where it starts and the `speeds` it is replayed at, how many
    requests max_model_len dropped)."""
    return workload_source(cfg).describe({"start_s": cfg.trace_start_s, "speed": speeds or [1.0]})


def workload_text(w: dict) -> str:
    if w["source"] == "random":
        return f"{w['input_len']} in / {w['output_len']} out tokens"
    if w["source"] == "sharegpt":
        return (
            f"ShareGPT {w['path'].rsplit('/', 1)[-1]}: {w['requests']} conversations (mean {w['mean_input_len']:.0f} "
            f"in / {w['mean_output_len']:.0f} out tokens), Poisson arrivals, {w['dropped']} dropped"
        )
    return (
        f"trace {w['path'].rsplit('/', 1)[-1]} from {w['start_s']:g} s: {w['requests']} requests over "
        f"{w['span_s']:.0f} s ({w['mean_rate']:.3g} req/s, busiest minute {w['busiest_minute_rate']:.3g}), "
        f"{w['dropped']} dropped (longer than max_model_len {w['max_model_len']})"
    )
