"""Stage 1, anatomy: where the fovea, its avascular zone and the optic disc are."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from octaseg.synth.params import SynthParams


@dataclass(frozen=True)
class Anatomy:
    """Where things are, in mm from the top-left corner of the en-face field.

    x runs along the B-scan (columns), y along the slow axis (scans).
    """

    scans: int
    width: int
    px_per_mm: float
    fovea: tuple[float, float]  # (x, y) mm
    faz_radius: float  # mean FAZ radius, mm
    faz_harmonics: tuple[tuple[float, float], ...]  # (relative amplitude, phase) for k=2..
    disc: tuple[float, float]  # (x, y) mm, outside the field
    disc_side: int  # -1: disc to the left (small x), +1: to the right

    @property
    def size_mm(self) -> tuple[float, float]:
        """(width, height) of the field in mm."""
        return self.width / self.px_per_mm, self.scans / self.px_per_mm

    def faz_boundary(self, angle: np.ndarray) -> np.ndarray:
        """FAZ radius (mm) in the direction ``angle`` (radians), same shape as angle."""
        rel = np.ones_like(angle, dtype=np.float64)
        for k, (amp, phase) in enumerate(self.faz_harmonics, start=2):
            rel = rel + amp * np.cos(k * angle + phase)
        return self.faz_radius * rel

    def faz_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Signed distance-like value: < 0 inside the FAZ, ~ mm outside its boundary."""
        dx, dy = x - self.fovea[0], y - self.fovea[1]
        return np.hypot(dx, dy) - self.faz_boundary(np.arctan2(dy, dx))


def sample_anatomy(
    rng: np.random.Generator, scans: int, width: int, field_mm: float, p: SynthParams
) -> Anatomy:
    """Draw the anatomy of one subject for an en-face field of (scans, width) pixels."""
    px_per_mm = width / field_mm
    w_mm, h_mm = width / px_per_mm, scans / px_per_mm
    jitter = np.clip(rng.normal(0.0, p.fovea_jitter_mm, 2), -0.35, 0.35)
    fovea = (w_mm / 2 + jitter[0], h_mm / 2 + jitter[1])
    faz_radius = rng.uniform(*p.faz_radius_mm)
    amps, phases = rng.uniform(0.0, 0.12, 4), rng.uniform(0.0, 2 * np.pi, 4)
    harmonics = tuple((float(a), float(ph)) for a, ph in zip(amps, phases, strict=True))
    side = int(rng.choice([-1, 1]))
    dist = rng.uniform(*p.disc_distance_mm)
    disc = (fovea[0] + side * dist, fovea[1] + rng.uniform(-0.1, 0.4))
    return Anatomy(
        scans=scans,
        width=width,
        px_per_mm=px_per_mm,
        fovea=(float(fovea[0]), float(fovea[1])),
        faz_radius=float(faz_radius),
        faz_harmonics=harmonics,
        disc=(float(disc[0]), float(disc[1])),
        disc_side=side,
    )
