"""Calibration against vLLM's own benchmarks.

Offline: ours and `vllm bench throughput` interleaved on the same workload, the ratio of medians with a 95 %
bootstrap interval, and a verdict. Online: `vllm bench serve` on the same server and workload as one of our
load levels (right after it), or at the capacity our search found; ours / theirs per metric.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from common.measure.hwmon import explain_spread, run_label
from common.measure.metrics import ratio_of_medians_ci
from common.output.results import Status
from common.runtime import hardware, runlog
from common.runtime.isolation import OwnRayDir, run_isolated
from common.runtime.server import kwargs_to_cli
from common.traffic.traces import dataset_kind, load_trace, write_timed_trace

ROOT = Path(__file__).resolve().parents[2]


def compare_with_vllm_bench(cfg, base, m: dict, out_json: Path, child: str) -> None:
    """Ours against `vllm bench throughput` at TP=1 on the same workload, interleaved: ours, bench, ours, bench ...
    (`vllm_bench_runs` of each, every run its own engine: one GPU cannot hold two), so a machine drifting over the
    minutes weighs on both sides alike. Ours here is the layout's offline measurement alone (engine, warm-up, one
    timed run). The ratio of the medians, its 95 % bootstrap interval and every run go into the baseline's metrics."""
    runs = max(1, cfg.vllm_bench_runs or 1)
    print(f"\n=== calibration: ours and vllm bench throughput interleaved, {runs} run(s) each, TP=1 ...", flush=True)
    ours, theirs, order = [], [], []
    engine = {**base.engine, "tensor_parallel_size": 1, "pipeline_parallel_size": 1}
    try:
        for i in range(runs):
            r = run_isolated(
                child,
                replace(base, engine=engine, offline_only=True, offline_runs=1, seed=base.seed + 31 * (i + 1)),
                timeout_s=cfg.timeout_s,
                label=f"ours {i + 1}",
            )
            if r["status"] != Status.OK:
                raise RuntimeError(f"our run {i + 1} failed: {r['failure'].message[:200]}")
            x = r["offline_runs"][0]
            ours.append(x["output_tokens"] / x["wall_s"])
            order.append({"who": "ours", "output_throughput": ours[-1], "hw": x.get("hw")})
            path = out_json.with_name(out_json.name.replace(".json", f"_run{i + 1}.json"))
            theirs.append(vllm_bench_throughput(cfg, engine, path)["output_throughput"])
            order.append({"who": "vllm bench", "output_throughput": theirs[-1]})
            print(
                f"  run {i + 1}: ours {run_label(ours[-1], x.get('hw'))}, vllm bench {theirs[-1]:,.0f} out tok/s",
                flush=True,
            )
    except Exception as e:  # recorded, never fatal
        m["vllm_bench_error"] = f"{type(e).__name__}: {e}"[:300]
        print(f"calibration stopped: {m['vllm_bench_error']}")
    m["calibration_runs"] = order
    if not (ours and theirs):
        return
    ratio = statistics.median(ours) / statistics.median(theirs)
    ci = list(ratio_of_medians_ci(ours, theirs)) if min(len(ours), len(theirs)) > 1 else None
    m.update(
        {
            "vllm_bench_output_throughput": statistics.median(theirs),
            "vllm_bench_output_throughput_runs": theirs,
            "ours_interleaved_output_throughput_runs": ours,
            "ours_vs_vllm_bench": ratio,
            "ours_vs_vllm_bench_ci": ci,
        }
    )
    lo, hi = ci or (None, None)
    m["calibration_verdict"] = calibration_verdict(ratio, lo, hi, len(ours), len(theirs))
    why = explain_spread(
        [{"output_throughput": o["output_throughput"], **(o.get("hw") or {})} for o in order if o["who"] == "ours"]
    )
    if why:  # our side's spread, explained from its hardware samples (the bench's run is a black box)
        m["calibration_ours_spread"] = "ours " + why
    print(m["calibration_verdict"] + (f"\n  ours {why}." if why else ""), flush=True)


def calibration_verdict(ratio: float, lo: float | None, hi: float | None, n_ours: int, n_theirs: int) -> str:
    """'indistinguishable from vllm bench' when the interval holds 1.0; the gap named otherwise; with one run a side
    (no interval: one run says nothing of the noise) neither."""
    if lo is None or hi is None:
        return (
            f"Calibration: ours / vllm bench throughput = {ratio:.3f} from one run each: no interval, so no "
            f"verdict (--vllm-bench-runs 3 gives one)."
        )
    head = (
        f"Calibration: ours / vllm bench throughput = {ratio:.3f}, 95 % interval [{lo:.3f}, {hi:.3f}] "
        f"(bootstrap over {n_ours} + {n_theirs} interleaved runs): "
    )
    if lo <= 1.0 <= hi:
        return head + "indistinguishable from vllm bench at this noise."
    side = "below" if hi < 1.0 else "above"
    gap = (1 - hi) if hi < 1.0 else (lo - 1)
    return head + f"ours reads {side} vllm bench, by at least {gap * 100:.1f} %."


def vllm_bench_throughput(cfg, engine: dict, out_json: Path) -> dict:
    args = kwargs_to_cli({**engine, "tensor_parallel_size": 1})
    out_json = out_json.resolve()
    out_json.parent.mkdir(parents=True, exist_ok=True)  # the bench runs before our first result file is written
    cmd = [
        sys.executable,
        "-m",
        "common.runtime.vllm_cli",
        "bench",
        "throughput",
        "--model",
        *args,
        "--dataset-name",
        "random",
        "--random-input-len",
        str(cfg.input_len),
        "--random-output-len",
        str(cfg.output_len),
        "--num-prompts",
        str(cfg.num_prompts),
        "--output-json",
        str(out_json),
    ]
    sys.stdout.flush()
    with OwnRayDir() as ray_dir, runlog.appender() as log:  # with Ray: the bench's cluster is stopped with it
        env = {**os.environ, **hardware.engine_env(1, Path(engine["model"]).is_dir()), **ray_dir.env()}
        subprocess.run(
            cmd, cwd=str(ROOT), env=env, check=True, timeout=cfg.timeout_s, stdout=log or sys.stderr,
            stderr=subprocess.STDOUT if log else None,
        )  # fmt: skip  # its log beside the engines' logs (the run's log file); our summary line goes to stdout
    d = json.loads(out_json.read_text())
    d["output_throughput"] = d["num_requests"] * cfg.output_len / d["elapsed_time"]
    return d


# --------------------------------------------------------------------------- vllm bench serve
def bench_serve_level(
    cfg,
    served_model: str,
    i: int,
    lv: dict,
    keys=("output_throughput", "mean_ttft_ms", "mean_tpot_ms"),
    dataset: list[str] | None = None,
) -> dict:
    """`vllm bench serve` against the same server with level `lv`'s workload, run right after ours at that
    level (a shared machine drifts from minute to minute); {level: {vllm_bench, ours_vs_vllm_bench}}.
    Each level gets its own seed: with one seed every bench run would send the same prompts again and find
    them in the server's prefix cache."""
    import tempfile

    key = f"{lv['kind']}={lv['value']:g}"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = _bench_serve_cmd(cfg, served_model, i, lv, dataset, tmp)
        print(f"  vllm bench serve, {key} ...", flush=True)
        try:
            r = subprocess.run(
                cmd, cwd=str(ROOT), capture_output=True, text=True, timeout=cfg.level_time_limit_s + 300,
                env=dict(os.environ),
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError) as e:  # recorded; our own levels go on
            return {key: {"error": f"{type(e).__name__}: {e}"[-500:]}}
        path = Path(tmp) / "bench.json"
        if r.returncode != 0 or not path.exists():
            return {key: {"error": (r.stderr or r.stdout)[-500:]}}
        theirs = json.loads(path.read_text())
    ours = lv["metrics"]
    return {
        key: {
            "vllm_bench": {k: theirs.get(k) for k in BENCH_SERVE_KEYS},
            "ours_vs_vllm_bench": {
                k: (ours[k] / theirs[k]) if theirs.get(k) and ours.get(k) is not None else None for k in keys
            },
        }
    }


BENCH_SERVE_KEYS = (
    "output_throughput", "mean_ttft_ms", "median_ttft_ms", "p99_ttft_ms", "mean_tpot_ms", "median_tpot_ms",
    "p99_tpot_ms", "completed", "request_rate",
)  # fmt: skip


def _bench_serve_cmd(cfg, served_model: str, i: int, lv: dict, dataset: list[str] | None, tmp: str) -> list[str]:
    """The `vllm bench serve` command line for level `lv`: our random shape unless `dataset` names the bench's own
    (a ShareGPT file, a timed trace replayed on its own timestamps); greedy, as our client asks."""
    tokenizer = cfg.engine.get("tokenizer") or cfg.model or served_model
    shape = (
        dataset
        or (
            f"--dataset-name random --random-input-len {cfg.input_len} --random-output-len {cfg.output_len} "
            f"--random-range-ratio {cfg.range_ratio}"
        ).split()
    )
    cmd = [
        sys.executable, "-m", "common.runtime.vllm_cli", "bench", "serve", "--backend", "vllm",
        "--base-url", cfg.base_url, "--model", served_model, "--tokenizer", str(tokenizer), *shape,
        "--num-prompts", str(lv["num_prompts"]), "--ignore-eos", "--seed", str(cfg.seed + 100 + i),
        "--temperature", "0", "--save-result", "--result-dir", tmp, "--result-filename", "bench.json",
    ]  # fmt: skip
    if dataset:  # a timed trace: its own timestamps (vllm bench serve's self-timed replay)
        return cmd
    if lv["kind"] == "concurrency":
        return cmd + ["--max-concurrency", str(int(lv["value"])), "--request-rate", "inf"]
    return cmd + ["--request-rate", str(lv["value"]), "--burstiness", str(cfg.burstiness)]


def trace_dataset(cfg, rate: float, speed: float, n: int, tw: dict | None = None) -> list[str]:
    """`vllm bench serve` flags replaying the trace stretch our probe at the capacity replayed, timestamps divided by
    the speed found, written as timed-trace JSONL beside the results (hash ids per 512-token block, the trace's own
    where it has them): a probe judged on a window (`tw`, its trace_window), its warm-up and that window; else the
    stretch's first n requests. `rate`, `speed`: the capacity found, in req/s and as the trace's speed-up."""
    trace = load_trace(cfg.dataset_path, cfg.dataset_name).stretch(cfg.trace_start_s, cfg.trace_duration_s)
    if tw:  # the same requests the probe sent: its replayed part of the stretch (stretch time, unrounded)
        lo, hi = tw.get("replayed_s") or (tw["warmup_from_s"] - trace.origin_s, tw["end_s"] - trace.origin_s)
        part = trace.stretch(lo, hi - lo)
        name = f"timed_trace_window_{tw['start_s']:.0f}s_at_{speed:.4g}x.jsonl"
    else:
        part, name = trace.head(n), f"timed_trace_at_capacity_{rate:.4g}.jsonl"
    path = write_timed_trace(part, Path(cfg.output_dir) / name, speed=speed)
    return [
        "--dataset-name",
        "timed_trace",
        "--dataset-path",
        str(path),
        "--timed-trace-chunk-hash-size",
        str(trace.block_size),
        "--timed-trace-sec-multiplier",
        "0.001",
    ]


def bench_at_capacity(cfg, served_model: str, cap, at) -> dict:
    """`vllm bench serve --request-rate R` at the capacity found (`cap`, a common.capacity.result.CapacityResult),
    with as many requests as our probe at R (`at`, the capacity.Probe that passed there) sent, on the same server:
    ours (the whole probe, measured as the bench measures a run) / theirs for p99 TTFT, p99 TPOT and output
    throughput."""
    lv = {"kind": "rate", "value": cap.request_rate, "num_prompts": at.requests, "metrics": at.whole_run}
    dataset = None
    if cfg.dataset_path:  # ShareGPT: the bench samples the same file its own way; a timed trace: the same stretch
        dataset = (
            ["--dataset-name", "sharegpt", "--dataset-path", cfg.dataset_path]
            if dataset_kind(cfg.dataset_path, cfg.dataset_name) == "sharegpt"
            else trace_dataset(cfg, cap.request_rate, cap.trace_speedup, at.requests, at.note.get("trace_window"))
        )
    got = next(
        iter(
            bench_serve_level(
                cfg, served_model, 900, lv, keys=("p99_ttft_ms", "p99_tpot_ms", "output_throughput"), dataset=dataset
            ).values()
        )
    )
    out = {**got, "ours": at.whole_run, "request_rate": cap.request_rate, "num_prompts": at.requests}
    if tw := at.note.get("trace_window"):  # a trace: the bench replayed that window and its warm-up at the speed found
        out.update({"trace_speedup": cap.trace_speedup, "trace_window": tw})
    theirs = {t: (got.get("vllm_bench") or {}).get(f"p99_{t}_ms") for t in cap.slo if t in ("ttft", "tpot")}
    if cap.percentile == 99 and theirs and None not in theirs.values():  # the bench's own p99s against the SLO
        out["vllm_bench_p99_ms"] = theirs
        out["vllm_bench_meets_slo"] = all(v <= cap.slo[t] for t, v in theirs.items())
    return out
