"""What the report needs beyond the result files: prices, the fleet's target and growth, the workload to report on.
(Latency is judged against each run's own SLO, from its file.)"""

from __future__ import annotations

from dataclasses import dataclass, fields

DEFAULT_SLO = {"ttft": 500.0, "tpot": 50.0}


@dataclass
class ReportSettings:
    gpu_hour_usd: float | None = None  # price per GPU-hour (default: the known price of the GPU measured)
    target_rate: float | None = None  # req/s the fleet must serve
    growth: float | None = None  # with capacities on a trace: its traffic x this
    min_replicas: int = 1  # the day's fleet: the fewest replicas an autoscaler keeps
    workload: str | None = None  # with several workloads in the folder, the one to report on

    @classmethod
    def of(cls, cfg) -> "ReportSettings":
        """The settings a script's config carries (the suite's: the same names, but --workload is its
        report_workload: its `workload` says what a run's requests are)."""
        names = {f.name: f.name for f in fields(cls)} | {"workload": "report_workload"}
        return cls(**{f: getattr(cfg, a) for f, a in names.items() if hasattr(cfg, a)})
