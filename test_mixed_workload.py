"""Experiment 4 - Do short requests wait behind long ones, and does chunked prefill fix it?

Long requests (default 6,000-8,000-token prompts) and short ones (64-256 tokens) arrive together in a
seeded Poisson stream, so short requests land while long prefills run. Each scheduler variant runs in
its own engine process: chunked prefill off (token budget >= the longest prompt), on with
--max-num-batched-tokens 512 / 2048 / 8192 (--budgets), and each budget crossed with vLLM's cap on one
long prefill's share of a step, long_prefill_token_threshold 256 / 512 / 1024 (--caps, below the budget).
Every variant first runs the same short requests alone, then the mix. Per class and variant: TTFT/TPOT/E2E
percentiles, short-TTFT inflation (p99 mixed / p99 alone), head-of-line blocking (short requests whose
first token came after a long prefill that overlapped their wait) and what chunking costs the long requests.
With --capacity each variant also gets a capacity search (as Sarathi-Serve measures it): the highest arrival
rate of the same class mix at which short requests keep p99 TTFT and all requests p99 TPOT within the SLO
(--slo; default 5x what short requests see alone in the first variant), and the table compares the best
variant's capacity gain over no chunking with Sarathi-Serve's 2.6x (7B, one A100).

Run it:
    python test_mixed_workload.py                                  # Qwen/Qwen2.5-7B-Instruct on 1 GPU
    python test_mixed_workload.py -tp 2                            # the same on 2 GPUs
    python test_mixed_workload.py --budgets 1024,4096 --long-fraction 0.2 --request-rate 6
    python test_mixed_workload.py --budgets 2048 --caps 256,512,1024 --capacity   # capacity per variant
    python test_mixed_workload.py                                  # CPU box: tiny model, scaled-down classes
Exit code 0 when every variant ran, 1 when one failed, 2 on bad input.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from common import cli
from common.capacity.drivers import capacity_on_backend
from common.capacity.flags import add_cli_args, spec_from_args
from common.capacity.result import CapacityResult
from common.capacity.search import slo_text
from common.config import RunConfig, add_options, fill_device_defaults, from_args, option
from common.measure import plan as bill
from common.measure.metrics import StageTimer
from common.measure.mixed import analyse, mix_prompts, workload
from common.output.plotting import class_cdf_plot, scatter_plot, timeline_plot
from common.output.progress import Stages
from common.output.results import (
    RunFile,
    Status,
    any_failed,
    environment,
    figure_subtitle,
    record_failure,
    run_path,
    then,
    timestamp,
)
from common.output.tables import num, pct, print_table
from common.runtime import engine as eng
from common.runtime.isolation import checkpoint, run_isolated, until_interrupted
from common.traffic.loadgen import AsyncLLMBackend, run_async, run_closed_loop, run_open_loop, warm_up
from common.traffic.workloads import PoissonWorkload, random_prompts

EXPERIMENT = "mixed_workload"


def _range(text: str) -> tuple[int, int]:
    try:
        lo, hi = (int(x) for x in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO-HI token counts, got {text!r}") from None
    if not 0 < lo <= hi:
        raise argparse.ArgumentTypeError(f"expected 0 < LO <= HI, got {text!r}")
    return lo, hi


@dataclass
class Config(RunConfig):
    num_requests: int | None = option(help="requests in the mix", gpu=200, cpu=40, type=int)
    long_fraction: float = option(0.1, "share of long requests")
    long_len: tuple[int, int] | None = option(
        help="long prompt tokens LO-HI", gpu=(6000, 8000), cpu=(3000, 3800), type=_range
    )
    short_len: tuple[int, int] | None = option(
        help="short prompt tokens LO-HI", gpu=(64, 256), cpu=(16, 64), type=_range
    )
    output_len: int | None = option(help="output tokens of every request", gpu=128, cpu=16, type=int)
    request_rate: float | None = option(help="Poisson arrivals per second", gpu=8.0, cpu=20.0, type=float)
    budgets: list[int] | None = option(
        help="--max-num-batched-tokens values with chunking", gpu=[512, 2048, 8192], cpu=[256, 1024], type=cli.int_list
    )
    no_chunk: bool = option(True, "skip the no-chunking variant", flag="--no-baseline", action="store_false")
    caps: list[int] | None = option(
        help="long_prefill_token_threshold values, each crossed with every larger budget",
        gpu=[256, 512, 1024],
        cpu=[64, 128],
        type=cli.int_list,
    )
    seed: int = option(0, "seed of the mix and its arrivals")
    plots: bool = option(True, "no PNG plots", flag="--no-plots", action="store_false")
    capacity: dict | None = option(cli=False)  # --capacity: search settings (slo None = 5x short requests alone)
    variant: str | None = option(cli=False)  # a child's scheduler variant (variants())


def variants(cfg: Config, max_len: int) -> list[dict]:
    """Engine overrides per scheduler variant: no chunking, each budget, each budget x each cap below it."""
    out = []
    if cfg.no_chunk:
        out.append(
            {"name": "no chunking", "engine": {"enable_chunked_prefill": False, "max_num_batched_tokens": max_len}}
        )
    for b in cfg.budgets:
        out.append({"name": f"chunked {b}", "engine": {"enable_chunked_prefill": True, "max_num_batched_tokens": b}})
    for b in cfg.budgets:
        for cap in [c for c in cfg.caps if c < b]:
            out.append(
                {
                    "name": f"chunked {b}, cap {cap}",
                    "engine": {
                        "enable_chunked_prefill": True,
                        "max_num_batched_tokens": b,
                        "long_prefill_token_threshold": cap,
                    },
                }
            )
    return out


# --------------------------------------------------------------------------- child: one variant
def variant_child(cfg: Config) -> dict:
    return run_async(_variant_child(cfg))


async def _variant_child(cfg: Config) -> dict:
    timer = StageTimer()
    with timer("engine_start"):
        backend = AsyncLLMBackend(eng.build_async_engine(cfg.engine))
    scheduler = eng.scheduler_limits(backend.engine)
    short_alone, long_ref, mixed = workload(cfg, cfg.vocab_size, cfg.num_requests, cfg.request_rate)
    with timer("warmup"):
        await warm_up(backend, random_prompts(4, 64, 8, cfg.vocab_size, seed=5))
        long_alone = await run_closed_loop(backend, long_ref, concurrency=1) if long_ref else []
    t0 = time.perf_counter()
    alone = await run_open_loop(backend, short_alone, time_limit_s=cfg.timeout_s)
    t1 = time.perf_counter()
    mix = await run_open_loop(backend, mixed, time_limit_s=cfg.timeout_s)
    capacity = None
    if cfg.capacity:
        with timer("capacity_search"):
            capacity = await mix_capacity(backend, cfg, alone, scheduler["max_num_seqs"])
    eng.shutdown(backend.engine)
    return {
        "stage_seconds": timer.seconds,
        "scheduler": scheduler,
        "alone": [r.to_raw(t0) for r in alone],
        "mixed": [r.to_raw(t1) for r in mix],
        "long_alone": [r.to_raw(t0) for r in long_alone],
        "capacity": capacity,
    }


async def mix_capacity(backend, cfg: Config, alone, max_num_seqs: int) -> CapacityResult:
    """The capacity search on this variant's engine: arrivals of the same class mix; short requests' p99 TTFT and
    every request's p99 TPOT judged. Without an SLO (the first variant) it is 5x the short requests' median TTFT and
    TPOT alone, and the parent hands it on to the other variants."""
    c = dict(cfg.capacity or {})
    if not c.get("slo"):
        ok = [r for r in alone if r.ok]
        c["slo"] = {
            "ttft": round(5 * float(np.median([r.ttft_s for r in ok])) * 1000, 1),
            "tpot": round(5 * float(np.median([r.tpot_s for r in ok if r.tpot_s])) * 1000, 2),
        }
        c["slo_source"] = "5x the short requests' median TTFT and TPOT alone, measured with the first variant"
    make = PoissonWorkload(
        lambda n, seed: mix_prompts(cfg, cfg.vocab_size, n, seed), cfg.output_len, {"source": "class_mix"}
    )
    # long prompts keep the engine compute-bound at a small batch: a closed loop of 2 x a probe's requests saturates
    # it (256 clients of a long-prompt mix would spend minutes in prefill); warmed up and measured alone above
    res = await capacity_on_backend(
        backend,
        {k: v for k, v in c.items() if k != "slo_source"},
        make,
        cfg.seed,
        on_probe=lambda partial: checkpoint({"capacity": partial}),
        max_num_seqs=max_num_seqs,
        saturation_cap=2 * c["min_requests"],
        term_class={"ttft": "short"},
    )
    res.extra.update(term_class={"ttft": "short"}, slo_source=c.get("slo_source", "--slo"))
    return res


# --------------------------------------------------------------------------- the experiment
def main(cfg: Config) -> dict:
    fill_device_defaults(cfg)
    engine_kwargs, info = cli.resolve_model(cfg.model, cfg.engine)
    max_len = model_max_len(engine_kwargs, info)
    need = cfg.long_len[1] + cfg.output_len
    if need > max_len:
        raise cli.UsageError(
            f"long prompts need {need} tokens but max_model_len is {max_len}; lower --long-len or raise --max-model-len"
        )
    engine_kwargs.setdefault("max_model_len", max_len)
    tp = int(engine_kwargs.get("tensor_parallel_size", 1))
    ts, vs = timestamp(), variants(cfg, max_len)
    print(
        f"model: {info.name}  {cfg.num_requests} requests at {cfg.request_rate} req/s, {cfg.long_fraction:.0%} long "
        f"({cfg.long_len[0]}-{cfg.long_len[1]} tokens) / short ({cfg.short_len[0]}-{cfg.short_len[1]}), "
        f"{cfg.output_len} out"
    )
    print("variants: " + "; ".join(v["name"] for v in vs))
    rows, done, files, runs = [], [], [], []
    base = replace(cfg, engine=engine_kwargs, vocab_size=info.vocab_size)  # what each variant's child starts from
    stages = Stages(len(vs))
    for i, v in enumerate(vs):
        path = run_path(cfg.output_dir, EXPERIMENT, info.short_name, tp, f"{ts}_{i}")
        files.append(str(path))
        row, entry, run = run_variant(cfg, v, base, path, stages.line(f"{v['name']} (own engine) ..."))
        rows.append(row)
        runs += [run] if run else []
        done += [entry] if entry else []
        c = run.metrics.get("capacity") if run else None  # (read from the file: a summary that broke cannot lose it)
        if c and c.slo and cfg.capacity and not cfg.capacity.get("slo"):  # the first variant fixed the SLO
            cfg.capacity = {**cfg.capacity, "slo": c.slo, "slo_source": c.extra["slo_source"]}
    out = then("the tables and plots", lambda: report(cfg, rows, done, files, ts, info), *runs) or {
        "rows": rows,
        "files": files,
        "plots": [],
    }
    failed = any_failed(runs) or any(r["status"] == Status.FAILED for r in rows)
    return {**out, "exit_code": 1 if failed else 0}


def model_max_len(engine_kwargs: dict, info) -> int:
    """The context the variants run with: --max-model-len, else the model's own, at most 32,768."""
    return int(engine_kwargs.get("max_model_len") or min(info.raw.get("max_position_embeddings", 32768), 32768))


def run_variant(
    cfg: Config, v: dict, base: Config, path: Path, announce: str
) -> tuple[dict, tuple | None, RunFile | None]:
    """One scheduler variant in its own engine process (`announce` its progress line), saved at once, then summarized
    in a step after it: (table row, (variant, metrics, raw) or None, its file)."""
    child = replace(base, engine={**base.engine, **v["engine"]}, variant=v["name"], capacity=cfg.capacity)
    res = until_interrupted(
        run_isolated, "test_mixed_workload:variant_child", child, timeout_s=cfg.timeout_s, label=v["name"],
        announce=announce,
    )  # fmt: skip
    if res["status"] != Status.OK:
        return (
            record_failure(
                path,
                v["name"],
                res,
                experiment=EXPERIMENT,
                config=child.to_json(),
                metrics={"variant": v["name"]},
                row={"variant": v["name"]},
            ),
            None,
            None,
        )
    capacity = CapacityResult.from_json(res["capacity"]) if res.get("capacity") else None
    metrics: dict = {"variant": v["name"], **v["engine"], "scheduler": res["scheduler"]}
    if capacity:
        metrics["capacity"], capacity.samples_in_raw = capacity, True
    run = RunFile(path, EXPERIMENT, child.to_json())
    run.measured(  # the samples on disk before anything reads them
        metrics,
        {
            "alone": res["alone"],
            "mixed": res["mixed"],
            "long_alone": res["long_alone"],
            "capacity_probes": capacity.probe_samples() if capacity else [],
            "stage_seconds": res["stage_seconds"],
        },
    )

    def summary() -> tuple[dict, tuple]:
        m = {
            **run.metrics,
            **analyse(res),
            # the cap the engine ran with (vLLM's own value where the variant sets none)
            "long_prefill_token_threshold": res["scheduler"]["long_prefill_token_threshold"],
        }
        if capacity:  # the search's probe lines went to stderr with the engine's log; its outcome goes with the tables
            print(f"  {len(capacity.probes)} probes, {capacity.search_s or 0:.0f} s: {capacity.verdict}", flush=True)
        run.summarized(m, [_row(m)], failed=bool(m["failed"]))
        return run.rows[0], (v, m, res)

    row, entry = then("the summary", summary, run) or ({"variant": v["name"], "status": Status.FAILED}, None)
    return row, entry, run


def _row(m: dict) -> dict:
    cap = m.get("capacity")
    row = {
        "variant": m["variant"],
        "short TTFT p50/p99 ms": f"{num(m['short_median_ttft_ms'])} / {num(m['short_p99_ttft_ms'])}",
        "alone p99 ms": num(m["short_alone_p99_ttft_ms"]),
        "inflation p99": f"{m['short_ttft_inflation_p99']:.2f}x" if m.get("short_ttft_inflation_p99") else "-",
        "HOL blocked": pct(m.get("hol_blocked_share")),
        "short TPOT p99 ms": num(m["short_p99_tpot_ms"], 2),
        "long TTFT p50 ms": num(m["long_median_ttft_ms"]),
        "long E2E p50 ms": num(m["long_median_e2el_ms"]),
        "Jain slowdown": num(m["jain_slowdown"], 3),
    }
    if cap:
        row["capacity req/s"] = "failed" if cap.failed else num(cap.request_rate, 2)
    row.update({"failed": m["failed"], "status": Status.FAILED if m["failed"] else Status.OK})
    return row


def knob(m: dict) -> str:
    """The scheduler setting a variant stands for, as a flag a user would pass."""
    if not m.get("enable_chunked_prefill"):
        return "no chunked prefill (--no-enable-chunked-prefill)"
    text = f"--max-num-batched-tokens {m['max_num_batched_tokens']}"
    if m.get("long_prefill_token_threshold"):
        text += f" with --long-prefill-token-threshold {m['long_prefill_token_threshold']}"
    return text


def takeaway(ms: list[dict], rate: float) -> list[str]:
    """The best variant's lines, which capacities rest on too few requests to rank them, and the measured best."""
    lines = best_variant(ms, rate)
    thin = [(m, n) for m in ms if m.get("capacity") and (n := m["capacity"].thin())]
    if thin:
        names = ", ".join(f"'{m['variant']}' ({n})" for m, n in thin)
        lines.append(
            f"Rough ranks: the capacities of {names} rest on a probe whose p{thin[0][0]['capacity'].percentile:g}"
            " was taken over that few requests, so it lies between their two largest and one or two late "
            "requests decided it; lengthen the probes (--probe-min-requests, --probe-seconds) to rank these "
            "variants."
        )
    best, by = measured_best(ms)
    if best:
        lines.append(
            f"Best measured: '{best['variant']}' ("
            + (
                "the most capacity under the SLO)"
                if by == "capacity"
                else f"the lowest short p99 TTFT inflation at {rate:g} req/s; no capacity under the SLO was found)"
            )
        )
    return lines


def measured_best(ms: list[dict]) -> tuple[dict | None, str]:
    """(the variant that measured best, by what): the highest capacity under the SLO where a search found one, else
    the lowest short p99 TTFT inflation at the mix's own rate; (None, "") when neither was measured."""
    with_cap = [m for m in ms if m.get("capacity") and m["capacity"].found]
    if with_cap:
        return max(with_cap, key=lambda m: m["capacity"].request_rate), "capacity"
    ranked = [m for m in ms if m.get("short_ttft_inflation_p99")]
    return (min(ranked, key=lambda m: m["short_ttft_inflation_p99"]), "inflation") if ranked else (None, "")


def best_variant(ms: list[dict], rate: float) -> list[str]:
    """Names the variant that measured best (measured_best), its flag, and what it cost the long requests against no
    chunking. Only a measured best is recommended: when no chunking was best, that is what the line says."""
    ref = next((m for m in ms if m["variant"] == "no chunking"), None)
    best, by = measured_best(ms)
    lines = []
    if by == "capacity":
        c = best["capacity"]
        head = (
            f"'{best['variant']}' serves the most of this mix under "
            f"{slo_text(c.slo, c.percentile, c.extra.get('term_class'))} ({c.extra.get('slo_source')}): "
            f"{c.request_rate:.3g} req/s"
        )
        r0 = ref["capacity"].request_rate if ref and ref.get("capacity") else None
        if best is not ref and r0:
            head += (
                f", {c.request_rate / r0:.2f}x no chunking's {r0:.3g} req/s (Sarathi-Serve reports 2.6x for a "
                "7B model on one A100, at its own SLO and mix)"
            )
        elif best is not ref and ref and ref.get("capacity"):
            head += ", where no chunking met the SLO at no rate tried"
        lines.append(head + ".")
    elif searched := [m for m in ms if m.get("capacity") and not m["capacity"].failed]:
        lines.append(
            f"No variant met the SLO ({searched[0]['capacity'].slo} ms) at any rate tried: loosen "
            "--slo or lower the long share."
        )
    if best is None:
        return ["Takeaway: no variant completed short requests both alone and in the mix."] + lines
    if best is ref or not best.get("enable_chunked_prefill"):
        return [
            "Takeaway: no chunked variant beat no chunking on this run; keep chunked prefill off for this mix, "
            "or measure again at another load."
        ] + lines
    at_rate = f"At the mix's own {rate:g} req/s, short p99 TTFT is "
    infl = best.get("short_ttft_inflation_p99")
    at_rate += (f"{infl:.2f}x its alone value" if infl else "not measured") + (
        f" (no chunking: {ref['short_ttft_inflation_p99']:.2f}x)" if ref and ref.get("short_ttft_inflation_p99") else ""
    )
    if ref and ref.get("long_median_ttft_ms") and best.get("long_median_ttft_ms"):
        at_rate += (
            f"; long requests' median TTFT {best['long_median_ttft_ms']:.0f} ms vs {ref['long_median_ttft_ms']:.0f}"
            f" ms and median E2E {best['long_median_e2el_ms']:.0f} ms vs {ref['long_median_e2el_ms']:.0f} ms "
            "without chunking"
        )
    during, none_ms = "short_mean_itl_during_long_prefill_ms", "short_mean_itl_without_long_prefill_ms"
    if ref and ref.get(during) and best.get(during):
        at_rate += (
            f"; while a long prompt was in prefill, short requests got a token every {best[during]:.1f} ms on "
            f"average ({ref[during]:.1f} ms without chunking, {best[none_ms]:.1f} ms with no long prompt in "
            "prefill)"
        )
    if by == "capacity":
        return [f"Takeaway: use {knob(best)}: " + lines[0], at_rate + "."]
    return [f"Takeaway: use {knob(best)} ('{best['variant']}'). " + at_rate + "."] + lines


def report(cfg, rows, done, files, ts, info) -> dict:
    lines = takeaway([m for _, m, _ in done], cfg.request_rate) if done else []
    print_table(rows, "\n".join(lines), title="Mixed workload: short requests next to long ones")
    sub = figure_subtitle(info.short_name, environment(), f"{cfg.num_requests} requests at {cfg.request_rate:g}/s")
    plots = (
        plot(cfg, done, Path(cfg.output_dir) / f"{EXPERIMENT}_{info.short_name}_{ts}", sub)
        if cfg.plots and done
        else []
    )
    print("results: " + ", ".join(files) + ("\nplots: " + ", ".join(plots) if plots else ""))
    return {"rows": rows, "files": files, "plots": plots}


def plot(cfg, done, stem: Path, sub: str) -> list[str]:
    """Each variant's TTFT CDF (one colour per variant: short requests solid, long dashed; the TTFT target), the
    trade-off between the classes (the target and the best variant marked), the best and worst timelines."""
    slo = ((cfg.capacity or {}).get("slo") or {}).get("ttft")  # judged over the short requests
    target = (slo, f"TTFT SLO {slo:g} ms (short requests)") if slo else (None, None)
    per = {
        v["name"]: {k: [r["ttft_ms"] for r in res["mixed"] if r["klass"] == k] for k in ("short", "long")}
        for v, _, res in done
    }
    best, _ = measured_best([m for _, m, _ in done])
    plots = [
        class_cdf_plot(Path(f"{stem}_ttft_cdf.png"), per, f"TTFT per scheduler variant: {sub}", "TTFT (ms)", *target),
        scatter_plot(
            Path(f"{stem}_tradeoff.png"),
            {m["variant"]: (m["long_median_ttft_ms"], m["short_p99_ttft_ms"]) for _, m, _ in done},
            f"What protecting short requests costs long ones: {sub}",
            "long requests: median TTFT (ms)",
            "short requests: p99 TTFT (ms)",
            *target,
            best=best["variant"] if best else None,
        ),
    ]
    ranked = sorted(done, key=lambda x: x[1].get("short_ttft_inflation_p99") or float("inf"))
    for tag, (v, _m, res) in (("best", ranked[0]), ("worst", ranked[-1])):
        plots.append(
            timeline_plot(
                Path(f"{stem}_timeline_{tag}.png"),
                res["mixed"],
                f"Request timeline, {tag}: {v['name']}: {sub}",
                colors={"short": "tab:blue", "long": "tab:red"},
            )
        )
    return [str(p) for p in plots]


# --------------------------------------------------------------------------- command line
def plan(cfg: Config) -> None:
    """--plan: the scheduler variants this command would run, an engine each, and what it would cost."""
    fill_device_defaults(cfg)
    engine_kwargs, info = cli.resolve_model(cfg.model, cfg.engine)
    max_len = model_max_len(engine_kwargs, info)
    tp, ref = int(engine_kwargs.get("tensor_parallel_size", 1)), bill.reference(info.params_estimate())
    mix = 2 * bill.level_s(ref, "rate", cfg.request_rate, cfg.num_requests, cfg.output_len, tp)
    how = f"{cfg.num_requests} requests at {cfg.request_rate:g} req/s, the short ones alone first"
    search = bill.search_s(cfg.capacity) if cfg.capacity else 0.0
    if cfg.capacity:
        how += f"; capacity: {bill.search_how(cfg.capacity)}"
    stages = [bill.Stage(f"{v['name']}: alone, mixed", tp, 1, mix + search, how) for v in variants(cfg, max_len)]
    bill.show("test_mixed_workload.py", stages, ref, cfg.gpu_hour_usd)


def build_config(args, engine: dict) -> Config:
    if not 0 < args.long_fraction < 1:
        raise cli.UsageError("--long-fraction must be between 0 and 1")
    if args.request_rate is not None and args.request_rate <= 0:
        raise cli.UsageError("--request-rate must be > 0")
    for k in ("enable_chunked_prefill", "max_num_batched_tokens", "long_prefill_token_threshold"):
        if k in engine:
            raise cli.UsageError(
                f"--{k.replace('_', '-')} is what this experiment varies; use --budgets / --caps / --no-baseline"
            )
    if args.slo and not args.capacity:
        raise cli.UsageError("--slo sets the capacity search's target: add --capacity")
    capacity = spec_from_args(args, required=False, slo_optional=True) if args.capacity else None
    extra = {"caps": []} if args.no_cap else {}
    return from_args(Config, args, **cli.common_fields(args), engine=engine, capacity=capacity, **extra)


if __name__ == "__main__":
    p = cli.base_parser(__doc__)
    add_options(p, Config)
    p.add_argument("--no-cap", action="store_true", help="no long_prefill_token_threshold variants")
    add_cli_args(p, with_switch="--capacity")
    cli.run_main(main, build_config, p, plan)
