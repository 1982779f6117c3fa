import math

import numpy as np
import pytest

from econalign.serve.scoring import score_options, split_options

OPTIONS = ["Decision: A", "Decision: B", "Decision: C"]


def token(text, logprob, alternatives=()):
    return {"token": text, "logprob": logprob, "top_logprobs": [{"token": t, "logprob": lp} for t, lp in alternatives]}


def test_split_options_requires_one_distinguishing_character():
    assert split_options(["Decision: A", "Decision: B"]) == ("Decision: ", ["A", "B"])
    assert split_options(["x10", "x2"]) == ("x", ["10", "2"])
    for bad in (["Decision: A"], ["Decision: A1", "Decision: A2", "Decision: B"], ["Decision: A", "Decision: A"]):
        with pytest.raises(ValueError):
            split_options(bad)


def test_prefix_tokens_and_label_alternatives_are_summed():
    content = [
        token("Decision", -0.25),
        token(":", -0.5),
        token(" B", -0.75, [(" B", -0.75), (" A", -1.5), (" C", -2.0), (" maybe", -3.0)]),
        token("\n", -0.1),
    ]
    score = score_options(content, OPTIONS)
    np.testing.assert_allclose(score.logprobs, [-2.25, -1.5, -2.75])
    assert (score.absent, score.preamble_tokens, score.unscorable) == (0, 0, None)


def test_alternatives_for_the_same_option_are_combined():
    content = [token("Decision:", -0.2), token(" A", -1.0, [(" A", -1.0), (" A.", -2.0), (" B", -1.2)])]
    score = score_options(content, OPTIONS)
    assert score.logprobs[0] == pytest.approx(-0.2 + math.log(math.exp(-1.0) + math.exp(-2.0)))
    assert score.logprobs[1] == pytest.approx(-1.4)


def test_token_ending_exactly_at_the_prefix_end():
    content = [token("Decision: ", -0.3), token("C", -0.1, [("C", -0.1), ("A", -3.0), ("B", -4.0)])]
    np.testing.assert_allclose(score_options(content, OPTIONS).logprobs, [-3.3, -4.3, -0.4])


def test_absent_option_gets_an_upper_bound_floor():
    listed = [(" A", math.log(0.5)), (" B", math.log(0.3))]
    content = [token("Decision:", 0.0), token(" A", math.log(0.5), listed)]
    score = score_options(content, OPTIONS)
    # Unlisted mass 0.2 is below the smallest listed probability (0.3): the bound is log(0.2).
    assert score.logprobs[2] == pytest.approx(math.log(0.2))
    assert score.absent == 1
    nearly_all = [(" A", math.log(0.999999)), (" B", math.log(1e-6))]
    content = [token("Decision:", 0.0), token(" A", math.log(0.999999), nearly_all)]
    assert score_options(content, OPTIONS, logprob_floor=-5.0).logprobs[2] == -5.0


def test_preamble_is_skipped_and_counted_unless_forbidden():
    content = [
        token("Sure", -1.0),
        token(".", -1.0),
        token("Decision", -0.5),
        token(":", 0.0),
        token(" A", -0.1, [(" B", -3.0)]),
    ]
    score = score_options(content, OPTIONS)
    assert score.preamble_tokens == 2
    assert score.logprobs[:2] == pytest.approx([-0.6, -3.5])
    strict = score_options(content, OPTIONS, allow_preamble=False)
    assert strict.unscorable is not None and np.isnan(strict.logprobs).all()


def test_replies_that_do_not_reach_a_label_are_unscorable():
    truncated = score_options([token("Decision", -0.1)], OPTIONS)
    assert "ended" in truncated.unscorable and np.isnan(truncated.logprobs).all()
    other = score_options([token("I", -0.1), token(" choose", -0.1), token(" A", -0.1)], OPTIONS)
    assert other.unscorable is not None and np.isnan(other.logprobs).all()
    # The prefix must start at a token boundary: "xDecision: A" as one token does not count.
    assert score_options([token("xDecision: A", -0.1)], OPTIONS).unscorable is not None
