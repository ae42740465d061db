"""The proxy's world: captioned pictures of one coloured shape, rendered from their captions.

COCO's captions describe photographs; the proxy's describe a 64x64 picture
of one shape near the middle (its kind, colour and size, and the background
colour), in several sentence patterns, some leaving an attribute out as
COCO captions leave things out (the picture then picks it at random). A caption and its
scene come from one seeded generator, so every split is the same on every
machine:

- ``train``: what the proxy pipeline and the feature extractors learn from;
- ``reference``: the real pictures whose pool-feature statistics FID compares
  with, as MLPerf's ``val2014.npz`` holds COCO's;
- ``val``: the proxy's caption set (captions.tsv), MLPerf's 5,000 COCO captions in small.

Pictures are drawn at 4x and averaged down (smooth edges), with a little
jitter in colour, place and size and a noisy background, so that no two
pictures are alike and the feature statistics are not degenerate.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GENERATOR_VERSION = 1
IMAGE_SIZE = 64
SUPERSAMPLE = 4

SHAPES = ("circle", "square", "triangle", "diamond", "cross")
COLOURS = {
    "red": (214, 40, 40), "green": (46, 170, 70), "blue": (40, 80, 220),
    "yellow": (236, 208, 40), "purple": (140, 60, 180), "orange": (240, 130, 30),
}
BACKGROUNDS = {"black": (22, 22, 26), "white": (232, 232, 228), "gray": (128, 128, 132), "brown": (112, 74, 46)}
SIZES = {"small": 0.14, "large": 0.27}  # radius as a share of the side
# Sentence patterns; an attribute a pattern leaves out is drawn at random.
TEMPLATES = (
    "A {size} {colour} {shape} in the middle of a {background} background.",
    "A {background} background with a {colour} {shape} on it",
    "There is a {size} {shape} colored {colour}.",
    "A picture of a {colour} {shape} on a {background} background",
    "a {size} {colour} {shape} on {background}",
)
PLACE_JITTER = 0.06  # the shape's centre wanders this share of the side around the middle
# Sizes of the splits and the seeds they are drawn from.
SPLITS = {"train": (4000, 11), "reference": (2000, 23), "val": (128, 37)}
# MLPerf's negative prompt (text_to_image/backend_pytorch.py): its words belong in the vocabulary.
NEGATIVE_PROMPT = "normal quality, low quality, worst quality, low res, blurry, nsfw, nude"


@dataclass(frozen=True)
class Scene:
    shape: str
    colour: str
    background: str
    size: str
    template: int
    seed: int

    @property
    def caption(self) -> str:
        return TEMPLATES[self.template].format(shape=self.shape, colour=self.colour, background=self.background,
                                               size=self.size)

    def labels(self) -> tuple[int, ...]:
        """Class indices of the four attributes (the FID feature extractor learns them)."""
        return (SHAPES.index(self.shape), list(COLOURS).index(self.colour), list(BACKGROUNDS).index(self.background),
                list(SIZES).index(self.size))


ATTRIBUTE_CLASSES = (len(SHAPES), len(COLOURS), len(BACKGROUNDS), len(SIZES))


def vocabulary_words() -> list[str]:
    """Every word a caption or the negative prompt can hold, lower case (the CLIP tokenizer lowercases)."""
    words = set()
    for template in TEMPLATES + (NEGATIVE_PROMPT,):
        text = template
        for key in ("shape", "colour", "background", "size"):
            text = text.replace("{" + key + "}", " ")
        words.update(w for w in _letters(text).split() if w)
    for names in (SHAPES, COLOURS, BACKGROUNDS, SIZES):
        words.update(names)
    return sorted(words)


def _letters(text: str) -> str:
    return "".join(c if c.isalpha() else " " for c in text.lower())


def scenes(split: str) -> list[Scene]:
    """The split's scenes, in a fixed order."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    count, seed = SPLITS[split]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        out.append(Scene(
            shape=SHAPES[rng.integers(len(SHAPES))], colour=list(COLOURS)[rng.integers(len(COLOURS))],
            background=list(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))], size=list(SIZES)[rng.integers(len(SIZES))],
            template=int(rng.integers(len(TEMPLATES))), seed=int(rng.integers(2**31))))
    return out


def _mask(shape: str, side: int, cx: float, cy: float, radius: float) -> np.ndarray:
    """Coverage of the shape on a side x side grid (centre and radius in pixels)."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) + 0.5
    dx, dy = x - cx, y - cy
    if shape == "circle":
        return dx * dx + dy * dy <= radius * radius
    if shape == "square":
        half = radius * 0.85
        return (np.abs(dx) <= half) & (np.abs(dy) <= half)
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) <= radius * 1.15
    if shape == "cross":
        arm = radius * 0.33
        return ((np.abs(dx) <= arm) & (np.abs(dy) <= radius)) | ((np.abs(dy) <= arm) & (np.abs(dx) <= radius))
    if shape == "triangle":  # pointing up: apex at the top, base at the bottom
        top, bottom = cy - radius, cy + radius * 0.8
        inside = (dy >= top - cy) & (dy <= bottom - cy)
        half_width = (y - top) / (bottom - top) * radius
        return inside & (np.abs(dx) <= half_width)
    raise ValueError(f"unknown shape {shape!r}")


def render(scene: Scene, size: int = IMAGE_SIZE) -> np.ndarray:
    """The scene's picture, uint8 [size, size, 3] RGB."""
    rng = np.random.default_rng(scene.seed)
    big = size * SUPERSAMPLE
    cx = (0.5 + rng.uniform(-PLACE_JITTER, PLACE_JITTER)) * big
    cy = (0.5 + rng.uniform(-PLACE_JITTER, PLACE_JITTER)) * big
    radius = SIZES[scene.size] * rng.uniform(0.9, 1.1) * big
    coverage = _mask(scene.shape, big, cx, cy, radius).astype(np.float32)
    coverage = coverage.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE).mean(axis=(1, 3))[..., None]
    background = np.array(BACKGROUNDS[scene.background], np.float32) + rng.normal(0, 4, 3)
    shade = np.linspace(-8, 8, size, dtype=np.float32)[:, None, None] * rng.uniform(-1, 1)
    back = background + shade + rng.normal(0, 5, (size, size, 3))
    colour = np.array(COLOURS[scene.colour], np.float32) + rng.normal(0, 8, 3)
    picture = back * (1 - coverage) + colour * coverage
    return np.clip(np.rint(picture), 0, 255).astype(np.uint8)


def render_all(items: list[Scene], size: int = IMAGE_SIZE) -> np.ndarray:
    """Pictures of ``items``, uint8 [N, size, size, 3]."""
    return np.stack([render(s, size) for s in items]) if items else np.zeros((0, size, size, 3), np.uint8)
