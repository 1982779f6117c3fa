"""The Snakemake report's texts render: Jinja with the config, then RST without warnings (as `--report` does)."""

import types

import jinja2
import pytest
from docutils.core import publish_parts

from econalign.config import load_config


def render(path, config, wildcards=None):
    snakemake = types.SimpleNamespace(config=config, wildcards=types.SimpleNamespace(**(wildcards or {})), params={})
    text = (
        jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(path.read_text()).render(snakemake=snakemake)
    )
    return publish_parts(text, writer="html", settings_overrides={"halt_level": 2, "report_level": 2})


@pytest.mark.parametrize("caption", ["workflow.rst", "paper.rst"])
@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/embedded-gpu.yaml", "config/paper-scale.yaml"])
def test_report_texts_render_with_each_config(repo_root, caption, configfile):
    config = load_config(repo_root / configfile)
    parts = render(repo_root / "workflow/report" / caption, config)
    assert config["model"]["spec"] in parts["html_body"]
    if caption == "workflow.rst":
        for agent in config["agents"]:
            assert agent["name"] in parts["html_body"]
        for category in ("Data", "Fine-tuning", "Games", "Applications", "Paper"):
            assert category in parts["html_body"]


@pytest.mark.parametrize(
    ("caption", "figure"),
    [
        ("av.rst", None),
        ("report_games.rst", "cooperation_vs_temptation"),
        ("report_games.rst", "agreement_by_split"),
        ("report_games.rst", "kappa_sweep"),
    ],
)
def test_figure_captions_state_the_configured_coverage(repo_root, caption, figure):
    config = load_config(overrides={"evaluate": {"confidence": 0.9}})
    wildcards = {"figure": figure} if figure else {}
    body = render(repo_root / "workflow/report" / caption, config, wildcards)["html_body"]
    assert "90% intervals" in body or "90% Wilson" in body
    assert "95%" not in body


@pytest.mark.parametrize("swap_labels", [True, False])
def test_av_caption_states_the_letter_orders_posed(repo_root, swap_labels):
    config = load_config(overrides={"av": {"swap_labels": swap_labels}})
    body = render(repo_root / "workflow/report/av.rst", config)["html_body"]
    assert ("both letter orders" in body) == swap_labels
    assert ("one letter order" in body) == (not swap_labels)
    assert "clustered by decision problem" in body
