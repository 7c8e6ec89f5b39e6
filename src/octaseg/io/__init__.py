"""Reading and writing the files of the workflow, one module per kind of file:

- :mod:`~octaseg.io.bscans`: B-scan BMP stacks (a strict 8-bit grayscale BMP reader, the
  check of a subject's B-scan folder, the threaded read into a volume);
- :mod:`~octaseg.io.volumes`: HDF5 volumes (the ingested (scan, depth, x) volume, also
  written straight from a B-scan folder, and the (H, W, depth) volume for block sampling);
- :mod:`~octaseg.io.images`: 2D images, binary labels and CSV tables;
- :mod:`~octaseg.io.atomic`: atomic writes;
- :mod:`~octaseg.io.errors`: :class:`InputError`.

Every writer writes to a temporary name beside the target and renames it into place only
when the file is complete, so an interrupted job never leaves a file that looks done.
Readers check what they read and raise :class:`InputError` naming the file, what was
expected and what was found. Import from here (``from octaseg.io import read_image``).
"""

from octaseg.io.atomic import atomic_path
from octaseg.io.bscans import BscanFolder, list_bscans, read_bmp_gray8, read_bscan_stack
from octaseg.io.errors import InputError
from octaseg.io.images import read_image, read_label, write_csv, write_image
from octaseg.io.volumes import (
    BLOCKS_DATASET,
    VOLUME_DATASET,
    ingest_bscans,
    read_blocks_volume,
    read_volume,
    write_blocks_volume,
    write_volume,
)

__all__ = [
    "BLOCKS_DATASET",
    "VOLUME_DATASET",
    "BscanFolder",
    "InputError",
    "atomic_path",
    "ingest_bscans",
    "list_bscans",
    "read_blocks_volume",
    "read_bmp_gray8",
    "read_bscan_stack",
    "read_image",
    "read_label",
    "read_volume",
    "write_blocks_volume",
    "write_csv",
    "write_image",
    "write_volume",
]
