# Per-subject metrics of each experiment's test predictions, then one summary table.


rule evaluate:
    input:
        masks=lambda wc: expand(
            "results/{exp}/masks/{id}.png", exp=wc.exp, id=SPLITS["test"]
        ),
        labels=split_labels("test"),
    output:
        "results/{exp}/metrics.csv",
    log:
        "logs/evaluate/{exp}.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    params:
        ids=SPLITS["test"],
    script:
        "../workflow_scripts/evaluate.py"


rule summarize:
    input:
        expand("results/{exp}/metrics.csv", exp=EXPERIMENTS),
    output:
        "results/summary.csv",
    log:
        "logs/summarize.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    params:
        experiments=EXPERIMENTS,
    script:
        "../workflow_scripts/summarize.py"
