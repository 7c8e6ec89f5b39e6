# Vessel probability (whole image or sliding windows) and mask of one test subject per experiment.


rule predict:
    input:
        checkpoint="results/{exp}/best.pt",
        image=get_model_inputs,
    output:
        mask="results/{exp}/masks/{id}.png",
        probability="results/{exp}/probability/{id}.tif",
    log:
        "logs/predict/{exp}/{id}.log",
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
