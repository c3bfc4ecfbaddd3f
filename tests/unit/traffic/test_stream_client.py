"""The lab's streaming client (common.traffic.loadgen.OpenAIBackend and the load shapes) against a local server whose
timing the test sets (tests.stream_server): parsing a stream, TTFT and TPOT from chunk arrivals, answers read whole,
sending on schedule, failed, cut and unfinished requests, the API key, /metrics. The fixture's sleeps never end
early, so every bound asserted here is one a slow or busy box cannot break."""

import asyncio

import pytest

from common.measure.metrics import request_metrics, send_lag, stream_bursts
from common.traffic.loadgen import OpenAIBackend, run_closed_loop, run_open_loop
from common.traffic.prom import read_counters
from common.traffic.workloads import RequestSpec, with_arrivals
from tests.stream_server import StreamServer


def _specs(n: int, output_len: int) -> list[RequestSpec]:
    return [RequestSpec(prompt_token_ids=[101 + i, 102, 103], output_len=output_len, rid=f"r{i}") for i in range(n)]


def _on_backend(srv: StreamServer, use, ask_model: bool = False):
    """asyncio.run(use(backend)) on a client of `srv`, closed after; told the server's model, or left to ask it."""

    async def go():
        backend = OpenAIBackend(srv.base_url, model=None if ask_model else srv.model)
        try:
            return await use(backend)
        finally:
            await backend.close()

    return asyncio.run(go())


def _closed(srv: StreamServer, specs, concurrency: int, time_limit_s: float = 120.0):
    return _on_backend(srv, lambda b: run_closed_loop(b, specs, concurrency, time_limit_s=time_limit_s))


@pytest.fixture
def server():
    with StreamServer(ttft_s=0.2, tpot_s=0.02) as srv:
        yield srv


def test_ttft_and_tpot_are_timed_from_the_chunks_as_they_arrive(server):
    recs = _closed(server, _specs(4, 16), concurrency=2)
    assert all(r.ok and r.output_len == 16 and len(r.chunk_times_s) == 16 for r in recs)
    for r in recs:
        assert r.ttft_s >= 0.2  # the first token cannot be read before the server wrote it
        assert r.e2e_s >= 0.2 + 15 * 0.02  # nor the last one
        assert r.tpot_s == pytest.approx((r.e2e_s - r.ttft_s) / 15)
        assert r.chunk_times_s == sorted(r.chunk_times_s) and r.chunk_times_s[0] == r.first_token_s
    assert sorted({r.client for r in recs}) == [0, 1]
    # a stream spread over 0.3 s is never taken for an answer read whole
    assert stream_bursts(recs)["burst_delivered"] == 0
    m = request_metrics(recs)
    assert m["completed"] == 4 and m["failed"] == 0 and m["median_ttft_ms"] >= 200


def test_an_answer_written_at_once_is_flagged_as_read_whole():
    """A front end short of CPU hands the client a whole answer in one read: its TPOT is a read time, and the level
    says so (512 tokens: the flag holds unless the client stalls for over 50 ms inside one read)."""
    with StreamServer(ttft_s=0.05, tpot_s=0.001, burst=True) as srv:
        recs = _closed(srv, _specs(2, 512), concurrency=1)
    assert all(r.ok and r.output_len == 512 for r in recs)
    assert stream_bursts(recs) == {"burst_delivered": 2, "burst_delivered_share": 1.0}


def test_open_loop_sends_each_request_when_it_is_due_never_before(server):
    specs = with_arrivals(_specs(5, 4), [0.0, 0.3, 0.6, 0.9, 1.2])
    recs = _on_backend(server, lambda b: run_open_loop(b, specs, time_limit_s=60))
    assert all(r.ok for r in recs)
    t0 = recs[0].scheduled_s
    assert [round(r.scheduled_s - t0, 6) for r in recs] == [0.0, 0.3, 0.6, 0.9, 1.2]
    assert all(r.start_s >= r.scheduled_s for r in recs)  # the lag is measured, never negative
    assert send_lag(recs)["mean_send_lag_ms"] >= 0
    arrived = [s["t"] for s in server.seen]
    assert arrived == sorted(arrived) and [s["prompt_len"] for s in server.seen] == [3] * 5


def test_failed_and_cut_streams_are_counted_with_their_error():
    with StreamServer(ttft_s=0.01, tpot_s=0.005, fail_every=3, cut_every=4) as srv:
        recs = _closed(srv, _specs(12, 8), concurrency=1)  # one client: request n is the server's n-th
    m = request_metrics(recs)
    # requests 3, 6, 9, 12 answered 500; 4 and 8 cut half-way (12 is a 500 first)
    assert m["failed"] == 6 and m["completed"] == 6
    assert m["errors"] == {
        'RuntimeError: HTTP 500: {"error": "injected failure"}': 4,
        "ConnectionError: stream closed before [DONE] after 4 chunks": 2,
    }
    assert all(r.end_s is None for r in recs if not r.ok)


def test_requests_past_the_time_limit_are_unfinished_not_lost():
    with StreamServer(ttft_s=0.05, tpot_s=0.5) as srv:  # 8 tokens: 3.5 s an answer
        recs = _closed(srv, _specs(6, 8), concurrency=2, time_limit_s=1.0)
    assert len(recs) == 6 and not any(r.ok for r in recs)
    assert {r.error for r in recs} == {"not finished within the 1 s time limit"}
    assert request_metrics(recs)["failed"] == 6


def test_the_api_key_is_sent_with_every_request_and_scrape(monkeypatch):
    with StreamServer(ttft_s=0.01, tpot_s=0.001, api_key="k-123") as srv:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        refused = _closed(srv, _specs(1, 4), concurrency=1)
        assert refused[0].error.startswith("RuntimeError: HTTP 401")
        monkeypatch.setenv("OPENAI_API_KEY", "k-123")
        assert all(r.ok for r in _closed(srv, _specs(2, 4), concurrency=2))


def test_server_counters_are_scraped_from_metrics(server):
    async def resolve_then_scrape(backend):
        assert await backend.resolve_model() == server.model
        return await read_counters(backend)

    c = _on_backend(server, resolve_then_scrape, ask_model=True)
    assert c["vllm:num_requests_running"] == 0 and c["vllm:num_preemptions"] == 0
    assert "vllm:prefix_cache_queries" in c
