"""Tables of the game battery, each returned as markdown and LaTeX (booktabs) text.

Every table is a plain function of the collected metrics (``collect.Results``); cells print an estimate with its
interval, ``0.83 [0.76, 0.88]``, and ``–`` where a number is undefined.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from econalign.evaluate.benchmarks import BENCHMARKS
from econalign.evaluate.collect import Results, display_theory
from econalign.evaluate.comparisons import EXACT_PREFIX, own_versus_other
from econalign.evaluate.metrics import PRESENTATION_CODES, lookup
from econalign.evaluate.scoring import GENERATING_MODES
from econalign.stats import coverage_label

__all__ = [
    "TABLES",
    "agreement_by_split_table",
    "agreement_table",
    "belief_use_table",
    "cooperation_table",
    "own_versus_other_table",
    "presentation_table",
    "sensitivity_table",
    "utility_table",
]

DASH = "–"
CONSTANT = "0 (constant)"
"""Cell of a logit slope whose outcome never varies: no response, but no identified logit slope either."""

Table = tuple[list[str], list[list[str]], str]
"""Header, rows and caption."""


POOLED_CLUSTERING = "clustered by decision problem where one recurs across the pooled splits"
"""How the pooled intervals treat a game posed in two test splits (``econalign.evaluate.metrics.rate``)."""


def _interval(entry: Mapping[str, Any] | None, decimals: int) -> str:
    if not entry or entry.get("estimate") is None:
        return DASH
    text = f"{entry['estimate']:.{decimals}f}"
    if entry.get("low") is not None and entry.get("high") is not None:
        text += f" [{entry['low']:.{decimals}f}, {entry['high']:.{decimals}f}]"
    return text


def _names(results: Results) -> list[str]:
    return [*results.agents, *results.references]


def agreement_table(results: Results, *, decimals: int = 2) -> Table:
    """Agreement of each agent and rule with each theory (test splits pooled), consistency and parse failures.

    The parse-failure column is shown only when some agent generated its replies: an agent scored by option
    log-probabilities (mode ``logprob``) or a rule cannot fail to parse, so the column would be zeros throughout.
    """
    theories = results.theories
    generated = any(results.metrics[name].get("mode") in GENERATING_MODES for name in results.agents)
    header = ["agent", *(f"agrees with {display_theory(t)}" for t in theories), "label swap", "paraphrase",
              *(["parse failures"] if generated else [])]  # fmt: skip
    rows = []
    for name in _names(results):
        m = results.metrics[name]
        rows.append([
            name,
            *(_interval(lookup(m, "agreement", "all", t, "all", "choice"), decimals) for t in theories),
            _interval(lookup(m, "consistency", "labels", "same_choice"), decimals),
            _interval(lookup(m, "consistency", "paraphrases", "same_choice"), decimals),
            *([_interval(lookup(m, "parse_failure", "all"), decimals)] if generated else []),
        ])  # fmt: skip
    caption = (
        "Share of items where the argmax choice is the theory's answer (test splits pooled, items the theory "
        "answers) and the same choice under a label swap and a paraphrase"
        + (", and replies whose answer could not be parsed" if generated else "")
        + f"; Wilson {coverage_label(results.confidence)} intervals (pooled rates {POOLED_CLUSTERING})."
    )
    return header, rows, caption


def agreement_by_split_table(results: Results, *, decimals: int = 2) -> Table:
    """Agreement with each theory by split (in distribution vs held out), agents then rules."""
    splits = [*results.test_splits, *results.probe_splits]
    header = ["agent", "theory", *splits]
    rows = []
    for name in _names(results):
        for theory in results.theories:
            cells = [_interval(lookup(results.metrics[name], "agreement", s, theory, "all", "choice"), decimals)
                     for s in splits]  # fmt: skip
            rows.append([name, display_theory(theory), *cells])
    caption = (
        "Agreement with each theory by test split and consistency probe; "
        f"Wilson {coverage_label(results.confidence)} intervals."
    )
    return header, rows, caption


UNSEEN_PAYOFFS = "test_payoffs"
"""The split of the default targets that are checked against the reference rules."""


def belief_use_table(results: Results, *, decimals: int = 2) -> Table:
    """Agreement where the stated belief changes the theory's answer and elsewhere: pooled, and on unseen payoffs."""
    splits = ["all", *([UNSEEN_PAYOFFS] if UNSEEN_PAYOFFS in results.test_splits else [])]
    shown = {"all": "test splits pooled", UNSEEN_PAYOFFS: "unseen payoffs"}
    header = ["agent", "theory"]
    for split in splits:
        header += [f"{shown[split]}: belief changes the answer", f"{shown[split]}: elsewhere"]
    rows = []
    for name in _names(results):
        for theory in results.theories:
            cells = []
            for split in splits:
                pivotal = lookup(results.metrics[name], "belief_use", split, theory, "pivotal")
                count = f", n = {pivotal['n']}" if pivotal and pivotal.get("estimate") is not None else ""
                cells += [
                    _interval(pivotal, decimals) + count,
                    _interval(lookup(results.metrics[name], "belief_use", split, theory, "other"), decimals),
                ]
            rows.append([name, display_theory(theory), *cells])
    caption = (
        "Agreement with each theory on the stated-belief items where the belief changes the theory's answer (there "
        "the theory ignoring the belief is wrong, so only an agent that reads the belief is right more often than "
        "chance) and on the items where it does not. Wilson "
        f"{coverage_label(results.confidence)} intervals (pooled rates {POOLED_CLUSTERING})."
    )
    return header, rows, caption


def cooperation_table(results: Results, *, decimals: int = 2) -> Table:
    """Probability-weighted cooperation level by family (test splits pooled), with published benchmarks."""
    families = sorted({f for name in _names(results) for f in results.metrics[name]["cooperation"]["all"]} - {"all"})
    header = ["agent", *families]
    rows = [
        [name, *(_interval(lookup(results.metrics[name], "cooperation", "all", f, "expected"), decimals)
                 for f in families)]
        for name in _names(results)
    ]  # fmt: skip
    for b in BENCHMARKS:
        if b.family in families:
            rows.append([f"{b.population} ({b.citation})",
                         *(f"{b.value:.{decimals}f}" if f == b.family else DASH for f in families)])  # fmt: skip
    caption = (
        "Cooperation level (share cooperating in 2x2 games, share of the endowment or pie given, sent or "
        f"offered) weighted by choice probabilities; t {coverage_label(results.confidence)} intervals, "
        f"{POOLED_CLUSTERING}; "
        "published rates for comparison."
    )
    return header, rows, caption


def _slope(fit: Mapping[str, Any] | None, covariate: str, decimals: int, *, with_se: bool) -> str:
    coef = lookup(fit, "coef", covariate) if fit else None
    if not coef or coef.get("estimate") is None:
        # A constant outcome's logit has no slope estimate, yet it did not respond: not the same as missing.
        return CONSTANT if fit and fit.get("constant") else DASH
    text = f"{coef['estimate']:.{decimals}f}"
    if with_se and coef.get("se") is not None:
        text += f" ({coef['se']:.{decimals}f})"
    return text + ("†" if fit.get("separated") else "")


def sensitivity_table(results: Results, *, decimals: int = 2) -> Table:
    """Incentive sensitivity: logit and rate-scale slopes of cooperation per payoff parameter, agents vs theory."""
    agents = list(results.agents)
    theories = results.theories
    source = results.metrics[(agents or list(results.references))[0]]["sensitivity"]
    header = ["family", "parameter", "scale", *agents, *(f"theory {display_theory(t)}" for t in theories)]
    rows = []
    for family, entry in source.items():
        for covariate in entry["covariates"]:
            for scale in ("logit", "lpm"):
                cells = [
                    _slope(lookup(results.metrics[a], "sensitivity", family, "agent", scale), covariate, decimals,
                           with_se=True)
                    for a in agents
                ]  # fmt: skip
                cells += [
                    _slope(lookup(entry, "theory", t, scale), covariate, decimals, with_se=False) for t in theories
                ]
                rows.append([family, covariate, "logit" if scale == "logit" else "rate", *cells])
    caption = (
        "Slopes of the cooperation level on payoff parameters (temptation (T-R)/(T-S), stated belief, "
        "public-goods return), fractional logit and linear probability (rate) scale, HC1 standard errors; "
        "the theories' slopes fitted the same way († separated: a deterministic threshold rule, compare signs; "
        "0 (constant): the outcome never varies in the family, so its rate slope is 0 and its logit slope is "
        "not identified)."
    )
    return header, rows, caption


def utility_table(results: Results, *, decimals: int = 2) -> Table:
    """Correlation of the cooperation level with each theory's utility difference, and expected utility regret."""
    theories = results.theories
    header = ["agent"]
    for t in theories:
        header += [f"r(Δu) {display_theory(t)}", f"regret {display_theory(t)}"]
    rows = []
    for name in _names(results):
        m = results.metrics[name]
        row = [name]
        for t in theories:
            corr = lookup(m, "utility_correlation", "all", t) or {}
            estimate = {"estimate": corr.get("pearson"), "low": corr.get("low"), "high": corr.get("high")}
            row += [_interval(estimate, decimals), _interval(lookup(m, "regret", "all", t, "expected"), decimals)]
        rows.append(row)
    coverage = coverage_label(results.confidence)
    caption = (
        "Pearson correlation of the probability-weighted cooperation level with the theory's utility "
        f"difference (two-option items; Fisher-z {coverage} interval), and expected utility regret as a share "
        f"of the payoff range (items the theory answers; t {coverage} interval); both {POOLED_CLUSTERING}."
    )
    return header, rows, caption


def presentation_table(results: Results, *, decimals: int = 2) -> Table:
    """The probability of each theory's option split into a preference for it, its place and its letter."""
    header = [
        "agent",
        "theory",
        "theory's option, balanced",
        "first minus second place",
        "earlier minus later letter",
        "letters in order minus swapped",
    ]
    rows = []
    for name in _names(results):
        for theory in results.theories:
            fit = lookup(results.metrics[name], "presentation", "all", theory)
            cells = [_interval(lookup(fit, "coef", code), decimals) for code in ("const", *PRESENTATION_CODES)]
            rows.append([name, display_theory(theory), *cells])
    caption = (
        "Probability of the theory's option on two-option items (test splits pooled), by least squares on its "
        "place in the list, the alphabetical order of its label and of the two labels: with place and letter "
        "balanced (0.50: no preference for the theory's answer), and the difference each makes (a large last one: "
        "the agent ties letters to places in the list); "
        f"{coverage_label(results.confidence)} intervals clustered by decision problem (– where a code does not "
        "vary in the items)."
    )
    return header, rows, caption


def own_versus_other_table(results: Results, *, decimals: int = 2) -> Table:
    """Each aligned agent beside every theory, per test split: agreement with each, cooperation beside each's.

    Rows need the exact theories among the reference rules (their cooperation levels); without them the table has
    no rows.
    """
    theories = results.theories
    header = ["agent", "split", *(f"agrees with {display_theory(t)}" for t in theories), "cooperation",
              *(f"{display_theory(t)} cooperates" for t in theories), "nearer its own theory"]  # fmt: skip
    exact = {name: results.metrics[name] for name in results.references if name.startswith(EXACT_PREFIX)}
    rows = []
    for agent in results.agents if exact else []:
        if results.metrics[agent].get("own_theory") is None:
            continue
        for split in results.test_splits:
            comparison = own_versus_other(results.metrics[agent], exact, split)
            levels = comparison["cooperation"]
            rows.append([
                agent,
                split,
                *(_point(comparison["agreement"][t], decimals) for t in theories),
                _point(levels["agent"], decimals),
                *(_point(levels[t], decimals) for t in theories),
                _nearer(comparison["nearer_own"]),
            ])  # fmt: skip
    caption = (
        "Each aligned agent beside every theory on each test split: the share of items where its argmax choice is "
        "the theory's answer, and its cooperation level (argmax choices) beside the exact theory's on the same "
        "items; point estimates (intervals in the agreement-by-split table). Nearer its own theory: it agrees with "
        "its own theory more often than with every other, and cooperates nearer its own theory's level than every "
        f"other's ({DASH} where a split has no cooperation level)."
    )
    return header, rows, caption


def _point(value: float | None, decimals: int) -> str:
    return DASH if value is None else f"{value:.{decimals}f}"


def _nearer(nearer: Mapping[str, bool | None]) -> str:
    if nearer["both"] is None:  # neither comparison failed and one was not measured
        return DASH
    shown = {(True, True): "yes", (True, False): "in agreement only", (False, True): "in cooperation only"}
    return shown.get((nearer["agreement"], nearer["cooperation"]), "no")


TABLES: dict[str, Callable[..., Table]] = {
    "agreement": agreement_table,
    "agreement_by_split": agreement_by_split_table,
    "belief_use": belief_use_table,
    "cooperation": cooperation_table,
    "own_versus_other": own_versus_other_table,
    "presentation": presentation_table,
    "sensitivity": sensitivity_table,
    "utility": utility_table,
}
"""Table name -> builder; ``report-games`` writes ``{name}.md`` and ``{name}.tex`` for each."""
