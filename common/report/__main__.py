"""python -m common.report DIR: report.md and its plots from the result JSONs in DIR (no engine, no GPU)."""

import argparse
import sys
from pathlib import Path

from common.cli import UsageError
from common.config import add_options
from common.report import ReportSettings, write_report
from common.report.settings import DayFleetOptions, check_day_fleet_options


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m common.report", description=__doc__)
    p.add_argument(
        "dir", metavar="DIR", help="folder of result JSON files (results/ by default)", nargs="?", default="results"
    )
    p.add_argument("--gpu-hour-usd", type=float, help="price per GPU-hour for $ figures")
    p.add_argument("--target-rate", type=float, help="req/s the fleet must serve")
    p.add_argument("--growth", type=float, help="with capacities on a trace: plan for its traffic x this")
    p.add_argument(
        "--min-replicas", type=int, default=1, help="the day's fleet: the fewest replicas an autoscaler keeps"
    )
    p.add_argument("--workload", metavar="TEXT", help="with several workloads in the folder, the one to report on")
    add_options(p, DayFleetOptions, "the day's fleet")
    a = p.parse_args(argv)
    if any(v is not None and v <= 0 for v in (a.gpu_hour_usd, a.target_rate, a.growth)) or a.min_replicas < 1:
        print("error: --gpu-hour-usd, --target-rate and --growth must be > 0, --min-replicas >= 1", file=sys.stderr)
        return 2
    if not Path(a.dir).is_dir():
        print(f"error: {a.dir} is not a folder of result files", file=sys.stderr)
        return 2
    try:
        settings = ReportSettings(
            **{k: getattr(a, k) for k in DayFleetOptions.__dataclass_fields__},
            gpu_hour_usd=a.gpu_hour_usd,
            target_rate=a.target_rate,
            growth=a.growth,
            min_replicas=a.min_replicas,
            workload=a.workload,
        )
        check_day_fleet_options(settings)
        out = write_report(Path(a.dir), settings)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return int(out.get("exit_code", 0))


if __name__ == "__main__":
    sys.exit(main())
