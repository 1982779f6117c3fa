import json
import urllib.error
import urllib.request

import numpy as np
import pytest

from econalign.cli import build_parser
from econalign.serve.completions import RequestError, complete
from econalign.serve.server import AgentServer, served_name

from .fakes_serve import FakeLM

PROMPT = [{"role": "system", "content": "You play games."}, {"role": "user", "content": "Pick A, B or C."}]
OPTIONS = ["Decision: A", "Decision: B", "Decision: C"]


def post(url, body, headers=None):
    request = urllib.request.Request(
        url + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def served():
    agent = FakeLM()
    with AgentServer(agent, model_name="fake") as server:
        yield agent, server


def test_models_lists_the_served_name(served):
    _, server = served
    with urllib.request.urlopen(server.base_url + "/models", timeout=30) as response:
        listing = json.loads(response.read())
    assert [model["id"] for model in listing["data"]] == ["fake"]


def test_greedy_reply_and_token_logprobs_match_the_agent(served):
    agent, server = served
    status, reply = post(
        server.base_url,
        {"model": "fake", "messages": PROMPT, "max_tokens": 8, "temperature": 0, "logprobs": True, "top_logprobs": 5},
    )
    assert status == 200
    text = reply["choices"][0]["message"]["content"]
    assert text == agent.generate([PROMPT], max_new_tokens=8, temperature=0.0)[0]
    content = reply["choices"][0]["logprobs"]["content"]
    assert "".join(item["token"] for item in content) == text
    # Recompute each position's distribution in process, independently of the server's batching.
    context = agent.tokenizer.encode(agent.render(PROMPT))
    for position, token_id in enumerate(agent.tokenizer.encode(text)):
        row = agent.next_token_logprobs([context + agent.tokenizer.encode(text)[:position]])[0]
        assert content[position]["logprob"] == pytest.approx(row[token_id], abs=1e-12)
        listed = [alt["logprob"] for alt in content[position]["top_logprobs"]]
        assert listed == pytest.approx(np.sort(row)[::-1][:5].tolist(), abs=1e-12)


def test_continuation_extension_returns_the_agents_choice_logprobs(served):
    agent, server = served
    status, reply = post(
        server.base_url, {"model": "fake", "messages": PROMPT, "max_tokens": 0, "econalign_continuations": OPTIONS}
    )
    assert status == 200
    expected = agent.choice_logprobs(PROMPT, OPTIONS)
    assert reply["choices"][0]["econalign_continuation_logprobs"] == expected.tolist()
    assert reply["choices"][0]["message"]["content"] == ""


def test_prefill_continues_the_final_assistant_message(served):
    agent, server = served
    messages = [*PROMPT, {"role": "assistant", "content": "Decision:"}]
    status, reply = post(
        server.base_url,
        {
            "model": "fake",
            "messages": messages,
            "max_tokens": 3,
            "temperature": 0,
            "continue_final_message": True,
            "econalign_continuations": [" A", " B"],
        },
    )
    assert status == 200
    raw = agent.render(PROMPT) + "Decision:"
    assert reply["choices"][0]["message"]["content"] == agent.generate(raw, max_new_tokens=3)
    assert reply["choices"][0]["econalign_continuation_logprobs"] == agent.choice_logprobs(raw, [" A", " B"]).tolist()


def test_sampled_choices_follow_the_seed(served):
    agent, server = served
    body = {"model": "fake", "messages": PROMPT, "max_tokens": 6, "temperature": 1.0, "seed": 11, "n": 3}
    _, first = post(server.base_url, body)
    _, again = post(server.base_url, body)
    texts = [choice["message"]["content"] for choice in first["choices"]]
    assert texts == [choice["message"]["content"] for choice in again["choices"]]
    assert texts[0] == agent.generate([PROMPT], max_new_tokens=6, temperature=1.0, seed=11)[0]
    assert len(set(texts)) > 1


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "other", "messages": PROMPT}, 404, "model"),
        ({"model": "fake", "messages": []}, 400, "messages"),
        ({"model": "fake", "messages": PROMPT, "max_tokens": 0}, 400, "max_tokens"),
        ({"model": "fake", "messages": PROMPT, "top_logprobs": 3}, 400, "top_logprobs"),
        ({"model": "fake", "messages": PROMPT, "temperature": 3}, 400, "temperature"),
        ({"model": "fake", "messages": PROMPT, "stream": True}, 400, "stream"),
        ({"model": "fake", "messages": PROMPT, "econalign_continuations": [""]}, 400, "econalign_continuations"),
    ],
)
def test_invalid_requests_are_refused_with_openai_errors(served, body, status, param):
    _, server = served
    code, reply = post(server.base_url, body)
    assert code == status
    assert reply["error"]["param"] == param


def test_non_json_body_and_unknown_route(served):
    _, server = served
    request = urllib.request.Request(server.base_url + "/chat/completions", data=b"{not json", method="POST")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=30)
    assert error.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(server.base_url + "/nothing", timeout=30)
    assert error.value.code == 404


def test_agent_failure_is_a_server_error_and_the_server_keeps_serving():
    class Broken(FakeLM):
        def generate(self, *args, **kwargs):
            raise RuntimeError("device lost")

    with AgentServer(Broken(), model_name="fake") as server:
        code, reply = post(server.base_url, {"model": "fake", "messages": PROMPT})
        assert code == 500 and "device lost" in reply["error"]["message"]
        code, _ = post(
            server.base_url, {"model": "fake", "messages": PROMPT, "max_tokens": 0, "econalign_continuations": OPTIONS}
        )
        assert code == 200


def test_logprobs_need_next_token_logprobs():
    class NoTokens:
        tokenizer = FakeLM().tokenizer

        def generate(self, prompts, **kwargs):
            return "x"

    with pytest.raises(RequestError, match="token log-probabilities"):
        complete(NoTokens(), {"messages": PROMPT, "logprobs": True}, model_name="m")


def test_api_key_is_required_when_configured():
    with AgentServer(FakeLM(), model_name="fake", api_key="s3cret") as server:
        assert post(server.base_url, {"messages": PROMPT, "max_tokens": 1})[0] == 401
        assert (
            post(server.base_url, {"messages": PROMPT, "max_tokens": 1}, {"Authorization": "Bearer s3cret"})[0] == 200
        )


def test_cli_arguments_and_default_name():
    args = build_parser(["serve"]).parse_args(["serve", "results/prepare_model/base", "--port", "0"])
    assert (args.model_dir, args.host, args.port, args.adapter) == ("results/prepare_model/base", "127.0.0.1", 0, None)
    assert served_name("results/finetune/moralis/adapter") == "moralis"
    assert served_name(None) == "base"


def test_serve_refuses_to_start_without_the_named_key(monkeypatch):
    import sys
    import types

    from econalign.serve.server import main

    loaded = []
    monkeypatch.setitem(sys.modules, "econalign.model.agent", types.SimpleNamespace(load_agent=loaded.append))
    monkeypatch.delenv("ECONALIGN_TEST_SERVE_KEY", raising=False)
    args = build_parser(["serve"]).parse_args(["serve", "model-dir", "--api-key-env", "ECONALIGN_TEST_SERVE_KEY"])
    with pytest.raises(SystemExit, match="ECONALIGN_TEST_SERVE_KEY is empty or unset"):
        main(args)
    assert loaded == []  # refused before loading the model: never served without the key


def test_max_tokens_limit_refuses_longer_requests():
    with AgentServer(FakeLM(), model_name="fake", max_tokens_limit=8) as server:
        assert post(server.base_url, {"messages": PROMPT, "max_tokens": 8})[0] == 200
        code, reply = post(server.base_url, {"messages": PROMPT, "max_tokens": 9})
        assert code == 400 and reply["error"]["param"] == "max_tokens"


@pytest.mark.parametrize(("length", "status"), [("-1", 400), ("abc", 400), ("999999999", 413)])
def test_bad_or_huge_content_length_is_refused_without_reading_and_closes(served, length, status):
    import http.client
    from urllib.parse import urlsplit

    _, server = served
    address = urlsplit(server.base_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    connection.putrequest("POST", address.path.rstrip("/") + "/chat/completions")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", length)
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == status and "error" in json.loads(response.read())
    assert response.getheader("Connection", "").lower() == "close"
    connection.close()
