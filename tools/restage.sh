#!/usr/bin/env bash
# Re-split the carried vLLM pack (.gpu-stage/cNN) into chunks that each fit one remote call beside this
# working tree, when a call may carry 64 MiB in all (tree + chunk). Run from the project root after staging:
#   bash tools/restage.sh            # prints the new chunk count
#   bash tools/restage.sh --ray      # also fetch Ray 2.60.0's Python 3.12 wheel and split it into .gpu-stage/rNN
# On the GPU machine: cat the cNN chunks, in order, into /tmp/stage/bundle.tar, and the rNN ones into
# /tmp/raystage/ray-2.60.0-cp312-cp312-manylinux2014_x86_64.whl (tools/h200_env.sh installs both).
set -euo pipefail
limit=$((64 * 1024 * 1024))
tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
room=$(( (limit - tree - 2 * 1024 * 1024) / 1048576 ))   # MiB, 2 MiB slack for untracked files
[ "$room" -ge 8 ] || { echo "the tree ($tree bytes) leaves no room for a chunk" >&2; exit 1; }
cat .gpu-stage/c?? > .gpu-stage/bundle.tar
rm .gpu-stage/c??
split -b "${room}M" -d -a 2 .gpu-stage/bundle.tar .gpu-stage/c
rm .gpu-stage/bundle.tar
if [ "${1:-}" = --ray ]; then  # the offline GPU machines have no Ray; its other dependencies are in the vLLM bundle
  whl=ray-2.60.0-cp312-cp312-manylinux2014_x86_64.whl
  [ -f ".gpu-stage/$whl" ] || pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux2014_x86_64 ray==2.60.0 -d .gpu-stage
  rm -f .gpu-stage/r??
  split -b "${room}M" -d -a 2 ".gpu-stage/$whl" .gpu-stage/r
  echo "ray: $(ls .gpu-stage/r?? | wc -l) chunks"
fi
echo "tree $((tree / 1048576)) MiB: $(ls .gpu-stage/c?? | wc -l) chunks of ${room} MiB"
