"""Load on an in-process `vllm.LLM`, driven step by step: offline batches and timed requests on one engine.

`LLM.generate` is what `vllm bench throughput` times, so offline throughput is measured with it. The same
engine then serves closed-loop (fixed concurrency) and open-loop (arrival times) request streams through
`LLM.llm_engine`: requests are added when due, and each `step()` hands back the tokens the engine core
produced; each request's tokens are stamped when they reach the front end, as AsyncLLM and `vllm serve`
stamp them. There is no event loop and no per-request coroutine between the engine and the clock, so this
front end is cheaper than the async one; records and metrics are the same `RequestRecord`s as common.traffic.loadgen.
"""

from __future__ import annotations

import time
import uuid
from collections import deque

from common.traffic.loadgen import STOP_CHECK_S, RequestRecord, new_record
from common.traffic.workloads import RequestSpec


def _params(spec: RequestSpec, temperature: float = 0.0, kind: str = "CUMULATIVE"):
    """Exactly `spec.output_len` tokens; top-p, n and the rest at vLLM's defaults (as `vllm bench` leaves them)."""
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    return SamplingParams(
        max_tokens=spec.output_len,
        ignore_eos=True,
        temperature=temperature,
        output_kind=getattr(RequestOutputKind, kind),
    )


def generate_offline(llm, specs: list[RequestSpec], use_tqdm: bool = False, temperature: float = 1.0) -> dict:
    """All prompts in one LLM.generate call (as `vllm bench throughput`); wall time of that call only.
    The default sampling is `vllm bench throughput`'s (temperature 1.0, top-p 1.0), so ours / theirs compares
    the same work; temperature=0.0 is greedy, as the request clients here ask."""
    prompts = [{"prompt_token_ids": s.prompt_token_ids} for s in specs]
    params = [_params(s, temperature) for s in specs]
    t0 = time.perf_counter()
    outs = llm.generate(prompts, params, use_tqdm=use_tqdm)
    t1 = time.perf_counter()
    out_tokens = [len(o.outputs[0].token_ids) for o in outs]
    done = sum(1 for n, s in zip(out_tokens, specs, strict=True) if n == s.output_len)
    return {
        "start": t0,
        "end": t1,
        "wall_s": t1 - t0,
        "completed": done,
        "failed": len(specs) - done,
        "output_tokens": sum(out_tokens),
        "input_tokens": sum(len(s.prompt_token_ids) for s in specs),
    }


def run_steps(
    llm,
    specs: list[RequestSpec],
    concurrency: int | None = None,
    time_limit_s: float = 600.0,
    progress=None,
    max_steps: int | None = None,
    stop=None,
) -> list[RequestRecord]:
    """Closed loop when `concurrency` is set (the next request goes in when one finishes), else open loop
    (each spec is added at its `arrival_s`). Bounded by the list, by `time_limit_s` and by `max_steps` engine
    steps (a limit that does not depend on the machine's speed); what is still running at a limit is aborted
    and recorded as failed. `stop(records, t0, now)`, if given, is asked every STOP_CHECK_S: once it returns a
    reason, the run ends there the same way (common.capacity.search.SureFail)."""
    run = _StepRun(llm.llm_engine, specs, concurrency, progress)
    deadline = run.t0 + time_limit_s
    steps, why, next_check = 0, None, run.t0 + STOP_CHECK_S
    while run.waiting or run.running:
        now = time.perf_counter()
        if now > deadline or (max_steps is not None and steps >= max_steps):
            break
        if stop is not None and now >= next_check:
            next_check = now + STOP_CHECK_S
            if reason := stop(run.records, run.t0, now):
                why = f"probe stopped: {reason}"
                break
        run.admit(now)
        if not run.running:  # open loop, nothing in flight: wait for the next arrival
            if run.waiting:
                time.sleep(max(0.0, min(run.t0 + run.waiting[0][0].arrival_s, deadline) - time.perf_counter()))
            continue
        run.step()
        steps += 1
    if run.running:
        run.engine.abort_request(list(run.running))
    limit = (
        f"the {max_steps}-step limit"
        if max_steps is not None and steps >= max_steps
        else f"the {time_limit_s:g} s time limit"
    )
    for rec in run.records:
        if rec.end_s is None and rec.error is None:
            rec.error = why or f"not finished within {limit}"
    return run.records


class _StepRun:
    """The requests of one run_steps call: waiting (not yet admitted), running (by engine request id), the free
    clients of a closed loop."""

    def __init__(self, engine, specs: list[RequestSpec], concurrency: int | None, progress):
        self.engine, self.progress = engine, progress
        self.records = [new_record(s) for s in specs]
        self.waiting = deque(zip(specs, self.records, strict=True))
        self.running: dict[str, RequestRecord] = {}
        self.free_clients = deque(range(concurrency)) if concurrency else None
        self.t0 = time.perf_counter()

    def admit(self, now: float) -> None:
        """Add what may start now: closed loop, while a client is free; open loop, what has arrived."""
        while self.waiting:
            spec, rec = self.waiting[0]
            if self.free_clients is not None:
                if not self.free_clients:
                    return
                rec.client, rec.scheduled_s = self.free_clients.popleft(), now
            elif self.t0 + spec.arrival_s > now:
                return
            else:
                rec.scheduled_s = self.t0 + spec.arrival_s
            self.waiting.popleft()
            rid = f"{spec.rid}-{uuid.uuid4().hex[:6]}"
            rec.start_s = time.perf_counter()
            try:
                got = self.engine.add_request(
                    rid, {"prompt_token_ids": spec.prompt_token_ids}, _params(spec, kind="DELTA")
                )
            except Exception as e:  # a rejected request is data, not a crash
                rec.error, rec.end_s = f"{type(e).__name__}: {e}"[:300], None
                self.release(rec)
                continue
            self.running[rid] = rec
            if isinstance(got, str) and got != rid:  # newer vLLM may suffix the id internally
                self.running[got] = rec

    def step(self) -> None:
        """One engine step; its tokens go to their records, finished requests free their client."""
        outs = self.engine.step()
        now = time.perf_counter()
        for out in outs:
            rec = self.running.get(out.request_id)
            if rec is None:
                continue
            rec.add_tokens(now, len(out.outputs[0].token_ids) if out.outputs else 0)
            if out.finished:
                rec.end_s, rec.cached_tokens = now, out.num_cached_tokens
                for k in [k for k, v in self.running.items() if v is rec]:
                    del self.running[k]
                self.release(rec)

    def release(self, rec: RequestRecord) -> None:
        if self.free_clients is not None and rec.client is not None:
            self.free_clients.append(rec.client)
        if self.progress:
            self.progress.update(1)
