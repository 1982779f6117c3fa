"""Settings of one hosted model: an entry of the config's ``hosted:`` list, defaults from the schema.

The schema (``resources/config.schema.yaml``, ``properties/hosted``) is the single source of every key's
default, bounds and description; :meth:`HostedSettings.from_entry` validates an entry through it.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import urllib.parse
from collections.abc import Mapping
from typing import Any

import jsonschema


@dataclasses.dataclass(frozen=True)
class HostedSettings:
    """One hosted model, as configured (see the schema for each field's meaning and bounds).

    No field holds a secret: ``api_key_env`` names the environment variable the key is read from.
    """

    name: str
    backend: str
    base_url: str
    model: str
    temperature: float | None
    n_samples: int
    n_per_request: int
    max_concurrency: int
    api_key_env: str | None
    logprobs: bool
    logprob_method: str
    top_logprobs: int
    score_max_tokens: int
    max_tokens: int
    max_tokens_param: str
    reasoning_effort: str | None
    seed: int | None
    logprob_floor: float
    timeout: float
    max_retries: int
    backoff_initial: float
    backoff_factor: float
    backoff_max: float
    cache_dir: str
    extra_body: Mapping[str, Any]

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> HostedSettings:
        """Validate one ``hosted:`` entry against the schema, fill its defaults and build the settings.

        Raises:
            econalign.config.ConfigError: If a key is unknown, missing or out of bounds (the message names it).
        """
        resolved = resolve_entry(entry)
        return cls(**{field.name: resolved[field.name] for field in dataclasses.fields(cls)})

    def public(self) -> dict[str, Any]:
        """The settings as a JSON-able dict, safe to write: no secret, ``base_url`` without its credentials."""
        from econalign.serve.transport import strip_credentials

        record = dataclasses.asdict(self)
        record["base_url"] = strip_credentials(self.base_url)
        record["extra_body"] = dict(self.extra_body)
        return record


@functools.cache
def _entry_schema() -> dict[str, Any]:
    from econalign.config import load_schema

    return load_schema()["properties"]["hosted"]["items"]


def resolve_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one ``hosted:`` entry against the schema and return a copy with every default filled in.

    Raises:
        econalign.config.ConfigError: Listing each offending key, e.g. ``hosted/top_logprobs: 50 is greater
            than the maximum of 20``.
    """
    from econalign.config import ConfigError

    schema = _entry_schema()
    resolved = copy.deepcopy(dict(entry))
    for key, subschema in schema["properties"].items():
        if key not in resolved and "default" in subschema:
            resolved[key] = copy.deepcopy(subschema["default"])
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(resolved), key=lambda e: list(map(str, e.path)))
    if errors:
        lines = [f"  hosted/{'/'.join(map(str, error.path)) or '(entry)'}: {error.message}" for error in errors]
        raise ConfigError("invalid econalign configuration:\n" + "\n".join(lines))
    return resolved


def hosted_names(config: Mapping[str, Any]) -> list[str]:
    """Names of the hosted models of a resolved config, in config order."""
    return [entry["name"] for entry in config.get("hosted", [])]


def hosted_name_errors(config: Mapping[str, Any]) -> list[str]:
    """Describe hosted names that repeat or collide with an agent (or ``base``): they share result paths.

    Returns:
        One line per problem, each starting with the ``hosted`` key; empty when the names are fine.
    """
    names = hosted_names(config)
    duplicates = sorted({name for name in names if names.count(name) > 1})
    taken = {"base", *(agent["name"] for agent in config.get("agents", []))}
    clashes = sorted(set(names) & taken)
    problems = []
    if duplicates:
        problems.append(f"hosted: duplicate names {duplicates}")
    if clashes:
        problems.append(f"hosted: names {clashes} are already used by local agents")
    return problems


def hosted_url_errors(config: Mapping[str, Any]) -> list[str]:
    """Describe ``base_url`` values that carry a user name or password, without repeating them.

    urllib would take ``user:password@host`` for the host name (the password would reach the name lookup, and the
    request would never authenticate); keys belong in the variable ``api_key_env`` names.

    Returns:
        One line per problem, each starting with the entry's key path; empty when every URL is fine.
    """
    problems = []
    for index, entry in enumerate(config.get("hosted", [])):
        parts = urllib.parse.urlsplit(str(entry.get("base_url", "")))
        if parts.username is not None or parts.password is not None:
            problems.append(
                f"hosted/{index}/base_url: a user name or password in the URL is not supported (it never "
                "authenticates and would be sent to the name lookup); put the key in the environment variable "
                "that api_key_env names"
            )
    return problems


def hosted_entry(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Return the ``hosted:`` entry called ``name`` of a resolved config.

    Raises:
        econalign.config.ConfigError: If the config defines no hosted model ``name`` (the message lists the names it
            defines; ``econalign evaluate --hosted NAME`` reports it in one line and exits with status 2).
    """
    from econalign.config import ConfigError

    for entry in config.get("hosted", []):
        if entry["name"] == name:
            return dict(entry)
    known = ", ".join(hosted_names(config)) or "none"
    raise ConfigError(f"unknown hosted model {name!r}; the config defines: {known}")
