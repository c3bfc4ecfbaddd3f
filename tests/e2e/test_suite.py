"""run_distributed_benchmark.py end to end on the tiny CPU model: one suite with a capacity search per layout, run in
two steps (one rank whose report breaks, then --resume at 1 and 2 ranks), then small checks of its JSON and report,
--resume and --from-results."""

import json
import math
import re
import shutil

import numpy as np
import pytest

from common.output.results import FAULT_ENV
from common.runtime import hardware
from tests.conftest import ONE, SHORT_PROBES, gpu_words, needs_devices, run_script

pytestmark = needs_devices(2)  # TP2 and DP2 beside one device


def _trace(path):
    """~10 req/s for 30 s, short prompts, as timed_trace JSONL; a third share one prefix block and are longer than
    one 128-token CPU KV block, so the prefix cache can find them."""
    rng = np.random.default_rng(5)
    t = np.cumsum(rng.exponential(0.1, 300))
    path.write_text(
        "".join(
            json.dumps(
                {
                    "timestamp": round(float(x) * 1000, 1),
                    "input_length": int(rng.integers(160, 240) if i % 3 == 0 else rng.integers(32, 120)),
                    "output_length": int(rng.integers(8, 17)),
                    "hash_ids": [0] if i % 3 == 0 else [1000 + i],
                }
            )
            + "\n"
            for i, x in enumerate(t)
        )
    )
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_model):
    """The suite with --slo (so TP2 and DP2 beside one rank), its capacity searches replaying a trace, and a fleet
    planned for 50 req/s, run as a user whose report broke would run it: first one rank, its report made to fail
    (LAB_INJECT_FAULT), then --resume at 1 and 2 ranks, which keeps the one-rank file and writes the report.
    (out, the second run, the one-rank file, {layout: file}, the first run)."""
    out = tmp_path_factory.mktemp("suite")
    trace = _trace(tmp_path_factory.mktemp("trace") / "trace.jsonl")
    flags = [
        "--output-dir",
        str(out),
        *"--gpu-hour-usd 2.0 --slo ttft:300,tpot:60".split(),
        *SHORT_PROBES,
        *"--capacity-resolution 0.3 --max-probes 7 --target-rate 50 --dataset-path".split(),
        str(trace),
    ]
    first = run_script("run_distributed_benchmark.py", "--gpus", "1", *flags, env={FAULT_ENV: "the report:raise"})
    assert first.returncode == 1, first.stdout[-4000:] + first.stderr[-2000:]
    assert not (out / "report.md").exists()
    proc = run_script("run_distributed_benchmark.py", "--gpus", "1,2", "--resume", *flags)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    docs = {d["metrics"]["layout"]: d for d in (json.loads(p.read_text()) for p in out.glob("suite_*.json"))}
    return out, proc, docs[ONE], docs, first


def test_a_broken_report_loses_nothing_the_engine_measured_and_resume_keeps_it(run):
    first, doc = run[4], run[2]
    assert "the report FAILED (RuntimeError: fault injected" in first.stdout, first.stdout[-2000:]
    f = doc["failure"]
    assert f["kind"] == "other" and f["step"] == "the report" and f"fault injected by {FAULT_ENV}" in f["message"]
    assert doc["status"] == "ok" and doc["steps"]["the report"].startswith("failed: ")
    assert doc["steps"]["the summary"] == "done"  # the GPU count was summarized before the report broke
    m = doc["metrics"]
    assert m["output_throughput"] > 0 and m["sweep"] and m["mixed"] and doc["raw"]["latency_requests"]
    assert m["capacity"]["probes"]  # and its capacity search, which ran before the report
    assert f"{ONE}: already in" in run[1].stdout and "(--resume), skipped" in run[1].stdout
    assert len(list(run[0].glob("suite_*.json"))) == 3


def test_with_an_slo_the_suite_measures_tp_and_dp_alike_at_each_count(run):
    docs, report = run[3], (run[0] / "report.md").read_text()
    assert set(docs) == {ONE, "TP2", "DP2"}
    for name, d in docs.items():
        m, cap = d["metrics"], d["metrics"]["capacity"]
        assert d["status"] == "ok" and m["output_throughput"] > 0 and cap["probes"], name
        # each on a second engine built as `vllm serve` builds it: DP is vLLM's own, behind one front end
        engine = cap["engine"]
        assert engine["tensor_parallel_size"] == m["tp"] and engine.get("data_parallel_size", 1) == m["dp"]
        assert m["capacity_request_rate_per_gpu"] == pytest.approx(cap["request_rate"] / m["gpus"])
        assert [len(r["ttft_ms"]) for r in d["raw"]["capacity_probes"]] == [p["requests"] for p in cap["probes"]]
    # the report's capacity table has a row for each, and the course table stays tensor parallel
    table = report.split("## Serving capacity under the SLO")[1].split("## ")[0]
    for name in ("TP2", "DP2"):
        rate = docs[name]["metrics"]["capacity_request_rate"]
        assert any(ln.startswith(f"| {name} | 2 | {round(rate, 2)} |") for ln in table.splitlines()), table
    course = report.split("## Scaling (course table)")[1].split("\n\n")[1]
    assert [ln.split("|")[1].strip() for ln in course.splitlines()[2:]] == ["1", "2"]


def test_dp2_is_two_engines_each_with_half_the_prompts(run):
    """DP as one-device replicas (the code benchmark_scaling.py runs for DP too): two engines, each its own process,
    splitting every timed offline run's prompts."""
    reps = run[3]["DP2"]["raw"]["replicas"]
    n = run[3]["DP2"]["config"]["num_prompts"]
    assert len(reps) == 2 and all(len(r["offline_runs"]) == 3 for r in reps)
    assert all(sum(r["offline_runs"][i]["completed"] for r in reps) == n for i in range(3))


def test_one_engine_measured_every_part_of_the_suite(run):
    m = run[2]["metrics"]
    assert m["output_throughput"] > 0 and m["sweep"] and m["mixed"]["short_completed"] > 0
    assert m["memory_backend"] == ("nvml" if hardware.has_gpu() else "psutil-rss") and m["memory_peak_mib"]


def test_the_capacity_search_ran_under_the_slo(run):
    m, raw = run[2]["metrics"], run[2]["raw"]["capacity_probes"]
    cap = m["capacity"]
    assert cap["slo"] == {"ttft": 300.0, "tpot": 60.0} and cap["probes"] and cap["scheduler"]["max_num_seqs"] > 0
    # every probe's requests one by one, kept beside the metrics
    assert [len(r["ttft_ms"]) for r in raw] == [p["requests"] for p in cap["probes"]] and "samples" not in cap[
        "probes"
    ][0]
    assert cap["request_rate"] == max([p["offered_rate"] for p in cap["probes"] if p["pass"]] or [0.0])
    assert m.get("capacity_request_rate_per_gpu") == cap["request_rate"]


def test_report_has_every_section_and_its_plots(run):
    report = (run[0] / "report.md").read_text()
    for section in (
        "## Environment",
        "## Scaling (course table)",
        f"## Latency and memory vs {hardware.unit()}s",
        "## Serving capacity under the SLO",
        "## Recommendation",
        "paste into your notes",
        "## Plots",
    ):
        assert section in report
    for png in re.findall(r"\]\((.+?\.png)\)", report):
        assert (run[0] / png).stat().st_size > 1000


def test_every_number_of_the_course_table_comes_from_the_json(run):
    m = run[2]["metrics"]
    report = (run[0] / "report.md").read_text()
    line = report.split("## Scaling (course table)")[1].split("\n\n")[1].splitlines()[2]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells == ["1", f"{m['output_throughput']:.0f}", "1.00x", "100%", "450 tok/s", "1.0x", "100%"]
    assert f"${2.0 / 3600 / m['output_throughput'] * 1e6:.3f} per 1M output tokens" in report


def test_resume_skips_the_finished_configuration(run):
    again = run_script(
        "run_distributed_benchmark.py", "--output-dir", str(run[0]), "--gpus", "1", "--resume", timeout=300
    )
    assert again.returncode == 0 and "already in" in again.stdout
    assert len(list(run[0].glob("suite_*.json"))) == 3


def test_from_results_aggregates_only_and_names_foreign_files(run, tmp_path):
    shutil.copy(next(run[0].glob("suite_*.json")), tmp_path)
    (tmp_path / "broken.json").write_text("{")
    (tmp_path / "other.json").write_text('{"x": 1}')
    proc = run_script("run_distributed_benchmark.py", "--from-results", str(tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "skipped broken.json" in proc.stdout and "skipped other.json" in proc.stdout
    assert (tmp_path / "report.md").exists()
    bad = run_script("run_distributed_benchmark.py", "--from-results", str(tmp_path / "nope"), timeout=60)
    assert bad.returncode == 2 and "no such folder" in bad.stderr


def test_the_fleet_table_plans_replicas_for_the_target_rate(run):
    report = run[1].stdout  # what the run printed of its report (a later --resume run rewrites report.md)
    assert "## Fleet for 50 req/s" in report
    rents = []
    for m in (d["metrics"] for d in run[3].values()):
        reps = math.ceil(50 / m["capacity_request_rate"])
        row = next(
            ln for ln in report.split("## Fleet for 50 req/s")[1].splitlines() if ln.startswith(f"| {m['layout']} |")
        )
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert int(cells[2]) == reps and int(cells[3]) == reps * m["gpus"]  # replicas, CPU ranks
        assert float(cells[4]) == pytest.approx(reps * m["gpus"] * 2.0, abs=0.01)  # $/hour
        rents.append(f"rent {reps} x {m['layout']}")
    assert any(r in report for r in rents)  # and the paragraph to paste names one of them


def test_a_run_names_the_devices_it_ran_on(run):
    """A CPU run says CPU ranks, never GPUs (in what it prints and in its report); a GPU run says GPUs."""
    for text in (run[1].stdout, (run[0] / "report.md").read_text()):
        assert bool(gpu_words(text)) == hardware.has_gpu()


def test_the_search_replayed_the_trace_and_says_so(run):
    doc = run[2]
    w, cap = doc["config"]["workload"], doc["metrics"]["capacity"]
    assert w["source"] == "timed_trace" and w["requests"] == 300 and w["dropped"] == 0
    assert cap["trace_speedup"] == pytest.approx(cap["request_rate"] / w["mean_rate"], rel=1e-3)
    assert "x its recorded rate" in cap["verdict"]
    # the shared third's first 128-token block is found in the cache: ~128 of ~200 tokens, a third of the requests
    assert 0.2 < cap["prefix_cache_hit_rate"] < 0.5
    report = (run[0] / "report.md").read_text()
    assert (
        f"Workload: tiny-qwen2-v1: 64 in / 16 out tokens, 48 prompts; capacity on trace trace.jsonl ({w['sha256'][:8]})"
        in report
    )


def test_with_growth_the_fleet_plans_on_the_mean_when_the_capacity_held_the_heaviest_window(run, tmp_path):
    """A capacity judged at the trace's heaviest window already holds its peak: the fleet for the trace x G is
    ceil(G x the trace's mean rate / the capacity's mean rate), not the busiest minute again; the day's fleet beside
    it says the same peak."""
    for p in run[0].glob("suite_*.json"):
        shutil.copy(p, tmp_path)
    proc = run_script("run_distributed_benchmark.py", "--from-results", str(tmp_path), "--growth", "10", timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    m = run[2]["metrics"]
    cap = m["capacity"]
    assert cap["trace_judge"] == "heaviest" and cap["binding_window"]
    mean = cap["request_rate"] / cap["trace_speedup"]
    target = 10 * mean
    assert f"## Fleet for {target:.3g} req/s" in proc.stdout
    assert "each capacity was judged at its heaviest window" in proc.stdout
    row = next(
        ln
        for ln in proc.stdout.split(f"## Fleet for {target:.3g} req/s")[1].splitlines()
        if ln.startswith(f"| {m['layout']} |")
    )
    assert int(row.strip("|").split("|")[2]) == math.ceil(target / cap["request_rate"])  # = ceil(10 / the speed-up)
    report = (tmp_path / "report.md").read_text()
    assert "## The day's fleet (the trace's traffic x 10)" in report
    assert bool(gpu_words(report)) == hardware.has_gpu()
