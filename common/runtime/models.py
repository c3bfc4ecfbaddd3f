"""Model presets and what a model's config.json says about how it can be split."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from common.runtime import hardware
from common.runtime.tiny_model import build_tiny_model, tokenizer_dir

GPU_DEFAULT_MODEL = "Qwen/Qwen2.5-7B-Instruct"


class ModelNotFound(ValueError):
    pass


@dataclass
class ModelInfo:
    name: str  # what the user passed (hub id or folder)
    is_local: bool
    num_attention_heads: int
    num_key_value_heads: int
    hidden_size: int
    num_hidden_layers: int
    vocab_size: int
    intermediate_size: int
    raw: dict

    @property
    def short_name(self) -> str:
        """File-name friendly model name: last path component."""
        return Path(self.name.rstrip("/")).name or "model"

    def params_estimate(self) -> int:
        """Parameter count of a dense decoder from its config (embeddings + attention + MLP)."""
        h, L, i, v = self.hidden_size, self.num_hidden_layers, self.intermediate_size, self.vocab_size
        head_dim = h // self.num_attention_heads
        kv = self.num_key_value_heads * head_dim
        attn = h * h + 2 * h * kv + h * h
        mlp = 3 * h * i
        emb = v * h * (1 if self.raw.get("tie_word_embeddings") else 2)
        return L * (attn + mlp) + emb


def default_engine_kwargs() -> dict:
    """The preset: on a GPU the course's Qwen default; on CPU (or with LAB_DEFAULTS=cpu) the tiny local model, built
    on first use."""
    if not hardware.small_defaults():
        return {"model": GPU_DEFAULT_MODEL}
    path = build_tiny_model()
    return {"model": str(path), "tokenizer": str(tokenizer_dir(path)), "enforce_eager": True, "max_model_len": 4096}


def looks_local(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or Path(name).expanduser().exists() or name.count("/") != 1


def load_model_info(name: str) -> ModelInfo:
    """Read config.json from a folder or the hub; raise ModelNotFound with a one-line reason."""
    local = Path(name).expanduser()
    if local.is_dir():
        cfg_path = local / "config.json"
        if not cfg_path.exists():
            raise ModelNotFound(f"model folder {name!r} has no config.json")
        is_local = True
    elif looks_local(name):
        raise ModelNotFound(f"model path {name!r} does not exist")
    else:
        try:
            from huggingface_hub import hf_hub_download

            cfg_path = Path(hf_hub_download(name, "config.json"))
        except Exception as e:  # offline, unknown repo, gated ...
            raise ModelNotFound(
                f"cannot read config.json of hub model {name!r}: "
                f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            ) from None
        is_local = False
    raw = json.loads(cfg_path.read_text())
    raw = raw.get("text_config", raw) if "num_attention_heads" not in raw else raw
    try:
        heads = int(raw["num_attention_heads"])
        return ModelInfo(
            name=name,
            is_local=is_local,
            num_attention_heads=heads,
            num_key_value_heads=int(raw.get("num_key_value_heads") or heads),
            hidden_size=int(raw["hidden_size"]),
            num_hidden_layers=int(raw["num_hidden_layers"]),
            vocab_size=int(raw.get("vocab_size", 0)),
            intermediate_size=int(raw.get("intermediate_size", 0)),
            raw=raw,
        )
    except KeyError as e:
        raise ModelNotFound(f"config.json of {name!r} lacks {e.args[0]!r}; is it a decoder LLM?") from None


def tp_split_problem(info: ModelInfo, tp: int) -> str | None:
    """Why `tp` cannot split this model's attention, or None if it can (vLLM's own rules)."""
    if info.num_attention_heads % tp:
        return f"{info.num_attention_heads} attention heads are not divisible by TP={tp}"
    kv = info.num_key_value_heads
    if kv % tp and tp % kv:
        return f"{kv} KV heads are neither divisible by TP={tp} nor a divisor of it"
    return None


def layout_problem(info: ModelInfo, tp: int, pp: int = 1, dp: int = 1, devices: int | None = None) -> str | None:
    """Why a TP x PP x DP layout cannot run here, or None. The model's shape (heads, layers) is checked before
    the device count: a layout the model cannot split never runs, on any machine."""
    if tp > 1 and (msg := tp_split_problem(info, tp)):
        return msg
    if pp > info.num_hidden_layers:
        return f"PP={pp} exceeds the model's {info.num_hidden_layers} layers"
    if pp > 1 and not hardware.has_gpu():
        return (
            f"PP={pp} does not run on vLLM's CPU build (its model runner asserts `intermediate_tensors is not None` "
            "between stages); pipeline parallel is measured on GPUs"
        )
    devices = hardware.device_count() if devices is None else devices
    need = tp * pp * dp
    if need > devices:
        what = "GPUs" if hardware.has_gpu() else "CPU cores (one per rank; no GPU here)"
        return f"needs {need} devices, this machine has {devices} {what}"
    return None


def resolve_engine_kwargs(model: str | None, overrides: dict) -> tuple[dict, ModelInfo]:
    """Preset + --model + engine flag overrides -> (engine kwargs, ModelInfo). Raises ModelNotFound."""
    if model is None:
        kwargs = default_engine_kwargs()
    else:
        kwargs = {"model": model}
        if not hardware.has_gpu():
            kwargs["enforce_eager"] = True  # compiling costs ~40 s per configuration on CPU
    kwargs.update(overrides)
    info = load_model_info(kwargs["model"])
    return kwargs, info
