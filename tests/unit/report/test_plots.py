"""common.report.plots: no plot with one point. A folder measured at one device count gets the serving sweep against
concurrency instead of throughput and latency against the count, and the report says why (on the committed CPU
quick start's one-rank file)."""

import shutil

from tests.conftest import ROOT, run_script

QS = ROOT / "docs/sample_results/cpu_tiny/suite_2026-12-07"


def test_one_device_count_plots_the_sweep_and_says_why_there_is_no_plot_against_the_count(tmp_path):
    shutil.copy(QS / "suite_tiny-qwen2-v1_tp1_20261207-135755.json", tmp_path)
    proc = run_script("run_distributed_benchmark.py", "--from-results", str(tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = (tmp_path / "report.md").read_text()
    plots = report.split("## Plots")[1]
    assert "No plot against the CPU rank count: one count measured (--gpus 1,2 measures two)." in plots
    assert "![report_sweep](report_sweep.png)" in plots and (tmp_path / "report_sweep.png").stat().st_size > 1000
    assert not (tmp_path / "report_throughput.png").exists() and not (tmp_path / "report_latency.png").exists()
    # one layout searched: no one-bar capacity chart, said so; its probes' Pareto plot stays
    assert "No capacity chart: one layout searched" in plots and not (tmp_path / "report_capacity.png").exists()
    assert (tmp_path / "report_pareto.png").exists()


def test_two_device_counts_plot_against_the_count(tmp_path):
    for p in QS.glob("suite_*.json"):
        shutil.copy(p, tmp_path)
    proc = run_script("run_distributed_benchmark.py", "--from-results", str(tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = (tmp_path / "report.md").read_text()
    assert "No plot against" not in report and (tmp_path / "report_throughput.png").exists()


def test_the_pareto_marks_missed_probes_with_their_reason_and_draws_the_load_sweep(monkeypatch):
    """The CPU quick start's three layouts: TP2 has one probe that missed (the queue grew), crossed apart; each TP
    layout's serving sweep (1 to 16 clients) is a dotted curve beside its probes."""
    from common.capacity import display
    from common.report.gather import typed_results

    seen = {}
    monkeypatch.setattr(
        display, "pareto_plot", lambda path, curves, slo, title, dev, **kw: seen.update(kw, curves=curves) or path
    )
    monkeypatch.setattr(display, "bar_plot", lambda path, *a, **kw: path)
    ms = [d["metrics"] for d in typed_results(QS)[0] if d["experiment"] == "suite" and d["status"] == "ok"]
    ms = [m for m in ms if m.get("capacity")]
    display.capacity_plots("x", ms, ms[0]["capacity"].slo, ms[0]["capacity"].percentile, "CPU rank")
    points, why = seen["failed"]["TP2"]
    assert len(points) == 1 and why == "the queue grew"
    assert seen["sweeps"]["1 CPU rank"][1] == "sweep, 1-16 clients" and len(seen["sweeps"]["1 CPU rank"][0]) == 3
    assert "DP2" not in seen["sweeps"]  # DP replicas run no sweep
    assert seen["marks"]["TP2"] in seen["curves"]["TP2"] and seen["marks"]["TP2"] not in points  # starred: passed


def test_scaling_plots_redrawn_from_files_have_one_bar_per_layout(tmp_path, monkeypatch):
    """benchmark_scaling.py --from-results on the 4-H200 run A: the efficiency and throughput bars are named by
    layout (1 GPU, DP4, TP2xDP2, TP4), not by device count, and titled with the run's GPUs, not this machine's."""
    import benchmark_scaling

    for p in (ROOT / "docs/sample_results/h200x4").glob("scaling_*_20261128-185054.json"):
        shutil.copy(p, tmp_path)
    bars = {}
    monkeypatch.setattr(
        benchmark_scaling, "bar_plot", lambda path, labels, *a, **kw: bars.update({path.name: (labels, a)}) or path
    )
    plots = benchmark_scaling.redraw(tmp_path)
    eff = bars["scaling_qwen2.5-7b_20261128-185054_efficiency.png"]
    assert eff[0] == ["1 GPU", "DP4", "TP2xDP2", "TP4"] and "4 x H200" in eff[1][1]
    assert [round(v) for v in eff[1][0]["scaling efficiency %"]] == [100, 99, 86, 53]
    assert str(tmp_path / "scaling_qwen2.5-7b_20261128-185054_throughput.png") in plots
    assert (tmp_path / "scaling_qwen2.5-7b_20261128-185054_throughput.png").stat().st_size > 1000
