"""The step-driven front end (common.traffic.stepdrive) on the real tiny engine: load shapes hold, timestamps add up."""

import pytest

from common.runtime import isolation
from common.traffic.loadgen import RequestRecord


@pytest.fixture(scope="module")
def driven(tiny_model):
    path, tok = tiny_model
    engine = {"model": str(path), "tokenizer": str(tok), "enforce_eager": True, "max_model_len": 512}
    res = isolation.run_isolated(
        "tests.unit.runtime.iso_targets:step_driver", {"engine": engine}, timeout_s=600, echo=False
    )
    assert res["status"] == "ok", res.get("failure")
    return res


def _max_in_flight(recs):
    events = sorted([(r.start_s, 1) for r in recs] + [(r.end_s, -1) for r in recs], key=lambda e: (e[0], e[1]))
    cur = peak = 0
    for _, d in events:
        cur += d
        peak = max(peak, cur)
    return peak


def test_closed_loop_keeps_concurrency_and_exact_lengths(driven):
    recs = [RequestRecord.from_raw(d) for d in driven["closed"]]
    assert all(r.ok for r in recs)
    assert [r.output_len for r in recs] == [12] * 8
    assert all(sum(r.chunk_tokens) == 12 for r in recs)
    assert _max_in_flight(recs) == 2
    assert {r.client for r in recs} == {0, 1}
    for r in recs:
        assert r.start_s <= r.first_token_s <= r.end_s
        assert r.chunk_times_s == sorted(r.chunk_times_s)


def test_open_loop_sends_each_request_at_its_arrival(driven):
    recs = [RequestRecord.from_raw(d) for d in driven["open"]]
    assert all(r.ok for r in recs)
    for i, r in enumerate(recs):
        assert r.scheduled_s == pytest.approx(0.4 * i, abs=0.05)
        assert r.start_s >= r.scheduled_s - 1e-3
        assert r.queue_delay_s < 0.5  # sent within one engine step of being due


def test_each_request_records_the_prompt_tokens_its_prefix_cache_held(driven):
    from common.measure.metrics import cached_prompt_share

    first, second = (RequestRecord.from_raw(d) for d in driven["shared"])
    # the engine caches whole KV blocks of the 300 shared tokens (128-token blocks on the CPU: 256)
    assert first.cached_tokens == 0 and 0 < second.cached_tokens <= 300 and second.cached_tokens % 16 == 0
    assert cached_prompt_share([first, second]) == pytest.approx(second.cached_tokens / 640)


def test_step_limit_aborts_running_requests_and_records_failures(driven):
    recs = [RequestRecord.from_raw(d) for d in driven["cut"]]
    assert len(recs) == 4 and not any(r.ok for r in recs)  # all four were sent, none could finish in 3 steps
    assert all(r.start_s is not None and r.error == "not finished within the 3-step limit" for r in recs)
    assert all(r.output_len < 400 for r in recs)
    # the aborted requests left the engine: it serves a new batch in full afterwards
    assert driven["offline"]["completed"] == 4 and driven["offline"]["output_tokens"] == 24


def test_time_limit_records_what_was_never_sent(driven):
    recs = [RequestRecord.from_raw(d) for d in driven["timed"]]
    assert len(recs) == 2 and all(
        r.start_s is None and r.error == "not finished within the 0 s time limit" for r in recs
    )
