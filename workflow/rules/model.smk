rule prepare_model:
    input:
        local_model(),
    output:
        directory(BASE_MODEL),
    params:
        spec=lookup(dpath="model/spec", within=config),
    log:
        "logs/prepare_model/base.log",
    benchmark:
        "benchmarks/prepare_model/base.tsv"
    resources:
        mem_mb=4000,
    shell:
        "econalign prepare-model {params.spec:q} --out {output} > {log} 2>&1"
