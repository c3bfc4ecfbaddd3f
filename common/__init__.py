"""Shared mechanisms of the multi-GPU inference lab, in named rooms (no experiment logic lives here). Each room's
__init__ lists its modules with one line each. The rooms are layers, listed here from the top down: a room imports
only rooms below it (LAYERS, checked by tests/unit/test_layers.py).

  report/   - report.md from a folder of result files (python -m common.report DIR)
  capacity/ - capacity under an SLO: the search's rule, its statistics, its drivers, display, plots and flags
  cli       - argument parsing shared by the scripts (vLLM engine flags passed through lazily)
  config    - each script's settings declared once (default, flag, help), per-device defaults
  measure/  - figures (metrics), layouts (scaling), the mixed workload, calibration against vllm bench, hardware
              monitors, the all-reduce model, noise notes, GPU prices
  traffic/  - every request and arrival time (random, class mix, ShareGPT, traces), and sending them
              (AsyncLLM or a server, step-driven vllm.LLM); a trace's load profile
  output/   - result files (JSON + CSV, written as each step ends), tables, plot primitives
  runtime/  - engines (LLM / AsyncLLM), one configuration per process (isolation), `vllm serve`, the machine
              (hardware, GPU memory), models, the tiny CPU model
"""

# bottom first: runtime imports no other room, report may import any
LAYERS = ("runtime", "output", "traffic", "measure", "config", "cli", "capacity", "report")
