"""What a GPU-hour costs, by GPU, with the source of each figure ($ per 1M output tokens:
common.measure.metrics.usd_per_1m)."""

from __future__ import annotations

# On-demand $ per GPU-hour by GPU name, with where each figure comes from; --gpu-hour-usd overrides
_MERCATUS = "mercatus-ai.com/blog/cloud-gpu-pricing, May 2026: specialty-cloud on-demand range, midpoint"
GPU_HOUR_USD = {
    "H200": (4.00, f"{_MERCATUS} ($3.50-4.50)"),
    "H100": (3.00, f"{_MERCATUS} ($2.50-3.50)"),
    "A100": (0.75, "course text: Runpod 4x A100 at ~$2-4/h, midpoint per GPU (2026-11)"),
}


def gpu_hour_price(env: dict, override: float | None) -> tuple[float | None, str | None]:
    """($ per GPU-hour, where it comes from): --gpu-hour-usd, else the table above for the run's GPU, else none."""
    if override is not None:
        return override, "--gpu-hour-usd"
    name = env["gpus"][0]["name"] if env.get("gpus") else None
    return next((v for k, v in GPU_HOUR_USD.items() if name and k in name), (None, None))
