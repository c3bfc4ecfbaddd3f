"""common.runtime.models: what a model's config.json says about how it can be split."""

import json

import pytest

from common.runtime import models

QWEN7B = {
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "hidden_size": 3584,
    "num_hidden_layers": 28,
    "vocab_size": 152064,
    "intermediate_size": 18944,
}


def _info(tmp_path, cfg):
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return models.load_model_info(str(tmp_path))


def test_tp8_impossible_for_qwen7b_heads(tmp_path):
    info = _info(tmp_path, QWEN7B)
    assert models.tp_split_problem(info, 8) == "28 attention heads are not divisible by TP=8"
    assert models.tp_split_problem(info, 4) is None
    assert "needs 4 devices" in models.layout_problem(info, tp=4, devices=2)
    # the heads reason wins over the device count: TP=8 on a 4-GPU machine is skipped for the heads
    assert models.layout_problem(info, tp=8, devices=4) == "28 attention heads are not divisible by TP=8"
    assert models.layout_problem(info, tp=2, devices=2) is None


def test_qwen7b_param_estimate_matches_published_size(tmp_path):
    info = _info(tmp_path, QWEN7B)
    # Qwen2.5-7B has 7.62 B parameters (the estimate leaves out biases and norms)
    assert abs(info.params_estimate() / 7.62e9 - 1) < 0.01


def test_missing_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(models.ModelNotFound, match="does not exist"):
        models.load_model_info(str(tmp_path / "nope"))
    with pytest.raises(models.ModelNotFound, match="no config.json"):
        models.load_model_info(str(tmp_path))
