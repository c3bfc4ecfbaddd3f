"""The bill before it is paid (--plan): what a command will run on this machine, stage by stage (engine starts,
devices, what each measures), an estimate of its minutes and of the dollars of the pod for that long, and the
measured runs the estimate is scaled from. Nothing here starts an engine or imports vLLM.

    stages = [plan.Stage("TP=1: load and check", devices=1, starts=1, work_s=plan.generate_s(ref, 8, 32, 8))]
    print(plan.render(plan.Plan("test_tensor_parallel.py", stages, ref, pod, price)))

An estimate, not a measurement: the run prints its own times (engine start, measuring) per configuration, and the
README's "Start here" sets the two side by side for the quick starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from common.measure.cost import gpu_hour_price
from common.output.results import environment
from common.output.tables import print_table
from common.runtime import hardware
from common.runtime.models import load_model_info
from common.traffic.traces import TIMED, dataset_kind, load_trace


@dataclass(frozen=True)
class Reference:
    """Measured speeds a plan scales from: an engine's start (the first of a run compiles, later ones find the
    compile cache warm), one stream's decode, and everything at once (output tok/s per device)."""

    source: str
    start_cold_s: float
    start_warm_s: float
    stream_tok_s: float
    peak_tok_s: float
    params: float  # the model those speeds are for (parameters): the plan scales speeds by params / this


# every figure from a committed sample run (docs/sample_results; checked in tests/project/test_readme_figures.py)
H100 = Reference(
    "one H100 80GB, vLLM 0.26, Qwen2.5-7B shape: in-process engine start 104.3 s cold, 41.6 s warm "
    "(h100x1/start_times); one client 166.9 out tok/s, one batch 6,946 out tok/s (h100x1/terminal)",
    104.3, 41.6, 166.9, 6946.0, 7.6e9,
)  # fmt: skip
H200 = Reference(
    "one H200, vLLM 0.26, Qwen2.5-7B shape: engine start 126.1 s cold (h200x4 suite, TP1), 37.4 s warm; "
    "batch-1 decode 213.0 tok/s, offline 7,903 out tok/s (h200x4 run A, 1 GPU)",
    126.1, 37.4, 213.0, 7903.0, 7.6e9,
)  # fmt: skip
# the 2-core CPU box: a CPU several times faster or slower than this one moves every figure with it
CPU = Reference(
    "the lab's 2-core CPU box, tiny model: engine start 24.5 s (3 processes import vLLM); batch-1 292.4 tok/s, "
    "offline 4,455 out tok/s (cpu_tiny/suite_2026-12-07, 1 rank)",
    24.5, 24.5, 292.4, 4455.0, 0.0,
)  # fmt: skip


@dataclass(frozen=True)
class Stage:
    """One configuration of the run: what it measures, on how many devices, its engine starts and the seconds of
    measuring its flags ask for (estimated: `basis` says how). `skip`: why it will not run here."""

    what: str
    devices: int
    starts: int
    work_s: float
    basis: str = ""
    skip: str = ""


@dataclass
class Plan:
    command: str
    stages: list[Stage]
    ref: Reference
    pod_devices: int  # what the machine has: the bill is for all of it, busy or not
    price: float | None  # $ per device-hour
    price_src: str | None

    @property
    def running(self) -> list[Stage]:
        return [s for s in self.stages if not s.skip]

    def start_s(self) -> float:
        n = sum(s.starts for s in self.running)
        return self.ref.start_cold_s + (n - 1) * self.ref.start_warm_s if n else 0.0

    def seconds(self) -> float:
        return self.start_s() + sum(s.work_s for s in self.running)

    def dollars(self) -> float | None:
        return None if self.price is None else self.seconds() / 3600 * self.pod_devices * self.price


def reference(model_params: float) -> Reference:
    """The measured reference for this machine: an H200 or else an H100 on a GPU, the CPU box without one; speeds
    scaled to the model (decode and throughput go as 1 / parameters, a fair first guess for a dense model)."""
    if not hardware.has_gpu():
        return CPU
    names = [g["name"] for g in _gpus()]
    ref = H200 if any("H200" in n for n in names) else H100
    if not model_params or abs(math.log(model_params / ref.params)) < 0.1:
        return ref
    k = ref.params / model_params
    note = f"; speeds scaled to this model's {model_params / 1e9:.1f}B parameters (x{k:.2g})"
    return Reference(ref.source + note, ref.start_cold_s, ref.start_warm_s, ref.stream_tok_s * k, ref.peak_tok_s * k, 0)


def generate_s(ref: Reference, requests: int, output_len: int, concurrency: float, devices: int = 1) -> float:
    """Seconds to generate `requests` x `output_len` tokens with `concurrency` streams at once: each stream at most
    the batch-1 speed, all of them at most the offline speed of `devices` devices."""
    rate = min(max(concurrency, 1) * ref.stream_tok_s, ref.peak_tok_s * devices)
    return requests * output_len / rate


# the samples' searches stopped at their resolution after 4-6 probes (docs/sample_results: the CPU quick start's 5, an
# H100's 5, an Azure trace's 6 in 3.1 min at 5 + 20 s a probe); a probe at a low rate stretches to collect its minimum
TYPICAL_PROBES = 6


def _probes(capacity: dict) -> int:
    """The probes a search is counted at (the saturation probe apart): TYPICAL_PROBES, or --max-probes if fewer."""
    return min(int(capacity.get("max_probes", 12)), TYPICAL_PROBES)


def search_s(capacity: dict, replay_s: float = 0.0) -> float:
    """A capacity search: the saturation probe that picks the first rate, then probes until the resolution is reached
    (_probes), each its warm-up and its window (x1.1: stretched low-rate probes). `replay_s`: a validation replay
    after it."""
    probes = _probes(capacity) + 1
    return 1.1 * probes * (float(capacity.get("warmup_s", 5.0)) + float(capacity.get("measure_s", 20.0))) + replay_s


def search_stage(what: str, devices: int, starts: int, capacity: dict, replay_s: float = 0.0) -> Stage:
    """A capacity search as a plan's stage: its seconds (search_s) and how they were counted."""
    each = f"{capacity.get('warmup_s'):g} s warm-up + {capacity.get('measure_s'):g} s window"
    how = (
        f"{_probes(capacity)} probes + the saturation probe, {each} each (at most {capacity.get('max_probes')} probes)"
    )
    return Stage(what, devices, starts, search_s(capacity, replay_s), how)


def _gpus() -> list[dict]:
    """The machine's GPUs, or those of the pod a --plan MACHINE names."""
    planned = hardware.planned_gpu()
    return [{"name": planned}] * hardware.gpu_count() if planned else environment().get("gpus", [])


def pod_price(override: float | None) -> tuple[float | None, str | None]:
    return gpu_hour_price({"gpus": _gpus()}, override)


def show(command: str, stages: list[Stage], ref: Reference, gpu_hour_usd: float | None) -> None:
    """A script's --plan on the screen: its stages on this machine (or the pod --plan POD names), at its price."""
    render(Plan(command, stages, ref, hardware.device_count(), *pod_price(gpu_hour_usd)))


def render(plan: Plan) -> None:
    """The plan on the screen: the total first, a row per stage, then what the estimate is from."""
    unit = hardware.unit()
    where = f" on {plan.pod_devices} x {hardware.planned_gpu()} (planned: not this machine)" * bool(
        hardware.planned_gpu()
    )
    print(f"Plan for {plan.command}{where}: {_total(plan, unit)} Nothing was started.")
    rows = [
        {
            "stage": s.what,
            f"{unit}s": s.devices,
            "engine starts": 0 if s.skip else s.starts,
            "measuring": "-" if s.skip else _minutes(s.work_s),
            "how": f"skipped: {s.skip}" if s.skip else s.basis,
        }
        for s in plan.stages
    ]
    n = sum(s.starts for s in plan.running)
    print_table(
        rows,
        takeaway=f"{n} engine start(s), about {_minutes(plan.start_s())} of the total (the first compiles, later "
        f"ones find the cache warm); each configuration prints its real times as it runs.",
    )
    price = [f"Price per {unit}-hour: {plan.price_src}."] if plan.price_src else []
    for line in price + [f"Estimated from {plan.ref.source}."]:
        print(f"  {line}")


def _total(plan: Plan, unit: str) -> str:
    usd = plan.dollars()
    if usd is None:
        cost = "no price known for this machine (--gpu-hour-usd P gives $)"
    else:
        cost = f"${usd:,.2f} for {plan.pod_devices} {unit}(s) at ${plan.price:.2f} per {unit}-hour"
    return f"about {_minutes(plan.seconds())} of running (no setup, no download), {cost}."


def _minutes(seconds: float) -> str:
    if seconds < 1:
        return "<1 s"
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def level_s(ref: Reference, kind: str, value: float, requests: int, output_len: int, devices: int, span_s=0.0) -> float:
    """One load level: `concurrency` clients, or Poisson arrivals at `rate` req/s (inf: all at once; the requests
    arrive over requests / rate s, and the engine can be slower than that), or a trace stretch of `span_s` seconds
    replayed at `speed`."""
    if kind == "speed":
        return span_s / value
    if kind == "rate":
        arrive = 0.0 if math.isinf(value) else requests / value
        return max(arrive, generate_s(ref, requests, output_len, requests, devices)) + output_len / ref.stream_tok_s
    return generate_s(ref, requests, output_len, value, devices)


def stretch_s(cfg) -> float:
    """Seconds of trace time a run replays: the stretch of cfg.dataset_path its --trace-start/--trace-duration name
    (0 without a timed trace)."""
    if not cfg.dataset_path or dataset_kind(cfg.dataset_path, cfg.dataset_name) not in TIMED:
        return 0.0
    return load_trace(cfg.dataset_path, cfg.dataset_name).stretch(cfg.trace_start_s, cfg.trace_duration_s).span_s


def params_of(model: str) -> float:
    """The model's parameter count from its config (0 where the config cannot be read: a server's served name)."""
    try:
        return float(load_model_info(model).params_estimate())
    except Exception:
        return 0.0


def engine_work_s(ref: Reference, cfg, devices: int) -> float:
    """What one layout's engine measures (common.measure.scaling.measure_engine): the offline batch --offline-runs
    times, a batch-1 decode, the latency test at its concurrency."""
    offline = cfg.offline_runs * generate_s(ref, cfg.num_prompts, cfg.output_len, cfg.num_prompts, devices)
    latency = generate_s(ref, cfg.latency_prompts, cfg.output_len, cfg.concurrency, devices)
    return offline + cfg.batch1_tokens / ref.stream_tok_s + latency
