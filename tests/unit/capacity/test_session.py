"""common.capacity.session: a search's derived figures are computed from its fields (not from the text about them),
and common.capacity.display renders them."""

import copy
import json

import pytest

from common.capacity import display, session
from tests.conftest import ROOT

SAMPLE = ROOT / "docs/sample_results/h100x1/traces/2026-12-05/concurrent_requests_qwen2.5-7b_tp1_20261205-182816.json"


def test_the_days_fleet_is_derived_again_as_the_measured_run_stored_it():
    cap = json.loads(SAMPLE.read_text())["metrics"]["capacity"]
    stored = cap.pop("fleet_at_recorded_rate")
    again = session.summarized(copy.deepcopy(cap), gpus=1)["fleet_at_recorded_rate"]
    assert again["static_replicas"] == stored["static_replicas"] == 11
    assert again["replicas_autoscaled"] == stored["replicas_autoscaled"]
    assert again["autoscaled_gpu_hours_per_day"] == pytest.approx(stored["autoscaled_gpu_hours_per_day"])
    lines = display.search_lines({**cap, "fleet_at_recorded_rate": again}, 99.0, "this trace's traffic")
    assert any("needs 11 such replica(s) at its peak" in line for line in lines)
    assert lines[0] == f"Takeaway: {cap['verdict']}."


def test_a_failed_search_has_no_fleet_and_its_lines_say_it_stopped():
    cap = json.loads(SAMPLE.read_text())["metrics"]["capacity"]
    cap.pop("fleet_at_recorded_rate")
    cap["failed"] = "the server went away"
    assert "fleet_at_recorded_rate" not in session.summarized(cap, gpus=1)
    lines = display.search_lines(cap, 99.0, "this trace's traffic")
    assert lines[0].startswith("Takeaway: the search stopped early (the server went away);")
    assert not any("such replica(s)" in line for line in lines)
    assert (
        session.search_failure({"capacity": {"slo": cap["slo"]}, "base_url": None}, {"capacity": cap}).message
        == cap["failed"]
    )
