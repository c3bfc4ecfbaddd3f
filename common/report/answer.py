"""The report's opening: its answer in at most three lines (the layout, the devices at the busy hour, device-hours and
dollars a day) and then what was not measured, each with the flag that measures it. The figures come from the plans
the report made (common.report.fleet) and the picks of its sections; this module chooses among them and says them."""

from __future__ import annotations

from dataclasses import dataclass

from common.capacity.search import slo_text
from common.output.results import Status
from common.output.tables import rate
from common.report.fleet import DayAnswer, TargetFleet
from common.report.gather import Findings


@dataclass
class Basis:
    """What the answer can stand on: the day's answers (a capacity judged on a trace), the fleet for a target rate,
    the best capacity per SLO ({slo text: metrics}) and the best offline layout per device-dollar."""

    days: list[DayAnswer]
    target: TargetFleet | None
    cap_best: dict
    offline: dict | None
    price: tuple[float | None, str | None]
    dev: str


def answer_section(f: Findings, b: Basis, growth: float | None, day_profile: str | None) -> list[str]:
    """The answer's lines, then "Not measured here" with a flag for each gap."""
    gaps = not_measured(f, b, growth, day_profile)
    L = ["", *answer_lines(b, growth), ""]
    return L + (["Not measured here, and what measures it:", "", *[f"- {g}" for g in gaps], ""] if gaps else [])


def answer_lines(b: Basis, growth: float | None) -> list[str]:
    """At most three lines: from the day's fleet where a capacity was judged on a trace, else the fleet for the
    target rate, else the best capacity per device, else the best offline throughput per device."""
    if b.days:
        last = max(a.k for a in b.days)  # the profile's day where one was given, else the stretch repeated
        return [line for a in b.days if a.k == last for line in _day_lines(a, growth or 1.0)][:3]
    if b.target:
        return _target_lines(b.target, b.dev)
    if b.cap_best:
        slo, m = next(iter(b.cap_best.items()))
        return [
            f"**Answer: {_name(m, b.dev)} serves the most requests per {b.dev} within {slo}: "
            f"{rate(m['capacity_request_rate_per_gpu'])} req/s per {b.dev}"
            + (f" ({rate(m['capacity_request_rate'])} req/s on {m['gpus']} {b.dev}s)" if m["gpus"] > 1 else "")
            + ".**",
            f"How many {b.dev}s your busy hour needs is not worked out here: it needs that hour's rate "
            "(--target-rate R) or a trace of your traffic (--dataset-path TRACE, with --growth G).",
        ]
    if b.offline:
        m = b.offline
        return [
            f"**Answer: {_name(m, b.dev)} gives the most offline throughput per {b.dev}: "
            f"{m['output_throughput'] / m['gpus']:,.0f} out tok/s per {b.dev}.**",
            "No capacity under a latency target was measured, so no device count for live traffic "
            "(--slo ttft:MS,tpot:MS measures it).",
        ]
    return []


def _name(m: dict, dev: str) -> str:
    return f"a single {dev}" if m["gpus"] == 1 else m["layout"]


def _money(hours: float, price: float | None, dev: str) -> str:
    if not price:
        return f"{hours:,.0f} {dev}-hours a day (no price known for this device: --gpu-hour-usd P gives $)"
    return f"{hours:,.0f} {dev}-hours and ${hours * price:,.0f} a day at ${price:.2f} per {dev}-hour"


def _day_lines(a: DayAnswer, growth: float) -> list[str]:
    p, dev, r = a.plan, a.dev, a.plan.t["range"]
    lo, hi = a.span
    span = "" if lo == hi else f" ({lo}-{hi} over the capacity's range)"
    cap = p.t["cap"]
    unit = "x" if r.unit == "x" else " req/s"
    react, fore = a.reactive, a.foresight
    return [
        f"**Answer: {a.devices} {dev}{'s' * (a.devices != 1)} at the busy hour{span}, in replicas of {a.layout}, "
        f"static: {_money(a.hours(), p.price, dev)}.**",
        f"For {p.name} x {growth:g} over {a.day.source}, within {slo_text(cap.slo, cap.percentile)}, sized from the "
        f"capacity's {a.plan_from} end ({r.at(a.plan_from):.3g}{unit})"
        + (
            ", plus one replica: that capacity's validation replay missed the SLO in a window, so the next size up"
            if a.extra
            else ""
        )
        + f". Autoscaled reactively instead: {a.hours(react):,.0f} {dev}-hours{a.usd(a.hours(react))} with "
        f"{react.minutes_over_slo:.0f} minute(s) a day over the SLO; with foresight {a.hours(fore):,.0f} {dev}-hours "
        "(a floor).",
    ]


def _target_lines(tf: TargetFleet, dev: str) -> list[str]:
    b = tf.best
    devices = b.reps * b.m["gpus"]
    cap = b.m["capacity"]
    span = "" if "-" not in b.span else f" ({b.span} replicas over the capacity's range)"
    return [
        f"**Answer: {devices} {dev}{'s' * (devices != 1)} at the busy hour, {b.reps} "
        f"replica{'s' * (b.reps != 1)} of {b.m['layout']}"
        f"{span}, static: {_money(devices * 24.0, tf.price, dev)}.**",
        f"For {tf.target:.3g} req/s ({tf.src}) within {slo_text(cap.slo, cap.percentile)}: the cheapest of "
        f"{len(tf.rows)} layout(s) with a capacity"
        + (
            ", plus one replica: its validation replay missed the SLO in a window, so the next size up"
            if b.extra
            else ""
        )
        + ". All day at the busy hour's size: no trace, so no autoscaled plan (--dataset-path TRACE --day-profile "
        "FILE plans the day).",
    ]


def not_measured(f: Findings, b: Basis, growth: float | None, day_profile: str | None) -> list[str]:
    """What the answer could not stand on, each with the flag (or machine) that measures it."""
    out = _skipped_layouts(f, b.dev)
    measured_caps = bool(b.cap_best or b.days)
    on_trace = bool(f.trace_caps) or any(m.get("capacity") and m["capacity"].is_trace for m in b.cap_best.values())
    if not measured_caps:
        out.append("capacity under a latency target (SLO): --slo ttft:MS,tpot:MS")
    elif not on_trace:
        out.append(
            "your own traffic (its bursts, lengths and shared prefixes): the capacities here are on a synthetic "
            "shape; --dataset-path TRACE replays a trace"
        )
    if measured_caps and not (b.target or b.days):
        out.append(f"the {b.dev}s for your busy hour: --target-rate R (its requests per second)")
    if b.days and not day_profile:
        out.append("the day's shape: --day-profile FILE (here the busiest hour is taken for the whole day)")
    if not b.price[0]:
        out.append(f"dollars: --gpu-hour-usd P (no price is known for this {b.dev})")
    return out


def _skipped_layouts(f: Findings, dev: str) -> list[str]:
    """'TP4, DP4: skipped (needs 4 devices, ...); the same command on a machine with more GPUs measures them'."""
    done = {d["metrics"].get("layout") for d in f.suite + f.scaling}
    why: dict[str, list[str]] = {}
    for d in f.docs:
        if d["experiment"] in ("suite", "scaling") and d["status"] == Status.SKIPPED:
            name = d["metrics"].get("layout")
            reason = (d.get("failure") or {}).get("message", "skipped")
            if name and name not in done and name not in why.get(reason, []):
                why.setdefault(reason, []).append(name)
    return [
        f"{', '.join(names)}: skipped ({reason}); the same command on a machine with more {dev}s measures them"
        for reason, names in why.items()
    ]
