"""The capacity search's flags, shared by every script that searches (--slo, --slo-percentile, probe sizes), and
the search settings they give, checked before any engine starts."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from common.capacity.search import PROBE_DEFAULTS, SLO_TERMS, START_FRACTION, SearchSpec, check_settings, check_slo
from common.cli import UsageError
from common.runtime import hardware


def parse_slo(items: list[str] | None) -> dict[str, float]:
    """['ttft:500', 'tpot:50'] -> {'ttft': 500.0, 'tpot': 50.0} (milliseconds), like vllm bench serve's --goodput."""
    slos = {}
    for item in items or []:
        for part in item.replace(",", " ").split():
            key, sep, val = part.partition(":")
            if not sep or key not in SLO_TERMS:
                raise ValueError(f"bad goodput SLO {part!r}: expected ttft:MS, tpot:MS or e2el:MS")
            try:
                slos[key] = float(val)
            except ValueError:
                raise ValueError(f"bad goodput SLO {part!r}: {val!r} is not a number of milliseconds") from None
            if slos[key] <= 0:
                raise ValueError(f"bad goodput SLO {part!r}: must be > 0 ms")
    return slos


def add_cli_args(p, with_switch: str | None = None) -> None:
    """--slo, --slo-percentile, --capacity-resolution, probe sizes; `with_switch` adds the flag that turns it on.
    Every default is SearchSpec's (or PROBE_DEFAULTS', per device), declared once in common.capacity.search."""
    d: dict[str, Any] = {f.name: f.default for f in fields(SearchSpec)}
    pd = {k: f"GPU {v[0]:g}, CPU {v[1]:g}" for k, v in PROBE_DEFAULTS.items()}
    g = p.add_argument_group("serving capacity under an SLO")
    if with_switch:
        g.add_argument(
            with_switch,
            action="store_true",
            help="search the highest Poisson request rate that meets --slo (bracket, then bisect); on a "
            "trace, its highest speed-up",
        )
    g.add_argument("--slo", metavar="TERMS", help="latency targets in ms, e.g. ttft:500,tpot:50 (optional e2el:MS)")
    g.add_argument(
        "--slo-percentile",
        type=float,
        default=d["percentile"],
        help=f"percentile the SLO applies to (default {d['percentile']:g})",
    )
    g.add_argument(
        "--capacity-resolution",
        type=float,
        default=d["resolution"],
        help=f"stop when the bracket is this narrow, relative (default {d['resolution']:g} = "
        f"{d['resolution'] * 100:g}%%)",
    )
    g.add_argument(
        "--capacity-start-rate",
        type=float,
        help=f"first probe's req/s (default: {START_FRACTION:g} x a saturation probe's rate; on a trace: "
        "the stretch's mean rate x the speed)",
    )
    g.add_argument(
        "--max-probes",
        type=int,
        default=d["max_probes"],
        help=f"probe budget of one search (default {d['max_probes']})",
    )
    g.add_argument(
        "--probe-seconds",
        type=float,
        help=f"judged window of a probe, s ({pd['measure_s']}; on a trace judged at its heaviest window, "
        "that window sets it)",
    )
    g.add_argument("--probe-warmup-seconds", type=float, help=f"unjudged arrivals before it, s ({pd['warmup_s']})")
    g.add_argument("--probe-min-requests", type=int, help=f"judged arrivals a probe aims for ({pd['min_requests']})")


def spec_from_args(args, required: bool, slo_optional: bool = False) -> dict | None:
    """The search's settings from the flags as a plain dict (start_rate None = from a saturation probe;
    slo None, where the experiment derives one, only with `slo_optional`), or None when no search was asked
    for. Bad input -> common.cli.UsageError, before any engine starts."""
    if args.slo is None and not slo_optional:
        if required:
            raise UsageError("the capacity search needs --slo, e.g. --slo ttft:500,tpot:50")
        return None
    try:
        slo = parse_slo([args.slo]) if args.slo is not None else None
        if slo is not None:
            check_slo(slo)
        check_settings(args.slo_percentile, args.capacity_resolution)
    except ValueError as e:
        raise UsageError(str(e)) from None
    for name in ("capacity_start_rate", "probe_seconds", "probe_warmup_seconds"):
        v = getattr(args, name)
        if v is not None and not v > 0:
            raise UsageError(f"--{name.replace('_', '-')} must be > 0")
    if args.max_probes < 2 or (args.probe_min_requests is not None and args.probe_min_requests < 1):
        raise UsageError("--max-probes must be >= 2 and --probe-min-requests >= 1")
    small = 1 if hardware.small_defaults() else 0  # PROBE_DEFAULTS: (GPU, CPU box)
    given = {
        "measure_s": args.probe_seconds,
        "warmup_s": args.probe_warmup_seconds,
        "min_requests": args.probe_min_requests,
    }
    return {
        "slo": slo,
        "percentile": args.slo_percentile,
        "resolution": args.capacity_resolution,
        "start_rate": args.capacity_start_rate,
        "max_probes": args.max_probes,
        **{k: (v if v is not None else PROBE_DEFAULTS[k][small]) for k, v in given.items()},
    }
