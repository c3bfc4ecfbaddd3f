"""Trace window judging, against the fixture server of tests.stream_server (a server of known capacity: 8 answers at
a time, 30 ms to the first token, 4 ms a token after it, about 100 req/s of these answers, whatever the box or GPU).
One stretch: 210 s quiet at ~1 req/s, then 30 dense seconds at ~10 req/s. Judged on its heaviest window, every probe
replays the dense part and the capacity found holds when the whole stretch is replayed; judged from its start, the
quiet part flatters the server and the validation replay says so, in the dense part. The report's day's fleets are
those of the run's own figures. The workload (a shared prefix, a request too long for the context) is
recorded with the search. Each search runs once (a module fixture) and is shared by the tests."""

import json

import numpy as np
import pytest

from common.traffic.day_fleet import DayProfile, day_demand, foresight_fleet, static_fleet
from common.traffic.load_profile import SCALE_STEP_S
from common.traffic.traces import load_trace
from tests.conftest import run_script
from tests.stream_server import StreamServer

DENSE_S = 210.0  # where the dense part starts (trace time)
END_S = 240.0
WINDOW_S = 15.0
WINDOWS = int(END_S / WINDOW_S)
SEARCH = [
    *"--find-capacity --slo ttft:500,tpot:60 --probe-seconds 1 --probe-warmup-seconds 0.5 --probe-min-requests".split(),
    *"30 --capacity-resolution 0.2 --max-probes 6 --trace-window".split(),
    str(int(WINDOW_S)),
]


def _write_trace(path):
    """Quiet then dense; a third of the requests share one prefix block (hash id 0) and are longer than one 128-token
    CPU KV block, so the prefix cache can find them; one request at 100.5 s is longer than the 4,096-token context."""
    rng = np.random.default_rng(7)
    quiet = np.cumsum(rng.exponential(1.0, 600))
    quiet = quiet[quiet < DENSE_S]
    dense = DENSE_S + np.cumsum(rng.exponential(0.1, 1000))
    dense = dense[dense < END_S]
    t = np.concatenate([[0.0], quiet, dense])
    rows = [
        {
            "timestamp": round(float(x) * 1000, 1),
            "input_length": int(rng.integers(160, 241) if i % 3 == 0 else rng.integers(32, 121)),
            "output_length": int(rng.integers(8, 17)),
            "hash_ids": [0] if i % 3 == 0 else [1000 + i],
        }
        for i, x in enumerate(t)
    ]
    rows.append({"timestamp": 100500.0, "input_length": 5000, "output_length": 8, "hash_ids": [9]})
    rows.sort(key=lambda r: r["timestamp"])
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    return _write_trace(tmp_path_factory.mktemp("trace") / "quiet_then_dense.jsonl")


@pytest.fixture(scope="module")
def server(tiny_model):
    """A fresh fixture server per module: its prefix-cache counters start empty, as a fresh `vllm serve`'s do."""
    with StreamServer(ttft_s=0.03, tpot_s=0.004, max_running=8, model=str(tiny_model[0]), max_model_len=4096) as srv:
        yield srv


def _search(tmp_path_factory, trace, server, tiny_model, name, *flags):
    out = tmp_path_factory.mktemp(name)
    proc = run_script(
        "simulate_concurrent_requests.py",
        "--base-url",
        server.base_url,
        "--tokenizer",
        str(tiny_model[1]),
        "--dataset-path",
        str(trace),
        *SEARCH,
        *flags,
        "--output-dir",
        str(out),
        timeout=400,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [doc] = [json.loads(p.read_text()) for p in out.glob("concurrent_requests_*.json")]
    return {"dir": out, "proc": proc, "doc": doc, "cap": doc["metrics"]["capacity"]}


@pytest.fixture(scope="module")
def run_a(tmp_path_factory, trace, server, tiny_model):
    """Judged on the heaviest window (the default), then validated on the whole stretch."""
    return _search(tmp_path_factory, trace, server, tiny_model, "run_a", "--validate")


@pytest.fixture(scope="module")
def run_b(tmp_path_factory, trace, server, tiny_model):
    """Judged from the stretch's start (the old way), then validated on the whole stretch."""
    return _search(tmp_path_factory, trace, server, tiny_model, "run_b", "--trace-judge", "start", "--validate")


def test_judged_on_its_heaviest_window_every_probe_replays_the_dense_part(run_a, trace):
    cap, out = run_a["cap"], run_a["proc"].stdout
    tr = load_trace(trace)
    assert cap["trace_judge"] == "heaviest" and cap["request_rate"] > 0 and len(cap["probes"]) >= 2
    assert cap["trace_speedup"] == pytest.approx(cap["request_rate"] / tr.mean_rate)
    for p in cap["probes"]:
        tw = p["trace_window"]
        assert DENSE_S <= tw["start_s"] < tw["end_s"] <= END_S, tw
        assert tw["warmup_from_s"] < tw["start_s"]  # warmed up by the trace just before it
        assert p["judged_requests"] >= 30
    bw = cap["binding_window"]
    assert bw["start_s"] >= DENSE_S and bw["end_s"] - bw["start_s"] >= WINDOW_S - 1e-6
    assert cap["binding_work_per_s"] > 0
    assert cap["profile"]["heaviest"] and cap["profile"]["heaviest"][0]["start_s"] >= DENSE_S
    assert len(cap["profile"]["windows"]) == WINDOWS and cap["profile"]["window_s"] == WINDOW_S
    assert sum(w["requests"] for w in cap["profile"]["windows"]) == len(tr) - 1  # all but the one too long
    # the search starts from the heaviest window's work, not the stretch's mean: a pass comes early
    first_pass = next(i for i, p in enumerate(cap["probes"]) if p["pass"])
    assert first_pass <= 2, [(p["trace_speedup"], p["pass"]) for p in cap["probes"]]
    assert "its heaviest window at" in out and "Validation replay" in out


def test_the_validation_replay_judges_every_window_of_the_stretch(run_a, trace):
    v, raw = run_a["cap"]["validation"], run_a["doc"]["raw"]
    n = len(load_trace(trace)) - 1  # every request but the one too long for the context
    assert v["speed"] == pytest.approx(run_a["cap"]["trace_speedup"]) and v["window_s"] == WINDOW_S
    assert v["requests"] == n and len(v["windows"]) == WINDOWS
    for w in v["windows"]:
        assert {"start_s", "requests", "p99_ttft_ms", "p99_tpot_ms", "pass"} <= set(w)
    assert [w["start_s"] for w in v["windows"]] == [WINDOW_S * k for k in range(WINDOWS)]
    assert sum(w["requests"] for w in v["windows"]) == n
    assert v["missed"] == [w["start_s"] for w in v["windows"] if not w["pass"]]
    assert v["pass"] == (not v["missed"])
    samples = raw["validation_requests"]  # one per replayed request, in trace time
    assert len(samples["trace_s"]) == len(samples["ttft_ms"]) == len(samples["tpot_ms"]) == n
    assert samples["trace_s"] == sorted(samples["trace_s"]) and samples["trace_s"][-1] == pytest.approx(
        load_trace(trace).t[-1], abs=1e-3
    )
    assert "samples" not in v  # the samples live in raw, not in metrics


def test_judged_from_the_start_the_quiet_part_flatters_and_validation_says_not(run_a, run_b):
    cap, out = run_b["cap"], run_b["proc"].stdout
    assert cap["trace_judge"] == "start" and "binding_window" not in cap
    assert all("trace_window" not in p for p in cap["probes"])
    assert cap["trace_speedup"] > run_a["cap"]["trace_speedup"], (cap["trace_speedup"], run_a["cap"]["trace_speedup"])
    v = cap["validation"]
    assert v["speed"] == pytest.approx(cap["trace_speedup"]) and v["pass"] is False
    # the dense part misses (its first window may still hold when the speed is only just above what the burst allows:
    # the queue builds up over it, and its second window is the one that breaks); a quiet window may miss only where
    # its last requests run into the burst (the one right before it: requests are judged by the window they arrived
    # in); every quiet window before that holds
    assert {DENSE_S, DENSE_S + WINDOW_S} & set(v["missed"]), v["missed"]
    assert all(s >= DENSE_S - WINDOW_S for s in v["missed"]), v["missed"]
    assert "NOT validated" in out


def test_the_report_plans_the_days_fleet_from_the_runs_figures(run_a):
    """The trace's traffic grown to twice what one replica held at its heaviest window (whatever this machine's
    speed): the dense part then needs two replicas, the quiet part one."""
    cap = run_a["cap"]
    growth = round(2 * cap["trace_speedup"], 1)
    proc = run_script(
        "run_distributed_benchmark.py",
        "--from-results",
        str(run_a["dir"]),
        "--growth",
        str(growth),
        "--gpu-hour-usd",
        "2",
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = run_a["dir"] / "report.md"
    assert report.exists()
    text = report.read_text()
    assert "The day's fleet" in text
    demand = day_demand(cap["profile"]["windows"], DayProfile.flat(), growth, cap["profile"]["end_s"])
    c = cap["trace_speedup"] * cap["binding_work_per_s"]  # the plan's end: one run, low = the speed-up found
    static, fore = static_fleet(demand, c), foresight_fleet(demand, c, step_s=SCALE_STEP_S)
    assert static.peak > 1  # the dense part needs more than one replica, the quiet part does not
    assert min(fore.live) == 1 and fore.replica_hours < static.replica_hours
    row = next(ln for ln in text.splitlines() if ln.startswith("| the trace stretch repeated all day | static |"))
    cells = [x.strip() for x in row.strip("|").split("|")]
    assert cells[2].split()[0] == str(static.peak) and cells[3].split()[0] == f"{static.replica_hours:,.1f}"
    assert cells[4].split()[0] == f"{static.gpu_hours(1):,.1f}"  # one device a replica
    assert cells[5].split()[0] == f"{static.replica_hours * 2:,.0f}"  # at $2 a GPU-hour
    fore_row = text.split(row)[1].splitlines()[1]
    assert fore_row.startswith("|  | autoscaled with foresight | ") and f" {fore.replica_hours:,.1f}" in fore_row
    assert (run_a["dir"] / "report_day_fleet_0_0.png").exists()


def test_judged_from_the_start_capacity_is_the_speed_up_and_the_workload_is_recorded(run_b, trace):
    doc, cap, out = run_b["doc"], run_b["cap"], run_b["proc"].stdout
    w, tr = doc["config"]["workload"], load_trace(trace)
    assert w["source"] == "timed_trace" and w["sha256"] == tr.sha256 and w["requests"] == len(tr)
    assert w["dropped"] == 1 and w["span_s"] == pytest.approx(tr.span_s, abs=1e-3)  # the 5,000-token one: > 4,096
    assert cap["request_rate"] > 0 and cap["trace_speedup"] == pytest.approx(cap["request_rate"] / tr.mean_rate)
    assert cap["busiest_minute_rate"] == pytest.approx(cap["trace_speedup"] * tr.busiest_minute_rate())
    assert f"holds this trace at up to {cap['trace_speedup']:.3g} x its recorded rate" in out
    assert f"(the stretch replayed brought {cap['stretch_arrived_rate']:.3g} req/s in the judged window)" in out
    # the server's own counters (read from its /metrics) see the shared block in its prefix cache
    assert 0 < cap["prefix_cache_hit_rate"] <= 1
    assert f"prefix cache found {cap['prefix_cache_hit_rate'] * 100:.0f}% of the prompt tokens" in out
    assert "1 request(s) of the dataset were left out: longer than max_model_len 4096" in out
