"""Experiment 5 - The whole suite at every GPU count, against the one-GPU baseline, and the scaling report.

For each GPU count N (default 1, 2, 4, capped at the GPUs present) ONE engine (tensor parallel N) is
started in its own process and measures everything the week needs: per-GPU memory (the TP check),
offline throughput, batch-1 decode, latency at a fixed concurrency, a serving-load sweep over
concurrency levels, and the mixed long/short workload at the default scheduler budget. Then every
result JSON in the output folder (this suite's and any the other four scripts wrote) is aggregated
into results/report.md with PNG plots: the course's scaling table next to its expected numbers,
latency and memory vs GPUs, layouts (when benchmark_scaling.py measured them), communication share,
and a recommendation - the layout for throughput per dollar and the one for latency under an SLO.
With --slo each GPU count also gets a capacity search on its engine (the highest Poisson request rate that
meets the SLO), and the recommendation names the layout with the most SLO capacity per GPU-dollar, from
these and from `benchmark_scaling.py --capacity` runs in the same folder.

Run it:
    python run_distributed_benchmark.py                           # Qwen/Qwen2.5-7B-Instruct at 1,2,4 GPUs + report
    python run_distributed_benchmark.py --gpus 1,4 --gpu-hour-usd 2.49 --slo ttft:300,tpot:30
    python run_distributed_benchmark.py --resume                  # skip configurations already in results/
    python run_distributed_benchmark.py --from-results results/   # report only, no GPU needed
    python run_distributed_benchmark.py                           # CPU box: tiny model, 1 and 2 CPU ranks
Exit code 0 when every configuration ran, 1 when one failed, 2 on bad input.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common import layout_capacity, noise
from common.allreduce import tp_overhead_share
from common.cost import gpu_hour_price, usd_per_1m

EXPERIMENT = "suite"
DEFAULT_SLO = {"ttft": 500.0, "tpot": 50.0}
COURSE_TABLE = {1: (450, 1.0, 1.00), 2: (800, 1.8, 0.90), 4: (1400, 3.1, 0.78)}  # course text, Qwen2.5-7B


@dataclass
class Config:
    gpus: list[int] = field(default_factory=lambda: [1, 2, 4])
    model: str | None = None
    engine: dict = field(default_factory=dict)
    # workload sizes: None = DEFAULTS below (GPU, CPU)
    num_prompts: int | None = None
    input_len: int | None = None
    output_len: int | None = None
    batch1_tokens: int | None = None
    concurrency: int | None = None
    latency_prompts: int | None = None
    offline_runs: int = 3  # timed offline runs per GPU count, median reported
    sweep: list[int] | None = None
    sweep_prompts: int | None = None
    mixed_requests: int | None = None
    mixed_rate: float | None = None
    long_len: tuple | None = None
    short_len: tuple | None = None
    long_fraction: float = 0.1
    slo: dict = field(default_factory=lambda: dict(DEFAULT_SLO))  # the latency pick's SLO (p99)
    capacity: dict | None = None  # --slo given: the capacity search's settings (common.capacity.spec_from_args)
    gpu_hour_usd: float | None = None
    resume: bool = False
    from_results: str | None = None
    seed: int = 0
    output_dir: str = "results"
    timeout_s: float = 1800.0


DEFAULTS = {"num_prompts": (1000, 48), "input_len": (512, 64), "output_len": (128, 16), "batch1_tokens": (256, 48),
            "concurrency": (16, 4), "latency_prompts": (64, 12), "sweep": ([1, 8, 32, 128], [1, 4, 16]),
            "sweep_prompts": (128, 24), "mixed_requests": (100, 24), "mixed_rate": (8.0, 20.0),
            "long_len": ((6000, 8000), (2000, 3000)), "short_len": ((64, 256), (16, 64))}


def cpu_defaults(cfg: Config) -> Config:
    """Unset sizes: the GPU workload, or on a CPU box a suite that runs in CI time on the tiny model."""
    from common.cli import fill_defaults
    fill_defaults(cfg, DEFAULTS)
    return cfg


# --------------------------------------------------------------------------- child: one configuration, one engine
def suite_child(cfg: dict) -> dict:
    import benchmark_scaling
    import test_mixed_workload
    from common import engine as eng
    from common.gpu_memory import MemoryTracker
    from common.loadgen import random_prompts, request_metrics
    from common.metrics import StageTimer
    from common.stepdrive import run_steps
    timer = StageTimer()
    with MemoryTracker() as mem:
        with timer("engine_start"):
            llm = eng.build_llm(cfg["engine"])
        after_load = mem.mark("after_load")
        try:
            core = benchmark_scaling.measure_engine(llm, cfg, timer)
            sweep = []
            with timer("serving_sweep"):
                for i, c in enumerate(cfg["sweep"]):
                    specs = random_prompts(max(cfg["sweep_prompts"], 2 * c), cfg["input_len"], cfg["output_len"],
                                           cfg["vocab_size"], seed=cfg["seed"] + 200 + i)
                    recs = run_steps(llm, specs, concurrency=c, time_limit_s=cfg["timeout_s"])
                    sweep.append({"concurrency": c, "metrics": request_metrics(recs, cfg["slo"])})
            with timer("mixed"):
                mcfg = {**cfg, "num_requests": cfg["mixed_requests"], "request_rate": cfg["mixed_rate"]}
                short_alone, long_ref, mixed = test_mixed_workload.workload(mcfg, cfg["vocab_size"])
                long_alone = run_steps(llm, long_ref, concurrency=1) if long_ref else []
                alone = run_steps(llm, short_alone, time_limit_s=cfg["timeout_s"])
                mix = run_steps(llm, mixed, time_limit_s=cfg["timeout_s"])
                mixed_m = test_mixed_workload.analyse({"alone": [r.to_raw() for r in alone],
                                                       "mixed": [r.to_raw() for r in mix],
                                                       "long_alone": [r.to_raw() for r in long_alone]})
            capacity = None
            if cfg["capacity"]:
                with timer("capacity_search"):
                    capacity = search_on_llm(llm, cfg, core["batch1"])
        finally:
            eng.shutdown(llm)
    core["stage_seconds"] = timer.seconds
    return {**core, "sweep": sweep, "mixed": mixed_m, "memory": mem.summary(), "memory_after_load": after_load,
            "capacity": capacity}


def search_on_llm(llm, cfg: dict, batch1: dict) -> dict:
    """The capacity search on the suite's own engine, driven step by step (no second engine start); the first
    rate from its batch-1 latency."""
    from common import engine as eng
    from common.capacity import ProbePlan, SearchSpec, printer, search_sync, start_rate_from_unloaded
    from common.loadgen import random_prompts
    from common.stepdrive import run_steps
    c = cfg["capacity"]
    spec = SearchSpec(**{**c, "start_rate": c["start_rate"] or start_rate_from_unloaded(
        batch1["ttft_ms"] or 0, batch1["tpot_ms"] or 0, cfg["output_len"])})
    res = search_sync(spec, ProbePlan.from_spec(spec, cfg["output_len"]),
                      lambda n, seed: random_prompts(n, cfg["input_len"], cfg["output_len"], cfg["vocab_size"], seed=seed),
                      lambda specs, limit, stop: run_steps(llm, specs, time_limit_s=limit, stop=stop),
                      seed=cfg["seed"] + 5000, on_probe=printer(spec))
    return {**res, "front_end": "the suite's vllm.LLM driven step by step (common.stepdrive)",
            "scheduler": eng.scheduler_limits(llm)}


# --------------------------------------------------------------------------- the suite
def main(cfg: Config) -> dict:
    from common import platform
    from common.capacity import split_samples
    from common.cli import UsageError, resolve_model
    from common.isolation import run_isolated
    from common.models import layout_problem
    from common.results import load_results, record_failure, run_path, save_run, timestamp
    import benchmark_scaling

    out_dir = Path(cfg.from_results or cfg.output_dir)
    if cfg.from_results:
        if not out_dir.is_dir():
            raise UsageError(f"--from-results {out_dir}: no such folder")
        return write_report(out_dir, cfg)

    cfg = cpu_defaults(cfg)
    engine_kwargs, info = resolve_model(cfg.model, cfg.engine)
    if "max_model_len" not in engine_kwargs:
        engine_kwargs["max_model_len"] = min(int(info.raw.get("max_position_embeddings", 32768)), 32768)
    if cfg.long_len[1] + cfg.output_len > engine_kwargs["max_model_len"]:
        raise UsageError(f"--max-model-len {engine_kwargs['max_model_len']} is too short for long prompts of {cfg.long_len[1]} tokens")
    devices = platform.device_count()
    ts = timestamp()
    done_before = set()
    if cfg.resume:
        docs, _ = load_results(out_dir)
        done_before = {d["config"].get("gpus_n") for d in docs if d["experiment"] == EXPERIMENT and d["status"] == "ok"
                       and d["config"].get("engine", {}).get("model") == engine_kwargs["model"]}
    print(f"model: {info.name}   devices: {devices} {platform.device_label()}(s)   GPU counts: {cfg.gpus}")
    from common.results import environment
    price = gpu_hour_price(environment(), cfg.gpu_hour_usd)[0]
    t_suite = time.perf_counter()
    failed = False
    for n in cfg.gpus:
        path = run_path(out_dir, EXPERIMENT, info.short_name, n, ts)
        child = {**asdict(cfg), "engine": {**engine_kwargs, "tensor_parallel_size": n}, "vocab_size": info.vocab_size,
                 "gpus_n": n}
        why = layout_problem(info, tp=n, devices=devices)
        if n in done_before:
            print(f"  TP={n}: already in {out_dir} (--resume), skipped")
            continue
        if why:
            print(f"  TP={n}: skip - {why}")
            save_run(path, experiment=EXPERIMENT, config=child, metrics={"gpus": n}, status="skipped",
                     failure={"kind": "skipped", "message": why})
            continue
        print(f"\n=== TP={n}: one engine for the whole suite ...", flush=True)
        res = run_isolated("run_distributed_benchmark:suite_child", child, timeout_s=cfg.timeout_s, label=f"TP={n}")
        if res["status"] != "ok":
            failed = True
            record_failure(path, f"TP={n}", res, experiment=EXPERIMENT, config=child, metrics={"gpus": n},
                           row={"GPUs": n})
            continue
        lay = {"n": n, "tp": n, "pp": 1, "dp": 1, "name": benchmark_scaling.layout_name(n, 1, 1)}
        m = benchmark_scaling.summarize_layout(lay, res)
        nvml = res["memory"]["backend"] == "nvml"
        per_gpu = [d for d in res["memory"]["devices"]
                   if (d["label"] in {f"GPU{i}" for i in range(n)} if nvml else d["label"].startswith(("Worker", "EngineCore")))]
        if res.get("capacity"):
            m["capacity"] = res["capacity"]
            layout_capacity.derive_capacity(m, price)
        m.update({"memory_backend": res["memory"]["backend"],
                  "memory_peak_mib": {d["label"]: d["peak_used_mib"] for d in per_gpu},
                  "stage_seconds": res["stage_seconds"], "process_wall_s": res["process_wall_s"],
                  "mixed": res["mixed"],
                  "sweep": [{"concurrency": s["concurrency"], **{k: s["metrics"][k] for k in
                             ("output_throughput", "median_ttft_ms", "p99_ttft_ms", "median_tpot_ms", "p99_tpot_ms",
                              "request_goodput")}} for s in res["sweep"]]})
        save_run(path, experiment=EXPERIMENT, config=child, metrics=m,
                 raw={"ranks": res["ranks"], "memory": res["memory"], "latency_requests": res["latency_requests"],
                      "capacity_probes": split_samples(m.get("capacity"))})
        st = res["stage_seconds"]
        print(f"  TP={n}: {m['output_throughput']:.0f} out tok/s; time: engine start {st['engine_start']:.0f} s, "
              f"measuring {sum(v for k, v in st.items() if k != 'engine_start'):.0f} s, process {res['process_wall_s']:.0f} s")
    print(f"\nsuite wall time {time.perf_counter() - t_suite:.0f} s")
    out = write_report(out_dir, cfg)
    out["exit_code"] = 1 if failed else out.get("exit_code", 0)
    return out


# --------------------------------------------------------------------------- the report (reads only JSON files)
def _latest(docs, experiment, by=None):
    """Newest ok document per configuration key (and per d[by], when given) for one experiment."""
    best = {}
    for d in sorted(docs, key=lambda d: d["created"]):
        if d["experiment"] == experiment and d["status"] in ("ok", "pass"):
            best[json.dumps([d["metrics"].get("layout") or d["metrics"].get("gpus") or d["metrics"].get("tp"),
                             d.get(by)])] = d
    return list(best.values())


def write_report(out_dir: Path, cfg: Config) -> dict:
    from common.plotting import bar_plot, line_plot
    from common.results import load_results, run_stamp, strip_ansi
    docs, skipped = load_results(out_dir)
    for p, why in skipped:
        print(f"  skipped {p.name}: {why}")
    suite = sorted(_latest(docs, "suite"), key=lambda d: d["metrics"]["gpus"])
    # benchmark_scaling.py runs are kept apart: each layout's speedup is against the 1-GPU baseline of its own
    # run, since a shared machine's baseline drifts between runs
    runs: dict[str, list[dict]] = {}
    for d in sorted(_latest([dict(d, _key=run_stamp(d)) for d in docs], "scaling", by="_key"),
                    key=lambda d: (d["_key"], d["metrics"]["gpus"], d["metrics"]["layout"])):
        runs.setdefault(d["_key"], []).append(d)
    scaling = [d for stamp in sorted(runs) for d in runs[stamp]]
    tp_docs = _latest(docs, "tensor_parallel")
    if not (suite or scaling):
        print(f"no suite or scaling results in {out_dir}; nothing to report")
        return {"report": None, "exit_code": 1}
    env = (suite or scaling)[0]["environment"]
    newest = next((runs[s] for s in sorted(runs, reverse=True) if any(d["metrics"]["gpus"] == 1 for d in runs[s])), [])
    main_rows = [d["metrics"] for d in suite] or sorted(
        [d["metrics"] for d in newest if d["metrics"].get("dp") == 1 and d["metrics"].get("pp") == 1],
        key=lambda m: m["gpus"])
    base = next((m for m in main_rows if m["gpus"] == 1), None)
    price, price_src = gpu_hour_price(env, cfg.gpu_hour_usd)
    L = ["# Multi-GPU scaling report", "",
         f"Model: `{(suite or scaling)[0]['config']['engine']['model']}`  ",
         f"Generated from {len(docs)} result files in `{out_dir}`" + (f" ({len(skipped)} skipped)" if skipped else "") + ".", "",
         "## Environment", "",
         f"- GPUs: {', '.join(g['name'] for g in env['gpus']) or 'none (CPU: ' + str(env['cpu_count']) + ' cores)'}",
         f"- driver {env['driver']}, CUDA {env['cuda']}, torch {env['torch']}, vLLM {env['vllm']}, git {str(env['git_sha'])[:10]}",
         f"- host CPU: {env.get('cpu_model') or 'not recorded'}, {env['cpu_count']} cores",
         ""]
    if env.get("interconnect"):
        L += ["```", strip_ansi(env["interconnect"]).strip(), "```", ""]
    L += ["## Scaling (course table)", "",
          "| GPUs | Throughput (out tok/s) | Speedup | Efficiency | course: throughput | course: speedup | course: efficiency |",
          "|---|---|---|---|---|---|---|"]
    for m in main_rows:
        sp = m["output_throughput"] / base["output_throughput"] if base else None
        c = COURSE_TABLE.get(m["gpus"])
        L.append(f"| {m['gpus']} | {m['output_throughput']:.0f} | " + (f"{sp:.2f}x | {sp / m['gpus'] * 100:.0f}%" if sp else "- | -")
                 + (f" | {c[0]} tok/s | {c[1]:.1f}x | {c[2] * 100:.0f}% |" if c else " | - | - | - |"))
    L += ["", "The course's numbers are for an unnamed GPU and batch size; ours are measured on the machine above with "
          f"{(suite or scaling)[0]['config'].get('num_prompts')} prompts sent at once. Absolute throughput depends on "
          "the GPU and batch size; compare speedup and efficiency.", ""]
    L += ["## Latency and memory vs GPUs", "",
          "| GPUs | batch-1 decode tok/s | batch-1 TPOT ms | TTFT p50 ms | TPOT p50 ms | E2E p99 ms | memory per GPU (peak) |",
          "|---|---|---|---|---|---|---|"]
    for m in main_rows:
        mem = m.get("memory_peak_mib") or {}
        L.append(f"| {m['gpus']} | {m['batch1_decode_tokens_per_s']:.1f} | {m['batch1_tpot_ms']:.2f} | "
                 f"{m['median_ttft_ms']:.1f} | {m['median_tpot_ms']:.2f} | {m['p99_e2el_ms']:.1f} | "
                 + (", ".join(f"{k} {v / 1024:.1f} GiB" for k, v in mem.items()) or "-") + " |")
    if tp_docs:
        L += ["", "TP memory check (test_tensor_parallel.py): " + "; ".join(
            f"TP={d['metrics']['tp']} balance {d['metrics']['memory_balance'] * 100:.1f}%"
            if d["metrics"].get("memory_balance") is not None else f"TP={d['metrics']['tp']} single rank"
            for d in sorted(tp_docs, key=lambda d: d["metrics"]["tp"]))]
    if suite and any(m.get("sweep") for m in main_rows):
        L += ["", "### Serving sweep (output tok/s at each concurrency)", "",
              "| GPUs | " + " | ".join(f"conc {s['concurrency']}" for s in main_rows[0]["sweep"]) + " |",
              "|---|" + "---|" * len(main_rows[0]["sweep"])]
        for m in main_rows:
            L.append(f"| {m['gpus']} | " + " | ".join(f"{s['output_throughput']:.0f}" for s in m["sweep"]) + " |")
    if suite and any(m.get("mixed") for m in main_rows):
        L += ["", "### Mixed long/short workload (default scheduler budget)", "",
              "| GPUs | short TTFT p99 ms | alone p99 ms | inflation | HOL blocked | long TTFT p50 ms |", "|---|---|---|---|---|---|"]
        for m in main_rows:
            x = m["mixed"]
            L.append(f"| {m['gpus']} | {x['short_p99_ttft_ms']:.1f} | {x['short_alone_p99_ttft_ms']:.1f} | "
                     f"{x['short_ttft_inflation_p99']:.2f}x | {x['hol_blocked_share'] * 100:.0f}% | {x['long_median_ttft_ms']:.1f} |")
    layouts = [d["metrics"] for d in scaling]
    if layouts:
        many = len(runs) > 1
        L += ["", "## Layouts (benchmark_scaling.py)", ""]
        if many:
            L += [f"{len(runs)} runs in this folder ({', '.join(sorted(runs))}); each layout's speedup is against the "
                  "1-GPU baseline of its own run.", ""]
        L += [("| run " if many else "") + "| layout | GPUs | out tok/s | speedup (efficiency) | tok/s per GPU | batch-1 tok/s | "
              "batch-1 step vs HBM roofline | measured TP overhead of a step | modelled comm share of a step |",
              "|---" * (9 + many) + "|"]
        for stamp in sorted(runs):
            base_l = next((d["metrics"] for d in runs[stamp] if d["metrics"]["gpus"] == 1), None)
            for m in [d["metrics"] for d in runs[stamp]]:
                sp = m["output_throughput"] / base_l["output_throughput"] if base_l else None
                L.append((f"| {stamp} " if many else "") + f"| {m['layout']} | {m['gpus']} | {m['output_throughput']:.0f} | "
                         + (f"{sp:.2f}x ({sp / m['gpus'] * 100:.0f}%)" if sp else "-") + " | "
                         f"{m['output_throughput'] / m['gpus']:.0f} | {m['batch1_decode_tokens_per_s']:.1f} | "
                         + (f"{m['decode_pct_of_hbm_roofline']:.0f}%" if m.get("decode_pct_of_hbm_roofline") is not None else "-") + " | "
                         + (f"{ov * 100:.0f}%" if (ov := tp_overhead_share(m, base_l)) is not None else "-") + " | "
                         + (f"{m['comm_share_of_step'] * 100:.0f}%" if m.get("comm_share_of_step") is not None else "-") + " |")
        for stamp in sorted(runs):
            ms = [d["metrics"] for d in runs[stamp]]
            for note in (noise.above_linear_note(ms), noise.spread_note(ms)):
                if note:
                    L += ["", (f"Run {stamp}: " if many else "") + note]
        L += ["", "Roofline: a batch-1 decode step must stream every weight byte of a GPU once (weights per GPU / HBM "
              "bandwidth); the column is that time as a share of the measured step. The measured TP overhead is the part "
              "of a TP=N batch-1 step beyond an ideal 1/N split of the 1-GPU step (all-reduces plus per-step costs that "
              "do not shrink with N). The comm share models 2 all-reduces "
              "per layer at the latency of the eager NCCL all-reduce measured by the micro-benchmark - an upper bound, "
              "since vLLM's own custom all-reduce inside CUDA graphs is faster."]
    cap_lines, cap_best = capacity_section(main_rows + [m for m in layouts if m not in main_rows], price, price_src, dev_of(env))
    L += cap_lines
    L += recommendation(main_rows + [m for m in layouts if m not in main_rows], cap_best, base, (price, price_src),
                        env, cfg.slo)
    # plots
    plots = []
    xs = [m["gpus"] for m in main_rows]
    if base:
        plots.append(line_plot(out_dir / "report_throughput.png",
                               {"measured (TP)": (xs, [m["output_throughput"] for m in main_rows])},
                               "Offline throughput vs GPUs", "GPUs", "output tokens / s",
                               ideal=(xs, [base["output_throughput"] * n for n in xs])))
    plots.append(line_plot(out_dir / "report_latency.png",
                           {"batch-1 TPOT (ms)": (xs, [m["batch1_tpot_ms"] for m in main_rows]),
                            "TTFT p50 at concurrency (ms)": (xs, [m["median_ttft_ms"] for m in main_rows])},
                           "Latency vs GPUs", "GPUs", "ms"))
    if any(m.get("memory_peak_mib") for m in main_rows):
        plots.append(bar_plot(out_dir / "report_memory.png", [f"{m['gpus']} GPU" for m in main_rows],
                              {"peak memory per device (GiB)": [max((m.get("memory_peak_mib") or {0: 0}).values()) / 1024
                                                                for m in main_rows]},
                              "Peak memory per GPU (NVML) / per engine process (CPU)", "GiB"))
    if cap_best:
        ms = [m for m in main_rows + [m for m in layouts if m not in main_rows] if m.get("capacity")]
        first = ms[0]["capacity"]
        plots += layout_capacity.capacity_plots(out_dir / "report", [m for m in ms if m["capacity"]["slo"] == first["slo"]],
                                                  first)
    if layouts:
        plots.append(bar_plot(out_dir / "report_layouts.png",
                              [f"{d['metrics']['layout']} ({d['metrics']['gpus']})" + (f" {d['_key'][-6:-4]}:{d['_key'][-4:-2]}" if len(runs) > 1 else "")
                               for d in scaling],
                              {"out tok/s": [m["output_throughput"] for m in layouts]}, "Throughput per layout",
                              "output tokens / s"))
    L += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    report = out_dir / "report.md"
    from common.results import atomic_write
    atomic_write(report, "\n".join(L) + "\n")
    print("\n".join(L[L.index("## Scaling (course table)"):L.index("## Latency and memory vs GPUs")]
                    + L[L.index("## Recommendation"):L.index("## Plots")]))
    print(f"report: {report}  plots: {', '.join(str(p) for p in plots)}")
    return {"report": str(report), "plots": [str(p) for p in plots], "exit_code": 0}


def recommendation(cands: list[dict], cap_best: dict, base: dict | None, price: tuple, env: dict,
                   slo: dict) -> list[str]:
    """The report's advice for the devices the reader has: SLO capacity per dollar, batch throughput per dollar,
    the best use of all N devices (the best layout measured at N, never TP alone when another N-layout read
    higher), whether fewer would do, and the lowest latency; then the paragraph to paste."""
    price, price_src = price
    dev = dev_of(env)
    rate = lambda m: m["output_throughput"] / m["gpus"]  # noqa: E731
    cost = lambda m: usd_per_1m(price, m["gpus"], m["output_throughput"]) if price else None  # noqa: E731
    top = max(cands, key=rate)
    # per-GPU rates within 3 % are a tie on a shared machine: the fewest GPUs is then the simpler rental
    per_dollar = min([m for m in cands if rate(m) >= 0.97 * rate(top)], key=lambda m: (m["gpus"], -rate(m)))
    meets = [m for m in cands if (m.get("p99_ttft_ms") or 1e18) <= slo.get("ttft", 1e18)
             and (m.get("p99_tpot_ms") or 1e18) <= slo.get("tpot", 1e18)]
    fastest = min(meets or cands, key=lambda m: m["batch1_tpot_ms"] or 1e18)
    n_all = max(m["gpus"] for m in cands)
    at_all = [m for m in cands if m["gpus"] == n_all]
    cap_key = next(iter(cap_best), None)
    with_cap = [m for m in at_all if m.get("capacity_request_rate") is not None]
    best_all = (max(with_cap, key=lambda m: m["capacity_request_rate"]) if cap_key and with_cap
                else max(at_all, key=lambda m: m["output_throughput"]))
    speedup = best_all.get("speedup") or (best_all["output_throughput"] / base["output_throughput"] if base else None)
    c1, c2 = cost(per_dollar), cost(fastest)

    def where(m):  # "a single GPU" / "TP2 (2 GPUs)"
        return f"a single {dev}" if m["gpus"] == 1 else f"{m['layout']} ({m['gpus']} {dev}s)"

    L = ["", "## Recommendation", ""]
    for slo_key, m in cap_best.items():
        c = m.get("usd_per_1m_output_tokens_at_capacity")
        L.append(f"- **Serving capacity per dollar under {slo_key}:** {where(m)}: {m['capacity_request_rate']:.3g} req/s "
                 f"({m['capacity_request_rate_per_gpu']:.3g} per {dev}, {m['capacity_output_throughput']:.0f} out tok/s)"
                 + (f", ${c:.3f} per 1M output tokens at capacity." if c is not None else "."))
    L.append(f"- **Batch throughput per dollar (offline):** {where(per_dollar)}: "
             f"{rate(per_dollar):.0f} out tok/s per {dev}"
             + (f", ${c1:.3f} per 1M output tokens at ${price:.2f}/GPU-hour ({price_src})." if c1 is not None
                else " (pass --gpu-hour-usd for $ per 1M tokens).")
             + (f" {top['layout']} on {top['gpus']} {dev}s read {rate(top):.0f} per {dev}, within 3 %: a tie "
                "on a shared machine, and fewer GPUs are the simpler rental." if top is not per_dollar else ""))
    all_txt = ""
    if n_all > 1:
        others = ", ".join(f"{m['layout']} {m['output_throughput']:,.0f}" for m in at_all if m is not best_all)
        by = (f"{best_all['capacity_request_rate']:.3g} req/s under {cap_key}, " if cap_key and with_cap else "")
        all_txt = (f"{best_all['layout']}: {by}{best_all['output_throughput']:,.0f} out tok/s offline"
                   + (f", {speedup:.2f}x one {dev} ({speedup / n_all * 100:.0f}% efficiency) at {n_all}x the cost per hour"
                      if speedup else "") + (f" (others on {n_all}: {others} out tok/s)" if others else ""))
        L.append(f"- **Using all {n_all} {dev}s:** {all_txt}.")
        fewer = per_dollar["gpus"] < n_all
        L.append(f"- **Would fewer {dev}s do?** "
                 + (f"Yes: {where(per_dollar)} gives {rate(per_dollar):.0f} out tok/s per {dev} against "
                    f"{best_all['layout']}'s {rate(best_all):.0f}; rent {n_all} only for the total throughput or capacity."
                    if fewer else f"No: {best_all['layout']} on all {n_all} is as cost-efficient per {dev} as any smaller "
                    "layout measured."))
    slo_txt = ", ".join(f"p99 {k.upper()} <= {v:.0f} ms" for k, v in slo.items())
    L.append(f"- **Lowest latency{' under the SLO (' + slo_txt + ')' if meets else ' (no layout met the SLO ' + slo_txt + ')'}:** "
             f"{where(fastest)}: batch-1 {fastest['batch1_decode_tokens_per_s']:.0f} tok/s, "
             f"p99 TTFT {fastest['p99_ttft_ms']:.0f} ms, p99 TPOT {fastest['p99_tpot_ms']:.1f} ms"
             + (f", ${c2:.3f} per 1M output tokens." if c2 is not None else "."))
    box = (f"{len(env['gpus'])} x {env['gpus'][0]['name']}" if env["gpus"]
           else f"this CPU box ({env['cpu_count']} cores, one per rank)")
    serve_txt = "".join(
        f"to serve requests within {k} run {where(m)}: it holds {m['capacity_request_rate']:.3g} req/s "
        f"({m['capacity_request_rate_per_gpu']:.3g} per {dev}"
        + (f", ${m['usd_per_1m_output_tokens_at_capacity']:.3f} per 1M output tokens at that load"
           if m.get("usd_per_1m_output_tokens_at_capacity") is not None else "") + "); " for k, m in cap_best.items())
    L += ["", "**Optimal multi-GPU configuration (paste into your notes):** "
          f"On {box}, {serve_txt}for batch throughput per dollar run {where(per_dollar)} "
          f"({rate(per_dollar):.0f} out tok/s per {dev}" + (f", ${c1:.3f}/1M tokens" if c1 is not None else "")
          + f"); for the lowest per-request latency run {where(fastest)} "
          f"({fastest['batch1_decode_tokens_per_s']:.0f} tok/s for a single stream"
          + (f", ${c2:.3f}/1M tokens" if c2 is not None else "") + "). "
          + (f"To use all {n_all} {dev}s, run {all_txt}." if all_txt else ""), ""]
    return L


def dev_of(env: dict) -> str:
    return "GPU" if env["gpus"] else "CPU rank"


def capacity_section(ms: list[dict], price, price_src, dev: str) -> tuple[list[str], dict]:
    """'Serving capacity under the SLO': every measured layout with a capacity search, grouped by SLO; and per
    SLO the layout with the most capacity per GPU-dollar ({slo text: metrics})."""
    from common.capacity import slo_text
    groups: dict[str, list[dict]] = {}
    for m in ms:
        layout_capacity.derive_capacity(m, price)  # at the report's price (--gpu-hour-usd or the GPU's table price)
        if m.get("capacity") and m["capacity"].get("slo"):
            groups.setdefault(slo_text(m["capacity"]["slo"], m["capacity"]["percentile"]), []).append(m)
    if not groups:
        return [], {}
    L = ["", "## Serving capacity under the SLO", "",
         "Capacity: the highest Poisson request rate at which the SLO still held (bracket, then bisection; a probe "
         "also fails when completions fall below 95 % of arrivals). Offline throughput says what a layout does with "
         "a full queue; capacity says how much live traffic it takes before users notice."
         + (f" Cost at ${price:.2f} per {dev}-hour ({price_src})." if price else "")]
    best = {}
    for key, group in groups.items():
        L += ["", f"**{key}**", "", "| layout | GPUs | capacity req/s | per GPU | out tok/s at capacity | $/1M out tok at "
              "capacity | next rate broke | probes |", "|---|---|---|---|---|---|---|---|"]
        for r in layout_capacity.capacity_rows(group):
            L.append("| " + " | ".join(str(r[k]) for k in ("layout", "GPUs", "capacity req/s", "req/s per GPU",
                                                             "out tok/s at capacity", "$/1M out tok at capacity",
                                                             "next rate broke", "probes")) + " |")
        if (b := layout_capacity.best_capacity(group)) is not None:
            best[key] = b
    return L, best


def build_config(args, engine: dict) -> Config:
    from common.cli import UsageError
    if args.gpu_hour_usd is not None and args.gpu_hour_usd <= 0:
        raise UsageError("--gpu-hour-usd must be > 0")
    if args.offline_runs < 1:
        raise UsageError("--offline-runs must be >= 1")
    from common.capacity import spec_from_args
    capacity = spec_from_args(args, required=False)
    return Config(gpus=args.gpus, model=args.model, engine=engine, slo=capacity["slo"] if capacity else dict(DEFAULT_SLO),
                  capacity=capacity, gpu_hour_usd=args.gpu_hour_usd,
                  offline_runs=args.offline_runs, resume=args.resume, from_results=args.from_results, seed=args.seed,
                  output_dir=args.output_dir, timeout_s=args.timeout)


if __name__ == "__main__":
    from common import cli
    p = cli.base_parser(__doc__)
    p.add_argument("--gpus", type=cli.int_list, default=[1, 2, 4], help="GPU counts (TP sizes) of the suite")
    p.add_argument("--gpu-hour-usd", type=float, help="price per GPU-hour for $ per 1M output tokens")
    p.add_argument("--offline-runs", type=int, default=3, help="timed offline runs per GPU count, median reported")
    p.add_argument("--resume", action="store_true", help="skip GPU counts whose suite results already exist")
    p.add_argument("--from-results", metavar="DIR", help="only aggregate the JSON files in DIR into a report")
    p.add_argument("--seed", type=int, default=0)
    from common.capacity import add_cli_args
    add_cli_args(p)  # --slo: the latency pick's SLO (default ttft:500,tpot:50), and given, a capacity search per GPU count
    cli.run_main(main, build_config, p)
