"""Numbers a reader can trust, on known inputs: the bootstrap interval of a ratio of medians, the calibration
verdict, and why a timed run was slow (CPU-bound engine, clock or power drop, unexplained)."""
import pytest

from common.measure.calibration import calibration_verdict
from common.measure.hwmon import HardwareSampler, explain_slow_run, explain_spread
from common.measure.metrics import ratio_of_medians_ci
from common.measure.noise import spread_note


def test_interval_of_identical_samples_is_a_point():
    assert ratio_of_medians_ci([2, 2, 2], [1, 1, 1]) == (2.0, 2.0)


def test_interval_spans_what_three_runs_can_give():
    # medians of 3 resampled values from {0.9, 1.0, 1.1} reach 0.9 and 1.1 with probability 7/27 each
    lo, hi = ratio_of_medians_ci([0.9, 1.0, 1.1], [1.0, 1.0, 1.0])
    assert (lo, hi) == (pytest.approx(0.9), pytest.approx(1.1))
    lo, hi = ratio_of_medians_ci([0.9, 1.0, 1.1], [1.0, 1.0, 1.0], level=0.2)   # the middle 20 %: the median only
    assert lo == hi == pytest.approx(1.0)


def test_interval_is_reproducible_and_narrows_with_more_runs():
    a3, b3 = [95, 100, 105], [100, 102, 98]
    assert ratio_of_medians_ci(a3, b3) == ratio_of_medians_ci(a3, b3)
    w3 = ratio_of_medians_ci(a3, b3)
    w9 = ratio_of_medians_ci(a3 * 3, b3 * 3)
    assert w9[1] - w9[0] <= w3[1] - w3[0]


def test_calibration_verdict():
    assert "indistinguishable from vllm bench" in calibration_verdict(0.99, 0.95, 1.02, 3, 3)
    v = calibration_verdict(0.93, 0.90, 0.96, 3, 3)
    assert "below vllm bench, by at least 4.0 %" in v and "[0.900, 0.960]" in v
    assert "above vllm bench, by at least 2.0 %" in calibration_verdict(1.05, 1.02, 1.08, 3, 3)


FAST = {"output_throughput": 8000, "gpu_busy_pct": 98.0, "sm_clock_mhz": 1980, "power_w": 690, "engine_cpu_pct": 70}


def test_cpu_bound_engine():
    slow = {**FAST, "output_throughput": 6600, "gpu_busy_pct": 81.0, "engine_cpu_pct": 99.5}
    why = explain_slow_run(slow, FAST)
    assert why.startswith("CPU-bound engine") and "100 %" in why and "81 %" in why


def test_clock_drop_and_power_drop():
    assert explain_slow_run({**FAST, "output_throughput": 7000, "sm_clock_mhz": 1500}, FAST).startswith("SM clock drop")
    assert explain_slow_run({**FAST, "output_throughput": 7000, "power_w": 500}, FAST).startswith("power drop")
    # a 3 % lower clock is within what a busy GPU does on its own: not blamed
    assert explain_slow_run({**FAST, "sm_clock_mhz": 1925}, FAST).startswith("unexplained")


def test_unexplained_and_no_samples():
    why = explain_slow_run({**FAST, "output_throughput": 7400}, FAST)
    assert why.startswith("unexplained (GPU busy 98 %, clocks steady, engine core at 70 %)")
    assert explain_slow_run({"output_throughput": 1}, {"output_throughput": 2}) == "unexplained (no hardware samples)"
    # a busy engine core alone is not the cause when the GPU stayed as busy as in the fastest run
    assert explain_slow_run({**FAST, "engine_cpu_pct": 100}, FAST).startswith("unexplained")


def test_spread_names_the_slowest_run():
    detail = [{**FAST, "output_throughput": 6600, "gpu_busy_pct": 80, "engine_cpu_pct": 100}, FAST,
              {**FAST, "output_throughput": 7900}]
    assert explain_spread(detail).startswith("run 1 slowest: CPU-bound engine")
    assert explain_spread([FAST]) is None


def test_noise_line_carries_the_cause():
    m = {"layout": "1 GPU", "offline_runs": 2, "output_throughput_spread_pct": 19.0,
         "output_throughput_runs": [6600, 8000],
         "offline_runs_detail": [{**FAST, "output_throughput": 6600, "sm_clock_mhz": 1400}, FAST]}
    note = spread_note([m])
    assert "1 GPU's 2 timed runs differ by 19%" in note and "run 1 slowest: SM clock drop (1400 vs 1980 MHz" in note


def test_sampler_measures_the_engine_core_share_of_one_core():
    """On this process (no engine core child): a busy loop reads far above a sleep, and never above one core."""
    import time
    with HardwareSampler() as busy:
        t = time.perf_counter()
        while time.perf_counter() - t < 0.3:
            pass
    with HardwareSampler() as idle:
        time.sleep(0.3)
    b, i = busy.summary(), idle.summary()
    assert b["engine_cpu_pct"] <= 110 and i["engine_cpu_pct"] < 10 and b["engine_cpu_pct"] > 3 * i["engine_cpu_pct"]
    assert b["gpu_busy_pct"] is None and b["sm_clock_mhz"] is None   # no GPU on this box
