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
Exit code 0 when every layout ran, 1 when one failed, 2 on bad input.
"""
from __future__ import annotations

import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

EXPERIMENT = "scaling"
LAYOUTS = ("tp", "dp", "pp")


@dataclass
class Config:
    gpus: list[int] = field(default_factory=lambda: [1, 2, 4])
    layouts: list[str] = field(default_factory=lambda: ["tp"])
    model: str | None = None
    engine: dict = field(default_factory=dict)
    num_prompts: int | None = None     # None: DEFAULTS below (GPU, CPU)
    input_len: int | None = None
    output_len: int | None = None
    batch1_tokens: int | None = None
    concurrency: int | None = None
    latency_prompts: int | None = None
    offline_runs: int = 3              # timed offline runs per layout (median reported)
    vllm_bench_runs: int = 3           # --compare-vllm-bench: runs of ours and of `vllm bench throughput`, interleaved
    allreduce: bool = True
    gpu_hour_usd: float | None = None
    compare_vllm_bench: bool = False
    seed: int = 0
    output_dir: str = "results"
    timeout_s: float = 1800.0
    plots: bool = True
    capacity: dict | None = None       # --capacity: the search's settings (common.capacity.spec_from_args)


DEFAULTS = {"num_prompts": (1000, 64), "input_len": (512, 64), "output_len": (128, 32),
            "batch1_tokens": (256, 64), "concurrency": (16, 4), "latency_prompts": (64, 16)}


def cpu_defaults(cfg: Config) -> Config:
    """Unset sizes: the GPU workload, or on a CPU box (tiny model, 2 cores) about a minute per layout."""
    from common.cli import fill_defaults
    fill_defaults(cfg, DEFAULTS)
    return cfg


def layout_name(tp: int, pp: int, dp: int) -> str:
    parts = [f"TP{tp}" if tp > 1 else "", f"PP{pp}" if pp > 1 else "", f"DP{dp}" if dp > 1 else ""]
    return "x".join(p for p in parts if p) or "1 GPU"


def plan_layouts(gpus: list[int], layouts: list[str]) -> list[dict]:
    """[(N, tp, pp, dp)] to measure; N=1 is the single-device baseline."""
    plan = []
    for n in gpus:
        cands = [(1, 1, 1)] if n == 1 else []
        if n > 1:
            if "tp" in layouts:
                cands.append((n, 1, 1))
            if "dp" in layouts:
                cands.append((1, 1, n))
            if "pp" in layouts:
                cands.append((1, n, 1))
            if "tp" in layouts and "dp" in layouts and n >= 4:
                cands.append((n // 2, 1, 2))
        for tp, pp, dp in cands:
            plan.append({"n": n, "tp": tp, "pp": pp, "dp": dp, "name": layout_name(tp, pp, dp)})
    return plan


# --------------------------------------------------------------------------- child: one engine (or one DP replica)
def layout_child(cfg: dict) -> dict:
    from common import engine as eng
    from common.metrics import StageTimer
    timer = StageTimer()
    rank, world = cfg.get("replica", 0), cfg.get("replicas", 1)
    with timer("engine_start"):
        llm = eng.build_llm(cfg["engine"])
    try:
        return measure_engine(llm, cfg, timer, rank, world)
    finally:
        eng.shutdown(llm)


def measure_engine(llm, cfg: dict, timer, rank: int = 0, world: int = 1) -> dict:
    """The three measurements on one running vllm.LLM (a DP replica measures its share)."""
    from common import barrier, engine as eng
    from common.hwmon import HardwareSampler
    from common.loadgen import random_prompts
    from common.stepdrive import generate_offline, run_steps
    bdir = cfg.get("barrier_dir")
    try:
        ranks = eng.rank_reports(llm)
    except Exception:
        ranks = []
    vocab = cfg["vocab_size"]
    def workload(run: int):  # the offline workload; each DP replica takes its share of one seeded set
        seed = cfg["seed"] + 7919 * run  # each timed run its own prompts: none can come from the prefix cache
        return random_prompts(cfg["num_prompts"], cfg["input_len"], cfg["output_len"], vocab, seed=seed)[rank::world]

    specs = workload(0)
    # warm-up at the batch the timed run will reach: all its prompts go in at once, so the decode batch peaks at
    # min(prompts, the engine's max_num_seqs) - 1,024 for vllm.LLM on an H200, not the 256 an older warm-up sent
    # (then 4 of 5 layouts' first timed run was their slowest: batch shapes the warm-up never ran, compiled or
    # captured on first use). Prompts of their own: the timed ones must not be in the prefix cache (a warm-up on
    # the timed prompts made their prefills free and read 1.24x `vllm bench throughput` at TP1, on H200).
    peak = min(len(specs), eng.scheduler_limits(llm)["max_num_seqs"])
    warm = random_prompts(peak, cfg["input_len"], min(16, cfg["output_len"]), vocab, seed=cfg["seed"] + 1_000_003 + rank)
    with timer("warmup"):
        generate_offline(llm, warm)

    # 1. offline throughput: LLM.generate over the whole workload (what `vllm bench throughput` times), run
    # `offline_runs` times on fresh prompts of the same lengths, each from an empty prefix cache as a fresh engine
    # (the bench) starts. Identical runs on one H200 engine spread by up to 9 % (7,174 and 7,869 out tok/s back to
    # back), so one run cannot resolve a few-percent difference; summarize_layout reports the median run.
    runs = []
    for i in range(max(1, cfg.get("offline_runs", 1))):
        llm.reset_prefix_cache()
        barrier.wait(bdir, f"offline{i}", rank, world)
        run_specs = specs if i == 0 else workload(i)
        with timer("offline"), HardwareSampler() as hw:  # what the GPU and the engine core did meanwhile
            runs.append(generate_offline(llm, run_specs))
        runs[-1]["hw"] = hw.summary()
        if not runs[-1]["completed"]:
            raise RuntimeError("every offline request came back short of its output length")
    if cfg.get("offline_only"):  # an interleaved calibration run (compare_with_vllm_bench)
        return {"stage_seconds": timer.seconds, "offline_runs": runs}

    # 2. batch-1 decode: one stream, 3 repetitions, median
    with timer("batch1"):
        b1 = []
        for spec in random_prompts(3, 64, cfg["batch1_tokens"], vocab, seed=cfg["seed"] + 2_000_003 + rank):
            [r] = run_steps(llm, [spec], concurrency=1)
            if r.ok and r.tpot_s:
                b1.append(r)
    tpot = sorted(r.tpot_s for r in b1)[len(b1) // 2] if b1 else None
    batch1 = {"tpot_ms": tpot * 1000 if tpot else None, "decode_tokens_per_s": 1 / tpot if tpot else None,
              "ttft_ms": sorted(r.ttft_s for r in b1)[len(b1) // 2] * 1000 if b1 else None}

    # 3. latency at a fixed concurrency (split across DP replicas)
    conc = max(1, cfg["concurrency"] // world)
    lat_specs = random_prompts(cfg["latency_prompts"], cfg["input_len"], cfg["output_len"], vocab,
                               seed=cfg["seed"] + 1)[rank::world]
    barrier.wait(bdir, "latency", rank, world)
    with timer("latency"):
        lat = run_steps(llm, lat_specs, concurrency=conc, time_limit_s=cfg["timeout_s"])
    return {"stage_seconds": timer.seconds, "ranks": ranks, "offline_runs": runs, "batch1": batch1,
            "latency_requests": [r.to_raw(0.0) for r in lat], "scheduler": eng.scheduler_limits(llm)}


# --------------------------------------------------------------------------- parent: run a layout (DP = replicas)
def run_layout(layout: dict, base: dict, timeout_s: float) -> dict:
    """Run one layout; DP layouts run `dp` replicas at once, each on its own slice of devices."""
    from common import platform
    from common.isolation import run_isolated
    per = layout["tp"] * layout["pp"]
    engine = {**base["engine"], "tensor_parallel_size": layout["tp"], "pipeline_parallel_size": layout["pp"]}
    if layout["dp"] == 1:
        return run_isolated("benchmark_scaling:layout_child", {**base, "engine": engine},
                            timeout_s=timeout_s, label=layout["name"])
    results: list[dict | None] = [None] * layout["dp"]
    with tempfile.TemporaryDirectory(prefix="lab-dp-") as bdir:
        def one(i):
            devs = list(range(i * per, (i + 1) * per))
            env = ({"CUDA_VISIBLE_DEVICES": ",".join(map(str, devs))} if platform.has_gpu()
                   else {"VLLM_CPU_OMP_THREADS_BIND": ",".join(str(platform.cpu_cores()[d]) for d in devs)})
            results[i] = run_isolated("benchmark_scaling:layout_child",
                                      {**base, "engine": engine, "replica": i, "replicas": layout["dp"],
                                       "barrier_dir": bdir}, timeout_s=timeout_s,
                                      label=f"{layout['name']} replica {i}", env=env)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(layout["dp"])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    failed = [r for r in results if r["status"] != "ok"]
    if failed:
        return failed[0]
    return {"status": "ok", "replicas": results}


def summarize_layout(layout: dict, res: dict) -> dict:
    """Aggregate one layout's (replicas') measurements into metrics."""
    from common.hwmon import hw_of
    from common.loadgen import RequestRecord, request_metrics
    reps = res.get("replicas") or [res]
    # run i of every replica together: aggregate = total tokens / (first start to last end). The middle run by
    # throughput is reported (of an even count, the lower middle one), so its figures all come from one run.
    per_run = []
    for runs in zip(*(r["offline_runs"] for r in reps)):
        wall = max(x["end"] for x in runs) - min(x["start"] for x in runs)
        per_run.append({"wall": wall, "out": sum(x["output_tokens"] for x in runs),
                        "in": sum(x["input_tokens"] for x in runs), "completed": sum(x["completed"] for x in runs),
                        "failed": sum(x["failed"] for x in runs)})
    tput = [r["out"] / r["wall"] for r in per_run]
    detail = [{"output_throughput": t, **hw_of([x.get("hw") or {} for x in runs])}
              for t, runs in zip(tput, zip(*(r["offline_runs"] for r in reps)))]
    med = sorted(per_run, key=lambda r: r["out"] / r["wall"])[(len(per_run) - 1) // 2]
    recs = []
    for r in reps:
        for d in r["latency_requests"]:
            recs.append(RequestRecord.from_raw(d))
    lat = request_metrics(recs)
    b1 = reps[0]["batch1"]
    return {
        "layout": layout["name"], "gpus": layout["n"], "tp": layout["tp"], "pp": layout["pp"], "dp": layout["dp"],
        "output_throughput": med["out"] / med["wall"], "total_token_throughput": (med["in"] + med["out"]) / med["wall"],
        "request_throughput": med["completed"] / med["wall"], "offline_wall_s": med["wall"],
        "offline_failed": max(r["failed"] for r in per_run), "offline_runs": len(per_run),
        "output_throughput_runs": tput,
        "output_throughput_spread_pct": (max(tput) - min(tput)) / (med["out"] / med["wall"]) * 100,
        "offline_runs_detail": detail,
        "batch1_decode_tokens_per_s": b1["decode_tokens_per_s"], "batch1_tpot_ms": b1["tpot_ms"],
        "batch1_ttft_ms": b1["ttft_ms"],
        **{k: lat[k] for k in ("mean_ttft_ms", "median_ttft_ms", "p99_ttft_ms", "mean_tpot_ms", "median_tpot_ms",
                               "p99_tpot_ms", "median_e2el_ms", "p99_e2el_ms", "output_throughput")
           if k in lat and k != "output_throughput"},
        "loaded_output_throughput": lat["output_throughput"],
        "engine_start_s": max(r["stage_seconds"]["engine_start"] for r in reps),
        "weights_bytes_per_gpu": max((rk["weights_bytes"] for r in reps for rk in r.get("ranks", [])), default=None),
        "scheduler": reps[0].get("scheduler"),  # vllm.LLM's limits on this device (1,024 / 16,384 on an H200)
    }


# --------------------------------------------------------------------------- communication model


# --------------------------------------------------------------------------- vllm bench throughput, same workload


# --------------------------------------------------------------------------- the experiment
def main(cfg: Config) -> dict:
    from common import platform
    from common.cli import resolve_model
    from common.allreduce import comm_model
    from common.calibration import compare_with_vllm_bench
    from common.capacity import run_capacity, split_samples
    from common.cost import gpu_hour_price
    from common.hwmon import runs_line
    from common.isolation import run_isolated
    from common.models import layout_problem
    from common.results import environment, record_failure, run_path, save_run, timestamp

    cfg = cpu_defaults(cfg)
    engine_kwargs, info = resolve_model(cfg.model, cfg.engine)
    devices = platform.device_count()
    base = {**asdict(cfg), "engine": engine_kwargs, "vocab_size": info.vocab_size}
    print(f"model: {info.name}   devices: {devices} {platform.device_label()}(s)   workload: {cfg.num_prompts} x "
          f"{cfg.input_len} in / {cfg.output_len} out; batch-1 {cfg.batch1_tokens} tokens; concurrency {cfg.concurrency}")
    plan = plan_layouts(cfg.gpus, cfg.layouts)
    for lay in plan:
        lay["skip"] = layout_problem(info, lay["tp"], lay["pp"], lay["dp"], devices)
        print(f"  {lay['name']:>10} on {lay['n']}: {'skip - ' + lay['skip'] if lay['skip'] else 'run'}")

    ts = timestamp()
    env = environment()
    gpu_name = env["gpus"][0]["name"] if env["gpus"] else None
    price, price_src = gpu_hour_price(env, cfg.gpu_hour_usd)

    # 1. All-reduce micro-benchmark at the sizes TP sends
    allreduce = {}
    max_n = max([lay["n"] for lay in plan if not lay["skip"] and lay["tp"] > 1] or [1])
    if cfg.allreduce and max_n > 1:
        sizes = sorted({info.hidden_size * 2 * t for t in (1, 16, 64, 256, 2048, 8192)})
        for n in sorted({lay["tp"] for lay in plan if not lay["skip"] and lay["tp"] > 1}):
            print(f"\n=== all-reduce micro-benchmark on {n} devices ...", flush=True)
            r = run_isolated("common.allreduce:allreduce_child", {"world_size": n, "sizes_bytes": sizes},
                             timeout_s=600, label=f"allreduce {n}")
            if r["status"] == "ok":
                allreduce[n] = r
                if r["backend"] != "nccl":
                    print(f"  (no NCCL here: measured with {r['backend']} between CPU processes)")
            else:
                print(f"  all-reduce benchmark failed: {r['failure']['message'][:200]}")

    # 2. Every layout in its own process(es)
    rows, results, files = {}, [], []
    runnable = [lay for lay in plan if not lay["skip"]]
    for lay in plan:
        path = run_path(cfg.output_dir, EXPERIMENT, info.short_name, f"{lay['tp']}pp{lay['pp']}dp{lay['dp']}", ts)
        lcfg = {**base, "layout": {k: lay[k] for k in ("n", "tp", "pp", "dp", "name")}}
        if lay["skip"]:
            rows[id(lay)] = {"layout": lay["name"], "GPUs": lay["n"], "status": "skipped", "reason": lay["skip"]}
            save_run(path, experiment=EXPERIMENT, config=lcfg, metrics={"layout": lay["name"], "gpus": lay["n"]},
                     status="skipped", failure={"kind": "skipped", "message": lay["skip"]}, rows=[rows[id(lay)]])
            files.append(str(path))
            continue
        print(f"\n=== [{runnable.index(lay) + 1}/{len(runnable)}] {lay['name']} on {lay['n']} device(s) ...", flush=True)
        res = run_layout(lay, base, cfg.timeout_s)
        if res["status"] != "ok":
            files.append(str(path))
            rows[id(lay)] = record_failure(path, lay["name"], res, experiment=EXPERIMENT, config=lcfg,
                                           metrics={"layout": lay["name"], "gpus": lay["n"]},
                                           row={"layout": lay["name"], "GPUs": lay["n"]})
            continue
        m = summarize_layout(lay, res)
        m.update(comm_model(m, allreduce.get(lay["tp"]), info, gpu_name))
        m["status"] = "ok" if m["offline_failed"] == 0 else "failed"
        if cfg.capacity:
            m["capacity"] = run_capacity(lay, base, cfg.timeout_s)
            if m["capacity"].get("failed"):
                m["status"] = "failed"
        results.append((lay, m, res, path))
        if cfg.compare_vllm_bench and lay["n"] == 1:  # right after our baseline, on the same GPU
            compare_with_vllm_bench(cfg, base, m, Path(cfg.output_dir) / f"vllm_bench_throughput_{ts}.json.txt",
                                    child="benchmark_scaling:layout_child")
        # the 1-GPU baseline is measured first (GPU counts are sorted), so every layout is final here and
        # goes to disk at once: Ctrl-C or a later crash keeps it
        derive(m, next((b for la, b, _, _ in results if la["n"] == 1), None), price)
        rows[id(lay)] = _row(m)
        save_run(path, experiment=EXPERIMENT, config={**base, "layout": lay, "allreduce": allreduce.get(lay["tp"])},
                 metrics=m, status=m["status"], rows=[rows[id(lay)]],
                 raw={"replicas": res.get("replicas") or [res], "capacity_probes": split_samples(m.get("capacity"))})
        files.append(str(path))
        print(f"  {lay['name']}: timed runs {runs_line(m)} out tok/s", flush=True)
        print(f"  {lay['name']}: {m['output_throughput']:.0f} out tok/s offline (median of {m['offline_runs']} runs, "
              f"spread {m['output_throughput_spread_pct']:.1f}%), batch-1 {m['batch1_decode_tokens_per_s'] or 0:.0f} tok/s"
              + (f"; {m['capacity']['verdict']}" if cfg.capacity else ""), flush=True)
        if m.get("capacity", {}).get("interrupted"):
            raise KeyboardInterrupt

    rows = [rows[id(lay)] for lay in plan if id(lay) in rows]
    return report(cfg, rows, results, allreduce, (price, price_src), files, ts, info)


def derive(m: dict, base_m: dict | None, price: float | None) -> None:
    """Speedup and efficiency vs the 1-GPU baseline, throughput per GPU, $ per 1M output tokens."""
    from common.allreduce import tp_overhead_share
    from common.cost import usd_per_1m
    from common.layout_capacity import derive_capacity
    n = m["gpus"]
    if base_m:
        m["speedup"] = m["output_throughput"] / base_m["output_throughput"]
        m["scaling_efficiency"] = m["speedup"] / n
        m["tp_step_overhead_share"] = tp_overhead_share(m, base_m)
    m["output_throughput_per_gpu"] = m["output_throughput"] / n
    if price:
        m["gpu_hour_usd"] = price
        m["usd_per_1m_output_tokens"] = usd_per_1m(price, n, m["output_throughput"])
    derive_capacity(m, price)


def _row(m: dict) -> dict:
    f = lambda v, nd=1: "-" if v is None else round(v, nd)  # noqa: E731
    row = {"layout": m["layout"], "GPUs": m["gpus"], "out tok/s": f(m["output_throughput"], 0),
           "speedup": f"{m['speedup']:.2f}x" if "speedup" in m else "-",
           "efficiency": f"{m['scaling_efficiency'] * 100:.0f}%" if "scaling_efficiency" in m else "-",
           "tok/s/GPU": f(m["output_throughput_per_gpu"], 0),
           "batch-1 tok/s": f(m["batch1_decode_tokens_per_s"]), "TTFT p50 ms": f(m.get("median_ttft_ms")),
           "TPOT p50 ms": f(m.get("median_tpot_ms"), 2),
           "TP overhead": (f"{m['tp_step_overhead_share'] * 100:.0f}%" if m.get("tp_step_overhead_share") is not None
                           else "-"),
           "comm share (model)": (f"{m['comm_share_of_step'] * 100:.0f}%" if "comm_share_of_step" in m else "-"),
           "% HBM roofline": f(m.get("decode_pct_of_hbm_roofline"), 0),
           "$/1M out tok": f(m.get("usd_per_1m_output_tokens"), 3), "status": m["status"]}
    return row


def report(cfg, rows, results, allreduce, price: tuple, files, ts, info) -> dict:
    from common.plotting import bar_plot, line_plot
    from common.tables import print_table
    ok = [(lay, m) for lay, m, _, _ in results]
    course = [{"GPUs": m["gpus"], "layout": m["layout"], "Throughput": f"{m['output_throughput']:.0f} tok/s",
               "Speedup": f"{m.get('speedup', float('nan')):.1f}x", "Efficiency": f"{m.get('scaling_efficiency', float('nan')) * 100:.0f}%"}
              for lay, m in ok if lay["dp"] == 1 and lay["pp"] == 1]
    print_table(course, title="Scaling (course format; tensor parallel)")
    lines = []
    if ok:
        best_tp = max(ok, key=lambda x: x[1]["output_throughput"])
        best_lat = max(ok, key=lambda x: x[1]["batch1_decode_tokens_per_s"] or 0)
        base = next((m for lay, m in ok if lay["n"] == 1), None)
        lines.append(f"Takeaway: {best_tp[1]['layout']} on {best_tp[0]['n']} GPU(s) has the highest throughput "
                     f"({best_tp[1]['output_throughput']:.0f} out tok/s"
                     + (f", {best_tp[1]['speedup']:.2f}x one GPU, {best_tp[1]['scaling_efficiency'] * 100:.0f}% efficient)"
                        if base else ")")
                     + f"; {best_lat[1]['layout']} has the fastest single stream ({best_lat[1]['batch1_decode_tokens_per_s']:.0f} tok/s"
                     + (f", {best_lat[1]['batch1_decode_tokens_per_s'] / base['batch1_decode_tokens_per_s']:.2f}x one GPU)." if base else ")."))
        from common.noise import above_linear_note, spread_note
        for note in (above_linear_note([m for _, m in ok]), spread_note([m for _, m in ok])):
            if note:
                lines.append(note)
        usd, src = price
        if src is None:
            lines.append("Cost: no price known for this GPU; pass --gpu-hour-usd to get $ per 1M output tokens.")
        else:
            lines.append(f"Cost: ${usd:.2f} per GPU-hour ({src}); pass --gpu-hour-usd for your provider's price.")
    print_table(rows, "\n".join(lines), title="All layouts")
    if cfg.capacity:
        capacity_table(cfg, [m for _, m in ok], price)
    plots = []
    if cfg.plots and ok:
        stem = Path(cfg.output_dir) / f"{EXPERIMENT}_{info.short_name}_{ts}"
        tp_only = sorted([(lay["n"], m) for lay, m in ok if lay["dp"] == 1 and lay["pp"] == 1])
        if tp_only:
            xs = [n for n, _ in tp_only]
            base_tp = tp_only[0][1]["output_throughput"] / tp_only[0][0]
            plots.append(str(line_plot(Path(f"{stem}_throughput.png"),
                                       {"tensor parallel (measured)": (xs, [m["output_throughput"] for _, m in tp_only])},
                                       "Offline throughput vs GPUs", "GPUs", "output tokens / s",
                                       ideal=(xs, [base_tp * n for n in xs]))))
            plots.append(str(bar_plot(Path(f"{stem}_efficiency.png"), [f"{n} GPU" for n in xs],
                                      {"scaling efficiency %": [m.get("scaling_efficiency", 0) * 100 for _, m in tp_only]},
                                      "Scaling efficiency (speedup / GPUs)", "%", hline=100, hline_label="ideal")))
        labels = [f"{m['layout']} ({lay['n']})" for lay, m in ok]
        plots.append(str(bar_plot(Path(f"{stem}_layouts.png"), labels,
                                  {"offline out tok/s": [m["output_throughput"] for _, m in ok]},
                                  "Throughput per layout", "output tokens / s")))
        plots.append(str(bar_plot(Path(f"{stem}_batch1.png"), labels,
                                  {"batch-1 decode tok/s": [m["batch1_decode_tokens_per_s"] for _, m in ok]},
                                  "Single-stream decode speed per layout", "tokens / s")))
        if cfg.capacity:
            from common.layout_capacity import capacity_plots
            plots += [str(p) for p in capacity_plots(stem, [m for _, m in ok], cfg.capacity)]
    print("results: " + ", ".join(files) + ("\nplots: " + ", ".join(plots) if plots else ""))
    failed = any(r["status"] == "failed" for r in rows)
    return {"rows": rows, "files": files, "plots": plots, "exit_code": 1 if failed else 0}


# --------------------------------------------------------------------------- capacity: table and plots


def capacity_table(cfg, ms: list[dict], price: tuple) -> None:
    from common.capacity import slo_text
    from common.layout_capacity import best_capacity, capacity_rows
    from common.tables import print_table
    best = best_capacity(ms)
    slo = slo_text(cfg.capacity["slo"], cfg.capacity["percentile"])
    if best:
        c = best.get("usd_per_1m_output_tokens_at_capacity")
        take = (f"Takeaway: under {slo}, {best['layout']} on {best['gpus']} device(s) serves the most per GPU: "
                f"{best['capacity_request_rate']:.3g} req/s ({best['capacity_request_rate_per_gpu']:.3g} per GPU, "
                f"{best['capacity_output_throughput']:.0f} out tok/s)"
                + (f", ${c:.3f} per 1M output tokens at ${price[0]:.2f}/GPU-hour." if c else "."))
    else:
        take = f"Takeaway: no layout met {slo} at any rate tried (see each layout's verdict in its JSON)."
    print_table(capacity_rows(ms), take + " Capacity: the highest Poisson request rate at which the SLO held "
                "(bracket and bisection, every probe in metrics.capacity.probes).",
                title=f"Serving capacity under the SLO ({slo})")


def build_config(args, engine: dict) -> Config:
    from common.cli import UsageError
    bad = [x for x in args.layouts if x not in LAYOUTS]
    if bad:
        raise UsageError(f"unknown layout(s) {bad}: choose from {', '.join(LAYOUTS)}")
    if args.gpu_hour_usd is not None and args.gpu_hour_usd <= 0:
        raise UsageError("--gpu-hour-usd must be > 0")
    if args.offline_runs < 1 or args.vllm_bench_runs < 1:
        raise UsageError("--offline-runs and --vllm-bench-runs must be >= 1")
    from common.capacity import spec_from_args
    if args.slo and not args.capacity:
        raise UsageError("--slo sets the capacity search's target: add --capacity")
    capacity = spec_from_args(args, required=True) if args.capacity else None
    return Config(gpus=args.gpus, layouts=args.layouts, model=args.model, engine=engine, num_prompts=args.num_prompts,
                  input_len=args.input_len, output_len=args.output_len, batch1_tokens=args.batch1_tokens,
                  concurrency=args.concurrency, latency_prompts=args.latency_prompts, offline_runs=args.offline_runs,
                  vllm_bench_runs=args.vllm_bench_runs, allreduce=not args.no_allreduce,
                  gpu_hour_usd=args.gpu_hour_usd, compare_vllm_bench=args.compare_vllm_bench, seed=args.seed,
                  output_dir=args.output_dir, timeout_s=args.timeout, plots=not args.no_plots, capacity=capacity)


if __name__ == "__main__":
    from common import cli
    p = cli.base_parser(__doc__)
    p.add_argument("--gpus", type=cli.int_list, default=[1, 2, 4], help="GPU counts to measure (default 1,2,4; capped at what is present)")
    p.add_argument("--layouts", type=lambda s: [x.strip() for x in s.split(",") if x.strip()], default=["tp"],
                   help="tp, dp, pp (comma-separated); tp+dp adds TPxDP mixes at >= 4 GPUs")
    p.add_argument("--num-prompts", type=int, help="offline workload size (CPU default 64)")
    p.add_argument("--input-len", type=int, help="prompt tokens (CPU default 64)")
    p.add_argument("--output-len", type=int, help="output tokens, exact (CPU default 32)")
    p.add_argument("--batch1-tokens", type=int, help="tokens of the single-stream decode test (CPU 64)")
    p.add_argument("--concurrency", type=int, help="clients of the latency test (CPU 4)")
    p.add_argument("--latency-prompts", type=int, help="requests of the latency test (CPU 16)")
    p.add_argument("--offline-runs", type=int, default=3, help="timed offline runs per layout, median reported (default 3)")
    p.add_argument("--no-allreduce", action="store_true", help="skip the all-reduce micro-benchmark")
    p.add_argument("--gpu-hour-usd", type=float, help="your price per GPU-hour, for $ per 1M output tokens")
    p.add_argument("--compare-vllm-bench", action="store_true", help="also run `vllm bench throughput` at TP=1 and record ours / theirs")
    p.add_argument("--vllm-bench-runs", type=int, default=3,
                   help="with --compare-vllm-bench: runs of ours and of the bench, alternated (default 3 each)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-plots", action="store_true")
    from common.capacity import add_cli_args
    add_cli_args(p, with_switch="--capacity")
    cli.run_main(main, build_config, p)
