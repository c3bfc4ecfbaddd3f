"""Measuring shared by the experiments: figures, layouts, the mixed workload, calibration, what the hardware did.

metrics     - every figure: request aggregates (TTFT/TPOT/ITL/E2E), fairness, the unloaded reference,
              speedup / efficiency / per-GPU / $ per 1M tokens, capacity per GPU
levels      - load levels (clients, rates, a trace's speed-ups) on a front end: which levels and their prompts, one
              level measured, its figures, the rows, takeaways and plots that render them; the offline batch beside them
scaling     - layouts (TP/PP/DP), one layout's offline / batch-1 / latency measurement, its summary; the serving
              sweep and the figures of one engine that measured every stage (the suite's)
mixed       - the long/short mix, its reference runs and what the mix did to each class, run on an LLM
calibration - ours against `vllm bench throughput` / `vllm bench serve`
hwmon       - what the GPU and the engine core did during a timed run
allreduce   - the all-reduce micro-benchmark and the TP step model it feeds
noise       - notes under a table when its numbers cannot be read at face value
cost        - $ per GPU-hour by GPU, with sources
"""
