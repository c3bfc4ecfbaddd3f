"""A local OpenAI-compatible streaming server whose timing the test sets: the client side of the lab (parsing a
stream, timing TTFT/TPOT from chunk arrivals, flagging answers read whole, sending on time, Ctrl-C, the API key,
failed and unfinished requests) is tested against it, so no verdict depends on how fast the box is.

    with StreamServer(ttft_s=0.05, tpot_s=0.01) as srv:   # in a thread of the test's own process, on 127.0.0.1
        ... srv.base_url, srv.seen (one dict per request received)

It speaks what `vllm serve` speaks to the lab: GET /health, /v1/models, /metrics (the watched `vllm:` series, the
running gauge counting the requests in flight), and POST /v1/completions streamed as server-sent events, one token a
chunk, a usage chunk, then [DONE]. What it does is set per server (and may be changed between runs):
  ttft_s, tpot_s - the first token after ttft_s, each next one tpot_s later (sleeps never end early: the client
                   cannot see less than these; a loaded box can only add to them)
  burst          - the whole answer written at once, when its last token would have been due (a starved front end)
  fail_every     - every Nth request answered HTTP 500
  cut_every      - every Nth request's stream closed half-way, before [DONE]
  api_key        - requests without `Authorization: Bearer KEY` answered 401, as `vllm serve --api-key`
  max_running    - at most this many answers stream at once; the rest wait their turn (counted as waiting), so the
                   server has a capacity the test knows: max_running / (ttft_s + (tokens - 1) x tpot_s) req/s
Its prefix-cache counters count, of each token-id prompt, the whole 16-token blocks that begin a prompt seen before
(as vLLM's counters do, with a cache that never evicts).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time

from aiohttp import web


class StreamServer:
    def __init__(
        self,
        ttft_s: float = 0.05,
        tpot_s: float = 0.01,
        model: str = "fixture-model",
        root: str | None = None,
        max_model_len: int = 2048,
        burst: bool = False,
        fail_every: int = 0,
        cut_every: int = 0,
        api_key: str | None = None,
        max_running: int | None = None,
    ):
        self.ttft_s, self.tpot_s, self.burst, self.max_running = ttft_s, tpot_s, burst, max_running
        self.fail_every, self.cut_every, self.api_key = fail_every, cut_every, api_key
        self.model, self.root, self.max_model_len = model, root or model, max_model_len
        self.seen: list[dict] = []  # every completion request: arrival (monotonic s), max_tokens, prompt length
        self.running = self.waiting = self.peak_running = self.served = 0
        self.prefix_queries = self.prefix_hits = 0
        self._blocks: set[tuple] = set()  # every whole-block prefix of the prompts seen
        self._slots: asyncio.Semaphore | None = None
        self.base_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ life cycle
    def start(self) -> "StreamServer":
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def serve():
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._up())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, daemon=True, name="stream-server")
        self._thread.start()
        if not ready.wait(30):
            raise TimeoutError("fixture server did not start")
        return self

    async def _up(self) -> None:
        self._slots = asyncio.Semaphore(self.max_running) if self.max_running else None
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_post("/v1/completions", self._completions)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        """Closes every open stream (a server going away mid-run) and the port."""
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop = None

    def __enter__(self) -> "StreamServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ endpoints
    def _authorized(self, request: web.Request) -> bool:
        return self.api_key is None or request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="")

    async def _models(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": "Unauthorized"}, status=401)
        return web.json_response(
            {
                "object": "list",
                "data": [{"id": self.model, "object": "model", "root": self.root, "max_model_len": self.max_model_len}],
            }
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        lines = [
            f'vllm:num_requests_running{{model_name="{self.model}"}} {self.running}',
            f'vllm:num_requests_waiting{{model_name="{self.model}"}} {self.waiting}',
            f'vllm:kv_cache_usage_perc{{model_name="{self.model}"}} {min(1.0, self.running / 64)}',
            f'vllm:num_preemptions_total{{model_name="{self.model}"}} 0',
            f'vllm:prefix_cache_queries_total{{model_name="{self.model}"}} {self.prefix_queries}',
            f'vllm:prefix_cache_hits_total{{model_name="{self.model}"}} {self.prefix_hits}',
        ]
        return web.Response(text="\n".join(lines) + "\n")

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.json_response({"error": "Unauthorized"}, status=401)
        body = await request.json()
        n = len(self.seen) + 1
        prompt = body.get("prompt")
        self.seen.append(
            {
                "t": time.monotonic(),
                "max_tokens": int(body["max_tokens"]),
                "prompt_len": len(prompt) if isinstance(prompt, list) else None,
            }
        )
        if isinstance(prompt, list):
            self._count_prefix(prompt)
        if self.fail_every and n % self.fail_every == 0:
            return web.json_response({"error": "injected failure"}, status=500)
        cut = bool(self.cut_every and n % self.cut_every == 0)
        if self._slots is None:
            return await self._serve(request, int(body["max_tokens"]), cut)
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        try:
            return await self._serve(request, int(body["max_tokens"]), cut)
        finally:
            self._slots.release()

    def _count_prefix(self, prompt: list[int], block: int = 16) -> None:
        """vLLM's prefix cache in small: a full block is a hit when the block and every one before it were seen
        before. Each block is keyed by a hash chained over the blocks before it, as vLLM keys its blocks."""
        keys, key = [], None
        for k in range(block, len(prompt) + 1, block):
            key = hash((key, tuple(prompt[k - block : k])))
            keys.append(key)
        self.prefix_queries += len(prompt)
        self.prefix_hits += block * sum(1 for _ in itertools.takewhile(self._blocks.__contains__, keys))
        self._blocks.update(keys)

    async def _serve(self, request: web.Request, tokens: int, cut: bool) -> web.StreamResponse:
        self.running += 1
        self.peak_running = max(self.peak_running, self.running)
        try:
            return await self._stream(request, tokens, cut)
        except ConnectionResetError:  # the client went away mid-answer (Ctrl-C, a time limit): nothing to send to
            return web.Response(status=499)
        finally:
            self.running -= 1
            self.served += 1

    async def _stream(self, request: web.Request, tokens: int, cut: bool) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        t0 = time.monotonic()

        def event(obj) -> bytes:
            return b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n"

        chunk = {"object": "text_completion", "model": self.model, "choices": [{"index": 0, "text": " w"}]}
        if self.burst:  # every token held back, then written at once
            await _sleep_until(t0 + self.ttft_s + (tokens - 1) * self.tpot_s)
            await resp.write(b"".join(event(chunk) for _ in range(tokens)))
        else:
            for i in range(tokens):
                await _sleep_until(t0 + self.ttft_s + i * self.tpot_s)
                if cut and i == tokens // 2:
                    return resp  # closed before [DONE]
                await resp.write(event(chunk))
        await resp.write(
            event(
                {
                    "object": "text_completion",
                    "model": self.model,
                    "choices": [],
                    "usage": {"prompt_tokens": 1, "completion_tokens": tokens},
                }
            )
        )
        await resp.write(event(b"[DONE]"))
        await resp.write_eof()
        return resp


async def _sleep_until(t: float) -> None:
    """Sleep to monotonic time t, never waking before it (asyncio.sleep may wake a hair early)."""
    while (left := t - time.monotonic()) > 0:
        await asyncio.sleep(left)
