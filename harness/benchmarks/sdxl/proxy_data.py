"""The proxy's caption folder, in MLPerf's COCO-2014 layout (captions.py), rendered from scene.py.

- ``captions/captions.tsv``: the 128 captions of the ``val`` split, ids
  ascending as tools/coco.py sorts them, 64x64 pictures;
- ``latents/latents.npy``: the shared starting latent [1, 4, 8, 8]. MLPerf's
  is ``torch.randn`` from a generator seeded 0 (tools/latent.py); the
  proxy's comes from numpy's generator seeded 0, so that rebuilding the
  folder never depends on torch's random streams;
- ``validation/data/*.png``: the real pictures of the captions;
- ``sample_ids.txt``: ten of the 128 ids, whose generated pictures are saved
  as the checker wants MLPerf's ten saved.
Same bytes on every build.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import captions as layout
from . import scene

ID_START, ID_STEP = 70, 37  # caption ids, ascending
IMAGE_ID_START = 400_000
LATENT_SEED = 0
SAMPLE_ID_SEED = 5


def rows(items: list[scene.Scene]) -> list[layout.CaptionRow]:
    out = []
    for k, item in enumerate(items):
        image_id = IMAGE_ID_START + 3 * k + (item.seed % 3)
        out.append(layout.CaptionRow(ID_START + ID_STEP * k, image_id, item.caption,
                                     f"proxy_val2014_{image_id:012d}.png"))
    return out


def latents(image_size: int = scene.IMAGE_SIZE) -> np.ndarray:
    side = image_size // layout.VAE_SCALE_FACTOR
    return np.random.default_rng(LATENT_SEED).standard_normal((1, layout.LATENT_CHANNELS, side, side)).astype(np.float32)


def proxy_sample_ids(count: int) -> list[int]:
    return sorted(int(i) for i in np.random.default_rng(SAMPLE_ID_SEED).choice(np.arange(1, count), 10, replace=False))


def render_dataset(root: Path) -> Path:
    """Write the folder at ``root`` (created); returns it."""
    import cv2

    root = Path(root)
    items = scene.scenes("val")
    caption_rows = rows(items)
    layout.write_captions(root / layout.CAPTIONS_FILE, caption_rows, scene.IMAGE_SIZE)
    (root / layout.LATENTS_FILES[1]).parent.mkdir(parents=True, exist_ok=True)
    np.save(root / layout.LATENTS_FILES[1], latents())
    images = root / layout.IMAGES_DIR
    images.mkdir(parents=True, exist_ok=True)
    for row, item in zip(caption_rows, items):
        ok, encoded = cv2.imencode(".png", scene.render(item)[..., ::-1])  # OpenCV writes BGR
        if not ok:
            raise RuntimeError(f"OpenCV could not encode {row.file_name}")
        (images / row.file_name).write_bytes(encoded.tobytes())
    (root / layout.SAMPLE_IDS_FILE).write_text("\n".join(map(str, proxy_sample_ids(len(items)))) + "\n")
    return root
