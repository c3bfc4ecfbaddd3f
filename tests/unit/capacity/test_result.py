"""common.capacity.result: a capacity's range, from the search's bracket and the spread of several runs."""

import copy
import json

from common.capacity.result import CapacityRange, CapacityResult
from tests.conftest import ROOT

CODE100 = ROOT / "docs/sample_results/h100x1/traces/2026-12-05/concurrent_requests_qwen2.5-7b_tp1_20261205-182816.json"


def _code_search() -> dict:
    return json.loads(CODE100.read_text())["metrics"]["capacity"]


def test_one_search_ranges_from_the_speed_it_passed_to_the_one_that_failed_above_it():
    """The H100 code trace: passed at 0.0933x, failed at 0.107x; one run, its validation not run."""
    r = CapacityRange.of(CapacityResult.from_json(_code_search()))
    assert (round(r.point, 4), round(r.low, 4), round(r.high, 3), r.runs, r.unit) == (0.0933, 0.0933, 0.107, 1, "x")
    assert not r.validation_missed and r.at("low") == r.low and r.at("point") == r.point
    assert r.text() == "0.0933x (range 0.0933-0.107x: the search's bracket)"


def test_a_second_run_that_passed_lower_widens_the_range_and_the_newest_stays_the_point():
    """The same search read as if an older run had stopped at 0.08x (its bracket 0.08-0.107x): the range pools both
    runs' ends, the point is the newest run's own."""
    older = copy.deepcopy(_code_search())
    rate = {round(p["trace_speedup"], 2): p["offered_rate"] for p in older["probes"]}
    older.update(request_rate=rate[0.08], trace_speedup=0.07996833545674258, bracket=[rate[0.08], rate[0.11]])
    newest, old = CapacityResult.from_json(_code_search()), CapacityResult.from_json(older)
    r = CapacityRange.of(newest, [old, newest])
    assert (round(r.point, 4), round(r.low, 4), round(r.high, 3), r.runs) == (0.0933, 0.08, 0.107, 2)
    assert "the search's bracket and the spread of 2 runs" in r.text()


def test_a_validation_that_missed_at_the_speed_found_is_marked():
    conv = ROOT / "docs/sample_results/h200x1/traces/2026-12-05/concurrent_requests_qwen2.5-7b_tp1_20261205-071034.json"
    r = CapacityRange.of(CapacityResult.from_json(json.loads(conv.read_text())["metrics"]["capacity"]))
    assert r.validation_missed and r.text().endswith("its validation replay missed the SLO in a window at this speed")
