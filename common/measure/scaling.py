"""The scaling measurements of one layout (benchmark_scaling.py, and the suite on its own engine): which layouts a GPU
count allows, one engine's offline throughput (timed runs, each with hardware samples), batch-1 decode and latency
under load, DP as replicas each in its own process, and the layout's figures from its (replicas') measurements."""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Protocol

from common.measure.hwmon import HardwareSampler, hw_of
from common.measure.metrics import StageTimer, median_stream, request_metrics
from common.output.results import Status
from common.runtime import barrier, hardware
from common.runtime import engine as eng
from common.runtime.isolation import run_isolated
from common.traffic.loadgen import RequestRecord
from common.traffic.stepdrive import generate_offline, run_steps
from common.traffic.workloads import random_prompts


def layout_name(tp: int, pp: int, dp: int) -> str:
    parts = [f"TP{tp}" if tp > 1 else "", f"PP{pp}" if pp > 1 else "", f"DP{dp}" if dp > 1 else ""]
    return "x".join(p for p in parts if p) or f"1 {hardware.unit()}"


@dataclass(frozen=True)
class Layout:
    """One way to spread the model over n devices: TP x PP x DP = n, named as tables name it ("TP2", "DP4", "1 GPU");
    `skip`: why it cannot run here (None: it can, or it was not checked)."""

    n: int
    tp: int
    pp: int
    dp: int
    name: str
    skip: str | None = None

    def to_json(self) -> dict:
        """config.layout in a result file (and in a child's config)."""
        return {"n": self.n, "tp": self.tp, "pp": self.pp, "dp": self.dp, "name": self.name}

    @classmethod
    def from_json(cls, d: dict) -> Layout:
        return cls(**{k: d[k] for k in ("n", "tp", "pp", "dp", "name")}, skip=d.get("skip"))


@dataclass
class ReplicaFields:
    """The fields run_layout sets for each process it starts (never flags): a script whose Config measures layouts
    (benchmark_scaling.py, the suite) adds them, so its children rebuild that Config from JSON."""

    layout: Layout | None = None
    replica: int = 0  # which of a DP layout's replicas this process is
    replicas: int = 1
    barrier_dir: str | None = None  # where the replicas meet before each timed stage (common.runtime.barrier)
    offline_runs: int = 1  # timed offline runs (benchmark_scaling.py's --offline-runs)
    offline_only: bool = False  # an interleaved calibration run (compare_with_vllm_bench): offline, then return


class LayoutSettings(Protocol):
    """What one layout's measurements read from their script's Config (a dataclass, after fill_device_defaults)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]
    engine: dict
    timeout_s: float
    vocab_size: int
    seed: int
    num_prompts: int
    input_len: int
    output_len: int
    batch1_tokens: int
    concurrency: int
    latency_prompts: int
    replica: int
    replicas: int
    barrier_dir: str | None
    offline_runs: int
    offline_only: bool


def plan_layouts(gpus: list[int], layouts: list[str]) -> list[Layout]:
    """The layouts to measure at each device count, asked for by family ("tp", "dp", "pp"); N=1 is the
    single-device baseline."""
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
            plan.append(Layout(n, tp, pp, dp, layout_name(tp, pp, dp)))
    return plan


# --------------------------------------------------------------------------- child: one engine (or one DP replica)
def layout_child(cfg: LayoutSettings) -> dict:
    timer = StageTimer()
    with timer("engine_start"):
        llm = eng.build_llm(cfg.engine)
    try:
        return measure_engine(llm, cfg, timer)
    finally:
        eng.shutdown(llm)


def measure_engine(llm, cfg: LayoutSettings, timer) -> dict:
    """The three measurements on one running vllm.LLM (a DP replica, cfg.replica of cfg.replicas, measures its
    share)."""
    bdir, rank, world = cfg.barrier_dir, cfg.replica, cfg.replicas
    try:
        ranks = eng.rank_reports(llm)
    except Exception:
        ranks = []
    vocab = cfg.vocab_size

    def workload(run: int):  # the offline workload; each DP replica takes its share of one seeded set
        seed = cfg.seed + 7919 * run  # each timed run its own prompts: none can come from the prefix cache
        return random_prompts(cfg.num_prompts, cfg.input_len, cfg.output_len, vocab, seed=seed)[rank::world]

    specs = workload(0)
    # warm-up at the batch the timed run will reach (all its prompts go in at once: the decode batch peaks at
    # min(prompts, max_num_seqs)), on prompts of its own (the timed ones must not be in the prefix cache). Why, from
    # runs that got it wrong: docs/measurement.md, "History".
    peak = min(len(specs), eng.scheduler_limits(llm)["max_num_seqs"])
    warm = random_prompts(peak, cfg.input_len, min(16, cfg.output_len), vocab, seed=cfg.seed + 1_000_003 + rank)
    with timer("warmup"):
        generate_offline(llm, warm)

    # 1. offline throughput: LLM.generate over the whole workload (what `vllm bench throughput` times), run
    # `offline_runs` times on fresh prompts of the same lengths, each from an empty prefix cache as a fresh engine
    # (the bench) starts; summarize_layout reports the median run. How far identical runs spread: docs/measurement.md,
    # "Noise: one machine, run to run".
    runs = [_offline_run(llm, specs if i == 0 else workload(i), timer, f"offline{i}", bdir, rank, world)
            for i in range(max(1, cfg.offline_runs))]  # fmt: skip
    if cfg.offline_only:  # an interleaved calibration run (compare_with_vllm_bench)
        return {"stage_seconds": timer.seconds, "offline_runs": runs}

    # 2. batch-1 decode: one stream, 3 repetitions, median
    with timer("batch1"):
        b1 = [
            run_steps(llm, [spec], concurrency=1)[0]
            for spec in random_prompts(3, 64, cfg.batch1_tokens, vocab, seed=cfg.seed + 2_000_003 + rank)
        ]
    batch1 = median_stream(b1)

    # 3. latency at a fixed concurrency (split across DP replicas)
    conc = max(1, cfg.concurrency // world)
    lat_specs = random_prompts(cfg.latency_prompts, cfg.input_len, cfg.output_len, vocab, seed=cfg.seed + 1)[
        rank::world
    ]
    barrier.wait(bdir, "latency", rank, world)
    with timer("latency"):
        lat = run_steps(llm, lat_specs, concurrency=conc, time_limit_s=cfg.timeout_s)
    return {
        "stage_seconds": timer.seconds,
        "ranks": ranks,
        "offline_runs": runs,
        "batch1": batch1,
        "latency_requests": [r.to_raw(0.0) for r in lat],
        "scheduler": eng.scheduler_limits(llm),
    }


def _offline_run(llm, specs, timer, name: str, bdir, rank: int, world: int) -> dict:
    """One timed offline run from an empty prefix cache, every DP replica starting together; what the GPU and the
    engine core did meanwhile under "hw"."""
    llm.reset_prefix_cache()
    barrier.wait(bdir, name, rank, world)
    with timer("offline"), HardwareSampler() as hw:
        run = generate_offline(llm, specs)
    run["hw"] = hw.summary()
    if not run["completed"]:
        raise RuntimeError("every offline request came back short of its output length")
    return run


# --------------------------------------------------------------------------- parent: run a layout (DP = replicas)
def run_layout(layout: Layout, base: LayoutSettings, timeout_s: float) -> dict:
    """Run one layout; DP layouts run `dp` replicas at once, each on its own slice of devices."""
    per = layout.tp * layout.pp
    engine = {**base.engine, "tensor_parallel_size": layout.tp, "pipeline_parallel_size": layout.pp}
    if layout.dp == 1:
        return run_isolated(
            "common.measure.scaling:layout_child", replace(base, engine=engine), timeout_s=timeout_s, label=layout.name
        )
    results: list[dict | None] = [None] * layout.dp
    with tempfile.TemporaryDirectory(prefix="lab-dp-") as bdir:

        def one(i):
            devs = list(range(i * per, (i + 1) * per))
            env = (
                {"CUDA_VISIBLE_DEVICES": ",".join(map(str, devs))}
                if hardware.has_gpu()
                else {"VLLM_CPU_OMP_THREADS_BIND": ",".join(str(hardware.cpu_cores()[d]) for d in devs)}
            )
            results[i] = run_isolated(
                "common.measure.scaling:layout_child",
                replace(base, engine=engine, replica=i, replicas=layout.dp, barrier_dir=bdir),
                timeout_s=timeout_s,
                label=f"{layout.name} replica {i}",
                env=env,
            )

        threads = [threading.Thread(target=one, args=(i,)) for i in range(layout.dp)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    done = [r for r in results if r is not None]  # every thread has joined: each replica has its result
    failed = [r for r in done if r["status"] != Status.OK]
    if failed:
        return failed[0]
    return {"status": Status.OK, "replicas": done}


LATENCY_KEYS = (
    "mean_ttft_ms", "median_ttft_ms", "p99_ttft_ms", "mean_tpot_ms", "median_tpot_ms", "p99_tpot_ms",
    "median_e2el_ms", "p99_e2el_ms",
)  # fmt: skip


def _offline_per_run(reps: list[dict]) -> tuple[list[dict], list[dict]]:
    """Run i of every replica together: its tokens over its wall time (first start to last end), and per run its
    throughput with what the hardware did (hw_of)."""
    per_run, detail = [], []
    for runs in zip(*(r["offline_runs"] for r in reps), strict=False):
        wall = max(x["end"] for x in runs) - min(x["start"] for x in runs)
        out = sum(x["output_tokens"] for x in runs)
        per_run.append(
            {"wall": wall, "out": out, "in": sum(x["input_tokens"] for x in runs),
             "completed": sum(x["completed"] for x in runs), "failed": sum(x["failed"] for x in runs)}
        )  # fmt: skip
        detail.append({"output_throughput": out / wall, **hw_of([x.get("hw") or {} for x in runs])})
    return per_run, detail


def summarize_layout(layout: Layout, res: dict) -> dict:
    """Aggregate one layout's (replicas') measurements into metrics."""
    reps = res.get("replicas") or [res]
    per_run, detail = _offline_per_run(reps)
    tput = [r["out"] / r["wall"] for r in per_run]
    # the middle run by throughput is reported (of an even count, the lower middle one): its figures from one run
    med = sorted(per_run, key=lambda r: r["out"] / r["wall"])[(len(per_run) - 1) // 2]
    lat = request_metrics([RequestRecord.from_raw(d) for r in reps for d in r["latency_requests"]])
    b1 = reps[0]["batch1"]
    return {
        "layout": layout.name,
        "gpus": layout.n,
        "tp": layout.tp,
        "pp": layout.pp,
        "dp": layout.dp,
        "output_throughput": med["out"] / med["wall"],
        "total_token_throughput": (med["in"] + med["out"]) / med["wall"],
        "request_throughput": med["completed"] / med["wall"],
        "offline_wall_s": med["wall"],
        "offline_failed": max(r["failed"] for r in per_run),
        "offline_runs": len(per_run),
        "output_throughput_runs": tput,
        "output_throughput_spread_pct": (max(tput) - min(tput)) / (med["out"] / med["wall"]) * 100,
        "offline_runs_detail": detail,
        "batch1_decode_tokens_per_s": b1["decode_tokens_per_s"],
        "batch1_tpot_ms": b1["tpot_ms"],
        "batch1_ttft_ms": b1["ttft_ms"],
        **{k: lat[k] for k in LATENCY_KEYS if k in lat},
        "loaded_output_throughput": lat["output_throughput"],
        "engine_start_s": max(r["stage_seconds"]["engine_start"] for r in reps),
        "weights_bytes_per_gpu": max((rk["weights_bytes"] for r in reps for rk in r.get("ranks", [])), default=None),
        "scheduler": reps[0].get("scheduler"),  # vllm.LLM's limits on this device (1,024 / 16,384 on an H200)
    }


def serving_sweep(llm, cfg: LayoutSettings, sweep: list[int], prompts: int, slo: dict) -> list[dict]:
    """Latency and goodput (against `slo`) at each of the `sweep`'s concurrencies (`prompts` prompts, at least two per
    client), one engine step at a time."""
    out = []
    for i, c in enumerate(sweep):
        specs = random_prompts(
            max(prompts, 2 * c), cfg.input_len, cfg.output_len, cfg.vocab_size, seed=cfg.seed + 200 + i
        )
        recs = run_steps(llm, specs, concurrency=c, time_limit_s=cfg.timeout_s)
        out.append({"concurrency": c, "metrics": request_metrics(recs, slo)})
    return out


def whole_engine_figures(lay: Layout, res: dict) -> dict:
    """A TP layout's figures when one engine measured every stage (run_distributed_benchmark.py's child): the
    layout's own, its memory per GPU (or per CPU process), stage times, the mixed workload and the serving sweep."""
    n, m = lay.n, summarize_layout(lay, res)
    nvml = res["memory"]["backend"] == "nvml"
    per_gpu = [
        d
        for d in res["memory"]["devices"]
        if (d["label"] in {f"GPU{i}" for i in range(n)} if nvml else d["label"].startswith(("Worker", "EngineCore")))
    ]
    m.update(
        {
            "memory_backend": res["memory"]["backend"],
            "memory_peak_mib": {d["label"]: d["peak_used_mib"] for d in per_gpu},
            "stage_seconds": res["stage_seconds"],
            "process_wall_s": res["process_wall_s"],
            "mixed": res["mixed"],
            "sweep": [
                {
                    "concurrency": s["concurrency"],
                    **{
                        k: s["metrics"][k]
                        for k in (
                            "output_throughput",
                            "median_ttft_ms",
                            "p99_ttft_ms",
                            "median_tpot_ms",
                            "p99_tpot_ms",
                            "request_goodput",
                        )
                    },
                }
                for s in res["sweep"]
            ],
        }
    )
    return m
