"""report.md and its plots from a folder of result files, one section after another."""

from __future__ import annotations

from pathlib import Path

from common.measure.cost import gpu_hour_price
from common.output.results import atomic_write
from common.report.advice import pick, recommendation
from common.report.answer import Basis, answer_section
from common.report.fleet import day_fleet_section, fleet_section, target_fleet
from common.report.gather import Findings, dev_of, gather
from common.report.html import write_html
from common.report.plots import plots_not_drawn, report_plots
from common.report.sections import (
    capacity_section,
    course_section,
    header_section,
    latency_section,
    layouts_section,
    mixed_section,
    others_section,
    shapes_section,
    sweep_section,
)
from common.report.settings import ReportSettings


def write_report(out_dir: Path, cfg: ReportSettings) -> dict:
    """report.md and its plots from the JSON files in `out_dir`, one section after another; the course table and
    the recommendation are printed too."""
    f = gather(out_dir, cfg.workload)
    if not (f.suite or f.runs):
        if f.trace_caps:  # capacities on a trace alone (simulate_concurrent_requests.py --find-capacity)
            return write_trace_report(out_dir, cfg, f)
        print(f"no suite, scaling or trace-capacity results in {out_dir}; nothing to report")
        return {"report": None, "exit_code": 1}
    env = f.first["environment"]
    price, dev = gpu_hour_price(env, cfg.gpu_hour_usd), dev_of(env)
    course = course_section(f)
    cap_lines, cap_best = capacity_section(f.candidates, *price, dev)
    base = next((m for m in f.candidates if m["gpus"] == 1), None)  # the recommended run's own baseline
    tf = target_fleet(f.candidates, cfg, price[0], dev, f.capacity_pool())
    fleet_txt = tf.sentence() if tf else ""
    advice = recommendation(f.candidates, cap_best, base, price, env, f.run_config, fleet_txt)
    day, day_plots, days = day_fleet_section(f.trace_caps, cfg, out_dir)
    fleet = fleet_section(tf, price[1]) + day
    offline = pick(f.candidates, cap_best, base, None)
    basis = Basis(days, tf, cap_best, (offline.per_dollar, offline.per_dollar_ties), price, dev)
    answer = answer_section(f, basis, cfg)
    head = header_section(f, out_dir, env)
    L = (
        head[:1]
        + answer
        + head[1:]
        + course
        + latency_section(f, dev)
        + sweep_section(f)
        + mixed_section(f)
        + layouts_section(f, env)
        + cap_lines
        + fleet
        + advice
        + others_section(f)
    )
    plots = report_plots(f, out_dir, cap_best) + day_plots
    L += (
        ["## Plots", ""]
        + [x for why in plots_not_drawn(f) for x in (why, "")]
        + [f"![{p.stem}]({p.name})" for p in plots]
    )
    print(
        "\n".join(
            answer[1:] + [f"Workload: {f.workload}", f.sources, ""] + course + fleet + advice[1:] + others_section(f)
        )
    )
    return saved(out_dir, L, plots)


def write_trace_report(out_dir: Path, cfg: ReportSettings, f: Findings) -> dict:
    """report.md for a folder holding only capacities measured on a trace: each capacity, its validation, the day's
    fleet."""
    newest = max(f.trace_caps, key=lambda t: t["doc"]["created"])
    env = newest["doc"]["environment"]
    L = [
        "# Capacity on a trace, and the day's fleet",
        "",
        f"Generated from {len(f.docs)} result files in `{out_dir}`.",
        "",
        f"- {dev_of(env)}s: {', '.join(g['name'] for g in env['gpus']) or str(env['cpu_count']) + ' CPU cores'}; "
        f"vLLM {env['vllm']}, git {str(env['git_sha'])[:10]}",
        "",
        "## Capacity per trace stretch",
        "",
    ]
    for t in f.trace_caps:
        cap, w = t["cap"], t["workload"]
        v = cap.validation
        L += [
            f"- **{Path(w.get('path', 'trace')).name}**, {t['layout']} (`{Path(t['doc']['_path']).name}`): "
            f"{cap.verdict}."
            + (f" Validation replay: {v['verdict']}." if v else " No validation replay in this file."),
            "",
        ]
    L += shapes_section(f)
    day, plots, days = day_fleet_section(f.trace_caps, cfg, out_dir)
    basis = Basis(days, None, {}, None, gpu_hour_price(env, cfg.gpu_hour_usd), dev_of(env))
    answer = answer_section(f, basis, cfg)
    L = L[:1] + answer + L[1:] + day[1:] + ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    print("\n".join(answer[1:] + day[1:]))
    return saved(out_dir, L, plots)


def saved(out_dir: Path, L: list[str], plots: list[Path]) -> dict:
    """report.md from its lines and report.html from it (one file to open, offline); the line that names them."""
    report = out_dir / "report.md"
    atomic_write(report, "\n".join(L) + "\n")
    page = write_html(report)
    print(f"report: {report}  plots: {', '.join(str(p) for p in plots)}\none file to open, offline: {page}")
    return {"report": str(report), "html": str(page), "plots": [str(p) for p in plots], "exit_code": 0}
