"""Experiment 3 - What do 1, 2, 4 GPUs buy: speedup, scaling efficiency, and where the time goes?

For every GPU count N (default 1, 2, 4, capped at the GPUs present) and layout (default tensor
parallel; --layouts tp,dp,pp adds N independent one-GPU replicas and pipeline parallel, and TPxDP
mixes where N >= 4) one engine is started in its own process and measures, in order:
  1. offline throughput  - a fixed batch of prompts (default 1000 x 512 in / 128 out) in one
                           LLM.generate call, timed as `vllm bench throughput` times it; 3 runs
                           (--offline-runs), the median reported, the spread kept
  2. batch-1 decode      - one request streaming 256 tokens: tokens/s and time per step
  3. latency under load  - TTFT / TPOT at a fixed concurrency (default 16 clients), same engine
With --capacity --slo, each layout then gets a second engine, built as `vllm serve` builds it (AsyncLLM; DP
through vLLM's own data parallelism, one front end balancing the replicas), and a capacity search: the
highest Poisson request rate whose p99 TTFT / TPOT meet the SLO - what the layout serves online.
Then: speedup vs N=1, efficiency = speedup / N, throughput per GPU, $ per 1M output tokens
(--gpu-hour-usd), and communication overhead - an all-reduce micro-benchmark at the message sizes TP
sends (NCCL; gloo on CPU, labelled) feeding a model of each TP decode step (weights / HBM bandwidth +
2 all-reduces per layer) compared with the measured step time.

Run it:
    python benchmark_scaling.py                                   # TP at 1,2,4 GPUs on Qwen/Qwen2.5-7B-Instruct
    python benchmark_scaling.py --gpus 1,2 --layouts tp,dp,pp     # compare layouts on a 2-GPU pod
    python benchmark_scaling.py --gpus 4 --layouts tp,dp --gpu-hour-usd 2.5
    python benchmark_scaling.py --compare-vllm-bench              # also run `vllm bench throughput` at TP=1
    python benchmark_scaling.py --gpus 1,2 --layouts tp,dp,pp --capacity --slo ttft:500,tpot:50 --gpu-hour-usd 3.5
    python benchmark_scaling.py                                   # CPU box: tiny model, 1 and 2 CPU ranks
    python benchmark_scaling.py --from-results results/           # redraw the plots from the files, no engine
Exit code 0 when every layout ran, 1 when one failed, 2 on bad input.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from common import cli
from common.capacity.display import best_capacity, capacity_plots, capacity_rows
from common.capacity.drivers import layout_capacity
from common.capacity.flags import add_cli_args, spec_from_args
from common.capacity.search import slo_text
from common.config import RunConfig, TraceConfig, add_options, fill_device_defaults, from_args, option
from common.measure import plan as bill
from common.measure.allreduce import comm_model
from common.measure.calibration import compare_with_vllm_bench
from common.measure.cost import gpu_hour_price
from common.measure.hwmon import runs_line
from common.measure.metrics import derive_scaling
from common.measure.noise import above_linear_note, spread_note
from common.measure.scaling import Layout, ReplicaFields, plan_layouts, run_layout, summarize_layout
from common.output.plotting import bar_plot, line_plot
from common.output.progress import Stages
from common.output.results import (
    RunFile,
    Status,
    any_failed,
    environment,
    figure_subtitle,
    record_failure,
    run_path,
    run_stamp,
    save_run,
    then,
    timestamp,
)
from common.output.tables import num, pct, print_table
from common.report.gather import dev_of, typed_results
from common.runtime import hardware
from common.runtime.isolation import Failure, run_isolated, until_interrupted
from common.runtime.models import layout_problem
from common.traffic.workloads import workload_config

EXPERIMENT = "scaling"
LAYOUTS = ("tp", "dp", "pp")


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


@dataclass
class Config(ReplicaFields, TraceConfig, RunConfig):
    gpus: list[int] = option([1, 2, 4], "GPU counts to measure (capped at what is present)", type=cli.int_list)
    layouts: list[str] = option(
        ["tp"], "tp, dp, pp (comma-separated); tp+dp adds TPxDP mixes at >= 4 GPUs", type=_names
    )
    num_prompts: int | None = option(help="offline workload size", gpu=1000, cpu=64, type=int)
    input_len: int | None = option(help="prompt tokens", gpu=512, cpu=64, type=int)
    output_len: int | None = option(help="output tokens, exact", gpu=128, cpu=32, type=int)
    batch1_tokens: int | None = option(help="tokens of the single-stream decode test", gpu=256, cpu=64, type=int)
    concurrency: int | None = option(help="clients of the latency test", gpu=16, cpu=4, type=int)
    latency_prompts: int | None = option(help="requests of the latency test", gpu=64, cpu=16, type=int)
    offline_runs: int = option(3, "timed offline runs per layout, median reported")
    allreduce: bool = option(True, "skip the all-reduce micro-benchmark", flag="--no-allreduce", action="store_false")
    compare_vllm_bench: bool = option(
        False, "also run `vllm bench throughput` at TP=1 and record ours / theirs", action="store_true"
    )
    vllm_bench_runs: int = option(3, "with --compare-vllm-bench: runs of ours and of the bench, alternated")
    seed: int = option(0, "seed of every prompt set")
    plots: bool = option(True, "no PNG plots", flag="--no-plots", action="store_false")
    from_results: str | None = option(help="redraw the plots of the scaling runs in this folder (no engine)", type=str)
    capacity: dict | None = option(cli=False)  # --capacity: the search's settings (capacity_flags.spec_from_args)


# --------------------------------------------------------------------------- the experiment
def main(cfg: Config) -> dict:
    if cfg.from_results:
        return {"plots": redraw(Path(cfg.from_results))}
    fill_device_defaults(cfg)
    engine_kwargs, info = cli.resolve_model(cfg.model, cfg.engine)
    max_len = engine_kwargs.get("max_model_len") or info.raw.get("max_position_embeddings")
    base = replace(cfg, engine=engine_kwargs, vocab_size=info.vocab_size, max_model_len=max_len)  # what children get
    base.workload = workload_config(base)  # the capacity search's requests: the random shape or a trace
    plan = plan_here(cfg, info)
    ts, env = timestamp(), environment()
    price = gpu_hour_price(env, cfg.gpu_hour_usd)
    allreduce = allreduce_bench(cfg, plan, info)

    rows, results, files, runs = {}, [], [], []
    stages = Stages(len([lay for lay in plan if not lay.skip]))
    for lay in plan:
        path = run_path(cfg.output_dir, EXPERIMENT, info.short_name, f"{lay.tp}pp{lay.pp}dp{lay.dp}", ts)
        files.append(str(path))
        if lay.skip:
            rows[lay] = skipped(path, lay, base)
            continue
        step = stages.line(f"{lay.name} on {lay.n} device(s) ...")
        res = until_interrupted(run_layout, lay, base, cfg.timeout_s, announce=step)
        if res["status"] != Status.OK:
            rows[lay] = failed_layout(path, lay, base, res)
            continue
        # the 1-GPU baseline is measured first (GPU counts are sorted), so every layout's figures are final as soon
        # as it is measured, and go to disk at once: Ctrl-C or a later crash keeps them
        runs.append(run := saved(path, lay, base, allreduce.get(lay.tp), res))
        baseline = next((b for la, b, _ in results if la.n == 1), None)
        m = then("the summary", partial(layout_figures, lay, res, run, baseline, allreduce, info, env, price[0]), run)
        if m is None:
            rows[lay] = {
                "layout": lay.name,
                f"{hardware.unit()}s": lay.n,
                "status": Status.FAILED,
                "reason": "its summary failed (see the JSON)",
            }
            continue
        after_layout(cfg, lay, base, run, m, ts, price[0])
        rows[lay] = run.rows[0]
        results.append((lay, m, path))
        print_layout(lay, m, bool(cfg.capacity))
    done = [rows[lay] for lay in plan if lay in rows]
    out = then("the tables and plots", lambda: report(cfg, done, results, price, files, ts, info), *runs) or {
        "rows": done,
        "files": files,
        "plots": [],
    }
    failed = any_failed(runs) or any(r["status"] == Status.FAILED for r in out["rows"])
    return {**out, "exit_code": 1 if failed else 0}


def failed_layout(path: Path, lay: Layout, base: Config, res: dict) -> dict:
    """A layout whose process failed: its file and its row say how."""
    return record_failure(
        path, lay.name, res, experiment=EXPERIMENT,
        config={**base.to_json(), "layout": lay.to_json()},
        metrics={"layout": lay.name, "gpus": lay.n}, row={"layout": lay.name, f"{hardware.unit()}s": lay.n},
    )  # fmt: skip


def saved(path: Path, lay: Layout, base: Config, allreduce: dict | None, res: dict) -> RunFile:
    """A layout's result file, written now with what its replicas measured (before anything reads it)."""
    config = {**base.to_json(), "layout": {**lay.to_json(), "skip": lay.skip}, "allreduce": allreduce}
    run = RunFile(path, EXPERIMENT, config)
    run.measured({"layout": lay.name, "gpus": lay.n}, {"replicas": res.get("replicas") or [res]})
    return run


def print_layout(lay: Layout, m: dict, capacity: bool) -> None:
    print(f"  {lay.name}: timed runs {runs_line(m)} out tok/s", flush=True)
    print(
        f"  {lay.name}: {m['output_throughput']:.0f} out tok/s offline (median of {m['offline_runs']} runs, "
        f"spread {m['output_throughput_spread_pct']:.1f}%), batch-1 {m['batch1_decode_tokens_per_s'] or 0:.0f} tok/s"
        + (f"; {m['capacity'].verdict}" if capacity and m.get("capacity") else ""),
        flush=True,
    )


def plan_here(cfg: Config, info, show: bool = True) -> list[Layout]:
    """The layouts to measure, each with why it cannot run here (or None), printed (`show`) before anything starts."""
    devices = hardware.device_count()
    plan = [replace(lay, skip=layout_problem(info, lay.tp, lay.pp, lay.dp, devices))
            for lay in plan_layouts(cfg.gpus, cfg.layouts)]  # fmt: skip
    if not show:
        return plan
    print(
        f"model: {info.name}   devices: {devices} {hardware.device_label()}(s)   workload: {cfg.num_prompts} x "
        f"{cfg.input_len} in / {cfg.output_len} out; batch-1 {cfg.batch1_tokens} tokens; concurrency {cfg.concurrency}"
    )
    for lay in plan:
        print(f"  {lay.name:>10} on {lay.n}: {'skip - ' + lay.skip if lay.skip else 'run'}")
    return plan


def allreduce_bench(cfg: Config, plan: list[Layout], info) -> dict:
    """The all-reduce micro-benchmark at the message sizes TP sends, once per TP size in the plan: {tp: result}."""
    out = {}
    tps = sorted({lay.tp for lay in plan if not lay.skip and lay.tp > 1})
    if not cfg.allreduce:
        return out
    sizes = sorted({info.hidden_size * 2 * t for t in (1, 16, 64, 256, 2048, 8192)})
    for n in tps:
        print(f"\n=== all-reduce micro-benchmark on {n} devices ...", flush=True)
        r = run_isolated(
            "common.measure.allreduce:allreduce_child",
            {"world_size": n, "sizes_bytes": sizes},
            timeout_s=600,
            label=f"allreduce {n}",
        )
        if r["status"] != Status.OK:
            print(f"  all-reduce benchmark failed: {r['failure'].message[:200]}")
            continue
        out[n] = r
        if r["backend"] != "nccl":
            print(f"  (measured with {r['backend']} between CPU processes: no GPU interconnect here)")
    return out


def skipped(path: Path, lay: Layout, base: Config) -> dict:
    """A layout that cannot run here: its file says why, and so does its row."""
    row = {"layout": lay.name, f"{hardware.unit()}s": lay.n, "status": Status.SKIPPED, "reason": lay.skip}
    save_run(
        path,
        experiment=EXPERIMENT,
        config={**base.to_json(), "layout": lay.to_json()},
        metrics={"layout": lay.name, "gpus": lay.n},
        status=Status.SKIPPED,
        failure=Failure("skipped", lay.skip),
        rows=[row],
    )
    return row


def layout_figures(
    lay: Layout, res: dict, run: RunFile, baseline: dict | None, allreduce: dict, info, env: dict, price: float | None
) -> dict:
    """One layout's metrics from its run, into its file: the figures against the 1-GPU baseline, the communication
    model, the cost."""
    m = summarize_layout(lay, res)
    gpu_name = env["gpus"][0]["name"] if env["gpus"] else None
    m.update(comm_model(m, allreduce.get(lay.tp), info, gpu_name))
    m["status"] = Status.OK if m["offline_failed"] == 0 else Status.FAILED
    derive_scaling(m, baseline or (m if lay.n == 1 else None), price)
    run.summarized(m, [_row(m)], failed=m["status"] == Status.FAILED)
    return m


def after_layout(cfg: Config, lay: Layout, base: Config, run: RunFile, m: dict, ts: str, price: float | None) -> None:
    """Each a step after the layout's figures: its capacity search (a second engine, as `vllm serve` builds it)
    and, for the 1-GPU baseline, the interleaved calibration against vllm bench throughput."""
    if cfg.capacity:
        then("the capacity search", lambda: layout_capacity(run, lay, base, cfg.timeout_s, price, _row), run)
    if cfg.compare_vllm_bench and lay.n == 1:  # right after our baseline, on the same GPU
        then(
            "the vllm bench throughput calibration",
            lambda: compare_with_vllm_bench(
                cfg,
                base,
                m,
                Path(cfg.output_dir) / f"vllm_bench_throughput_{ts}.json.txt",
                child="common.measure.scaling:layout_child",
            ),
            run,
        )


def _row(m: dict) -> dict:
    dev = hardware.unit()
    row = {
        "layout": m["layout"],
        f"{dev}s": m["gpus"],
        "out tok/s": num(m["output_throughput"], 0),
        "speedup": f"{m['speedup']:.2f}x" if "speedup" in m else "-",
        "efficiency": pct(m.get("scaling_efficiency")),
        f"tok/s/{dev}": num(m["output_throughput_per_gpu"], 0),
        "batch-1 tok/s": num(m["batch1_decode_tokens_per_s"]),
        "TTFT p50 ms": num(m.get("median_ttft_ms")),
        "TPOT p50 ms": num(m.get("median_tpot_ms"), 2),
        "TP overhead": pct(m.get("tp_step_overhead_share")),
        "comm share (model)": share(m.get("comm_share_of_step")),
    }
    if hardware.has_gpu():  # a roofline of HBM bandwidth: GPUs only
        row["% HBM roofline"] = num(m.get("decode_pct_of_hbm_roofline"), 0)
    return {**row, "$/1M out tok": num(m.get("usd_per_1m_output_tokens"), 3), "status": m["status"]}


def share(v: float | None) -> str:
    """A modelled share of a step; above 100 % the model (all-reduce latency x 2 per layer) exceeds the measured
    step, as it does with gloo between CPU processes: shown as such, not as a share."""
    return "-" if v is None else f"{v * 100:.0f}%" if v <= 1 else ">100% (model > step)"


# --------------------------------------------------------------------------- tables and plots
def report(cfg, rows, results, price: tuple, files, ts, info) -> dict:
    ok = [(lay, m) for lay, m, _ in results]
    course = [
        {
            f"{hardware.unit()}s": m["gpus"],
            "layout": m["layout"],
            "Throughput": f"{m['output_throughput']:.0f} tok/s",
            "Speedup": f"{m.get('speedup', float('nan')):.1f}x",
            "Efficiency": f"{m.get('scaling_efficiency', float('nan')) * 100:.0f}%",
        }
        for lay, m in ok
        if lay.dp == 1 and lay.pp == 1
    ]
    print_table(course, title="Scaling (course format; tensor parallel)")
    print_table(rows, "\n".join(takeaway(ok, price)), title="All layouts")
    if cfg.capacity:
        capacity_table(cfg, [m for _, m in ok], price)
    sub = figure_subtitle(info.short_name, environment(), f"{cfg.input_len} in / {cfg.output_len} out tokens")
    stem = Path(cfg.output_dir) / f"{EXPERIMENT}_{info.short_name}_{ts}"
    plots = plot(cfg, ok, stem, sub) if cfg.plots and ok else []
    print("results: " + ", ".join(files) + ("\nplots: " + ", ".join(plots) if plots else ""))
    return {"rows": rows, "files": files, "plots": plots}


def takeaway(ok: list[tuple[Layout, dict]], price: tuple) -> list[str]:
    """The highest throughput and the fastest single stream, the notes on noise, and what the $ figures assume."""
    if not ok:
        return []
    best_tp = max(ok, key=lambda x: x[1]["output_throughput"])
    best_lat = max(ok, key=lambda x: x[1]["batch1_decode_tokens_per_s"] or 0)
    base = next((m for lay, m in ok if lay.n == 1), None)
    dev, n = hardware.unit(), best_tp[0].n
    where = best_tp[1]["layout"] + (f" on {n} {dev}s" if n > 1 else "")  # the 1-rank layout's name says it
    lines = [
        f"Takeaway: {where} has the highest throughput "
        f"({best_tp[1]['output_throughput']:.0f} out tok/s"
        + (
            f", {best_tp[1]['speedup']:.2f}x one {dev}, {best_tp[1]['scaling_efficiency'] * 100:.0f}% efficient)"
            if base
            else ")"
        )
        + f"; {best_lat[1]['layout']} has the fastest single stream "
        f"({best_lat[1]['batch1_decode_tokens_per_s']:.0f} tok/s"
        + (
            f", {best_lat[1]['batch1_decode_tokens_per_s'] / base['batch1_decode_tokens_per_s']:.2f}x one {dev})."
            if base
            else ")."
        )
    ]
    lines += [n for n in (above_linear_note([m for _, m in ok], hardware.unit()), spread_note([m for _, m in ok])) if n]
    usd, src = price
    if src is None:
        lines.append(
            f"Cost: no price known for this {'GPU' if hardware.has_gpu() else 'machine'}; pass --gpu-hour-usd "
            "to get $ per 1M output tokens."
        )
    else:
        lines.append(
            f"Cost: ${usd:.2f} per {hardware.unit()}-hour ({src}); pass --gpu-hour-usd for your provider's price."
        )
    return lines


def redraw(folder: Path) -> list[str]:
    """--from-results: each scaling run's plots in `folder` drawn again from its files, as this code draws them."""
    runs: dict[str, list[dict]] = {}
    for d in typed_results(folder)[0]:
        if d["experiment"] == EXPERIMENT and d["status"] == Status.OK:
            runs.setdefault(run_stamp(d), []).append(d)
    plots = []
    for ts, docs in sorted(runs.items()):
        c, short = docs[0]["config"], Path(docs[0]["config"]["engine"]["model"].rstrip("/")).name
        lays = [Layout(**{k: v for k, v in d["config"]["layout"].items() if k != "skip"}) for d in docs]
        ok = sorted(zip(lays, [d["metrics"] for d in docs], strict=True), key=lambda x: (x[0].n, x[0].name))
        sub = figure_subtitle(short, docs[0]["environment"], f"{c['input_len']} in / {c['output_len']} out tokens")
        cfg = Config(capacity=c.get("capacity"), output_dir=str(folder))
        plots += plot(cfg, ok, folder / f"{EXPERIMENT}_{short}_{ts}", sub, dev_of(docs[0]["environment"]))
    print("plots: " + ", ".join(plots) if plots else f"no scaling run in {folder}")
    return plots


def plot(cfg: Config, ok: list[tuple[Layout, dict]], stem: Path, sub: str, dev: str | None = None) -> list[str]:
    """Throughput vs devices per layout family (TP, DP, PP) against linear, every layout's efficiency, throughput and
    single-stream speed; each title names the model, devices and workload (`sub`); `dev`: what one rank runs on."""
    plots, dev = [], dev or hardware.unit()
    base = next((m for lay, m in ok if lay.n == 1), None)
    family = {
        "tensor parallel": lambda lay: lay.dp == 1 and lay.pp == 1,
        "data parallel": lambda lay: lay.tp == 1 and lay.pp == 1,
        "pipeline parallel": lambda lay: lay.tp == 1 and lay.dp == 1,
    }
    series = {
        name: sorted((lay.n, m["output_throughput"]) for lay, m in ok if keep(lay)) for name, keep in family.items()
    }
    series = {k: ([n for n, _ in v], [t for _, t in v]) for k, v in series.items() if len(v) > 1}
    if base and series:
        xs = sorted({n for lay, _ in ok for n in [lay.n]})
        plots.append(
            line_plot(
                Path(f"{stem}_throughput.png"),
                series,
                f"Offline throughput vs {dev}s: {sub}",
                f"{dev}s",
                "output tokens / s",
                ideal=(xs, [base["output_throughput"] * n for n in xs]),
            )
        )
    labels = [m["layout"] for _, m in ok]  # the name says the count: 1 GPU, TP2, DP4, TP2xDP2
    if base:
        plots.append(
            bar_plot(
                Path(f"{stem}_efficiency.png"),
                labels,
                {"scaling efficiency %": [(m.get("scaling_efficiency") or 0) * 100 for _, m in ok]},
                f"Scaling efficiency per layout (speedup / {dev}s): {sub}",
                "%",
                hline=100,
                hline_label="ideal",
            )
        )
    plots.append(
        bar_plot(
            Path(f"{stem}_layouts.png"),
            labels,
            {"offline out tok/s": [m["output_throughput"] for _, m in ok]},
            f"Throughput per layout: {sub}",
            "output tokens / s",
        )
    )
    plots.append(
        bar_plot(
            Path(f"{stem}_batch1.png"),
            labels,
            {"batch-1 decode tok/s": [m["batch1_decode_tokens_per_s"] for _, m in ok]},
            f"Single-stream decode speed per layout: {sub}",
            "tokens / s",
        )
    )
    if c := cfg.capacity:
        plots += capacity_plots(stem, [m for _, m in ok], c["slo"], c["percentile"], dev, sub)
    return [str(p) for p in plots]


def capacity_table(cfg, ms: list[dict], price: tuple) -> None:
    best = best_capacity(ms)
    slo = slo_text(cfg.capacity["slo"], cfg.capacity["percentile"])
    if best:
        c = best.get("usd_per_1m_output_tokens_at_capacity")
        dev = hardware.unit()
        take = (
            f"Takeaway: under {slo}, {best['layout']} serves the most per {dev}: "
            f"{best['capacity_request_rate']:.3g} req/s ({best['capacity_request_rate_per_gpu']:.3g} per {dev}, "
            f"{best['capacity_output_throughput']:.0f} out tok/s)"
            + (f", ${c:.3f} per 1M output tokens at ${price[0]:.2f}/{dev}-hour." if c else ".")
        )
    else:
        take = f"Takeaway: no layout met {slo} at any rate tried (see each layout's verdict in its JSON)."
    print_table(
        capacity_rows(ms, hardware.unit()),
        take + " Capacity: the highest Poisson request rate at which the SLO held "
        "(bracket and bisection, every probe in metrics.capacity.probes).",
        title=f"Serving capacity under the SLO ({slo})",
    )


# --------------------------------------------------------------------------- command line
def plan(cfg: Config) -> None:
    """--plan: the layouts this command would measure here, their engines, and what it would cost."""
    fill_device_defaults(cfg)
    _, info = cli.resolve_model(cfg.model, cfg.engine)
    ref, stages = bill.reference(info.params_estimate()), []
    what = (
        f"{cfg.offline_runs} x {cfg.num_prompts} prompts offline, batch-1, {cfg.latency_prompts} at {cfg.concurrency}"
    )
    for lay in plan_here(cfg, info, show=False):  # the plan's own table lists them
        if lay.skip:
            stages.append(bill.Stage(lay.name, lay.n, 0, 0.0, skip=lay.skip))
            continue
        at_once = f" ({lay.dp} replicas at once)" if lay.dp > 1 else ""
        work = bill.engine_work_s(ref, cfg, lay.n)
        stages.append(bill.Stage(f"{lay.name}: offline, batch-1, latency{at_once}", lay.n, 1, work, what))
        if cfg.capacity:
            stages.append(bill.search_stage(f"{lay.name}: capacity search", lay.n, 1, cfg.capacity))
    if cfg.compare_vllm_bench:
        runs = cfg.vllm_bench_runs
        work = 2 * runs * bill.generate_s(ref, cfg.num_prompts, cfg.output_len, cfg.num_prompts)
        how = f"{runs} runs a side, ours and vllm bench throughput alternated, a fresh engine each"
        stages.append(bill.Stage("calibration against vllm bench throughput (1 device)", 1, 2 * runs, work, how))
    bill.show("benchmark_scaling.py", stages, ref, cfg.gpu_hour_usd)


def build_config(args, engine: dict) -> Config:
    bad = [x for x in args.layouts if x not in LAYOUTS]
    if bad:
        raise cli.UsageError(f"unknown layout(s) {bad}: choose from {', '.join(LAYOUTS)}")
    if args.offline_runs < 1 or args.vllm_bench_runs < 1:
        raise cli.UsageError("--offline-runs and --vllm-bench-runs must be >= 1")
    if args.slo and not args.capacity:
        raise cli.UsageError("--slo sets the capacity search's target: add --capacity")
    capacity = spec_from_args(args, required=True) if args.capacity else None
    if args.dataset_path and not args.capacity:
        raise cli.UsageError("a trace (--dataset-path) is what the capacity search replays: add --capacity")
    cli.check_trace(args)
    return from_args(Config, args, **cli.common_fields(args), engine=engine, capacity=capacity)


if __name__ == "__main__":
    p = cli.base_parser(__doc__)
    add_options(p, Config)
    add_cli_args(p, with_switch="--capacity")
    cli.run_main(main, build_config, p, plan)
