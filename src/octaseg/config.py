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


def experiment_settings(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """train_defaults overridden by experiment ``name``; nested mappings merge one level
    deep, except that a model of another name (ipn instead of unet) replaces the default."""
    experiments = config["experiments"]
    if name not in experiments:
        raise KeyError(f"unknown experiment {name!r}; configured: {sorted(experiments)}")
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
        available = discover_subjects(config["data_root"], config["fov"])
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
