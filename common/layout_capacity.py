"""Capacity under an SLO per layout: figures per GPU and per dollar, the table rows, the pick, the plots.

Shared by benchmark_scaling.py (its table) and run_distributed_benchmark.py (the report); the search itself is
common/capacity.py.
"""
from __future__ import annotations

from pathlib import Path

from common.cost import usd_per_1m


def derive_capacity(m: dict, price: float | None) -> None:
    """Capacity under the SLO per GPU and its $ per 1M output tokens, when the layout has a capacity search."""
    n, cap = m["gpus"], m.get("capacity")
    if cap and cap.get("request_rate") is not None:
        m["capacity_request_rate"] = cap["request_rate"]
        m["capacity_output_throughput"] = cap["output_throughput"]
        m["capacity_request_rate_per_gpu"] = cap["request_rate"] / n
        m["capacity_output_throughput_per_gpu"] = cap["output_throughput"] / n
        m["capacity_bound_by"] = cap.get("bound_by")
        if price:
            m["usd_per_1m_output_tokens_at_capacity"] = usd_per_1m(price, n, cap["output_throughput"])


def capacity_rows(ms: list[dict]) -> list[dict]:
    f = lambda v, nd=1: "-" if v is None else round(v, nd) if nd else int(round(v))  # noqa: E731
    return [{"layout": m["layout"], "GPUs": m["gpus"], "capacity req/s": f(m.get("capacity_request_rate"), 2),
             "req/s per GPU": f(m.get("capacity_request_rate_per_gpu"), 2),
             "out tok/s at capacity": f(m.get("capacity_output_throughput"), 0),
             "per GPU": f(m.get("capacity_output_throughput_per_gpu"), 0),
             "$/1M out tok at capacity": f(m.get("usd_per_1m_output_tokens_at_capacity"), 3),
             "next rate broke": ("search failed" if m["capacity"].get("failed") else m.get("capacity_bound_by") or "-"),
             "probes": len(m["capacity"].get("probes", []))} for m in ms if m.get("capacity")]


def best_capacity(ms: list[dict]) -> dict | None:
    """The layout with the most SLO capacity per GPU (per GPU-dollar: every layout rents the same GPU); among
    those within 3 % of it, the fewest GPUs (a tie on a shared machine)."""
    ok = [m for m in ms if m.get("capacity_request_rate")]
    if not ok:
        return None
    top = max(m["capacity_request_rate_per_gpu"] for m in ok)
    return min([m for m in ok if m["capacity_request_rate_per_gpu"] >= 0.97 * top],
               key=lambda m: (m["gpus"], -m["capacity_request_rate_per_gpu"]))


def capacity_plots(stem, ms: list[dict], capacity: dict) -> list[Path]:
    from common.capacity import slo_text
    from common.plotting import bar_plot, pareto_plot
    ms = [m for m in ms if m.get("capacity", {}).get("probes")]
    if not ms:
        return []
    labels = [f"{m['layout']} ({m['gpus']})" for m in ms]
    out = [bar_plot(Path(f"{stem}_capacity.png"), labels,
                    {"capacity req/s": [m.get("capacity_request_rate") for m in ms],
                     "capacity req/s per GPU": [m.get("capacity_request_rate_per_gpu") for m in ms]},
                    f"Serving capacity per layout under {slo_text(capacity['slo'], capacity['percentile'])}",
                    "requests / s")]
    curves = {f"{m['layout']} ({m['gpus']})": [(p["output_throughput"] / m["gpus"], 1000 / p["p50_tpot_ms"])
                                               for p in m["capacity"]["probes"]
                                               if p.get("p50_tpot_ms") and not p.get("stopped_early")]
              for m in ms}
    tpot = capacity["slo"].get("tpot")
    out.append(pareto_plot(Path(f"{stem}_pareto.png"), curves, 1000 / tpot if tpot else None,
                           "Per-user speed vs per-GPU throughput (capacity probes)"))
    return out
