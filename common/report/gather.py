"""The report's input: every result JSON of a folder, grouped by the workload it measured (results with different
workloads are never compared), the newest run per configuration, and the capacities judged on a trace."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from common import cli
from common.capacity.result import CapacityRange, CapacityResult
from common.measure.noise import above_linear
from common.output.results import Status, load_results, run_stamp


def _latest(docs, experiment, by=None):
    """Newest ok document per configuration key (and per d[by], when given) for one experiment."""
    best = {}
    for d in sorted(docs, key=lambda d: d["created"]):
        if d["experiment"] == experiment and d["status"] == Status.OK:
            best[
                json.dumps(
                    [d["metrics"].get("layout") or d["metrics"].get("gpus") or d["metrics"].get("tp"), d.get(by)]
                )
            ] = d
    return list(best.values())


# engine flags that change what a layout measures (the rest - max_model_len, load_format, ... - do not, for a workload
# that fits): results that differ in them are different workloads
LIMITS = ("max_num_seqs", "max_num_batched_tokens", "gpu_memory_utilization", "kv_cache_dtype", "quantization", "dtype")


def workload_label(doc: dict) -> str:
    """What a result measured, as one line: model, request shape (or trace), batch size, engine limits. Results
    with different labels are never compared in one table."""
    c = doc["config"]
    w = c.get("workload") or {}
    model = str(c["engine"]["model"]).rstrip("/").split("/")[-1]
    shape = f"{c.get('input_len')} in / {c.get('output_len')} out tokens, {c.get('num_prompts')} prompts" + (
        f"; capacity on trace {Path(w['path']).name} ({w['sha256'][:8]})" if w.get("path") else ""
    )
    limits = ", ".join(f"{k}={c['engine'][k]}" for k in LIMITS if k in c["engine"])
    return f"{model}: {shape}" + (f" ({limits})" if limits else "")


@dataclass
class Findings:
    """What the result files of one folder hold for one workload, as the report reads them."""

    docs: list[dict]
    skipped: list
    suite: list[dict]  # newest suite run per layout (TP at each GPU count; DP with --slo)
    runs: dict[str, list[dict]]  # benchmark_scaling.py runs by run stamp, each its own baseline
    tp_docs: list[dict]  # test_tensor_parallel.py
    workload: str = ""  # the workload reported on (workload_label)
    others: dict[str, list[dict]] = field(default_factory=dict)  # the folder's other workloads, not compared
    main_rows: list[dict] = field(default_factory=list)  # the course table: the suite's TP, else the newest TP run
    layouts: list[dict] = field(default_factory=list)  # every scaling layout's metrics
    trace_caps: list[dict] = field(default_factory=list)  # documents with a capacity judged on a trace's windows

    @property
    def first(self) -> dict:
        return (self.suite or self.scaling)[0]

    @property
    def scaling(self) -> list[dict]:
        return [d for stamp in sorted(self.runs) for d in self.runs[stamp]]

    @property
    def base(self) -> dict | None:
        return next((m for m in self.main_rows if m["gpus"] == 1), None)

    @property
    def primary(self) -> str | None:
        """The run the recommendation reads: the newest benchmark_scaling.py run with a 1-GPU baseline (its layouts
        measured back to back against it) that passes the sanity check (no layout above linear scaling: its baseline
        read low), else the newest with a baseline; else the suite's rows (None), or without a suite the newest run."""
        newest = sorted(self.runs, reverse=True)
        based = [s for s in newest if any(d["metrics"]["gpus"] == 1 for d in self.runs[s])]
        sane = [s for s in based if not above_linear([d["metrics"] for d in self.runs[s]])]
        if sane or based:
            return (sane or based)[0]
        return newest[0] if newest and not self.suite else None

    @property
    def run_config(self) -> dict:
        """The config of the run the candidates come from (its SLO, its latency test's load)."""
        docs = self.runs[self.primary] if self.primary else self.suite
        return docs[0]["config"] if docs else {}

    @property
    def candidates(self) -> list[dict]:
        """The layouts to recommend from: all from one run, so none is compared with another run's baseline."""
        docs = self.runs[self.primary] if self.primary else self.suite  # the suite: its TP and (with --slo) DP rows
        return [d["metrics"] for d in docs]

    def capacity_pool(self) -> dict[str, list[CapacityResult]]:
        """Per layout, every finished capacity search of this workload in the folder (suite and scaling runs alike)
        whose SLO and GPU model are the candidates': the runs a capacity's range is widened by (CapacityRange)."""
        first = self.candidates[0]["capacity"] if self.candidates and self.candidates[0].get("capacity") else None
        gpu = gpu_model(self.first["environment"]) if (self.suite or self.runs) else []
        pool: dict[str, list[CapacityResult]] = {}
        for d in sorted(self.suite + self.scaling, key=lambda d: d["created"]):
            cap = d["metrics"].get("capacity")
            same = gpu_model(d["environment"]) == gpu
            if cap and cap.found and same and first is not None and cap.slo == first.slo:
                pool.setdefault(d["metrics"]["layout"], []).append(cap)
        return pool

    @property
    def sources(self) -> str:
        suite = f"suite run {run_stamp(self.suite[0])}" if self.suite else None
        rec = f"benchmark_scaling.py run {self.primary}" if self.primary else suite
        course = suite or (f"benchmark_scaling.py run {self.primary}" if self.main_rows else None)
        return (f"Course table from the {course}; r" if course else "R") + f"ecommendation from the {rec}."


def pick_workload(docs: list[dict], wanted: str | None) -> tuple[str | None, dict[str, list[dict]]]:
    """(the workload to report on, {label: its suite and scaling documents}): the one whose label contains `wanted`,
    else the one with the newest result. Several matches, or none, is a UsageError that lists them."""
    groups: dict[str, list[dict]] = {}
    for d in docs:
        if d["experiment"] in ("suite", "scaling") and d["status"] == Status.OK:
            groups.setdefault(workload_label(d), []).append(d)
    if not groups:
        return None, groups
    if wanted is None:
        return max(groups, key=lambda k: max(run_stamp(d) for d in groups[k])), groups
    match = [k for k in groups if wanted.lower() in k.lower()]
    if len(match) != 1:
        raise cli.UsageError(
            f"--workload {wanted!r} matches {len(match)} of this folder's workloads: "
            + "; ".join(f"'{k}'" for k in groups)
        )
    return match[0], groups


def typed_results(out_dir: Path) -> tuple[list[dict], list]:
    """load_results(out_dir), each metrics.capacity typed (CapacityResult) from here on."""
    docs, skipped = load_results(out_dir)
    for d in docs:
        if isinstance(d["metrics"], dict) and isinstance(d["metrics"].get("capacity"), dict):
            d["metrics"]["capacity"] = CapacityResult.from_json(d["metrics"]["capacity"])
    return docs, skipped


def gpu_model(env: dict) -> list[str]:
    """The first GPU's name (as a one-item list; [] on a CPU box): runs on different models are not pooled."""
    return [g["name"] for g in env["gpus"]][:1]


def layout_of(doc: dict, engine: dict | None = None) -> tuple[str, int]:
    """(the layout's name, its devices) of a result file: metrics.layout where the run named it, else TPn or
    "1 GPU" from `engine` (default the run's config.engine)."""
    e = engine or doc["config"].get("engine") or {}
    gpus = (
        int(e.get("tensor_parallel_size") or 1)
        * int(e.get("pipeline_parallel_size") or 1)
        * int(e.get("data_parallel_size") or 1)
    )
    return doc["metrics"].get("layout") or (f"TP{gpus}" if gpus > 1 else f"1 {dev_of(doc['environment'])}"), gpus


def gather(out_dir: Path, wanted: str | None = None) -> Findings:
    docs, skipped = typed_results(out_dir)
    for p, why in skipped:
        print(f"  skipped {p.name}: {why}")
    label, groups = pick_workload(docs, wanted)
    mine = [d for d in docs if d["experiment"] not in ("suite", "scaling") or workload_label(d) == label]
    # benchmark_scaling.py runs are kept apart: each layout's speedup is against the 1-GPU baseline of its own
    # run, since a shared machine's baseline drifts between runs
    runs: dict[str, list[dict]] = {}
    for d in sorted(
        _latest([dict(d, _run=run_stamp(d)) for d in mine], "scaling", by="_run"),
        key=lambda d: (d["_run"], d["metrics"]["gpus"], d["metrics"]["layout"]),
    ):
        runs.setdefault(d["_run"], []).append(d)
    model = groups[label][0]["config"]["engine"]["model"] if label else None
    suite = sorted(_latest(mine, "suite"), key=lambda d: (d["metrics"]["gpus"], d["metrics"].get("dp", 1)))
    f = Findings(
        docs,
        skipped,
        suite,
        runs,
        [d for d in _latest(docs, "tensor_parallel") if d["config"]["engine"]["model"] == model],
        label or "",
        {k: v for k, v in groups.items() if k != label},
    )
    newest = runs[f.primary] if f.primary and any(d["metrics"]["gpus"] == 1 for d in runs[f.primary]) else []
    f.main_rows = [d["metrics"] for d in f.suite if d["metrics"].get("dp", 1) == 1] or sorted(
        [d["metrics"] for d in newest if d["metrics"].get("dp") == 1 and d["metrics"].get("pp") == 1],
        key=lambda m: m["gpus"],
    )
    f.layouts = [d["metrics"] for d in f.scaling]
    f.trace_caps = trace_capacities(docs)
    return f


def trace_capacities(docs: list[dict]) -> list[dict]:
    """[{doc, cap, layout, gpus, workload, range, engine_start}]: every ok capacity judged on a trace's windows (it has
    a load profile and a binding window), newest per trace, stretch, layout, SLO and GPU model; its range pools every
    run of that key (CapacityRange), its engine start is the run's own where it measured one (engine_start)."""
    found: dict[str, list[tuple[dict, CapacityResult, str, int]]] = {}
    for d in sorted(docs, key=lambda d: d["created"]):
        m = d["metrics"]  # a finished search counts even when a later step (its validation, a bench) was cut
        cap: CapacityResult | None = m.get("capacity")
        if cap and cap.binding_window and cap.binding_work_per_s and not cap.failed:
            layout, gpus = layout_of(d, cap.extra.get("engine"))
            w = d["config"].get("workload") or {}
            key = json.dumps(
                [w.get("sha256"), w.get("start_s"), w.get("span_s"), layout, cap.slo, gpu_model(d["environment"])]
            )
            found.setdefault(key, []).append((d, cap, layout, gpus))
    out = []
    for runs in found.values():
        d, cap, layout, gpus = runs[-1]
        out.append(
            {
                "doc": d,
                "cap": cap,
                "layout": layout,
                "gpus": gpus,
                "workload": d["config"].get("workload") or {},
                "range": CapacityRange.of(cap, [r[1] for r in runs]),
                "engine_start": engine_start(d, cap),
            }
        )
    return out


def engine_start(doc: dict, cap: CapacityResult) -> tuple[float | None, str]:
    """(seconds, what they are) of the engine start the run measured: the capacity search's own engine (its stage
    times), else the run's; (None, why) behind a server the lab did not start."""
    for where, st in (
        ("the capacity search's engine, started in this run", cap.extra.get("stage_seconds") or {}),
        ("the engine this run started", (doc.get("raw") or {}).get("stage_seconds") or {}),
    ):
        if st.get("engine_start"):
            return float(st["engine_start"]), where
    why = "measured behind a server the lab did not start" if doc["config"].get("base_url") else "not in the file"
    return None, why


def dev_of(env: dict) -> str:
    return "GPU" if env["gpus"] else "CPU rank"
