import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.runtime import hardware  # noqa: E402


def pytest_configure(config):
    # every script a test runs takes the CPU box's defaults: the tiny local model and small workloads, on a GPU too
    os.environ[hardware.DEFAULTS_ENV] = "cpu"
    # two test files run at once (pytest.ini), so two engines may share a core; OpenMP threads that spin while they
    # wait then starve each other (a 2-core box generated 30x slower), so they sleep instead (libgomp, torch's OpenMP)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    config.addinivalue_line("markers", "gpu: needs an NVIDIA GPU (skipped on CPU-only machines)")
    config.addinivalue_line("markers", "multigpu: needs at least two NVIDIA GPUs")


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pytest.ini): on a CPU box two test files at a time (each runs its engines on the cores, a file's
    shared run stays in one worker: --dist loadfile); on a GPU one, since every engine takes most of its memory."""
    return 0 if hardware.has_gpu() else min(2, len(hardware.cpu_cores()))


def pytest_collection_modifyitems(config, items):
    n = hardware.gpu_count()
    for item in items:
        if "gpu" in item.keywords and n < 1:
            item.add_marker(pytest.mark.skip(reason="needs an NVIDIA GPU; this machine has none"))
        if "multigpu" in item.keywords and n < 2:
            item.add_marker(pytest.mark.skip(reason=f"needs >= 2 GPUs; this machine has {n}"))


# a capacity search's probes as short as a test's search can take: 2 s windows after 1 s of warm-up, 16 requests
SHORT_PROBES = ["--probe-seconds", "2", "--probe-warmup-seconds", "1", "--probe-min-requests", "16"]
ONE = f"1 {hardware.unit()}"  # the one-device layout, as tables and files name it here ("1 GPU", "1 CPU rank")


def ranks(n: int) -> str:
    """n devices as the lab names them here: "2 GPUs", "2 CPU ranks"."""
    return f"{n} {hardware.unit()}s"


def needs_devices(n: int):
    """Skip a test whose run needs n devices (TP or DP over n) where fewer are present, saying so."""
    have = hardware.device_count()
    return pytest.mark.skipif(
        have < n, reason=f"needs {n} devices ({hardware.device_label()}s); this machine has {have}"
    )


def run_script(script: str, *args: str, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run one of the lab's scripts as a user would, from the project root."""
    return subprocess.run(
        [sys.executable, script, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


def simulate(*args: str, out, base_url: str | None = None, **kw) -> subprocess.CompletedProcess:
    """simulate_concurrent_requests.py writing to `out`, against the server at `base_url` when given."""
    target = ["--base-url", base_url] if base_url else []
    return run_script("simulate_concurrent_requests.py", *target, "--output-dir", str(out), *args, **kw)


@pytest.fixture(scope="session")
def without_vllm(tmp_path_factory) -> dict:
    """An environment in which `import vllm` fails: a script run with it proves it refused its input before it
    imported vLLM (what "at once" means, whatever the box's speed)."""
    shadow = tmp_path_factory.mktemp("no-vllm")
    (shadow / "vllm").mkdir()
    (shadow / "vllm" / "__init__.py").write_text('raise ImportError("vLLM was imported (tests/conftest.py)")\n')
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(shadow), os.environ.get("PYTHONPATH")]))}


@pytest.fixture(scope="session")
def tiny_model():
    from common.runtime.tiny_model import build_tiny_model, tokenizer_dir

    path = build_tiny_model()
    return path, tokenizer_dir(path)


GPU_ONLY = (
    "GPU(s)",
    "per GPU",
    "per-GPU",
    "HBM",
    "NCCL",
    "multi-GPU",
    "GPU engine core",
    "GPU (",
    "memory per GPU",
    "GPUs |",
    "| GPUs",
    "1 GPU",
)


def gpu_words(text: str) -> list[str]:
    """The GPU-only phrases in a CPU run's output or report (none should be there: it ran on CPU ranks)."""
    return [w for w in GPU_ONLY if w in text]
