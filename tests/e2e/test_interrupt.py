"""Interrupted and misdirected runs keep their results: Ctrl-C (SIGINT) at several moments of a capacity search and
of a sweep leaves a readable JSON with every finished probe or level and exits 130; an --output-dir that cannot take
results is refused with exit 2 before any engine starts."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ONE, ROOT, SHORT_PROBES, needs_devices, run_script
from tests.stream_server import StreamServer

SCRIPTS = [
    *"test_tensor_parallel.py simulate_concurrent_requests.py benchmark_scaling.py test_mixed_workload.py".split(),
    *"run_distributed_benchmark.py".split(),
]


def interrupt_when(args: list[str], pattern: str, timeout: float = 600) -> tuple[int, str]:
    """Run a script, send SIGINT as soon as a line of its output matches `pattern`; (exit code, whole output)."""
    # SIGINT as a terminal delivers it: default handling in the script, even when this test runs in a background
    # job that ignores SIGINT (the script would inherit the ignore, and Python then installs no KeyboardInterrupt)
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines, seen = [], threading.Event()

    def read():
        for line in proc.stdout:
            lines.append(line)
            if re.search(pattern, line):
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while not seen.wait(1) and proc.poll() is None and time.monotonic() < deadline:
        pass  # (a script that ends without printing it fails the test at once, with its output)
    reader.join(timeout=10 if proc.poll() is not None else 0)
    assert seen.is_set(), f"never printed {pattern!r} (exit {proc.poll()}):\n" + "".join(lines)[-3000:]
    proc.send_signal(signal.SIGINT)
    rc = proc.wait(timeout=120)
    reader.join(timeout=10)
    return rc, "".join(lines)


def _one_json(out, prefix):
    [path] = sorted(out.glob(f"{prefix}_*.json"))
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def server():
    """A server of known timing (tests.stream_server): 8 answers at a time, so a search has probes to interrupt."""
    with StreamServer(ttft_s=0.02, tpot_s=0.002, max_running=8) as srv:
        yield srv


def test_ctrl_c_after_two_probes_keeps_both_and_exits_130(tmp_path, server):
    rc, out = interrupt_when(
        [
            "simulate_concurrent_requests.py",
            "--base-url",
            server.base_url,
            "--find-capacity",
            "--slo",
            "ttft:500,tpot:50",
            *SHORT_PROBES,
            "--output-dir",
            str(tmp_path / "ctrlc"),
        ],
        r"probe 2: ",
    )
    assert rc == 130, out[-3000:]
    assert "Traceback" not in out
    doc = _one_json(tmp_path / "ctrlc", "concurrent_requests")
    cap = doc["metrics"]["capacity"]
    assert doc["status"] == "failed" and doc["failure"]["kind"] == "interrupted"
    assert len(cap["probes"]) >= 2 and cap["percentile"] == 99.0 and cap["slo"] == {"ttft": 500.0, "tpot": 50.0}
    assert [len(r["ttft_ms"]) for r in doc["raw"]["capacity_probes"]] == [p["requests"] for p in cap["probes"]]
    assert "the search stopped early" in out and f"{len(cap['probes'])} probe(s) finished and are kept" in out
    assert "probe budget" not in cap["verdict"] and "--max-probes" not in cap["verdict"]  # the Ctrl-C stopped it


def test_ctrl_c_before_any_probe_still_writes_a_readable_json(tmp_path, tiny_model):
    rc, out = interrupt_when(
        ["simulate_concurrent_requests.py", "--find-capacity", "--slo", "ttft:500", "--output-dir", str(tmp_path)],
        r"^model: ",
    )
    assert rc == 130, out[-3000:]
    doc = _one_json(tmp_path, "concurrent_requests")
    assert doc["failure"]["kind"] == "interrupted" and doc["raw"]["capacity_probes"] == []


def test_ctrl_c_after_the_first_level_keeps_it(tmp_path, server):
    rc, out = interrupt_when(
        [
            "simulate_concurrent_requests.py",
            "--base-url",
            server.base_url,
            *"--concurrency 1,4,16 --num-prompts 16 --output-dir".split(),
            str(tmp_path),
        ],
        r"concurrency=1: \d+/16 ok",
    )
    assert rc == 130, out[-3000:]
    doc = _one_json(tmp_path, "concurrent_requests")
    levels = doc["raw"]["levels"]
    assert levels and levels[0]["value"] == 1 and len(levels[0]["requests"]) == 16
    assert doc["metrics"]["levels"]["concurrency=1"]["completed"] == 16 and doc["failure"]["kind"] == "interrupted"


@needs_devices(2)
def test_ctrl_c_in_a_layout_sweep_keeps_the_layouts_done(tmp_path, tiny_model):
    rc, out = interrupt_when(
        [
            *"benchmark_scaling.py --gpus 1,2 --no-allreduce --num-prompts 16 --latency-prompts 4".split(),
            *"--batch1-tokens 16 --offline-runs 1 --output-dir".split(),
            str(tmp_path),
        ],
        r"=== \[2/2\] TP2",
    )
    assert rc == 130, out[-3000:]
    docs = {
        d["metrics"]["layout"]: d for d in map(lambda p: json.loads(p.read_text()), tmp_path.glob("scaling_*.json"))
    }
    assert docs[ONE]["status"] == "ok" and docs[ONE]["metrics"]["output_throughput"] > 0
    assert docs["TP2"]["status"] == "failed" and docs["TP2"]["failure"]["kind"] == "interrupted"


@pytest.mark.parametrize("script", SCRIPTS)
def test_an_output_dir_that_is_a_file_is_refused_at_once(tmp_path, script, without_vllm):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    proc = run_script(script, "--output-dir", str(afile), timeout=60, env=without_vllm)  # before vLLM is imported
    assert proc.returncode == 2 and "is a file, not a folder" in proc.stderr, proc.stderr[-2000:]
    assert afile.read_text() == "not a folder"


@pytest.mark.parametrize("script", ["simulate_concurrent_requests.py", "benchmark_scaling.py"])
def test_an_output_dir_nothing_can_be_written_to_is_refused_at_once(script):
    """/proc takes no files, not even from root (a chmod-ed folder would not stop root)."""
    proc = run_script(script, "--output-dir", "/proc/lab-results", timeout=60)
    assert proc.returncode == 2 and "cannot write results to --output-dir /proc/lab-results" in proc.stderr, proc.stderr


def test_a_run_refused_for_another_reason_leaves_no_new_output_dir(tmp_path):
    """The --output-dir check makes the folder only to try a write: a run then refused (here its trace is missing)
    leaves no empty folder behind."""
    out = tmp_path / "new" / "results"
    proc = run_script(
        "simulate_concurrent_requests.py",
        "--output-dir",
        str(out),
        "--dataset-path",
        str(tmp_path / "missing.jsonl"),
        timeout=60,
    )
    assert proc.returncode == 2 and "missing.jsonl: no such file" in proc.stderr, proc.stderr
    assert not (tmp_path / "new").exists()


def test_a_mistyped_flag_is_refused_without_starting_vllm(tmp_path, without_vllm):
    """vLLM's flag list is kept once per version (setup.sh does it; so does this test): a flag it does not know is
    refused without importing vLLM (~7 s)."""
    from common.cli import engine_parser

    engine_parser()
    proc = run_script("benchmark_scaling.py", "--output-dir", str(tmp_path), "--gpu", "1", timeout=60, env=without_vllm)
    assert proc.returncode == 2 and "unknown flag(s): --gpu " in proc.stderr, proc.stderr
