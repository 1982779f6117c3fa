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
import inspect
import json
import numbers
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import numpy as np

from econalign.config import kappa_agent_name, load_config, load_schema, merged
from econalign.io import config_hash, write_json
from econalign.theory.games import GAMES, Game
from econalign.theory.preferences import HomoEconomicus, HomoMoralis, preference_from_config

__all__ = [
    "ALIASES",
    "ALIGN_SECTIONS",
    "TRAINING_SECTIONS",
    "AlignedAgent",
    "Belief",
    "Decision",
    "PreferenceLike",
    "Scorer",
    "align",
    "base_agent",
    "cache_home",
    "play",
    "resolve_overrides",
]

TRAINING_SECTIONS = ("seed", "model", "agents", "data", "finetune")
"""Config sections that determine an adapter; the cache key hashes these (``model`` as the base model's fingerprint,
plus the training precision where ``model.dtype`` sets it)."""

ALIGN_SECTIONS = ("seed", "model", "data", "finetune", "tracking")
"""Config sections that the stages :func:`align` runs read; :func:`align` refuses a keyword of any other section,
which would change nothing."""

ALIASES = {"steps": "finetune/max_steps"}
"""Short keyword names for :func:`align` (``steps=20`` caps fine-tuning at 20 optimiser steps)."""

Progress = Callable[[str], Any]

Belief: TypeAlias = float | Sequence[float] | np.ndarray | None
"""What :func:`play` takes as ``belief``: the probability of the other player's first action, a probability vector
over its actions, or ``None`` (the other player reasons exactly like the agent)."""

PreferenceLike: TypeAlias = HomoEconomicus | HomoMoralis | Mapping[str, Any]
"""What :func:`align` takes as ``preference``: a preference object or its ``config()`` mapping."""


class Scorer(Protocol):
    """What :func:`play` needs of an agent: ``econalign.model.agent.Agent``'s ``choice_logprobs``."""

    def choice_logprobs(self, prompts: Any, options: Any) -> Any:
        """Summed log-probability of each option after each prompt (one array per prompt)."""
        ...


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
    agent: Scorer,
    game: Game,
    *,
    belief: Belief = None,
    template: str | None = None,
    labels: Sequence[str] | None = None,
    order: Sequence[int] | None = None,
) -> Decision:
    """Ask a model agent for its choice in ``game``, scored by log-probabilities (deterministic).

    Args:
        agent: Anything with ``choice_logprobs(prompts, options)`` (``econalign.model.agent.Agent``).
        game: A game object from :mod:`econalign.games` (``PrisonersDilemma(T=5, R=3, P=1, S=0)``).
        belief: Probability that the other player picks the first action (or a probability vector); ``None`` says
            the other player reasons exactly like the agent.
        template: A prompt template name (default: the first training paraphrase for the game's kind).
        labels: Option labels in presentation order (default ``A``, ``B``, ...).
        order: Action indices in presentation order (default: the game's order).

    Returns:
        The :class:`Decision`.

    Raises:
        TypeError: If ``game`` is not a game object (a family name such as ``"prisoners_dilemma"`` included).
        ValueError: If the game or belief cannot be posed as a prompt, or the agent scored no option.
    """
    from econalign.data.templates import decision_line, render_item, template_kind, templates_for

    if not isinstance(game, Game):
        raise TypeError(_not_a_game(game))
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


def _not_a_game(game: object) -> str:
    classes = ", ".join(sorted({cls.__name__ for cls in GAMES.values()}))
    message = f"play() takes a game object from econalign.games ({classes}), not {type(game).__name__} {game!r}"
    if isinstance(game, str) and game in GAMES:
        # A family name is what the datasets and reports show, so it is the likeliest mistake: name its class.
        cls = GAMES[game]
        parameters = ", ".join(f"{name}=..." for name in inspect.signature(cls).parameters)
        message += f": build the game with its parameters, e.g. ea.games.{cls.__name__}({parameters})"
    return message


@dataclasses.dataclass
class AlignedAgent:
    """A model agent (base or fine-tuned) with the preference it was aligned to.

    Attributes:
        agent: The scoring agent (``econalign.model.agent.Agent``).
        preference: The preference it was aligned to, as a preference object even where :func:`align` was given
            its mapping (``None`` for the untuned model).
        model_dir: The prepared base model directory.
        adapter: The PEFT adapter directory (``None`` for the untuned model).
        config: The resolved configuration it was trained with (``None`` for the untuned model).
    """

    agent: Any
    preference: HomoEconomicus | HomoMoralis | None = None
    model_dir: Path | None = None
    adapter: Path | None = None
    config: dict[str, Any] | None = None

    def play(
        self,
        game: Game,
        *,
        belief: Belief = None,
        template: str | None = None,
        labels: Sequence[str] | None = None,
        order: Sequence[int] | None = None,
    ) -> Decision:
        """The agent's choice in ``game``; see :func:`play` for the arguments."""
        return play(self.agent, game, belief=belief, template=template, labels=labels, order=order)

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
        node = out
        *parents, leaf = _keyword_path(key, properties).split("/")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return out


def _keyword_path(key: str, properties: Mapping[str, Any]) -> str:
    # The config path ("finetune/max_steps") a keyword of align sets; see resolve_overrides.
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
    return path


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


def _check_keywords(overrides: Mapping[str, Any], properties: Mapping[str, Any]) -> None:
    # A keyword that align would overwrite, or that no stage it runs reads, would be accepted and do nothing: refuse it.
    for key in overrides:
        path = _keyword_path(key, properties)
        section = path.split("/")[0]
        if section in ("agents", "kappa_grid"):
            why = "align trains the one agent its preference argument describes (a list of agents is the workflow's)"
        elif path == "model/spec":
            why = "the model is align's first argument"
        elif section not in ALIGN_SECTIONS:
            read = f"{', '.join(ALIGN_SECTIONS[:-1])} and {ALIGN_SECTIONS[-1]}"
            why = (
                f"it sets {path}, and align runs prepare_model, synthesize and finetune, which read only the {read} "
                f"sections ({section} is read by the workflow's other stages)"
            )
        else:
            continue
        raise TypeError(f"align() got keyword {key!r}: {why}")


_PREFERENCES = (
    "expected ea.HomoEconomicus(), ea.HomoMoralis(kappa=...) or a mapping "
    "{'preference': 'economicus' | 'moralis', 'kappa': 0 to 1}"
)


def _preference(preference: object) -> HomoEconomicus | HomoMoralis:
    """The preference object align was given, or the one its mapping describes (checked as a config's agent is)."""
    if isinstance(preference, HomoEconomicus | HomoMoralis):
        return preference
    if not isinstance(preference, Mapping):
        raise TypeError(f"align() got preference={preference!r}: {_PREFERENCES}")
    given = dict(preference)
    unknown = sorted(str(key) for key in given if key not in ("preference", "kappa"))
    if unknown:
        raise ValueError(f"align() got preference={given!r}: unknown keys {unknown}; {_PREFERENCES}")
    name, kappa = given.get("preference"), given.get("kappa")
    if name not in (HomoEconomicus.name, HomoMoralis.name):
        raise ValueError(f"align() got preference={given!r}: 'preference' must be 'economicus' or 'moralis'")
    if name == HomoMoralis.name and kappa is None:
        # The config's default kappa of 0 would make it homo moralis with kappa 0, i.e. homo economicus.
        raise ValueError(
            f"align() got preference={given!r}: a moralis preference needs its kappa (0 to 1), e.g. "
            "{'preference': 'moralis', 'kappa': 0.5}"
        )
    if kappa is not None and (isinstance(kappa, bool) or not isinstance(kappa, numbers.Real)):
        raise TypeError(f"align() got preference={given!r}: kappa must be a number from 0 to 1")
    try:
        return preference_from_config(given)
    except ValueError as error:  # an economicus kappa other than 0, a kappa outside [0, 1]
        raise ValueError(f"align() got preference={given!r}: {error}") from None


def _agent_entry(preference: HomoEconomicus | HomoMoralis) -> dict[str, Any]:
    kappa = float(preference.kappa)
    name = kappa_agent_name(kappa) if isinstance(preference, HomoMoralis) else preference.name
    return {"name": name, "preference": preference.name, "kappa": kappa}


# The training precision caches made before align keyed it were (by default) trained in; see _adapter_key.
_UNKEYED_DTYPE = "float32"


def _adapter_key(resolved: dict[str, Any], fingerprint: str | None) -> str:
    """The cache key of an adapter: the training sections, the base model's fingerprint and the training precision."""
    from econalign.train.finetune import training_dtype

    payload = {section: resolved[section] for section in TRAINING_SECTIONS}
    payload["model"] = fingerprint  # model.spec is a name; what trains is the model it names
    dtype = training_dtype(resolved)
    # Where finetune.dtype is set it is in the finetune section and model.dtype is scoring precision only (applied at
    # load time), as the workflow's TRAINING_KEYS have it. Where it is null, model.dtype is the training precision;
    # float32 stays out of the key so that the caches made before it was keyed (float32 by default) keep theirs.
    if resolved["finetune"]["dtype"] is None and dtype != _UNKEYED_DTYPE:
        payload["training_dtype"] = dtype
    return config_hash(payload)


def _cached_dtype(folder: Path) -> str | None:
    """The training precision recorded with a cached adapter (``None`` where its config.json cannot be read)."""
    from econalign.train.finetune import training_dtype

    try:
        return training_dtype(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _quiet(message: str) -> None:
    """Drop a progress message."""


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
        progress: Where progress messages go; ``None`` silences them and the agent's progress bars.

    Returns:
        An :class:`AlignedAgent` without preference or adapter.
    """
    from econalign.model.agent import load_agent

    model_dir = _prepared_model(spec, cache_home(home), progress or _quiet)
    return AlignedAgent(agent=load_agent(model_dir, dtype=dtype, progress=progress is not None), model_dir=model_dir)


def align(
    model: str,
    preference: PreferenceLike,
    *,
    home: str | os.PathLike[str] | None = None,
    config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    progress: Progress | None = _stderr,
    **overrides: Any,
) -> AlignedAgent:
    """Fine-tune ``model`` toward ``preference`` (or reuse the cached adapter) and return the aligned agent.

    Runs the workflow's own functions for one agent: ``prepare_model`` -> ``synthesize`` (its train and validation
    splits) -> ``finetune``, under ``<home>/agents/<hash>/`` where the hash covers the config sections that determine
    the adapter (:data:`TRAINING_SECTIONS`), the base model's fingerprint (weights, config, tokenizer, chat template)
    and the training precision (``finetune.dtype``, else ``model.dtype``). The prepared base model is cached by its
    spec (a local path by its absolute location) in ``<home>/models/``: delete that folder (or pass another ``home``)
    after changing a local checkpoint in place.

    Args:
        model: Model spec, as in the config's ``model.spec``.
        preference: ``HomoEconomicus()`` or ``HomoMoralis(kappa=...)``, or their ``config()`` mapping
            (``{"preference": "moralis", "kappa": 0.5}``; a moralis one needs its kappa).
        home: Cache folder (default :func:`cache_home`).
        config: A base configuration (mapping or YAML path) the keywords and ``model`` apply on top of; its agents,
            kappa_grid and model.spec are replaced, and sections other than :data:`ALIGN_SECTIONS` are not read.
        progress: Where progress messages go; ``None`` silences them, fine-tuning's progress bar and the agent's
            (synthesize's own bar, shown after a second, stays).
        **overrides: Config overrides, see :func:`resolve_overrides` (e.g. ``steps=20``, ``learning_rate=1e-3``), of
            the :data:`ALIGN_SECTIONS` only.

    Returns:
        The :class:`AlignedAgent`.

    Raises:
        TypeError: If ``preference`` is neither a preference object nor a mapping, or a keyword is not a config key,
            is ambiguous, or would do nothing: ``agents``, ``kappa_grid`` and ``model__spec`` (align sets them) and
            keys of sections align does not run (``evaluate``, ``av``, ``pricing``, ``report``, ``hosted``).
        ValueError: If the preference mapping names no known preference, lacks a moralis kappa, or has unknown keys.
        econalign.config.ConfigError: If a configuration value is out of its bounds (a ``ValueError``).
    """
    from econalign.data.synthesize import synthesize
    from econalign.model.agent import load_agent
    from econalign.model.identity import model_fingerprint
    from econalign.train.finetune import finetune, training_dtype

    say = progress or _quiet
    aligned_to = _preference(preference)
    entry = _agent_entry(aligned_to)
    _check_keywords(overrides, load_schema()["properties"])
    base = dict(load_config(Path(config))) if isinstance(config, str | os.PathLike) else dict(config or {})
    if progress is None:
        # A runtime setting (RUNTIME_SETTINGS): it changes no result and no cache key. Keywords still override it.
        base = merged(base, {"finetune": {"progress": False}})
    raw = merged(base, resolve_overrides(overrides))
    raw = merged(raw, {"model": {"spec": model}})
    raw["agents"], raw["kappa_grid"] = [entry], []
    resolved = load_config(overrides=raw)
    home_dir = cache_home(home)
    model_dir = _prepared_model(model, home_dir, say)
    folder = home_dir / "agents" / _adapter_key(resolved, model_fingerprint(model_dir))
    name = entry["name"]
    adapter = folder / "finetune" / "adapter"
    complete = (folder / ".complete").is_file()
    cached_dtype = _cached_dtype(folder) if complete else None
    if complete and cached_dtype not in (None, training_dtype(resolved)):
        # Before the training precision was keyed, a model.dtype run could fill the float32 run's folder.
        say(f"the {name} adapter in {folder} was trained in {cached_dtype}, not {training_dtype(resolved)}: retraining")
        shutil.rmtree(folder)
        complete = False
    if complete:
        say(f"reusing the {name} adapter in {folder}")
    else:
        say(f"synthesizing the {name} dataset in {folder / 'synthesize'}")
        # finetune reads the train and validation splits only; the test splits, baselines and card are evaluate's.
        synthesize(resolved, folder / "synthesize", agent=name, splits="training", progress=progress is not None)
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
        write_json(folder / ".complete", {"agent": name, "config_hash": folder.name})
    return AlignedAgent(
        agent=load_agent(model_dir, adapter=adapter, dtype=resolved["model"]["dtype"], progress=progress is not None),
        preference=aligned_to,
        model_dir=model_dir,
        adapter=adapter,
        config=resolved,
    )
