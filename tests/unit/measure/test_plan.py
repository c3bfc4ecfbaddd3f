"""--plan's arithmetic on a fixed reference: engine starts (the first cold, later ones warm), the measuring its flags
ask for, and the pod's dollars for that long."""

import pytest

from common.measure import plan as bill

REF = bill.Reference("a made-up box", start_cold_s=100.0, start_warm_s=40.0, stream_tok_s=100.0, peak_tok_s=1000.0,
                     params=0.0)  # fmt: skip


def test_generation_is_limited_by_each_stream_then_by_the_device():
    assert bill.generate_s(REF, 10, 100, 1) == pytest.approx(10.0)  # one stream at 100 tok/s: 1,000 tokens
    assert bill.generate_s(REF, 100, 100, 4) == pytest.approx(25.0)  # 4 streams: 400 tok/s
    assert bill.generate_s(REF, 100, 100, 100) == pytest.approx(10.0)  # capped at the device's 1,000 tok/s
    assert bill.generate_s(REF, 100, 100, 100, devices=2) == pytest.approx(5.0)


def test_a_rate_level_lasts_at_least_its_arrivals_and_a_trace_its_stretch_over_the_speed():
    assert bill.level_s(REF, "rate", 2.0, 20, 10, 1) == pytest.approx(10.0 + 0.1)  # 20 arrivals over 10 s, one tail
    assert bill.level_s(REF, "speed", 4.0, 0, 0, 1, span_s=600.0) == pytest.approx(150.0)


def test_a_search_counts_the_saturation_probe_and_stops_at_the_typical_count():
    cap = {"max_probes": 12, "warmup_s": 5.0, "measure_s": 20.0}
    assert bill.search_s(cap) == pytest.approx(1.1 * (bill.TYPICAL_PROBES + 1) * 25.0)
    assert bill.search_s({**cap, "max_probes": 3}, replay_s=60.0) == pytest.approx(1.1 * 4 * 25.0 + 60.0)


def test_the_bill_is_the_whole_pod_for_the_whole_time_and_skipped_stages_cost_nothing():
    stages = [
        bill.Stage("TP=1", 1, 1, 20.0),
        bill.Stage("TP=2", 2, 2, 40.0),
        bill.Stage("TP=8", 8, 1, 500.0, skip="needs 8 devices"),
    ]
    p = bill.Plan("x.py", stages, REF, pod_devices=4, price=3.0, price_src="--gpu-hour-usd")
    assert p.start_s() == pytest.approx(100.0 + 2 * 40.0)
    assert p.seconds() == pytest.approx(180.0 + 60.0)
    assert p.dollars() == pytest.approx(240.0 / 3600 * 4 * 3.0)
    assert bill.Plan("x.py", stages, REF, 4, None, None).dollars() is None
