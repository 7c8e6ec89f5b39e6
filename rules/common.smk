# Shared definitions: dataset location, subjects per split, experiment settings.
from octaseg.config import (
    block_depth,
    dataset_root,
    expected_scans,
    experiment_settings,
    splits,
)
from octaseg.layout import bscan_dir, label_path

DATA_ROOT = dataset_root(config)
SYNTHETIC = not config["data_root"]
FOV = config["fov"]
EXPECT_SCANS = expected_scans(config)
ORIENTATION = config["orientation"][FOV]
SPLITS = splits(config)
EXPERIMENTS = sorted(config["experiments"])
# Classical baseline beside the trained models: evaluated and summarized like them.
BASELINES = ["frangi_otsu"] if config["baseline"] else []
METHODS = EXPERIMENTS + BASELINES
ALL_IDS = sorted({i for ids in SPLITS.values() for i in ids})


wildcard_constraints:
    id=r"\d+",
    depth=r"\d+",
    exp="|".join(EXPERIMENTS),
    method="|".join(METHODS),


def settings(wildcards):
    return experiment_settings(config, wildcards.exp)


def model_input(exp, subject_id):
    """What an experiment reads for one subject: an en-face image, or for a volume (IPN)
    experiment the volume resampled to its block depth, in the label frame."""
    exp_settings = experiment_settings(config, exp)
    kind = exp_settings["input"]
    if kind == "volume":
        return f"results/volumes_d{block_depth(exp_settings)}/{subject_id}.h5"
    folder = {"projection": "projections", "equalized": "equalized"}[kind]
    suffix = {"projection": "tif", "equalized": "png"}[kind]
    return f"results/{folder}/{subject_id}.{suffix}"


def split_inputs(split):
    def inputs(wildcards):
        return [model_input(wildcards.exp, i) for i in SPLITS[split]]

    return inputs


def split_labels(split):
    return [str(label_path(DATA_ROOT, i)) for i in SPLITS[split]]
