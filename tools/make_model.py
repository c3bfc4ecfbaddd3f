"""Build an offline Qwen2.5-7B-Instruct-shaped model dir: real config, synthetic word-level tokenizer.

    python3 tools/make_model.py /tmp/models/qwen2.5-7b    # also writes /tmp/models/qwen2.5-7b-tokenizer

Weights are not written: vLLM's load_format="dummy" initialises them randomly, which keeps
kernel shapes (and so speed) identical to the real checkpoint.
"""

import json
import sys
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers

out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/models/qwen2.5-7b-dummy")
out.mkdir(parents=True, exist_ok=True)
VOCAB = 152064
cfg = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "hidden_act": "silu",
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-06,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "vocab_size": VOCAB,
    "use_sliding_window": False,
    "sliding_window": 131072,
    "max_window_layers": 28,
    "attention_dropout": 0.0,
    "initializer_range": 0.02,
    "use_cache": True,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
}
(out / "config.json").write_text(json.dumps(cfg, indent=2))
specials = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645}
vocab = {f"w{i}": i for i in range(VOCAB) if i not in specials.values()}
vocab.update(specials)
tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<|endoftext|>"))
tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
# transformers 5 ignores tokenizer_class next to a qwen2 config.json, so the tokenizer gets its own dir
tdir = out.parent / (out.name + "-tokenizer")
tdir.mkdir(exist_ok=True)
tok.save(str(tdir / "tokenizer.json"))
(tdir / "tokenizer_config.json").write_text(
    json.dumps(
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": 32768,
            "eos_token": "<|im_end|>",
            "pad_token": "<|endoftext|>",
            "bos_token": None,
            "unk_token": "<|endoftext|>",
        }
    )
)
print("model dir", out, "tokenizer dir", tdir)
