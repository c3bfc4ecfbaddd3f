"""What the report needs beyond the result files: prices, the fleet's target and growth, the workload to report on,
and how the day's fleet is planned (the user's daily curve, the autoscaler's settings). (Latency is judged against
each run's own SLO, from its file.)"""

from __future__ import annotations

from dataclasses import dataclass, fields

from common.cli import UsageError
from common.config import option
from common.traffic.day_fleet import DayProfile, Reactive

DEFAULT_SLO = {"ttft": 500.0, "tpot": 50.0}


@dataclass
class DayFleetOptions:
    """The day's fleet's flags, declared once for the suite and `python -m common.report`."""

    day_profile: str | None = option(
        help="the day's fleet over your own day: a CSV of hour,rate or time,rate (relative request rates, e.g. "
        "exported from your dashboards); the trace stretch stands for the busiest hour. Default: the stretch "
        "repeated all day",
        metavar="FILE",
        type=str,
    )
    plan_from: str = option(
        "low",
        "size the plan from the low end of each capacity's range (the search's bracket and the spread of its runs) "
        "or from the point measured",
        metavar="{low,point}",
    )
    scale_up_at: float = option(0.8, "the reactive autoscaler asks for replicas when demand passes this share of "
                                     "what its fleet holds")  # fmt: skip
    scale_down_after_s: float = option(
        600.0, "the reactive autoscaler stops spare replicas after this many seconds of slack",
        flag="--scale-down-after", metavar="SECONDS",
    )  # fmt: skip
    replica_start_s: float | None = option(
        help="seconds from asking for a replica to its serving (default: the engine start the run measured; 60 s "
        "where it has none, e.g. measured behind a server)",
        metavar="SECONDS",
        type=float,
    )
    replica_extra_start_s: float = option(
        0.0, "seconds a new replica needs beyond the engine start measured (the weights' download: not measured)",
        metavar="SECONDS",
    )  # fmt: skip


@dataclass
class ReportSettings(DayFleetOptions):
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

    def day(self) -> DayProfile:
        """The day the fleet is planned over: --day-profile's, or the trace stretch repeated."""
        return DayProfile.read(self.day_profile) if self.day_profile else DayProfile.flat()

    def reactive(self, engine_start_s: float) -> Reactive:
        return Reactive(
            self.scale_up_at, engine_start_s + self.replica_extra_start_s, self.scale_down_after_s, self.min_replicas
        )


def check_day_fleet_options(o: DayFleetOptions) -> None:
    """Bad day-fleet flags or a bad --day-profile file: one line (UsageError), before anything runs."""
    if o.plan_from not in ("low", "point"):
        raise UsageError(f"--plan-from is low or point, not {o.plan_from!r}")
    if not 0 < o.scale_up_at <= 1:
        raise UsageError("--scale-up-at is a share of the fleet's capacity: 0 < x <= 1")
    if o.scale_down_after_s < 0 or o.replica_extra_start_s < 0 or (o.replica_start_s or 0) < 0:
        raise UsageError("--scale-down-after, --replica-start-s and --replica-extra-start-s must be >= 0 seconds")
    if o.day_profile:
        try:
            DayProfile.read(o.day_profile)
        except ValueError as e:
            raise UsageError(str(e)) from None
