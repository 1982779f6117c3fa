# Applications: AV dilemmas per agent, repeated pricing of every pairing (PAIRINGS from common.smk), their report.


rule av:
    wildcard_constraints:
        agent=one_of(EVALUATED),
    input:
        model=BASE_MODEL,
        adapter=get_adapter,
    output:
        scores="results/av/{agent}.parquet",
        provenance="results/av/{agent}.provenance.json",
    params:
        # An agent's scenarios read its own entry alone, so adding an agent reruns only the base model's job (whose
        # config must still name some agent to validate).
        config=lambda wildcards: stage_config(
            "av", "data/tie_margin", agent=None if wildcards.agent == "base" else wildcards.agent
        ),
        adapter=adapter_flag,
    log:
        "logs/av/{agent}.log",
    benchmark:
        "benchmarks/av/{agent}.tsv"
    threads: JAX_THREADS
    resources:
        jax=1,
        mem_mb=6000,
        runtime=30,
    shell:
        "econalign av --config-json {params.config:q} --agent {wildcards.agent} --model {input.model}"
        " {params.adapter} --out {output.scores} > {log} 2>&1"


# All pairings run in one job, in lockstep: each agent is loaded and compiled once, and scores every decision of
# a period (all pairings, alphas, episodes) in one batch. Outputs stay one log per pairing.
rule pricing:
    input:
        model=BASE_MODEL,
        adapters=get_adapters(),
    output:
        logs=expand("results/pricing/{pairing}.parquet", pairing=PAIRINGS),
        provenance=expand("results/pricing/{pairing}.provenance.json", pairing=PAIRINGS),
    params:
        config=lambda wildcards: stage_config("pricing", report_settings=False),
        pairings=" ".join(f"--pairing={pairing}" for pairing in PAIRINGS),
    log:
        "logs/pricing/pricing.log",
    benchmark:
        "benchmarks/pricing/pricing.tsv"
    threads: JAX_THREADS
    resources:
        jax=1,
        mem_mb=8000,
        runtime=60,
    shell:
        "econalign pricing --config-json {params.config:q} --runtime-json {RUNTIME_JSON:q} {params.pairings} --model {input.model}"
        " --adapters results/finetune --out-dir results/pricing > {log} 2>&1"


rule report_applications:
    input:
        av=expand("results/av/{agent}.parquet", agent=EVALUATED),
        pricing=expand("results/pricing/{pairing}.parquet", pairing=PAIRINGS),
    output:
        av_table="results/report_applications/av.md",
        av_latex="results/report_applications/av.tex",
        av_cells="results/report_applications/av_cells.parquet",
        av_figure=report(
            "results/report_applications/av_swerve.png",
            caption="../report/av.rst",
            category="4. Applications",
            subcategory="Autonomous vehicles",
            labels={"figure": "swerve share"},
        ),
        av_figure_pdf="results/report_applications/av_swerve.pdf",
        pricing_table="results/report_applications/pricing.md",
        pricing_latex="results/report_applications/pricing.tex",
        pricing_metrics="results/report_applications/pricing_metrics.parquet",
        pricing_firms="results/report_applications/pricing_firms.parquet",
        pricing_paths=report(
            "results/report_applications/pricing_paths.png",
            caption="../report/pricing.rst",
            category="4. Applications",
            subcategory="Duopoly pricing",
            labels={"figure": "price paths"},
        ),
        pricing_paths_pdf="results/report_applications/pricing_paths.pdf",
        pricing_gain=report(
            "results/report_applications/pricing_gain.png",
            caption="../report/pricing_gain.rst",
            category="4. Applications",
            subcategory="Duopoly pricing",
            labels={"figure": "profit gain"},
        ),
        pricing_gain_pdf="results/report_applications/pricing_gain.pdf",
        summary="results/report_applications/summary.json",
    params:
        config=lambda wildcards: stage_config("av", "pricing", "evaluate", "data/tie_margin"),
    log:
        "logs/report_applications/report.log",
    benchmark:
        "benchmarks/report_applications/report.tsv"
    resources:
        # As the game report (REPORT_MEM_MB, common.smk): tables and figures from the AV and pricing logs.
        mem_mb=lambda wildcards, attempt: REPORT_MEM_MB * attempt,
        runtime=lambda wildcards, attempt: REPORT_RUNTIME * attempt,
    shell:
        "econalign report-applications --config-json {params.config:q} --av results/av --pricing results/pricing"
        " --out results/report_applications > {log} 2>&1"
