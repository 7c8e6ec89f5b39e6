"""Rule equalize: projection -> histogram-equalized uint8 image."""

from octaseg import logs
from octaseg.enhance import equalize
from octaseg.io import read_image, write_image

log = logs.to_file(snakemake.log[0])
write_image(snakemake.output[0], equalize(read_image(snakemake.input[0])))
log.info("equalized %s -> %s", snakemake.input[0], snakemake.output[0])
