"""Logit Bertrand duopoly of Calvano et al. (2020), with homo moralis firms.

Demand q_i = beta exp((a - p_i/alpha)/mu) / (exp((a - p_i/alpha)/mu) + exp((a - p_j/alpha)/mu) + exp(a0/mu)),
profit pi_i = (p_i - alpha c) q_i. The currency scale alpha multiplies every price (alpha = 1 is Calvano's
parameterisation; Fish, Gonczarowski & Shorrer 2024 use alpha in {1, 3.2, 10}); beta only scales quantities.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from econalign.theory.continuous import best_response_price, maximise_scalar, symmetric_equilibrium_price

__all__ = ["LogitDuopoly"]


@dataclasses.dataclass(frozen=True)
class LogitDuopoly:
    """Symmetric logit duopoly with an outside good.

    Args:
        alpha: Currency scale: prices and costs are multiplied by alpha.
        a: Product quality a_i (both firms).
        a0: Outside-good quality.
        mu: Horizontal differentiation (logit scale).
        c: Marginal cost before scaling (the cost is alpha * c).
        beta: Market size (quantity scale).

    Example:
        >>> market = LogitDuopoly(beta=1.0)
        >>> round(market.nash_price(), 4), round(market.monopoly_price(), 4)
        (1.4729, 1.925)

    References:
        Calvano, Calzolari, Denicolò & Pastorello (2020), Artificial intelligence, algorithmic pricing, and
        collusion, AER 110(10), Section I.B (eq. 5); Fish, Gonczarowski & Shorrer (2024), Algorithmic collusion by
        large language models, arXiv 2404.00806 (alpha, beta scaling).
    """

    alpha: float = 1.0
    a: float = 2.0
    a0: float = 0.0
    mu: float = 0.25
    c: float = 1.0
    beta: float = 100.0

    def __post_init__(self) -> None:
        for name in ("alpha", "mu", "beta"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")

    @property
    def cost(self) -> float:
        """Marginal cost in currency units, alpha * c."""
        return self.alpha * self.c

    @property
    def bounds(self) -> tuple[float, float]:
        """Price interval searched by the solvers: from cost to cost plus a markup no optimum reaches.

        The joint-profit markup m (in units of alpha) solves m = mu / s0 with outside share s0, so it stays below
        max(a - c - a0, 0) + 3 mu; competitive and moralis markups are smaller. The interval ends at 10 mu past
        that term, leaving the root finders a wide margin.
        """
        return self.cost, self.cost + self.alpha * (max(self.a - self.c - self.a0, 0.0) + 10.0 * self.mu)

    def demand(self, p_i: float, p_j: float) -> float:
        """Quantity sold by firm i at prices (p_i, p_j).

        Example:
            >>> round(LogitDuopoly(beta=1.0).demand(1.0, 1.0), 4)  # e^4 / (2 e^4 + 1)
            0.4955
        """
        v_i = (self.a - p_i / self.alpha) / self.mu
        v_j = (self.a - p_j / self.alpha) / self.mu
        v_0 = self.a0 / self.mu
        # Subtracting the largest utility keeps exp() finite for any prices.
        top = max(v_i, v_j, v_0)
        e_i, e_j, e_0 = np.exp(v_i - top), np.exp(v_j - top), np.exp(v_0 - top)
        return float(self.beta * e_i / (e_i + e_j + e_0))

    def profit(self, p_i: float, p_j: float) -> float:
        """Firm i's profit (p_i - alpha c) q_i(p_i, p_j).

        Example:
            >>> market = LogitDuopoly(beta=1.0)
            >>> p = market.nash_price()
            >>> round(market.profit(p, p), 4)
            0.2229
        """
        return (p_i - self.cost) * self.demand(p_i, p_j)

    def best_response(self, p_j: float, *, kappa: float = 0.0) -> float:
        """Price maximising (1 - kappa) pi(p, p_j) + kappa pi(p, p).

        Example:
            >>> market = LogitDuopoly()
            >>> p = market.nash_price()
            >>> round(market.best_response(p) - p, 8)
            0.0
        """
        return best_response_price(self.profit, p_j, kappa=kappa, bounds=self.bounds)

    def moralis_price(self, kappa: float) -> float:
        """Symmetric homo moralis equilibrium price: each firm maximises (1 - kappa) pi(p, p_j) + kappa pi(p, p).

        Args:
            kappa: Both firms' degree of morality in [0, 1].

        Returns:
            The equilibrium price; kappa = 0 is Bertrand-Nash, kappa = 1 the joint-profit maximum.

        Example:
            >>> round(LogitDuopoly().moralis_price(0.5), 4)
            1.7106

        References:
            Alger & Weibull (2013), Econometrica 81(6), eq. (2) applied to the duopoly.
        """
        if not 0.0 <= kappa <= 1.0:
            raise ValueError(f"kappa must lie in [0, 1], got {kappa}")
        return symmetric_equilibrium_price(self.profit, kappa=kappa, bounds=self.bounds)

    def nash_price(self) -> float:
        """Bertrand-Nash equilibrium price (1.4729 alpha with Calvano's parameters).

        Example:
            >>> round(LogitDuopoly(alpha=10.0).nash_price(), 3)
            14.729
        """
        return self.moralis_price(0.0)

    def monopoly_price(self) -> float:
        """Symmetric price maximising joint profit pi(p, p) (1.9250 alpha with Calvano's parameters).

        Example:
            >>> round(LogitDuopoly().monopoly_price(), 4)
            1.925
        """
        return maximise_scalar(lambda p: self.profit(p, p), self.bounds)

    def profit_gain(self, profit: float) -> float:
        """Calvano's collusion index Delta = (pi - pi_Nash) / (pi_monopoly - pi_Nash), per-firm profit.

        Example:
            >>> market = LogitDuopoly()
            >>> p = market.moralis_price(0.25)
            >>> round(market.profit_gain(market.profit(p, p)), 3)
            0.379

        References:
            Calvano et al. (2020), AER 110(10), Section II.B, eq. (7).
        """
        nash, monopoly = self.nash_price(), self.monopoly_price()
        pi_nash, pi_monopoly = self.profit(nash, nash), self.profit(monopoly, monopoly)
        return float((profit - pi_nash) / (pi_monopoly - pi_nash))

    def price_grid(self, n: int = 15, *, xi: float = 0.1) -> np.ndarray:
        """Calvano's grid: n equally spaced prices from p_N - xi (p_M - p_N) to p_M + xi (p_M - p_N).

        Example:
            >>> grid = LogitDuopoly().price_grid()
            >>> len(grid), round(float(grid[0]), 4), round(float(grid[-1]), 4)
            (15, 1.4277, 1.9702)

        References:
            Calvano et al. (2020), AER 110(10), Section I.C.
        """
        nash, monopoly = self.nash_price(), self.monopoly_price()
        spread = monopoly - nash
        return np.linspace(nash - xi * spread, monopoly + xi * spread, n)
