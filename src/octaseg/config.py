"""Workflow configuration helpers: experiment settings and dataset resolution.

The schema (schemas/config.schema.yaml) checks types and names; these functions derive
what the rules need from a validated config.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from octaseg.layout import (
    FOV_GEOMETRY,
    SUBJECT_MAP,
    DataLayout,
    assign_splits,
    format_ids,
    parse_ids,
)
from octaseg.presets import block_depth as model_block_depth

SYNTHETIC_ROOT = "resources/synthetic"


def enabled_experiments(config: Mapping[str, Any]) -> list[str]:
    """The experiments to run, sorted: every configured one but those set to ``false``
    (a configuration file cannot delete a key of config.yaml's, only override it)."""
    return sorted(name for name, value in config["experiments"].items() if value is not False)


#: Settings left out of an experiment's settings at these values, which change nothing
#: (random initial weights, nothing frozen, the whole train split): so the parameters of
#: the rules that read them stayed as they were when these settings came, and nothing
#: trained before them trains again.
NEUTRAL = {"init_from": None, "freeze_encoder_epochs": 0, "train_subjects": None}


def experiment_settings(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """train_defaults overridden by experiment ``name``; nested mappings merge one level
    deep, except that a model of another name (ipn instead of unet) replaces the default.
    Settings at their :data:`NEUTRAL` value are left out."""
    experiments = config["experiments"]
    if name not in experiments or experiments[name] is False:
        raise KeyError(f"unknown or disabled experiment {name!r}; enabled: {enabled_experiments(config)}")
    settings = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in config["train_defaults"].items()}
    default_model = settings["model"].get("name")
    for key, value in (experiments[name] or {}).items():
        merge = isinstance(value, Mapping) and isinstance(settings.get(key), dict) and key != "loss"
        if key == "model" and value.get("name", default_model) != default_model:
            merge = False  # a model of another kind replaces the default whole
        if merge:
            settings[key].update(value)
        else:
            settings[key] = dict(value) if isinstance(value, Mapping) else value
    return {k: v for k, v in settings.items() if k not in NEUTRAL or v != NEUTRAL[k]}


#: Settings that only change prediction, not what a model learns: the train rule leaves
#: them out of its parameters, so changing one re-predicts but does not retrain.
INFERENCE_ONLY = ("tta", "predict_batch_size")


def training_settings(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """:func:`experiment_settings` without the prediction-only ones (:data:`INFERENCE_ONLY`)."""
    return {k: v for k, v in experiment_settings(config, name).items() if k not in INFERENCE_ONLY}


def synthetic_geometry(config: Mapping[str, Any]) -> tuple[int, int, int]:
    """(scans, depth, width) of the synthetic dataset: configured, or the field of view's."""
    default = FOV_GEOMETRY[config["fov"]]
    syn = config["synthetic"]
    return tuple(syn.get(k) or d for k, d in zip(("scans", "depth", "width"), default, strict=True))


def other_fov_ids(config: Mapping[str, Any]) -> tuple[str | None, set[int]]:
    """``synthetic.other_fov``: the other field of view and the ids rendered as it, or
    (None, empty set)."""
    other = (config.get("synthetic") or {}).get("other_fov")
    if not other:
        return None, set()
    return other["fov"], set(parse_ids(other["ids"]))


def subject_geometry(config: Mapping[str, Any], subject_id: int) -> tuple[int, int, int]:
    """(scans, depth, width) of one synthetic subject: the OCTA-500 geometry of
    ``synthetic.other_fov`` for its ids, else :func:`synthetic_geometry`."""
    fov, ids = other_fov_ids(config)
    if subject_id in ids:
        return FOV_GEOMETRY[fov]
    return synthetic_geometry(config)


def dataset_root(config: Mapping[str, Any]) -> str:
    return config["data_root"] or SYNTHETIC_ROOT


def expected_scans(config: Mapping[str, Any]) -> int:
    if config["data_root"]:
        return config["expect_scans"][config["fov"]]
    return synthetic_geometry(config)[0]


SPLIT_NAMES = ("train", "val", "test")


def split_ranges(config: Mapping[str, Any]) -> dict[str, Any]:
    """The id ranges of each split for the configured ``fov``: ``split`` is either one
    {train, val, test} for every field of view, or one per field of view
    ({6mm: {train, val, test}, 3mm: ...}). Config files merge key by key, so both forms
    can meet (config.yaml's per-fov split and a user's {train, val, test}): the
    {train, val, test} given directly wins."""
    split, fov = config["split"], config["fov"]
    direct = [name for name in SPLIT_NAMES if name in split]
    if direct:
        if len(direct) < len(SPLIT_NAMES):
            lacking = [name for name in SPLIT_NAMES if name not in split]
            raise ValueError(
                f"split: {', '.join(direct)} given without {', '.join(lacking)}; give all of "
                "train, val and test, or a split per field of view such as "
                "{6mm: {train: ..., val: ..., test: ...}}"
            )
        return {name: split[name] for name in SPLIT_NAMES}
    if fov not in split:
        given = ", ".join(sorted(split)) or "none"
        raise ValueError(
            f"split has no entry for fov {fov} (it has one for: {given}); add "
            f"split: {{{fov}: {{train: ..., val: ..., test: ...}}}} in a config file, or one "
            "split {train, val, test} for every field of view"
        )
    return dict(split[fov])


def map_needs(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Map folder (such as ``OCTA(ILM_OPL)``) -> the enabled experiments that read that
    official map (en-face experiments whose channels come from maps), sorted."""
    from octaseg.projection import Channel

    needs: dict[str, list[str]] = {}
    for name in enabled_experiments(config):
        settings = experiment_settings(config, name)
        if settings["input"] != "projection" or channels_from(config, settings) != "maps":
            continue
        for channel in settings["channels"]:
            users = needs.setdefault(Channel.parse(channel).map_folder, [])
            if name not in users:
                users.append(name)
    return dict(sorted(needs.items()))


def reference_map(config: Mapping[str, Any]) -> str:
    """With source maps, the map folder whose image stands for a subject in the
    orientation guard, the Frangi baseline and the figures: ``OCTA(FULL)`` when an
    enabled experiment reads it, else the first channel of the first enabled experiment
    (experiments in name order)."""
    from octaseg.projection import Channel

    if SUBJECT_MAP in map_needs(config):
        return SUBJECT_MAP
    first = experiment_settings(config, enabled_experiments(config)[0])
    return Channel.parse(first["channels"][0]).map_folder


def data_layout(config: Mapping[str, Any]) -> DataLayout:
    """Where the dataset's files are (:class:`octaseg.layout.DataLayout`). A real copy
    with source maps or folders is listed once here (the labels and the maps the enabled
    experiments read, or the folder pair); the synthetic dataset is still to be written."""
    source = config.get("source", "bscans")
    if not config["data_root"]:
        if source == "folders":
            raise ValueError(
                "source: folders reads <data_root>/images and <data_root>/labels, but data_root is "
                "null (the synthetic demo, in the OCTA-500 layout); set data_root, or use source "
                "bscans or maps"
            )
        return DataLayout(Path(SYNTHETIC_ROOT), config["fov"], source)
    if source == "bscans":
        return DataLayout(Path(config["data_root"]), config["fov"], source)
    return DataLayout.scan(config["data_root"], config["fov"], source, map_needs(config))


def splits(config: Mapping[str, Any], layout: DataLayout | None = None) -> dict[str, list[int]]:
    """Split name -> subject ids. Real data: the configured ranges (:func:`split_ranges`),
    kept to the subjects present (:meth:`DataLayout.subjects`); synthetic: the configured
    ids and split. Every split must be non-empty, and with source maps or folders every
    subject of a split must have its label and every image an enabled experiment reads:
    a missing one is an error naming the file, the subject and what needs it."""
    if config["data_root"]:
        layout = layout or data_layout(config)
        available = layout.subjects()
        result = assign_splits(split_ranges(config), available)
        where = (
            f"under {config['data_root']} (fov {config['fov']}, source {layout.source}; "
            f"subjects found: {format_ids(available)})"
        )
        needs = map_needs(config)
        missing = [
            f"subject {i} (split {name}): {problem}"
            for name, ids in result.items()
            for i in ids
            for problem in layout.missing(i, needs)
        ]
        if missing:
            more = f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise ValueError(
                f"{len(missing)} file(s) missing under data_root {config['data_root']} "
                f"(fov {config['fov']}, source {layout.source}):\n  "
                + "\n  ".join(missing[:10])
                + more
                + "\nAdd them, leave those subjects out of the split ranges, or disable the "
                "experiments that read them ('<name>: false' under experiments)"
            )
    else:
        ids = parse_ids(config["synthetic"]["ids"])
        result = assign_splits(config["synthetic"]["split"], ids)
        where = f"in synthetic.ids {config['synthetic']['ids']!r}"
    for name, ids in result.items():
        if not ids:
            raise ValueError(f"split {name!r} has no subjects {where}; check the split ranges")
    return result


def train_subjects(config: Mapping[str, Any], name: str, train_ids: Sequence[int]) -> list[int]:
    """The subjects experiment ``name`` trains on, in id order, by its ``train_subjects``:
    null, the whole train split ``train_ids``; an integer N, its first N ids; ``{n: N,
    seed: S}`` (seed 0 when left out), N drawn with seed S: the split ordered by the
    SHA-256 of ``"S:id"``, its first N, so that with one seed a smaller sample lies inside
    a larger one, and the draw is the same on every machine and Python. N outside 1 to the
    split's size is a ValueError naming the experiment, the setting, N and that size."""
    setting = experiment_settings(config, name).get("train_subjects")
    ids = sorted(train_ids)
    if setting is None:
        return ids
    n, seed = (setting["n"], setting.get("seed", 0)) if isinstance(setting, Mapping) else (setting, None)
    if not 1 <= n <= len(ids):
        raise ValueError(
            f"experiments.{name}: train_subjects: {setting} asks for {n} training subject(s), but "
            f"the train split has {len(ids)} ({format_ids(ids)}); give 1 to {len(ids)}, or null "
            "for all of them"
        )
    if seed is None:
        return ids[:n]
    drawn = sorted(ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).digest())
    return sorted(drawn[:n])


def trained_checkpoints(config: Mapping[str, Any], but: str | None = None) -> list[str]:
    """The checkpoints the workflow writes (each enabled experiment's best.pt and
    last.pt, but experiment ``but``'s), which an ``init_from`` may name before they exist."""
    return [
        f"results/{name}/{file}"
        for name in enabled_experiments(config)
        if name != but
        for file in ("best.pt", "last.pt")
    ]


def check_synthetic(config: Mapping[str, Any]) -> None:
    """``synthetic.maps_only`` writes the synthetic subjects' en-face files alone (projection
    maps, masks and labels, no B-scans): only ``source: maps`` reads such a dataset.
    ``synthetic.other_fov`` needs maps_only (B-scan folders of two geometries would not
    share the workflow's volume steps), a field of view other than ``fov`` and ids among
    ``synthetic.ids``. Raises ValueError naming the settings otherwise."""
    syn = config.get("synthetic") or {}
    other, ids = other_fov_ids(config)
    if other is not None:
        if not syn.get("maps_only"):
            raise ValueError(
                "synthetic.other_fov renders some subjects at another field of view's geometry, "
                "which only a maps-only dataset can hold; set synthetic.maps_only: true (and "
                "source: maps), or synthetic.other_fov: null"
            )
        if other == config.get("fov"):
            raise ValueError(
                f"synthetic.other_fov.fov is {other!r}, the dataset's own fov; name the other one"
            )
        stray = sorted(ids - set(parse_ids(syn["ids"])))
        if stray:
            raise ValueError(
                f"synthetic.other_fov.ids names {len(stray)} id(s) that synthetic.ids "
                f"({syn['ids']}) does not hold: {stray[:5]}"
            )
    source = config.get("source", "bscans")
    if syn.get("maps_only") and source != "maps":
        reads = {"bscans": "the B-scan folders", "folders": "a folder pair under data_root"}.get(
            source, f"{source!r}"
        )
        raise ValueError(
            "synthetic.maps_only: true writes the synthetic subjects' projection maps and labels but "
            f"no B-scans, while source: {source} reads {reads}; set source: maps (the experiments "
            "then read the maps), or synthetic.maps_only: false"
        )


def shipped_experiment(config: Mapping[str, Any]) -> str | None:
    """Config ``ship``: the enabled experiment whose best.pt the rule ship exports as the
    package's model, or None. A name that is not an enabled experiment is an error."""
    name, enabled = config.get("ship"), enabled_experiments(config)
    if name is not None and name not in enabled:
        raise ValueError(
            f"ship: {name!r} is not an enabled experiment (enabled: {', '.join(enabled)}); "
            "name the experiment whose best.pt becomes the package's model, or set ship: null"
        )
    return name


def ship_provenance(config: Mapping[str, Any], experiment: str) -> dict[str, Any]:
    """What the shipped model was trained on, for its provenance: the experiment, the
    data (the synthetic dataset's seed, ids, split and geometry, or the real copy's
    data_root, source and split) and the generator (this octaseg's version)."""
    from octaseg import __version__

    if config["data_root"]:
        data = {
            "kind": "data_root",
            "data_root": str(config["data_root"]),
            "source": config.get("source", "bscans"),
            "fov": config["fov"],
            "split": {k: str(v) for k, v in split_ranges(config).items()},
        }
    else:
        syn = config["synthetic"]
        other, other_ids = other_fov_ids(config)
        data = {
            "kind": "synthetic",
            "seed": int(syn["seed"]),
            "ids": format_ids(parse_ids(syn["ids"])),
            "split": {k: format_ids(parse_ids(v)) for k, v in syn["split"].items()},
            "fov": config["fov"],
            "geometry": list(synthetic_geometry(config)),
            "maps_only": bool(syn.get("maps_only", False)),
            "other_fov": {"fov": other, "ids": format_ids(other_ids)} if other else None,
        }
    return {"experiment": experiment, "data": data, "generator": f"octaseg {__version__}"}


def block_depth(settings: Mapping[str, Any]) -> int:
    """Depth rows a volume-input (IPN) experiment's blocks have: the product of its
    depth pools (160 for the original network), as :func:`octaseg.presets.block_depth`
    has it for the experiment's model."""
    return model_block_depth(settings["model"])


def channels_from(config: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    """Where an en-face experiment's channels come from: ``volumes`` (projected by the
    workflow) or ``maps`` (the dataset's official projection maps, or with source folders
    the subject's one image). ``auto`` follows the dataset's ``source``: volumes for
    bscans, else maps."""
    chosen = settings.get("channels_from", "auto")
    if chosen == "auto":
        return "volumes" if config.get("source", "bscans") == "bscans" else "maps"
    return chosen


def check_experiments(config: Mapping[str, Any]) -> None:
    """What the schema cannot say: settings that contradict each other or the dataset's
    ``source``, and an ``init_from`` file that is not there (nor a checkpoint the workflow
    writes). Raises ValueError (InputError for the file) naming the experiment and the
    setting."""
    from octaseg.finetune import check_fine_tuning, check_init_from
    from octaseg.projection import Channel

    source = config.get("source", "bscans")
    if not enabled_experiments(config):
        raise ValueError("experiments: every experiment is disabled (false); enable at least one")
    for name in enabled_experiments(config):
        settings = experiment_settings(config, name)
        kind, origin = settings["input"], channels_from(config, settings)
        where = f"experiments.{name}"
        for channel in settings.get("channels", ["OCTA(FULL)"]):
            Channel.parse(channel)
        if source != "bscans" and (kind != "projection" or origin != "maps"):
            found = f"channels_from: {settings.get('channels_from')}"
            if kind != "projection":
                found = f"input: {kind}"
            what = "maps (no volumes)" if source == "maps" else "folders (one image per subject, no volumes)"
            raise ValueError(
                f"{where}: source is {what}, so the experiment must read maps "
                f"(input: projection, channels_from: auto or maps), found {found}; "
                f"disable it with '{name}: false' under experiments"
            )
        channels = settings.get("channels", ["OCTA(FULL)"])
        if source == "folders" and len(channels) != 1:
            raise ValueError(
                f"{where}: source is folders (one image per subject), so the experiment reads one "
                f"channel, found {len(channels)}: {', '.join(channels)}; "
                f"disable it with '{name}: false' under experiments"
            )
        if kind == "equalized" and origin == "maps":
            raise ValueError(
                f"{where}: input equalized reads the workflow's own projections; official maps are "
                "contrast-stretched already: use input projection with channels_from: maps"
            )
        check_fine_tuning(settings, where)
        own = [f"results/{name}/{file}" for file in ("best.pt", "last.pt")]
        check_init_from(settings.get("init_from"), where, trained_checkpoints(config, but=name), own)
