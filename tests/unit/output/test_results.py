"""common.output.results: one JSON and CSV per run, written atomically, read back past foreign files."""

import json
import signal
from pathlib import Path

import pytest

from common.output import results
from common.runtime.isolation import Failure


def test_save_run_writes_schema_and_csv_atomically(tmp_path):
    p = results.run_path(tmp_path, "tensor_parallel", "Qwen/Qwen2.5-7B", 2, "20260101-000000")
    assert p.name == "tensor_parallel_Qwen-Qwen2.5-7B_tp2_20260101-000000.json"
    results.save_run(
        p, experiment="tensor_parallel", config={"tp": 2}, metrics={"x_s": 1.5, "tp": 2}, raw={"samples": [1, 2]}
    )
    doc = json.loads(p.read_text())
    for key in results.REQUIRED_KEYS:
        assert key in doc
    assert doc["environment"]["python"] and "gpus" in doc["environment"] and doc["environment"]["cpu_model"]
    assert doc["environment"]["loadavg_1m"] >= 0
    assert p.with_suffix(".csv").read_text().splitlines()[0] == "status,x_s,tp"
    assert not list(tmp_path.glob(".*tmp"))  # no temp file left behind
    # readable as a normally created file would be (mkstemp alone leaves 0600)
    assert p.stat().st_mode & 0o777 == 0o666 & ~results._UMASK
    assert p.with_suffix(".csv").stat().st_mode & 0o444 == 0o444 & ~results._UMASK


def test_result_json_keeps_each_raw_sample_on_one_line(tmp_path):
    reqs = [{"ttft_ms": 10.5 + i, "itl_ms": [1.0, 2.0, 3.0], "error": None} for i in range(50)]
    p = results.save_run(
        tmp_path / "r.json",
        experiment="e",
        config={"engine": {"tp": 1}},
        metrics={"m": [1, 2]},
        raw={"requests": reqs, "empty": [], "note": "x"},
        failure=Failure("oom", "CUDA out of memory", exit_code=1),
    )
    text = p.read_text()
    doc = json.loads(text)
    assert doc["raw"] == {"requests": reqs, "empty": [], "note": "x"}
    assert doc["failure"] == {"kind": "oom", "message": "CUDA out of memory", "exit_code": 1}
    assert Failure.from_json(doc["failure"]) == Failure("oom", "CUDA out of memory", exit_code=1)
    assert list(doc) == [
        "schema_version",
        "experiment",
        "created",
        "status",
        "config",
        "environment",
        "metrics",
        "raw",
        "failure",
    ]
    lines = text.splitlines()
    assert sum('"ttft_ms"' in ln for ln in lines) == 50  # one line per sample, not one per number
    assert '    "engine": {' in lines  # the rest stays indented for reading
    assert results.to_json({"raw": {}, "a": 1}) == '{\n  "raw": {},\n  "a": 1\n}\n'


def test_load_results_skips_corrupt_and_foreign_files(tmp_path):
    good = results.save_run(results.run_path(tmp_path, "e", "m", 1), experiment="e", config={}, metrics={})
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    docs, skipped = results.load_results(tmp_path)
    assert [d["_path"] for d in docs] == [str(good)]
    assert sorted(p.name for p, _ in skipped) == ["broken.json", "other.json"]


def test_schema_1_files_read_as_schema_2_and_an_unknown_version_is_named(tmp_path):
    """Schema 2 writes one status vocabulary; a schema 1 file's "pass" / "fail" (test_tensor_parallel.py's, in the
    file and in its metrics) read as ok / failed, the file left as it is; a version this lab cannot read is skipped
    with its number."""
    new = results.save_run(results.run_path(tmp_path, "e", "m", 1), experiment="e", config={}, metrics={})
    assert json.loads(new.read_text())["schema_version"] == 2 and json.loads(new.read_text())["status"] == "ok"
    v1 = {"schema_version": 1, "experiment": "tensor_parallel", "config": {}, "environment": {}, "raw": {}}
    (tmp_path / "old_pass.json").write_text(json.dumps({**v1, "status": "pass", "metrics": {"status": "pass"}}))
    (tmp_path / "old_fail.json").write_text(json.dumps({**v1, "status": "fail", "metrics": {"status": "fail"}}))
    (tmp_path / "future.json").write_text(json.dumps({**v1, "schema_version": 9, "status": "ok", "metrics": {}}))
    docs, skipped = results.load_results(tmp_path)
    by = {Path(d["_path"]).name: d for d in docs}
    assert (by["old_pass.json"]["status"], by["old_pass.json"]["metrics"]["status"]) == ("ok", "ok")
    assert (by["old_fail.json"]["status"], by["old_fail.json"]["metrics"]["status"]) == ("failed", "failed")
    assert all(d["schema_version"] == 2 for d in docs)
    assert json.loads((tmp_path / "old_pass.json").read_text())["status"] == "pass"  # the file itself untouched
    assert [(p.name, why) for p, why in skipped] == [("future.json", "schema_version 9: this lab reads 1, 2")]


def test_every_committed_sample_file_is_read():
    """The sample results under docs/ were written by schema 1: every one of them still loads."""
    folders = {p.parent for p in (results.ROOT / "docs" / "sample_results").rglob("*.json")}
    n = 0
    for folder in folders:
        docs, skipped = results.load_results(folder)
        assert not [(p, why) for p, why in skipped if "schema_version" in why], folder
        assert all(d["status"] in set(results.Status) for d in docs), folder
        n += len(docs)
    assert n > 50


# ---------------------------------------------------------------- a step after the measurement (then)
@pytest.fixture
def measured(tmp_path, monkeypatch) -> results.RunFile:
    monkeypatch.setattr(results, "_FAILED_STEPS", [])
    f = results.RunFile(tmp_path / "r.json", experiment="e", config={}, metrics={"x": 1.0}, raw={"samples": [1, 2]})
    f.save()
    return f


def test_a_step_that_ends_is_recorded_done(measured):
    assert results.then("the step", lambda: 42, measured) == 42
    doc = json.loads(measured.path.read_text())
    assert doc["steps"] == {"the step": "done"} and "failure" not in doc and not results.any_failed([measured])


def test_a_step_that_raises_is_the_runs_failure_and_the_run_goes_on(measured, monkeypatch, capsys):
    monkeypatch.setenv(results.FAULT_ENV, "the step:raise")
    assert results.then("the step", lambda: 42, measured) is None
    doc = json.loads(measured.path.read_text())
    assert doc["status"] == "measured" and doc["raw"] == {"samples": [1, 2]} and doc["metrics"] == {"x": 1.0}
    assert doc["failure"]["kind"] == "other" and doc["failure"]["step"] == "the step"
    assert f"fault injected by {results.FAULT_ENV}" in doc["failure"]["message"]
    assert doc["steps"]["the step"].startswith("failed: RuntimeError")
    assert "the step FAILED (RuntimeError: fault injected" in capsys.readouterr().out
    assert results.any_failed([measured])  # exit 1


@pytest.fixture
def sigint_as_from_a_terminal():
    """Ctrl-C's default handling in this process for the test (a test run in the background, as CI's is, inherits
    SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_a_ctrl_c_in_a_step_is_recorded_then_raised(measured, monkeypatch, sigint_as_from_a_terminal):
    """A real SIGINT to this process during the step (as a terminal's Ctrl-C): the file says so before it goes on up."""
    monkeypatch.setenv(results.FAULT_ENV, "the step:interrupt")
    with pytest.raises(KeyboardInterrupt):
        results.then("the step", lambda: 42, measured)
    doc = json.loads(measured.path.read_text())
    assert doc["status"] == "measured" and doc["raw"] == {"samples": [1, 2]}
    assert doc["failure"]["kind"] == "interrupted" and doc["steps"] == {"the step": "interrupted"}
