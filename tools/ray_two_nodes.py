"""Two Ray nodes on one host: the multi-node path (pipeline stages on different nodes) tried on one machine.

    python tools/ray_two_nodes.py start --gpus-per-node 1     # prints the two exports below
    export RAY_ADDRESS=127.0.0.2:6390 VLLM_HOST_IP=127.0.0.2 RAY_AUTH_MODE=token
    python benchmark_scaling.py $M7B --gpus 2 --layouts pp --distributed-executor-backend ray
    python tools/ray_two_nodes.py stop

What makes them two nodes to vLLM, as two machines would be:
- their own IP: the head is 127.0.0.2 and the worker 127.0.0.3 (loopback aliases; vLLM's Ray executor
  refuses two nodes that share one IP, and Ray swaps 127.0.0.1 for the host's own address). The engine runs
  on the head, so it needs VLLM_HOST_IP=127.0.0.2.
- one cluster token (Ray 2.60 turns token authentication on for a `ray start --head`): the nodes and the
  engine read ~/.ray/auth_token, made here if missing, with RAY_AUTH_MODE=token.
- their own GPUs: the head sees GPUs 0..k-1 and the worker k..2k-1 (CUDA_VISIBLE_DEVICES on each `ray start`).
- their own ports and temp dir (/tmp/lab-rn0, /tmp/lab-rn1).
NCCL between the stages still goes over NVLink (one host), so set against pipeline parallelism under the
default backend this measures Ray's own cost, not the network's. On a real cluster, use docs/multi_node.md's
"Across nodes" commands.

`stop` ends only these two nodes: every process whose command line names their temp dirs (not `ray stop`,
which would take down every Ray cluster on the machine). `start` stops any earlier pair first.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repo root

HEAD_PORT = 6390
# per node: ip, temp dir, node manager, object manager, worker ports, dashboard agent (http, grpc), runtime env, metrics
NODES = [
    ("127.0.0.2", "/tmp/lab-rn0", 6391, 6392, (10100, 10599), (6393, 6394), 6395, 6396),
    ("127.0.0.3", "/tmp/lab-rn1", 6401, 6402, (10600, 11099), (6403, 6404), 6405, 6406),
]


def node_command(i: int, ray_bin: str, cpus: int | None, gpus: int) -> list[str]:
    ip, tmp, nm, om, (w0, w1), (da, dg), rt, mx = NODES[i]
    cmd = [
        ray_bin,
        "start",
        "--node-ip-address",
        ip,
        "--temp-dir",
        tmp,
        "--node-manager-port",
        str(nm),
        "--object-manager-port",
        str(om),
        "--min-worker-port",
        str(w0),
        "--max-worker-port",
        str(w1),
        "--dashboard-agent-listen-port",
        str(da),
        "--dashboard-agent-grpc-port",
        str(dg),
        "--runtime-env-agent-port",
        str(rt),
        "--metrics-export-port",
        str(mx),
        "--num-gpus",
        str(gpus),
        "--disable-usage-stats",
    ]
    cmd += (
        ["--head", "--port", str(HEAD_PORT), "--include-dashboard", "false", "--ray-client-server-port", "6397"]
        if i == 0
        else ["--address", f"{NODES[0][0]}:{HEAD_PORT}"]
    )
    return cmd + (["--num-cpus", str(cpus)] if cpus else [])


def stop() -> int:
    from common.runtime.isolation import kill_matching

    n = kill_matching(*(tmp for _, tmp, *_ in NODES))  # both nodes at once: one grace period, not one each
    for _, tmp, *_ in NODES:
        shutil.rmtree(tmp, ignore_errors=True)
    return n


def start(gpus_per_node: int, cpus_per_node: int | None) -> None:
    stop()
    ray_bin = shutil.which("ray") or os.path.join(os.path.dirname(sys.executable), "ray")
    if not os.path.exists(ray_bin):
        sys.exit("error: no `ray` command: pip install -r requirements-ray.txt")
    if not os.environ.get("RAY_AUTH_TOKEN") and not os.path.exists(os.path.expanduser("~/.ray/auth_token")):
        subprocess.run([ray_bin, "get-auth-token", "--generate"], capture_output=True, check=True)
    for i in range(2):
        gpus = list(range(i * gpus_per_node, (i + 1) * gpus_per_node))
        env = {
            **os.environ,
            "VLLM_HOST_IP": NODES[i][0],
            "RAY_AUTH_MODE": "token",
            "CUDA_VISIBLE_DEVICES": ",".join(map(str, gpus)) if gpus_per_node else "",
        }
        env.pop("RAY_ADDRESS", None)
        r = subprocess.run(
            node_command(i, ray_bin, cpus_per_node, gpus_per_node), env=env, capture_output=True, text=True
        )
        if r.returncode:
            stop()
            sys.exit(f"error: ray start (node {i}, {NODES[i][0]}) failed: {(r.stderr or r.stdout).strip()[-400:]}")
    print(
        f"two Ray nodes up: head {NODES[0][0]} (GPUs {list(range(gpus_per_node))}), worker {NODES[1][0]} "
        f"(GPUs {list(range(gpus_per_node, 2 * gpus_per_node))})\n"
        f"export RAY_ADDRESS={NODES[0][0]}:{HEAD_PORT} VLLM_HOST_IP={NODES[0][0]} RAY_AUTH_MODE=token"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    ap.add_argument("action", choices=["start", "stop"])
    ap.add_argument("--gpus-per-node", type=int, default=1, help="GPUs each node gets (default 1: PP=2 on 2 GPUs)")
    ap.add_argument("--cpus-per-node", type=int, default=None, help="CPUs each node advertises (default: Ray's count)")
    a = ap.parse_args()
    if a.gpus_per_node < 0:
        ap.error("--gpus-per-node must be >= 0")
    if a.action == "start":
        start(a.gpus_per_node, a.cpus_per_node)
    else:
        print(f"stopped {stop()} Ray process(es) of the two nodes")
