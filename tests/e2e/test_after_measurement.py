"""Nothing measured is lost to what comes after it. For every script, the step right after its measurement (a
summary, a cross-check, the tables, the report) is made to fail as a real one would (LAB_INJECT_FAULT: a real SIGINT
that the script sends itself, with default handling, or an exception): a Ctrl-C there exits 130, an error exits 1, and
either way the JSON holds everything measured, with the step recorded as interrupted or failed. A Ctrl-C in the mixed
workload's summary here; the others within runs of their own files: a Ctrl-C in test_tensor_parallel's summary
(tests/e2e/test_tensor_parallel.py, after a failed size), an error in benchmark_scaling's calibration
(tests/e2e/test_capacity.py) and in the suite's report (tests/e2e/test_suite.py, which then resumes it). Both ways of a
step's ending are tested in process on the mechanism itself (tests/unit/output/test_results.py)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from common.output.results import FAULT_ENV
from tests.conftest import ROOT

MIXED = [
    *"test_mixed_workload.py --num-requests 12 --no-baseline --no-cap --budgets 256 --long-fraction 0.25".split(),
    *"--no-plots".split(),
]


def run_with_fault(args: list[str], out: Path, fault: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """A script run as a user would from a terminal (SIGINT handled by default, whatever this test's own job
    ignores), with one step made to fail."""
    return subprocess.run(
        [sys.executable, *args, "--output-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {}), FAULT_ENV: fault},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def docs(out: Path, prefix: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob(f"{prefix}_*.json"))]


def faulted(
    args: list[str], out: Path, step: str, how: str, prefix: str, env: dict | None = None
) -> tuple[subprocess.CompletedProcess, dict]:
    """The script run with `step` made to fail `how`: exit 130 (interrupt) or 1 (raise), and the one result file whose
    step that was saying so - the failure naming the step, the step recorded as interrupted or failed."""
    proc = run_with_fault(args, out, f"{step}:{how}", env)
    assert proc.returncode == (130 if how == "interrupt" else 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    [doc] = [d for d in docs(out, prefix) if step in d.get("steps", {})]
    kind, f = ("interrupted" if how == "interrupt" else "other"), doc["failure"]
    assert f["kind"] == kind and f["step"] == step, f
    # the measurement's own status is untouched by a step after it: "measured" while its summary had not run, the
    # summary's verdict after (so the report and --resume still read a measurement whose plots or report broke)
    assert doc["status"] == ("measured" if step == "the summary" else "ok"), doc["status"]
    assert doc["steps"][step] == "interrupted" if kind == "interrupted" else doc["steps"][step].startswith("failed: ")
    if kind == "other":
        assert f"fault injected by {FAULT_ENV}" in f["message"]
    return proc, doc


def test_mixed_keeps_every_request_through_a_ctrl_c_in_its_summary(tmp_path, tiny_model):
    proc, doc = faulted(MIXED, tmp_path, "the summary", "interrupt", "mixed_workload")
    raw = doc["raw"]
    assert len(raw["mixed"]) == 12 and raw["alone"] and all(r["ttft_ms"] > 0 for r in raw["mixed"])
    assert doc["metrics"]["scheduler"]["max_num_batched_tokens"] == 256
