"""Every request the lab sends is made here, and every arrival time: the one place a workload source is added.

- CHECK_PROMPTS: fixed, human-readable prompts for the inference check
- random_prompts: seeded random-token prompts of exact lengths (fixed, or uniform within --range-ratio), as
  `vllm bench`'s random dataset; fresh_copies: the same requests with new tokens (nothing shared in the cache)
- class_mix: long and short requests mixed at a given share (the mixed workload)
- arrival_times / with_arrivals: Poisson (or gamma, burstiness != 1) arrival offsets, attached to requests
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import numpy as np

CHECK_PROMPTS = [
    "The capital of France is",
    "Explain tensor parallelism in one sentence:",
    "def fibonacci(n):",
    "List three reasons GPUs need fast interconnects:",
    "Once upon a time, in a data center far away,",
    "The key idea of continuous batching is",
    "Translate to German: The model is split across four GPUs.",
    "Q: What limits decode speed on a GPU? A:",
]


@dataclass
class RequestSpec:
    prompt_token_ids: list[int]
    output_len: int
    klass: str = "default"
    arrival_s: float = 0.0         # offset from the start of the run (open loop)
    rid: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


def random_tokens(rng, n: int, vocab_size: int) -> list[int]:
    """`n` random token ids, clear of the lowest ids and of the special tokens at the top of the vocabulary."""
    return rng.integers(min(100, vocab_size // 10), min(vocab_size, 150000), size=n).tolist()


def fresh_copies(specs: list[RequestSpec], vocab_size: int, seed: int, suffix: str) -> list[RequestSpec]:
    """The same requests (lengths, class, arrival) with new random tokens: a reference run of these leaves
    nothing in the prefix cache that the originals could hit."""
    rng = np.random.default_rng(seed)
    return [RequestSpec(random_tokens(rng, len(s.prompt_token_ids), vocab_size), s.output_len, s.klass, s.arrival_s,
                        rid=s.rid + suffix) for s in specs]


def random_prompts(n: int, input_len: int, output_len: int, vocab_size: int, seed: int = 0,
                   range_ratio: float = 0.0, klass: str = "default") -> list[RequestSpec]:
    """Seeded random-token prompts; lengths uniform in [len*(1-r), len*(1+r)] like vllm bench's random set."""
    rng = np.random.default_rng(seed)

    def lens(base):
        lo, hi = max(1, int(base * (1 - range_ratio))), max(1, int(base * (1 + range_ratio)))
        return rng.integers(lo, hi + 1, size=n)

    ins, outs = lens(input_len), lens(output_len)
    return [RequestSpec(random_tokens(rng, int(i), vocab_size), int(o), klass) for i, o in zip(ins, outs)]


def class_mix(n: int, long_fraction: float, long_len: tuple[int, int], short_len: tuple[int, int], output_len: int,
              vocab_size: int, seed: int, rid_prefix: str = "r") -> list[RequestSpec]:
    """n seeded requests, each long with probability `long_fraction`, prompt lengths uniform in the class's range."""
    rng = np.random.default_rng(seed)
    is_long = rng.random(n) < long_fraction
    out = []
    for i in range(n):
        lo, hi = long_len if is_long[i] else short_len
        out.append(RequestSpec(random_tokens(rng, int(rng.integers(lo, hi + 1)), vocab_size), output_len,
                               klass="long" if is_long[i] else "short", rid=f"{rid_prefix}{i}"))
    return out


def arrival_times(n: int, rate: float, burstiness: float = 1.0, seed: int = 0) -> np.ndarray:
    """Arrival offsets (s) of n requests at `rate` req/s: gamma gaps with shape=burstiness (1 = Poisson)."""
    if rate == float("inf"):
        return np.zeros(n)
    rng = np.random.default_rng(seed)
    gaps = rng.gamma(shape=burstiness, scale=1.0 / (rate * burstiness), size=n)
    gaps[0] = 0.0
    return np.cumsum(gaps)


def with_arrivals(specs: list[RequestSpec], times) -> list[RequestSpec]:
    """Each request gets its arrival offset (s), in order; returns the same list."""
    for s, t in zip(specs, times):
        s.arrival_s = float(t)
    return specs
