"""Shared mechanisms of the multi-GPU inference lab, one room per concern (no experiment logic lives here).

Requests and measurements
  workloads        - every request the lab sends and every arrival time: random prompts, class mixes, arrivals,
                     a trace's requests at its times / a speed (PoissonWorkload, TraceWorkload)
  traces           - trace files read and checked (Azure CSV, timed_trace JSONL), cut to a stretch, written back
  loadgen          - sending them: request records, AsyncLLM and OpenAI-server backends, closed and open loops
  stepdrive        - sending them to a vllm.LLM step by step (no server, no second engine)
  metrics          - every figure: request aggregates (TTFT/TPOT/ITL/E2E), fairness, the unloaded reference,
                     speedup / efficiency / per-GPU / $ per 1M tokens, capacity per GPU (typed dicts)
  prom             - the server's own scheduler state from /metrics
Capacity under an SLO
  capacity         - the pure core: SLO spec, probe plan, the verdict (judge, SureFail) and the search
  capacity_drivers - running a search on a front end (sync, async, one layout in its own process), where it
                     starts (the saturation probe)
  capacity_stats   - what a verdict rests on: the backlog and keep-up, the saturation rate, thin percentiles
  capacity_display - probe lines, table rows, the pick per GPU-dollar, capacity and Pareto plots
  capacity_flags   - the --slo / probe flags and the settings they give, checked before an engine starts
Experiments' shared measuring
  scaling          - layouts (TP/PP/DP), one layout's offline / batch-1 / latency measurement, its summary
  mixed            - the long/short mix, its reference runs and what the mix did to each class
Engines and processes
  engine           - building LLM / AsyncLLM and asking each rank about itself
  isolation        - one configuration in its own process, with a time limit; failures classified
  server           - starting and stopping `vllm serve`; what a running server serves
  hardware         - GPU/CPU detection and the environment every engine process needs
  models           - model presets, config.json inspection, TP divisibility rules
  tiny_model       - the tiny random-weight Qwen2 used on CPU and in tests
  gpu_memory       - per-GPU (NVML) or per-process (RSS) memory tracking
  hwmon            - what the GPU and the engine core did during a timed run
  allreduce        - the all-reduce micro-benchmark and the TP step model it feeds
  barrier          - DP replicas starting their timed runs together
Reading and writing
  config           - each script's settings declared once (default, flag, help), per-device defaults
  cli              - argument parsing shared by the scripts (vLLM engine flags passed through lazily)
  calibration      - ours against `vllm bench throughput` / `vllm bench serve`
  vllm_cli         - the `vllm` command line run as this Python's module (bench, serve)
  cost             - $ per GPU-hour by GPU, with sources
  noise            - notes under a table when its numbers cannot be read at face value
  results          - environment metadata and JSON/CSV results, written atomically
  tables, plotting - printed tables and matplotlib figures
"""
