"""Rule evaluate: per-subject metrics of one experiment's test masks."""

from octaseg import logs
from octaseg.io import write_csv
from octaseg.metrics import evaluate_files

log = logs.to_file(snakemake.log[0])
inputs = snakemake.input
rows = evaluate_files(snakemake.params.ids, inputs.masks, inputs.labels, inputs.probabilities or None)
write_csv(snakemake.output[0], rows)
log.info("%d subjects, mean Dice %.4f", len(rows), sum(r["dice"] for r in rows) / len(rows))
