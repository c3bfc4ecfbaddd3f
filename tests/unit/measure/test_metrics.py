"""common.measure.metrics: percentiles named as vllm bench names them, fairness, stage timing."""

import time

import numpy as np
import pytest

from common.measure import metrics
from common.measure.metrics import ratio_of_medians_ci


def test_summarize_matches_numpy_and_vllm_names():
    vals = list(range(1, 101))
    s = metrics.summarize("ttft", vals)
    assert s["mean_ttft_ms"] == 50.5 and s["median_ttft_ms"] == 50.5
    assert s["p99_ttft_ms"] == pytest.approx(np.percentile(vals, 99))
    assert s["p90_ttft_ms"] == pytest.approx(90.1)
    assert metrics.summarize("tpot", [])["mean_tpot_ms"] is None


def test_jain_index_known_values():
    assert metrics.jain_index([5, 5, 5, 5]) == pytest.approx(1.0)
    assert metrics.jain_index([1, 0, 0, 0]) == pytest.approx(0.25)
    assert metrics.jain_index([1, 2]) == pytest.approx(9 / 10)


def test_stage_timer_separates_stages():
    t = metrics.StageTimer()
    with t("a"):
        time.sleep(0.05)
    with t("b"):
        pass
    assert t.seconds["a"] >= 0.05 and t.seconds["b"] < 0.05


def test_interval_of_identical_samples_is_a_point():
    assert ratio_of_medians_ci([2, 2, 2], [1, 1, 1]) == (2.0, 2.0)


def test_interval_spans_what_three_runs_can_give():
    # medians of 3 resampled values from {0.9, 1.0, 1.1} reach 0.9 and 1.1 with probability 7/27 each
    lo, hi = ratio_of_medians_ci([0.9, 1.0, 1.1], [1.0, 1.0, 1.0])
    assert (lo, hi) == (pytest.approx(0.9), pytest.approx(1.1))
    lo, hi = ratio_of_medians_ci([0.9, 1.0, 1.1], [1.0, 1.0, 1.0], level=0.2)  # the middle 20 %: the median only
    assert lo == hi == pytest.approx(1.0)


def test_interval_is_reproducible_and_narrows_with_more_runs():
    a3, b3 = [95, 100, 105], [100, 102, 98]
    assert ratio_of_medians_ci(a3, b3) == ratio_of_medians_ci(a3, b3)
    w3 = ratio_of_medians_ci(a3, b3)
    w9 = ratio_of_medians_ci(a3 * 3, b3 * 3)
    assert w9[1] - w9[0] <= w3[1] - w3[0]
