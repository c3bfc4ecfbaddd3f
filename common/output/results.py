"""Results on disk: one JSON per run (schema below) and a CSV beside it, written atomically.

File name: {experiment}_{model}_tp{n}_{YYYYmmdd-HHMMSS}.json, with
  schema_version, experiment, created, status, config, environment, metrics, raw
  (+ failure when something stopped or broke, + steps: what ran after the measurement and how it ended)
Schema 2 has one status vocabulary (Status); schema 1, still read (`upgraded`), also said pass / fail.
The report (common.report: python -m common.report DIR, or run_distributed_benchmark.py --from-results DIR) reads
only these files.

Nothing measured is lost to what comes after it: a script writes its RunFile the moment the measurement exists,
then runs each later step (a cross-check, the summary, tables, plots, the report) inside `then(step, *files)`,
which records a Ctrl-C or an error in that step in the files instead of losing them.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import json
import os
import platform as _platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Callable, TypeVar

from common.runtime.isolation import Failure, plain

SCHEMA_VERSION = 2
READS = (1, 2)  # the versions load_results reads (as the current one: upgraded)
REQUIRED_KEYS = ("schema_version", "experiment", "config", "environment", "metrics", "raw")
ROOT = Path(__file__).resolve().parents[2]


class Status(StrEnum):
    """A result file's status, one word each: "measured" (on disk, its summary not written yet), "ok", "failed" (the
    measurement, or the script's own check, as test_tensor_parallel.py's), "skipped" (not run here: why is its
    failure). A file of schema 1 said "pass" / "fail" for ok / failed: `read` maps them."""

    MEASURED = "measured"
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"

    @classmethod
    def read(cls, word: str) -> Status:
        return cls({"pass": "ok", "fail": "failed"}.get(word, word))


def upgraded(doc: dict) -> dict:
    """A result document of any version in READS as the current version has it (in memory; the file stays as it is).
    1 -> 2: the status words, the file's and its metrics' own (test_tensor_parallel.py kept one there)."""
    if doc["schema_version"] == 1:
        doc = {**doc, "schema_version": 2, "status": Status.read(doc["status"]).value}
        if isinstance(doc["metrics"], dict) and isinstance(doc["metrics"].get("status"), str):
            doc["metrics"] = {**doc["metrics"], "status": Status.read(doc["metrics"]["status"]).value}
    return doc


def _run(cmd: list[str], timeout: float = 20) -> str | None:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return r.stdout.strip() if r.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _pkg_version(name: str) -> str | None:
    from importlib import metadata

    for dist in (name, f"{name}-cpu"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def _cpu_model() -> str | None:
    try:
        return (
            next(
                (
                    ln.split(":", 1)[1].strip()
                    for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")
                ),
                None,
            )
            or _platform.processor()
            or None
        )
    except OSError:
        return _platform.processor() or None


def environment() -> dict:
    """GPUs (names, count, memory, interconnect matrix), driver, CUDA, torch, vLLM, git SHA, host, and the
    host's 1-minute load when the file is written (a busy host slows vLLM's CPU-side scheduling)."""
    return {**_machine(), "loadavg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


@functools.lru_cache(maxsize=1)
def _machine() -> dict:
    """What does not change while a process runs: asked once (git, NVML, nvidia-smi topo)."""
    gpus: list[dict] = []
    env: dict = {
        "host": socket.gethostname(),
        "platform": _platform.platform(),
        "python": _platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "torch": _pkg_version("torch"),
        "vllm": _pkg_version("vllm"),
        "transformers": _pkg_version("transformers"),
        # LAB_GIT_SHA: for a copy of the tree whose .git is missing or stale (a machine the tree was shipped to)
        "git_sha": os.environ.get("LAB_GIT_SHA") or _run(["git", "-C", str(ROOT), "rev-parse", "HEAD"]),
        "git_dirty": bool(_run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])),
        "gpus": gpus,
        "gpu_count": 0,
        "driver": None,
        "cuda": None,
        "interconnect": None,
    }
    try:
        import pynvml

        pynvml.nvmlInit()
        env["driver"] = pynvml.nvmlSystemGetDriverVersion()
        cuda = pynvml.nvmlSystemGetCudaDriverVersion()
        env["cuda"] = f"{cuda // 1000}.{cuda % 1000 // 10}"
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            gpus.append(
                {
                    "index": i,
                    "name": name.decode() if isinstance(name, bytes) else name,
                    "memory_total_mib": pynvml.nvmlDeviceGetMemoryInfo(h).total // (1024 * 1024),
                    "power_limit_w": pynvml.nvmlDeviceGetPowerManagementLimit(h) / 1000,
                }
            )
        pynvml.nvmlShutdown()
    except Exception:
        pass
    env["gpu_count"] = len(env["gpus"])
    if env["gpu_count"] > 1:
        topo = _run(["nvidia-smi", "topo", "-m"])
        env["interconnect"] = strip_ansi(topo) if topo else None
    try:
        import torch

        env["torch_cuda"] = torch.version.cuda
    except Exception:
        env["torch_cuda"] = None
    return env


def machine_text(env: dict) -> str:
    """The devices an environment() names, short: "4 x H200", or "CPU (2 cores)"."""
    if env.get("gpus"):
        return f"{len(env['gpus'])} x {env['gpus'][0]['name'].replace('NVIDIA ', '')}"
    return f"CPU ({env['cpu_count']} cores)"


def figure_subtitle(model: str, env: dict, workload: str) -> str:
    """What a figure is of, for its title: the model (its last path part), the devices, the workload."""
    return f"{str(model).rstrip('/').split('/')[-1]} on {machine_text(env)}, {workload}"


def strip_ansi(text: str) -> str:
    """nvidia-smi underlines its header with terminal escape codes; files want plain text."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def timestamp() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def stamp_clock(stamp: str) -> str:
    """A run stamp (YYYYmmdd-HHMMSS) as its time of day, HH:MM."""
    return _dt.datetime.strptime(stamp, "%Y%m%d-%H%M%S").strftime("%H:%M")


def run_stamp(doc: dict) -> str:
    """The run a result file belongs to: the YYYYmmdd-HHMMSS stamp its name ends with (every file one
    invocation writes shares it), else its creation time."""
    m = re.search(r"_(\d{8}-\d{6})\.json$", doc.get("_path", ""))
    return m.group(1) if m else doc["created"]


_UMASK = os.umask(0o022)  # read once at import (setting it is process-wide, so not from worker threads)
os.umask(_UMASK)


def writable_dir(path: str | Path) -> str | None:
    """Why results cannot be written to folder `path`, or None when they can: checked before any engine starts, so
    a bad --output-dir costs seconds, not a measurement. Folders made for the check are removed again (the first
    result makes them), so a run refused later for another reason leaves nothing behind."""
    p = Path(path).absolute()
    if p.exists() and not p.is_dir():
        return f"--output-dir {path} is a file, not a folder"
    made = [d for d in (p, *p.parents) if not d.exists()]
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=p, prefix=".write-check-"):
            pass
    except OSError as e:
        return f"cannot write results to --output-dir {path}: {e.strerror or e}"
    finally:
        for d in made:  # deepest first
            with contextlib.suppress(OSError):
                d.rmdir()
    return None


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are for everyone the umask allows
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_json(doc: dict) -> str:
    """The result document as JSON: indented for reading, except `raw`, where each per-request sample is one
    compact line (indented one number per line, an in-process GPU run's samples made an 8 MB file)."""
    compact = functools.partial(json.dumps, separators=(",", ":"), default=plain)

    def value(key, v):
        if key != "raw" or not isinstance(v, dict) or not v:
            return json.dumps(v, indent=2, default=plain).replace("\n", "\n  ")
        rows = []
        for k, x in v.items():
            body = (
                ("[\n" + ",\n".join("      " + compact(e) for e in x) + "\n    ]")
                if isinstance(x, list) and x
                else compact(x)
            )
            rows.append(f"    {json.dumps(k)}: {body}")
        return "{\n" + ",\n".join(rows) + "\n  }"

    return "{\n" + ",\n".join(f"  {json.dumps(k)}: {value(k, v)}" for k, v in doc.items()) + "\n}\n"


def run_path(out_dir: str | Path, experiment: str, model: str, tp: int | str, ts: str | None = None) -> Path:
    return Path(out_dir) / f"{slug(experiment)}_{slug(model)}_tp{tp}_{ts or timestamp()}.json"


_WRITTEN: dict[Path, None] = {}  # every result file this process wrote (what a Ctrl-C leaves behind)


def written() -> list[Path]:
    return list(_WRITTEN)


def now_iso() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def save_run(
    path: Path,
    *,
    experiment: str,
    config: dict,
    metrics: dict,
    raw: dict | None = None,
    status: str = Status.OK,
    rows: list[dict] | None = None,
    failure: Failure | None = None,
    steps: dict | None = None,
    created: str | None = None,
    env: dict | None = None,
) -> Path:
    """Write the JSON (and `rows` as the CSV beside it; default one row of the scalar metrics). `created` and `env`:
    when the measurement was first written and the machine then (default: now)."""
    doc = {
        "schema_version": SCHEMA_VERSION,
        "experiment": experiment,
        "created": created or now_iso(),
        "status": status,
        "config": config,
        "environment": env or environment(),
        "metrics": metrics,
        "raw": raw or {},
    }
    if failure:
        doc["failure"] = failure.to_json()
    if steps:
        doc["steps"] = steps
    atomic_write(path, to_json(doc))
    import pandas as pd

    if rows is None:
        rows = [
            {
                "status": status,
                **{k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool)) or v is None},
            }
        ]
    atomic_write(path.with_suffix(".csv"), pd.DataFrame(rows).to_csv(index=False))
    _WRITTEN[Path(path)] = None
    return path


@dataclass
class RunFile:
    """One result file of a run, and when it is written (each write atomic, the whole file each time):

    1. `measured(metrics, raw, ...)` the moment the measurement exists: the figures each part already has in
       metrics, per-request samples in raw, the measurement's own failure, and its status: ok / failed where the
       measurement judges itself (a level with errors), else "measured" until its summary judges it. Written again
       while the measurement grows (a capacity search before its validation replay; the offline batch after the
       levels). Inside an engine's own process, `common.runtime.isolation.checkpoint` keeps what is measured so far
       for the parent instead, which writes it here when the process ends, however it ends.
    2. `then(step, fn, run)` for each step after it (a cross-check, the summary, tables, plots, a report): the file
       is written again as the step ends, saying how in `steps` ({step: "done" | "interrupted" | "failed: why"}).
       A step that breaks does not change `status` (the figures stand; the report and --resume still read them)
       but is the run's `failure` (exit 1).
    3. `summarized(metrics, rows, failed)`, inside the step "the summary": the run's figures, computed from what was
       measured (text only renders them), its table rows (the CSV) and, where the summary judges the measurement
       (a TP size's checks, a layout's failed runs), its status ok / failed.

    `created` and the environment are those of the first write, not of the last step. `save` is the one writer
    underneath (also for a step's own record: `step_ended`, then `save`)."""

    path: Path
    experiment: str
    config: dict
    metrics: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)
    rows: list[dict] | None = None
    status: str = Status.MEASURED
    failure: Failure | None = None
    steps: dict[str, str] = field(default_factory=dict)
    created: str | None = None
    env: dict | None = None

    def save(self, **fields) -> Path:
        for k, v in fields.items():
            if k not in self.__dataclass_fields__:
                raise TypeError(f"RunFile has no field {k!r}")
            setattr(self, k, v)
        self.created, self.env = self.created or now_iso(), self.env or environment()
        return save_run(
            self.path,
            experiment=self.experiment,
            config=self.config,
            metrics=self.metrics,
            raw=self.raw,
            status=self.status,
            rows=self.rows,
            failure=self.failure,
            steps=self.steps,
            created=self.created,
            env=self.env,
        )

    def measured(self, metrics: dict, raw: dict, failure: Failure | None = None, failed: bool | None = None) -> Path:
        """Write 1: the measurement (see the class docstring). `failure`: the measurement's own (a later step's is
        recorded by `then`); `failed`: whether it ran but failed its own check (a level with errors), or None where
        its summary judges it (status "measured" until then)."""
        self.failure = self.failure or failure
        judged = True if failure is not None else failed
        status = Status.MEASURED if judged is None else Status.FAILED if judged else Status.OK
        return self.save(metrics=metrics, raw=raw, status=status)

    def summarized(self, metrics: dict, rows: list[dict] | None, failed: bool | None = None) -> Path:
        """Write 3: the summary's figures and the table rows, in the step "the summary"; `failed`: the summary's
        verdict on the measurement, where the summary judges it (ok / failed), else None."""
        if failed is not None:
            self.status = Status.FAILED if failed else Status.OK
        return self.save(metrics=metrics, rows=rows)

    def step_ended(self, step: str, how: str, failure: Failure | None = None) -> None:
        """Record how a step after the measurement ended; a step's failure is the run's failure unless an earlier
        one is already recorded (the first thing that went wrong is what the file says)."""
        self.steps[step] = how
        if failure:
            self.failure = self.failure or failure

    @property
    def failed(self) -> bool:
        """Whether anything went wrong: the measurement, or a step after it (the exit code is then 1)."""
        return self.status == Status.FAILED or (self.failure is not None and self.failure.kind != "skipped")


T = TypeVar("T")
FAULT_ENV = "LAB_INJECT_FAULT"  # "STEP:raise" or "STEP:interrupt": that step fails as a real one would (tests)


def _injected_fault(step: str) -> None:
    name, _, how = os.environ.get(FAULT_ENV, "").rpartition(":")
    if name != step:
        return
    if how == "interrupt":  # a real SIGINT, handled as Ctrl-C is: KeyboardInterrupt in the main thread
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
    raise RuntimeError(f"fault injected by {FAULT_ENV}={name}:{how}")


_FAILED_STEPS: list[str] = []  # steps of this process that broke (with no file to record them in, too)


@contextlib.contextmanager
def _sigint_held():
    """A second Ctrl-C waits until the record of the first is on disk (then it lands as usual)."""
    held = hasattr(signal, "pthread_sigmask")
    if held:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        if held:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def then(step: str, fn: Callable[[], T], *files: RunFile) -> T | None:
    """fn(): a step after the measurement, whose files are already on disk; its result, or None if it failed. It
    ends in one of three ways, each written to every file: done; Ctrl-C (recorded as interrupted, then re-raised:
    exit 130); an error (recorded with its message as the run's failure, one line on the terminal and the traceback
    on stderr; the run goes on and ends with exit 1: `any_failed`). The measurement's status is left as it is."""
    try:
        _injected_fault(step)
        out = fn()
    except KeyboardInterrupt:
        with _sigint_held():
            for f in files:
                f.step_ended(step, "interrupted", Failure.interrupted("the measurement before it is kept", step))
                f.save()
        raise
    except Exception as e:
        why = f"{type(e).__name__}: {e}"[:500]
        _FAILED_STEPS.append(step)
        traceback.print_exc(file=sys.stderr)
        print(
            f"{step} FAILED ({why})"
            + ("; the measurement before it is kept in " + ", ".join(f.path.name for f in files) if files else ""),
            flush=True,
        )
        with _sigint_held():
            for f in files:
                hint = (
                    "the measurement before it is kept; the traceback is on stderr (a bug in the lab: please report it)"
                )
                f.step_ended(step, f"failed: {why}", Failure("other", f"{step} failed: {why}", hint, step=step))
                f.save()
        return None
    for f in files:
        f.steps.setdefault(step, "done")  # (unless the step recorded how it ended itself)
        f.save()
    return out


def any_failed(files) -> bool:
    """Whether the run ends with exit 1: a file's measurement failed, or a step after it broke (one with no file to
    record it in counts too)."""
    return any(f.failed for f in files) or bool(_FAILED_STEPS)


def load_results(directory: str | Path) -> tuple[list[dict], list[tuple[Path, str]]]:
    """All result JSONs of a folder: (documents with "_path" added, [(path, why skipped)])."""
    docs, skipped = [], []
    for p in sorted(Path(directory).glob("*.json")):
        try:
            doc = json.loads(p.read_text())
        except (OSError, ValueError) as e:
            skipped.append((p, f"not valid JSON ({type(e).__name__})"))
            continue
        if not isinstance(doc, dict) or any(k not in doc for k in REQUIRED_KEYS):
            skipped.append((p, "not a result file of this lab (schema keys missing)"))
            continue
        if doc["schema_version"] not in READS:
            skipped.append((p, f"schema_version {doc['schema_version']}: this lab reads {', '.join(map(str, READS))}"))
            continue
        doc = upgraded(doc)
        doc["_path"] = str(p)
        docs.append(doc)
    return docs, skipped


def record_failure(
    path: Path, label: str, res: dict, *, experiment: str, config: dict, metrics: dict, row: dict | None = None
) -> dict:
    """A configuration whose process failed: print why and the hint, save a failed-status run (with the
    child's log tail and what it had checkpointed before it stopped, raw.partial), and on Ctrl-C stop the sweep -
    what finished is already on disk. Returns the row."""
    f: Failure = res["failure"]
    print(f.line(label), flush=True)
    row = {**(row or {}), "status": Status.FAILED, "reason": f"{f.kind}: {f.message[:100]}"}
    save_run(
        path,
        experiment=experiment,
        config=config,
        metrics=metrics,
        status=Status.FAILED,
        failure=f,
        raw={"log_tail": res.get("log_tail", ""), **({"partial": res["partial"]} if res.get("partial") else {})},
        rows=[row],
    )
    if f.kind == "interrupted":
        raise KeyboardInterrupt
    return row
