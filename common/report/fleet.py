"""The fleet: replicas for a target rate per layout with a capacity (ceil(R / capacity)), and the day's fleet per
capacity judged on a trace (static vs autoscaled per step, common.traffic.load_profile.fleet_plan)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from common.capacity.search import slo_text
from common.measure.cost import gpu_hour_price
from common.output.plotting import replicas_plot
from common.output.tables import num
from common.report.gather import dev_of
from common.report.settings import ReportSettings
from common.traffic.load_profile import SCALE_STEP_S, clock, fleet_plan


def fleet_target(ms: list[dict], cfg: ReportSettings) -> tuple[float | None, str]:
    """(req/s the fleet must serve, where the figure comes from): --target-rate, else with --growth the busiest
    minute of the trace the capacities were measured on, times the growth."""
    if cfg.target_rate:
        return cfg.target_rate, "--target-rate"
    caps = [m["capacity"] for m in ms if m.get("capacity") and m["capacity"].trace_speedup]
    if not (cfg.growth and caps):
        return None, ""
    c = caps[0]
    if c.trace_judge == "heaviest":  # the capacity already holds the heaviest window: plan on the mean
        mean = c.request_rate / c.trace_speedup
        return mean * cfg.growth, (
            f"the trace's mean rate ({mean:.3g} req/s; each capacity was judged at its "
            f"heaviest window) x {cfg.growth:g}"
        )
    busy = c.busiest_minute_rate / c.trace_speedup
    return busy * cfg.growth, f"the trace's busiest minute ({busy:.3g} req/s) x {cfg.growth:g}"


def fleet_section(ms: list[dict], cfg: ReportSettings, price, price_src, dev: str) -> tuple[list[str], str]:
    """'Fleet for R req/s': per layout with a capacity, the replicas that hold R (ceil(R / capacity)), their devices,
    $ per hour and per 1M output tokens at R, and the headroom; the cheapest named. Replicas behind a load
    balancer are assumed to add capacity linearly (DP inside one engine is measured, not assumed). (lines, the
    sentence for the paragraph to paste)."""
    target, src = fleet_target(ms, cfg)
    caps = [m for m in ms if m.get("capacity_request_rate")]
    if not target or not caps:
        return [], ""
    rows = []
    for m in caps:
        reps = math.ceil(target / m["capacity_request_rate"])
        out_tok = target * m["capacity_output_throughput"] / m["capacity_request_rate"]
        hour = reps * m["gpus"] * price if price else None
        rows.append(
            (
                m,
                reps,
                hour,
                hour / 3600 / out_tok * 1e6 if hour else None,
                reps * m["capacity_request_rate"] / target - 1,
            )
        )
    best = min(rows, key=lambda r: (r[1] * r[0]["gpus"] if r[2] is None else r[2], r[1] * r[0]["gpus"]))
    L = [
        "",
        f"## Fleet for {target:.3g} req/s",
        "",
        f"Target: {target:.3g} req/s ({src}). Each layout's capacity under its SLO "
        f"({slo_text(best[0]['capacity'].slo, best[0]['capacity'].percentile)}), "
        "replicated behind a load balancer: replicas = ceil(target / capacity). Assumed: replicas add capacity "
        "linearly (a load balancer in front, no shared bottleneck); data parallelism inside one engine is measured "
        "above, not assumed." + (f" ${price:.2f} per {dev}-hour ({price_src})." if price else ""),
        "",
        f"| layout | capacity req/s | replicas | {dev}s | $/hour | $/1M out tok | headroom |",
        "|---|---|---|---|---|---|---|",
    ]
    for m, reps, hour, per_m, head in sorted(rows, key=lambda r: r[1] * r[0]["gpus"]):
        L.append(
            f"| {m['layout']} | {m['capacity_request_rate']:.3g} | {reps} | {reps * m['gpus']} | "
            f"{num(hour, 2)} | {num(per_m, 3)} | {head * 100:.0f}% |"
        )
    m, reps, hour = best[:3]
    fleet = f"{reps} x {m['layout']} = {reps * m['gpus']} {dev}s" + (f", ${hour:.2f}/hour" if hour else "")
    return L + [
        "",
        f"**Cheapest fleet that holds {target:.3g} req/s within the SLO:** {fleet}.",
    ], f"To serve {target:.3g} req/s within the SLO, rent {fleet} (the cheapest fleet of the layouts measured)."


def day_fleet_section(trace_caps: list[dict], cfg: ReportSettings, out_dir: Path) -> tuple[list[str], list[Path]]:
    """ "The day's fleet": per capacity judged on a trace, replicas window by window for the trace's traffic x
    --growth (common.traffic.load_profile.fleet_plan): static (its peak) vs autoscaled, GPU-hours and $ a day; a
    replicas-over-time plot each."""
    if not trace_caps:
        return [], []
    growth = cfg.growth or 1.0
    L = _day_fleet_head(growth, cfg.min_replicas)
    plots = []
    for i, t in enumerate(trace_caps):
        row, plot = _day_fleet_row(t, cfg, growth, out_dir / f"report_replicas_{i}.png")
        L.append(row)
        plots.append(plot)
    return L + _day_fleet_answers(trace_caps, growth), plots


def _day_fleet_head(growth: float, min_replicas: int) -> list[str]:
    """The section's title, how its rows are computed, and the table's header."""
    return [
        "",
        f"## The day's fleet (the trace's traffic x {growth:g})",
        "",
        "Each row: a capacity measured on the trace's heaviest window (the speed-up found x that window's work), "
        "and the "
        f"replicas each step of the stretch needs for its traffic x {growth:g}: ceil(growth x the work of the step's "
        f"heaviest window / the work one replica held); a step is as many whole windows as make {SCALE_STEP_S:g} s "
        "or more. Static: the peak, all day. Autoscaled: a replica takes one step to come up (a vLLM engine starts in "
        "about a minute), so it is started (and paid) a step before it is needed; scale-down is immediate; at least "
        f"{min_replicas} replica(s). Assumed: replicas add capacity linearly; the capacity holds for this "
        "traffic's mix, measured on its heaviest window. A day is the stretch's pattern repeated (not measured).",
        "",
        "| trace (stretch) | layout | SLO | capacity | decided by | static | static device-h/day "
        "| autoscaled device-h/day "
        "| $/day static | $/day autoscaled |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]


def _day_fleet_row(t: dict, cfg: ReportSettings, growth: float, plot_path: Path) -> tuple[str, Path]:
    """One capacity judged on a trace: its fleet plan (kept in t["fleet"]), its table row and its replicas plot."""
    cap, d = t["cap"], t["doc"]
    price, _ = gpu_hour_price(d["environment"], cfg.gpu_hour_usd)
    t["fleet"] = fl = fleet_plan(
        cap.profile["windows"],
        cap.trace_speedup * cap.binding_work_per_s,
        growth,
        cfg.min_replicas,
        t["gpus"],
        price,
        step_s=SCALE_STEP_S,
        end_s=cap.profile.get("end_s"),
    )
    dev = dev_of(d["environment"])
    name = Path(t["workload"].get("path", "trace")).name
    o, span = cap.profile["origin_s"], fl["stretch_s"]
    bw = cap.binding_window
    row = (
        f"| {name} ({clock(o)}-{clock(o + span)}) | {t['layout']} | {slo_text(cap.slo, cap.percentile)} "
        f"| {cap.trace_speedup:.3g}x ({cap.request_rate:.3g} req/s mean) | {clock(bw['start_s'])} | "
        f"{fl['static_replicas']} x {t['gpus']} {dev} | {fl['static_gpu_hours_per_day']:.1f} | "
        f"{fl['autoscaled_gpu_hours_per_day']:.1f} | {num(fl.get('static_usd_per_day'), 0)} | "
        f"{num(fl.get('autoscaled_usd_per_day'), 0)} |"
    )
    plot = replicas_plot(
        plot_path,
        fl,
        f"Replicas per {fl['step_s']:g} s step: {name} x {growth:g}, "
        f"{t['layout']} under {slo_text(cap.slo, cap.percentile)}",
    )
    return row, plot


def _day_fleet_answers(trace_caps: list[dict], growth: float) -> list[str]:
    """One answer per traffic (trace, stretch) and SLO, across layouts: the fleet of least device-hours a day."""
    L: list[str] = []
    groups: dict[str, list[dict]] = {}  # one answer per traffic (trace, stretch) and SLO, across layouts
    for t in trace_caps:
        w, cap = t["workload"], t["cap"]
        groups.setdefault(json.dumps([w.get("sha256"), w.get("start_s"), w.get("span_s"), cap.slo]), []).append(t)
    for ts in groups.values():
        best = min(ts, key=lambda t: t["fleet"]["autoscaled_gpu_hours_per_day"])
        fl, dev = best["fleet"], dev_of(best["doc"]["environment"])
        saved = 1 - fl["autoscaled_gpu_hours_per_day"] / fl["static_gpu_hours_per_day"]
        v, cap = best["cap"].validation or {}, best["cap"]
        L += [
            "",
            f"**The day's fleet for {Path(best['workload'].get('path', 'trace')).name} x {growth:g}:** "
            f"{fl['static_gpus']} {dev}{'s' if fl['static_gpus'] != 1 else ''} static "
            f"({fl['static_gpu_hours_per_day']:.1f} {dev}-hours a day), or autoscaled per step "
            f"{fl['autoscaled_gpu_hours_per_day']:.1f} "
            + (f"({saved * 100:.0f}% less)" if saved >= 0.005 else "(the same: the stretch never needs fewer)")
            + f", in replicas of {best['layout']}."
            + (
                f" Read with care: the validation replay at {cap.trace_speedup:.3g}x missed the SLO in "
                f"{len(v['missed'])} window(s) ({', '.join(clock(s) for s in v['missed'])}), so "
                f"{cap.trace_speedup:.3g}x is the edge of this capacity, not a margin; at the peak this plan "
                f"loads each replica to {fl['peak_load'] * 100:.0f}% of it."
                if v.get("pass") is False and v.get("missed")
                else ""
            ),
        ]
    return L
