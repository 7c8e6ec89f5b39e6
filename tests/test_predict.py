"""One road from files to predictions (octaseg.predict), which the rule predict and
`octaseg predict` both take: the checkpoint's checks, its settings overridden, the
probability map and the 0/255 mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from octaseg.checkpoints import prediction_settings, prediction_threshold, save_checkpoint
from octaseg.infer import predict_with_settings
from octaseg.io import InputError, read_image, read_label, write_image
from octaseg.models import build_model
from octaseg.predict import load_trained, predict_files, write_mask

SPEC = {"name": "unet", "base": 4, "depth": 2, "up_kernel": 4, "in_channels": 1}
SETTINGS = {"input": "projection", "normalize": "zscore", "device": "cpu", "tta": "none"}


@pytest.fixture
def checkpoint(tmp_path):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        weights = build_model(**SPEC).state_dict()
    path = tmp_path / "best.pt"
    save_checkpoint(path, {"model": weights, "model_spec": SPEC, "settings": SETTINGS, "threshold": 0.45})
    return path


def test_settings_and_threshold_overrides():
    ckpt = {"settings": {"tta": "none", "window": 64}, "threshold": 0.3}
    assert prediction_settings(ckpt, {"tta": "d4", "window": None}) == {"tta": "d4", "window": 64}
    assert prediction_settings(ckpt) == ckpt["settings"]
    assert prediction_threshold(ckpt) == 0.3 and prediction_threshold(ckpt, 0.7) == 0.7
    assert prediction_threshold({}) == 0.5


def test_predict_files_writes_the_probability_and_a_0_255_mask(checkpoint, tmp_path, rng):
    image = rng.normal(size=(24, 20)).astype(np.float32)
    write_image(tmp_path / "10001.tif", image)
    trained = load_trained(checkpoint, overrides={"tta": "flips", "window": None})
    assert trained.threshold == pytest.approx(0.45) and trained.settings["tta"] == "flips"
    prob = predict_files(trained, [tmp_path / "10001.tif"], tmp_path / "p.tif", tmp_path / "m.png")
    expected = predict_with_settings(trained.model, (image - image.mean())[None] / image.std(),
                                     trained.settings, trained.device)  # fmt: skip
    np.testing.assert_allclose(prob, expected, atol=1e-5)
    np.testing.assert_array_equal(read_image(tmp_path / "p.tif"), prob)
    mask = read_image(tmp_path / "m.png")
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
    np.testing.assert_array_equal(mask > 0, prob >= 0.45)
    lower = load_trained(checkpoint, threshold=0.0)
    predict_files(lower, [tmp_path / "10001.tif"], tmp_path / "p2.tif", tmp_path / "m2.png")
    assert read_label(tmp_path / "m2.png").all()


def test_a_bad_checkpoint_is_refused_naming_it(tmp_path):
    with pytest.raises(InputError, match=r"--checkpoint gone\.pt: no such file"):
        load_trained(tmp_path / "gone.pt", where="--checkpoint gone.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(InputError, match=r"other\.pt: expected an octaseg checkpoint .* found \['weights'\]"):
        load_trained(tmp_path / "other.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(InputError, match=r"text\.pt: expected an octaseg checkpoint, found a file torch"):
        load_trained(str(tmp_path / "text.pt"))


def test_write_mask(tmp_path):
    write_mask(tmp_path / "m.png", np.eye(4, dtype=bool))
    np.testing.assert_array_equal(read_image(tmp_path / "m.png"), np.eye(4, dtype=np.uint8) * 255)
    with pytest.raises(ValueError, match=r"expected a mask \(H, W\), found an array of shape \(1, 4, 4\)"):
        write_mask(tmp_path / "bad.png", np.ones((1, 4, 4), bool))
