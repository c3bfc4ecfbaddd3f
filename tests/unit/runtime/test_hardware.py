"""common.runtime.hardware: each CPU rank its own cores."""

import pytest

from common.runtime import hardware


def test_cpu_bind_spec_gives_each_rank_its_cores():
    n = len(hardware.cpu_cores())
    if n >= 2:
        parts = hardware.cpu_bind_spec(2).split("|")
        assert len(parts) == 2 and parts[0] != parts[1]
    with pytest.raises(ValueError):
        hardware.cpu_bind_spec(n + 1)
