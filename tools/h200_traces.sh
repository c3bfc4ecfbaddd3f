#!/usr/bin/env bash
# Issue #36's one-H200 trace runs, one after another behind one `vllm serve` (TP1, 8192 context), from a copy of
# the tree under /tmp (a remote command may lay the tree anew). After `source tools/h200_env.sh`:
#   setsid bash tools/h200_traces.sh STEP... </dev/null >/dev/null 2>&1 &
# STEP: conv (the conversation trace from 600 s, --validate over 20 min around its binding window, vllm bench serve
#       on that window) | code (the code trace from 180 s, 15 s windows) | rconv / rcode (the random shape at each
#       trace's mean lengths, 1155/203 and 2046/28 tokens) - all at p99 TTFT 500 / TPOT 50 ms, at most 6 probes
#       (PROBES=N: N) | codeb (the code search resumed at 0.0796x, the middle of the bracket earlier runs left).
# Results, tables and logs under /tmp/tr/res/<step>/; /tmp/tr/res/progress says what ran and how it ended.
R=/tmp/tr/res; mkdir -p $R
M=${M7B/--max-model-len 4096/--max-model-len 8192}
U=http://127.0.0.1:8011
SLO="--find-capacity --slo ttft:500,tpot:50 --max-probes ${PROBES:-6}"
if [ -z "$NOSERVER" ]; then
echo "python3 -m common.runtime.vllm_cli serve $M --host 127.0.0.1 --port 8011" > $R/server_command.txt
python3 -m common.runtime.vllm_cli serve $M --host 127.0.0.1 --port 8011 > $R/server.log 2>&1 &
SPID=$!
until python3 -c "import urllib.request as u; u.urlopen('$U/health', timeout=2)" 2>/dev/null
do kill -0 $SPID 2>/dev/null || break; sleep 2; done
echo "$(date +%T) server pid $SPID up" >> $R/progress
fi
for step in "$@"; do
  case $step in
    conv)  args="--dataset-path traces/AzureLLMInferenceTrace_conv.csv --trace-start 600 $SLO --compare-vllm-bench
                 --validate --validate-span 1200" ;;
    code)  args="--dataset-path traces/AzureLLMInferenceTrace_code.csv --trace-start 180 --trace-window 15 $SLO
                 --compare-vllm-bench" ;;
    rconv) args="--input-len 1155 --output-len 203 $SLO" ;;
    rcode) args="--input-len 2046 --output-len 28 $SLO" ;;
    convv) args="--dataset-path traces/AzureLLMInferenceTrace_conv.csv --trace-start 600 --find-capacity
                 --slo ttft:500,tpot:50 --capacity-start-rate 11.94 --max-probes 2 --compare-vllm-bench
                 --validate --validate-span 600" ;;   # conv's 6-probe search found 2.1x (11.94 req/s): validate it
    codeb) args="--dataset-path traces/AzureLLMInferenceTrace_code.csv --trace-start 180 --trace-window 15 --find-capacity
                 --slo ttft:500,tpot:50 --capacity-start-rate 0.2143 --max-probes 2 --compare-vllm-bench" ;;
                 # the code search from the bracket earlier runs left (0.053x pass, 0.106x fail): its middle, 0.0796x
    *) echo "unknown step $step" >> $R/progress; continue ;;
  esac
  mkdir -p $R/$step
  echo "$(date +%T) start $step" >> $R/progress
  echo "python3 simulate_concurrent_requests.py $M --base-url $U "$args" --output-dir $R/$step" > $R/$step/command.txt
  python3 simulate_concurrent_requests.py $M --base-url $U $args --output-dir $R/$step > $R/$step/stdout.txt 2> $R/$step.log
  rc=$?; echo "$(date +%T) end $step rc=$rc" >> $R/progress
done
[ -n "$SPID" ] && kill $SPID && wait $SPID; echo "$(date +%T) server pid $SPID stopped; batch done" >> $R/progress
