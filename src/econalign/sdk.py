"""The three-line SDK: an aligned agent and its decisions, through the same functions the workflow runs.

Example:
    >>> import econalign as ea  # doctest: +SKIP
    >>> agent = ea.align("smollm2-135m-instruct", ea.HomoMoralis(kappa=0.5))  # doctest: +SKIP
    >>> agent.play(ea.games.PrisonersDilemma(T=5, R=3, P=1, S=0), belief=0.5)  # doctest: +SKIP
    Decision(action=..., label=..., probabilities={'C': ..., 'D': ...}, logprobs=..., prompt=[...])

:func:`align` runs ``prepare_model`` -> ``synthesize`` (one preference) -> ``finetune`` in a cache folder keyed by the
hash of the configuration that determines the adapter, so a second call with the same arguments loads the adapter
it made before. :func:`play` renders the game with :func:`econalign.data.templates.render_item` and scores each
option's decision line with the model's ``choice_logprobs``: nothing here re-implements a stage.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from econalign.config import kappa_agent_name, load_config, load_schema, merged
from econalign.io import config_hash, write_json

__all__ = [
    "ALIASES",
    "TRAINING_SECTIONS",
    "AlignedAgent",
    "Decision",
    "align",
    "base_agent",
    "cache_home",
    "play",
    "resolve_overrides",
]

TRAINING_SECTIONS = ("seed", "model", "agents", "data", "finetune")
"""Config sections that determine an adapter; the cache key hashes only these."""

ALIASES = {"steps": "finetune/max_steps"}
"""Short keyword names for :func:`align` (``steps=20`` caps fine-tuning at 20 optimiser steps)."""

Progress = Callable[[str], Any]


def _stderr(message: str) -> None:
    print(f"[econalign] {message}", file=sys.stderr, flush=True)


def cache_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The SDK's cache folder: ``home``, else ``$ECONALIGN_HOME``, else ``~/.cache/econalign``."""
    if home is not None:
        return Path(home).expanduser()
    env = os.environ.get("ECONALIGN_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "econalign"


@dataclasses.dataclass(frozen=True)
class Decision:
    """An agent's choice in one game.

    Attributes:
        action: The most likely action (a name from ``game.actions``).
        label: Its option label in the prompt (``"A"``).
        probabilities: Choice probability of every action (softmax over the options' log-probabilities).
        prompt: The chat messages the agent saw.
        logprobs: Summed log-probability of each action's decision line.
    """

    action: str
    label: str
    probabilities: dict[str, float]
    prompt: list[dict[str, str]]
    logprobs: dict[str, float]


def play(
    agent: Any,
    game: Any,
    *,
    belief: Any = None,
    template: str | None = None,
    labels: Sequence[str] | None = None,
    order: Sequence[int] | None = None,
) -> Decision:
    """Ask a model agent for its choice in ``game``, scored by log-probabilities (deterministic).

    Args:
        agent: Anything with ``choice_logprobs(prompts, options)`` (``econalign.model.agent.Agent``).
        game: A game from :mod:`econalign.games`.
        belief: Probability that the other player picks the first action (or a probability vector); ``None`` says
            the other player reasons exactly like the agent.
        template: A prompt template name (default: the first training paraphrase for the game's kind).
        labels: Option labels in presentation order (default ``A``, ``B``, ...).
        order: Action indices in presentation order (default: the game's order).

    Returns:
        The :class:`Decision`.
    """
    from econalign.data.templates import decision_line, render_item, template_kind, templates_for

    n = game.n_actions
    # (A group game with more levels fails on its levels in render_item, with its own hint.)
    if n != 2 and belief is not None and np.ndim(belief) == 0 and template_kind(game) != "group":
        raise ValueError(
            f"belief={belief!r} is the probability of the first of two actions, and {game.family} has {n}: pass a "
            f"probability vector over the other player's {n} actions, or None"
        )
    template = template or templates_for(template_kind(game), held_out=False)[0]
    labels = list(labels) if labels is not None else [chr(ord("A") + i) for i in range(n)]
    order = list(order) if order is not None else list(range(n))
    item = render_item(game, belief=belief, template=template, labels=labels, order=order, reasoning_first=False)
    continuations = [decision_line(option["label"]) for option in item.options]
    logprobs = np.asarray(agent.choice_logprobs([item.messages], continuations)[0], dtype=np.float64)
    if not np.all(np.isfinite(logprobs)):
        # A hosted agent's refused or unscorable reply: no choice was made, so none is reported.
        raise ValueError(f"the agent gave no log-probability for some options ({logprobs.tolist()}): no decision")
    weights = np.exp(logprobs - logprobs.max())
    probs = weights / weights.sum()
    best = int(np.argmax(logprobs))
    actions = [option["action"] for option in item.options]
    return Decision(
        action=actions[best],
        label=item.options[best]["label"],
        probabilities={action: float(p) for action, p in zip(actions, probs, strict=True)},
        prompt=item.messages,
        logprobs={action: float(lp) for action, lp in zip(actions, logprobs, strict=True)},
    )


@dataclasses.dataclass
class AlignedAgent:
    """A model agent (base or fine-tuned) with the preference it was aligned to.

    Attributes:
        agent: The scoring agent (``econalign.model.agent.Agent``).
        preference: The preference it was aligned to (``None`` for the untuned model).
        model_dir: The prepared base model directory.
        adapter: The PEFT adapter directory (``None`` for the untuned model).
        config: The resolved configuration it was trained with (``None`` for the untuned model).
    """

    agent: Any
    preference: Any = None
    model_dir: Path | None = None
    adapter: Path | None = None
    config: dict[str, Any] | None = None

    def play(self, game: Any, *, belief: Any = None, **render: Any) -> Decision:
        """The agent's choice in ``game``; see :func:`play` for the arguments."""
        return play(self.agent, game, belief=belief, **render)

    def choice_logprobs(self, prompts: Any, options: Any) -> Any:
        """Delegate to the model agent (so an ``AlignedAgent`` can be passed wherever an ``Agent`` is)."""
        return self.agent.choice_logprobs(prompts, options)

    def generate(self, prompts: Any, **kwargs: Any) -> Any:
        """Delegate to the model agent's ``generate`` (``max_new_tokens``, ``temperature``, ``seed``)."""
        return self.agent.generate(prompts, **kwargs)


def resolve_overrides(overrides: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Turn :func:`align` keywords into a nested partial config.

    A keyword is a top-level key (``seed=1``), an alias (``steps`` -> ``finetune/max_steps``), ``section__key``
    (``finetune__learning_rate=1e-3``), or a key that exactly one section defines (``learning_rate=1e-3``).

    Args:
        overrides: Keyword arguments.
        schema: The config schema (default: the packaged one).

    Returns:
        A nested dict to merge into the config.

    Raises:
        TypeError: For a keyword no section defines, or one several define (the message lists them).

    Example:
        >>> resolve_overrides({"steps": 5, "seed": 3})
        {'finetune': {'max_steps': 5}, 'seed': 3}
    """
    properties = (schema or load_schema())["properties"]
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        path = ALIASES.get(key)
        if path is None and "__" in key:
            path = key.replace("__", "/")
        if path is None and key in properties:
            path = key
        if path is None:
            owners = [name for name, section in properties.items() if key in section.get("properties", {})]
            if len(owners) != 1:
                deeper = [path for path in _nested_paths(properties, key) if path.count("__") > 1]
                if owners:
                    where = f"defined in {', '.join(owners)}; write section__{key}"
                elif deeper:
                    where = f"a nested key; write {' or '.join(deeper)}"
                else:
                    where = "not a config key"
                raise TypeError(f"align() got keyword {key!r}: {where}")
            path = f"{owners[0]}/{key}"
        node = out
        *parents, leaf = path.split("/")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return out


def _nested_paths(properties: Mapping[str, Any], key: str, prefix: str = "") -> list[str]:
    # Every "a__b__key" path of the schema that ends in key, for the hint of an unknown keyword.
    paths = []
    for name, node in properties.items():
        path = f"{prefix}{name}"
        if name == key:
            paths.append(path)
        if isinstance(node, Mapping) and "properties" in node:
            paths += _nested_paths(node["properties"], key, f"{path}__")
    return paths


def _agent_entry(preference: Any) -> dict[str, Any]:
    entry = dict(preference.config()) if hasattr(preference, "config") else dict(preference)
    entry.setdefault("kappa", 0.0)
    name = entry["preference"]
    if name == "moralis":
        name = kappa_agent_name(float(entry["kappa"]))
    return {"name": name, "preference": entry["preference"], "kappa": float(entry["kappa"])}


def _prepared_model(spec: str, home: Path, progress: Progress) -> Path:
    from econalign.model.prepare import prepare_model

    # A local path is keyed by where it points, so the same relative spec from two working directories is two models.
    local = Path(spec).expanduser()
    folder = home / "models" / config_hash({"spec": str(local.resolve()) if local.exists() else spec})
    if not (folder / ".complete").is_file():
        progress(f"preparing base model {spec!r} in {folder}")
        prepare_model(spec, folder)
        write_json(folder / ".complete", {"spec": spec})
    return folder


def base_agent(
    spec: str = "smollm2-135m-instruct",
    *,
    dtype: str = "float32",
    home: str | os.PathLike[str] | None = None,
    progress: Progress | None = _stderr,
) -> AlignedAgent:
    """The untuned model as an agent.

    Args:
        spec: Model spec (the embedded name, a .gguf file, a checkpoint directory, or a hub id in the local HF cache).
        dtype: ``float32``, ``bfloat16`` or ``bfloat16-mixed`` (as the config's ``model.dtype``).
        home: Cache folder (default :func:`cache_home`).
        progress: Where progress messages go (``None`` silences them).

    Returns:
        An :class:`AlignedAgent` without preference or adapter.
    """
    from econalign.model.agent import load_agent

    model_dir = _prepared_model(spec, cache_home(home), progress or (lambda message: None))
    return AlignedAgent(agent=load_agent(model_dir, dtype=dtype), model_dir=model_dir)


def align(
    model: str,
    preference: Any,
    *,
    home: str | os.PathLike[str] | None = None,
    config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    progress: Progress | None = _stderr,
    **overrides: Any,
) -> AlignedAgent:
    """Fine-tune ``model`` toward ``preference`` (or reuse the cached adapter) and return the aligned agent.

    Runs the workflow's own functions for one agent: ``prepare_model`` -> ``synthesize`` -> ``finetune``, under
    ``<home>/agents/<hash>/`` where the hash covers the config sections that determine the adapter
    (:data:`TRAINING_SECTIONS`) and the base model's fingerprint (weights, config, tokenizer, chat template). The
    prepared base model is cached by its spec (a local path by its absolute location) in ``<home>/models/``: delete
    that folder (or pass another ``home``) after changing a local checkpoint in place.

    Args:
        model: Model spec, as in the config's ``model.spec``.
        preference: ``HomoEconomicus()`` or ``HomoMoralis(kappa=...)`` (or their ``config()`` dict).
        home: Cache folder (default :func:`cache_home`).
        config: A base configuration (mapping or YAML path) the keywords and ``model`` apply on top of.
        progress: Where progress messages go (``None`` silences them).
        **overrides: Config overrides, see :func:`resolve_overrides` (e.g. ``steps=20``, ``learning_rate=1e-3``).

    Returns:
        The :class:`AlignedAgent`.
    """
    from econalign.data.synthesize import synthesize
    from econalign.model.agent import load_agent
    from econalign.model.identity import model_fingerprint
    from econalign.train.finetune import finetune

    say = progress or (lambda message: None)
    base = dict(load_config(config)) if isinstance(config, str | os.PathLike) else dict(config or {})
    entry = _agent_entry(preference)
    raw = merged(base, resolve_overrides(overrides))
    raw = merged(raw, {"model": {"spec": model}})
    raw["agents"], raw["kappa_grid"] = [entry], []
    resolved = load_config(overrides=raw)
    home_dir = cache_home(home)
    model_dir = _prepared_model(model, home_dir, say)
    fingerprint = model_fingerprint(model_dir)
    key = config_hash({**{section: resolved[section] for section in TRAINING_SECTIONS}, "model": fingerprint})
    folder = home_dir / "agents" / key
    name = entry["name"]
    adapter = folder / "finetune" / "adapter"
    if (folder / ".complete").is_file():
        say(f"reusing the {name} adapter in {folder}")
    else:
        say(f"synthesizing the {name} dataset in {folder / 'synthesize'}")
        synthesize(resolved, folder / "synthesize", agent=name)
        say(f"fine-tuning {model!r} toward {name} in {folder / 'finetune'}")
        finetune(
            resolved,
            agent=name,
            model_dir=model_dir,
            data_dir=folder / "synthesize" / name,
            out_dir=folder / "finetune",
            echo=say,
        )
        write_json(folder / "config.json", resolved)
        write_json(folder / ".complete", {"agent": name, "config_hash": key})
    return AlignedAgent(
        agent=load_agent(model_dir, adapter=adapter, dtype=resolved["model"]["dtype"]),
        preference=preference,
        model_dir=model_dir,
        adapter=adapter,
        config=resolved,
    )
