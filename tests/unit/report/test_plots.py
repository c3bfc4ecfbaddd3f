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
