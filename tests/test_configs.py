"""The config files the README gives commands for (config/*.yaml) stay valid: each,
laid over config.yaml as ``--configfile`` lays it, passes the schema, and every
experiment it enables has settings the model and loss builders accept.

Their real runs need OCTA-500 (or an hour and more); this catches a renamed or retyped
setting before a user meets it at the start of such a run.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config, validate

from octaseg.config import check_synthetic, enabled_experiments, experiment_settings, subject_geometry
from octaseg.losses import build_loss
from octaseg.models import build_model

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = yaml.safe_load((ROOT / "config.yaml").read_text())
CONFIGS = sorted((ROOT / "config").glob("*.yaml"))


def test_there_are_config_files():
    names = {path.name for path in CONFIGS}
    assert {"octa500.yaml", "shipped.yaml", "learning_curve.yaml", "finetune_3mm.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_file_is_valid(path):
    config = copy.deepcopy(DEFAULTS)
    update_config(config, yaml.safe_load(path.read_text()))
    validate(config, str(ROOT / "schemas" / "config.schema.yaml"))
    experiments = enabled_experiments(config)
    assert experiments, f"{path.name} enables no experiment"
    for name in experiments:
        settings = experiment_settings(config, name)
        spec = dict(settings["model"])
        spec.setdefault("in_channels", len(settings.get("channels") or settings.get("modalities") or [1]))
        model = build_model(spec.pop("name"), **spec)
        assert sum(p.numel() for p in model.parameters()) > 0
        build_loss(settings["loss"])


def test_other_fov_subjects_and_their_checks():
    """synthetic.other_fov renders its ids at the other field's OCTA-500 geometry, the rest
    at the dataset's; it needs a maps-only dataset, the other field and ids of the dataset,
    and says which setting is wrong otherwise."""
    config = copy.deepcopy(DEFAULTS)
    update_config(
        config,
        {
            "source": "maps",
            "synthetic": {"maps_only": True, "other_fov": {"fov": "3mm", "ids": "10011-10012"}},
        },
    )
    validate(config, str(ROOT / "schemas" / "config.schema.yaml"))
    check_synthetic(config)
    assert subject_geometry(config, 10011) == (304, 640, 304)
    assert subject_geometry(config, 10001) == (400, 640, 400)
    for change, message in (
        ({"synthetic": {"maps_only": False}}, "needs|maps-only"),
        ({"synthetic": {"other_fov": {"fov": "6mm"}}}, "the dataset's own fov"),
        (
            {"synthetic": {"other_fov": {"ids": "10011-10020"}}},
            r"8 id\(s\) that synthetic.ids \(10001-10012\)",
        ),
    ):
        bad = copy.deepcopy(config)
        update_config(bad, change)
        with pytest.raises(ValueError, match=message):
            check_synthetic(bad)
    with pytest.raises(Exception, match="3cm"):
        bad = copy.deepcopy(config)
        update_config(bad, {"synthetic": {"other_fov": {"fov": "3cm"}}})
        validate(bad, str(ROOT / "schemas" / "config.schema.yaml"))
