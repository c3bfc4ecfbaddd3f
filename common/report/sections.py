"""The report's sections, each rendered from the gathered findings as markdown lines."""

from __future__ import annotations

from pathlib import Path

from common.capacity.display import best_capacity, capacity_rows
from common.capacity.search import slo_text
from common.capacity.stats import KEEP_UP_SHARE
from common.measure.metrics import derive_capacity, speedup, tp_overhead_share
from common.measure.noise import above_linear_note, spread_note
from common.output.results import Status, run_stamp, strip_ansi
from common.report.gather import Findings, dev_of

COURSE_TABLE = {1: (450, 1.0, 1.00), 2: (800, 1.8, 0.90), 4: (1400, 3.1, 0.78)}  # course text, Qwen2.5-7B


def mean_lengths(windows: list[dict]) -> tuple[float, float]:
    """(mean prompt tokens, mean output tokens) per request over a trace's windows."""
    n = sum(w["requests"] for w in windows) or 1
    return sum(w["prompt_tokens"] for w in windows) / n, sum(w["output_tokens"] for w in windows) / n


def shapes_section(f: Findings) -> list[str]:
    """Capacities on a synthetic shape (Poisson arrivals, fixed lengths) in the same folder, beside each trace
    stretch's and deciding window's own mean lengths: what a steady stream of the same mean request holds."""
    shapes = [
        d
        for d in f.docs
        if d["experiment"] == "concurrent_requests"
        and d["status"] == Status.OK
        and d["metrics"].get("capacity")
        and d["metrics"]["capacity"].request_rate
        and (d["config"].get("workload") or {}).get("source") == "random"
    ]
    if not shapes:
        return []
    L = [
        "## Beside them: a synthetic shape (Poisson arrivals, every request the same length)",
        "",
        "| workload | layout | SLO | capacity req/s | out tok/s at capacity | file |",
        "|---|---|---|---|---|---|",
    ]
    for t in f.trace_caps:
        cap = t["cap"]
        pin, pout = mean_lengths(cap.profile["windows"])
        bw = next((w for w in cap.profile["heaviest"] if w["start_s"] == cap.binding_window["start_s"]), None)
        win = (" (its deciding window: %.0f in / %.0f out)" % mean_lengths([bw])) if bw else ""
        L.append(
            f"| {Path(t['workload'].get('path', 'trace')).name}: {pin:.0f} in / {pout:.0f} out tokens on average"
            f"{win}, its own arrivals | {t['layout']} | {slo_text(cap.slo, cap.percentile)} | "
            f"{cap.request_rate:.3g} mean ({cap.binding_window_rate or 0:.3g} in the deciding window) | "
            f"{cap.output_throughput:.0f} | `{Path(t['doc']['_path']).name}` |"
        )
    for d in sorted(shapes, key=lambda d: d["created"]):
        c, cfg = d["metrics"]["capacity"], d["config"]
        gpus = int(cfg["engine"].get("tensor_parallel_size") or 1)
        L.append(
            f"| random: {cfg['input_len']} in / {cfg['output_len']} out tokens, Poisson arrivals | "
            f"{f'TP{gpus}' if gpus > 1 else '1 ' + dev_of(d['environment'])} | {slo_text(c.slo, c.percentile)} "
            f"| {c.request_rate:.3g} | {c.output_throughput:.0f} | `{Path(d['_path']).name}` |"
        )
    return L + [
        "",
        "A synthetic shape at a trace's mean lengths is not the trace: the trace's bursts, its spread of "
        "lengths and its shared prefixes are what the capacity above was judged on. Compare the two before "
        "sizing from a synthetic benchmark.",
        "",
    ]


def header_section(f: Findings, out_dir: Path, env: dict) -> list[str]:
    L = [
        "# Multi-GPU scaling report",
        "",
        f"Model: `{f.first['config']['engine']['model']}`  ",
        f"Workload: {f.workload}  ",
        f"{f.sources}  ",
        f"Generated from {len(f.docs)} result files in `{out_dir}`"
        + (f" ({len(f.skipped)} skipped)" if f.skipped else "")
        + "."
        + (
            f" Every table below is of this one workload; the folder's {len(f.others)} other workload(s) are "
            "listed at the end, not compared."
            if f.others
            else ""
        ),
        "",
        "## Environment",
        "",
        f"- GPUs: {', '.join(g['name'] for g in env['gpus']) or 'none (CPU: ' + str(env['cpu_count']) + ' cores)'}",
        f"- driver {env['driver']}, CUDA {env['cuda']}, torch {env['torch']}, vLLM {env['vllm']}, "
        f"git {str(env['git_sha'])[:10]}",
        f"- host CPU: {env.get('cpu_model') or 'not recorded'}, {env['cpu_count']} cores",
        "",
    ]
    if env.get("interconnect"):
        L += ["```", strip_ansi(env["interconnect"]).strip(), "```", ""]
    return L


def course_section(f: Findings) -> list[str]:
    dev = dev_of(f.first["environment"])
    if not f.main_rows:
        return [
            "## Scaling (course table)",
            "",
            f"No run of this workload measured TP against a 1-{dev} baseline: "
            "no course table (run benchmark_scaling.py with --gpus 1,... or the suite).",
            "",
        ]
    L = [
        "## Scaling (course table)",
        "",
        f"| {dev}s | Throughput (out tok/s) | Speedup | Efficiency | course: throughput | course: speedup "
        "| course: efficiency |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in f.main_rows:
        sp, eff = speedup(m, f.base)
        c = COURSE_TABLE.get(m["gpus"])
        L.append(
            f"| {m['gpus']} | {m['output_throughput']:.0f} | "
            + (f"{sp:.2f}x | {eff * 100:.0f}%" if sp and eff is not None else "- | -")
            + (f" | {c[0]} tok/s | {c[1]:.1f}x | {c[2] * 100:.0f}% |" if c else " | - | - | - |")
        )
    return L + [
        "",
        "The course's numbers are for an unnamed GPU and batch size; ours are measured on the machine above "
        f"with {f.first['config'].get('num_prompts')} prompts sent at once. Absolute throughput depends on "
        "the GPU and batch size; compare speedup and efficiency.",
        "",
    ]


def latency_section(f: Findings, dev: str) -> list[str]:
    L = [
        f"## Latency and memory vs {dev}s",
        "",
        f"| {dev}s | batch-1 decode tok/s | batch-1 TPOT ms | TTFT p50 ms | TPOT p50 ms | E2E p99 ms "
        f"| memory per {dev} (peak) |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in f.main_rows:
        mem = m.get("memory_peak_mib") or {}
        L.append(
            f"| {m['gpus']} | {m['batch1_decode_tokens_per_s']:.1f} | {m['batch1_tpot_ms']:.2f} | "
            f"{m['median_ttft_ms']:.1f} | {m['median_tpot_ms']:.2f} | {m['p99_e2el_ms']:.1f} | "
            + (", ".join(f"{k} {v / 1024:.1f} GiB" for k, v in mem.items()) or "-")
            + " |"
        )
    if f.tp_docs:
        L += [
            "",
            "TP memory check (test_tensor_parallel.py): "
            + "; ".join(
                f"TP={d['metrics']['tp']} balance {d['metrics']['memory_balance'] * 100:.1f}%"
                if d["metrics"].get("memory_balance") is not None
                else f"TP={d['metrics']['tp']} single rank"
                for d in sorted(f.tp_docs, key=lambda d: d["metrics"]["tp"])
            ),
        ]
    return L


def sweep_section(f: Findings) -> list[str]:
    if not (f.suite and any(m.get("sweep") for m in f.main_rows)):
        return []
    levels = f.main_rows[0]["sweep"]
    return [
        "",
        "### Serving sweep (output tok/s at each concurrency)",
        "",
        f"| {dev_of(f.first['environment'])}s | " + " | ".join(f"conc {s['concurrency']}" for s in levels) + " |",
        "|---|" + "---|" * len(levels),
    ] + [
        f"| {m['gpus']} | " + " | ".join(f"{s['output_throughput']:.0f}" for s in m["sweep"]) + " |"
        for m in f.main_rows
    ]


def mixed_section(f: Findings) -> list[str]:
    if not (f.suite and any(m.get("mixed") for m in f.main_rows)):
        return []
    L = [
        "",
        "### Mixed long/short workload (default scheduler budget)",
        "",
        f"| {dev_of(f.first['environment'])}s | short TTFT p99 ms | alone p99 ms | inflation | HOL blocked "
        "| long TTFT p50 ms |",
        "|---|---|---|---|---|---|",
    ]
    for m in f.main_rows:
        x = m["mixed"]
        L.append(
            f"| {m['gpus']} | {x['short_p99_ttft_ms']:.1f} | {x['short_alone_p99_ttft_ms']:.1f} | "
            f"{x['short_ttft_inflation_p99']:.2f}x | {x['hol_blocked_share'] * 100:.0f}% | "
            f"{x['long_median_ttft_ms']:.1f} |"
        )
    return L


def layouts_section(f: Findings, env: dict) -> list[str]:
    if not f.layouts:
        return []
    many, dev, gpu = len(f.runs) > 1, dev_of(env), bool(env["gpus"])
    L = ["", "## Layouts (benchmark_scaling.py)", ""]
    if many:
        L += [
            f"{len(f.runs)} runs in this folder ({', '.join(sorted(f.runs))}); each layout's speedup is against the "
            "1-GPU baseline of its own run.",
            "",
        ]
    L += [
        ("| run " if many else "")
        + f"| layout | {dev}s | out tok/s | speedup (efficiency) | tok/s per {dev} | batch-1 tok/s | "
        + ("batch-1 step vs HBM roofline | " if gpu else "")
        + "measured TP overhead of a step | modelled comm share of a step |",
        "|---" * (8 + gpu + many) + "|",
    ]
    for stamp in sorted(f.runs):
        base_l = next((d["metrics"] for d in f.runs[stamp] if d["metrics"]["gpus"] == 1), None)
        L += [(f"| {stamp} " if many else "") + layout_line(d["metrics"], base_l, gpu) for d in f.runs[stamp]]
    for stamp in sorted(f.runs):
        ms = [d["metrics"] for d in f.runs[stamp]]
        L += [
            x
            for note in (above_linear_note(ms, dev), spread_note(ms))
            if note
            for x in ("", (f"Run {stamp}: " if many else "") + note)
        ]
    if not gpu:
        return L + [
            "",
            "The measured TP overhead is the part of a TP=N batch-1 step beyond an ideal 1/N split of the "
            "1-rank step (all-reduces plus per-step costs that do not shrink with N). The comm share models 2 "
            "all-reduces per layer at the latency of the gloo all-reduce measured between CPU processes by the "
            "micro-benchmark; above 100 % that model exceeds the measured step, so read it as 'communication "
            "dominates', not as a share.",
        ]
    return L + [
        "",
        "Roofline: a batch-1 decode step must stream every weight byte of a GPU once (weights per GPU / HBM "
        "bandwidth); the column is that time as a share of the measured step. The measured TP overhead is the "
        "part of a TP=N batch-1 step beyond an ideal 1/N split of the 1-GPU step (all-reduces plus per-step costs "
        "that do not shrink with N). The comm share models 2 all-reduces "
        "per layer at the latency of the eager NCCL all-reduce measured by the micro-benchmark - an upper bound, "
        "since vLLM's own custom all-reduce inside CUDA graphs is faster.",
    ]


def layout_line(m: dict, base_l: dict | None, gpu: bool = True) -> str:
    sp, eff = speedup(m, base_l)
    pct = lambda v: f"{v * 100:.0f}%" if v is not None else "-"  # noqa: E731
    comm = m.get("comm_share_of_step")
    roof = m.get("decode_pct_of_hbm_roofline")
    return (
        f"| {m['layout']} | {m['gpus']} | {m['output_throughput']:.0f} | "
        + (f"{sp:.2f}x ({eff * 100:.0f}%)" if sp and eff is not None else "-")
        + " | "
        f"{m['output_throughput'] / m['gpus']:.0f} | {m['batch1_decode_tokens_per_s']:.1f} | "
        + (("-" if roof is None else f"{roof:.0f}%") + " | " if gpu else "")
        + f"{pct(tp_overhead_share(m, base_l))} | {'>100%' if comm and comm > 1 else pct(comm)} |"
    )


def others_section(f: Findings) -> list[str]:
    """The folder's other workloads: named, never mixed into the tables above; how to report on one of them."""
    if not f.others:
        return []
    L = [
        "",
        "## Other workloads in this folder (not compared above)",
        "",
        "| workload | results | newest | best offline out tok/s | best capacity req/s |",
        "|---|---|---|---|---|",
    ]
    for label, docs in sorted(f.others.items()):
        caps = [d["metrics"]["capacity"].request_rate if d["metrics"].get("capacity") else None for d in docs]
        L.append(
            f"| {label} | {len(docs)} | {max(run_stamp(d) for d in docs)} | "
            f"{max(d['metrics'].get('output_throughput') or 0 for d in docs):,.0f} | "
            + (f"{max(c for c in caps if c):.3g}" if any(caps) else "-")
            + " |"
        )
    return L + ["", "Report on one of them with `--workload TEXT` (any part of its label, e.g. its token counts)."]


def capacity_section(ms: list[dict], price, price_src, dev: str) -> tuple[list[str], dict]:
    """'Serving capacity under the SLO': every measured layout with a capacity search, grouped by SLO; and per
    SLO the layout with the most capacity per GPU-dollar ({slo text: metrics})."""
    groups: dict[str, list[dict]] = {}
    for m in ms:
        derive_capacity(m, price)  # at the report's price (--gpu-hour-usd or the GPU's table price)
        if m.get("capacity") and m["capacity"].slo:
            groups.setdefault(slo_text(m["capacity"].slo, m["capacity"].percentile), []).append(m)
    if not groups:
        return [], {}
    L = [
        "",
        "## Serving capacity under the SLO",
        "",
        "Capacity: the highest request rate (Poisson arrivals, or the trace sped up) at which the SLO still held "
        "(bracket from a saturation probe, then bisection; a probe also fails when its backlog of unfinished requests "
        f"grows by more than {KEEP_UP_SHARE * 100:g} % of its arrivals beyond Poisson noise). "
        "Offline throughput says what a layout does with "
        "a full queue; capacity says how much live traffic it takes before users notice."
        + (f" Cost at ${price:.2f} per {dev}-hour ({price_src})." if price else ""),
    ]
    best = {}
    cols = (
        "layout",
        f"{dev}s",
        "capacity req/s",
        f"req/s per {dev}",
        "out tok/s at capacity",
        "$/1M out tok at capacity",
        "what stopped it",
        "probes",
    )
    for key, group in groups.items():
        L += [
            "",
            f"**{key}**",
            "",
            "| " + " | ".join(cols) + " |",  # the headers are the rows' own keys, typed once (capacity_rows)
            "|---" * len(cols) + "|",
        ]
        L += ["| " + " | ".join(str(r[k]) for k in cols) + " |" for r in capacity_rows(group, dev)]
        if (b := best_capacity(group)) is not None:
            best[key] = b
    return L, best
