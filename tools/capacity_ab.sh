#!/usr/bin/env bash
# On an offline GPU machine, after `source tools/h200_env.sh`: one `vllm serve` (TP1) and, on it, the capacity
# search twice at the same SLO - first from the old start (--capacity-start-rate, default 3.2 req/s: two requests
# per unloaded E2E, what the search used before the saturation probe), then from the saturation probe - so the two
# starts are compared on one machine and server. Results under ${AB:-/tmp/ab}/{old_start,saturation_start}/.
#   bash tools/capacity_ab.sh [SLO] [OLD_START_RATE]
set -u
SLO=${1:-ttft:500,tpot:50}; OLD=${2:-3.2}; AB=${AB:-/tmp/ab}; PORT=8012
mkdir -p $AB
python3 -m common.runtime.vllm_cli serve $M7B --host 127.0.0.1 --port $PORT > $AB/server.log 2>&1 &
SPID=$!
until python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT/health', timeout=2)" 2>/dev/null
do kill -0 $SPID 2>/dev/null || break; sleep 2; done
echo "$(date +%T) server $SPID up" >> $AB/progress
for run in old_start saturation_start; do
  extra=""; [ $run = old_start ] && extra="--capacity-start-rate $OLD"
  cmd="simulate_concurrent_requests.py $M7B --base-url http://127.0.0.1:$PORT --find-capacity --slo $SLO $extra"
  mkdir -p $AB/$run
  echo "# Printed by: python3 ${cmd/$M7B/\$M7B} --output-dir DIR" > $AB/$run/capacity_table.txt
  python3 $cmd --output-dir $AB/$run >> $AB/$run/capacity_table.txt 2> $AB/$run.log
  echo "$(date +%T) $run rc=$?" >> $AB/progress
done
kill $SPID; wait $SPID; echo "$(date +%T) server stopped" >> $AB/progress
