# Shared definitions: dataset location, subjects per split, experiment settings.
from octaseg.config import (
    block_depth,
    channels_from,
    check_experiments,
    check_synthetic,
    data_layout,
    dataset_root,
    enabled_experiments,
    expected_scans,
    experiment_settings,
    reference_map,
    shipped_experiment,
    splits,
    training_settings,
)
from octaseg.layout import bscan_dir, bscan_fingerprint, layers_path
from octaseg.projection import Channel

check_experiments(config)
check_synthetic(config)
DATA_ROOT = dataset_root(config)
SYNTHETIC = not config["data_root"]
# bscans: subjects start as B-scan folders; maps: as official projection maps; folders:
# as one image and one label each (<data_root>/images, <data_root>/labels)
SOURCE = config["source"]
FOV = config["fov"]
EXPECT_SCANS = expected_scans(config)
ORIENTATION = config["orientation"][FOV]
# The transform from the en-face image to the label frame that the orientation guard
# checks: maps and folder images are in the label frame already.
IMAGE_ORIENTATION = ORIENTATION if SOURCE == "bscans" else "identity"
# Where each subject's label and en-face images are (octaseg.layout.DataLayout).
LAYOUT = data_layout(config)
SPLITS = splits(config, LAYOUT)
# With source maps, the map that stands for a subject (see reference_image).
REFERENCE_MAP = reference_map(config)
EXPERIMENTS = enabled_experiments(config)  # those not set to false
# Classical baseline beside the trained models: evaluated and summarized like them.
BASELINES = ["frangi_otsu"] if config["baseline"] else []
METHODS = EXPERIMENTS + BASELINES
ALL_IDS = sorted({i for ids in SPLITS.values() for i in ids})
# The experiment whose best.pt the rule ship exports as the package's model, or None.
SHIP = shipped_experiment(config)
# Where each modality's ingested volumes are (dataset "octa" or "oct" inside).
VOLUME_FOLDER = {"octa": "volumes", "oct": "volumes_oct"}


wildcard_constraints:
    id=r"\d+",
    depth=r"\d+",
    modality="octa|oct",
    channel=r"(octa|oct)_(full|ilm_opl|opl_bm)_(mean|max)",
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
    """The files an experiment reads for one subject: one en-face image per channel
    (projected here, equalized, or the official map), or for a volume (IPN) experiment
    one volume per modality (channel), resampled to its block depth and in the label
    frame."""
    exp_settings = experiment_settings(config, exp)
    kind = exp_settings["input"]
    if kind == "volume":
        depth = block_depth(exp_settings)
        return [
            f"results/{m}_d{depth}/{subject_id}.h5" for m in exp_settings["modalities"]
        ]
    channels = [Channel.parse(c) for c in exp_settings["channels"]]
    if kind == "equalized":
        return [f"results/equalized/{c.key}/{subject_id}.png" for c in channels]
    if channels_from(config, exp_settings) == "maps":
        return [str(LAYOUT.en_face(c.map_folder, subject_id)) for c in channels]
    return [f"results/projections/{c.key}/{subject_id}.tif" for c in channels]


def reference_image(subject_id):
    """The en-face image that stands for a subject in the orientation guard, the baseline
    and the figures: the workflow's OCTA(FULL) mean projection; with source maps the map
    REFERENCE_MAP (OCTA(FULL) when an experiment reads it, else the first channel of the
    first experiment, by name); with source folders the subject's image."""
    if SOURCE == "bscans":
        return f"results/projections/{Channel.parse('OCTA(FULL)').key}/{subject_id}.tif"
    return str(LAYOUT.en_face(REFERENCE_MAP, subject_id))


def reference_name():
    """What reference_image is, in words, for figure titles."""
    if SOURCE == "bscans":
        return "OCTA(FULL) mean projection"
    return f"{REFERENCE_MAP} map" if SOURCE == "maps" else "image"


def reads_en_face(method):
    """Whether a method is an experiment that reads en-face images (not the baseline, not
    a volume (IPN) experiment)."""
    return (
        method in EXPERIMENTS
        and experiment_settings(config, method)["input"] != "volume"
    )


def figure_input(method, subject_id):
    """The en-face image a method's figures show: the first channel an en-face experiment
    read; for the baseline and volume (IPN) experiments the reference image."""
    if reads_en_face(method):
        return model_input(method, subject_id)[0]
    return reference_image(subject_id)


def figure_input_name(method):
    """What figure_input shows, in words: e.g. 'OCTA(ILM_OPL) map' or 'OCTA(FULL)
    projection, equalized'."""
    if not reads_en_face(method):
        return reference_name()
    exp_settings = experiment_settings(config, method)
    channel = exp_settings["channels"][0]
    if SOURCE == "folders":
        return "image"
    if channels_from(config, exp_settings) == "maps":
        return f"{channel} map"
    equalized = ", equalized" if exp_settings["input"] == "equalized" else ""
    return f"{channel} projection{equalized}"


def subject_label(subject_id):
    """A subject's large-vessel label, wherever the dataset's layout keeps it."""
    return str(LAYOUT.label(subject_id))


def split_inputs(split):
    def inputs(wildcards):
        return [f for i in SPLITS[split] for f in model_input(wildcards.exp, i)]

    return inputs


def split_labels(split):
    return [subject_label(i) for i in SPLITS[split]]


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


def projection_inputs(wildcards):
    """A channel's volume, and for a slab the subject's layer surfaces."""
    channel = Channel.from_key(wildcards.channel)
    inputs = {
        "volume": f"results/{VOLUME_FOLDER[channel.modality.lower()]}/{wildcards.id}.h5"
    }
    if channel.slab != "FULL":
        inputs["surfaces"] = f"results/surfaces/{wildcards.id}.h5"
    return inputs


def surfaces_input(wildcards):
    """GT_Layers where config `layers` asks for it, or (auto) where it is present or,
    in the synthetic dataset, about to be written; else the OCT volume."""
    gt = layers_path(DATA_ROOT, wildcards.id)
    present = SYNTHETIC or gt.is_file()
    if config["layers"] == "gt" or (config["layers"] == "auto" and present):
        return str(gt)
    return f"results/volumes_oct/{wildcards.id}.h5"


def ship_input(wildcards):
    """What the ship job exports: the best.pt of the experiment config `ship` names (an
    error saying so when it names none)."""
    if SHIP is None:
        raise ValueError(
            "ship: null names no experiment to ship; run "
            "`snakemake --cores all --configfile config/shipped.yaml ship`, or set ship to an "
            "experiment's name"
        )
    return f"results/{SHIP}/best.pt"
