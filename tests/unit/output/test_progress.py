"""common.output.progress: the line each configuration of a run starts with, its bar, the time elapsed and (once one
has finished) an estimate of the time left."""

from common.output.progress import Stages


def test_each_configuration_starts_with_its_place_the_bar_and_after_the_first_the_time_left(monkeypatch):
    clock = iter([100.0, 100.0, 160.0, 280.0])  # started; the first begins at once, the second 60 s in, the third 180
    monkeypatch.setattr("common.output.progress.time.perf_counter", lambda: next(clock))
    stages = Stages(3)
    first, second, third = (stages.line(w) for w in ("1 GPU ...", "TP2 ...", "DP2 ..."))
    assert first.startswith("\n=== [1/3] 1 GPU ...") and "0/3 done" in first and "00:00 elapsed" in first
    assert "left" not in first  # nothing finished yet: no estimate
    # one finished in 60 s: two left, about 60 s each
    assert "[2/3] TP2 ..." in second and "1/3 done" in second and "01:00 elapsed, about 02:00 left" in second
    assert "[3/3] DP2 ..." in third and "2/3 done" in third and "03:00 elapsed, about 01:30 left" in third
