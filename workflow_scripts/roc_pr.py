"""Rule roc_pr: pooled and per-subject ROC and precision-recall curves of one experiment's
test probability maps, from binned pixel counts."""

from octaseg import logs
from octaseg.io import read_image, read_label
from octaseg.metrics import pixel_histograms
from octaseg.viz import roc_pr_figure

log = logs.to_file(snakemake.log[0])
inputs = snakemake.input
histograms = []
for prob_path, label_path in zip(inputs.probabilities, inputs.labels, strict=True):
    probability = read_image(prob_path)
    histograms.append(
        pixel_histograms(probability, read_label(label_path, probability.shape), snakemake.params.bins)
    )
exp = snakemake.wildcards.exp
curves = roc_pr_figure(snakemake.output[0], snakemake.params.ids, histograms, f"{exp}: test subjects")
log.info("pooled AUC-ROC %.4f, average precision %.4f", curves.auc_roc, curves.average_precision)
