"""Each experiment's settings declared once: a dataclass field carries its default (one value, or one for a GPU
and one for a CPU box), its flag and its help; the parser, the config and the device defaults follow from it.

    @dataclass
    class Config:
        input_len: int | None = option(help="prompt tokens", gpu=512, cpu=64)
        seed: int = option(0)
        engine: dict = option({}, cli=False)

    add_options(parser, Config)                  # --input-len, --seed (help says the defaults)
    cfg = from_args(Config, args, engine=...)   # the parsed flags, plus what the script adds
    fill_device_defaults(cfg)                    # input_len None -> 512 on a GPU, 64 on a CPU box
"""

from __future__ import annotations

import argparse
import copy
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from common.runtime import hardware

_KEY = "lab"


def option(
    default=None,
    help: str = "",
    *,
    gpu=MISSING,
    cpu=MISSING,
    flag: str | None = None,
    type=None,
    action: str | None = None,
    metavar: str | None = None,
    nargs=None,
    cli: bool = True,
):
    """A Config field and its command-line flag. `gpu`/`cpu`: the defaults a None value takes by device (the
    field's own default is then None). `flag`: the option string (default --field-name); `action`, `type`, `metavar`
    and `nargs` as argparse takes them; cli=False: set by the script, never a flag."""
    meta = {
        _KEY: {
            "help": help,
            "gpu": gpu,
            "cpu": cpu,
            "flag": flag,
            "type": type,
            "action": action,
            "metavar": metavar,
            "nargs": nargs,
            "cli": cli,
        }
    }
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class RunConfig:
    """The fields every script's Config has, from base_parser()'s flags (cli.common_fields) and the vLLM engine flags
    passed through; a script's `class Config(RunConfig)` adds its own."""

    model: str | None = option(cli=False)
    engine: dict = option({}, cli=False)
    output_dir: str = option("results", cli=False)
    timeout_s: float = option(1800.0, cli=False)
    gpu_hour_usd: float | None = option(cli=False)  # --gpu-hour-usd (cli.base_parser): $ figures and --plan
    # what the parent resolved before any engine starts (cli.resolve_model / resolve_target), for its children
    vocab_size: int | None = option(cli=False)
    max_model_len: int | None = option(cli=False)
    workload: dict | None = option(cli=False)  # config.workload: what the requests are (workloads.workload_config)

    def to_json(self) -> dict:
        """The config as a result file's `config` (and a child process's input) holds it."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_json(cls, d: dict):
        """The config again from to_json()'s dict, typed: a field annotated with a type that has from_json (a Layout)
        is rebuilt by it, a tuple from its list. A key the class has no field for is an error, not a silent drop."""
        hints = typing.get_type_hints(cls)
        names = {f.name for f in fields(cls)}
        if unknown := sorted(set(d) - names):
            raise ValueError(f"{cls.__qualname__} has no field {', '.join(unknown)}")
        return cls(**{k: _typed(hints[k], v) for k, v in d.items()})


@dataclass
class TraceConfig:
    """The flags that replay a request trace instead of the random shape (as `vllm bench serve` names them)."""

    dataset_name: str | None = option(
        help="random (default), azure (the Azure LLM inference CSV), timed_trace "
        "(Mooncake / vllm bench JSONL) or sharegpt (real prompts, JSON); a "
        "--dataset-path's extension names it",
        type=str,
    )
    dataset_path: str | None = option(
        help="a request trace to replay (traces/ has two real ones), or a ShareGPT file", type=str
    )
    trace_start_s: float = option(0.0, "seconds into the trace where the replayed stretch starts", flag="--trace-start")
    trace_duration_s: float | None = option(
        help="seconds of the trace to replay (default: to its end)", flag="--trace-duration", type=float
    )
    trace_window_s: float = option(
        60.0,
        "seconds of trace time per window of the stretch's load profile (the "
        "window a capacity probe judges; the day's fleet steps by whole windows of "
        "60 s or more)",
        flag="--trace-window",
    )
    trace_judge: str = option(
        "heaviest",
        "where a capacity probe on a trace replays and judges: heaviest (the "
        "stretch's heaviest window by estimated work, warmed up by the trace just "
        "before it) or start (from the stretch's start)",
        type=str,
    )
    range_ratio: float = option(0.0, cli=False)  # the random shape's length spread (simulate's --range-ratio)


def _plain(v):
    return v.to_json() if hasattr(v, "to_json") else copy.deepcopy(v)


def _typed(hint, v):
    """v as the field annotated `hint` holds it: X.from_json(v) where X has one, a tuple from a list."""
    if v is None:
        return None
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    for t in typing.get_args(hint) if union else (hint,):
        if isinstance(v, dict) and hasattr(t, "from_json"):
            return t.from_json(v)
        if isinstance(v, list) and (typing.get_origin(t) or t) is tuple:
            return tuple(v)
    return v


def _meta(f) -> dict | None:
    return f.metadata.get(_KEY)


def _default(f):
    return f.default_factory() if f.default_factory is not MISSING else f.default


def _shown(v) -> str:
    if isinstance(v, tuple):  # a range, LO-HI
        return "-".join(map(str, v))
    if isinstance(v, list):
        return ",".join(map(str, v))
    return str(v)


def _help(m: dict, default) -> str:
    text = m["help"]
    if m["gpu"] is not MISSING:
        return f"{text} (default {_shown(m['gpu'])}; CPU {_shown(m['cpu'])})"
    if m["action"] in ("store_true", "store_false") or default in (None, [], {}):
        return text
    return f"{text} (default {_shown(default)})"


def add_options(parser: argparse.ArgumentParser, config_cls, group: str | None = None) -> None:
    """One flag per field of `config_cls` declared with option(cli=True)."""
    target = parser.add_argument_group(group) if group else parser
    for f in fields(config_cls):
        m = _meta(f)
        if not m or not m["cli"]:
            continue
        flag = m["flag"] or "--" + f.name.replace("_", "-")
        default = _default(f)
        kw: dict[str, Any] = {"dest": f.name, "help": _help(m, default)}
        if m["action"]:
            kw["action"] = m["action"]
            kw["default"] = default
        else:
            kw["default"] = None if m["gpu"] is not MISSING else default
            kw["type"] = m["type"] or (type(default) if isinstance(default, (int, float, str)) else None)
            if kw["type"] is None:
                kw.pop("type")
            kw["metavar"] = m["metavar"] or flag.lstrip("-").replace("-", "_").upper()
            if m["nargs"]:
                kw["nargs"] = m["nargs"]
        target.add_argument(flag, **kw)


def from_args(config_cls, args: argparse.Namespace, **extra):
    """The config from parsed flags (fields declared as flags) plus `extra` (fields the script fills in)."""
    given = {
        f.name: getattr(args, f.name)
        for f in fields(config_cls)
        if (m := _meta(f)) and m["cli"] and hasattr(args, f.name)
    }
    return config_cls(**{**given, **extra})


def fill_device_defaults(cfg):
    """Every field left as None that has per-device defaults gets the one for this machine (a GPU, or a CPU box:
    hardware.small_defaults). Values the user gave are never touched."""
    gpu = not hardware.small_defaults()
    for f in fields(cfg):
        m = _meta(f)
        if m and m["gpu"] is not MISSING and getattr(cfg, f.name) is None:
            setattr(cfg, f.name, copy.deepcopy(m["gpu"] if gpu else m["cpu"]))
    return cfg
