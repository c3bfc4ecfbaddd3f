"""common.runtime.gpu_memory: memory per rank (the CPU path: each process's RSS)."""

import pytest

from common.runtime import gpu_memory, hardware


@pytest.mark.skipif(hardware.has_gpu(), reason="CPU path of the tracker")
def test_memory_tracker_sees_a_grandchild_allocation():
    from common.runtime.gpu_memory import MemoryTracker
    from tests.unit.runtime.iso_targets import allocate

    with MemoryTracker(interval_s=0.05) as mem:
        allocate({"mib": 300, "seconds": 1.0})
    s = mem.summary()
    assert s["backend"] == "psutil-rss"
    others = [d for d in s["devices"] if d["label"] != "main"]
    assert others and max(d["peak_used_mib"] for d in others) > 250
    assert len(s["timeline"]) > 5


def test_balance():
    assert gpu_memory.balance([100, 110]) == pytest.approx(0.10)
    assert gpu_memory.balance([100]) is None
