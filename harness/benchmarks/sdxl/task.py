"""Text to image with MLPerf's stable-diffusion-xl settings, answered as MLPerf's SUT answers.

The staged row of a sample (dataset.py) is split into what the pipeline is
fed (model.py's inputs): the caption's and the negative prompt's token ids
from both tokenizers, int64 [N, 77] each, and the shared latent [N, 4, H/8,
W/8]; with them go the Euler schedule of ``steps`` steps (schedule.py,
SDXL's EulerDiscreteScheduler: ``timesteps``, ``sigmas``, ``init_noise_sigma``)
and ``guidance_scale``. MLPerf runs 20 steps at guidance 8
(``backend_pytorch.py``: ``guidance=8, steps=20``); the proxy's registry
entry scales the steps down, the guidance stays.

The pipeline returns float pictures [N, 3, H, W] in 0..1 (``output_type="pt"``);
the response of a sample is MLPerf's ``PostProcessCoco``:
``(image.permute(1, 2, 0) * 255).round()`` as uint8 [H, W, 3], the bytes
``accuracy_coco.py`` reshapes to a picture. A wrong ``guidance_scale`` is
the mutation tests' way to show the accuracy gate bites.
"""
from __future__ import annotations

import math

import numpy as np

from harness.tasks.contract import ModelContract, TensorContract
from harness.tasks.kinds import Task

from .captions import LATENT_CHANNELS, VAE_SCALE_FACTOR
from .clip_tokenizer import CONTEXT_LENGTH
from .dataset import NEGATIVE_PROMPT, STAGED_LAYOUT, TOKEN_VALUES
from .schedule import euler_schedule

MLPERF_STEPS = 20
MLPERF_GUIDANCE = 8.0
MLPERF_IMAGE_SIZE = 1024
INPUTS = STAGED_LAYOUT + ("latents", "timesteps", "sigmas", "init_noise_sigma", "guidance_scale")


class TextToImage(Task):
    input_kind = "stacked"
    response_kind = "fixed"
    inputs = INPUTS
    outputs = ("images",)
    contract_outputs = ("images",)
    response_dtype = np.uint8

    def __init__(self, steps: int = MLPERF_STEPS, guidance_scale: float = MLPERF_GUIDANCE,
                 image_size: int = MLPERF_IMAGE_SIZE, negative_prompt: str = NEGATIVE_PROMPT):
        self.steps = int(steps)
        self.guidance_scale = float(guidance_scale)
        self.image_size = int(image_size)
        if self.image_size <= 0 or self.image_size % VAE_SCALE_FACTOR:
            raise ValueError(f"image_size {image_size}: expected a positive multiple of {VAE_SCALE_FACTOR} "
                             "(the VAE's scale factor)")
        # The dataset stages the negative prompt's ids (it holds the tokenizers); accepted here
        # because the registry's task options reach both.
        self.negative_prompt = str(negative_prompt)
        schedule = euler_schedule(self.steps)
        self._schedule = {
            "timesteps": schedule.timesteps, "sigmas": schedule.sigmas,
            "init_noise_sigma": np.array([schedule.init_noise_sigma], np.float32),
            "guidance_scale": np.array([self.guidance_scale], np.float32),
        }

    def model_contract(self) -> ModelContract:
        side = self.image_size
        return ModelContract(
            inputs=tuple(TensorContract(name, ("int64",)) for name in STAGED_LAYOUT)
            + (TensorContract("latents", ("float32",)),),
            outputs=(TensorContract("images", ("float32",), ((3, side, side),),
                                    f"one RGB picture of {side}x{side} per caption, values 0..1"),),
        )

    def _latent_side(self, values: int) -> int:
        side = math.isqrt(max(values, 0) // LATENT_CHANNELS)
        if LATENT_CHANNELS * side * side != values or side * VAE_SCALE_FACTOR != self.image_size:
            raise ValueError(f"a staged row holds {values} latent values; a {self.image_size}x{self.image_size} "
                             f"picture needs {LATENT_CHANNELS}x{self.image_size // VAE_SCALE_FACTOR}^2")
        return side

    def feed(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        batch = np.asarray(batch)
        n = len(batch)
        side = self._latent_side(batch.shape[1] - TOKEN_VALUES)
        ids = batch[:, :TOKEN_VALUES].astype(np.int64).reshape(n, len(STAGED_LAYOUT), CONTEXT_LENGTH)
        feed = {name: np.ascontiguousarray(ids[:, k]) for k, name in enumerate(STAGED_LAYOUT)}
        feed["latents"] = np.ascontiguousarray(batch[:, TOKEN_VALUES:], dtype=np.float32).reshape(
            n, LATENT_CHANNELS, side, side)
        feed.update(self._schedule)
        return feed

    def responses(self, outputs: list[np.ndarray], indices=None) -> np.ndarray:
        """uint8 [N, H, W, 3]: PostProcessCoco's ``(t.permute(1, 2, 0).float().numpy() * 255).round()``."""
        images = np.asarray(outputs[0], dtype=np.float32)
        expected = (3, self.image_size, self.image_size)
        if images.ndim != 4 or images.shape[1:] != expected:
            raise ValueError(f"the pipeline returned pictures of shape {images.shape}; expected [N, {', '.join(map(str, expected))}]")
        return np.ascontiguousarray((images.transpose(0, 2, 3, 1) * 255).round().astype(np.uint8))
