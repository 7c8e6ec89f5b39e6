"""Training data: random augmented patches cut from en-face images and their masks, or
random blocks of volumes (IPN), drawn in batches; :func:`training_sampler` builds the
sampler an experiment's settings ask for from the train split's files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import albumentations as A
import cv2
import h5py
import numpy as np

from octaseg.io import BLOCKS_DATASET, read_label
from octaseg.model_input import labelled_inputs, per_subject

#: Augmentations beyond crop, rot90 and flips, each drawn with its probability
#: (``augment`` setting; 0 or missing: off). Geometric ones act on image and mask alike.
AUGMENTATIONS = ("elastic", "zoom", "brightness_field", "downsample", "contrast", "gamma", "noise", "blur")
#: (least, most) magnification of a ``zoom`` patch: up to a finer field of view's pixels
#: (a 6mm map's 15 um against a 3mm map's 9.9 um: 1.5x) and down by as much as 1 / 1.2.
ZOOM = (1.0 / 1.2, 1.5)


def brightness_field(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uneven illumination: ``lo + (x - lo) * field`` for a float image x (H, W) or (H, W, C),
    lo each channel's minimum, field (H, W) shared by the channels.

    The field is exp of a 4 x 4 grid of N(0, s), s ~ U(0.1, 0.3), upsampled bicubically
    (one node every quarter of the patch) and centred to a geometric mean of 1. It
    multiplies the signal above the darkest pixel, which in a z-scored map stands for no
    flow: as with real illumination, dim regions lose vessel contrast (which an additive
    offset would not do) and the patch keeps its range and mean roughly, unlike the raw
    multiplication of values of both signs. Albumentations' Illumination and
    PlasmaBrightnessContrast clip float images to 0..1. Returns float32 of the same shape.
    """
    h, w = image.shape[:2]
    log_field = cv2.resize(
        rng.normal(0.0, rng.uniform(0.1, 0.3), (4, 4)), (w, h), interpolation=cv2.INTER_CUBIC
    )
    field = np.exp(log_field - log_field.mean()).astype(np.float32)
    lo = image.min(axis=(0, 1))
    return (lo + (image - lo) * (field if image.ndim == 2 else field[..., None])).astype(np.float32)


def downsample(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A lower-resolution device: the float image (H, W) or (H, W, C) resized down by a
    factor U(0.5, 0.9) (area or bilinear) and back up (bilinear or bicubic).

    cv2.resize rather than albumentations' Downscale, which converts float images to uint8
    (clipped to 0..1 and quantized) and would destroy z-scored images. Returns float32 of
    the same shape.
    """
    h, w = image.shape[:2]
    factor = rng.uniform(0.5, 0.9)
    small = (max(1, round(w * factor)), max(1, round(h * factor)))
    down = (cv2.INTER_AREA, cv2.INTER_LINEAR)[rng.integers(2)]
    up = (cv2.INTER_LINEAR, cv2.INTER_CUBIC)[rng.integers(2)]
    x = cv2.resize(cv2.resize(image, small, interpolation=down), (w, h), interpolation=up)
    return x.reshape(image.shape).astype(np.float32, copy=False)


def photometric(image: np.ndarray, augment: Mapping[str, float], rng: np.random.Generator) -> np.ndarray:
    """Intensity augmentation of a normalized float image (H, W) or (H, W, C), each step
    with its probability in ``augment``: ``brightness_field`` (:func:`brightness_field`),
    ``downsample`` (:func:`downsample`), ``contrast`` (x * U(0.75, 1.25) + U(-0.25, 0.25)),
    ``gamma`` (exponent U(0.7, 1.5) on the patch stretched to 0..1 and back), ``noise``
    (Gaussian, sigma U(0, 0.15)) and ``blur`` (Gaussian, sigma U(0.3, 1.0) px).

    Written here because albumentations' intensity transforms clip float images to 0..1,
    which would destroy z-scored images. brightness_field and downsample draw nothing from
    ``rng`` when off, so settings without them keep their random stream. Returns float32
    of the same shape.
    """
    x = image.astype(np.float32, copy=True)
    if augment.get("brightness_field", 0.0) > 0 and rng.random() < augment["brightness_field"]:
        x = brightness_field(x, rng)
    if augment.get("downsample", 0.0) > 0 and rng.random() < augment["downsample"]:
        x = downsample(x, rng)
    if rng.random() < augment.get("contrast", 0.0):
        x = x * rng.uniform(0.75, 1.25) + rng.uniform(-0.25, 0.25)
    if rng.random() < augment.get("gamma", 0.0):
        lo, hi = float(x.min()), float(x.max())
        if hi > lo:
            x = ((x - lo) / (hi - lo)) ** rng.uniform(0.7, 1.5) * (hi - lo) + lo
    if rng.random() < augment.get("noise", 0.0):
        x = x + rng.normal(0.0, rng.uniform(0.0, 0.15), x.shape).astype(np.float32)
    if rng.random() < augment.get("blur", 0.0):
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.3, 1.0), borderType=cv2.BORDER_REFLECT_101)
    return x.astype(np.float32, copy=False)


class PatchSampler:
    """Draws batches of random patches with the same augmentation on image and mask.

    images: float32 arrays (H, W) or (H, W, C), already normalized; masks: bool/uint8 (H, W).
    Augmentation: random crop, rot90, horizontal and vertical flips (albumentations), and
    as ``augment`` asks (probabilities by name, :data:`AUGMENTATIONS`) a ``zoom``: the
    patch cut from a square of ``patch_size / z`` px, z between :data:`ZOOM`'s ends, and
    resized to ``patch_size`` (image bilinear, mask nearest), vessels as wide as another
    field of view's pixels show them; an elastic deformation of image and mask (albumentations,
    alpha 20 px, sigma 5 px, after the crop); and :func:`photometric` intensity and
    resolution changes of the image alone. Deterministic for a given seed.
    """

    def __init__(
        self,
        images: Sequence[np.ndarray],
        masks: Sequence[np.ndarray],
        patch_size: int,
        seed: int = 0,
        augment: Mapping[str, float] | None = None,
    ) -> None:
        self.augment = dict(augment or {})
        unknown = sorted(set(self.augment) - set(AUGMENTATIONS))
        if unknown:
            raise ValueError(f"unknown augmentation {unknown}; expected names from {list(AUGMENTATIONS)}")
        if not images or len(images) != len(masks):
            raise ValueError(f"need as many masks as images (>0), got {len(images)} and {len(masks)}")
        for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
            if image.shape[:2] != mask.shape:
                raise ValueError(f"image {i} has shape {image.shape} but its mask {mask.shape}")
            if min(mask.shape) < patch_size:
                raise ValueError(f"image {i} of shape {mask.shape} is smaller than patch_size={patch_size}")
        self.images = [np.asarray(im, np.float32) for im in images]
        self.channels = 1 if self.images[0].ndim == 2 else self.images[0].shape[-1]
        self.masks = [np.asarray(m, np.uint8) for m in masks]
        self.patch_size = patch_size
        self.rng = np.random.default_rng(seed)
        crop = A.RandomCrop(patch_size, patch_size)
        if self.augment.get("zoom", 0.0) > 0:
            smallest = (min(m.shape[0] for m in self.masks), min(m.shape[1] for m in self.masks))
            crop = _zoom_or_crop(patch_size, smallest, self.augment["zoom"])
        geometric = [
            crop,
            A.RandomRotate90(),
            A.HorizontalFlip(),
            A.VerticalFlip(),
        ]
        if self.augment.get("elastic", 0.0) > 0:
            geometric.append(
                A.ElasticTransform(
                    alpha=20, sigma=5, border_mode=cv2.BORDER_REFLECT_101, p=self.augment["elastic"]
                )
            )
        self.transform = A.Compose(geometric, seed=seed)

    def reseed(self, seed: int) -> None:
        """Restart the random stream: patches drawn after ``reseed(s)`` depend on s alone."""
        self.rng = np.random.default_rng(seed)
        self.transform.set_random_seed(seed)

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """A batch: images float32 (size, C, P, P) and masks int64 (size, P, P)."""
        xs, ys = [], []
        for i in self.rng.integers(len(self.images), size=size):
            out = self.transform(image=self.images[i], mask=self.masks[i])
            image = out["image"]
            if self.augment:
                image = photometric(image, self.augment, self.rng)
            xs.append(image[None] if image.ndim == 2 else np.moveaxis(image, -1, 0))
            ys.append(out["mask"])
        return np.stack(xs), np.stack(ys).astype(np.int64)


def _zoom_or_crop(patch: int, shape: tuple[int, int], p: float) -> A.BasicTransform:
    """A random crop of ``patch`` px or, with probability p, a random square of side
    ``patch / z`` (its area uniform between those of z = :data:`ZOOM`'s ends, no larger
    than the smallest image ``shape``) resized to ``patch``: albumentations'
    RandomResizedCrop, whose scale is a share of each image's area, so the magnification
    is exact for images of ``shape`` (a dataset's maps share one) and smaller on larger
    ones."""
    area = float(shape[0] * shape[1])
    largest = min(patch / ZOOM[0], float(min(shape)))
    zoomed = A.RandomResizedCrop(
        size=(patch, patch),
        scale=((patch / ZOOM[1]) ** 2 / area, largest**2 / area),
        ratio=(1.0, 1.0),
        interpolation=cv2.INTER_LINEAR,
        mask_interpolation=cv2.INTER_NEAREST,
        p=p,
    )
    if p >= 1:
        return zoomed
    return A.OneOf([zoomed, A.RandomCrop(patch, patch, p=1.0 - p)], p=1.0)


class BlockSampler:
    """Draws batches of random volume blocks for 3D -> 2D models (IPN) from HDF5 files.

    ``paths[i]`` lists subject i's files, one per channel (OCTA, and OCT if asked for),
    each a label-frame volume (H, W, depth) written by io.write_blocks_volume. A block of
    ``block`` x ``block`` columns of full depth is read from the files alone (volumes are
    never loaded whole), each channel normalized by its volume's mean and standard
    deviation, and turned by the same random rot90/flips as its mask. Deterministic for a
    given seed.
    """

    def __init__(
        self, paths: Sequence[Sequence[str]], masks: Sequence[np.ndarray], block: int, seed: int = 0
    ) -> None:
        if not paths or len(paths) != len(masks):
            raise ValueError(f"need as many masks as subjects (>0), got {len(paths)} and {len(masks)}")
        self.datasets = [[h5py.File(p, "r")[BLOCKS_DATASET] for p in files] for files in paths]
        for files, channels, mask in zip(paths, self.datasets, masks, strict=True):
            for path, ds in zip(files, channels, strict=True):
                if ds.shape[:2] != mask.shape:
                    raise ValueError(f"{path}: volume of {ds.shape[:2]} columns but its mask is {mask.shape}")
                if ds.shape != channels[0].shape:
                    raise ValueError(f"{path}: volume {ds.shape} differs from {files[0]} {channels[0].shape}")
            if min(mask.shape) < block:
                raise ValueError(f"{files[0]}: volume of {mask.shape} columns is smaller than block={block}")
        self.stats = [[_stats(ds) for ds in channels] for channels in self.datasets]
        self.masks = [np.asarray(m, np.uint8) for m in masks]
        self.block = block
        self.channels = len(paths[0])
        self.transform = A.Compose([A.RandomRotate90(), A.HorizontalFlip(), A.VerticalFlip()], seed=seed)
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Restart the random stream: blocks drawn after ``reseed(s)`` depend on s alone."""
        self.rng = np.random.default_rng(seed)
        self.transform.set_random_seed(seed)

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """A batch: blocks float32 (size, channels, depth, B, B) and masks int64 (size, B, B)."""
        xs, ys = [], []
        b = self.block
        for i in self.rng.integers(len(self.datasets), size=size):
            h, w = self.masks[i].shape
            r, c = int(self.rng.integers(h - b + 1)), int(self.rng.integers(w - b + 1))
            block = np.concatenate(
                [
                    (ds[r : r + b, c : c + b, :].astype(np.float32) - mean) / std
                    for ds, (mean, std) in zip(self.datasets[i], self.stats[i], strict=True)
                ],
                axis=-1,
            )  # (B, B, channels * depth): one image with many channels for albumentations
            out = self.transform(image=block, mask=self.masks[i][r : r + b, c : c + b])
            xs.append(np.moveaxis(out["image"], -1, 0).reshape(self.channels, -1, b, b))
            ys.append(out["mask"])
        return np.stack(xs), np.stack(ys).astype(np.int64)


def _stats(ds: h5py.Dataset) -> tuple[float, float]:
    return float(ds.attrs["mean"]), float(ds.attrs["std"]) or 1.0


def training_sampler(
    files: Sequence[str], labels: Sequence[str], settings: Mapping[str, Any]
) -> PatchSampler | BlockSampler:
    """The sampler of an experiment's train split: ``files`` listed subject after subject
    (one per channel, :func:`~octaseg.model_input.per_subject`), ``labels`` one per
    subject. Volume input (IPN): a :class:`BlockSampler` reading blocks from the files;
    else a :class:`PatchSampler` on the images as prediction prepares them
    (:func:`~octaseg.model_input.load_model_input`), with ``settings["augment"]``."""
    patch, seed = settings["patch_size"], settings["seed"]
    if settings["input"] == "volume":
        masks = [read_label(path) for path in labels]  # BlockSampler checks their shapes
        return BlockSampler(per_subject(files, len(labels)), masks, patch, seed=seed)
    images, masks = labelled_inputs(files, labels, settings)  # (channels, H, W) each
    images = [x[0] if len(x) == 1 else np.moveaxis(x, 0, -1) for x in images]  # (H, W[, channels])
    return PatchSampler(images, masks, patch, seed=seed, augment=settings.get("augment"))
