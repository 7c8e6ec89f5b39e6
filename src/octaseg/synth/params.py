"""Generator knobs and shared constants of the synthetic OCTA-500 generator.

:class:`SynthParams` holds every calibrated knob of all stages (:data:`DEFAULT_PARAMS`
are the defaults); the constants give the smallest geometry that can be rendered and the
reference depth that axial quantities are given in.
"""

from __future__ import annotations

from dataclasses import dataclass

_MIN_WIDTH = 32  # en-face size below which vessels and FAZ cannot be resolved at all
_MIN_DEPTH = 64  # rows below which the retinal band has no room for its layers
_REF_DEPTH = 640  # depth quantities are given in rows of a 640-row B-scan
_AXIAL_UM_PER_ROW = 2000.0 / _REF_DEPTH  # 2 mm of tissue over 640 rows


@dataclass(frozen=True)
class SynthParams:
    """Knobs of the generator. Defaults are calibrated against OCTA-500 6mm and 3mm
    statistics (:data:`octaseg.realism.TARGETS`).

    En-face lengths are in mm or um, depth lengths in rows of a 640-row B-scan.
    """

    # --- anatomy
    faz_radius_mm: tuple[float, float] = (0.22, 0.42)  # FAZ mean radius range
    parafovea_mm: float = 0.1  # capillary density ramps up over this distance from the FAZ
    fovea_jitter_mm: float = 0.15  # s.d. of the fovea's offset from the field centre
    disc_distance_mm: tuple[float, float] = (3.6, 4.2)  # disc centre to fovea
    # --- vessel roots: arcade trunks from the disc, stumps entering from the edges
    step_mm: float = 0.045  # trunk growth step
    margin_mm: float = 0.3  # vessels grow this far beyond the field
    growth_field_mm: float = 6.0  # vessels grow over at least this field (3mm: its centre)
    # inner arcade's distance above / below the fovea. (1.05, 1.8) ran the arcade trunks
    # through a 3mm field: its labels' widths' 90th percentile 49 um (real 29-45) and 5 px
    # and wider 0.13 of their centre lines (real <= 0.09), and at 6mm the labels within
    # 1.5 mm of the fovea 1.2x as wide as real ones there (real labels, by ring, aggregates)
    arcade_mm: tuple[float, float] = (1.35, 2.1)
    arcade_gap_mm: tuple[float, float] = (1.0, 2.0)  # from there to the outer (artery or vein)
    arcade_flatness: tuple[float, float] = (0.8, 1.1)  # 1: straight past the fovea
    arcade_end: float = 0.8  # arcade trunks stop at this fraction of a half turn
    # vessels entering the grown area from its edges (alternately A / V). 0: the arcades'
    # branches alone give real 6mm labels' ~10 vessel trees per field and their count of
    # vessel ends beyond 2 mm from the fovea (8 stumps: 22 trees, twice the ends there)
    stumps: int = 0
    # --- vessel growth by space colonization (octaseg.synth.colonization)
    colonize_iterations: int = 90
    colonize_sinks: int = 500  # oxygen sinks drawn per iteration (most are rejected)
    colonize_step_mm: float = 0.09  # first step; all lengths below shrink with it
    colonize_min_step_mm: float = 0.035
    colonize_rate: float = 0.02  # lengths shrink as 1 / (1 + rate * iteration)
    colonize_perception_mm: float = 0.33  # a node sees sinks this close
    colonize_reach_mm: float = 0.14  # a sink this close to a new node is satisfied
    colonize_sink_gap_mm: float = 0.18  # new sinks keep this far from vessels
    colonize_sink_spacing_mm: float = 0.14  # and this far from each other
    # and from the FAZ, per subject: labelled vessels then stop 0.54 mm from the fovea's
    # centre (real 6mm labels: 0.57; (0.02, 0.12) gave 0.45, and 3x the ends within 0.5 mm)
    colonize_faz_gap_mm: tuple[float, float] = (0.1, 0.25)
    colonize_cone: float = 0.87  # a tip sees sinks within this angle of its heading, rad
    colonize_lateral: tuple[float, float] = (0.9, 1.5)  # a vessel sees sinks beside it, rad
    # a tip forks where its sinks' angles spread more, rad (0.08 restores the junctions
    # fewer stumps took: 2.0 per mm^2 in the labels, real 2.3)
    colonize_fork_spread: float = 0.08
    colonize_fork_angle: tuple[float, float] = (0.5, 0.8)  # each branch's angle to the mean
    colonize_persistence: float = 0.3  # weight of a tip's heading against the sinks' pull
    colonize_wiggle: float = 0.1  # s.d. of a tip's random turn per step, rad
    colonize_sprout: float = 0.5  # chance per step that a pulled vessel sprouts
    colonize_rotation_mm: float = 0.5  # this close to the FAZ, tips turn to run around it
    colonize_clearance: float = 0.6  # no new node closer than this x step to another
    smooth_iterations: int = 6  # Laplacian smoothing of the grown vessels
    # --- radii (Murray's law)
    # radius at the disc, per trunk. Real 6mm labels' widest vessel is 6.2-11 px (5th-95th
    # percentile, realism.label_stats' max_width_px); (30, 40) with no flow on to the
    # periphery drew 4.7-5.3 px once the stumps were gone. (34, 45) and half the field's
    # flow on to the periphery: 6.2 px, the width's 90th percentile 75 um (real 54-76)
    trunk_radius_um: tuple[float, float] = (34.0, 45.0)
    # r ** murray_exponent is proportional to the flow, and each vessel (a trunk, or a side
    # branch on through its widest children) is wider or thinner than that as a whole by a
    # lognormal factor: Murray's cube alone left few vessels of 15-25 um radius between the
    # trunks and their twigs (2% of the tree's length), and the labels' 3 px class at 6mm
    # 0.06-0.10 of their centre lines (real 0.16-0.27); 3.2 and 0.2 give 0.09-0.10 at 6mm,
    # 0.20 at 3mm (real 0.19-0.32). Still out of band at 6mm
    murray_exponent: float = 3.2
    vessel_radius_sd: float = 0.2
    stump_radius_um: tuple[float, float] = (14.0, 30.0)  # radius where a stump enters
    # the parafovea's dense capillary layers draw more flow than the periphery: a vessel's
    # flow is the length it feeds weighted by 1 + macula_demand * exp(-d / macula_demand_mm),
    # d the distance from the FAZ, so the branches that run to the FAZ stay wide (25 made
    # the labels 0.5-1 mm from the fovea cover 0.076 of it, real 0.047, 31 um wide, real 26)
    macula_demand: float = 12.0
    macula_demand_mm: float = 1.0
    periphery: float = 0.5  # flow of an arcade on to the periphery / its flow in the field
    side_periphery: float = 0.5  # flow of its large peripheral branches / its flow in the field
    side_periphery_mm: tuple[float, float] = (0.3, 3.0)  # where they leave, mm from the disc
    # annotators label the vessels from a radius threshold per subject (Kreitner et al.
    # draw one per dataset), drawn as wide as they look at 6 mm (15 um a pixel): at 3 mm
    # OCTA-500's labels are as many pixels wide as at 6 mm, 2-4 px (vessel_geometry)
    label_radius_um: tuple[float, float] = (6.3, 10.2)
    label_um_per_px: float = 15.0
    # a finer pixel lowers the threshold less than in proportion: label_radius_um x
    # (pixel / label_um_per_px) ** label_threshold_power (OCTA-500 3mm: fewer, shorter)
    label_threshold_power: float = 0.45
    # labelled vessels are drawn at least this wide, and at least 1 px: real annotators draw
    # thin vessels 1 px wide (0.13-0.28 of the 6mm labels' centre lines, 0.42 within 1 mm of
    # the fovea); 24 um (1.6 px) left 0.06
    min_label_um: float = 12.0
    label_fade: float = 0.7  # a labelled vessel is traced on down to this x the label radius
    # ... divided by (pixel / label_um_per_px) ** this at a finer pixel: OCTA-500's 3mm
    # labels stop sooner along a thinning vessel (3mm branches 0.26 mm, median)
    label_fade_power: float = 0.35
    # --- capillaries: warped Voronoi meshes (capillaries.capillary_plexus)
    # cell spacing of the superficial plexus (intermediate 0.9x, deep 1.1x). With the
    # segments one 5 um canvas pixel wide, blurred 0.53 px, and the plexuses' flow halved,
    # every 6mm appearance statistic is in band over 10 subjects (power at 2-10 cycles per
    # mm 0.37, slope -2.52) and the 3mm maps' fine texture is too (high-band power 0.48,
    # slope -1.79; the band-pass mesh before gave 0.29 and -2.70 there)
    capillary_spacing_mm: float = 0.07
    capillary_warp: float = 0.35  # displacement of the cells' lookup, x the spacing
    capillary_segment_sd: float = 0.4  # log s.d. of the segments' brightness
    capillary_canvas_um: float = 5.0  # pixel of the canvas the segments are drawn on
    capillary_blur_px: float = 0.53  # the maps' blur of capillary segments, in pixels...
    capillary_blur_power: float = 0.7  # ... x pixel_scale ** this at a finer pixel (3mm: 0.4)
    faz_ring: float = 1.0  # brightness of the terminal capillaries ringing the FAZ
    # --- retina (rows of a 640-row B-scan)
    ilm_row: float = 243.0
    thickness_rows: tuple[float, float] = (104.0, 120.0)  # ILM to BM away from the fovea
    pit_rows: tuple[float, float] = (18.0, 30.0)  # foveal pit depth
    tilt_rows: float = 20.0  # s.d. of the band's tilt across the field
    choroid_rows: float = 55.0
    # --- intensity (OCTA decorrelation, 8-bit)
    # real OCTA(ILM_OPL) maps (6mm, z-scored): labelled vessels' centre lines at median
    # 1.9 (2 px wide), 2.9 (3-4 px) and 3.0 (5+ px) s.d. above the mean; flow 90 with every
    # labelled vessel at full brightness drew them 2.0, 2.1, 2.0 (map_appearance's
    # vessel_z_*); flow 113, full brightness from 12 um and a boost to 0.8: 1.9, 2.6, 2.7
    # (128 with the flow grain and the Voronoi capillary meshes below: 1.9, 2.6, 2.7)
    # (110 left the 5+ px ones at 2.56 once the stumps were gone)
    vessel_flow: float = 128.0
    vessel_gain_sd: float = 0.3  # s.d. of the log flow signal along and between vessels
    vessel_gain_mm: float = 0.3  # over this scale
    # lateral resolution: vessels show this much wider (in quadrature) at 6mm; at a finer
    # pixel than label_um_per_px the resolution x (pixel / label_um_per_px) ** psf_power,
    # and labels drawn (pixel / label_um_per_px) ** label_width_power times as wide as
    # vessels look. 22 um showed thin vessels as 2 px where real ones labelled 2 px fall to
    # the background 2 px from their centre line (cross profile: synthetic 0.10 of the
    # axis' level there, real -0.04) and left 1 px labels at 0.06 (real 0.13-0.28); at 3mm
    # labels 0.85x as wide as the vessels looked left a halo of 0.43 (real 0.16-0.30)
    psf_um: float = 13.0
    psf_power: float = 1.3
    label_width_power: float = 0.17
    # real vessels 3 px and wider are brightest on their axis: at the label's rim 0.66 of
    # the axis' level above the background, on the ring outside it 0.18 (map_appearance's
    # vessel_edge, vessel_halo); a vessel drawn as a plateau gave 0.87 and 0.13. Flow is
    # fastest on the axis: the signal outside a core of half the vessel's width falls to
    # 0.7 of it, and spreads sideways by a Gaussian of 7 um s.d. at 6mm: 0.67 and 0.17.
    # The spread is the maps' resampling as much as the optics: it is set in pixels
    vessel_blur_px: float = 7.0 / 15.0
    vessel_core_fraction: float = 0.5
    vessel_core_weight: float = 0.3
    # flow grain per A-scan: s.d. of the log flow signal of a vessel of radius
    # vessel_grain_radius_um, falling as 1 / sqrt(radius) (more blood, steadier signal).
    # Per-row speckle alone averages out over the rows a vessel spans: without it the
    # labelled vessels' grain (map_appearance's vessel_grain_*, 6mm) was 0.19, 0.11, 0.09
    # by width class against real 0.29, 0.16, 0.12; 0.4 gives 0.29, 0.16, 0.12 (over 10
    # subjects, with vessel_flow raised to hold the vessels' median brightness in band)
    vessel_grain_sd: float = 0.4
    vessel_grain_radius_um: float = 7.0
    vessel_full_radius_um: float = 12.0  # thinner vessels are dimmer...
    vessel_full_power: float = 1.0  # ... x (pixel / label_um_per_px) ** this at a finer pixel
    label_contrast: float = 1.0  # ... and so are those thinner than this x label radius
    # labelled vessels are at least this bright (what stands out); 0.8 with the narrower
    # vessels of psf_um 13 left 0.11 of them faded (map_vessel_faded, real <= 0.088)
    label_boost: float = 0.88
    vessel_axial_factor: float = 0.35  # axial half-extent of the flow signal / radius
    vessel_min_half_rows: float = 4.0  # least axial half-extent of a vessel's flow signal
    tail_gain: float = 0.4  # projection tail below large vessels, fraction of their flow
    rpe_gain: float = 0.2  # projection artefact at the RPE
    svp_flow: float = 60.0
    icp_flow: float = 15.0
    dcp_flow: float = 20.0
    choroid_flow: float = 15.0
    choroid_texture_sd: float = 0.2  # s.d. of the log choroidal flow texture
    tissue_flow: float = 4.0  # baseline decorrelation of static tissue in the band
    speckle_shape: float = 2.8  # gamma shape of the multiplicative speckle (mean 1)
    noise_floor: float = 2.4  # subtracted before quantization: most noise becomes 0
    saturation: tuple[float, float] = (80.0, 90.0)  # per-subject clip level
    # --- artefacts
    brightness_sd: float = 0.18  # s.d. of the log low-frequency multiplicative field
    ascan_noise_sd: float = 0.06  # s.d. of the log gain of single A-scans
    stripes: tuple[int, int] = (0, 5)  # number of motion stripes (min, max inclusive)
    stripe_kinds: tuple[float, float, float, float] = (0.25, 0.2, 0.3, 0.25)  # bright, dim,
    # shift, stretch: relative frequencies
    # decorrelation added by a bright stripe, and the signal left in a dim one: real 6mm
    # maps' lines are faint (row_line_score 0.17-0.30); (2, 6) and (0.35, 0.75) gave 0.39
    # once vessels were as bright as real ones, these 0.29
    whiteout: tuple[float, float] = (0.5, 2.0)
    dim_stripe: tuple[float, float] = (0.7, 0.92)
    floater_probability: float = 0.3  # subjects with vitreous floaters
    max_floaters: int = 2
    floater_radius_mm: tuple[float, float] = (0.06, 0.22)
    floater_shadow: float = 0.45  # signal lost under the densest part of a floater
    low_signal_probability: float = 0.15  # subjects scanned with a weak signal
    low_signal: tuple[float, float] = (0.6, 0.85)  # their flow signal, relative
    low_signal_noise: tuple[float, float] = (1.2, 1.5)  # their static-tissue noise, relative
    # --- OCT (8-bit log-scale reflectivity)
    oct_mean: tuple[float, float] = (84.0, 96.0)  # whole-volume mean, per subject
    oct_floor: tuple[float, float] = (38.0, 82.0)  # noise floor in the vitreous, deep down
    oct_speckle: float = 20.0  # log-speckle scale: its s.d. is 1.28 x this
    oct_gain_power: float = 0.6  # the log-scale signal follows the gain field less
    outer_rows: tuple[float, float] = (44.0, 50.0)  # outer plexiform layer to the BM
    nfl_fraction: tuple[float, float] = (0.05, 0.3)  # of the inner retina, fovea / away
    vessel_reflect: float = 35.0  # large vessels reflect a little more than the NFL...
    vessel_shadow: float = 0.55  # ... and shadow this much of the signal below them
    shadow_radius_um: float = 25.0  # vessels this wide or more shadow fully
    floater_oct_shadow: float = 0.4  # OCT signal lost under a floater, besides its gain
    floater_reflect: float = 45.0  # a floater's haze in the vitreous
    floater_rows: float = 12.0  # its axial half-extent

    def pixel_scale(self, px_per_mm: float) -> float:
        """A pixel of ``px_per_mm`` relative to ``label_um_per_px`` (6mm's 15 um), at most
        1: the ratio finer pixels raise the ``*_power`` settings' factors to."""
        return min(1.0, 1000.0 / px_per_mm / self.label_um_per_px)


DEFAULT_PARAMS = SynthParams()
