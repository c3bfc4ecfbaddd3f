"""common.runtime.engine: engines built as `vllm serve` builds them, and what they capture."""


def test_async_engine_is_built_as_vllm_serve_builds_it(monkeypatch, tiny_model):
    """AsyncLLM's own default usage context gives other scheduler limits than `vllm serve` (128 vs 1,024
    sequences on an H200): the in-process engine must ask for the server's."""
    from vllm.usage.usage_lib import UsageContext
    from vllm.v1.engine.async_llm import AsyncLLM

    from common.runtime import engine

    seen = {}
    monkeypatch.setattr(
        AsyncLLM, "from_engine_args", classmethod(lambda cls, args, **kw: seen.update(args=args, **kw) or "engine")
    )
    model, tok = tiny_model
    assert engine.build_async_engine({"model": str(model), "tokenizer": str(tok), "max_num_seqs": 7}) == "engine"
    assert seen["usage_context"] == UsageContext.OPENAI_API_SERVER
    assert seen["args"].max_num_seqs == 7  # the user's flags still win


def test_cudagraph_max_tokens_reads_what_the_engine_captures():
    """The largest CUDA-graph step an engine replays, from vLLM's own compilation config (0 when it captures none)."""
    from vllm.config.compilation import CompilationConfig, CUDAGraphMode

    from common.runtime.engine import cudagraph_max_tokens

    graphs = CompilationConfig(
        cudagraph_mode=CUDAGraphMode.FULL_AND_PIECEWISE, cudagraph_capture_sizes=[1, 8, 256, 512]
    )
    assert cudagraph_max_tokens(graphs) == 512
    assert (
        cudagraph_max_tokens(CompilationConfig(cudagraph_mode=CUDAGraphMode.NONE, cudagraph_capture_sizes=[1, 8])) == 0
    )
    assert cudagraph_max_tokens(CompilationConfig(cudagraph_capture_sizes=[])) == 0


def test_ranks_report_through_a_named_worker_method_not_a_pickled_function(monkeypatch):
    """Each worker gains RankReport through vLLM's worker_extension_cls and is asked by the method's name, so no
    engine the lab starts sets VLLM_ALLOW_INSECURE_SERIALIZATION (pickled callables across processes)."""
    import importlib

    import torch

    from common.runtime import engine, hardware
    from common.runtime.worker_ext import RankReport

    monkeypatch.delenv("VLLM_ALLOW_INSECURE_SERIALIZATION", raising=False)
    assert "VLLM_ALLOW_INSECURE_SERIALIZATION" not in hardware.engine_env(2)
    module, name = engine.WORKER_EXTENSION.rsplit(".", 1)
    assert getattr(importlib.import_module(module), name) is RankReport  # what vLLM resolves in each worker

    class Worker(RankReport):  # what vLLM builds: its worker class with the extension among its bases
        rank, local_rank, device = 1, 1, "cpu"
        model_runner = type(
            "Runner",
            (),
            {"model": torch.nn.Linear(4, 8, dtype=torch.float32), "kv_caches": [torch.zeros(16, dtype=torch.float16)]},
        )()

    report = Worker().lab_rank_report()
    assert (report["rank"], report["weights_bytes"], report["kv_cache_bytes"]) == (1, (32 + 8) * 4, 32)

    class LLM:
        def collective_rpc(self, method):
            assert method == "lab_rank_report"  # a name, never a function
            return [Worker().lab_rank_report()]

    assert engine.rank_reports(LLM())[0]["weights_bytes"] == 160


def test_an_explicit_kv_cache_size_is_not_overridden_by_the_labs_cpu_default(monkeypatch):
    """vLLM's CPU platform lets VLLM_CPU_KVCACHE_SPACE override --kv-cache-memory-bytes: the lab's 1 GiB default is
    set only where the engine is given no size of its own."""
    from common.runtime import hardware
    from common.runtime.engine import engine_env_for

    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    given = engine_env_for({"model": "m", "kv_cache_memory_bytes": 64 << 20})
    assert "VLLM_CPU_KVCACHE_SPACE" not in given
    assert ("VLLM_CPU_KVCACHE_SPACE" in engine_env_for({"model": "m"})) == (not hardware.has_gpu())
