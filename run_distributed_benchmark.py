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
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common import cli, platform
from common import engine as eng
from common.capacity import ProbePlan, slo_text
from common.capacity_stats import KEEP_UP_SHARE
from common.capacity_display import (
    best_capacity,
    capacity_plots,
    capacity_rows,
    printer,
)
from common.capacity_drivers import (saturation_concurrency, saturation_sync, search_sync, split_samples, started,
                                     start_note)
from common.capacity_flags import add_cli_args, spec_from_args
from common.config import RunConfig, TraceConfig, add_options, fill_device_defaults, from_args, option
from common.cost import gpu_hour_price
from common.gpu_memory import MemoryTracker
from common.isolation import checkpoint, run_isolated, until_interrupted
from common.metrics import (
    StageTimer,
    cached_prompt_share,
    derive_capacity,
    request_metrics,
    speedup,
    tp_overhead_share,
    usd_per_1m,
)
from common.mixed import analyse, workload
from common.models import layout_problem
from common.noise import above_linear_note, spread_note
from common.load_profile import SCALE_STEP_S, clock, fleet_plan
from common.plotting import bar_plot, line_plot, replicas_plot
from common.results import (
    RunFile,
    any_failed,
    atomic_write,
    environment,
    load_results,
    record_failure,
    run_path,
    run_stamp,
    save_run,
    strip_ansi,
    then,
    timestamp,
)
from common.scaling import layout_name, measure_engine, summarize_layout
from common.stepdrive import run_steps
from common.tables import num
from common.traces import TraceError, check_trace_args
from common.workloads import random_prompts, trace_source, workload_config

EXPERIMENT = "suite"
DEFAULT_SLO = {"ttft": 500.0, "tpot": 50.0}
COURSE_TABLE = {1: (450, 1.0, 1.00), 2: (800, 1.8, 0.90), 4: (1400, 3.1, 0.78)}  # course text, Qwen2.5-7B


@dataclass
class Config(TraceConfig, RunConfig):
    gpus: list[int] = option([1, 2, 4], "GPU counts (TP sizes) of the suite", type=cli.int_list)
    gpu_hour_usd: float | None = option(help="price per GPU-hour for $ per 1M output tokens", type=float)
    target_rate: float | None = option(help="req/s the fleet must serve: the report plans replicas of each layout for it",
                                       type=float)
    growth: float | None = option(help="with capacities measured on a trace: plan for its busiest minute x this, "
                                       "and the day's fleet for its traffic x this", type=float)
    min_replicas: int = option(1, "the day's fleet (a capacity on a trace): the fewest replicas an autoscaler keeps")
    offline_runs: int = option(3, "timed offline runs per GPU count, median reported")
    resume: bool = option(False, "skip GPU counts whose suite results already exist", action="store_true")
    from_results: str | None = option(help="only aggregate the JSON files in DIR into a report", metavar="DIR", type=str)
    seed: int = option(0, "seed of every prompt set")
    workload: str | None = option(help="with several workloads in the folder, the one to report on: any part of its "
                                       "label as the report lists them (default: the newest)", metavar="TEXT", type=str)
    # workload sizes: one value for a GPU, one for the CPU box
    num_prompts: int | None = option(gpu=1000, cpu=48, cli=False)
    input_len: int | None = option(gpu=512, cpu=64, cli=False)
    output_len: int | None = option(gpu=128, cpu=16, cli=False)
    batch1_tokens: int | None = option(gpu=256, cpu=48, cli=False)
    concurrency: int | None = option(gpu=16, cpu=4, cli=False)
    latency_prompts: int | None = option(gpu=64, cpu=12, cli=False)
    sweep: list[int] | None = option(gpu=[1, 8, 32, 128], cpu=[1, 4, 16], cli=False)
    sweep_prompts: int | None = option(gpu=128, cpu=24, cli=False)
    mixed_requests: int | None = option(gpu=100, cpu=24, cli=False)
    mixed_rate: float | None = option(gpu=8.0, cpu=20.0, cli=False)
    long_len: tuple | None = option(gpu=(6000, 8000), cpu=(2000, 3000), cli=False)
    short_len: tuple | None = option(gpu=(64, 256), cpu=(16, 64), cli=False)
    long_fraction: float = option(0.1, cli=False)
    slo: dict = option(DEFAULT_SLO, cli=False)      # the latency pick's SLO (p99)
    capacity: dict | None = option(cli=False)      # --slo given: the capacity search's settings (spec_from_args)


# --------------------------------------------------------------------------- child: one configuration, one engine
def suite_child(cfg: dict) -> dict:
    timer = StageTimer()
    with MemoryTracker() as mem:
        with timer("engine_start"):
            llm = eng.build_llm(cfg["engine"])
        after_load = mem.mark("after_load")
        try:
            core = measure_engine(llm, cfg, timer)
            with timer("serving_sweep"):
                sweep = serving_sweep(llm, cfg)
            with timer("mixed"):
                mixed_m = mixed_on_llm(llm, cfg)
            capacity = None
            if cfg["capacity"]:
                with timer("capacity_search"):
                    capacity = search_on_llm(llm, cfg)
        finally:
            eng.shutdown(llm)
    core["stage_seconds"] = timer.seconds
    return {**core, "sweep": sweep, "mixed": mixed_m, "memory": mem.summary(), "memory_after_load": after_load,
            "capacity": capacity}


def serving_sweep(llm, cfg: dict) -> list[dict]:
    out = []
    for i, c in enumerate(cfg["sweep"]):
        specs = random_prompts(max(cfg["sweep_prompts"], 2 * c), cfg["input_len"], cfg["output_len"],
                               cfg["vocab_size"], seed=cfg["seed"] + 200 + i)
        recs = run_steps(llm, specs, concurrency=c, time_limit_s=cfg["timeout_s"])
        out.append({"concurrency": c, "metrics": request_metrics(recs, cfg["slo"])})
    return out


def mixed_on_llm(llm, cfg: dict) -> dict:
    """The mixed long/short workload at the engine's default scheduler budget (common.mixed)."""
    mcfg = {**cfg, "num_requests": cfg["mixed_requests"], "request_rate": cfg["mixed_rate"]}
    short_alone, long_ref, mixed = workload(mcfg, cfg["vocab_size"])
    long_alone = run_steps(llm, long_ref, concurrency=1) if long_ref else []
    alone = run_steps(llm, short_alone, time_limit_s=cfg["timeout_s"])
    mix = run_steps(llm, mixed, time_limit_s=cfg["timeout_s"])
    return analyse({"alone": [r.to_raw() for r in alone], "mixed": [r.to_raw() for r in mix],
                    "long_alone": [r.to_raw() for r in long_alone]})


def search_on_llm(llm, cfg: dict) -> dict:
    """The capacity search on the suite's own engine, driven step by step (no second engine start); the first
    rate from a saturation probe on it."""
    c = cfg["capacity"]
    make = trace_source(cfg) or (lambda n, seed: random_prompts(n, cfg["input_len"], cfg["output_len"],
                                                                cfg["vocab_size"], seed=seed))
    seen = []   # every request of the saturation probe and the search: their prefix-cache hits

    def steps(specs, **limits):
        seen.extend(recs := run_steps(llm, specs, **limits))
        return recs
    sat = None if c["start_rate"] else saturation_sync(
        lambda specs, conc: steps(specs, concurrency=conc), make,
        saturation_concurrency(eng.scheduler_limits(llm)["max_num_seqs"]), cfg["seed"] + 13)
    spec = started(c, sat)
    res = search_sync(spec, ProbePlan.from_spec(spec, getattr(make, "max_output_len", cfg["output_len"])), make,
                      lambda specs, limit, stop: steps(specs, time_limit_s=limit, stop=stop),
                      seed=cfg["seed"] + 5000,
                      on_probe=printer(spec, lambda partial: checkpoint(cfg, {"capacity": partial}), start_note(spec, sat)))
    return {**res, "start": start_note(spec, sat), "scheduler": eng.scheduler_limits(llm),
            "prefix_cache_hit_rate": cached_prompt_share(seen),
            "front_end": "the suite's vllm.LLM driven step by step (common.stepdrive)"}


# --------------------------------------------------------------------------- the suite
def main(cfg: Config) -> dict:
    if cfg.from_results:
        return write_report(Path(cfg.from_results), cfg)
    fill_device_defaults(cfg)
    engine_kwargs, info = cli.resolve_model(cfg.model, cfg.engine)
    engine_kwargs.setdefault("max_model_len", min(int(info.raw.get("max_position_embeddings", 32768)), 32768))
    if cfg.long_len[1] + cfg.output_len > engine_kwargs["max_model_len"]:
        raise cli.UsageError(f"--max-model-len {engine_kwargs['max_model_len']} is too short for long prompts of "
                             f"{cfg.long_len[1]} tokens")
    out_dir, devices, ts = Path(cfg.output_dir), platform.device_count(), timestamp()
    done_before = finished_counts(out_dir, engine_kwargs["model"]) if cfg.resume else set()
    print(f"model: {info.name}   devices: {devices} {platform.device_label()}(s)   GPU counts: {cfg.gpus}")
    price = gpu_hour_price(environment(), cfg.gpu_hour_usd)[0]
    t_suite, failed, runs = time.perf_counter(), False, []
    for n in cfg.gpus:
        path = run_path(out_dir, EXPERIMENT, info.short_name, n, ts)
        child = {**asdict(cfg), "engine": {**engine_kwargs, "tensor_parallel_size": n}, "vocab_size": info.vocab_size,
                 "gpus_n": n, "max_model_len": engine_kwargs["max_model_len"]}
        child["workload"] = workload_config(child)  # the capacity search's requests: the random shape or a trace
        if n in done_before:
            print(f"  TP={n}: already in {out_dir} (--resume), skipped")
        elif why := layout_problem(info, tp=n, devices=devices):
            print(f"  TP={n}: skip - {why}")
            save_run(path, experiment=EXPERIMENT, config=child, metrics={"gpus": n}, status="skipped",
                     failure={"kind": "skipped", "message": why})
        else:
            run = run_config(n, child, path, price, cfg.timeout_s)
            runs += [run] if run else []
            failed |= run is None
    print(f"\nsuite wall time {time.perf_counter() - t_suite:.0f} s")
    out = then("the report", lambda: write_report(out_dir, cfg), *runs) or {"report": None}
    out["exit_code"] = 1 if failed or any_failed(runs) else out.get("exit_code", 0)
    return out


def finished_counts(out_dir: Path, model: str) -> set[int]:
    """--resume: the GPU counts whose suite already finished in `out_dir` for this model."""
    docs, _ = load_results(out_dir)
    return {d["config"].get("gpus_n") for d in docs if d["experiment"] == EXPERIMENT and d["status"] == "ok"
            and d["config"].get("engine", {}).get("model") == model}


def run_config(n: int, child: dict, path: Path, price: float | None, timeout_s: float) -> RunFile | None:
    """One GPU count: the whole suite on one engine in its own process, on disk the moment it returns, then
    summarized in a step after it. Its file, or None when it did not run."""
    print(f"\n=== TP={n}: one engine for the whole suite ...", flush=True)
    res = until_interrupted(run_isolated, "run_distributed_benchmark:suite_child", child, timeout_s=timeout_s,
                            label=f"TP={n}")
    if res["status"] != "ok":
        record_failure(path, f"TP={n}", res, experiment=EXPERIMENT, config=child, metrics={"gpus": n}, row={"GPUs": n})
        return None
    run = RunFile(path, EXPERIMENT, child, metrics={"gpus": n, "layout": layout_name(n, 1, 1)},
                  raw={"ranks": res["ranks"], "memory": res["memory"], "latency_requests": res["latency_requests"],
                       "capacity_probes": split_samples(res.get("capacity")), "suite_child": {
                           k: v for k, v in res.items() if k not in ("ranks", "memory", "latency_requests")}})
    run.save()   # what the engine measured, before anything reads it
    def summary() -> None:
        run.metrics = suite_metrics(n, res, price)
        del run.raw["suite_child"]   # summarized: its figures are in metrics now
        st = res["stage_seconds"]
        print(f"  TP={n}: {run.metrics['output_throughput']:.0f} out tok/s; time: engine start "
              f"{st['engine_start']:.0f} s, measuring {sum(v for k, v in st.items() if k != 'engine_start'):.0f} s, "
              f"process {res['process_wall_s']:.0f} s")
    then("the summary", summary, run)
    return run


def suite_metrics(n: int, res: dict, price: float | None) -> dict:
    """One GPU count's figures from its suite child's result."""
    m = summarize_layout({"n": n, "tp": n, "pp": 1, "dp": 1, "name": layout_name(n, 1, 1)}, res)
    nvml = res["memory"]["backend"] == "nvml"
    per_gpu = [d for d in res["memory"]["devices"]
               if (d["label"] in {f"GPU{i}" for i in range(n)} if nvml else d["label"].startswith(("Worker", "EngineCore")))]
    if res.get("capacity"):
        m["capacity"] = res["capacity"]
        derive_capacity(m, price)
    m.update({"memory_backend": res["memory"]["backend"],
              "memory_peak_mib": {d["label"]: d["peak_used_mib"] for d in per_gpu},
              "stage_seconds": res["stage_seconds"], "process_wall_s": res["process_wall_s"], "mixed": res["mixed"],
              "sweep": [{"concurrency": s["concurrency"], **{k: s["metrics"][k] for k in
                         ("output_throughput", "median_ttft_ms", "p99_ttft_ms", "median_tpot_ms", "p99_tpot_ms",
                          "request_goodput")}} for s in res["sweep"]]})
    return m


# --------------------------------------------------------------------------- the report (reads only JSON files)
def _latest(docs, experiment, by=None):
    """Newest ok document per configuration key (and per d[by], when given) for one experiment."""
    best = {}
    for d in sorted(docs, key=lambda d: d["created"]):
        if d["experiment"] == experiment and d["status"] in ("ok", "pass"):
            best[json.dumps([d["metrics"].get("layout") or d["metrics"].get("gpus") or d["metrics"].get("tp"),
                             d.get(by)])] = d
    return list(best.values())


# engine flags that change what a layout measures (the rest - max_model_len, load_format, ... - do not, for a workload
# that fits): results that differ in them are different workloads
LIMITS = ("max_num_seqs", "max_num_batched_tokens", "gpu_memory_utilization", "kv_cache_dtype", "quantization", "dtype")


def workload_label(doc: dict) -> str:
    """What a result measured, as one line: model, request shape (or trace), batch size, engine limits. Results
    with different labels are never compared in one table."""
    c = doc["config"]
    w = c.get("workload") or {}
    model = str(c["engine"]["model"]).rstrip("/").split("/")[-1]
    shape = f"{c.get('input_len')} in / {c.get('output_len')} out tokens, {c.get('num_prompts')} prompts" + (
        f"; capacity on trace {Path(w['path']).name} ({w['sha256'][:8]})" if w.get("path") else "")
    limits = ", ".join(f"{k}={c['engine'][k]}" for k in LIMITS if k in c["engine"])
    return f"{model}: {shape}" + (f" ({limits})" if limits else "")


@dataclass
class Findings:
    """What the result files of one folder hold for one workload, as the report reads them."""
    docs: list[dict]
    skipped: list
    suite: list[dict]                       # newest suite run per GPU count
    runs: dict[str, list[dict]]             # benchmark_scaling.py runs by run stamp, each its own baseline
    tp_docs: list[dict]                     # test_tensor_parallel.py
    workload: str = ""                      # the workload reported on (workload_label)
    others: dict[str, list[dict]] = field(default_factory=dict)  # the folder's other workloads, not compared
    main_rows: list[dict] = field(default_factory=list)   # the course table's rows: the suite, else the newest TP run
    layouts: list[dict] = field(default_factory=list)     # every scaling layout's metrics
    trace_caps: list[dict] = field(default_factory=list)  # documents with a capacity judged on a trace's windows

    @property
    def first(self) -> dict:
        return (self.suite or self.scaling)[0]

    @property
    def scaling(self) -> list[dict]:
        return [d for stamp in sorted(self.runs) for d in self.runs[stamp]]

    @property
    def base(self) -> dict | None:
        return next((m for m in self.main_rows if m["gpus"] == 1), None)

    @property
    def primary(self) -> str | None:
        """The run the recommendation reads: the newest benchmark_scaling.py run with a 1-GPU baseline (its layouts
        measured back to back against it); else the suite's rows (None), or without a suite the newest run."""
        newest = sorted(self.runs, reverse=True)
        return next((s for s in newest if any(d["metrics"]["gpus"] == 1 for d in self.runs[s])),
                    newest[0] if newest and not self.suite else None)

    @property
    def candidates(self) -> list[dict]:
        """The layouts to recommend from: all from one run, so none is compared with another run's baseline."""
        return [d["metrics"] for d in self.runs[self.primary]] if self.primary else list(self.main_rows)

    @property
    def sources(self) -> str:
        suite = f"suite run {run_stamp(self.suite[0])}" if self.suite else None
        rec = f"benchmark_scaling.py run {self.primary}" if self.primary else suite
        course = suite or (f"benchmark_scaling.py run {self.primary}" if self.main_rows else None)
        return (f"Course table from the {course}; r" if course else "R") + f"ecommendation from the {rec}."


def pick_workload(docs: list[dict], wanted: str | None) -> tuple[str | None, dict[str, list[dict]]]:
    """(the workload to report on, {label: its suite and scaling documents}): the one whose label contains `wanted`,
    else the one with the newest result. Several matches, or none, is a UsageError that lists them."""
    groups: dict[str, list[dict]] = {}
    for d in docs:
        if d["experiment"] in ("suite", "scaling") and d["status"] in ("ok", "pass"):
            groups.setdefault(workload_label(d), []).append(d)
    if not groups:
        return None, groups
    if wanted is None:
        return max(groups, key=lambda k: max(run_stamp(d) for d in groups[k])), groups
    match = [k for k in groups if wanted.lower() in k.lower()]
    if len(match) != 1:
        raise cli.UsageError(f"--workload {wanted!r} matches {len(match)} of this folder's workloads: "
                             + "; ".join(f"'{k}'" for k in groups))
    return match[0], groups


def gather(out_dir: Path, wanted: str | None = None) -> Findings:
    docs, skipped = load_results(out_dir)
    for p, why in skipped:
        print(f"  skipped {p.name}: {why}")
    label, groups = pick_workload(docs, wanted)
    mine = [d for d in docs if d["experiment"] not in ("suite", "scaling") or workload_label(d) == label]
    # benchmark_scaling.py runs are kept apart: each layout's speedup is against the 1-GPU baseline of its own
    # run, since a shared machine's baseline drifts between runs
    runs: dict[str, list[dict]] = {}
    for d in sorted(_latest([dict(d, _key=run_stamp(d)) for d in mine], "scaling", by="_key"),
                    key=lambda d: (d["_key"], d["metrics"]["gpus"], d["metrics"]["layout"])):
        runs.setdefault(d["_key"], []).append(d)
    model = groups[label][0]["config"]["engine"]["model"] if label else None
    f = Findings(docs, skipped, sorted(_latest(mine, "suite"), key=lambda d: d["metrics"]["gpus"]), runs,
                 [d for d in _latest(docs, "tensor_parallel") if d["config"]["engine"]["model"] == model],
                 label or "", {k: v for k, v in groups.items() if k != label})
    newest = runs[f.primary] if f.primary and any(d["metrics"]["gpus"] == 1 for d in runs[f.primary]) else []
    f.main_rows = [d["metrics"] for d in f.suite] or sorted(
        [d["metrics"] for d in newest if d["metrics"].get("dp") == 1 and d["metrics"].get("pp") == 1],
        key=lambda m: m["gpus"])
    f.layouts = [d["metrics"] for d in f.scaling]
    f.trace_caps = trace_capacities(docs)
    return f


def trace_capacities(docs: list[dict]) -> list[dict]:
    """[{doc, cap, layout, gpus}]: every ok capacity judged on a trace's windows (it has a load profile and a
    binding window), newest per trace, stretch, layout and SLO."""
    found = {}
    for d in sorted(docs, key=lambda d: d["created"]):
        m = d["metrics"]   # a finished search counts even when a later step (its validation, a bench) was cut
        cap = m.get("capacity") or {}
        if cap.get("binding_window") and cap.get("binding_work_per_s") and not cap.get("failed"):
            engine = cap.get("engine") or d["config"]["engine"]
            gpus = int(engine.get("tensor_parallel_size") or 1) * int(engine.get("pipeline_parallel_size") or 1) \
                * int(engine.get("data_parallel_size") or 1)
            w = d["config"].get("workload") or {}
            layout = m.get("layout") or (f"TP{gpus}" if gpus > 1 else f"1 {dev_of(d['environment'])}")
            key = json.dumps([w.get("sha256"), w.get("start_s"), w.get("span_s"), layout, cap["slo"]])
            found[key] = {"doc": d, "cap": cap, "layout": layout, "gpus": gpus, "workload": w}
    return list(found.values())


def write_report(out_dir: Path, cfg: Config) -> dict:
    """report.md and its plots from the JSON files in `out_dir`, one section after another; the course table and
    the recommendation are printed too."""
    f = gather(out_dir, cfg.workload)
    if not (f.suite or f.runs):
        if f.trace_caps:   # capacities on a trace alone (simulate_concurrent_requests.py --find-capacity)
            return write_trace_report(out_dir, cfg, f)
        print(f"no suite, scaling or trace-capacity results in {out_dir}; nothing to report")
        return {"report": None, "exit_code": 1}
    env = f.first["environment"]
    price = gpu_hour_price(env, cfg.gpu_hour_usd)
    course = course_section(f)
    cap_lines, cap_best = capacity_section(f.candidates, *price, dev_of(env))
    base = next((m for m in f.candidates if m["gpus"] == 1), None)  # the recommended run's own baseline
    advice = recommendation(f.candidates, cap_best, base, price, env, cfg.slo)
    fleet = fleet_section(f.candidates, cfg, *price, dev_of(env))
    if fleet:  # its last line goes into the paragraph to paste
        advice[-2] += " " + fleet.pop()
    day, day_plots = day_fleet_section(f.trace_caps, cfg, out_dir)
    fleet += day
    L = (header_section(f, out_dir, env) + course + latency_section(f, dev_of(env)) + sweep_section(f)
         + mixed_section(f) + layouts_section(f, env) + cap_lines + fleet + advice + others_section(f))
    plots = report_plots(f, out_dir, cap_best) + day_plots
    L += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    report = out_dir / "report.md"
    atomic_write(report, "\n".join(L) + "\n")
    print("\n".join([f"Workload: {f.workload}", f.sources, ""] + course + fleet + advice[1:] + others_section(f)))
    print(f"report: {report}  plots: {', '.join(str(p) for p in plots)}")
    return {"report": str(report), "plots": [str(p) for p in plots], "exit_code": 0}


def write_trace_report(out_dir: Path, cfg: Config, f: Findings) -> dict:
    """report.md for a folder holding only capacities measured on a trace: each capacity, its validation, the day's
    fleet."""
    newest = max(f.trace_caps, key=lambda t: t["doc"]["created"])
    env = newest["doc"]["environment"]
    L = ["# Capacity on a trace, and the day's fleet", "", f"Generated from {len(f.docs)} result files in `{out_dir}`.",
         "", f"- {dev_of(env)}s: {', '.join(g['name'] for g in env['gpus']) or str(env['cpu_count']) + ' CPU cores'}; "
         f"vLLM {env['vllm']}, git {str(env['git_sha'])[:10]}", "", "## Capacity per trace stretch", ""]
    for t in f.trace_caps:
        cap, w = t["cap"], t["workload"]
        v = cap.get("validation")
        L += [f"- **{Path(w.get('path', 'trace')).name}**, {t['layout']} (`{Path(t['doc']['_path']).name}`): {cap['verdict']}."
              + (f" Validation replay: {v['verdict']}." if v else " No validation replay in this file."), ""]
    L += shapes_section(f)
    day, plots = day_fleet_section(f.trace_caps, cfg, out_dir)
    L += day[1:] + ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    report = out_dir / "report.md"
    atomic_write(report, "\n".join(L) + "\n")
    print("\n".join(day[1:]))
    print(f"report: {report}  plots: {', '.join(str(p) for p in plots)}")
    return {"report": str(report), "plots": [str(p) for p in plots], "exit_code": 0}


def mean_lengths(windows: list[dict]) -> tuple[float, float]:
    """(mean prompt tokens, mean output tokens) per request over a trace's windows."""
    n = sum(w["requests"] for w in windows) or 1
    return sum(w["prompt_tokens"] for w in windows) / n, sum(w["output_tokens"] for w in windows) / n


def shapes_section(f: Findings) -> list[str]:
    """Capacities on a synthetic shape (Poisson arrivals, fixed lengths) in the same folder, beside each trace
    stretch's and deciding window's own mean lengths: what a steady stream of the same mean request holds."""
    shapes = [d for d in f.docs if d["experiment"] == "concurrent_requests" and d["status"] == "ok"
              and (d["metrics"].get("capacity") or {}).get("request_rate")
              and (d["config"].get("workload") or {}).get("source") == "random"]
    if not shapes:
        return []
    L = ["## Beside them: a synthetic shape (Poisson arrivals, every request the same length)", "",
         "| workload | layout | SLO | capacity req/s | out tok/s at capacity | file |", "|---|---|---|---|---|---|"]
    for t in f.trace_caps:
        cap = t["cap"]
        pin, pout = mean_lengths(cap["profile"]["windows"])
        bw = next((w for w in cap["profile"]["heaviest"] if w["start_s"] == cap["binding_window"]["start_s"]), None)
        win = (" (its deciding window: %.0f in / %.0f out)" % mean_lengths([bw])) if bw else ""
        L.append(f"| {Path(t['workload'].get('path', 'trace')).name}: {pin:.0f} in / {pout:.0f} out tokens on average"
                 f"{win}, its own arrivals | {t['layout']} | {slo_text(cap['slo'], cap['percentile'])} | "
                 f"{cap['request_rate']:.3g} mean ({cap.get('binding_window_rate') or 0:.3g} in the deciding window) | "
                 f"{cap['output_throughput']:.0f} | `{Path(t['doc']['_path']).name}` |")
    for d in sorted(shapes, key=lambda d: d["created"]):
        c, cfg = d["metrics"]["capacity"], d["config"]
        gpus = int(cfg["engine"].get("tensor_parallel_size") or 1)
        L.append(f"| random: {cfg['input_len']} in / {cfg['output_len']} out tokens, Poisson arrivals | "
                 f"{f'TP{gpus}' if gpus > 1 else '1 ' + dev_of(d['environment'])} | {slo_text(c['slo'], c['percentile'])} "
                 f"| {c['request_rate']:.3g} | {c['output_throughput']:.0f} | `{Path(d['_path']).name}` |")
    return L + ["", "A synthetic shape at a trace's mean lengths is not the trace: the trace's bursts, its spread of "
                "lengths and its shared prefixes are what the capacity above was judged on. Compare the two before "
                "sizing from a synthetic benchmark.", ""]


def header_section(f: Findings, out_dir: Path, env: dict) -> list[str]:
    L = ["# Multi-GPU scaling report", "",
         f"Model: `{f.first['config']['engine']['model']}`  ",
         f"Workload: {f.workload}  ",
         f"{f.sources}  ",
         f"Generated from {len(f.docs)} result files in `{out_dir}`" + (f" ({len(f.skipped)} skipped)" if f.skipped else "")
         + "." + (f" Every table below is of this one workload; the folder's {len(f.others)} other workload(s) are "
                  "listed at the end, not compared." if f.others else ""), "",
         "## Environment", "",
         f"- GPUs: {', '.join(g['name'] for g in env['gpus']) or 'none (CPU: ' + str(env['cpu_count']) + ' cores)'}",
         f"- driver {env['driver']}, CUDA {env['cuda']}, torch {env['torch']}, vLLM {env['vllm']}, git {str(env['git_sha'])[:10]}",
         f"- host CPU: {env.get('cpu_model') or 'not recorded'}, {env['cpu_count']} cores",
         ""]
    if env.get("interconnect"):
        L += ["```", strip_ansi(env["interconnect"]).strip(), "```", ""]
    return L


def course_section(f: Findings) -> list[str]:
    dev = dev_of(f.first["environment"])
    if not f.main_rows:
        return ["## Scaling (course table)", "", f"No run of this workload measured TP against a 1-{dev} baseline: "
                "no course table (run benchmark_scaling.py with --gpus 1,... or the suite).", ""]
    L = ["## Scaling (course table)", "",
         f"| {dev}s | Throughput (out tok/s) | Speedup | Efficiency | course: throughput | course: speedup | course: efficiency |",
         "|---|---|---|---|---|---|---|"]
    for m in f.main_rows:
        sp, eff = speedup(m, f.base)
        c = COURSE_TABLE.get(m["gpus"])
        L.append(f"| {m['gpus']} | {m['output_throughput']:.0f} | " + (f"{sp:.2f}x | {eff * 100:.0f}%" if sp else "- | -")
                 + (f" | {c[0]} tok/s | {c[1]:.1f}x | {c[2] * 100:.0f}% |" if c else " | - | - | - |"))
    return L + ["", "The course's numbers are for an unnamed GPU and batch size; ours are measured on the machine above "
                f"with {f.first['config'].get('num_prompts')} prompts sent at once. Absolute throughput depends on "
                "the GPU and batch size; compare speedup and efficiency.", ""]


def latency_section(f: Findings, dev: str) -> list[str]:
    L = [f"## Latency and memory vs {dev}s", "",
         f"| {dev}s | batch-1 decode tok/s | batch-1 TPOT ms | TTFT p50 ms | TPOT p50 ms | E2E p99 ms | memory per {dev} (peak) |",
         "|---|---|---|---|---|---|---|"]
    for m in f.main_rows:
        mem = m.get("memory_peak_mib") or {}
        L.append(f"| {m['gpus']} | {m['batch1_decode_tokens_per_s']:.1f} | {m['batch1_tpot_ms']:.2f} | "
                 f"{m['median_ttft_ms']:.1f} | {m['median_tpot_ms']:.2f} | {m['p99_e2el_ms']:.1f} | "
                 + (", ".join(f"{k} {v / 1024:.1f} GiB" for k, v in mem.items()) or "-") + " |")
    if f.tp_docs:
        L += ["", "TP memory check (test_tensor_parallel.py): " + "; ".join(
            f"TP={d['metrics']['tp']} balance {d['metrics']['memory_balance'] * 100:.1f}%"
            if d["metrics"].get("memory_balance") is not None else f"TP={d['metrics']['tp']} single rank"
            for d in sorted(f.tp_docs, key=lambda d: d["metrics"]["tp"]))]
    return L


def sweep_section(f: Findings) -> list[str]:
    if not (f.suite and any(m.get("sweep") for m in f.main_rows)):
        return []
    levels = f.main_rows[0]["sweep"]
    return (["", "### Serving sweep (output tok/s at each concurrency)", "",
             f"| {dev_of(f.first['environment'])}s | " + " | ".join(f"conc {s['concurrency']}" for s in levels) + " |", "|---|" + "---|" * len(levels)]
            + [f"| {m['gpus']} | " + " | ".join(f"{s['output_throughput']:.0f}" for s in m["sweep"]) + " |"
               for m in f.main_rows])


def mixed_section(f: Findings) -> list[str]:
    if not (f.suite and any(m.get("mixed") for m in f.main_rows)):
        return []
    L = ["", "### Mixed long/short workload (default scheduler budget)", "",
         f"| {dev_of(f.first['environment'])}s | short TTFT p99 ms | alone p99 ms | inflation | HOL blocked | long TTFT p50 ms |", "|---|---|---|---|---|---|"]
    for m in f.main_rows:
        x = m["mixed"]
        L.append(f"| {m['gpus']} | {x['short_p99_ttft_ms']:.1f} | {x['short_alone_p99_ttft_ms']:.1f} | "
                 f"{x['short_ttft_inflation_p99']:.2f}x | {x['hol_blocked_share'] * 100:.0f}% | {x['long_median_ttft_ms']:.1f} |")
    return L


def layouts_section(f: Findings, env: dict) -> list[str]:
    if not f.layouts:
        return []
    many, dev, gpu = len(f.runs) > 1, dev_of(env), bool(env["gpus"])
    L = ["", "## Layouts (benchmark_scaling.py)", ""]
    if many:
        L += [f"{len(f.runs)} runs in this folder ({', '.join(sorted(f.runs))}); each layout's speedup is against the "
              "1-GPU baseline of its own run.", ""]
    L += [("| run " if many else "") + f"| layout | {dev}s | out tok/s | speedup (efficiency) | tok/s per {dev} | batch-1 tok/s | "
          + ("batch-1 step vs HBM roofline | " if gpu else "") + "measured TP overhead of a step | modelled comm share of a step |",
          "|---" * (8 + gpu + many) + "|"]
    for stamp in sorted(f.runs):
        base_l = next((d["metrics"] for d in f.runs[stamp] if d["metrics"]["gpus"] == 1), None)
        L += [(f"| {stamp} " if many else "") + layout_line(d["metrics"], base_l, gpu) for d in f.runs[stamp]]
    for stamp in sorted(f.runs):
        ms = [d["metrics"] for d in f.runs[stamp]]
        L += [x for note in (above_linear_note(ms, dev), spread_note(ms)) if note
              for x in ("", (f"Run {stamp}: " if many else "") + note)]
    if not gpu:
        return L + ["", "The measured TP overhead is the part of a TP=N batch-1 step beyond an ideal 1/N split of the "
                    "1-rank step (all-reduces plus per-step costs that do not shrink with N). The comm share models 2 "
                    "all-reduces per layer at the latency of the gloo all-reduce measured between CPU processes by the "
                    "micro-benchmark; above 100 % that model exceeds the measured step, so read it as 'communication "
                    "dominates', not as a share."]
    return L + ["", "Roofline: a batch-1 decode step must stream every weight byte of a GPU once (weights per GPU / HBM "
                "bandwidth); the column is that time as a share of the measured step. The measured TP overhead is the "
                "part of a TP=N batch-1 step beyond an ideal 1/N split of the 1-GPU step (all-reduces plus per-step costs "
                "that do not shrink with N). The comm share models 2 all-reduces "
                "per layer at the latency of the eager NCCL all-reduce measured by the micro-benchmark - an upper bound, "
                "since vLLM's own custom all-reduce inside CUDA graphs is faster."]


def layout_line(m: dict, base_l: dict | None, gpu: bool = True) -> str:
    sp, eff = speedup(m, base_l)
    pct = lambda v: f"{v * 100:.0f}%" if v is not None else "-"  # noqa: E731
    comm = m.get("comm_share_of_step")
    roof = m.get("decode_pct_of_hbm_roofline")
    return (f"| {m['layout']} | {m['gpus']} | {m['output_throughput']:.0f} | "
            + (f"{sp:.2f}x ({eff * 100:.0f}%)" if sp else "-") + " | "
            f"{m['output_throughput'] / m['gpus']:.0f} | {m['batch1_decode_tokens_per_s']:.1f} | "
            + (("-" if roof is None else f"{roof:.0f}%") + " | " if gpu else "")
            + f"{pct(tp_overhead_share(m, base_l))} | {'>100%' if comm and comm > 1 else pct(comm)} |")


def report_plots(f: Findings, out_dir: Path, cap_best: dict) -> list[Path]:
    rows, base, dev = f.main_rows, f.base, dev_of(f.first["environment"])
    xs = [m["gpus"] for m in rows]
    plots = []
    if base:
        plots.append(line_plot(out_dir / "report_throughput.png", {"measured (TP)": (xs, [m["output_throughput"] for m in rows])},
                               f"Offline throughput vs {dev}s", f"{dev}s", "output tokens / s",
                               ideal=(xs, [base["output_throughput"] * n for n in xs])))
    plots.append(line_plot(out_dir / "report_latency.png",
                           {"batch-1 TPOT (ms)": (xs, [m["batch1_tpot_ms"] for m in rows]),
                            "TTFT p50 at concurrency (ms)": (xs, [m["median_ttft_ms"] for m in rows])},
                           f"Latency vs {dev}s", f"{dev}s", "ms"))
    if any(m.get("memory_peak_mib") for m in rows):
        plots.append(bar_plot(out_dir / "report_memory.png", [m["layout"] for m in rows],
                              {f"peak memory per {dev} (GiB)": [max((m.get("memory_peak_mib") or {0: 0}).values()) / 1024
                                                                for m in rows]},
                              "Peak memory per GPU (NVML)" if dev == "GPU" else "Peak memory per engine process (RSS)",
                              "GiB"))
    if cap_best:
        ms = [m for m in f.candidates if m.get("capacity")]
        first = ms[0]["capacity"]
        plots += capacity_plots(out_dir / "report", [m for m in ms if m["capacity"]["slo"] == first["slo"]], first, dev)
    if f.layouts:
        stamp = lambda d: f" {d['_key'][-6:-4]}:{d['_key'][-4:-2]}" if len(f.runs) > 1 else ""  # noqa: E731
        plots.append(bar_plot(out_dir / "report_layouts.png", [d["metrics"]["layout"] + stamp(d) for d in f.scaling],
                              {"out tok/s": [m["output_throughput"] for m in f.layouts]}, "Throughput per layout",
                              "output tokens / s"))
    return plots


def fleet_target(ms: list[dict], cfg: Config) -> tuple[float | None, str]:
    """(req/s the fleet must serve, where the figure comes from): --target-rate, else with --growth the busiest
    minute of the trace the capacities were measured on, times the growth."""
    if cfg.target_rate:
        return cfg.target_rate, "--target-rate"
    caps = [m["capacity"] for m in ms if (m.get("capacity") or {}).get("trace_speedup")]
    if not (cfg.growth and caps):
        return None, ""
    c = caps[0]
    if c.get("trace_judge") == "heaviest":   # the capacity already holds the heaviest window: plan on the mean
        mean = c["request_rate"] / c["trace_speedup"]
        return mean * cfg.growth, (f"the trace's mean rate ({mean:.3g} req/s; each capacity was judged at its "
                                   f"heaviest window) x {cfg.growth:g}")
    busy = c["busiest_minute_rate"] / c["trace_speedup"]
    return busy * cfg.growth, f"the trace's busiest minute ({busy:.3g} req/s) x {cfg.growth:g}"


def fleet_section(ms: list[dict], cfg: Config, price, price_src, dev: str) -> list[str]:
    """'Fleet for R req/s': per layout with a capacity, the replicas that hold R (ceil(R / capacity)), their devices,
    $ per hour and per 1M output tokens at R, and the headroom; the cheapest named. Replicas behind a load
    balancer are assumed to add capacity linearly (DP inside one engine is measured, not assumed)."""
    target, src = fleet_target(ms, cfg)
    caps = [m for m in ms if m.get("capacity_request_rate")]
    if not target or not caps:
        return []
    rows = []
    for m in caps:
        reps = math.ceil(target / m["capacity_request_rate"])
        out_tok = target * m["capacity_output_throughput"] / m["capacity_request_rate"]
        hour = reps * m["gpus"] * price if price else None
        rows.append((m, reps, hour, hour / 3600 / out_tok * 1e6 if hour else None,
                     reps * m["capacity_request_rate"] / target - 1))
    best = min(rows, key=lambda r: (r[1] * r[0]["gpus"] if r[2] is None else r[2], r[1] * r[0]["gpus"]))
    L = ["", f"## Fleet for {target:.3g} req/s", "",
         f"Target: {target:.3g} req/s ({src}). Each layout's capacity under its SLO ({slo_text(best[0]['capacity']['slo'], best[0]['capacity']['percentile'])}), "
         "replicated behind a load balancer: replicas = ceil(target / capacity). Assumed: replicas add capacity "
         "linearly (a load balancer in front, no shared bottleneck); data parallelism inside one engine is measured "
         "above, not assumed." + (f" ${price:.2f} per {dev}-hour ({price_src})." if price else ""), "",
         f"| layout | capacity req/s | replicas | {dev}s | $/hour | $/1M out tok | headroom |", "|---|---|---|---|---|---|---|"]
    for m, reps, hour, per_m, head in sorted(rows, key=lambda r: r[1] * r[0]["gpus"]):
        L.append(f"| {m['layout']} | {m['capacity_request_rate']:.3g} | {reps} | {reps * m['gpus']} | "
                 f"{num(hour, 2)} | {num(per_m, 3)} | {head * 100:.0f}% |")
    m, reps, hour = best[:3]
    fleet = f"{reps} x {m['layout']} = {reps * m['gpus']} {dev}s" + (f", ${hour:.2f}/hour" if hour else "")
    return L + ["", f"**Cheapest fleet that holds {target:.3g} req/s within the SLO:** {fleet}.",
                f"To serve {target:.3g} req/s within the SLO, rent {fleet} (the cheapest fleet of the layouts measured)."]


def day_fleet_section(trace_caps: list[dict], cfg: Config, out_dir: Path) -> tuple[list[str], list[Path]]:
    """"The day's fleet": per capacity judged on a trace, replicas window by window for the trace's traffic x
    --growth (common.load_profile.fleet_plan): static (its peak) vs autoscaled, GPU-hours and $ a day; a
    replicas-over-time plot each."""
    if not trace_caps:
        return [], []
    growth = cfg.growth or 1.0
    L = ["", f"## The day's fleet (the trace's traffic x {growth:g})", "",
         "Each row: a capacity measured on the trace's heaviest window (the speed-up found x that window's work), and the "
         f"replicas each step of the stretch needs for its traffic x {growth:g}: ceil(growth x the work of the step's "
         f"heaviest window / the work one replica held); a step is as many whole windows as make {SCALE_STEP_S:g} s "
         "or more. Static: the peak, all day. Autoscaled: a replica takes one step to come up (a vLLM engine starts in "
         "about a minute), so it is started (and paid) a step before it is needed; scale-down is immediate; at least "
         f"{cfg.min_replicas} replica(s). Assumed: replicas add capacity linearly; the capacity holds for this "
         "traffic's mix, measured on its heaviest window. A day is the stretch's pattern repeated (not measured).", "",
         "| trace (stretch) | layout | SLO | capacity | decided by | static | static device-h/day | autoscaled device-h/day "
         "| $/day static | $/day autoscaled |", "|---|---|---|---|---|---|---|---|---|---|"]
    plots = []
    for i, t in enumerate(trace_caps):
        cap, d = t["cap"], t["doc"]
        price, _ = gpu_hour_price(d["environment"], cfg.gpu_hour_usd)
        t["fleet"] = fl = fleet_plan(cap["profile"]["windows"], cap["trace_speedup"] * cap["binding_work_per_s"],
                                     growth, cfg.min_replicas, t["gpus"], price, step_s=SCALE_STEP_S,
                                     end_s=cap["profile"].get("end_s"))
        dev = dev_of(d["environment"])
        name = Path(t["workload"].get("path", "trace")).name
        o, span = cap["profile"]["origin_s"], fl["stretch_s"]
        bw = cap["binding_window"]
        L.append(f"| {name} ({clock(o)}-{clock(o + span)}) | {t['layout']} | {slo_text(cap['slo'], cap['percentile'])} "
                 f"| {cap['trace_speedup']:.3g}x ({cap['request_rate']:.3g} req/s mean) | {clock(bw['start_s'])} | "
                 f"{fl['static_replicas']} x {t['gpus']} {dev} | {fl['static_gpu_hours_per_day']:.1f} | "
                 f"{fl['autoscaled_gpu_hours_per_day']:.1f} | {num(fl.get('static_usd_per_day'), 0)} | "
                 f"{num(fl.get('autoscaled_usd_per_day'), 0)} |")
        plots.append(replicas_plot(out_dir / f"report_replicas_{i}.png", fl,
                                   f"Replicas per {fl['step_s']:g} s step: {name} x {growth:g}, "
                                   f"{t['layout']} under {slo_text(cap['slo'], cap['percentile'])}"))
    groups: dict[str, list[dict]] = {}   # one answer per traffic (trace, stretch) and SLO, across layouts
    for t in trace_caps:
        w, cap = t["workload"], t["cap"]
        groups.setdefault(json.dumps([w.get("sha256"), w.get("start_s"), w.get("span_s"), cap["slo"]]), []).append(t)
    for ts in groups.values():
        best = min(ts, key=lambda t: t["fleet"]["autoscaled_gpu_hours_per_day"])
        fl, dev = best["fleet"], dev_of(best["doc"]["environment"])
        saved = 1 - fl["autoscaled_gpu_hours_per_day"] / fl["static_gpu_hours_per_day"]
        v, cap = best["cap"].get("validation") or {}, best["cap"]
        L += ["", f"**The day's fleet for {Path(best['workload'].get('path', 'trace')).name} x {growth:g}:** "
              f"{fl['static_gpus']} {dev}{'s' if fl['static_gpus'] != 1 else ''} static "
              f"({fl['static_gpu_hours_per_day']:.1f} {dev}-hours a day), or autoscaled per step "
              f"{fl['autoscaled_gpu_hours_per_day']:.1f} "
              + (f"({saved * 100:.0f}% less)" if saved >= 0.005 else "(the same: the stretch never needs fewer)")
              + f", in replicas of {best['layout']}."
              + (f" Read with care: the validation replay at {cap['trace_speedup']:.3g}x missed the SLO in "
                 f"{len(v['missed'])} window(s) ({', '.join(clock(s) for s in v['missed'])}), so "
                 f"{cap['trace_speedup']:.3g}x is the edge of this capacity, not a margin; at the peak this plan "
                 f"loads each replica to {fl['peak_load'] * 100:.0f}% of it." if v.get("pass") is False and v.get("missed")
                 else "")]
    return L, plots


def others_section(f: Findings) -> list[str]:
    """The folder's other workloads: named, never mixed into the tables above; how to report on one of them."""
    if not f.others:
        return []
    L = ["", "## Other workloads in this folder (not compared above)", "",
         "| workload | results | newest | best offline out tok/s | best capacity req/s |", "|---|---|---|---|---|"]
    for label, docs in sorted(f.others.items()):
        caps = [d["metrics"].get("capacity", {}).get("request_rate") for d in docs]
        L.append(f"| {label} | {len(docs)} | {max(run_stamp(d) for d in docs)} | "
                 f"{max(d['metrics'].get('output_throughput') or 0 for d in docs):,.0f} | "
                 + (f"{max(c for c in caps if c):.3g}" if any(caps) else "-") + " |")
    return L + ["", "Report on one of them with `--workload TEXT` (any part of its label, e.g. its token counts)."]


@dataclass
class Picks:
    """The layouts the recommendation names, each chosen from measured numbers."""
    per_dollar: dict              # most offline out tok/s per GPU (ties within 3 %: the fewest GPUs)
    top: dict                     # highest offline out tok/s per GPU
    fastest: dict                 # lowest batch-1 TPOT among those meeting the SLO (else among all)
    meets: list[dict]             # layouts whose p99 TTFT / TPOT under load meet the SLO
    n_all: int                    # the most GPUs measured
    at_all: list[dict]            # the layouts measured on n_all GPUs
    best_all: dict                # the best of those (by capacity under the SLO when searched, else throughput)
    cap_key: str | None           # the SLO text of the first capacity group
    speedup: float | None         # best_all's offline speedup over one GPU
    fewer: bool                   # some layout was measured on fewer GPUs than n_all


def per_gpu(m: dict) -> float:
    return m["output_throughput"] / m["gpus"]


def pick(cands: list[dict], cap_best: dict, base: dict | None, slo: dict) -> Picks:
    top = max(cands, key=per_gpu)
    # per-GPU rates within 3 % are a tie on a shared machine: the fewest GPUs is then the simpler rental
    per_dollar = min([m for m in cands if per_gpu(m) >= 0.97 * per_gpu(top)], key=lambda m: (m["gpus"], -per_gpu(m)))
    meets = [m for m in cands if (m.get("p99_ttft_ms") or 1e18) <= slo.get("ttft", 1e18)
             and (m.get("p99_tpot_ms") or 1e18) <= slo.get("tpot", 1e18)]
    fastest = min(meets or cands, key=lambda m: m["batch1_tpot_ms"] or 1e18)
    n_all = max(m["gpus"] for m in cands)
    at_all = [m for m in cands if m["gpus"] == n_all]
    cap_key = next(iter(cap_best), None)
    with_cap = [m for m in at_all if m.get("capacity_request_rate") is not None]
    best_all = (max(with_cap, key=lambda m: m["capacity_request_rate"]) if cap_key and with_cap
                else max(at_all, key=lambda m: m["output_throughput"]))
    sp = best_all.get("speedup") or (speedup(best_all, base)[0] if base else None)
    return Picks(per_dollar, top, fastest, meets, n_all, at_all, best_all, cap_key if with_cap else None, sp,
                 any(m["gpus"] < n_all for m in cands))


def recommendation(cands: list[dict], cap_best: dict, base: dict | None, price: tuple, env: dict,
                   slo: dict) -> list[str]:
    """The report's advice for the devices the reader has: SLO capacity per dollar, batch throughput per dollar,
    the best use of all N devices (the best layout measured at N, never TP alone when another N-layout read
    higher), whether fewer would do, and the lowest latency; then the paragraph to paste."""
    price, price_src = price
    dev, p = dev_of(env), pick(cands, cap_best, base, slo)
    cost = lambda m: usd_per_1m(price, m["gpus"], m["output_throughput"]) if price else None  # noqa: E731
    where = lambda m: f"a single {dev}" if m["gpus"] == 1 else f"{m['layout']} ({m['gpus']} {dev}s)"  # noqa: E731
    c1, c2 = cost(p.per_dollar), cost(p.fastest)
    L = ["", "## Recommendation", ""]
    for slo_key, m in cap_best.items():
        c = m.get("usd_per_1m_output_tokens_at_capacity")
        L.append(f"- **Serving capacity per dollar under {slo_key}:** {where(m)}: {m['capacity_request_rate']:.3g} req/s "
                 f"({m['capacity_request_rate_per_gpu']:.3g} per {dev}, {m['capacity_output_throughput']:.0f} out tok/s)"
                 + (f", ${c:.3f} per 1M output tokens at capacity." if c is not None else "."))
    L.append(f"- **Batch throughput per dollar (offline):** {where(p.per_dollar)}: "
             f"{per_gpu(p.per_dollar):.0f} out tok/s per {dev}"
             + (f", ${c1:.3f} per 1M output tokens at ${price:.2f}/GPU-hour ({price_src})." if c1 is not None
                else " (pass --gpu-hour-usd for $ per 1M tokens).")
             + (f" {p.top['layout']} on {p.top['gpus']} {dev}s read {per_gpu(p.top):.0f} per {dev}, within 3 %: a tie "
                "on a shared machine, and fewer GPUs are the simpler rental." if p.top is not p.per_dollar else ""))
    all_txt = all_devices_text(p, dev) if p.n_all > 1 else ""
    if all_txt:
        L.append(f"- **Using all {p.n_all} {dev}s:** {all_txt}.")
        L.append(f"- **Would fewer {dev}s do?** " + fewer_text(p, dev, where))
    slo_txt = ", ".join(f"p99 {k.upper()} <= {v:.0f} ms" for k, v in slo.items())
    f = p.fastest
    L.append(f"- **Lowest latency{' under the SLO (' + slo_txt + ')' if p.meets else ' (no layout met the SLO ' + slo_txt + ')'}:** "
             f"{where(f)}: batch-1 {f['batch1_decode_tokens_per_s']:.0f} tok/s, "
             f"p99 TTFT {f['p99_ttft_ms']:.0f} ms, p99 TPOT {f['p99_tpot_ms']:.1f} ms"
             + (f", ${c2:.3f} per 1M output tokens." if c2 is not None else "."))
    if note := above_linear_note(cands, dev):  # per-device comparisons against this run's baseline cannot be trusted
        L.append(f"- **Read with care:** {note}")
    return L + ["", paste_paragraph(p, cap_best, env, where, (c1, c2), all_txt), ""]


def fewer_text(p: Picks, dev: str, where) -> str:
    """Whether fewer devices serve as well per device, and whether all of them give more in total (capacity under
    the SLO where it was searched, else offline throughput)."""
    b, s = p.best_all, p.per_dollar
    if not p.fewer:
        return f"Not measured: this run has no layout on fewer than {p.n_all} {dev}s."
    if s["gpus"] >= p.n_all:
        return f"No: {b['layout']} on all {p.n_all} is as cost-efficient per {dev} as any smaller layout measured."
    by_cap = bool(p.cap_key) and s.get("capacity_request_rate") is not None
    key, unit_, fmt = (("capacity_request_rate", "req/s under the SLO", "{:.3g}") if by_cap else
                       ("output_throughput", "out tok/s offline", "{:,.0f}"))
    totals = f"{fmt.format(b[key])} vs {fmt.format(s[key])} {unit_}"
    head = f"Yes: {where(s)} gives {per_gpu(s):.0f} out tok/s per {dev} against {b['layout']}'s {per_gpu(b):.0f}; "
    if b[key] > s[key]:
        return head + f"rent {p.n_all} only for the total ({totals})."
    return head + f"and {b['layout']} gives no more in total either ({totals}): rent {s['gpus']}."


def all_devices_text(p: Picks, dev: str) -> str:
    b, n = p.best_all, p.n_all
    others = ", ".join(f"{m['layout']} {m['output_throughput']:,.0f}" for m in p.at_all if m is not b)
    by = f"{b['capacity_request_rate']:.3g} req/s under {p.cap_key}, " if p.cap_key else ""
    return (f"{b['layout']}: {by}{b['output_throughput']:,.0f} out tok/s offline"
            + (f", {p.speedup:.2f}x one {dev} ({p.speedup / n * 100:.0f}% efficiency) at {n}x the cost per hour"
               if p.speedup else "") + (f" (others on {n}: {others} out tok/s)" if others else ""))


def paste_paragraph(p: Picks, cap_best: dict, env: dict, where, costs: tuple, all_txt: str) -> str:
    dev, (c1, c2) = dev_of(env), costs
    box = (f"{len(env['gpus'])} x {env['gpus'][0]['name']}" if env["gpus"]
           else f"this CPU box ({env['cpu_count']} cores, one per rank)")
    serve_txt = "".join(
        f"to serve requests within {k} run {where(m)}: it holds {m['capacity_request_rate']:.3g} req/s "
        f"({m['capacity_request_rate_per_gpu']:.3g} per {dev}"
        + (f", ${m['usd_per_1m_output_tokens_at_capacity']:.3f} per 1M output tokens at that load"
           if m.get("usd_per_1m_output_tokens_at_capacity") is not None else "") + "); " for k, m in cap_best.items())
    head = "Optimal multi-GPU configuration" if env["gpus"] else "Recommended layout on this CPU box"
    return (f"**{head} (paste into your notes):** "
            f"On {box}, {serve_txt}for batch throughput per dollar run {where(p.per_dollar)} "
            f"({per_gpu(p.per_dollar):.0f} out tok/s per {dev}" + (f", ${c1:.3f}/1M tokens" if c1 is not None else "")
            + f"); for the lowest per-request latency run {where(p.fastest)} "
            f"({p.fastest['batch1_decode_tokens_per_s']:.0f} tok/s for a single stream"
            + (f", ${c2:.3f}/1M tokens" if c2 is not None else "") + "). "
            + (f"To use all {p.n_all} {dev}s, run {all_txt}." if all_txt else ""))


def dev_of(env: dict) -> str:
    return "GPU" if env["gpus"] else "CPU rank"


def capacity_section(ms: list[dict], price, price_src, dev: str) -> tuple[list[str], dict]:
    """'Serving capacity under the SLO': every measured layout with a capacity search, grouped by SLO; and per
    SLO the layout with the most capacity per GPU-dollar ({slo text: metrics})."""
    groups: dict[str, list[dict]] = {}
    for m in ms:
        derive_capacity(m, price)  # at the report's price (--gpu-hour-usd or the GPU's table price)
        if m.get("capacity") and m["capacity"].get("slo"):
            groups.setdefault(slo_text(m["capacity"]["slo"], m["capacity"]["percentile"]), []).append(m)
    if not groups:
        return [], {}
    L = ["", "## Serving capacity under the SLO", "",
         "Capacity: the highest request rate (Poisson arrivals, or the trace sped up) at which the SLO still held "
         "(bracket from a saturation probe, then bisection; a probe also fails when its backlog of unfinished requests "
         f"grows by more than {KEEP_UP_SHARE * 100:g} % of its arrivals beyond Poisson noise). Offline throughput says what a layout does with "
         "a full queue; capacity says how much live traffic it takes before users notice."
         + (f" Cost at ${price:.2f} per {dev}-hour ({price_src})." if price else "")]
    best = {}
    cols = ("layout", f"{dev}s", "capacity req/s", f"req/s per {dev}", "out tok/s at capacity", "$/1M out tok at capacity",
            "next rate broke", "probes")
    for key, group in groups.items():
        L += ["", f"**{key}**", "", f"| layout | {dev}s | capacity req/s | per {dev} | out tok/s at capacity | $/1M out "
              "tok at capacity | next rate broke | probes |", "|---|---|---|---|---|---|---|---|"]
        L += ["| " + " | ".join(str(r[k]) for k in cols) + " |" for r in capacity_rows(group, dev)]
        if (b := best_capacity(group)) is not None:
            best[key] = b
    return L, best


# --------------------------------------------------------------------------- command line
def build_config(args, engine: dict) -> Config:
    if args.gpu_hour_usd is not None and args.gpu_hour_usd <= 0:
        raise cli.UsageError("--gpu-hour-usd must be > 0")
    if args.offline_runs < 1:
        raise cli.UsageError("--offline-runs must be >= 1")
    if any(v is not None and v <= 0 for v in (args.target_rate, args.growth)):
        raise cli.UsageError("--target-rate and --growth must be > 0")
    if args.from_results and not Path(args.from_results).is_dir():
        raise cli.UsageError(f"--from-results {args.from_results}: no such folder")
    capacity = spec_from_args(args, required=False)
    if args.dataset_path and not capacity:
        raise cli.UsageError("a trace (--dataset-path) is what the capacity search replays: add --slo")
    try:
        check_trace_args(args)
    except TraceError as e:
        raise cli.UsageError(str(e)) from None
    return from_args(Config, args, **cli.common_fields(args, check_output=not args.from_results), engine=engine,
                     slo=capacity["slo"] if capacity else dict(DEFAULT_SLO), capacity=capacity)


if __name__ == "__main__":
    p = cli.base_parser(__doc__)
    add_options(p, Config)
    add_cli_args(p)  # --slo: the latency pick's SLO (default ttft:500,tpot:50), and given, a capacity search per GPU count
    cli.run_main(main, build_config, p)
