"""Published human and LLM behaviour in the battery's games, defined once with their sources.

Figures and tables overlay these numbers next to the agents' rates. They come from different designs (one-shot
games, real stakes, other framings) than our synthetic items, so they are landmarks, not targets.
"""

from __future__ import annotations

import dataclasses

__all__ = ["BENCHMARKS", "Benchmark", "benchmarks_for"]


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """One published rate.

    Attributes:
        family: The game family (dataset ``family`` column) it compares to.
        metric: What the number measures, in the battery's terms (``cooperation_level``: cooperation rate in
            2×2 games, mean share of the pie given in dictator games).
        value: The rate, in [0, 1].
        population: Who behaved (``humans``, ``gpt-3.5``, ...).
        citation: Short citation.
        note: What exactly the number is.
    """

    family: str
    metric: str
    value: float
    population: str
    citation: str
    note: str


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        family="prisoners_dilemma",
        metric="cooperation_level",
        value=0.37,
        population="humans",
        citation="Brookins & DeBacker (2024), Economics Bulletin",
        note="share of human subjects cooperating in a one-shot prisoner's dilemma",
    ),
    Benchmark(
        family="prisoners_dilemma",
        metric="cooperation_level",
        value=0.65,
        population="gpt-3.5",
        citation="Brookins & DeBacker (2024), Economics Bulletin",
        note="share of GPT-3.5 replies cooperating in the same one-shot prisoner's dilemma",
    ),
    Benchmark(
        family="dictator",
        metric="cooperation_level",
        value=0.28,
        population="humans",
        citation="Engel (2011), Experimental Economics 14(4)",
        note="mean share of the pie given by dictators, meta-analysis of 616 treatments",
    ),
)


def benchmarks_for(family: str, metric: str = "cooperation_level") -> list[Benchmark]:
    """The benchmarks for one family and metric, in definition order.

    Example:
        >>> [b.population for b in benchmarks_for("prisoners_dilemma")]
        ['humans', 'gpt-3.5']
    """
    return [b for b in BENCHMARKS if b.family == family and b.metric == metric]
