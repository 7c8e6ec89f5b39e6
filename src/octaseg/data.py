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
