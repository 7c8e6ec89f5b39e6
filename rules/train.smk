# One model per experiment, trained on the train split (or the part train_subjects names),
# early-stopped on the val split, from random weights or those init_from names.


rule train:
    input:
        # the training subjects' files: the train split's, or those train_subjects names
        train_images=get_train_model_inputs,
        train_labels=get_train_labels,
        val_images=get_val_model_inputs,
        val_labels=LABELS["val"],
        orientation=get_training_orientation_checks,
        # the checkpoint init_from names, if any: a newer one retrains
        init_from=get_init_from,
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
        settings=get_training_settings,
        # resumable state, outside the declared outputs (see workflow_scripts/train.py)
        state_dir="results/{exp}/resume",
    script:
        "../workflow_scripts/train.py"
