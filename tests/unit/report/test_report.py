"""The report's recommendation on fixture result files with known numbers: it answers for all the devices the
reader has (the best N-device layout, never TP alone when DP read higher) and whether fewer would do."""

import re

from common.output.results import environment, run_path, save_run
from tests.conftest import ROOT, run_script


def _layout(name, gpus, tp, dp, out, cap=None):
    m = {
        "layout": name,
        "gpus": gpus,
        "tp": tp,
        "pp": 1,
        "dp": dp,
        "output_throughput": out,
        "batch1_decode_tokens_per_s": 200.0 * tp,
        "batch1_tpot_ms": 5.0 / tp,
        "median_ttft_ms": 40.0,
        "median_tpot_ms": 6.0,
        "p99_e2el_ms": 900.0,
        "p99_ttft_ms": 80.0,
        "p99_tpot_ms": 8.0,
        "output_throughput_spread_pct": 2.0,
        "offline_runs": 3,
        "output_throughput_runs": [out] * 3,
    }
    if cap is not None:
        slo = {"ttft": 500.0, "tpot": 50.0}
        probes = [
            {"offered_rate": r, "pass": ok, "arrived_rate": r, "achieved_rate": r, "output_throughput": r * 100,
             "p50_tpot_ms": tpot, "p99_tpot_ms": tpot * 1.5, "p99_ttft_ms": 120.0, "bound_by": None if ok else "tpot"}
            for r, ok, tpot in ((cap, True, 10.0), (cap * 1.05, False, 40.0))
        ]  # fmt: skip
        m["capacity"] = {
            "request_rate": cap,
            "output_throughput": cap * 100,
            "bracket": [cap, cap * 1.05],
            "slo": slo,
            "percentile": 99.0,
            "bound_by": "tpot",
            "probes": probes,
        }
        m.update(
            {
                "capacity_request_rate": cap,
                "capacity_output_throughput": cap * 100,
                "capacity_request_rate_per_gpu": cap / gpus,
                "capacity_output_throughput_per_gpu": cap * 100 / gpus,
                "capacity_bound_by": "tpot",
            }
        )
    return m


# the fixture files say they were measured on a CPU box, whatever machine writes them: the report's wording ("CPU
# ranks") follows the files, not the machine that renders it
CPU_BOX = {**environment(), "gpus": [], "gpu_count": 0, "driver": None, "cuda": None, "interconnect": None}


def _stopped(hi: float) -> str:
    """The capacity table's "what stopped it" for a fixture search whose next rate `hi` broke p99 TPOT."""
    return f"at {hi} req/s: p99 TPOT 60 ms; at capacity p99 TTFT 120 ms, TPOT 15 ms"


def _write(folder, layouts, stamp="20261201-120000", shape=(64, 16), **config):
    for m in layouts:
        path = run_path(folder, "scaling", "fixture", f"{m['tp']}pp1dp{m['dp']}", stamp)
        save_run(
            path,
            experiment="scaling",
            config={
                "engine": {"model": "fixture-model"},
                "num_prompts": 100,
                "input_len": shape[0],
                "output_len": shape[1],
                **config,
            },
            metrics=m,
            env=CPU_BOX,
        )


def _report(folder, *args):
    proc = run_script(
        "run_distributed_benchmark.py", "--from-results", str(folder), "--gpu-hour-usd", "3.0", *args, timeout=120
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return (folder / "report.md").read_text()


def _paragraph(report):
    return next(ln for ln in report.splitlines() if "(paste into your notes):**" in ln)


def test_dp_faster_than_tp_is_what_the_paragraph_names(tmp_path):
    _write(
        tmp_path, [_layout("1 GPU", 1, 1, 1, 1000.0), _layout("TP2", 2, 2, 1, 1500.0), _layout("DP2", 2, 1, 2, 1980.0)]
    )
    report = _report(tmp_path)
    para = _paragraph(report)
    assert "To use all 2 CPU ranks, run DP2: 1,980 out tok/s offline, 1.98x one CPU rank (99% efficiency)" in para
    assert "others on 2: TP2 1,500" in para
    assert "1.50x" not in para and "Going from 1 to" not in report  # TP's speedup is never quoted as "1 to N"
    assert "- **Using all 2 CPU ranks:** DP2:" in report
    # 990 per rank for DP2 against 1,000 for one rank, 1 % apart: a tie, said as one (not "fewer ranks do")
    assert (
        "- **Would fewer CPU ranks do?** They cost the same: a single CPU rank gives 1000 out tok/s per CPU rank "
        "and DP2 990, 1.0 % apart, within the noise (+-5 %"
    ) in report
    assert "Rent as many replicas as your total needs (1,980 vs 1,000 out tok/s offline)." in report


def test_all_n_pick_goes_by_slo_capacity_when_measured(tmp_path):
    # TP2 is faster offline, but DP2 serves more requests within the SLO: the all-N pick follows capacity
    _write(
        tmp_path,
        [
            _layout("1 GPU", 1, 1, 1, 1000.0, cap=10.0),
            _layout("TP2", 2, 2, 1, 2100.0, cap=14.0),
            _layout("DP2", 2, 1, 2, 1900.0, cap=23.0),
        ],
    )
    report = _report(tmp_path)
    key = "p99 TTFT <= 500 ms, p99 TPOT <= 50 ms"
    assert "## Serving capacity under the SLO" in report and f"**{key}**" in report
    assert f"To use all 2 CPU ranks, run DP2: 23 req/s under {key}, 1,900 out tok/s offline" in _paragraph(report)
    # per rank: DP2 11.5 req/s against 10 for one rank (15 % more, past the search's 5 % resolution): DP2 is the
    # capacity-per-dollar pick
    assert f"- **Serving capacity per dollar under {key}:** DP2 (2 CPU ranks): 23 req/s (11.5 per CPU rank" in report
    cost = 3.0 * 2 / 3600 / 2300 * 1e6
    assert f"${cost:.3f} per 1M output tokens at capacity" in report
    assert f"to serve requests within {key} run DP2 (2 CPU ranks)" in _paragraph(report)
    section = report.split("## Serving capacity under the SLO")[1].split("## ")[0]
    rows = [ln for ln in section.splitlines() if re.match(r"\| (1 GPU|TP2|DP2) \|", ln)]
    assert rows == [
        f"| 1 GPU | 1 | 10.0 | 10.0 | 1000 | 0.833 | {_stopped(10.5)} | 2 |",
        f"| DP2 | 2 | 23.0 | 11.5 | 2300 | 0.725 | {_stopped(24.2)} | 2 |",
        f"| TP2 | 2 | 14.0 | 7.0 | 1400 | 1.19 | {_stopped(14.7)} | 2 |",
    ]
    assert (tmp_path / "report_capacity.png").stat().st_size > 1000 and (tmp_path / "report_pareto.png").exists()


def test_two_workloads_in_one_folder_are_never_compared(tmp_path):
    """An older 64/16 run and a newer 64/32 run of the same layouts: the report reads the newest workload only,
    says so, lists the other apart, and reports on the other when asked; an ambiguous --workload is refused."""
    _write(
        tmp_path,
        [_layout("1 GPU", 1, 1, 1, 775.0, cap=7.0), _layout("TP2", 2, 2, 1, 1200.0, cap=9.0)],
        stamp="20261201-110000",
        shape=(64, 16),
    )
    _write(
        tmp_path,
        [_layout("1 GPU", 1, 1, 1, 409.0, cap=4.0), _layout("TP2", 2, 2, 1, 700.0, cap=5.0)],
        stamp="20261201-120000",
        shape=(64, 32),
    )
    report = _report(tmp_path)
    assert "Workload: fixture-model: 64 in / 32 out tokens, 100 prompts" in report
    mine, others = report.split("## Other workloads in this folder")
    cap_rows = [
        ln for ln in mine.split("## Serving capacity under the SLO")[1].splitlines() if ln.startswith("| 1 GPU")
    ]
    assert cap_rows == [f"| 1 GPU | 1 | 4.0 | 4.0 | 400 | 2.083 | {_stopped(4.2)} | 2 |"]  # one row, of this workload
    assert "| 775 |" not in mine and "| 1200 |" not in mine and "1,200" not in mine
    assert "| fixture-model: 64 in / 16 out tokens, 100 prompts | 2 |" in others and "| 1,200 | 9 |" in others
    assert "--workload" in others
    older = _report(tmp_path, "--workload", "16 out")
    assert "Workload: fixture-model: 64 in / 16 out tokens" in older and "| 1 GPU | 1 | 7.0 |" in older
    bad = run_script(
        "run_distributed_benchmark.py", "--from-results", str(tmp_path), "--workload", "tokens", timeout=60
    )
    assert bad.returncode == 2 and "matches 2 of this folder's workloads" in bad.stderr


def test_fleet_for_a_target_rate_picks_the_cheapest_layout_that_holds_it(tmp_path):
    _write(
        tmp_path,
        [
            _layout("1 GPU", 1, 1, 1, 1000.0, cap=10.0),
            _layout("TP2", 2, 2, 1, 2100.0, cap=14.0),
            _layout("DP2", 2, 1, 2, 1900.0, cap=21.0),
        ],
    )
    report = _report(tmp_path, "--target-rate", "50")
    fleet = report.split("## Fleet for 50 req/s")[1].split("## ")[0]
    rows = [
        [c.strip() for c in ln.strip("|").split("|")]
        for ln in fleet.splitlines()
        if re.match(r"\| (1 GPU|TP2|DP2) \|", ln)
    ]
    # ceil(50 / capacity) replicas: 5 x 1 GPU (5 ranks, $15/h), 3 x DP2 (6, $18/h), 4 x TP2 (8, $24/h)
    assert [r[:4] for r in rows] == [["1 GPU", "10", "5", "5"], ["DP2", "21", "3", "6"], ["TP2", "14", "4", "8"]]
    assert [float(r[4]) for r in rows] == [15.0, 18.0, 24.0] and rows[1][6] == "26%"
    assert "**Cheapest fleet that holds 50 req/s within the SLO:** 5 x 1 GPU = 5 CPU ranks, $15.00/hour." in fleet
    assert "To serve 50 req/s within the SLO, rent 5 x 1 GPU" in _paragraph(report)
    assert "replicas add capacity linearly" in fleet


def test_the_h200_trace_report_puts_the_synthetic_shape_beside_the_trace_and_flags_a_missed_validation(tmp_path):
    """On the real H200 trace runs (docs/sample_results/h200x1/traces/2026-12-05): the Poisson shape at the
    stretch's mean lengths sits beside the trace's capacity, and a fleet planned on a speed whose validation missed
    a window says so, with the load it would run at."""
    import json
    import shutil

    src = ROOT / "docs/sample_results/h200x1/traces/2026-12-05"
    for p in src.glob("*.json"):
        shutil.copy(p, tmp_path / p.name)
    proc = run_script("run_distributed_benchmark.py", "--from-results", str(tmp_path), "--growth", "2", timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = (tmp_path / "report.md").read_text()
    conv = json.loads((src / "concurrent_requests_qwen2.5-7b_tp1_20261205-071034.json").read_text())
    cap = conv["metrics"]["capacity"]
    assert cap["validation"]["pass"] is False and cap["validation"]["missed"] == [cap["binding_window"]["start_s"]]
    assert (
        "| AzureLLMInferenceTrace_conv.csv: 1155 in / 203 out tokens on average (its deciding window: 1447 in / "
        "134 out), its own arrivals | 1 GPU |" in report
    )
    assert (
        "| random: 1155 in / 203 out tokens, Poisson arrivals | 1 GPU | p99 TTFT <= 500 ms, p99 TPOT <= 50 ms | "
        "22.9 | 4658 |" in report
    )
    # 2 x the deciding window's work over the 2.13x it held: one replica; the capacity range is the search's bracket
    assert "Capacity: 2.13x (range 2.13-2.2x: the search's bracket); its validation replay missed the SLO" in report
    assert "| the trace stretch repeated all day | static | 1 | 24.0 | 24.0 | 96 | 0 | 0 |" in report
    assert (
        "**The day's fleet for AzureLLMInferenceTrace_conv.csv x 2 over the trace stretch repeated all day:** 2 GPUs "
        "static in replicas of 1 GPU, sized from the capacity's low end (2.13x: the least any run passed, so the "
        "plan holds if the capacity is no better than measured), a replica more than it asks for: its validation "
        "missed a window; 48 GPU-hours a day ($192)." in report
    )
    # and the report opens with that plan: the next size up, said so, never the capacity that missed as it stands
    answer = report.splitlines()[2:4]
    assert answer[0] == (
        "**Answer: 2 GPUs at the busy hour, in replicas of 1 GPU, static: 48 GPU-hours and $192 a day at $4.00 per "
        "GPU-hour.**"
    )
    assert "plus one replica: that capacity's validation replay missed the SLO in a window" in answer[1]


def test_two_layouts_2_percent_apart_are_a_tie_said_as_one(tmp_path):
    """980 out tok/s per rank against 1,000 (2 % apart), capacity 10.2 req/s per rank against 10: both ties within
    the noise. The report says so, names the simpler rental, and never calls one the winner."""
    _write(tmp_path, [_layout("1 GPU", 1, 1, 1, 1000.0, cap=10.0), _layout("DP2", 2, 1, 2, 1960.0, cap=20.4)])
    report = _report(tmp_path)
    assert (
        "- **Would fewer CPU ranks do?** They cost the same: a single CPU rank gives 1000 out tok/s per CPU rank "
        "and DP2 980, 2.0 % apart, within the noise (+-5 %"
    ) in report
    assert "DP2 on 2 CPU ranks read" not in report  # 1 GPU is the top per rank here: no tie sentence needed
    key = "p99 TTFT <= 500 ms, p99 TPOT <= 50 ms"
    # 10.2 per rank against 10 is inside the search's own resolution: the fewer ranks is the capacity pick
    assert f"- **Serving capacity per dollar under {key}:** a single CPU rank: 10 req/s" in report
    assert "Yes: a single" not in report


def test_a_run_above_linear_is_not_the_source_of_the_paragraph_when_a_sane_run_exists(tmp_path):
    """The newest run reads DP2 at 115 % efficiency (its 1-rank baseline read low); an older run of the same
    workload is sane. The recommendation comes from the older run; no figure of the newer one is in the paragraph."""
    _write(tmp_path, [_layout("1 GPU", 1, 1, 1, 1000.0), _layout("DP2", 2, 1, 2, 1900.0)], stamp="20261201-110000")
    _write(tmp_path, [_layout("1 GPU", 1, 1, 1, 800.0), _layout("DP2", 2, 1, 2, 1840.0)], stamp="20261201-120000")
    para = _paragraph(_report(tmp_path))
    assert "run DP2: 1,900 out tok/s offline, 1.90x one CPU rank (95% efficiency)" in para
    assert "1,840" not in para and "2.30x" not in para and "115%" not in para


def test_with_only_a_run_above_linear_the_paragraph_quotes_no_impossible_speedup(tmp_path):
    _write(tmp_path, [_layout("1 GPU", 1, 1, 1, 800.0), _layout("DP2", 2, 1, 2, 1840.0)])
    report = _report(tmp_path)
    para = _paragraph(report)
    assert (
        "2.30x" not in para
        and "115%" not in para
        and "no speedup quoted: this run's 1-CPU rank baseline read low" in para
    )
    assert "- **Read with care:** Note: DP2 reads 115% efficient, above linear." in report


def test_latency_advice_only_against_the_runs_own_slo_at_its_load(tmp_path):
    _write(tmp_path, [_layout("1 GPU", 1, 1, 1, 1000.0), _layout("TP2", 2, 2, 1, 1500.0)], concurrency=16)
    report = _report(tmp_path)
    assert (
        "- **Lowest latency (a single stream):** TP2 (2 CPU ranks): batch-1 400 tok/s" in report
        and "Latency under load is not judged: this run had no p99 SLO" in report
    )
    assert "p99 TTFT 80 ms" not in report.split("## Recommendation")[1]
    other = tmp_path / "slo"
    _write(
        other,
        [_layout("1 GPU", 1, 1, 1, 1000.0), _layout("TP2", 2, 2, 1, 1500.0)],
        concurrency=16,
        capacity={"slo": {"ttft": 500.0, "tpot": 50.0}, "percentile": 99.0},
    )
    report = _report(other)
    assert (
        "- **Lowest latency under the SLO (p99 TTFT <= 500 ms, p99 TPOT <= 50 ms) at 16 concurrent clients:** "
        "TP2 (2 CPU ranks): batch-1 400 tok/s, p99 TTFT 80 ms, p99 TPOT 8.0 ms"
    ) in report


def test_the_h100_code_trace_plans_three_fleets_over_the_example_day_and_the_reactive_one_misses_bursts(tmp_path):
    """On the real H100 code-trace search (docs/sample_results/h100x1/traces/2026-12-05) over the example day: the
    three fleets at each end of the capacity's bracket, the reactive one over the SLO for bursts shorter than a
    replica's start (said in one sentence), and a plot of each day."""
    import shutil

    from common.traffic.day_fleet import DayProfile

    for p in (ROOT / "docs/sample_results/h100x1/traces/2026-12-05").glob("*.json"):
        shutil.copy(p, tmp_path / p.name)
    day = ROOT / "traces/day_profile_example.csv"
    proc = run_script("run_distributed_benchmark.py", "--from-results", str(tmp_path), "--growth", "2",
                      "--day-profile", str(day), "--replica-start-s", "125", timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = (tmp_path / "report.md").read_text()
    assert "Capacity: 0.0933x (range 0.0933-0.107x: the search's bracket)." in report
    assert "A new replica serves 125 s after it is asked for (--replica-start-s)" in report
    rows = [ln for ln in report.splitlines() if ln.startswith("| ") and "| static |" in ln or "| autoscaled" in ln]
    assert len(rows) == 6  # three fleets, two days: the stretch repeated, the example day
    reactive = [r.split("|")[7].split()[0] for r in rows if "reactively" in r]  # minutes over the SLO
    assert all(int(m) > 0 for m in reactive)
    assert "after a burst shorter than that is over" in report
    assert "over day_profile_example.csv:** 22 GPUs static (19-22 over its range)" in report
    assert report.splitlines()[2] == (  # the report's answer: the example day's static fleet, its range, GPU-h and $
        "**Answer: 22 GPUs at the busy hour (19-22 over the capacity's measured range), in replicas of 1 GPU, static: "
        "528 GPU-hours and $1,584 a day at $3.00 per GPU-hour.**"
    )
    # its second line: the example day's reactive fleet, as its row of the day's table says (264.8 GPU-h, 28 minutes)
    react = [r for r in rows if "reactively" in r][-1].split("|")
    assert react[5].strip().startswith("264.8 ") and react[7].strip().startswith("28 ")
    assert "over day_profile_example.csv" in report.splitlines()[3]
    assert "reactively instead: 265 GPU-hours ($794) with 28 minute(s) a day over the SLO" in report.splitlines()[3]
    assert DayProfile.read(day).factor(3 * 3600) < 0.2  # the night is quiet: the example day costs less than a flat one
    assert (tmp_path / "report_day_fleet_0_0.png").exists() and (tmp_path / "report_day_fleet_0_1.png").exists()


def test_bad_day_fleet_flags_are_one_line_and_exit_2(tmp_path):
    """A day profile that cannot be read or what the autoscaler flags cannot mean: one line, exit 2, no report."""
    bad = tmp_path / "day.csv"
    bad.write_text("hour,rate\n9,1\n8,2\n")
    for args in (["--day-profile", str(bad)], ["--day-profile", str(tmp_path / "missing.csv")],
                 ["--plan-from", "middle"], ["--scale-up-at", "1.5"]):  # fmt: skip
        proc = run_script("run_distributed_benchmark.py", "--from-results", str(tmp_path), *args, timeout=60)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, (args, proc.stderr)
        proc = run_script("-m", "common.report", str(tmp_path), *args, timeout=60)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, (args, proc.stderr)
    assert not (tmp_path / "report.md").exists()


def test_compare_sets_two_gpu_folders_side_by_side_and_names_what_differs(tmp_path):
    """The H100 and H200 trace folders share one workload (the code stretch's mean lengths as Poisson arrivals, the
    same SLO): its capacity on each, B / A, not a tie (the search's 5 % resolution), and the GPUs named as what
    differs. A tie within the noise is said as one."""
    import shutil

    from common.report.compare import Pair

    a, b = tmp_path / "h100", tmp_path / "h200"
    for src, dst in ((ROOT / "docs/sample_results/h100x1/traces/2026-12-05", a),
                     (ROOT / "docs/sample_results/h200x1/traces/2026-12-05", b)):  # fmt: skip
        dst.mkdir()
        for p in src.glob("*.json"):
            shutil.copy(p, dst / p.name)
    proc = run_script("run_distributed_benchmark.py", "--from-results", str(a), "--compare", str(b), timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    text = (a / "compare.md").read_text()
    assert (
        "| 2046 in / 28 out tokens, Poisson arrivals | 1 GPU | capacity (req/s), p99 TTFT <= 500 ms, p99 TPOT <= "
        "50 ms | 13.62 | 15.17 | 1.11 | B +11 % |" in text
    )
    assert "GPU: NVIDIA H100 80GB HBM3 (A) vs NVIDIA H200 (B)" in text and "Takeaway: of 1 figure(s)" in text
    assert Pair("w", "1 GPU", "x", 100.0, 103.0, 0.05).verdict() == "tie (within 5 %)"
    bad = run_script("run_distributed_benchmark.py", "--compare", str(b), timeout=60)
    assert bad.returncode == 2 and "--compare" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_report_html_is_one_self_contained_file_holding_every_table_of_report_md(tmp_path):
    """report.html beside report.md (the CPU suite sample's files): every table of the Markdown is a table of the
    page, every plot is embedded as a data URI, and nothing is fetched: no script, no stylesheet link, no remote
    source."""
    import shutil
    from html.parser import HTMLParser

    for p in (ROOT / "docs/sample_results/cpu_tiny/suite").glob("*.json"):
        shutil.copy(p, tmp_path / p.name)
    proc = run_script("-m", "common.report", str(tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    md, page = (tmp_path / "report.md").read_text(), (tmp_path / "report.html").read_text()

    class Seen(HTMLParser):
        tags: list = []
        srcs: list = []
        headers: list = []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)
            self.srcs += [v for k, v in attrs if k in ("src", "href") and tag in ("img", "script", "link")]

    seen = Seen()
    seen.feed(page)
    tables = [ln for ln in md.splitlines() if re.fullmatch(r"\|(---\|)+", ln)]
    assert seen.tags.count("table") == len(tables) > 0
    assert "script" not in seen.tags and "link" not in seen.tags
    assert seen.srcs and all(s.startswith("data:image/png;base64,") for s in seen.srcs)
    assert len(seen.srcs) == md.count("![")
    for header in (ln for ln in md.splitlines() if ln.startswith("| ") and "---" not in ln):
        assert header.split("|")[1].strip() in page  # each row's first cell is on the page
