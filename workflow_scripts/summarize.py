"""Rule summarize: one row per method (experiment or baseline): mean and standard
deviation of each metric over the test subjects."""

from octaseg import logs
from octaseg.io import atomic_path
from octaseg.metrics import summarize, summary_markdown

log = logs.to_file(snakemake.log[0])
table = summarize(dict(zip(snakemake.params.methods, snakemake.input, strict=True)))
with atomic_path(snakemake.output.csv) as tmp:
    table.to_csv(tmp, index=False, float_format="%.6f")
with atomic_path(snakemake.output.markdown) as tmp:
    tmp.write_text(summary_markdown(table) + "\n")
log.info("summary:\n%s", table.to_string(index=False))
