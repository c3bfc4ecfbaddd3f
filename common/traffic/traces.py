"""Request traces read from files, checked, and cut to a stretch: what a real service's traffic looked like (when each
request came, how long its prompt and answer were, which prompt blocks it shared). Turning a trace into requests is
common/traffic/workloads.py's job.

Formats (`--dataset-name` as `vllm bench serve` names them; by default from the file's extension):
- `azure` (.csv): the Azure LLM inference trace, `TIMESTAMP,ContextTokens,GeneratedTokens`, timestamps as dates
- `timed_trace` (.jsonl): Mooncake / `vllm bench serve --dataset-name timed_trace`, one JSON object a line:
  `timestamp` (ms from the start), `input_length`, `output_length`, optional `hash_ids` (one id per 512-token
  prefix block; equal ids = a shared prefix)
- `sharegpt` (.json): real conversations, no times - `[{"conversations": [{"from": "human", "value": ...},
  {"from": "gpt", "value": ...}, ...]}, ...]`: the first human turn is the prompt, the answer after it sets the
  output length (as `vllm bench serve --dataset-name sharegpt` reads it)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

FORMATS = {".csv": "azure", ".jsonl": "timed_trace", ".json": "sharegpt"}
TIMED = ("azure", "timed_trace")
MOONCAKE_BLOCK = 512  # tokens per hash id in the Mooncake release


class TraceError(ValueError):
    """A trace file that cannot be replayed: one line that says why."""


@dataclass
class Trace:
    source: str  # azure | timed_trace
    path: str
    sha256: str
    t: np.ndarray  # arrival offsets (s) from the trace's first request, non-decreasing
    input_len: np.ndarray
    output_len: np.ndarray
    hash_ids: list | None = None  # per request, its prefix blocks' ids (timed_trace only)
    block_size: int = MOONCAKE_BLOCK
    origin_s: float = 0.0  # where this stretch's offset 0 lies in the whole trace (s from its first request)

    def __len__(self) -> int:
        return len(self.t)

    @property
    def span_s(self) -> float:
        return float(self.t[-1] - self.t[0]) if len(self.t) > 1 else 0.0

    @property
    def mean_rate(self) -> float:
        """Requests per second over the trace's span (its recorded rate)."""
        return (len(self.t) - 1) / self.span_s if self.span_s > 0 else float("inf")

    def fits(self, max_model_len: int | None) -> np.ndarray:
        """Per request: whether its prompt plus answer fit in `max_model_len` (all, when None); the rest are dropped,
        as the engine would refuse them."""
        if not max_model_len:
            return np.ones(len(self.t), dtype=bool)
        return self.input_len + self.output_len <= max_model_len

    def busiest_minute_rate(self) -> float:
        """Requests per second in its busiest minute (a 60 s window sliding over the arrivals)."""
        ends = np.searchsorted(self.t, self.t + 60.0, side="left")
        return float(np.max(ends - np.arange(len(self.t)))) / 60.0 if len(self.t) else 0.0

    def stretch(self, start_s: float = 0.0, duration_s: float | None = None) -> "Trace":
        """The requests that arrived in [start_s, start_s + duration_s) of the trace, offsets from the first of them."""
        hi = np.inf if duration_s is None else start_s + duration_s
        keep = np.flatnonzero((self.t >= start_s) & (self.t < hi))
        if not len(keep):
            raise TraceError(
                f"{Path(self.path).name}: no request between {start_s:g} s and {hi:g} s "
                f"(the trace spans {self.span_s:.0f} s)"
            )
        t = self.t[keep]
        return replace(
            self,
            t=t - t[0],
            input_len=self.input_len[keep],
            output_len=self.output_len[keep],
            hash_ids=[self.hash_ids[i] for i in keep] if self.hash_ids is not None else None,
            origin_s=self.origin_s + float(t[0]),
        )

    def between(self, a: float, b: float) -> "Trace":
        """The requests that arrived in [a, b) of this stretch, their offsets kept (not moved to 0)."""
        keep = np.flatnonzero((self.t >= a) & (self.t < b))
        return replace(
            self,
            t=self.t[keep],
            input_len=self.input_len[keep],
            output_len=self.output_len[keep],
            hash_ids=[self.hash_ids[i] for i in keep] if self.hash_ids is not None else None,
        )

    def head(self, m: int) -> "Trace":
        """Its first m requests."""
        return replace(
            self,
            t=self.t[:m],
            input_len=self.input_len[:m],
            output_len=self.output_len[:m],
            hash_ids=self.hash_ids[:m] if self.hash_ids is not None else None,
        )

    def describe(self) -> dict:
        """config.workload's trace fields."""
        return {
            "source": self.source,
            "path": self.path,
            "sha256": self.sha256,
            "requests": len(self),
            "span_s": round(self.span_s, 3),
            "origin_s": round(self.origin_s, 3),
            "mean_rate": round(self.mean_rate, 4),
            "busiest_minute_rate": round(self.busiest_minute_rate(), 4),
        }


def dataset_kind(path: str | Path, dataset_name: str | None = None) -> str:
    """azure | timed_trace | sharegpt: --dataset-name, else the file's extension; TraceError for a folder, a missing
    file or an unknown extension."""
    p = Path(path)
    if p.is_dir():
        raise TraceError(f"--dataset-path {p} is a folder, not a trace file")
    if not p.is_file():
        raise TraceError(f"--dataset-path {p}: no such file")
    kind = dataset_name if dataset_name not in (None, "random") else FORMATS.get(p.suffix.lower())
    if kind not in ("azure", "timed_trace", "sharegpt"):
        raise TraceError(
            f"--dataset-path {p}: cannot tell its format from '{p.suffix}'; pass --dataset-name azure, "
            "timed_trace or sharegpt"
        )
    return kind


def load_sharegpt(path: str | Path) -> tuple[list[tuple[str, str]], str]:
    """([(first human turn, the answer to it)], sha256) of a ShareGPT JSON file; TraceError when it holds none."""
    p = Path(path)
    raw = p.read_bytes()
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise TraceError(f"{p.name} is not JSON ({type(e).__name__})") from None
    pairs = []
    for item in data if isinstance(data, list) else []:
        turns = item.get("conversations") if isinstance(item, dict) else None
        if (
            isinstance(turns, list)
            and len(turns) >= 2
            and all(isinstance(t, dict) for t in turns[:2])
            and turns[0].get("value")
            and turns[1].get("value")
        ):
            pairs.append((str(turns[0]["value"]), str(turns[1]["value"])))
    if not pairs:
        raise TraceError(
            f'{p.name} holds no ShareGPT conversation (a list of {{"conversations": [prompt, answer, ...]}}}})'
        )
    return pairs, hashlib.sha256(raw).hexdigest()


def load_trace(path: str | Path, dataset_name: str | None = None) -> Trace:
    """Read and check a trace file; TraceError (one line) for anything that cannot be replayed."""
    p = Path(path)
    kind = dataset_kind(p, dataset_name)
    if kind not in TIMED:
        raise TraceError(f"--dataset-path {p}: a {kind} file has no arrival times to replay")
    raw = p.read_bytes()
    if not raw.strip():
        raise TraceError(f"{p.name} is empty")
    t, ins, outs, hashes = (_azure if kind == "azure" else _timed)(p, raw)
    if not len(t):
        raise TraceError(f"{p.name} has no requests")
    _check(p.name, t, ins, outs)
    _plausible(p.name, kind, t - t[0], ins, outs)
    return Trace(kind, str(p), hashlib.sha256(raw).hexdigest(), t - t[0], ins, outs, hashes)


def _azure(p: Path, raw: bytes):
    import io

    import pandas as pd

    try:
        df = pd.read_csv(io.BytesIO(raw))
    except Exception as e:
        raise TraceError(f"{p.name} is not a CSV file: {type(e).__name__}: {e}".splitlines()[0]) from None
    missing = [c for c in ("TIMESTAMP", "ContextTokens", "GeneratedTokens") if c not in df.columns]
    if missing:
        raise TraceError(
            f"{p.name} lacks column(s) {', '.join(missing)} (Azure format: TIMESTAMP,ContextTokens,GeneratedTokens)"
        )
    try:
        ts = pd.to_datetime(df["TIMESTAMP"], format="mixed")
    except Exception as e:
        raise TraceError(f"{p.name}: a TIMESTAMP is not a date ({e})".splitlines()[0]) from None
    t = (ts - ts.iloc[0]).dt.total_seconds().to_numpy() if len(ts) else np.array([])
    return t, _ints(p, df["ContextTokens"]), _ints(p, df["GeneratedTokens"]), None


def _timed(p: Path, raw: bytes):
    t, ins, outs, hashes = [], [], [], []
    for n, line in enumerate(raw.decode("utf-8", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            t.append(float(d["timestamp"]) / 1000.0)
            ins.append(int(d["input_length"]))
            outs.append(int(d["output_length"]))
        except (ValueError, TypeError) as e:
            raise TraceError(f"{p.name} line {n} is not a JSON request ({type(e).__name__})") from None
        except KeyError as e:
            raise TraceError(
                f"{p.name} line {n} lacks {e} (timed_trace: timestamp, input_length, output_length, hash_ids)"
            ) from None
        hashes.append([int(h) for h in d.get("hash_ids") or []])
    return np.array(t, dtype=float), np.array(ins), np.array(outs), (hashes if any(hashes) else None)


def _ints(p: Path, col) -> np.ndarray:
    try:
        return col.astype(int).to_numpy()
    except (ValueError, TypeError):
        raise TraceError(f"{p.name}: column {col.name} holds something that is not a token count") from None


def _check(name: str, t: np.ndarray, ins: np.ndarray, outs: np.ndarray) -> None:
    if (t < 0).any():
        raise TraceError(f"{name}: negative timestamps (first at request {int(np.argmax(t < 0)) + 1})")
    if (np.diff(t) < 0).any():
        raise TraceError(
            f"{name}: timestamps are not sorted (request {int(np.argmax(np.diff(t) < 0)) + 2} comes "
            "before the one above it); sort the file by time"
        )
    for what, v in (("input", ins), ("output", outs)):
        if (v <= 0).any():
            raise TraceError(
                f"{name}: request {int(np.argmax(v <= 0)) + 1} has {what} length {int(v[v <= 0][0])} (must be > 0)"
            )


MAX_RATE = 1000.0  # req/s over a whole trace: above it, the timestamps are not in the unit the format says
MIN_RATE = 1 / 600.0  # one request per 10 minutes on average: below it, likewise (or not a service's traffic)
MAX_TOKENS = 10_000_000  # a prompt or answer longer than this is not a token count


def _plausible(name: str, kind: str, t: np.ndarray, ins: np.ndarray, outs: np.ndarray) -> None:
    """TraceError for a file that parses but cannot be the traffic its user meant: every request at one instant,
    rates no service sees (timestamps in the wrong unit), lengths that are not token counts."""
    unit = "milliseconds" if kind == "timed_trace" else "dates"
    span = float(t[-1]) if len(t) else 0.0
    if len(t) > 1 and span == 0:
        raise TraceError(
            f"{name}: all {len(t)} requests have the same timestamp: no arrival pattern to replay "
            "(a dataset without times is --dataset-name sharegpt, or the random shape)"
        )
    if len(t) > 100 and (len(t) - 1) / span > MAX_RATE:
        raise TraceError(
            f"{name}: {len(t)} requests in {span:.3g} s is {(len(t) - 1) / span:,.0f} req/s; timestamps "
            f"must be {unit} (seconds given as milliseconds?)"
        )
    if len(t) >= 20 and (len(t) - 1) / span < MIN_RATE:
        raise TraceError(
            f"{name}: {len(t)} requests over {span / 3600:,.1f} h, one every {span / (len(t) - 1) / 60:,.0f} "
            f"min on average; timestamps must be {unit} (microseconds given as milliseconds?)"
        )
    for what, v in (("input", ins), ("output", outs)):
        if (v > MAX_TOKENS).any():
            raise TraceError(
                f"{name}: request {int(np.argmax(v > MAX_TOKENS)) + 1} has {what} length "
                f"{int(v.max()):,}: lengths must be token counts (bytes or characters given?)"
            )


def write_timed_trace(trace: Trace, path: Path, speed: float = 1.0) -> Path:
    """The trace as `vllm bench serve --dataset-name timed_trace` JSONL (timestamps in ms, divided by `speed`),
    hash ids per MOONCAKE_BLOCK-token block (the trace's own, else one fresh id per block: nothing shared)."""
    lines, fresh = [], 1 << 40
    for i in range(len(trace)):
        n_blocks = -(-int(trace.input_len[i]) // trace.block_size)
        ids = trace.hash_ids[i] if trace.hash_ids is not None else list(range(fresh, fresh + n_blocks))
        fresh += n_blocks
        lines.append(
            json.dumps(
                {
                    "timestamp": round(float(trace.t[i]) / speed * 1000, 3),
                    "input_length": int(trace.input_len[i]),
                    "output_length": int(trace.output_len[i]),
                    "hash_ids": ids,
                }
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def check_trace_args(args) -> None:
    """TraceError (one line) for --dataset-name/--dataset-path flags that cannot be used: checked before any engine
    starts."""
    if args.dataset_name not in (None, "random", "azure", "timed_trace", "sharegpt"):
        raise TraceError(f"--dataset-name {args.dataset_name}: choose random, azure, timed_trace or sharegpt")
    if args.trace_judge not in ("heaviest", "start"):
        raise TraceError(f"--trace-judge {args.trace_judge}: choose heaviest or start")
    if not args.trace_window_s > 0:
        raise TraceError(f"--trace-window must be > 0 s of trace time, got {args.trace_window_s:g}")
    if args.trace_start_s < 0 or (args.trace_duration_s is not None and not args.trace_duration_s > 0):
        raise TraceError("--trace-start must be >= 0 and --trace-duration > 0 (seconds of trace time)")
    if not args.dataset_path:
        if args.dataset_name not in (None, "random"):
            raise TraceError(f"--dataset-name {args.dataset_name} reads a file: add --dataset-path FILE")
        return
    if dataset_kind(args.dataset_path, args.dataset_name) == "sharegpt":
        load_sharegpt(args.dataset_path)
        return
    part = load_trace(args.dataset_path, args.dataset_name).stretch(args.trace_start_s, args.trace_duration_s)
    if len(part) < 2:
        raise TraceError(
            f"{Path(args.dataset_path).name}: the stretch from {args.trace_start_s:g} s holds "
            f"{len(part)} request: nothing to replay (move --trace-start or lengthen --trace-duration)"
        )
