"""SDXL's EulerDiscreteScheduler schedule, computed with numpy alone.

MLPerf loads the scheduler of stabilityai/stable-diffusion-xl-base-1.0
(``backend_pytorch.py``: ``EulerDiscreteScheduler.from_pretrained(...,
subfolder="scheduler")``); its configuration is ``SCHEDULER_CONFIG``. Its
``set_timesteps(steps)`` gives, for "leading" spacing, the timesteps
``round(arange(steps) * (1000 // steps))`` reversed plus ``steps_offset``,
the sigmas ``sqrt((1 - alphas_cumprod) / alphas_cumprod)`` interpolated
linearly at those timesteps with a final 0, and ``init_noise_sigma =
sqrt(max(sigma)^2 + 1)``. The betas are "scaled_linear": a float32
linspace of sqrt(beta_start)..sqrt(beta_end), squared. This module computes
the same in float32 numpy (the runner of an ONNX model need not import
torch or diffusers); tests compare it with diffusers' own scheduler.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# scheduler/scheduler_config.json of stabilityai/stable-diffusion-xl-base-1.0
SCHEDULER_CONFIG = {
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "sample_max_value": 1.0,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "trained_betas": None,
    "use_karras_sigmas": False,
}


@dataclass(frozen=True)
class Schedule:
    timesteps: np.ndarray  # float32 [S]
    sigmas: np.ndarray  # float32 [S + 1], the last 0
    init_noise_sigma: np.float32


def alphas_cumprod(config: dict = SCHEDULER_CONFIG) -> np.ndarray:
    if config["beta_schedule"] != "scaled_linear":
        raise ValueError(f"beta_schedule {config['beta_schedule']!r}: only SDXL's 'scaled_linear' is computed here")
    root = np.linspace(config["beta_start"] ** 0.5, config["beta_end"] ** 0.5, config["num_train_timesteps"],
                       dtype=np.float32)
    betas = root * root
    return np.cumprod(np.float32(1.0) - betas, dtype=np.float32)


def euler_schedule(steps: int, config: dict = SCHEDULER_CONFIG) -> Schedule:
    """What EulerDiscreteScheduler.set_timesteps(steps) holds for SDXL's configuration."""
    steps = int(steps)
    train = int(config["num_train_timesteps"])
    if not 1 <= steps <= train:
        raise ValueError(f"steps {steps}: expected 1..{train} inference steps")
    if config["timestep_spacing"] != "leading" or config["interpolation_type"] != "linear" \
            or config["use_karras_sigmas"] or config["prediction_type"] != "epsilon":
        raise ValueError("only SDXL's scheduler configuration (leading spacing, linear interpolation, "
                         "epsilon prediction, no Karras sigmas) is computed here")
    ratio = train // steps
    timesteps = (np.arange(0, steps) * ratio).round()[::-1].copy().astype(np.float32)
    timesteps += config["steps_offset"]
    cumprod = alphas_cumprod(config)
    train_sigmas = ((1 - cumprod) / cumprod) ** 0.5
    sigmas = np.interp(timesteps, np.arange(0, len(train_sigmas)), train_sigmas)
    sigmas = np.concatenate([sigmas, [0.0]]).astype(np.float32)
    init = np.float32((np.float32(sigmas.max()) ** 2 + 1) ** 0.5)
    return Schedule(timesteps, sigmas, init)
