"""octaseg: retinal vessel segmentation in OCTA volumes, from raw B-scans to metrics.

The package root stays import-light (no torch, no albumentations) so that the many
small per-subject data jobs of the workflow start fast.
"""

__version__ = "0.1.0"
