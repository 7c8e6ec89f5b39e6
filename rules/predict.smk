# Vessel probability (whole image or sliding windows) and mask of every test subject, one
# job per experiment: the model loads once (and torch imports once) for all of them. A
# new test subject re-runs its experiment's job, which re-predicts every test subject
# (about 1 s each with the demo's U-Net on 2 CPU cores).


rule predict:
    input:
        checkpoint="results/{exp}/best.pt",
        images=get_test_model_inputs,
    output:
        masks=expand("results/{{exp}}/masks/{id}.png", id=SPLITS["test"]),
        probabilities=expand("results/{{exp}}/probability/{id}.tif", id=SPLITS["test"]),
    log:
        "logs/predict/{exp}.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        settings=get_experiment_settings,
    script:
        "../workflow_scripts/predict.py"
