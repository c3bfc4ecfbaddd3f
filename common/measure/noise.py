"""Notes under a scaling table that say when its numbers cannot be read at face value: a layout above linear
scaling (its run's baseline read low), or timed runs that disagree (and, from the hardware samples, why)."""
from __future__ import annotations

from common.measure.hwmon import explain_spread
from common.measure.metrics import speedup


def above_linear_note(ms: list[dict], dev: str = "GPU") -> str | None:
    """A warning when layouts of one run (its 1-device row among them) read more than 5 % above linear
    scaling, or None. `dev`: what one rank runs on (GPU, CPU rank)."""
    base = next((m for m in ms if m["gpus"] == 1), None)
    if not base:
        return None
    eff = lambda m: speedup(m, base)[1]  # noqa: E731
    hi = [m for m in ms if m["gpus"] > 1 and eff(m) > 1.05]
    if not hi:
        return None
    return ("Note: " + ", ".join(f"{m['layout']} reads {eff(m) * 100:.0f}%" for m in hi)
            + f" efficient, above linear. N {dev}s cannot beat N x one {dev} unless one {dev}'s KV cache limited its "
            f"batch, so this run's 1-{dev} baseline most likely read low (a shared machine can drift by 10 % from one "
            f"minute to the next): compare tok/s per {dev} across layouts, and re-run before trusting these speedups.")


def spread_note(ms: list[dict], limit_pct: float = 10.0) -> str | None:
    """A warning when a layout's timed offline runs disagree by more than `limit_pct` (max - min, % of the
    reported median), saying why the slowest run was slow where the hardware samples tell; or None."""
    wide = [m for m in ms if (m.get("output_throughput_spread_pct") or 0) > limit_pct]
    if not wide:
        return None

    def why(m):
        w = explain_spread(m.get("offline_runs_detail") or [])
        return f" - {w}" if w else ""
    return ("Noise: " + ", ".join(f"{m['layout']}'s {m['offline_runs']} timed runs differ by "
                                 f"{m['output_throughput_spread_pct']:.0f}% ({min(m['output_throughput_runs']):.0f}-"
                                 f"{max(m['output_throughput_runs']):.0f} out tok/s){why(m)}" for m in wide)
            + ": differences smaller than that between layouts are noise here. Raise --num-prompts (longer runs) "
            "or --offline-runs before reading them.")
