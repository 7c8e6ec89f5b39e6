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
        curve="results/{exp}/learning_curve.png",
    log:
        "logs/train/{exp}.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 8
    params:
        settings=settings,
    script:
        "../workflow_scripts/train.py"
