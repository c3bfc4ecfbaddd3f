"""Traffic: every request the lab sends, its arrival time, and the sending.

workloads    - every request and arrival time: random prompts, class mixes, Poisson arrivals; WorkloadSource and
               its implementations (PoissonWorkload, TraceWorkload), chosen by --dataset-name (SOURCES)
traces       - trace files read and checked (Azure CSV, timed_trace JSONL, ShareGPT), cut to a stretch
load_profile - a trace stretch's load per window (arrivals, tokens, work) and the fleet that follows it
day_fleet    - the stretch laid over a day (the user's daily curve, or the stretch repeated) and three fleets for it:
               static, autoscaled with foresight, autoscaled reactively with a replica's start time
loadgen      - sending them: request records, the Backend protocol (AsyncLLM, an OpenAI server), closed and open loops
stepdrive    - sending them to a vllm.LLM step by step (no server, no second engine)
prom         - the engine's own scheduler state and counters from /metrics
"""
