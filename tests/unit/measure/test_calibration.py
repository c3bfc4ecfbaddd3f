"""common.measure.calibration: the verdict of ours against vllm bench."""

from common.measure.calibration import calibration_verdict


def test_calibration_verdict():
    assert "indistinguishable from vllm bench" in calibration_verdict(0.99, 0.95, 1.02, 3, 3)
    v = calibration_verdict(0.93, 0.90, 0.96, 3, 3)
    assert "below vllm bench, by at least 4.0 %" in v and "[0.900, 0.960]" in v
    assert "above vllm bench, by at least 2.0 %" in calibration_verdict(1.05, 1.02, 1.08, 3, 3)


def test_one_run_a_side_gives_the_ratio_and_no_verdict():
    v = calibration_verdict(1.65, None, None, 1, 1)
    assert "= 1.650 from one run each: no interval, so no verdict" in v
    assert "above" not in v and "below" not in v and "indistinguishable" not in v


def _interleaved(monkeypatch, tmp_path, runs: int) -> tuple[dict, list[str]]:
    """compare_with_vllm_bench with both sides' runs replaced by recorders that return fixed throughputs (the real
    runs are in tests/e2e/test_scaling.py): what it ran, in which order, and what it concluded."""
    import types

    from common.measure import calibration

    calls, ours, theirs = [], iter([100.0, 120.0, 110.0]), iter([100.0, 105.0, 95.0])

    def run_isolated(child, cfg, timeout_s, label):
        tp = cfg.engine["tensor_parallel_size"]
        calls.append(f"ours seed={cfg.seed} offline_only={cfg.offline_only} tp={tp}")
        return {"status": "ok", "offline_runs": [{"output_tokens": next(ours), "wall_s": 1.0, "hw": None}]}

    def bench(cfg, engine, path):
        calls.append(f"bench {path.name}")
        return {"output_throughput": next(theirs)}

    monkeypatch.setattr(calibration, "run_isolated", run_isolated)
    monkeypatch.setattr(calibration, "vllm_bench_throughput", bench)
    cfg = types.SimpleNamespace(vllm_bench_runs=runs, timeout_s=60)
    m: dict = {}
    from benchmark_scaling import Config

    base = Config(engine={"model": "m", "tensor_parallel_size": 2}, seed=7)
    calibration.compare_with_vllm_bench(cfg, base, m, tmp_path / "scaling_x.json", "child:f")
    return m, calls


def test_ours_and_the_bench_alternate_each_run_on_its_own_seed(monkeypatch, tmp_path):
    m, calls = _interleaved(monkeypatch, tmp_path, 3)
    assert calls == [
        "ours seed=38 offline_only=True tp=1",
        "bench scaling_x_run1.json",
        "ours seed=69 offline_only=True tp=1",
        "bench scaling_x_run2.json",
        "ours seed=100 offline_only=True tp=1",
        "bench scaling_x_run3.json",
    ]
    assert [r["who"] for r in m["calibration_runs"]] == ["ours", "vllm bench"] * 3
    assert m["ours_interleaved_output_throughput_runs"] == [100.0, 120.0, 110.0]
    assert m["vllm_bench_output_throughput_runs"] == [100.0, 105.0, 95.0]
    assert m["ours_vs_vllm_bench"] == 110.0 / 100.0
    lo, hi = m["ours_vs_vllm_bench_ci"]
    assert 100.0 / 105.0 <= lo <= 1.1 <= hi <= 120.0 / 95.0
    assert "bootstrap over 3 + 3 interleaved runs" in m["calibration_verdict"]


def test_with_one_run_a_side_no_interval_is_claimed(monkeypatch, tmp_path):
    m, calls = _interleaved(monkeypatch, tmp_path, 1)
    assert len(calls) == 2 and m["ours_vs_vllm_bench_ci"] is None and m["ours_vs_vllm_bench"] == 1.0
    assert "no interval, so no verdict" in m["calibration_verdict"]
