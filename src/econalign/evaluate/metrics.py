"""Aggregate metrics of one agent's per-item results, each with its uncertainty.

Every interval estimate has one shape, ``{"estimate", "low", "high", "n", "method"}`` (method ``wilson`` for
rates of a binary event, ``t`` for means, each with ``, clustered`` where a decision problem recurs in the group:
see ``rate``), so tables can print any of them the same way. Groupings use ``"all"``
for the pooled splits (the test splits; consistency probes are reported on their own) or families. See
``summarise`` for the layout of ``metrics.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from econalign.evaluate.benchmarks import BENCHMARKS
from econalign.evaluate.predictions import COVARIATES, Theory
from econalign.evaluate.probes import PROBE_SPLITS, SOURCE_SPLIT
from econalign.stats import (
    clustered_mean_interval,
    clustered_wilson_interval,
    correlation,
    fit_linear_probability,
    fit_logit,
    mean_interval,
    wilson_interval,
)

__all__ = [
    "ALL",
    "OWN",
    "PRESENTATION_CODES",
    "belief_use",
    "consistency",
    "cooperation",
    "lookup",
    "paired_gain",
    "presentation",
    "rate",
    "sensitivity",
    "summarise",
]


def lookup(tree: Mapping[str, Any], *path: str) -> Any:
    """The node of a nested metrics mapping (``metrics.json``) at ``path``, or None where any key is missing.

    Example:
        >>> lookup({"agreement": {"test_payoffs": {"estimate": 0.8}}}, "agreement", "test_payoffs", "estimate")
        0.8
        >>> lookup({"agreement": {}}, "agreement", "test_payoffs", "estimate") is None
        True
    """
    node: Any = tree
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


ALL = "all"
OWN = "own"
"""Alias of the agent's own theory in ``agreement``, ``utility_correlation`` and ``regret`` (absent for base)."""


def rate(values: Any, *, binary: bool, confidence: float, clusters: Sequence[Any] | None = None) -> dict[str, Any]:
    """Interval estimate of a rate: Wilson for binary outcomes, Student-t (clipped to [0, 1]) for means of levels.

    Where ``clusters`` shows a decision problem posed more than once (the pooled test splits may pose one game in
    two splits), the interval is cluster-robust: Wilson on the effective sample size
    (:func:`econalign.stats.clustered_wilson_interval`) or the clustered t (``clustered_mean_interval``), and
    ``method`` says ``clustered``. Without repeats both equal the plain intervals.

    Args:
        values: Outcomes in [0, 1]; nulls/NaNs are dropped.
        binary: Whether outcomes are 0/1 events (then the Wilson interval applies).
        confidence: Two-sided coverage.
        clusters: One label per value (``game_key``), or None to treat the values as independent.

    Returns:
        ``{"estimate", "low", "high", "n", "method"}``.
    """
    x = np.asarray([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    keep = ~np.isnan(x)
    labels = None if clusters is None else [label for label, kept in zip(clusters, keep, strict=True) if kept]
    x = x[keep]
    repeated = labels is not None and len(set(labels)) < len(labels)
    suffix = ", clustered" if repeated else ""
    if binary:
        w = (
            clustered_wilson_interval(x, labels, confidence=confidence)
            if repeated
            else wilson_interval(float(x.sum()), int(x.size), confidence=confidence)
        )
        return {"estimate": w["rate"], "low": w["low"], "high": w["high"], "n": w["n"], "method": "wilson" + suffix}
    m = (
        clustered_mean_interval(x, labels, confidence=confidence)
        if repeated
        else mean_interval(x, confidence=confidence)
    )
    # Every rate here lies in [0, 1] (levels, probabilities, regrets over the payoff range): clip the t interval.
    low, high = (None if v is None else min(max(v, 0.0), 1.0) for v in (m["low"], m["high"]))
    return {"estimate": m["mean"], "low": low, "high": high, "n": m["n"], "method": "t" + suffix}


def _clusters(group: pl.DataFrame) -> list[str] | None:
    # The decision problem an item poses; frames without it (hand-built tests) count every item once.
    return group["game_key"].to_list() if "game_key" in group.columns else None


def _column_rate(group: pl.DataFrame, column: str, *, binary: bool, confidence: float) -> dict[str, Any]:
    # A rate over a group of items, clustered by the decision problem each poses.
    return rate(group[column].cast(pl.Float64), binary=binary, confidence=confidence, clusters=_clusters(group))


def paired_gain(
    mine: pl.DataFrame, other: pl.DataFrame, theory: str, *, confidence: float, cluster: str | None = None
) -> dict[str, Any]:
    """How much more often one agent's choice agrees with a theory than another's, on the same items.

    Both agents answer the same battery, so the comparison is paired by item (``id``): the per-item difference of
    the agreement indicators ``agree_<theory>`` (1, 0; items where either has none, such as a parse failure, are
    left out) and its mean with a Student-t interval: the paired t-test, as an interval. This is sharper than
    asking whether two separate intervals lie apart, which needs a far larger difference than the noise does.
    With ``cluster`` the interval is cluster-robust (:func:`econalign.stats.clustered_mean_interval`): items that
    pose the same decision problem (``game_key``) in other words or labels are not independent evidence.

    Args:
        mine: Per-item rows of the agent (``id``, ``agree_<theory>`` and the ``cluster`` column if one is named).
        other: Per-item rows of the agent compared with (``base``), on the same items.
        theory: Theory name.
        confidence: Two-sided coverage.
        cluster: Column of ``mine`` whose equal values form one cluster; None treats items as independent.

    Returns:
        ``{"estimate", "low", "high", "se", "n", "clusters", "method", "significant"}``; ``method`` is ``"paired
        t"`` or ``"paired t, clustered by <cluster>"``; ``significant`` is true when the interval lies above 0 (None
        without an interval).
    """
    column = f"agree_{theory}"
    keys = ["id"] if cluster is None else ["id", cluster]
    paired = (
        mine.select(*keys, pl.col(column).cast(pl.Float64))
        .join(other.select("id", pl.col(column).cast(pl.Float64).alias("other")), on="id")
        .drop_nulls([column, "other"])
        .sort("id")
    )
    difference = (paired[column] - paired["other"]).to_numpy()
    if cluster is None:
        m = {**mean_interval(difference, confidence=confidence), "clusters": len(difference)}
    else:
        m = clustered_mean_interval(difference, paired[cluster].to_list(), confidence=confidence)
    significant = None if m["low"] is None else bool(m["low"] > 0)
    return {
        "estimate": m["mean"],
        "low": m["low"],
        "high": m["high"],
        "se": m["se"],
        "n": m["n"],
        "clusters": m["clusters"],
        "method": "paired t" if cluster is None else f"paired t, clustered by {cluster}",
        "significant": significant,
    }


def _pooled(items: pl.DataFrame) -> pl.DataFrame:
    # Probes repeat test_payoffs items in another presentation: they are reported on their own, never pooled.
    return items.filter(~pl.col("split").is_in(list(PROBE_SPLITS.values())))


def _groups(items: pl.DataFrame, column: str) -> list[tuple[str, pl.DataFrame]]:
    pooled = _pooled(items) if column == "split" else items
    parts = items.partition_by(column, as_dict=True, maintain_order=True)
    return [(ALL, pooled)] + [(str(key[0]), parts[key]) for key in sorted(parts)]


def _is_binary(group: pl.DataFrame) -> bool:
    # Whether every option of every item is fully cooperative or not at all (2x2 games, two-level public goods).
    levels = group["coop_levels"].explode().drop_nulls().to_numpy()
    return bool(np.all((levels == 0.0) | (levels == 1.0)))


def cooperation(items: pl.DataFrame, *, confidence: float) -> dict[str, dict[str, Any]]:
    """Cooperation (contribution, giving) level by split and family.

    ``expected`` is the probability-weighted level Σ p(a) c(a); ``choice`` the level of the argmax option (a
    Wilson rate where levels are 0/1, as in 2×2 games).

    Returns:
        ``{split: {family: {"expected": interval, "choice": interval}}}``, with ``"all"`` pooling.
    """
    out: dict[str, dict[str, Any]] = {}
    for split, by_split in _groups(items, "split"):
        out[split] = {}
        for family, group in _groups(by_split, "family"):
            out[split][family] = {
                "expected": _column_rate(group, "coop_expected", binary=False, confidence=confidence),
                "choice": _column_rate(group, "coop_choice", binary=_is_binary(group), confidence=confidence),
            }
    return out


def _agreement(group: pl.DataFrame, theory: str, *, confidence: float) -> dict[str, Any]:
    return {
        family: {
            "choice": _column_rate(by_family, f"agree_{theory}", binary=True, confidence=confidence),
            "prob": _column_rate(by_family, f"p_pred_{theory}", binary=False, confidence=confidence),
        }
        for family, by_family in _groups(group, "family")
    }


def belief_use(group: pl.DataFrame, theory: str, *, confidence: float) -> dict[str, Any]:
    """Agreement with a theory where the stated belief changes its answer, and where it does not.

    On the first kind of item (``belief_pivotal_<theory>``) the theory's answer at a uniform belief, the reference
    rule ``ignoring_belief_<theory>``, is wrong by construction, so only an agent that reads the belief is right
    there more often than chance (one that answers from the payoffs alone scores 0% there if it reproduces the rule,
    about 50% if it errs near the theory's indifference point, where these items lie). Overall agreement mixes the
    two kinds in the split's proportion, which is why an agent can beat the belief-ignoring rule on a split with many
    pivotal items without reading the belief.

    Args:
        group: Per-item rows (``agree_<theory>``, ``belief_pivotal_<theory>``, ``game_key``).
        theory: Theory name.
        confidence: Two-sided coverage.

    Returns:
        ``{"pivotal", "other"}``: Wilson rates (clustered by decision problem where one recurs) of ``agree_<theory>``
        on the stated-belief items where the belief changes the theory's answer, and on those where it does not.
    """
    pivotal = pl.col(f"belief_pivotal_{theory}")
    return {
        kind: _column_rate(group.filter(rows), f"agree_{theory}", binary=True, confidence=confidence)
        for kind, rows in (("pivotal", pivotal.eq(True)), ("other", pivotal.eq(False)))
    }


def _fits(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], *, confidence: float) -> dict[str, Any]:
    return {
        "logit": fit_logit(x, y, names=names).to_dict(confidence=confidence),
        "lpm": fit_linear_probability(x, y, names=names).to_dict(confidence=confidence),
    }


def sensitivity(
    items: pl.DataFrame, theories: Sequence[Theory], *, confidence: float, min_items: int = 10
) -> dict[str, Any]:
    """Incentive sensitivity: regressions of the cooperation level on payoff parameters, per family.

    For each family (pooled over the test splits, probes left out), the covariates of ``COVARIATES`` defined for
    at least half of its items are regressed jointly on the items that have them all (so the belief's slope comes
    from stated-belief items, same-type items drop out), keeping those that vary. The agent's outcome is its
    probability-weighted cooperation level (a fractional logit, HC1 errors; Firth-penalised only where the plain fit
    diverges) and, for 0/1 levels, its argmax choice (a binary logit, Firth-penalised); a linear probability model
    gives slopes on the rate scale. The same
    regressions on each exact theory's strategy give the theory's slopes (logits of a deterministic rule are
    separated, flagged ``separated``: compare their signs, and the LPM slopes). An outcome that never varies in the
    family (economicus always defects in a prisoner's dilemma) is flagged ``constant``: its LPM slopes are 0 and
    its logit estimates None, since no slope is identified and a penalised one's sign would be an artefact.

    Returns:
        ``{family: {"covariates", "n", "agent": {"logit", "lpm"}, "agent_choice": {"logit"} | None,
        "theory": {theory: {"logit", "lpm"}}}}``; families with fewer than ``min_items`` usable items are left out.
    """
    out: dict[str, Any] = {}
    for family, group in _groups(_pooled(items), "family")[1:]:
        group = group.filter(pl.col("coop_expected").is_not_null())
        candidates = [name for name in COVARIATES if group[f"x_{name}"].null_count() * 2 <= group.height]
        group = group.drop_nulls(subset=[f"x_{name}" for name in candidates])
        names = tuple(name for name in candidates if group.height > 1 and float(group[f"x_{name}"].std() or 0) > 0)
        if not names or group.height < max(min_items, len(names) + 2):
            continue
        x = group.select([f"x_{name}" for name in names]).to_numpy()
        entry: dict[str, Any] = {"covariates": list(names), "n": group.height}
        entry["agent"] = _fits(x, group["coop_expected"].to_numpy(), names, confidence=confidence)
        choice = group["coop_choice"]
        entry["agent_choice"] = (
            {"logit": fit_logit(x, choice.to_numpy(), names=names).to_dict(confidence=confidence)}
            if _is_binary(group)
            else None
        )
        levels = [np.asarray(v) for v in group["coop_levels"]]
        entry["theory"] = {}
        for theory in theories:
            theory_level = np.array(
                [np.asarray(p) @ lv for p, lv in zip(group[f"theory_probs_{theory.name}"], levels, strict=True)]
            )
            entry["theory"][theory.name] = _fits(x, np.clip(theory_level, 0.0, 1.0), names, confidence=confidence)
        out[family] = entry
    return out


def consistency(items: pl.DataFrame, *, confidence: float) -> dict[str, Any]:
    """Label-swap and paraphrase consistency: the same game, presented differently, should get the same answer.

    Each consistency probe (``econalign.evaluate.probes``) is paired with its original item. ``same_choice`` is
    the share of pairs choosing the same action (Wilson; pairs where either choice is an exact tie are left out,
    since a tie is no choice), ``abs_diff`` the mean absolute difference of their probability-weighted cooperation
    levels; pairs with a parse failure are left out of both.

    Returns:
        ``{axis: {"same_choice": interval, "abs_diff": interval, "n_pairs": int}}`` for ``labels`` and
        ``paraphrases`` (n_pairs 0 and null estimates without probes).
    """
    frame = items.filter(~pl.col("parse_failed")).select("id", "split", "source_id", "choice", "tied", "coop_expected")
    originals = frame.filter(pl.col("split") == SOURCE_SPLIT)
    out: dict[str, Any] = {}
    for axis, split in PROBE_SPLITS.items():
        probes = frame.filter(pl.col("split") == split)
        pairs = probes.join(originals, left_on="source_id", right_on="id", suffix="_source")
        decided = pairs.filter(~pl.col("tied") & ~pl.col("tied_source"))
        same = (decided["choice"] == decided["choice_source"]).cast(pl.Float64)
        diff = (pairs["coop_expected"] - pairs["coop_expected_source"]).abs()
        out[axis] = {
            "same_choice": rate(same, binary=True, confidence=confidence),
            "abs_diff": rate(diff, binary=False, confidence=confidence),
            "n_pairs": pairs.height,
        }
    return out


PRESENTATION_CODES = ("listed_first", "earlier_letter", "letters_in_order")
"""Covariates of ``presentation``: the theory's option is listed first; its label comes earlier in the alphabet; the
two labels are listed in alphabetical order (the interaction of the first two)."""


def presentation(group: pl.DataFrame, theory: str, *, confidence: float, min_items: int = 10) -> dict[str, Any] | None:
    """Whether the theory's option draws probability as that option, or by its place in the list or its letter.

    An agreement rate at chance can hide a preference for the theory's option that a position or letter bias
    outweighs, or no preference at all; this separates the three. On the two-option items the theory answers
    (items without an answer left out), the probability the agent gives the theory's option is regressed by least
    squares on three codes of ±1/2: the option is listed first; its label comes earlier in the alphabet (label
    swaps, as in test_labels, separate the two); the labels are listed in alphabetical order. The constant is then
    the probability of the theory's option with place and letter balanced (0.5: no preference for it), each slope
    the difference the code makes (first minus second place; earlier minus later letter; labels in order minus
    swapped). The last catches an agent that ties each letter to a place in the list, as one trained only on
    labels in alphabetical order can: it names the theory's option right when the labels are in order and the
    other option when they are swapped. Errors are clustered by decision problem. A code that does not vary in the
    group, or that the codes before it determine, is left out (and absent from ``coef``).

    Returns:
        ``LogitFit.to_dict`` of the fit (``coef`` keyed ``const`` and the codes kept) with ``covariates``, or None
        with fewer than ``min_items`` items.
    """
    rows = group.filter(
        (pl.col("actions").list.len() == 2)
        & pl.col(f"pred_{theory}").is_not_null()
        & pl.col(f"p_pred_{theory}").is_not_null()
    )
    if rows.height < min_items:
        return None
    first, earlier, in_order = [], [], []
    for actions, labels, answer in zip(rows["actions"], rows["labels"], rows[f"pred_{theory}"], strict=True):
        at = list(actions).index(answer)
        first.append(0.5 if at == 0 else -0.5)
        earlier.append(0.5 if labels[at] < labels[1 - at] else -0.5)
        in_order.append(0.5 if labels[0] < labels[1] else -0.5)
    codes = dict(zip(PRESENTATION_CODES, map(np.asarray, (first, earlier, in_order)), strict=True))
    kept: list[str] = []
    for name, values in codes.items():
        candidate = np.column_stack([np.ones(rows.height), *(codes[k] for k in kept), values])
        if np.ptp(values) > 0 and np.linalg.matrix_rank(candidate) == candidate.shape[1]:
            kept.append(name)
    x = np.column_stack([codes[name] for name in kept]) if kept else np.zeros((rows.height, 0))
    fit = fit_linear_probability(
        x, rows[f"p_pred_{theory}"].cast(pl.Float64).to_numpy(), names=tuple(kept), clusters=_clusters(rows)
    )
    return {"covariates": kept, **fit.to_dict(confidence=confidence)}


def _benchmarks(coop: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for b in BENCHMARKS:
        agent = coop[ALL].get(b.family)
        rows.append(
            {
                "family": b.family,
                "metric": b.metric,
                "value": b.value,
                "population": b.population,
                "citation": b.citation,
                "note": b.note,
                "agent_expected": None if agent is None else agent["expected"],
                "agent_choice": None if agent is None else agent["choice"],
            }
        )
    return rows


def summarise(
    items: pl.DataFrame, theories: Sequence[Theory], *, own_theory: str | None, confidence: float = 0.95
) -> dict[str, Any]:
    """All metrics of one agent (or reference rule), as written to ``metrics.json``.

    Args:
        items: The agent's per-item results (``item_results``).
        theories: The theories the items cover.
        own_theory: Theory the agent was aligned to (None for the base model and most rules).
        confidence: Coverage of every interval.

    Returns:
        ``{"agent", "own_theory", "theories", "confidence", "n_items", "parse_failure", "unscorable",
        "reply_failure", "cooperation", "agreement", "utility_correlation", "regret", "presentation", "belief_use",
        "sensitivity", "consistency", "benchmarks"}``, split first: ``parse_failure[split]`` and
        ``unscorable[split]`` Wilson rates of items without an answer (a reply that did not parse; log-probabilities
        the agent could not give);
        ``reply_failure[split]`` the mean share of sampled replies that did not parse (sampled mode; null estimate
        otherwise); ``cooperation[split][family]`` (see ``cooperation``);
        ``agreement[split][theory][family]`` with ``choice`` (Wilson rate of argmax = the theory's answer, over
        items the theory answers) and ``prob`` (mean probability of that answer); ``utility_correlation[split]
        [theory]`` (Pearson/Spearman of the cooperation level with the theory's utility difference, two-option
        items; the Fisher-z interval counts a decision problem posed twice on its effective sample size);
        ``regret[split][theory]`` with ``expected`` and ``choice`` (utility regret over the payoff range);
        ``presentation[split][theory]`` (see ``presentation``; None where too few items);
        ``belief_use[split][theory]`` (see ``belief_use``).
        Theory keys are theory names plus ``"own"`` for the agent's own theory. ``sensitivity[family]`` and
        ``consistency[axis]`` as in their functions; ``benchmarks`` lists published rates beside the agent's.
    """
    agents = items["agent"].unique().to_list()
    splits = _groups(items, "split")
    coop = cooperation(items, confidence=confidence)
    names = [t.name for t in theories]
    aliases = {**{name: name for name in names}, **({OWN: own_theory} if own_theory in names else {})}
    return {
        "agent": agents[0] if len(agents) == 1 else sorted(agents),
        "own_theory": own_theory,
        "theories": {t.name: {"preference": t.preference.name, "kappa": t.kappa} for t in theories},
        "confidence": confidence,
        "n_items": {split: group.height for split, group in splits},
        "parse_failure": {
            split: _column_rate(group, "parse_failed", binary=True, confidence=confidence) for split, group in splits
        },
        "unscorable": {
            split: _column_rate(group, "unscorable", binary=True, confidence=confidence) for split, group in splits
        },
        "reply_failure": {
            split: _column_rate(group, "reply_failure", binary=False, confidence=confidence) for split, group in splits
        },
        "cooperation": coop,
        "agreement": {
            split: {alias: _agreement(group, name, confidence=confidence) for alias, name in aliases.items()}
            for split, group in splits
        },
        "utility_correlation": {
            split: {
                alias: correlation(
                    group["coop_expected"].to_numpy(),
                    group[f"udiff_{name}"].to_numpy(),
                    confidence=confidence,
                    clusters=_clusters(group),
                )
                for alias, name in aliases.items()
            }
            for split, group in splits
        },
        "regret": {
            split: {
                alias: {
                    "expected": _column_rate(group, f"regret_{name}", binary=False, confidence=confidence),
                    "choice": _column_rate(group, f"regret_choice_{name}", binary=False, confidence=confidence),
                }
                for alias, name in aliases.items()
            }
            for split, group in splits
        },
        "presentation": {
            split: {alias: presentation(group, name, confidence=confidence) for alias, name in aliases.items()}
            for split, group in splits
        },
        "belief_use": {
            split: {alias: belief_use(group, name, confidence=confidence) for alias, name in aliases.items()}
            for split, group in splits
        },
        "sensitivity": sensitivity(items, theories, confidence=confidence),
        "consistency": consistency(items, confidence=confidence),
        "benchmarks": _benchmarks(coop),
    }
