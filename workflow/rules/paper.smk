rule paper:
    input:
        games="results/report_games/agreement.md",
        applications="results/report_applications/pricing.md",
        model=BASE_MODEL,
    output:
        summary="results/paper/RESULTS.md",
    params:
        config=lambda wildcards: stage_config("data", "finetune", "evaluate", "av", "pricing", "report"),
    log:
        "logs/paper/paper.log",
    shell:
        "econalign paper --config-json {params.config:q} --results results --out results/paper > {log} 2>&1"
