# Helpers that only Snakemake needs: config validation, derived names, input functions.
import json

from econalign.config import (
    ConfigError,
    runtime_settings,
    validate_config,
    without_report_settings,
    without_runtime_settings,
)

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
# Memory (MB) and wall time (minutes) of the report rules (report_games*, report_applications, paper): polars and
# matplotlib over the scores and logs of every agent, single-threaded. Their imports with the paper-scale battery's
# test splits and reference scores loaded (112,800 rows) peak at 364 MB on the 2-core VM, and each job of the tiny
# end-to-end study took 185-254 MB and 4-18 s (benchmarks/report_*, paper); 2 GB and 15 minutes leave room for the
# per-item scores of every agent beside them.
# The CPU rules' resources are functions of `attempt`, so a job retried on a cluster (profiles/slurm, retries: 1) gets
# twice as much, as the GPU rules do through the profile; the first attempt, so every local run, gets these values.
REPORT_MEM_MB = 2000
REPORT_RUNTIME = 15


wildcard_constraints:
    agent="[a-z][a-z0-9_]*",


def local_model():
    """The model spec as an input when it is a local .gguf file or checkpoint directory, so that replacing it reruns
    the conversion (the embedded name and hub ids name no file here)."""
    path = os.path.expanduser(config["model"]["spec"])
    return [path] if os.path.exists(path) else []


def one_of(names):
    """A wildcard constraint that matches exactly the given names (nothing at all when there are none)."""
    return "|".join(names) or "(?!)"


COMMON_KEYS = ("seed", "model", "agents", "kappa_grid")
# The datasets do not depend on the model, and training reads model.dtype only where finetune.dtype leaves it to it:
# changing the scoring precision must not rerun synthesis and every fine-tuning job. The test splits are drawn for all
# agents together (DATA_KEYS); an agent's training splits and fine-tuning read its own entry alone (stage_config's
# `agent`), so adding an agent or a kappa_grid value reruns neither for the agents already there.
DATA_KEYS = ("seed", "agents", "kappa_grid")
TRAINING_DATA_KEYS = ("seed",)
TRAINING_KEYS = TRAINING_DATA_KEYS + (("model/dtype",) if config["finetune"]["dtype"] is None else ())


def stage_config(*sections, common=COMMON_KEYS, agent=None, hosted=None, report_settings=True):
    """The part of the config a stage reads, as JSON for `--config-json`.

    Passing only what a stage reads makes Snakemake's params trigger rerun it exactly when its own settings change:
    whole sections ("data") or single keys ("report/decimals"), never the settings that change no result
    (econalign.config.RUNTIME_SETTINGS, passed as RUNTIME_JSON instead). `common` are the keys besides `sections`
    (every stage reads the seed and the agents). `agent=NAME` gives that agent's entry alone as the agent list, and no
    kappa_grid: validate_config has already expanded the grid into the list, and passing the grid would add its agents
    back. `hosted="names"` gives every hosted model's name and model id (what the reports list), `hosted=NAME` that
    model's whole entry. `report_settings=False` leaves out the keys only a report reads
    (econalign.config.REPORT_SETTINGS).
    """
    stage = {}
    for key in [*common, *sections]:
        section, _, leaf = key.partition("/")
        if leaf:
            stage.setdefault(section, {})[leaf] = config[section][leaf]
        else:
            stage[section] = config[section]
    if agent is not None:
        stage.pop("kappa_grid", None)
        stage["agents"] = [entry for entry in config["agents"] if entry["name"] == agent]
    if hosted == "names":
        stage["hosted"] = [{"name": h["name"], "model": h["model"]} for h in config["hosted"]]
    elif hosted is not None:
        stage["hosted"] = [h for h in config["hosted"] if h["name"] == hosted]
    if not report_settings:
        stage = without_report_settings(stage)
    return json.dumps(without_runtime_settings(stage), sort_keys=True)


# Progress bars, checkpoint intervals and tracking: read by the stages through --runtime-json, from
# this global rather than from params, so that switching one reruns nothing (Snakemake tracks params and the rule's
# unformatted shell command, not the globals formatted into it).
RUNTIME_JSON = json.dumps(runtime_settings(config), sort_keys=True)


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
TRAINING_SPLITS = [split for split in SPLITS if split not in TEST_SPLITS]


def pricing_players():
    """Every firm type in the pricing tournament: evaluated LLM agents, then reference pricers."""
    return [*EVALUATED, *config["pricing"]["reference_opponents"]]


# Pairings are unordered "a__b" names over the LLM agents and reference opponents, LLM agents first;
# the applications stage owns the exact list (econalign.applications.pairings.pricing_pairings).
from econalign.applications.pairings import pricing_pairings  # noqa: E402

PAIRINGS = pricing_pairings(EVALUATED, config["pricing"])
