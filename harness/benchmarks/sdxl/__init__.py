"""Stable Diffusion XL text-to-image on COCO-2014 captions (MLPerf "stable-diffusion-xl")."""
