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

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

EXPERIMENT = "mixed_workload"


@dataclass
class Config:
    model: str | None = None
    engine: dict = field(default_factory=dict)
    num_requests: int | None = None    # None: DEFAULTS below (GPU, CPU)
    long_fraction: float = 0.1
    long_len: tuple[int, int] | None = None
    short_len: tuple[int, int] | None = None
    output_len: int | None = None
    request_rate: float | None = None
    budgets: list[int] | None = None
    caps: list[int] | None = None       # long_prefill_token_threshold values, crossed with the budgets ([] = none)
    no_chunk: bool = True
    capacity: dict | None = None        # --capacity: search settings (slo None = 5x short requests alone)
    seed: int = 0
    output_dir: str = "results"
    timeout_s: float = 1800.0
    plots: bool = True


DEFAULTS = {"num_requests": (200, 40), "long_len": ((6000, 8000), (3000, 3800)), "short_len": ((64, 256), (16, 64)),
            "output_len": (128, 16), "request_rate": (8.0, 20.0), "budgets": ([512, 2048, 8192], [256, 1024]),
            "caps": ([256, 512, 1024], [64, 128])}


def cpu_defaults(cfg: Config) -> Config:
    """Unset sizes: the GPU workload, or on a CPU box classes scaled to the tiny model's 4k context."""
    from common.cli import fill_defaults
    fill_defaults(cfg, DEFAULTS)
    return cfg


def variants(cfg: Config, max_len: int) -> list[dict]:
    """Engine overrides per scheduler variant: no chunking, each budget, each budget x each cap below it."""
    out = []
    if cfg.no_chunk:
        out.append({"name": "no chunking", "engine": {"enable_chunked_prefill": False,
                                                      "max_num_batched_tokens": max_len}})
    for b in cfg.budgets:
        out.append({"name": f"chunked {b}", "engine": {"enable_chunked_prefill": True, "max_num_batched_tokens": b}})
    for b in cfg.budgets:
        for cap in [c for c in cfg.caps if c < b]:
            out.append({"name": f"chunked {b}, cap {cap}",
                        "engine": {"enable_chunked_prefill": True, "max_num_batched_tokens": b,
                                   "long_prefill_token_threshold": cap}})
    return out


def workload(cfg: dict, vocab: int):
    """(short-alone specs, long reference, mixed specs); arrivals seeded Poisson. The alone and reference runs
    go on the same engine before the mixed run, so they get the mixed requests' lengths and arrival times but
    fresh tokens: the mixed run finds none of its prompts in the prefix cache."""
    from common.loadgen import arrival_times, fresh_copies
    mixed = class_mix(cfg, vocab, cfg["num_requests"], cfg["seed"])
    for s, t in zip(mixed, arrival_times(len(mixed), cfg["request_rate"], 1.0, seed=cfg["seed"])):
        s.arrival_s = float(t)
    short_alone = fresh_copies([s for s in mixed if s.klass == "short"], vocab, cfg["seed"] + 1, "a")
    long_ref = fresh_copies([s for s in mixed if s.klass == "long"][:1], vocab, cfg["seed"] + 2, "ref")
    return short_alone, long_ref, mixed


def class_mix(cfg: dict, vocab: int, n: int, seed: int):
    """n seeded requests, each long with probability long_fraction, prompt lengths uniform in the class's range."""
    import numpy as np
    from common.loadgen import RequestSpec, random_tokens
    rng = np.random.default_rng(seed)
    is_long = rng.random(n) < cfg["long_fraction"]
    out = []
    for i in range(n):
        lo, hi = cfg["long_len"] if is_long[i] else cfg["short_len"]
        out.append(RequestSpec(random_tokens(rng, int(rng.integers(lo, hi + 1)), vocab), cfg["output_len"],
                               klass="long" if is_long[i] else "short", rid=f"r{i}" if seed == cfg["seed"] else f"s{seed}-{i}"))
    return out


# --------------------------------------------------------------------------- child: one variant
def variant_child(cfg: dict) -> dict:
    from common.loadgen import run_async
    return run_async(_variant_child(cfg))


async def _variant_child(cfg: dict) -> dict:
    from common import engine as eng
    from common.loadgen import AsyncLLMBackend, random_prompts, run_closed_loop, run_open_loop
    from common.metrics import StageTimer
    timer = StageTimer()
    with timer("engine_start"):
        backend = AsyncLLMBackend(eng.build_async_engine(cfg["engine"]))
    scheduler = eng.scheduler_limits(backend.engine)
    short_alone, long_ref, mixed = workload(cfg, cfg["vocab_size"])
    with timer("warmup"):
        await run_closed_loop(backend, random_prompts(4, 64, 8, cfg["vocab_size"], seed=5), concurrency=4)
        long_alone = await run_closed_loop(backend, long_ref, concurrency=1) if long_ref else []
    t0 = time.perf_counter()
    alone = await run_open_loop(backend, short_alone, time_limit_s=cfg["timeout_s"])
    t1 = time.perf_counter()
    mix = await run_open_loop(backend, mixed, time_limit_s=cfg["timeout_s"])
    capacity = None
    if cfg.get("capacity"):
        with timer("capacity_search"):
            capacity = await mix_capacity(backend, cfg, alone)
    backend.engine.shutdown()
    return {"stage_seconds": timer.seconds, "scheduler": scheduler, "alone": [r.to_raw(t0) for r in alone],
            "mixed": [r.to_raw(t1) for r in mix], "long_alone": [r.to_raw(t0) for r in long_alone],
            "capacity": capacity}


async def mix_capacity(backend, cfg: dict, alone) -> dict:
    """The capacity search on this variant's engine: arrivals of the same class mix; short requests' p99 TTFT and
    every request's p99 TPOT judged. Without an SLO (the first variant) it is 5x the short requests' median TTFT and
    TPOT alone, and the parent hands it on to the other variants."""
    import numpy as np
    from common.capacity import ProbePlan, SearchSpec, printer, search_async
    c = dict(cfg["capacity"])
    if not c.get("slo"):
        ok = [r for r in alone if r.ok]
        c["slo"] = {"ttft": round(5 * float(np.median([r.ttft_s for r in ok])) * 1000, 1),
                    "tpot": round(5 * float(np.median([r.tpot_s for r in ok if r.tpot_s])) * 1000, 2)}
        c["slo_source"] = "5x the short requests' median TTFT and TPOT alone, measured with the first variant"
    spec = SearchSpec(**{k: v for k, v in c.items() if k not in ("slo_source", "start_rate")},
                      start_rate=c.get("start_rate") or cfg["request_rate"], term_class={"ttft": "short"})
    res = await search_async(spec, ProbePlan.from_spec(spec, cfg["output_len"]),
                             lambda n, seed: class_mix(cfg, cfg["vocab_size"], n, seed), backend,
                             seed=cfg["seed"] + 5000, on_probe=printer(spec))
    return {**res, "term_class": {"ttft": "short"}, "slo_source": c.get("slo_source", "--slo")}


# --------------------------------------------------------------------------- analysis
def _records(raw: list[dict]):
    from common.loadgen import RequestRecord
    return [RequestRecord.from_raw(d) for d in raw]


def head_of_line(mixed) -> dict:
    """Short requests whose first token came after a long prefill that overlapped their wait."""
    longs = [r for r in mixed if r.klass == "long" and r.ok]
    shorts = [r for r in mixed if r.klass == "short" and r.ok]
    blocked = []
    for s in shorts:
        for lg in longs:
            overlapped = lg.start_s <= s.first_token_s and lg.first_token_s >= s.start_s
            if overlapped and lg.first_token_s <= s.first_token_s:
                blocked.append(s)
                break
    return {"hol_blocked_share": len(blocked) / len(shorts) if shorts else None,
            "hol_blocked_mean_ttft_ms": (sum(b.ttft_s for b in blocked) / len(blocked) * 1000) if blocked else None}


def itl_beside_long_prefills(mixed) -> dict:
    """Short requests' mean gap between tokens (gaps of one token) while some long request was in prefill (sent, no
    first token yet) and while none was: what long prefills cost the running decodes per token, whole (one long
    step) or in chunks (more, shorter steps)."""
    import numpy as np
    longs = [(r.start_s, r.first_token_s) for r in mixed if r.klass == "long" and r.first_token_s is not None]
    gaps: dict[bool, list[float]] = {True: [], False: []}
    for r in (r for r in mixed if r.klass == "short"):
        t, n = r.chunk_times_s, r.chunk_tokens
        for j in range(1, len(t)):
            if n[j] == 1:
                mid = (t[j - 1] + t[j]) / 2
                gaps[any(a <= mid < b for a, b in longs)].append((t[j] - t[j - 1]) * 1000)
    mean = lambda v: float(np.mean(v)) if v else None  # noqa: E731
    return {"short_mean_itl_during_long_prefill_ms": mean(gaps[True]), "short_itl_samples_during_long_prefill": len(gaps[True]),
            "short_mean_itl_without_long_prefill_ms": mean(gaps[False])}


def analyse(res: dict) -> dict:
    import numpy as np
    from common.loadgen import request_metrics
    from common.metrics import jain_index
    alone, mixed, long_alone = _records(res["alone"]), _records(res["mixed"]), _records(res["long_alone"])
    m: dict = {}
    for klass in ("short", "long"):
        mk = request_metrics([r for r in mixed if r.klass == klass])
        for k in ("completed", "failed", "median_ttft_ms", "p90_ttft_ms", "p99_ttft_ms", "median_tpot_ms", "p99_tpot_ms",
                  "median_e2el_ms", "p99_e2el_ms", "output_throughput"):
            m[f"{klass}_{k}"] = mk[k]
    a = request_metrics(alone)
    m.update({"short_alone_p99_ttft_ms": a["p99_ttft_ms"], "short_alone_median_ttft_ms": a["median_ttft_ms"],
              "short_alone_median_e2el_ms": a["median_e2el_ms"]})
    if a["p99_ttft_ms"]:
        m["short_ttft_inflation_p99"] = m["short_p99_ttft_ms"] / a["p99_ttft_ms"] if m["short_p99_ttft_ms"] else None
    m.update(head_of_line(mixed))
    m.update(itl_beside_long_prefills(mixed))
    if m.get("hol_blocked_mean_ttft_ms") is not None and a["median_ttft_ms"]:
        m["hol_mean_extra_wait_ms"] = m["hol_blocked_mean_ttft_ms"] - a["median_ttft_ms"]
    # slowdown per class: E2E / the class's unloaded E2E (short: alone median; long: the warm-up long request)
    ref = {"short": (a["median_e2el_ms"] or 0) / 1000,
           "long": float(np.median([r.e2e_s for r in long_alone if r.ok])) if any(r.ok for r in long_alone) else None}
    slow = {k: [r.e2e_s / ref[k] for r in mixed if r.ok and r.klass == k and ref[k]] for k in ("short", "long")}
    for k, v in slow.items():
        m[f"{k}_mean_slowdown"] = float(np.mean(v)) if v else None
    m["jain_slowdown"] = jain_index(slow["short"] + slow["long"])
    m["failed"] = sum(1 for r in mixed + alone if not r.ok)
    return m


# --------------------------------------------------------------------------- the experiment
def main(cfg: Config) -> dict:
    from common.capacity import split_samples
    from common.cli import UsageError, resolve_model
    from common.isolation import run_isolated
    from common.results import record_failure, run_path, save_run, timestamp
    cfg = cpu_defaults(cfg)
    engine_kwargs, info = resolve_model(cfg.model, cfg.engine)
    max_len = int(engine_kwargs.get("max_model_len") or min(info.raw.get("max_position_embeddings", 32768), 32768))
    need = cfg.long_len[1] + cfg.output_len
    if need > max_len:
        raise UsageError(f"long prompts need {need} tokens but max_model_len is {max_len}; lower --long-len or raise --max-model-len")
    engine_kwargs.setdefault("max_model_len", max_len)
    tp = int(engine_kwargs.get("tensor_parallel_size", 1))
    ts = timestamp()
    vs = variants(cfg, max_len)
    print(f"model: {info.name}  {cfg.num_requests} requests at {cfg.request_rate} req/s, {cfg.long_fraction:.0%} long "
          f"({cfg.long_len[0]}-{cfg.long_len[1]} tokens) / short ({cfg.short_len[0]}-{cfg.short_len[1]}), {cfg.output_len} out")
    print("variants: " + "; ".join(v["name"] for v in vs))
    rows, done, files = [], [], []
    capacity = cfg.capacity
    for i, v in enumerate(vs):
        print(f"\n=== [{i + 1}/{len(vs)}] {v['name']} (own engine) ...", flush=True)
        child = {**asdict(cfg), "engine": {**engine_kwargs, **v["engine"]}, "vocab_size": info.vocab_size,
                 "variant": v["name"], "capacity": capacity}
        path = run_path(cfg.output_dir, EXPERIMENT, info.short_name, tp, f"{ts}_{i}")
        res = run_isolated("test_mixed_workload:variant_child", child, timeout_s=cfg.timeout_s, label=v["name"])
        if res["status"] != "ok":
            files.append(str(path))
            rows.append(record_failure(path, v["name"], res, experiment=EXPERIMENT, config=child,
                                       metrics={"variant": v["name"]}, row={"variant": v["name"]}))
            continue
        m = {"variant": v["name"], **v["engine"], **analyse(res), "scheduler": res["scheduler"],
             # the cap the engine ran with (vLLM's own value where the variant sets none)
             "long_prefill_token_threshold": res["scheduler"]["long_prefill_token_threshold"]}
        if c := res.get("capacity"):
            m["capacity"] = c
            # the search's probe lines went to stderr with the engine's log; its outcome belongs with the tables
            print(f"  {len(c['probes'])} probes, {c['search_s']:.0f} s: {c['verdict']}", flush=True)
            if capacity and not capacity.get("slo"):  # the first variant fixed the SLO: every variant is judged by it
                capacity = {**capacity, "slo": c["slo"], "slo_source": c["slo_source"]}
        done.append((v, m, res))
        rows.append(_row(m))
        save_run(path, experiment=EXPERIMENT, config=child, metrics=m, status="ok" if not m["failed"] else "failed",
                 raw={"alone": res["alone"], "mixed": res["mixed"], "long_alone": res["long_alone"],
                      "capacity_probes": split_samples(m.get("capacity")),
                      "stage_seconds": res["stage_seconds"]}, rows=[rows[-1]])
        files.append(str(path))
    return report(cfg, rows, done, files, ts, info)


def _row(m: dict) -> dict:
    f = lambda v, nd=1: "-" if v is None else round(v, nd)  # noqa: E731
    cap = m.get("capacity")
    row = {"variant": m["variant"], "short TTFT p50/p99 ms": f"{f(m['short_median_ttft_ms'])} / {f(m['short_p99_ttft_ms'])}",
           "alone p99 ms": f(m["short_alone_p99_ttft_ms"]),
           "inflation p99": f"{m['short_ttft_inflation_p99']:.2f}x" if m.get("short_ttft_inflation_p99") else "-",
           "HOL blocked": f"{m['hol_blocked_share'] * 100:.0f}%" if m.get("hol_blocked_share") is not None else "-",
           "short TPOT p99 ms": f(m["short_p99_tpot_ms"], 2), "long TTFT p50 ms": f(m["long_median_ttft_ms"]),
           "long E2E p50 ms": f(m["long_median_e2el_ms"]), "Jain slowdown": f(m["jain_slowdown"], 3)}
    if cap:
        row["capacity req/s"] = "failed" if cap.get("failed") else f(cap["request_rate"], 2)
    row.update({"failed": m["failed"], "status": "ok" if not m["failed"] else "failed"})
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
    """The best variant's lines, then which capacities rest on too few requests to rank them."""
    from common.capacity import thin_samples
    thin = [(m, n) for m in ms if (n := thin_samples(m.get("capacity")))]
    if not thin:
        return best_variant(ms, rate)
    names = ", ".join(f"'{m['variant']}' ({n})" for m, n in thin)
    p = thin[0][0]["capacity"]["percentile"]
    return best_variant(ms, rate) + [
        f"Rough ranks: the capacities of {names} rest on a probe whose p{p:g} was taken over that few "
        "requests, so it lies between their two largest and one or two late requests decided it; lengthen the "
        "probes (--probe-min-requests, --probe-seconds) to rank these variants."]


def best_variant(ms: list[dict], rate: float) -> list[str]:
    """Names the variant that measured best (by capacity under the SLO when searched, else by short p99 TTFT
    inflation at the mix's own `rate`), its flag, and what it cost the long requests against no chunking. Only a
    measured best is recommended: when no chunking was best, that is what the line says."""
    from common.capacity import slo_text
    ref = next((m for m in ms if m["variant"] == "no chunking"), None)
    searched = [m for m in ms if m.get("capacity") and not m["capacity"].get("failed")]
    with_cap = [m for m in searched if m["capacity"].get("request_rate")]
    lines = []
    if with_cap:
        best = max(with_cap, key=lambda m: m["capacity"]["request_rate"])
        c = best["capacity"]
        head = (f"'{best['variant']}' serves the most of this mix under "
                f"{slo_text(c['slo'], c['percentile'], c.get('term_class'))} ({c['slo_source']}): "
                f"{c['request_rate']:.3g} req/s")
        r0 = (ref or {}).get("capacity", {}).get("request_rate")
        if best is not ref and r0:
            head += (f", {c['request_rate'] / r0:.2f}x no chunking's {r0:.3g} req/s (Sarathi-Serve reports 2.6x for a "
                     "7B model on one A100, at its own SLO and mix)")
        elif best is not ref and ref and ref.get("capacity"):
            head += ", where no chunking met the SLO at no rate tried"
        lines.append(head + ".")
    else:
        if searched:
            lines.append(f"No variant met the SLO ({searched[0]['capacity']['slo']} ms) at any rate tried: loosen "
                         "--slo or lower the long share.")
        ranked = [m for m in ms if m.get("short_ttft_inflation_p99")]
        if not ranked:
            return ["Takeaway: no variant completed short requests both alone and in the mix."] + lines
        best = min(ranked, key=lambda m: m["short_ttft_inflation_p99"])
    if best is ref or not best.get("enable_chunked_prefill"):
        return ["Takeaway: no chunked variant beat no chunking on this run; keep chunked prefill off for this mix, "
                "or measure again at another load."] + lines
    at_rate = f"At the mix's own {rate:g} req/s, short p99 TTFT is "
    infl = best.get("short_ttft_inflation_p99")
    at_rate += (f"{infl:.2f}x its alone value" if infl else "not measured") + (
        f" (no chunking: {ref['short_ttft_inflation_p99']:.2f}x)" if ref and ref.get("short_ttft_inflation_p99") else "")
    if ref and ref.get("long_median_ttft_ms") and best.get("long_median_ttft_ms"):
        at_rate += (f"; long requests' median TTFT {best['long_median_ttft_ms']:.0f} ms vs {ref['long_median_ttft_ms']:.0f}"
                    f" ms and median E2E {best['long_median_e2el_ms']:.0f} ms vs {ref['long_median_e2el_ms']:.0f} ms "
                    "without chunking")
    during, none_ms = "short_mean_itl_during_long_prefill_ms", "short_mean_itl_without_long_prefill_ms"
    if ref and ref.get(during) and best.get(during):
        at_rate += (f"; while a long prompt was in prefill, short requests got a token every {best[during]:.1f} ms on "
                    f"average ({ref[during]:.1f} ms without chunking, {best[none_ms]:.1f} ms with no long prompt in "
                    "prefill)")
    if with_cap:
        return [f"Takeaway: use {knob(best)}: " + lines[0], at_rate + "."]
    return [f"Takeaway: use {knob(best)} ('{best['variant']}'). " + at_rate + "."] + lines


def report(cfg, rows, done, files, ts, info) -> dict:
    from common.plotting import cdf_plot, scatter_plot, timeline_plot
    from common.tables import print_table
    lines = takeaway([m for _, m, _ in done], cfg.request_rate) if done else []
    print_table(rows, "\n".join(lines), title="Mixed workload: short requests next to long ones")
    plots = []
    if cfg.plots and done:
        stem = Path(cfg.output_dir) / f"{EXPERIMENT}_{info.short_name}_{ts}"
        samples = {}
        for v, m, res in done:
            for klass in ("short", "long"):
                samples[f"{v['name']} / {klass}"] = [r["ttft_ms"] for r in res["mixed"] if r["klass"] == klass]
        plots.append(str(cdf_plot(Path(f"{stem}_ttft_cdf.png"), samples, "TTFT per class and scheduler variant",
                                  "TTFT (ms)", logx=True)))
        plots.append(str(scatter_plot(Path(f"{stem}_tradeoff.png"),
                                      {m["variant"]: (m["long_median_ttft_ms"], m["short_p99_ttft_ms"]) for _, m, _ in done},
                                      "What protecting short requests costs long ones", "long requests: median TTFT (ms)",
                                      "short requests: p99 TTFT (ms)")))
        ranked = sorted(done, key=lambda x: x[1].get("short_ttft_inflation_p99") or float("inf"))
        for tag, (v, m, res) in (("best", ranked[0]), ("worst", ranked[-1])):
            plots.append(str(timeline_plot(Path(f"{stem}_timeline_{tag}.png"), res["mixed"],
                                           f"Request timeline, {tag}: {v['name']}",
                                           colors={"short": "tab:blue", "long": "tab:red"})))
    print("results: " + ", ".join(files) + ("\nplots: " + ", ".join(plots) if plots else ""))
    return {"rows": rows, "files": files, "plots": plots,
            "exit_code": 1 if any(r["status"] == "failed" for r in rows) else 0}


def _range(text: str) -> tuple[int, int]:
    import argparse
    try:
        lo, hi = (int(x) for x in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO-HI token counts, got {text!r}") from None
    if not 0 < lo <= hi:
        raise argparse.ArgumentTypeError(f"expected 0 < LO <= HI, got {text!r}")
    return lo, hi


def build_config(args, engine: dict) -> Config:
    from common.cli import UsageError
    if not 0 < args.long_fraction < 1:
        raise UsageError("--long-fraction must be between 0 and 1")
    if args.request_rate is not None and args.request_rate <= 0:
        raise UsageError("--request-rate must be > 0")
    for k in ("enable_chunked_prefill", "max_num_batched_tokens", "long_prefill_token_threshold"):
        if k in engine:
            raise UsageError(f"--{k.replace('_', '-')} is what this experiment varies; use --budgets / --caps / --no-baseline")
    from common.capacity import spec_from_args
    if args.slo and not args.capacity:
        raise UsageError("--slo sets the capacity search's target: add --capacity")
    capacity = spec_from_args(args, required=False, slo_optional=True) if args.capacity else None
    return Config(model=args.model, engine=engine, num_requests=args.num_requests, long_fraction=args.long_fraction,
                  long_len=args.long_len, short_len=args.short_len, output_len=args.output_len,
                  request_rate=args.request_rate, budgets=args.budgets, no_chunk=not args.no_baseline,
                  caps=[] if args.no_cap else args.caps, capacity=capacity, seed=args.seed, output_dir=args.output_dir, timeout_s=args.timeout,
                  plots=not args.no_plots)


if __name__ == "__main__":
    from common import cli
    p = cli.base_parser(__doc__)
    p.add_argument("--num-requests", type=int, help="requests in the mix (CPU 40)")
    p.add_argument("--long-fraction", type=float, default=0.1, help="share of long requests")
    p.add_argument("--long-len", type=_range, help="long prompt tokens LO-HI (CPU 3000-3800)")
    p.add_argument("--short-len", type=_range, help="short prompt tokens LO-HI (CPU 16-64)")
    p.add_argument("--output-len", type=int, help="output tokens of every request (CPU 16)")
    p.add_argument("--request-rate", type=float, help="Poisson arrivals per second (CPU 20)")
    p.add_argument("--budgets", type=cli.int_list, help="--max-num-batched-tokens values with chunking (CPU 256,1024)")
    p.add_argument("--no-baseline", action="store_true", help="skip the no-chunking variant")
    p.add_argument("--caps", type=cli.int_list,
                   help="long_prefill_token_threshold values, each crossed with every larger budget (CPU 64,128)")
    p.add_argument("--no-cap", action="store_true", help="no long_prefill_token_threshold variants")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-plots", action="store_true")
    from common.capacity import add_cli_args
    add_cli_args(p, with_switch="--capacity")
    cli.run_main(main, build_config, p)
