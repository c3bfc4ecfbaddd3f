"""The fleet: replicas for a target rate per layout with a capacity (ceil(R / capacity)), and the day's fleet per
capacity judged on a trace (static vs autoscaled per step, common.traffic.load_profile.fleet_plan)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.capacity.result import CapacityRange
from common.capacity.search import slo_text
from common.measure.cost import gpu_hour_price
from common.output.plotting import day_fleet_plot
from common.output.tables import num
from common.report.gather import dev_of
from common.report.settings import ReportSettings
from common.traffic.day_fleet import DayProfile, Demand, Fleet, day_demand, three_fleets
from common.traffic.load_profile import SCALE_STEP_S, clock


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


@dataclass
class FleetRow:
    """One layout's replicas for the target rate: ceil(target / capacity), a replica more where its capacity missed
    its validation replay (`extra`)."""

    m: dict  # the layout's metrics
    reps: int
    extra: int
    hour: float | None  # $ per hour of the replicas
    per_m: float | None  # $ per 1M output tokens at the target
    headroom: float
    span: str  # the replicas over the capacity's range: "4-5", or one number


@dataclass
class TargetFleet:
    """The fleet for a target rate: a row per layout with a capacity, the cheapest first."""

    target: float
    src: str  # where the target comes from
    rows: list[FleetRow]
    price: float | None
    dev: str

    @property
    def best(self) -> FleetRow:
        return self.rows[0]

    def sentence(self) -> str:
        """The fleet's sentence for the paragraph to paste."""
        return (
            f"To serve {self.target:.3g} req/s within the SLO, rent {self.text()} (the cheapest fleet of the layouts "
            "measured)."
        )

    def text(self) -> str:
        """'3 x TP2 = 6 GPUs, $12.00/hour (5-6 replicas over the capacity's range)': the cheapest fleet."""
        b = self.best
        fleet = f"{b.reps} x {b.m['layout']} = {b.reps * b.m['gpus']} {self.dev}s" + (
            f", ${b.hour:.2f}/hour" if b.hour else ""
        )
        fleet += "" if "-" not in b.span else f" ({b.span} replicas over the capacity's range)"
        return fleet + (
            ", a replica more than its capacity asks for: its validation missed a window" if b.extra else ""
        )


def target_fleet(ms: list[dict], cfg: ReportSettings, price, dev: str, pool: dict | None = None) -> TargetFleet | None:
    """Per layout with a capacity, the replicas that hold the target rate (ceil(R / capacity), one more where the
    capacity's validation replay missed), their $ per hour and per 1M output tokens at R, the headroom, and the
    replicas at both ends of the capacity's range (its bracket, widened by the folder's other runs of the layout in
    `pool`); cheapest first. None without a target or a capacity."""
    target, src = fleet_target(ms, cfg)
    caps = [m for m in ms if m.get("capacity_request_rate")]
    if not target or not caps:
        return None
    rows = []
    for m in caps:
        extra = int(bool(m.get("capacity") and (m["capacity"].validation or {}).get("pass") is False))
        reps = math.ceil(target / m["capacity_request_rate"]) + extra
        out_tok = target * m["capacity_output_throughput"] / m["capacity_request_rate"]
        hour = reps * m["gpus"] * price if price else None
        span = _replicas_span(m, target, (pool or {}).get(m["layout"]), extra)
        per_m = hour / 3600 / out_tok * 1e6 if hour else None
        rows.append(FleetRow(m, reps, extra, hour, per_m, reps * m["capacity_request_rate"] / target - 1, span))
    rows.sort(key=lambda r: (r.reps * r.m["gpus"] if r.hour is None else r.hour, r.reps * r.m["gpus"]))
    return TargetFleet(target, src, rows, price, dev)


def fleet_section(tf: TargetFleet | None, price_src: str | None) -> list[str]:
    """'Fleet for R req/s': the target fleet's table and its cheapest fleet. Replicas behind a load balancer are
    assumed to add capacity linearly (DP inside one engine is measured, not assumed)."""
    if tf is None:
        return []
    slo = tf.best.m["capacity"]
    L = [
        "",
        f"## Fleet for {tf.target:.3g} req/s",
        "",
        f"Target: {tf.target:.3g} req/s ({tf.src}). Each layout's capacity under its SLO "
        f"({slo_text(slo.slo, slo.percentile)}), "
        "replicated behind a load balancer: replicas = ceil(target / capacity), one more where the capacity's "
        "validation replay missed. Assumed: replicas add capacity "
        "linearly (a load balancer in front, no shared bottleneck); data parallelism inside one engine is measured "
        "above, not assumed." + (f" ${tf.price:.2f} per {tf.dev}-hour ({price_src})." if tf.price else ""),
        "",
        f"| layout | capacity req/s | replicas | {tf.dev}s | $/hour | $/1M out tok | headroom | replicas over the "
        "capacity's range |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(tf.rows, key=lambda r: r.reps * r.m["gpus"]):
        L.append(
            f"| {r.m['layout']} | {r.m['capacity_request_rate']:.3g} | {r.reps}{' (+1: validation missed)' * r.extra} "
            f"| {r.reps * r.m['gpus']} | {num(r.hour, 2)} | {num(r.per_m, 3)} | {r.headroom * 100:.0f}% | {r.span} |"
        )
    return L + ["", f"**Cheapest fleet that holds {tf.target:.3g} req/s within the SLO:** {tf.text()}."]


def _replicas_span(m: dict, target: float, pooled: list | None = None, extra: int = 0) -> str:
    """'4-5': the replicas that hold `target` at the high and the low end of the layout's capacity (its search's
    bracket widened by the `pooled` runs, CapacityRange), + `extra`, or one number where both ends need the same."""
    cap = m.get("capacity")
    if cap is None or not cap.found:
        return str(math.ceil(target / m["capacity_request_rate"]) + extra)
    r = CapacityRange.of(cap, pooled if pooled and any(c is cap for c in pooled) else None)
    per = m["capacity_request_rate"] / r.point if r.point else 1.0  # a trace's speed-up -> req/s
    lo, hi = math.ceil(target / (r.high * per) - 1e-9) + extra, math.ceil(target / (r.low * per) - 1e-9) + extra
    return str(hi) if lo == hi else f"{lo}-{hi}"


@dataclass
class DayPlan:
    """One capacity judged on a trace, planned over a day: the capacity per replica (work units/s) at each end of its
    range, the replica's start, and per day (the stretch repeated; --day-profile's) the demand and the three fleets at
    each end."""

    t: dict  # gather.trace_capacities' entry
    capacity: dict[str, float]  # "low", "point", "high" -> work/s one replica holds within the SLO
    start_s: float
    start_note: str
    days: list[tuple[DayProfile, Demand, dict[str, list[Fleet]]]]
    price: float | None  # $ per GPU-hour of the run's GPU (--gpu-hour-usd, else the known price)
    price_src: str | None = None  # where the price comes from

    @property
    def name(self) -> str:
        """The trace's file name."""
        return Path(self.t["workload"].get("path", "trace")).name


def day_plan(t: dict, cfg: ReportSettings, growth: float, days: list[DayProfile]) -> DayPlan:
    cap, r = t["cap"], t["range"]
    per_x = cap.binding_work_per_s  # work/s of the binding window at 1x: a speed-up's capacity is speed x this
    capacity = {"low": r.low * per_x, "point": r.point * per_x, "high": r.high * per_x}
    measured, where = t["engine_start"]
    if cfg.replica_start_s is not None:
        start, note = cfg.replica_start_s, f"{cfg.replica_start_s:g} s after it is asked for (--replica-start-s)"
    elif measured is not None:
        start, note = measured, f"{measured:.0f} s after it is asked for: the engine start measured here ({where})"
    else:
        start, note = (
            SCALE_STEP_S,
            f"{SCALE_STEP_S:g} s after it is asked for, assumed: no engine start in the file ({where})",
        )
    if cfg.replica_extra_start_s:
        note += f" + {cfg.replica_extra_start_s:g} s (--replica-extra-start-s)"
    else:
        note += "; the weights' download is not in it (not measured: add it with --replica-extra-start-s)"
    reactive = cfg.reactive(start)
    plans = []
    for day in days:
        demand = day_demand(cap.profile["windows"], day, growth, cap.profile.get("end_s"))
        plans.append(
            (day, demand, {end: three_fleets(demand, c, reactive, SCALE_STEP_S) for end, c in capacity.items()})
        )
    price, src = gpu_hour_price(t["doc"]["environment"], cfg.gpu_hour_usd)
    return DayPlan(t, capacity, start + cfg.replica_extra_start_s, note, plans, price, src)


def day_fleet_section(
    trace_caps: list[dict], cfg: ReportSettings, out_dir: Path
) -> tuple[list[str], list[Path], list[DayAnswer]]:
    """ "The day's fleet": per capacity judged on a trace, three fleets (static, autoscaled with foresight,
    autoscaled reactively) over the stretch repeated all day and over --day-profile's day, at the ends of the
    capacity's range; a plot per capacity and day; the answers (one per traffic, SLO and day)."""
    if not trace_caps:
        return [], [], []
    growth, days = cfg.growth or 1.0, [DayProfile.flat()] + ([cfg.day()] if cfg.day_profile else [])
    L, plots, plans = _day_fleet_head(growth, cfg), [], []
    for i, t in enumerate(trace_caps):
        plans.append(p := day_plan(t, cfg, growth, days))
        L += _plan_lines(p, cfg)
        plots += [_plan_plot(p, cfg, k, out_dir / f"report_day_fleet_{i}_{k}.png") for k in range(len(days))]
    answers = day_answers(plans, cfg)
    return L + [x for a in answers for x in ("", _answer(a, growth))], plots, answers


def _day_fleet_head(growth: float, cfg: ReportSettings) -> list[str]:
    return [
        "",
        f"## The day's fleet (the trace's traffic x {growth:g})",
        "",
        "Demand: the stretch's windows end to end over 24 hours, each one's work x "
        f"{growth:g}"
        + (
            " x the day profile's rate at that hour / its peak hour (the stretch stands for the busiest hour)"
            if cfg.day_profile
            else ""
        )
        + ". A replica holds the capacity measured on the trace's heaviest window "
        "(speed-up x that window's work). Three fleets: **static** (the day's peak, all day); **autoscaled with "
        f"foresight** (each {SCALE_STEP_S:g} s step runs what it needs, started a step ahead: a floor no real "
        "autoscaler reaches); **autoscaled reactively** (it sees a window's demand at its end, asks for replicas "
        f"when demand passes {cfg.scale_up_at:g} of what its fleet holds, a new one serves after the replica's "
        f"start, spare ones stop after {cfg.scale_down_after_s:g} s of slack; at least {cfg.min_replicas}). A window "
        "whose demand exceeds what the serving replicas hold is over the SLO. Each figure is at the capacity the plan "
        f"is sized from ({cfg.plan_from} end, --plan-from), the range in brackets from the capacity's high to low "
        "end. Assumed: replicas add capacity linearly; the capacity holds for this traffic's mix.",
    ]


def _cell(fleets: dict[str, list[Fleet]], plan: str, i: int, f, fmt: str) -> str:
    """Fleet i's figure f at the capacity's `plan` end, with its range over the capacity's ends where it differs."""
    v = {end: fmt.format(f(fl[i])) for end, fl in fleets.items()}
    ends = sorted({f(fl[i]) for fl in fleets.values()})
    lo, hi = fmt.format(ends[0]), fmt.format(ends[-1])
    return v[plan] + ("" if lo == hi else f" ({lo}-{hi})")


def _plan_lines(p: DayPlan, cfg: ReportSettings) -> list[str]:
    t, cap, r = p.t, p.t["cap"], p.t["range"]
    name, o, price = p.name, cap.profile["origin_s"], p.price
    end = cap.profile.get("end_s") or cap.profile["windows"][-1]["end_s"]  # (older files: the last window's end)
    dev, g = dev_of(t["doc"]["environment"]), t["gpus"]
    figures = [
        ("{:,}", lambda x: x.peak),
        ("{:,.1f}", lambda x: x.replica_hours),
        ("{:,.1f}", lambda x: x.gpu_hours(g)),
        ("{:,.0f}", lambda x: x.gpu_hours(g) * (price or 0)),
        ("{:,.0f}", lambda x: x.minutes_over_slo),
        ("{:,.0f}", lambda x: x.requests_over_slo),
    ]
    L = [
        "",
        f"### {name} ({clock(o)}-{clock(end)}), {t['layout']}, {slo_text(cap.slo, cap.percentile)}",
        "",
        f"Capacity: {r.text()}. A new replica serves {p.start_note}.",
        "",
        f"| day | fleet | replicas at the peak | replica-hours a day | {dev}-hours a day | $ a day | minutes over the "
        "SLO | requests over it |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for day, _, fleets in p.days:
        for i, fl in enumerate(fleets["point"]):
            cells = [_cell(fleets, cfg.plan_from, i, f, fmt) for fmt, f in figures]
            if not price:
                cells[3] = "-"
            L.append(f"| {day.source if i == 0 else ''} | {fl.policy} | " + " | ".join(cells) + " |")
    return L


def _plan_plot(p: DayPlan, cfg: ReportSettings, k: int, path: Path) -> Path:
    day, demand, fleets = p.days[k]
    fl, c = fleets[cfg.plan_from], p.capacity[cfg.plan_from]
    hours = [float(x) / 3600 for x in demand.starts_s] + [24.0]
    over = demand.work_per_s > fl[-1].live * c * (1 + 1e-9)
    # the zoom: the hour with the most reactive minutes over the SLO, else the one with the day's peak demand
    per_hour = np.bincount((demand.starts_s // 3600).astype(int), weights=over * demand.lengths_s, minlength=24)
    h = int(per_hour.argmax()) if over.any() else int(demand.starts_s[demand.work_per_s.argmax()] // 3600)
    return day_fleet_plot(
        path,
        hours,
        [float(x) / c for x in demand.work_per_s],
        {f.policy: (list(f.live), list(f.billed)) for f in fl},
        list(over),
        f"{p.name}, {p.t['layout']}: replicas over {day.source} (capacity's {cfg.plan_from} end, "
        f"{c / p.t['cap'].binding_work_per_s:.3g}x)",
        (float(h), float(h + 1)),
    )


@dataclass
class DayAnswer:
    """The day's answer for one capacity and day: the static fleet at the plan's end of the capacity (a replica more
    where the capacity it is sized from missed its validation), its devices over the capacity's range, and the two
    autoscaled fleets at the plan's end."""

    plan: DayPlan
    k: int  # the day's index in plan.days
    plan_from: str
    devices: int
    span: tuple[int, int]
    extra: int
    foresight: Fleet
    reactive: Fleet

    @property
    def day(self) -> DayProfile:
        return self.plan.days[self.k][0]

    @property
    def dev(self) -> str:
        return dev_of(self.plan.t["doc"]["environment"])

    @property
    def layout(self) -> str:
        return self.plan.t["layout"]

    def hours(self, fleet: Fleet | None = None) -> float:
        """Device-hours a day of the static fleet, or of `fleet`."""
        return self.devices * 24.0 if fleet is None else fleet.gpu_hours(self.plan.t["gpus"])

    def usd(self, hours: float) -> str:
        """' ($1,584)' at the plan's price, '' without one."""
        return f" (${hours * self.plan.price:,.0f})" if self.plan.price else ""


def day_answer(p: DayPlan, k: int, cfg: ReportSettings) -> DayAnswer:
    fleets = p.days[k][2]
    r = p.t["range"]
    extra = int(r.validation_missed and r.at(cfg.plan_from) == r.point)  # the plan's capacity is the one that missed
    n = {end: (fl[0].peak + extra) * p.t["gpus"] for end, fl in fleets.items()}
    _, fore, react = fleets[cfg.plan_from]
    return DayAnswer(p, k, cfg.plan_from, n[cfg.plan_from], (min(n.values()), max(n.values())), extra, fore, react)


def day_answers(plans: list[DayPlan], cfg: ReportSettings) -> list[DayAnswer]:
    """One answer per traffic (trace, stretch), SLO and day, across layouts: the static fleet of least device-hours."""
    groups: dict[str, list[DayPlan]] = {}
    for p in plans:
        w, cap = p.t["workload"], p.t["cap"]
        groups.setdefault(json.dumps([w.get("sha256"), w.get("start_s"), w.get("span_s"), cap.slo]), []).append(p)
    return [
        min((day_answer(p, k, cfg) for p in ps), key=lambda a: a.hours())
        for ps in groups.values()
        for k in range(len(ps[0].days))
    ]


def _why(end: str) -> str:
    return (
        "the least any run passed, so the plan holds if the capacity is no better than measured"
        if end == "low"
        else "the rate this run's SLO was judged at, --plan-from point"
    )


def _answer(a: DayAnswer, growth: float) -> str:
    """The day's answer for one capacity, with its range over the capacity's ends and what the two autoscalers
    would run; the reactive one's minutes over the SLO explained."""
    p, dev, r = a.plan, a.dev, a.plan.t["range"]
    unit = "x" if r.unit == "x" else " req/s"
    lo, hi = a.span
    span = "" if lo == hi else f" ({lo}-{hi} over its range)"
    day_span = (
        ""
        if lo == hi
        else (
            f"; {lo * 24:,.0f}-{hi * 24:,.0f} {dev}-hours"
            + (f", ${lo * 24 * p.price:,.0f}-{hi * 24 * p.price:,.0f}," if p.price else "")
            + " over its range"
        )
    )
    react, fore = a.reactive, a.foresight
    text = (
        f"**The day's fleet for {p.name} x {growth:g} over {a.day.source}:** "
        f"{a.devices} {dev}{'s' if a.devices != 1 else ''} static{span} in replicas of {a.layout}, "
        f"sized from the capacity's {a.plan_from} end ({r.at(a.plan_from):.3g}{unit}: {_why(a.plan_from)})"
        + (", a replica more than it asks for: its validation missed a window" if a.extra else "")
        + f"; {a.hours():,.0f} {dev}-hours a day{a.usd(a.hours())}{day_span}. "
        f"Autoscaled reactively: "
        f"{a.hours(react):,.0f}{a.usd(a.hours(react))}, {react.minutes_over_slo:.0f} minute(s) over the SLO a "
        f"day; with foresight {a.hours(fore):,.0f}{a.usd(a.hours(fore))} (a floor: it knows the future)."
    )
    if react.minutes_over_slo > 0:
        text += (
            f" The reactive fleet is over the SLO where demand jumps: it sees a window's demand "
            f"({p.t['cap'].profile['window_s']:g} s) only at its end, and the replicas it then asks for serve "
            f"{p.start_s:.0f} s later, after a burst shorter than that is over."
        )
    return text
