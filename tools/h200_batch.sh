# On an H200 device machine, after `source tools/h200_env.sh`: run experiments one after another in the
# background, so a batch can outlast one device call (each call is capped at 10 minutes).
#   setsid bash tools/h200_batch.sh GPUS STEP... </dev/null >/dev/null 2>&1 &
#   STEP: scaling | tp (tp=SIZES, default 1,2,4,8) | suite | mixed | mixed2 | conc | rate | serve | resume
#   (suite goes through `bash setup.sh --system` and .venv/bin/python,
#   as the README's quick start does); scaling=GPUS=LAYOUTS picks other GPU counts and layouts for
#   that step (e.g. scaling=1,4=tp,dp measures 1 GPU, TP4, DP4 and TP2xDP2); rate is the README's open-loop
#   example (Poisson-gamma arrivals, goodput); serve starts `vllm serve` (TP1),
#   runs simulate_concurrent_requests.py against it with `vllm bench serve` beside it, and stops it by PID;
#   mixed2 is the README's second mixed-workload example at the model's own context length (32768);
#   resume is the README's suite command with --resume over the suite JSONs of docs/sample_results/h200x2
#   and this batch's scaling JSONs: it measures nothing new (those GPU counts are done) and writes the report
# Two one-GPU steps can share a 2-GPU machine: CUDA_VISIBLE_DEVICES=0 bash ... serve & CUDA_VISIBLE_DEVICES=1 ...
# Put `export LAB_GIT_SHA=<your local git rev-parse HEAD>` in the launching command: the tree shipped to the
# device carries a stale .git, and the JSONs' git_sha should name the code that ran.
# Results and printed tables go to /tmp/batch/res/<step>/, vLLM's log to /tmp/batch/res/<step>.log;
# /tmp/batch/res/progress says what ran and how it ended.
# The machine goes back 30 s after a call ends, background job or not (and /tmp with it): follow the batch
# with back-to-back calls (`sleep 280; cat /tmp/batch/res/progress; tar czf $OUT/res.tgz -C /tmp/batch res`),
# each bringing back what is finished so far.
GPUS=$1; shift
R=/tmp/batch/res; mkdir -p $R
for spec in "$@"; do
  IFS== read -r step sgpus slayouts <<< "$spec"
  echo "$(date +%T) start $step" >> $R/progress
  case $step in
    scaling) cmd="benchmark_scaling.py $M7B --gpus ${sgpus:-$GPUS} --layouts ${slayouts:-tp,dp,pp} --compare-vllm-bench" ;;
    tp)      cmd="test_tensor_parallel.py $M7B --tp-sizes ${sgpus:-1,2,4,8}" ;;
    suite)   cmd="run_distributed_benchmark.py $M7B --max-model-len 10240 --gpus $GPUS" ;;
    mixed)   cmd="test_mixed_workload.py $M7B --max-model-len 10240" ;;
    mixed2)  cmd="test_mixed_workload.py $M7B --max-model-len 32768 --budgets 1024,4096 --long-fraction 0.2" ;;
    resume)  cmd="run_distributed_benchmark.py $M7B --max-model-len 10240 --resume --gpus 1,2,4 --gpu-hour-usd 3.5
                  --slo ttft:300,tpot:30" ;;
    conc)    cmd="simulate_concurrent_requests.py $M7B" ;;  # in-process AsyncLLM, the README's default levels
    rate)    cmd="simulate_concurrent_requests.py $M7B --request-rate 2,8,inf --burstiness 0.5 --goodput ttft:500 tpot:50" ;;
    serve)   cmd="simulate_concurrent_requests.py $M7B --base-url http://127.0.0.1:8011 --concurrency 8,64
                  --num-prompts 512 --input-len 512 --output-len 128 --compare-vllm-bench" ;;
    *) echo "unknown step $step" >> $R/progress; continue ;;
  esac
  mkdir -p $R/$step
  if [ "$step" = resume ]; then cp docs/sample_results/h200x2/suite_*.json $R/scaling/*.json $R/$step/ 2>/dev/null; fi
  SPID=; PYBIN=python3
  if [ "$step" = suite ]; then  # the README's fresh-machine command, on the staged vLLM (no network here)
    bash setup.sh --system > $R/$step/setup.txt 2>&1 && PYBIN=.venv/bin/python
    rc=$?; echo "$(date +%T) setup.sh --system rc=$rc python $PYBIN" >> $R/progress
  fi
  if [ "$step" = serve ]; then
    echo "python3 -m common.vllm_cli serve $M7B --host 127.0.0.1 --port 8011" > $R/$step/server_command.txt
    python3 -m common.vllm_cli serve $M7B --host 127.0.0.1 --port 8011 > $R/serve_server.log 2>&1 &
    SPID=$!
    until python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8011/health', timeout=2)" 2>/dev/null
    do kill -0 $SPID 2>/dev/null || break; sleep 2; done
    echo "$(date +%T) server pid $SPID up" >> $R/progress
  fi
  echo "$PYBIN "$cmd" --output-dir $R/$step" > $R/$step/command.txt
  $PYBIN $cmd --output-dir $R/$step > $R/$step/${step}_table.txt 2> $R/$step.log
  rc=$?; echo "$(date +%T) end $step rc=$rc" >> $R/progress  # ($? inside the echo would be date's)
  if [ -n "$SPID" ]; then kill $SPID; wait $SPID; echo "$(date +%T) server pid $SPID stopped" >> $R/progress; fi
done
echo "$(date +%T) batch done" >> $R/progress
