"""Rule dice_comparison: per-subject Dice of every method (from its metrics.csv) in one figure."""

import pandas as pd

from octaseg import logs
from octaseg.viz import dice_comparison

log = logs.to_file(snakemake.log[0])
dice = {
    method: pd.read_csv(path)["dice"].to_numpy()
    for method, path in zip(snakemake.params.methods, snakemake.input, strict=True)
}
dice_comparison(snakemake.output[0], dice, "Dice per method on the test subjects")
for method, values in dice.items():
    log.info("%s: %d subjects, mean Dice %.4f", method, len(values), values.mean())
