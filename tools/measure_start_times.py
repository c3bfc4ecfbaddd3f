"""How long does a new replica take before it serves? vLLM's engine started cold (empty compile caches) and warm (the
caches a first start left), in-process as the lab's scripts start it (`vllm.LLM`) and as `vllm serve` (until
/health answers and a first completion comes back). The report's reactive autoscaler waits this long for a replica
(`--replica-start-s`).

    python tools/measure_start_times.py --model Qwen/Qwen2.5-7B-Instruct --out start_times.json
    python tools/measure_start_times.py --model /tmp/models/qwen2.5-7b --tokenizer /tmp/models/qwen2.5-7b-tokenizer \
        --load-format dummy --out start_times.json          # a GPU machine without the weights

Each start is its own process, one after another: in-process cold, warm, warm; then `vllm serve` cold, warm, warm
(each side its own cache folder). Cold: VLLM_CACHE_ROOT, TORCHINDUCTOR_CACHE_DIR and TRITON_CACHE_DIR point at a
new empty folder; warm: the same folder again. Figures are seconds from the process's start to its first token.
With --load-format dummy the weights are neither downloaded nor read: a real replica adds both.
Exit code 0 when every start served, 1 otherwise, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = """
import json, sys, time
t0 = float(sys.argv[1])
from common.runtime import engine as eng
from vllm import SamplingParams
t_import = time.time()
llm = eng.build_llm(json.loads(sys.argv[2]))
t_ready = time.time()
llm.generate([{"prompt_token_ids": [1, 2, 3]}], SamplingParams(max_tokens=1), use_tqdm=False)
t1 = time.time()
print("LAB_START " + json.dumps({"import_s": t_import - t0, "ready_s": t_ready - t0, "first_token_s": t1 - t0}))
"""


def _caches(cache: Path) -> dict:
    return {
        "VLLM_CACHE_ROOT": str(cache / "vllm"),
        "TORCHINDUCTOR_CACHE_DIR": str(cache / "inductor"),
        "TRITON_CACHE_DIR": str(cache / "triton"),
    }


def in_process(engine: dict, cache: Path, log: Path, timeout_s: float) -> dict:
    """One in-process start, as the lab's scripts start an engine (common.runtime.engine.build_llm): a child imports
    vLLM, builds vllm.LLM and generates one token."""
    t0 = time.time()
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=path, **_caches(cache))
    with open(log, "ab") as f:
        p = subprocess.run([sys.executable, "-c", CHILD, str(t0), json.dumps(engine)], cwd=str(ROOT), env=env,
                           stdout=subprocess.PIPE, stderr=f, timeout=timeout_s)  # fmt: skip
    line = next((x for x in p.stdout.decode().splitlines() if x.startswith("LAB_START ")), None)
    if p.returncode or line is None:
        return {"error": f"exit {p.returncode}; see {log.name}"}
    return json.loads(line.split(" ", 1)[1])


def served(engine: dict, cache: Path, log: Path, timeout_s: float) -> dict:
    """One `vllm serve` start as the lab starts one (common.runtime.server.VLLMServer): until /health answers, then
    until a first completion comes back; stopped by PID."""
    from common.runtime.server import VLLMServer

    os.environ.update(_caches(cache))  # the server's environment is this process's
    srv = VLLMServer(engine, log_path=log, start_timeout_s=timeout_s)
    t0 = time.perf_counter()
    try:
        with srv:
            ready = time.perf_counter() - t0
            body = json.dumps({"model": engine["model"], "prompt": [1, 2, 3], "max_tokens": 1}).encode()
            req = urllib.request.Request(srv.base_url + "/v1/completions", data=body,
                                         headers={"Content-Type": "application/json"})  # fmt: skip
            with urllib.request.urlopen(req, timeout=120) as r:
                r.read()
            return {"ready_s": ready, "first_token_s": time.perf_counter() - t0, "health_poll_s": 1.0}
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"[:300]}
    finally:
        time.sleep(5)  # the GPU's memory back before the next start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokenizer")
    ap.add_argument("--load-format", help="dummy: random weights, nothing downloaded or read")
    ap.add_argument("--out", required=True, help="the JSON file to write (its folder gets the logs)")
    ap.add_argument("--repeats", type=int, default=2, help="warm starts after each cold one (default 2)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds one start may take")
    a = ap.parse_args(argv)
    out = Path(a.out)
    if not out.parent.is_dir() or a.repeats < 0:
        print(f"error: {out.parent} is not a folder, or --repeats < 0", file=sys.stderr)
        return 2
    engine = {"model": a.model, **({"tokenizer": a.tokenizer} if a.tokenizer else {}),
              **({"load_format": a.load_format} if a.load_format else {})}  # fmt: skip
    doc = {"schema_version": 1, "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]), "engine": engine,
           "environment": _environment(), "starts": []}  # fmt: skip
    for kind, start in (("in-process vllm.LLM", in_process), ("vllm serve", served)):
        with tempfile.TemporaryDirectory(prefix="lab-cache-") as cache:
            for i in range(1 + a.repeats):
                cache_state = "cold" if i == 0 else "warm"
                print(f"{kind}, {cache_state} ...", flush=True)
                r = start(engine, Path(cache), out.with_suffix(f".{kind.split()[0]}.log"), a.timeout)
                doc["starts"].append({"engine": kind, "cache": cache_state, **r})
                print("  " + json.dumps(r), flush=True)
                tmp = out.with_suffix(".tmp")  # on disk after every start
                tmp.write_text(json.dumps(doc, indent=1))
                os.replace(tmp, out)
    return 1 if any("error" in s for s in doc["starts"]) else 0


def _environment() -> dict:
    try:
        gpus = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                              text=True, timeout=30).stdout.split("\n")  # fmt: skip
    except OSError:
        gpus = []
    try:
        from importlib.metadata import version

        vllm = version("vllm")
    except Exception:
        vllm = None
    return {"gpus": [g.strip() for g in gpus if g.strip()], "vllm": vllm, "python": sys.version.split()[0],
            "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
