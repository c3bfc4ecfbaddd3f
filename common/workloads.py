"""Prompts: fixed, human-readable check prompts and seeded random-token prompts of exact lengths."""
from __future__ import annotations

CHECK_PROMPTS = [
    "The capital of France is",
    "Explain tensor parallelism in one sentence:",
    "def fibonacci(n):",
    "List three reasons GPUs need fast interconnects:",
    "Once upon a time, in a data center far away,",
    "The key idea of continuous batching is",
    "Translate to German: The model is split across four GPUs.",
    "Q: What limits decode speed on a GPU? A:",
]
