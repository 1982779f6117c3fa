"""The SDK: play() through the data templates and an agent's log-probabilities, align() through the DAG's stages."""

import importlib
import json
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import econalign as ea
from econalign import sdk
from econalign.data.templates import decision_line, render_item
from econalign.model import prepare
from econalign.theory.games import PrisonersDilemma


class FakeAgent:
    """Scores continuations by a fixed log-probability per label; records what it was asked."""

    def __init__(self, by_label):
        self.by_label = by_label
        self.calls = []

    def choice_logprobs(self, prompts, options):
        self.calls.append((prompts, options))
        return [np.array([self.by_label[option.removeprefix("Answer: ")] for option in options]) for _ in prompts]

    def generate(self, prompts, *, max_new_tokens, temperature=0.0, seed=0):
        self.calls.append((prompts, max_new_tokens, temperature, seed))
        return [f"reply {seed}" for _ in prompts]


PD = PrisonersDilemma(T=5, R=3, P=1, S=0)


def test_play_scores_each_decision_line_and_maps_labels_to_actions():
    agent = FakeAgent({"A": np.log(0.2), "B": np.log(0.6)})
    decision = ea.play(agent, PD, belief=0.3, order=[1, 0])
    expected = render_item(
        PD, belief=0.3, template="pair_plain", labels=["A", "B"], order=[1, 0], reasoning_first=False
    )
    assert agent.calls == [([expected.messages], [decision_line("A"), decision_line("B")])]
    assert decision.prompt == expected.messages
    # order [1, 0] shows D as option A and C as option B; B is the more likely letter.
    assert (decision.action, decision.label) == ("C", "B")
    assert decision.probabilities == pytest.approx({"D": 0.25, "C": 0.75})
    assert decision.logprobs == pytest.approx({"D": np.log(0.2), "C": np.log(0.6)})


def test_play_makes_no_decision_from_an_unscorable_reply():
    agent = FakeAgent({"A": np.nan, "B": np.nan})  # a hosted agent whose reply was refused
    with pytest.raises(ValueError, match="no decision"):
        ea.play(agent, PD, belief=0.3)


def test_play_explains_a_game_or_belief_it_cannot_pose():
    from econalign.theory.games import PublicGoods
    from econalign.theory.role_games import Dictator

    agent = FakeAgent({label: 0.0 for label in "ABCDE"})
    with pytest.raises(ValueError, match="pass a probability vector over the other player's 5 actions, or None"):
        ea.play(agent, Dictator(pie=10), belief=0.5)
    assert ea.play(agent, Dictator(pie=10), belief=[0.2, 0.2, 0.2, 0.2, 0.2]).action in Dictator(pie=10).actions
    with pytest.raises(ValueError, match="unknown template 'nope'; for prisoners_dilemma: pair_plain, "):
        ea.play(agent, PD, belief=0.5, template="nope")
    with pytest.raises(ValueError, match="pass n_levels=2"):
        ea.play(agent, PublicGoods(n=4, endowment=10, mpcr=0.5))
    assert ea.play(agent, PublicGoods(n=4, endowment=10, mpcr=0.5, n_levels=2), belief=0.5).action


def test_play_passes_the_belief_into_the_prompt():
    agent = FakeAgent({"A": 0.0, "B": -1.0})
    low, high, same = (ea.play(agent, PD, belief=b).prompt for b in (0.1, 0.9, None))
    assert low != high and same not in (low, high)
    assert ea.play(agent, PD).action == "C"  # default order: C is option A


def test_aligned_agent_plays_and_delegates_scoring():
    fake = FakeAgent({"A": -2.0, "B": -0.1})
    agent = sdk.AlignedAgent(agent=fake, preference=ea.HomoMoralis(kappa=0.5))
    assert agent.play(PD, belief=0.5).action == "D"
    assert agent.choice_logprobs(["p"], ["Answer: A"])[0].tolist() == [-2.0]
    assert agent.generate(["p", "q"], max_new_tokens=4, seed=7) == ["reply 7", "reply 7"]
    assert fake.calls[-1] == (["p", "q"], 4, 0.0, 7)


def test_games_and_preferences_are_the_theory_classes():
    theory_games = importlib.import_module("econalign.theory.games")
    preferences = importlib.import_module("econalign.theory.preferences")
    assert ea.games.PrisonersDilemma is theory_games.PrisonersDilemma
    assert sorted(ea.games.__all__) == sorted(theory_games.__all__)
    assert ea.HomoMoralis is preferences.HomoMoralis and ea.HomoEconomicus is preferences.HomoEconomicus
    assert ea.__version__


def test_importing_econalign_does_not_import_jax():
    code = "import sys, econalign as ea; ea.games; ea.HomoMoralis; print('jax' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr


def test_resolve_overrides_maps_keywords_to_config_paths():
    assert sdk.resolve_overrides({"steps": 3}) == {"finetune": {"max_steps": 3}}
    assert sdk.resolve_overrides({"learning_rate": 0.1, "seed": 2}) == {"finetune": {"learning_rate": 0.1}, "seed": 2}
    assert sdk.resolve_overrides({"pricing__checkpoint_every": 4}) == {"pricing": {"checkpoint_every": 4}}
    with pytest.raises(TypeError, match=r"defined in .*(finetune.*pricing|pricing.*finetune)"):
        sdk.resolve_overrides({"checkpoint_every": 4})
    with pytest.raises(TypeError, match="not a config key"):
        sdk.resolve_overrides({"no_such_key": 1})
    with pytest.raises(TypeError, match="a nested key; write finetune__lora__rank"):
        sdk.resolve_overrides({"rank": 8})
    assert sdk.resolve_overrides({"finetune__lora__rank": 8}) == {"finetune": {"lora": {"rank": 8}}}


def _stub(monkeypatch, module_name, **functions):
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        module = types.ModuleType(module_name)
        monkeypatch.setitem(sys.modules, module_name, module)
    for name, function in functions.items():
        monkeypatch.setattr(module, name, function, raising=False)


def _stub_stages(monkeypatch, *, real_synthesize=False):
    """Replace the stages align() runs with recorders (the real ones need the model); returns the calls."""
    from econalign.train.finetune import training_dtype

    calls = []

    def prepare_model(spec, out_dir):
        calls.append(("prepare_model", spec))
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "provenance.json").write_text(json.dumps({"model_sha256": "f" * 64}))
        return out_dir

    def synthesize(config, out_dir, *, agent, splits="all", progress=True):
        calls.append(("synthesize", agent, [a["name"] for a in config["agents"]]))
        calls.append(("synthesized", splits, progress))

    def finetune(config, *, agent, model_dir, data_dir, out_dir, echo):
        calls.append(("finetune", agent, config["finetune"]["max_steps"], data_dir.name))
        calls.append(("trained", training_dtype(config), config["finetune"]["progress"]))
        (out_dir / "adapter").mkdir(parents=True)

    def load_agent(model_dir, adapter=None, *, dtype="float32", progress=True):
        calls.append(("load_agent", adapter))
        calls.append(("loaded", dtype, progress))
        return FakeAgent({"A": 0.0, "B": -3.0})

    _stub(monkeypatch, "econalign.model.prepare", prepare_model=prepare_model)
    if not real_synthesize:
        _stub(monkeypatch, "econalign.data.synthesize", synthesize=synthesize)
    _stub(monkeypatch, "econalign.train.finetune", finetune=finetune)
    _stub(monkeypatch, "econalign.model.agent", load_agent=load_agent)
    return calls


@pytest.fixture
def stub_stages(monkeypatch):
    """The stages align() runs, replaced by recorders; the calls as (stage, ...) tuples, with ("trained", dtype,
    progress bar) after each fine-tuning, ("loaded", dtype, progress bars) after each load and ("synthesized", splits,
    progress bar) after each synthesis."""
    return _stub_stages(monkeypatch)


def _stages(calls):
    return [call[0] for call in calls if call[0] not in ("trained", "loaded", "synthesized")]


def _recorded(calls, kind):
    return [call[1:] for call in calls if call[0] == kind]


PM = "smollm2-135m-instruct"


def test_align_runs_the_stages_once_and_reuses_the_cache(stub_stages, tmp_path):
    messages = []
    first = ea.align(PM, ea.HomoMoralis(kappa=0.5), home=tmp_path, steps=3, progress=messages.append)
    assert _stages(stub_stages) == ["prepare_model", "synthesize", "finetune", "load_agent"]
    assert stub_stages[1:4] == [
        ("synthesize", "moralis_k50", ["moralis_k50"]),
        ("synthesized", "training", True),
        ("finetune", "moralis_k50", 3, "moralis_k50"),
    ]
    assert first.adapter.parent.parent.parent == tmp_path / "agents"
    assert json.loads((first.adapter.parent.parent / "config.json").read_text())["finetune"]["max_steps"] == 3
    assert any("fine-tuning" in message for message in messages)
    assert first.play(PD, belief=0.5).action == "C"

    stub_stages.clear()
    again = ea.align(PM, ea.HomoMoralis(kappa=0.5), home=tmp_path, steps=3, progress=messages.append)
    assert _stages(stub_stages) == ["load_agent"]
    assert again.adapter == first.adapter
    assert "reusing" in messages[-1]

    stub_stages.clear()
    other = ea.align(PM, ea.HomoEconomicus(), home=tmp_path, steps=3, progress=None)
    assert _stages(stub_stages) == ["synthesize", "finetune", "load_agent"]
    assert other.adapter != first.adapter


def test_align_keys_the_cache_by_the_training_config(stub_stages, tmp_path, monkeypatch):
    monkeypatch.setenv("ECONALIGN_HOME", str(tmp_path))
    a = ea.align(PM, ea.HomoMoralis(kappa=0.5), steps=3, progress=None)
    b = ea.align(PM, ea.HomoMoralis(kappa=0.5), steps=4, progress=None)
    # Runtime settings (progress bar, checkpoint interval) change no adapter.
    c = ea.align(PM, ea.HomoMoralis(kappa=0.5), steps=3, finetune__checkpoint_every=7, progress=print)
    assert a.adapter.is_relative_to(tmp_path)
    assert a.adapter != b.adapter
    assert c.adapter == a.adapter
    assert _stages(stub_stages).count("finetune") == 2


def test_align_trains_again_in_another_training_precision(stub_stages, tmp_path):
    # finetune.dtype is null by default, so model.dtype is the precision the adapter is trained in.
    f32 = ea.align(PM, ea.HomoMoralis(kappa=0.5), home=tmp_path, progress=None)
    bf16 = ea.align(PM, ea.HomoMoralis(kappa=0.5), home=tmp_path, model__dtype="bfloat16", progress=None)
    assert bf16.adapter != f32.adapter
    assert _recorded(stub_stages, "trained") == [("float32", False), ("bfloat16", False)]
    assert _recorded(stub_stages, "loaded")[-1] == ("bfloat16", False)

    # Where finetune.dtype is set, model.dtype is the scoring precision only: the adapter is reused, loaded in it.
    stub_stages.clear()
    mixed = ea.align(PM, ea.HomoMoralis(kappa=0.5), home=tmp_path, finetune__dtype="bfloat16-mixed", progress=None)
    scored = ea.align(
        PM, ea.HomoMoralis(kappa=0.5), home=tmp_path, finetune__dtype="bfloat16-mixed", model__dtype="bfloat16",
        progress=None,
    )  # fmt: skip
    assert scored.adapter == mixed.adapter not in (f32.adapter, bf16.adapter)
    assert _recorded(stub_stages, "trained") == [("bfloat16-mixed", False)]
    assert _recorded(stub_stages, "loaded") == [("float32", False), ("bfloat16", False)]


def test_align_keeps_the_cache_keys_of_float32_adapters_made_before_the_precision_was_keyed(stub_stages, tmp_path):
    from econalign.io import config_hash
    from econalign.model.identity import model_fingerprint

    agent = ea.align(PM, ea.HomoEconomicus(), home=tmp_path, progress=None)
    # The key the SDK gave every adapter before: the training sections, with the model as its fingerprint.
    sections = {section: agent.config[section] for section in sdk.TRAINING_SECTIONS}
    before = config_hash({**sections, "model": model_fingerprint(agent.model_dir)})
    assert agent.adapter.parent.parent.name == before


def test_align_retrains_a_cached_adapter_trained_in_another_precision(stub_stages, tmp_path):
    # Before the precision was keyed, a model.dtype=bfloat16 run could fill the float32 run's folder.
    first = ea.align(PM, ea.HomoEconomicus(), home=tmp_path, progress=None)
    recorded = first.adapter.parent.parent / "config.json"
    config = json.loads(recorded.read_text())
    config["model"]["dtype"] = "bfloat16"
    recorded.write_text(json.dumps(config))
    messages = []
    again = ea.align(PM, ea.HomoEconomicus(), home=tmp_path, progress=messages.append)
    assert again.adapter == first.adapter
    assert _recorded(stub_stages, "trained") == [("float32", False), ("float32", True)]
    assert _recorded(stub_stages, "synthesized") == [("training", False), ("training", True)]  # bars follow progress
    assert any("trained in bfloat16, not float32" in message for message in messages)
    assert json.loads(recorded.read_text())["model"]["dtype"] == "float32"


def test_align_takes_a_preference_object_or_its_mapping(stub_stages, tmp_path):
    by_object = ea.align(PM, ea.HomoMoralis(kappa=0.25), home=tmp_path, progress=None)
    by_mapping = ea.align(PM, {"preference": "moralis", "kappa": 0.25}, home=tmp_path, progress=None)
    economicus = ea.align(PM, {"preference": "economicus"}, home=tmp_path, progress=None)
    assert by_mapping.adapter == by_object.adapter
    assert by_mapping.preference == ea.HomoMoralis(kappa=0.25)
    assert economicus.preference == ea.HomoEconomicus()
    assert [call[1] for call in stub_stages if call[0] == "finetune"] == ["moralis_k25", "economicus"]


@pytest.mark.parametrize(
    ("preference", "error", "message"),
    [
        # A moralis preference without kappa is not homo moralis with kappa 0 (homo economicus).
        ({"preference": "moralis"}, ValueError, r"preference=\{'preference': 'moralis'\}: .*needs its kappa"),
        ({"preference": "moralis", "kappa": None}, ValueError, "needs its kappa"),
        ({"preference": "altruist"}, ValueError, "preference=.*must be 'economicus' or 'moralis'"),
        ({"preference": "economicus", "kappa": 0.5}, ValueError, "preference=.*kappa 0"),
        ({"preference": "moralis", "kappa": 1.5}, ValueError, r"preference=.*\[0, 1\]"),
        ({"preference": "moralis", "kappa": "0.5"}, TypeError, "kappa must be a number"),
        ({"name": "mine", "preference": "economicus"}, ValueError, r"unknown keys \['name'\]"),
        ("moralis", TypeError, r"preference='moralis': expected ea.HomoEconomicus\(\), ea.HomoMoralis\(kappa=...\)"),
        (None, TypeError, r"preference=None: expected .*'economicus' \| 'moralis'"),
    ],
)
def test_align_explains_a_preference_it_cannot_train(stub_stages, tmp_path, preference, error, message):
    with pytest.raises(error, match=message):
        ea.align(PM, preference, home=tmp_path, progress=None)
    assert stub_stages == []  # refused before preparing the model


@pytest.mark.parametrize(
    ("keyword", "message"),
    [
        ({"agents": [{"name": "x", "preference": "economicus"}]}, "'agents': align trains the one agent"),
        ({"kappa_grid": [0.25]}, "'kappa_grid': align trains the one agent"),
        ({"model__spec": "other"}, "'model__spec': the model is align's first argument"),
        ({"pricing__periods": 7}, "'pricing__periods': it sets pricing/periods, and align runs prepare_model"),
        ({"periods": 7}, "'periods': it sets pricing/periods"),
        ({"evaluate__mode": "generate"}, r"'evaluate__mode'.*finetune and tracking sections \(evaluate is read by"),
        ({"av__batch_size": 4}, "'av__batch_size'"),
        ({"report__decimals": 2}, "'report__decimals'"),
        ({"hosted": []}, "'hosted': it sets hosted"),
    ],
)
def test_align_refuses_keywords_it_would_ignore(stub_stages, tmp_path, keyword, message):
    with pytest.raises(TypeError, match=message):
        ea.align(PM, ea.HomoEconomicus(), home=tmp_path, progress=None, **keyword)
    assert stub_stages == []


def test_align_with_progress_none_turns_off_the_progress_bars(stub_stages, tmp_path):
    quiet = ea.align(PM, ea.HomoEconomicus(), home=tmp_path, progress=None)
    assert _recorded(stub_stages, "trained") == [("float32", False)]
    assert _recorded(stub_stages, "loaded") == [("float32", False)]
    # The same adapter with messages: the progress bar setting is no part of the cache key.
    told = ea.align(PM, ea.HomoEconomicus(), home=tmp_path, progress=lambda message: None)
    assert told.adapter == quiet.adapter
    assert _recorded(stub_stages, "loaded")[-1] == ("float32", True)
    # An explicit keyword still wins.
    ea.align(PM, ea.HomoMoralis(kappa=0.5), home=tmp_path, progress=None, finetune__progress=True)
    assert _recorded(stub_stages, "trained")[-1] == ("float32", True)

    stub_stages.clear()
    ea.base_agent(PM, home=tmp_path, progress=None)
    assert _recorded(stub_stages, "loaded") == [("float32", False)]


def test_align_synthesizes_the_training_splits_only(monkeypatch, tmp_path):
    # The real synthesis of a tiny dataset (a second): finetune reads train and validation, nothing else.
    calls = _stub_stages(monkeypatch, real_synthesize=True)
    agent = ea.align(PM, ea.HomoMoralis(kappa=0.5), home=tmp_path, n_train=16, n_validation=8, progress=None)
    folder = agent.adapter.parent.parent / "synthesize"
    assert sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()) == [
        "moralis_k50/train.parquet",
        "moralis_k50/validation.parquet",
    ]
    assert _stages(calls) == ["prepare_model", "finetune", "load_agent"]


def test_play_refuses_a_game_name():
    agent = FakeAgent({"A": 0.0, "B": -1.0})
    with pytest.raises(TypeError, match=r"not str 'prisoners_dilemma': .*ea.games.PrisonersDilemma\(T=..., R=..."):
        ea.play(agent, "prisoners_dilemma", belief=0.5)
    with pytest.raises(TypeError, match=r"game object from econalign.games \(AVDilemma, .*Ultimatum\), not dict"):
        sdk.AlignedAgent(agent=agent).play({"T": 5, "R": 3, "P": 1, "S": 0})
    assert agent.calls == []


def test_the_package_declares_its_type_hints():
    # PEP 561: type checkers read an installed package's hints only when it ships py.typed.
    from importlib.resources import files

    assert files("econalign").joinpath("py.typed").is_file()


def _sdk_snippet(text):
    """The first ```python block under a heading that names the SDK."""
    pattern = r"^#+ [^\n]*\bSDK\b[^\n]*\n(?:(?!#)[^\n]*\n)*?```python\n(.*?)```"
    match = re.search(pattern, text, re.MULTILINE | re.DOTALL)
    return match.group(1) if match else None


def test_the_sdk_docs_hold_a_three_line_example(repo_root):
    snippet = _sdk_snippet((repo_root / "docs/sdk.md").read_text())
    assert snippet is not None
    code = [line for line in snippet.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(code) == 3 and code[0] == "import econalign as ea"


def test_the_readme_and_the_sdk_docs_show_the_same_example(repo_root):
    # The README's example is the one that runs below; docs/sdk.md must not drift from it.
    assert _sdk_snippet((repo_root / "README.md").read_text()) == _sdk_snippet((repo_root / "docs/sdk.md").read_text())


@pytest.mark.slow
def test_the_documented_sdk_example_runs(repo_root, tmp_path, monkeypatch, smollm2_dir):
    document = "README.md"
    snippet = _sdk_snippet((repo_root / document).read_text())
    assert snippet is not None
    real_align = sdk.align
    prepared = []

    def copy_prepared(spec, folder):
        # The session's prepared embedded model (conversion is tested on its own): same files, no second conversion.
        prepared.append(spec)
        shutil.copytree(smollm2_dir, folder, dirs_exist_ok=True)
        return Path(folder)

    def tiny_align(*args, **kwargs):
        # Two steps of two short examples on a tiny dataset: the same code path, in well under a minute (a step on
        # full-length examples costs about 1 TFLOP, 10-20 s on two CPU cores).
        kwargs = {
            "steps": 2,
            "n_train": 24,
            "n_validation": 8,
            "finetune__batch_size": 2,
            "finetune__max_target_tokens": 8,
            "finetune__max_buckets": 1,
            "eval_items": 4,
            **kwargs,
        }
        return real_align(*args, **kwargs)

    monkeypatch.setenv("ECONALIGN_HOME", str(tmp_path))
    monkeypatch.setattr(ea, "align", tiny_align)
    monkeypatch.setattr(prepare, "prepare_model", copy_prepared)
    namespace = {}
    exec(compile(snippet, document, "exec"), namespace)
    decision = namespace["agent"].play(PD, belief=0.5)
    assert decision.action in PD.actions
    assert sum(decision.probabilities.values()) == pytest.approx(1.0)
    assert (namespace["agent"].adapter / "adapter_config.json").is_file()
    assert prepared == ["smollm2-135m-instruct"]
