"""Async load generation against vLLM: in-process AsyncLLM or any OpenAI-compatible server (streaming).

Every request is recorded with wall-clock timestamps (scheduled, sent, each streamed chunk, done), so
TTFT / TPOT / ITL / E2E are computed the way `vllm bench serve` computes them and the raw samples can
be kept. Two load shapes:
  closed loop - N clients, each sends its next request when its last one finished (fixed concurrency)
  open loop   - arrivals at a request rate (Poisson; gamma-distributed gaps when burstiness != 1)
Both are bounded in count (the request list) and in time (`time_limit_s`).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Protocol

import numpy as np

from common.runtime.server import auth_headers
from common.traffic.prom import local_counters, scrape
from common.traffic.workloads import RequestSpec


# --------------------------------------------------------------------------- records
@dataclass
class RequestRecord:
    rid: str
    klass: str
    prompt_len: int
    target_output_len: int
    client: int | None = None
    scheduled_s: float | None = None  # when it was due (open loop) / picked up (closed loop)
    start_s: float | None = None  # sent
    first_token_s: float | None = None
    chunk_times_s: list[float] = field(default_factory=list)
    chunk_tokens: list[int] = field(default_factory=list)
    end_s: float | None = None
    output_len: int = 0
    error: str | None = None
    cached_tokens: int | None = None  # prompt tokens the engine found in its prefix cache (where it says: stepdrive)

    @property
    def ok(self) -> bool:
        return self.error is None and self.end_s is not None

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_token_s is None or self.start_s is None else self.first_token_s - self.start_s

    @property
    def e2e_s(self) -> float | None:
        return None if self.end_s is None or self.start_s is None else self.end_s - self.start_s

    @property
    def tpot_s(self) -> float | None:
        """(E2E - TTFT) / (output tokens - 1), as vllm bench serve."""
        e2e, ttft = self.e2e_s, self.ttft_s
        if not self.ok or self.output_len < 2 or e2e is None or ttft is None:
            return None
        return (e2e - ttft) / (self.output_len - 1)

    @property
    def itl_s(self) -> list[float]:
        """Gaps between consecutive streamed chunks."""
        return list(np.diff(self.chunk_times_s)) if len(self.chunk_times_s) > 1 else []

    @property
    def queue_delay_s(self) -> float | None:
        """How late it was sent versus when it was due (client-side backlog)."""
        return None if self.scheduled_s is None or self.start_s is None else self.start_s - self.scheduled_s

    def add_tokens(self, now: float, n: int) -> None:
        """`n` new tokens reached the client at `now` (one streamed chunk)."""
        if n:
            if self.first_token_s is None:
                self.first_token_s = now
            self.chunk_times_s.append(now)
            self.chunk_tokens.append(n)
            self.output_len += n

    @classmethod
    def from_raw(cls, d: dict) -> "RequestRecord":
        """Inverse of to_raw(): the derived *_ms fields are dropped, timestamps kept as stored."""
        return cls(
            **{k: d[k] for k in cls.__dataclass_fields__ if k in d}
        )  # files from before a field keep its default

    def to_raw(self, t0: float = 0.0) -> dict:
        d = asdict(self)
        for k in ("scheduled_s", "start_s", "first_token_s", "end_s"):
            if d[k] is not None:
                d[k] = round(d[k] - t0, 6)
        d["chunk_times_s"] = [round(t - t0, 6) for t in d["chunk_times_s"]]
        d["ttft_ms"] = None if self.ttft_s is None else self.ttft_s * 1000
        d["tpot_ms"] = None if self.tpot_s is None else self.tpot_s * 1000
        d["e2el_ms"] = None if self.e2e_s is None else self.e2e_s * 1000
        return d


# --------------------------------------------------------------------------- backends
class Backend(Protocol):
    """A front end the load generators stream requests to: an in-process AsyncLLM or an OpenAI-compatible server."""

    async def send(self, spec: RequestSpec, rec: RequestRecord) -> None:
        """Send one request and fill `rec` with its token times; raises on a failed request."""

    async def counters(self) -> dict[str, float]:
        """The engine's Prometheus counters (common.traffic.prom), as a server's /metrics gives them."""

    async def close(self) -> None:
        """Release what the front end holds (a server's HTTP session)."""


class AsyncLLMBackend:
    """Streams from an in-process vllm AsyncLLM (the engine behind `vllm serve`)."""

    def __init__(self, engine):
        self.engine = engine

    async def send(self, spec: RequestSpec, rec: RequestRecord) -> None:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        params = SamplingParams(
            max_tokens=spec.output_len, ignore_eos=True, temperature=0.0, output_kind=RequestOutputKind.DELTA
        )
        rec.start_s = time.perf_counter()
        async for out in self.engine.generate(
            {"prompt_token_ids": spec.prompt_token_ids}, params, request_id=spec.rid + uuid.uuid4().hex[:6]
        ):
            rec.add_tokens(time.perf_counter(), len(out.outputs[0].token_ids))
        rec.end_s = time.perf_counter()

    async def counters(self) -> dict[str, float]:
        """The engine's Prometheus counters (common.traffic.prom), as a server's /metrics would give them."""
        return local_counters()

    async def close(self) -> None:
        pass


class OpenAIBackend:
    """Streams /v1/completions from an OpenAI-compatible server with aiohttp (token-id prompts)."""

    def __init__(self, base_url: str, model: str | None = None, timeout_s: float = 600.0):
        import aiohttp

        self.base_url = base_url.rstrip("/")
        self.model = model
        # every request, /metrics scrapes too, carries the key if one is set
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            headers=auth_headers(),
        )

    async def resolve_model(self) -> str:
        if self.model is None:
            async with self.session.get(self.base_url + "/v1/models") as r:
                r.raise_for_status()
                self.model = (await r.json())["data"][0]["id"]
        return self.model

    async def send(self, spec: RequestSpec, rec: RequestRecord) -> None:
        payload = {
            "model": self.model,
            "prompt": spec.prompt_token_ids,
            "max_tokens": spec.output_len,
            "ignore_eos": True,
            "temperature": 0.0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        rec.start_s = time.perf_counter()
        async with self.session.post(self.base_url + "/v1/completions", json=payload) as r:
            if r.status != 200:
                raise RuntimeError(f"HTTP {r.status}: {(await r.text())[:200]}")
            usage_tokens, finished = None, False
            async for raw in r.content:
                line = raw.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    finished = True
                    break
                msg = json.loads(data)
                now = time.perf_counter()
                if msg.get("usage"):
                    usage_tokens = msg["usage"].get("completion_tokens")
                if msg.get("choices"):  # a chunk per engine step, even when its text is empty (as vllm bench)
                    rec.add_tokens(now, 1)
        end = time.perf_counter()
        if usage_tokens is not None:  # the server's count wins over one token per chunk
            rec.output_len = usage_tokens
        # A server shutting down ends streams cleanly: closed before [DONE], or an aborted request's usage chunk
        # and [DONE] with fewer tokens than asked (ignore_eos: exactly output_len is the only complete answer).
        if not finished:
            raise ConnectionError(f"stream closed before [DONE] after {len(rec.chunk_times_s)} chunks")
        if rec.first_token_s is None or (usage_tokens is not None and usage_tokens < spec.output_len):
            raise ConnectionError(f"stream ended after {rec.output_len} of {spec.output_len} tokens")
        rec.end_s = end

    async def counters(self) -> dict[str, float]:
        """The server's Prometheus counters from its /metrics (common.traffic.prom)."""
        return await scrape(self.session, self.base_url)

    async def close(self) -> None:
        await self.session.close()


# --------------------------------------------------------------------------- load shapes
async def _one(backend: Backend, spec: RequestSpec, rec: RequestRecord) -> None:
    try:
        await backend.send(spec, rec)
    except asyncio.CancelledError:
        rec.error = rec.error or "cancelled (time limit or interrupt)"
        raise
    except Exception as e:  # a failed request is data, not a crash
        rec.error = f"{type(e).__name__}: {e}"[:300]
        rec.end_s = None


def new_record(spec: RequestSpec) -> RequestRecord:
    return RequestRecord(
        rid=spec.rid, klass=spec.klass, prompt_len=len(spec.prompt_token_ids), target_output_len=spec.output_len
    )


async def run_closed_loop(
    backend: Backend, specs: list[RequestSpec], concurrency: int, time_limit_s: float = 600.0, progress=None
) -> list[RequestRecord]:
    """`concurrency` clients share the request list; each sends its next one when the last is done."""
    records = [new_record(s) for s in specs]
    queue: asyncio.Queue = asyncio.Queue()
    for pair in zip(specs, records, strict=True):
        queue.put_nowait(pair)

    async def client(cid: int):
        while True:
            try:
                spec, rec = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            rec.client = cid
            rec.scheduled_s = time.perf_counter()
            await _one(backend, spec, rec)
            if progress:
                progress.update(1)

    await _bounded(asyncio.gather(*(client(c) for c in range(concurrency))), time_limit_s, records)
    return records


async def warm_up(backend: Backend, specs: list[RequestSpec]) -> None:
    """Uncounted requests before measuring (compiles, allocates, fills caches), all at once; RuntimeError when every
    one failed (the engine or the server cannot serve: nothing after it would measure anything)."""
    warm = await run_closed_loop(backend, specs, concurrency=len(specs))
    if warm and not any(r.ok for r in warm):
        raise RuntimeError(f"every warm-up request failed, e.g. {warm[0].error}")


async def run_open_loop(
    backend: Backend, specs: list[RequestSpec], time_limit_s: float = 600.0, progress=None, stop=None
) -> list[RequestRecord]:
    """Send each spec at its `arrival_s` offset, whatever is still in flight. `stop(records, t0, now)`, if given,
    is asked every STOP_CHECK_S: once it returns a reason, what runs is cancelled and what has not been sent is
    not (both recorded as failed, with the reason)."""
    records = [new_record(s) for s in specs]
    t0 = time.perf_counter()

    async def fire(spec, rec):
        delay = t0 + spec.arrival_s - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        rec.scheduled_s = t0 + spec.arrival_s
        await _one(backend, spec, rec)
        if progress:
            progress.update(1)

    check = (lambda: stop(records, t0, time.perf_counter())) if stop else None
    await _bounded(
        asyncio.gather(*(fire(s, r) for s, r in zip(specs, records, strict=True))), time_limit_s, records, check
    )
    return records


STOP_CHECK_S = 0.25


async def _bounded(gathered, time_limit_s: float, records: list[RequestRecord], check=None) -> None:
    """Await the requests until they are done, the time limit passes, or `check()` returns a reason to stop;
    then cancel what is left, each unfinished record saying why."""
    task = asyncio.ensure_future(gathered)
    deadline = time.perf_counter() + time_limit_s
    why = f"not finished within the {time_limit_s:.0f} s time limit"
    try:
        while not task.done():
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            await asyncio.wait({task}, timeout=min(left, STOP_CHECK_S) if check else left)
            if check and not task.done() and (reason := check()):
                why = f"probe stopped: {reason}"
                break
    except asyncio.CancelledError:  # the caller was cancelled (Ctrl-C): take the requests down with it
        task.cancel()
        # a cancelled gather ends holding its children's CancelledError: retrieve it, or asyncio prints it with a
        # traceback on the user's terminal as "exception was never retrieved"
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        raise
    if task.done():
        task.result()  # a bug in a request's coroutine is raised, as before
    else:
        for rec in records:  # named before the cancellation reaches them
            if rec.end_s is None and rec.error is None:
                rec.error = why
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
    for rec in records:
        if rec.end_s is None and rec.error is None:
            rec.error = why


def run_async(coro):
    """asyncio.run with uvloop when vLLM brought it."""
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)
