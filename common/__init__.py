"""Shared mechanisms of the multi-GPU inference lab, in named rooms (no experiment logic lives here). Each room's
__init__ lists its modules with one line each.

  traffic/  - every request and arrival time (random, class mix, ShareGPT, traces), and sending them
              (AsyncLLM or a server, step-driven vllm.LLM); a trace's load profile
  capacity/ - capacity under an SLO: the search's rule, its statistics, its drivers, display and flags
  measure/  - figures (metrics), layouts (scaling), the mixed workload, calibration against vllm bench, hardware
              monitors, the all-reduce model, noise notes, GPU prices
  runtime/  - engines (LLM / AsyncLLM), one configuration per process (isolation), `vllm serve`, the machine
              (hardware), models, the tiny CPU model
  output/   - result files (JSON + CSV, written as each step ends), tables, plots
  report/   - report.md from a folder of result files (python -m common.report DIR)
  config    - each script's settings declared once (default, flag, help), per-device defaults
  cli       - argument parsing shared by the scripts (vLLM engine flags passed through lazily)
"""
