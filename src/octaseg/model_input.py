"""What a model reads: a subject's files turned into the array the model takes, prepared
the same way for training, validation and prediction.

En-face models (input ``projection`` or ``equalized``) read one image per channel and
take (channels, H, W); volume models (IPN, input ``volume``) read one HDF5 volume per
channel and take (channels * depth, H, W). :func:`labelled_inputs` loads a split's
subjects with their labels, and :func:`per_subject` groups a split's flat file list
(as the workflow's rules pass it) into one list per subject.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from octaseg.enhance import equalize, normalize
from octaseg.io import BLOCKS_DATASET, InputError, read_blocks_volume, read_image, read_label, read_volume
from octaseg.presets import block_depth
from octaseg.projection import Channel, mean_projection, orient, resample_depth, volume_to_label_frame

#: The OCTA(FULL) channel: the one a raw (ingested) volume can stand for, projected.
FULL = Channel.parse("OCTA(FULL)")


def load_model_input(
    paths: Sequence[str | Path], settings: Mapping[str, Any], orientation: str = "flipud"
) -> np.ndarray:
    """What a model trained with ``settings`` reads for one subject, prepared as training
    prepared it: float32 (channels, H, W) for an en-face model
    (:func:`load_en_face_input`), (channels * depth, H, W) for a volume model (IPN,
    :func:`load_volume_input`). ``orientation`` turns raw (ingested) volumes into the
    label frame; other files are in it already."""
    paths = [Path(p) for p in paths]
    if settings["input"] == "volume":
        return load_volume_input(paths, settings, orientation)
    return load_en_face_input(paths, settings, orientation)


def load_en_face_input(paths: Sequence[Path], settings: Mapping[str, Any], orientation: str) -> np.ndarray:
    """One file per channel (``settings["channels"]``, OCTA(FULL) alone by default): a
    projection image (TIFF/PNG, or an official map BMP, already in the label frame) or,
    for OCTA(FULL), an ingested HDF5 volume (dataset ``octa``), whose mean projection is
    turned by ``orientation``; equalized models equalize each; then each is normalized
    on its own (``settings["normalize"]``). Returns float32 (channels, H, W)."""
    channels = list(settings.get("channels", ["OCTA(FULL)"]))
    if len(paths) != len(channels):
        raise InputError(
            f"{', '.join(map(str, paths))}: the model reads {len(channels)} en-face channel(s) "
            f"{channels}, found {len(paths)} file(s)"
        )
    images: list[np.ndarray] = []
    for path, channel in zip(paths, channels, strict=True):
        image = _en_face_image(path, channel, orientation)
        if images and image.shape != images[0].shape:
            raise InputError(
                f"{path}: expected an image of {images[0].shape} like {paths[0]}, found {image.shape}"
            )
        if settings["input"] == "equalized":
            image = equalize(image)
        images.append(normalize(image, settings["normalize"]))
    return np.stack(images)


def _en_face_image(path: Path, channel: str, orientation: str) -> np.ndarray:
    """One channel's image (H, W) as read: from an image file, or the mean projection of
    an ingested volume (OCTA(FULL) only) turned by ``orientation``."""
    if path.suffix.lower() not in {".h5", ".hdf5"}:
        return read_image(path)
    if Channel.parse(channel) != FULL:
        raise InputError(
            f"{path}: a volume gives the OCTA(FULL) mean projection, but this channel is "
            f"{channel}: pass its projection image instead"
        )
    return orient(mean_projection(read_volume(path)), orientation)


def load_volume_input(paths: Sequence[Path], settings: Mapping[str, Any], orientation: str) -> np.ndarray:
    """One file per channel (``settings["modalities"]``): resampled label-frame volumes
    (dataset ``blocks``, as the resample rule writes them) or ingested volumes (dataset
    ``octa``/``oct``), resampled to the model's block depth and turned by ``orientation``
    here; each normalized by its volume's mean and standard deviation. Returns float32
    (channels * depth, H, W)."""
    modalities = list(settings.get("modalities", ["octa"]))
    if len(paths) != len(modalities):
        raise InputError(
            f"{', '.join(map(str, paths))}: the model reads {len(modalities)} volume channel(s) "
            f"{modalities}, found {len(paths)} file(s)"
        )
    depth = block_depth(settings["model"])
    parts = [_volume_channel(path, depth, orientation) for path in paths]
    return np.concatenate(parts, axis=0).astype(np.float32, copy=False)


def _volume_channel(path: Path, depth: int, orientation: str) -> np.ndarray:
    """One channel's volume (depth, H, W) in the label frame, normalized by its mean and
    standard deviation (those stored with resampled blocks)."""
    datasets = _hdf5_datasets(path)
    if BLOCKS_DATASET in datasets:
        volume, mean, std = read_blocks_volume(path)
        if volume.shape[-1] != depth:
            raise InputError(f"{path}: expected blocks of depth {depth}, found {volume.shape[-1]}")
    else:
        name = next((d for d in ("octa", "oct") if d in datasets), None)
        if name is None:
            raise InputError(f"{path}: expected a dataset 'blocks', 'octa' or 'oct', found {datasets}")
        volume = volume_to_label_frame(resample_depth(read_volume(path, name), depth), orientation)
        volume = volume.astype(np.float32)
        mean, std = float(volume.mean(dtype=np.float64)), float(volume.std(dtype=np.float64))
    return np.moveaxis((volume - mean) / (std or 1.0), -1, 0)


def _hdf5_datasets(path: Path) -> list[str]:
    """The names at the root of an HDF5 file; InputError when there is none to open."""
    if not path.is_file():
        raise InputError(f"{path}: expected an HDF5 volume, found no file")
    try:
        with h5py.File(path, "r") as f:
            return list(f)
    except OSError as err:
        raise InputError(f"{path}: expected an HDF5 file, found one h5py cannot open ({err})") from err


def per_subject(files: Sequence[str], subjects: int) -> list[list[str]]:
    """A split's files, listed subject after subject with the same number each (one per
    channel), grouped per subject: what the workflow's rules flatten into one list."""
    if subjects < 1 or len(files) % subjects:
        raise ValueError(
            f"expected the same number of files for each of {subjects} subject(s), found {len(files)} "
            f"files: {', '.join(map(str, files[:4]))}{' ...' if len(files) > 4 else ''}"
        )
    n = len(files) // subjects
    return [list(files[i * n : (i + 1) * n]) for i in range(subjects)]


def labelled_inputs(
    files: Sequence[str], labels: Sequence[str], settings: Mapping[str, Any]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A split's subjects as a model reads them (:func:`load_model_input` of each
    subject's files, ``files`` listed subject after subject as :func:`per_subject` takes
    them) and their labels (bool (H, W), checked against the input's H and W)."""
    images = [load_model_input(group, settings) for group in per_subject(files, len(labels))]
    masks = [read_label(path, image.shape[1:]) for path, image in zip(labels, images, strict=True)]
    return images, masks
