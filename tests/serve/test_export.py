import json

import polars as pl
import pytest

from econalign.cli import main as cli_main
from econalign.data.export import export_openai
from econalign.io import write_parquet


def dataset(rows):
    return pl.DataFrame(
        {
            "id": [f"item-{i}" for i in range(len(rows))],
            "split": ["train"] * len(rows),
            "messages": [json.dumps(messages) for messages, _ in rows],
            "target": [target for _, target in rows],
            "kappa": [0.5] * len(rows),
        }
    )


ROWS = [
    (
        [
            {"role": "system", "content": "You are a player."},
            {"role": "user", "content": "Cooperate (A) or defect (B)?"},
        ],
        "Decision: B\nDefecting pays 5 > 3 whatever the other does.",
    ),
    ([{"role": "user", "content": "Spieler: Kooperieren — A oder B?"}], "Decision: A\nκ = 0.5 favours A."),
]


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "synthesize" / "moralis"
    write_parquet(folder / "train.parquet", dataset(ROWS))
    write_parquet(folder / "validation.parquet", dataset(ROWS[::-1]))
    return folder


def test_export_appends_the_target_as_assistant_message(data_dir, tmp_path):
    train, validation = export_openai(data_dir, tmp_path / "out")
    lines = train.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(ROWS)
    for line, (messages, target) in zip(lines, ROWS, strict=True):
        assert json.loads(line) == {"messages": [*messages, {"role": "assistant", "content": target}]}
    assert "κ" in train.read_text(encoding="utf-8")  # non-ASCII kept, not escaped
    assert json.loads(validation.read_text().splitlines()[0])["messages"][0] == ROWS[1][0][0]
    record = json.loads((tmp_path / "out" / "provenance.json").read_text())
    assert record["splits"]["train"]["rows"] == 2 and record["format"] == "openai-chat-jsonl"


def test_export_bytes_are_deterministic(data_dir, tmp_path):
    assert cli_main(["export-openai", "--data", str(data_dir), "--out", str(tmp_path / "a")]) == 0
    assert cli_main(["export-openai", "--data", str(data_dir), "--out", str(tmp_path / "b")]) == 0
    for name in ("train.jsonl", "validation.jsonl", "provenance.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    # Rewriting the dataset with the same content gives the same export.
    write_parquet(data_dir / "train.parquet", dataset(ROWS))
    export_openai(data_dir, tmp_path / "c")
    assert (tmp_path / "c" / "train.jsonl").read_bytes() == (tmp_path / "a" / "train.jsonl").read_bytes()


def test_invalid_rows_and_missing_splits_are_errors(tmp_path):
    folder = tmp_path / "bad"
    write_parquet(folder / "train.parquet", dataset([([{"role": "narrator", "content": "x"}], "Decision: A")]))
    with pytest.raises(ValueError, match="item-0"):
        export_openai(folder, tmp_path / "out", splits=["train"])
    with pytest.raises(FileNotFoundError, match="validation"):
        export_openai(folder, tmp_path / "out", splits=["validation"])
