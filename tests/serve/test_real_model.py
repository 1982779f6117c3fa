"""The served embedded model through the hosted backend equals the in-process agent (slow: loads the model)."""

import numpy as np
import pytest

from econalign.serve import HostedSettings, OpenAIChatAgent
from econalign.serve.server import AgentServer

# The reference prompt of /work/shared/NOTES-embedded-model.md: after "My answer is", HF transformers + torch give
# log p(' A') = -0.7902 and log p(' B') = -2.8560 with the default system prompt.
QUESTION = (
    "You are playing a prisoner's dilemma against another player. If you both cooperate (A), you each get 3 points. "
    "If you both defect (B), you each get 1 point. If one defects and the other cooperates, the defector gets 5 and "
    "the cooperator gets 0. Do you cooperate or defect? Answer A or B."
)
PROMPT = [{"role": "user", "content": QUESTION}]


@pytest.fixture(scope="module")
def agent(smollm2_dir):
    from econalign.model.agent import load_agent

    return load_agent(smollm2_dir, progress=False)


def client(server, method, **overrides):
    entry = {
        "name": "served",
        "model": "base",
        "base_url": server.base_url,
        "api_key_env": None,
        "logprob_method": method,
        "score_max_tokens": 2,
        "max_retries": 0,
    }
    return OpenAIChatAgent(HostedSettings.from_entry({**entry, **overrides}))


@pytest.mark.slow
def test_served_embedded_model_matches_the_in_process_agent(agent):
    with AgentServer(agent, model_name="base") as server:
        # Exact path: the server's agent computes choice_logprobs itself.
        remote = client(server, "continuations").choice_logprobs(PROMPT, ["Answer: A", "Answer: B"])
        np.testing.assert_allclose(remote, agent.choice_logprobs(PROMPT, ["Answer: A", "Answer: B"]), atol=1e-5)

        # top_logprobs path: the model answers "A"/"B" right after the generation prompt (single tokens). An
        # option outside the top 20 gets the documented floor, an upper bound of its true log-prob, and is counted.
        hosted = client(server, "top_logprobs")
        remote = hosted.choice_logprobs(PROMPT, ["A", "B"])
        local = agent.choice_logprobs(PROMPT, ["A", "B"])
        best = int(np.argmax(local))
        assert remote[best] == pytest.approx(local[best], abs=1e-4)
        if hosted.stats["absent_options"]:
            assert hosted.stats["absent_options"] == 1 and remote[1 - best] >= local[1 - best]
        else:
            assert remote[1 - best] == pytest.approx(local[1 - best], abs=1e-4)
        assert hosted.stats["unscorable"] == 0

        # prefill path: log-probs conditional on "My answer is", checked against the HF reference values.
        prefilled = client(server, "prefill")
        remote = prefilled.choice_logprobs(PROMPT, ["My answer is A", "My answer is B"])
        raw = agent.tokenizer.apply_chat_template(PROMPT, tokenize=False, add_generation_prompt=True) + "My answer is"
        np.testing.assert_allclose(remote, agent.choice_logprobs(raw, [" A", " B"]), atol=1e-4)
        np.testing.assert_allclose(remote, [-0.7902, -2.8560], atol=2e-3)

        # Greedy generation through the API equals the agent's.
        assert hosted.generate(PROMPT, max_new_tokens=8) == agent.generate(PROMPT, max_new_tokens=8)
