"""--plan on every script: what it would run here and what that costs, printed before vLLM is even imported (run in
an environment where `import vllm` fails), with nothing written."""

import json
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT, run_script

CASES = [
    ("test_tensor_parallel.py", [], ["TP=1: load", "TP=2: load", "skipped: needs 4 devices"]),
    ("simulate_concurrent_requests.py", [], ["load levels", "concurrency 16 (64 requests)", "one offline batch"]),
    ("simulate_concurrent_requests.py", ["--find-capacity", "--slo", "ttft:500,tpot:50"], ["capacity search on"]),
    ("benchmark_scaling.py", ["--layouts", "tp,dp", "--capacity", "--slo", "ttft:500"], ["DP2: capacity search"]),
    ("test_mixed_workload.py", ["--budgets", "256", "--caps", "64"], ["no chunking", "chunked 256, cap 64"]),
    ("run_distributed_benchmark.py", ["--gpus", "1,2", "--slo", "ttft:300,tpot:60"], ["DP2: the suite"]),
]


@pytest.mark.parametrize(("script", "flags", "rows"), CASES, ids=lambda x: x if isinstance(x, str) else None)
def test_plan_lists_the_stages_and_the_bill_and_starts_nothing(script, flags, rows, tmp_path, tiny_model, without_vllm):
    out = tmp_path / "out"
    proc = run_script(script, "--plan", "--output-dir", str(out), "--gpu-hour-usd", "3", *flags, timeout=120,
                      env=without_vllm)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    text = proc.stdout
    first = next(line for line in text.splitlines() if line.startswith("Plan for"))
    assert first.startswith(f"Plan for {script}: about ") and first.endswith("Nothing was started.")
    usd = float(re.search(r"\$([\d,.]+) for \d+ ", first).group(1).replace(",", ""))
    assert usd > 0 and "at $3.00 per" in first
    assert re.search(r"\d+ engine start\(s\)", text) and "Estimated from " in text
    for row in rows:
        assert row in text, text
    assert not out.exists() or not any(out.iterdir())  # no result, no run log


def test_plan_of_a_report_from_files_needs_no_engine(tmp_path, without_vllm):
    proc = run_script("run_distributed_benchmark.py", "--plan", "--from-results", str(tmp_path), env=without_vllm)
    assert proc.returncode == 0 and "no engine starts" in proc.stdout


@pytest.mark.parametrize("script", ["test_tensor_parallel.py", "simulate_concurrent_requests.py"])
def test_a_price_that_cannot_be_one_is_refused_in_one_line(script, tmp_path, without_vllm):
    proc = run_script(script, "--plan", "--gpu-hour-usd", "0", "--output-dir", str(tmp_path), env=without_vllm)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: --gpu-hour-usd must be > 0"


PLANS = sorted((ROOT / "docs" / "sample_results" / "plans").glob("*_[0-9]xh[0-9]*.txt"))
# every committed plan's command in one interpreter (a plan for a pod sets that pod for its process, so each run
# starts from its own --plan POD): {plan: [exit code, what it printed]}
RERUN = """
import contextlib, io, json, runpy, sys
out = {}
for name, argv in json.loads(sys.argv[1]).items():
    buf, code = io.StringIO(), None
    sys.argv = argv
    with contextlib.redirect_stdout(buf):
        try:
            runpy.run_path(argv[0], run_name="__main__")
        except SystemExit as e:
            code = e.code
    out[name] = [code, buf.getvalue()]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def reruns(tmp_path_factory, without_vllm) -> dict:
    out = tmp_path_factory.mktemp("plans")
    cmds = {p.stem: [*p.read_text().splitlines()[0].removeprefix("$ python ").split(), "--output-dir", str(out)]
            for p in PLANS}  # fmt: skip
    env = {
        **os.environ,
        **without_vllm,
        "LAB_DEFAULTS": "",
        "PYTHONPATH": os.pathsep.join([without_vllm["PYTHONPATH"], str(ROOT)]),
    }
    proc = subprocess.run([sys.executable, "-c", RERUN, json.dumps(cmds)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.stem)
def test_a_committed_plan_for_a_pod_is_what_the_code_prints_today(path, reruns):
    """The plans the docs quote (--plan NxGPU, for a pod this machine is not): the same command prints the same
    plan, on any machine (the GPU workload defaults: LAB_DEFAULTS unset)."""
    code, printed = reruns[path.stem]
    assert code == 0
    assert printed.splitlines() == path.read_text().splitlines()[1:]


def test_a_pod_the_lab_has_no_reference_for_is_refused_in_one_line(tmp_path, without_vllm):
    proc = run_script("test_tensor_parallel.py", "--plan", "8xB200", "--output-dir", str(tmp_path), env=without_vllm)
    assert (
        proc.returncode == 2
        and proc.stderr.strip() == "error: --plan 8xB200: name a pod as N x GPU, e.g. 4xH100 or 1xH200"
    )
