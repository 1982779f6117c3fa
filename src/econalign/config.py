"""Load, validate and complete the workflow configuration.

The JSON schema in ``resources/config.schema.yaml`` is the single source of truth for every key, its
default and its bounds. Snakemake validates ``config`` through the same function, so a bad key or
value fails before any job runs, with an error that names the key.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from econalign.serve import hosted_name_errors, hosted_url_errors

SCHEMA_RESOURCE = "config.schema.yaml"


class ConfigError(ValueError):
    """A configuration that does not satisfy the schema; the message names every offending key."""


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    # Parsing the YAML costs about 0.35 s; every validation shares one parsed copy and never modifies it.
    text = resources.files("econalign.resources").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def load_schema() -> dict[str, Any]:
    """Return the configuration JSON schema as a dict (a fresh copy: the caller may modify it)."""
    return copy.deepcopy(_schema())


def _extend_with_defaults(validator_class: type) -> type:
    # jsonschema validates but never fills defaults: wrap the "properties" keyword so that a missing
    # property is set to a deep copy of its default before its own subschema is validated.
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator: Any, properties: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]) -> Any:
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if name not in instance and "default" in subschema:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_DefaultingValidator = _extend_with_defaults(jsonschema.Draft202012Validator)


def _key_path(error: jsonschema.ValidationError) -> str:
    return "/".join(str(part) for part in error.absolute_path) or "(top level)"


def _message(error: jsonschema.ValidationError) -> str:
    # jsonschema words a failed "not" as "0 should not be valid under {'const': 0}"; the key's description says more.
    if error.validator == "not" and "description" in error.schema:
        return f"{error.instance!r} is not allowed ({error.schema['description']})"
    expected = error.schema.get("type")
    hinted = "type" if expected == "string" else "enum"  # one hint per key, on the error the schema gives first
    if isinstance(error.instance, bool) and error.validator == hinted:
        # YAML 1.1 reads unquoted on/off/yes/no as booleans: `latex: off` arrives as False.
        return f"{error.message} (YAML reads an unquoted on, off, yes or no as a boolean: quote the value)"
    return error.message


RUNTIME_SETTINGS: tuple[tuple[str, ...], ...] = (
    ("finetune", "progress"),
    ("finetune", "checkpoint_every"),
    ("finetune", "keep_checkpoint"),
    ("pricing", "checkpoint_every"),
    ("tracking",),
)
"""Config paths that change how a stage runs but none of its results: progress bars, checkpoint intervals (a resumed
run ends with the same weights) and experiment tracking. The workflow passes them outside the params Snakemake tracks
(``--runtime-json``), so switching one reruns nothing, and outputs neither record nor hash them. ``evaluate.cache``
is not one: a cached score was computed in another call, whose batches and shared prompt prefixes can differ from
this one's, so it may differ from a fresh score at rounding level (sampled replies no longer differ: each item has
its own seed)."""


def runtime_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The :data:`RUNTIME_SETTINGS` of a configuration, as a nested dict (paths it lacks are left out)."""
    out: dict[str, Any] = {}
    for path in RUNTIME_SETTINGS:
        node: Any = config
        for part in path:
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
        else:
            target = out
            for part in path[:-1]:
                target = target.setdefault(part, {})
            target[path[-1]] = copy.deepcopy(node)
    return out


REPORT_SETTINGS: tuple[tuple[str, ...], ...] = (
    ("pricing", "metric_window"),
    ("pricing", "price_war_length"),
)
"""Config paths that only the applications report reads: the pricing simulation neither receives nor records them
(:func:`without_report_settings`), so changing one reruns the report alone, not the simulation."""


def without_runtime_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a configuration without its :data:`RUNTIME_SETTINGS`: what a result depends on."""
    return _without(config, RUNTIME_SETTINGS)


def without_report_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a configuration without its :data:`REPORT_SETTINGS` (a :class:`StageConfig` stays one)."""
    out = _without(config, REPORT_SETTINGS)
    given = getattr(config, "given", None)
    return out if given is None else StageConfig(out, given=given)


def _without(config: Mapping[str, Any], paths: Sequence[tuple[str, ...]]) -> dict[str, Any]:
    out = copy.deepcopy(dict(config))
    for path in paths:
        node: Any = out
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return out


def merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra``'s keys over it, section by section: a section named in ``extra`` keeps its other keys."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


class StageConfig(dict):
    """A resolved configuration that remembers which top-level sections its caller gave.

    Snakemake hands each stage only the sections it reads (``stage_config`` in ``workflow/rules/common.smk``);
    validation fills the others with schema defaults, which the stage never reads and which need not be the
    study's. :func:`econalign.io.provenance` records the given sections only (less the :data:`RUNTIME_SETTINGS`), so
    a stage's provenance never shows a default as if the study had used it.

    Attributes:
        given: The top-level keys the caller passed, sorted.
    """

    def __init__(self, resolved: Mapping[str, Any], *, given: Iterable[str]) -> None:
        super().__init__(resolved)
        self.given = tuple(sorted(given))


def validate_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a configuration and return a completed copy with every default filled in.

    Args:
        config: The configuration as read from YAML (may be partial).

    Returns:
        A new dict: the configuration with all defaults, derived agents (``kappa_grid``) expanded.

    Raises:
        ConfigError: If any key is unknown or any value is out of its bounds, or agent or hosted names repeat or
            collide (they share result paths); the message lists each problem with its key path, e.g.
            ``finetune/learning_rate: -1 is less than the minimum of 0``.
    """
    if not isinstance(config, Mapping):
        raise ConfigError(f"invalid econalign configuration: expected a mapping of keys, got {type(config).__name__}")
    resolved = copy.deepcopy(dict(config))
    kappa_lines = _kappa_errors(config)  # before the schema's default kappa of 0 hides a missing one
    validator = _DefaultingValidator(_schema())
    errors = sorted(validator.iter_errors(resolved), key=lambda e: [str(p) for p in e.absolute_path])
    if errors or kappa_lines:
        lines = [f"  {_key_path(error)}: {_message(error)}" for error in errors]
        lines += [f"  {line}" for line in kappa_lines]
        raise ConfigError("invalid econalign configuration:\n" + "\n".join(lines))
    problems = [*_relation_errors(resolved), *_expand_kappa_grid(resolved), *_name_errors(resolved)]
    if problems:
        raise ConfigError("invalid econalign configuration:\n" + "\n".join(f"  {line}" for line in problems))
    return resolved


def _kappa_errors(config: Mapping[str, Any]) -> list[str]:
    # A moralis agent without kappa would silently be homo moralis with kappa 0, i.e. economicus; an economicus agent
    # with a kappa would look like a moralis one in the config while trained as economicus.
    agents = config.get("agents")
    errors = []
    for index, agent in enumerate(agents if isinstance(agents, list) else []):
        if not isinstance(agent, Mapping):
            continue
        kappa = agent.get("kappa")
        if agent.get("preference") == "moralis" and "kappa" not in agent:
            errors.append(f"agents/{index}/kappa: a moralis agent needs its kappa (0 to 1)")
        elif agent.get("preference") == "economicus" and kappa not in (None, 0):
            errors.append(f"agents/{index}/kappa: {kappa!r} given to an economicus agent (homo moralis with kappa 0)")
    return errors


def _name_errors(config: Mapping[str, Any]) -> list[str]:
    # Agent and hosted names are result paths, so they must be unique and leave 'base' to the untuned model.
    names = [agent["name"] for agent in config["agents"]]
    errors = []
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        errors.append(f"agents: duplicate agent names {duplicates}")
    if "base" in names:
        errors.append("agents: 'base' is reserved for the untuned model")
    return [*errors, *hosted_name_errors(config), *hosted_url_errors(config)]


def _relation_errors(config: Mapping[str, Any]) -> list[str]:
    # Constraints between keys, which the schema cannot state; checked here so that they fail before any job runs.
    data, finetune = config["data"], config["finetune"]
    errors = []
    overlap = sorted(set(data["families_train"]) & set(data["families_test"]))
    if overlap:
        errors.append(f"data/families_test: must not overlap data/families_train, both list {overlap}")
    from econalign.data.draws import MAX_PAYOFF_RANGE

    for key in ("payoff_max", "test_payoff_max"):
        if data[key] - data["payoff_min"] < 3:
            errors.append(f"data/{key}: {data[key]} must exceed data/payoff_min ({data['payoff_min']}) by at least 3")
        elif data[key] - data["payoff_min"] > MAX_PAYOFF_RANGE:
            errors.append(
                f"data/{key}: {data[key]} exceeds data/payoff_min ({data['payoff_min']}) by more than "
                f"{MAX_PAYOFF_RANGE} (the synthesis enumerates every game of the range)"
            )
    for key in ("label_sets", "label_sets_unseen"):
        for letters in data[key]:
            if len(set(letters)) != len(letters):
                errors.append(f"data/{key}: label set {letters!r} repeats a letter")
    # A two-option item uses the first two letters, so sets that agree there label it alike; test_labels must not
    # pose what training posed (in order), nor a swapped order that another training set trains.
    seen = {letters[:2]: letters for letters in data["label_sets"]}
    for letters in data["label_sets_unseen"]:
        if letters[:2] in seen:
            errors.append(
                f"data/label_sets_unseen: {letters!r} labels two-option items {letters[0]}, {letters[1]} as the "
                f"training set {seen[letters[:2]]!r} does"
            )
    for letters in data["label_sets"]:
        swapped = letters[1::-1]
        if swapped in seen and letters[:2] < swapped:  # each such pair once
            errors.append(
                f"data/label_sets: {seen[swapped]!r} trains the swapped order {swapped[0]}, {swapped[1]} of "
                f"{letters!r}, which test_labels holds out"
            )
    clash = sorted({agent["name"] for agent in config["agents"]} & set(config["pricing"]["reference_opponents"]))
    if clash:
        errors.append(f"agents: names {clash} are also pricing/reference_opponents (a pairing names its firms)")
    errors.extend(_price_grid_errors(config["pricing"]))
    if data["reasoning_first"] and finetune["max_target_tokens"] is not None:
        errors.append(
            "finetune/max_target_tokens: cuts a target from its end, where data/reasoning_first puts the decision line "
            "(use one or the other)"
        )
    if finetune["batch_size"] % finetune["grad_accum"]:
        errors.append(
            f"finetune/grad_accum: {finetune['grad_accum']} does not divide finetune/batch_size "
            f"{finetune['batch_size']} (each optimiser step is split into equal microbatches)"
        )
    elif min(finetune["mesh"].values()) > 0:  # an explicit mesh; -1 sizes are checked on the devices, in the job
        rows, devices = finetune["batch_size"] // finetune["grad_accum"], math.prod(finetune["mesh"].values())
        if rows % devices:
            errors.append(
                f"finetune/mesh: {devices} devices do not split a microbatch of {rows} rows "
                "(finetune/batch_size / finetune/grad_accum)"
            )
    return errors


def _price_grid_errors(pricing: Mapping[str, Any]) -> list[str]:
    # A firm reads and charges prices rounded to the cent, so every currency scale needs grid_size distinct ones.
    from econalign.applications.pricing_agents import market_grid
    from econalign.theory.market import LogitDuopoly

    errors = []
    for alpha in pricing["alphas"]:
        try:
            market = LogitDuopoly(alpha=alpha, **pricing["market"])
            nash, monopoly = market.nash_price(), market.monopoly_price()  # the grid spans these two
        except ValueError as error:
            errors.append(f"pricing/market: {error} (at pricing/alphas {alpha})")
            continue
        if monopoly - nash < 1e-3 * alpha:
            errors.append(
                f"pricing/market: the Nash and monopoly prices nearly coincide ({nash:.4f}, {monopoly:.4f} at "
                f"pricing/alphas {alpha}), which leaves no collusion to measure; raise the quality a above the "
                "outside good's a0"
            )
            continue
        try:
            market_grid(market, pricing["grid_size"])
        except ValueError as error:
            errors.append(f"pricing/alphas: {error}; use a larger scale or a smaller pricing/grid_size")
    return errors


def _expand_kappa_grid(config: dict[str, Any]) -> list[str]:
    # Adds one moralis agent per new grid value; returns an error line for each value whose agent name (a result path)
    # is already taken by an agent with another preference or kappa.
    agents = {agent["name"]: agent for agent in config["agents"]}
    errors = []
    for kappa in config.get("kappa_grid", []):
        name = kappa_agent_name(kappa)
        if name not in agents:
            agents[name] = {"name": name, "preference": "moralis", "kappa": float(kappa)}
            config["agents"].append(agents[name])
        elif agents[name].get("preference") != "moralis" or agents[name].get("kappa") != float(kappa):
            errors.append(
                f"kappa_grid: {kappa} would be agent {name!r}, which already is {_describe(agents[name])} "
                "(agent names round kappa to hundredths)"
            )
    return errors


def _describe(agent: Mapping[str, Any]) -> str:
    kappa = agent.get("kappa")
    moralis = agent.get("preference") == "moralis" and kappa is not None
    return agent.get("preference", "?") + (f" with kappa {kappa}" if moralis else "")


def kappa_agent_name(kappa: float) -> str:
    """Name of the κ-grid agent for ``kappa`` (``moralis_k25`` for κ = 0.25).

    Example:
        >>> kappa_agent_name(0.25)
        'moralis_k25'
    """
    return f"moralis_k{round(kappa * 100):d}"


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read a YAML configuration file (or start from the defaults), apply overrides, validate and complete it.

    Args:
        path: A YAML file; ``None`` starts from an empty config (all defaults).
        overrides: Top-level keys replacing those of the file.

    Returns:
        The resolved configuration.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle) or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"invalid econalign configuration: {path} must hold a mapping at the top level")
    if overrides:
        raw.update(overrides)
    return validate_config(raw)


def agent_spec(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Return the agent entry called ``name`` from a resolved config (ConfigError listing known names otherwise)."""
    for agent in config["agents"]:
        if agent["name"] == name:
            return dict(agent)
    known = ", ".join(agent["name"] for agent in config["agents"])
    raise ConfigError(f"unknown agent {name!r}; the config defines: {known}")
