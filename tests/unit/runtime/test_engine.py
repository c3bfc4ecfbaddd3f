"""common.runtime.engine: engines built as `vllm serve` builds them, and what they capture."""


def test_async_engine_is_built_as_vllm_serve_builds_it(monkeypatch, tiny_model):
    """AsyncLLM's own default usage context gives other scheduler limits than `vllm serve` (128 vs 1,024
    sequences on an H200): the in-process engine must ask for the server's."""
    from vllm.usage.usage_lib import UsageContext
    from vllm.v1.engine.async_llm import AsyncLLM

    from common.runtime import engine
    seen = {}
    monkeypatch.setattr(AsyncLLM, "from_engine_args",
                        classmethod(lambda cls, args, **kw: seen.update(args=args, **kw) or "engine"))
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
