import pytest

from econalign.applications.pairings import pricing_pairings, split_pairing


def test_pairings_cover_every_llm_pair_and_reference():
    agents = ["base", "economicus", "moralis"]
    references = ["nash", "tit_for_tat"]
    pairings = pricing_pairings(agents, {"reference_opponents": references})
    assert len(pairings) == len(set(pairings)) == 6 + 3 * 2 + 2
    assert {"base__moralis", "economicus__economicus", "moralis__tit_for_tat", "nash__nash"} <= set(pairings)
    assert all(split_pairing(p)[0] in agents or split_pairing(p) == (split_pairing(p)[0],) * 2 for p in pairings)


def test_agent_named_like_a_reference_pricer_is_rejected():
    with pytest.raises(ValueError, match="reference pricers"):
        pricing_pairings(["base", "nash"], {"reference_opponents": ["nash"]})


def test_split_pairing_rejects_malformed_names():
    with pytest.raises(ValueError):
        split_pairing("base")
    with pytest.raises(ValueError):
        split_pairing("a__b__c")
