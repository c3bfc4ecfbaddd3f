"""Experiment 1 - Does the model load and answer at every tensor-parallel size, and do the ranks share it equally?

For each TP size (default 1, 2, 4) this loads the model in its own process, runs a greedy inference
check on fixed prompts, compares the generated tokens with TP=1, and samples every GPU's memory
(NVML, 10x per second) to check that the ranks hold ~equal memory (PASS within 10 %).
Sizes larger than the GPUs present, or that do not divide the model's attention heads, are skipped
with the reason printed before anything is launched.

Run it:
    python test_tensor_parallel.py                 # TP 1,2,4 on Qwen/Qwen2.5-7B-Instruct (skips what does not fit)
    python test_tensor_parallel.py --tp-sizes 4    # one GPU count only, e.g. on a 4-GPU pod
    python test_tensor_parallel.py --tp-sizes 1 --max-model-len 4096 --gpu-memory-utilization 0.85
    python test_tensor_parallel.py                 # on a CPU box: tiny local model, TP=1 and TP=2 on two cores
    python test_tensor_parallel.py --model /tmp/models/qwen2.5-7b --load-format dummy \\
        --tokenizer /tmp/models/qwen2.5-7b-tokenizer   # config-only folder, random weights

Exit code 0 when every attempted size passed, 1 when one failed, 2 on bad input.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from common import cli
from common.config import RunConfig, add_options, from_args, option
from common.measure import plan as bill
from common.measure.metrics import StageTimer
from common.output.progress import Stages
from common.output.results import RunFile, Status, any_failed, record_failure, run_path, save_run, then, timestamp
from common.output.tables import fmt_bytes, fmt_mib, print_table
from common.runtime import engine as eng
from common.runtime import hardware
from common.runtime.gpu_memory import MemoryTracker, balance
from common.runtime.isolation import Failure, run_isolated, until_interrupted
from common.runtime.models import layout_problem
from common.traffic.workloads import CHECK_PROMPTS

EXPERIMENT = "tensor_parallel"
BALANCE_LIMIT = 0.10  # max/min - 1 of per-rank memory


@dataclass
class Config(RunConfig):
    tp_sizes: list[int] = option([1, 2, 4], "comma-separated tensor-parallel sizes to try", type=cli.int_list)
    max_tokens: int = option(32, "tokens generated per check prompt")


# --------------------------------------------------------------------------- child process (one TP size)
def tp_check(cfg: Config) -> dict:
    """Runs in its own process: load at one TP size, inference check, memory per rank."""
    timer = StageTimer()
    with MemoryTracker() as mem:
        with timer("import"):
            eng.prepare_env(cfg.engine)
            from vllm import SamplingParams
        with timer("engine_start"):
            llm = eng.build_llm(cfg.engine)
        after_load = mem.mark("after_load")
        ranks = eng.rank_reports(llm)
        kv_tokens = eng.kv_cache_tokens(llm)
        params = SamplingParams(temperature=0.0, max_tokens=cfg.max_tokens, ignore_eos=True, seed=0)
        with timer("warmup"):  # the first request pays one-off costs (CPU: up to ~30 s)
            llm.generate(CHECK_PROMPTS[:1], SamplingParams(max_tokens=4, ignore_eos=True), use_tqdm=False)
        with timer("measure"):
            outs = llm.generate(CHECK_PROMPTS, params, use_tqdm=False)
        after_generate = mem.mark("after_generate")
    token_ids = [list(o.outputs[0].token_ids) for o in outs]
    n_out = sum(len(t) for t in token_ids)
    vocab = llm.llm_engine.vllm_config.model_config.get_vocab_size()
    eng.shutdown(llm)
    checks = {
        "all_prompts_answered": len(outs) == len(CHECK_PROMPTS),
        "exact_output_lengths": all(len(t) == cfg.max_tokens for t in token_ids),
        "token_ids_in_vocab": all(0 <= i < vocab for t in token_ids for i in t),
    }
    return {
        "stage_seconds": timer.seconds,
        "output_tokens": n_out,
        "check_output_throughput": n_out / timer.seconds["measure"],
        "checks": checks,
        "token_ids": token_ids,
        "texts": [o.outputs[0].text for o in outs],
        "ranks": ranks,
        "kv_cache_tokens": kv_tokens,
        "memory": mem.summary(),
        "memory_after_load": after_load,
        "memory_after_generate": after_generate,
        "world_size": eng.world_size(cfg.engine),
    }


# --------------------------------------------------------------------------- analysis helpers
def rank_memory(result: dict, tp: int) -> tuple[list[str], list[float]]:
    """Per-rank memory after generation: the first `tp` GPUs (NVML), or the Worker_TP* processes (CPU)."""
    mem = result["memory_after_generate"]
    if result["memory"]["backend"] == "nvml":
        labels = [f"GPU{i}" for i in range(tp)]
    elif tp == 1:
        labels = [k for k in mem if k == "EngineCore"] or [k for k in mem if k.startswith("Worker")][:1]
    else:
        labels = sorted(k for k in mem if k.startswith("Worker"))
    return labels, [mem.get(k, 0.0) for k in labels]


def agreement(ref: list[list[int]], other: list[list[int]]) -> float:
    """Mean share of each prompt's tokens that match the reference up to the first difference."""
    shares = []
    for a, b in zip(ref, other, strict=True):
        n = 0
        for x, y in zip(a, b, strict=False):
            if x != y:
                break
            n += 1
        shares.append(n / max(len(a), 1))
    return sum(shares) / max(len(shares), 1)


# --------------------------------------------------------------------------- the experiment
def main(cfg: Config) -> dict:
    # 1. What can run here? Decide before launching anything.
    engine_kwargs, info = cli.resolve_model(cfg.model, cfg.engine)
    devices, label = hardware.device_count(), hardware.device_label()
    print(f"model: {info.name}  ({info.num_attention_heads} attention heads, {info.num_key_value_heads} KV heads)")
    print(f"devices: {devices} {label}{'s' if devices != 1 else ''}")
    plan = [(tp, layout_problem(info, tp=tp, devices=devices)) for tp in cfg.tp_sizes]
    for tp, why in plan:
        print(f"  TP={tp}: {'skip - ' + why if why else 'run'}")

    # 2. Each size in its own process, saved as soon as it is measured
    ts = timestamp()
    rows, files, measured, runs, reference = [], [], [], [], None
    stages = Stages(len([tp for tp, why in plan if not why]))
    for tp, why in plan:
        child = replace(cfg, engine={**engine_kwargs, "tensor_parallel_size": tp}, model=info.name)
        base_cfg = {"experiment": EXPERIMENT, "tp": tp, **child.to_json()}  # its file's config
        path = run_path(cfg.output_dir, EXPERIMENT, info.short_name, tp, ts)
        files.append(str(path))
        if why:
            rows.append(skipped(path, base_cfg, why))
            continue
        res = until_interrupted(
            run_isolated, "test_tensor_parallel:tp_check", child, timeout_s=cfg.timeout_s, label=f"TP={tp}",
            announce=stages.line(f"TP={tp}: loading in its own process ..."),
        )  # fmt: skip
        if res["status"] != Status.OK:  # recorded; on Ctrl-C the sweep stops here, what finished is on disk
            rows.append(
                record_failure(
                    path, f"TP={tp}", res, experiment=EXPERIMENT, config=base_cfg, metrics={"tp": tp}, row={"TP": tp}
                )
            )
            continue
        runs.append(run := saved(path, base_cfg, res))  # what the ranks reported, before anything reads it
        if tp == 1 and reference is None:
            reference = res["token_ids"]
        dummy = str(engine_kwargs.get("load_format", "")) == "dummy"  # random weights differ per layout
        rows.append(
            then("the summary", partial(summary, run, res, tp, reference, label, dummy, measured), run)
            or {"TP": tp, "status": Status.FAILED, "reason": "its summary failed (see the JSON)"}
        )

    # 3. The table and its takeaway
    text, all_passed = then("the table", lambda: table(rows, measured), *runs) or ("", False)
    print("results: " + ", ".join(files))
    return {
        "rows": rows,
        "files": files,
        "takeaway": text,
        "exit_code": 0 if all_passed and not any_failed(runs) else 1,
    }


def skipped(path: Path, base_cfg: dict, why: str) -> dict:
    """A size that cannot run here: its file says why, and so does its row."""
    row = {"TP": base_cfg["tp"], "status": Status.SKIPPED, "reason": why}
    save_run(path, experiment=EXPERIMENT, config=base_cfg, metrics={"tp": base_cfg["tp"]}, status=Status.SKIPPED,
             failure=Failure("skipped", why), rows=[row])  # fmt: skip
    return row


def saved(path: Path, base_cfg: dict, res: dict) -> RunFile:
    """A size's result file, written now with what its ranks reported."""
    keep = ("token_ids", "texts", "ranks", "kv_cache_tokens", "memory", "stage_seconds", "process_wall_s")
    run = RunFile(path, EXPERIMENT, base_cfg)
    run.measured({"tp": base_cfg["tp"]}, {k: res[k] for k in keep})
    return run


def summary(
    run: RunFile, res: dict, tp: int, reference: list | None, label: str, dummy: bool, measured: list[dict]
) -> dict:
    """One size's figures into its file (and `measured`): its table row."""
    metrics = tp_metrics(res, tp, None if dummy or reference is None else agreement(reference, res["token_ids"]))
    measured.append(metrics)
    run.summarized(metrics, [tp_row(metrics, res, label, dummy)], failed=metrics["status"] == Status.FAILED)
    return run.rows[0]


def table(rows: list[dict], measured: list[dict]) -> tuple[str, bool]:
    text, all_passed = takeaway(rows, measured)
    print_table(rows, text + ".")
    return text, all_passed


def tp_metrics(res: dict, tp: int, agree: float | None) -> dict:
    """One size's figures: load and check times, memory per rank and its balance (gpu_memory.balance), weights and
    KV cache per rank, agreement with TP=1, and pass/fail."""
    labels, per_rank = rank_memory(res, tp)
    bal = balance(per_rank)
    balanced = bal <= BALANCE_LIMIT if bal is not None else len(per_rank) < 2  # a rank at 0 memory: not balanced
    status = Status.OK if all(res["checks"].values()) and balanced else Status.FAILED
    if not balanced:
        print(
            f"TP={tp}: ranks' memory differs by {'-' if bal is None else f'{bal * 100:.1f}%'} "
            f"(> {BALANCE_LIMIT * 100:.0f}%). Hint: check that tensor_parallel_size matches the GPUs you meant to use "
            "(CUDA_VISIBLE_DEVICES) and that no other process holds memory on one of them."
        )
    st = res["stage_seconds"]
    return {
        "tp": tp,
        "world_size": res["world_size"],
        "import_s": st["import"],
        "engine_start_s": st["engine_start"],
        "warmup_s": st["warmup"],
        "measure_s": st["measure"],
        "check_output_throughput": res["check_output_throughput"],
        "memory_backend": res["memory"]["backend"],
        "rank_memory_labels": labels,
        "rank_memory_used_mib": per_rank,
        "rank_memory_peak_mib": [
            next((d["peak_used_mib"] for d in res["memory"]["devices"] if d["label"] == lb), None) for lb in labels
        ],
        "memory_balance": bal,
        "memory_balanced": balanced,
        "weights_gib_per_rank": [r["weights_bytes"] / 2**30 for r in res["ranks"]],
        "kv_cache_gib_per_rank": [r["kv_cache_bytes"] / 2**30 for r in res["ranks"]],
        "kv_cache_tokens": res["kv_cache_tokens"],
        "token_agreement_vs_tp1": agree,
        "inference_checks": res["checks"],
        "status": status,
    }


def tp_row(m: dict, res: dict, label: str, dummy: bool) -> dict:
    bal, agree = m["memory_balance"], m["token_agreement_vs_tp1"]
    mem_col = "mem/rank (NVML)" if m["memory_backend"] == "nvml" else "mem/rank (RSS)"
    return {
        "TP": m["tp"],
        label + "s": m["tp"],
        "load s": round(m["engine_start_s"], 1),
        "check tok/s": round(m["check_output_throughput"], 1),
        mem_col: " / ".join(fmt_mib(v) for v in m["rank_memory_used_mib"]),
        "weights/rank": " / ".join(fmt_bytes(r["weights_bytes"]) for r in res["ranks"]),
        "balance": (
            "n/a (1 rank)"
            if len(m["rank_memory_used_mib"]) < 2
            else f"{'-' if bal is None else f'{bal * 100:.1f}%'} {'PASS' if m['memory_balanced'] else 'FAIL'}"
        ),
        "KV cache tokens": f"{m['kv_cache_tokens']:,}" if m["kv_cache_tokens"] else "-",
        "agree vs TP1": "ref"
        if m["tp"] == 1
        else (("n/a (dummy weights)" if dummy else "n/a") if agree is None else f"{agree * 100:.0f}%"),
        "status": m["status"],
    }


def takeaway(rows: list[dict], measured: list[dict]) -> tuple[str, bool]:
    """(the takeaway sentence, whether every size that ran passed)."""
    ran = [r for r in rows if r["status"] in (Status.OK, Status.FAILED)]
    passed = [r for r in rows if r["status"] == Status.OK]
    skipped = [r for r in rows if r["status"] == Status.SKIPPED]
    if ran and len(passed) == len(ran):
        text = (
            f"Takeaway: TP {', '.join(str(r['TP']) for r in passed)} loaded, answered and kept the ranks' "
            f"memory within {BALANCE_LIMIT * 100:.0f}% of each other"
        )
        by_tp = {m["tp"]: m for m in measured}
        if 1 in by_tp and len(by_tp) > 1:
            top = max(by_tp)
            w1, wn = by_tp[1]["weights_gib_per_rank"][0], by_tp[top]["weights_gib_per_rank"][0]
            text += f"; TP={top} holds {wn / w1 * 100:.0f}% of TP=1's weights per rank"
            k1, kn = by_tp[1]["kv_cache_tokens"], by_tp[top]["kv_cache_tokens"]
            if k1 and kn:
                text += f" and fits {kn / k1:.1f}x the KV-cache tokens"
    elif ran:
        text = (
            f"Takeaway: TP {', '.join(str(r['TP']) for r in ran if r['status'] != Status.OK)} did not pass; see the "
            "reasons and hints above"
        )
    else:
        text = "Takeaway: nothing could run here"
    if skipped:
        text += f"; skipped TP {', '.join(str(r['TP']) for r in skipped)} (see reasons)"
    return text, bool(ran) and len(passed) == len(ran)


def plan(cfg: Config) -> None:
    """--plan: the TP sizes that would run here, an engine each, and what they would cost."""
    _, info = cli.resolve_model(cfg.model, cfg.engine)
    ref, devices = bill.reference(info.params_estimate()), hardware.device_count()
    n = len(CHECK_PROMPTS)
    stages = [
        bill.Stage(
            f"TP={tp}: load, check {n} prompts", tp, 1, bill.generate_s(ref, n, cfg.max_tokens, n, tp),
            f"{n} x {cfg.max_tokens} tokens at once", layout_problem(info, tp=tp, devices=devices) or "",
        )
        for tp in cfg.tp_sizes
    ]  # fmt: skip
    bill.show("test_tensor_parallel.py", stages, ref, cfg.gpu_hour_usd)


def build_config(args, engine: dict) -> Config:
    return from_args(Config, args, **cli.common_fields(args), engine=engine)


if __name__ == "__main__":
    parser = cli.base_parser(__doc__)
    add_options(parser, Config)
    cli.run_main(main, build_config, parser, plan)
