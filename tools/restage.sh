#!/usr/bin/env bash
# Re-split the carried vLLM pack (.gpu-stage/cNN) into chunks that each fit one remote call beside this
# working tree, when a call may carry 64 MiB in all (tree + chunk). Run from the project root after staging:
#   bash tools/restage.sh            # prints the new chunk count
set -euo pipefail
limit=$((64 * 1024 * 1024))
tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
room=$(( (limit - tree - 2 * 1024 * 1024) / 1048576 ))   # MiB, 2 MiB slack for untracked files
[ "$room" -ge 8 ] || { echo "the tree ($tree bytes) leaves no room for a chunk" >&2; exit 1; }
cat .gpu-stage/c?? > .gpu-stage/bundle.tar
rm .gpu-stage/c??
split -b "${room}M" -d -a 2 .gpu-stage/bundle.tar .gpu-stage/c
rm .gpu-stage/bundle.tar
echo "tree $((tree / 1048576)) MiB: $(ls .gpu-stage/c?? | wc -l) chunks of ${room} MiB"
