"""Long and short requests together (test_mixed_workload.py, and the suite on its own engine): the mix, the same
short requests alone and a long one alone for reference, and what the mix did to each class - TTFT inflation,
head-of-line blocking, decode gaps beside long prefills, slowdown."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from common.measure.metrics import jain_index, request_metrics
from common.traffic.loadgen import RequestRecord
from common.traffic.stepdrive import run_steps
from common.traffic.workloads import arrival_times, class_mix, fresh_copies, with_arrivals


class MixSettings(Protocol):
    """The class mix as a script's Config names it (test_mixed_workload.py's, the suite's)."""

    long_fraction: float
    long_len: tuple[int, int]
    short_len: tuple[int, int]
    output_len: int
    seed: int


def mix_prompts(cfg: MixSettings, vocab: int, n: int, seed: int):
    """n requests of the configured class mix; the run's own seed names them r0, r1, ... (others s<seed>-0, ...)."""
    return class_mix(
        n,
        cfg.long_fraction,
        cfg.long_len,
        cfg.short_len,
        cfg.output_len,
        vocab,
        seed,
        rid_prefix="r" if seed == cfg.seed else f"s{seed}-",
    )


def workload(cfg: MixSettings, vocab: int, n: int, rate: float):
    """(short-alone specs, long reference, mixed specs): `n` requests of the mix, arrivals seeded Poisson at `rate`.
    The alone and reference runs go on the same engine before the mixed run, so they get the mixed requests' lengths
    and arrival times but fresh tokens: the mixed run finds none of its prompts in the prefix cache."""
    mixed = mix_prompts(cfg, vocab, n, cfg.seed)
    with_arrivals(mixed, arrival_times(len(mixed), rate, 1.0, seed=cfg.seed))
    short_alone = fresh_copies([s for s in mixed if s.klass == "short"], vocab, cfg.seed + 1, "a")
    long_ref = fresh_copies([s for s in mixed if s.klass == "long"][:1], vocab, cfg.seed + 2, "ref")
    return short_alone, long_ref, mixed


def records_of(raw: list[dict]):
    return [RequestRecord.from_raw(d) for d in raw]


def head_of_line(mixed) -> dict:
    """Short requests whose first token came after a long prefill that overlapped their wait."""
    longs = [r for r in mixed if r.klass == "long" and r.ok]
    shorts = [r for r in mixed if r.klass == "short" and r.ok]
    blocked = []
    for s in shorts:
        for lg in longs:
            overlapped = lg.start_s <= s.first_token_s and lg.first_token_s >= s.start_s
            if overlapped and lg.first_token_s <= s.first_token_s:
                blocked.append(s)
                break
    return {
        "hol_blocked_share": len(blocked) / len(shorts) if shorts else None,
        "hol_blocked_mean_ttft_ms": (sum(b.ttft_s for b in blocked) / len(blocked) * 1000) if blocked else None,
    }


def itl_beside_long_prefills(mixed) -> dict:
    """Short requests' mean gap between tokens (gaps of one token) while some long request was in prefill (sent, no
    first token yet) and while none was: what long prefills cost the running decodes per token, whole (one long
    step) or in chunks (more, shorter steps)."""
    longs = [(r.start_s, r.first_token_s) for r in mixed if r.klass == "long" and r.first_token_s is not None]
    gaps: dict[bool, list[float]] = {True: [], False: []}
    for r in (r for r in mixed if r.klass == "short"):
        t, n = r.chunk_times_s, r.chunk_tokens
        for j in range(1, len(t)):
            if n[j] == 1:
                mid = (t[j - 1] + t[j]) / 2
                gaps[any(a <= mid < b for a, b in longs)].append((t[j] - t[j - 1]) * 1000)
    mean = lambda v: float(np.mean(v)) if v else None  # noqa: E731
    return {
        "short_mean_itl_during_long_prefill_ms": mean(gaps[True]),
        "short_itl_samples_during_long_prefill": len(gaps[True]),
        "short_mean_itl_without_long_prefill_ms": mean(gaps[False]),
    }


def analyse(res: dict) -> dict:
    alone, mixed, long_alone = records_of(res["alone"]), records_of(res["mixed"]), records_of(res["long_alone"])
    m: dict = {}
    for klass in ("short", "long"):
        mk = request_metrics([r for r in mixed if r.klass == klass])
        for k in (
            "completed",
            "failed",
            "median_ttft_ms",
            "p90_ttft_ms",
            "p99_ttft_ms",
            "median_tpot_ms",
            "p99_tpot_ms",
            "median_e2el_ms",
            "p99_e2el_ms",
            "output_throughput",
        ):
            m[f"{klass}_{k}"] = mk[k]
    a = request_metrics(alone)
    m.update(
        {
            "short_alone_p99_ttft_ms": a["p99_ttft_ms"],
            "short_alone_median_ttft_ms": a["median_ttft_ms"],
            "short_alone_median_e2el_ms": a["median_e2el_ms"],
        }
    )
    if a["p99_ttft_ms"]:
        m["short_ttft_inflation_p99"] = m["short_p99_ttft_ms"] / a["p99_ttft_ms"] if m["short_p99_ttft_ms"] else None
    m.update(head_of_line(mixed))
    m.update(itl_beside_long_prefills(mixed))
    if m.get("hol_blocked_mean_ttft_ms") is not None and a["median_ttft_ms"]:
        m["hol_mean_extra_wait_ms"] = m["hol_blocked_mean_ttft_ms"] - a["median_ttft_ms"]
    # slowdown per class: E2E / the class's unloaded E2E (short: alone median; long: the warm-up long request)
    ref = {
        "short": (a["median_e2el_ms"] or 0) / 1000,
        "long": float(np.median([r.e2e_s for r in long_alone if r.ok])) if any(r.ok for r in long_alone) else None,
    }
    slow = {k: [r.e2e_s / ref[k] for r in mixed if r.ok and r.klass == k and ref[k]] for k in ("short", "long")}
    for k, v in slow.items():
        m[f"{k}_mean_slowdown"] = float(np.mean(v)) if v else None
    m["jain_slowdown"] = jain_index(slow["short"] + slow["long"])
    m["failed"] = sum(1 for r in mixed + alone if not r.ok)
    return m


def mixed_on_llm(llm, cfg: MixSettings, vocab: int, n: int, rate: float, time_limit_s: float) -> dict:
    """The mixed long/short workload (`n` requests at `rate`) on an LLM at its engine's own scheduler budget: the long
    prompts alone, the short ones alone, then the mix, each stepped by run_steps; what the mix did to each class
    (analyse)."""
    short_alone, long_ref, mixed = workload(cfg, vocab, n, rate)
    long_alone = run_steps(llm, long_ref, concurrency=1) if long_ref else []
    alone = run_steps(llm, short_alone, time_limit_s=time_limit_s)
    mix = run_steps(llm, mixed, time_limit_s=time_limit_s)
    return analyse(
        {
            "alone": [r.to_raw() for r in alone],
            "mixed": [r.to_raw() for r in mix],
            "long_alone": [r.to_raw() for r in long_alone],
        }
    )
