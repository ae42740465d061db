"""Stable Diffusion XL text-to-image on COCO-2014 captions (MLPerf "stable-diffusion-xl").

The pytorch backend imports the registry's ``architecture`` ("module:Class")
by its absolute module name, while this folder's package name depends on
where it lies (``harness.benchmarks.sdxl`` in the project's registry, a
generated name when loaded with ``--mlperf-registry``). Importing the
family registers it once more under ``FAMILY_PACKAGE``, a name that holds in
both places, and benchmark.toml names the architecture under it. (Were the
pytorch backend to resolve ``architecture`` relative to the family folder,
as harness.registry.parts resolves the other parts, this alias could go.)
"""
import sys

FAMILY_PACKAGE = "mlperf_sdxl_family"
sys.modules.setdefault(FAMILY_PACKAGE, sys.modules[__name__])
