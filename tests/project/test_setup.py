"""setup.sh, the README's first command: its --system mode and its bad-option error, run for real."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_setup_system_mode_builds_a_venv_that_imports_this_pythons_vllm(tmp_path):
    venv = tmp_path / "venv"
    env = {**os.environ, "PYTHON": sys.executable, "VENV": str(venv)}
    proc = subprocess.run(
        ["bash", "setup.sh", "--system", "--dev"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "[setup] ready" in proc.stdout
    assert "installing what this Python lacks" not in proc.stdout  # everything came from this Python
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import vllm, pytest, pandas; print(vllm.__file__)"],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert not out.stdout.strip().startswith(str(venv))  # the creating Python's vLLM, not a fresh download


def test_setup_rejects_an_unknown_option():
    proc = subprocess.run(["bash", "setup.sh", "--sytem"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown option --sytem" in proc.stderr
