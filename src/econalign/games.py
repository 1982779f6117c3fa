"""The games, for SDK users: ``econalign.games.PrisonersDilemma`` is ``econalign.theory.games.PrisonersDilemma``.

A thin re-export of :mod:`econalign.theory.games` (the one implementation), so that ``import econalign as ea`` then
``ea.games.PrisonersDilemma(T=5, R=3, P=1, S=0)`` works. The exported names are the theory module's ``__all__``.
"""

from econalign.theory import games as _theory_games
from econalign.theory.games import *  # noqa: F403

__all__ = list(_theory_games.__all__)
