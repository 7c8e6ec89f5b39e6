"""Rule baseline: Frangi + Otsu vessel mask of one projection."""

import numpy as np

from octaseg import logs
from octaseg.io import read_image, write_image
from octaseg.realism import frangi_otsu

log = logs.to_file(snakemake.log[0])
mask = frangi_otsu(read_image(snakemake.input[0]))
write_image(snakemake.output[0], np.where(mask, 255, 0).astype(np.uint8))
log.info("%s: vessel fraction %.4f", snakemake.input[0], float(mask.mean()))
