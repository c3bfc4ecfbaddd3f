"""Shared mechanisms of the multi-GPU inference lab (no experiment logic lives here).

platform   – GPU/CPU detection and the environment every engine process needs
models     – model presets, config.json inspection, TP divisibility rules
tiny_model – builds the tiny random-weight Qwen2 used on CPU and in tests
cli        – argument parsing shared by the scripts (vLLM engine flags passed through lazily)
engine     – building LLM / AsyncLLM and asking each rank about itself
isolation  – running one configuration in its own process with a time limit
gpu_memory – per-GPU (NVML) or per-process (RSS) memory tracking
metrics    – stage timers, percentiles, request latency metrics, fairness
workloads  – prompts
results    – environment metadata and JSON/CSV results, written atomically
plotting   – matplotlib helpers
"""
