# Datasets in two jobs per agent. An agent's train and validation splits depend on the seed, the data section and its
# own entry only, so adding an agent or a kappa_grid value reruns neither them nor (finetune.smk) the agent's
# fine-tuning. The test splits are drawn for every agent together (each test item must have an answer for every agent),
# so they, and the baselines, card and provenance that describe all six splits, follow the whole agent list.


rule synthesize_training:
    wildcard_constraints:
        agent=one_of(AGENTS),
    output:
        data=expand("results/synthesize/{{agent}}/{split}.parquet", split=TRAINING_SPLITS),
    params:
        config=lambda wildcards: stage_config("data", common=TRAINING_DATA_KEYS, agent=wildcards.agent),
    log:
        "logs/synthesize_training/{agent}.log",
    benchmark:
        "benchmarks/synthesize_training/{agent}.tsv"
    resources:
        # Measured on one core of the 2-core VM (max_rss, wall): 168 MB and 6-7 s per agent on the default study; every
        # split of one agent took 285 MB and 65 s on config/paper-scale.yaml. A retry (profiles/slurm) gets twice these.
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 10 * attempt,
    shell:
        "econalign synthesize --config-json {params.config:q} --agent {wildcards.agent} --splits training"
        " --out results/synthesize > {log} 2>&1"


rule synthesize:
    wildcard_constraints:
        agent=one_of(AGENTS),
    input:
        # Read back, not drawn again: the card, baselines and provenance describe these very files.
        training=rules.synthesize_training.output.data,
    output:
        data=expand("results/synthesize/{{agent}}/{split}.parquet", split=TEST_SPLITS),
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
    resources:
        # 183 MB and 9 s per agent on the default study; every split of one agent, 285 MB and 65 s on the paper-scale
        # study, whose test splits are drawn for 8 agents (all 8 agents' files at once: 307 MB, 131 s). Each job draws
        # the test splits for every agent, so its time grows with the agent list.
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 15 * attempt,
    shell:
        "econalign synthesize --config-json {params.config:q} --agent {wildcards.agent} --splits tests"
        " --out results/synthesize > {log} 2>&1"
