"""The report's plots: throughput, latency and memory vs devices, capacity, layouts."""
from __future__ import annotations

from pathlib import Path

from common.capacity.display import capacity_plots
from common.output.plotting import bar_plot, line_plot
from common.report.gather import Findings, dev_of
from common.output.results import run_stamp, stamp_clock


def report_plots(f: Findings, out_dir: Path, cap_best: dict) -> list[Path]:
    rows, base, dev = f.main_rows, f.base, dev_of(f.first["environment"])
    xs = [m["gpus"] for m in rows]
    plots = []
    if base:
        plots.append(
            line_plot(
                out_dir / "report_throughput.png",
                {"measured (TP)": (xs, [m["output_throughput"] for m in rows])},
                f"Offline throughput vs {dev}s",
                f"{dev}s",
                "output tokens / s",
                ideal=(xs, [base["output_throughput"] * n for n in xs]),
            )
        )
    plots.append(line_plot(out_dir / "report_latency.png",
                           {"batch-1 TPOT (ms)": (xs, [m["batch1_tpot_ms"] for m in rows]),
                            "TTFT p50 at concurrency (ms)": (xs, [m["median_ttft_ms"] for m in rows])},
                           f"Latency vs {dev}s", f"{dev}s", "ms"))
    if any(m.get("memory_peak_mib") for m in rows):
        plots.append(
            bar_plot(
                out_dir / "report_memory.png",
                [m["layout"] for m in rows],
                {
                    f"peak memory per {dev} (GiB)": [
                        max((m.get("memory_peak_mib") or {0: 0}).values()) / 1024 for m in rows
                    ]
                },
                "Peak memory per GPU (NVML)" if dev == "GPU" else "Peak memory per engine process (RSS)",
                "GiB",
            )
        )
    if cap_best:
        ms = [m for m in f.candidates if m.get("capacity")]
        first = ms[0]["capacity"]
        plots += capacity_plots(out_dir / "report", [m for m in ms if m["capacity"]["slo"] == first["slo"]], first, dev)
    if f.layouts:
        stamp = lambda d: " " + stamp_clock(run_stamp(d)) if len(f.runs) > 1 else ""  # noqa: E731
        plots.append(bar_plot(out_dir / "report_layouts.png", [d["metrics"]["layout"] + stamp(d) for d in f.scaling],
                              {"out tok/s": [m["output_throughput"] for m in f.layouts]}, "Throughput per layout",
                              "output tokens / s"))
    return plots
