"""vLLM's Prometheus counters (scheduler state: running, waiting, KV usage, preemptions, prefix-cache hits): scraped
from a server's /metrics, or read from this process's registry when the engine is an in-process AsyncLLM."""

from __future__ import annotations

import asyncio

WATCHED = (
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:num_preemptions",
    "vllm:prefix_cache_queries",
    "vllm:prefix_cache_hits",
)


def parse(text: str) -> dict[str, float]:
    """Sum of each watched series over its labels (counters as their _total).

    Only the watched lines are handed to prometheus_client's parser: the full /metrics page holds
    hundreds of histogram lines, and parsing all of them every scrape costs the client real CPU."""
    from prometheus_client.parser import text_string_to_metric_families

    wanted = "\n".join(line for line in text.splitlines() if line.startswith(WATCHED))
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(wanted):
        for s in fam.samples:
            name = s.name[:-6] if s.name.endswith("_total") else s.name
            if name in WATCHED:
                out[name] = out.get(name, 0.0) + float(s.value)
    return out


def local_counters() -> dict[str, float]:
    """parse()'s sums from this process's Prometheus registry: an in-process AsyncLLM records its stats there (as
    `vllm serve` does for /metrics), summed over engines (DP) like a scrape."""
    from vllm.v1.metrics.reader import Counter, Gauge, get_metrics_snapshot

    out: dict[str, float] = {}
    for m in get_metrics_snapshot():
        if m.name in WATCHED and isinstance(m, (Counter, Gauge)):
            out[m.name] = out.get(m.name, 0.0) + float(m.value)
    return out


async def scrape(session, base_url: str) -> dict[str, float]:
    """Fetch /metrics and parse it in a worker thread, so the event loop that times the requests'
    streamed tokens is never blocked by the parsing (a blocked loop reads many chunks at once and
    inflates TTFT)."""
    async with session.get(base_url.rstrip("/") + "/metrics") as r:
        text = await r.text()
    return await asyncio.to_thread(parse, text)


async def read_counters(backend) -> dict[str, float] | None:
    """A common.traffic.loadgen backend's engine counters, or None where its front end has none to give (a server
    without /metrics)."""
    try:
        return await backend.counters()
    except Exception:
        return None


class Watcher:
    """Samples /metrics every `interval_s` while a load level runs; reports peaks and counter deltas."""

    def __init__(self, session, base_url: str, interval_s: float = 0.5):
        self.session, self.base_url, self.interval_s = session, base_url, interval_s
        self.samples: list[dict[str, float]] = []
        self._task = None

    async def _loop(self):
        while True:
            try:
                self.samples.append(await scrape(self.session, self.base_url))
            except Exception:
                pass
            await asyncio.sleep(self.interval_s)

    async def __aenter__(self):
        try:
            self.samples.append(await scrape(self.session, self.base_url))
        except Exception:
            pass
        self._task = asyncio.ensure_future(self._loop())
        return self

    async def __aexit__(self, *exc):
        self._task.cancel()
        try:
            self.samples.append(await scrape(self.session, self.base_url))
        except Exception:
            pass

    def report(self) -> dict:
        if not self.samples:
            return {}
        first, last = self.samples[0], self.samples[-1]
        get = lambda k: [s[k] for s in self.samples if k in s]  # noqa: E731
        return {
            "max_num_requests_running": max(get("vllm:num_requests_running"), default=None),
            "max_num_requests_waiting": max(get("vllm:num_requests_waiting"), default=None),
            "max_kv_cache_usage_perc": max(get("vllm:kv_cache_usage_perc"), default=None),
            "num_preemptions": (last.get("vllm:num_preemptions", 0.0) - first.get("vllm:num_preemptions", 0.0))
            if "vllm:num_preemptions" in last
            else None,
            "prefix_cache_hit_rate": prefix_hit_rate(first, last),
            "scrapes": len(self.samples),
        }


def prefix_hit_rate(before: dict | None, after: dict | None) -> float | None:
    """Share of the prompt tokens looked up in the prefix cache between two scrapes that were found there (None when
    either scrape is missing, or nothing was looked up)."""
    if before is None or after is None:
        return None
    q = after.get("vllm:prefix_cache_queries", 0.0) - before.get("vllm:prefix_cache_queries", 0.0)
    h = after.get("vllm:prefix_cache_hits", 0.0) - before.get("vllm:prefix_cache_hits", 0.0)
    return h / q if q > 0 else None
