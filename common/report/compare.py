"""Two folders of results side by side (`--from-results A --compare B`): each figure both measured, for the same
workload and layout (offline throughput, batch-1 decode, capacity under the same SLO), as B / A; a difference within
the noise (the wider of the pair's own spread or search resolution and 5 %) is said as a tie. What differs between
the two runs (GPU, vLLM, torch, model, engine flags, code) is named above the table: two folders are two runs,
hours or machines apart, not an A/B alternated in one run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from common.capacity.result import CapacityResult
from common.capacity.search import slo_text
from common.measure.noise import NOISE_FLOOR, noise_band, within_noise
from common.output.results import Status, atomic_write
from common.report.gather import layout_of, typed_results, workload_label


@dataclass(frozen=True)
class Pair:
    """One figure both folders measured: its workload, layout and name, A's and B's value and their noise band."""

    workload: str
    layout: str
    name: str
    a: float
    b: float
    band: float

    @property
    def ratio(self) -> float:
        return self.b / self.a if self.a else float("inf")

    @property
    def tie(self) -> bool:
        return within_noise(self.a, self.b, self.band)

    def verdict(self) -> str:
        if self.tie:
            return f"tie (within {self.band * 100:.0f} %)"
        return f"B {(self.ratio - 1) * 100:+.0f} %"


def _docs(folder: Path) -> list[dict]:
    docs, _ = typed_results(folder)
    return sorted((d for d in docs if d["status"] == Status.OK), key=lambda d: d["created"])


def _workload(doc: dict) -> str:
    """What the figure measured: a trace's stretch, the random shape, or the suite's / scaling's workload label."""
    w = doc["config"].get("workload") or {}
    if w.get("path"):
        return f"trace {Path(w['path']).name} ({str(w.get('sha256'))[:8]}) from {w.get('start_s', 0):g} s"
    if doc["experiment"] == "concurrent_requests":
        return f"{w.get('input_len')} in / {w.get('output_len')} out tokens, Poisson arrivals"
    return workload_label(doc)


def figures(docs: list[dict]) -> dict[tuple[str, str, str], dict]:
    """{(workload, layout, figure name): the newest metrics that measured it}, each figure with its value under
    "_value": offline out tok/s and batch-1 tok/s (suite, scaling), capacity under its SLO (any search)."""
    out: dict[tuple[str, str, str], dict] = {}
    for d in docs:
        m, key = d["metrics"], (_workload(d), layout_of(d)[0])
        if d["experiment"] in ("suite", "scaling") and m.get("output_throughput"):
            out[(*key, "offline out tok/s")] = {**m, "_value": m["output_throughput"]}
        if d["experiment"] in ("suite", "scaling") and m.get("batch1_decode_tokens_per_s"):
            out[(*key, "batch-1 tok/s")] = {**m, "_value": m["batch1_decode_tokens_per_s"], "_noise": "floor"}
        cap: CapacityResult | None = m.get("capacity")
        if cap and cap.found:
            unit = "x the trace" if cap.is_trace else "req/s"
            value = cap.trace_speedup if cap.is_trace else cap.request_rate
            out[(*key, f"capacity ({unit}), {slo_text(cap.slo, cap.percentile)}")] = {**m, "_value": value}
    return out


def pairs(docs_a: list[dict], docs_b: list[dict]) -> list[Pair]:
    fa, fb = figures(docs_a), figures(docs_b)
    out = []
    for key in sorted(set(fa) & set(fb)):
        ma, mb = fa[key], fb[key]
        kind = "capacity" if key[2].startswith("capacity") else "output_throughput"
        band = NOISE_FLOOR if "_noise" in ma else noise_band(ma, mb, key=kind)  # batch-1: no repeated runs kept
        out.append(Pair(*key, float(ma["_value"]), float(mb["_value"]), band))
    return out


def differences(docs_a: list[dict], docs_b: list[dict]) -> list[str]:
    """What differs between the two folders' newest runs: GPU, vLLM, torch, code, model, engine flags."""
    a, b = docs_a[-1], docs_b[-1]
    ea, eb = a["environment"], b["environment"]
    said = []
    for name, va, vb in [
        ("GPU", ", ".join(g["name"] for g in ea["gpus"]) or "CPU", ", ".join(g["name"] for g in eb["gpus"]) or "CPU"),
        ("vLLM", ea.get("vllm"), eb.get("vllm")),
        ("torch", ea.get("torch"), eb.get("torch")),
        ("code", str(ea.get("git_sha"))[:10], str(eb.get("git_sha"))[:10]),
    ]:
        if va != vb:
            said.append(f"{name}: {va} (A) vs {vb} (B)")
    ga, gb = a["config"].get("engine") or {}, b["config"].get("engine") or {}
    for k in sorted(set(ga) | set(gb)):
        if ga.get(k) != gb.get(k):
            said.append(f"engine {k}: {json.dumps(ga.get(k))} (A) vs {json.dumps(gb.get(k))} (B)")
    return said


def compare_lines(dir_a: Path, dir_b: Path) -> list[str]:
    docs_a, docs_b = _docs(dir_a), _docs(dir_b)
    if not docs_a or not docs_b:
        return [f"Nothing to compare: {dir_a if not docs_a else dir_b} holds no finished result file."]
    ps = pairs(docs_a, docs_b)
    L = [
        f"# {_name(dir_b)} (B) against {_name(dir_a)} (A)",
        "",
        f"A: `{dir_a}`, {len(docs_a)} result files; B: `{dir_b}`, {len(docs_b)}.",
        "",
        "What differs between the two runs: " + ("; ".join(differences(docs_a, docs_b)) or "nothing recorded") + ".",
        "",
    ]
    if not ps:
        return L + ["No figure was measured in both folders for the same workload, layout and SLO: nothing to set "
                    "side by side."]  # fmt: skip
    L += ["| workload | layout | figure | A | B | B / A | verdict |", "|---|---|---|---|---|---|---|"]
    for p in ps:
        L.append(f"| {p.workload} | {p.layout} | {p.name} | {p.a:,.4g} | {p.b:,.4g} | {p.ratio:.2f} | {p.verdict()} |")
    ties = sum(p.tie for p in ps)
    up = sum(1 for p in ps if not p.tie and p.ratio > 1)
    return L + [
        "",
        f"Takeaway: of {len(ps)} figure(s) both folders measured, {ties} tie within the noise, B is higher in {up} "
        f"and lower in {len(ps) - ties - up}. Two folders are two runs apart (the differences above): an A/B "
        "alternated in one run is the only fair test of one change.",
    ]


def _name(d: Path) -> str:
    return "/".join(d.resolve().parts[-3:])


def write_compare(dir_a: Path, dir_b: Path) -> dict:
    """compare.md in folder A, printed too."""
    L = compare_lines(dir_a, dir_b)
    path = dir_a / "compare.md"
    atomic_write(path, "\n".join(L) + "\n")
    print("\n".join(L))
    print(f"comparison: {path}")
    return {"compare": str(path), "exit_code": 0}
