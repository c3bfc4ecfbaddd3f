"""Functions the isolation tests run in child processes."""
import os
import time


def ok(cfg):
    return {"value": cfg["x"] * 2, "pid": os.getpid()}


def raise_oom(cfg):
    raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")


def raise_nccl(cfg):
    raise RuntimeError("NCCL error in: ProcessGroupNCCL.cpp:1970, unhandled system error")


def sleep_forever(cfg):
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
