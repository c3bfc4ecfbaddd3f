"""common.measure.noise: the spread note names the layouts whose timed runs disagree, and why."""

from common.measure.noise import spread_note
from tests.unit.measure.test_hwmon import FAST


def test_noise_line_carries_the_cause():
    m = {
        "layout": "1 GPU",
        "offline_runs": 2,
        "output_throughput_spread_pct": 19.0,
        "output_throughput_runs": [6600, 8000],
        "offline_runs_detail": [{**FAST, "output_throughput": 6600, "sm_clock_mhz": 1400}, FAST],
    }
    note = spread_note([m])
    assert "1 GPU's 2 timed runs differ by 19%" in note and "run 1 slowest: SM clock drop (1400 vs 1980 MHz" in note


def test_spread_note_names_only_layouts_whose_runs_disagree():
    steady = {
        "layout": "1 GPU",
        "offline_runs": 3,
        "output_throughput_runs": [100.0, 104.0, 102.0],
        "output_throughput_spread_pct": 4 / 102 * 100,
    }
    noisy = {
        "layout": "DP2",
        "offline_runs": 3,
        "output_throughput_runs": [150.0, 300.0, 200.0],
        "output_throughput_spread_pct": 150 / 200 * 100,
    }
    assert spread_note([steady]) is None
    note = spread_note([steady, noisy])
    assert note.startswith("Noise: DP2's 3 timed runs differ by 75% (150-300 out tok/s)") and "1 GPU" not in note
    assert spread_note([{"layout": "old file"}]) is None  # written before repeated runs
