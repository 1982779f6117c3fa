"""The command line reports a user's mistake (a wrong name, folder or flag) as one line naming it, with no traceback."""

import json

import pytest

from econalign.cli import main

CONFIG = json.dumps({"seed": 0})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["synthesize", "--agent", "nobody", "--out", "{tmp}/s"], "unknown agent 'nobody'; the config defines"),
        (
            ["evaluate", "--agent", "nobody", "--model", "m", "--adapter", "a", "--data", "{tmp}", "--out", "{tmp}/e"],
            "unknown agent 'nobody'",
        ),
        (
            ["finetune", "--agent", "economicus", "--model", "m", "--data", "{tmp}", "--out", "{tmp}/f"],
            "holds no train.parquet: the data folder is the agent's own (results/synthesize/economicus)",
        ),
        (["pricing", "--pairing", "moralis", "--out", "{tmp}/p.parquet"], "is not of the form 'firm1__firm2'"),
        (["export-openai", "--data", "{tmp}", "--out", "{tmp}/x"], "train.parquet does not exist"),
        (
            ["report-games", "--evaluations", "{tmp}", "--out", "{tmp}", "--index"],
            "write the tables first (report-games without --index)",
        ),
    ],
)
def test_user_errors_exit_with_one_line_naming_the_problem(argv, message, tmp_path, capsys):
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    takes_config = argv[0] != "export-openai"
    assert main([*argv, *(["--config-json", CONFIG] if takes_config else [])]) == 2
    err = capsys.readouterr().err
    assert message in err and f"econalign {argv[0]}: " in err and "Traceback" not in err


def test_evaluate_needs_an_adapter_exactly_for_an_aligned_agent(tmp_path):
    common = ["--model", "m", "--data", str(tmp_path), "--out", str(tmp_path / "e"), "--config-json", CONFIG]
    with pytest.raises(SystemExit, match="agent 'moralis' needs --adapter exactly when it is not 'base'"):
        main(["evaluate", "--agent", "moralis", *common])
    with pytest.raises(SystemExit, match="agent 'base' needs --adapter exactly when it is not 'base'"):
        main(["evaluate", "--agent", "base", "--adapter", "a", *common])


@pytest.mark.parametrize(
    "argv",
    [
        ["export-openai", "--data", "d", "--out", "o", "--splits", "nope"],
        ["report-games", "--evaluations", "e", "--out", "o", "--index", "--summary"],
    ],
)
def test_invalid_flags_are_argparse_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err or argv[0] == "report-games"
