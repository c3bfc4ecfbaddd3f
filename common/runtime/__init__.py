"""Engines and processes: building them, running each configuration in its own process, servers, the machine.

engine     - building LLM / AsyncLLM and asking each rank about itself
worker_ext - the lab's methods inside vLLM's workers (worker_extension_cls), called by name
isolation  - one configuration in its own process, with a time limit; failures classified and typed (Failure)
server     - starting and stopping `vllm serve`; what a running server serves; the API key
gpu_memory - per-GPU (NVML) or per-process (RSS) memory tracking; waiting for a GPU to be released
hardware   - GPU/CPU detection and the environment every engine process needs
models     - model presets, config.json inspection, TP divisibility rules
tiny_model - the tiny random-weight Qwen2 used on CPU and in tests
vllm_cli   - the `vllm` command line run as this Python's module (bench, serve)
barrier    - DP replicas starting their timed runs together
"""
