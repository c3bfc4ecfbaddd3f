"""test_mixed_workload.py end to end on the tiny CPU model: one run of three scheduler variants with a capacity
search each, then small checks of what it wrote and printed."""

import json

import pytest

from common.capacity.stats import thin_samples
from tests.conftest import SHORT_PROBES, run_script


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_model):
    out = tmp_path_factory.mktemp("mixed")
    proc = run_script(
        "test_mixed_workload.py",
        "--output-dir",
        str(out),
        *"--num-requests 24 --budgets 256 --caps 64 --long-fraction 0.25 --capacity".split(),
        *SHORT_PROBES,
        *"--capacity-resolution 0.3 --max-probes 4".split(),
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    docs = {
        d["metrics"]["variant"]: d
        for d in (json.loads(p.read_text()) for p in sorted(out.glob("mixed_workload_*.json")))
    }
    return out, proc, docs


@pytest.fixture(scope="module")
def caps(run):
    return {v: d["metrics"]["capacity"] for v, d in run[2].items()}


def test_each_variant_ran_with_the_scheduler_it_names(run):
    docs = run[2]
    assert set(docs) == {"no chunking", "chunked 256", "chunked 256, cap 64"}
    nochunk = docs["no chunking"]["config"]["engine"]
    assert nochunk["enable_chunked_prefill"] is False and nochunk["max_num_batched_tokens"] >= 3800
    assert docs["chunked 256, cap 64"]["metrics"]["long_prefill_token_threshold"] == 64
    for d in docs.values():  # the recorded limits are the ones the engine ran with
        m = d["metrics"]
        assert m["long_prefill_token_threshold"] == m["scheduler"]["long_prefill_token_threshold"]
        assert m["max_num_batched_tokens"] == m["scheduler"]["max_num_batched_tokens"]
        assert m["scheduler"]["cudagraph_max_tokens"] == 0  # a CPU engine replays no CUDA graphs


def test_short_request_waits_are_measured_against_the_same_requests_alone(run):
    for d in run[2].values():
        m = d["metrics"]
        assert m["short_completed"] > 0 and m["long_completed"] > 0 and m["failed"] == 0
        assert m["short_ttft_inflation_p99"] == pytest.approx(m["short_p99_ttft_ms"] / m["short_alone_p99_ttft_ms"])
        assert 0.0 <= m["hol_blocked_share"] <= 1.0 and 0 < m["jain_slowdown"] <= 1.0
        assert {r["klass"] for r in d["raw"]["mixed"]} == {"short", "long"}
        assert len(d["raw"]["alone"]) == m["short_completed"]  # the same short requests ran alone first
        assert m["short_mean_itl_without_long_prefill_ms"] > 0


def test_decodes_beside_a_whole_long_prefill_wait_longer_per_token(run):
    """Without chunking a long prompt's whole prefill is one step: the short requests decoding beside it get their
    next token later than when no long prompt is in prefill (six long prompts of 3,000+ tokens in a 24-request mix
    arriving within ~1 s: short decodes overlap them)."""
    m = run[2]["no chunking"]["metrics"]
    assert m["short_itl_samples_during_long_prefill"] > 0
    assert m["short_mean_itl_during_long_prefill_ms"] > m["short_mean_itl_without_long_prefill_ms"]


def test_every_variant_is_judged_by_the_slo_the_first_one_derived(run, caps):
    slo = caps["no chunking"]["slo"]
    alone = run[2]["no chunking"]["raw"]["alone"]
    assert slo["ttft"] == pytest.approx(5 * sorted(r["ttft_ms"] for r in alone)[len(alone) // 2], rel=0.5)
    for c in caps.values():
        assert c["slo"] == slo and c["term_class"] == {"ttft": "short"} and c["probes"]
        assert all(p["term_class"] == {"ttft": "short"} for p in c["probes"])
        assert c["request_rate"] == max([p["offered_rate"] for p in c["probes"] if p["pass"]] or [0.0])


def test_each_probe_counts_the_requests_its_percentiles_were_taken_over(run, caps):
    for v, c in caps.items():
        raw = run[2][v]["raw"]["capacity_probes"]
        assert [len(r["klass"]) for r in raw] == [p["requests"] for p in c["probes"]]
        for p, r in zip(c["probes"], raw, strict=True):
            shorts = sum(1 for j, k in zip(r["judged"], r["klass"], strict=True) if j and k == "short")
            assert p["judged_by_term"]["ttft"] == shorts and p["judged_by_term"]["tpot"] <= p["judged_requests"]


def test_search_outcomes_and_thin_probes_are_printed_with_the_tables(run, caps):
    out = run[1].stdout
    assert all(f"{len(c['probes'])} probes, {c['search_s']:.0f} s: {c['verdict']}" in out for c in caps.values())
    thin = {v: n for v, c in caps.items() if (n := thin_samples(c.get("samples_at_bracket"), c["percentile"]))}
    assert ("Rough ranks" in out) == bool(thin)
    assert all(f"'{v}' ({n})" in out for v, n in thin.items())


def test_the_takeaway_names_the_best_variant_by_its_measured_numbers(run, caps):
    """Best = the highest capacity under the SLO; where no variant found any, the lowest short p99 TTFT inflation.
    Read from the JSON files, not from the script's lines."""
    docs, out = run[2], run[1].stdout
    best = max(docs, key=lambda v: (caps[v]["request_rate"] or 0, -docs[v]["metrics"]["short_ttft_inflation_p99"]))
    assert f"Best measured: '{best}' (" in out
    assert ("no chunked variant beat no chunking" in out) == (best == "no chunking")
    assert ("Takeaway: use --max-num-batched-tokens" in out) == (best != "no chunking")
    rate = caps[best]["request_rate"]
    assert (f"'{best}' serves the most of this mix" in out) == bool(rate)
    # the gain over no chunking, beside Sarathi-Serve's, whenever a chunked variant won and no chunking had a capacity
    assert ("Sarathi-Serve reports 2.6x" in out) == (
        best != "no chunking" and bool(caps["no chunking"]["request_rate"])
    )


def test_four_plots(run):
    assert len(list(run[0].glob("*.png"))) == 4  # TTFT CDF, trade-off, best and worst timelines
