rule finetune:
    input:
        model=BASE_MODEL,
        train="results/synthesize/{agent}/train.parquet",
        validation="results/synthesize/{agent}/validation.parquet",
    output:
        adapter=directory("results/finetune/{agent}/adapter"),
        metrics="results/finetune/{agent}/metrics.parquet",
        curve=report(
            "results/finetune/{agent}/loss.png",
            caption="../report/finetune.rst",
            category="2. Fine-tuning",
            labels={"agent": "{agent}", "figure": "loss curve"},
        ),
    params:
        config=lambda wildcards: stage_config("finetune"),
    log:
        "logs/finetune/{agent}.log",
    benchmark:
        "benchmarks/finetune/{agent}.tsv"
    threads: workflow.cores
    resources:
        jax=1,
        mem_mb=8000,
        runtime=60,
    shell:
        "econalign finetune --config-json {params.config:q} --agent {wildcards.agent} --model {input.model}"
        " --data results/synthesize/{wildcards.agent} --out results/finetune/{wildcards.agent} > {log} 2>&1"
