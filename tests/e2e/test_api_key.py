"""A server behind a key (`vllm serve --api-key K`, any hosted endpoint; here the fixture server of
tests.stream_server): without the key the lab says so in one line and exits 2 before measuring anything; with it, a
capacity search and the `vllm bench serve` cross-check at the rate found pass, and the key is in no file the run wrote
nor in anything it printed."""

import json

import pytest

from tests.conftest import SHORT_PROBES, run_script
from tests.stream_server import StreamServer

KEY = "lab-test-key-5f3a9c1e"


@pytest.fixture(scope="module")
def keyed_server(tiny_model):
    """The fixture server behind a key, as `vllm serve --api-key KEY`: 8 answers at a time, 20 ms to the first token
    and 2 ms a token after it (about 150 req/s of 16-token answers), so a capacity search meets a knee."""
    with StreamServer(ttft_s=0.02, tpot_s=0.002, max_running=8, model=str(tiny_model[0]), api_key=KEY) as srv:
        yield srv


def test_without_the_key_it_is_one_line_and_exit_2_before_measuring(tmp_path, keyed_server, tiny_model, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "out"
    proc = run_script(
        "simulate_concurrent_requests.py",
        "--base-url",
        keyed_server.base_url,
        "--model",
        str(tiny_model[0]),
        "--output-dir",
        str(out),
        "--concurrency",
        "1",
        timeout=120,
    )
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stderr.strip().count("\n") == 0 and "401 Unauthorized" in proc.stderr and "--api-key" in proc.stderr
    assert not list(out.glob("*.json"))
    # a wrong key is refused the same way, and said to be the wrong one
    proc = run_script(
        "simulate_concurrent_requests.py",
        "--base-url",
        keyed_server.base_url,
        "--api-key",
        "wrong",
        "--output-dir",
        str(out),
        "--concurrency",
        "1",
        timeout=120,
    )
    assert proc.returncode == 2 and "the one given was refused" in proc.stderr, proc.stderr


def test_with_the_key_a_search_and_its_cross_check_pass_and_the_key_is_written_nowhere(
    tmp_path, keyed_server, tiny_model, monkeypatch
):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "out"
    proc = run_script(
        "simulate_concurrent_requests.py",
        "--base-url",
        keyed_server.base_url,
        "--api-key",
        KEY,
        "--model",
        str(tiny_model[0]),
        "--tokenizer",
        str(tiny_model[1]),
        "--output-dir",
        str(out),
        "--find-capacity",
        "--slo",
        "ttft:1500,tpot:100",
        *SHORT_PROBES,
        *"--capacity-resolution 0.3 --max-probes 5 --compare-vllm-bench".split(),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    [path] = out.glob("concurrent_requests_*.json")
    doc = json.loads(path.read_text())
    cap = doc["metrics"]["capacity"]
    assert doc["status"] == "ok" and cap["request_rate"] > 0
    assert any(p["pass"] and p["offered_rate"] == cap["request_rate"] for p in cap["probes"])
    assert any(not p["pass"] and p["offered_rate"] > cap["request_rate"] for p in cap["probes"])
    # every probe judged requests (a probe stopped early as a sure fail may leave all it judged unfinished)
    assert all(p["judged_requests"] > 0 for p in cap["probes"])
    assert all(p["unfinished"] < p["judged_requests"] for p in cap["probes"] if p["pass"])
    assert 0 <= cap["prefix_cache_hit_rate"] <= 1  # from the server's /metrics, before and after the search
    # vllm bench serve at the rate found, on the same server, as many requests as the probe that passed there (an
    # undecided one before it may have run the same rate on a shorter window)
    vb = cap["vllm_bench_at_capacity"]
    at = next(p for p in cap["probes"] if p["pass"] and p["offered_rate"] == cap["request_rate"])
    assert "error" not in vb and vb["request_rate"] == cap["request_rate"] and vb["num_prompts"] == at["requests"]
    assert vb["vllm_bench"]["completed"] == at["requests"] and vb["vllm_bench"]["p99_ttft_ms"] > 0  # the bench got in
    for k in ("p99_ttft_ms", "p99_tpot_ms", "output_throughput"):
        assert vb["ours_vs_vllm_bench"][k] == pytest.approx(vb["ours"][k] / vb["vllm_bench"][k])
    assert "vllm bench serve at " in proc.stdout and "ours / theirs p99 TTFT" in proc.stdout
    # the bench's own p99s judged by the same SLO, and the line says which way it went
    seen = vb["vllm_bench_p99_ms"]
    assert seen == {"ttft": vb["vllm_bench"]["p99_ttft_ms"], "tpot": vb["vllm_bench"]["p99_tpot_ms"]}
    assert vb["vllm_bench_meets_slo"] == (seen["ttft"] <= 1500 and seen["tpot"] <= 100)
    assert ("agrees: the SLO holds" if vb["vllm_bench_meets_slo"] else "does NOT see the SLO met") in proc.stdout
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) >= 3  # JSON, CSV, plot
    assert not [p.name for p in files if KEY.encode() in p.read_bytes()]
    assert KEY not in proc.stdout and KEY not in proc.stderr


def test_ctrl_c_in_the_cross_check_after_a_search_keeps_every_probe_and_exits_130(
    tmp_path, keyed_server, tiny_model, monkeypatch
):
    """The search is written the moment it ends: a Ctrl-C while `vllm bench serve` checks it leaves a JSON with every
    probe, the cross-check recorded as interrupted, and exit 130."""
    from tests.e2e.test_interrupt import interrupt_when

    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # the key from the environment, as vllm bench serve reads it
    rc, out = interrupt_when(
        ["simulate_concurrent_requests.py", *_cross_checked_search(keyed_server.base_url, tiny_model, tmp_path)],
        r"=== vllm bench serve at the capacity found",
    )
    assert rc == 130, out[-3000:]
    [path] = tmp_path.glob("concurrent_requests_*.json")
    doc = json.loads(path.read_text())
    cap = doc["metrics"]["capacity"]
    assert doc["failure"]["kind"] == "interrupted" and "vllm bench serve" in doc["failure"]["message"]
    assert cap["request_rate"] > 0 and len(cap["probes"]) >= 2 and "failed" not in cap
    assert [len(r["ttft_ms"]) for r in doc["raw"]["capacity_probes"]] == [p["requests"] for p in cap["probes"]]
    assert cap["vllm_bench_at_capacity"]["error"].startswith("interrupted by the user")
    assert "results of finished configurations are kept" in out and KEY not in out


def test_an_error_in_the_cross_check_after_a_search_keeps_every_probe_and_exits_1(
    tmp_path, keyed_server, tiny_model, monkeypatch
):
    """The same step made to raise (LAB_INJECT_FAULT): exit 1, the search in the JSON with the error as the run's
    failure, and the tables and plot still made from it."""
    from common.output.results import FAULT_ENV

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    out = tmp_path / "out"
    proc = run_script(
        "simulate_concurrent_requests.py",
        *_cross_checked_search(keyed_server.base_url, tiny_model, out),
        timeout=600,
        env={FAULT_ENV: "the vllm bench serve cross-check:raise"},
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    [path] = out.glob("concurrent_requests_*.json")
    doc = json.loads(path.read_text())
    cap, f = doc["metrics"]["capacity"], doc["failure"]
    # the search stands (status ok: the report still reads it); the broken cross-check is the run's failure
    assert doc["status"] == "ok" and f["kind"] == "other" and f["step"] == "the vllm bench serve cross-check"
    assert "fault injected" in f["message"] and doc["steps"]["the vllm bench serve cross-check"].startswith("failed: ")
    assert cap["request_rate"] > 0 and len(cap["probes"]) >= 2 and "failed" not in cap
    assert [len(r["ttft_ms"]) for r in doc["raw"]["capacity_probes"]] == [p["requests"] for p in cap["probes"]]
    assert doc["steps"]["the tables"] == "done" and doc["steps"]["the plots"] == "done"
    assert "Takeaway: capacity" in proc.stdout and list(out.glob("*_capacity.png"))
    assert "the vllm bench serve cross-check FAILED (RuntimeError: fault injected" in proc.stdout


def _cross_checked_search(base_url: str, tiny_model, out) -> list[str]:
    """A short capacity search against the keyed server (1 s probes, at most 3), then the vllm bench cross-check."""
    return [
        "--base-url", base_url, "--model", str(tiny_model[0]), "--tokenizer", str(tiny_model[1]),
        "--output-dir", str(out), "--find-capacity", "--slo", "ttft:1500,tpot:100", "--probe-seconds", "1",
        "--probe-warmup-seconds", "0.5", "--probe-min-requests", "16", "--capacity-resolution", "0.3",
        "--max-probes", "3", "--compare-vllm-bench",
    ]  # fmt: skip
