# On an offline GPU machine (no network; vLLM installed from carried wheels), after
# `source tools/h200_env.sh`: run experiments one after another in the background, so a batch outlasts any
# one shell or remote command that started it.
#   setsid bash tools/h200_batch.sh GPUS STEP... </dev/null >/dev/null 2>&1 &
#   STEP: scaling | tp (tp=SIZES, default 1,2,4,8) | ray (ray=SIZES, default 1,2; needs the Ray wheel carried:
#         tools/restage.sh --ray) | raypp (2 GPUs: two Ray nodes on this host, tools/ray_two_nodes.py, PP=2 across
#         them, then the same PP=2 under the default backend into raypp_default/) | suite | mixed | mixed2 | conc | rate | serve | resume
#         | calib | capacity | servecap | mixcap
#   (suite goes through `bash setup.sh --system` and .venv/bin/python, as the README's quick start does);
#   scaling=GPUS=LAYOUTS picks other GPU counts and layouts for that step (e.g. scaling=1,4=tp,dp measures 1 GPU,
#   TP4, DP4 and TP2xDP2), and capacity=GPUS=LAYOUTS likewise; rate is the README's open-loop example; serve and
#   servecap start `vllm serve` (TP1), run simulate_concurrent_requests.py against it with `vllm bench serve`
#   beside it (servecap: the capacity search at a loose and at a strict SLO, the bench at each rate found), and
#   stop it by PID; calib is the interleaved calibration against `vllm bench throughput`; capacity runs
#   benchmark_scaling.py --capacity at a loose and at a strict SLO; mixcap is the mixed workload's cap sweep
#   with capacity per variant (5 variants: no chunking, budget 8192 alone and with caps 256/512/1024; shorter probes,
#   24 min in all on one H200 on 2026-12-02, searches of 1.1-3.8 min: probes at low rates stretch to 40 s); mixed2 is the README's second mixed-workload example at the model's own
#   context length (32768); resume is the README's suite command with --resume over the suite JSONs of
#   docs/sample_results/h200x2 and this batch's scaling JSONs (it measures nothing new and writes the report)
# Two one-GPU steps can share a 2-GPU machine: CUDA_VISIBLE_DEVICES=0 bash ... serve & CUDA_VISIBLE_DEVICES=1 ...
# Put `export LAB_GIT_SHA=<your local git rev-parse HEAD>` in the launching command when the copied tree's .git
# is missing or stale: the JSONs' git_sha should name the code that ran.
# Results and printed tables go to /tmp/batch/res/<step>/, vLLM's log to /tmp/batch/res/<step>.log;
# /tmp/batch/res/progress says what ran and how it ended. Collect what is finished so far at any time with
# `cat /tmp/batch/res/progress; tar czf res.tgz -C /tmp/batch res`.
GPUS=$1; shift
R=/tmp/batch/res; mkdir -p $R
for spec in "$@"; do
  IFS== read -r step sgpus slayouts <<< "$spec"
  echo "$(date +%T) start $step" >> $R/progress
  case $step in
    scaling) cmd="benchmark_scaling.py $M7B --gpus ${sgpus:-$GPUS} --layouts ${slayouts:-tp,dp,pp} --compare-vllm-bench" ;;
    tp)      cmd="test_tensor_parallel.py $M7B --tp-sizes ${sgpus:-1,2,4,8}" ;;
    ray)     cmd="test_tensor_parallel.py $M7B --tp-sizes ${sgpus:-1,2} --distributed-executor-backend ray" ;;
    raypp)   cmd="benchmark_scaling.py $M7B --gpus 2 --layouts pp --distributed-executor-backend ray" ;;
    suite)   cmd="run_distributed_benchmark.py $M7B --max-model-len 10240 --gpus $GPUS" ;;
    mixed)   cmd="test_mixed_workload.py $M7B --max-model-len 10240" ;;
    mixed2)  cmd="test_mixed_workload.py $M7B --max-model-len 32768 --budgets 1024,4096 --long-fraction 0.2" ;;
    resume)  cmd="run_distributed_benchmark.py $M7B --max-model-len 10240 --resume --gpus 1,2,4 --gpu-hour-usd 3.5
                  --slo ttft:300,tpot:30" ;;
    conc)    cmd="simulate_concurrent_requests.py $M7B" ;;  # in-process AsyncLLM, the README's default levels
    rate)    cmd="simulate_concurrent_requests.py $M7B --request-rate 2,8,inf --burstiness 0.5 --goodput ttft:500 tpot:50" ;;
    serve)   cmd="simulate_concurrent_requests.py $M7B --base-url http://127.0.0.1:8011 --concurrency 8,64
                  --num-prompts 512 --input-len 512 --output-len 128 --compare-vllm-bench" ;;
    calib)   cmd="benchmark_scaling.py $M7B --gpus 1 --compare-vllm-bench --vllm-bench-runs 3" ;;
    capacity) cmd="benchmark_scaling.py $M7B --gpus ${sgpus:-$GPUS} --layouts ${slayouts:-tp,dp,pp} --capacity
                  --slo ttft:500,tpot:50 --gpu-hour-usd 4.0 --offline-runs 1 --no-allreduce" ;;
    servecap) cmd="simulate_concurrent_requests.py $M7B --base-url http://127.0.0.1:8011 --find-capacity
                  --slo ttft:500,tpot:50 --compare-vllm-bench" ;;
    mixcap)  cmd="test_mixed_workload.py $M7B --max-model-len 10240 --budgets 8192 --caps 256,512,1024 --capacity
                  --probe-seconds 10 --probe-min-requests 50 --max-probes 7 --capacity-resolution 0.1" ;;
    *) echo "unknown step $step" >> $R/progress; continue ;;
  esac
  mkdir -p $R/$step
  if [ "$step" = resume ]; then cp docs/sample_results/h200x2/suite_*.json $R/scaling/*.json $R/$step/ 2>/dev/null; fi
  SPID=; PYBIN=python3
  if [ "$step" = suite ]; then  # the README's fresh-machine command, on the carried vLLM (no network here)
    bash setup.sh --system > $R/$step/setup.txt 2>&1 && PYBIN=.venv/bin/python
    rc=$?; echo "$(date +%T) setup.sh --system rc=$rc python $PYBIN" >> $R/progress
  fi
  if [ "$step" = serve ] || [ "$step" = servecap ]; then
    echo "python3 -m common.runtime.vllm_cli serve $M7B --host 127.0.0.1 --port 8011" > $R/$step/server_command.txt
    python3 -m common.runtime.vllm_cli serve $M7B --host 127.0.0.1 --port 8011 > $R/serve_server.log 2>&1 &
    SPID=$!
    until python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8011/health', timeout=2)" 2>/dev/null
    do kill -0 $SPID 2>/dev/null || break; sleep 2; done
    echo "$(date +%T) server pid $SPID up" >> $R/progress
  fi
  if [ "$step" = raypp ]; then  # the exports it prints: RAY_ADDRESS, VLLM_HOST_IP, RAY_AUTH_MODE
    python3 tools/ray_two_nodes.py start > $R/$step/nodes.txt 2>&1 && eval "$(tail -1 $R/$step/nodes.txt)"
    echo "$(date +%T) two Ray nodes: $(head -1 $R/$step/nodes.txt)" >> $R/progress
  fi
  echo "$PYBIN "$cmd" --output-dir $R/$step" > $R/$step/command.txt
  $PYBIN $cmd --output-dir $R/$step > $R/$step/${step}_table.txt 2> $R/$step.log
  rc=$?; echo "$(date +%T) end $step rc=$rc" >> $R/progress  # ($? inside the echo would be date's)
  if [ "$step" = capacity ] || [ "$step" = servecap ]; then  # the same at a strict SLO, into <step>_strict/
    mkdir -p $R/${step}_strict
    scmd=${cmd/ttft:500,tpot:50/ttft:200,tpot:15}
    echo "$PYBIN "$scmd" --output-dir $R/${step}_strict" > $R/${step}_strict/command.txt
    $PYBIN $scmd --output-dir $R/${step}_strict > $R/${step}_strict/${step}_table.txt 2> $R/${step}_strict.log
    rc=$?; echo "$(date +%T) end ${step}_strict rc=$rc" >> $R/progress
  fi
  if [ "$step" = raypp ]; then  # the nodes down, then the same layout under the default backend
    python3 tools/ray_two_nodes.py stop >> $R/$step/nodes.txt 2>&1; unset RAY_ADDRESS VLLM_HOST_IP RAY_AUTH_MODE
    mkdir -p $R/raypp_default; dcmd=${cmd/ --distributed-executor-backend ray/}
    echo "$PYBIN "$dcmd" --output-dir $R/raypp_default" > $R/raypp_default/command.txt
    $PYBIN $dcmd --output-dir $R/raypp_default > $R/raypp_default/raypp_table.txt 2> $R/raypp_default.log
    rc=$?; echo "$(date +%T) end raypp_default rc=$rc" >> $R/progress
  fi
  if [ -n "$SPID" ]; then kill $SPID; wait $SPID; echo "$(date +%T) server pid $SPID stopped" >> $R/progress; fi
done
echo "$(date +%T) batch done" >> $R/progress
