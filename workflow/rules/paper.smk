# The paper: collects the report rules' tables and figures, writes numbers.tex and RESULTS.md, builds the PDF
# when a LaTeX engine is on PATH (report.latex: auto; with "require" main.pdf is an output and its absence fails).
import os

# The manuscript lives beside the Snakefile (paper/), so the rule also works with --directory elsewhere. Paths are
# relative to the working directory, so that moving or cloning the repository with its results reruns nothing.
PAPER_SOURCES = os.path.relpath(os.path.join(workflow.basedir, "paper"))
# econalign.report.paper.SOURCE_SUFFIXES and GENERATED, restated so that planning imports no plotting stack (a test
# compares them): every manuscript file the paper copies is an input.
PAPER_SUFFIXES = (".tex", ".bib", ".sty", ".cls", ".bst")
PAPER_GENERATED = ("numbers.tex", "appendix.tex")
PAPER_FILES = sorted(
    os.path.join(PAPER_SOURCES, name)
    for name in os.listdir(PAPER_SOURCES)
    if os.path.splitext(name)[1] in PAPER_SUFFIXES and name not in PAPER_GENERATED
)


rule paper:
    input:
        games=get_report_games(),
        comparisons=rules.report_games_summary.output,
        applications=rules.report_applications.output,
        evaluations=get_evaluations(),
        finetune=expand("results/finetune/{agent}/metrics.parquet", agent=AGENTS),
        # Also read by the paper: the loss curves it copies into figures/ (econalign.report.assets.find_assets), and
        # the seeds of the datasets and training runs it records (econalign.report.provenance.stage_seeds).
        curves=expand("results/finetune/{agent}/loss.png", agent=AGENTS),
        data_provenance=expand("results/synthesize/{agent}/provenance.json", agent=AGENTS),
        finetune_provenance=expand("results/finetune/{agent}/provenance.json", agent=AGENTS),
        model=BASE_MODEL,
        manuscript=PAPER_FILES,
    output:
        summary=report(
            "results/paper/RESULTS.md",
            caption="../report/paper.rst",
            category="5. Paper",
            labels={"document": "RESULTS.md"},
        ),
        numbers="results/paper/numbers.tex",
        appendix="results/paper/appendix.tex",
        # The stamped copies of every table and figure. Snakemake deletes both folders before the job and the paper
        # writes them afresh (a copy it no longer makes must not linger); the game report always gives both contents.
        tables=directory("results/paper/tables"),
        figures=directory("results/paper/figures"),
        provenance="results/paper/provenance.json",
        **(
            {
                "pdf": report(
                    "results/paper/main.pdf",
                    caption="../report/paper.rst",
                    category="5. Paper",
                    labels={"document": "main.pdf"},
                )
            }
            if config["report"]["latex"] == "require"
            else {}
        ),
    params:
        config=lambda wildcards: json.dumps(without_runtime_settings(config), sort_keys=True),
        sources=PAPER_SOURCES,
    log:
        "logs/paper/paper.log",
    benchmark:
        "benchmarks/paper/paper.tsv"
    resources:
        # As the game report (REPORT_MEM_MB, common.smk), plus the PDF build where LaTeX is installed.
        mem_mb=lambda wildcards, attempt: REPORT_MEM_MB * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    shell:
        "econalign paper --config-json {params.config:q} --results results --paper {params.sources:q}"
        " --out results/paper > {log} 2>&1"
