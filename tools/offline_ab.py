"""Diagnostic: is our offline measurement slower than `vllm bench throughput`'s, or is it run-to-run noise?

One engine, the same 1000 x 512 in / 128 out workload (temperature 1, as the bench) timed four ways, interleaved,
each twice from an empty prefix cache:
  ours      common.traffic.stepdrive.generate_offline on our random-token prompts (what benchmark_scaling.py times)
  bench     vllm's RandomDataset text prompts, use_tqdm=True: exactly the bench's timed call
  benchtok  the bench's prompts as token ids (text vs token input)
  frozen    ours with the garbage collector's heap frozen (Python GC cost)
On an H200 machine, after `source tools/h200_env.sh` (2026-11-29 output: docs/sample_results/h200x1/offline_ab.txt):
    python3 tools/offline_ab.py
"""

import gc
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo root


def main():
    from common.runtime import engine as eng
    from common.traffic.stepdrive import generate_offline
    from common.traffic.workloads import random_prompts

    M = "/tmp/models/qwen2.5-7b"
    llm = eng.build_llm(dict(model=M, tokenizer=M + "-tokenizer", load_format="dummy", max_model_len=4096))
    from vllm import SamplingParams

    try:
        from vllm.benchmarks.datasets import RandomDataset
    except ImportError:
        from vllm.benchmarks.datasets.datasets import RandomDataset
    N, IN, OUT = 1000, 512, 128
    tok = llm.get_tokenizer()
    vocab = llm.llm_engine.model_config.get_vocab_size()

    def bench_reqs(seed):
        return RandomDataset(random_seed=seed).sample(tokenizer=tok, num_requests=N, input_len=IN, output_len=OUT)

    def sp():
        return [SamplingParams(n=1, temperature=1.0, top_p=1.0, ignore_eos=True, max_tokens=OUT) for _ in range(N)]

    def timed(prompts, params, tq):
        t = time.perf_counter()
        llm.generate(prompts, params, use_tqdm=tq)
        return time.perf_counter() - t

    def ours(seed):
        return generate_offline(llm, random_prompts(N, IN, OUT, vocab, seed=seed))["wall_s"]

    def bench(seed):
        return timed([{"prompt": r.prompt} for r in bench_reqs(seed)], sp(), True)

    def benchtok(seed):
        return timed(
            [{"prompt_token_ids": tok.encode(r.prompt, add_special_tokens=False)} for r in bench_reqs(seed)],
            sp(),
            False,
        )

    def frozen(seed):
        specs = random_prompts(N, IN, OUT, vocab, seed=seed)
        gc.collect()
        gc.freeze()
        try:
            return generate_offline(llm, specs)["wall_s"]
        finally:
            gc.unfreeze()

    V = {"ours": ours, "bench": bench, "benchtok": benchtok, "frozen": frozen}
    print("warm", generate_offline(llm, random_prompts(256, IN, 16, vocab, seed=99))["wall_s"], flush=True)
    res = {k: [] for k in V}
    order = list(V)
    for rep in range(2):
        for k in order if rep == 0 else order[::-1]:
            llm.reset_prefix_cache()
            w = V[k](rep * 10 + 1)
            res[k].append(w)
            print(f"{k} rep{rep} {w:.3f} s  {N * OUT / w:.0f} out tok/s", flush=True)
    for k, v in res.items():
        print(f"== {k} mean {statistics.mean(v):.3f} s  {N * OUT / statistics.mean(v):.0f} out tok/s", flush=True)
    eng.shutdown(llm)  # stop the engine core: without it the GPU stays full after this script exits


if __name__ == "__main__":
    main()
