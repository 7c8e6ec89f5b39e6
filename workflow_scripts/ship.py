"""Rule ship: an experiment's best.pt, cut down to what prediction needs, as the model
shipped with the package (octaseg.checkpoints.export_checkpoint)."""

from pathlib import Path

from octaseg import logs
from octaseg.checkpoints import export_checkpoint, load_checkpoint, save_checkpoint

log = logs.to_file(snakemake.log[0])
ckpt = load_checkpoint(snakemake.input.checkpoint)
exported = export_checkpoint(ckpt, snakemake.params.provenance, settings=snakemake.params.settings)
out = Path(snakemake.output[0])
save_checkpoint(out, exported)  # written to a temporary file, renamed into place
training = exported["provenance"]["training"]
log.info(
    "%s (epoch %s, val Dice %.4f, threshold %.2f) -> %s: %.2f MB",
    snakemake.input.checkpoint,
    training.get("best_epoch"),
    training.get("val_dice", float("nan")),
    exported["threshold"],
    out,
    out.stat().st_size / 1e6,
)
log.info("provenance: %s", exported["provenance"])
