"""common.measure.hwmon: why a timed run was slow (CPU-bound engine, clock or power drop, unexplained), and the
engine core's share of a core."""

from common.measure.hwmon import HardwareSampler, explain_slow_run, explain_spread
from common.runtime import hardware

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
    detail = [
        {**FAST, "output_throughput": 6600, "gpu_busy_pct": 80, "engine_cpu_pct": 100},
        FAST,
        {**FAST, "output_throughput": 7900},
    ]
    assert explain_spread(detail).startswith("run 1 slowest: CPU-bound engine")
    assert explain_spread([FAST]) is None


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
    # GPU figures come from NVML where it sees a GPU; without one they are absent, not zero
    assert (b["gpu_busy_pct"] is None and b["sm_clock_mhz"] is None) == (not hardware.has_gpu())
