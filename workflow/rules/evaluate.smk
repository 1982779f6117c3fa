rule evaluate:
    input:
        model=BASE_MODEL,
        adapter=get_adapter,
        tests=expand("results/synthesize/{agent}/{split}.parquet", agent=AGENTS, split=TEST_SPLITS),
    output:
        scores="results/evaluate/{agent}/items.parquet",
        metrics="results/evaluate/{agent}/metrics.json",
    params:
        config=lambda wildcards: stage_config("data", "evaluate"),
        adapter=adapter_flag,
    log:
        "logs/evaluate/{agent}.log",
    benchmark:
        "benchmarks/evaluate/{agent}.tsv"
    threads: workflow.cores
    resources:
        jax=1,
        mem_mb=6000,
        runtime=30,
    shell:
        "econalign evaluate --config-json {params.config:q} --agent {wildcards.agent} --model {input.model}"
        " {params.adapter} --data results/synthesize --out results/evaluate/{wildcards.agent} > {log} 2>&1"


rule report_games:
    input:
        evaluations=get_evaluations(),
    output:
        table_md="results/report_games/agreement.md",
        table_tex="results/report_games/agreement.tex",
        figure=report(
            "results/report_games/cooperation_vs_temptation.png",
            caption="../report/report_games.rst",
            category="3. Games",
        ),
    params:
        config=lambda wildcards: stage_config("data", "evaluate", "report"),
    log:
        "logs/report_games/report.log",
    shell:
        "econalign report-games --config-json {params.config:q} --evaluations results/evaluate"
        " --out results/report_games > {log} 2>&1"
