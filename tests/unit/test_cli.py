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


def test_unknown_and_reserved_engine_flags_are_usage_errors():
    with pytest.raises(cli.UsageError, match="unknown"):
        cli.parse_engine_flags(["--no-such-flag", "3"])
    with pytest.raises(cli.UsageError, match="set per configuration"):
        cli.parse_engine_flags(["-tp", "2"])
