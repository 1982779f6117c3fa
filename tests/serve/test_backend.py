import io
import json
import urllib.error

import numpy as np
import pytest

from econalign.config import ConfigError
from econalign.serve import EndpointError, HostedSettings, MissingAPIKeyError, OpenAIChatAgent, load_hosted_agent
from econalign.serve.sampling import tally
from econalign.serve.server import AgentServer

from .fakes_serve import FakeLM, ScriptedServer, completion, decision_parser, noop_sleep

PROMPTS = [
    [{"role": "user", "content": "Pick A, B or C."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "A prisoner's dilemma: A, B or C?"}],
    "A raw prompt, sent as one user message.",
]
OPTIONS = ["Decision: A", "Decision: B", "Decision: C"]
KEY = "sk-test-0123456789abcdef"


def settings(base_url, **overrides):
    # The fake servers need no key (api_key_env: null); tests of the key name a variable of their own.
    entry = {
        "name": "fake",
        "model": "fake",
        "base_url": base_url,
        "backoff_initial": 0.0,
        "max_retries": 2,
        "api_key_env": None,
    }
    entry.update(overrides)
    return HostedSettings.from_entry(entry)


def in_process_prompt(prompt):
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt


@pytest.fixture(scope="module")
def served():
    agent = FakeLM()
    with AgentServer(agent, model_name="fake") as server:
        yield agent, server


@pytest.mark.parametrize("method", ["continuations", "top_logprobs"])
def test_choice_logprobs_through_the_api_equal_the_agents(served, method):
    agent, server = served
    client = OpenAIChatAgent(settings(server.base_url, logprob_method=method, max_concurrency=2))
    remote = client.choice_logprobs(PROMPTS, OPTIONS)
    local = agent.choice_logprobs([in_process_prompt(p) for p in PROMPTS], OPTIONS)
    for got, expected in zip(remote, local, strict=True):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    assert client.stats["unscorable"] == 0 and client.stats["absent_options"] == 0


def test_prefill_scores_differ_from_the_agent_by_the_prefix_only(served):
    agent, server = served
    client = OpenAIChatAgent(settings(server.base_url, logprob_method="prefill"))
    remote = client.choice_logprobs(PROMPTS[0], OPTIONS)
    local = agent.choice_logprobs(PROMPTS[0], OPTIONS)
    prefix = agent.choice_logprobs(PROMPTS[0], ["Decision:", "x"])[0]
    np.testing.assert_allclose(remote + prefix, local, rtol=0, atol=1e-9)


def test_absent_options_get_the_floor_and_are_counted(served):
    agent, server = served
    client = OpenAIChatAgent(settings(server.base_url, top_logprobs=1))
    scores = client.choice_logprobs(PROMPTS[0], OPTIONS)
    local = agent.choice_logprobs(PROMPTS[0], OPTIONS)
    best = int(np.argmax(local))
    assert scores[best] == pytest.approx(local[best], abs=1e-9)
    assert client.stats["absent_options"] == 2
    others = np.delete(scores, best)
    assert np.all(others == others[0]) and np.all(others <= scores[best])
    assert np.all(np.delete(local, best) <= others)  # the floor is an upper bound of the true value


def test_per_prompt_option_lists(served):
    agent, server = served
    options = [["Decision: A", "Decision: B"], ["Decision: C", "Decision: A"]]
    client = OpenAIChatAgent(settings(server.base_url, logprob_method="continuations"))
    remote = client.choice_logprobs(PROMPTS[:2], options)
    local = agent.choice_logprobs(PROMPTS[:2], options)
    assert [r.tolist() for r in remote] == [loc.tolist() for loc in local]


def test_generate_matches_the_agent(served):
    agent, server = served
    client = OpenAIChatAgent(settings(server.base_url))
    remote = client.generate(PROMPTS, max_new_tokens=6, temperature=1.0, seed=5)
    # Through the API every prompt is sampled as the only prompt of its call.
    local = [agent.generate(in_process_prompt(p), max_new_tokens=6, temperature=1.0, seed=5) for p in PROMPTS]
    assert remote == local
    assert client.generate(PROMPTS[1], max_new_tokens=6, temperature=1.0, seed=5) == local[1]
    # One seed per prompt, as Agent.generate takes them.
    seeds = [11 + k for k in range(len(PROMPTS))]
    per_prompt = [
        agent.generate(in_process_prompt(p), max_new_tokens=6, temperature=1.0, seed=s)
        for p, s in zip(PROMPTS, seeds, strict=True)
    ]
    assert client.generate(PROMPTS, max_new_tokens=6, temperature=1.0, seed=seeds) == per_prompt
    with pytest.raises(ValueError, match="seeds"):
        client.generate(PROMPTS, max_new_tokens=6, seed=seeds[:1])


def test_sample_choices_count_parsed_replies_and_failures(served):
    agent, server = served
    client = OpenAIChatAgent(settings(server.base_url, n_samples=12, max_tokens=6, seed=3), parse=decision_parser)
    (result,) = client.sample_choices([PROMPTS[0]], ["A", "B", "C"])
    from econalign.io import derive_seed

    replies = [
        agent.generate([PROMPTS[0]], max_new_tokens=6, temperature=1.0, seed=derive_seed(3, k))[0] for k in range(12)
    ]
    expected = tally(replies, ["A", "B", "C"], decision_parser)
    assert result.replies == tuple(replies)
    assert result.counts.tolist() == expected.counts.tolist()
    assert result.n_failed == expected.n_failed
    assert 0 < result.n_failed < 12  # the fake model produces both kinds, so both paths are exercised
    assert result.counts.sum() + result.n_failed == 12


def test_sample_choices_never_turn_a_failed_parse_into_an_action():
    replies = ["Decision: A", "I would rather not say.", "Decision: B\nbecause", "", "Decision: D"]
    script = [(200, completion(text)) for text in replies]
    with ScriptedServer(script) as server:
        client = OpenAIChatAgent(settings(server.base_url, n_samples=5, logprobs=False), parse=decision_parser)
        result = client.sample_choices(PROMPTS[0], ["A", "B", "C"])
    assert result.counts.tolist() == [1, 1, 0]
    assert result.n_failed == 3 and result.parse_failure_rate == pytest.approx(0.6)
    assert result.frequencies.tolist() == [0.5, 0.5, 0.0]
    with pytest.raises(NotImplementedError, match="sample_choices"):
        client.choice_logprobs(PROMPTS[0], OPTIONS)


def test_samples_per_request_use_n(served):
    _, server = served
    client = OpenAIChatAgent(
        settings(server.base_url, n_samples=5, n_per_request=2, max_tokens=4), parse=decision_parser
    )
    before = server.request_count
    result = client.sample_choices(PROMPTS[0], ["A", "B", "C"])
    assert result.n_samples == 5 and server.request_count - before == 3


def test_cache_answers_a_repeated_run_without_requests(served, tmp_path):
    _, server = served
    kwargs = {"cache_dir": tmp_path / "cache", "parse": decision_parser}
    first = OpenAIChatAgent(settings(server.base_url, n_samples=3, max_tokens=4), **kwargs)
    scores = first.choice_logprobs(PROMPTS, OPTIONS)
    samples = first.sample_choices(PROMPTS[:1], ["A", "B", "C"])
    texts = first.generate(PROMPTS[:2], max_new_tokens=4)
    hits = server.request_count
    assert first.stats["requests"] == 3 + 3 + 2 and first.stats["cache_hits"] == 0

    second = OpenAIChatAgent(settings(server.base_url, n_samples=3, max_tokens=4), **kwargs)
    assert [s.tolist() for s in second.choice_logprobs(PROMPTS, OPTIONS)] == [s.tolist() for s in scores]
    assert second.sample_choices(PROMPTS[:1], ["A", "B", "C"])[0].replies == samples[0].replies
    assert second.generate(PROMPTS[:2], max_new_tokens=4) == texts
    assert server.request_count == hits
    assert second.stats == {**second.stats, "requests": 0, "cache_hits": 8}
    # A changed request (another seed) is not served from the cache.
    second.generate(PROMPTS[:1], max_new_tokens=4, seed=99)
    assert server.request_count == hits + 1


def test_api_key_is_sent_as_a_header_and_never_stored(tmp_path, monkeypatch):
    monkeypatch.setenv("ECONALIGN_TEST_KEY", KEY)
    with ScriptedServer([(200, completion("Decision: A"))]) as server:
        client = OpenAIChatAgent(settings(server.base_url, api_key_env="ECONALIGN_TEST_KEY"), cache_dir=tmp_path)
        client.generate(PROMPTS, max_new_tokens=4)
        assert server.authorizations == [f"Bearer {KEY}"] * 3
        assert all(KEY not in json.dumps(body) for body in server.bodies)
    files = sorted(tmp_path.rglob("*.json"))
    assert len(files) == 3
    assert all(KEY not in path.read_text() and KEY not in path.name for path in files)
    assert KEY not in repr(client) and KEY not in json.dumps(client.describe())


def test_key_echoed_by_the_server_is_redacted_from_errors(monkeypatch):
    monkeypatch.setenv("ECONALIGN_TEST_KEY", KEY)
    with ScriptedServer([(401, json.dumps({"error": {"message": f"bad key {KEY}"}}).encode())]) as server:
        client = OpenAIChatAgent(settings(server.base_url, api_key_env="ECONALIGN_TEST_KEY"))
        with pytest.raises(EndpointError) as error:
            client.generate(PROMPTS[0], max_new_tokens=4)
    assert KEY not in str(error.value) and error.value.status == 401 and server.hits == 1


@pytest.mark.parametrize(
    "failure",
    [
        (500, b'{"error": {"message": "boom"}}'),
        (429, b'{"error": {"message": "slow down"}}'),
        (200, b"this is not json"),
        (200, b'{"choices": []}'),
        (200, b'{"object": "chat.completion"}'),
    ],
)
def test_transient_failures_are_retried_then_answered(failure, tmp_path):
    waits, sleep = noop_sleep()
    with ScriptedServer([failure, failure, (200, completion("Decision: B"))]) as server:
        client = OpenAIChatAgent(
            settings(server.base_url, max_retries=3, backoff_initial=0.5), cache_dir=tmp_path, sleep=sleep
        )
        assert client.generate(PROMPTS[0], max_new_tokens=4) == "Decision: B"
        assert server.hits == 3
    assert waits == [0.5, 1.0]
    assert len(list(tmp_path.rglob("*.json"))) == 1  # only the good answer is cached


@pytest.mark.parametrize("failure", [(500, b"{}"), (503, b"down"), (200, b"<html>")])
def test_persistent_failures_are_reported_never_answered(failure, tmp_path):
    waits, sleep = noop_sleep()
    with ScriptedServer([failure]) as server:
        client = OpenAIChatAgent(settings(server.base_url, max_retries=2), cache_dir=tmp_path, sleep=sleep)
        with pytest.raises(EndpointError) as error:
            client.choice_logprobs(PROMPTS[0], OPTIONS)
        assert server.hits == 3
    assert error.value.attempts == 3 and len(waits) == 2
    assert not list(tmp_path.rglob("*.json"))


def test_retry_after_is_honoured_within_the_cap():
    waits, sleep = noop_sleep()
    with ScriptedServer([(429, b"{}"), (200, completion("ok"))], headers={"Retry-After": "7"}) as server:
        client = OpenAIChatAgent(settings(server.base_url, backoff_initial=0.1, backoff_max=5.0), sleep=sleep)
        client.generate(PROMPTS[0], max_new_tokens=2)
    assert waits == [5.0]


def test_client_errors_are_not_retried():
    with ScriptedServer([(400, b'{"error": {"message": "bad field"}}')]) as server:
        client = OpenAIChatAgent(settings(server.base_url, max_retries=5))
        with pytest.raises(EndpointError, match="bad field"):
            client.generate(PROMPTS[0], max_new_tokens=2)
        assert server.hits == 1


def test_missing_token_logprobs_is_an_error_not_a_guess():
    with ScriptedServer([(200, completion("Decision: A"))]) as server:
        client = OpenAIChatAgent(settings(server.base_url))
        with pytest.raises(EndpointError, match="log-probabilities"):
            client.choice_logprobs(PROMPTS[0], OPTIONS)


def test_unscorable_reply_gives_nan_and_is_counted():
    reply = {
        "choices": [
            {
                "message": {"role": "assistant", "content": "I pick A"},
                "logprobs": {"content": [{"token": "I pick A", "logprob": -0.1, "top_logprobs": []}]},
            }
        ]
    }
    with ScriptedServer([(200, json.dumps(reply).encode())]) as server:
        client = OpenAIChatAgent(settings(server.base_url))
        scores = client.choice_logprobs(PROMPTS[0], OPTIONS)
    assert np.isnan(scores).all() and client.stats["unscorable"] == 1


def test_request_body_follows_the_settings():
    with ScriptedServer([(200, completion("Decision: A"))]) as server:
        client = OpenAIChatAgent(
            settings(
                server.base_url,
                model="o3-mini",
                temperature=None,
                max_tokens_param="max_completion_tokens",
                reasoning_effort="low",
                extra_body={"user": "econalign"},
                logprobs=False,
                n_samples=1,
            ),
            parse=decision_parser,
        )
        client.sample_choices(PROMPTS[0], ["A", "B"])
    (body,) = server.bodies
    assert body["model"] == "o3-mini" and body["max_completion_tokens"] == 1024 and body["reasoning_effort"] == "low"
    assert "temperature" not in body and "max_tokens" not in body and body["user"] == "econalign"


def test_load_hosted_agent_validates_the_entry(tmp_path):
    agent = load_hosted_agent({"name": "gpt4o", "model": "gpt-4o", "cache_dir": str(tmp_path)})
    assert agent.cache.directory == tmp_path / "gpt4o" and agent.supports_logprobs
    assert load_hosted_agent({"name": "o3", "model": "o3-mini", "logprobs": False}, use_cache=False).cache is None
    with pytest.raises(ConfigError, match="top_logprobs"):
        load_hosted_agent({"name": "x", "model": "m", "top_logprobs": 50})
    with pytest.raises(ConfigError, match="api_key"):
        load_hosted_agent({"name": "x", "model": "m", "api_key": KEY})


def test_requests_in_flight_never_exceed_max_concurrency():
    with ScriptedServer([(200, completion("Decision: A"))], delay=0.05) as server:
        client = OpenAIChatAgent(settings(server.base_url, max_concurrency=2))
        assert client.generate([f"prompt {i}" for i in range(8)], max_new_tokens=2) == ["Decision: A"] * 8
    assert server.hits == 8 and 1 <= server.max_in_flight <= 2


@pytest.mark.parametrize(("status", "retried"), [(529, True), (520, True), (501, False), (505, False)])
def test_every_transient_5xx_is_retried_but_not_implemented(status, retried):
    waits, sleep = noop_sleep()
    with ScriptedServer([(status, b"{}"), (200, completion("Decision: A"))]) as server:
        client = OpenAIChatAgent(settings(server.base_url, max_retries=2), sleep=sleep)
        if retried:
            assert client.generate(PROMPTS[0], max_new_tokens=4) == "Decision: A"
        else:
            with pytest.raises(EndpointError):
                client.generate(PROMPTS[0], max_new_tokens=4)
        assert server.hits == (2 if retried else 1) and len(waits) == (1 if retried else 0)


def test_a_refused_reply_is_unscorable_not_fatal_and_describe_is_stable(tmp_path):
    refusal = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": None}}]}).encode()
    with ScriptedServer([(200, refusal)]) as server:
        first = OpenAIChatAgent(settings(server.base_url, logprob_method="top_logprobs"), cache_dir=tmp_path)
        scores = first.choice_logprobs(PROMPTS[0], OPTIONS)
        assert np.isnan(scores).all() and first.stats["unscorable"] == 1
        rerun = OpenAIChatAgent(settings(server.base_url, logprob_method="top_logprobs"), cache_dir=tmp_path)
        assert np.isnan(rerun.choice_logprobs(PROMPTS[0], OPTIONS)).all()
        assert server.hits == 1 and rerun.stats["cache_hits"] == 1
    # The record written beside results does not depend on what an earlier run had cached.
    assert first.describe() == rerun.describe()


def test_sampling_without_a_seed_sends_none(served):
    _, server = served
    client = OpenAIChatAgent(settings(server.base_url, seed=None))
    sampled = client.sample_choices(PROMPTS[0], ["A", "B", "C"], n=2, temperature=1.0)
    assert sampled.n_samples == 2 and int(sampled.counts.sum()) + sampled.n_failed == 2


KEY_ENV = "ECONALIGN_TEST_KEY"


@pytest.mark.parametrize("value", [None, ""])
def test_an_unset_key_stops_the_first_uncached_request_and_sends_nothing(value, tmp_path, monkeypatch):
    if value is None:
        monkeypatch.delenv(KEY_ENV, raising=False)
    else:
        monkeypatch.setenv(KEY_ENV, value)
    with ScriptedServer([(200, completion("Decision: A"))]) as server:
        client = OpenAIChatAgent(settings(server.base_url, api_key_env=KEY_ENV), cache_dir=tmp_path)
        with pytest.raises(MissingAPIKeyError) as error:
            client.generate(PROMPTS, max_new_tokens=4)
        assert server.hits == 0  # never sent unauthenticated
    assert isinstance(error.value, ConfigError)
    assert str(error.value) == (
        f"hosted model fake: {KEY_ENV} is unset or empty; export it, or set api_key_env: null for a server without auth"
    )
    assert client.stats["requests"] == 0 and not list(tmp_path.rglob("*.json"))


def test_a_fully_cached_rerun_needs_no_key(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    with ScriptedServer([(200, completion("Decision: A"))]) as server:
        first = OpenAIChatAgent(settings(server.base_url, api_key_env=KEY_ENV), cache_dir=tmp_path)
        replies = first.generate(PROMPTS, max_new_tokens=4)
        monkeypatch.delenv(KEY_ENV)
        rerun = OpenAIChatAgent(settings(server.base_url, api_key_env=KEY_ENV), cache_dir=tmp_path)
        assert rerun.generate(PROMPTS, max_new_tokens=4) == replies
        assert rerun.stats["cache_hits"] == 3 and server.hits == 3
        with pytest.raises(MissingAPIKeyError, match=KEY_ENV):  # a new request would need the key
            rerun.generate(PROMPTS[0], max_new_tokens=4, seed=7)
        assert server.hits == 3


def test_api_key_env_null_sends_no_authorization(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # the default variable is ignored when api_key_env is null
    with ScriptedServer([(200, completion("Decision: A"))]) as server:
        client = OpenAIChatAgent(settings(server.base_url, api_key_env=None))
        assert client.generate(PROMPTS[0], max_new_tokens=4) == "Decision: A"
    assert server.authorizations == [None]


PASSWORD = "pw-0123456789-secret"
CREDENTIALED = f"https://alice:{PASSWORD}@api.example.com/v1"


def test_credentials_in_base_url_stay_out_of_describe_and_repr():
    client = OpenAIChatAgent(settings(CREDENTIALED))
    record = client.describe()
    assert record["settings"]["base_url"] == "https://api.example.com/v1"
    assert record["model_id"] == "fake@https://api.example.com/v1"
    assert PASSWORD not in json.dumps(record) and "alice" not in json.dumps(record) and PASSWORD not in repr(client)
    assert client.settings.base_url == CREDENTIALED  # the settings keep the URL the requests use


class FakeUrlopen:
    """Stands in for urllib.request.urlopen: records each request's URL and raises the scripted error."""

    def __init__(self, error):
        self.error = error
        self.urls = []

    def __call__(self, request, timeout):
        self.urls.append(request.full_url)
        raise self.error(request.full_url)


def http_401(url):
    # A server that echoes the full request URL in its error body (credentials included).
    body = json.dumps({"error": {"message": f"bad credentials for {url}"}}).encode()
    return urllib.error.HTTPError(url, 401, "Unauthorized", {}, io.BytesIO(body))


def connection_refused(url):
    return urllib.error.URLError(f"cannot reach {url}")


@pytest.mark.parametrize(("failure", "attempts"), [(http_401, 1), (connection_refused, 3)])
def test_endpoint_errors_name_the_url_without_its_credentials(failure, attempts, monkeypatch):
    fake = FakeUrlopen(failure)
    monkeypatch.setattr("econalign.serve.transport.urllib.request.urlopen", fake)
    waits, sleep = noop_sleep()
    client = OpenAIChatAgent(settings(CREDENTIALED, max_retries=2), sleep=sleep)
    with pytest.raises(EndpointError) as error:
        client.generate(PROMPTS[0], max_new_tokens=4)
    message = str(error.value)
    assert message.startswith("https://api.example.com/v1/chat/completions: ")
    assert PASSWORD not in message and "alice" not in message and "[redacted]" in message
    # The request itself still goes to the URL as configured.
    assert fake.urls == [CREDENTIALED + "/chat/completions"] * attempts and error.value.attempts == attempts
    assert len(waits) == attempts - 1
