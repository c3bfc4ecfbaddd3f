"""Build the tiny random-weight Qwen2 that the CPU path runs (no download, ever).

The shape is the smallest one the vLLM CPU attention kernel accepts (head size 32: hidden 128 / 4
heads) and that still splits over two tensor-parallel ranks (4 attention heads, 2 KV heads).
The tokenizer is a byte-level BPE trained on synthetic text with the `tokenizers` library and kept in
its own folder: transformers 5 rebuilds a Qwen2Tokenizer from any folder whose config.json says qwen2,
so the engine is given `tokenizer=<that folder>` explicitly.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path

TINY_CONFIG = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "hidden_act": "silu",
    "max_position_embeddings": 4096,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "vocab_size": 2048,
    "use_sliding_window": False,
    "sliding_window": 4096,
    "max_window_layers": 2,
    "attention_dropout": 0.0,
    "initializer_range": 0.02,
    "use_cache": True,
    "bos_token_id": 0,
    "eos_token_id": 2,
}
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
VERSION = "1"  # bump when the recipe changes, so cached copies are rebuilt


def default_dir() -> Path:
    root = os.environ.get("LAB_CACHE_DIR") or Path(__file__).resolve().parents[2] / ".cache"
    return Path(root) / f"tiny-qwen2-v{VERSION}"


def tokenizer_dir(model_dir: Path) -> Path:
    return model_dir.parent / (model_dir.name + "-tokenizer")


def _synthetic_corpus(n_lines: int = 4000, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words = [
        "the",
        "gpu",
        "model",
        "token",
        "tensor",
        "parallel",
        "request",
        "batch",
        "latency",
        "memory",
        "cache",
        "prefill",
        "decode",
        "rank",
        "layer",
        "scheduler",
        "chunk",
        "throughput",
        "client",
        "server",
        "a",
        "of",
        "to",
        "and",
        "is",
        "in",
        "on",
        "with",
    ]
    syll = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "qu", "ph", "str", "ion", "ent"]
    lines = []
    for _ in range(n_lines):
        toks = []
        for _ in range(rng.randint(5, 20)):
            if rng.random() < 0.7:
                toks.append(rng.choice(words))
            else:
                toks.append("".join(rng.choice(syll) for _ in range(rng.randint(1, 3))))
            if rng.random() < 0.1:
                toks.append(str(rng.randint(0, 9999)))
        lines.append(" ".join(toks) + rng.choice([".", "?", "!", ","]))
    return lines


def _tokenizer_folder_config(folder: Path) -> None:
    """A config.json for the tokenizer folder. vLLM reads the config of the folder it loads a tokenizer from, and
    without one logs `Error parsing config ... retrying` and sleeps 2 s on every tokenizer load. Its model_type is
    deliberately not qwen2: transformers would then rebuild a Qwen2Tokenizer instead of loading tokenizer.json."""
    path = folder / "config.json"
    if not path.exists():
        path.write_text(
            json.dumps(
                {
                    "model_type": "gpt2",
                    "vocab_size": TINY_CONFIG["vocab_size"],
                    "bos_token_id": None,
                    "eos_token_id": None,
                    "_note": "tokenizer folder of the tiny model, not a model",
                },
                indent=2,
            )
        )


def build_tiny_model(out: Path | None = None, seed: int = 0) -> Path:
    """Write the model folder (config + random bf16 weights) and its tokenizer folder; return the model folder.

    Idempotent: an existing complete build is reused. Written to a temp folder and renamed, so an
    interrupted build never leaves a half model behind.
    """
    out = Path(out) if out else default_dir()
    tok_out = tokenizer_dir(out)
    if (out / "config.json").exists() and (tok_out / "tokenizer.json").exists():
        _tokenizer_folder_config(tok_out)  # builds from before it was written get it now
        return out
    out.parent.mkdir(parents=True, exist_ok=True)

    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=".build-"))
    try:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=int(str(TINY_CONFIG["vocab_size"])),
            special_tokens=SPECIALS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
        tok.train_from_iterator(_synthetic_corpus(seed=seed), trainer)
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tok,
            eos_token="<|im_end|>",
            pad_token="<|endoftext|>",
            unk_token="<|endoftext|>",
            model_max_length=TINY_CONFIG["max_position_embeddings"],
        )
        fast.save_pretrained(tmp / "tokenizer")
        _tokenizer_folder_config(tmp / "tokenizer")

        cfg = dict(TINY_CONFIG)
        cfg["bos_token_id"] = fast.convert_tokens_to_ids("<|endoftext|>")
        cfg["eos_token_id"] = fast.convert_tokens_to_ids("<|im_end|>")
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(
            Qwen2Config(**{k: v for k, v in cfg.items() if k not in ("architectures", "model_type")})
        )
        model.to(torch.bfloat16).save_pretrained(tmp / "model")
        # save_pretrained writes its own config; make sure the arch/dtype fields are as vLLM expects
        saved = json.loads((tmp / "model" / "config.json").read_text())
        saved.update({"architectures": cfg["architectures"], "torch_dtype": "bfloat16"})
        (tmp / "model" / "config.json").write_text(json.dumps(saved, indent=2))

        for src, dst in ((tmp / "tokenizer", tok_out), (tmp / "model", out)):
            if dst.exists():
                shutil.rmtree(dst)
            os.replace(src, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


if __name__ == "__main__":
    import sys

    p = build_tiny_model(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    print(f"tiny model: {p}\ntokenizer:  {tokenizer_dir(p)}")
