"""Which firms meet in the repeated-pricing tournament.

Kept free of JAX and model imports because the Snakefile reads it while planning the DAG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations_with_replacement
from typing import Any

PAIRING_SEPARATOR = "__"


def pricing_pairings(agents: Sequence[str], pricing_config: Mapping[str, Any]) -> list[str]:
    """Names of the pricing episodes to run, as ``"firm1__firm2"``.

    Every unordered pair of LLM agents (self-play included) meets, and each LLM agent meets each
    reference opponent named in ``pricing_config["reference_opponents"]``; reference opponents also
    meet themselves, which checks the simulator against theory.

    Args:
        agents: LLM agent names (``base`` and the aligned agents), in config order.
        pricing_config: The resolved ``pricing`` section of the configuration.

    Returns:
        Pairing names in a stable order.

    Raises:
        ValueError: If an agent has the name of a reference pricer.

    Example:
        >>> pricing_pairings(["base", "moralis"], {"reference_opponents": ["nash"]})
        ['base__base', 'base__moralis', 'moralis__moralis', 'base__nash', 'moralis__nash', 'nash__nash']
    """
    references = list(pricing_config["reference_opponents"])
    clash = sorted(set(references) & set(agents))
    if clash:
        raise ValueError(f"agent names {clash} are also reference pricers' names; rename the agents")
    llm_pairs = [pairing_name(a, b) for a, b in combinations_with_replacement(agents, 2)]
    against_references = [pairing_name(agent, ref) for ref in references for agent in agents]
    reference_self_play = [pairing_name(ref, ref) for ref in references]
    return llm_pairs + against_references + reference_self_play


def pairing_name(first: str, second: str) -> str:
    """The pairing of two firms, ``"first__second"`` (self-play: the same name twice).

    Example:
        >>> pairing_name("moralis", "moralis")
        'moralis__moralis'
    """
    return f"{first}{PAIRING_SEPARATOR}{second}"


def split_pairing(pairing: str) -> tuple[str, str]:
    """The two firms of a pairing name (ConfigError, a ValueError, if it is not ``"a__b"``)."""
    from econalign.config import ConfigError

    firms = pairing.split(PAIRING_SEPARATOR)
    if len(firms) != 2 or not all(firms):
        raise ConfigError(f"pairing {pairing!r} is not of the form 'firm1{PAIRING_SEPARATOR}firm2'")
    return firms[0], firms[1]


def pairing_label(pairing: str) -> str:
    """How tables and figures name a pairing.

    Example:
        >>> pairing_label("moralis__nash")
        'moralis vs nash'
    """
    return " vs ".join(split_pairing(pairing))
