"""Training data: random augmented patches cut from en-face images and their masks."""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
import numpy as np


class PatchSampler:
    """Draws batches of random patches with the same augmentation on image and mask.

    images: float32 arrays (H, W) or (H, W, C), already normalized; masks: bool/uint8 (H, W).
    Augmentation: random crop, rot90, horizontal and vertical flips (albumentations).
    Deterministic for a given seed.
    """

    def __init__(
        self,
        images: Sequence[np.ndarray],
        masks: Sequence[np.ndarray],
        patch_size: int,
        seed: int = 0,
    ) -> None:
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
        self.transform = A.Compose(
            [
                A.RandomCrop(patch_size, patch_size),
                A.RandomRotate90(),
                A.HorizontalFlip(),
                A.VerticalFlip(),
            ],
            seed=seed,
        )

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
            xs.append(image[None] if image.ndim == 2 else np.moveaxis(image, -1, 0))
            ys.append(out["mask"])
        return np.stack(xs), np.stack(ys).astype(np.int64)


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
        import h5py

        from octaseg.io import BLOCKS_DATASET

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


def _stats(ds) -> tuple[float, float]:
    return float(ds.attrs["mean"]), float(ds.attrs["std"]) or 1.0
