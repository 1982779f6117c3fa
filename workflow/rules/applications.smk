rule av:
    input:
        model=BASE_MODEL,
        adapter=get_adapter,
    output:
        "results/av/{agent}.parquet",
    params:
        config=lambda wildcards: stage_config("av"),
        adapter=adapter_flag,
    log:
        "logs/av/{agent}.log",
    benchmark:
        "benchmarks/av/{agent}.tsv"
    threads: workflow.cores
    resources:
        jax=1,
        mem_mb=6000,
    shell:
        "econalign av --config-json {params.config:q} --agent {wildcards.agent} --model {input.model}"
        " {params.adapter} --out {output} > {log} 2>&1"


rule pricing:
    input:
        model=BASE_MODEL,
        adapters=get_pairing_adapters,
    output:
        "results/pricing/{pairing}.parquet",
    params:
        config=lambda wildcards: stage_config("pricing"),
    log:
        "logs/pricing/{pairing}.log",
    benchmark:
        "benchmarks/pricing/{pairing}.tsv"
    threads: workflow.cores
    resources:
        jax=1,
        mem_mb=6000,
    shell:
        "econalign pricing --config-json {params.config:q} --pairing {wildcards.pairing} --model {input.model}"
        " --adapters results/finetune --out {output} > {log} 2>&1"


rule report_applications:
    input:
        av=expand("results/av/{agent}.parquet", agent=EVALUATED),
        pricing=expand("results/pricing/{pairing}.parquet", pairing=PAIRINGS),
    output:
        av_table="results/report_applications/av.md",
        pricing_table="results/report_applications/pricing.md",
    params:
        config=lambda wildcards: stage_config("av", "pricing", "report"),
    log:
        "logs/report_applications/report.log",
    shell:
        "econalign report-applications --config-json {params.config:q} --av results/av --pricing results/pricing"
        " --out results/report_applications > {log} 2>&1"
