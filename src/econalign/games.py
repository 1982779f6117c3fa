"""The games, for SDK users: ``econalign.games.PrisonersDilemma`` is ``econalign.theory.games.PrisonersDilemma``.

A thin re-export of :mod:`econalign.theory.games` (the one implementation), so that ``import econalign as ea`` then
``ea.games.PrisonersDilemma(T=5, R=3, P=1, S=0)`` works.
"""

from econalign.theory.games import (
    GAMES,
    AVDilemma,
    Chicken,
    Coordination,
    Dictator,
    Game,
    Harmony,
    MatrixGame,
    PrisonersDilemma,
    PublicGoods,
    StagHunt,
    SymmetricGame2x2,
    Trust,
    Ultimatum,
    family_of,
    game_from_params,
)

__all__ = [
    "GAMES",
    "AVDilemma",
    "Chicken",
    "Coordination",
    "Dictator",
    "Game",
    "Harmony",
    "MatrixGame",
    "PrisonersDilemma",
    "PublicGoods",
    "StagHunt",
    "SymmetricGame2x2",
    "Trust",
    "Ultimatum",
    "family_of",
    "game_from_params",
]
