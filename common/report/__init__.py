"""The report: every result JSON of a folder (all five scripts') gathered by workload and rendered into report.md
with plots and a recommendation. Reads only JSON files, so it runs anywhere:
    python -m common.report DIR [--growth G --gpu-hour-usd P --target-rate R --min-replicas M --workload TEXT
                                 --day-profile FILE --plan-from low|point --replica-start-s S ...]
    python run_distributed_benchmark.py --from-results DIR     (the same)

  settings - what the report needs beyond the files (prices, the fleet's target and growth, the latency SLO)
  gather   - the files grouped by workload, newest run per configuration, the capacities judged on a trace
  sections - the markdown sections (environment, course table, latency, sweep, mixed, layouts, capacity, ...)
  fleet    - replicas for a target rate, and the day's fleet on a trace three ways (static, autoscaled with
             foresight, autoscaled reactively), each at both ends of the capacity's range
  advice   - the recommendation and the paragraph to paste
  compare  - two folders' figures side by side (--compare): ratios, ties within the noise, what differs
  plots    - the report's figures
  write    - report.md, one section after another
"""

from common.report.settings import DEFAULT_SLO, ReportSettings
from common.report.write import write_report

__all__ = ["DEFAULT_SLO", "ReportSettings", "write_report"]
