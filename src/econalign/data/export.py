"""Export the synthetic training splits as chat fine-tuning JSONL (``econalign export-openai``).

Each dataset row becomes one line ``{"messages": [...prompt messages, {"role": "assistant", "content": target}]}``,
the format of OpenAI's chat fine-tuning API (also read by most open fine-tuning tools). Rows keep the order of
the parquet file; lines are compact JSON with sorted keys and non-ASCII characters kept, one example per line, so
the same dataset always gives the same bytes. A ``provenance.json`` beside the files records the sha256 and
row count of each source and output file.

CLI: ``econalign export-openai --data results/synthesize/{agent} --out results/export_openai/{agent}``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from econalign.data.synthesize import SPLITS
from econalign.io import MissingInputError, provenance, sha256_file, write_atomic, write_json

DEFAULT_SPLITS = ("train", "validation")
ROLES = ("system", "user", "assistant")


def chat_example(messages: Sequence[Mapping[str, Any]], target: str) -> dict[str, Any]:
    """One fine-tuning example: the prompt messages followed by the assistant's target.

    Args:
        messages: The prompt's chat messages (``{"role", "content"}``), without the answer.
        target: The assistant reply to learn.

    Returns:
        ``{"messages": [...]}`` with the target appended as the assistant message.

    Raises:
        ValueError: A message without a known role or string content, or an empty target.

    Example:
        >>> chat_example([{"role": "user", "content": "Pick A or B."}], "Decision: A")
        {'messages': [{'role': 'user', 'content': 'Pick A or B.'}, {'role': 'assistant', 'content': 'Decision: A'}]}
    """
    clean = []
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if role not in ROLES or not isinstance(content, str):
            raise ValueError(f"invalid chat message {dict(message)!r}")
        clean.append({"role": role, "content": content})
    if not isinstance(target, str) or not target:
        raise ValueError("the target must be a non-empty string")
    return {"messages": [*clean, {"role": "assistant", "content": target}]}


def jsonl_lines(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """Serialise dataset rows (``messages`` as a JSON string or list, ``target``) to JSONL bytes.

    Raises:
        ValueError: For an invalid row; the message names its ``id``.
    """
    lines = []
    for row in rows:
        messages = row["messages"]
        try:
            if isinstance(messages, str):
                messages = json.loads(messages)
            example = chat_example(messages, row["target"])
        except (ValueError, TypeError, AttributeError) as error:
            raise ValueError(f"row {row.get('id')!r}: {error}") from None
        lines.append(json.dumps(example, sort_keys=True, ensure_ascii=False, separators=(",", ":")))
    return "".join(line + "\n" for line in lines).encode("utf-8")


def export_openai(
    data_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, splits: Sequence[str] = DEFAULT_SPLITS
) -> list[Path]:
    """Write ``{out_dir}/{split}.jsonl`` for each split of ``{data_dir}/{split}.parquet``, and ``provenance.json``.

    Args:
        data_dir: One agent's dataset folder (``results/synthesize/{agent}``).
        out_dir: Destination folder (created).
        splits: The splits to export (training splits only by default; test splits stay held out).

    Returns:
        The JSONL files written, in split order.

    Raises:
        MissingInputError: A split's parquet file is missing (a FileNotFoundError).
        ValueError: A row is not a valid chat example.
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    written, files = [], {}
    for split in splits:
        source = data_dir / f"{split}.parquet"
        if not source.is_file():
            raise MissingInputError(f"{source} does not exist; run the synthesize rule first")
        frame = pl.read_parquet(source, columns=["id", "messages", "target"])
        path = write_atomic(out_dir / f"{split}.jsonl", jsonl_lines(frame.iter_rows(named=True)))
        written.append(path)
        files[split] = {
            "source": source.as_posix(),
            "source_sha256": sha256_file(source),
            "output": path.name,
            "output_sha256": sha256_file(path),
            "rows": frame.height,
        }
    write_json(out_dir / "provenance.json", provenance(format="openai-chat-jsonl", splits=files))
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``econalign export-openai``."""
    parser.add_argument("--data", required=True, metavar="DIR", help="dataset folder: results/synthesize/{agent}")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder, e.g. results/export_openai/{agent}")
    parser.add_argument(
        "--splits",
        nargs="+",
        default=list(DEFAULT_SPLITS),
        choices=SPLITS,
        metavar="SPLIT",
        help=f"splits to export, of {', '.join(SPLITS)} (default: train validation)",
    )


def main(args: argparse.Namespace) -> int:
    """Run ``econalign export-openai``."""
    for path in export_openai(args.data, args.out, splits=args.splits):
        print(path)
    return 0
