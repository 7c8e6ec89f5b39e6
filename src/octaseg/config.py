"""Workflow configuration helpers: experiment settings and dataset resolution.

The schema (schemas/config.schema.yaml) checks types and names; these functions derive
what the rules need from a validated config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from octaseg.layout import FOV_GEOMETRY, assign_splits, discover_subjects, parse_ids

SYNTHETIC_ROOT = "resources/synthetic"
#: Depth pooling of the original IPN: 160 -> 32 -> 8 -> 4 -> 2 -> 1.
IPN_SEED_POOLS = (5, 4, 2, 2, 2)


def enabled_experiments(config: Mapping[str, Any]) -> list[str]:
    """The experiments to run, sorted: every configured one but those set to ``false``
    (a configuration file cannot delete a key of config.yaml's, only override it)."""
    return sorted(name for name, value in config["experiments"].items() if value is not False)


def experiment_settings(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """train_defaults overridden by experiment ``name``; nested mappings merge one level
    deep, except that a model of another name (ipn instead of unet) replaces the default."""
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
    return settings


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


def dataset_root(config: Mapping[str, Any]) -> str:
    return config["data_root"] or SYNTHETIC_ROOT


def expected_scans(config: Mapping[str, Any]) -> int:
    if config["data_root"]:
        return config["expect_scans"][config["fov"]]
    return synthetic_geometry(config)[0]


def splits(config: Mapping[str, Any]) -> dict[str, list[int]]:
    """Split name -> subject ids. Real data: the configured ranges, kept to the subject
    folders present; synthetic: the configured ids and split. Every split must be non-empty."""
    if config["data_root"]:
        available = discover_subjects(config["data_root"], config["fov"], config.get("source", "bscans"))
        result = assign_splits(config["split"], available)
        where = f"under {config['data_root']} (fov {config['fov']})"
    else:
        ids = parse_ids(config["synthetic"]["ids"])
        result = assign_splits(config["synthetic"]["split"], ids)
        where = f"in synthetic.ids {config['synthetic']['ids']!r}"
    for name, ids in result.items():
        if not ids:
            raise ValueError(f"split {name!r} has no subjects {where}; check the split ranges")
    return result


def block_depth(settings: Mapping[str, Any]) -> int:
    """Depth rows a volume-input (IPN) experiment's blocks have: the product of its
    depth pools (160 for the original network)."""
    model = settings["model"]
    pools = model.get("pools") or (IPN_SEED_POOLS if model.get("preset") == "seed" else None)
    if model["name"] != "ipn" or not pools:
        raise ValueError(f"input 'volume' needs model ipn with preset seed or pools, got {dict(model)}")
    depth = 1
    for pool in pools:
        depth *= int(pool)
    return depth


def channels_from(config: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    """Where an en-face experiment's channels come from: ``volumes`` (projected by the
    workflow) or ``maps`` (the dataset's official projection maps). ``auto`` follows the
    dataset's ``source``."""
    chosen = settings.get("channels_from", "auto")
    if chosen == "auto":
        return "maps" if config.get("source", "bscans") == "maps" else "volumes"
    return chosen


def check_experiments(config: Mapping[str, Any]) -> None:
    """What the schema cannot say: settings that contradict each other or the dataset's
    ``source``. Raises ValueError naming the experiment and the setting."""
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
        if source == "maps" and (kind != "projection" or origin != "maps"):
            found = f"channels_from: {settings.get('channels_from')}"
            if kind != "projection":
                found = f"input: {kind}"
            raise ValueError(
                f"{where}: source is maps (no volumes), so the experiment must read maps "
                f"(input: projection, channels_from: auto or maps), found {found}; "
                f"disable it with '{name}: false' under experiments"
            )
        if kind == "equalized" and origin == "maps":
            raise ValueError(
                f"{where}: input equalized reads the workflow's own projections; official maps are "
                "contrast-stretched already: use input projection with channels_from: maps"
            )
