"""benchmark_scaling.py end to end on the tiny CPU model: one run (TP at 1, 2 and 4 CPU ranks, with the
calibration against `vllm bench throughput`, one run a side: the alternation over several is tested in
tests/unit/measure/test_calibration.py), then small checks of what it wrote and printed. DP as replicas runs the same
code in the suite (tests/e2e/test_suite.py checks its two engines there)."""

import json
import re
import shutil
from pathlib import Path

import pytest

from common.runtime import hardware
from tests.conftest import ONE, gpu_words, needs_devices, ranks, run_script

pytestmark = needs_devices(2)  # TP2 beside one device


def _docs(out: Path, prefix: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob(f"{prefix}_*.json"))]


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_model):
    out = tmp_path_factory.mktemp("scaling") / "not-yet-there"  # the folder is created on the way
    proc = run_script(
        "benchmark_scaling.py",
        "--output-dir",
        str(out),
        *"--gpus 1,2,4 --layouts tp --num-prompts 32 --latency-prompts 8 --batch1-tokens 32 --gpu-hour-usd 1.0".split(),
        *"--compare-vllm-bench --vllm-bench-runs 1".split(),
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    docs = {d["metrics"]["layout"]: d for d in _docs(out, "scaling")}
    return out, proc, docs


@pytest.fixture(scope="module")
def ms(run):
    docs = run[2]
    return docs[ONE]["metrics"], docs["TP2"]["metrics"]


def test_every_layout_has_a_result_and_tp4_is_skipped_with_its_reason(run):
    docs = run[2]
    assert set(docs) == {ONE, "TP2", "TP4"}
    if hardware.device_count() < 4:
        assert docs["TP4"]["status"] == "skipped" and "needs 4 devices" in docs["TP4"]["failure"]["message"]


def test_speedup_efficiency_and_cost_follow_from_the_measured_throughputs(ms):
    one, tp2 = ms
    for m in ms:
        assert m["output_throughput"] > 0 and m["batch1_decode_tokens_per_s"] > 0 and m["median_ttft_ms"] > 0
        assert m["usd_per_1m_output_tokens"] == pytest.approx(m["gpus"] / 3600 / m["output_throughput"] * 1e6)
    assert one["speedup"] == 1.0
    assert tp2["speedup"] == pytest.approx(tp2["output_throughput"] / one["output_throughput"])
    assert tp2["scaling_efficiency"] == pytest.approx(tp2["speedup"] / 2)


def test_three_timed_runs_the_median_reported_and_wide_spreads_called_out(run, ms):
    proc = run[1]
    for m in ms:
        assert m["offline_runs"] == 3 and m["output_throughput"] == pytest.approx(
            sorted(m["output_throughput_runs"])[1]
        )
    wide = [m["layout"] for m in ms if m["output_throughput_spread_pct"] > 10]
    assert all(f"{x}'s 3 timed runs differ by" in proc.stdout for x in wide)
    assert ("differences smaller than that between layouts are noise" in proc.stdout) == bool(wide)


def test_calibration_runs_ours_then_vllm_bench_and_keeps_the_bench_json(run, ms):
    """Ours and `vllm bench throughput` at TP=1 on the same workload, one after the other, the bench's JSON kept; the
    ratio recorded, with no interval and no verdict from one run a side."""
    out, proc, _ = run
    one, tp2 = ms
    [bench] = sorted(out.glob("vllm_bench_throughput_*_run*.json.txt"))
    doc = json.loads(bench.read_text())
    assert doc["num_requests"] == 32
    theirs = 32 * 32 / doc["elapsed_time"]
    assert one["vllm_bench_output_throughput_runs"] == pytest.approx([theirs])
    assert [r["who"] for r in one["calibration_runs"]] == ["ours", "vllm bench"]
    [ours] = one["ours_interleaved_output_throughput_runs"]
    assert ours > 0 and one["ours_vs_vllm_bench"] == pytest.approx(ours / theirs)
    assert one["ours_vs_vllm_bench_ci"] is None and "no interval, so no verdict" in one["calibration_verdict"]
    assert one["calibration_verdict"] in proc.stdout
    assert "calibration_ours_spread" not in one
    assert "ours_vs_vllm_bench" not in tp2


def test_every_timed_run_says_what_the_engine_core_did(run, ms):
    proc = run[1]
    one = ms[0]
    for i, r in enumerate([r for r in one["calibration_runs"] if r["who"] == "ours"]):
        assert r["hw"]["engine_cpu_pct"] > 0
        assert (
            f"run {i + 1}: ours {r['output_throughput']:,.0f} (engine core {r['hw']['engine_cpu_pct']:.0f} %)"
            in proc.stdout
        )
    for m in ms:  # GPU figures where there is a GPU, none on a CPU box
        assert len(m["offline_runs_detail"]) == 3
        assert all(
            d["engine_cpu_pct"] > 0 and (d["gpu_busy_pct"] is None) == (not hardware.has_gpu())
            for d in m["offline_runs_detail"]
        )
    assert "timed runs " in proc.stdout and "engine core" in proc.stdout


def test_allreduce_ran_with_the_devices_backend_and_feeds_the_comm_model(run, ms):
    one, tp2 = ms
    ar = run[2]["TP2"]["config"]["allreduce"]
    assert ar["backend"] == ("nccl" if hardware.has_gpu() else "gloo")
    assert all(r["latency_us"] > 0 for r in ar["results"])
    if not hardware.has_gpu():
        assert "measured with gloo between CPU processes" in run[1].stdout
    assert tp2["comm_share_of_step"] > 0
    # measured TP overhead: the TP2 step beyond half the 1-GPU step, from the two measured batch-1 steps
    ideal = one["batch1_tpot_ms"] / 2
    assert tp2["tp_step_overhead_share"] == pytest.approx(
        max(0.0, tp2["batch1_tpot_ms"] - ideal) / tp2["batch1_tpot_ms"]
    )
    assert one["tp_step_overhead_share"] is None


def test_scheduler_limits_recorded_and_tables_and_plots_written(run, ms):
    one, tp2 = ms
    # vllm.LLM's defaults here: TP2 gets twice the 1-GPU's
    assert tp2["scheduler"]["max_num_seqs"] == 2 * one["scheduler"]["max_num_seqs"] > 0
    assert "Scaling (course format" in run[1].stdout and "Takeaway:" in run[1].stdout
    best = max(ms, key=lambda m: m["output_throughput"])  # named once: "1 CPU rank", or "TP2 on 2 CPU ranks"
    where = best["layout"] + (f" on {ranks(best['gpus'])}" if best["gpus"] > 1 else "")
    assert f"Takeaway: {where} has the highest throughput (" in run[1].stdout
    assert len(list(run[0].glob("scaling_*.png"))) == 4


def test_report_keeps_two_runs_apart_each_against_its_own_baseline(run, ms):
    """The second "run" is this run's files under an earlier stamp, with a 1-GPU row that read low: a third of
    TP2's throughput, so TP2 reads 150 % efficient there."""
    out = run[0]
    one, tp2 = ms
    agg = out / "agg"
    agg.mkdir()
    for p in out.glob("scaling_*.json"):
        shutil.copy(p, agg)
        doc = json.loads(p.read_text())
        if doc["metrics"]["layout"] == ONE:
            doc["metrics"]["output_throughput"] = tp2["output_throughput"] / 3
        (agg / re.sub(r"_\d{8}-\d{6}\.json$", "_20000101-000000.json", p.name)).write_text(json.dumps(doc))
    agg_proc = run_script("run_distributed_benchmark.py", "--from-results", str(agg), timeout=120)
    assert agg_proc.returncode == 0, agg_proc.stdout[-3000:]
    report = (agg / "report.md").read_text()
    assert "2 runs in this folder (20000101-000000, " in report
    cells = {
        (c[0], c[1]): c
        for c in (
            [x.strip() for x in line.strip("|").split("|")] for line in report.splitlines() if line.startswith("| 20")
        )
    }
    new_run = next(k[0] for k in cells if k[0] != "20000101-000000")
    tp = tp2["output_throughput"]
    assert (
        cells[(new_run, "TP2")][4]
        == f"{tp / one['output_throughput']:.2f}x ({tp / one['output_throughput'] / 2 * 100:.0f}%)"
    )
    assert cells[("20000101-000000", "TP2")][4] == "3.00x (150%)"
    note = next((ln for ln in report.splitlines() if ln.startswith("Run 20000101-000000: Note: ")), "")
    assert "TP2 reads 150%" in note and "above linear" in note
    assert (f"Run {new_run}: Note" in report) == (tp / one["output_throughput"] / 2 > 1.05)


def test_a_run_names_the_devices_it_ran_on(run):
    """A CPU run says CPU ranks, never GPUs; a GPU run says GPUs."""
    assert bool(gpu_words(run[1].stdout)) == hardware.has_gpu()
