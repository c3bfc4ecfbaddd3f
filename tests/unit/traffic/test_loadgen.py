"""Request metrics, fairness, goodput and arrival schedules on synthetic inputs with known answers."""

import numpy as np
import pytest

from common.capacity.flags import parse_slo
from common.measure.metrics import fairness_metrics, request_metrics, stream_bursts
from common.traffic.loadgen import RequestRecord
from common.traffic.workloads import arrival_times


def _rec(start, token_times, client=None, klass="default"):
    r = RequestRecord(rid="x", klass=klass, prompt_len=10, target_output_len=len(token_times), client=client)
    r.start_s = start
    r.first_token_s = token_times[0]
    r.chunk_times_s = list(token_times)
    r.chunk_tokens = [1] * len(token_times)
    r.output_len = len(token_times)
    r.end_s = token_times[-1]
    return r


def test_ttft_tpot_itl_from_token_timestamps():
    r = _rec(0.0, [0.100, 0.110, 0.130, 0.160])
    assert r.ttft_s == pytest.approx(0.100)
    assert r.tpot_s == pytest.approx((0.160 - 0.100) / 3)  # (E2E - TTFT) / (n - 1)
    assert r.itl_s == pytest.approx([0.010, 0.020, 0.030])
    m = request_metrics([r])
    assert m["mean_ttft_ms"] == pytest.approx(100.0)
    assert m["mean_itl_ms"] == pytest.approx(20.0)
    assert m["output_throughput"] == pytest.approx(4 / 0.160)


def test_an_answer_read_whole_in_one_burst_is_counted_as_such():
    """Seen on the 2-core box under other load: 128 one-token chunks of an 8-client level all read within 1 ms, 1.6 s
    after the send (TPOT 0.007 ms). A streamed answer (5 ms a token) or a short one (fewer than 8 tokens) is not."""
    whole = _rec(0.0, [1.6 + i * 7e-6 for i in range(128)])
    streamed = _rec(0.0, [0.05 + i * 0.005 for i in range(128)])
    short = _rec(0.0, [0.3 + i * 1e-6 for i in range(4)])
    assert whole.tpot_s < 1e-5 and streamed.tpot_s == pytest.approx(0.005)
    assert stream_bursts([whole, streamed, short]) == {"burst_delivered": 1, "burst_delivered_share": 0.5}
    assert stream_bursts([short]) == {"burst_delivered": 0, "burst_delivered_share": None}
    # the same burst read in two halves, the client descheduled for 50 ms between them (a loaded box): still whole
    halves = _rec(0.0, [1.6 + i * 7e-6 + (0.05 if i >= 64 else 0.0) for i in range(128)])
    assert halves.tpot_s > 1e-4 and stream_bursts([halves])["burst_delivered"] == 1


def test_goodput_counts_only_requests_within_slo():
    fast = _rec(0.0, [0.05, 0.06, 0.07])
    slow = _rec(0.0, [0.50, 0.51, 0.52])
    m = request_metrics([fast, slow], {"ttft": 100})
    assert m["request_goodput"] == pytest.approx(1 / 0.52)
    assert m["goodput_share"] == 0.5


def test_failed_requests_are_counted_with_their_error():
    ok = _rec(0.0, [0.1, 0.2])
    bad = RequestRecord(rid="y", klass="default", prompt_len=5, target_output_len=2, error="ClientError: boom")
    m = request_metrics([ok, bad])
    assert m["completed"] == 1 and m["failed"] == 1 and m["errors"] == {"ClientError: boom": 1}


def test_parse_slo():
    assert parse_slo(["ttft:500", "tpot:50"]) == {"ttft": 500.0, "tpot": 50.0}
    assert parse_slo(["ttft:500,e2el:9000"]) == {"ttft": 500.0, "e2el": 9000.0}
    for bad in (["ttft"], ["foo:1"], ["ttft:abc"], ["tpot:-1"]):
        with pytest.raises(ValueError):
            parse_slo(bad)


def test_poisson_schedule_has_the_requested_rate():
    t = arrival_times(4000, rate=10.0, burstiness=1.0, seed=3)
    gaps = np.diff(t)
    assert gaps.mean() == pytest.approx(0.1, rel=0.05)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.1)  # exponential: CV = 1
    bursty = np.diff(arrival_times(4000, rate=10.0, burstiness=0.25, seed=3))
    assert bursty.mean() == pytest.approx(0.1, rel=0.1)
    assert bursty.std() / bursty.mean() == pytest.approx(2.0, rel=0.15)  # gamma(k): CV = 1/sqrt(k)


def test_fairness_detects_a_starved_client():
    even = [_rec(0, [0.1 * i + 0.1, 0.1 * i + 0.2], client=i % 2) for i in range(4)]
    assert fairness_metrics(even)["jain_client_throughput"] == pytest.approx(1.0, abs=0.05)
    starved = [_rec(0, [0.1, 0.2], client=0), _rec(0, [0.1, 0.2], client=0), _rec(0, [5.0, 9.0], client=1)]
    f = fairness_metrics(starved, unloaded=(0.1, 0.1))
    assert f["jain_client_throughput"] < 0.6
    assert f["client_throughput_max_min"] > 10
    assert f["max_slowdown"] == pytest.approx(9.0 / 0.2)
    assert f["starvation_ttft_ratio"] == pytest.approx(5.0 / 0.1)


def test_prometheus_parse_sums_watched_series_only():
    from common.traffic.prom import parse

    text = """# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3.0
vllm:num_requests_running{engine="1",model_name="m"} 2.0
vllm:num_requests_waiting{engine="0",model_name="m"} 7.0
vllm:num_preemptions_total{engine="0",model_name="m"} 4.0
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.001",model_name="m"} 0.0
"""
    assert parse(text) == {
        "vllm:num_requests_running": 5.0,
        "vllm:num_requests_waiting": 7.0,
        "vllm:num_preemptions": 4.0,
        "vllm:kv_cache_usage_perc": 0.25,
    }


def test_prefix_cache_hit_rate_is_the_share_of_looked_up_tokens_found_between_two_scrapes():
    from common.traffic.prom import parse, prefix_hit_rate

    def page(q, h):
        return (
            f'vllm:prefix_cache_queries_total{{engine="0",model_name="m"}} {q}\n'
            f'vllm:prefix_cache_hits_total{{engine="0",model_name="m"}} {h}\n'
        )

    before, after = parse(page(1000.0, 100.0)), parse(page(5000.0, 1100.0))
    assert before == {"vllm:prefix_cache_queries": 1000.0, "vllm:prefix_cache_hits": 100.0}
    assert prefix_hit_rate(before, after) == 0.25 and prefix_hit_rate(after, after) is None


@pytest.mark.parametrize(
    "chunks,usage,done,error",
    [
        (2, 2, True, None),
        (2, None, True, None),  # a server without usage in its stream: one token per chunk
        (2, 2, False, "ConnectionError: stream closed before [DONE] after 2 chunks"),
        (0, 0, True, "ConnectionError: stream ended after 0 of 2 tokens"),  # aborted at shutdown: usage chunk, [DONE]
        (1, 1, True, "ConnectionError: stream ended after 1 of 2 tokens"),
    ],
)
def test_openai_stream_cut_off_is_a_failed_request(chunks, usage, done, error):
    """Only a stream that reached [DONE] with every token asked for is a completed request: a server shutting
    down ends streams cleanly, and counting a cut-off one as completed (no first token) broke the level's metrics."""
    import asyncio
    import json

    from aiohttp import web

    from common.traffic.loadgen import OpenAIBackend, RequestSpec, _one, new_record

    async def completions(request):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for _ in range(chunks):
            await resp.write(b'data: {"choices": [{"text": "w"}]}\n\n')
        if usage is not None:
            await resp.write(
                b"data: " + json.dumps({"choices": [], "usage": {"completion_tokens": usage}}).encode() + b"\n\n"
            )
        if done:
            await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def scenario():
        app = web.Application()
        app.router.add_post("/v1/completions", completions)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        backend = OpenAIBackend(f"http://127.0.0.1:{port}", model="m")
        spec = RequestSpec(rid="r0", prompt_token_ids=[1, 2, 3], output_len=2)
        rec = new_record(spec)
        try:
            await _one(backend, spec, rec)
        finally:
            await backend.close()
            await runner.cleanup()
        return rec

    rec = asyncio.run(scenario())
    assert len(rec.chunk_times_s) == chunks
    assert rec.error == error
    m = request_metrics([rec])
    assert (m["completed"], m["failed"]) == ((1, 0) if error is None else (0, 1))
    if error is None:
        assert rec.end_s is not None and rec.output_len == 2
