"""benchmark_scaling.py, test_mixed_workload.py and run_distributed_benchmark.py end to end on the tiny CPU model."""
import json
import re
import shutil
from pathlib import Path

import pytest

from common import platform
from common.capacity import thin_samples
from tests.conftest import run_script

pytestmark = pytest.mark.skipif(platform.has_gpu(), reason="CPU-sized workloads; the GPU path is run by hand")


def _docs(out: Path, prefix: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob(f"{prefix}_*.json"))]


def test_scaling_tp_and_dp_with_speedup_efficiency_and_allreduce(tmp_path, tiny_model):
    tmp_path = tmp_path / "not-yet-there"  # the output folder is created on the way (the bench writes first)
    proc = run_script("benchmark_scaling.py", "--output-dir", str(tmp_path), "--gpus", "1,2,4", "--layouts", "tp,dp",
                      "--num-prompts", "32", "--latency-prompts", "8", "--batch1-tokens", "32", "--gpu-hour-usd", "1.0",
                      "--compare-vllm-bench", "--vllm-bench-runs", "2")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    docs = {d["metrics"]["layout"]: d for d in _docs(tmp_path, "scaling")}
    assert {"1 GPU", "TP2", "DP2", "TP4", "DP4"} <= set(docs)
    assert docs["TP4"]["status"] == "skipped" and "needs 4 devices" in docs["TP4"]["failure"]["message"]
    one, tp2, dp2 = docs["1 GPU"]["metrics"], docs["TP2"]["metrics"], docs["DP2"]["metrics"]
    for m in (one, tp2, dp2):
        assert m["output_throughput"] > 0 and m["batch1_decode_tokens_per_s"] > 0 and m["median_ttft_ms"] > 0
        assert m["usd_per_1m_output_tokens"] == pytest.approx(m["gpus"] / 3600 / m["output_throughput"] * 1e6)
    assert one["speedup"] == 1.0
    assert tp2["speedup"] == pytest.approx(tp2["output_throughput"] / one["output_throughput"])
    assert tp2["scaling_efficiency"] == pytest.approx(tp2["speedup"] / 2)
    # DP2 = two independent engines, each did half of the prompts
    reps = docs["DP2"]["raw"]["replicas"]
    assert len(reps) == 2 and all(len(r["offline_runs"]) == 3 for r in reps)
    assert all(sum(r["offline_runs"][i]["completed"] for r in reps) == 32 for i in range(3))
    # three timed offline runs per layout; the reported figure is their median
    for m in (one, tp2, dp2):
        assert m["offline_runs"] == 3 and m["output_throughput"] == pytest.approx(sorted(m["output_throughput_runs"])[1])
    # runs that disagree by more than 10 % are called out under the table (the CPU box usually has some)
    wide = [m["layout"] for m in (one, tp2, dp2) if m["output_throughput_spread_pct"] > 10]
    assert all(f"{x}'s 3 timed runs differ by" in proc.stdout for x in wide)
    assert ("differences smaller than that between layouts are noise" in proc.stdout) == bool(wide)
    # ours and `vllm bench throughput` alternated at TP=1 on the same workload (A B A B), every bench JSON kept;
    # the ratio of the medians and its bootstrap interval are recorded, with a verdict
    benches = sorted(tmp_path.glob("vllm_bench_throughput_*_run*.json.txt"))
    assert len(benches) == 2 and all(json.loads(b.read_text())["num_requests"] == 32 for b in benches)
    theirs = [32 * 32 / json.loads(b.read_text())["elapsed_time"] for b in benches]
    assert one["vllm_bench_output_throughput_runs"] == pytest.approx(theirs)
    assert [r["who"] for r in one["calibration_runs"]] == ["ours", "vllm bench"] * 2
    ours = one["ours_interleaved_output_throughput_runs"]
    assert len(ours) == 2 and all(x > 0 for x in ours)
    assert one["ours_vs_vllm_bench"] == pytest.approx((sum(ours) / 2) / (sum(theirs) / 2))
    lo, hi = one["ours_vs_vllm_bench_ci"]
    assert min(ours) / max(theirs) - 1e-9 <= lo <= one["ours_vs_vllm_bench"] <= hi <= max(ours) / min(theirs) + 1e-9
    assert one["calibration_verdict"] in proc.stdout and "95 % interval" in proc.stdout
    # each of our interleaved runs prints what its engine core did, from its own hardware samples
    for i, r in enumerate([r for r in one["calibration_runs"] if r["who"] == "ours"]):
        assert r["hw"]["engine_cpu_pct"] > 0
        assert f"run {i + 1}: ours {r['output_throughput']:,.0f} (engine core {r['hw']['engine_cpu_pct']:.0f} %)" \
            in proc.stdout
    assert ("calibration_ours_spread" in one) == (min(ours) < max(ours))
    assert "ours_vs_vllm_bench" not in tp2
    # every timed run says what the engine core did (CPU box: no GPU figures)
    for m in (one, tp2, dp2):
        assert len(m["offline_runs_detail"]) == 3
        assert all(d["engine_cpu_pct"] > 0 and d["gpu_busy_pct"] is None for d in m["offline_runs_detail"])
    assert "timed runs " in proc.stdout and "engine core" in proc.stdout
    # the all-reduce benchmark ran between 2 CPU processes with gloo, and says so
    ar = docs["TP2"]["config"]["allreduce"]
    assert ar["backend"] == "gloo" and all(r["latency_us"] > 0 for r in ar["results"])
    assert "measured with gloo" in proc.stdout
    assert tp2["comm_share_of_step"] > 0
    # measured TP overhead: the TP2 step beyond half the 1-GPU step, from the two measured batch-1 steps
    ideal = one["batch1_tpot_ms"] / 2
    assert tp2["tp_step_overhead_share"] == pytest.approx(max(0.0, tp2["batch1_tpot_ms"] - ideal) / tp2["batch1_tpot_ms"])
    assert dp2["tp_step_overhead_share"] is None and one["tp_step_overhead_share"] is None
    # the scheduler limits each engine ran with are recorded: vllm.LLM's defaults here (TP2 gets twice the 1-GPU's)
    assert tp2["scheduler"]["max_num_seqs"] == 2 * one["scheduler"]["max_num_seqs"] > 0
    assert "Scaling (course format" in proc.stdout and "Takeaway:" in proc.stdout
    assert len(list(tmp_path.glob("scaling_*.png"))) == 4

    # Two runs in one folder: the report keeps them apart, each layout against its own run's 1-GPU baseline.
    # The second "run" is this run's files under an earlier stamp, with a 1-GPU row that read low: a third of
    # DP2's throughput, so DP2 reads 150 % efficient there.
    agg = tmp_path / "agg"
    agg.mkdir()
    for p in tmp_path.glob("scaling_*.json"):
        shutil.copy(p, agg)
        doc = json.loads(p.read_text())
        if doc["metrics"]["layout"] == "1 GPU":
            doc["metrics"]["output_throughput"] = dp2["output_throughput"] / 3
        (agg / re.sub(r"_\d{8}-\d{6}\.json$", "_20000101-000000.json", p.name)).write_text(json.dumps(doc))
    agg_proc = run_script("run_distributed_benchmark.py", "--from-results", str(agg), timeout=120)
    assert agg_proc.returncode == 0, agg_proc.stdout[-3000:]
    report = (agg / "report.md").read_text()
    assert "2 runs in this folder (20000101-000000, " in report
    cells = {(c[0], c[1]): c for c in ([x.strip() for x in line.strip("|").split("|")] for line in report.splitlines()
                                       if line.startswith("| 20"))}
    new_run = next(k[0] for k in cells if k[0] != "20000101-000000")
    dp = dp2["output_throughput"]
    assert cells[(new_run, "DP2")][4] == f"{dp / one['output_throughput']:.2f}x ({dp / one['output_throughput'] / 2 * 100:.0f}%)"
    assert cells[("20000101-000000", "DP2")][4] == "3.00x (150%)"
    note = next((ln for ln in report.splitlines() if ln.startswith("Run 20000101-000000: Note: ")), "")
    assert "DP2 reads 150%" in note and "above linear" in note
    assert (f"Run {new_run}: Note" in report) == (dp / one["output_throughput"] / 2 > 1.05)


def test_mixed_workload_variants_measure_short_request_waits(tmp_path, tiny_model):
    proc = run_script("test_mixed_workload.py", "--output-dir", str(tmp_path), "--num-requests", "24",
                      "--budgets", "256", "--caps", "64", "--long-fraction", "0.25", "--capacity",
                      "--probe-seconds", "2", "--probe-warmup-seconds", "1", "--probe-min-requests", "16",
                      "--capacity-resolution", "0.3", "--max-probes", "6")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    docs = {d["metrics"]["variant"]: d for d in _docs(tmp_path, "mixed_workload")}
    assert set(docs) == {"no chunking", "chunked 256", "chunked 256, cap 64"}
    nochunk = docs["no chunking"]
    assert nochunk["config"]["engine"]["enable_chunked_prefill"] is False
    assert nochunk["config"]["engine"]["max_num_batched_tokens"] >= 3800
    for d in docs.values():
        m = d["metrics"]
        assert m["short_completed"] > 0 and m["long_completed"] > 0 and m["failed"] == 0
        assert m["short_ttft_inflation_p99"] == pytest.approx(m["short_p99_ttft_ms"] / m["short_alone_p99_ttft_ms"])
        assert 0.0 <= m["hol_blocked_share"] <= 1.0 and 0 < m["jain_slowdown"] <= 1.0
        classes = {r["klass"] for r in d["raw"]["mixed"]}
        assert classes == {"short", "long"}
        assert len(d["raw"]["alone"]) == m["short_completed"]  # the same short requests ran alone first
        assert m["short_mean_itl_without_long_prefill_ms"] > 0 and m["short_itl_samples_during_long_prefill"] >= 0
        # the recorded cap is the one the engine ran with
        assert m["long_prefill_token_threshold"] == m["scheduler"]["long_prefill_token_threshold"]
        assert m["max_num_batched_tokens"] == m["scheduler"]["max_num_batched_tokens"]
        assert m["scheduler"]["cudagraph_max_tokens"] == 0   # a CPU engine replays no CUDA graphs
    # without chunking a long prompt's whole prefill is one step, so decodes beside it wait longer per token
    m = nochunk["metrics"]
    if m["short_itl_samples_during_long_prefill"]:
        assert m["short_mean_itl_during_long_prefill_ms"] > m["short_mean_itl_without_long_prefill_ms"]
    assert docs["chunked 256, cap 64"]["metrics"]["long_prefill_token_threshold"] == 64
    # capacity per variant, every variant judged by the one SLO the first variant derived (5x short alone)
    caps = {v: d["metrics"]["capacity"] for v, d in docs.items()}
    slo = caps["no chunking"]["slo"]
    alone = docs["no chunking"]["raw"]["alone"]
    assert slo["ttft"] == pytest.approx(5 * sorted(r["ttft_ms"] for r in alone)[len(alone) // 2], rel=0.5)
    for v, c in caps.items():
        assert c["slo"] == slo and c["term_class"] == {"ttft": "short"} and c["probes"]
        raw = docs[v]["raw"]["capacity_probes"]
        assert [len(r["klass"]) for r in raw] == [p["requests"] for p in c["probes"]]
        assert all(p["term_class"] == {"ttft": "short"} for p in c["probes"])
        if c["request_rate"]:
            assert any(p["pass"] and p["offered_rate"] == c["request_rate"] for p in c["probes"])
    # each probe counts the requests its percentiles were taken over (short ones for TTFT), and the takeaway names
    # every capacity that rests on too few of them for a p99 (16-request probes here: all of them)
    for v, c in caps.items():
        for p, r in zip(c["probes"], docs[v]["raw"]["capacity_probes"]):
            shorts = sum(1 for j, k in zip(r["judged"], r["klass"]) if j and k == "short")
            assert p["judged_by_term"]["ttft"] == shorts and p["judged_by_term"]["tpot"] <= p["judged_requests"]
    # each search's outcome is printed on stdout with the tables (its probe lines go to stderr, beside vLLM's log)
    assert all(f"{len(c['probes'])} probes, {c['search_s']:.0f} s: {c['verdict']}" in proc.stdout for c in caps.values())
    thin = {v: thin_samples(c) for v, c in caps.items() if thin_samples(c)}
    assert ("Rough ranks" in proc.stdout) == bool(thin)
    assert all(f"'{v}' ({n})" in proc.stdout for v, n in thin.items())
    # the takeaway recommends the measured best: the highest capacity (or says no chunking won)
    # (when no variant met the SLO at any rate, the script ranks by short p99 TTFT inflation at the mix's own rate)
    searched = any(c["request_rate"] for c in caps.values())
    best = (max(caps, key=lambda v: caps[v]["request_rate"] or 0) if searched else
            min(docs, key=lambda v: docs[v]["metrics"]["short_ttft_inflation_p99"]))
    if best == "no chunking":
        assert "no chunked variant beat no chunking" in proc.stdout
    elif searched:
        assert f"'{best}' serves the most of this mix" in proc.stdout and "Takeaway: use --max-num-batched-tokens" in proc.stdout
    else:
        assert "Takeaway: use --max-num-batched-tokens" in proc.stdout and f"('{best}')" in proc.stdout
    # the gain over no chunking, beside Sarathi-Serve's, whenever a chunked variant won and no chunking had a capacity
    assert ("Sarathi-Serve reports 2.6x" in proc.stdout) == (best != "no chunking" and bool(caps["no chunking"]["request_rate"]))
    assert len(list(tmp_path.glob("*.png"))) == 4   # TTFT CDF, trade-off, best and worst timelines


def test_suite_report_resume_and_from_results(tmp_path, tiny_model):
    proc = run_script("run_distributed_benchmark.py", "--output-dir", str(tmp_path), "--gpus", "1",
                      "--gpu-hour-usd", "2.0", "--slo", "ttft:300,tpot:60", "--probe-seconds", "2",
                      "--probe-warmup-seconds", "1", "--probe-min-requests", "16", "--capacity-resolution", "0.3",
                      "--max-probes", "7")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    [suite] = _docs(tmp_path, "suite")
    m = suite["metrics"]
    assert m["output_throughput"] > 0 and m["sweep"] and m["mixed"]["short_completed"] > 0
    assert m["memory_backend"] == "psutil-rss" and m["memory_peak_mib"]
    # --slo: a capacity search on the suite's own engine, driven step by step, with the engine's limits recorded
    cap = m["capacity"]
    assert cap["slo"] == {"ttft": 300.0, "tpot": 60.0} and cap["probes"] and cap["scheduler"]["max_num_seqs"] > 0
    assert "stepdrive" in cap["front_end"]
    raw = suite["raw"]["capacity_probes"]   # every probe's requests one by one, kept beside the metrics
    assert [len(r["ttft_ms"]) for r in raw] == [p["requests"] for p in cap["probes"]] and "samples" not in cap["probes"][0]
    if cap["request_rate"]:
        assert any(p["pass"] and p["offered_rate"] == cap["request_rate"] for p in cap["probes"])
        assert m["capacity_request_rate_per_gpu"] == cap["request_rate"]
    report = (tmp_path / "report.md").read_text()
    for section in ("## Environment", "## Scaling (course table)", "## Latency and memory vs GPUs",
                    "## Serving capacity under the SLO", "## Recommendation", "Optimal multi-GPU configuration",
                    "## Plots"):
        assert section in report
    # every number in the scaling table comes from the JSON files (or is the course text's own figure)
    by_gpus = {d["metrics"]["gpus"]: d["metrics"] for d in _docs(tmp_path, "suite")}
    table = report.split("## Scaling (course table)")[1].split("\n\n")[1].splitlines()[2:]
    assert table, report
    course = {1: ("450 tok/s", "1.0x", "100%"), 2: ("800 tok/s", "1.8x", "90%"), 4: ("1400 tok/s", "3.1x", "78%")}
    for line in table:
        cells = [c.strip() for c in line.strip("|").split("|")]
        gpus = int(cells[0])
        mine = by_gpus[gpus]
        speedup = mine["output_throughput"] / by_gpus[1]["output_throughput"]
        assert cells[1:4] == [f"{mine['output_throughput']:.0f}", f"{speedup:.2f}x", f"{speedup / gpus * 100:.0f}%"]
        assert tuple(cells[4:7]) == course[gpus]
    cost = 2.0 / 3600 / m["output_throughput"] * 1e6
    assert f"${cost:.3f} per 1M output tokens" in report
    for png in re.findall(r"\]\((.+?\.png)\)", report):
        assert (tmp_path / png).stat().st_size > 1000

    # --resume: the finished configuration is not run again
    again = run_script("run_distributed_benchmark.py", "--output-dir", str(tmp_path), "--gpus", "1", "--resume", timeout=300)
    assert again.returncode == 0 and "already in" in again.stdout
    assert len(_docs(tmp_path, "suite")) == 1

    # --from-results: aggregate only, naming corrupt or foreign files
    agg = tmp_path / "agg"
    agg.mkdir()
    shutil.copy(next(tmp_path.glob("suite_*.json")), agg)
    (agg / "broken.json").write_text("{")
    (agg / "other.json").write_text('{"x": 1}')
    proc = run_script("run_distributed_benchmark.py", "--from-results", str(agg), timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "skipped broken.json" in proc.stdout and "skipped other.json" in proc.stdout
    assert (agg / "report.md").exists()
    bad = run_script("run_distributed_benchmark.py", "--from-results", str(tmp_path / "nope"), timeout=60)
    assert bad.returncode == 2 and "no such folder" in bad.stderr
