"""Notes under a scaling table that say when its numbers cannot be read at face value: a layout above linear
scaling (its run's baseline read low), or timed runs that disagree (and, from the hardware samples, why)."""

from __future__ import annotations

from common.measure.hwmon import explain_spread
from common.measure.metrics import speedup

# The least two figures must differ by before a comparison of them means anything, where a run cannot say more:
# repeated offline runs on one GPU spread 1.4-9.1 % (max - min over the median) in docs/sample_results JSONs.
NOISE_FLOOR = 0.05
ABOVE_LINEAR = 1.05  # efficiency above this: the run's 1-device baseline read low, not a real speedup


def noise_band(*ms: dict, key: str = "output_throughput") -> float:
    """The relative difference under which two layouts' figures are a tie: the widest spread of their own repeated
    runs (offline: max - min of the timed runs; a capacity: the search's resolution), never below NOISE_FLOOR."""
    own = [
        (m.get("output_throughput_spread_pct") or 0) / 100
        if key == "output_throughput"
        else (getattr(m.get("capacity"), "resolution", 0) or 0)
        for m in ms
    ]
    return max([NOISE_FLOOR, *own])


def within_noise(a: float, b: float, band: float) -> bool:
    """Whether a and b are a tie: they differ by no more than `band` of the larger."""
    return abs(a - b) <= band * max(abs(a), abs(b))


def tied_with_best(ms: list[dict], value, key: str = "output_throughput") -> list[dict]:
    """The layouts of `ms` whose value(m) ties the best one's within the noise of the pair (noise_band on `key`), the
    best among them."""
    top = max(ms, key=value)
    return [m for m in ms if within_noise(value(m), value(top), noise_band(m, top, key=key))]


def above_linear(ms: list[dict]) -> list[tuple[dict, float]]:
    """[(layout, its efficiency)] of the layouts of one run that read above linear scaling against its 1-device
    row: that baseline most likely read low, and every speedup against it is suspect."""
    base = next((m for m in ms if m["gpus"] == 1), None)
    if not base:
        return []
    return [(m, e) for m in ms if m["gpus"] > 1 and (e := speedup(m, base)[1]) is not None and e > ABOVE_LINEAR]


def above_linear_note(ms: list[dict], dev: str = "GPU") -> str | None:
    """A warning when layouts of one run (its 1-device row among them) read more than 5 % above linear
    scaling, or None. `dev`: what one rank runs on (GPU, CPU rank)."""
    hi = above_linear(ms)
    if not hi:
        return None
    return (
        "Note: "
        + ", ".join(f"{m['layout']} reads {e * 100:.0f}%" for m, e in hi)
        + f" efficient, above linear. N {dev}s cannot beat N x one {dev} unless one {dev}'s KV cache limited its "
        f"batch, so this run's 1-{dev} baseline most likely read low (a shared machine can drift by 10 % from one "
        f"minute to the next): compare tok/s per {dev} across layouts, and re-run before trusting these speedups."
    )


def spread_note(ms: list[dict], limit_pct: float = 10.0) -> str | None:
    """A warning when a layout's timed offline runs disagree by more than `limit_pct` (max - min, % of the
    reported median), saying why the slowest run was slow where the hardware samples tell; or None."""
    wide = [m for m in ms if (m.get("output_throughput_spread_pct") or 0) > limit_pct]
    if not wide:
        return None

    def why(m):
        w = explain_spread(m.get("offline_runs_detail") or [])
        return f" - {w}" if w else ""

    return (
        "Noise: "
        + ", ".join(
            f"{m['layout']}'s {m['offline_runs']} timed runs differ by "
            f"{m['output_throughput_spread_pct']:.0f}% ({min(m['output_throughput_runs']):.0f}-"
            f"{max(m['output_throughput_runs']):.0f} out tok/s){why(m)}"
            for m in wide
        )
        + ": differences smaller than that between layouts are noise here. Raise --num-prompts (longer runs) "
        "or --offline-runs before reading them."
    )
