"""test_tensor_parallel.py end to end, run as a user would, on the tiny model (CPU) or the GPUs present."""

import json
from pathlib import Path

import pytest

from common.runtime import hardware
from tests.conftest import needs_devices, run_script


def _docs(out: Path) -> dict[int, dict]:
    return {
        json.loads(p.read_text())["config"]["tp"]: json.loads(p.read_text()) for p in out.glob("tensor_parallel_*.json")
    }


@pytest.fixture(scope="module")
def default_run(tmp_path_factory, tiny_model):
    out = tmp_path_factory.mktemp("tp")
    return run_script("test_tensor_parallel.py", "--output-dir", str(out)), out


def _passed_with_ranks(d: dict, tp: int) -> None:
    m = d["metrics"]
    assert d["status"] == "ok"
    assert m["check_output_throughput"] > 0 and m["engine_start_s"] > 0
    assert all(m["inference_checks"].values())
    assert len(d["raw"]["ranks"]) == tp
    assert all(r["weights_bytes"] > 0 and r["kv_cache_bytes"] > 0 for r in d["raw"]["ranks"])


def test_default_sweep_passes_and_writes_results(default_run):
    proc, out = default_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Takeaway:" in proc.stdout
    docs = _docs(out)
    assert set(docs) == {1, 2, 4}
    _passed_with_ranks(docs[1], 1)
    assert docs[1]["metrics"]["token_agreement_vs_tp1"] == 1.0


@needs_devices(2)
def test_tp2_splits_the_weights_over_two_ranks_and_answers_alike(default_run):
    docs = _docs(default_run[1])
    _passed_with_ranks(docs[2], 2)
    # two ranks, each measured in its own worker process (CPU) or GPU (NVML)
    m2 = docs[2]["metrics"]
    assert len(m2["rank_memory_used_mib"]) == 2 and min(m2["rank_memory_used_mib"]) > 0
    assert m2["memory_balance"] is not None and m2["memory_balanced"]
    if not hardware.has_gpu():
        assert m2["rank_memory_labels"] == ["Worker_TP0", "Worker_TP1"]
        # each rank holds half of the split weights (embeddings, attention, MLP are all sharded)
        w1 = docs[1]["metrics"]["weights_gib_per_rank"][0]
        w2 = docs[2]["metrics"]["weights_gib_per_rank"]
        assert w2[0] == w2[1] and 0.45 < w2[0] / w1 < 0.55
    assert 0.0 <= m2["token_agreement_vs_tp1"] <= 1.0


def test_tp_above_device_count_is_skipped_with_reason(default_run):
    proc, out = default_run
    d4 = _docs(out)[4]
    if hardware.device_count() >= 4:
        pytest.skip("this machine can run TP=4")
    assert d4["status"] == "skipped"
    assert "needs 4 devices" in d4["failure"]["message"]
    assert "TP=4: skip - needs 4 devices" in proc.stdout
    assert list(out.glob("tensor_parallel_*_tp4_*.csv"))


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--tp-sizes", "0"], "positive integers"),
        (["--tp-sizes", "abc"], "positive integers"),
        (["--model", "/no/such/model"], "does not exist"),
        (["--no-such-flag", "1"], "unknown flag"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, needle, tmp_path):
    proc = run_script("test_tensor_parallel.py", "--output-dir", str(tmp_path), *args, timeout=120)
    assert proc.returncode == 2
    err = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], proc.stderr
    assert not list(tmp_path.glob("*.json"))


@needs_devices(2)
@pytest.mark.skipif(hardware.has_gpu(), reason="sizes the CPU KV cache (--kv-cache-memory-bytes) to make TP=1 fail")
def test_a_failed_size_is_a_row_the_sweep_goes_on_and_a_ctrl_c_after_keeps_its_ranks_answers(tmp_path, tiny_model):
    """A context too long for one rank's KV cache: TP=1 fails (OOM), TP=2 - each rank holding half the KV heads -
    fits. The failure is recorded and TP=2 still runs. Then a Ctrl-C in TP=2's summary, the step right after its
    measurement (LAB_INJECT_FAULT: a real SIGINT, see tests/e2e/test_after_measurement.py): exit 130, and its file
    keeps what the ranks reported. (A 64 MiB cache a rank, given as vLLM's own flag, which the lab's 1 GiB CPU default
    must not override: 131,072 tokens on one rank, 262,144 on each of two. A failed size's exit 1 and its takeaway:
    the Ray test below.)"""
    from tests.e2e.test_after_measurement import faulted

    proc, d2 = faulted(
        [
            "test_tensor_parallel.py",
            *"--tp-sizes 1,2 --max-model-len 200000 --kv-cache-memory-bytes 64M --max-num-batched-tokens 2048".split(),
            *"--max-tokens 8".split(),
        ],
        tmp_path,
        "the summary",
        "interrupt",
        "tensor_parallel",
        env={"VLLM_ALLOW_LONG_MAX_MODEL_LEN": "1"},
    )
    docs = _docs(tmp_path)
    assert docs[1]["status"] == "failed"
    assert docs[1]["failure"]["kind"] == "oom"
    assert "KV cache" in docs[1]["failure"]["message"]
    assert d2["config"]["tp"] == 2
    raw = d2["raw"]  # the measurement: every rank's answer and memory, as the child returned them
    assert raw["kv_cache_tokens"] == 262_144 and len(raw["ranks"]) == 2
    assert raw["token_ids"] and all(len(t) > 0 for t in raw["token_ids"])
    assert raw["stage_seconds"]["engine_start"] > 0
    assert "interrupted: results of finished configurations are kept in the output folder" in proc.stderr


def _ray_processes() -> list[str]:
    import psutil

    out = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if any(
            k in cmd
            for k in ("raylet", "gcs_server", "lab-ray-", "/tmp/lab-rn", "ray::", "default_worker.py", "ray/dashboard")
        ):
            out.append(f"{p.pid} {cmd[:120]}")
    return out


@needs_devices(2)
def test_ray_backend_tp2_leaves_no_ray_process(tmp_path, tiny_model):
    """TP=2 under vLLM's Ray backend, end to end. On the CPU build vLLM starts a Ray cluster and then refuses the
    platform: the failure must be a recorded row, and nothing of that cluster may outlive the script."""
    pytest.importorskip("ray", reason="the Ray path needs `pip install -r requirements-ray.txt`")
    before = _ray_processes()
    proc = run_script(
        "test_tensor_parallel.py",
        "--output-dir",
        str(tmp_path),
        *"--tp-sizes 2 --distributed-executor-backend ray".split(),
        timeout=600,
    )
    left = [p for p in _ray_processes() if p not in before]
    assert not left, left
    d = _docs(tmp_path)[2]
    assert d["config"]["engine"]["distributed_executor_backend"] == "ray"
    if proc.returncode == 0:
        assert d["status"] == "ok" and d["metrics"]["inference_checks"]
        return
    assert proc.returncode == 1 and d["status"] == "failed", proc.stdout[-3000:]
    assert "Takeaway: TP 2 did not pass" in proc.stdout  # a failed size: its row, the takeaway, exit 1
    pytest.skip(f"vLLM's build here cannot run TP=2 under Ray: {d['failure']['message']}")


def _cluster_nodes(env: dict) -> list[str]:
    """The alive nodes' IPs of the cluster at RAY_ADDRESS, asked from a fresh process (Ray state stays out of
    pytest)."""
    import os
    import subprocess
    import sys

    code = (
        "import json, ray; ray.init(log_to_driver=False); "
        "print(json.dumps(sorted(n['NodeManagerAddress'] for n in ray.nodes() if n['Alive']))); ray.shutdown()"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={**os.environ, **env}
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@needs_devices(2)
def test_two_ray_nodes_on_one_host_survive_a_script_and_stop_clean(tmp_path, tiny_model):
    """tools/ray_two_nodes.py: two Ray nodes, each with its own IP, ports and temp dir, join one cluster; a script
    run against it (RAY_ADDRESS) cleans up only what it started itself; `stop` leaves no Ray process behind."""
    pytest.importorskip("ray", reason="the Ray path needs `pip install -r requirements-ray.txt`")
    before = _ray_processes()
    tool = ["tools/ray_two_nodes.py"]
    try:
        up = run_script(*tool, "start", "--gpus-per-node", "0", "--cpus-per-node", "1", timeout=300)
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
        exports = up.stdout.strip().splitlines()[-1].removeprefix("export ").split()
        env = dict(kv.split("=", 1) for kv in exports)
        assert env["RAY_ADDRESS"] == "127.0.0.2:6390" and env["VLLM_HOST_IP"] == "127.0.0.2"
        assert _cluster_nodes(env) == ["127.0.0.2", "127.0.0.3"]  # two nodes, one IP each, as vLLM requires
        proc = run_script(
            "test_tensor_parallel.py",
            "--output-dir",
            str(tmp_path),
            *"--tp-sizes 2 --distributed-executor-backend ray".split(),
            timeout=600,
            env=env,
        )
        d = _docs(tmp_path)[2]
        assert d["config"]["engine"]["distributed_executor_backend"] == "ray"
        assert proc.returncode == 0 or d["status"] == "failed", proc.stdout[-3000:]
        assert _cluster_nodes(env) == ["127.0.0.2", "127.0.0.3"]  # the user's cluster outlives the script
    finally:
        down = run_script(*tool, "stop", timeout=120)
    assert down.returncode == 0 and "stopped" in down.stdout
    left = [p for p in _ray_processes() if p not in before]
    assert not left, left
