# Game battery: every LLM agent, hosted model and the reference rules on the same test items, then one rule per
# table/figure. `evaluate` and `evaluate_hosted` write the same paths: their wildcard constraints keep them apart.
from econalign.evaluate.outputs import FIGURE_NAMES, TABLE_NAMES, report_outputs

REPORT_GAMES = report_outputs(config)


def get_report_games():
    """Every table (.md, .tex) and figure (.png, .pdf) of the game battery."""
    tables = expand("results/report_games/{table}.{ext}", table=REPORT_GAMES["tables"], ext=["md", "tex"])
    figures = expand("results/report_games/{figure}.{ext}", figure=REPORT_GAMES["figures"], ext=["png", "pdf"])
    return tables + figures


rule evaluate:
    input:
        model=BASE_MODEL,
        adapter=get_adapter,
        tests=expand("results/synthesize/{agent}/{split}.parquet", agent=AGENTS, split=TEST_SPLITS),
    output:
        scores="results/evaluate/{agent}/items.parquet",
        metrics="results/evaluate/{agent}/metrics.json",
    wildcard_constraints:
        agent=one_of(EVALUATED),
    params:
        config=lambda wildcards: stage_config("data", "evaluate"),
        adapter=adapter_flag,
    log:
        "logs/evaluate/{agent}.log",
    benchmark:
        "benchmarks/evaluate/{agent}.tsv"
    threads: JAX_THREADS
    resources:
        jax=1,
        mem_mb=6000,
        runtime=30,
    shell:
        "econalign evaluate --config-json {params.config:q} --agent {wildcards.agent} --model {input.model}"
        " {params.adapter} --data results/synthesize --out results/evaluate/{wildcards.agent}"
        " --cache-dir results/evaluate/.cache > {log} 2>&1"


# A hosted model (config `hosted:`) through its OpenAI-compatible endpoint: no local model, no JAX. Responses are
# cached under the entry's cache_dir (default cache/hosted), so a re-run sends no request it has sent before.
# Hosted models are reached over the network, which cluster compute nodes often lack (docs/scale-out.md): their
# evaluation runs where Snakemake runs; it waits on the endpoint, not on the CPU.
localrules:
    evaluate_hosted,


rule evaluate_hosted:
    input:
        tests=expand("results/synthesize/{agent}/{split}.parquet", agent=AGENTS, split=TEST_SPLITS),
    output:
        scores="results/evaluate/{hosted}/items.parquet",
        metrics="results/evaluate/{hosted}/metrics.json",
    wildcard_constraints:
        hosted=one_of(HOSTED),
    params:
        config=lambda wildcards: stage_config("data", "evaluate", hosted=wildcards.hosted),
    log:
        "logs/evaluate/{hosted}.log",
    benchmark:
        "benchmarks/evaluate/{hosted}.tsv"
    resources:
        mem_mb=2000,
        runtime=120,
    shell:
        "econalign evaluate --config-json {params.config:q} --hosted {wildcards.hosted} --data results/synthesize"
        " --out results/evaluate/{wildcards.hosted} > {log} 2>&1"


rule evaluate_reference:
    input:
        tests=expand("results/synthesize/{agent}/{split}.parquet", agent=AGENTS, split=TEST_SPLITS),
    output:
        scores="results/evaluate_reference/items.parquet",
        metrics="results/evaluate_reference/metrics.json",
    params:
        config=lambda wildcards: stage_config("data", "evaluate"),
    log:
        "logs/evaluate_reference/reference.log",
    benchmark:
        "benchmarks/evaluate_reference/reference.tsv"
    resources:
        # No model: 218 MB peak and 6 s on the default study, 462 MB and 89 s on config/paper-scale.yaml (every test
        # item of 8 agents), measured on the 2-core VM (max_rss, wall). A retry (profiles/slurm) asks for twice as much.
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 15 * attempt,
    shell:
        "econalign evaluate --config-json {params.config:q} --references --data results/synthesize"
        " --out results/evaluate_reference > {log} 2>&1"


rule report_games_table:
    input:
        evaluations=get_evaluations(),
        reference=rules.evaluate_reference.output.metrics,
    output:
        markdown="results/report_games/{table}.md",
        latex="results/report_games/{table}.tex",
    wildcard_constraints:
        table="|".join(TABLE_NAMES),
    params:
        config=lambda wildcards: stage_config("data", "evaluate", "report/decimals", hosted="names"),
    log:
        "logs/report_games/table_{table}.log",
    benchmark:
        "benchmarks/report_games/table_{table}.tsv"
    resources:
        mem_mb=lambda wildcards, attempt: REPORT_MEM_MB * attempt,
        runtime=lambda wildcards, attempt: REPORT_RUNTIME * attempt,
    shell:
        "econalign report-games --config-json {params.config:q} --evaluations results/evaluate"
        " --references results/evaluate_reference --out results/report_games --tables {wildcards.table}"
        " > {log} 2>&1"


rule report_games_figure:
    input:
        evaluations=get_evaluations(),
        scores=expand("results/evaluate/{agent}/items.parquet", agent=[*EVALUATED, *HOSTED]),
        reference=rules.evaluate_reference.output.scores,
    output:
        png=report(
            "results/report_games/{figure}.png",
            caption="../report/report_games.rst",
            category="3. Games",
            labels={"figure": "{figure}"},
        ),
        pdf="results/report_games/{figure}.pdf",
    wildcard_constraints:
        figure="|".join(FIGURE_NAMES),
    params:
        config=lambda wildcards: stage_config(
            "data", "evaluate", "report/temptation_bins", "report/kappa_points", hosted="names"
        ),
    log:
        "logs/report_games/figure_{figure}.log",
    benchmark:
        "benchmarks/report_games/figure_{figure}.tsv"
    resources:
        mem_mb=lambda wildcards, attempt: REPORT_MEM_MB * attempt,
        runtime=lambda wildcards, attempt: REPORT_RUNTIME * attempt,
    shell:
        "econalign report-games --config-json {params.config:q} --evaluations results/evaluate"
        " --references results/evaluate_reference --out results/report_games --figures {wildcards.figure}"
        " > {log} 2>&1"


rule report_games_summary:
    input:
        evaluations=expand("results/evaluate/{agent}/metrics.json", agent=EVALUATED),
        scores=expand("results/evaluate/{agent}/items.parquet", agent=EVALUATED),
        reference=rules.evaluate_reference.output.metrics,
        reference_scores=rules.evaluate_reference.output.scores,
    output:
        "results/report_games/summary.json",
    params:
        # Local agents only, compared with base, the theories and the reference rules (hosted models are not in its
        # inputs).
        config=lambda wildcards: stage_config("evaluate"),
    log:
        "logs/report_games/summary.log",
    benchmark:
        "benchmarks/report_games/summary.tsv"
    resources:
        mem_mb=lambda wildcards, attempt: REPORT_MEM_MB * attempt,
        runtime=lambda wildcards, attempt: REPORT_RUNTIME * attempt,
    shell:
        "econalign report-games --config-json {params.config:q} --evaluations results/evaluate"
        " --references results/evaluate_reference --out results/report_games --summary > {log} 2>&1"


rule report_games:
    input:
        get_report_games(),
    output:
        index="results/report_games/index.md",
    params:
        config=lambda wildcards: stage_config(hosted="names"),
    log:
        "logs/report_games/index.log",
    benchmark:
        "benchmarks/report_games/index.tsv"
    resources:
        mem_mb=lambda wildcards, attempt: REPORT_MEM_MB * attempt,
        runtime=lambda wildcards, attempt: REPORT_RUNTIME * attempt,
    shell:
        "econalign report-games --config-json {params.config:q} --evaluations results/evaluate"
        " --out results/report_games --index > {log} 2>&1"
