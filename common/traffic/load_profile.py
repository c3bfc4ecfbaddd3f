"""A trace stretch's load window by window, and the fleet that load asks for: the one place both are worked out.

- CostModel: what a request costs the engine, in prompt-token equivalents: prompt tokens + DECODE_COST x output
  tokens (an assumption, stated wherever it is used), scaled to engine seconds by the saturation probe: the engine
  completed `ceiling` req/s of this mix closed-loop, so one unit costs 1 / (ceiling x mean units) engine seconds.
- LoadProfile: per window of trace time (60 s by default, --trace-window; windows from the stretch's first request,
  the last one past its end) the arrivals, prompt and output tokens,
  and the work per second (units/s; with a fitted model, engine seconds per second: the share of one engine's
  saturated rate the window asks for at 1x). Its heaviest window by work is where a capacity probe judges.
- fleet_plan: replicas per window for a capacity (the work per second one replica held within the SLO), the static
  fleet (the peak) and an autoscaled one (a replica is started one window before it is needed), GPU-hours both ways.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

DECODE_COST = 4.0  # an output token's engine time, in prompt tokens: assumed (decode steps are memory-bound)
SCALE_STEP_S = 60.0  # the day's fleet: how often an autoscaler changes the replica count, and how long a replica takes
# to start (a vLLM engine: about a minute)


def clock(s: float) -> str:
    """Seconds from a trace's first request as HH:MM of the trace (not of the day), HH:MM:SS off a whole minute."""
    whole = round(s)
    if abs(s - round(s / 60) * 60) < 1:
        m = int(round(s / 60))
        return f"{m // 60:02d}:{m % 60:02d}"
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


@dataclass
class CostModel:
    decode_cost: float = DECODE_COST
    engine_s_per_unit: float | None = None  # fitted from the saturation probe; None: not fitted
    fitted_from: str | None = None

    def units(self, input_len, output_len) -> np.ndarray:
        return np.asarray(input_len, dtype=float) + self.decode_cost * np.asarray(output_len, dtype=float)

    def fitted(self, ceiling_rate: float | None, input_len, output_len) -> "CostModel":
        """The model scaled by a saturation probe that completed `ceiling_rate` req/s of these requests."""
        if not ceiling_rate or not len(input_len):
            return self
        mean = float(self.units(input_len, output_len).mean())
        return CostModel(
            self.decode_cost,
            1.0 / (ceiling_rate * mean),
            f"saturation probe: {ceiling_rate:.3g} req/s of {len(input_len)} requests, mean {mean:.0f} units",
        )

    def describe(self) -> str:
        return f"a request costs prompt tokens + {self.decode_cost:g} x output tokens (assumed)" + (
            f"; {self.engine_s_per_unit * 1e6:.3g} engine-us per unit ({self.fitted_from})"
            if self.engine_s_per_unit
            else ""
        )


@dataclass
class Window:
    start_s: float  # stretch time (s from the stretch's first request)
    end_s: float
    requests: int
    prompt_tokens: int
    output_tokens: int
    work: float  # units per second at 1x

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def rate(self) -> float:
        return self.requests / self.length_s if self.length_s > 0 else 0.0


@dataclass
class LoadProfile:
    origin_s: float  # where the stretch's 0 lies in the whole trace
    window_s: float
    windows: list[Window]
    cost: CostModel = field(default_factory=CostModel)
    end_s: float = 0.0  # the stretch's last arrival, in trace time

    @classmethod
    def of(cls, trace, window_s: float, keep=None, cost: CostModel | None = None) -> "LoadProfile":
        """Windows of `window_s` over the stretch (the last one to its end); `keep`: the requests replayed (those that
        fit max_model_len), default all."""
        keep = np.ones(len(trace), dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
        cost = cost or CostModel()
        t, ins, outs = trace.t[keep], trace.input_len[keep], trace.output_len[keep]
        span = float(trace.t[-1]) if len(trace) else 0.0
        if span < window_s:  # a stretch shorter than a window is one window, as long as the stretch (>= 1 s)
            window_s = max(span, 1.0)
        n = int(span // window_s) + 1 if span > window_s or span == 0 else 1  # whole windows: the last holds the end
        idx = np.minimum((t // window_s).astype(int), n - 1)
        units = cost.units(ins, outs)
        count, p_tok, o_tok, work = (
            np.bincount(idx, weights=x, minlength=n) for x in (None, ins.astype(float), outs.astype(float), units)
        )
        ws = [
            Window(
                k * window_s, (k + 1) * window_s, int(count[k]), int(p_tok[k]), int(o_tok[k]), float(work[k]) / window_s
            )
            for k in range(n)
        ]
        return cls(float(trace.origin_s), float(window_s), ws, cost, float(trace.origin_s) + span)

    def ranked(self) -> list[int]:
        """Window indices, heaviest work first (every window is window_s long: the last one runs past the stretch's
        end, its rates over the whole window)."""
        return sorted(range(len(self.windows)), key=lambda i: -self.windows[i].work)

    @property
    def heaviest(self) -> int:
        return self.ranked()[0]

    def span(self, min_requests: int, min_length_s: float) -> tuple[float, float]:
        """(start, end) in stretch time of the judged span: the heaviest window, widened by its heavier neighbour
        window at a time until it holds `min_requests` arrivals and lasts `min_length_s` (or is the whole stretch)."""
        lo = hi = self.heaviest
        w = self.windows
        while (
            sum(x.requests for x in w[lo : hi + 1]) < min_requests or w[hi].end_s - w[lo].start_s < min_length_s - 1e-9
        ) and (lo > 0 or hi < len(w) - 1):
            left = w[lo - 1].work if lo > 0 else -1.0
            right = w[hi + 1].work if hi < len(w) - 1 else -1.0
            lo, hi = (lo - 1, hi) if left >= right else (lo, hi + 1)
        return w[lo].start_s, w[hi].end_s

    def work_between(self, a: float, b: float) -> float:
        """Units per second over [a, b) of the stretch (whole windows)."""
        ws = [x for x in self.windows if x.start_s >= a - 1e-9 and x.end_s <= b + 1e-9]
        if not ws:
            raise ValueError(f"no whole window of the profile lies in [{a:g}, {b:g}) s")
        return sum(x.work * x.length_s for x in ws) / max(sum(x.length_s for x in ws), 1e-9)

    def load(self, w: Window) -> float | None:
        """Engine seconds per second the window asks for at 1x (its share of one saturated engine), when fitted."""
        return w.work * self.cost.engine_s_per_unit if self.cost.engine_s_per_unit else None

    def to_json(self, top: int = 5) -> dict:
        """metrics.capacity.profile: the heaviest windows, every window's figures (trace time), the cost model."""

        def one(w: Window) -> dict:
            return {
                "start_s": round(self.origin_s + w.start_s, 3),
                "end_s": round(self.origin_s + w.end_s, 3),
                "requests": w.requests,
                "prompt_tokens": w.prompt_tokens,
                "output_tokens": w.output_tokens,
                "work_per_s": round(w.work, 3),
            }

        return {
            "window_s": self.window_s,
            "origin_s": round(self.origin_s, 3),
            "end_s": round(self.end_s, 3),
            "cost_model": asdict(self.cost),
            "heaviest": [one(self.windows[i]) for i in self.ranked()[:top]],
            "windows": [one(w) for w in self.windows],
        }


def heaviest_rows(profile: dict, speed: float = 1.0) -> list[dict]:
    """The profile's heaviest windows (its JSON) as printed rows, rates at `speed`."""
    per_unit = (profile.get("cost_model") or {}).get("engine_s_per_unit")
    out = []
    for w in profile["heaviest"]:
        n = (w["end_s"] - w["start_s"]) / speed
        out.append(
            {
                "window (trace time)": f"{clock(w['start_s'])}-{clock(w['end_s'])}",
                "requests": w["requests"],
                "req/s": f"{w['requests'] / n:.3g}",
                "prompt tok/s": f"{w['prompt_tokens'] / n:,.0f}",
                "output tok/s": f"{w['output_tokens'] / n:,.0f}",
                "work units/s": f"{w['work_per_s'] * speed:,.0f}",
                "est. engine load": "-" if not per_unit else f"{w['work_per_s'] * speed * per_unit * 100:.0f}%",
            }
        )
    return out


# --------------------------------------------------------------------------- the fleet that follows the load
def steps_of(lengths: list[float], step_s: float | None) -> list[list[int]]:
    """Consecutive windows (their indices) grouped into an autoscaler's steps: each step as many whole windows as last
    `step_s` or more (default: one window each)."""
    steps: list[list[int]] = []
    for i in range(len(lengths)):
        if not steps or sum(lengths[j] for j in steps[-1]) >= (step_s or 0) - 1e-9:
            steps.append([])
        steps[-1].append(i)
    return steps


def foresight_replicas(need: list[int], min_replicas: int) -> list[int]:
    """Replicas paid per step by an autoscaler that knows the next step: a replica takes one step to come up, so one
    needed next step is started (and paid) this step; scale-down is immediate."""
    return [max(min_replicas, need[i], need[i + 1] if i + 1 < len(need) else 0) for i in range(len(need))]


def fleet_plan(
    windows: list[dict],
    capacity_work: float,
    growth: float = 1.0,
    min_replicas: int = 1,
    gpus_per_replica: int = 1,
    usd_per_gpu_hour: float | None = None,
    step_s: float | None = None,
    end_s: float | None = None,
) -> dict:
    """Replicas per step (`windows`: the profile's JSON windows; a step: consecutive windows lasting at least `step_s`,
    default one window) when one replica holds `capacity_work` units/s within the SLO: need = ceil(growth x the
    step's heaviest window's work / capacity_work). Static: the peak, all the time. Autoscaled: step i runs
    max(min_replicas, need_i, need_i+1) - a replica takes one step to come up, so it is started (and paid) a step
    before it is needed; scale-down is immediate. GPU-hours over the stretch and per day (the stretch's pattern
    repeated: a day is not measured); `end_s`: the stretch's end in trace time, where the last step's time stops."""
    if not capacity_work > 0:
        raise ValueError(f"a fleet needs the work one replica holds, > 0 (got {capacity_work})")
    steps = [[windows[i] for i in st] for st in steps_of([w["end_s"] - w["start_s"] for w in windows], step_s)]
    need = [max(0, math.ceil(growth * max(w["work_per_s"] for w in st) / capacity_work - 1e-9)) for st in steps]
    billed = foresight_replicas(need, min_replicas)
    lengths = [min(st[-1]["end_s"], end_s or np.inf) - st[0]["start_s"] for st in steps]
    span = sum(lengths)
    static = max([min_replicas] + need)
    static_h = static * gpus_per_replica * span / 3600
    auto_h = sum(b * gpus_per_replica * x / 3600 for b, x in zip(billed, lengths, strict=True))
    day = 86400 / span if span > 0 else 0.0
    out = {
        "growth": growth,
        "min_replicas": min_replicas,
        "gpus_per_replica": gpus_per_replica,
        "capacity_work_per_s": capacity_work,
        "step_s": lengths[0] if lengths else None,
        "window_starts_s": [st[0]["start_s"] for st in steps],
        "replicas_needed": need,
        "replicas_autoscaled": billed,
        "static_replicas": static,
        "static_gpus": static * gpus_per_replica,
        "stretch_s": span,
        "static_gpu_hours": static_h,
        "autoscaled_gpu_hours": auto_h,
        "static_gpu_hours_per_day": static_h * day,
        "autoscaled_gpu_hours_per_day": auto_h * day,
        # the busiest step's work as a share of what the static fleet holds (1.0: no headroom at all)
        "peak_load": growth * max(w["work_per_s"] for w in windows) / (capacity_work * static) if static else None,
    }
    if usd_per_gpu_hour:
        out.update(
            {
                "usd_per_gpu_hour": usd_per_gpu_hour,
                "static_usd_per_day": static_h * day * usd_per_gpu_hour,
                "autoscaled_usd_per_day": auto_h * day * usd_per_gpu_hour,
            }
        )
    return out
