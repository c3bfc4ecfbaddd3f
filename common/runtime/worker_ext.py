"""Runs inside each vLLM worker process: the lab's methods, added to vLLM's worker class through the engine's
`worker_extension_cls` (engine.WORKER_EXTENSION) and called by name with `collective_rpc`. A name crosses the
process boundary, not a pickled function, so no engine the lab starts needs VLLM_ALLOW_INSECURE_SERIALIZATION.
"""

from __future__ import annotations

import os


def _nbytes(obj) -> int:
    """Bytes held by a tensor or (nested) list/tuple/dict of tensors."""
    if hasattr(obj, "element_size") and hasattr(obj, "numel"):
        try:
            if obj.is_meta:
                return 0
            return obj.untyped_storage().nbytes()
        except Exception:
            return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        seen, total = set(), 0
        for v in obj:  # several layers may view one storage: count each storage once
            key = None
            try:
                key = v.untyped_storage().data_ptr()
            except Exception:
                pass
            if key is not None and key in seen:
                continue
            if key is not None:
                seen.add(key)
            total += _nbytes(v)
        return total
    return 0


class RankReport:
    """Mixed into each vLLM worker; `self` is the worker (its rank, device and model runner)."""

    def lab_rank_report(self) -> dict:
        """Who am I and what do I hold: pid, rank, device, weight, buffer and KV-cache bytes."""
        import torch

        runner = getattr(self, "model_runner", None)
        model = getattr(runner, "model", None)
        weights = buffers = 0
        if model is not None:
            weights = sum(t.numel() * t.element_size() for t in model.parameters())
            buffers = sum(t.numel() * t.element_size() for t in model.buffers())  # e.g. RoPE tables, replicated
        report = {
            "pid": os.getpid(),
            "rank": getattr(self, "rank", None),
            "local_rank": getattr(self, "local_rank", None),
            "device": str(getattr(self, "device", "")),
            "weights_bytes": int(weights),
            "buffers_bytes": int(buffers),
            "kv_cache_bytes": int(_nbytes(getattr(runner, "kv_caches", None))),
        }
        if torch.cuda.is_available() and str(report["device"]).startswith("cuda"):
            report["torch_allocated_bytes"] = int(torch.cuda.memory_allocated())
            report["torch_reserved_bytes"] = int(torch.cuda.memory_reserved())
            report["cuda_device_name"] = torch.cuda.get_device_name()
        return report
