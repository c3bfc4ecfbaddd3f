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
from common.report.settings import ReportSettings


@dataclass
class Basis:
    """What the answer can stand on: the day's answers (a capacity judged on a trace), the fleet for a target rate,
    the best capacity per SLO ({slo text: metrics}) and the best offline layout per device-dollar."""

    days: list[DayAnswer]
    target: TargetFleet | None
    cap_best: dict
    offline: tuple[dict, list[dict]] | None  # (the best offline layout per device-dollar, those tied with it)
    price: tuple[float | None, str | None]
    dev: str


def answer_section(f: Findings, b: Basis, cfg: ReportSettings) -> list[str]:
    """The answer's lines, then "Not measured here" with a flag for each gap."""
    growth = cfg.growth
    gaps = not_measured(f, b, cfg.day_profile, cfg.replica_extra_start_s)
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
            f"**Answer: per {b.dev}, replicas of {m['layout']} serve the most requests within {slo}: "
            f"{rate(m['capacity_request_rate_per_gpu'])} req/s per {b.dev}"
            + (f" ({rate(m['capacity_request_rate'])} req/s on {m['gpus']} {b.dev}s)" if m["gpus"] > 1 else "")
            + ".**",
            f"How many {b.dev}s your busy hour needs is not worked out here: it needs that hour's rate or a trace of "
            "your traffic (below).",
        ]
    if b.offline:
        m, tied = b.offline
        others = ", ".join(f"{t['layout']} {t['output_throughput'] / t['gpus']:,.0f}" for t in tied)
        tie = f" ({others}: a tie within the noise)" if tied else ""
        return [
            f"**Answer: per {b.dev}, replicas of {m['layout']} give the most offline throughput: "
            f"{m['output_throughput'] / m['gpus']:,.0f} out tok/s per {b.dev}{tie}; add replicas for volume.**",
            "No capacity under a latency target was measured, so no device count for live traffic (below).",
        ]
    return []


def _money(hours: float, price: float | None, dev: str) -> str:
    if not price:
        return f"{hours:,.0f} {dev}-hours a day (no price known for this device: --gpu-hour-usd P gives $)"
    return f"{hours:,.0f} {dev}-hours and ${hours * price:,.0f} a day at ${price:.2f} per {dev}-hour"


def _day_lines(a: DayAnswer, growth: float) -> list[str]:
    p, dev, r = a.plan, a.dev, a.plan.t["range"]
    lo, hi = a.span
    span = "" if lo == hi else f" ({lo}-{hi} over the capacity's measured range)"
    cap = p.t["cap"]
    unit = "x the trace's recorded rate" if r.unit == "x" else " req/s"
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
        + ("" if cap.validation else "; not validated (no replay of the whole stretch at that speed)")
        + f". Autoscaled reactively instead: {a.hours(react):,.0f} {dev}-hours{a.usd(a.hours(react))} with "
        f"{react.minutes_over_slo:.0f} minute(s) a day over the SLO; an autoscaler that knows the future, "
        f"{a.hours(fore):,.0f} {dev}-hours (a floor)"
        + (": both at the capacity that missed, so optimistic" if a.extra else "")
        + ".",
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


def not_measured(f: Findings, b: Basis, day_profile: str | None, extra_start_s: float = 0.0) -> list[str]:
    """What the answer could not stand on, each with the flag (or machine) that measures it."""
    out = _skipped_layouts(f, b.dev)
    measured_caps = bool(b.cap_best or b.days)
    on_trace = bool(f.trace_caps) or any(m.get("capacity") and m["capacity"].is_trace for m in b.cap_best.values())
    if not measured_caps:
        out.append(
            f"capacity under a latency target (SLO), and from it the {b.dev}s for your busy hour: "
            "--slo ttft:MS,tpot:MS with --target-rate R (or a trace: --dataset-path TRACE)"
        )
    elif not on_trace:
        out.append(
            "your own traffic (its bursts, lengths and shared prefixes): the capacities here are on a synthetic "
            "shape; --dataset-path TRACE replays a trace"
        )
    if measured_caps and not (b.target or b.days):
        out.append(f"the {b.dev}s for your busy hour: --target-rate R (its requests per second)")
    if b.days and not day_profile:
        out.append("the day's shape: --day-profile FILE (here the busiest hour is taken for the whole day)")
    if any(not a.plan.t["cap"].validation for a in b.days):
        out.append("a replay of the whole stretch at the capacity found: --validate (with --find-capacity)")
    if b.days and not extra_start_s:
        out.append("the weights' download in a new replica's start: --replica-extra-start-s S")
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
