# Helpers that only Snakemake needs: config validation, derived names, input functions.
import json

from econalign.config import ConfigError, validate_config

try:
    _resolved = validate_config(config)
except ConfigError as error:
    raise WorkflowError(str(error)) from None
config.clear()
config.update(_resolved)

AGENTS = [agent["name"] for agent in config["agents"]]
EVALUATED = ["base", *AGENTS]
# Hosted models (econalign.serve) are evaluated on the battery beside the local agents, never fine-tuned, and take
# no part in the applications; validate_config has checked that their names differ from every agent's.
HOSTED = [h["name"] for h in config.get("hosted", [])]
# econalign.data.SPLITS, restated so that parsing the Snakefile does not import the data stack (a test compares them).
SPLITS = ["train", "validation", "test_payoffs", "test_paraphrases", "test_labels", "test_families"]
BASE_MODEL = "results/prepare_model/base"
# A JAX job takes every core of a local run (the `jax` resource keeps them one at a time). On a cluster executor
# there is no --cores (reading workflow.cores would fail while parsing): there the profile's cpus_per_task decides.
JAX_THREADS = workflow.resource_settings.cores or 1


wildcard_constraints:
    agent="[a-z][a-z0-9_]*",


def one_of(names):
    """A wildcard constraint that matches exactly the given names (nothing at all when there are none)."""
    return "|".join(names) or "(?!)"


def stage_config(*sections):
    """The part of the config a stage reads, as JSON for `--config-json`.

    Passing only the relevant sections makes Snakemake's params trigger rerun a stage exactly when
    its own settings change.
    """
    keys = ["seed", "model", "agents", "kappa_grid", *sections]
    return json.dumps({key: config[key] for key in keys}, sort_keys=True)


def get_adapter(wildcards):
    """Adapter directory of an agent, or nothing for the untuned base model."""
    if wildcards.agent == "base":
        return []
    return f"results/finetune/{wildcards.agent}/adapter"


def adapter_flag(wildcards, input):
    return f"--adapter {input.adapter}" if wildcards.agent != "base" else ""


def get_synthesized():
    return expand("results/synthesize/{agent}/card.md", agent=AGENTS)


def get_adapters():
    return expand("results/finetune/{agent}/adapter", agent=AGENTS)


def get_evaluations():
    """Battery metrics of every local agent and hosted model (what the game report and the paper read)."""
    return expand("results/evaluate/{agent}/metrics.json", agent=[*EVALUATED, *HOSTED])


def get_final_output():
    # The paper's summary, and the game battery's reading page (every table inlined, every figure linked).
    return ["results/paper/RESULTS.md", "results/report_games/index.md"]


TEST_SPLITS = [split for split in SPLITS if split.startswith("test_")]


def pricing_players():
    """Every firm type in the pricing tournament: evaluated LLM agents, then reference pricers."""
    return [*EVALUATED, *config["pricing"]["reference_opponents"]]


# Pairings are unordered "a__b" names over the LLM agents and reference opponents, LLM agents first;
# the applications stage owns the exact list (econalign.applications.duopoly.pairings).
from econalign.applications.pairings import pricing_pairings, split_pairing  # noqa: E402

PAIRINGS = pricing_pairings(EVALUATED, config["pricing"])


def get_pairing_adapters(wildcards):
    firms = split_pairing(wildcards.pairing)
    return [f"results/finetune/{firm}/adapter" for firm in firms if firm in AGENTS]
