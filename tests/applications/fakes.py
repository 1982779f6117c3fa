"""Stand-in agents with deterministic log-probabilities, for the applications' batch scoring path."""

import json
import re
import zlib

import numpy as np

OPTION_LINE = re.compile(r"^([A-Z]): (\d+\.\d+)$", re.MULTILINE)
PEDESTRIANS = re.compile(r"(\d+) pedestrians? (?:crossing|steps? into)")
PASSENGERS = re.compile(r"with (\d+) passengers? on board|carrying (\d+) passengers?")


def _user_text(prompt):
    return prompt if isinstance(prompt, str) else prompt[-1]["content"]


def _letter(option):
    assert option.startswith("Answer: "), option
    return option.removeprefix("Answer: ")


class RecordingAgent:
    """Base: records every call (number of prompts) and broadcasts shared options like the real Agent."""

    model_sha256 = "0" * 64

    def __init__(self):
        self.calls = []

    def choice_logprobs(self, prompts, options):
        if isinstance(prompts, str | dict) or (prompts and isinstance(prompts[0], dict)):
            prompts = [prompts]
        per_prompt = options if options and isinstance(options[0], list | tuple) else [options] * len(prompts)
        self.calls.append(len(prompts))
        return [
            np.array([self.score(p, o) for o in opts], dtype=np.float64)
            for p, opts in zip(prompts, per_prompt, strict=True)
        ]


class HashAgent(RecordingAgent):
    """Pseudo-random but deterministic log-probabilities from a hash of prompt and option."""

    def score(self, prompt, option):
        return -((zlib.crc32((json.dumps(prompt) + option).encode()) % 1000) / 200.0)


class LetterBiasAgent(RecordingAgent):
    """Prefers the letter A with a fixed probability (like an untuned model)."""

    def __init__(self, p_a=0.8):
        super().__init__()
        self.p_a = p_a

    def score(self, prompt, option):
        return float(np.log(self.p_a if _letter(option) == "A" else 1 - self.p_a))


class PriceLevelAgent(RecordingAgent):
    """Reads the listed prices and scores each letter by its price: slope > 0 prefers high prices."""

    def __init__(self, slope=10.0):
        super().__init__()
        self.slope = slope

    def score(self, prompt, option):
        prices = {letter: float(price) for letter, price in OPTION_LINE.findall(_user_text(prompt))}
        return self.slope * prices[_letter(option)]


class KantianAgent(RecordingAgent):
    """Swerves with probability expit(4 (kappa n - k)): a noisy homo moralis reading the numbers from the prompt."""

    def __init__(self, kappa):
        super().__init__()
        self.kappa = kappa

    def score(self, prompt, option):
        text = _user_text(prompt)
        n = int(PEDESTRIANS.search(text).group(1))
        k = int(next(g for g in PASSENGERS.search(text).groups() if g))
        letter = _letter(option)
        swerve_letter = re.search(r"^([AB]): [^\n]*(?:[Ss]werve|swerves)", text, re.MULTILINE).group(1)
        utility = 4.0 * (self.kappa * n - k)
        return utility / 2 if letter == swerve_letter else -utility / 2
