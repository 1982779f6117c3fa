rule synthesize:
    wildcard_constraints:
        agent=one_of(AGENTS),
    output:
        data=expand("results/synthesize/{{agent}}/{split}.parquet", split=SPLITS),
        baselines="results/synthesize/{agent}/baselines.json",
        provenance="results/synthesize/{agent}/provenance.json",
        card=report(
            "results/synthesize/{agent}/card.md",
            caption="../report/synthesize.rst",
            category="1. Data",
            labels={"agent": "{agent}"},
        ),
    params:
        config=lambda wildcards: stage_config("data", common=DATA_KEYS),
    log:
        "logs/synthesize/{agent}.log",
    benchmark:
        "benchmarks/synthesize/{agent}.tsv"
    shell:
        "econalign synthesize --config-json {params.config:q} --agent {wildcards.agent}"
        " --out results/synthesize > {log} 2>&1"
