"""Capacity searches as a reader sees them: one line per probe while it runs, one table row per probe, a layout's
capacity per GPU and per dollar as table rows, the pick, and the plots."""
from __future__ import annotations

from pathlib import Path

from common.measure.noise import tied_with_best
from common.capacity.probe import Probe
from common.capacity.search import SearchSpec, slo_text
from common.traffic.load_profile import clock
from common.output.plotting import bar_plot, pareto_plot
from common.output.tables import num, rate


def printer(spec: SearchSpec, then=None, start: dict | None = None):
    """An on_probe callback (it gets the search's result so far) that passes the result on to `then`, then prints one
    line per finished probe (after a header that says where the first rate came from)."""
    print(f"  capacity search under {slo_text(spec.slo, spec.percentile, spec.term_class)}, first rate "
          f"{rate(spec.start_rate)} req/s" + (f" ({start['from']})" if start else ""), flush=True)

    def show(partial: dict):
        if then:  # first kept (e.g. checkpointed), then shown: a probe on screen is a probe on disk
            then(partial)
        row = probe_row(Probe.from_json(partial["probes"][-1]), spec.percentile)
        at = (f"{row['speed']} ({row['window']}, it brought {row['window brought req/s']} req/s)" if "speed" in row
              else f"{row['offered req/s']} req/s")
        print(
            f"  probe {len(partial['probes'])}: {at} -> {row['verdict']} (achieved "
            f"{row['achieved req/s']} req/s, judged/unfinished {row['judged/unfinished']}, {row['wall s']} s)",
            flush=True,
        )

    return show


def probe_row(p: Probe, percentile: float) -> dict:
    """One printed row per probe."""
    cut = bool(p.stopped_early)  # a stopped probe's rates cover part of its window: not shown as rates
    if speed := p.note.get("trace_speedup"):   # a trace: its speed-up, and what the replayed window brought
        tw = p.note.get("trace_window")
        head = {"speed": f"{speed:.3g}x",
                "window": f"{clock(tw['start_s'])}-{clock(tw['end_s'])}" if tw else "from the start",
                "window brought req/s": rate(p.note.get("window_rate", p.arrived_rate))}
    else:
        head = {"offered req/s": rate(p.offered_rate)}
    verdict = ("pass" if p.passed else f"undecided ({p.describe(percentile)})" if p.inconclusive
               else f"FAIL ({p.describe(percentile)})")
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


def probe_rows(cap: dict, percentile: float) -> list[dict]:
    """One printed row per probe of a written metrics.capacity, in the order run."""
    return [probe_row(Probe.from_json(p), percentile) for p in cap.get("probes", [])]


def out_of_reach(cap: dict | None) -> str | None:
    """When no rate passed: the sentence that says so with the unloaded latencies beside the targets (single requests
    may already miss them, e.g. long prompts on a CPU), and what to change. None when some rate passed."""
    if not cap or cap.get("request_rate") or not cap.get("probes") or cap.get("failed"):
        return None
    u, slo = cap.get("unloaded") or {}, cap.get("slo") or {}
    low = min(Probe.from_json(p).offered_rate for p in cap["probes"])
    ceiling = (cap.get("start") or {}).get("ceiling_rate")
    share = f" ({low / ceiling * 100:.0f}% of the saturation ceiling)" if ceiling else ""
    alone = ", ".join(f"{k.upper()} {u[f'{k}_ms']:.0f} ms against {slo[k]:g}" for k in ("ttft", "tpot")
                      if k in slo and u.get(f"{k}_ms") is not None)
    return (
        f"No rate passed, down to {low:.3g} req/s{share}"
        + (f"; one request at a time had a median {alone}" if alone else "")
        + ". The SLO is out of reach for this workload on this engine, queue or not: loosen it, cap the prompt "
        "length (--max-model-len) or measure a faster layout."
    )


def capacity_rows(ms: list[dict], dev: str = "GPU") -> list[dict]:
    """One row per layout with a capacity search: capacity, per device (`dev`: GPU or CPU rank), at what cost, what
    broke the next rate."""
    return [{"layout": m["layout"], f"{dev}s": m["gpus"], "capacity req/s": num(m.get("capacity_request_rate"), 2),
             f"req/s per {dev}": num(m.get("capacity_request_rate_per_gpu"), 2),
             "out tok/s at capacity": num(m.get("capacity_output_throughput"), 0),
             f"out tok/s per {dev}": num(m.get("capacity_output_throughput_per_gpu"), 0),
             "$/1M out tok at capacity": num(m.get("usd_per_1m_output_tokens_at_capacity"), 3),
             "next rate broke": ("search failed" if m["capacity"].get("failed") else m.get("capacity_bound_by") or "-"),
             "probes": len(m["capacity"].get("probes", []))} for m in ms if m.get("capacity")]


def best_capacity(ms: list[dict]) -> dict | None:
    """The layout with the most SLO capacity per GPU (per GPU-dollar: every layout rents the same GPU); among
    those tied with it (within the search's resolution, at least NOISE_FLOOR), the fewest GPUs."""
    ok = [m for m in ms if m.get("capacity_request_rate")]
    if not ok:
        return None
    per = lambda m: m["capacity_request_rate_per_gpu"]  # noqa: E731
    return min(tied_with_best(ok, per, key="capacity"), key=lambda m: (m["gpus"], -per(m)))


def capacity_plots(stem, ms: list[dict], capacity: dict, dev: str = "GPU", sub: str = "") -> list[Path]:
    """Capacity per layout (total and per device) as bars, and each layout's probes as a per-user-speed vs
    per-device-throughput curve; `sub` (the model, devices, workload) ends each title."""
    sub = f": {sub}" if sub else ""
    ms = [m for m in ms if m.get("capacity", {}).get("probes")]
    if not ms:
        return []
    labels = [m["layout"] for m in ms]  # the name says the count: 1 GPU, TP2, DP4, TP2xDP2
    out = [bar_plot(Path(f"{stem}_capacity.png"), labels,
                    {"capacity req/s": [m.get("capacity_request_rate") for m in ms],
                     f"capacity req/s per {dev}": [m.get("capacity_request_rate_per_gpu") for m in ms]},
                    f"Serving capacity per layout under {slo_text(capacity['slo'], capacity['percentile'])}{sub}",
                    "requests / s")]
    # each layout's probes that ran their whole window, in the order of the rate they offered (not the order run)
    curves, marks = {}, {}
    for m in ms:
        probes = [Probe.from_json(p) for p in m["capacity"]["probes"]]
        done = sorted((p for p in probes if p.ms(50, "tpot") and not p.stopped_early), key=lambda p: p.offered_rate)
        curves[m["layout"]] = [(p.output_throughput / m["gpus"], 1000 / p.ms(50, "tpot")) for p in done]
        at = [p for p in done if p.passed and p.offered_rate == m["capacity"].get("request_rate")]
        if at:
            marks[m["layout"]] = (at[-1].output_throughput / m["gpus"], 1000 / at[-1].ms(50, "tpot"))
    tpot = capacity["slo"].get("tpot")
    out.append(pareto_plot(Path(f"{stem}_pareto.png"), curves, 1000 / tpot if tpot else None,
                           f"Per-user speed vs per-{dev} throughput (capacity probes, by offered rate){sub}", dev,
                           marks=marks))
    return out
