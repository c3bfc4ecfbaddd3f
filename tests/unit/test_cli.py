"""common.cli: lists of integers and vLLM's engine flags, parsed and refused."""

import argparse

import pytest

from common import cli


def test_int_list_parses_and_sorts():
    assert cli.int_list("4,1,2,2") == [1, 2, 4]


@pytest.mark.parametrize("bad", ["0", "abc", "1,-2", ""])
def test_int_list_rejects_bad_input(bad):
    with pytest.raises(argparse.ArgumentTypeError):
        cli.int_list(bad)


def test_engine_flags_parsed_by_vllm_parser():
    got = cli.parse_engine_flags(["--max-num-seqs", "8", "--enforce-eager", "--load-format", "dummy"])
    assert got == {"max_num_seqs": 8, "enforce_eager": True, "load_format": "dummy"}


PLAIN = [
    ["--tokenizer", "/some/tok"],
    ["--max-num-seqs", "8", "--enforce-eager", "--load-format", "dummy"],
    ["--max-num-seqs=8", "--no-enforce-eager", "--dtype", "half"],
    ["--gpu-memory-utilization", "0.5", "--seed", "0", "--seed", "3"],
    ["-tp", "1", "--trust-remote-code"],
]


@pytest.mark.parametrize("argv", PLAIN)
def test_plain_engine_flags_parse_without_vllm_as_vllm_parses_them(argv):
    """Names, numbers and switches are parsed from the flags kept for this vLLM version (no ~7 s import of vLLM in
    the script's process), to what vLLM's own parser makes of them."""
    cli.engine_parser()  # keeps this version's flags, as setup.sh does
    kept = cli._kept_flags()
    assert kept is not None and cli._parse_simple(argv, kept) == cli._parse_with_vllm(argv)


@pytest.mark.parametrize(
    "argv",
    [["--max-model-len", "1k"], ["--kv-cache-memory-bytes", "64M"], ["--dtype", "nope"], ["--seed", "x"], ["--seed"]],
)
def test_other_engine_flags_and_bad_values_go_to_vllm_parser(argv):
    cli.engine_parser()
    assert cli._parse_simple(argv, cli._kept_flags()) is None  # sizes, JSON, lists and bad values: vLLM's own words


def test_unknown_and_reserved_engine_flags_are_usage_errors():
    with pytest.raises(cli.UsageError, match="unknown"):
        cli.parse_engine_flags(["--no-such-flag", "3"])
    with pytest.raises(cli.UsageError, match="set per configuration"):
        cli.parse_engine_flags(["-tp", "2"])
