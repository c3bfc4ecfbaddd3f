"""Run one configuration in its own process, so an OOM, an NCCL failure or a hang costs one row.

    result = run_isolated("test_tensor_parallel:tp_check", cfg, timeout_s=900, label="TP=2")

The child is `python -m common.runtime.isolation MODULE:FUNC IN.json OUT.json`: it calls FUNC(cfg) and writes
the returned dict (or its exception) to OUT.json. Its output (vLLM's log, progress bars) streams to this
process's stderr, so stdout carries only the experiment's own lines and tables (`script > table.txt` keeps
a clean table while the terminal shows both), and the tail is kept to classify failures. On timeout or
Ctrl-C the whole process tree is killed (what it prints while dying is kept in the log tail, not shown), and with
it any Ray cluster the child started (its own RAY_TMPDIR names all of its processes); afterwards we wait until
the GPUs' memory is back to where it was before the child started.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import psutil

from common.runtime import gpu_memory, runlog

ROOT = Path(__file__).resolve().parents[2]
EXIT_GRACE_S = 30.0

FAILURE_PATTERNS = [  # (kind, regex over the exception text and the log tail), first match wins
    (
        "oom",
        r"out of memory|OutOfMemoryError|CUDA error: out of memory|Cannot allocate memory|"
        r"No available memory for the cache blocks|KV cache is needed, which is larger than",
    ),
    (
        "nccl",
        r"NCCL|ncclInternalError|ProcessGroup|init_process_group|distributed init|"
        r"torch\.distributed|gloo|DistNetworkError",
    ),
]


def classify_failure(text: str) -> str:
    for kind, pattern in FAILURE_PATTERNS:
        if re.search(pattern, text, flags=re.IGNORECASE):
            return kind
    return "other"


HINTS = {
    "interrupted": "what finished before is kept",
    "oom": "out of memory: lower --max-num-seqs or --gpu-memory-utilization, or --max-model-len; "
    "TP needs extra memory for activations and communication buffers",
    "nccl": "distributed init failed: check all GPUs are visible (nvidia-smi, CUDA_VISIBLE_DEVICES), "
    "that TP size <= GPU count, and rerun with NCCL_DEBUG=INFO",
    "timeout": "the configuration exceeded --timeout; raise it or shrink the workload",
    "other": "see the log above",
}


@dataclass(frozen=True)
class Failure:
    """Why a configuration, a measurement or a step after it gave no result (or not all of it), typed; to_json is the
    result file's `failure`, from_json reads one back. kind: oom | nccl | timeout | interrupted | other | skipped;
    `step`: the step after the measurement it happened in; `exit_code`: the child process's."""

    kind: str
    message: str
    hint: str = ""
    exit_code: int | None = None
    step: str | None = None

    def to_json(self) -> dict:
        d: dict = {"kind": self.kind, "message": self.message}
        d.update({k: v for k, v in (("step", self.step), ("exit_code", self.exit_code)) if v is not None})
        return {**d, **({"hint": self.hint} if self.hint else {})}

    @classmethod
    def from_json(cls, d: dict) -> Failure:
        return cls(d["kind"], d.get("message", ""), d.get("hint", ""), d.get("exit_code"), d.get("step"))

    @classmethod
    def interrupted(cls, hint: str = HINTS["interrupted"], step: str | None = None, exit_code: int | None = None):
        during = f" during {step}" if step else ""
        return cls("interrupted", f"interrupted by the user (Ctrl-C){during}", hint, exit_code, step)

    def line(self, label: str) -> str:
        """What the terminal says of it: `label FAILED (kind): message`, and the hint under it."""
        return f"{label} FAILED ({self.kind}): {self.message[:300]}" + (f"\n  hint: {self.hint}" if self.hint else "")


_ERROR_LINE = re.compile(r"(?:^|\] )((?:[A-Za-z_][\w.]*)?(?:Error|Exception)): (.+)$", re.MULTILINE)


def root_cause(log: str) -> str | None:
    """The most telling 'SomeError: message' line of a log: one that names OOM/NCCL first, else the first one."""
    found = [f"{m.group(1)}: {m.group(2).strip()}" for m in _ERROR_LINE.finditer(log)]
    found = [f for f in found if "See root cause above" not in f]
    for f in found:
        if classify_failure(f) != "other":
            return f
    return found[0] if found else None


def kill_tree(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the process and all its descendants, SIGKILL what is left after `timeout` s; then remove the shared
    memory they had mapped, which a killed process cannot remove itself."""
    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    procs = parent.children(recursive=True) + [parent]
    shm = shm_of(procs)
    terminate_then_kill(procs, timeout)
    unlink_shm(shm)


def shm_of(procs: list) -> set[str]:
    """The POSIX shared-memory files `procs` have mapped (/dev/shm/psm_*: vLLM's message queues between the front end,
    the engine core and its workers). A process killed before it closes them leaves them behind (160 and 240 MiB
    files, sparse)."""
    out: set[str] = set()
    for p in procs:
        try:  # /proc/PID/maps, not psutil's memory_maps (which reads smaps: ~100x the work)
            out.update(re.findall(r"(/dev/shm/psm_\w+)$", Path(f"/proc/{p.pid}/maps").read_text(), re.M))
        except OSError:
            continue
    return out


def unlink_shm(paths: set[str]) -> None:
    """Remove the shared-memory files that are still there (their owners are gone: nothing else maps them)."""
    for path in paths:
        with contextlib.suppress(OSError):
            os.unlink(path)


def terminate_then_kill(procs: list, timeout: float = 10.0) -> None:
    """SIGTERM every process, SIGKILL those still alive after `timeout` s, and reap them."""
    for p in procs:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


# Ray's daemons (gcs_server, raylet and its agents) take ~10 s to shut down gracefully on SIGTERM (seen on the 2-core
# box); a cluster being torn down needs none of that (`ray stop --force` kills outright): 2 s, then SIGKILL
RAY_GRACE_S = 2.0


def kill_matching(*markers: str, timeout: float = RAY_GRACE_S) -> int:
    """SIGTERM, then SIGKILL, every process whose command line mentions one of `markers`, and their descendants
    (Ray's raylet starts agents that retitle themselves `ray::DashboardAgent` and name no dir), all at once; returns
    how many."""
    found: dict[int, psutil.Process] = {}
    for p in psutil.process_iter(["cmdline"]):
        try:
            if p.pid != os.getpid() and any(m in " ".join(p.info["cmdline"] or []) for m in markers):
                found[p.pid] = p
                found.update({c.pid: c for c in p.children(recursive=True) if c.pid != os.getpid()})
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    procs = list(found.values())
    terminate_then_kill(procs, timeout)
    return len(procs)


class OwnRayDir:
    """A Ray temp dir of one configuration's own (RAY_TMPDIR), and on close every process that names it killed.

    A Ray cluster that vLLM's Ray backend starts for a child (GCS server, raylet, dashboard, workers) runs in
    sessions of its own, outside the child's process tree and group, and outlives it when the engine fails or
    the child is killed. All of its processes carry the session dir under RAY_TMPDIR on their command line, so
    they can be found and stopped without touching any other Ray cluster on the machine (one started with
    `ray start`, which the child joins through RAY_ADDRESS, keeps its own temp dir)."""

    def __init__(self):
        self.path = None
        if "RAY_TMPDIR" not in os.environ:  # the user's own choice wins, and then cleans up after itself
            self.path = tempfile.mkdtemp(prefix="lab-ray-", dir="/tmp")  # short: Ray's socket paths have a limit

    def env(self) -> dict:
        return {"RAY_TMPDIR": self.path} if self.path else {}

    def __enter__(self) -> "OwnRayDir":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> int:
        if not self.path:
            return 0
        n = kill_matching(self.path)
        import shutil

        shutil.rmtree(self.path, ignore_errors=True)
        self.path = None
        return n


def kill_group(pgid: int) -> None:
    """SIGKILL a process group: catches engine processes orphaned when their parent exited."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _pump(stream, tail: deque, echo: bool, quiet: threading.Event) -> None:
    """Copy the child's output to the tail, and to our stderr until `quiet` is set (the child is being killed)."""
    fd = stream.fileno()
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        tail.append(chunk)
        if echo and not quiet.is_set():
            sys.stdout.flush()  # our own lines so far first, then the child's
            sys.stderr.buffer.write(chunk)
            sys.stderr.flush()


def run_isolated(
    target: str, cfg, timeout_s: float = 1800.0, label: str = "", echo: bool = True, env: dict | None = None
) -> dict:
    """Run MODULE:FUNC(cfg) in a child process. `cfg`: a script's Config (a dataclass with to_json / from_json: the
    child gets it rebuilt, typed, from JSON), or a plain dict of JSON values. Returns its dict, or a failure record:

    {"status": "failed", "failure": Failure(kind oom|nccl|timeout|other, ...), "log_tail": "..."}, always with
    "process_wall_s" (the child's whole life). With a run log (runlog) the child's stderr goes there.
    """
    baseline = gpu_memory.used_mib_per_gpu()
    ray_dir = OwnRayDir()
    with tempfile.TemporaryDirectory(prefix="lab-iso-") as tmp, runlog.appender() as log:
        inp, out = Path(tmp) / "in.json", Path(tmp) / "out.json"
        ckpt = Path(tmp) / "checkpoint.json"
        inp.write_text(json.dumps(_typed_input(cfg), default=plain))
        t0, offset = time.perf_counter(), runlog.size()
        screen = {runlog.SCREEN_ENV: "stdout"} if log else {}  # the child's own progress bars: to the screen
        proc = _spawn(target, inp, out, {**ray_dir.env(), **(env or {}), CHECKPOINT_ENV: str(ckpt), **screen}, log)
        tail: deque = deque(maxlen=64)
        quiet = threading.Event()
        pump = threading.Thread(target=_pump, args=(proc.stdout, tail, echo, quiet), daemon=True)
        pump.start()
        timed_out = interrupted = False
        try:
            timed_out = _wait(proc, out, t0, timeout_s)
        except KeyboardInterrupt:
            interrupted = True
        finally:  # also on Ctrl-C: nothing of this configuration may outlive it
            if proc.poll() is None:  # what its processes print while we kill them (vLLM's engine core logs the
                quiet.set()  # cancelled step as a fatal error) goes to the log tail, not the terminal
            kill_tree(proc.pid)
            kill_group(proc.pid)
            ray_dir.close()
            pump.join(timeout=5)
        wall = time.perf_counter() - t0
        logged = runlog.tail_since(offset) if log else ""
        log_tail = (b"".join(tail).decode("utf-8", "replace") + logged)[-8000:]
        result = json.loads(out.read_text()) if out.exists() else None
        partial = json.loads(ckpt.read_text()) if ckpt.exists() else None
    if not interrupted:
        gpu_memory.wait_until_released(baseline)

    if interrupted:
        return {**interrupted_result(proc.returncode), "process_wall_s": wall, "partial": partial}
    if result is not None and "__exception__" not in result and not timed_out:
        result.setdefault("status", "ok")
        result["process_wall_s"] = wall
        return result
    if timed_out:
        kind, message = "timeout", f"{label or target} exceeded {timeout_s:.0f} s and was killed"
    else:
        kind, message = _cause(result, proc.returncode, log_tail)
    runlog.show_failure(label or target, logged)
    return {
        "status": "failed",
        "process_wall_s": wall,
        "log_tail": log_tail[-3000:],
        "partial": partial,
        "failure": Failure(kind, message[:2000], HINTS[kind], proc.returncode),
    }


def _spawn(target: str, inp: Path, out: Path, env: dict, log=None) -> subprocess.Popen:
    """The child process (its own session, so its whole tree can be killed), its stdout piped to us and its stderr to
    `log` (else to us too); this tree first on its path, so workers vLLM spawns import the lab's modules (the worker
    extension) too."""
    child_env = dict(os.environ, PYTHONUNBUFFERED="1", **env)
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), child_env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-m", "common.runtime.isolation", target, str(inp), str(out)],
        cwd=str(ROOT), env=child_env, stdout=subprocess.PIPE, stderr=log or subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def _wait(proc: subprocess.Popen, out: Path, t0: float, timeout_s: float) -> bool:
    """Wait for the child: until it exits, or EXIT_GRACE_S after its result is in (the engine's shut-down may
    hang), or `timeout_s` without a result (then True: timed out)."""
    done_at = None
    while proc.poll() is None:
        now = time.perf_counter()
        if done_at is None and out.exists():
            done_at = now  # result is in; give the engine EXIT_GRACE_S to shut down
        if done_at is not None and now - done_at > EXIT_GRACE_S:
            return False
        if done_at is None and now - t0 > timeout_s:
            return True
        time.sleep(0.2)
    return False


def _cause(result: dict | None, exit_code: int | None, log_tail: str) -> tuple[str, str]:
    """(kind, message) of a child that failed: from the exception it wrote, else from its exit and its log."""
    # the log's error lines only: an engine's ordinary start-up lines name its backend (gloo, NCCL) and prove nothing
    cause = root_cause(log_tail)
    if result is not None:
        exc = result["__exception__"]
        message = f"{exc['type']}: {exc['message']}".strip()
        kind = classify_failure(exc["type"] + " " + exc["message"] + " " + exc.get("traceback", ""))
        if cause and kind == "other" and ("root cause" in message or classify_failure(cause) != "other"):
            return classify_failure(cause), cause  # e.g. an engine that died of a worker's NCCL error
        return kind, message
    message = f"child exited with code {exit_code} without a result"
    kind = classify_failure(cause or "")
    if cause:
        message += f"; {cause}"
    if exit_code and exit_code < 0 and kind == "other":
        message += f" (killed by signal {-exit_code}; the OS may have run out of memory)"
    return kind, message


def interrupted_result(exit_code: int | None = None) -> dict:
    """A configuration stopped by Ctrl-C, as run_isolated reports it."""
    return {"status": "failed", "failure": Failure.interrupted(exit_code=exit_code)}


def until_interrupted(run, *args, announce: str | None = None, **kwargs) -> dict:
    """run(*args, **kwargs), or interrupted_result() when Ctrl-C lands while it starts or ends its child (outside
    run_isolated's own watch), so the sweep still records the configuration before it stops. `announce`, the
    configuration's progress line, is printed inside that guard: a Ctrl-C sent on seeing it is this configuration's,
    whatever instant it arrives (one landing while print() still ran used to stop the sweep with no file for it)."""
    try:
        if announce is not None:
            print(announce, flush=True)
        return run(*args, **kwargs)
    except KeyboardInterrupt:
        return interrupted_result()


def plain(o):
    """A value json cannot write: a typed one by its own to_json (a Failure, a Probe, a CapacityResult), else text."""
    return o.to_json() if hasattr(o, "to_json") else str(o)


def checkpoint(partial) -> None:
    """From inside an isolated function: save what is measured so far (a dict, or a typed result with to_json); the
    parent gets it back as result["partial"] if the configuration later fails, times out or is interrupted. Outside
    a child (a script measuring a server in-process), nothing."""
    path = os.environ.get(CHECKPOINT_ENV)
    if path:
        tmp = Path(path).with_suffix(".tmp")
        tmp.write_text(json.dumps(partial, default=plain))
        os.replace(tmp, path)


# where a child's checkpoint goes, in the child's environment: the child runs this file as __main__, so a module
# global set there would not be the one `common.runtime.isolation.checkpoint` reads
CHECKPOINT_ENV = "LAB_CHECKPOINT"


def _typed_input(cfg) -> dict:
    """A child's input: a Config as its class's name ("module:Class") and its to_json(); a plain dict as itself."""
    if isinstance(cfg, dict):
        return {"config": cfg}
    cls = type(cfg)
    module = cls.__module__
    if module == "__main__":  # a script run as `python script.py`: its module under its own name in the child
        module = Path(sys.modules["__main__"].__file__ or "").stem
    return {"config_class": f"{module}:{cls.__qualname__}", "config": cfg.to_json()}


def _config_of(given: dict):
    """The child's config again: the named Config class's from_json, or the plain dict."""
    if "config_class" not in given:
        return given["config"]
    module_name, cls_name = given["config_class"].split(":")
    return getattr(importlib.import_module(module_name), cls_name).from_json(given["config"])


def _child(target: str, inp: str, out: str) -> int:
    module_name, func_name = target.split(":")
    given = json.loads(Path(inp).read_text())
    try:
        func = getattr(importlib.import_module(module_name), func_name)
        result = func(_config_of(given))
        payload, code = result, 0
    except BaseException as e:  # noqa: BLE001 - everything must reach the parent
        payload = {
            "__exception__": {
                "type": type(e).__name__,
                "message": str(e)[:4000],
                "traceback": traceback.format_exc()[-6000:],
            }
        }
        traceback.print_exc()
        code = 1
    tmp = Path(out).with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, default=plain))
    os.replace(tmp, out)
    return code


if __name__ == "__main__":
    rc = _child(*sys.argv[1:4])
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: engine objects' finalizers would run against half-torn-down modules.
    # Whatever the engine left running is in our process group, which the parent kills.
    os._exit(rc)
