"""common.report.answer: every report opens with its answer (at most three lines: the layout, the devices at the busy
hour, device-hours and dollars a day), then what was not measured with the flag that measures it; on fixture files
with known numbers and on a committed sample. (The day's answer on the real H100 and H200 trace runs:
tests/unit/report/test_report.py.)"""

import shutil

from tests.conftest import ROOT, run_script
from tests.unit.report.test_report import _layout, _report, _write


def _answer(report: str) -> list[str]:
    """The lines between the title and the first blank line after the answer."""
    lines = report.splitlines()
    assert lines[0].startswith("# ") and lines[1] == "" and lines[2].startswith("**Answer: "), lines[:4]
    return lines[2 : lines.index("", 2)]


def _sample_report(folder: str, tmp_path, *flags: str, pattern: str = "*.json"):
    """(the run, report.md) of `--from-results` over a copy of a committed sample folder's result files."""
    for p in (ROOT / "docs/sample_results" / folder).glob(pattern):
        shutil.copy(p, tmp_path / p.name)
    proc = run_script("run_distributed_benchmark.py", "--from-results", str(tmp_path), *flags, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc, (tmp_path / "report.md").read_text()


def _gaps(report: str) -> list[str]:
    part = report.split("Not measured here, and what measures it:\n\n")[1].split("\n\n")[0]
    return part.splitlines()


def test_the_answer_is_the_cheapest_fleet_for_the_target_rate_with_its_device_hours_and_dollars(tmp_path):
    _write(tmp_path, [_layout("1 GPU", 1, 1, 1, 1000.0, cap=10.0), _layout("TP2", 2, 2, 1, 2100.0, cap=14.0)])
    report = _report(tmp_path, "--target-rate", "50")
    answer = _answer(report)
    # ceil(50 / 10) = 5 replicas of one rank: 5 x 24 = 120 rank-hours a day, x $3.00
    assert len(answer) <= 3 and answer[0] == (
        "**Answer: 5 CPU ranks at the busy hour, 5 replicas of 1 GPU, static: 120 CPU rank-hours and $360 a day at "
        "$3.00 per CPU rank-hour.**"
    )
    assert "For 50 req/s (--target-rate) within p99 TTFT <= 500 ms, p99 TPOT <= 50 ms" in answer[1]
    gaps = _gaps(report)
    assert any(g.startswith("- your own traffic") and "--dataset-path" in g for g in gaps)
    assert not any("--target-rate" in g or "--gpu-hour-usd" in g for g in gaps)


def test_a_capacity_whose_validation_missed_is_never_the_answer_as_it_stands(tmp_path):
    """The answer and the fleet table take the next size up, and say why."""
    one = _layout("1 GPU", 1, 1, 1, 1000.0, cap=10.0)
    one["capacity"]["validation"] = {"pass": False, "verdict": "missed the SLO in 1 of 4 windows"}
    _write(tmp_path, [one])
    report = _report(tmp_path, "--target-rate", "50")
    answer = _answer(report)
    assert answer[0].startswith("**Answer: 6 CPU ranks at the busy hour, 6 replicas of 1 GPU")
    assert "plus one replica: its validation replay missed the SLO in a window, so the next size up" in answer[1]
    assert "| 1 GPU | 10 | 6 (+1: validation missed) | 6 |" in report


def test_without_a_target_the_answer_is_capacity_per_device_and_the_gaps_name_their_flags(tmp_path):
    """The CPU quick start's committed suite: two layouts skipped on a 2-core box are named with their reason, and
    the busy hour's rate and a trace are asked for."""
    proc, report = _sample_report("cpu_tiny/suite", tmp_path, pattern="suite_*.json")
    answer = _answer(report)
    assert answer[0].startswith(
        "**Answer: per CPU rank, replicas of 1 CPU rank serve the most requests within p99 TTFT <= 500 ms, p99 TPOT "
        "<= 50 ms"
    )
    assert "busy hour needs is not worked out here" in answer[1]
    gaps = _gaps(report)
    assert gaps[0].startswith("- DP4, TP4: skipped (needs 4 devices, this machine has 2 CPU cores")
    assert any("--target-rate R" in g for g in gaps) and any("--gpu-hour-usd P" in g for g in gaps)
    assert proc.stdout.startswith(answer[0])  # the terminal opens with it too


def test_offline_only_the_answer_names_the_layouts_tied_with_the_best_and_asks_for_an_slo(tmp_path):
    """The 4-H200 folder (no --slo): one-GPU replicas read the most per GPU, DP4 within the noise of them."""
    _, report = _sample_report("h200x4", tmp_path)
    answer = _answer(report)
    assert answer[0] == (
        "**Answer: per GPU, replicas of 1 GPU give the most offline throughput: 7,903 out tok/s per GPU (DP4 7,810: a "
        "tie within the noise); add replicas for volume.**"
    )
    assert "Would fewer GPUs do?** They cost the same" in report  # the recommendation calls the same pair a tie
    assert any("--slo ttft:MS,tpot:MS with --target-rate R" in g for g in _gaps(report))


def test_a_day_plan_on_an_unvalidated_capacity_says_so_and_names_the_flag(tmp_path):
    _, report = _sample_report("h100x1/traces/2026-12-05", tmp_path, "--growth", "2")
    assert "not validated (no replay of the whole stretch at that speed)" in _answer(report)[1]
    gaps = _gaps(report)
    assert any("--validate" in g for g in gaps) and any("--day-profile FILE" in g for g in gaps)
    assert any("--replica-extra-start-s S" in g for g in gaps)
