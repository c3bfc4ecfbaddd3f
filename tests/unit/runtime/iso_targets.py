"""Functions the isolation tests run in child processes."""

import os
import time


def ok(cfg):
    return {"value": cfg["x"] * 2, "pid": os.getpid()}


def raise_oom(cfg):
    raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")


def raise_nccl(cfg):
    raise RuntimeError("NCCL error in: ProcessGroupNCCL.cpp:1970, unhandled system error")


def raise_after_engine_start(cfg):
    """An error of the lab's own, after the start-up lines a CPU engine prints (they name its gloo backend)."""
    print("INFO [parallel_state.py] world_size=1 rank=0 local_rank=0 distributed_init_method=tcp backend=gloo")
    print("INFO [gloo] Rank 0 is connected to 0 peer ranks", flush=True)
    raise OverflowError("cannot convert float infinity to integer")


def sleep_forever(cfg):
    time.sleep(3600)


def noisy_when_killed(cfg):
    """Say it is ready, then wait; on SIGTERM print a traceback-like line (as vLLM's engine core does) and exit."""
    import signal
    import sys

    def dying(signum, frame):
        print("Traceback (most recent call last): RuntimeError: cancelled", flush=True)
        sys.exit(1)

    signal.signal(signal.SIGTERM, dying)
    print("ready", flush=True)
    time.sleep(3600)


def hard_exit(cfg):
    print("ValueError: the real reason is printed before dying", flush=True)
    os._exit(3)


def allocate(cfg):
    """Hold `mib` MiB for `seconds` in a grandchild process (as engine workers do)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    p = ctx.Process(target=_hold, args=(cfg["mib"], cfg["seconds"]))
    p.start()
    p.join()
    return {"child_exitcode": p.exitcode}


def _hold(mib, seconds):
    buf = bytearray(mib * 1024 * 1024)
    for i in range(0, len(buf), 4096):
        buf[i] = 1
    time.sleep(seconds)


def step_driver(cfg):
    """common.traffic.stepdrive on a real tiny engine: closed loop, open loop, a time limit, then LLM.generate."""
    from common.runtime import engine as eng
    from common.traffic.stepdrive import generate_offline, run_steps
    from common.traffic.workloads import random_prompts

    llm = eng.build_llm(cfg["engine"])
    closed = run_steps(llm, random_prompts(8, 32, 12, 1000, seed=1), concurrency=2)
    opened = random_prompts(6, 32, 8, 1000, seed=2)
    for i, s in enumerate(opened):
        s.arrival_s = 0.4 * i
    t0 = time.perf_counter()
    opened = run_steps(llm, opened)
    # limits that hold whatever the machine's speed: 3 engine steps cannot produce 400 tokens, and a 0 s time
    # limit ends the run before anything is sent
    cut = run_steps(llm, random_prompts(4, 32, 400, 1000, seed=3), concurrency=4, max_steps=3)
    timed = run_steps(llm, random_prompts(2, 32, 8, 1000, seed=5), concurrency=2, time_limit_s=0.0)
    offline = generate_offline(llm, random_prompts(4, 32, 6, 1000, seed=4))  # the engine still works after the cut
    # two prompts, one after the other, sharing their first 300 tokens: the second finds two full 128-token KV blocks
    a, b = random_prompts(2, 320, 4, 1000, seed=6)
    b.prompt_token_ids = a.prompt_token_ids[:300] + b.prompt_token_ids[300:]
    shared = run_steps(llm, [a, b], concurrency=1)
    return {
        "closed": [r.to_raw() for r in closed],
        "open": [r.to_raw(t0) for r in opened],
        "cut": [r.to_raw() for r in cut],
        "timed": [r.to_raw() for r in timed],
        "offline": offline,
        "shared": [r.to_raw() for r in shared],
    }


def describe_config(cfg):
    """What the child got: its class, and the types of fields that JSON alone would not give back."""
    return {
        "class": f"{type(cfg).__module__}.{type(cfg).__qualname__}",
        "layout": type(cfg.layout).__name__,
        "layout_name": cfg.layout.name,
        "engine": cfg.engine,
        "replica": cfg.replica,
    }


def mixed_lengths(cfg):
    return {"long_len": type(cfg.long_len).__name__, "variant": cfg.variant}


def checkpoint_then_fail(cfg):
    """What a search or a level sweep does: save what it measured, then break."""
    from common.runtime.isolation import checkpoint

    checkpoint({"levels": [1, 2]})
    raise RuntimeError("broke after two levels")


def log_and_fail(cfg):
    """A lab line on stdout, an engine's log line on stderr (vLLM's and torch's go there), then a failure."""
    import sys

    print("  the lab's progress line", flush=True)
    print("WARNING 12-07 12:00:00 [engine.py:1] an engine's log line", file=sys.stderr, flush=True)
    raise MemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
