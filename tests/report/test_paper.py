"""The paper assembly: stamped tables, figures with provenance, numbers.tex, RESULTS.md, byte-identical rebuilds."""

import json
import shutil

import polars as pl
import pytest

from econalign import cli
from econalign.config import load_config
from econalign.io import sha256_file, write_parquet
from econalign.report import latex
from econalign.report.paper import assemble_paper
from econalign.report.summary import manuscript_usage

from .fixtures import MODEL_SHA


def assemble(config, results, out, repo_root, **kwargs):
    return assemble_paper(config, results=results, out=out, paper=repo_root / "paper", echo=lambda _: None, **kwargs)


def snapshot(folder):
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "build" not in path.relative_to(folder).parts and path.name != "main.pdf"
    }


def test_rebuilding_from_a_fresh_copy_gives_identical_bytes(
    fixture_results, paper_config, repo_root, tmp_path, monkeypatch
):
    # As the workflow runs it: from the folder holding results/, with relative paths (RESULTS.md names the folder).
    monkeypatch.chdir(fixture_results.parent)
    first = assemble(paper_config, "results", "results/paper", repo_root)
    before = snapshot(first.out)
    clone = tmp_path / "clone" / "results"  # a clean clone elsewhere on disk, same inputs
    shutil.copytree(fixture_results, clone, ignore=shutil.ignore_patterns("paper"))
    log = clone / "finetune/moralis/metrics.parquet"  # throughput is wall-clock: it differs on every real run
    write_parquet(log, pl.read_parquet(log).with_columns(pl.col("tokens_per_s") * 1.7))
    monkeypatch.chdir(clone.parent)
    assemble(paper_config, "results", "results/paper", repo_root)
    monkeypatch.chdir(fixture_results.parent)
    again = assemble(paper_config, "results", "results/paper", repo_root)
    assert snapshot(clone / "paper") == before
    assert snapshot(again.out) == before
    assert "Assembled by `econalign paper` from `results/`: config" in (again.out / "RESULTS.md").read_text()
    assert "tables/games_agreement.tex" in before and "figures/games_cooperation_vs_temptation.png" in before


def test_the_battery_index_page_does_not_change_the_paper(fixture_results, paper_config, repo_root, tmp_path):
    # report_games_index is no input of the paper rule: it may run before or after it.
    without = snapshot(assemble(paper_config, fixture_results, tmp_path / "without", repo_root).out)
    (fixture_results / "report_games" / "index.md").write_text("# Game battery\n\nevery table again\n")
    with_index = snapshot(assemble(paper_config, fixture_results, tmp_path / "with", repo_root).out)
    assert with_index == without


def test_tables_and_figures_carry_provenance(fixture_results, paper_config, repo_root):
    out = assemble(paper_config, fixture_results, fixture_results / "paper", repo_root).out
    record = json.loads((out / "provenance.json").read_text())
    assert record["model_sha256"] == MODEL_SHA
    assert record["seed"] == paper_config["seed"]
    assert record["stage_seeds"] == {"synthesize/moralis/provenance.json": 1234}
    # A folder left by an agent no longer in the config is no input of the paper.
    from econalign.report.provenance import stage_seeds

    stale = fixture_results / "synthesize" / "retired_agent" / "provenance.json"
    stale.parent.mkdir(parents=True)
    stale.write_text(json.dumps({"seed": 99}))
    assert "synthesize/retired_agent/provenance.json" in stage_seeds(fixture_results)
    agents = [agent["name"] for agent in paper_config["agents"]]
    assert stage_seeds(fixture_results, agents=agents) == {"synthesize/moralis/provenance.json": 1234}
    stale.unlink()
    stale.parent.rmdir()
    assert record["inputs"]["report_games/agreement.tex"] == sha256_file(fixture_results / "report_games/agreement.tex")

    tex = (out / "tables/games_agreement.tex").read_text()
    assert tex.startswith("\\begin{tabular}{lrr}")
    stamp = tex.splitlines()[-1]
    assert stamp.startswith("% provenance: source report_games/agreement.tex; config " + record["config_hash"])
    assert f"model sha256 {MODEL_SHA}" in stamp and "econalign " in stamp and f"seed {paper_config['seed']}" in stamp
    markdown = (out / "tables/applications_av.md").read_text()
    assert markdown.startswith("| agent | swerve |")
    assert f"*Provenance: source report_applications/av.md; config {record['config_hash']}" in markdown

    figure = json.loads((out / "figures/finetune_loss_moralis.provenance.json").read_text())
    source = fixture_results / "finetune/moralis/loss.png"
    assert figure["sources"] == {"finetune/moralis/loss.png": sha256_file(source)}
    assert figure["config_hash"] == record["config_hash"] and figure["model_sha256"] == MODEL_SHA
    assert (out / "figures/finetune_loss_moralis.png").read_bytes() == source.read_bytes()


def test_a_table_with_its_own_float_is_reduced_to_its_body(fixture_results, paper_config, repo_root):
    out = assemble(paper_config, fixture_results, fixture_results / "paper", repo_root).out
    tex = (out / "tables/applications_av.tex").read_text()
    assert "\\begin{tabular}{lr}" in tex and "moralis & 0.80" in tex
    for wrapper in ("\\begin{table}", "\\end{table}", "\\caption", "\\label"):
        assert wrapper not in tex


def test_several_tables_in_one_file_are_stacked_in_one_column():
    from econalign.report.assets import bare_table
    from econalign.tables import latex_table

    first = latex_table(["agent", "share"], [["base", "50%"]], caption="Shares.", label="tab:a")
    second = latex_table(["agent", "picks A"], [["base", "100%"]], caption="Letters.", label="tab:b")
    bare = bare_table(first + "\n" + second)
    assert "\\caption" not in bare and "\\label" not in bare and "\\begin{table" not in bare
    assert bare.startswith("\\begin{tabular}{@{}c@{}}\n") and bare.endswith("\\end{tabular}\n")
    assert bare.count("\\begin{tabular}") == 3 and bare.count("\\end{tabular}") == 3
    assert bare.index("base & 50\\%") < bare.index("\\\\[2ex]") < bare.index("base & 100\\%")
    small = bare_table("\\small\n" + first + "\\small\n" + second)
    assert small.startswith("\\small\n\\begin{tabular}{@{}c@{}}") and small.count("\\small") == 1
    with pytest.raises(ValueError, match="would be lost"):
        bare_table(first + "\\footnotesize{A note.}\n" + second)
    assert bare_table(first) == "".join(line for line in first.splitlines(keepends=True)
                                        if "caption" not in line and "label" not in line
                                        and "table}" not in line and "centering" not in line)  # fmt: skip


def test_numbers_tex_defines_every_macro_the_manuscript_uses(fixture_results, paper_config, repo_root):
    out = assemble(paper_config, fixture_results, fixture_results / "paper", repo_root).out
    numbers = (out / "numbers.tex").read_text()
    used = manuscript_usage((repo_root / "paper/main.tex").read_text()).macros
    assert used, "the manuscript quotes no number"
    for macro in used:
        assert f"\\newcommand{{\\{macro}}}" in numbers
    # The manuscript's own macros stay outside the EA prefix that numbers.tex defines (a clash is a LaTeX error).
    import re

    own = set(re.findall(r"\\newcommand\{\\(\w+)\}", (repo_root / "paper/main.tex").read_text()))
    assert own and not own & set(used)
    gap = "EAApplicationsPricingFindingsMoralisMinusEconomicusPriceOne"  # the pricing gap the text quotes
    for field, value in (("Gap", "-0.03"), ("Low", "-0.11"), ("High", "0.04")):
        assert f"\\newcommand{{\\{gap}{field}}}{{{value}}}" in numbers
    assert "\\newcommand{\\EAFinetuneMoralisFinalLoss}{0.50}" in numbers
    assert "\\newcommand{\\EAEvaluateMoralisAgreementAllOwnAllChoiceEstimate}{0.88}" in numbers
    assert (out / "main.tex").read_bytes() == (repo_root / "paper/main.tex").read_bytes()


def test_results_md_states_missed_targets_numbers_tables_and_figures(fixture_results, paper_config, repo_root):
    result = assemble(paper_config, fixture_results, fixture_results / "paper", repo_root)
    text = result.summary.read_text()
    moralis_fit = "evaluate/moralis/agreement/all/own/all/choice/estimate"
    assert "**3 of 6 targets missed:**" in text
    assert f"`{moralis_fit}` (missed)" in text
    assert "`evaluate/economicus/agreement/test_families/own/all/choice/estimate` (not measured)" in text
    assert "| fit | `evaluate/economicus/agreement/all/own/all/choice/estimate` | 0.93 | >= 0.9 | met |" in text
    assert "| `applications/pricing/findings/moralis_above_economicus/all` | no | = yes | **missed** |" in text
    assert "![games_cooperation_vs_temptation](figures/games_cooperation_vs_temptation.png)" in text
    assert "| base | 0.41 | 0.52 |" in text
    assert "| `evaluate/moralis/agreement/all/own/all/choice/estimate` | 0.88 | `\\AgreeOwnMoralis` |" not in text
    assert "| `evaluate/moralis/agreement/all/own/all/choice/estimate` | 0.88 |" in text  # a key number
    assert f"- model weights sha256: `{MODEL_SHA}`" in text
    assert "Not built: report.latex is off" in text
    assert f"Assembled by `econalign paper` from `{fixture_results.as_posix()}/`: config" in text  # as given
    assert set(result.missed) == {
        moralis_fit,
        "evaluate/economicus/agreement/test_families/own/all/choice/estimate",
        "applications/pricing/findings/moralis_above_economicus/all",
    }


def test_default_targets_are_checked_for_every_agent(fixture_results, repo_root):
    config = load_config(overrides={"report": {"latex": "off"}})
    result = assemble(config, fixture_results, fixture_results / "paper", repo_root)
    checks = json.loads((result.out / "provenance.json").read_text())["targets"]
    by_metric = {(c["metric"], c["requirement"]): c["status"] for c in checks}
    own = "evaluate/{}/agreement/all/own/all/choice/estimate"
    gain = "games/gain_over_base/{}/{}/significant"
    assert by_metric[(gain.format("moralis", "all"), "= yes")] == "met"  # paired with base, interval above 0
    assert by_metric[(gain.format("economicus", "all"), "= yes")] == "missed"
    assert by_metric[(gain.format("moralis", "test_families"), "= yes")] == "met"
    assert by_metric[(own.format("economicus"), ">= 0.8")] == "met"
    assert by_metric[("applications/av/findings/moralis_swerves_more_than_economicus", "= yes")] == "met"
    assert by_metric[("applications/pricing/findings/moralis_above_economicus/all", "= yes")] == "missed"
    nearer, rules = "games/own_versus_other/{}/every_test_split", "games/versus_rules/{}/test_payoffs/beats_every_rule"
    correlation = "evaluate/{}/utility_correlation/test_payoffs/own/low"
    for agent, status in (("moralis", "met"), ("economicus", "missed")):
        assert by_metric[(nearer.format(agent), "= yes")] == status
        assert by_metric[(rules.format(agent), "= yes")] == status
        assert by_metric[(correlation.format(agent), ">= 0")] == status
    assert len(checks) == 14  # six targets for each of the two agents, two for the pair


def test_manuscript_results_the_run_lacks_are_listed(fixture_results, paper_config, repo_root):
    (fixture_results / "report_games" / "agreement.tex").unlink()
    (fixture_results / "report_games" / "agreement.md").unlink()
    result = assemble(paper_config, fixture_results, fixture_results / "paper", repo_root)
    assert "games_agreement" in result.missing
    assert "- `games_agreement`" in result.summary.read_text()


def test_unplaced_results_go_to_the_appendix_and_stale_ones_are_removed(fixture_results, paper_config, repo_root):
    out = fixture_results / "paper"
    assemble(paper_config, fixture_results, out, repo_root)
    appendix = (out / "appendix.tex").read_text()
    assert "\\resultfigure{games_kappa_sweep}" in appendix
    assert "{games_agreement}" not in appendix and "{applications_pricing_paths}" not in appendix  # placed in the text
    (fixture_results / "report_games" / "kappa_sweep.png").unlink()
    assemble(paper_config, fixture_results, out, repo_root)
    assert not (out / "figures" / "games_kappa_sweep.png").exists()
    assert not (out / "figures" / "games_kappa_sweep.provenance.json").exists()
    assert "games_kappa_sweep" not in (out / "appendix.tex").read_text()


def test_a_table_and_a_figure_of_one_name_are_both_kept(fixture_results, paper_config, repo_root):
    out = fixture_results / "paper"
    result = assemble(paper_config, fixture_results, out, repo_root)
    assert (out / "figures" / "games_agreement_by_split.png").is_file()  # placed by the manuscript
    assert (out / "tables" / "games_agreement_by_split.md").is_file()  # not removed as stale
    assert "test labels & 0.47" in (out / "tables" / "games_agreement_by_split.tex").read_text()
    appendix = (out / "appendix.tex").read_text()
    assert "\\resulttable{games_agreement_by_split}" in appendix
    assert "\\resultfigure{games_agreement_by_split}" not in appendix
    summary = result.summary.read_text()
    assert "| test_labels | 0.47 |" in summary
    assert "### `games_agreement_by_split` (table)" in summary and "### `games_agreement_by_split` (figure)" in summary
    assets = json.loads((out / "provenance.json").read_text())["assets"]
    assert {"tables/games_agreement_by_split", "figures/games_agreement_by_split"} <= set(assets)
    assert "games_agreement_by_split" not in result.missing


def test_without_a_latex_engine_results_md_says_how_to_install_one(
    fixture_results, paper_config, repo_root, monkeypatch
):
    monkeypatch.setattr(latex, "find_engine", lambda engines=latex.ENGINES: None)
    result = assemble(paper_config, fixture_results, fixture_results / "paper", repo_root, latex="auto")
    assert not result.pdf.built
    assert "apt-get install texlive-latex-recommended texlive-latex-extra" in result.summary.read_text()
    with pytest.raises(RuntimeError, match="require"):
        assemble(paper_config, fixture_results, fixture_results / "paper", repo_root, latex="require")


def test_cli_runs_the_paper_subcommand(fixture_results, paper_config, repo_root):
    status = cli.main(
        [
            "paper",
            "--config-json",
            json.dumps(paper_config),
            "--results",
            str(fixture_results),
            "--out",
            str(fixture_results / "paper"),
            "--paper",
            str(repo_root / "paper"),
            "--latex",
            "off",
        ]
    )
    assert status == 0
    assert (fixture_results / "paper" / "RESULTS.md").is_file()


@pytest.mark.slow
@pytest.mark.skipif(latex.find_engine() is None, reason="no LaTeX engine on PATH (see paper/README.md)")
def test_the_manuscript_compiles_with_the_fixture_results(fixture_results, paper_config, repo_root):
    result = assemble(paper_config, fixture_results, fixture_results / "paper", repo_root, latex="require")
    assert result.pdf.built, result.pdf.message
    assert (result.out / "main.pdf").read_bytes().startswith(b"%PDF")
    assert "built main.pdf with" in result.summary.read_text()
