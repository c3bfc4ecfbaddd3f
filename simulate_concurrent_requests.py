"""Experiment 2 - How does one vLLM engine behave as more clients talk to it at once?

Many async clients stream requests at several concurrency levels (or request rates). Per level:
throughput under load, TTFT/TPOT/ITL/E2E percentiles (named as `vllm bench serve` names them), the
scheduler's fairness (Jain's index over clients and over slowdown, worst TTFT vs median), and, in
--base-url mode, the server's own scheduler state from /metrics. Finally the same prompts are run
once as concurrent requests and once as a single LLM.generate batch: continuous batching should make
the two close, and the table says how close.
With --find-capacity --slo the levels give way to a capacity search (common/capacity.py): the highest
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

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

EXPERIMENT = "concurrent_requests"


@dataclass
class Config:
    model: str | None = None
    engine: dict = field(default_factory=dict)
    base_url: str | None = None
    concurrency: list[int] = field(default_factory=list)      # closed-loop levels
    request_rates: list[float] = field(default_factory=list)  # open-loop levels (req/s), replaces concurrency
    burstiness: float = 1.0
    num_prompts: int | None = None      # per level; default max(32, 4 x level)
    input_len: int | None = None       # default 512 (CPU 64)
    output_len: int | None = None      # default 128 (CPU 16)
    range_ratio: float = 0.0
    warmup_requests: int = 4
    batch_prompts: int | None = None    # concurrent-vs-batch comparison size: 256 (CPU 32)
    goodput: dict = field(default_factory=dict)
    seed: int = 0
    level_time_limit_s: float = 600.0
    output_dir: str = "results"
    timeout_s: float = 3600.0
    plots: bool = True
    compare_vllm_bench: bool = False    # --base-url only: run `vllm bench serve` on the same workload per level
    capacity: dict | None = None        # --find-capacity: the search's settings (common.capacity.spec_from_args)


DEFAULTS = {"input_len": (512, 64), "output_len": (128, 16), "batch_prompts": (256, 32),
            "concurrency": ([1, 4, 16, 64, 256], [1, 4, 16])}


def cpu_defaults(cfg: Config) -> Config:
    """Unset sizes get GPU defaults, or on a CPU box a workload that finishes in a minute on the tiny model."""
    from common.cli import fill_defaults
    if not cfg.concurrency:
        cfg.concurrency = None
    fill_defaults(cfg, DEFAULTS)
    return cfg


def levels(cfg) -> list[tuple[str, float]]:
    if cfg["request_rates"]:
        return [("rate", r) for r in cfg["request_rates"]]
    return [("concurrency", c) for c in cfg["concurrency"]]


def level_prompts(cfg: dict, kind: str, value: float, vocab: int, seed: int):
    from common.loadgen import arrival_times, random_prompts
    n = cfg["num_prompts"] or (max(32, 4 * int(value)) if kind == "concurrency" else 64)
    specs = random_prompts(n, cfg["input_len"], cfg["output_len"], vocab, seed=seed, range_ratio=cfg["range_ratio"])
    if kind == "rate":
        for s, t in zip(specs, arrival_times(n, value, cfg["burstiness"], seed=seed)):
            s.arrival_s = float(t)
    return specs


# --------------------------------------------------------------------------- the measurement (child or base-url)
def measure(cfg: dict, after_level=None) -> dict:
    """Warm-up, unloaded reference, every level, and the all-at-once run. Runs in the isolated child
    (in-process engine) or directly in this process (--base-url). `after_level(i, level)`, if given, runs
    (in a thread) after each level, before the next one starts."""
    from common.loadgen import run_async
    return run_async(_measure(cfg, after_level))


async def _measure(cfg: dict, after_level=None) -> dict:
    import asyncio
    import psutil
    from tqdm import tqdm

    from common.isolation import checkpoint
    from common.loadgen import (AsyncLLMBackend, OpenAIBackend, fairness_metrics, random_prompts,
                                request_metrics, run_closed_loop, unloaded_model)
    from common.metrics import StageTimer

    timer = StageTimer()
    proc = psutil.Process()
    watcher_cls = None
    if cfg["base_url"]:
        backend = OpenAIBackend(cfg["base_url"])
        from common.prom import Watcher
        watcher_cls = Watcher
    else:
        from common import engine as eng
        with timer("engine_start"):
            backend = AsyncLLMBackend(eng.build_async_engine(cfg["engine"]))
    vocab = cfg["vocab_size"]
    out = {"levels": [], "stage_seconds": timer.seconds}
    if not cfg["base_url"]:
        out["scheduler"] = eng.scheduler_limits(backend.engine)
        print(f"  scheduler: up to {out['scheduler']['max_num_seqs']} running requests and "
              f"{out['scheduler']['max_num_batched_tokens']} tokens per step (as `vllm serve` would set them here)",
              flush=True)
    try:
        if cfg["base_url"]:
            await backend.resolve_model()
        if cfg["capacity"]:
            with timer("capacity_search"):
                out["capacity"] = await _search(backend, cfg, out)
            return out
        with timer("warmup"):  # not counted: compiles, allocates, fills caches
            warm = await run_closed_loop(backend, random_prompts(cfg["warmup_requests"], cfg["input_len"], 8, vocab,
                                                                 seed=cfg["seed"] + 7), concurrency=cfg["warmup_requests"])
        if warm and not any(r.ok for r in warm):
            raise RuntimeError(f"every warm-up request failed, e.g. {warm[0].error}")
        with timer("unloaded_reference"):  # one at a time: what each request costs with no one else around
            ref = await run_closed_loop(backend, random_prompts(4, cfg["input_len"], cfg["output_len"], vocab,
                                                                seed=cfg["seed"] + 11), concurrency=1)
        unloaded = unloaded_model(ref)
        out["unloaded"] = {"ttft_ms": unloaded[0] * 1000, "tpot_ms": unloaded[1] * 1000}

        for i, (kind, value) in enumerate(levels(cfg)):
            specs = level_prompts(cfg, kind, value, vocab, seed=cfg["seed"] + 100 + i)
            label = f"{kind}={value:g}"
            cpu0 = proc.cpu_times()
            t0 = time.perf_counter()
            with tqdm(total=len(specs), desc=label, unit="req", leave=False) as bar:
                if watcher_cls:
                    async with watcher_cls(backend.session, cfg["base_url"]) as w:
                        recs = await _run_level(backend, specs, kind, value, cfg, bar)
                    server = w.report()
                else:
                    recs = await _run_level(backend, specs, kind, value, cfg, bar)
                    server = None
            cpu1 = proc.cpu_times()
            client_cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
            m = request_metrics(recs, cfg["goodput"] or None)
            m.update(fairness_metrics(recs, unloaded))
            m["client_cpu_ms_per_request"] = client_cpu * 1000 / max(len(recs), 1)
            m["level_wall_s"] = time.perf_counter() - t0
            level = {"kind": kind, "value": value, "num_prompts": len(specs), "metrics": m,
                     "server_metrics": server, "requests": [r.to_raw(t0) for r in recs]}
            out["levels"].append(level)
            print(f"  {label}: {m['completed']}/{len(specs)} ok, {m['output_throughput']:.1f} out tok/s, "
                  f"median TTFT {m['median_ttft_ms'] or 0:.1f} ms", flush=True)
            checkpoint(cfg, out)
            if after_level:
                await asyncio.to_thread(after_level, i, level)

        # concurrent vs batch: the same prompts, all sent at once as async requests
        specs = random_prompts(cfg["batch_prompts"], cfg["input_len"], cfg["output_len"], vocab, seed=cfg["seed"] + 999)
        t0 = time.perf_counter()
        recs = await run_closed_loop(backend, specs, concurrency=len(specs), time_limit_s=cfg["level_time_limit_s"])
        wall = time.perf_counter() - t0
        m = request_metrics(recs)
        out["concurrent_all_at_once"] = {"wall_s": wall, "completed": m["completed"], "failed": m["failed"],
                                         "output_tokens": m["total_output_tokens"],
                                         "output_throughput": m["total_output_tokens"] / wall if wall else 0.0}
    except KeyboardInterrupt:
        out["interrupted"] = True
    except Exception as e:  # e.g. the server went away between levels: keep the levels that finished
        if not cfg["base_url"]:
            raise  # in-process: the isolation layer records it, with the checkpointed levels
        out["error"] = f"{type(e).__name__}: {e}"[:300]
    finally:
        await backend.close()
        if not cfg["base_url"]:
            backend.engine.shutdown()
            backend.engine = None
    return out


async def _search(backend, cfg: dict, out: dict) -> dict:
    """--find-capacity: warm-up, unloaded reference and the search; each probe checkpointed."""
    from common.capacity import capacity_on_backend
    from common.isolation import checkpoint
    probes = []

    def on_probe(p):
        probes.append(p)
        checkpoint(cfg, {**out, "capacity": {"probes": probes, "failed": "interrupted before the search finished"}})

    workload = {k: cfg[k] for k in ("input_len", "output_len", "range_ratio", "vocab_size", "seed")}
    return await capacity_on_backend(backend, cfg["capacity"], workload, on_probe=on_probe)


async def _run_level(backend, specs, kind, value, cfg, bar):
    from common.loadgen import run_closed_loop, run_open_loop
    if kind == "rate":
        return await run_open_loop(backend, specs, time_limit_s=cfg["level_time_limit_s"], progress=bar)
    return await run_closed_loop(backend, specs, int(value), time_limit_s=cfg["level_time_limit_s"], progress=bar)


def measure_batch(cfg: dict) -> dict:
    """Child: the same prompts as one LLM.generate batch (offline engine, one call)."""
    from common import engine as eng
    from common.loadgen import random_prompts
    from common.metrics import StageTimer
    from common.stepdrive import generate_offline
    timer = StageTimer()
    with timer("engine_start"):
        llm = eng.build_llm(cfg["engine"])
    scheduler = eng.scheduler_limits(llm)
    specs = random_prompts(cfg["batch_prompts"], cfg["input_len"], cfg["output_len"], cfg["vocab_size"],
                           seed=cfg["seed"] + 999)
    try:
        with timer("warmup"):  # prompts of its own: the timed ones must not be in the prefix cache
            generate_offline(llm, random_prompts(4, cfg["input_len"], 8, cfg["vocab_size"], seed=cfg["seed"] + 998))
        # greedy, as the concurrent requests it is compared with
        b = generate_offline(llm, specs, use_tqdm=True, temperature=0.0)
    finally:
        eng.shutdown(llm)
    return {"wall_s": b["wall_s"], "completed": b["completed"], "output_tokens": b["output_tokens"],
            "output_throughput": b["output_tokens"] / b["wall_s"], "stage_seconds": timer.seconds,
            "scheduler": scheduler}


# --------------------------------------------------------------------------- the experiment
def main(cfg: Config) -> dict:
    from common.calibration import bench_at_capacity, bench_serve_level
    from common.capacity import split_samples
    from common.cli import UsageError, resolve_model
    from common.engine import SCHEDULER_LIMITS
    from common.isolation import run_isolated
    from common.results import run_path, save_run, timestamp
    from common.server import health

    cfg = cpu_defaults(cfg)
    if cfg.base_url:
        if not health(cfg.base_url, timeout=5):
            raise UsageError(f"no healthy server at {cfg.base_url} (GET /health failed); start `vllm serve` first")
        engine_kwargs, info = {"model": cfg.model or "(server)"}, None
        try:
            import urllib.request, json as _json
            with urllib.request.urlopen(cfg.base_url.rstrip("/") + "/v1/models", timeout=10) as r:
                served = _json.load(r)["data"][0]
            engine_kwargs = {"model": served["id"]}
            vocab = _vocab_from(cfg.model or served.get("root") or served["id"])
        except Exception as e:
            raise UsageError(f"cannot read /v1/models or the model's config at {cfg.base_url}: {e}") from None
    else:
        engine_kwargs, info = resolve_model(cfg.model, cfg.engine)
        vocab = info.vocab_size
    tp = int(engine_kwargs.get("tensor_parallel_size", 1))
    child = {**asdict(cfg), "engine": engine_kwargs, "vocab_size": vocab}
    model_short = (info.short_name if info else engine_kwargs["model"].rstrip("/").split("/")[-1])
    path = run_path(cfg.output_dir, EXPERIMENT, model_short, tp, timestamp())
    print(f"model: {engine_kwargs['model']}  mode: {'server ' + cfg.base_url if cfg.base_url else 'in-process AsyncLLM'}"
          f"  {'capacity search' if cfg.capacity else 'levels: ' + str([f'{k}={v:g}' for k, v in levels(child)])}"
          f"  {cfg.input_len} in / {cfg.output_len} out tokens")

    # 1. Load levels (+ the all-at-once run): in its own process unless we talk to a server
    status, failure = "ok", None
    comparison = None
    if cfg.base_url:
        after = None
        if cfg.compare_vllm_bench:  # vLLM's own client on the same server and level, right after ours
            comparison = {}
            after = lambda i, lv: comparison.update(bench_serve_level(cfg, engine_kwargs["model"], i, lv))  # noqa: E731
        res = measure(child, after_level=after)
        if res.get("error"):
            failure = {"kind": "other", "message": res["error"],
                       "hint": f"is the server at {cfg.base_url} still up? its log says why it stopped"}
            print(f"load run FAILED: {res['error']}\n  hint: {failure['hint']}")
            status = "partial"
    else:
        res = run_isolated("simulate_concurrent_requests:measure", child, timeout_s=cfg.timeout_s, label="load levels")
        if res["status"] != "ok":
            failure = res["failure"]
            print(f"load run FAILED ({failure['kind']}): {failure['message'][:300]}\n  hint: {failure['hint']}")
            res, status = (res.get("partial") or {"levels": []}), "partial"
    # 2. The same prompts as one offline batch
    batch = None
    if not cfg.base_url and status == "ok" and not cfg.capacity:
        print(f"\n=== one LLM.generate batch of the same {cfg.batch_prompts} prompts (its own process) ...", flush=True)
        # the scheduler limits the concurrent run had (vllm.LLM's own defaults are larger on a GPU): the
        # comparison is then about arrivals one by one vs all at once, not about two configurations
        same = {k: v for k, v in (res.get("scheduler") or {}).items() if k in SCHEDULER_LIMITS and k not in engine_kwargs}
        b = run_isolated("simulate_concurrent_requests:measure_batch", {**child, "engine": {**engine_kwargs, **same}},
                         timeout_s=cfg.timeout_s, label="batch")
        batch = b if b["status"] == "ok" else None
        if batch is None:
            print(f"batch run FAILED ({b['failure']['kind']}): {b['failure']['message'][:300]}")

    cap = res.get("capacity")
    if cfg.capacity and (not cap or cap.get("failed")):
        why = (cap or {}).get("failed") or (failure or {}).get("message") or res.get("error") or "no result"
        failure = failure or {"kind": "other", "message": why,
                              "hint": f"is the server at {cfg.base_url} still up? its log says why it stopped"}
        status = "partial"
    if cap and cfg.compare_vllm_bench and cap.get("request_rate"):
        print(f"\n=== vllm bench serve at the capacity found, {cap['request_rate']:.3g} req/s ...", flush=True)
        cap["vllm_bench_at_capacity"] = bench_at_capacity(cfg, engine_kwargs["model"], cap)

    # 3. Table, takeaway, files (with the calibration against `vllm bench serve` when it ran)
    if cfg.capacity:
        summary = capacity_report(cfg, cap or {}, path)
    else:
        summary = report(cfg, res, batch, path, status)
    summary["metrics"]["scheduler"] = res.get("scheduler")  # in-process only: what the engine ran with
    if comparison:
        from common.tables import print_table
        rows = []
        for key, c in comparison.items():
            if "error" in c:
                rows.append({"level": key, "vllm bench serve": "failed: " + c["error"][-80:]})
                continue
            r = c["ours_vs_vllm_bench"]
            rows.append({"level": key, "vllm bench out tok/s": round(c["vllm_bench"]["output_throughput"] or 0, 1),
                         "ours/theirs out tok/s": _r(r["output_throughput"], 3),
                         "ours/theirs mean TTFT": _r(r["mean_ttft_ms"], 3), "ours/theirs mean TPOT": _r(r["mean_tpot_ms"], 3)})
        print_table(rows, "Ratios near 1.0 mean this client measures what vLLM's own benchmark client measures.",
                    title="Calibration against vllm bench serve (same server, same workload)")
        summary["metrics"]["vllm_bench_comparison"] = comparison
    any_failed = status != "ok" or any(lv["metrics"]["failed"] for lv in res.get("levels", []))
    save_run(path, experiment=EXPERIMENT, config={**child, "tp": tp}, metrics=summary["metrics"],
             raw={"levels": res.get("levels", []), "unloaded": res.get("unloaded"),
                  "capacity_probes": split_samples(res.get("capacity")),
                  "concurrent_all_at_once": res.get("concurrent_all_at_once"), "batch": batch,
                  "stage_seconds": res.get("stage_seconds")},
             status="failed" if any_failed else "ok", rows=summary["rows"], failure=failure)
    print(f"results: {path}" + (f"  plots: {', '.join(summary['plots'])}" if summary["plots"] else ""))
    if res.get("interrupted") or (failure and failure["kind"] == "interrupted"):
        raise KeyboardInterrupt
    return {"metrics": summary["metrics"], "path": str(path), "exit_code": 1 if any_failed else 0}


def capacity_report(cfg: Config, cap: dict, path) -> dict:
    """--find-capacity: one row per probe, the verdict, the calibration at capacity, the probe plot."""
    from common.plotting import capacity_plot
    from common.tables import print_table
    from common.capacity import probe_row
    pct = cfg.capacity["percentile"]
    rows = [probe_row(p, pct) for p in cap.get("probes", [])]
    lines = [f"Takeaway: {cap.get('verdict', 'the search did not run')}."]
    if cap.get("request_rate"):
        lines.append(f"A server like this one takes up to {cap['request_rate']:.3g} requests per second of this "
                     f"shape ({cfg.input_len} in / {cfg.output_len} out tokens, Poisson arrivals) before p{pct:g} "
                     f"latency breaks the SLO; size the fleet from this rate, not from the offline batch throughput.")
    vb = cap.get("vllm_bench_at_capacity")
    if vb and "ours_vs_vllm_bench" in vb:
        r = vb["ours_vs_vllm_bench"]
        f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        lines.append(f"vllm bench serve at {vb['request_rate']:.3g} req/s ({vb['num_prompts']} requests): ours / theirs "
                     f"p{pct:g} TTFT {f(r['p99_ttft_ms'])}, p{pct:g} TPOT {f(r['p99_tpot_ms'])}, "
                     f"output throughput {f(r['output_throughput'])}.")
        if "vllm_bench_meets_slo" in vb:
            seen = ", ".join(f"p99 {t.upper()} {v:.0f} ms" for t, v in vb["vllm_bench_p99_ms"].items())
            lines.append(f"By its own p99s ({seen}) vllm bench serve "
                         + ("agrees: the SLO holds at this rate." if vb["vllm_bench_meets_slo"] else
                            "does NOT see the SLO met at this rate: read the capacity as an upper bound."))
    elif vb:
        lines.append(f"vllm bench serve at capacity failed: {vb.get('error', '')[-200:]}")
    print_table(rows, "\n".join(lines), title=f"Capacity search (one row per probe, in the order run; "
                                              f"{len(cap['probes'])} probes in {cap.get('search_s', 0) / 60:.1f} min)")
    plots = []
    if cfg.plots and rows:
        plots.append(str(capacity_plot(path.with_name(path.stem + "_capacity.png"), cap)))
    return {"rows": rows, "metrics": {"capacity": cap}, "plots": plots}


def _vocab_from(model: str) -> int:
    from common.models import load_model_info
    try:
        return load_model_info(model).vocab_size
    except Exception:
        return 32000  # server's model config not readable here: stay inside any modern vocabulary


def report(cfg: Config, res: dict, batch: dict | None, path, status: str) -> dict:
    from common.plotting import cdf_plot, line_plot
    from common.tables import print_table
    rows, per_level = [], {}
    for lv in res.get("levels", []):
        m = lv["metrics"]
        key = f"{lv['kind']}={lv['value']:g}"
        per_level[key] = m
        row = {"level": key, "ok/total": f"{m['completed']}/{lv['num_prompts']}",
               "req/s": round(m["request_throughput"], 2), "out tok/s": round(m["output_throughput"], 1),
               "TTFT p50/p99 ms": _pair(m, "ttft"), "TPOT p50/p99 ms": _pair(m, "tpot"),
               "ITL p99 ms": _r(m["p99_itl_ms"]), "E2E p50/p99 ms": _pair(m, "e2el"),
               "Jain clients": _r(m.get("jain_client_throughput"), 3), "max slowdown": _r(m.get("max_slowdown"), 2),
               "worst/median TTFT": _r(m.get("starvation_ttft_ratio"), 1),
               "client CPU ms/req": _r(m["client_cpu_ms_per_request"], 2)}
        if cfg.goodput:
            row["goodput req/s"] = _r(m.get("request_goodput"), 2)
        if lv.get("server_metrics"):
            s = lv["server_metrics"]
            row["max running/waiting"] = f"{_r(s.get('max_num_requests_running'), 0)}/{_r(s.get('max_num_requests_waiting'), 0)}"
            row["preemptions"] = _r(s.get("num_preemptions"), 0)
        rows.append(row)
    metrics = {"levels": per_level, "unloaded": res.get("unloaded")}
    lines = []
    if rows and not any(m["completed"] for m in per_level.values()):
        lines.append("Takeaway: no request completed at any level - see the errors in the JSON (`errors`).")
    elif rows:
        best = max(per_level.items(), key=lambda kv: kv[1]["output_throughput"])
        first = next(iter(per_level.values()))
        lines.append(f"Takeaway: output throughput peaks at {best[0]} with {best[1]['output_throughput']:.0f} tok/s "
                     f"({best[1]['output_throughput'] / max(first['output_throughput'], 1e-9):.1f}x the first level), "
                     f"while median TTFT goes from {first['median_ttft_ms'] or 0:.0f} to {best[1]['median_ttft_ms'] or 0:.0f} ms.")
        metrics["peak_output_throughput"] = best[1]["output_throughput"]
        metrics["peak_level"] = best[0]
    conc = res.get("concurrent_all_at_once")
    if conc and batch:
        ratio = conc["output_throughput"] / batch["output_throughput"]
        metrics["concurrent_vs_batch"] = {"concurrent_output_throughput": conc["output_throughput"],
                                          "batch_output_throughput": batch["output_throughput"],
                                          "concurrent_wall_s": conc["wall_s"], "batch_wall_s": batch["wall_s"],
                                          "ratio": ratio}
        lines.append(f"Concurrent vs batch ({cfg.batch_prompts} prompts): {conc['output_throughput']:.0f} vs "
                     f"{batch['output_throughput']:.0f} out tok/s ({conc['wall_s']:.2f} s vs {batch['wall_s']:.2f} s): "
                     f"concurrent requests reach {ratio * 100:.0f}% of one batch"
                     + (f" with the same scheduler limits ({batch['scheduler']['max_num_seqs']} sequences, "
                        f"{batch['scheduler']['max_num_batched_tokens']} tokens per step)" if batch.get("scheduler") else "")
                     + (" - continuous batching makes them nearly the same." if ratio > 0.85 else "."))
    elif conc:
        lines.append(f"All {cfg.batch_prompts} prompts at once: {conc['output_throughput']:.0f} out tok/s "
                     "(one-batch comparison needs the in-process engine).")
    if status != "ok":
        lines.append("The run did not finish; the table shows the levels that did.")
    print_table(rows, "\n".join(lines), title="Concurrent requests")
    plots = []
    if cfg.plots and rows:
        stem = path.with_suffix("")
        xs = [lv["value"] for lv in res["levels"]]
        xl = "concurrent clients" if res["levels"][0]["kind"] == "concurrency" else "request rate (req/s)"
        finite = [x if x != float("inf") else max([v for v in xs if v != float("inf")] or [1]) * 2 for x in xs]
        plots.append(str(line_plot(Path(f"{stem}_throughput.png"),
                                   {"output tokens/s": (finite, [lv["metrics"]["output_throughput"] for lv in res["levels"]])},
                                   "Throughput under load", xl, "output tokens / s", logx=True)))
        plots.append(str(line_plot(Path(f"{stem}_latency.png"),
                                   {f"{p} {n}": (finite, [lv["metrics"][f"{p}_{n}_ms"] for lv in res["levels"]])
                                    for n in ("ttft", "tpot") for p in ("median", "p99")},
                                   "Latency under load", xl, "ms", logx=True, logy=True)))
        plots.append(str(cdf_plot(Path(f"{stem}_e2e_cdf.png"),
                                  {f"{lv['kind']}={lv['value']:g}": [r["e2el_ms"] for r in lv["requests"]] for lv in res["levels"]},
                                  "End-to-end latency CDF per level", "E2E latency (ms)", logx=True)))
    return {"rows": rows, "metrics": metrics, "plots": plots}


def _r(v, nd=1):
    return "-" if v is None else round(v, nd) if nd else int(round(v))


def _pair(m, name):
    a, b = m.get(f"median_{name}_ms"), m.get(f"p99_{name}_ms")
    return "-" if a is None else f"{a:.1f} / {b:.1f}"


def build_config(args, engine: dict) -> Config:
    from common.cli import UsageError
    from common.loadgen import parse_goodput
    try:
        goodput = parse_goodput(args.goodput)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.compare_vllm_bench and not args.base_url:
        raise UsageError("--compare-vllm-bench needs --base-url (vllm bench serve talks to a server)")
    if args.burstiness <= 0:
        raise UsageError("--burstiness must be > 0")
    from common.capacity import spec_from_args
    if args.slo and not args.find_capacity:
        raise UsageError("--slo sets the capacity search's target: add --find-capacity (or use --goodput per level)")
    capacity = spec_from_args(args, required=True) if args.find_capacity else None
    if capacity and (args.burstiness != 1.0 or args.request_rate or args.concurrency):
        raise UsageError("--find-capacity chooses its own Poisson rates: drop --request-rate, --concurrency and --burstiness")
    return Config(model=args.model, engine=engine, base_url=args.base_url, concurrency=args.concurrency or [],
                  request_rates=args.request_rate or [], burstiness=args.burstiness, num_prompts=args.num_prompts,
                  input_len=args.input_len, output_len=args.output_len, range_ratio=args.range_ratio,
                  warmup_requests=args.warmup_requests, batch_prompts=args.batch_prompts, goodput=goodput,
                  seed=args.seed, level_time_limit_s=args.level_time_limit, output_dir=args.output_dir,
                  timeout_s=args.timeout, plots=not args.no_plots, compare_vllm_bench=args.compare_vllm_bench,
                  capacity=capacity)


def _rates(text: str) -> list[float]:
    import argparse
    try:
        vals = [float(x) for x in text.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated request rates (req/s or inf), got {text!r}") from None
    if not vals or any(v <= 0 for v in vals):
        raise argparse.ArgumentTypeError(f"request rates must be > 0, got {text!r}")
    return vals


if __name__ == "__main__":
    from common import cli
    p = cli.base_parser(__doc__)
    p.add_argument("--base-url", help="use a running OpenAI-compatible server instead of an in-process engine")
    p.add_argument("--concurrency", type=cli.int_list, help="closed-loop client counts (default 1,4,16,64,256; CPU 1,4,16)")
    p.add_argument("--request-rate", type=_rates, help="open-loop request rates in req/s (e.g. 2,8,inf); replaces --concurrency")
    p.add_argument("--burstiness", type=float, default=1.0, help="gamma shape of arrival gaps: 1 = Poisson, <1 burstier")
    p.add_argument("--num-prompts", type=int, help="requests per level (default max(32, 4 x level))")
    p.add_argument("--input-len", type=int, help="prompt tokens (CPU default 64)")
    p.add_argument("--output-len", type=int, help="output tokens, exact (ignore_eos) (CPU default 16)")
    p.add_argument("--range-ratio", type=float, default=0.0, help="lengths uniform in len x [1-r, 1+r]")
    p.add_argument("--warmup-requests", type=int, default=4, help="uncounted requests before measuring")
    p.add_argument("--batch-prompts", type=int, help="prompts in the concurrent-vs-batch comparison (CPU 32)")
    p.add_argument("--goodput", nargs="+", metavar="SLO", help="SLOs in ms, e.g. ttft:500 tpot:50 e2el:5000")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--level-time-limit", type=float, default=600.0, help="seconds one level may run; the rest count as failed")
    p.add_argument("--compare-vllm-bench", action="store_true",
                   help="with --base-url: also run `vllm bench serve` per level on the same workload and report ours / theirs")
    p.add_argument("--no-plots", action="store_true")
    from common.capacity import add_cli_args
    add_cli_args(p, with_switch="--find-capacity")
    cli.run_main(main, build_config, p)
