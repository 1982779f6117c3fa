FULL_FINETUNE = config["finetune"]["method"] == "full"


rule finetune:
    wildcard_constraints:
        agent=one_of(AGENTS),
    input:
        model=BASE_MODEL,
        train="results/synthesize/{agent}/train.parquet",
        validation="results/synthesize/{agent}/validation.parquet",
    output:
        adapter=directory("results/finetune/{agent}/adapter"),
        metrics="results/finetune/{agent}/metrics.parquet",
        choices="results/finetune/{agent}/validation_choices.parquet",
        provenance="results/finetune/{agent}/provenance.json",
        merged=directory("results/finetune/{agent}/merged") if config["finetune"]["export_merged"] else [],
        curve=report(
            "results/finetune/{agent}/loss.png",
            caption="../report/finetune.rst",
            category="2. Fine-tuning",
            subcategory="{agent}",
            labels={"agent": "{agent}", "figure": "loss curve"},
        ),
    params:
        # The agent's own entry only: adding another agent must not rerun this job (an hour per agent at paper scale).
        config=lambda wildcards: stage_config("finetune", common=TRAINING_KEYS, agent=wildcards.agent),
    log:
        "logs/finetune/{agent}.log",
    benchmark:
        "benchmarks/finetune/{agent}.tsv"
    threads: JAX_THREADS
    resources:
        jax=1,
        # LoRA on SmolLM2-135M at the default lengths peaked at 6.3 GB (economicus) and 8.8 GB (moralis, whose
        # answers are twice as long) in the full default run (benchmarks/finetune/*.tsv, max_rss); full
        # fine-tuning adds the weights' gradients and AdamW moments.
        mem_mb=16000 if FULL_FINETUNE else 12000,
        # Minutes of wall time for cluster executors. On 2 CPU cores the default LoRA jobs took 7-11 min and full
        # fine-tuning (config/embedded-gpu.yaml) 58-74 min per agent (docs/finetuning.md); GPU profiles set their own.
        runtime=180 if FULL_FINETUNE else 60,
    shell:
        # A killed job restarted by Snakemake resumes from results/finetune/{agent}/checkpoint.
        "econalign finetune --config-json {params.config:q} --runtime-json {RUNTIME_JSON:q} --agent {wildcards.agent} --model {input.model}"
        " --data results/synthesize/{wildcards.agent} --out results/finetune/{wildcards.agent} > {log} 2>&1"
