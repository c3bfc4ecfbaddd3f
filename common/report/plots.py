"""The report's plots: throughput, latency and memory vs devices, capacity, layouts."""

from __future__ import annotations

from pathlib import Path

from common.capacity.display import capacity_plots
from common.output.plotting import bar_plot, line_plot, panels_plot, stacked_bar_plot
from common.output.results import figure_subtitle, run_stamp, stamp_clock
from common.report.gather import Findings, dev_of


def context(f: Findings) -> str:
    """What every figure of the report is of: the model, the devices, the workload (a subtitle)."""
    c = f.first["config"]
    return figure_subtitle(
        c["engine"]["model"], f.first["environment"], f"{c.get('input_len')} in / {c.get('output_len')} out tokens"
    )


def memory_bars(f: Findings) -> tuple[list[str], dict[str, list[float]]] | None:
    """Each rank's weights and KV cache (GiB) per GPU count of the suite: what TP divides, and the balance."""
    labels, weights, kv = [], [], []
    for d in f.suite:
        ranks = sorted((d.get("raw") or {}).get("ranks") or [], key=lambda r: r.get("rank") or 0)
        one = len(ranks) == 1  # "1 GPU", not "1 GPU rank 0"
        for r in ranks:
            labels.append(d["metrics"]["layout"] + ("" if one else f" rank {r.get('rank', 0)}"))
            weights.append((r.get("weights_bytes") or 0) / 2**30)
            kv.append((r.get("kv_cache_bytes") or 0) / 2**30)
    return (labels, {"weights": weights, "KV cache": kv}) if labels and any(weights) else None


def report_plots(f: Findings, out_dir: Path, cap_best: dict) -> list[Path]:
    """The report's figures: throughput and latency against the device count, memory per rank, capacity per
    layout, throughput per layout (each where the folder has what it needs)."""
    dev, sub = dev_of(f.first["environment"]), context(f)
    plots = _device_count_plots(f, out_dir, dev, sub)
    if (mem := memory_bars(f)) is not None:
        plots.append(
            stacked_bar_plot(
                out_dir / "report_memory.png",
                *mem,
                f"Weights and KV cache per rank (the balance check): {sub}",
                "GiB",
                total_label="the KV cache fills what the weights leave",
            )
        )
    if cap_best:
        ms = [m for m in f.candidates if m.get("capacity")]
        first = ms[0]["capacity"]
        same = [m for m in ms if m["capacity"].slo == first.slo]
        plots += capacity_plots(out_dir / "report", same, first.slo, first.percentile, dev, sub)
    if f.layouts:
        stamp = lambda d: " " + stamp_clock(run_stamp(d)) if len(f.runs) > 1 else ""  # noqa: E731
        plots.append(
            bar_plot(
                out_dir / "report_layouts.png",
                [d["metrics"]["layout"] + stamp(d) for d in f.scaling],
                {"out tok/s": [m["output_throughput"] for m in f.layouts]},
                f"Offline throughput per layout{' (runs named by start time)' * (len(f.runs) > 1)}: {sub}",
                "output tokens / s",
            )
        )
    return plots


def one_device_count(f: Findings) -> bool:
    """The folder measured one device count: a plot against the count would have one point."""
    return len({m["gpus"] for m in f.main_rows}) < 2


def plots_not_drawn(f: Findings) -> list[str]:
    """A line for each of the report's plots that would show one point or one bar, and so is not drawn."""
    dev = dev_of(f.first["environment"])
    out = [f"No plot against the {dev} count: one count measured (--gpus 1,2 measures two)."] * one_device_count(f)
    searched = [m for m in f.candidates if m.get("capacity") and m["capacity"].probes]
    if len(searched) == 1:
        out.append("No capacity chart: one layout searched (its probes are in the Pareto plot).")
    return out


def sweep_plot(f: Findings, out_dir: Path, sub: str) -> list[Path]:
    """Output tok/s and p99 TTFT / TPOT against concurrency, one line per layout of the suite's serving sweep: what a
    run on one device count can show of how load shapes latency."""
    rows = [d["metrics"] for d in f.suite if d["metrics"].get("sweep")]
    if not rows:
        return []
    panels = [
        (label, {m["layout"]: ([s["concurrency"] for s in m["sweep"]], [s[key] for s in m["sweep"]]) for m in rows})
        for label, key in (("output tok/s", "output_throughput"), ("p99 TTFT (ms)", "p99_ttft_ms"),
                           ("p99 TPOT (ms)", "p99_tpot_ms"))
    ]  # fmt: skip
    return [panels_plot(out_dir / "report_sweep.png", panels, f"Serving sweep: load against latency: {sub}",
                        "concurrent clients")]  # fmt: skip


def _device_count_plots(f: Findings, out_dir: Path, dev: str, sub: str) -> list[Path]:
    """Offline throughput (against linear scaling from the 1-device row) and latency against the device count; with
    one count measured, none (one point each): the serving sweep against concurrency instead."""
    rows, base = f.main_rows, f.base
    xs = [m["gpus"] for m in rows]
    if one_device_count(f):
        return sweep_plot(f, out_dir, sub)
    load = f"{f.first['config'].get('concurrency')} concurrent clients"
    plots = []
    if base:
        plots.append(
            line_plot(
                out_dir / "report_throughput.png",
                {"measured (TP)": (xs, [m["output_throughput"] for m in rows])},
                f"Offline throughput vs {dev}s: {sub}",
                f"{dev}s",
                "output tokens / s",
                ideal=(xs, [base["output_throughput"] * n for n in xs]),
            )
        )
    plots.append(
        panels_plot(
            out_dir / "report_latency.png",
            [
                ("TTFT (ms)", {f"TTFT p50 at {load}": (xs, [m["median_ttft_ms"] for m in rows])}),
                (
                    "TPOT (ms)",
                    {
                        "batch-1 TPOT (a single stream)": (xs, [m["batch1_tpot_ms"] for m in rows]),
                        f"TPOT p50 at {load}": (xs, [m["median_tpot_ms"] for m in rows]),
                    },
                ),
            ],
            f"Latency vs {dev}s: {sub}",
            f"{dev}s",
        )
    )
    return plots
