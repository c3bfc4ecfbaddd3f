"""Capacity searches as a reader sees them: one line per probe while it runs, one table row per probe, a layout's
capacity per GPU and per dollar as table rows, the pick, and the plots."""

from __future__ import annotations

import math
from pathlib import Path

from common.capacity.probe import Probe
from common.capacity.result import CapacityResult
from common.capacity.search import SearchSpec, slo_text
from common.measure.noise import tied_with_best
from common.output.plotting import bar_plot, pareto_plot, pyplot, readable_log_axis, save, subtitled
from common.output.tables import num, print_table, rate
from common.runtime import hardware
from common.traffic.load_profile import clock, heaviest_rows


def printer(spec: SearchSpec, then=None, start: dict | None = None):
    """An on_probe callback (it gets the search's result so far) that passes the result on to `then`, then prints one
    line per finished probe (after a header that says where the first rate came from)."""
    print(
        f"  capacity search under {slo_text(spec.slo, spec.percentile, spec.term_class)}, first rate "
        f"{rate(spec.start_rate)} req/s" + (f" ({start['from']})" if start else ""),
        flush=True,
    )

    def show(partial: CapacityResult):
        if then:  # first kept (e.g. checkpointed), then shown: a probe on screen is a probe on disk
            then(partial)
        row = probe_row(partial.probes[-1], spec.percentile)
        at = (
            f"{row['speed']} ({row['window']}, it brought {row['window brought req/s']} req/s)"
            if "speed" in row
            else f"{row['offered req/s']} req/s"
        )
        print(
            f"  probe {len(partial.probes)}: {at} -> {row['verdict']} (achieved "
            f"{row['achieved req/s']} req/s, judged/unfinished {row['judged/unfinished']}, {row['wall s']} s)",
            flush=True,
        )

    return show


def probe_row(p: Probe, percentile: float) -> dict:
    """One printed row per probe."""
    cut = bool(p.stopped_early)  # a stopped probe's rates cover part of its window: not shown as rates
    if speed := p.note.get("trace_speedup"):  # a trace: its speed-up, and what the replayed window brought
        tw = p.note.get("trace_window")
        head = {
            "speed": f"{speed:.3g}x",
            "window": f"{clock(tw['start_s'])}-{clock(tw['end_s'])}" if tw else "from the start",
            "window brought req/s": rate(p.note.get("window_rate", p.arrived_rate)),
        }
    else:
        head = {"offered req/s": rate(p.offered_rate)}
    verdict = (
        "pass"
        if p.passed
        else f"undecided ({p.describe(percentile)})"
        if p.inconclusive
        else f"FAIL ({p.describe(percentile)})"
    )
    return {
        **head,
        "achieved req/s": "-" if cut else rate(p.achieved_rate),
        "out tok/s": "-" if cut else num(p.output_throughput, 0),
        f"p{percentile:g} TTFT ms": num(p.ms(percentile, "ttft"), 0),
        f"p{percentile:g} TPOT ms": num(p.ms(percentile, "tpot"), 1),
        "judged/unfinished": f"{p.judged_requests}/{p.unfinished}",
        "wall s": num(p.wall_s, 0),
        "verdict": verdict,
    }


def probe_rows(cap: CapacityResult | None, percentile: float) -> list[dict]:
    """One printed row per probe of a search, in the order run."""
    return [probe_row(p, percentile) for p in (cap.probes if cap else [])]


def out_of_reach(cap: CapacityResult | None) -> str | None:
    """When no rate passed: the sentence that says so with the unloaded latencies beside the targets (single requests
    may already miss them, e.g. long prompts on a CPU), and what to change. None when some rate passed."""
    if not cap or cap.request_rate or not cap.probes or cap.failed:
        return None
    u, slo = cap.unloaded or {}, cap.slo
    low = min(p.offered_rate for p in cap.probes)
    ceiling = (cap.start or {}).get("ceiling_rate")
    share = f" ({low / ceiling * 100:.0f}% of the saturation ceiling)" if ceiling else ""
    alone = ", ".join(
        f"{k.upper()} {u[f'{k}_ms']:.0f} ms against {slo[k]:g}"
        for k in ("ttft", "tpot")
        if k in slo and u.get(f"{k}_ms") is not None
    )
    return (
        f"No rate passed, down to {low:.3g} req/s{share}"
        + (f"; one request at a time had a median {alone}" if alone else "")
        + ". The SLO is out of reach for this workload on this engine, queue or not: loosen it, cap the prompt "
        "length (--max-model-len) or measure a faster layout."
    )


def capacity_rows(ms: list[dict], dev: str = "GPU") -> list[dict]:
    """One row per layout with a capacity search: capacity, per device (`dev`: GPU or CPU rank), at what cost, what
    broke the next rate."""
    return [
        {
            "layout": m["layout"],
            f"{dev}s": m["gpus"],
            "capacity req/s": num(m.get("capacity_request_rate"), 2),
            f"req/s per {dev}": num(m.get("capacity_request_rate_per_gpu"), 2),
            "out tok/s at capacity": num(m.get("capacity_output_throughput"), 0),
            f"out tok/s per {dev}": num(m.get("capacity_output_throughput_per_gpu"), 0),
            "$/1M out tok at capacity": num(m.get("usd_per_1m_output_tokens_at_capacity"), 3),
            "what stopped it": m["capacity"].stopped_by(),
            "probes": len(m["capacity"].probes),
        }
        for m in ms
        if m.get("capacity")
    ]


def best_capacity(ms: list[dict]) -> dict | None:
    """The layout with the most SLO capacity per GPU (per GPU-dollar: every layout rents the same GPU); among
    those tied with it (within the search's resolution, at least NOISE_FLOOR), the fewest GPUs."""
    ok = [m for m in ms if m.get("capacity_request_rate")]
    if not ok:
        return None
    per = lambda m: m["capacity_request_rate_per_gpu"]  # noqa: E731
    return min(tied_with_best(ok, per, key="capacity"), key=lambda m: (m["gpus"], -per(m)))


def capacity_plots(stem, ms: list[dict], slo: dict, percentile: float, dev: str = "GPU", sub: str = "") -> list[Path]:
    """Capacity per layout (total and per device) as bars, and each layout's probes as a per-user-speed vs
    per-device-throughput curve; `sub` (the model, devices, workload) ends each title."""
    sub = f": {sub}" if sub else ""
    ms = [m for m in ms if m.get("capacity") and m["capacity"].probes]
    if not ms:
        return []
    labels = [m["layout"] for m in ms]  # the name says the count: 1 GPU, TP2, DP4, TP2xDP2
    bars = {"capacity req/s": [m.get("capacity_request_rate") for m in ms]}
    if any(m["gpus"] > 1 for m in ms):  # per device differs from the total only where a layout has several
        bars[f"capacity req/s per {dev}"] = [m.get("capacity_request_rate_per_gpu") for m in ms]
    title = f"Serving capacity per layout under {slo_text(slo, percentile)}{sub}"
    # one layout is one bar: no chart (the Pareto below shows its probes)
    out = [bar_plot(Path(f"{stem}_capacity.png"), labels, bars, title, "requests / s")] if len(ms) > 1 else []
    # each layout's probes that ran their whole window, in the order of the rate they offered (not the order run)
    curves, marks, failed, sweeps = {}, {}, {}, {}
    for m in ms:
        probes = m["capacity"].probes
        done = sorted((p for p in probes if p.ms(50, "tpot") and not p.stopped_early), key=lambda p: p.offered_rate)
        # output tok/s per device at the rate each probe offered (a trace's: what its window delivered), as the table
        point = {id(p): m["capacity"].throughput_of(p) / m["gpus"] for p in done}
        speed = {id(p): 1000 / (p.ms(50, "tpot") or math.inf) for p in done}  # tok/s one user sees
        curves[m["layout"]] = [(point[id(p)], speed[id(p)]) for p in done]
        at = [p for p in done if p.passed and p.offered_rate == m["capacity"].request_rate]
        if at:
            marks[m["layout"]] = (point[id(at[-1])], speed[id(at[-1])])
        missed = [p for p in done if not p.passed]
        why = ", ".join(sorted({p.bound_words(m["capacity"].percentile) for p in missed}))
        failed[m["layout"]] = ([(point[id(p)], speed[id(p)]) for p in missed], why)
        if levels := [s for s in m.get("sweep") or [] if s.get("median_tpot_ms")]:
            span = f"sweep, {levels[0]['concurrency']}-{levels[-1]['concurrency']} clients"
            sweeps[m["layout"]] = (
                [(s["output_throughput"] / m["gpus"], 1000 / s["median_tpot_ms"]) for s in levels],
                span,
            )
    tpot = slo.get("tpot")
    out.append(
        pareto_plot(
            Path(f"{stem}_pareto.png"),
            curves,
            1000 / tpot if tpot else None,
            f"Per-user speed vs per-{dev} throughput (capacity probes by offered rate; a load sweep dotted){sub}",
            dev,
            marks=marks,
            failed=failed,
            sweeps=sweeps,
        )
    )
    return out


def capacity_plot(path: Path, cap: CapacityResult, sub: str = "") -> Path:
    """One capacity search: each probe's percentile latencies against the offered rate - on a trace, the speed-up -
    (SLO targets dashed) and what arrived in the judged window against what completed (the engine keeps up on the
    diagonal); the capacity found is marked. Probes stopped early are drawn as stopped, not as a 0 rate."""
    plt = pyplot()
    probes = list(cap.probes)
    trace = any(p.note.get("trace_speedup") for p in probes)
    x_of = (lambda p: p.note["trace_speedup"]) if trace else (lambda p: p.offered_rate)  # noqa: E731
    probes.sort(key=x_of)
    xl = "speed-up of the trace (x its recorded rate)" if trace else "offered request rate (req/s)"
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    _latency_panel(ax1, probes, x_of, cap, xl)
    _keep_up_panel(ax2, probes, x_of, trace, xl)
    found = cap.trace_speedup if trace else cap.request_rate
    for ax in (ax1, ax2):
        if found:
            ax.axvline(
                found,
                color="green",
                linewidth=2,
                alpha=0.6,
                label=f"capacity {found:.3g}x" if trace else f"capacity {found:.3g} req/s",
            )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save(subtitled(fig, sub), path)


def _latency_panel(ax1, probes: list[Probe], x_of, cap: CapacityResult, xl: str) -> None:
    """Each probe's percentile latencies against its rate, the SLO's targets dashed, failed probes in red."""
    q = f"p{cap.percentile:g}"
    xs = [x_of(p) for p in probes]
    for i, term in enumerate(t for t in ("ttft", "tpot", "e2el") if t in cap.slo or t != "e2el"):
        ys = [p.ms(cap.percentile, term) for p in probes]
        color = f"C{i}"
        ax1.plot(
            [x for x, y in zip(xs, ys, strict=True) if y is not None],
            [y for y in ys if y is not None],
            marker="o",
            color=color,
            label=f"{q} {term.upper()}",
        )
        if term in cap.slo:
            ax1.axhline(cap.slo[term], color=color, linestyle="--", alpha=0.7, label=f"SLO {term.upper()}")
    failed = [x_of(p) for p in probes if not p.passed and not p.inconclusive]
    for x in failed:
        ax1.axvline(x, color="red", alpha=0.12)
    ax1.set_yscale("log")
    readable_log_axis(ax1, ax1.yaxis)
    ax1.set(
        title="Latency per probe" + (" (red: failed probes)" if failed else " (every probe passed)"),
        xlabel=xl,
        ylabel="ms",
    )


def _keep_up_panel(ax2, probes: list[Probe], x_of, trace: bool, xl: str) -> None:
    """What arrived in the judged window against what completed; probes stopped early marked, not drawn as 0."""
    full = [p for p in probes if not p.stopped_early]  # a stopped probe's rates cover part of its window
    ax2.plot(
        [x_of(p) for p in full],
        [p.arrived_rate for p in full],
        linestyle="--",
        color="grey",
        marker=".",
        label="arrived in the judged window" if trace else "arrived (offered)",
    )
    ax2.plot([x_of(p) for p in full], [p.achieved_rate for p in full], marker="o", label="achieved (completions/s)")
    for x in [x_of(p) for p in probes if p.stopped_early]:
        ax2.axvline(x, color="red", linestyle=":", alpha=0.5)
    if any(p.stopped_early for p in probes):
        ax2.plot([], [], color="red", linestyle=":", label="stopped early: surely over the SLO")
    ax2.set(title="Does the engine keep up?", xlabel=xl, ylabel="req/s")


def load_timeline_plot(path: Path, cap: CapacityResult, sub: str = "") -> Path:
    """A trace stretch's load per window at 1x: req/s (left) and prompt / output tokens per second (right) over trace
    time, the windows the probes judged shaded, the one that decided the capacity darker."""
    plt = pyplot()
    prof = cap.profile
    assert prof is not None  # (search_plots draws it only for a search judged on its heaviest window)
    ws = prof["windows"]
    mid = [(w["start_s"] + w["end_s"]) / 2 / 60 for w in ws]
    length = [max(w["end_s"] - w["start_s"], 1e-9) for w in ws]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.step(mid, [w["requests"] / n for w, n in zip(ws, length, strict=True)], where="mid", color="C0", label="req/s")
    ax.set(xlabel="trace time (minutes from its first request)", ylabel="requests / s (as recorded)")
    ax2 = ax.twinx()
    for key, color, label in (("prompt_tokens", "C1", "prompt tok/s"), ("output_tokens", "C2", "output tok/s")):
        rates = [w[key] / n for w, n in zip(ws, length, strict=True)]
        ax2.step(mid, rates, where="mid", color=color, alpha=0.8, label=label)
    ax2.set_ylabel("tokens / s (as recorded)")
    seen = set()
    for p in cap.probes:
        tw = p.note.get("trace_window")
        if tw and (tw["start_s"], tw["end_s"]) not in seen:
            seen.add((tw["start_s"], tw["end_s"]))
            ax.axvspan(tw["start_s"] / 60, tw["end_s"] / 60, color="grey", alpha=0.15)
    bw = cap.binding_window
    if bw:
        ax.axvspan(
            bw["start_s"] / 60,
            bw["end_s"] / 60,
            color="red",
            alpha=0.2,
            label=f"window that decided the capacity ({cap.trace_speedup or 0:.3g}x)",
        )
    lines = ax.get_legend_handles_labels()
    more = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    ax.set_title(f"Load of the stretch per {prof['window_s']:g} s window (shaded: windows the probes replayed)")
    return save(subtitled(fig, sub), path)


def validation_plot(path: Path, cap: CapacityResult, sub: str = "") -> Path:
    """The validation replay: each window's percentile TTFT and TPOT against the SLO, on their own axes; missed
    windows marked."""
    plt = pyplot()
    v, q = cap.validation or {}, f"p{cap.percentile:g}"
    ws = v["windows"]
    x = [(w["start_s"] + w["end_s"]) / 2 / 60 for w in ws]
    fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for ax, term, color in zip(axes, ("ttft", "tpot"), ("C0", "C1"), strict=True):
        ys = [w.get(f"{q}_{term}_ms") for w in ws]
        top = max([y for y in ys if y is not None] + [cap.slo.get(term, 0)]) * 1.3 or 1.0
        ax.plot(x, [y if y is not None else top for y in ys], marker="o", color=color, label=f"{q} {term.upper()}")
        if term in cap.slo:
            ax.axhline(cap.slo[term], color=color, linestyle="--", label=f"SLO {cap.slo[term]:g} ms")
        bad = [xi for xi, w in zip(x, ws, strict=True) if not w["pass"]]
        for xi in bad:
            ax.axvline(xi, color="red", alpha=0.2)
        ax.set(ylabel=f"{term.upper()} ms")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[-1].set_xlabel("trace time (minutes from its first request)")
    axes[0].set_title(
        f"Validation replay at {v['speed']:.3g}x, per {v['window_s']:g} s window: "
        + ("every window met the SLO" if v["pass"] else f"{len(v['missed'])} window(s) missed (red)")
    )
    return save(subtitled(fig, sub), path)


# --------------------------------------------------------------------------- one search's takeaways and tables
def search_title(cap: CapacityResult | None) -> str:
    return (
        f"Capacity search (one row per probe, in the order run; {len(cap.probes) if cap else 0} probes in "
        f"{((cap.search_s or 0) if cap else 0) / 60:.1f} min)"
    )


def search_lines(cap: CapacityResult | None, percentile: float, traffic: str) -> list[str]:
    """The takeaway lines under one search's table, rendered from its figures (common.capacity.session.summarized):
    the verdict, what the rate means, the day's fleet, validation, reach, the prefix cache and the cross-check.
    `traffic` names what was replayed ("this shape (...)")."""
    if cap is None:
        return ["Takeaway: the search did not run."]
    if cap.failed and cap.probes:
        lines = [
            f"Takeaway: the search stopped early ({cap.failed}); {len(cap.probes)} probe(s) finished and are "
            f"kept: {cap.verdict}."
        ]
    else:
        lines = [f"Takeaway: {cap.verdict}."]
    if cap.found and cap.binding_window and cap.profile:
        lines.append(
            f"Judged where this stretch is hardest: a probe replays its heaviest window by estimated work "
            f"({(cap.profile['cost_model']['decode_cost']):g} x output + prompt tokens), warmed up by the "
            "trace before it. The capacity is this stretch's, for this traffic's mix; --validate replays the "
            "whole stretch at that speed to check every window."
        )
        lines += fleet_lines(cap.fleet_at_recorded_rate)
    elif cap.found:
        lines.append(
            f"A server like this one takes up to {cap.request_rate:.3g} requests per second of {traffic} "
            f"before p{percentile:g} latency breaks the SLO; size the fleet from this rate, not from the offline "
            "batch throughput (run_distributed_benchmark.py --target-rate plans the replicas)."
        )
    if cap.validation:
        lines.append(f"Validation replay: {cap.validation['verdict']}.")
    if reach := out_of_reach(cap):
        lines.append(reach)
    if cap.prefix_cache_hit_rate:  # (none to find without shared prompt blocks: said only when some hit)
        lines.append(
            f"The engine's prefix cache found {cap.prefix_cache_hit_rate * 100:.0f}% of the prompt tokens "
            "it looked up over the search (requests sharing a trace's hash ids share prompt blocks)."
        )
    return lines + bench_lines(cap.vllm_bench_at_capacity, percentile)


def fleet_lines(f: dict | None) -> list[str]:
    """metrics.capacity.fleet_at_recorded_rate as a sentence: the stretch as recorded, served by such replicas."""
    if not f:
        return []
    return [
        f"At the recorded rate this stretch needs {f['static_replicas']} such replica(s) at its peak: "
        f"{f['static_gpu_hours_per_day']:.1f} {hardware.unit()}-hours a day static, "
        f"{f['autoscaled_gpu_hours_per_day']:.1f} autoscaled per {f['step_s']:g} s step, if every day repeated this "
        "stretch (not measured); for more traffic: run_distributed_benchmark.py --from-results DIR --growth G."
    ]


def bench_lines(vb: dict | None, pct: float) -> list[str]:
    """The `vllm bench serve` cross-check at the capacity found, as sentences."""
    if not vb:
        return []
    if "ours_vs_vllm_bench" not in vb:
        return [f"vllm bench serve at capacity failed: {vb.get('error', '')[-200:]}"]
    r = vb["ours_vs_vllm_bench"]
    tw = vb.get("trace_window")
    what = (
        f"on the window that decided ({clock(tw['start_s'])}-{clock(tw['end_s'])} of the trace, with its warm-up) "
        f"at {vb['trace_speedup']:.3g}x"
        if tw
        else f"at {vb['request_rate']:.3g} req/s"
    )
    lines = [
        f"vllm bench serve {what} ({vb['num_prompts']} requests): ours / theirs "
        f"p{pct:g} TTFT {num(r['p99_ttft_ms'], 3)}, p{pct:g} TPOT {num(r['p99_tpot_ms'], 3)}, "
        f"output throughput {num(r['output_throughput'], 3)}."
    ]
    if "vllm_bench_meets_slo" in vb:
        seen = ", ".join(f"p99 {t.upper()} {v:.0f} ms" for t, v in vb["vllm_bench_p99_ms"].items())
        lines.append(
            f"By its own p99s ({seen}) vllm bench serve "
            + (
                "agrees: the SLO holds at this rate."
                if vb["vllm_bench_meets_slo"]
                else "does NOT see the SLO met at this rate: read the capacity as an upper bound."
            )
        )
        if tw:
            lines[-1] += " (Its p99 is over every request it sent, the warm-up's too; ours over the window's.)"
    return lines


def trace_tables(cap: CapacityResult | None) -> None:
    """A trace's heaviest windows at the speed found, and the validation replay window by window."""
    if cap is None:
        return
    if cap.profile and cap.trace_speedup:
        print_table(
            heaviest_rows(cap.profile, cap.trace_speedup),
            f"Windows ranked by work ({cap.profile['cost_model']['decode_cost']:g} x output + prompt tokens "
            "per second, assumed); engine load: that work as a share of the saturation probe's.",
            title=f"The stretch's heaviest windows, at the {cap.trace_speedup:.3g}x found",
        )
    v = cap.validation
    if v and v.get("windows"):
        q = f"p{cap.percentile:g}"
        print_table(
            [
                {
                    "window (trace time)": f"{clock(w['start_s'])}-{clock(w['end_s'])}",
                    "requests": w["requests"],
                    f"{q} TTFT ms": num(w.get(f"{q}_ttft_ms"), 0),
                    f"{q} TPOT ms": num(w.get(f"{q}_tpot_ms"), 1),
                    "SLO": "too few to judge" if w.get("thin") else "met" if w["pass"] else "MISSED",
                }
                for w in v["windows"]
            ],
            f"Validation: {v['verdict']}.",
            title=f"Validation replay at {v['speed']:.3g}x, window by window",
        )


def search_plots(path: Path, cap: CapacityResult, sub: str) -> list[str]:
    """One search's plots beside its result file: probes, the trace's load over time, the validation replay."""
    out = [capacity_plot(path.with_name(path.stem + "_capacity.png"), cap, sub)] if cap.probes else []
    if cap.profile:
        out.append(load_timeline_plot(path.with_name(path.stem + "_load.png"), cap, sub))
    if (cap.validation or {}).get("windows"):
        out.append(validation_plot(path.with_name(path.stem + "_validation.png"), cap, sub))
    return [str(p) for p in out]
