# Shared definitions of the rules, in one convention (that of the snakemake-workflows
# repositories):
# - UPPER_CASE constants: the settings read from config, and the file lists that do not
#   depend on a job's wildcards, computed once when the workflow is parsed (a list may
#   hold a wildcard pattern, such as TEST_MASKS' {method});
# - get_<what>(wildcards): every input and params function, named for what it returns and
#   passed to a rule by name (no lambdas in the rules);
# - _<name>(subject_id, ...): the helpers the two above share; rules do not call them.
from pathlib import Path

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
    ship_provenance,
    shipped_experiment,
    splits,
    subject_geometry,
    train_subjects,
    training_settings,
)
from octaseg.finetune import init_path
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
# With source maps, the map that stands for a subject (see _reference_image).
REFERENCE_MAP = reference_map(config)
EXPERIMENTS = enabled_experiments(config)  # those not set to false
# The subjects each experiment trains on, in id order: the train split, or the part of it
# its train_subjects names (octaseg.config.train_subjects; a bad N stops the run here).
TRAIN_IDS = {exp: train_subjects(config, exp, SPLITS["train"]) for exp in EXPERIMENTS}
# The experiments that set train_subjects: the points of the learning curve (test Dice
# against the number of training subjects, rules/learning_curve.smk).
CURVE_EXPERIMENTS = [
    exp
    for exp in EXPERIMENTS
    if experiment_settings(config, exp).get("train_subjects") is not None
]
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


def _label(subject_id):
    """A subject's large-vessel label, wherever the dataset's layout keeps it."""
    return str(LAYOUT.label(subject_id))


def _reference_image(subject_id):
    """The en-face image that stands for a subject in the orientation guard, the baseline
    and the figures: the workflow's OCTA(FULL) mean projection; with source maps the map
    REFERENCE_MAP (OCTA(FULL) when an experiment reads it, else the first channel of the
    first experiment, by name); with source folders the subject's image."""
    if SOURCE == "bscans":
        return f"results/projections/{Channel.parse('OCTA(FULL)').key}/{subject_id}.tif"
    return str(LAYOUT.en_face(REFERENCE_MAP, subject_id))


def _model_inputs(exp, subject_id):
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


def _reads_en_face(method):
    """Whether a method is an experiment that reads en-face images (not the baseline, not
    a volume (IPN) experiment)."""
    return (
        method in EXPERIMENTS
        and experiment_settings(config, method)["input"] != "volume"
    )


def _bscan_folder(subject_id, modality):
    return str(bscan_dir(DATA_ROOT, FOV, subject_id, modality))


# The subjects' files, per split (in the split's order) and of all subjects (ALL_IDS).
LABELS = {split: [_label(i) for i in ids] for split, ids in SPLITS.items()}
ALL_LABELS = [_label(i) for i in ALL_IDS]
ALL_REFERENCE_IMAGES = [_reference_image(i) for i in ALL_IDS]


# The orientation guard's outputs, per split: jobs that use a split's labels wait for
# them, so a mis-oriented label stops the run first.
def _orientation_check(i):
    """The orientation guard's output for subject ``i``."""
    return f"results/orientation/{i}.json"


ORIENTATION_CHECKS = {
    split: [_orientation_check(i) for i in ids] for split, ids in SPLITS.items()
}
# A method's masks of the test subjects (the pattern keeps the rule's {method}).
TEST_MASKS = expand("results/{{method}}/masks/{id}.png", id=SPLITS["test"])
# What _reference_image is, in words, for figure titles.
if SOURCE == "bscans":
    REFERENCE_NAME = "OCTA(FULL) mean projection"
else:
    REFERENCE_NAME = f"{REFERENCE_MAP} map" if SOURCE == "maps" else "image"


def get_bscans(wildcards):
    """A subject's OCTA B-scan folder."""
    return _bscan_folder(wildcards.id, "OCTA")


def get_oct_bscans(wildcards):
    """A subject's OCT B-scan folder."""
    return _bscan_folder(wildcards.id, "OCT")


# The fingerprints of a subject's B-scan folders, as params: they take only the wildcards,
# as Snakemake leaves params computed from `input` out of its params trigger.
def get_bscans_fingerprint(wildcards):
    """The fingerprint of a subject's OCTA B-scan folder."""
    return bscan_fingerprint(_bscan_folder(wildcards.id, "OCTA"))


def get_oct_bscans_fingerprint(wildcards):
    """The fingerprint of a subject's OCT B-scan folder."""
    return bscan_fingerprint(_bscan_folder(wildcards.id, "OCT"))


def get_surfaces_source(wildcards):
    """Where a subject's layer surfaces come from, named for the rule's script:
    gt_layers, the GT_Layers file, where config `layers` asks for it, or (auto) where it
    is present or, in the synthetic dataset, about to be written; else oct_volume, the
    OCT volume they are estimated from. Unpacked: the name is the decision, not a param,
    so that the params trigger does not re-run surfaces made before it was named."""
    gt = layers_path(DATA_ROOT, wildcards.id)
    present = SYNTHETIC or gt.is_file()
    if config["layers"] == "gt" or (config["layers"] == "auto" and present):
        return {"gt_layers": str(gt)}
    return {"oct_volume": f"results/volumes_oct/{wildcards.id}.h5"}


def get_projection_inputs(wildcards):
    """A channel's volume, and for a slab the subject's layer surfaces."""
    channel = Channel.from_key(wildcards.channel)
    inputs = {
        "volume": f"results/{VOLUME_FOLDER[channel.modality.lower()]}/{wildcards.id}.h5"
    }
    if channel.slab != "FULL":
        inputs["surfaces"] = f"results/surfaces/{wildcards.id}.h5"
    return inputs


def get_ingested_volume(wildcards):
    """A subject's ingested volume of a modality."""
    return f"results/{VOLUME_FOLDER[wildcards.modality]}/{wildcards.id}.h5"


def get_reference_image(wildcards):
    """A subject's reference image (_reference_image)."""
    return _reference_image(wildcards.id)


def get_label(wildcards):
    """A subject's large-vessel label."""
    return _label(wildcards.id)


def get_train_model_inputs(wildcards):
    """The files an experiment reads for its training subjects (TRAIN_IDS), in their
    order."""
    return [
        f for i in TRAIN_IDS[wildcards.exp] for f in _model_inputs(wildcards.exp, i)
    ]


def get_train_labels(wildcards):
    """The labels of an experiment's training subjects (TRAIN_IDS), in their order."""
    return [_label(i) for i in TRAIN_IDS[wildcards.exp]]


def get_training_orientation_checks(wildcards):
    """The orientation checks of an experiment's training and validation subjects: its
    training waits for them."""
    ids = TRAIN_IDS[wildcards.exp] + SPLITS["val"]
    return [_orientation_check(i) for i in ids]


def get_init_from(wildcards):
    """The checkpoint an experiment's training starts from (init_from), so that a newer
    one retrains it: the path as given (a relative one from the working directory), for
    `shipped` the shipped model's file ($OCTASEG_WEIGHTS, else the package's); none for
    null (random weights)."""
    setting = experiment_settings(config, wildcards.exp).get("init_from")
    return [] if setting is None else str(init_path(setting))


def get_val_model_inputs(wildcards):
    """The files an experiment reads for the val split's subjects, in their order."""
    return [f for i in SPLITS["val"] for f in _model_inputs(wildcards.exp, i)]


def get_test_model_inputs(wildcards):
    """The files an experiment reads for the test split's subjects, in their order."""
    return [f for i in SPLITS["test"] for f in _model_inputs(wildcards.exp, i)]


def get_training_settings(wildcards):
    """An experiment's training settings: those that change what the model learns, so
    that changing a prediction-only setting (INFERENCE_ONLY) does not retrain."""
    return training_settings(config, wildcards.exp)


def get_experiment_settings(wildcards):
    """All of an experiment's settings, prediction's too."""
    return experiment_settings(config, wildcards.exp)


def get_test_probabilities(wildcards):
    """A method's probability maps of the test subjects: trained models have them, the
    baseline none."""
    if wildcards.method not in EXPERIMENTS:
        return []
    return [f"results/{wildcards.method}/probability/{i}.tif" for i in SPLITS["test"]]


def get_figure_images(wildcards):
    """The en-face image a method's figures show, per test subject: the first channel an
    en-face experiment read; for the baseline and volume (IPN) experiments the reference
    image."""
    if _reads_en_face(wildcards.method):
        return [_model_inputs(wildcards.method, i)[0] for i in SPLITS["test"]]
    return [_reference_image(i) for i in SPLITS["test"]]


def get_figure_image_name(wildcards):
    """What get_figure_images shows, in words: e.g. 'OCTA(ILM_OPL) map' or 'OCTA(FULL)
    projection, equalized'."""
    if not _reads_en_face(wildcards.method):
        return REFERENCE_NAME
    exp_settings = experiment_settings(config, wildcards.method)
    channel = exp_settings["channels"][0]
    if SOURCE == "folders":
        return "image"
    if channels_from(config, exp_settings) == "maps":
        return f"{channel} map"
    equalized = ", equalized" if exp_settings["input"] == "equalized" else ""
    return f"{channel} projection{equalized}"


def get_ship_checkpoint(wildcards):
    """What the ship job exports: the best.pt of the experiment config `ship` names (an
    error saying so when it names none)."""
    if SHIP is None:
        raise ValueError(
            "ship: null names no experiment to ship; run "
            "`snakemake --cores all --configfile config/shipped.yaml ship`, or set ship to an "
            "experiment's name"
        )
    return f"results/{SHIP}/best.pt"


# The shipped experiment's settings and provenance: functions, so that they are read only
# when the ship job is planned (after get_ship_checkpoint has checked that there is one).
def get_ship_settings(wildcards):
    """The shipped experiment's settings, prediction's too (tta): best.pt stores its
    training ones."""
    return experiment_settings(config, SHIP)


def get_ship_provenance(wildcards):
    """What the shipped model was trained on (octaseg.config.ship_provenance)."""
    return ship_provenance(config, SHIP)


def get_synthetic_geometry(wildcards):
    """(scans, depth, width) of a synthetic subject: synthetic.other_fov's field's for its
    ids, else the dataset's (octaseg.config.subject_geometry)."""
    return subject_geometry(config, int(wildcards.id))


def get_synthetic_root(wildcards, output):
    """The synthetic dataset's root: three levels above Label/GT_LargeVessel/<id>.bmp.
    It takes `output` so that the params trigger leaves it out, like any param derived
    from a job's files."""
    return str(Path(output.label).parents[2])
