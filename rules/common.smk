# Shared definitions: dataset location, subjects per split, experiment settings.
from octaseg.config import (
    block_depth,
    dataset_root,
    expected_scans,
    experiment_settings,
    splits,
    training_settings,
)
from octaseg.layout import bscan_dir, bscan_fingerprint, label_path

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
# Where each modality's ingested volumes are (dataset "octa" or "oct" inside).
VOLUME_FOLDER = {"octa": "volumes", "oct": "volumes_oct"}


wildcard_constraints:
    id=r"\d+",
    depth=r"\d+",
    modality="octa|oct",
    exp="|".join(EXPERIMENTS),
    method="|".join(METHODS),


def bscan_folder_fingerprint(modality):
    """A param function: the fingerprint of a subject's B-scan folder. It takes only the
    wildcards: Snakemake leaves params computed from `input` out of its params trigger.
    """

    def fingerprint(wildcards):
        return bscan_fingerprint(bscan_dir(DATA_ROOT, FOV, wildcards.id, modality))

    return fingerprint


def settings(wildcards):
    """An experiment's training settings: those that change what the model learns, so
    that changing a prediction-only setting (INFERENCE_ONLY) does not retrain."""
    return training_settings(config, wildcards.exp)


def inference_settings(wildcards):
    return experiment_settings(config, wildcards.exp)


def model_input(exp, subject_id):
    """The files an experiment reads for one subject: an en-face image, or for a volume
    (IPN) experiment one volume per modality (channel), resampled to its block depth and
    in the label frame."""
    exp_settings = experiment_settings(config, exp)
    kind = exp_settings["input"]
    if kind == "volume":
        depth = block_depth(exp_settings)
        return [
            f"results/{m}_d{depth}/{subject_id}.h5" for m in exp_settings["modalities"]
        ]
    folder = {"projection": "projections", "equalized": "equalized"}[kind]
    suffix = {"projection": "tif", "equalized": "png"}[kind]
    return [f"results/{folder}/{subject_id}.{suffix}"]


def split_inputs(split):
    def inputs(wildcards):
        return [f for i in SPLITS[split] for f in model_input(wildcards.exp, i)]

    return inputs


def split_labels(split):
    return [str(label_path(DATA_ROOT, i)) for i in SPLITS[split]]


def test_probabilities(wildcards):
    """A method's probability maps of the test subjects: trained models have them, the
    baseline none."""
    if wildcards.method not in EXPERIMENTS:
        return []
    return [f"results/{wildcards.method}/probability/{i}.tif" for i in SPLITS["test"]]


def orientation_checks(*splits):
    """The orientation guard's outputs for the subjects of some splits: jobs that use
    their labels wait for them, so a mis-oriented label stops the run first."""
    return [f"results/orientation/{i}.json" for s in splits for i in SPLITS[s]]
