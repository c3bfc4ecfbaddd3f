"""Unit tests of common/: each asserts behaviour measured or produced for real."""
import argparse
import json
import re
import time

import numpy as np
import pytest

from common import cli
from common.measure import gpu_memory
from common.runtime import isolation
from common.measure import metrics
from common.runtime import models
from common.runtime import hardware
from common.output import results


# ---------------------------------------------------------------- cli
def test_int_list_parses_and_sorts():
    assert cli.int_list("4,1,2,2") == [1, 2, 4]


@pytest.mark.parametrize("bad", ["0", "abc", "1,-2", ""])
def test_int_list_rejects_bad_input(bad):
    with pytest.raises(argparse.ArgumentTypeError):
        cli.int_list(bad)


def test_engine_flags_parsed_by_vllm_parser():
    got = cli.parse_engine_flags(["--max-num-seqs", "8", "--enforce-eager", "--load-format", "dummy"])
    assert got == {"max_num_seqs": 8, "enforce_eager": True, "load_format": "dummy"}


def test_unknown_and_reserved_engine_flags_are_usage_errors():
    with pytest.raises(cli.UsageError, match="unknown"):
        cli.parse_engine_flags(["--no-such-flag", "3"])
    with pytest.raises(cli.UsageError, match="set per configuration"):
        cli.parse_engine_flags(["-tp", "2"])


# ---------------------------------------------------------------- models
QWEN7B = {"num_attention_heads": 28, "num_key_value_heads": 4, "hidden_size": 3584, "num_hidden_layers": 28,
          "vocab_size": 152064, "intermediate_size": 18944}


def _info(tmp_path, cfg):
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return models.load_model_info(str(tmp_path))


def test_tp8_impossible_for_qwen7b_heads(tmp_path):
    info = _info(tmp_path, QWEN7B)
    assert models.tp_split_problem(info, 8) == "28 attention heads are not divisible by TP=8"
    assert models.tp_split_problem(info, 4) is None
    assert "needs 4 devices" in models.layout_problem(info, tp=4, devices=2)
    # the heads reason wins over the device count: TP=8 on a 4-GPU machine is skipped for the heads
    assert models.layout_problem(info, tp=8, devices=4) == "28 attention heads are not divisible by TP=8"
    assert models.layout_problem(info, tp=2, devices=2) is None


def test_qwen7b_param_estimate_matches_published_size(tmp_path):
    info = _info(tmp_path, QWEN7B)
    # Qwen2.5-7B has 7.62 B parameters (the estimate leaves out biases and norms)
    assert abs(info.params_estimate() / 7.62e9 - 1) < 0.01


def test_missing_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(models.ModelNotFound, match="does not exist"):
        models.load_model_info(str(tmp_path / "nope"))
    with pytest.raises(models.ModelNotFound, match="no config.json"):
        models.load_model_info(str(tmp_path))


# ---------------------------------------------------------------- metrics
def test_summarize_matches_numpy_and_vllm_names():
    vals = list(range(1, 101))
    s = metrics.summarize("ttft", vals)
    assert s["mean_ttft_ms"] == 50.5 and s["median_ttft_ms"] == 50.5
    assert s["p99_ttft_ms"] == pytest.approx(np.percentile(vals, 99))
    assert s["p90_ttft_ms"] == pytest.approx(90.1)
    assert metrics.summarize("tpot", [])["mean_tpot_ms"] is None


def test_jain_index_known_values():
    assert metrics.jain_index([5, 5, 5, 5]) == pytest.approx(1.0)
    assert metrics.jain_index([1, 0, 0, 0]) == pytest.approx(0.25)
    assert metrics.jain_index([1, 2]) == pytest.approx(9 / 10)


def test_stage_timer_separates_stages():
    t = metrics.StageTimer()
    with t("a"):
        time.sleep(0.05)
    with t("b"):
        pass
    assert t.seconds["a"] >= 0.05 and t.seconds["b"] < 0.05


# ---------------------------------------------------------------- results
def test_save_run_writes_schema_and_csv_atomically(tmp_path):
    p = results.run_path(tmp_path, "tensor_parallel", "Qwen/Qwen2.5-7B", 2, "20260101-000000")
    assert p.name == "tensor_parallel_Qwen-Qwen2.5-7B_tp2_20260101-000000.json"
    results.save_run(p, experiment="tensor_parallel", config={"tp": 2}, metrics={"x_s": 1.5, "tp": 2},
                     raw={"samples": [1, 2]})
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
    p = results.save_run(tmp_path / "r.json", experiment="e", config={"engine": {"tp": 1}},
                         metrics={"m": [1, 2]}, raw={"requests": reqs, "empty": [], "note": "x"},
                         failure={"kind": "oom"})
    text = p.read_text()
    doc = json.loads(text)
    assert doc["raw"] == {"requests": reqs, "empty": [], "note": "x"} and doc["failure"] == {"kind": "oom"}
    assert list(doc) == ["schema_version", "experiment", "created", "status", "config", "environment", "metrics",
                         "raw", "failure"]
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


# ---------------------------------------------------------------- isolation
def test_isolated_success_runs_in_another_process():
    import os
    res = isolation.run_isolated("tests.iso_targets:ok", {"x": 21}, timeout_s=60, echo=False)
    assert res["status"] == "ok" and res["value"] == 42 and res["pid"] != os.getpid()


@pytest.mark.parametrize("target,kind", [("raise_oom", "oom"), ("raise_nccl", "nccl")])
def test_isolated_failures_are_classified(target, kind):
    res = isolation.run_isolated(f"tests.iso_targets:{target}", {}, timeout_s=60, echo=False)
    assert res["status"] == "failed"
    assert res["failure"]["kind"] == kind
    assert res["failure"]["exit_code"] == 1
    assert res["failure"]["hint"]


def test_isolated_timeout_kills_the_child():
    t0 = time.perf_counter()
    res = isolation.run_isolated("tests.iso_targets:sleep_forever", {}, timeout_s=3, echo=False)
    assert res["failure"]["kind"] == "timeout"
    assert time.perf_counter() - t0 < 30


def test_what_a_killed_child_prints_while_dying_goes_to_the_log_tail_not_the_terminal(capfd):
    res = isolation.run_isolated("tests.iso_targets:noisy_when_killed", {}, timeout_s=3, echo=True)
    err = capfd.readouterr().err
    assert res["failure"]["kind"] == "timeout" and "ready" in err
    assert "Traceback" not in err and "RuntimeError: cancelled" in res["log_tail"]


def test_isolated_hard_exit_keeps_root_cause():
    res = isolation.run_isolated("tests.iso_targets:hard_exit", {}, timeout_s=60, echo=False)
    assert res["failure"]["exit_code"] == 3
    assert "the real reason" in res["failure"]["message"]


# ---------------------------------------------------------------- memory tracking (CPU path)
@pytest.mark.skipif(hardware.has_gpu(), reason="CPU path of the tracker")
def test_memory_tracker_sees_a_grandchild_allocation():
    from common.measure.gpu_memory import MemoryTracker
    from tests.iso_targets import allocate
    with MemoryTracker(interval_s=0.05) as mem:
        allocate({"mib": 300, "seconds": 1.0})
    s = mem.summary()
    assert s["backend"] == "psutil-rss"
    others = [d for d in s["devices"] if d["label"] != "main"]
    assert others and max(d["peak_used_mib"] for d in others) > 250
    assert len(s["timeline"]) > 5


def test_balance():
    assert gpu_memory.balance([100, 110]) == pytest.approx(0.10)
    assert gpu_memory.balance([100]) is None


def test_cpu_bind_spec_gives_each_rank_its_cores():
    n = len(hardware.cpu_cores())
    if n >= 2:
        parts = hardware.cpu_bind_spec(2).split("|")
        assert len(parts) == 2 and parts[0] != parts[1]
    with pytest.raises(ValueError):
        hardware.cpu_bind_spec(n + 1)


def test_mixed_reference_runs_share_no_prompt_with_the_mixed_run():
    """The short-alone and long-reference runs go on the mixed run's engine first: same lengths and arrival
    times as the mixed requests, but none of their prompts (not even a first KV block) may reach the mixed
    run through the prefix cache."""
    from common.measure.mixed import workload
    cfg = {"seed": 3, "num_requests": 60, "long_fraction": 0.2, "request_rate": 5.0, "long_len": (300, 400),
           "short_len": (16, 64), "output_len": 8}
    alone, long_ref, mixed = workload(cfg, 1000)
    shorts = [s for s in mixed if s.klass == "short"]
    assert [len(a.prompt_token_ids) for a in alone] == [len(s.prompt_token_ids) for s in shorts]
    assert [a.arrival_s for a in alone] == [s.arrival_s for s in shorts]
    assert len(long_ref) == 1 and len(long_ref[0].prompt_token_ids) == len(
        next(s for s in mixed if s.klass == "long").prompt_token_ids)
    first_blocks = {tuple(s.prompt_token_ids[:16]) for s in mixed}
    assert not any(tuple(r.prompt_token_ids[:16]) in first_blocks for r in alone + long_ref)


def test_bar_plot_writes_a_png_with_readable_value_labels(tmp_path):
    from common.output import plotting
    assert [plotting._label(v) for v in (31239.4, 4.853, 0.2661, None)] == ["31,239", "4.85", "0.266", "n/a"]
    path = plotting.bar_plot(tmp_path / "bars.png", ["1 GPU", "DP4"], {"out tok/s": [7903.0, 31239.0]},
                             title="Throughput per layout", ylabel="output tokens / s")
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"



def test_a_wrapped_title_never_parts_a_number_from_its_unit():
    from common.output.plotting import wrap_title
    title = "Capacity under p99 TTFT <= 500 ms, p99 TPOT <= 50 ms at 12.5 req/s on 2 CPU ranks"
    for chars in range(14, len(title)):
        lines = wrap_title(title, chars).split("\n")
        assert len(lines) > 1 and all(len(line) <= chars for line in lines)
        assert not any(
            a[-1].isdigit() and b.split()[0] in ("ms,", "ms", "req/s", "CPU") for a, b in zip(lines, lines[1:])
        )
        assert " ".join(lines).replace("\u00a0", " ") == title


@pytest.mark.parametrize("lo,hi", [(1150, 1320), (12, 5000)])
def test_a_log_axis_is_labelled_in_plain_numbers_within_a_decade_and_across_many(lo, hi):
    from common.output import plotting
    plt = plotting._plt()
    fig, ax = plt.subplots()
    ax.scatter([lo, hi], [1, 2])
    ax.set_xscale("log")
    plotting._readable_log_axis(ax, ax.xaxis)
    fig.canvas.draw()
    shown = [
        t.get_text()
        for t in ax.get_xticklabels(which="both")
        if t.get_text() and lo * 0.9 <= t.get_position()[0] <= hi * 1.1
    ]
    plt.close(fig)
    assert len(shown) >= 2 and all(re.fullmatch(r"[\d,.]+", t) for t in shown), shown

# ---------------------------------------------------------------- scaling notes
def test_spread_note_names_only_layouts_whose_runs_disagree():
    from common.measure.noise import spread_note
    steady = {"layout": "1 GPU", "offline_runs": 3, "output_throughput_runs": [100.0, 104.0, 102.0],
              "output_throughput_spread_pct": 4 / 102 * 100}
    noisy = {"layout": "DP2", "offline_runs": 3, "output_throughput_runs": [150.0, 300.0, 200.0],
             "output_throughput_spread_pct": 150 / 200 * 100}
    assert spread_note([steady]) is None
    note = spread_note([steady, noisy])
    assert note.startswith("Noise: DP2's 3 timed runs differ by 75% (150-300 out tok/s)") and "1 GPU" not in note
    assert spread_note([{"layout": "old file"}]) is None  # written before repeated runs


def test_async_engine_is_built_as_vllm_serve_builds_it(monkeypatch, tiny_model):
    """AsyncLLM's own default usage context gives other scheduler limits than `vllm serve` (128 vs 1,024
    sequences on an H200): the in-process engine must ask for the server's."""
    from vllm.usage.usage_lib import UsageContext
    from vllm.v1.engine.async_llm import AsyncLLM

    from common.runtime import engine
    seen = {}
    monkeypatch.setattr(AsyncLLM, "from_engine_args",
                        classmethod(lambda cls, args, **kw: seen.update(args=args, **kw) or "engine"))
    model, tok = tiny_model
    assert engine.build_async_engine({"model": str(model), "tokenizer": str(tok), "max_num_seqs": 7}) == "engine"
    assert seen["usage_context"] == UsageContext.OPENAI_API_SERVER
    assert seen["args"].max_num_seqs == 7  # the user's flags still win


def test_table_left_aligns_free_text_and_keeps_numbers_right():
    from common.output.tables import table_text
    lines = table_text([{"rate": 3.2, "verdict": "pass"},
                        {"rate": 104, "verdict": "FAIL (p99 TTFT over 500 ms for sure: 30 of the 2050)"}]).splitlines()
    assert lines[0].split() == ["rate", "verdict"]
    col = lines[0].index("verdict")  # every verdict starts under its header
    assert lines[1][col:] == "pass" and lines[2][col:].startswith("FAIL (p99")
    assert lines[1].index("3.2") > lines[2].index("104") - 1  # numbers right-aligned
    assert all(line == line.rstrip() for line in lines)


def test_cudagraph_max_tokens_reads_what_the_engine_captures():
    """The largest CUDA-graph step an engine replays, from vLLM's own compilation config (0 when it captures none)."""
    from vllm.config.compilation import CompilationConfig, CUDAGraphMode

    from common.runtime.engine import cudagraph_max_tokens

    graphs = CompilationConfig(
        cudagraph_mode=CUDAGraphMode.FULL_AND_PIECEWISE, cudagraph_capture_sizes=[1, 8, 256, 512]
    )
    assert cudagraph_max_tokens(graphs) == 512
    assert (
        cudagraph_max_tokens(CompilationConfig(cudagraph_mode=CUDAGraphMode.NONE, cudagraph_capture_sizes=[1, 8])) == 0
    )
    assert cudagraph_max_tokens(CompilationConfig(cudagraph_capture_sizes=[])) == 0
