"""Capacity under an SLO: the highest request rate (or a trace's speed-up) at which the latency target holds.

search  - the pure core: SLO spec and its defaults, probe plan, the verdict (judge, SureFail) and the search
probe   - one probe's verdict, typed (Probe): to_json writes metrics.capacity.probes[i], from_json reads any back
result  - one search's result, typed (CapacityResult): its probes, settings, the trace's terms, validation, the
          cross-check and the fleet as fields; to_json / from_json at the file; its verdict rendered from them
stats   - what a verdict rests on: the backlog and keep-up, the saturation rate, thin percentiles
drivers - running a search on a front end (one generator, sync and async drivers), where it starts (the saturation
          probe), the validation replay, one layout's search in its own process
session - one search as a script runs it on a front end: probes checkpointed, validation, derived figures, its
          failure, the vllm bench serve cross-check
display - probe lines, table rows, a search's takeaways and tables, the pick per GPU-dollar, capacity and Pareto plots
flags   - the --slo / probe flags and the settings they give, checked before an engine starts
"""
