"""Rule baseline: Frangi + Otsu vessel mask of one projection."""

from octaseg import logs
from octaseg.io import read_image
from octaseg.predict import write_mask
from octaseg.realism import frangi_otsu

log = logs.to_file(snakemake.log[0])
mask = frangi_otsu(read_image(snakemake.input[0]))
write_mask(snakemake.output[0], mask)
log.info("%s: vessel fraction %.4f", snakemake.input[0], float(mask.mean()))
