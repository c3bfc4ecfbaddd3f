"""common.measure.levels: a run's level figures are computed before any text, and the text only renders them."""

from common.measure.levels import level_lines, level_metrics


def _level(kind, value, out_tps, ttft, completed=16):
    m = {"completed": completed, "output_throughput": out_tps, "median_ttft_ms": ttft, "burst_delivered_share": 0}
    return {"kind": kind, "value": value, "num_prompts": 16, "metrics": m}


def test_the_peak_and_concurrent_vs_batch_are_figures_whatever_the_text_says():
    res = {
        "levels": [_level("concurrency", 1, 100.0, 20.0), _level("concurrency", 4, 300.0, 30.0)],
        "concurrent_all_at_once": {"output_throughput": 280.0, "wall_s": 2.0},
    }
    batch = {"output_throughput": 350.0, "wall_s": 1.6, "scheduler": None}
    m = level_metrics(res, batch)
    assert m["peak_level"] == "concurrency=4" and m["peak_output_throughput"] == 300.0
    assert m["concurrent_vs_batch"]["ratio"] == 0.8 and m["levels"]["concurrency=1"]["output_throughput"] == 100.0
    lines = level_lines(m, res["concurrent_all_at_once"], batch, 32, stopped=False)
    assert "still rising at the highest level tried, concurrency=4: 300 tok/s (3.0x the first level)" in lines[0]
    assert "reach 80% of one batch - the async path costs throughput here" in lines[1]
    assert m == level_metrics(res, batch)  # rendering changed nothing


def test_no_completed_request_has_no_peak_and_says_so():
    res = {"levels": [_level("rate", 2.0, 0.0, None, completed=0)]}
    m = level_metrics(res, None)
    assert "peak_level" not in m and "concurrent_vs_batch" not in m
    lines = level_lines(m, None, None, 32, stopped=True)
    assert lines[0].startswith("Takeaway: no request completed") and lines[-1].startswith("The run did not finish")
