"""common.runtime.isolation: one configuration per process, its failures classified, a hung child killed."""

import time

import pytest

from common.runtime import isolation


def test_isolated_success_runs_in_another_process():
    import os

    res = isolation.run_isolated("tests.unit.runtime.iso_targets:ok", {"x": 21}, timeout_s=60, echo=False)
    assert res["status"] == "ok" and res["value"] == 42 and res["pid"] != os.getpid()


def test_a_child_rebuilds_its_scripts_config_typed_from_json():
    """A script's Config crosses the process boundary as JSON and arrives as that Config again: a Layout as a Layout,
    a tuple as a tuple, never as a dict the child reads by key."""
    from dataclasses import replace

    import benchmark_scaling
    import test_mixed_workload
    from common.measure.scaling import Layout

    cfg = benchmark_scaling.Config(engine={"model": "m"}, layout=Layout(2, 1, 1, 2, "DP2"), replica=1)
    res = isolation.run_isolated("tests.unit.runtime.iso_targets:describe_config", cfg, timeout_s=60, echo=False)
    assert res["class"] == "benchmark_scaling.Config" and res["layout"] == "Layout" and res["layout_name"] == "DP2"
    assert res["engine"] == {"model": "m"} and res["replica"] == 1
    mixed = replace(test_mixed_workload.Config(long_len=(30, 40)), variant="chunked 256")
    res = isolation.run_isolated("tests.unit.runtime.iso_targets:mixed_lengths", mixed, timeout_s=60, echo=False)
    assert res["long_len"] == "tuple" and res["variant"] == "chunked 256"


def test_what_a_child_checkpointed_comes_back_when_it_fails():
    """The child imports `common.runtime.isolation` as a module while it runs the same file as __main__: a checkpoint
    saved through the module must still reach the parent as result["partial"]."""
    res = isolation.run_isolated("tests.unit.runtime.iso_targets:checkpoint_then_fail", {}, timeout_s=60, echo=False)
    assert res["status"] == "failed" and res["partial"] == {"levels": [1, 2]}


def test_a_config_from_json_with_a_key_it_does_not_have_is_an_error():
    import benchmark_scaling

    d = benchmark_scaling.Config().to_json()
    assert benchmark_scaling.Config.from_json(d) == benchmark_scaling.Config()
    with pytest.raises(ValueError, match="has no field gpus_n"):
        benchmark_scaling.Config.from_json({**d, "gpus_n": 2})


@pytest.mark.parametrize("target,kind", [("raise_oom", "oom"), ("raise_nccl", "nccl")])
def test_isolated_failures_are_classified(target, kind):
    res = isolation.run_isolated(f"tests.unit.runtime.iso_targets:{target}", {}, timeout_s=60, echo=False)
    assert res["status"] == "failed"
    assert res["failure"].kind == kind
    assert res["failure"].exit_code == 1
    assert res["failure"].hint


def test_an_error_after_an_engines_gloo_start_up_lines_is_not_called_a_distributed_failure():
    """A CPU engine's start-up lines name its gloo backend; an error that has nothing to do with it (here a
    float -> int overflow) is "other", with its own message, not "nccl" with the distributed-init hint."""
    target = "tests.unit.runtime.iso_targets:raise_after_engine_start"
    res = isolation.run_isolated(target, {}, timeout_s=60, echo=False)
    f = res["failure"]
    assert f.kind == "other" and f.message == "OverflowError: cannot convert float infinity to integer"
    assert "backend=gloo" in res["log_tail"]


def test_isolated_timeout_kills_the_child():
    t0 = time.perf_counter()
    res = isolation.run_isolated("tests.unit.runtime.iso_targets:sleep_forever", {}, timeout_s=3, echo=False)
    assert res["failure"].kind == "timeout"
    assert time.perf_counter() - t0 < 30


def test_what_a_killed_child_prints_while_dying_goes_to_the_log_tail_not_the_terminal(capfd, monkeypatch):
    """The timeout strikes once the child's "ready" is on our stderr: the fixture decides when, not the box's speed
    (a loaded 2-core box once took more than 3 s to start the child, and the kill came before it printed)."""
    seen = []

    def times_out_once_ready(proc, out, t0, timeout_s):
        deadline = time.perf_counter() + 300
        while "ready" not in "".join(seen) and proc.poll() is None and time.perf_counter() < deadline:
            seen.append(capfd.readouterr().err)
            time.sleep(0.05)
        return True

    monkeypatch.setattr(isolation, "_wait", times_out_once_ready)
    res = isolation.run_isolated("tests.unit.runtime.iso_targets:noisy_when_killed", {}, timeout_s=3, echo=True)
    err = "".join(seen) + capfd.readouterr().err
    assert res["failure"].kind == "timeout" and "ready" in err
    assert "Traceback" not in err and "RuntimeError: cancelled" in res["log_tail"]


def test_isolated_hard_exit_keeps_root_cause():
    res = isolation.run_isolated("tests.unit.runtime.iso_targets:hard_exit", {}, timeout_s=60, echo=False)
    assert res["failure"].exit_code == 3
    assert "the real reason" in res["failure"].message


def test_a_ctrl_c_while_the_progress_line_prints_is_that_configurations_interruption(monkeypatch, capsys):
    """The sweep prints "=== [2/2] TP2 ..." and the user presses Ctrl-C on seeing it: wherever the signal lands, in
    print() itself or in the run, the configuration comes back as interrupted (and is recorded), never as an
    exception past it that leaves no file."""
    ran = []

    def ctrl_c_in_print(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(isolation, "print", ctrl_c_in_print, raising=False)
    res = isolation.until_interrupted(lambda: ran.append(1) or {"status": "ok"}, announce="=== [2/2] TP2 ...")
    assert res["status"] == "failed" and res["failure"].kind == "interrupted" and ran == []
    monkeypatch.undo()

    def ctrl_c_in_run():
        raise KeyboardInterrupt

    res = isolation.until_interrupted(ctrl_c_in_run, announce="=== [2/2] TP2 ...")
    assert res["failure"].kind == "interrupted" and "=== [2/2] TP2 ..." in capsys.readouterr().out


def test_with_a_run_log_the_childs_stderr_goes_to_the_file_and_a_failure_prints_its_last_lines(
    tmp_path, monkeypatch, capfd
):
    """The screen keeps the lab's lines; vLLM's and torch's (the child's stderr) go to the run's log file, named
    once; a failure prints that file's last lines and is still classified from them."""
    from common.runtime import runlog

    monkeypatch.delenv(runlog.LOG_ENV, raising=False)
    log = runlog.start(tmp_path / "results" / "script_20261207-120000.log")
    res = isolation.run_isolated("tests.unit.runtime.iso_targets:log_and_fail", {}, timeout_s=60, label="TP=1")
    err = capfd.readouterr().err
    text = log.read_text()
    assert "an engine's log line" in text and "MemoryError: CUDA out of memory" in text  # and the traceback
    assert "the lab's progress line" in err and f"(vLLM's and torch's log: {log})" in err
    assert f"TP=1 failed; the last lines of {log}:" in err and "    WARNING 12-07 12:00:00" in err
    assert res["failure"].kind == "oom"
    assert "the lab's progress line" not in text


def test_a_killed_tree_leaves_no_shared_memory_behind():
    """A child that maps a shared-memory queue and is killed before it can remove it (as vLLM kills an engine core or
    worker that does not exit within its grace): kill_tree removes the file the child left in /dev/shm."""
    import subprocess
    import sys
    from pathlib import Path

    import psutil

    code = (
        "import time; from multiprocessing import resource_tracker, shared_memory\n"
        "m = shared_memory.SharedMemory(create=True, size=1 << 20)\n"
        "resource_tracker.unregister(m._name, 'shared_memory')  # as vLLM's queues: nobody else will remove it\n"
        "print(m.name, flush=True); time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    path = Path("/dev/shm") / child.stdout.readline().strip()
    try:
        assert path.exists() and isolation.shm_of([psutil.Process(child.pid)]) == {str(path)}
        isolation.kill_tree(child.pid, timeout=1)
        assert not psutil.pid_exists(child.pid) and not path.exists()
    finally:
        child.kill()
        path.unlink(missing_ok=True)
