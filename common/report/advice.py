"""The recommendation: which layout for SLO capacity per dollar, for batch throughput per dollar, for all N devices,
whether fewer would do, the lowest latency; and the paragraph to paste into notes."""

from __future__ import annotations

import math
from dataclasses import dataclass

from common.measure.metrics import speedup, usd_per_1m
from common.measure.noise import ABOVE_LINEAR, NOISE_FLOOR, above_linear_note, noise_band, tied_with_best, within_noise
from common.output.tables import rate
from common.report.gather import dev_of


@dataclass
class Picks:
    """The layouts the recommendation names, each chosen from measured numbers."""

    per_dollar: dict  # most offline out tok/s per GPU (ties within the noise: the fewest GPUs)
    per_dollar_ties: list[dict]  # the other layouts whose out tok/s per GPU ties the best one's within the noise
    top: dict  # highest offline out tok/s per GPU
    fastest: dict  # lowest batch-1 TPOT among those meeting the SLO (else among all)
    meets: list[dict]  # layouts whose p99 TTFT / TPOT under load meet the run's SLO (none without one)
    n_all: int  # the most GPUs measured
    at_all: list[dict]  # the layouts measured on n_all GPUs
    best_all: dict  # the best of those (by capacity under the SLO when searched, else throughput)
    tied_all: list[dict]  # the layouts on n_all whose capacity ties best_all's within the noise (best_all too)
    cap_key: str | None  # the SLO text of the first capacity group
    speedup: float | None  # best_all's offline speedup over one GPU
    fewer: bool  # some layout was measured on fewer GPUs than n_all


def per_gpu(m: dict) -> float:
    return m["output_throughput"] / m["gpus"]


def pick(cands: list[dict], cap_best: dict, base: dict | None, slo: dict | None) -> Picks:
    top = max(cands, key=per_gpu)
    # per-GPU rates within the run's noise are a tie: the fewest GPUs is then the simpler rental
    ties = tied_with_best(cands, per_gpu)
    per_dollar = min(ties, key=lambda m: (m["gpus"], -per_gpu(m)))
    # every term of the SLO against the layout's p99 under load (a term it has no figure for: not met)
    meets = [m for m in cands if slo and all((m.get(f"p99_{k}_ms") or math.inf) <= v for k, v in slo.items())]
    fastest = min(meets or cands, key=lambda m: m["batch1_tpot_ms"] or math.inf)
    n_all = max(m["gpus"] for m in cands)
    at_all = [m for m in cands if m["gpus"] == n_all]
    cap_key = next(iter(cap_best), None)
    with_cap = [m for m in at_all if m.get("capacity_request_rate") is not None]
    best_all, tied = max(at_all, key=lambda m: m["output_throughput"]), []
    if cap_key and with_cap:  # capacities within the noise are a tie: the smallest replica is the simpler rental
        cap = lambda m: m["capacity_request_rate"]  # noqa: E731
        tied = tied_with_best(with_cap, cap, key="capacity")
        best_all = min(tied, key=lambda m: (m.get("tp", 1) * m.get("pp", 1), -cap(m)))
    sp = best_all.get("speedup") or (speedup(best_all, base)[0] if base else None)
    return Picks(
        per_dollar=per_dollar,
        per_dollar_ties=[m for m in ties if m is not per_dollar],
        top=top,
        fastest=fastest,
        meets=meets,
        n_all=n_all,
        at_all=at_all,
        best_all=best_all,
        tied_all=tied,
        cap_key=cap_key if with_cap else None,
        speedup=sp,
        fewer=any(m["gpus"] < n_all for m in cands),
    )


def recommendation(
    cands: list[dict], cap_best: dict, base: dict | None, price: tuple, env: dict, run_config: dict, fleet_txt: str = ""
) -> list[str]:
    """The report's advice for the devices the reader has: SLO capacity per dollar, batch throughput per dollar,
    the best use of all N devices (the best layout measured at N, never TP alone when another N-layout read
    higher), whether fewer would do, and the lowest latency; then the paragraph to paste (ending with `fleet_txt`, the
    fleet's sentence, when there is one)."""
    usd, price_src = price
    c = run_config.get("capacity") or {}  # latency is judged only against the run's own SLO, where it is a p99
    slo = c.get("slo") if c.get("percentile", 99.0) == 99.0 else None
    dev, p = dev_of(env), pick(cands, cap_best, base, slo)
    cost = lambda m: usd_per_1m(usd, m["gpus"], m["output_throughput"]) if usd else None  # noqa: E731
    where = lambda m: f"a single {dev}" if m["gpus"] == 1 else f"{m['layout']} ({m['gpus']} {dev}s)"  # noqa: E731
    c1, c2 = cost(p.per_dollar), cost(p.fastest)
    L = ["", "## Recommendation", ""]
    for slo_key, m in cap_best.items():
        c = m.get("usd_per_1m_output_tokens_at_capacity")
        L.append(
            f"- **Serving capacity per dollar under {slo_key}:** {where(m)}: {rate(m['capacity_request_rate'])} req/s "
            f"({rate(m['capacity_request_rate_per_gpu'])} per {dev}, {m['capacity_output_throughput']:.0f} out tok/s)"
            + (f", ${c:.3f} per 1M output tokens at capacity." if c is not None else ".")
        )
    L.append(
        f"- **Batch throughput per dollar (offline):** {where(p.per_dollar)}: "
        f"{per_gpu(p.per_dollar):.0f} out tok/s per {dev}"
        + (
            f", ${c1:.3f} per 1M output tokens at ${usd:.2f}/GPU-hour ({price_src})."
            if c1 is not None
            else " (pass --gpu-hour-usd for $ per 1M tokens)."
        )
        + (
            f" {p.top['layout']} on {p.top['gpus']} {dev}s read {per_gpu(p.top):.0f} per {dev}, "
            f"{apart(p.top, p.per_dollar)}: a tie, and fewer {dev}s are the simpler rental."
            if p.top is not p.per_dollar
            else ""
        )
    )
    all_txt = all_devices_text(p, dev) if p.n_all > 1 else ""
    if all_txt:
        L.append(f"- **Using all {p.n_all} {dev}s:** {all_txt}.")
        L.append(f"- **Would fewer {dev}s do?** " + fewer_text(p, dev, where))
    L.append(latency_line(p, slo, run_config, where, c2))
    if note := above_linear_note(cands, dev):  # per-device comparisons against this run's baseline cannot be trusted
        L.append(f"- **Read with care:** {note}")
    para = paste_paragraph(p, cap_best, env, where, (c1, c2), all_txt)
    return L + ["", para + (" " + fleet_txt if fleet_txt else ""), ""]


def latency_line(p: Picks, slo: dict | None, run_config: dict, where, cost: float | None) -> str:
    """The lowest latency: a single stream's speed always; p99 under load only against the SLO the run was given, at
    the load it was measured at."""
    f, load = p.fastest, f"{run_config.get('concurrency')} concurrent clients"
    head = f"{where(f)}: batch-1 {f['batch1_decode_tokens_per_s']:.0f} tok/s"
    tail = f", ${cost:.3f} per 1M output tokens." if cost is not None else "."
    if not slo:
        return (
            f"- **Lowest latency (a single stream):** {head}{tail} Latency under load is not judged: this run "
            "had no p99 SLO (pass --slo to judge it)."
        )
    slo_txt = ", ".join(f"p99 {k.upper()} <= {v:.0f} ms" for k, v in slo.items())
    return (
        "- **Lowest latency"
        + (f" under the SLO ({slo_txt}) at {load}" if p.meets else f" (no layout met the SLO {slo_txt} at {load})")
        + f":** {head}, "
        f"p99 TTFT {f['p99_ttft_ms']:.0f} ms, p99 TPOT {f['p99_tpot_ms']:.1f} ms" + tail
    )


def apart(a: dict, b: dict) -> str:
    """How far apart two layouts' per-device throughputs are, against the noise they tie within."""
    x, y = per_gpu(a), per_gpu(b)
    return (
        f"{abs(x - y) / max(x, y) * 100:.1f} % apart, within the noise "
        f"(+-{noise_band(a, b) * 100:.0f} %: the wider of their own runs' spread and {NOISE_FLOOR * 100:.0f} %)"
    )


def fewer_text(p: Picks, dev: str, where) -> str:
    """Whether fewer devices serve as well per device, and whether all of them give more in total (capacity under
    the SLO where it was searched, else offline throughput)."""
    b, s = p.best_all, p.per_dollar
    if not p.fewer:
        return f"Not measured: this run has no layout on fewer than {p.n_all} {dev}s."
    if s["gpus"] >= p.n_all:
        return f"No: {b['layout']} on all {p.n_all} is as cost-efficient per {dev} as any smaller layout measured."
    by_cap = bool(p.cap_key) and s.get("capacity_request_rate") is not None
    key, unit_, fmt = (
        ("capacity_request_rate", "req/s under the SLO", rate)
        if by_cap
        else ("output_throughput", "out tok/s offline", "{:,.0f}".format)
    )
    totals = f"{fmt(b[key])} vs {fmt(s[key])} {unit_}"
    if within_noise(per_gpu(s), per_gpu(b), noise_band(s, b)):
        return (
            f"They cost the same: {where(s)} gives {per_gpu(s):.0f} out tok/s per {dev} and {b['layout']} "
            f"{per_gpu(b):.0f}, {apart(s, b)}. Rent as many replicas as your total needs ({totals})."
        )
    head = f"Yes: {where(s)} gives {per_gpu(s):.0f} out tok/s per {dev} against {b['layout']}'s {per_gpu(b):.0f}; "
    if b[key] > s[key]:
        return head + f"rent {p.n_all} only for the total ({totals})."
    return head + f"and {b['layout']} gives no more in total either ({totals}): rent {s['gpus']}."


def all_devices_text(p: Picks, dev: str) -> str:
    b, n = p.best_all, p.n_all
    others = ", ".join(f"{m['layout']} {m['output_throughput']:,.0f}" for m in p.at_all if m is not b)
    by = f"{rate(b['capacity_request_rate'])} req/s under {p.cap_key}, " if p.cap_key else ""
    if len(p.tied_all) > 1:  # a tie is said as one, with the rule that broke it
        ties = " and ".join(f"{m['layout']}'s {rate(m['capacity_request_rate'])}" for m in p.tied_all if m is not b)
        by += (
            f"a tie with {ties} within the noise (+-{noise_band(*p.tied_all, key='capacity') * 100:.0f} %: the "
            f"search's resolution, at least {NOISE_FLOOR * 100:.0f} %; the smaller replica is the simpler rental), "
        )
    if p.speedup and p.speedup / n > ABOVE_LINEAR:  # an impossible figure is not a result: say why none is given
        gain = f" (no speedup quoted: this run's 1-{dev} baseline read low, see 'Read with care')"
    else:
        gain = (
            f", {p.speedup:.2f}x one {dev} ({p.speedup / n * 100:.0f}% efficiency) at {n}x the cost per hour"
            if p.speedup
            else ""
        )
    return (
        f"{b['layout']}: {by}{b['output_throughput']:,.0f} out tok/s offline"
        + gain
        + (f" (others on {n}: {others} out tok/s)" if others else "")
    )


def paste_paragraph(p: Picks, cap_best: dict, env: dict, where, costs: tuple, all_txt: str) -> str:
    dev, (c1, c2) = dev_of(env), costs
    box = (
        f"{len(env['gpus'])} x {env['gpus'][0]['name']}"
        if env["gpus"]
        else f"this CPU box ({env['cpu_count']} cores, one per rank)"
    )
    serve_txt = "".join(
        f"to serve requests within {k} run {where(m)}: it holds {rate(m['capacity_request_rate'])} req/s "
        f"({rate(m['capacity_request_rate_per_gpu'])} per {dev}"
        + (
            f", ${m['usd_per_1m_output_tokens_at_capacity']:.3f} per 1M output tokens at that load"
            if m.get("usd_per_1m_output_tokens_at_capacity") is not None
            else ""
        )
        + "); "
        for k, m in cap_best.items()
    )
    head = "Optimal multi-GPU configuration" if env["gpus"] else "Recommended layout on this CPU box"
    return (
        f"**{head} (paste into your notes):** "
        f"On {box}, {serve_txt}for batch throughput per dollar run {where(p.per_dollar)} "
        f"({per_gpu(p.per_dollar):.0f} out tok/s per {dev}"
        + (f", ${c1:.3f}/1M tokens" if c1 is not None else "")
        + f"); for the lowest per-request latency run {where(p.fastest)} "
        f"({p.fastest['batch1_decode_tokens_per_s']:.0f} tok/s for a single stream"
        + (f", ${c2:.3f}/1M tokens" if c2 is not None else "")
        + "). "
        + (f"To use all {p.n_all} {dev}s, run {all_txt}." if all_txt else "")
    )
