"""The command line reports hosted and serve problems in one line without a traceback: 2 for configuration, 1 for a
failed endpoint."""

import json
import sys
import types

import pytest

from econalign import cli
from econalign.config import load_schema
from econalign.serve import HostedSettings, OpenAIChatAgent
from econalign.serve.server import DTYPES

from .fakes_serve import ScriptedServer, completion

KEY_ENV = "ECONALIGN_TEST_CLI_KEY"


def hosted_command(monkeypatch, entry):
    """Register a command ``fake-hosted`` sending one request to the hosted ``entry`` (the real agent and CLI)."""

    def main(args):
        agent = OpenAIChatAgent(HostedSettings.from_entry(entry), sleep=lambda seconds: None)
        agent.generate("Pick A or B.", max_new_tokens=4)
        return 0

    module = types.ModuleType("econalign_test_fake_hosted")
    module.add_arguments = lambda parser: None
    module.main = main
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(cli.COMMANDS, "fake-hosted", (module.__name__, "Send one request to a hosted model."))


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.endswith("\n") and err.count("\n") == 1, err
    return err


def test_unset_api_key_is_a_configuration_error(monkeypatch, capsys):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with ScriptedServer([(200, completion("Decision: A"))]) as server:
        entry = {"name": "gpt4o", "model": "m", "base_url": server.base_url, "api_key_env": KEY_ENV}
        hosted_command(monkeypatch, entry)
        assert cli.main(["fake-hosted"]) == 2
        assert server.hits == 0
    assert one_line_error(capsys) == (
        f"econalign fake-hosted: hosted model gpt4o: {KEY_ENV} is unset or empty; export it, "
        "or set api_key_env: null for a server without auth\n"
    )


def test_endpoint_failure_after_retries_is_a_failed_run_in_one_line(monkeypatch, capsys):
    reply = b"<html>\n  upstream overloaded\n  please retry\n</html>"  # a proxy's multi-line error page
    with ScriptedServer([(503, reply)]) as server:
        entry = {"name": "vllm", "model": "m", "base_url": server.base_url, "api_key_env": None, "max_retries": 1}
        hosted_command(monkeypatch, entry)
        assert cli.main(["fake-hosted"]) == 1
        assert server.hits == 2
    err = one_line_error(capsys)
    assert err.startswith(f"econalign fake-hosted: {server.base_url}/chat/completions: failed after 2 attempts")
    assert "HTTP 503: <html> upstream overloaded please retry </html>" in err


def test_unknown_hosted_name_is_a_configuration_error(tmp_path, capsys):
    config = json.dumps({"hosted": [{"name": "gpt4o", "model": "gpt-4o-2024-08-06"}]})
    argv = ["evaluate", "--config-json", config, "--hosted", "nosuch", "--data", str(tmp_path), "--out", str(tmp_path)]
    assert cli.main(argv) == 2
    assert one_line_error(capsys) == "econalign evaluate: unknown hosted model 'nosuch'; the config defines: gpt4o\n"


def test_serve_reports_a_missing_model_folder(tmp_path, monkeypatch, capsys):
    loaded = []
    monkeypatch.setitem(sys.modules, "econalign.model.agent", types.SimpleNamespace(load_agent=loaded.append))
    missing = tmp_path / "nonexist"
    assert cli.main(["serve", str(missing)]) == 2
    err = one_line_error(capsys)
    assert f"econalign serve: model folder {missing} does not exist" in err and "econalign prepare-model" in err
    assert cli.main(["serve", str(tmp_path)]) == 2  # a folder that is no prepared model
    assert f"model folder {tmp_path} holds no config.json" in one_line_error(capsys)
    (tmp_path / "config.json").write_text("{}")
    assert cli.main(["serve", str(tmp_path), "--adapter", str(missing)]) == 2
    assert f"adapter folder {missing} does not exist" in one_line_error(capsys)
    assert loaded == []


class Loaded(Exception):
    """Raised by the fake load_agent: the test stops before the server starts."""


@pytest.mark.parametrize("dtype", [None, "bfloat16", "bfloat16-mixed"])
def test_serve_loads_the_model_in_the_chosen_dtype(dtype, tmp_path, monkeypatch):
    from econalign.serve.server import main

    calls = []

    def load_agent(model_dir, **kwargs):
        calls.append((model_dir, kwargs))
        raise Loaded

    monkeypatch.setitem(sys.modules, "econalign.model.agent", types.SimpleNamespace(load_agent=load_agent))
    (tmp_path / "config.json").write_text("{}")
    argv = ["serve", str(tmp_path), *(["--dtype", dtype] if dtype else [])]
    with pytest.raises(Loaded):
        main(cli.build_parser(["serve"]).parse_args(argv))
    assert calls == [(str(tmp_path), {"adapter": None, "dtype": dtype or "float32"})]


def test_serve_dtypes_are_the_configs_and_others_are_refused(capsys):
    assert list(DTYPES) == load_schema()["properties"]["model"]["properties"]["dtype"]["enum"]
    with pytest.raises(SystemExit) as exit_info:
        cli.build_parser(["serve"]).parse_args(["serve", "model", "--dtype", "float16"])
    assert exit_info.value.code == 2 and "invalid choice: 'float16'" in capsys.readouterr().err
