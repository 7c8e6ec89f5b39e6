# One model per experiment, trained on the train split, early-stopped on the val split.


rule train:
    input:
        train_images=split_inputs("train"),
        train_labels=split_labels("train"),
        val_images=split_inputs("val"),
        val_labels=split_labels("val"),
        orientation=orientation_checks("train", "val"),
    output:
        best="results/{exp}/best.pt",
        last="results/{exp}/last.pt",
        history="results/{exp}/history.csv",
        curve=report(
            "results/{exp}/learning_curve.png",
            caption="../report/learning_curve.rst",
            category="Training",
            subcategory="{exp}",
        ),
    log:
        "logs/train/{exp}.log",
    benchmark:
        "benchmarks/train/{exp}.tsv"
    conda:
        "../envs/octaseg.yaml"
    threads: 8
    resources:
        mem_mb=16000,
        runtime=720,
    params:
        settings=settings,
        # resumable state, outside the declared outputs (see workflow_scripts/train.py)
        state_dir=lambda wc: f"results/{wc.exp}/resume",
    script:
        "../workflow_scripts/train.py"
