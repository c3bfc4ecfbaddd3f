"""Trace window judging without an engine: a hand-made stretch's load profile (per-window counts, tokens and work, the
heaviest window by work, the judged span widening to its heavier neighbour, trace time through origin_s), the day's
fleet counted by hand, the validation replay's verdict per window on fake records, the probe that replays the
heaviest window after its warm-up (and judge=start, the old way), and implausible traces or flags refused with one
line and exit 2 before any engine starts."""

import json

import numpy as np
import pytest

from common.capacity.drivers import validation_span
from common.capacity.search import window_verdicts
from common.traffic.load_profile import DECODE_COST, LoadProfile, clock, fleet_plan
from common.traffic.loadgen import RequestRecord
from common.traffic.traces import Trace
from common.traffic.workloads import TraceWorkload
from tests.conftest import simulate

# The stretch, in its own time (s from its first request), three windows of 10 s:
#   W0 [0, 10):  5 requests at 0, 2, 4, 6, 8        60 prompt / 10 output tokens each -> (300 + 4 x 50) / 10 = 50 /s
#   W1 [10, 20): 2 requests at 12, 17              1000 prompt / 100 output each     -> (2000 + 4 x 200) / 10 = 280 /s
#   W2 [20, 30): 8 requests at 20..26 and 29         50 prompt / 5 output each       -> (400 + 4 x 40) / 10 = 56 /s
# W1 is the heaviest by work and the quietest by count; W2 the busiest by count. Every window lasts 10 s: the last
# one runs past the stretch's end (29 s), its rates over the whole window (never inflated by a short tail).
STRETCH_T = [0, 2, 4, 6, 8, 12, 17, 20, 21, 22, 23, 24, 25, 26, 29]
STRETCH_IN = [60] * 5 + [1000] * 2 + [50] * 8
STRETCH_OUT = [10] * 5 + [100] * 2 + [5] * 8
ORIGIN = 600.0  # the stretch starts 10 minutes into the whole trace


def _trace(t, ins, outs) -> Trace:
    return Trace("timed_trace", "x", "0" * 64, np.asarray(t, dtype=float), np.asarray(ins), np.asarray(outs))


def _whole() -> Trace:
    """The whole trace: three early requests, then the stretch from 600 s."""
    return _trace([0, 40, 80] + [ORIGIN + x for x in STRETCH_T], [10] * 3 + STRETCH_IN, [10] * 3 + STRETCH_OUT)


def _stretch() -> Trace:
    return _whole().stretch(ORIGIN)


def test_a_profile_counts_each_window_and_its_work():
    tr = _stretch()
    assert tr.origin_s == ORIGIN and tr.t[0] == 0 and len(tr) == 15
    p = LoadProfile.of(tr, 10.0)
    assert DECODE_COST == 4.0
    assert [w.requests for w in p.windows] == [5, 2, 8]
    assert [w.prompt_tokens for w in p.windows] == [300, 2000, 400]
    assert [w.output_tokens for w in p.windows] == [50, 200, 40]
    assert [w.start_s for w in p.windows] == [0, 10, 20]
    assert p.windows[2].end_s == 30.0
    assert [w.work for w in p.windows] == pytest.approx([50.0, 280.0, 56.0], rel=1e-6)
    # work ranks, not the count: W1 (2 requests) before W2 (8)
    assert p.heaviest == 1 and p.ranked() == [1, 2, 0]
    assert max(range(3), key=lambda i: p.windows[i].requests) == 2


def test_the_judged_span_widens_to_the_heavier_neighbour():
    p = LoadProfile.of(_stretch(), 10.0)
    assert p.span(2, 10) == (10, 20)  # W1 alone holds 2 requests and lasts 10 s
    a, b = p.span(5, 10)  # 2 < 5: W2 (56 /s) is heavier than W0 (50 /s)
    assert a == 10 and b == 30.0
    a, b = p.span(1, 15)  # long enough only with a neighbour: again W2
    assert a == 10 and b == 30.0
    assert p.span(11, 10)[0] == 0  # W1 + W2 hold 10: W0 too, the whole stretch
    assert p.span(50, 10)[0] == 0 and p.span(50, 10)[1] == 30.0  # never past the stretch
    # the heavier neighbour on the other side: W0 made heavier than W2
    heavy0 = LoadProfile.of(_trace(STRETCH_T, [200] * 5 + STRETCH_IN[5:], STRETCH_OUT), 10.0)
    assert heavy0.windows[0].work == pytest.approx(120.0) and heavy0.span(5, 10) == (0, 20)


def test_requests_left_out_do_not_count_in_the_profile():
    """max_model_len 1000 drops W1's 1100-token requests: the workload's profile no longer sees them, W2 is heaviest."""
    w = TraceWorkload(_stretch(), vocab_size=5000, max_model_len=1000, window_s=10.0)
    assert w.dropped == 2 and [x.requests for x in w.profile.windows] == [5, 0, 8]
    assert w.profile.windows[1].work == 0 and w.profile.heaviest == 2


def test_the_profile_json_is_in_trace_time():
    j = LoadProfile.of(_stretch(), 10.0).to_json(top=2)
    assert j["origin_s"] == ORIGIN and j["window_s"] == 10.0
    assert [w["start_s"] for w in j["windows"]] == [600.0, 610.0, 620.0]
    assert [w["end_s"] for w in j["windows"]] == [610.0, 620.0, 630.0]
    assert [w["work_per_s"] for w in j["windows"]] == [50.0, 280.0, 56.0]
    assert [w["start_s"] for w in j["heaviest"]] == [610.0, 620.0]  # top 2, by work
    assert j["heaviest"][0] == {
        "start_s": 610.0,
        "end_s": 620.0,
        "requests": 2,
        "prompt_tokens": 2000,
        "output_tokens": 200,
        "work_per_s": 280.0,
    }
    assert j["cost_model"]["decode_cost"] == 4.0 and j["cost_model"]["engine_s_per_unit"] is None


@pytest.mark.parametrize(
    "s,text",
    [
        (0, "00:00"),
        (600, "00:10"),
        (610.0, "00:10:10"),
        (3725, "01:02:05"),
        (3600, "01:00"),
        (629.0, "00:10:29"),
        (86399.7, "24:00"),
    ],
)
def test_clock_is_trace_time(s, text):
    assert clock(s) == text


# --------------------------------------------------------------------------- the day's fleet
def _windows(works, length=60.0):
    return [{"start_s": i * length, "end_s": (i + 1) * length, "work_per_s": w} for i, w in enumerate(works)]


WORKS = [100, 300, 250, 50, 50, 400]


def test_the_fleet_plan_counted_by_hand():
    f = fleet_plan(_windows(WORKS), capacity_work=100, growth=1, min_replicas=1, gpus_per_replica=2, usd_per_gpu_hour=3)
    assert f["replicas_needed"] == [1, 3, 3, 1, 1, 4]  # ceil(work / 100); 300 is exactly 3, not 4
    assert f["replicas_autoscaled"] == [3, 3, 3, 1, 4, 4]  # max(min, need_i, need_i+1): up a window early
    assert f["static_replicas"] == 4 and f["static_gpus"] == 8
    assert f["stretch_s"] == 360
    assert f["static_gpu_hours"] == pytest.approx(4 * 2 * 360 / 3600)
    assert f["autoscaled_gpu_hours"] == pytest.approx(18 * 2 * 60 / 3600)
    day = 86400 / 360
    assert f["static_gpu_hours_per_day"] == pytest.approx(4 * 2 * 360 / 3600 * day) == pytest.approx(192.0)
    assert f["autoscaled_gpu_hours_per_day"] == pytest.approx(18 * 2 * 60 / 3600 * day) == pytest.approx(144.0)
    assert f["static_usd_per_day"] == pytest.approx(192.0 * 3) and f["autoscaled_usd_per_day"] == pytest.approx(
        144.0 * 3
    )
    assert f["window_starts_s"] == [0, 60, 120, 180, 240, 300]


def test_growth_multiplies_the_work_before_the_ceiling_and_min_replicas_is_a_floor():
    f = fleet_plan(_windows(WORKS), capacity_work=100, growth=2, min_replicas=1, gpus_per_replica=2)
    assert f["replicas_needed"] == [2, 6, 5, 1, 1, 8]
    assert f["replicas_autoscaled"] == [6, 6, 5, 1, 8, 8]
    assert f["static_replicas"] == 8 and f["static_gpus"] == 16
    assert f["peak_load"] == pytest.approx(2 * max(WORKS) / (100 * 8))  # the busiest window on the static fleet
    assert f["static_gpu_hours_per_day"] == pytest.approx(8 * 2 * 24)
    assert f["autoscaled_gpu_hours_per_day"] == pytest.approx(34 * 2 * 60 / 3600 * 240)
    assert "static_usd_per_day" not in f and "autoscaled_usd_per_day" not in f  # no price: no $
    g = fleet_plan(_windows(WORKS), capacity_work=100, growth=1, min_replicas=2, gpus_per_replica=1)
    assert g["replicas_autoscaled"] == [3, 3, 3, 2, 4, 4] and g["static_replicas"] == 4
    assert g["autoscaled_gpu_hours_per_day"] == pytest.approx(19 * 60 / 3600 * 240)
    quiet = fleet_plan(_windows([10, 10]), capacity_work=100, min_replicas=3)
    assert (
        quiet["replicas_needed"] == [1, 1] and quiet["static_replicas"] == 3 and quiet["replicas_autoscaled"] == [3, 3]
    )


# --------------------------------------------------------------------------- the validation replay's verdict
def _rec(i, trace_s, ttft_ms, tpot_ms, output_len=11, finished=True):
    start = 100.0 + trace_s
    first = start + ttft_ms / 1000
    return RequestRecord(
        f"r{i}",
        "default",
        10,
        output_len,
        scheduled_s=start,
        start_s=start,
        first_token_s=first,
        end_s=first + tpot_ms / 1000 * (output_len - 1) if finished else None,
        output_len=output_len if finished else 3,
    )


def _replay():
    """Window [0, 10): 4 finished; [10, 20): 2 finished and one still running; [20, 30): TPOT too slow;
    [30, 40): none."""
    recs, trace_t = [], []
    for x, ttft, tpot in [
        (1, 100, 10),
        (3, 200, 20),
        (5, 300, 30),
        (7, 400, 40),
        (11, 50, 5),
        (12, 60, 6),
        (25, 10, 70),
        (26, 20, 80),
    ]:
        recs.append(_rec(len(recs), x, ttft, tpot))
        trace_t.append(x)
    recs.append(_rec(len(recs), 13, 70, 0, finished=False))
    trace_t.append(13)
    return recs, trace_t


def test_window_verdicts_take_each_windows_percentile_and_count_unfinished_as_infinite():
    recs, trace_t = _replay()
    v = window_verdicts(recs, trace_t, [0, 10, 20, 30, 40], {"ttft": 500, "tpot": 50}, 99.0, min_requests=1)
    assert [w["start_s"] for w in v["windows"]] == [0, 10, 20]  # the empty window is left out
    assert [w["requests"] for w in v["windows"]] == [4, 3, 2]
    w0, w1, w2 = v["windows"]
    # numpy's linear p99 over [100, 200, 300, 400]: rank 2.97 -> 300 + 0.97 x 100
    assert w0["p99_ttft_ms"] == pytest.approx(397.0) == pytest.approx(np.percentile([100, 200, 300, 400], 99))
    assert w0["p99_tpot_ms"] == pytest.approx(39.7) and w0["pass"] is True and w0["end_s"] == 10
    # [50, 60, inf]: rank 1.98 reaches the unfinished one: unbounded, shown as None, a miss
    assert w1["p99_ttft_ms"] is None and w1["p99_tpot_ms"] is None and w1["pass"] is False
    assert w2["p99_ttft_ms"] == pytest.approx(19.9) and w2["p99_tpot_ms"] == pytest.approx(79.9)
    assert w2["pass"] is False  # TPOT 79.9 > 50
    assert v["pass"] is False and v["missed"] == [10, 20]
    # at p50 the unfinished one is not reached: [50, 60, inf] -> 60; only the slow TPOT window misses
    v50 = window_verdicts(recs, trace_t, [0, 10, 20, 30, 40], {"ttft": 500, "tpot": 50}, 50.0, min_requests=1)
    assert v50["windows"][1]["p50_ttft_ms"] == pytest.approx(60.0) and v50["windows"][1]["pass"] is True
    assert v50["windows"][0]["p50_ttft_ms"] == pytest.approx(250.0) and v50["missed"] == [20]
    # a TTFT-only SLO does not judge TPOT (it is still reported)
    vt = window_verdicts(recs, trace_t, [0, 10, 20, 30, 40], {"ttft": 500}, 99.0, min_requests=1)
    assert vt["missed"] == [10] and vt["windows"][2]["p99_tpot_ms"] == pytest.approx(79.9)


def test_a_window_too_thin_for_its_percentile_is_shown_not_judged():
    """By default p99 needs 101 requests in a window (fewer: its p99 is its largest values); p50 needs 3."""
    recs, trace_t = _replay()
    v = window_verdicts(recs, trace_t, [0, 10, 20, 30, 40], {"ttft": 500, "tpot": 50}, 99.0)
    assert [w["thin"] for w in v["windows"]] == [True, True, True] and v["missed"] == [] and v["pass"] is False
    v50 = window_verdicts(recs, trace_t, [0, 10, 20, 30, 40], {"ttft": 500, "tpot": 50}, 50.0)
    assert [w["thin"] for w in v50["windows"]] == [False, False, True]  # 4, 3 and 2 requests
    assert v50["missed"] == [] and v50["pass"] is True  # the slow-TPOT window has 2: not judged


def test_window_verdicts_pass_when_every_window_holds():
    recs, trace_t = _replay()
    keep = [i for i, x in enumerate(trace_t) if x < 10]
    v = window_verdicts(
        [recs[i] for i in keep], [trace_t[i] for i in keep], [0, 10, 20], {"ttft": 500, "tpot": 50}, 99, min_requests=1
    )
    assert v["pass"] is True and v["missed"] == [] and len(v["windows"]) == 1
    assert window_verdicts([], [], [0, 10], {"ttft": 500}, 99, min_requests=1) == {
        "windows": [],
        "pass": False,
        "missed": [],
    }


# --------------------------------------------------------------------------- a probe on the heaviest window
def test_a_probe_replays_the_heaviest_window_after_its_warm_up():
    tr = _stretch()
    w = TraceWorkload(tr, vocab_size=5000, judge="heaviest", window_s=10)
    assert tr.mean_rate == pytest.approx(14 / 29)
    rate = 2 * tr.mean_rate  # speed 2
    # 4 s of warm-up at 2x = 8 s of trace before W1: from 2 s. Replayed: 2, 4, 6, 8 | 12, 17 (s of stretch),
    # at 2x from the first: 0, 1, 2, 3 | 5, 7.5; judged from 10 / 2 - 1 = 4 to 20 / 2 - 1 = 9.
    load = w.probe_specs(rate, seed=3, window=(4.0, 6.0), min_requests=2, limit_s=60.0)
    assert load.window == pytest.approx((4.0, 9.0))
    assert [s.arrival_s for s in load.specs] == pytest.approx([0, 1, 2, 3, 5, 7.5])
    judged = [s for s in load.specs if load.window[0] <= s.arrival_s < load.window[1]]
    assert [(len(s.prompt_token_ids), s.output_len) for s in judged] == [(1000, 100), (1000, 100)]  # W1's two
    warm = [s for s in load.specs if s.arrival_s < load.window[0]]
    assert [(len(s.prompt_token_ids), s.output_len) for s in warm] == [(60, 10)] * 4  # W0's from 2 s on
    assert load.note["trace_speedup"] == pytest.approx(rate / tr.mean_rate) == pytest.approx(2.0)
    assert load.note["trace_window"] == {
        "start_s": 610.0,
        "end_s": 620.0,
        "warmup_from_s": 602.0,
        "replayed_s": [2.0, 20.0],
        "judged_s": [10.0, 20.0],
    }
    # more requests than W1 holds: widened to W2, the heavier neighbour; judged: all 10 of W1 and W2
    big = w.probe_specs(rate, seed=3, window=(4.0, 6.0), min_requests=5, limit_s=60.0)
    assert big.window == pytest.approx((4.0, 30.0 / 2 - 1), abs=1e-5)
    judged = [s for s in big.specs if big.window[0] <= s.arrival_s < big.window[1]]
    assert len(judged) == 10 and len(big.specs) == 14
    assert big.note["trace_window"]["start_s"] == 610.0 and big.note["trace_window"]["end_s"] == 630.0
    assert big.note["window_rate"] == pytest.approx(10 / 10.0)  # 10 requests judged over 10 s of wall time
    # a warm-up longer than the trace before the window starts at the stretch's start
    far = w.probe_specs(rate, seed=3, window=(30.0, 32.0), min_requests=2, limit_s=60.0)
    assert far.note["trace_window"]["warmup_from_s"] == 600.0 and far.window == pytest.approx((5.0, 10.0))
    assert len(far.specs) == 7


def test_judged_from_the_start_a_probe_keeps_the_old_window():
    tr = _stretch()
    w = TraceWorkload(tr, vocab_size=5000, judge="start", window_s=10)
    rate = 2 * tr.mean_rate
    # at 2x the stretch arrives at 0, 1, 2, 3, 4 | 6, 8.5 | 10, 10.5, ...: from 4 s, the 3rd arrival is 8.5 s
    load = w.probe_specs(rate, seed=3, window=(4.0, 6.0), min_requests=3, limit_s=60.0)
    assert load.window == pytest.approx((4.0, 8.5 + 1e-6))
    assert [s.arrival_s for s in load.specs] == pytest.approx([0, 1, 2, 3, 4, 6, 8.5])
    assert sum(load.window[0] <= s.arrival_s < load.window[1] for s in load.specs) == 3
    assert load.note == {"trace_speedup": pytest.approx(2.0), "window_rate": pytest.approx(3 / (4.5 + 1e-6))}
    assert "trace_window" not in load.note
    assert w.probe_specs(rate, seed=3, window=(4.0, 6.0), min_requests=1, limit_s=60.0).window == (4.0, 6.0)


def test_a_validation_span_holds_the_binding_window_inside_the_stretch():
    tr = _trace(np.arange(0, 601, 2.0), [50] * 301, [8] * 301).stretch(0)
    w = TraceWorkload(tr, vocab_size=5000, window_s=30)
    assert validation_span(w, {"start_s": 300, "end_s": 330}, 120) == (
        240.0,
        360.0,
    )  # whole windows
    # clamped to the stretch's end, which it then includes (the last request arrives at 600 s)
    assert validation_span(w, {"start_s": 540, "end_s": 570}, 120) == (480.0, float("inf"))
    assert len(w.validation_specs(4.0, 0, (480.0, float("inf")))[0]) == 61
    assert validation_span(w, {"start_s": 0, "end_s": 30}, 120) == (0.0, 120.0)
    assert validation_span(w, None, None) is None and validation_span(w, None, 600) is None  # the whole stretch
    specs, trace_t = w.validation_specs(4.0, 0, (255.0, 375.0))
    assert len(specs) == 60 and trace_t[0] == pytest.approx(256) and trace_t[-1] == pytest.approx(374)
    assert specs[0].arrival_s == 0 and specs[-1].arrival_s == pytest.approx((374 - 256) / 4)


# --------------------------------------------------------------------------- bad input: one line, exit 2
def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _rows(n, gap_ms, input_length=50):
    return [
        {
            "timestamp": gap_ms * i,
            "input_length": input_length(i) if callable(input_length) else input_length,
            "output_length": 8,
        }
        for i in range(n)
    ]


VALID = _rows(30, 100)


@pytest.mark.parametrize(
    "name,rows,flags,msg",
    [
        (
            "same",
            [{"timestamp": 5000, "input_length": 50, "output_length": 8}] * 10,
            [],
            "all 10 requests have the same timestamp",
        ),
        ("fast", _rows(300, 0.5), [], "300 requests in 0.149 s is 2,000 req/s; timestamps must be milliseconds"),
        ("slow", _rows(30, 1_200_000), [], "one every 20 min on average; timestamps must be milliseconds"),
        (
            "long",
            _rows(30, 100, lambda i: 20_000_000 if i == 3 else 50),
            [],
            "request 4 has input length 20,000,000: lengths must be token counts",
        ),
        ("judge", VALID, ["--trace-judge", "middle"], "--trace-judge middle: choose heaviest or start"),
        ("window", VALID, ["--trace-window", "0"], "--trace-window must be > 0 s of trace time, got 0"),
        ("validate", VALID, ["--validate"], "--validate checks a capacity on a trace: add --find-capacity"),
        ("span", VALID, ["--validate-span", "60"], "--validate checks a capacity on a trace: add --find-capacity"),
    ],
    ids=["same", "fast", "slow", "long", "judge", "window", "validate", "span"],
)
def test_implausible_traces_and_bad_trace_flags_are_one_line_and_exit_2(tmp_path, name, rows, flags, msg):
    path = _jsonl(tmp_path / f"{name}.jsonl", rows)
    proc = simulate(
        "--dataset-path",
        str(path),
        *flags,
        out=tmp_path / "out",
        timeout=60,
    )
    err = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(err) == 1 and msg in err[0], proc.stderr[-2000:]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.json"))  # nothing ran


def test_a_plausible_trace_passes_the_same_checks(tmp_path):
    """The checks above do not refuse everything: the valid file (30 requests 0.1 s apart, 10 req/s) loads."""
    from types import SimpleNamespace

    from common.traffic.traces import check_trace_args, load_trace

    path = _jsonl(tmp_path / "ok.jsonl", VALID)
    check_trace_args(
        SimpleNamespace(
            dataset_name=None,
            dataset_path=str(path),
            trace_judge="start",
            trace_window_s=60.0,
            trace_start_s=0.0,
            trace_duration_s=None,
        )
    )
    tr = load_trace(path)
    assert len(tr) == 30 and tr.span_s == pytest.approx(2.9) and tr.mean_rate == pytest.approx(10.0)


def test_a_fleet_in_steps_serves_each_steps_heaviest_window():
    """30 s windows in 60 s steps (the report's autoscaler step): a step needs what its heavier window needs."""
    works = [100, 300, 250, 50, 50, 400]
    windows = [{"start_s": 30.0 * i, "end_s": 30.0 * (i + 1), "work_per_s": w} for i, w in enumerate(works)]
    f = fleet_plan(windows, 100.0, step_s=60)
    assert f["window_starts_s"] == [0.0, 60.0, 120.0] and f["step_s"] == 60
    assert f["replicas_needed"] == [3, 3, 4] and f["replicas_autoscaled"] == [3, 4, 4] and f["static_replicas"] == 4
    assert f["static_gpu_hours"] == pytest.approx(4 * 180 / 3600)
    assert f["autoscaled_gpu_hours"] == pytest.approx((3 + 4 + 4) * 60 / 3600)
    assert f["autoscaled_gpu_hours_per_day"] == pytest.approx(f["autoscaled_gpu_hours"] * 86400 / 180)


def test_a_search_fits_the_cost_model_into_its_own_copy_not_the_cached_stretch(tmp_path):
    """search_ceiling fits the cost model to the saturation probe; the stretch workload_source read and cached for the
    process keeps its own, so a second search in the same process starts from the unfitted stretch."""
    from common.traffic.workloads import _SOURCES, RequestSpec, workload_source

    path = tmp_path / "stretch.csv"
    path.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        + "".join(f"2023-11-16 18:{10 + int(t) // 60:02d}:{int(t) % 60:02d},{i},{o}\n"
                  for t, i, o in zip(STRETCH_T, STRETCH_IN, STRETCH_OUT, strict=True))
    )  # fmt: skip
    from simulate_concurrent_requests import Config

    cfg = Config(dataset_path=str(path), dataset_name="azure", trace_window_s=10.0, vocab_size=5000)
    try:
        first, second = workload_source(cfg), workload_source(cfg)
        assert first is not second and first.trace is second.trace  # read once, a stretch of its own per search
        first.search_ceiling(2.0, [RequestSpec([1] * 100, 10) for _ in range(4)])
        assert first.profile.cost.engine_s_per_unit
        assert not second.profile.cost.engine_s_per_unit and not workload_source(cfg).profile.cost.engine_s_per_unit
    finally:
        _SOURCES.clear()
