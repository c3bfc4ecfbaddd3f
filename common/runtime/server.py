"""Start and stop a `vllm serve` process on 127.0.0.1 (stopped by PID, never by name)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from common.runtime.engine import engine_env_for
from common.runtime.isolation import ROOT, OwnRayDir, kill_group, kill_tree


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kwargs_to_cli(kwargs: dict) -> list[str]:
    """EngineArgs kwargs -> `vllm serve` flags (the model is positional)."""
    args = [str(kwargs["model"])]
    for k, v in kwargs.items():
        if k == "model" or v is None:
            continue
        flag = "--" + k.replace("_", "-")
        if isinstance(v, bool):
            args.append(flag if v else "--no-" + k.replace("_", "-"))
        elif isinstance(v, (list, tuple)):
            args += [flag, *map(str, v)]
        elif isinstance(v, dict):
            import json

            args += [flag, json.dumps(v)]
        else:
            args += [flag, str(v)]
    return args


API_KEY_ENV = "OPENAI_API_KEY"  # the key a server may want, where `vllm bench serve` reads it too


def auth_headers() -> dict:
    """{"Authorization": "Bearer KEY"} when OPENAI_API_KEY is set (by --api-key or the user), else {}. The key lives
    only in this process's environment and its children's: never in a config, a result file or a printed line."""
    key = os.environ.get(API_KEY_ENV)
    return {"Authorization": f"Bearer {key}"} if key else {}


class Unauthorized(PermissionError):
    """The server refused the request for want of (the right) API key."""


def health(base_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/health", timeout=timeout) as r:
            return r.status == 200
    except Exception:
        return False


def served_model(base_url: str, timeout: float = 10.0) -> dict:
    """The first model a running OpenAI-compatible server lists at /v1/models: {"id", "root", ...}; Unauthorized
    on HTTP 401 (the server wants an API key, or another one)."""
    import json
    import urllib.error

    req = urllib.request.Request(base_url.rstrip("/") + "/v1/models", headers=auth_headers())
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.load(r)["data"][0]
    except urllib.error.HTTPError as e:
        if e.code == 401:
            raise Unauthorized(
                f"the server at {base_url} answered 401 Unauthorized: it wants an API key ("
                + ("the one given was refused" if auth_headers() else f"pass --api-key KEY or set {API_KEY_ENV}")
                + ")"
            ) from None
        raise


class VLLMServer:
    """`with VLLMServer(engine_kwargs) as srv: ... srv.base_url` - started, healthy, then stopped by PID."""

    def __init__(
        self,
        engine_kwargs: dict,
        port: int | None = None,
        log_path: str | Path | None = None,
        start_timeout_s: float = 900.0,
    ):
        self.kwargs = engine_kwargs
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path) if log_path else None
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen | None = None
        self.startup_s: float | None = None
        self.ray_dir: OwnRayDir | None = None

    def start(self) -> "VLLMServer":
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.update(engine_env_for(self.kwargs))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        self.ray_dir = OwnRayDir()  # --distributed-executor-backend ray: its cluster is stopped with the server
        env.update(self.ray_dir.env())
        cmd = [
            sys.executable,
            "-m",
            "common.runtime.vllm_cli",
            "serve",
            *kwargs_to_cli(self.kwargs),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd, cwd=str(ROOT), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        while time.perf_counter() - t0 < self.start_timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"vllm serve exited with code {self.proc.returncode} during start-up"
                    + (f"; log: {self.log_path}" if self.log_path else "")
                )
            if health(self.base_url):
                self.startup_s = time.perf_counter() - t0
                return self
            time.sleep(0.25)  # startup_s is a figure the lab reports: read it to a quarter second
        self.stop()
        raise TimeoutError(f"vllm serve not healthy after {self.start_timeout_s:.0f} s")

    def stop(self) -> None:
        if self.proc is not None:
            kill_tree(self.proc.pid, timeout=15)  # SIGTERM first: vLLM shuts down cleanly in 2-4 s
            kill_group(self.proc.pid)
            self.proc = None
        if self.ray_dir is not None:
            self.ray_dir.close()
            self.ray_dir = None

    def __enter__(self) -> "VLLMServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
