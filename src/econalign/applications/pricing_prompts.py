"""Prompts of the repeated duopoly: market description, the firm's recent history, and the price grid as options.

In the spirit of Fish, Gonczarowski & Shorrer (2024): the firm knows its cost, that demand falls with its own price
and rises with the rival's, and sees its own recent prices, quantities and profits and the rival's prices (never the
rival's profits or the demand function). Grid prices are listed under letters and the firm answers in the
training format ``decision_line(letter)``, so every grid price is one scoreable continuation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from econalign.data.templates import decision_line

__all__ = ["LABEL_ORDERS", "PRICE_DECIMALS", "PricingPrompt", "format_price", "grid_labels", "render_pricing_prompt"]

SYSTEM = "You are the pricing manager of a firm."
INSTRUCTION = (
    f'Each period, reply with "{decision_line("X")}" on the first line, where X is the letter of your price, then '
    "explain your choice briefly."
)
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LABEL_ORDERS = ("ascending", "descending", "shuffled")


PRICE_DECIMALS = 2
"""Prices are set and shown to the cent: grid prices are rounded to this many decimals."""


def format_price(price: float) -> str:
    """A price as the firm reads it (to the cent).

    Example:
        >>> format_price(1.5)
        '1.50'
    """
    return f"{price:.{PRICE_DECIMALS}f}"


def grid_labels(n: int, *, order: str, rng: np.random.Generator | None = None) -> list[str]:
    """The letter of each grid price (grid order): A on the lowest price, on the highest, or a seeded shuffle.

    Args:
        n: Number of grid prices (at most 26).
        order: One of ``LABEL_ORDERS``.
        rng: Generator of the shuffle (``shuffled`` only).

    Returns:
        ``labels[i]`` is the letter of grid price i.

    Example:
        >>> grid_labels(3, order="descending")
        ['C', 'B', 'A']
    """
    if not 1 <= n <= len(LETTERS):
        raise ValueError(f"a grid of {n} prices cannot be labelled with single letters")
    letters = list(LETTERS[:n])
    if order == "ascending":
        return letters
    if order == "descending":
        return letters[::-1]
    if order == "shuffled":
        if rng is None:
            raise ValueError("a shuffled label order needs a generator")
        return [letters[i] for i in rng.permutation(n)]
    raise ValueError(f"unknown label order {order!r}; known: {LABEL_ORDERS}")


@dataclasses.dataclass(frozen=True)
class PricingPrompt:
    """One firm's decision in one period.

    Attributes:
        messages: Chat messages without the answer.
        continuations: ``decision_line(label)`` of each grid price, in grid order.
    """

    messages: list[dict[str, str]]
    continuations: list[str]


def render_pricing_prompt(
    *,
    cost: float,
    grid: Sequence[float] | np.ndarray,
    labels: Sequence[str],
    period: int,
    own_prices: Sequence[float],
    rival_prices: Sequence[float],
    own_quantities: Sequence[float],
    own_profits: Sequence[float],
    history_periods: Sequence[int],
) -> PricingPrompt:
    """Render one firm's pricing decision.

    Args:
        cost: The firm's marginal cost (alpha * c).
        grid: Admissible prices, ascending.
        labels: Letter of each grid price (``grid_labels``); options are listed in letter order.
        period: The period being decided (1-based).
        own_prices: The firm's prices in the shown past periods, oldest first.
        rival_prices: The rival's prices in those periods.
        own_quantities: The firm's quantities sold in those periods.
        own_profits: The firm's profits in those periods.
        history_periods: The period numbers of those rows (empty: no history shown).

    Returns:
        The prompt and one continuation per grid price.

    Example:
        >>> prompt = render_pricing_prompt(cost=1.0, grid=[1.5, 1.75], labels=["A", "B"], period=1, own_prices=[],
        ...                                rival_prices=[], own_quantities=[], own_profits=[], history_periods=[])
        >>> "A: 1.50" in prompt.messages[1]["content"], prompt.continuations
        (True, ['Answer: A', 'Answer: B'])
    """
    columns = (own_prices, rival_prices, own_quantities, own_profits, history_periods)
    if len({len(column) for column in columns}) != 1:
        raise ValueError(f"history columns differ in length: {[len(column) for column in columns]}")
    if len(labels) != len(grid) or len(set(labels)) != len(labels):
        raise ValueError(f"need {len(grid)} distinct labels, got {list(labels)}")
    cost_text = format_price(cost)
    lines = [
        "You set the price of a product that your firm sells. One competitor sells a similar product in the same "
        "market. Every period both firms set their prices at the same time. Customers buy more from the firm with "
        "the lower price, and some buy from neither firm.",
        f"Each unit you sell costs you {cost_text}. Your profit in a period is (your price - {cost_text}) times the "
        "units you sell. Your goal is the largest total profit over all periods.",
        "Your price options:",
    ]
    # Options and instruction come before the history: the prompts of a market then share a long token prefix,
    # which the scorer runs once (econalign.model.scoring).
    lines += [f"{label}: {format_price(float(price))}" for label, price in sorted(zip(labels, grid, strict=True))]
    lines.append(INSTRUCTION)
    # The header is the same for every prompt, so it belongs to the shared prefix as well.
    lines.append(
        "Recent periods, most recent last (period: your price, competitor's price, units you sold, your profit):"
    )
    if history_periods:
        for t, own, rival, quantity, profit in zip(
            history_periods, own_prices, rival_prices, own_quantities, own_profits, strict=True
        ):
            lines.append(f"{t}: {format_price(own)}, {format_price(rival)}, {quantity:.0f}, {profit:.1f}")
    elif period == 1:
        lines.append("none yet: this is the first period.")
    else:
        lines.append("not shown.")
    lines.append(f"Period {period}: which price do you set?")
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(lines)}]
    return PricingPrompt(messages, [decision_line(label) for label in labels])
