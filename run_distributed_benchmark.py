"""Experiment 5 - The whole suite at every GPU count, against the one-GPU baseline, and the scaling report.

For each GPU count N (default 1, 2, 4, capped at the GPUs present) ONE engine (tensor parallel N) is
started in its own process and measures everything the week needs: per-GPU memory (the TP check),
offline throughput, batch-1 decode, latency at a fixed concurrency, a serving-load sweep over
concurrency levels, and the mixed long/short workload at the default scheduler budget. Then every
result JSON in the output folder (this suite's and any the other four scripts wrote) is aggregated
into results/report.md with PNG plots: the course's scaling table next to its expected numbers,
latency and memory vs GPUs, layouts (when benchmark_scaling.py measured them), communication share,
and a recommendation - the layout for throughput per dollar, and (with --slo) the one for latency under it.
With --slo the suite answers the layout question too: at each GPU count N > 1 it also measures DP=N (N one-GPU
replicas: offline, batch-1 and latency as benchmark_scaling.py does), and every layout (TP=N and DP=N) gets a
capacity search - the highest Poisson request rate that meets the SLO - on a second engine built as `vllm serve`
builds it (AsyncLLM; DP through vLLM's own data parallelism behind one front end), so TP and DP are measured
alike. The recommendation names the layout with the most SLO capacity per GPU-dollar.

Run it:
    python run_distributed_benchmark.py                           # Qwen/Qwen2.5-7B-Instruct at 1,2,4 GPUs + report
    python run_distributed_benchmark.py --gpus 1,4 --gpu-hour-usd 2.49 --slo ttft:300,tpot:30   # TP4 vs DP4
    python run_distributed_benchmark.py --resume                  # skip configurations already in results/
    python run_distributed_benchmark.py --from-results results/   # report only, no GPU needed
    python run_distributed_benchmark.py --from-results last_week/ --compare results/   # two runs side by side
    python run_distributed_benchmark.py --from-results results/ --growth 2 --day-profile traces/day_profile_example.csv
    python run_distributed_benchmark.py                           # CPU box: tiny model, 1 and 2 CPU ranks
Exit code 0 when every configuration ran, 1 when one failed, 2 on bad input.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from common import cli
from common.capacity.drivers import layout_capacity
from common.capacity.flags import add_cli_args, spec_from_args
from common.config import RunConfig, TraceConfig, add_options, fill_device_defaults, from_args, option
from common.measure import plan as bill
from common.measure.cost import gpu_hour_price
from common.measure.metrics import StageTimer
from common.measure.mixed import mixed_on_llm
from common.measure.scaling import (
    Layout,
    ReplicaFields,
    measure_engine,
    plan_layouts,
    run_layout,
    serving_sweep,
    summarize_layout,
    whole_engine_figures,
)
from common.output.progress import Stages
from common.output.results import (
    RunFile,
    Status,
    any_failed,
    environment,
    load_results,
    record_failure,
    run_path,
    save_run,
    then,
    timestamp,
)
from common.report import DEFAULT_SLO, ReportSettings, write_report
from common.report.compare import write_compare
from common.report.settings import DayFleetOptions, check_day_fleet_options
from common.runtime import engine as eng
from common.runtime import hardware
from common.runtime.gpu_memory import MemoryTracker
from common.runtime.isolation import Failure, run_isolated, until_interrupted
from common.runtime.models import layout_problem
from common.traffic.workloads import workload_config

EXPERIMENT = "suite"


@dataclass
class Config(DayFleetOptions, ReplicaFields, TraceConfig, RunConfig):
    gpus: list[int] = option([1, 2, 4], "GPU counts (TP sizes) of the suite", type=cli.int_list)
    target_rate: float | None = option(
        help="req/s the fleet must serve: the report plans replicas of each layout for it", type=float
    )
    growth: float | None = option(
        help="with capacities measured on a trace: plan for its busiest minute x this, "
        "and the day's fleet for its traffic x this",
        type=float,
    )
    min_replicas: int = option(1, "the day's fleet (a capacity on a trace): the fewest replicas an autoscaler keeps")
    offline_runs: int = option(3, "timed offline runs per GPU count, median reported")
    resume: bool = option(False, "skip GPU counts whose suite results already exist", action="store_true")
    from_results: str | None = option(
        help="only aggregate the JSON files in DIR into a report", metavar="DIR", type=str
    )
    compare: str | None = option(
        help="with --from-results A: set folder B's figures beside A's (ratios, ties within the noise, what "
        "differs), into A/compare.md",
        metavar="B",
        type=str,
    )
    seed: int = option(0, "seed of every prompt set")
    report_workload: str | None = option(
        help="with several workloads in the folder, the one to report on: any part of its "
        "label as the report lists them (default: the newest)",
        flag="--workload",
        metavar="TEXT",
        type=str,
    )
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
    slo: dict = option(DEFAULT_SLO, cli=False)  # the serving sweep's goodput is counted against it (p99)
    capacity: dict | None = option(cli=False)  # --slo given: the capacity search's settings (spec_from_args)


# --------------------------------------------------------------------------- child: one configuration, one engine
def suite_child(cfg: Config) -> dict:
    timer = StageTimer()
    with MemoryTracker() as mem:
        with timer("engine_start"):
            llm = eng.build_llm(cfg.engine)
        after_load = mem.mark("after_load")
        try:
            core = measure_engine(llm, cfg, timer)
            with timer("serving_sweep"):
                sweep = serving_sweep(llm, cfg, cfg.sweep, cfg.sweep_prompts, cfg.slo)
            with timer("mixed"):
                mixed_m = mixed_on_llm(llm, cfg, cfg.vocab_size, cfg.mixed_requests, cfg.mixed_rate, cfg.timeout_s)
        finally:
            eng.shutdown(llm)
    core["stage_seconds"] = timer.seconds
    return {**core, "sweep": sweep, "mixed": mixed_m, "memory": mem.summary(), "memory_after_load": after_load}


# --------------------------------------------------------------------------- the suite
def main(cfg: Config) -> dict:
    if cfg.from_results:
        if cfg.compare:
            return write_compare(Path(cfg.from_results), Path(cfg.compare))
        return write_report(Path(cfg.from_results), ReportSettings.of(cfg))
    fill_device_defaults(cfg)
    engine_kwargs, info = cli.resolve_model(cfg.model, cfg.engine)
    engine_kwargs.setdefault("max_model_len", min(int(info.raw.get("max_position_embeddings", 32768)), 32768))
    if cfg.long_len[1] + cfg.output_len > engine_kwargs["max_model_len"]:
        raise cli.UsageError(
            f"--max-model-len {engine_kwargs['max_model_len']} is too short for long prompts of "
            f"{cfg.long_len[1]} tokens"
        )
    out_dir, devices, ts = Path(cfg.output_dir), hardware.device_count(), timestamp()
    done_before = finished_layouts(out_dir, engine_kwargs["model"]) if cfg.resume else set()
    print(f"model: {info.name}   devices: {devices} {hardware.device_label()}(s)   GPU counts: {cfg.gpus}")
    price = gpu_hour_price(environment(), cfg.gpu_hour_usd)[0]
    t_suite, failed, runs = time.perf_counter(), False, []
    layouts = suite_layouts(cfg.gpus, bool(cfg.capacity))
    stages = Stages(
        sum(lay.name not in done_before and not layout_problem(info, lay.tp, 1, lay.dp, devices) for lay in layouts)
    )
    for lay in layouts:
        n, name = lay.n, lay.name
        path = run_path(out_dir, EXPERIMENT, info.short_name, n if lay.dp == 1 else f"1dp{n}", ts)
        engine = {**engine_kwargs, "tensor_parallel_size": lay.tp}
        child = replace(
            cfg, engine=engine, layout=lay, vocab_size=info.vocab_size, max_model_len=engine_kwargs["max_model_len"]
        )
        child.workload = workload_config(child)  # the capacity search's requests: the random shape or a trace
        if name in done_before:
            print(f"  {name}: already in {out_dir} (--resume), skipped")
        elif why := layout_problem(info, tp=lay.tp, dp=lay.dp, devices=devices):
            print(f"  {name}: skip - {why}")
            meta = {"experiment": EXPERIMENT, "config": child.to_json(), "metrics": {"gpus": n, "layout": name}}
            save_run(path, **meta, status=Status.SKIPPED, failure=Failure("skipped", why))
        else:
            run = run_config(lay, child, path, cfg.timeout_s, stages)
            runs += [run] if run else []
            failed |= run is None
            if run and run.status == Status.OK and cfg.capacity:  # as `vllm serve` builds it: TP and DP measured alike
                then("the capacity search", partial(layout_capacity, run, lay, child, cfg.timeout_s, price), run)
    print(f"\nsuite wall time {time.perf_counter() - t_suite:.0f} s")
    out = then("the report", lambda: write_report(out_dir, ReportSettings.of(cfg)), *runs) or {"report": None}
    out["exit_code"] = 1 if failed or any_failed(runs) else out.get("exit_code", 0)
    return out


def suite_layouts(gpus: list[int], slo: bool) -> list[Layout]:
    """TP at each GPU count; with an SLO also DP at each count above 1 (one-GPU replicas), so the capacity table
    compares the two ways to use N GPUs."""
    return [lay for lay in plan_layouts(gpus, ["tp", "dp"] if slo else ["tp"]) if lay.tp == lay.n or lay.dp == lay.n]


def finished_layouts(out_dir: Path, model: str) -> set[str]:
    """--resume: the layouts whose suite already finished in `out_dir` for this model."""
    docs, _ = load_results(out_dir)
    return {
        d["metrics"].get("layout")
        for d in docs
        if d["experiment"] == EXPERIMENT
        and d["status"] == Status.OK
        and d["config"].get("engine", {}).get("model") == model
    }


def run_config(lay: Layout, child: Config, path: Path, timeout_s: float, stages: Stages) -> RunFile | None:
    """One layout, on disk the moment it is measured, then summarized in a step after it: TP on one engine that
    measures the whole suite, in its own process; DP as one-GPU replicas, each its own engine and process (offline,
    batch-1 and latency under load, as benchmark_scaling.py measures them). Its file, or None when it did not run."""
    n, name, tp = lay.n, lay.name, lay.dp == 1
    res = until_interrupted(
        lambda: (
            run_isolated("run_distributed_benchmark:suite_child", child, timeout_s=timeout_s, label=name)
            if tp
            else run_layout(lay, child, timeout_s)
        ),
        announce=stages.line(f"{name}: " + ("one engine for the suite" if tp else f"{n} replicas, one engine each")),
    )  # fmt: skip
    if res["status"] != Status.OK:
        record_failure(
            path,
            name,
            res,
            experiment=EXPERIMENT,
            config=child.to_json(),
            metrics={"gpus": n, "layout": name},
            row={"layout": name, "GPUs": n},
        )
        return None
    raw = (
        {
            "ranks": res["ranks"],
            "memory": res["memory"],
            "latency_requests": res["latency_requests"],
            "suite_child": {k: v for k, v in res.items() if k not in ("ranks", "memory", "latency_requests")},
        }
        if tp
        else {"replicas": res["replicas"]}
    )
    run = RunFile(path, EXPERIMENT, child.to_json())
    run.measured({"gpus": n, "layout": name}, raw)  # what the engine measured, before anything reads it

    def summary() -> None:
        m = whole_engine_figures(lay, res) if tp else summarize_layout(lay, res)
        run.raw.pop("suite_child", None)  # summarized: its figures are in metrics now
        run.summarized(m, None, failed=m["offline_failed"] > 0)
        st = (res.get("replicas") or [res])[0]["stage_seconds"]
        print(
            f"  {name}: {run.metrics['output_throughput']:.0f} out tok/s; time: engine start "
            f"{st['engine_start']:.0f} s, measuring {sum(v for k, v in st.items() if k != 'engine_start'):.0f} s"
            + (f", process {res['process_wall_s']:.0f} s" if tp else "")
        )

    then("the summary", summary, run)
    return run


# --------------------------------------------------------------------------- command line
def plan(cfg: Config) -> None:
    """--plan: per layout one engine for the whole suite (and one for its capacity search with --slo); its cost."""
    if cfg.from_results:
        return print(f"Plan: a report from the files in {cfg.from_results}; no engine starts, no GPU needed, seconds.")
    fill_device_defaults(cfg)
    _, info = cli.resolve_model(cfg.model, cfg.engine)
    ref, devices, stages = bill.reference(info.params_estimate()), hardware.device_count(), []
    done = finished_layouts(Path(cfg.output_dir), info.name) if cfg.resume else set()
    sweep = sum(bill.level_s(ref, "concurrency", c, cfg.sweep_prompts, cfg.output_len, 1) for c in cfg.sweep)
    mix = bill.level_s(ref, "rate", cfg.mixed_rate, cfg.mixed_requests, cfg.output_len, 1)
    for lay in suite_layouts(cfg.gpus, bool(cfg.capacity)):
        if skip := "done (--resume)" if lay.name in done else layout_problem(info, lay.tp, 1, lay.dp, devices):
            stages.append(bill.Stage(lay.name, lay.n, 0, 0.0, skip=skip))
            continue
        work = bill.engine_work_s(ref, cfg, lay.n) + (0 if lay.dp > 1 else sweep + mix)
        stages.append(bill.Stage(f"{lay.name}: the suite", lay.n, 1, work, "offline, batch-1, latency, sweep, mixed"))
        if cfg.capacity:
            stages.append(bill.search_stage(f"{lay.name}: capacity search", lay.n, 1, cfg.capacity))
    bill.show("run_distributed_benchmark.py", stages, ref, cfg.gpu_hour_usd)


def build_config(args, engine: dict) -> Config:
    if args.offline_runs < 1:
        raise cli.UsageError("--offline-runs must be >= 1")
    if any(v is not None and v <= 0 for v in (args.target_rate, args.growth)):
        raise cli.UsageError("--target-rate and --growth must be > 0")
    if args.from_results and not Path(args.from_results).is_dir():
        raise cli.UsageError(f"--from-results {args.from_results}: no such folder")
    if args.compare and not (args.from_results and Path(args.compare).is_dir()):
        raise cli.UsageError(f"--compare {args.compare}: needs --from-results A and a folder B of result files")
    capacity = spec_from_args(args, required=False)
    if args.dataset_path and not capacity:
        raise cli.UsageError("a trace (--dataset-path) is what the capacity search replays: add --slo")
    cli.check_trace(args)
    check_day_fleet_options(DayFleetOptions(**{k: getattr(args, k) for k in DayFleetOptions.__dataclass_fields__}))
    return from_args(
        Config,
        args,
        **cli.common_fields(args, check_output=not args.from_results),
        engine=engine,
        slo=capacity["slo"] if capacity else dict(DEFAULT_SLO),
        capacity=capacity,
    )


if __name__ == "__main__":
    p = cli.base_parser(__doc__)
    add_options(p, Config)
    add_cli_args(p)  # --slo: a capacity search per GPU count under it (else the sweep's goodput uses ttft:500,tpot:50)
    cli.run_main(main, build_config, p, plan)
