# Per-subject metrics of each method's test masks (experiments and baseline), then one summary.


rule evaluate:
    input:
        masks=TEST_MASKS,
        labels=LABELS["test"],
        orientation=ORIENTATION_CHECKS["test"],
        # probability maps, for AUC-ROC / AUC-PR: trained models have them, the baseline not
        probabilities=get_test_probabilities,
    output:
        "results/{method}/metrics.csv",
    log:
        "logs/evaluate/{method}.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        ids=SPLITS["test"],
    script:
        "../workflow_scripts/evaluate.py"


rule summarize:
    input:
        expand("results/{method}/metrics.csv", method=METHODS),
    output:
        csv=report(
            "results/summary.csv", caption="../report/summary.rst", category="Summary"
        ),
        markdown="results/summary.md",
    log:
        "logs/summarize.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        methods=METHODS,
    script:
        "../workflow_scripts/summarize.py"
