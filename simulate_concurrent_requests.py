"""Experiment 2 - How does one vLLM engine behave as more clients talk to it at once?

Many async clients stream requests at several concurrency levels (or request rates). Per level:
throughput under load, TTFT/TPOT/ITL/E2E percentiles (named as `vllm bench serve` names them), the
scheduler's fairness (Jain's index over clients and over slowdown, worst TTFT vs median), and, in
--base-url mode, the server's own scheduler state from /metrics. Finally the same prompts are run
once as concurrent requests and once as a single LLM.generate batch: continuous batching should make
the two close, and the table says how close.
With --find-capacity --slo the levels give way to a capacity search (common/capacity/search.py): the highest
Poisson request rate at which the p99 TTFT / TPOT stay within the SLO, every probe kept - how many
requests per second this engine or server can take before its users notice.

Run it:
    python simulate_concurrent_requests.py                                  # in-process AsyncLLM, levels 1,4,16,64,256
    python simulate_concurrent_requests.py -tp 4                            # ... the engine spread over 4 GPUs
    python simulate_concurrent_requests.py --base-url http://127.0.0.1:8000 # any running `vllm serve`
    python simulate_concurrent_requests.py --request-rate 2,8,inf --burstiness 0.5   # open-loop arrivals
    python simulate_concurrent_requests.py --goodput ttft:500 tpot:50      # goodput under an SLO
    python simulate_concurrent_requests.py --find-capacity --slo ttft:500,tpot:50   # highest req/s within the SLO
    python simulate_concurrent_requests.py --base-url http://127.0.0.1:8000 --find-capacity --slo ttft:200,tpot:15
    python simulate_concurrent_requests.py                                  # CPU box: tiny model, small levels
Exit code 0 when every request succeeded, 1 when some failed (their errors are in the JSON), 2 on bad input.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, replace
from pathlib import Path

from common import cli
from common.capacity import display, session
from common.capacity.flags import add_cli_args, parse_slo, spec_from_args
from common.capacity.result import CapacityResult
from common.config import RunConfig, TraceConfig, add_options, fill_device_defaults, from_args, option
from common.measure import plan as bill
from common.measure.calibration import bench_serve_level
from common.measure.levels import (
    all_at_once,
    batch_specs,
    calibration_table,
    level_lines,
    level_metrics,
    level_plots,
    level_prompts,
    level_requests,
    level_row,
    levels,
    one_level,
    per_level,
)
from common.measure.metrics import StageTimer, unloaded_reference
from common.output.results import RunFile, Status, any_failed, environment, figure_subtitle, run_path, then, timestamp
from common.output.tables import print_table
from common.runtime import engine as eng
from common.runtime.engine import SCHEDULER_LIMITS
from common.runtime.isolation import Failure, checkpoint, run_isolated, until_interrupted
from common.runtime.server import API_KEY_ENV
from common.traffic.loadgen import AsyncLLMBackend, OpenAIBackend, run_async, run_closed_loop, warm_up
from common.traffic.workloads import random_prompts, workload_config, workload_text

EXPERIMENT = "concurrent_requests"


@dataclass
class Config(TraceConfig, RunConfig):
    base_url: str | None = option(
        help="use a running OpenAI-compatible server instead of an in-process engine", type=str
    )
    concurrency: list[int] | None = option(
        help="closed-loop client counts", gpu=[1, 4, 16, 64, 256], cpu=[1, 4, 16], type=cli.int_list
    )
    request_rates: list[float] = option(
        [],
        "open-loop request rates in req/s (e.g. 2,8,inf); replaces --concurrency",
        flag="--request-rate",
        type=cli.rate_list,
    )
    burstiness: float = option(1.0, "gamma shape of arrival gaps: 1 = Poisson, <1 burstier")
    num_prompts: int | None = option(help="requests per level (default max(32, 4 x level))", type=int)
    input_len: int | None = option(help="prompt tokens", gpu=512, cpu=64, type=int)
    output_len: int | None = option(help="output tokens, exact (ignore_eos)", gpu=128, cpu=16, type=int)
    range_ratio: float = option(0.0, "lengths uniform in len x [1-r, 1+r]")
    warmup_requests: int = option(4, "uncounted requests before measuring")
    batch_prompts: int | None = option(help="prompts in the concurrent-vs-batch comparison", gpu=256, cpu=32, type=int)
    goodput: dict = option({}, "SLOs in ms, e.g. ttft:500 tpot:50 e2el:5000", nargs="+", metavar="SLO", type=str)
    seed: int = option(0, "seed of every prompt set")
    level_time_limit_s: float = option(
        600.0, "seconds one level may run; the rest count as failed", flag="--level-time-limit"
    )
    compare_vllm_bench: bool = option(
        False,
        "with --base-url: also run `vllm bench serve` per level on the same workload and report ours / theirs",
        action="store_true",
    )
    plots: bool = option(True, "no PNG plots", flag="--no-plots", action="store_false")
    speeds: list[float] = option(
        [],
        "with a trace: replay it at these speed-ups (1 = as recorded; default 1)",
        flag="--speed",
        type=cli.rate_list,
    )
    validate: bool = option(
        False,
        "with --find-capacity on a trace: then replay the stretch once at the speed found, judged window by window",
        action="store_true",
    )
    validate_span_s: float | None = option(
        help="with --validate: replay only this many seconds of trace time, around "
        "the window that decided the capacity (default: the whole stretch)",
        flag="--validate-span",
        type=float,
    )
    timeout_s: float = option(3600.0, cli=False)
    capacity: dict | None = option(cli=False)  # --find-capacity: the search's settings (spec_from_args)


# --------------------------------------------------------------------------- the experiment
def main(cfg: Config) -> dict:
    fill_device_defaults(cfg)
    t = cli.resolve_target(cfg.model, cfg.engine, cfg.base_url)
    engine_kwargs, tp = t.engine, int(t.engine.get("tensor_parallel_size", 1))
    child = replace(cfg, engine=engine_kwargs, vocab_size=t.vocab_size, max_model_len=t.max_model_len)
    child.workload = workload_config(child, cfg.speeds)
    path = run_path(cfg.output_dir, EXPERIMENT, t.short_name, tp, timestamp())
    run = RunFile(path, EXPERIMENT, {**child.to_json(), "tp": tp})
    # 1. Load levels and the all-at-once run (or the capacity search): in its own process unless we talk to a server.
    #    What it measured goes to disk the moment it ends (a search: before its validation replay too). A Ctrl-C from
    #    the first line printed on is recorded in the file
    try:
        print(
            f"model: {engine_kwargs['model']}  mode: "
            f"{'server ' + cfg.base_url if cfg.base_url else 'in-process AsyncLLM'}"
            f"  {'capacity search' if cfg.capacity else 'levels: ' + str([f'{k}={v:g}' for k, v in levels(child)])}"
            f"  {workload_text(child.workload)}",
            flush=True,
        )
        res, failure, comparison = load_run(cfg, child, lambda out: measured(cfg, run, out, None))
    except KeyboardInterrupt:  # before the measurement started: the file still says what happened
        res, failure, comparison = {"levels": []}, Failure.interrupted("nothing was measured yet"), None
    measured(cfg, run, res, failure, comparison=comparison)
    # 2. The same prompts as one offline batch (a second measurement, in its own process), on disk as it ends
    batch = None if cfg.base_url or failure or cfg.capacity else batch_run(cfg, child, res, run)
    if batch:
        measured(cfg, run, res, failure, batch, comparison)
    # 3. Everything after the measurement is a step: a Ctrl-C or an error in one is recorded in the file, never loses it
    plots = after_measurement(cfg, run, res, batch, comparison, engine_kwargs["model"])
    print(f"results: {run.path}" + (f"  plots: {', '.join(plots)}" if plots else ""))
    if res.get("interrupted") or (run.failure is not None and run.failure.kind == "interrupted"):
        raise KeyboardInterrupt
    return {"metrics": run.metrics, "path": str(run.path), "exit_code": 1 if any_failed([run]) else 0}


def after_measurement(
    cfg: Config, run: RunFile, res: dict, batch: dict | None, comparison: dict | None, served: str
) -> list[str]:
    """The steps after the measurement, each recorded in the run's file as it ends (RunFile's write 2): the summary
    (write 3), the vllm bench serve cross-check, the tables, the plots. The plots made."""

    def summarize() -> dict:
        metrics = summary(cfg, res, batch, comparison)
        run.summarized(metrics, table_rows(cfg, res, metrics))
        return metrics

    def bench() -> dict:
        try:
            session.cross_check(cfg, cap, served)
        finally:  # cut or broken, what it got (or its error) goes into the file beside the search
            run.save()
        return summarize()

    def tables(metrics: dict, rows: list[dict]) -> None:
        title = display.search_title(cap) if cfg.capacity else "Concurrent requests"
        print_table(rows, "\n".join(takeaways(cfg, run, res, metrics, batch)), title=title)
        if comparison:
            calibration_table(comparison)
        if cfg.capacity:
            display.trace_tables(cap)

    metrics = then("the summary", summarize, run)
    cap: CapacityResult | None = res.get("capacity")
    if metrics is not None and cfg.capacity and cfg.compare_vllm_bench and cap and cap.found:
        metrics = then("the vllm bench serve cross-check", bench, run) or metrics
    if metrics is None:  # the summary broke: its step says why; the measurement is on disk
        return []
    rows = table_rows(cfg, res, metrics)
    then("the tables", lambda: tables(metrics, rows), run)
    return (then("the plots", lambda: make_plots(cfg, res, run), run) or []) if cfg.plots and rows else []


def measured(cfg: Config, run: RunFile, res: dict, failure: Failure | None, batch=None, comparison=None) -> None:
    """What the levels or the search measured, on disk as it is (RunFile's write 1; no summary yet): per-request
    samples in raw, the figures each level or probe already has in metrics."""
    cap: CapacityResult | None = res.get("capacity")
    if cap:
        cap.samples_in_raw = True  # the per-request samples go to raw, the figures to metrics
    raw = {
        "levels": res.get("levels", []),
        "unloaded": res.get("unloaded"),
        "capacity_probes": cap.probe_samples() if cap else [],
        "validation_requests": cap.validation_samples() if cap else None,
        "concurrent_all_at_once": res.get("concurrent_all_at_once"),
        "batch": batch,
        "stage_seconds": res.get("stage_seconds"),
    }
    levels_so_far = {"levels": per_level(res.get("levels", [])), "unloaded": res.get("unloaded")}
    metrics: dict = {"capacity": cap} if cfg.capacity else levels_so_far
    if comparison:
        metrics["vllm_bench_comparison"] = comparison
    own = failure or session.search_failure(cfg, res)  # the measurement's own failure (not a later step's)
    run.measured(metrics, raw, own, failed=any(lv["metrics"]["failed"] for lv in res.get("levels", [])))


def summary(cfg: Config, res: dict, batch: dict | None, comparison: dict | None) -> dict:
    """The run's figures, computed from what was measured: a search's derived figures (the day's fleet), or each
    level's, the peak and concurrent vs batch; what the engine ran with."""
    if cfg.capacity:
        cap = res.get("capacity")
        if cap:
            session.summarized(cap, int(cfg.engine.get("tensor_parallel_size") or 1))
        metrics: dict = {"capacity": cap}
    else:
        metrics = level_metrics(res, batch)
    metrics["scheduler"] = res.get("scheduler")  # in-process only: what the engine ran with
    if comparison:
        metrics["vllm_bench_comparison"] = comparison
    return metrics


def table_rows(cfg: Config, res: dict, metrics: dict) -> list[dict]:
    """The table: one row per probe of a search, or per level."""
    if cfg.capacity:
        return display.probe_rows(metrics["capacity"], cfg.capacity["percentile"])
    return [level_row(lv, bool(cfg.goodput)) for lv in res.get("levels", [])]


def takeaways(cfg: Config, run: RunFile, res: dict, metrics: dict, batch: dict | None) -> list[str]:
    """The lines under the table, rendered from the summary's figures."""
    if cfg.capacity:
        traffic = (
            f"this trace's traffic ({Path(cfg.dataset_path).name}, its arrival pattern sped up)"
            if cfg.dataset_path
            else f"this shape ({cfg.input_len} in / {cfg.output_len} out tokens, Poisson arrivals)"
        )
        lines = display.search_lines(metrics["capacity"], cfg.capacity["percentile"], traffic)
    else:
        conc = res.get("concurrent_all_at_once")
        lines = level_lines(metrics, conc, batch, cfg.batch_prompts, stopped=run.failure is not None)
    workload = run.config["workload"]
    if workload.get("dropped"):
        lines.append(
            f"{workload['dropped']} request(s) of the dataset were left out: longer than max_model_len "
            f"{run.config['max_model_len']} (config.workload.dropped); raise --max-model-len to keep them."
        )
    return lines


def load_run(cfg: Config, child: Config, on_search=None) -> tuple[dict, Failure | None, dict | None]:
    """(what the levels or the search measured, the failure if the run stopped early, vllm bench per level).
    `on_search(out)`: behind --base-url, called when a search has finished and before its validation replay."""
    if not cfg.base_url:
        res = run_isolated("simulate_concurrent_requests:measure", child, timeout_s=cfg.timeout_s, label="load levels")
        if res["status"] == Status.OK:
            return typed(res), None, None
        print(res["failure"].line("load run"))
        return typed(res.get("partial") or {"levels": []}), res["failure"], None
    comparison, after = None, None
    if cfg.compare_vllm_bench:  # vLLM's own client on the same server and level, right after ours
        comparison = {}
        after = lambda i, lv: comparison.update(bench_serve_level(cfg, child.engine["model"], i, lv))  # noqa: E731
    res = measure(child, after_level=after, after_search=on_search)
    failure = None
    if res.get("interrupted"):
        failure = Failure.interrupted("what finished is kept")
    elif res.get("error"):
        hint = f"is the server at {cfg.base_url} still up? its log says why it stopped"
        failure = Failure("other", res["error"], hint)
        print(failure.line("load run"))
    return res, failure, comparison


def typed(res: dict) -> dict:
    """What the child sent back (JSON), with its capacity search typed again."""
    if isinstance(res.get("capacity"), dict):
        res["capacity"] = CapacityResult.from_json(res["capacity"])
    return res


def batch_run(cfg: Config, child: Config, res: dict, run: RunFile) -> dict | None:
    """The batch half of concurrent vs batch, with the scheduler limits the concurrent run had (vllm.LLM's own
    defaults are larger on a GPU): the comparison is then about arrivals one by one vs all at once. A batch that
    fails or is cut is recorded in the run's file (the levels before it stand)."""
    same = {k: v for k, v in (res.get("scheduler") or {}).items() if k in SCHEDULER_LIMITS and k not in child.engine}
    b = until_interrupted(
        run_isolated,
        "common.measure.levels:offline_batch",
        replace(child, engine={**child.engine, **same}),
        timeout_s=cfg.timeout_s,
        label="batch",
        announce=f"\n=== one LLM.generate batch of the same {cfg.batch_prompts} prompts (its own process) ...",
    )
    if b["status"] == Status.OK:
        return b
    f: Failure = b["failure"]
    print(f.line("batch run"))
    run.step_ended(
        "the offline batch",
        "interrupted" if f.kind == "interrupted" else f"failed: {f.kind}",
        replace(f, step="the offline batch"),
    )
    run.save()
    if f.kind == "interrupted":
        res["interrupted"] = True
    return None


def make_plots(cfg: Config, res: dict, run: RunFile) -> list[str]:
    path, c = run.path, run.config
    sub = figure_subtitle(c["engine"]["model"], run.env or environment(), workload_text(c["workload"]))
    if cfg.capacity:
        return display.search_plots(path, res["capacity"], sub) if res.get("capacity") else []
    return level_plots(path.with_suffix(""), res["levels"], sub)


# --------------------------------------------------------------------------- the measurement (child or base-url)
def measure(cfg: Config, after_level=None, after_search=None) -> dict:
    """Warm-up, unloaded reference, every level, and the all-at-once run. Runs in the isolated child
    (in-process engine) or directly in this process (--base-url). `after_level(i, level)`, if given, runs
    (in a thread) after each level, before the next one starts; `after_search(out)` after a capacity search, before
    its validation replay (to save the search first)."""
    timer = StageTimer()
    out = {"levels": [], "stage_seconds": timer.seconds}
    try:  # Ctrl-C: asyncio.run raises KeyboardInterrupt whatever the coroutine returns; what it filled in stays
        run_async(_measure(cfg, out, timer, after_level, after_search))
    except KeyboardInterrupt:
        out["interrupted"] = True
    return out


async def _measure(cfg: Config, out: dict, timer: StageTimer, after_level=None, after_search=None) -> None:
    backend = _backend(cfg, timer, out)
    try:
        if cfg.capacity:
            with timer("capacity_search"):
                out["capacity"] = await session.search(backend, cfg, out)
            if cfg.validate and out["capacity"].trace_speedup:
                await session.validate(backend, cfg, out, timer, after_search)
            return
        n = cfg.warmup_requests
        with timer("warmup"):  # not counted: compiles, allocates, fills caches
            await warm_up(backend, random_prompts(n, cfg.input_len, 8, cfg.vocab_size, seed=cfg.seed + 7))
        with timer("unloaded_reference"):  # one at a time: what each request costs with no one else around
            ref = await run_closed_loop(
                backend,
                random_prompts(4, cfg.input_len, cfg.output_len, cfg.vocab_size, seed=cfg.seed + 11),
                concurrency=1,
            )
        unloaded = unloaded_reference(ref)
        out["unloaded"] = {"ttft_ms": unloaded[0] * 1000, "tpot_ms": unloaded[1] * 1000}
        for i, (kind, value) in enumerate(levels(cfg)):
            out["levels"].append(
                lv := await one_level(
                    backend, level_prompts(cfg, kind, value, cfg.seed + 100 + i), kind, value, cfg, unloaded
                )
            )
            checkpoint(out)  # on disk first, then on screen
            m = lv["metrics"]
            print(
                f"  {kind}={value:g}: {m['completed']}/{lv['num_prompts']} ok, {m['output_throughput']:.1f} out tok/s, "
                f"median TTFT {m['median_ttft_ms'] or 0:.1f} ms",
                flush=True,
            )
            if after_level:
                await asyncio.to_thread(after_level, i, out["levels"][-1])
        out["concurrent_all_at_once"] = await all_at_once(backend, batch_specs(cfg), cfg.level_time_limit_s)
    except Exception as e:  # e.g. the server went away between levels: keep the levels that finished
        if not cfg.base_url:
            raise  # in-process: the isolation layer records it, with the checkpointed levels
        out["error"] = f"{type(e).__name__}: {e}"[:300]
    finally:
        await backend.close()
        if not cfg.base_url:
            eng.shutdown(backend.engine)


def _backend(cfg: Config, timer: StageTimer, out: dict):
    """The server's client (--base-url), or an in-process AsyncLLM whose scheduler limits go into `out`."""
    if cfg.base_url:
        return OpenAIBackend(cfg.base_url, model=cfg.engine["model"])
    with timer("engine_start"):
        backend = AsyncLLMBackend(eng.build_async_engine(cfg.engine))
    out["scheduler"] = s = eng.scheduler_limits(backend.engine)
    print(
        f"  scheduler: up to {s['max_num_seqs']} running requests and {s['max_num_batched_tokens']} tokens per "
        "step (as `vllm serve` would set them here)",
        flush=True,
    )
    return backend


# --------------------------------------------------------------------------- command line
def plan(cfg: Config) -> None:
    """--plan: the levels (or the capacity search) and the batch comparison this command would run, and their cost."""
    fill_device_defaults(cfg)
    t = cli.resolve_target(cfg.model, cfg.engine, cfg.base_url)
    tp, starts = int(t.engine.get("tensor_parallel_size", 1)), 0 if cfg.base_url else 1
    ref = bill.reference(bill.params_of(t.engine["model"]))
    where = f"the server at {cfg.base_url}" if cfg.base_url else "an in-process AsyncLLM"
    if cfg.capacity:
        replay = bill.stretch_s(cfg) if cfg.validate else 0.0
        stages = [bill.search_stage(f"capacity search on {where}", tp, starts, cfg.capacity, replay)]
    else:
        span, lv = bill.stretch_s(cfg), levels(cfg)
        work = sum(bill.level_s(ref, k, v, level_requests(cfg, k, v), cfg.output_len, tp, span) for k, v in lv)
        named = ", ".join(f"{k} {v:g} ({level_requests(cfg, k, v)} requests)" for k, v in lv)
        stages = [bill.Stage(f"load levels on {where}", tp, starts, work, named)]
        if not cfg.base_url:
            n = cfg.batch_prompts
            batch = bill.generate_s(ref, n, cfg.output_len, n, tp)
            stages.append(bill.Stage("the same prompts as one offline batch", tp, 1, batch, f"{n} prompts at once"))
    bill.show("simulate_concurrent_requests.py", stages, ref, cfg.gpu_hour_usd)


def build_config(args, engine: dict) -> Config:
    try:
        goodput = parse_slo(args.goodput)
    except ValueError as e:
        raise cli.UsageError(str(e)) from None
    if args.api_key is not None:  # into the environment only: requests, scrapes and vllm bench serve read it there
        if not args.base_url:
            raise cli.UsageError("--api-key goes with --base-url (the key of the server measured)")
        os.environ[API_KEY_ENV] = args.api_key
    if args.compare_vllm_bench and not args.base_url:
        raise cli.UsageError("--compare-vllm-bench needs --base-url (vllm bench serve talks to a server)")
    if args.burstiness <= 0:
        raise cli.UsageError("--burstiness must be > 0")
    if args.slo and not args.find_capacity:
        raise cli.UsageError(
            "--slo sets the capacity search's target: add --find-capacity (or use --goodput per level)"
        )
    capacity = spec_from_args(args, required=True) if args.find_capacity else None
    timed = cli.check_trace(args)  # a trace that cannot be replayed, or flags that do not go with one: one line
    if args.speeds and not timed:
        raise cli.UsageError("--speed replays a timed trace: add --dataset-path FILE (.csv or .jsonl)")
    if timed and (args.request_rates or args.concurrency):
        raise cli.UsageError(
            "a trace brings its own arrival times: use --speed instead of --request-rate/--concurrency"
        )
    if (args.validate or args.validate_span_s is not None) and not (capacity and timed):
        raise cli.UsageError(
            "--validate checks a capacity on a trace: add --find-capacity and --dataset-path FILE (.csv or .jsonl)"
        )
    if args.validate_span_s is not None and not args.validate_span_s > 0:
        raise cli.UsageError("--validate-span must be > 0 s of trace time")
    if capacity and (args.burstiness != 1.0 or args.request_rates or args.concurrency):
        raise cli.UsageError(
            "--find-capacity chooses its own Poisson rates: drop --request-rate, --concurrency and --burstiness"
        )
    return from_args(Config, args, **cli.common_fields(args), engine=engine, goodput=goodput, capacity=capacity)


if __name__ == "__main__":
    p = cli.base_parser(__doc__)
    add_options(p, Config)
    add_cli_args(p, with_switch="--find-capacity")
    p.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"with --base-url: the server's API key (default: ${API_KEY_ENV}); "
        "sent as a bearer token, never written to a file",
    )
    cli.run_main(main, build_config, p, plan)
