"""Rule learning_curve: test Dice against the number of training subjects, one line per
start (octaseg.few_labels.curve_table, octaseg.viz.subjects_curve), and its table."""

from octaseg import logs
from octaseg.few_labels import curve_table
from octaseg.io import atomic_path
from octaseg.viz import subjects_curve

log = logs.to_file(snakemake.log[0])
inputs, outputs = snakemake.input, snakemake.output
table = curve_table(snakemake.params.points, inputs.metrics, inputs.benchmarks)
with atomic_path(outputs.table) as tmp:
    table.to_csv(tmp, index=False, float_format="%.6f")
subjects_curve(outputs.figure, table.to_dict("records"))
log.info("learning curve:\n%s", table.to_string(index=False))
