"""common.measure.mixed: the mixed workload's reference runs."""


def test_mixed_reference_runs_share_no_prompt_with_the_mixed_run():
    """The short-alone and long-reference runs go on the mixed run's engine first: same lengths and arrival
    times as the mixed requests, but none of their prompts (not even a first KV block) may reach the mixed
    run through the prefix cache."""
    from common.measure.mixed import workload
    from test_mixed_workload import Config

    cfg = Config(seed=3, long_fraction=0.2, long_len=(300, 400), short_len=(16, 64), output_len=8)
    alone, long_ref, mixed = workload(cfg, 1000, 60, 5.0)
    shorts = [s for s in mixed if s.klass == "short"]
    assert [len(a.prompt_token_ids) for a in alone] == [len(s.prompt_token_ids) for s in shorts]
    assert [a.arrival_s for a in alone] == [s.arrival_s for s in shorts]
    assert len(long_ref) == 1 and len(long_ref[0].prompt_token_ids) == len(
        next(s for s in mixed if s.klass == "long").prompt_token_ids
    )
    first_blocks = {tuple(s.prompt_token_ids[:16]) for s in mixed}
    assert not any(tuple(r.prompt_token_ids[:16]) in first_blocks for r in alone + long_ref)
