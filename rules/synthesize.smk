# Synthetic dataset in the exact OCTA-500 layout, only when no data_root is configured.
from octaseg.layout import map_path
from octaseg.projection import MAP_REDUCTIONS

# synthetic.maps_only (with source maps): the en-face files alone, no B-scans or layers.
SYNTHETIC_VOLUMES = {
    "bscans": directory(f"{DATA_ROOT}/OCTA_{FOV}/OCTA/{{id}}"),
    "oct": directory(f"{DATA_ROOT}/OCTA_{FOV}/OCT/{{id}}"),
    "layers": f"{DATA_ROOT}/Label/GT_Layers/{{id}}.mat",
}
MAPS_ONLY = config["synthetic"].get("maps_only", False)

if SYNTHETIC:

    rule synthesize:
        output:
            **({} if MAPS_ONLY else SYNTHETIC_VOLUMES),
            label=f"{DATA_ROOT}/Label/GT_LargeVessel/{{id}}.bmp",
            # official-style projection maps: OCTA(FULL), OCTA(ILM_OPL), ... OCT(OPL_BM)
            maps=[
                str(map_path(DATA_ROOT, FOV, f"{m}({s})", "{id}"))
                for m, s in MAP_REDUCTIONS
            ],
        log:
            "logs/synthesize/{id}.log",
        conda:
            "../envs/octaseg.yaml"
        threads: 1
        resources:
            mem_mb=3000,
            runtime=10,
        params:
            root=get_synthetic_root,
            fov=FOV,
            orientation=ORIENTATION,
            seed=config["synthetic"]["seed"],
            geometry=get_synthetic_geometry,
        script:
            "../workflow_scripts/synthesize.py"
