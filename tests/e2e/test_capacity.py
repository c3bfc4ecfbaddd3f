"""Capacity under an SLO end to end on the tiny model: simulate --find-capacity on the in-process engine,
benchmark_scaling --capacity and the report's capacity section, and bad search settings refused before any engine
starts."""

import json
from pathlib import Path

import pytest

from common.runtime import hardware
from tests.conftest import ONE, SHORT_PROBES, run_script

SEARCH = [
    *SHORT_PROBES,
    *"--capacity-resolution 0.2 --max-probes 8".split(),
]


def _check_search(cap: dict) -> None:
    """The rate reported as capacity passed, the lowest failing rate above it failed, every probe is complete."""
    assert cap["request_rate"] > 0 and cap["percentile"] == 99
    lo, hi = cap["bracket"]
    assert lo == cap["request_rate"] and hi is not None and hi > lo
    decided = [p for p in cap["probes"] if not p.get("inconclusive")]  # an undecided probe ran again, longer
    at = [p for p in decided if p["offered_rate"] == lo]
    above = [p for p in decided if p["offered_rate"] == hi]
    assert at and all(p["pass"] for p in at) and above and not any(p["pass"] for p in above)
    assert cap["converged"] == ((hi - lo) / lo <= 0.2)
    assert cap["bound_by"] in ("ttft", "tpot", "keep_up") and cap["bound_by"] == above[0]["bound_by"]
    for p in cap["probes"]:
        for k in (
            *"offered_rate achieved_rate output_throughput p50_ttft_ms p99_ttft_ms p50_tpot_ms p99_tpot_ms".split(),
            *"pass".split(),
            *"margin judged_requests wall_s".split(),
        ):
            assert k in p, k
        # a probe stopped once it had surely failed judged fewer; it was planned with as many as the others
        assert p["judged_requests"] >= 10 or (not p["pass"] and p["stopped_early"]["judged"] >= 10)
        assert (p["margin"] is not None and p["margin"] >= 0) == p["pass"]
    # at the capacity, tokens at the rate judged: the probe's output tokens per request x the offered rate (its Poisson
    # draw may have brought more requests, or fewer)
    per_request = at[0]["output_throughput"] / at[0]["achieved_rate"]
    assert cap["output_throughput"] == pytest.approx(lo * per_request) and cap["output_throughput"] > 0
    # the first rate comes from a saturation probe (the path from there, on a judge that cannot be unlucky:
    # tests/unit/capacity/test_search.py; here a loaded box can fail a probe by chance and walk lower)
    assert cap["start"]["from"].startswith("0.6 x the saturation probe") and cap["start"]["ceiling_rate"] > 0
    assert cap["probes"][0]["offered_rate"] == cap["start"]["rate"]
    # the search took at least as long as its probes (each figure is rounded to 10 ms: allow that much a probe)
    assert cap["search_s"] + 0.01 * len(cap["probes"]) >= sum(p["wall_s"] for p in cap["probes"]) > 0


def _check_samples(doc: dict) -> None:
    """Every probe's requests one by one in raw.capacity_probes (not in metrics), enough to judge it again."""
    cap, raw = doc["metrics"]["capacity"], doc["raw"]["capacity_probes"]
    assert [r["offered_rate"] for r in raw] == [p["offered_rate"] for p in cap["probes"]]
    assert not any("samples" in p for p in cap["probes"])
    for r, p in zip(raw, cap["probes"], strict=True):
        assert len(r["ttft_ms"]) == len(r["arrival_s"]) == len(r["error"]) == p["requests"]
        judged = [i for i, j in enumerate(r["judged"]) if j]
        assert len(judged) == p["judged_requests"]
        # the judged ones are those that arrived in the window (arrival_s is rounded to 0.1 ms: edges either way)
        a, b = p["window_s"]
        assert all(t is not None and a - 1e-3 <= t < b + 1e-3 for t in (r["arrival_s"][i] for i in judged))
        assert sum(t is not None and a + 1e-3 <= t < b - 1e-3 for t in r["arrival_s"]) <= len(judged)
        assert sum(r["error"][i] is not None for i in judged) == p["unfinished"]


def test_simulate_finds_capacity_on_the_in_process_engine(tmp_path, tiny_model):
    proc = run_script(
        *"simulate_concurrent_requests.py --find-capacity --slo ttft:200,tpot:50 --output-dir".split(),
        str(tmp_path),
        *SEARCH,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    [path] = tmp_path.glob("concurrent_requests_*.json")
    d = json.loads(path.read_text())
    cap = d["metrics"]["capacity"]
    _check_search(cap)
    _check_samples(d)
    assert cap["slo"] == {"ttft": 200.0, "tpot": 50.0} and cap["unloaded"]["ttft_ms"] > 0
    assert cap["search"]["resolution"] == 0.2 and cap["search"]["start_rate"] > 0
    assert d["metrics"]["scheduler"]["max_num_seqs"] > 0  # what the engine ran with
    assert (
        "Capacity search (one row per probe" in proc.stdout
        and f"capacity {cap['request_rate']:.3g} req/s" in proc.stdout
    )
    assert proc.stdout.count(" pass") + proc.stdout.count("FAIL (") + proc.stdout.count("undecided (") >= len(
        cap["probes"]
    )
    assert (tmp_path / (path.stem + "_capacity.png")).exists()


def test_scaling_capacity_per_layout_and_the_report_when_its_calibration_breaks(tmp_path, tiny_model):
    """benchmark_scaling --capacity on one device: the search on an engine built as `vllm serve` builds it, its cost
    at capacity, its plots, and the report's capacity section and advice from the files. Its calibration against vllm
    bench is made to raise (LAB_INJECT_FAULT), the step after the search: exit 1, and nothing before or after it lost
    (the other scripts' cases: tests/e2e/test_after_measurement.py). (DP through vLLM's own data parallelism behind
    one front end: tests/e2e/test_suite.py; one device against DP2 in the report: tests/unit/report/test_report.py,
    on fixture files.)"""
    from tests.e2e.test_after_measurement import faulted

    proc, d = faulted(
        [
            *"benchmark_scaling.py --gpus 1 --layouts tp --num-prompts 16 --latency-prompts 8 --batch1-tokens".split(),
            *"16 --offline-runs 1 --no-allreduce --gpu-hour-usd 2.0 --compare-vllm-bench --capacity --slo".split(),
            *"ttft:300,tpot:60".split(),
            *SEARCH,
        ],
        tmp_path,
        "the vllm bench throughput calibration",
        "raise",
        "scaling",
    )
    assert d["metrics"]["layout"] == ONE
    _check_samples(d)
    m = d["metrics"]
    _check_search(m["capacity"])
    assert m["capacity_request_rate_per_gpu"] == pytest.approx(m["capacity_request_rate"] / m["gpus"])
    assert m["usd_per_1m_output_tokens_at_capacity"] == pytest.approx(
        2.0 * m["gpus"] / 3600 / m["capacity_output_throughput"] * 1e6
    )
    # the engine arguments the search ran with are recorded
    engine = m["capacity"]["engine"]
    assert engine["tensor_parallel_size"] == 1 and engine.get("data_parallel_size", 1) == 1
    assert "Serving capacity under the SLO (p99 TTFT <= 300 ms, p99 TPOT <= 60 ms)" in proc.stdout
    # one layout searched: its probes' Pareto plot, no one-bar capacity chart
    assert "pareto.png" in {p.name.split("_")[-1] for p in tmp_path.glob("scaling_*.png")}
    assert not list(tmp_path.glob("scaling_*_capacity.png"))
    # the broken calibration: the layout kept, the run went on to its tables, and said in one line what broke
    assert m["output_throughput"] > 0 and m["offline_runs"] == 1 and d["raw"]["replicas"]
    assert "calibration_runs" not in m  # it never started
    assert "All layouts" in proc.stdout and "Takeaway" in proc.stdout
    assert "the vllm bench throughput calibration FAILED (RuntimeError: fault injected" in proc.stdout

    agg = run_script(
        "run_distributed_benchmark.py", "--from-results", str(tmp_path), "--gpu-hour-usd", "2.0", timeout=120
    )
    assert agg.returncode == 0, agg.stdout[-3000:]
    report = (tmp_path / "report.md").read_text()
    assert "## Serving capacity under the SLO" in report and "**p99 TTFT <= 300 ms, p99 TPOT <= 60 ms**" in report
    single = f"a single {hardware.unit()}"
    assert (
        f"- **Serving capacity per dollar under p99 TTFT <= 300 ms, p99 TPOT <= 60 ms:** {single}: "
        f"{m['capacity_request_rate']:.3g} req/s"
    ) in report
    assert "- **Batch throughput per dollar (offline):**" in report
    assert f"to serve requests within p99 TTFT <= 300 ms, p99 TPOT <= 60 ms run {single}" in report
    assert not (tmp_path / "report_capacity.png").exists() and (tmp_path / "report_pareto.png").exists()
    assert "No capacity chart: one layout searched" in report


@pytest.mark.parametrize(
    "script,args,msg",
    [
        ("simulate_concurrent_requests.py", ["--find-capacity"], "needs --slo"),
        ("simulate_concurrent_requests.py", ["--find-capacity", "--slo", "ttft:fast"], "not a number"),
        (
            "simulate_concurrent_requests.py",
            ["--find-capacity", "--slo", "ttft:500", "--slo-percentile", "0"],
            "percentile",
        ),
        (
            "simulate_concurrent_requests.py",
            ["--find-capacity", "--slo", "ttft:500", "--slo-percentile", "101"],
            "percentile",
        ),
        (
            "simulate_concurrent_requests.py",
            ["--find-capacity", "--slo", "tpot:50", "--capacity-resolution", "0"],
            "resolution",
        ),
        ("simulate_concurrent_requests.py", ["--slo", "ttft:500"], "add --find-capacity"),
        (
            "simulate_concurrent_requests.py",
            ["--find-capacity", "--slo", "ttft:500", "--request-rate", "4"],
            "own Poisson",
        ),
        ("benchmark_scaling.py", ["--capacity", "--slo", "latency:5"], "expected ttft:MS"),
        ("benchmark_scaling.py", ["--capacity", "--slo", "ttft:500", "--capacity-resolution", "-0.1"], "resolution"),
        ("run_distributed_benchmark.py", ["--slo", "ttft:-5"], "> 0"),
    ],
)
def test_bad_search_settings_are_one_line_exit_2_before_any_engine(tmp_path, script, args, msg):
    proc = run_script(script, *args, "--output-dir", str(tmp_path), timeout=60)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stderr.strip().count("\n") == 0 and msg in proc.stderr, proc.stderr
    assert not list(Path(tmp_path).glob("*.json"))
