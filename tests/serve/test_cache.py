import json

import pytest

from econalign.serve.cache import ResponseCache, SecretLeakError, request_key, strip_credentials

URL = "http://127.0.0.1:8000/v1/chat/completions"
BODY = {"model": "m", "messages": [{"role": "user", "content": "Pick A or B."}], "temperature": 0.0, "seed": 0}


def test_key_depends_on_every_field_but_not_on_key_order():
    assert request_key(URL, BODY) == request_key(URL, dict(reversed(list(BODY.items()))))
    assert request_key(URL, BODY) != request_key(URL, {**BODY, "seed": 1})
    assert request_key(URL, BODY) != request_key(URL.replace("8000", "8001"), BODY)
    assert request_key(URL, BODY) == request_key("http://user:pw@127.0.0.1:8000/v1/chat/completions", BODY)


def test_strip_credentials():
    assert strip_credentials("https://key@api.example.com:443/v1?x=1#frag") == "https://api.example.com:443/v1?x=1"


def test_put_then_get_round_trip_and_audit_trail(tmp_path):
    cache = ResponseCache(tmp_path)
    assert cache.get(URL, BODY) is None
    response = {"choices": [{"message": {"content": "Decision: A"}}]}
    path = cache.put(URL, BODY, response)
    assert path == tmp_path / request_key(URL, BODY)[:2] / f"{request_key(URL, BODY)}.json"
    assert ResponseCache(tmp_path).get(URL, dict(reversed(list(BODY.items())))) == response
    (entry,) = list(cache.entries())
    assert entry["request"] == {"url": URL, "body": BODY} and entry["response"] == response
    assert (cache.hits, cache.misses) == (0, 1)
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_damaged_entry_counts_as_a_miss(tmp_path):
    cache = ResponseCache(tmp_path)
    path = cache.path(request_key(URL, BODY))
    path.parent.mkdir(parents=True)
    path.write_text("{truncated")
    assert cache.get(URL, BODY) is None


def test_secrets_are_never_written(tmp_path):
    cache = ResponseCache(tmp_path, secrets=["sk-secret-value"])
    with pytest.raises(SecretLeakError):
        cache.put(URL, {**BODY, "user": "sk-secret-value"}, {"ok": True})
    with pytest.raises(SecretLeakError):
        cache.put(URL, BODY, {"echo": "sk-secret-value"})
    assert not list(tmp_path.rglob("*.json"))
    cache.put(URL, BODY, {"ok": True})
    assert "sk-secret-value" not in json.dumps(list(cache.entries()))
