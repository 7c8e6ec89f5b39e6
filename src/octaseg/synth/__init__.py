"""Synthetic OCTA-500: OCTA and OCT volumes and their labels, grown rather than drawn.

A subject is made in stages, each a pure function of one seeded generator
(``np.random.default_rng([seed, subject_id])``) and each a module of this package;
the knobs of all of them are :class:`SynthParams` (:mod:`.params`):

1. **Anatomy** (:mod:`.anatomy`, :func:`sample_anatomy`): fovea near the field centre,
   an irregular foveal avascular zone (FAZ) whose size varies per subject, the optic
   disc just outside the field on the nasal side (left or right eye).
2. **Vessel tree** (:mod:`.vessel_tree`, :func:`grow_vessel_tree`): four arcade trunks
   (superior / inferior, artery / vein, one of each pair closer to the fovea) grow from
   the disc along a path around the fovea, and stumps enter from the edges; from them
   the vessels grow by space colonization (:mod:`.colonization`): oxygen sinks scattered
   over the unserved tissue attract the nearest vessel, tips step towards them and fork
   where they lie apart, vessels sprout side branches towards sinks beside them, and no
   vessel crosses another or enters the FAZ, near which tips turn to run around it. The
   tree is grown over at least 6 mm, so a 3 mm field shows the centre of the same kind
   of vasculature. Radii follow Murray's law, ``r_parent**3 == r_1**3 + r_2**3`` at
   every fork (up to one step of leakage), with flow proportional to the vessel length
   fed; the arcades also feed the periphery, so they stay wide and taper most near the
   disc while their macular branches are thin.
3. **En-face maps** (:mod:`.en_face`, :func:`render_enface`): the tree rasterized with
   anti-aliasing, vessels as wide as their lumen and the device's resolution together;
   the label is the vessels from a radius threshold drawn per subject, each traced on
   while it thins out down to half that radius (how an annotator follows a vessel), drawn
   as wide as it looks; at a resolution finer than 6 mm's, thinner vessels and narrower
   lines, as OCTA-500's 3mm labels are drawn; thinner vessels are visible but
   unlabelled, and every vessel's flow signal varies smoothly along it and from one
   A-scan to the next. Capillary meshes of three plexuses (:mod:`.capillaries`: warped
   Voronoi networks) fill the field outside the FAZ, which terminal capillaries ring.
   The FAZ and the capillaries are labels too. Artefacts: a low-frequency brightness
   field, A-scan gain noise, dim and bright B-scans, eye motion
   (:class:`Motion`: B-scans shifted sideways, or stretched: the same tissue scanned
   over several B-scans, then a jump), vitreous floaters that shadow what is below them,
   and some subjects with a weak signal. Motion moves the label with the tissue;
   floaters and weak signal leave it as it is.
4. **OCTA volume** (:mod:`.octa_volume`, :func:`render_volume`): a retinal band (ILM to
   BM ~ 104-120 rows, thinner in the foveal pit, tilted and bowed;
   :func:`retina_surfaces`) with its ILM near row 243 of 640; flow signal in slabs:
   large vessels under the ILM with a projection tail below them, superficial,
   intermediate and deep capillary plexuses, a projection artefact at the RPE, choroidal
   flow under the BM, static-tissue noise; gamma speckle; a noise floor subtracted and
   the result clipped near 85, so that ~81% of voxels are exactly 0 as in OCTA-500.
5. **OCT volume** (:mod:`.oct_volume`, :func:`render_oct`): the structural B-scans
   between the same surfaces: a dark vitreous, the bright nerve fibre layer, darker
   nuclear layers, the bright ellipsoid zone and RPE band, the choroid and sclera below;
   large vessels shadow the layers below them, floaters the whole retina; log-scale
   speckle; mean about 90.

En-face lengths are in mm (the field is 6 mm, or 3 mm for the 304 x 304 geometry),
depth lengths in rows of a 640-row B-scan scaled by ``depth / 640``, so any geometry
(tests use 64 x 96 x 64) renders the same anatomy. The volumes are filled one depth row
at a time, vectorized over the en-face plane.

Frames: the volumes are ``V[scan, depth, x]``; en-face maps and the labels are in the
scan frame ``[scan, x]`` (row = B-scan, column = x), so the labels match the mean
projection over depth. :func:`write_subject` orients the labels as OCTA-500 does (6mm:
``flipud``).

:mod:`.subject` runs the stages (:func:`generate_subject`) and writes a subject
(:func:`write_subject`, with :func:`official_maps`). This package re-exports the public
names of all of them.
"""

from octaseg.layout import FOV_GEOMETRY
from octaseg.synth.anatomy import Anatomy, sample_anatomy
from octaseg.synth.en_face import EnFace, Motion, render_enface
from octaseg.synth.oct_volume import render_oct
from octaseg.synth.octa_volume import Surfaces, render_volume, retina_surfaces
from octaseg.synth.params import DEFAULT_PARAMS, SynthParams
from octaseg.synth.subject import (
    SyntheticSubject,
    default_field_mm,
    generate_subject,
    official_maps,
    write_subject,
)
from octaseg.synth.vessel_tree import VesselTree, grow_vessel_tree

__all__ = [
    "DEFAULT_PARAMS",
    "FOV_GEOMETRY",
    "Anatomy",
    "EnFace",
    "Motion",
    "Surfaces",
    "SynthParams",
    "SyntheticSubject",
    "VesselTree",
    "default_field_mm",
    "generate_subject",
    "grow_vessel_tree",
    "official_maps",
    "render_enface",
    "render_oct",
    "render_volume",
    "retina_surfaces",
    "sample_anatomy",
    "write_subject",
]
